//! Every configuration in `conf-examples/` serves (issue "Serve HTTP"): each example is
//! copied to a temp prefix with its ports replaced by free ones, its upstreams are played
//! by a local origin that answers HTTP and WebSocket, and the real binary serves it: the
//! health check, the static files, the proxied paths and a WebSocket echo through the
//! WebSocket recipe each example uses. (`websocket-tls.conf` is served over TLS by
//! `tests/tls.rs` once TLS listeners are in.)

use crate::harness::{copy_tree, repo, TempDir};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// An upstream that answers plain HTTP with `origin <path>` and WebSocket by echoing.
async fn origin() -> SocketAddr {
    crate::harness::ws_http_origin(|_, path| format!("origin {path}"), None).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A running example: sluice on a copy of conf-examples/ with ports rewritten.
struct Example {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies conf-examples/ and rewrites `file`: its listen port, every upstream port in
/// `upstreams` to `origin`'s, and the pid file into the copy.
async fn start(file: &str, listen: u16, upstreams: &[u16], origin: SocketAddr) -> Example {
    let dir = TempDir::new("example");
    copy_tree(&repo().join("conf-examples"), dir.path()).expect("copy conf-examples");
    let port = free_port();
    let mut text = std::fs::read_to_string(dir.path().join(file)).expect("read example");
    text = text.replace(&format!("127.0.0.1:{listen}"), &format!("127.0.0.1:{port}"));
    for u in upstreams {
        text = text.replace(&format!(":{u};"), &format!(":{};", origin.port()));
        text = text.replace(&format!(":{u} "), &format!(":{} ", origin.port()));
    }
    let pid = dir.path().join("example.pid");
    text = regex_pid(&text, &pid.display().to_string());
    std::fs::write(dir.path().join(file), text).expect("write example");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .args(["-c", file, "-g", "daemon off;"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sluice");
    let ex = Example {
        child,
        port,
        _dir: dir,
    };
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < end, "{file}: sluice did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ex
}

/// Replaces the `pid ...;` line.
fn regex_pid(text: &str, pid: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("pid ") {
                format!("pid {pid};")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// GET over HTTP/1.0; returns (status line, body).
async fn get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

async fn ws_echo(port: u16, path: &str) {
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
        .await
        .unwrap_or_else(|e| panic!("WebSocket through {path}: {e}"));
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hello")).await.expect("send");
    assert_eq!(
        ws.next().await.expect("reply").expect("frame"),
        Message::text("hello")
    );
}

fn run(f: impl std::future::Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("example timed out")
    });
}

fn index_html() -> String {
    std::fs::read_to_string(repo().join("conf-examples/html/index.html")).expect("index.html")
}

#[test]
fn quickstart_serves() {
    run(async {
        let o = origin().await;
        let ex = start("quickstart.conf", 18080, &[3000], o).await;
        assert_eq!(
            get(ex.port, "/health").await,
            ("HTTP/1.1 200 OK".into(), "ok\n".into())
        );
        assert_eq!(
            get(ex.port, "/app/x").await,
            ("HTTP/1.1 200 OK".into(), "origin /app/x".into())
        );
        ws_echo(ex.port, "/chat").await;
    });
}

#[test]
fn websocket_basic_serves() {
    run(async {
        let o = origin().await;
        let ex = start("websocket-basic.conf", 18081, &[3000], o).await;
        assert_eq!(get(ex.port, "/p").await.1, "origin /p");
        ws_echo(ex.port, "/").await;
    });
}

#[test]
fn socketio_static_serves() {
    run(async {
        let o = origin().await;
        let ex = start("socketio-static.conf", 18082, &[3000], o).await;
        assert_eq!(
            get(ex.port, "/").await,
            ("HTTP/1.1 200 OK".into(), index_html())
        );
        assert_eq!(
            get(ex.port, "/socket.io/?EIO=4&transport=polling").await.1,
            "origin /socket.io/?EIO=4&transport=polling"
        );
        ws_echo(ex.port, "/socket.io/?EIO=4&transport=websocket").await;
    });
}

#[test]
fn socketio_custom_path_serves() {
    run(async {
        let o = origin().await;
        let ex = start("socketio-custom-path.conf", 18083, &[3000], o).await;
        assert_eq!(get(ex.port, "/").await.1, index_html());
        ws_echo(ex.port, "/my-custom-path/?EIO=4&transport=websocket").await;
    });
}

#[test]
fn upstream_weights_serves() {
    run(async {
        let o = origin().await;
        let ex = start("upstream-weights.conf", 18084, &[5000, 5001, 5002, 5003], o).await;
        let css =
            std::fs::read_to_string(repo().join("conf-examples/assets/app.css")).expect("css");
        assert_eq!(
            get(ex.port, "/assets/app.css").await,
            ("HTTP/1.1 200 OK".into(), css)
        );
        assert_eq!(get(ex.port, "/x").await.1, "origin /x");
        ws_echo(ex.port, "/").await;
    });
}
