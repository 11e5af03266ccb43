//! Serving: check the configuration as `-t` does (warnings printed, errors fatal), lower
//! it, and hand it to the runtime with a reload hook that repeats both steps.

use crate::args::Args;
use sluice_compiler::{check, render, Options};
use std::process::ExitCode;

fn options(a: &Args) -> Options {
    Options {
        prefix: a.prefix.clone(),
        conf_file: a.conf_file.clone(),
        globals: a.globals.clone(),
        touch_system: true,
        want_tree: true,
    }
}

/// Checks and lowers; the error text is what nginx would log.
fn load(
    a: &Args,
    print: bool,
) -> Result<
    (
        sluice_compiler::table::RoutingTable,
        sluice_compiler::CheckOutcome,
    ),
    String,
> {
    let out = check(&options(a));
    let mut first_emerg = None;
    for d in out.parse_diags.iter().chain(out.post_diags.iter()) {
        let text = render(d, &out.sources);
        if print {
            eprintln!("sluice: [{}] {text}", d.level.as_str());
        }
        if d.level == sluice_compiler::Level::Emerg && first_emerg.is_none() {
            first_emerg = Some(text);
        }
    }
    if !out.ok() {
        // Printed above when `print`; the reload path logs the text.
        return Err(if print {
            String::new()
        } else {
            first_emerg.unwrap_or_default()
        });
    }
    let table = sluice_compiler::table::lower(&out.tree, &a.prefix, &a.conf_file)?;
    Ok((table, out))
}

/// Runs sluice in the foreground (or as a daemon) until a stop signal.
pub fn run(a: &Args) -> ExitCode {
    let (table, out) = match load(a, true) {
        Ok(x) => x,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("sluice: [emerg] {msg}");
            }
            return ExitCode::from(1);
        }
    };
    let daemon = table.main.daemon;
    let args = a.clone();
    let reload: sluice_runtime::server::Reload =
        Box::new(move || load(&args, false).map(|(t, _)| t));
    let error_log = a.error_log.as_deref().filter(|e| *e != "stderr").map(|e| {
        let p = if e.starts_with('/') {
            std::path::PathBuf::from(e)
        } else {
            a.prefix.join(e)
        };
        // nginx creates the -e file at start, whatever the configuration says later.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p);
        p
    });
    let shutdown_timeout = main_directive(&out.tree, "worker_shutdown_timeout")
        .and_then(|v| sluice_parser_time(&v))
        .filter(|d| !d.is_zero());
    let opts = sluice_runtime::RunOptions {
        reload,
        pid_file: Some(out.pid_file.clone()),
        daemon,
        shutdown_timeout,
        error_log,
        http2_websocket: !a.no_http2_websocket,
    };
    match sluice_runtime::run(table, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("sluice: [emerg] {msg}");
            }
            ExitCode::from(1)
        }
    }
}

/// The first argument of a main-context directive in the checked tree.
fn main_directive(tree: &[sluice_compiler::ast::Directive], name: &str) -> Option<String> {
    tree.iter()
        .find(|d| d.name.value == name)
        .and_then(|d| d.args.first())
        .map(|w| w.value.clone())
}

fn sluice_parser_time(v: &str) -> Option<std::time::Duration> {
    sluice_compiler::parse_time(v, false)
        .map(|ms| std::time::Duration::from_millis(ms.max(0) as u64))
}
