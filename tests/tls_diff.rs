//! `proxy_pass https://...` through the real binary, side by side with nginx on the same
//! configuration: nginx's defaults (no SNI, no verification, TLSv1.2), SNI only with
//! `proxy_ssl_server_name on` and never for an IP address, `proxy_ssl_name`,
//! verification (a good chain passes; an unknown CA or a wrong name gives 502 with
//! nginx's error-log line), a client certificate presented (also with an encrypted key and
//! `proxy_ssl_password_file`), `proxy_ssl_protocols`,
//! `X-Forwarded-Proto: https` reaching the backend, WebSocket through an https
//! upstream, and the keep-alive pool keyed by the TLS settings.
//!
//! The backend is a rustls server in the test: it asks for (and accepts any) client
//! certificate and answers every request with what it saw of the connection.

use crate::harness::{body, free_port, TempDir};
use crate::tls::{bounded, connect, exchange, start, write_example, AcceptAny, Proc};
use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Asks every client for a certificate and takes whatever it presents (or none); checks
/// the handshake signatures as [`AcceptAny`] does.
#[derive(Debug)]
struct AnyClient(AcceptAny);

impl ClientCertVerifier for AnyClient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The test PKI: a CA, the backend's certificate for `backend.test` signed by it, another
/// CA that signed nothing here, a client certificate, and an intermediate CA with a
/// second `backend.test` certificate under it (served with the intermediate).
struct Pki {
    ca_pem: String,
    /// A self-signed `backend.test` certificate and its key.
    self_pem: String,
    self_key: String,
    int_pem: String,
    chain_pem: String,
    chain_key: String,
    other_ca_pem: String,
    backend_pem: String,
    backend_key: String,
    client_pem: String,
    client_key: String,
    client_der: Vec<u8>,
}

fn ca(name: &str) -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().expect("key");
    let issuer = rcgen::CertifiedIssuer::self_signed(params, key).expect("CA");
    let pem = issuer.pem();
    (issuer, pem)
}

fn pki() -> Pki {
    let (issuer, ca_pem) = ca("sluice test CA");
    let (_, other_ca_pem) = ca("another test CA");
    let leaf = |names: Vec<String>, cn: &str| {
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("sign");
        (cert, key)
    };
    let (backend, backend_key) = leaf(vec!["backend.test".into()], "backend.test");
    let (client, client_key) = leaf(Vec::new(), "sluice client");
    let mut int_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    int_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    int_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sluice test intermediate");
    int_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let int_key = rcgen::KeyPair::generate().expect("key");
    let int = rcgen::CertifiedIssuer::signed_by(int_params, int_key, &issuer).expect("int");
    let mut chained =
        rcgen::CertificateParams::new(vec!["backend.test".to_string()]).expect("params");
    chained
        .distinguished_name
        .push(rcgen::DnType::CommonName, "backend.test");
    let chain_key = rcgen::KeyPair::generate().expect("key");
    let chain_leaf = chained.signed_by(&chain_key, &int).expect("sign");
    let (self_pem, self_key, _) = crate::tls::cert("backend.test");
    Pki {
        self_pem,
        self_key,
        int_pem: int.pem(),
        chain_pem: format!("{}{}", chain_leaf.pem(), int.pem()),
        chain_key: chain_key.serialize_pem(),
        ca_pem,
        other_ca_pem,
        backend_pem: backend.pem(),
        backend_key: backend_key.serialize_pem(),
        client_pem: client.pem(),
        client_key: client_key.serialize_pem(),
        client_der: client.der().to_vec(),
    }
}

/// The TLS backend: every request is answered with what the connection showed (SNI,
/// protocol version, cipher suite, client certificate) and what the request said
/// (`Host`, `X-Forwarded-Proto`); a WebSocket upgrade is accepted and echoed.
struct Backend {
    addr: SocketAddr,
    /// Connections accepted (TLS handshakes completed).
    conns: Arc<AtomicUsize>,
}

async fn backend(p: &Pki) -> Backend {
    backend_with(p, &p.backend_pem, &p.backend_key).await
}

