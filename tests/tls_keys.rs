//! Encrypted keys and several certificates per server, through the real binary and side
//! by side with nginx on the same configuration and files:
//! - `ssl_password_file` at http level: every key of the test is encrypted (legacy PEM
//!   with AES-256-CBC and DES-EDE3-CBC, PKCS#8 with PBES2), the passphrase on the second
//!   line of the file; the servers answer over HTTPS;
//! - an RSA and an ECDSA certificate in one server: a client offering only RSA
//!   signature schemes is shown the RSA certificate, one offering only ECDSA schemes the
//!   ECDSA one, and one offering both the one nginx (OpenSSL) shows, over TLSv1.2 and
//!   TLSv1.3.
//!
//! The keys and certificates are the test-only files of the conformance fixtures
//! (`tests/conf-invalid/ssl-password-file-*.files/certs`), made with `openssl`.

use crate::harness::{body, copy_tree, free_port, repo, TempDir};
use crate::tls::{bounded, exchange, start, AcceptAny, Proc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Accepts any certificate, and offers only the signature schemes `keep` allows.
#[derive(Debug)]
struct OnlySchemes {
    any: AcceptAny,
    keep: fn(SignatureScheme) -> bool,
    /// Offer the RSA schemes before the others (rustls offers ECDSA first).
    rsa_first: bool,
}

impl ServerCertVerifier for OnlySchemes {
    fn verify_server_cert(
        &self,
        e: &CertificateDer<'_>,
        i: &[CertificateDer<'_>],
        n: &ServerName<'_>,
        o: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.any.verify_server_cert(e, i, n, o, now)
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any.verify_tls12_signature(m, c, d)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any.verify_tls13_signature(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut out: Vec<SignatureScheme> = self
            .any
            .supported_verify_schemes()
            .into_iter()
            .filter(|s| (self.keep)(*s))
            .collect();
        if self.rsa_first {
            out.sort_by_key(|s| !is_rsa(*s));
        }
        out
    }
}

fn is_ecdsa(s: SignatureScheme) -> bool {
    matches!(
        s,
        SignatureScheme::ECDSA_NISTP256_SHA256
            | SignatureScheme::ECDSA_NISTP384_SHA384
            | SignatureScheme::ECDSA_NISTP521_SHA512
    )
}

fn is_rsa(s: SignatureScheme) -> bool {
    matches!(
        s,
        SignatureScheme::RSA_PSS_SHA256
            | SignatureScheme::RSA_PSS_SHA384
            | SignatureScheme::RSA_PSS_SHA512
            | SignatureScheme::RSA_PKCS1_SHA256
            | SignatureScheme::RSA_PKCS1_SHA384
            | SignatureScheme::RSA_PKCS1_SHA512
    )
}

/// A client of the test: which signature schemes it offers, whether RSA schemes come
/// first, and whether RSA TLSv1.2 suites come first.
type Client = (&'static str, fn(SignatureScheme) -> bool, bool, bool);

/// The clients of the test.
const CLIENTS: &[Client] = &[
    ("rsa only", is_rsa, false, false),
    ("ecdsa only", is_ecdsa, false, false),
    ("both", |_| true, false, false),
    ("both, rsa first", |_| true, true, true),
    // OpenSSL goes by the suites over TLSv1.2 and by the schemes over TLSv1.3.
    ("both, rsa suites first", |_| true, false, true),
];

/// Connects with SNI `sni`, the client's schemes, and one TLS version; returns the
/// certificate shown and the body of `GET /`.
async fn fetch(
    port: u16,
    sni: &str,
    (_, keep, rsa_first, rsa_suites_first): Client,
    version: &'static rustls::SupportedProtocolVersion,
) -> (Vec<u8>, String) {
    let mut provider = rustls::crypto::ring::default_provider();
    // A client that speaks only TLSv1.2 offers no TLSv1.3 suite (rustls would).
    provider
        .cipher_suites
        .retain(|cs| cs.version() == version || version == &rustls::version::TLS13);
    if rsa_suites_first {
        use rustls::CipherSuite as C;
        let ecdsa = |s: &rustls::SupportedCipherSuite| {
            matches!(
                s.suite(),
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                    | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                    | C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            )
        };
        provider.cipher_suites.sort_by_key(ecdsa);
    }
    let provider = Arc::new(provider);
    let mut cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(OnlySchemes {
            any: AcceptAny(provider),
            keep,
            rsa_first,
        }))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from(sni.to_string()).expect("name"), tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with {sni}: {e}"));
    let shown = s
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .expect("a certificate");
    let r = exchange(
        &mut s,
        &format!("GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    (shown, body(&r).to_string())
}

/// Lays out `conf/nginx.conf` and `conf/certs/` under `dir` for servers on `port` and,
/// with `ssl_prefer_server_ciphers on`, `port2`.
fn write_conf(dir: &Path, port: u16, port2: u16) {
    let certs = dir.join("conf/certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    let fixtures = repo().join("tests/conf-invalid");
    for case in [
        "ssl-password-file-legacy-second-line",
        "ssl-password-file-pkcs8-second-line",
    ] {
        copy_tree(&fixtures.join(format!("{case}.files/certs")), &certs).expect("copy certs");
    }
    let d = dir.display();
    let conf = format!(
        r#"pid {d}/run.pid;
error_log {d}/error.log info;
events {{}}
http {{
    access_log off;
    ssl_password_file certs/passwords;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name a.test;
        ssl_certificate certs/test-only-rsa.crt;
        ssl_certificate_key certs/rsa-legacy-aes.key;
        ssl_certificate certs/test-only-ec.crt;
        ssl_certificate_key certs/ec-legacy-aes.key;
        location / {{ return 200 "a $ssl_protocol"; }}
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name b.test;
        ssl_certificate certs/test-only-ec.crt;
        ssl_certificate_key certs/ec-pkcs8.key;
        ssl_certificate certs/test-only-rsa.crt;
        ssl_certificate_key certs/rsa-legacy-des3.key;
        location / {{ return 200 "b $ssl_protocol"; }}
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name c.test;
        ssl_certificate certs/test-only-rsa.crt;
        ssl_certificate_key certs/rsa-pkcs8.key;
        location / {{ return 200 "c $ssl_protocol"; }}
    }}
    server {{
        listen 127.0.0.1:{port2} ssl;
        server_name d.test;
        ssl_prefer_server_ciphers on;
        ssl_certificate certs/test-only-rsa.crt;
        ssl_certificate_key certs/rsa-legacy-aes.key;
        ssl_certificate certs/test-only-ec.crt;
        ssl_certificate_key certs/ec-legacy-aes.key;
        location / {{ return 200 "d $ssl_protocol"; }}
    }}
}}
"#
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf).expect("conf");
}

/// The server, and the port of its `ssl_prefer_server_ciphers on` listener.
async fn run(bin: &Path, name: &str) -> (Proc, u16) {
    let dir = TempDir::new(name);
    let (port, port2) = (free_port(), free_port());
    write_conf(dir.path(), port, port2);
    let p = start(bin, dir, "conf/nginx.conf", port).await;
    (p, port2)
}

fn der(dir: &Path, file: &str) -> Vec<u8> {
    let pem = std::fs::read(dir.join("conf/certs").join(file)).expect("cert");
    CertificateDer::from_pem_slice(&pem)
        .expect("PEM certificate")
        .to_vec()
}

/// Every (server, client, version) case: the certificate shown ("rsa"/"ecdsa") and the
/// body.
async fn observe((p, port2): &(Proc, u16)) -> Vec<String> {
    let rsa = der(p.dir.path(), "test-only-rsa.crt");
    let ec = der(p.dir.path(), "test-only-ec.crt");
    let mut out = Vec::new();
    for sni in ["a.test", "b.test", "c.test", "d.test"] {
        let port = if sni == "d.test" { *port2 } else { p.port };
        for client in CLIENTS {
            if sni == "c.test" && client.0 == "ecdsa only" {
                continue; // no certificate such a client accepts
            }
            for v in [&rustls::version::TLS12, &rustls::version::TLS13] {
                let (shown, body) = fetch(port, sni, *client, v).await;
                let kind = if shown == rsa {
                    "rsa"
                } else if shown == ec {
                    "ecdsa"
                } else {
                    "other"
                };
                out.push(format!("{sni} {}: {kind} certificate, {body}", client.0));
            }
        }
    }
    out
}

#[test]
fn tls_encrypted_keys_and_rsa_ecdsa_certificates_as_nginx() {
    bounded(60, async {
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
        let p = run(&bin, "tls-keys").await;
        let got = observe(&p).await;
        let want = [
            "a.test rsa only: rsa certificate, a TLSv1.2",
            "a.test rsa only: rsa certificate, a TLSv1.3",
            "a.test ecdsa only: ecdsa certificate, a TLSv1.2",
            "a.test ecdsa only: ecdsa certificate, a TLSv1.3",
            "a.test both: ecdsa certificate, a TLSv1.2",
            "a.test both: ecdsa certificate, a TLSv1.3",
            "a.test both, rsa first: rsa certificate, a TLSv1.2",
            "a.test both, rsa first: rsa certificate, a TLSv1.3",
            "a.test both, rsa suites first: rsa certificate, a TLSv1.2",
            "a.test both, rsa suites first: ecdsa certificate, a TLSv1.3",
            "b.test rsa only: rsa certificate, b TLSv1.2",
            "b.test rsa only: rsa certificate, b TLSv1.3",
            "b.test ecdsa only: ecdsa certificate, b TLSv1.2",
            "b.test ecdsa only: ecdsa certificate, b TLSv1.3",
            "b.test both: ecdsa certificate, b TLSv1.2",
            "b.test both: ecdsa certificate, b TLSv1.3",
            "b.test both, rsa first: rsa certificate, b TLSv1.2",
            "b.test both, rsa first: rsa certificate, b TLSv1.3",
            "b.test both, rsa suites first: rsa certificate, b TLSv1.2",
            "b.test both, rsa suites first: ecdsa certificate, b TLSv1.3",
            "c.test rsa only: rsa certificate, c TLSv1.2",
            "c.test rsa only: rsa certificate, c TLSv1.3",
            "c.test both: rsa certificate, c TLSv1.2",
            "c.test both: rsa certificate, c TLSv1.3",
            "c.test both, rsa first: rsa certificate, c TLSv1.2",
            "c.test both, rsa first: rsa certificate, c TLSv1.3",
            "c.test both, rsa suites first: rsa certificate, c TLSv1.2",
            "c.test both, rsa suites first: rsa certificate, c TLSv1.3",
            "d.test rsa only: rsa certificate, d TLSv1.2",
            "d.test rsa only: rsa certificate, d TLSv1.3",
            "d.test ecdsa only: ecdsa certificate, d TLSv1.2",
            "d.test ecdsa only: ecdsa certificate, d TLSv1.3",
            "d.test both: ecdsa certificate, d TLSv1.2",
            "d.test both: ecdsa certificate, d TLSv1.3",
            "d.test both, rsa first: ecdsa certificate, d TLSv1.2",
            "d.test both, rsa first: ecdsa certificate, d TLSv1.3",
            "d.test both, rsa suites first: ecdsa certificate, d TLSv1.2",
            "d.test both, rsa suites first: ecdsa certificate, d TLSv1.3",
        ];
        assert_eq!(got, want, "sluice");
        let Some(nginx) = crate::harness::nginx_or_skip() else {
            return;
        };
        let n = run(&nginx, "tls-keys-nginx").await;
        assert_eq!(observe(&n).await, want, "nginx");
    });
}
