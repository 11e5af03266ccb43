//! Logs: the access log (nginx's `log_format`s, written by a background thread so the
//! data path never blocks on a disk) and the error log (`YYYY/MM/DD HH:MM:SS [level]
//! PID#TID: *CONN message, client: ..., server: ..., request: "...", host: "..."`).

use crate::ctx::Req;
use crate::Shared;
use sluice_compiler::table::{LogEscape, TPart};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};

/// A line for a file.
pub enum LogMsg {
    /// Append a line to a file (and flush it at once when the flag is set).
    Line(PathBuf, Vec<u8>, bool),
    /// Reopen every file (USR1).
    Reopen,
    /// Flush and stop.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The writer thread's handle.
#[derive(Clone)]
pub struct LogWriter {
    tx: Sender<LogMsg>,
}

impl LogWriter {
    /// Starts the writer thread.
    pub fn start() -> LogWriter {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("sluice-log".into())
            .spawn(move || writer(rx))
            .map(|_| ())
            .unwrap_or_default();
        LogWriter { tx }
    }

    /// Queues a line.
    pub fn line(&self, path: PathBuf, line: Vec<u8>) {
        let _ = self.tx.send(LogMsg::Line(path, line, false));
    }

    /// Queues an error-log line, written through at once (nginx does not buffer its
    /// error log: a line is in the file when the response leaves).
    pub fn error_line(&self, path: PathBuf, line: Vec<u8>) {
        let _ = self.tx.send(LogMsg::Line(path, line, true));
    }

    /// Reopens files.
    pub fn reopen(&self) {
        let _ = self.tx.send(LogMsg::Reopen);
    }

    /// Writes everything queued so far.
    pub fn flush(&self) {
        let (tx, rx) = channel();
        if self.tx.send(LogMsg::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
        }
    }
}

fn writer(rx: Receiver<LogMsg>) {
    let mut files: HashMap<PathBuf, std::io::BufWriter<std::fs::File>> = HashMap::new();
    let open = |p: &PathBuf| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
            .map(std::io::BufWriter::new)
    };
    loop {
        let msg = match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(m) => m,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                for f in files.values_mut() {
                    let _ = f.flush();
                }
                continue;
            }
            Err(_) => break,
        };
        match msg {
            LogMsg::Line(path, line, through) => {
                if !files.contains_key(&path) {
                    match open(&path) {
                        Some(f) => {
                            files.insert(path.clone(), f);
                        }
                        None => continue,
                    }
                }
                if let Some(f) = files.get_mut(&path) {
                    let _ = f.write_all(&line);
                    if through {
                        let _ = f.flush();
                    }
                }
            }
            LogMsg::Reopen => {
                // As nginx on USR1: flush, close, and open every file again by name now,
                // so a renamed log is replaced by a new file at once.
                let paths: Vec<PathBuf> = files.keys().cloned().collect();
                for f in files.values_mut() {
                    let _ = f.flush();
                }
                files.clear();
                for p in paths {
                    if let Some(f) = open(&p) {
                        files.insert(p, f);
                    }
                }
            }
            LogMsg::Flush(done) => {
                for f in files.values_mut() {
                    let _ = f.flush();
                }
                let _ = done.send(());
            }
        }
    }
    for f in files.values_mut() {
        let _ = f.flush();
    }
}

/// Escapes a variable's value as nginx's `log_format` does.
fn escape(v: &[u8], how: LogEscape, out: &mut Vec<u8>) {
    match how {
        LogEscape::None => out.extend_from_slice(v),
        LogEscape::Default => {
            for &b in v {
                if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
                    out.extend_from_slice(format!("\\x{b:02X}").as_bytes());
                } else {
                    out.push(b);
                }
            }
        }
        LogEscape::Json => {
            for &b in v {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                    _ => out.push(b),
                }
            }
        }
    }
}

