//! sluice-compiler: reads an nginx.conf with its includes, checks it the way
//! `nginx -t` (1.22.1) does, with nginx's messages, and produces the typed
//! configuration the runtime serves.
//!
//! Depends on `sluice-parser` only; no tokio, hyper or rustls here. File access is
//! limited to what `nginx -t` itself touches: config files, includes, certificates and
//! keys, module files, log files, the pid file, and name resolution of upstream hosts.
#![deny(missing_docs)]

pub(crate) mod check;
pub mod crossplane;
pub mod password_file;
pub mod registry;
mod source;
pub mod status;
pub mod table;
pub mod variables;

pub use check::{check, strerror, CheckOutcome, Options, TlsFile, TlsLoader};
pub use sluice_parser::units::parse_time;
pub use sluice_parser::{ast, Diagnostic, FileId, Level};
pub use source::{SourceFile, SourceMap};

/// Renders a diagnostic the way nginx prints it after the `[level] ` prefix:
/// `message in FILE:LINE`, plus ` (sluice: RULE)` for sluice's own rules.
pub fn render(d: &Diagnostic, sources: &SourceMap) -> String {
    let mut s = d.message.clone();
    if let Some((file, line)) = d.at {
        if file == check::COMMAND_LINE {
            s.push_str(" in command line");
        } else {
            s.push_str(&format!(" in {}:{}", sources.path(file).display(), line));
        }
    }
    if let Some(rule) = d.rule {
        s.push_str(&format!(" (sluice: {rule})"));
    }
    s
}