async fn backend_with(p: &Pki, chain_pem: &str, key_pem: &str) -> Backend {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("backend certificates");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("backend key");
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .expect("versions")
        .with_client_cert_verifier(Arc::new(AnyClient(AcceptAny(provider))))
        .with_single_cert(chain, key)
        .expect("backend certificate");
    cfg.alpn_protocols = Vec::new();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = l.local_addr().expect("addr");
    let conns = Arc::new(AtomicUsize::new(0));
    let client_der = p.client_der.clone();
    let counter = conns.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            let client_der = client_der.clone();
            tokio::spawn(async move {
                let Ok(Ok(mut tls)) =
                    tokio::time::timeout(Duration::from_secs(5), acceptor.accept(s)).await
                else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let (sni, proto, suite, client) = {
                    let c = tls.get_ref().1;
                    let client = match c.peer_certificates().and_then(|c| c.first()) {
                        Some(d) if d.as_ref() == client_der.as_slice() => "test-client",
                        Some(_) => "other",
                        None => "none",
                    };
                    (
                        c.server_name().unwrap_or("-").to_string(),
                        format!("{:?}", c.protocol_version()),
                        c.negotiated_cipher_suite()
                            .map(|s| format!("{:?}", s.suite()))
                            .unwrap_or_default(),
                        client,
                    )
                };
                // Requests on this connection, one after another (bounded).
                for _ in 0..100 {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match tokio::time::timeout(Duration::from_secs(30), tls.read(&mut byte))
                            .await
                        {
                            Ok(Ok(1)) => head.push(byte[0]),
                            _ => return,
                        }
                        if head.len() > 16 * 1024 {
                            return;
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let header = |name: &str| {
                        text.lines()
                            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                            .unwrap_or("-")
                            .trim()
                            .to_string()
                    };
                    let seen = format!(
                        "sni={sni} proto={proto} suite={suite} client={client} host={} xfp={}",
                        header("host"),
                        header("x-forwarded-proto")
                    );
                    if header("upgrade") == "websocket" {
                        let key = text
                            .lines()
                            .find_map(|l| l.strip_prefix("sec-websocket-key: "))
                            .map(str::trim)
                            .unwrap_or_default();
                        // The key is case-sensitive: take it from the original bytes.
                        let raw = String::from_utf8_lossy(&head).into_owned();
                        let key = raw
                            .lines()
                            .find(|l| l.to_ascii_lowercase().starts_with("sec-websocket-key:"))
                            .and_then(|l| l.split_once(':'))
                            .map(|(_, v)| v.trim().to_string())
                            .unwrap_or_else(|| key.to_string());
                        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(
                            key.as_bytes(),
                        );
                        let resp = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
                        if tls.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                            tls,
                            tokio_tungstenite::tungstenite::protocol::Role::Server,
                            None,
                        )
                        .await;
                        if ws.send(Message::text(seen)).await.is_err() {
                            return;
                        }
                        while let Some(Ok(m)) = ws.next().await {
                            if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                                break;
                            }
                        }
                        return;
                    }
                    let body = format!("{seen} conn={n}");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if tls.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    if header("connection") == "close" {
                        let _ = tls.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    Backend { addr, conns }
}

/// Writes the certificates and `conf/nginx.conf` under `dir`: a TLS listener on `port`
/// whose locations proxy to `backend` over TLS with different `proxy_ssl_*` settings.
/// Each location has its own upstream group: nginx keeps TLS sessions per peer of a
/// group, and a session made without verification would carry its (failed) verify
/// result into a location that verifies.
/// The backends a configuration proxies to.
#[derive(Clone, Copy)]
struct Addrs {
    backend: SocketAddr,
    chained: SocketAddr,
    selfsigned: SocketAddr,
    /// Answers a ClientHello with plain HTTP.
    junk: SocketAddr,
    /// Closes after reading the ClientHello.
    closes: SocketAddr,
}

/// A server that reads what the client sends first, then writes `reply` and waits for
/// the client to close (or, with no reply, closes at once).
async fn not_tls(reply: &'static [u8]) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let t = Duration::from_secs(5);
                let _ = tokio::time::timeout(t, s.read(&mut buf)).await;
                if reply.is_empty() {
                    return;
                }
                let _ = s.write_all(reply).await;
                while let Ok(Ok(n)) = tokio::time::timeout(t, s.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// `key_pem` (PKCS#8) encrypted with `password` (PBES2: PBKDF2-SHA256, AES-256-CBC), as
/// `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it; fixed salt and IV, test-only.
fn encrypt_key(key_pem: &str, password: &str) -> String {
    let (_, doc) = pkcs8::SecretDocument::from_pem(key_pem).expect("key PEM");
    let info = pkcs8::PrivateKeyInfo::try_from(doc.as_bytes()).expect("PKCS#8 key");
    let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[7; 16], &[9; 16])
        .expect("PBES2 parameters");
    let enc = info.encrypt_with_params(params, password).expect("encrypt");
    enc.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .expect("PEM")
        .to_string()
}

fn write_conf(dir: &Path, port: u16, a: Addrs, p: &Pki) {
    let Addrs {
        backend,
        chained,
        selfsigned,
        junk,
        closes,
    } = a;
    let certs = dir.join("conf/certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    let (front_crt, front_key, _) = crate::tls::cert("front.test");
    for (name, text) in [
        ("front.crt", front_crt.as_str()),
        ("front.key", front_key.as_str()),
        ("ca.crt", p.ca_pem.as_str()),
        ("int.crt", p.int_pem.as_str()),
        ("self.crt", p.self_pem.as_str()),
        ("other-ca.crt", p.other_ca_pem.as_str()),
        ("client.crt", p.client_pem.as_str()),
        ("client.key", p.client_key.as_str()),
        (
            "client-enc.key",
            encrypt_key(&p.client_key, "client-pass").as_str(),
        ),
        ("passwords", "not-this-one\nclient-pass\n"),
    ] {
        std::fs::write(certs.join(name), text).expect("write cert");
    }
    let d = dir.display();
    let groups: String = [
        "default",
        "sni",
        "sniname",
        "verify",
        "vname",
        "vca",
        "client",
        "clientenc",
        "tls13",
        "ws",
        "ka",
        "ciph",
        "kavar",
    ]
    .iter()
    .map(|g| format!("    upstream {g}.test {{ server {backend}; keepalive 4; }}\n"))
    .chain(
        ["chain1", "chain0", "chainint"]
            .iter()
            .map(|g| format!("    upstream {g}.test {{ server {chained}; }}\n")),
    )
    .chain(
        ["self", "selftrusted"]
            .iter()
            .map(|g| format!("    upstream {g}.test {{ server {selfsigned}; }}\n")),
    )
    .chain([
        format!("    upstream junk.test {{ server {junk}; }}\n"),
        format!("    upstream closes.test {{ server {closes}; }}\n"),
    ])
    .collect();
    let conf = format!(
        r#"pid {d}/run.pid;
error_log {d}/error.log info;
events {{}}
http {{
    access_log off;
{groups}    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name front.test;
        ssl_certificate certs/front.crt;
        ssl_certificate_key certs/front.key;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Host $proxy_host;
        location /default/ {{ proxy_pass https://default.test/; }}
        location /sni/ {{ proxy_pass https://sni.test/; proxy_ssl_server_name on; }}
        location /sniname/ {{
            proxy_pass https://sniname.test/;
            proxy_ssl_server_name on;
            proxy_ssl_name backend.test;
        }}
        location /ip/ {{ proxy_pass https://{backend}/; proxy_ssl_server_name on; }}
        location /verify/ {{
            proxy_pass https://verify.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/ca.crt;
            proxy_ssl_name backend.test;
        }}
        location /vname/ {{
            proxy_pass https://vname.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/ca.crt;
        }}
        location /vca/ {{
            proxy_pass https://vca.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/other-ca.crt;
            proxy_ssl_name backend.test;
        }}
        location /client/ {{
            proxy_pass https://client.test/;
            proxy_ssl_certificate certs/client.crt;
            proxy_ssl_certificate_key certs/client.key;
        }}
        location /client-enc/ {{
            proxy_pass https://clientenc.test/;
            proxy_ssl_certificate certs/client.crt;
            proxy_ssl_certificate_key certs/client-enc.key;
            proxy_ssl_password_file certs/passwords;
        }}
        location /tls13/ {{ proxy_pass https://tls13.test/; proxy_ssl_protocols TLSv1.3; }}
        location /ciphers/ {{
            proxy_pass https://ciph.test/;
            proxy_ssl_ciphers AES128-SHA:ECDHE-ECDSA-CHACHA20-POLY1305;
        }}
        location /chain-d1/ {{
            proxy_pass https://chain1.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/ca.crt;
            proxy_ssl_name backend.test;
        }}
        location /chain-d0/ {{
            proxy_pass https://chain0.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/ca.crt;
            proxy_ssl_name backend.test;
            proxy_ssl_verify_depth 0;
        }}
        location /self/ {{
            proxy_pass https://self.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/ca.crt;
            proxy_ssl_name backend.test;
        }}
        location /self-trusted/ {{
            proxy_pass https://selftrusted.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/self.crt;
            proxy_ssl_name backend.test;
        }}
        location /junk/ {{ proxy_pass https://junk.test/; }}
        location /if/ {{
            if ($arg_go) {{
                proxy_pass https://default.test;
            }}
        }}
        location /closes/ {{ proxy_pass https://closes.test/; }}
        location /chain-int/ {{
            proxy_pass https://chainint.test/;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate certs/int.crt;
            proxy_ssl_name backend.test;
        }}
        location /ws/ {{
            proxy_pass https://ws.test;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        location /ka-plain/ {{
            proxy_pass https://ka.test/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location /ka-var/ {{
            proxy_pass https://kavar.test/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_server_name on;
            proxy_ssl_name $arg_n;
        }}
        location /ka-sni/ {{
            proxy_pass https://ka.test/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_server_name on;
        }}
    }}
}}
"#
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf).expect("conf");
}

async fn run(bin: &Path, backends: Addrs, p: &Pki, label: &str) -> Proc {
    let dir = TempDir::new(label);
    let port = free_port();
    write_conf(dir.path(), port, backends, p);
    start(bin, dir, "conf/nginx.conf", port).await
}

/// One request through the front's TLS listener: the status line and the body.
async fn get(port: u16, path: &str) -> (String, String) {
    let mut s = connect(port, Some("front.test")).await;
    let r = exchange(
        &mut s,
        &format!("GET {path} HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n"),
    )
    .await;
    let status = r.lines().next().unwrap_or_default().to_string();
    let b = body(&r);
    // The connection number differs between runs; the error page's server token too.
    let b = b.split(" conn=").next().unwrap_or_default().to_string();
    let b = if status.contains(" 502 ") {
        "(error page)".to_string()
    } else {
        b
    };
    (status, b)
}

/// The cases compared with nginx, and what the backend must see for each.
const CASES: &[(&str, &str, &str)] = &[
    (
        "/default/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=default.test xfp=https",
    ),
    (
        "/sni/",
        "HTTP/1.1 200 OK",
        "sni=sni.test proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=sni.test xfp=https",
    ),
    (
        "/sniname/",
        "HTTP/1.1 200 OK",
        "sni=backend.test proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=sniname.test xfp=https",
    ),
    (
        "/verify/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=verify.test xfp=https",
    ),
    ("/vname/", "HTTP/1.1 502 Bad Gateway", "(error page)"),
    ("/vca/", "HTTP/1.1 502 Bad Gateway", "(error page)"),
    (
        "/client/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=test-client host=client.test xfp=https",
    ),
    (
        "/client-enc/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=test-client host=clientenc.test xfp=https",
    ),
    (
        "/tls13/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_3) suite=TLS13_AES_256_GCM_SHA384 client=none host=tls13.test xfp=https",
    ),
    // proxy_ssl_ciphers: the client offers the one TLSv1.2 suite both have.
    (
        "/ciphers/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 client=none host=ciph.test xfp=https",
    ),
    // Leaf, intermediate, root: within the default proxy_ssl_verify_depth 1.
    (
        "/chain-d1/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=chain1.test xfp=https",
    ),
    ("/chain-d0/", "HTTP/1.1 502 Bad Gateway", "(error page)"),
    // Only the intermediate trusted: OpenSSL wants a self-signed anchor.
    ("/chain-int/", "HTTP/1.1 502 Bad Gateway", "(error page)"),
    // A self-signed certificate: refused unless it is itself trusted.
    ("/self/", "HTTP/1.1 502 Bad Gateway", "(error page)"),
    (
        "/self-trusted/",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=selftrusted.test xfp=https",
    ),
    // proxy_pass inside `if` only.
    (
        "/if/?go=1",
        "HTTP/1.1 200 OK",
        "sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=default.test xfp=https",
    ),
    // Not TLS: plain HTTP back, or a close.
    ("/junk/", "HTTP/1.1 502 Bad Gateway", "(error page)"),
    ("/closes/", "HTTP/1.1 502 Bad Gateway", "(error page)"),
];

/// The error-log messages of the handshakes that failed, as nginx words them: `want`
/// lines are waited for (the log is written by a background thread), for 5 s at most.
async fn handshake_errors(dir: &Path, want: usize) -> Vec<String> {
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = read_handshake_errors(dir);
        if got.len() >= want || tokio::time::Instant::now() > end {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_handshake_errors(dir: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("while SSL handshaking to upstream"))
        .map(|l| {
            // Drop the time, pid and connection number: "... [error] P#P: *N MESSAGE".
            let msg = l.split_once(": *").map_or(l, |(_, m)| m);
            let msg = msg.split_once(' ').map_or(msg, |(_, m)| m);
            msg.replace(&dir.display().to_string(), "{DIR}")
        })
        .collect()
}

#[test]
fn upstream_tls_settings_as_nginx() {
    bounded(90, async {
        let p = pki();
        let b = backend(&p).await;
        let chained = backend_with(&p, &p.chain_pem, &p.chain_key).await;
        let selfsigned = backend_with(&p, &p.self_pem, &p.self_key).await;
        let backends = Addrs {
            backend: b.addr,
            chained: chained.addr,
            selfsigned: selfsigned.addr,
            junk: not_tls(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await,
            closes: not_tls(b"").await,
        };
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
        let s = run(&bin, backends, &p, "up-tls").await;
        let mut got = Vec::new();
        for (path, status, want) in CASES {
            let (st, body) = get(s.port, path).await;
            assert_eq!((st.as_str(), body.as_str()), (*status, *want), "{path}");
            got.push((st, body));
        }
        // No SNI for an IP address, even with proxy_ssl_server_name on.
        let (st, ip) = get(s.port, "/ip/").await;
        assert_eq!(st, "HTTP/1.1 200 OK");
        assert!(ip.starts_with("sni=- "), "{ip}");
        let errors = handshake_errors(s.dir.path(), 7).await;
        let want_errors = [
            format!("upstream SSL certificate does not match \"vname.test\" while SSL handshaking to upstream, client: 127.0.0.1, server: front.test, request: \"GET /vname/ HTTP/1.1\", upstream: \"https://{}/\", host: \"front.test\"", b.addr),
            format!("upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: front.test, request: \"GET /vca/ HTTP/1.1\", upstream: \"https://{}/\", host: \"front.test\"", b.addr),
            format!("upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: front.test, request: \"GET /chain-d0/ HTTP/1.1\", upstream: \"https://{}/\", host: \"front.test\"", chained.addr),
            format!("upstream SSL certificate verify error: (2:unable to get issuer certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: front.test, request: \"GET /chain-int/ HTTP/1.1\", upstream: \"https://{}/\", host: \"front.test\"", chained.addr),
            format!("upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: front.test, request: \"GET /self/ HTTP/1.1\", upstream: \"https://{}/\", host: \"front.test\"", selfsigned.addr),
            format!("SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream, client: 127.0.0.1, server: front.test, request: \"GET /junk/ HTTP/1.1\", upstream: \"https://{}/\", host: \"front.test\"", backends.junk),
            format!("peer closed connection in SSL handshake while SSL handshaking to upstream, client: 127.0.0.1, server: front.test, request: \"GET /closes/ HTTP/1.1\", upstream: \"https://{}/\", host: \"front.test\"", backends.closes),
        ];
        assert_eq!(errors, want_errors);

        // nginx on the same configuration and backend: same statuses, same view from
        // the backend, same error-log messages.
        let Some(nginx) = crate::harness::nginx_or_skip() else {
            return;
        };
        let n = run(&nginx, backends, &p, "up-tls-nginx").await;
        for ((path, ..), mine) in CASES.iter().zip(&got) {
            let theirs = get(n.port, path).await;
            assert_eq!(mine, &theirs, "{path}: sluice vs nginx");
        }
        let (_, nginx_ip) = get(n.port, "/ip/").await;
        assert_eq!(ip, nginx_ip, "/ip/: sluice vs nginx");
        assert_eq!(
            handshake_errors(n.dir.path(), 7).await,
            want_errors,
            "nginx's log"
        );
    });
}

#[test]
fn upstream_tls_websocket_and_pool_keyed_by_tls_settings() {
    bounded(60, async {
        let p = pki();
        let b = backend(&p).await;
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
        let all = Addrs {
            backend: b.addr,
            chained: b.addr,
            selfsigned: b.addr,
            junk: b.addr,
            closes: b.addr,
        };
        let s = run(&bin, all, &p, "up-tls-ws").await;
        // wss:// to the front, TLS to the backend.
        let tls = connect(s.port, Some("front.test")).await;
        let url = format!("wss://front.test:{}/ws/chat", s.port);
        let (mut ws, resp) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("WebSocket handshake");
        assert_eq!(resp.status().as_u16(), 101);
        let first = ws.next().await.expect("first").expect("message");
        assert_eq!(
            first,
            Message::text("sni=- proto=Some(TLSv1_2) suite=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 client=none host=ws.test xfp=https")
        );
        for i in 0..3 {
            let m = Message::text(format!("hello {i}"));
            ws.send(m.clone()).await.expect("send");
            assert_eq!(ws.next().await.expect("echo").expect("message"), m);
        }
        let big = Message::binary(vec![7u8; 100_000]);
        ws.send(big.clone()).await.expect("send");
        assert_eq!(ws.next().await.expect("echo").expect("message"), big);
        let _ = ws.close(None).await;

        // Keep-alive: two requests of one location share a connection; the other
        // location of the same group (same peer, other proxy_ssl_server_name) does not
        // get that connection, made without SNI.
        let before = b.conns.load(Ordering::SeqCst);
        let mut conns = Vec::new();
        let mut snis = Vec::new();
        for path in [
            "/ka-plain/",
            "/ka-plain/",
            "/ka-sni/",
            "/ka-sni/",
            "/ka-plain/",
        ] {
            let mut c = connect(s.port, Some("front.test")).await;
            let r = exchange(
                &mut c,
                &format!("GET {path} HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n"),
            )
            .await;
            let b = body(&r).to_string();
            snis.push(b.split(' ').next().unwrap_or_default().to_string());
            conns.push(b.rsplit("conn=").next().unwrap_or_default().to_string());
        }
        assert_eq!(
            snis,
            ["sni=-", "sni=-", "sni=ka.test", "sni=ka.test", "sni=-"],
            "{conns:?}"
        );
        assert_eq!(conns[0], conns[1], "reused: {conns:?}");
        assert_eq!(conns[2], conns[3], "reused: {conns:?}");
        assert_eq!(conns[4], conns[0], "reused: {conns:?}");
        assert_ne!(
            conns[0], conns[2],
            "not shared across TLS settings: {conns:?}"
        );
        assert_eq!(b.conns.load(Ordering::SeqCst) - before, 2, "{conns:?}");

        // A proxy_ssl_name with variables: the name is part of the key.
        let mut seen = Vec::new();
        for n in ["a.test", "a.test", "b.test", "a.test"] {
            let mut c = connect(s.port, Some("front.test")).await;
            let r = exchange(
                &mut c,
                &format!(
                    "GET /ka-var/?n={n} HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n"
                ),
            )
            .await;
            let b = body(&r).to_string();
            let sni = b.split(' ').next().unwrap_or_default().to_string();
            let conn = b.rsplit("conn=").next().unwrap_or_default().to_string();
            seen.push((sni, conn));
        }
        assert_eq!(seen[0].0, "sni=a.test", "{seen:?}");
        assert_eq!(seen[2].0, "sni=b.test", "{seen:?}");
        assert_eq!(seen[0], seen[1], "reused for the same name: {seen:?}");
        assert_eq!(seen[0], seen[3], "reused for the same name: {seen:?}");
        assert_ne!(
            seen[0].1, seen[2].1,
            "not reused for another name: {seen:?}"
        );
    });
}

/// A TLS client offering `versions` and ALPN `http/1.1` only (the comparison is of
/// HTTP/1.1; nginx would pick h2 where it is offered). Its session cache is kept.
fn client(versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(crate::tls::AcceptAny(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

async fn tls_connect(
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
    sni: Option<&str>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut cfg = (**cfg).clone();
    cfg.enable_sni = sni.is_some();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from(sni.unwrap_or("no-sni.invalid").to_string())
        .expect("name");
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

/// `$ssl_protocol $ssl_cipher [$ssl_server_name] $ssl_session_reused $https` on three
/// listeners: the default suites with TLSv1.2 and TLSv1.3; `ssl_ciphers` with
/// `ssl_prefer_server_ciphers on` (the server's order wins); `ssl_ciphers` alone (the
/// client's order wins).
fn write_vars_conf(dir: &Path, ports: [u16; 3]) {
    let certs = dir.join("conf/certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    let (crt, key, _) = crate::tls::cert("vars.test");
    std::fs::write(certs.join("front.crt"), crt).expect("crt");
    std::fs::write(certs.join("front.key"), key).expect("key");
    let d = dir.display();
    let [p1, p2, p3] = ports;
    let ret = r#"location / { return 200 "$ssl_protocol $ssl_cipher [$ssl_server_name] $ssl_session_reused $https"; }"#;
    let conf = format!(
        r#"pid {d}/run.pid;
error_log {d}/error.log info;
events {{}}
http {{
    access_log off;
    ssl_certificate certs/front.crt;
    ssl_certificate_key certs/front.key;
    server {{
        listen 127.0.0.1:{p1} ssl;
        server_name vars.test;
        ssl_protocols TLSv1.2 TLSv1.3;
        {ret}
    }}
    server {{
        listen 127.0.0.1:{p2} ssl;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256;
        ssl_prefer_server_ciphers on;
        {ret}
    }}
    server {{
        listen 127.0.0.1:{p3} ssl;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256;
        {ret}
    }}
}}
"#
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf).expect("conf");
}

/// The answers of one server: (case, body).
async fn vars_answers(ports: [u16; 3]) -> Vec<(String, String)> {
    let v13 = client(&[&rustls::version::TLS13]);
    let v12 = client(&[&rustls::version::TLS12]);
    let mut out = Vec::new();
    for (label, cfg, port, sni) in [
        ("1.3 with SNI", &v13, ports[0], Some("vars.test")),
        ("1.3 again: resumed", &v13, ports[0], Some("vars.test")),
        ("1.2 without SNI", &v12, ports[0], None),
        ("server's order", &v12, ports[1], Some("vars.test")),
        ("client's order", &v12, ports[2], Some("vars.test")),
    ] {
        let mut s = tls_connect(cfg, port, sni).await;
        let r = exchange(
            &mut s,
            "GET / HTTP/1.1\r\nHost: vars.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        out.push((label.to_string(), body(&r).to_string()));
    }
    out
}

#[test]
fn tls_listener_variables_and_ciphers_as_nginx() {
    bounded(60, async {
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
        let dir = TempDir::new("tls-vars");
        let ports = [free_port(), free_port(), free_port()];
        write_vars_conf(dir.path(), ports);
        let s = start(&bin, dir, "conf/nginx.conf", ports[2]).await;
        let got = vars_answers(ports).await;
        let want = [
            (
                "1.3 with SNI",
                "TLSv1.3 TLS_AES_256_GCM_SHA384 [vars.test] . on",
            ),
            (
                "1.3 again: resumed",
                "TLSv1.3 TLS_AES_256_GCM_SHA384 [vars.test] r on",
            ),
            (
                "1.2 without SNI",
                "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384 [] . on",
            ),
            (
                "server's order",
                "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305 [vars.test] . on",
            ),
            (
                "client's order",
                "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 [vars.test] . on",
            ),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(got, want, "sluice");
        drop(s);
        let Some(nginx) = crate::harness::nginx_or_skip() else {
            return;
        };
        let dir = TempDir::new("tls-vars-nginx");
        let ports = [free_port(), free_port(), free_port()];
        write_vars_conf(dir.path(), ports);
        let _n = start(&nginx, dir, "conf/nginx.conf", ports[2]).await;
        assert_eq!(vars_answers(ports).await, want, "nginx");
    });
}

/// Date and server token out of a response, so two servers' answers compare.
fn normalise(r: &str) -> String {
    r.split("\r\n")
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: -".to_string()
            } else {
                l.replace("nginx/1.22.1", "SERVER")
                    .replace(concat!("sluice/", env!("CARGO_PKG_VERSION")), "SERVER")
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// What a client sees of the example, and what the origin saw of each request.
async fn example_answers(port: u16) -> Vec<String> {
    let cfg = client(&[&rustls::version::TLS12, &rustls::version::TLS13]);
    let mut out = Vec::new();
    for req in [
        "GET /ws/plain?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "POST /ws/form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "GET /ws/keep HTTP/1.0\r\nHost: localhost\r\n\r\n",
        "GET /other HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        let mut s = tls_connect(&cfg, port, Some("localhost")).await;
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let r = normalise(&exchange(&mut s, req).await);
        // The origin echoes what its first read saw: the head, and the request body only
        // when it came in the same segment. Compare the heads.
        let r = match r.split_once("\r\n\r\n") {
            Some((head, echoed)) => {
                let echoed = echoed.split("\r\n\r\n").next().unwrap_or_default();
                let head: Vec<&str> = head
                    .split("\r\n")
                    .filter(|l| !l.starts_with("Content-Length: ") || !echoed.contains(" http/1."))
                    .collect();
                format!("{}\r\n\r\n{echoed}\r\n\r\n", head.join("\r\n"))
            }
            None => r,
        };
        out.push(r);
    }
    // The WebSocket recipe: the 101 the client gets, the upgrade request the origin got.
    let tls = tls_connect(&cfg, port, Some("localhost")).await;
    let url = format!("wss://localhost:{port}/ws/chat");
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("WebSocket handshake");
    let mut head = format!("{:?}", resp.status());
    let mut names: Vec<String> = resp
        .headers()
        .iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?")))
        // The accept value follows the client's random key.
        .filter(|h| {
            !h.starts_with("date:")
                && !h.starts_with("server:")
                && !h.starts_with("sec-websocket-accept:")
        })
        .collect();
    names.sort();
    head.push_str(&names.join("\n"));
    out.push(head);
    let first = ws.next().await.expect("first").expect("message");
    // The key is random per connection.
    let first = first
        .to_text()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("sec-websocket-key"))
        .collect::<Vec<_>>()
        .join("\n");
    out.push(first);
    ws.send(Message::text("ping")).await.expect("send");
    let back = ws.next().await.expect("echo").expect("message");
    out.push(format!("{back:?}"));
    let _ = ws.close(None).await;
    out
}

#[test]
fn tls_conf_example_as_nginx() {
    bounded(60, async {
        // The origin answers a request with the head it received (lowercased), and greets
        // a WebSocket with it.
        let origin =
            crate::harness::ws_http_origin(|head, _| head.to_string(), Some(|h| h.to_string()))
                .await;
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
        let dir = TempDir::new("tls-example-diff");
        let port = free_port();
        write_example(dir.path(), port, origin);
        let s = start(&bin, dir, "websocket-tls.conf", port).await;
        let got = example_answers(port).await;
        assert!(got[0].starts_with("HTTP/1.1 200 OK\r\n"), "{}", got[0]);
        assert!(
            got[0].contains("\r\nx-forwarded-proto: https\r\n"),
            "{}",
            got[0]
        );
        assert!(
            got[3].starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{}",
            got[3]
        );
        assert!(got[4].starts_with("101"), "{}", got[4]);
        drop(s);
        let Some(nginx) = crate::harness::nginx_or_skip() else {
            return;
        };
        let dir = TempDir::new("tls-example-diff-nginx");
        let port2 = free_port();
        write_example(dir.path(), port2, origin);
        let _n = start(&nginx, dir, "websocket-tls.conf", port2).await;
        let want = example_answers(port2).await;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "exchange {i}: sluice vs nginx");
        }
    });
}

#[test]
fn tls_dash_t_warns_of_unverified_https_upstreams_only_when_unsaid() {
    let dir = TempDir::new("tls-t-warn");
    let p = pki();
    std::fs::write(dir.path().join("ca.crt"), &p.ca_pem).expect("ca");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        "pid nginx.pid;\nevents {}\nhttp {\n    access_log off;\n    server {\n        listen 127.0.0.1:18099;\n        location /a/ { proxy_pass https://127.0.0.1:18443; }\n        location /b/ { proxy_pass https://127.0.0.1:18443; proxy_ssl_verify off; }\n        location /c/ { proxy_pass https://127.0.0.1:18443; proxy_ssl_verify on; proxy_ssl_trusted_certificate ca.crt; }\n        location /d/ { proxy_pass http://127.0.0.1:18080; }\n    }\n}\n",
    )
    .expect("conf");
    let run = crate::harness::sluice_t(dir.path(), &conf);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let want = format!(
        "sluice: [warn] \"proxy_pass\" to an https upstream does not verify the upstream's certificate (no \"proxy_ssl_verify on\"; nginx's default is off) in {}:7 (sluice: upstream-tls-unverified)\n",
        conf.display()
    );
    let warns: String = run
        .stderr
        .lines()
        .filter(|l| l.contains("[warn]"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(warns, want);
    // nginx says nothing about it (the comparison leaves sluice's own lines out).
    if let Some(nginx) = crate::harness::nginx() {
        let n = crate::harness::nginx_t(&nginx, dir.path(), &conf, &dir.path().join("err.log"));
        assert_eq!(
            crate::harness::normalise(&n, dir.path()),
            crate::harness::normalise(&run, dir.path())
        );
        assert!(!n.stderr.contains("[warn]"), "{}", n.stderr);
    }
}
