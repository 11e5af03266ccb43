//! Access control cannot be walked around: for every access-control directive
//! (`allow`/`deny`, `internal`, `auth_basic`, `limit_except`, `satisfy all`, `satisfy
//! any`), a request nginx refuses is refused by sluice with the same status through every
//! way of reaching the guarded location: the plain path, percent-encoded bytes, `.` and
//! `..` segments, doubled slashes, other letter case (locations are case-sensitive on
//! Linux), a named twin reached through `error_page` and through `try_files`, and
//! internal redirects (`rewrite ... last`, `try_files`, `index`, `error_page` to a URI).
//!
//! The expectation comes from nginx: the same requests go to a live nginx 1.22.1 on the
//! same configuration and files, and every status sluice gives must be nginx's. As a
//! check that the test is about something, the plain request to each guard must be
//! refused by nginx, and most of the requests must be.

use crate::diff::procs::{free_port, Proc};
use crate::harness;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One guard: the location's name (`/NAME/`, `@NAME`), the directives that guard it, and
/// the method that it refuses.
struct Guard {
    name: &'static str,
    directives: &'static str,
    method: &'static str,
}

const GUARDS: &[Guard] = &[
    Guard {
        name: "denied",
        directives: "deny all;",
        method: "GET",
    },
    Guard {
        name: "ordered",
        directives: "deny 127.0.0.1; allow all;",
        method: "GET",
    },
    Guard {
        name: "private",
        directives: "internal;",
        method: "GET",
    },
    Guard {
        name: "secret",
        directives: "auth_basic \"s\"; auth_basic_user_file htpasswd;",
        method: "GET",
    },
    Guard {
        name: "readonly",
        directives: "limit_except GET { deny all; }",
        method: "POST",
    },
    Guard {
        name: "both",
        directives: "satisfy all; allow 127.0.0.1; deny all; auth_basic \"b\"; auth_basic_user_file htpasswd;",
        method: "GET",
    },
    Guard {
        name: "either",
        directives: "satisfy any; deny all; auth_basic \"e\"; auth_basic_user_file htpasswd;",
        method: "GET",
    },
];

/// The `http { }` body: each guard as a prefix location and a named twin, and the
/// locations that lead to them.
fn http_block(dir: &str, port: u16) -> String {
    let mut s = format!(
        "    access_log off;\n    server {{\n        listen 127.0.0.1:{port};\n        root {dir}/www;\n"
    );
    for g in GUARDS {
        let (n, d) = (g.name, g.directives);
        s.push_str(&format!(
            "        location /{n}/ {{ {d} }}\n\
             \x20       location @{n} {{ {d} }}\n\
             \x20       location /rw/{n}/ {{ rewrite ^/rw/{n}/(.*)$ /{n}/$1 last; }}\n\
             \x20       location /tf/{n}/ {{ try_files /nothing /{n}/f; }}\n\
             \x20       location /tfnamed/{n}/ {{ try_files /nothing @{n}; }}\n\
             \x20       location /idx/{n}/ {{ index /{n}/f; }}\n\
             \x20       location /ep/{n}/ {{ error_page 404 = @{n}; }}\n\
             \x20       location /epuri/{n}/ {{ error_page 404 /{n}/f; }}\n"
        ));
    }
    s.push_str("    }\n");
    s
}

/// The request paths for a guard: every way of reaching `/NAME/f`.
fn ways(name: &str) -> Vec<String> {
    let first = name.as_bytes()[0];
    let upper = name.to_ascii_uppercase();
    let mut cap = name.to_string();
    cap[..1].make_ascii_uppercase();
    vec![
        format!("/{name}/f"),
        format!("/{name}/"),
        format!("/%{first:02x}{}/f", &name[1..]),
        format!("/%{first:02X}{}/f", &name[1..]),
        format!("/{name}/%66"),
        format!("/{name}%2Ff"),
        format!("/other/../{name}/f"),
        format!("/{name}/./f"),
        format!("/./{name}/f"),
        format!("/{name}/x/../f"),
        format!("/%2e%2e/{name}/f"),
        format!("/other/%2e%2e/{name}/f"),
        format!("//{name}//f"),
        format!("///{name}/f"),
        format!("/{upper}/f"),
        format!("/{cap}/f"),
        format!("/{name}/f?x=1"),
        format!("/{name}/f#frag"),
        format!("/{name}/f;param"),
        format!("/rw/{name}/f"),
        format!("/tf/{name}/x"),
        format!("/tfnamed/{name}/x"),
        format!("/idx/{name}/"),
        format!("/ep/{name}/missing"),
        format!("/epuri/{name}/missing"),
        format!("/rw/{name}/../../{name}/f"),
    ]
}

