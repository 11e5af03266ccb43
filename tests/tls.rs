//! TLS termination through the real binary (SEMANTICS §2.4 rule 5, §10): certificates
//! chosen by SNI with the server-name lookup (exact, wildcard, regex) and the default
//! server's for no or an unknown SNI, `$scheme`/`$https` over TLS, `X-Forwarded-Proto`
//! through `proxy_pass`, plain HTTP sent to the TLS port (compared with nginx when it is
//! on PATH), `wss://` through the WebSocket recipe to a plain `ws://` origin, and
//! `conf-examples/websocket-tls.conf` served.
//!
//! Certificates are made at test time (rcgen); the client is rustls that accepts any
//! certificate and reports which one it was shown.

use crate::harness::{body, copy_tree, free_port, repo, stop, TempDir};
use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

/// Accepts every certificate: the tests look at which one was presented.
#[derive(Debug)]
pub(crate) struct AcceptAny(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client config offering the ALPN protocols `alpn`.
pub(crate) fn client_config_alpn(sni: bool, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    cfg.enable_sni = sni;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// A TLS connection to `port` with `sni` (`None`: no SNI extension at all).
pub(crate) async fn connect(port: u16, sni: Option<&str>) -> TlsStream<TcpStream> {
    connect_alpn(port, sni, &[b"h2", b"http/1.1"]).await
}

/// [`connect`] offering the ALPN protocols `alpn`.
pub(crate) async fn connect_alpn(
    port: u16,
    sni: Option<&str>,
    alpn: &[&[u8]],
) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = ServerName::try_from(sni.unwrap_or("no-sni.invalid").to_string()).expect("name");
    tokio_rustls::TlsConnector::from(client_config_alpn(sni.is_some(), alpn))
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

/// The certificate the server presented on `s`.
fn presented(s: &TlsStream<TcpStream>) -> Vec<u8> {
    s.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .expect("a certificate")
}

/// Sends one request (with `Connection: close`) and reads the whole answer.
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, req: &str) -> String {
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A self-signed certificate (PEM cert, PEM key, DER cert) for `name`.
pub(crate) fn cert(name: &str) -> (String, String, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    (
        c.cert.pem(),
        c.signing_key.serialize_pem(),
        c.cert.der().to_vec(),
    )
}

/// A server process, killed on drop.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) dir: TempDir,
}

impl Drop for Proc {
    /// TERM, so nginx's master takes its workers down too; KILL if that takes long.
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(5));
    }
}

/// Starts `bin` on prefix `dir` with `conf` (relative to the prefix) and waits for `port`.
pub(crate) async fn start(bin: &Path, dir: TempDir, conf: &str, port: u16) -> Proc {
    start_with(bin, dir, conf, port, &[]).await
}

