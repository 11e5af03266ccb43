//! WebSocket through the real binary with real clients and servers (tokio-tungstenite):
//! the nginx recipe (SEMANTICS §5.1), the tunnel (§5.4), its idle timeout (§5.5), and
//! what happens when the upstream does not switch protocols (§5.3).

use crate::harness::TempDir;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// A sluice process on a temp prefix, killed on drop.
struct Proxy {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Starts sluice with the WebSocket recipe in front of `origin`.
async fn proxy(origin: SocketAddr, read_timeout: &str, recipe: bool) -> Proxy {
    let dir = TempDir::new("ws");
    let port = free_port();
    let headers = if recipe {
        "proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n"
    } else {
        ""
    };
    let conf = format!(
        "daemon off;\npid {d}/sluice.pid;\nerror_log {d}/error.log info;\nevents {{}}\nhttp {{\n    access_log off;\n    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n    upstream ws {{ server {origin}; }}\n    server {{\n        listen 127.0.0.1:{port};\n        location / {{\n            proxy_pass http://ws;\n            {headers}            proxy_read_timeout {read_timeout};\n            proxy_buffering off;\n        }}\n    }}\n}}\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).expect("conf");
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .args(["-c", "nginx.conf"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sluice");
    let p = Proxy {
        child,
        port,
        _dir: dir,
    };
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < end, "sluice did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p
}

/// A WebSocket origin: echoes every message; `greet` is sent first, right after the
/// handshake (server-first traffic).
async fn echo_origin(greet: Option<&'static str>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                if let Some(g) = greet {
                    let _ = ws.send(Message::text(g)).await;
                }
                while let Some(Ok(m)) = ws.next().await {
                    match m {
                        // tungstenite queues the close reply and sends it on the next
                        // poll; the stream then ends.
                        Message::Close(_) | Message::Ping(_) | Message::Pong(_) => {}
                        other => {
                            if ws.send(other).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn url(p: &Proxy) -> String {
    format!("ws://127.0.0.1:{}/chat", p.port)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `f` with a deadline, so no test can hang.
fn bounded<F: std::future::Future<Output = ()>>(secs: u64, f: F) {
    rt().block_on(async {
        tokio::time::timeout(Duration::from_secs(secs), f)
            .await
            .expect("test timed out");
    });
}

#[test]
fn text_and_binary_messages_round_trip() {
    bounded(20, async {
        let origin = echo_origin(None).await;
        let p = proxy(origin, "60s", true).await;
        let (mut ws, resp) = tokio_tungstenite::connect_async(url(&p))
            .await
            .expect("handshake through sluice");
        assert_eq!(resp.status(), 101);
        assert_eq!(
            resp.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"upgrade"[..])
        );
        ws.send(Message::text("hello")).await.expect("send");
        assert_eq!(
            ws.next().await.expect("reply").expect("ok"),
            Message::text("hello")
        );
        ws.send(Message::binary(vec![0u8, 1, 2, 255]))
            .await
            .expect("send");
        assert_eq!(
            ws.next().await.expect("reply").expect("ok"),
            Message::binary(vec![0u8, 1, 2, 255])
        );
    });
}

#[test]
fn one_mebibyte_messages_and_a_thousand_pipelined() {
    bounded(60, async {
        let origin = echo_origin(None).await;
        let p = proxy(origin, "60s", true).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url(&p))
            .await
            .expect("handshake");
        let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        ws.send(Message::binary(big.clone()))
            .await
            .expect("send 1 MiB");
        assert_eq!(
            ws.next().await.expect("reply").expect("ok"),
            Message::binary(big)
        );
        for i in 0..1000 {
            ws.feed(Message::text(format!("m{i}"))).await.expect("feed");
        }
        ws.flush().await.expect("flush");
        for i in 0..1000 {
            assert_eq!(
                ws.next().await.expect("reply").expect("ok"),
                Message::text(format!("m{i}"))
            );
        }
    });
}

#[test]
fn server_first_message_is_relayed_at_once() {
    bounded(20, async {
        let origin = echo_origin(Some("welcome")).await;
        let p = proxy(origin, "60s", true).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url(&p))
            .await
            .expect("handshake");
        let first = tokio::time::timeout(Duration::from_secs(2), ws.next())
            .await
            .expect("in time");
        assert_eq!(first.expect("msg").expect("ok"), Message::text("welcome"));
    });
}

#[test]
fn close_handshake_from_the_client() {
    bounded(20, async {
        let origin = echo_origin(None).await;
        let p = proxy(origin, "60s", true).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url(&p))
            .await
            .expect("handshake");
        ws.close(Some(CloseFrame {
            code: 1000u16.into(),
            reason: "bye".into(),
        }))
        .await
        .expect("close");
        // The origin answers the close; the stream then ends.
        let mut saw_close = false;
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(_)) => saw_close = true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert!(saw_close, "the close frame came back through the tunnel");
    });
}

#[test]
fn close_handshake_from_the_server() {
    bounded(20, async {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let origin = l.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((s, _)) = l.accept().await {
                if let Ok(mut ws) = tokio_tungstenite::accept_async(s).await {
                    let _ = ws
                        .close(Some(CloseFrame {
                            code: 1001u16.into(),
                            reason: "going".into(),
                        }))
                        .await;
                    while ws.next().await.is_some() {}
                }
            }
        });
        let p = proxy(origin, "60s", true).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url(&p))
            .await
            .expect("handshake");
        match ws.next().await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1001),
            other => panic!("expected the server's close frame, got {other:?}"),
        }
    });
}

