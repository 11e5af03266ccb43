//! Upstream groups: peer selection, failure accounting.
pub mod balance;
pub mod tls;
