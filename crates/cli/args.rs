//! `ngx_get_options()` and `ngx_process_options()`: switches may be glued (`-c/path`)
//! or separate, several flags may share a dash (`-tq`), and the messages are nginx's.

use std::path::PathBuf;

/// Debian's compiled-in prefix (`--prefix`).
pub const DEFAULT_PREFIX: &str = "/usr/share/nginx/";
/// Debian's compiled-in configuration file (`--conf-path`).
pub const DEFAULT_CONF: &str = "/etc/nginx/nginx.conf";

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub show_version: bool,
    pub show_help: bool,
    pub show_configure: bool,
    pub test: bool,
    pub dump: bool,
    pub quiet: bool,
    pub signal: Option<String>,
    /// The prefix, ending in `/`.
    pub prefix: PathBuf,
    /// The main file, resolved against the prefix.
    pub conf_file: PathBuf,
    pub error_log: Option<String>,
    pub globals: Option<String>,
    /// `--format=json`: diagnostics as JSON on stdout.
    pub json: bool,
    /// `--dump=json`: the parsed configuration in crossplane's shape.
    pub dump_json: Option<()>,
    /// `--http2-websocket=off`: no WebSocket over HTTP/2 (RFC 8441); on by default.
    pub no_http2_websocket: bool,
}

pub const USAGE: &str = "Usage: sluice [-?hvVtTq] [-s signal] [-p prefix]
             [-e filename] [-c filename] [-g directives]
             [--format=json] [--dump=json] [--http2-websocket=on|off]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: /usr/share/nginx/)
  -e filename   : set error log file (default: stderr)
  -c filename   : set configuration file (default: /etc/nginx/nginx.conf)
  -g directives : set global directives out of configuration file
  --format=json : with -t, print the diagnostics as JSON on stdout
  --dump=json   : print the parsed configuration as crossplane's JSON
  --http2-websocket=off : do not offer WebSocket over HTTP/2 (RFC 8441)

";

/// Parses argv (without the program name).
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut prefix: Option<String> = None;
    let mut conf: Option<String> = None;
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        match arg.as_str() {
            "--format=json" => {
                a.json = true;
                i += 1;
                continue;
            }
            "--dump=json" => {
                a.dump_json = Some(());
                i += 1;
                continue;
            }
            "--http2-websocket=on" | "--http2-websocket=off" => {
                a.no_http2_websocket = arg.ends_with("=off");
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(flags) = arg.strip_prefix('-') else {
            return Err(format!("invalid option: \"{arg}\""));
        };
        for (pos, c) in flags.char_indices() {
            let rest = &flags[pos + c.len_utf8()..];
            // Options that take a value: glued (`-cfile`) or the next argument.
            let mut value = |what: &str| -> Result<String, String> {
                if !rest.is_empty() {
                    return Ok(rest.to_string());
                }
                i += 1;
                argv.get(i)
                    .cloned()
                    .ok_or_else(|| format!("option \"-{c}\" requires {what}"))
            };
            match c {
                '?' | 'h' => {
                    a.show_version = true;
                    a.show_help = true;
                }
                'v' => a.show_version = true,
                'V' => {
                    a.show_version = true;
                    a.show_configure = true;
                }
                't' => a.test = true,
                'T' => {
                    a.test = true;
                    a.dump = true;
                }
                'q' => a.quiet = true,
                'p' => {
                    prefix = Some(value("directory name")?);
                    break;
                }
                'e' => {
                    a.error_log = Some(value("file name")?);
                    break;
                }
                'c' => {
                    conf = Some(value("file name")?);
                    break;
                }
                'g' => {
                    a.globals = Some(value("parameter")?);
                    break;
                }
                's' => {
                    let sig = value("parameter")?;
                    if !matches!(sig.as_str(), "stop" | "quit" | "reopen" | "reload") {
                        return Err(format!("invalid option: \"-s {sig}\""));
                    }
                    a.signal = Some(sig);
                    break;
                }
                other => return Err(format!("invalid option: \"{other}\"")),
            }
        }
        i += 1;
    }
    let mut p = prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    if !p.ends_with('/') {
        p.push('/');
    }
    let c = conf.unwrap_or_else(|| DEFAULT_CONF.to_string());
    a.conf_file = if c.starts_with('/') {
        PathBuf::from(c)
    } else {
        PathBuf::from(format!("{p}{c}"))
    };
    a.prefix = PathBuf::from(p);
    Ok(a)
}

/// `configure arguments:` for `-V`: Debian's paths, the modules sluice implements as
/// `--with-...`, and every module it does not implement as `--without-...`, so tools
/// that probe nginx skip what is missing.
pub fn configure_arguments() -> String {
    use sluice_compiler::status::{status, Status};
    let mut out = vec![
        format!("--prefix={DEFAULT_PREFIX}")
            .trim_end_matches('/')
            .to_string(),
        format!("--conf-path={DEFAULT_CONF}"),
        "--http-log-path=/var/log/nginx/access.log".to_string(),
        "--error-log-path=stderr".to_string(),
        "--pid-path=/run/nginx.pid".to_string(),
        "--modules-path=/usr/lib/nginx/modules".to_string(),
    ];
    let mut modules: Vec<&str> = Vec::new();
    for s in sluice_compiler::registry::DIRECTIVES {
        if s.dynamic.is_none() && !modules.contains(&s.module) {
            modules.push(s.module);
        }
    }
    for m in modules {
        let Some(short) = m.strip_prefix("ngx_http_") else {
            continue;
        };
        // Modules nginx's configure cannot leave out (or Debian's own patch module).
        if matches!(
            m,
            "ngx_http_module"
                | "ngx_http_core_module"
                | "ngx_http_upstream_module"
                | "ngx_http_header_count_module"
                | "ngx_http_try_files_module"
                | "ngx_http_copy_filter_module"
                | "ngx_http_headers_filter_module"
        ) {
            continue;
        }
        // configure's names drop "_filter": --without-http_gzip_module.
        let flag = short.replace("_filter_module", "_module");
        let implemented = sluice_compiler::registry::DIRECTIVES
            .iter()
            .any(|s| s.module == m && status(s.name) == Status::Implemented);
        if implemented {
            if matches!(flag.as_str(), "ssl_module" | "v2_module") {
                out.push(format!("--with-http_{flag}"));
            }
        } else {
            out.push(format!("--without-http_{flag}"));
        }
    }
    out.join(" ")
}
