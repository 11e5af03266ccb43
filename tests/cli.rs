//! The command line, end to end through the real binary: nginx's switches, messages and
//! exit codes (SEMANTICS §1.5–1.7), `-T`, `-q`, `-g`, `-s`, `--format=json`, `--dump=json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A throw-away directory with files in it, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("sluice-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Dir(p)
    }
    fn write(&self, name: &str, text: &str) -> &Self {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
        self
    }
    fn path(&self) -> &Path {
        &self.0
    }
    /// The prefix argument: the directory with a trailing slash.
    fn prefix(&self) -> String {
        format!("{}/", self.0.display())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const MINIMAL: &str = "pid logs/nginx.pid;\nevents {}\nhttp { access_log off; server { listen 127.0.0.1:18999; return 200 ok; } }\n";

fn test_dir(tag: &str, conf: &str) -> Dir {
    let d = Dir::new(tag);
    d.write("nginx.conf", conf);
    std::fs::create_dir_all(d.path().join("logs")).expect("logs dir");
    d
}

#[test]
fn version_switches_print_nginx_compatible_lines() {
    let o = sluice(&["-v"]);
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "sluice version: sluice/{}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{e}"
    );
    assert!(
        e.contains("compatible with nginx version: nginx/1.22.1\n"),
        "{e}"
    );

    let o = sluice(&["-V"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0));
    let conf = e
        .lines()
        .find(|l| l.starts_with("configure arguments: "))
        .expect("configure line");
    assert!(conf.contains("--conf-path=/etc/nginx/nginx.conf"), "{conf}");
    assert!(
        conf.contains("--without-http_gzip_module"),
        "gzip is not implemented: {conf}"
    );
    assert!(
        !conf.contains("--without-http_proxy_module"),
        "proxy is: {conf}"
    );

    let o = sluice(&["-h"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("Usage: sluice [-?hvVtTq] [-s signal] [-p prefix]"));
}

#[test]
fn bad_switches_use_nginx_wording_and_exit_1() {
    for (args, want) in [
        (&["-x"][..], "sluice: invalid option: \"x\"\n"),
        (&["-s", "foo"][..], "sluice: invalid option: \"-s foo\"\n"),
        (&["-c"][..], "sluice: option \"-c\" requires file name\n"),
        (
            &["-p"][..],
            "sluice: option \"-p\" requires directory name\n",
        ),
        (&["-g"][..], "sluice: option \"-g\" requires parameter\n"),
        (&["hello"][..], "sluice: invalid option: \"hello\"\n"),
    ] {
        let o = sluice(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o), want, "{args:?}");
    }
}

#[test]
fn test_mode_success_lines_quiet_and_glued_options() {
    let d = test_dir("ok", MINIMAL);
    let conf = d.path().join("nginx.conf");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "sluice: the configuration file {c} syntax is ok\nsluice: configuration file {c} test is successful\n",
            c = conf.display()
        )
    );
    // -q hides the success lines; options may be glued and flags combined.
    let o = sluice(&["-tq", &format!("-p{}", d.prefix()), "-cnginx.conf"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

#[test]
fn test_mode_failure_names_file_and_line() {
    let d = test_dir(
        "bad",
        "events {}\nhttp {\n    server {\n        proxy_passs http://x;\n    }\n}\n",
    );
    let conf = d.path().join("nginx.conf");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sluice: [emerg] unknown directive \"proxy_passs\" in {c}:4\nsluice: configuration file {c} test failed\n",
            c = conf.display()
        )
    );
}

