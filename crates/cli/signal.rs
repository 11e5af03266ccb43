//! `-s stop|quit|reopen|reload`: check the configuration, read the pid file it names,
//! and send TERM, QUIT, USR1 or HUP (`ngx_signal_process()`).

use crate::args::Args;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sluice_compiler::{check, render, Options};
use std::process::ExitCode;

pub fn send(a: &Args, name: &str) -> ExitCode {
    let opts = Options {
        prefix: a.prefix.clone(),
        conf_file: a.conf_file.clone(),
        globals: a.globals.clone(),
        touch_system: false,
        want_tree: false,
        tls_loader: None,
    };
    let out = check(&opts);
    for d in out.parse_diags.iter().chain(out.post_diags.iter()) {
        eprintln!("sluice: [{}] {}", d.level.as_str(), render(d, &out.sources));
    }
    if !out.ok() {
        return ExitCode::from(1);
    }
    let pid_file = &out.pid_file;
    let text = match std::fs::read_to_string(pid_file) {
        Ok(t) => t,
        Err(e) => {
            let code = e.raw_os_error().unwrap_or(0);
            eprintln!(
                "sluice: [error] open() \"{}\" failed ({code}: {})",
                pid_file.display(),
                sluice_compiler::strerror(code)
            );
            return ExitCode::from(1);
        }
    };
    let trimmed = text.trim_end_matches(['\n', '\r']);
    let Ok(pid) = trimmed.parse::<i32>() else {
        eprintln!(
            "sluice: [error] invalid PID number \"{trimmed}\" in \"{}\"",
            pid_file.display()
        );
        return ExitCode::from(1);
    };
    let sig = match name {
        "stop" => Signal::SIGTERM,
        "quit" => Signal::SIGQUIT,
        "reopen" => Signal::SIGUSR1,
        _ => Signal::SIGHUP,
    };
    if let Err(e) = kill(Pid::from_raw(pid), sig) {
        eprintln!(
            "sluice: [alert] kill({pid}, {}) failed ({}: {})",
            sig as i32,
            e as i32,
            e.desc()
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
