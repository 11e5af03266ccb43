//! The `sluice` binary: nginx's command line (`-t`, `-T`, `-q`, `-c`, `-p`, `-g`, `-e`,
//! `-v`, `-V`, `-h`, `-s`), its messages and exit codes (SEMANTICS §1.5–1.7), plus
//! `--format=json` and `--dump=json`.

mod args;
mod serve;
mod signal;
mod test;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a proxy allocates and frees many small blocks per
/// request, which glibc's allocator made about a quarter of sluice's user-space
/// instructions per WebSocket handshake (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// sluice's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The nginx version whose behaviour sluice reproduces.
pub const NGINX_COMPAT: &str = "1.22.1";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match args::parse(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("sluice: {msg}");
            return ExitCode::from(1);
        }
    };
    if a.show_version {
        eprintln!("sluice version: sluice/{VERSION}");
        eprintln!("compatible with nginx version: nginx/{NGINX_COMPAT}");
        if a.show_help {
            eprint!("{}", args::USAGE);
        }
        if a.show_configure {
            eprintln!("configure arguments: {}", args::configure_arguments());
        }
        if !a.test && a.signal.is_none() && a.dump_json.is_none() {
            return ExitCode::SUCCESS;
        }
    }
    if a.dump_json.is_some() {
        let v = sluice_compiler::crossplane::dump(&a.conf_file);
        let ok = v["status"] == "ok";
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    if let Some(sig) = &a.signal {
        return signal::send(&a, sig);
    }
    if a.test {
        return test::run(&a);
    }
    serve::run(&a)
}
