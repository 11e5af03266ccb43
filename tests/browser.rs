//! A real browser through sluice: headless Chromium (Debian's `chromium`) loads a page
//! over HTTPS, the page opens a WebSocket to the same origin, and the echoed message it
//! writes into the DOM is read back through the DevTools protocol. Once with HTTP/1.1 to the proxy
//! (the listener has no `http2`) and once with HTTP/2, where the WebSocket must go over
//! the h2 connection (RFC 8441): sluice's access log shows `$server_protocol` for it.
//!
//! The certificate is made at test time; Chromium trusts exactly it through
//! `--ignore-certificate-errors-spki-list` (the SHA-256 of its public key). Under CI
//! (`CI` set) a missing `chromium` fails the test; elsewhere it is skipped with a note.

use crate::harness::free_port;
use crate::harness::TempDir;
use crate::tls::{bounded, start};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const PAGE: &str = r#"<!doctype html>
<html><head><title>sluice</title></head><body>
<div id="out">pending</div>
<script>
const out = document.getElementById("out");
const ws = new WebSocket("wss://" + location.host + "/ws/echo");
ws.onopen = () => ws.send("hello from the browser");
ws.onmessage = (e) => { out.textContent = "echo: " + e.data; ws.close(); };
ws.onerror = () => { out.textContent = "websocket error"; };
</script>
</body></html>
"#;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            s.push(if i <= c.len() {
                T[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    s
}

