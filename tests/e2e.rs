//! The one test binary (STYLE §1: `autotests = false`, one `[[test]]`): end-to-end
//! tests of the built `sluice` binary.

mod access_security;
mod browser;
mod cli;
mod conformance;
mod connections;
mod corpus;
mod diff;
mod examples;
mod examples_serve;
mod h2;
mod harness;
mod hostile;
mod process;
mod reload;
mod socketio;
mod stub_status;
mod tls;
mod tls_diff;
mod tls_keys;
mod websocket;