/// Writes the access-log lines for a finished request.
pub fn access<'t>(shared: &Shared, req: &mut Req<'t>) {
    let conf: &'t sluice_compiler::table::LocConf = req.conf;
    let logs = &conf.access_logs;
    for l in logs.iter() {
        if let Some(c) = &l.condition {
            let v = req.eval(c);
            if v.is_empty() || v == b"0" {
                continue;
            }
        }
        let mut line = Vec::with_capacity(256);
        for p in &l.format.template.parts {
            match p {
                TPart::Lit(b) => line.extend_from_slice(b),
                TPart::Var(v) => {
                    let val = req.var(v);
                    if val.is_empty() && l.format.escape != LogEscape::Json {
                        line.push(b'-');
                    } else {
                        escape(&val, l.format.escape, &mut line);
                    }
                }
            }
        }
        line.push(b'\n');
        shared.logs.line(l.path.clone(), line);
    }
}

/// Writes an error-log line about a request, in nginx's format.
pub fn error_log(shared: &Shared, level: &str, msg: &str, req: &mut Req<'_>) {
    let want = shared.error_level;
    let lvl = sluice_compiler::table::LogLevel::from_name(level)
        .unwrap_or(sluice_compiler::table::LogLevel::Error);
    if lvl > want {
        return;
    }
    let pid = std::process::id();
    let request = String::from_utf8_lossy(&req.var(&sluice_compiler::table::Var::Builtin(
        sluice_compiler::table::Builtin::Request,
    )))
    .into_owned();
    let action = match req.log_action {
        Some(a) if !msg.contains(" while ") => format!(" while {a}"),
        _ => String::new(),
    };
    let mut line = format!(
        "{} [{level}] {pid}#{pid}: *{} {msg}{action}, client: {}, server: {}, request: \"{request}\"",
        crate::time_now(),
        req.connection,
        req.peer.ip(),
        req.server.name,
    );
    if let Some(sr) = &req.subrequest {
        line.push_str(&format!(
            ", subrequest: \"{}\"",
            String::from_utf8_lossy(sr)
        ));
    }
    if let Some(a) = req.upstream.addrs.last() {
        // `u->schema`, the peer, `u->uri` (`ngx_http_upstream_log_error()`).
        let uri = if req.upstream.uri.is_empty() {
            &req.head.target
        } else {
            &req.upstream.uri
        };
        line.push_str(&format!(
            ", upstream: \"{}{a}{}\"",
            if req.upstream.https {
                "https://"
            } else {
                "http://"
            },
            String::from_utf8_lossy(uri)
        ));
    }
    // nginx prints the Host header as sent (port included), not the server-selection name.
    if let Some(h) = req.head.header(b"host") {
        line.push_str(&format!(", host: \"{}\"", String::from_utf8_lossy(h)));
    }
    line.push('\n');
    match &shared.error_log {
        Some(p) => shared.logs.error_line(p.clone(), line.into_bytes()),
        None => eprint!("{line}"),
    }
}

/// A line about a connection outside any request (`*N MSG while processing HTTP/2
/// connection, client: IP, server: ADDR`), at `level` if the error log takes it.
pub fn connection(
    shared: &Shared,
    level: &str,
    conn_no: u64,
    msg: &str,
    peer: std::net::SocketAddr,
    local: std::net::SocketAddr,
) {
    let lvl = sluice_compiler::table::LogLevel::from_name(level)
        .unwrap_or(sluice_compiler::table::LogLevel::Error);
    if lvl > shared.error_level {
        return;
    }
    let pid = std::process::id();
    let line = format!(
        "{} [{level}] {pid}#{pid}: *{conn_no} {msg}, client: {}, server: {local}\n",
        crate::time_now(),
        peer.ip()
    );
    match &shared.error_log {
        Some(p) => shared.logs.line(p.clone(), line.into_bytes()),
        None => eprint!("{line}"),
    }
}

/// A line about the process, not a request.
pub fn notice(shared: &Shared, level: &str, msg: &str) {
    // nginx writes a line only at or above the log's level.
    if sluice_compiler::table::LogLevel::from_name(level).is_some_and(|l| l > shared.error_level) {
        return;
    }
    let pid = std::process::id();
    let line = format!("{} [{level}] {pid}#{pid}: {msg}\n", crate::time_now());
    match &shared.error_log {
        Some(p) => shared.logs.error_line(p.clone(), line.into_bytes()),
        None => eprint!("{line}"),
    }
}

/// A line about the process at `level`, written only when the main error log's level
/// lets it through (nginx's `ngx_log_error()` check).
pub fn process(shared: &Shared, level: sluice_compiler::table::LogLevel, msg: &str) {
    notice(shared, level.as_str(), msg);
}