/// The credentials to try: none, a wrong password, an unknown user.
const AUTHS: &[Option<&str>] = &[
    None,
    Some("Authorization: Basic cGxhaW46d3Jvbmc=\r\n"), // plain:wrong
    Some("Authorization: Basic bm9ib2R5OnNlY3JldA==\r\n"), // nobody:secret
];

/// Sends one request on a fresh connection; the status, or 0 when none came.
fn status(port: u16, method: &str, path: &str, auth: Option<&str>) -> u16 {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let body = if method == "POST" {
        "Content-Length: 2\r\n\r\nhi"
    } else {
        "\r\n"
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{}{body}",
        auth.unwrap_or("")
    );
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut buf);
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn prepare(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(dir.join("htpasswd"), "plain:{PLAIN}secret\n")?;
    for g in GUARDS {
        let d = dir.join("www").join(g.name);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("f"), format!("guarded {}\n", g.name))?;
    }
    std::fs::create_dir_all(dir.join("www/other"))?;
    Ok(())
}

#[test]
fn refused_requests_stay_refused_through_every_path() {
    let Some(nginx) = harness::nginx() else {
        if std::env::var_os("CI").is_some() {
            panic!("access_security: nginx is not on PATH, and CI must run this test");
        }
        eprintln!("access_security: skipped (nginx is not on PATH)");
        return;
    };
    let tmp = harness::TempDir::new("access-security");
    let dir = tmp.path();
    prepare(dir).expect("test files");
    let d = dir.display().to_string();
    let (np, sp) = (free_port(), free_port());
    assert!(np != 0 && sp != 0 && np != sp, "no free ports");
    let conf = |port: u16| {
        format!(
            "worker_processes 1;\nevents {{ worker_connections 256; }}\nhttp {{\n    client_body_temp_path {d}/body;\n{}}}\n",
            http_block(&d, port)
        )
    };
    std::fs::write(dir.join("nginx.conf"), conf(np)).expect("nginx.conf");
    std::fs::write(dir.join("sluice.conf"), conf(sp)).expect("sluice.conf");
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let n = Proc::start("nginx", &nginx, dir, "nginx.conf", &[(ip, np)]).expect("nginx starts");
    let s = Proc::start(
        "sluice",
        &harness::sluice(),
        dir,
        "sluice.conf",
        &[(ip, sp)],
    )
    .expect("sluice starts");

    let mut total = 0usize;
    let mut refused = 0usize;
    let mut differ = Vec::new();
    for g in GUARDS {
        for path in ways(g.name) {
            for auth in AUTHS {
                let want = status(np, g.method, &path, *auth);
                let got = status(sp, g.method, &path, *auth);
                total += 1;
                if want >= 400 {
                    refused += 1;
                }
                if want != got {
                    differ.push(format!(
                        "{} {path} ({}): nginx {want}, sluice {got}",
                        g.method,
                        if auth.is_some() {
                            "bad credentials"
                        } else {
                            "no credentials"
                        }
                    ));
                }
            }
        }
        // The guard means something: its plain request is refused by nginx.
        let plain = status(np, g.method, &format!("/{}/f", g.name), None);
        assert!(
            matches!(plain, 401 | 403 | 404),
            "nginx let the plain request to {} through ({plain})",
            g.name
        );
    }
    drop(n);
    drop(s);
    eprintln!(
        "access_security: {total} requests, {refused} refused by nginx, {} differ",
        differ.len()
    );
    assert!(
        differ.is_empty(),
        "sluice differs from nginx:\n{}",
        differ.join("\n")
    );
    assert!(
        refused * 2 > total,
        "only {refused} of {total} requests were refused"
    );
}
