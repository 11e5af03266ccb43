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
        tls_loader: Some(sluice_runtime::tls::load_file),
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
    // Started by a root master (see the runtime's `master.rs`): it printed the warnings
    // and detached already.
    let serving = std::env::var_os(sluice_runtime::master::SERVING_ENV).is_some();
    let (table, out) = match load(a, !serving) {
        Ok(x) => x,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("sluice: [emerg] {msg}");
            }
            return ExitCode::from(1);
        }
    };
    let daemon = table.main.daemon && !serving;
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
    let master_process = main_directive(&out.tree, "master_process").as_deref() != Some("off");
    let privileges = if master_process && nix::unistd::geteuid().is_root() {
        match privileges(
            a,
            table.main.error_log.clone(),
            &out,
            error_log.as_deref(),
            serving,
        ) {
            Ok(p) => Some(p),
            Err(msg) => {
                eprintln!("sluice: [emerg] {msg}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let opts = sluice_runtime::RunOptions {
        reload,
        pid_file: Some(out.pid_file.clone()),
        daemon,
        shutdown_timeout,
        error_log,
        master_process,
        privileges,
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

/// Who serves when started as root (`ngx_set_user()`, nginx's defaults `nobody` and
/// `nogroup`; a `user` without a group uses the group of the user's name), and the log
/// files the root master prepares for it.
fn privileges(
    a: &Args,
    main_error_log: Option<std::path::PathBuf>,
    out: &sluice_compiler::CheckOutcome,
    error_log: Option<&std::path::Path>,
    serving: bool,
) -> Result<sluice_runtime::master::Privileges, String> {
    let words: Vec<String> = out
        .tree
        .iter()
        .find(|d| d.name.value == "user")
        .map(|d| d.args.iter().map(|w| w.value.clone()).collect())
        .unwrap_or_default();
    let (user, group) = match words.as_slice() {
        [] => ("nobody".to_string(), "nogroup".to_string()),
        [u] => (u.clone(), u.clone()),
        [u, g, ..] => (u.clone(), g.clone()),
    };
    let pw = nix::unistd::User::from_name(&user)
        .ok()
        .flatten()
        .ok_or_else(|| format!("getpwnam(\"{user}\") failed"))?;
    let gr = nix::unistd::Group::from_name(&group)
        .ok()
        .flatten()
        .ok_or_else(|| format!("getgrnam(\"{group}\") failed"))?;
    let role = if serving {
        sluice_runtime::master::Role::Serving
    } else {
        let extra: Vec<std::path::PathBuf> =
            error_log.map(|p| p.to_path_buf()).into_iter().collect();
        let mut log_files = out.log_files.clone();
        log_files.extend(extra.iter().cloned());
        let args = a.clone();
        let recheck: sluice_runtime::master::Recheck = Box::new(move || {
            let (mut table, out) = load(&args, false)?;
            // The master reports the next failed reload in this configuration's log.
            if table.main.error_log.is_none() {
                table.main.error_log = extra.first().cloned();
            }
            let mut l = out.log_files;
            l.extend(extra.iter().cloned());
            Ok((table, l))
        });
        sluice_runtime::master::Role::Master {
            log_files,
            recheck,
            args: std::env::args_os().skip(1).collect(),
            error_log: main_error_log.or_else(|| error_log.map(|p| p.to_path_buf())),
        }
    };
    Ok(sluice_runtime::master::Privileges {
        uid: pw.uid,
        gid: gr.gid,
        user: std::ffi::CString::new(user).map_err(|e| e.to_string())?,
        role,
    })
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