/// [`start`] with extra command-line arguments.
pub(crate) async fn start_with(
    bin: &Path,
    dir: TempDir,
    conf: &str,
    port: u16,
    extra: &[&str],
) -> Proc {
    let child = Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .args(["-c", conf, "-g", "daemon off;"])
        .args(extra)
        .arg("-e")
        .arg(dir.path().join("stderr.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut p = Proc { child, port, dir };
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > end || matches!(p.child.try_wait(), Ok(Some(_))) {
            let err = std::fs::read_to_string(p.dir.path().join("stderr.txt")).unwrap_or_default();
            panic!("{} did not start: {err}", bin.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p
}

/// The `X-Forwarded-Proto` a request carried (`-` without one).
fn proto(head: &str) -> String {
    let p = head
        .lines()
        .find_map(|l| l.strip_prefix("x-forwarded-proto: "))
        .unwrap_or("-");
    format!("proto {}", p.trim())
}

/// A plain origin: a WebSocket upgrade is echoed after a first message carrying the
/// `X-Forwarded-Proto` it received; a plain request is answered with that header's value.
async fn origin() -> SocketAddr {
    crate::harness::ws_http_origin(|head, _| proto(head), Some(proto)).await
}

/// The certificates of the SNI test, DER by name.
struct Certs {
    default: Vec<u8>,
    a: Vec<u8>,
    b: Vec<u8>,
    c: Vec<u8>,
}

/// Writes `conf/nginx.conf` and `conf/certs/*` under `dir`: relative certificate paths
/// resolve against the directory of the configuration file, not the prefix.
fn write_conf(dir: &Path, port: u16, origin: SocketAddr, pid: bool) -> Certs {
    let certs = dir.join("conf/certs");
    std::fs::create_dir_all(&certs).expect("mkdir certs");
    let mut der = Vec::new();
    for (file, name) in [
        ("default", "default.test"),
        ("a", "a.test"),
        ("b", "x.b.test"),
        ("c", "c7.test"),
    ] {
        let (crt, key, d) = cert(name);
        std::fs::write(certs.join(format!("{file}.crt")), crt).expect("crt");
        std::fs::write(certs.join(format!("{file}.key")), key).expect("key");
        der.push(d);
    }
    let d = dir.display();
    let pid = if pid {
        format!("pid {d}/run.pid;\n")
    } else {
        String::new()
    };
    let conf = format!(
        r#"{pid}error_log {d}/error.log info;
events {{}}
http {{
    access_log off;
    ssl_certificate certs/default.crt;
    ssl_certificate_key certs/default.key;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream plain {{ server {origin}; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name default.test;
        location /scheme {{ return 200 "$scheme $https default"; }}
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name a.test;
        ssl_certificate certs/a.crt;
        ssl_certificate_key certs/a.key;
        location /scheme {{ return 200 "$scheme $https a"; }}
        location = /rel {{ return 301 /target; }}
        location /proxy/ {{
            proxy_pass http://plain;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        location /ws/ {{
            proxy_pass http://plain;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
        }}
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name *.b.test;
        ssl_certificate certs/b.crt;
        ssl_certificate_key certs/b.key;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name ~^c\d+\.test$;
        ssl_certificate certs/c.crt;
        ssl_certificate_key certs/c.key;
    }}
}}
"#
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf).expect("conf");
    let mut it = der.into_iter();
    let mut next = || it.next().unwrap_or_default();
    Certs {
        default: next(),
        a: next(),
        b: next(),
        c: next(),
    }
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `f` with a deadline, so no test can hang.
pub(crate) fn bounded<F: std::future::Future<Output = ()>>(secs: u64, f: F) {
    rt().block_on(async {
        tokio::time::timeout(Duration::from_secs(secs), f)
            .await
            .expect("test timed out");
    });
}

async fn sluice_tls(origin: SocketAddr) -> (Proc, Certs) {
    let dir = TempDir::new("tls");
    let port = free_port();
    let certs = write_conf(dir.path(), port, origin, true);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
    (start(&bin, dir, "conf/nginx.conf", port).await, certs)
}

#[test]
fn tls_sni_selects_each_servers_certificate() {
    bounded(30, async {
        let o = origin().await;
        let (p, certs) = sluice_tls(o).await;
        for (sni, want, label) in [
            (Some("a.test"), &certs.a, "exact"),
            (Some("x.b.test"), &certs.b, "wildcard"),
            (Some("c7.test"), &certs.c, "regex"),
            (Some("default.test"), &certs.default, "default by name"),
            (Some("unknown.test"), &certs.default, "unknown SNI"),
            (None, &certs.default, "no SNI"),
        ] {
            let mut s = connect(p.port, sni).await;
            assert_eq!(&presented(&s), want, "{label}: wrong certificate");
            // ALPN: http/1.1 only, even when the client offers h2 first.
            assert_eq!(
                s.get_ref().1.alpn_protocol(),
                Some(&b"http/1.1"[..]),
                "{label}"
            );
            // nginx 1.22's default ssl_protocols has no TLSv1.3.
            assert_eq!(
                s.get_ref().1.protocol_version(),
                Some(rustls::ProtocolVersion::TLSv1_2),
                "{label}"
            );
            let r = exchange(
                &mut s,
                "GET /scheme HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
            )
            .await;
            // The Host header selects the server again, whatever the SNI said.
            assert_eq!(body(&r), "https on a", "{label}: {r}");
        }
        // nginx, on a copy of the same configuration and certificates, chooses alike.
        let Some(nginx) = crate::harness::nginx() else {
            return;
        };
        let dir = TempDir::new("tls-sni-nginx");
        copy_tree(p.dir.path(), dir.path()).expect("copy prefix");
        let port = free_port();
        let conf = dir.path().join("conf/nginx.conf");
        let text = std::fs::read_to_string(&conf)
            .expect("conf")
            .replace(
                &format!("127.0.0.1:{}", p.port),
                &format!("127.0.0.1:{port}"),
            )
            .replace(
                &p.dir.path().display().to_string(),
                &dir.path().display().to_string(),
            );
        std::fs::write(&conf, text).expect("conf");
        let n = start(&nginx, dir, "conf/nginx.conf", port).await;
        for (sni, want, label) in [
            (Some("a.test"), &certs.a, "exact"),
            (Some("x.b.test"), &certs.b, "wildcard"),
            (Some("c7.test"), &certs.c, "regex"),
            (Some("unknown.test"), &certs.default, "unknown SNI"),
            (None, &certs.default, "no SNI"),
        ] {
            let s = connect(n.port, sni).await;
            assert_eq!(&presented(&s), want, "nginx, {label}: wrong certificate");
            assert_eq!(
                s.get_ref().1.protocol_version(),
                Some(rustls::ProtocolVersion::TLSv1_2),
                "nginx, {label}"
            );
        }
    });
}

#[test]
fn tls_scheme_redirect_and_forwarded_proto() {
    bounded(30, async {
        let o = origin().await;
        let (p, _) = sluice_tls(o).await;
        let mut s = connect(p.port, Some("default.test")).await;
        let r = exchange(
            &mut s,
            "GET /scheme HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert_eq!(body(&r), "https on default");
        // An absolute redirect says https:// (the port is not 443, so it stays).
        let mut s = connect(p.port, Some("a.test")).await;
        let r = exchange(
            &mut s,
            "GET /rel HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        let want = format!("\r\nLocation: https://a.test:{}/target\r\n", p.port);
        assert!(r.contains(&want), "{r}");
        // $scheme reaches a plain origin through proxy_pass.
        let mut s = connect(p.port, Some("a.test")).await;
        let r = exchange(
            &mut s,
            "GET /proxy/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(body(&r), "proto https", "{r}");
        // Keep-alive over TLS: two requests on one connection.
        let mut s = connect(p.port, Some("a.test")).await;
        let r = exchange(
            &mut s,
            "GET /scheme HTTP/1.1\r\nHost: a.test\r\n\r\nGET /scheme HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(r.matches("HTTP/1.1 200 OK").count(), 2, "{r}");
        assert!(r.ends_with("https on default"), "{r}");
    });
}

#[test]
fn tls_wss_through_the_recipe_to_a_plain_origin() {
    bounded(30, async {
        let o = origin().await;
        let (p, _) = sluice_tls(o).await;
        let tls = connect(p.port, Some("a.test")).await;
        let url = format!("wss://a.test:{}/ws/chat", p.port);
        let (mut ws, resp) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("WebSocket handshake over TLS");
        assert_eq!(resp.status().as_u16(), 101);
        let first = ws.next().await.expect("first message").expect("message");
        assert_eq!(first, Message::text("proto https"));
        for i in 0..3 {
            let m = Message::text(format!("hello {i}"));
            ws.send(m.clone()).await.expect("send");
            let back = ws.next().await.expect("echo").expect("message");
            assert_eq!(back, m);
        }
        let _ = ws.close(None).await;
    });
}

/// Plain HTTP requests to the TLS port, answered as nginx answers them.
const PLAIN: &[&str] = &[
    "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    "HEAD / HTTP/1.0\r\n\r\n",
    "GET /\r\n",
    "POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello",
    "garbage\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n",
];

async fn plain_answers(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for req in PLAIN {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let r = exchange(&mut s, req).await;
        // Comparable across the two programs: no date, one server token.
        let r = r
            .split("\r\n")
            .map(|l| {
                if l.starts_with("Date: ") {
                    "Date: -"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n")
            .replace("nginx/1.22.1", "SERVER")
            .replace(sluice_token(), "SERVER");
        out.push(r);
    }
    out
}

fn sluice_token() -> &'static str {
    concat!("sluice/", env!("CARGO_PKG_VERSION"))
}

#[test]
fn tls_plain_http_to_the_tls_port_gets_nginx_400() {
    bounded(60, async {
        let o = origin().await;
        let (p, _) = sluice_tls(o).await;
        let got = plain_answers(p.port).await;
        let page = "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n<hr><center>SERVER</center>\r\n</body>\r\n</html>\r\n";
        assert_eq!(
            got[0],
            format!("HTTP/1.1 400 Bad Request\r\nServer: SERVER\r\nDate: -\r\nContent-Type: text/html\r\nContent-Length: 255\r\nConnection: close\r\n\r\n{page}")
        );
        // HTTP/0.9: the page alone.
        assert_eq!(got[2], page);
        // The TLS port still does TLS afterwards.
        let mut s = connect(p.port, Some("a.test")).await;
        let r = exchange(
            &mut s,
            "GET /scheme HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(body(&r), "https on a");
        let Some(nginx) = crate::harness::nginx() else {
            eprintln!("nginx not on PATH: compared with the recorded answer only");
            return;
        };
        let dir = TempDir::new("tls-nginx");
        let port = free_port();
        write_conf(dir.path(), port, o, true);
        let n = start(&nginx, dir, "conf/nginx.conf", port).await;
        let want = plain_answers(n.port).await;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "request {i} {:?}", PLAIN[i]);
        }
    });
}

/// `conf-examples/websocket-tls.conf` on `port` with `origin` as its backend.
pub(crate) fn write_example(dir: &Path, port: u16, origin: SocketAddr) {
    copy_tree(&repo().join("conf-examples"), dir).expect("copy conf-examples");
    let file = dir.join("websocket-tls.conf");
    let text = std::fs::read_to_string(&file).expect("read example");
    assert!(
        text.contains("127.0.0.1:18443 ssl http2"),
        "the example changed"
    );
    let text = text
        .replace("127.0.0.1:18443", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8080;", &format!("{origin};"))
        .lines()
        .map(|l| {
            if l.starts_with("pid ") {
                format!("pid {}/example.pid;", dir.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, text).expect("write example");
}

#[test]
fn tls_websocket_tls_example_serves() {
    bounded(30, async {
        let o = origin().await;
        let dir = TempDir::new("tls-example");
        let port = free_port();
        write_example(dir.path(), port, o);
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
        let p = start(&bin, dir, "websocket-tls.conf", port).await;
        // The example listens with `http2`: a client offering h2 gets it.
        let s = connect(p.port, Some("localhost")).await;
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        drop(s);
        let mut s = connect_alpn(p.port, Some("localhost"), &[b"http/1.1"]).await;
        let r = exchange(
            &mut s,
            "GET /ws/plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(body(&r), "proto https", "{r}");
        let tls = connect_alpn(p.port, Some("localhost"), &[b"http/1.1"]).await;
        let url = format!("wss://localhost:{}/ws/chat", p.port);
        let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("WebSocket handshake over TLS");
        let first = ws.next().await.expect("first").expect("message");
        assert_eq!(first, Message::text("proto https"));
        ws.send(Message::text("ping")).await.expect("send");
        let back = ws.next().await.expect("echo").expect("message");
        assert_eq!(back, Message::text("ping"));
        let _ = ws.close(None).await;
    });
}

#[test]
fn tls_bad_certificate_fails_start_in_nginx_words() {
    let dir = TempDir::new("tls-bad");
    let port = free_port();
    let o: SocketAddr = ([127, 0, 0, 1], 9).into();
    write_conf(dir.path(), port, o, true);
    // A key that does not belong to the certificate.
    let certs = dir.path().join("conf/certs");
    std::fs::copy(certs.join("b.key"), certs.join("a.key")).expect("copy key");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .args(["-c", "conf/nginx.conf", "-g", "daemon off;"])
        .stdin(Stdio::null())
        .output()
        .expect("run sluice");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "[emerg] SSL_CTX_use_PrivateKey(\"{}/conf/certs/a.key\") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)",
        dir.path().display()
    );
    assert!(err.contains(&want), "{err}");
    // Only protocols rustls lacks: refused at load, not weakened silently.
    write_conf(dir.path(), port, o, true);
    let conf = dir.path().join("conf/nginx.conf");
    let text = std::fs::read_to_string(&conf).expect("conf");
    std::fs::write(
        &conf,
        text.replace(
            "access_log off;",
            "access_log off;\n    ssl_protocols TLSv1 TLSv1.1;",
        ),
    )
    .expect("write conf");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .args(["-c", "conf/nginx.conf", "-g", "daemon off;"])
        .stdin(Stdio::null())
        .output()
        .expect("run sluice");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"ssl_protocols TLSv1 TLSv1.1\"") && err.contains("(sluice: tls-protocols)"),
        "{err}"
    );
}