/// Writes the certificate, the page and the configuration; returns the SPKI pin
/// (base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo).
fn write_site(dir: &Path, port: u16, http2: bool, ws: std::net::SocketAddr) -> String {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    std::fs::create_dir_all(dir.join("conf")).expect("mkdir conf");
    std::fs::create_dir_all(dir.join("html")).expect("mkdir html");
    std::fs::write(dir.join("conf/site.crt"), c.cert.pem()).expect("crt");
    std::fs::write(dir.join("conf/site.key"), c.signing_key.serialize_pem()).expect("key");
    std::fs::write(dir.join("html/index.html"), PAGE).expect("page");
    let sha256 = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .expect("a TLS 1.3 suite")
        .common
        .hash_provider;
    let pin = base64(
        sha256
            .hash(&rcgen::PublicKeyData::subject_public_key_info(
                &c.signing_key,
            ))
            .as_ref(),
    );
    let d = dir.display();
    let h2 = if http2 { " http2" } else { "" };
    let conf = format!(
        r#"pid {d}/run.pid;
error_log {d}/error.log info;
events {{}}
http {{
    log_format proto '$server_protocol "$request" $status';
    access_log {d}/access.log proto;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port} ssl{h2};
        server_name localhost;
        ssl_certificate site.crt;
        ssl_certificate_key site.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root {d}/html;
        location /ws/ {{
            proxy_pass http://{ws};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}
}}
"#
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf).expect("conf");
    pin
}

/// Headless Chromium, killed on drop.
struct Browser(std::process::Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Loads `https://localhost:PORT/` in headless Chromium and returns the text the page's
/// script wrote into `#out`, read through the DevTools protocol once it is no longer
/// `pending` (20 s deadline). `--dump-dom` cannot wait for a WebSocket: virtual time
/// runs on while only a socket is open.
async fn page_text(chromium: &Path, port: u16, pin: &str, profile: &Path) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--ignore-certificate-errors-spki-list={pin}"))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let _browser = Browser(child);
    // Chromium writes its DevTools port and path into the profile once it listens.
    let file = profile.join("DevToolsActivePort");
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    let endpoint = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let mut lines = text.lines();
        if let (Some(p), Some(path)) = (lines.next(), lines.next()) {
            break format!("ws://127.0.0.1:{p}{path}");
        }
        assert!(
            tokio::time::Instant::now() < end,
            "chromium did not open DevTools"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (mut devtools, _) = tokio_tungstenite::connect_async(endpoint)
        .await
        .expect("DevTools connection");
    let mut next_id = 0u64;
    let mut call = async |devtools: &mut tokio_tungstenite::WebSocketStream<_>,
                          session: Option<&str>,
                          method: &str,
                          params: serde_json::Value| {
        next_id += 1;
        let mut msg = serde_json::json!({"id": next_id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = serde_json::Value::from(s);
        }
        devtools
            .send(Message::text(msg.to_string()))
            .await
            .expect("DevTools send");
        loop {
            let m = devtools
                .next()
                .await
                .expect("DevTools open")
                .expect("DevTools message");
            let Ok(text) = m.to_text() else { continue };
            let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            if v["id"] == next_id {
                return v["result"].clone();
            }
        }
    };
    let url = format!("https://localhost:{port}/");
    let target = call(
        &mut devtools,
        None,
        "Target.createTarget",
        serde_json::json!({"url": url}),
    )
    .await;
    let target = target["targetId"].as_str().expect("targetId").to_string();
    let attached = call(
        &mut devtools,
        None,
        "Target.attachToTarget",
        serde_json::json!({"targetId": target, "flatten": true}),
    )
    .await;
    let session = attached["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let mut text = String::new();
    while tokio::time::Instant::now() < end {
        let r = call(
            &mut devtools,
            Some(&session),
            "Runtime.evaluate",
            serde_json::json!({
                "expression": "document.getElementById('out') ? document.getElementById('out').textContent : ''",
                "returnByValue": true
            }),
        )
        .await;
        text = r["result"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !text.is_empty() && text != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    text
}

/// Serves the site (h2 on or off), has Chromium load it, returns the DOM and the access log.
fn browse(chromium: &Path, http2: bool) -> (String, String) {
    let dir = TempDir::new("browser");
    let profile = TempDir::new("browser-profile");
    let port = free_port();
    let mut result = (String::new(), String::new());
    bounded(90, async {
        let ws = crate::harness::ws_http_origin(|_, _| String::new(), None).await;
        let pin = write_site(dir.path(), port, http2, ws);
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
        let p = start(&bin, dir, "conf/nginx.conf", port).await;
        let dom = page_text(chromium, port, &pin, profile.path()).await;
        // The access log is written by a background thread: wait for the WebSocket line.
        let path = p.dir.path().join("access.log");
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut log = String::new();
        while !log.contains("/ws/echo") && tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(20)).await;
            log = std::fs::read_to_string(&path).unwrap_or_default();
        }
        result = (dom, log);
    });
    result
}

fn chromium_or_skip() -> Option<PathBuf> {
    match chromium() {
        Some(c) => Some(c),
        None if std::env::var_os("CI").is_some() => {
            panic!("chromium is not installed (.ci/run installs Debian's chromium)")
        }
        None => {
            eprintln!("skipped: chromium is not installed (apt-get install chromium)");
            None
        }
    }
}

#[test]
fn browser_websocket_over_http11_and_over_h2() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    // HTTP/1.1 to the proxy: the page and the WebSocket upgrade are HTTP/1.1 requests.
    let (dom, log) = browse(&chromium, false);
    assert!(
        dom == "echo: hello from the browser",
        "HTTP/1.1: {dom}\n{log}"
    );
    assert!(log.contains("HTTP/1.1 \"GET / HTTP/1.1\" 200"), "{log}");
    assert!(
        log.contains("HTTP/1.1 \"GET /ws/echo HTTP/1.1\" 101"),
        "{log}"
    );
    // HTTP/2: the page over h2 and the WebSocket as an extended CONNECT on it.
    let (dom, log) = browse(&chromium, true);
    assert!(
        dom == "echo: hello from the browser",
        "HTTP/2: {dom}\n{log}"
    );
    assert!(log.contains("HTTP/2.0 \"GET / HTTP/2.0\" 200"), "{log}");
    assert!(
        log.contains("HTTP/2.0 \"GET /ws/echo HTTP/2.0\" 101"),
        "{log}"
    );
    assert!(!log.contains("HTTP/1.1"), "{log}");
}
