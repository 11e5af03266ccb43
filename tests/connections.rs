//! `worker_connections` (SEMANTICS §11) side by side with nginx: one scenario of idle,
//! keep-alive, half-sent, proxied and upgraded connections run against sluice and, when
//! it is installed, against nginx 1.22.1 on the same configuration; which connections get
//! closed, which statuses come back and the error-log lines must be the same.

use crate::harness::{free_port, nginx, stop, wait_for, TempDir};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The upstream: `GET /ws` with `Upgrade` gets a 101 and an echo; anything else an
/// HTTP/1.0 `200 up` and a close. Stops accepting when dropped (and after a minute).
struct Origin {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Origin {
    fn start() -> Origin {
        let l = TcpListener::bind("127.0.0.1:0").expect("origin bind");
        let port = l.local_addr().expect("addr").port();
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                match l.accept() {
                    Ok((s, _)) => {
                        std::thread::spawn(move || origin_conn(s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Origin { port, stop }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn origin_conn(mut s: TcpStream) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if text.contains("upgrade: websocket") {
        let _ = s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        loop {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    }
    let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nup\n");
}

fn config(port: u16, origin: u16, events: &str) -> String {
    format!(
        "daemon off;
pid logs/nginx.pid;
worker_processes 1;
error_log logs/error.log warn;
{events}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 \"ok\\n\"; }}
        location /p {{ proxy_pass http://127.0.0.1:{origin}; }}
        location /ws {{
            proxy_pass http://127.0.0.1:{origin};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection upgrade;
        }}
    }}
}}
"
    )
}

/// A server process, stopped (TERM, then KILL) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        stop(&mut self.0, Duration::from_secs(3));
    }
}

/// Starts `bin` on the scenario's configuration in a fresh prefix; up once the port
/// accepts and the pid file is written. The probe connection is closed at once, before
/// the scenario starts (the server sees it go and frees its slot).
fn launch(bin: &Path, dir: &Path, port: u16, origin: u16, events: &str) -> Proc {
    std::fs::create_dir_all(dir.join("logs")).expect("logs");
    std::fs::write(dir.join("nginx.conf"), config(port, origin, events)).expect("conf");
    let child = Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .args(["-c", "nginx.conf"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let p = Proc(child);
    assert!(
        wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(dir.join("logs/nginx.pid")).is_ok_and(|s| s.ends_with('\n'))
                && TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "{} did not come up",
        bin.display()
    );
    p
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

/// Sends a request and reads one response (head and `Content-Length` body): its status
/// line and body, or what happened instead.
fn request(s: &mut TcpStream, raw: &str) -> String {
    if s.write_all(raw.as_bytes()).is_err() {
        return "send failed".into();
    }
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                let status = head.lines().next().unwrap_or_default().to_string();
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).into_owned();
                return format!("{status} {}", body.trim_end());
            }
        }
        match s.read(&mut b) {
            Ok(0) => return "closed".into(),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return "closed".into(),
            Err(e) => return format!("error {e}"),
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
}

fn get(s: &mut TcpStream, path: &str) -> String {
    request(s, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

/// Blocks (up to the read timeout) until the server closes: "closed", or what came.
fn closed(s: &mut TcpStream) -> String {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => "closed".into(),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => "closed".into(),
        Err(e) => format!("still open ({e})"),
        Ok(n) => format!("data {:?}", String::from_utf8_lossy(&b[..n])),
    }
}

/// Without waiting: "open" when nothing (no EOF, no reset) is pending.
fn still_open(s: &mut TcpStream) -> String {
    let _ = s.set_nonblocking(true);
    let mut b = [0u8; 64];
    let r = match s.read(&mut b) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => "open".to_string(),
        Ok(0) => "closed".into(),
        Ok(n) => format!("data {:?}", String::from_utf8_lossy(&b[..n])),
        Err(e) => format!("error {e}"),
    };
    let _ = s.set_nonblocking(false);
    r
}

/// The scenario (worker_connections 8: the listener and the channel to the master
/// take two, six are left for clients and upstreams). Returns one line per observation.
fn scenario(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |what: &str, v: String| out.push(format!("{what}: {v}"));
    const PARTIAL: &[u8] = b"GET / HTTP/1.1\r\n";
    // a. a connection that sends nothing: reusable from the start.
    let mut i1 = connect(port);
    // b. an idle keep-alive connection: reusable after its response.
    let mut k1 = connect(port);
    note("k1 GET /", get(&mut k1, "/"));
    // c. two half-sent heads: not reusable.
    let mut p1 = connect(port);
    p1.write_all(PARTIAL).expect("p1");
    let mut p2 = connect(port);
    p2.write_all(PARTIAL).expect("p2");
    // d. a tunnel: a client and an upstream connection. All six slots are taken.
    let mut t = connect(port);
    note(
        "tunnel",
        request(
            &mut t,
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ),
    );
    t.write_all(b"ping").expect("ping");
    let mut b = [0u8; 4];
    note(
        "tunnel echo",
        match t.read_exact(&mut b) {
            Ok(()) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("error {e}"),
        },
    );
    // e. a new connection reuses the oldest reusable one: i1.
    let mut n1 = connect(port);
    note("n1 GET /", get(&mut n1, "/"));
    note("i1 after n1", closed(&mut i1));
    // f. the next one reuses k1.
    let mut n2 = connect(port);
    note("n2 GET /", get(&mut n2, "/"));
    note("k1 after n2", closed(&mut k1));
    // g. an upstream connection reuses an idle client too: n1, the older of n1 and n2.
    note("n2 GET /p", get(&mut n2, "/p"));
    note("n1 after n2's proxied request", closed(&mut n1));
    // h. n2 half-sends a head; i. n3 takes the free slot.
    n2.write_all(PARTIAL).expect("n2");
    let mut n3 = connect(port);
    note("n3 GET /", get(&mut n3, "/"));
    // j. nothing reusable (n3 is busy with this request): no upstream connection, 500
    // (which ends n3's keep-alive, as nginx's 500 page does).
    note("n3 GET /p", get(&mut n3, "/p"));
    // k. the 500 ended n3's keep-alive: lingering close, reusable again; n4 reuses it.
    let mut n4 = connect(port);
    note("n4 GET /", get(&mut n4, "/"));
    // l. n4 half-sends a head (a round trip through the tunnel lets the server read it
    // first); n5 finds no slot and nothing to reuse: closed unanswered.
    n4.write_all(PARTIAL).expect("n4");
    t.write_all(b"pong").expect("pong");
    note(
        "tunnel echo",
        match t.read_exact(&mut b) {
            Ok(()) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("error {e}"),
        },
    );
    let mut n5 = connect(port);
    note("n5 GET /", get(&mut n5, "/"));
    // The connections that were never candidates are all still there.
    t.write_all(b"last").expect("last");
    note(
        "tunnel echo at the end",
        match t.read_exact(&mut b) {
            Ok(()) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("error {e}"),
        },
    );
    for (name, s) in [
        ("p1", &mut p1),
        ("p2", &mut p2),
        ("n2", &mut n2),
        ("n4", &mut n4),
    ] {
        note(&format!("{name} at the end"), still_open(s));
    }
    out
}

/// The error log without timestamps, pids and connection numbers, repeated lines
/// (the once-a-second warning straddling a second) collapsed, the origin's port named.
fn log_lines(dir: &Path, origin: u16) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        // "YYYY/MM/DD HH:MM:SS [level] PID#TID: [*N ]text"
        let Some((_, rest)) = line.split_once(" [") else {
            continue;
        };
        let Some((level, rest)) = rest.split_once("] ") else {
            continue;
        };
        let Some((_, text)) = rest.split_once(": ") else {
            continue;
        };
        let text = match text.strip_prefix('*') {
            Some(t) => t.split_once(' ').map_or(t, |(_, t)| t),
            None => text,
        };
        let l = format!("[{level}] {}", text.replace(&origin.to_string(), "ORIGIN"));
        if out.last() != Some(&l) {
            out.push(l);
        }
    }
    out
}

const WC8: &str = "events { worker_connections 8; }";
const WC32: &str = "events { worker_connections 32; }";
const WC8_SINGLE: &str = "master_process off;\nevents { worker_connections 8; }";

const EXPECTED: &[&str] = &[
    "k1 GET /: HTTP/1.1 200 OK ok",
    "tunnel: HTTP/1.1 101 Switching Protocols ",
    "tunnel echo: ping",
    "n1 GET /: HTTP/1.1 200 OK ok",
    "i1 after n1: closed",
    "n2 GET /: HTTP/1.1 200 OK ok",
    "k1 after n2: closed",
    "n2 GET /p: HTTP/1.1 200 OK up",
    "n1 after n2's proxied request: closed",
    "n3 GET /: HTTP/1.1 200 OK ok",
    "n3 GET /p: HTTP/1.1 500 Internal Server Error",
    "n4 GET /: HTTP/1.1 200 OK ok",
    "tunnel echo: pong",
    "n5 GET /: closed",
    "tunnel echo at the end: last",
    "p1 at the end: open",
    "p2 at the end: open",
    "n2 at the end: open",
    "n4 at the end: open",
];

const EXPECTED_LOG: &[&str] = &[
    "[warn] 8 worker_connections are not enough, reusing connections",
    "[alert] 8 worker_connections are not enough while connecting to upstream, client: 127.0.0.1, server: , request: \"GET /p HTTP/1.1\", upstream: \"http://127.0.0.1:ORIGIN/p\", host: \"x\"",
    "[alert] 8 worker_connections are not enough",
];

fn run(
    bin: &Path,
    label: &str,
    events: &str,
    scenario: fn(u16) -> Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let dir = TempDir::new(label);
    let origin = Origin::start();
    let port = free_port();
    let proc = launch(bin, dir.path(), port, origin.port, events);
    let seen = scenario(port);
    drop(proc);
    (seen, log_lines(dir.path(), origin.port))
}

/// The 500's body is nginx's error page: compare its status line only.
fn status_only(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|l| match l.find(" 500 Internal Server Error") {
            Some(i) => l[..i + " 500 Internal Server Error".len()].to_string(),
            None => l,
        })
        .collect()
}

/// [`run`] on sluice (prefix `LABEL-sluice`) and, where there is an nginx, on nginx
/// (`LABEL-nginx`), which must see the same through `view`; sluice's clients (through
/// `view`) and error log.
fn run_both(
    label: &str,
    events: &str,
    scenario: fn(u16) -> Vec<String>,
    view: fn(Vec<String>) -> Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let sluice = crate::harness::sluice();
    let (seen, log) = run(&sluice, &format!("{label}-sluice"), events, scenario);
    let seen = view(seen);
    if let Some(n) = nginx() {
        let (n_seen, n_log) = run(&n, &format!("{label}-nginx"), events, scenario);
        assert_eq!(
            view(n_seen),
            seen,
            "nginx (left) and sluice (right) differ: clients"
        );
        assert_eq!(
            n_log, log,
            "nginx (left) and sluice (right) differ: error log"
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is required under CI"
        );
        eprintln!("nginx is not on PATH: compared with the recorded outcome only");
    }
    (seen, log)
}

#[test]
fn worker_connections_reuses_idle_connections_and_refuses_as_nginx() {
    let (seen, log) = run_both("wc", WC8, scenario, status_only);
    assert_eq!(seen, EXPECTED, "what the clients saw");
    assert_eq!(log, EXPECTED_LOG, "the error log");
}

/// worker_connections 32: 30 slots for clients; reuse starts when no more than 32 / 16 = 2
/// are free, not only when none is (nginx 1.22's `ngx_drain_connections()`).
fn spare_scenario(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut k = connect(port);
    out.push(format!("k GET /: {}", get(&mut k, "/")));
    let mut held = Vec::new();
    for _ in 0..27 {
        let mut c = connect(port);
        c.write_all(b"GET / HTTP/1.1\r\n").expect("partial");
        held.push(c);
    }
    // 28 taken, 2 free: the next connection reuses k (3 free would not).
    out.push(format!("k with 28 taken: {}", still_open(&mut k)));
    let mut c = connect(port);
    c.write_all(b"GET / HTTP/1.1\r\n").expect("partial");
    held.push(c);
    out.push(format!("k after the 29th: {}", closed(&mut k)));
    out
}

#[test]
fn worker_connections_reuse_starts_when_a_sixteenth_is_free() {
    let (seen, log) = run_both("wc16", WC32, spare_scenario, |s| s);
    assert_eq!(
        seen,
        [
            "k GET /: HTTP/1.1 200 OK ok",
            "k with 28 taken: open",
            "k after the 29th: closed"
        ]
    );
    assert_eq!(
        log,
        ["[warn] 32 worker_connections are not enough, reusing connections"]
    );
}

/// `master_process off`: no channel to a master takes a connection, so 8 leave 7 for
/// clients (seen live: the eighth idle connection closed the first).
fn single_scenario(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut first = connect(port);
    out.push(format!("first GET /: {}", get(&mut first, "/")));
    let mut others = Vec::new();
    for i in 2..=7 {
        let mut c = connect(port);
        out.push(format!("#{i} GET /: {}", get(&mut c, "/")));
        others.push(c);
    }
    out.push(format!("first with 7 open: {}", still_open(&mut first)));
    let mut eighth = connect(port);
    out.push(format!("#8 GET /: {}", get(&mut eighth, "/")));
    out.push(format!("first after #8: {}", closed(&mut first)));
    out
}

#[test]
fn worker_connections_without_a_master_process_leaves_one_more() {
    let (seen, log) = run_both("wc1", WC8_SINGLE, single_scenario, |s| s);
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[7], "first with 7 open: open");
    assert_eq!(seen[8], "#8 GET /: HTTP/1.1 200 OK ok");
    assert_eq!(seen[9], "first after #8: closed");
    assert_eq!(
        log,
        ["[warn] 8 worker_connections are not enough, reusing connections"]
    );
}
