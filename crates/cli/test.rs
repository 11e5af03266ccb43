//! `-t`, `-T`, `-q`, `--format=json`: run the checks and print nginx's lines.

use crate::args::Args;
use sluice_compiler::{check, render, CheckOutcome, Diagnostic, Level, Options};
use std::io::Write;
use std::process::ExitCode;

/// Runs the checks for `a` and prints the result; exit 0 on success, 1 on failure.
pub fn run(a: &Args) -> ExitCode {
    let opts = Options {
        prefix: a.prefix.clone(),
        conf_file: a.conf_file.clone(),
        globals: a.globals.clone(),
        touch_system: true,
        want_tree: false,
        tls_loader: Some(sluice_runtime::tls::load_file),
    };
    let out = check(&opts);
    if a.json {
        return json(a, &out);
    }
    let conf = a.conf_file.display();
    let mut log = ErrorLog::open(a);
    for d in &out.parse_diags {
        log.print(d, &out);
    }
    if !out.syntax_ok {
        eprintln!("sluice: configuration file {conf} test failed");
        return ExitCode::from(1);
    }
    if a.test && !a.quiet {
        eprintln!("sluice: the configuration file {conf} syntax is ok");
    }
    for d in &out.post_diags {
        log.print(d, &out);
    }
    if !out.ok() {
        eprintln!("sluice: configuration file {conf} test failed");
        return ExitCode::from(1);
    }
    if a.test && !a.quiet {
        eprintln!("sluice: configuration file {conf} test is successful");
    }
    if a.dump {
        let mut stdout = std::io::stdout().lock();
        for f in out.sources.files() {
            let _ = writeln!(stdout, "# configuration file {}:", f.path.display());
            let _ = stdout.write_all(&f.text);
            let _ = writeln!(stdout);
        }
    }
    ExitCode::SUCCESS
}

fn json(a: &Args, out: &CheckOutcome) -> ExitCode {
    let diags: Vec<serde_json::Value> = out
        .parse_diags
        .iter()
        .chain(out.post_diags.iter())
        .map(|d| {
            let (file, line) = match d.at {
                Some((f, l)) if f.0 != u32::MAX => {
                    (Some(out.sources.path(f).display().to_string()), Some(l))
                }
                Some((_, l)) => (Some("command line".to_string()), Some(l)),
                None => (None, None),
            };
            serde_json::json!({
                "level": d.level.as_str(),
                "message": d.message,
                "file": file,
                "line": line,
                "rule": d.rule,
                "text": render(d, &out.sources),
            })
        })
        .collect();
    let ok = out.ok();
    let v = serde_json::json!({
        "file": a.conf_file.display().to_string(),
        "status": if ok { "ok" } else { "failed" },
        "syntax_ok": out.syntax_ok,
        "diagnostics": diags,
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Where messages go: always `sluice: [level] text` on stderr; with `-e FILE`, also
/// nginx's time-stamped line in FILE.
struct ErrorLog {
    file: Option<std::fs::File>,
}

impl ErrorLog {
    fn open(a: &Args) -> Self {
        let file = a
            .error_log
            .as_deref()
            .filter(|f| *f != "stderr")
            .and_then(|f| {
                let path = if f.starts_with('/') {
                    f.to_string()
                } else {
                    format!("{}{f}", a.prefix.display())
                };
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .ok()
            });
        ErrorLog { file }
    }

    fn print(&mut self, d: &Diagnostic, out: &CheckOutcome) {
        let text = render(d, &out.sources);
        eprintln!("sluice: [{}] {text}", d.level.as_str());
        if let Some(f) = &mut self.file {
            let pid = std::process::id();
            let _ = writeln!(
                f,
                "{} [{}] {pid}#{pid}: {text}",
                sluice_runtime::time_now(),
                d.level.as_str()
            );
        }
        let _ = Level::Emerg;
    }
}
