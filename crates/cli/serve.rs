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
    let table = sluice_compiler::table::lower(&out.tree, &a.prefix)?;
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
    let opts = sluice_runtime::RunOptions {
        reload,
        pid_file: Some(out.pid_file.clone()),
        daemon,
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