/// Opens a raw tunnel: handshake bytes by hand, returns the socket after the 101.
async fn raw_tunnel(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await.expect("send");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(
            s.read(&mut b).await.expect("read") == 1,
            "closed during handshake"
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

#[test]
fn half_close_ends_the_whole_tunnel() {
    // SEMANTICS §5.4: any EOF ends both sides; half-close is not propagated.
    bounded(20, async {
        let origin = echo_origin(None).await;
        let p = proxy(origin, "60s", true).await;
        let mut s = raw_tunnel(p.port).await;
        s.shutdown().await.expect("half-close");
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest)).await;
        assert!(n.is_ok(), "the client got EOF after its half-close");
    });
}

#[test]
fn idle_tunnel_closes_at_proxy_read_timeout() {
    bounded(30, async {
        let origin = echo_origin(None).await;
        let p = proxy(origin, "2s", true).await;
        let mut s = raw_tunnel(p.port).await;
        let t0 = Instant::now();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap_or(0);
        let idle = t0.elapsed();
        assert_eq!(n, 0, "EOF, no data");
        assert!(
            idle >= Duration::from_millis(1900) && idle <= Duration::from_millis(3500),
            "closed after {idle:?}"
        );
    });
}

#[test]
fn trickling_client_keeps_the_tunnel_open() {
    // The timer is re-armed by bytes in either direction (SEMANTICS §5.5): a client
    // sending a ping frame every 700 ms keeps a 2 s tunnel open for 5 s.
    bounded(30, async {
        let origin = echo_origin(None).await;
        let p = proxy(origin, "2s", true).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url(&p))
            .await
            .expect("handshake");
        let t0 = Instant::now();
        let mut i = 0;
        while t0.elapsed() < Duration::from_secs(5) {
            ws.send(Message::text(format!("t{i}")))
                .await
                .expect("still open");
            assert_eq!(
                ws.next().await.expect("reply").expect("ok"),
                Message::text(format!("t{i}"))
            );
            i += 1;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });
}

/// An origin that answers the handshake with a plain 200.
async fn refusing_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
                    .await;
            });
        }
    });
    addr
}

#[test]
fn upstream_refusing_the_upgrade_gives_a_normal_keepalive_response() {
    // SEMANTICS §5.3: the answer is proxied as an ordinary response and the client
    // connection stays an HTTP connection.
    bounded(20, async {
        let origin = refusing_origin().await;
        let p = proxy(origin, "60s", true).await;
        let mut s = TcpStream::connect(("127.0.0.1", p.port))
            .await
            .expect("connect");
        let req = b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        for _ in 0..2 {
            s.write_all(req).await.expect("send");
            let mut got = Vec::new();
            let mut b = [0u8; 1024];
            while !(got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"no")) {
                let n = s.read(&mut b).await.expect("read");
                assert!(
                    n > 0,
                    "connection closed: {}",
                    String::from_utf8_lossy(&got)
                );
                got.extend_from_slice(&b[..n]);
            }
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
            assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
        }
    });
}

#[test]
fn without_the_recipe_the_origin_sees_http10_and_connection_close() {
    // SEMANTICS §5.7, failure 1: no Upgrade/Connection headers set → the origin gets an
    // HTTP/1.0 request with `Connection: close` and no `Upgrade`.
    bounded(20, async {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let origin = l.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(n) if n > 0 => got.extend_from_slice(&b[..n]),
                        _ => break,
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let _ = tx.send(got);
            }
        });
        let p = proxy(origin, "60s", false).await;
        let r = tokio_tungstenite::connect_async(url(&p)).await;
        assert!(r.is_err(), "the handshake fails as under nginx");
        let seen = String::from_utf8_lossy(&rx.await.expect("origin saw a request")).into_owned();
        assert!(
            seen.starts_with("GET /chat HTTP/1.0\r\nHost: ws\r\nConnection: close\r\n"),
            "{seen}"
        );
        assert!(
            !seen.to_ascii_lowercase().contains("upgrade: websocket"),
            "{seen}"
        );
    });
}
