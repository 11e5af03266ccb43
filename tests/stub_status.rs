//! `stub_status` figures, exactly, side by side with a live nginx: with one connection
//! idle before its first request, one in the middle of sending a head, one idle between
//! kept-alive requests, and the one asking, both programs must print the same page
//! byte for byte apart from the totals since start (accepts, handled, requests), whose
//! growth between two pages must be the same; so must `$connections_*`. The
//! differential suite compares the layout
//! alone (its figures depend on each program's history).

use crate::diff::procs::{free_port, Proc};
use crate::harness;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Reads one response with a `Content-Length` body from a kept-alive connection.
fn read_response(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string());
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).expect("connect");
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    s
}

/// The page with the three totals taken out, and the totals.
fn split(page: &str) -> (String, [u64; 3]) {
    let mut lines: Vec<String> = page.split('\n').map(str::to_string).collect();
    let mut totals = [0u64; 3];
    if let Some(l) = lines.get_mut(2) {
        for (i, n) in l.split_whitespace().enumerate().take(3) {
            totals[i] = n.parse().unwrap_or(0);
        }
        *l = " A H R ".to_string();
    }
    (lines.join("\n"), totals)
}

/// Sets up the connections and returns (first page without totals, growth of the
/// totals between the first and a second page, the `$connections_*` line).
fn observe(port: u16) -> (String, [u64; 3], String) {
    let _idle = connect(port);
    let mut partial = connect(port);
    partial
        .write_all(b"GET /x HTTP/1.1\r\nHost: test\r\n")
        .expect("partial head");
    let mut kept = connect(port);
    kept.write_all(b"GET /status HTTP/1.1\r\nHost: test\r\n\r\n")
        .expect("kept");
    let _ = read_response(&mut kept);
    let mut asker = connect(port);
    // The server sees the other connections' bytes in its own time: ask until the
    // figures settle on what the connections above make (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut page;
    loop {
        asker
            .write_all(b"GET /status HTTP/1.1\r\nHost: test\r\n\r\n")
            .expect("ask");
        page = read_response(&mut asker).unwrap_or_default();
        if page.contains("Active connections: 4 ") && page.contains("Reading: 1 ")
            || Instant::now() > deadline
        {
            break;
        }
    }
    let (first, t1) = split(&page);
    asker
        .write_all(b"GET /status HTTP/1.1\r\nHost: test\r\n\r\n")
        .expect("ask again");
    let (_, t2) = split(&read_response(&mut asker).unwrap_or_default());
    asker
        .write_all(b"GET /vars HTTP/1.1\r\nHost: test\r\n\r\n")
        .expect("vars");
    let vars = read_response(&mut asker).unwrap_or_default();
    (
        first,
        [
            t2[0] - t1[0].min(t2[0]),
            t2[1] - t1[1].min(t2[1]),
            t2[2] - t1[2].min(t2[2]),
        ],
        vars,
    )
}

#[test]
fn stub_status_figures_match_nginx() {
    let Some(nginx) = harness::nginx() else {
        if std::env::var_os("CI").is_some() {
            panic!("stub_status: nginx is not on PATH, and CI must run this test");
        }
        eprintln!("stub_status: skipped (nginx is not on PATH)");
        return;
    };
    let tmp = harness::TempDir::new("stub-status");
    let dir = tmp.path();
    let (np, sp) = (free_port(), free_port());
    assert!(np != 0 && sp != 0 && np != sp, "no free ports");
    let conf = |port: u16| {
        format!(
            "worker_processes 1;\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:{port};\n        location = /status {{ stub_status; }}\n        location = /vars {{ return 200 \"$connections_active $connections_reading $connections_writing $connections_waiting\\n\"; }}\n    }}\n}}\n"
        )
    };
    std::fs::write(dir.join("nginx.conf"), conf(np)).expect("nginx.conf");
    std::fs::write(dir.join("sluice.conf"), conf(sp)).expect("sluice.conf");
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let _n = Proc::start("nginx", &nginx, dir, "nginx.conf", &[(ip, np)]).expect("nginx");
    let _s = Proc::start(
        "sluice",
        &harness::sluice(),
        dir,
        "sluice.conf",
        &[(ip, sp)],
    )
    .expect("sluice");
    let (npage, ngrowth, nvars) = observe(np);
    let (spage, sgrowth, svars) = observe(sp);
    eprintln!("stub_status: nginx printed {npage:?}, growth {ngrowth:?}");
    assert_eq!(
        npage,
        "Active connections: 4 \nserver accepts handled requests\n A H R \nReading: 1 Writing: 1 Waiting: 2 \n",
        "nginx's own page is not what this test expects"
    );
    assert_eq!(spage, npage, "sluice's page differs from nginx's");
    assert_eq!(sgrowth, ngrowth, "the totals grew differently");
    assert_eq!(
        nvars, "4 1 1 2\n",
        "nginx's $connections_* are not what this test expects"
    );
    assert_eq!(svars, nvars, "sluice's $connections_* differ from nginx's");
}
