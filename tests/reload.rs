//! Reload under load (issue "Run it like nginx"): 200 keep-alive HTTP clients and 200
//! WebSocket tunnels stay busy while the configuration is reloaded 50 times, alternating
//! two configurations that differ in routing, upstream servers and one listener. No HTTP
//! request fails, no tunnel closes, every request started after a reload is routed by the
//! new configuration, and memory after the 50th reload is within 10% of after the first.

use crate::harness::TempDir;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const HTTP_CLIENTS: usize = 200;
const TUNNELS: usize = 200;
const RELOADS: usize = 50;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// An HTTP origin answering every request with its name and the request's `X-Gen`
/// header (the configuration generation that routed it), keep-alive.
async fn http_origin(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let gen = head
                            .lines()
                            .find_map(|l| l.strip_prefix("X-Gen: "))
                            .unwrap_or("?");
                        let body = format!("{name}:{gen}");
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
            });
        }
    });
    addr
}

async fn ws_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Config "A" routes /r to origin one; "B" routes /r to origin two and adds a listener.
fn config(
    dir: &std::path::Path,
    gen: usize,
    port: u16,
    extra: u16,
    one: SocketAddr,
    two: SocketAddr,
    ws: SocketAddr,
) -> String {
    let b = gen % 2 == 1;
    let (up, tag, listen2) = if b {
        (two, "B", format!("    server {{ listen 127.0.0.1:{extra}; location / {{ return 200 \"extra\"; }} }}\n"))
    } else {
        (one, "A", String::new())
    };
    format!(
        "daemon off;\nworker_processes 2;\npid {d}/sluice.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 4096; }}\nhttp {{\n    access_log off;\n    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n    upstream app {{ server {up}; keepalive 32; }}\n    upstream ws {{ server {ws}; }}\n    server {{\n        listen 127.0.0.1:{port};\n        location /r {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header X-Gen {gen}; }}\n        location /which {{ return 200 \"{tag}\"; }}\n        location /ws {{ proxy_pass http://ws; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; proxy_read_timeout 3600s; }}\n    }}\n{listen2}}}\n",
        d = dir.display()
    )
}

/// One keep-alive request; returns the body.
async fn request(s: &mut TcpStream, path: &str) -> Result<String, String> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            if !head.starts_with("HTTP/1.1 200 ") {
                return Err(head);
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("no length: {head}"))?;
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed mid-body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string());
        }
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn rss_kib(pid: u32) -> u64 {
    let pid = crate::harness::serving_pid(pid);
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

#[test]
fn fifty_reloads_under_load_drop_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), run())
            .await
            .expect("reload test timed out");
    });
}

async fn run() {
    let dir = TempDir::new("reload-load");
    let (one, two, ws) = (
        http_origin("one").await,
        http_origin("two").await,
        ws_origin().await,
    );
    let (port, extra) = (free_port(), free_port());
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config(dir.path(), 0, port, extra, one, two, ws)).expect("conf");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .args(["-c", "nginx.conf"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0 as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _guard = Kill(pid);
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err()
        || !dir.path().join("sluice.pid").exists()
    {
        assert!(Instant::now() < end, "sluice did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The generation the clients must see: requests started after `gen_at[g]` must be
    // routed by config g's parity.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let current = Arc::new(AtomicUsize::new(0)); // even: A, odd: B
    let misrouted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..HTTP_CLIENTS {
        let (stop, failures, requests, current, misrouted) = (
            stop.clone(),
            failures.clone(),
            requests.clone(),
            current.clone(),
            misrouted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut s = match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(s) => s,
                Err(_) => {
                    failures.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            };
            while !stop.load(Ordering::SeqCst) {
                let before = current.load(Ordering::SeqCst);
                match request(&mut s, "/r").await {
                    Ok(body) => {
                        requests.fetch_add(1, Ordering::Relaxed);
                        // Routed by the generation that was current when the request
                        // started, or a later one, and by that generation's upstream.
                        let (origin, gen) = body.split_once(':').unwrap_or(("", ""));
                        let gen: usize = gen.parse().unwrap_or(0);
                        let right_origin = if gen.is_multiple_of(2) { "one" } else { "two" };
                        if gen < before || origin != right_origin {
                            misrouted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(_) => {
                        failures.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    let closed = Arc::new(AtomicUsize::new(0));
    let echoes = Arc::new(AtomicU64::new(0));
    let mut wss = Vec::new();
    for i in 0..TUNNELS {
        let (ws_stream, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
            .await
            .unwrap_or_else(|e| panic!("tunnel {i}: {e}"));
        let (stop, closed, echoes) = (stop.clone(), closed.clone(), echoes.clone());
        wss.push(tokio::spawn(async move {
            let mut ws = ws_stream;
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let msg = format!("{i}-{n}");
                if ws.send(Message::text(msg.clone())).await.is_err() {
                    closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                    Ok(Some(Ok(m))) if m == Message::text(msg) => {
                        echoes.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        closed.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    let mut rss_after_first = 0;
    for r in 1..=RELOADS {
        let b = r % 2 == 1;
        std::fs::write(&conf, config(dir.path(), r, port, extra, one, two, ws)).expect("conf");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("HUP");
        // The reload is done when a fresh connection sees the new configuration.
        let want = if b { "B" } else { "A" };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let mut s = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            if request(&mut s, "/which").await.as_deref() == Ok(want) {
                break;
            }
            assert!(Instant::now() < end, "reload {r} not applied");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        current.store(r, Ordering::SeqCst);
        // The added listener exists exactly in config B.
        let extra_up = TcpStream::connect(("127.0.0.1", extra)).await.is_ok();
        assert_eq!(extra_up, b, "listener {extra} after reload {r}");
        if r == 1 {
            rss_after_first = rss_kib(pid);
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let rss_after_last = rss_kib(pid);
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    for t in wss {
        let _ = t.await;
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "reload: {RELOADS} reloads, {} HTTP requests, {} echoes; RSS {rss_after_first} KiB after the first, {rss_after_last} KiB after the last",
        requests.load(Ordering::SeqCst),
        echoes.load(Ordering::SeqCst)
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0, "failed HTTP requests");
    assert_eq!(closed.load(Ordering::SeqCst), 0, "tunnels closed");
    assert_eq!(
        misrouted.load(Ordering::SeqCst),
        0,
        "requests routed by an old configuration"
    );
    assert!(
        requests.load(Ordering::SeqCst) > 1000,
        "the clients were busy"
    );
    assert!(
        rss_after_last as f64 <= rss_after_first as f64 * 1.10,
        "RSS grew from {rss_after_first} KiB to {rss_after_last} KiB"
    );
}