#[test]
fn dash_g_is_parsed_before_the_file() {
    let d = test_dir("g", MINIMAL);
    let p = d.prefix();
    let o = sluice(&["-t", "-p", &p, "-c", "nginx.conf", "-g", "events {}"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(
            "sluice: [emerg] block directives are not supported in -g option in command line\n"
        ),
        "{}",
        stderr(&o)
    );
    let o = sluice(&["-t", "-p", &p, "-c", "nginx.conf", "-g", "worker_processes"]);
    assert!(
        stderr(&o).starts_with(
            "sluice: [emerg] unexpected end of parameter, expecting \";\" in command line\n"
        ),
        "{}",
        stderr(&o)
    );
    // A directive given with -g and again in the file is a duplicate, at the file's line.
    let o = sluice(&[
        "-t",
        "-p",
        &p,
        "-c",
        "nginx.conf",
        "-g",
        "pid logs/other.pid;",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let conf = d.path().join("nginx.conf");
    assert!(
        stderr(&o).starts_with(&format!(
            "sluice: [emerg] \"pid\" directive is duplicate in {}:1\n",
            conf.display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dash_capital_t_dumps_every_file_read_in_order() {
    let d = test_dir(
        "dump",
        "pid logs/nginx.pid;\nevents {}\nhttp {\n    access_log off;\n    include conf.d/*.conf;\n}\n",
    );
    d.write("conf.d/b.conf", "server { listen 127.0.0.1:18998; }\n");
    d.write(
        "conf.d/a.conf",
        "# first\nserver { listen 127.0.0.1:18997; }\n",
    );
    let o = sluice(&["-T", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let base = d.path().display().to_string();
    let want = format!(
        "# configuration file {base}/nginx.conf:\npid logs/nginx.pid;\nevents {{}}\nhttp {{\n    access_log off;\n    include conf.d/*.conf;\n}}\n\n\
         # configuration file {base}/conf.d/a.conf:\n# first\nserver {{ listen 127.0.0.1:18997; }}\n\n\
         # configuration file {base}/conf.d/b.conf:\nserver {{ listen 127.0.0.1:18998; }}\n\n"
    );
    assert_eq!(stdout(&o), want);
}

#[test]
fn json_diagnostics_and_crossplane_dump() {
    let d = test_dir(
        "json",
        "pid logs/nginx.pid;\nevents {}\nhttp {\n    access_log off;\n    gzip on;\n    include extra.conf;\n    server { listen 127.0.0.1:18996; bogus; }\n}\n",
    );
    d.write(
        "extra.conf",
        "map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n",
    );
    let o = sluice(&["-t", "--format=json", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["status"], "failed");
    let diags = v["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diags[0]["level"], "warn");
    assert_eq!(diags[0]["rule"], "not-implemented");
    assert_eq!(diags[0]["line"], 5);
    let last = diags.last().expect("an error");
    assert_eq!(last["level"], "emerg");
    assert_eq!(last["message"], "unknown directive \"bogus\"");
    assert_eq!(last["line"], 7);
    assert!(last["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("/nginx.conf")));

    let o = sluice(&["--dump=json", "-p", &d.prefix(), "-c", "nginx.conf"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["status"], "ok");
    let files = v["config"].as_array().expect("config");
    assert_eq!(files.len(), 2);
    let http = &files[0]["parsed"][2];
    assert_eq!(http["directive"], "http");
    let include = &http["block"][2];
    assert_eq!(include["directive"], "include");
    assert_eq!(include["args"][0], "extra.conf");
    assert_eq!(include["includes"][0], 1);
    let map = &files[1]["parsed"][0];
    assert_eq!(map["directive"], "map");
    assert_eq!(
        map["args"],
        serde_json::json!(["$http_upgrade", "$connection_upgrade"])
    );
    assert_eq!(map["block"][1]["directive"], "");
    assert_eq!(map["block"][1]["args"][0], "close");
}

#[test]
fn include_cycle_is_an_error_not_a_crash() {
    let d = test_dir(
        "cycle",
        "pid logs/nginx.pid;\nevents {}\nhttp { include a.conf; }\n",
    );
    d.write("a.conf", "include b.conf;\n")
        .write("b.conf", "include a.conf;\n");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let base = d.path().display().to_string();
    let first = stderr(&o).lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with(&format!("sluice: [emerg] include cycle: {base}/nginx.conf -> {base}/a.conf -> {base}/b.conf -> {base}/a.conf")),
        "{first}"
    );
    assert!(first.ends_with(" (sluice: include-cycle)"), "{first}");
}

#[test]
fn access_control_directives_are_refused_until_enforced() {
    let d = test_dir("unsafe", "pid logs/nginx.pid;\nevents {}\nhttp {\n    access_log off;\n    server {\n        listen 127.0.0.1:18995;\n        location /admin { valid_referers none; }\n    }\n}\n");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("[emerg] \"valid_referers\" directive is not supported yet"),
        "{e}"
    );
    assert!(e.contains(":7 (sluice: refused-unsafe)\n"), "{e}");
}

#[test]
fn real_ip_from_the_proxy_protocol_is_refused() {
    // The PROXY protocol is not implemented: allow/deny would see the proxy's address.
    let d = test_dir("realip-pp", "pid logs/nginx.pid;\nevents {}\nhttp {\n    access_log off;\n    server {\n        listen 127.0.0.1:18996;\n        set_real_ip_from 10.0.0.0/8;\n        real_ip_header proxy_protocol;\n    }\n}\n");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("[emerg] \"real_ip_header proxy_protocol\" is not supported yet"),
        "{e}"
    );
    assert!(e.contains(":8 (sluice: refused-unsafe)\n"), "{e}");
}

#[test]
fn signal_without_pid_file_fails_like_nginx() {
    let d = test_dir("sig", MINIMAL);
    let o = sluice(&["-s", "reload", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let pid = d.path().join("logs/nginx.pid");
    assert_eq!(
        stderr(&o),
        format!(
            "sluice: [error] open() \"{}\" failed (2: No such file or directory)\n",
            pid.display()
        )
    );
    std::fs::write(&pid, "").expect("empty pid");
    let o = sluice(&["-s", "reload", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(
        stderr(&o),
        format!(
            "sluice: [error] invalid PID number \"\" in \"{}\"\n",
            pid.display()
        )
    );
}

#[test]
fn signal_reaches_the_process_in_the_pid_file() {
    let d = test_dir("sig2", MINIMAL);
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    std::fs::write(d.path().join("logs/nginx.pid"), format!("{}\n", child.id())).expect("pid");
    let o = sluice(&["-s", "stop", "-p", &d.prefix(), "-c", "nginx.conf"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let status = child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "stop sends TERM");
}

#[test]
fn http2_directive_is_an_extension_with_a_warning() {
    // nginx 1.22.1 says `unknown directive "http2"`; sluice accepts nginx 1.25.1's
    // directive and says so.
    let d = test_dir(
        "http2-on",
        "pid logs/nginx.pid;\nevents {}\nhttp {\n    http2 on;\n    server { listen 127.0.0.1:18999; http2 off; }\n}\n",
    );
    let conf = d.path().join("nginx.conf");
    let conf = conf.to_str().expect("utf-8 path");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", conf]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "sluice: [warn] \"http2\" directive is accepted as nginx 1.25.1 does; nginx 1.22.1 does not know it and refuses this configuration in {conf}:4 (sluice: extension)\nsluice: the configuration file {conf} syntax is ok\nsluice: configuration file {conf} test is successful\n"
        )
    );
    // Its value is checked as nginx 1.25.1 checks a flag.
    d.write("nginx.conf", "events {}\nhttp { http2 yes; }\n");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", conf]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("invalid value \"yes\" in \"http2\" directive, it must be \"on\" or \"off\""),
        "{}",
        stderr(&o)
    );
    // The RFC 8441 switch is a command-line flag: `on` or `off`; anything else is an
    // unknown option, worded as nginx words `--anything` (`invalid option: "-"`).
    d.write("nginx.conf", MINIMAL);
    let o = sluice(&[
        "--http2-websocket=off",
        "-t",
        "-q",
        "-p",
        &d.prefix(),
        "-c",
        conf,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = sluice(&[
        "--http2-websocket=maybe",
        "-t",
        "-p",
        &d.prefix(),
        "-c",
        conf,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid option: \"-\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ssl_stapling_is_accepted_with_a_note() {
    // sluice staples no OCSP response; the configuration is accepted, and says so once
    // per directive (nginx itself warns only when it cannot find the issuer or a
    // responder, at load).
    let d = test_dir(
        "ssl-stapling",
        "pid logs/nginx.pid;\nevents {}\nhttp {\n    ssl_stapling on;\n    ssl_stapling_verify on;\n    server { listen 127.0.0.1:18999; ssl_stapling off; return 200 ok; }\n}\n",
    );
    let conf = d.path().join("nginx.conf");
    let conf = conf.to_str().expect("utf-8 path");
    let o = sluice(&["-t", "-p", &d.prefix(), "-c", conf]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "sluice: [warn] \"ssl_stapling\" is not implemented and is ignored in {conf}:4 (sluice: not-implemented)\nsluice: [warn] \"ssl_stapling_verify\" is not implemented and is ignored in {conf}:5 (sluice: not-implemented)\nsluice: the configuration file {conf} syntax is ok\nsluice: configuration file {conf} test is successful\n"
        )
    );
}
