//! TLS to `https://` upstreams (`ngx_http_proxy_set_ssl()`, `ngx_http_upstream_ssl_init_connection()`),
//! with rustls.
//!
//! - One rustls `ClientConfig` per distinct set of `proxy_ssl_*` values
//!   ([`UpstreamTls::key`]), built with the table: trusted certificates and client
//!   certificates are read at load, a bad file fails the load with nginx's words.
//! - nginx's defaults are kept: no SNI (`proxy_ssl_server_name off`), no verification
//!   (`proxy_ssl_verify off`), `proxy_ssl_protocols TLSv1 TLSv1.1 TLSv1.2` (so TLSv1.2
//!   with rustls, which has nothing older), sessions reused.
//! - The name (`proxy_ssl_name`, else `$proxy_host` without its port) is sent as SNI only
//!   with `proxy_ssl_server_name on` and only when it is not an IP address, as nginx
//!   does; it is the name verified with `proxy_ssl_verify on`.
//! - Errors are logged in nginx's words (`upstream SSL certificate verify error: (N:...)`,
//!   `upstream SSL certificate does not match "NAME"`, `SSL_do_handshake() failed`), all
//!   `while SSL handshaking to upstream`, and answered 502.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use sluice_compiler::table::{Handler, RoutingTable, UpstreamTls};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The client configurations of a table, by [`UpstreamTls::key`].
pub type Clients = HashMap<u64, Arc<ClientConfig>>;

/// Builds a client configuration for every distinct `proxy_ssl_*` set of a location
/// whose `proxy_pass` may make TLS connections.
pub fn build(table: &RoutingTable) -> Result<Clients, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut out = Clients::new();
    // Every location configuration: the locations', the servers', and those of `if`
    // blocks, where `proxy_pass` may stand on its own.
    let mut confs: Vec<&Arc<sluice_compiler::table::LocConf>> = Vec::new();
    let mut todo: Vec<&Arc<sluice_compiler::table::LocConf>> = table
        .servers
        .iter()
        .flat_map(|s| s.locs.iter().chain(std::iter::once(&s.conf)))
        .collect();
    while let Some(c) = todo.pop() {
        confs.push(c);
        let mut ops: Vec<&sluice_compiler::table::RewriteOp> = c.rewrites.iter().collect();
        while let Some(op) = ops.pop() {
            if let sluice_compiler::table::RewriteOp::If { conf, body, .. } = op {
                if let Some(inner) = conf {
                    todo.push(inner);
                }
                ops.extend(body.iter());
            }
        }
    }
    for conf in confs {
        let tls_pass = match &conf.handler {
            Handler::Proxy(p) => match &**p {
                sluice_compiler::table::ProxyPass::Static { tls, .. } => *tls,
                sluice_compiler::table::ProxyPass::Dynamic(_) => true,
            },
            Handler::Static | Handler::StubStatus => false,
        };
        if !tls_pass || out.contains_key(&conf.proxy_ssl.key) {
            continue;
        }
        let cfg = client_config(&conf.proxy_ssl, &provider)?;
        out.insert(conf.proxy_ssl.key, Arc::new(cfg));
    }
    Ok(out)
}

fn client_config(t: &UpstreamTls, provider: &Arc<CryptoProvider>) -> Result<ClientConfig, String> {
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if t.protocols.tlsv1_2 {
        versions.push(&rustls::version::TLS12);
    }
    if t.protocols.tlsv1_3 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err(format!(
            "\"proxy_ssl_protocols {}\": none of them is supported, sluice offers TLSv1.2 and TLSv1.3 only (sluice: tls-protocols)",
            t.protocols.words()
        ));
    }
    let mut anchors = Vec::new();
    let inner = match (&t.verify, &t.trusted) {
        (true, Some(path)) => {
            let mut roots = rustls::RootCertStore::empty();
            anchors = crate::tls::load_trusted(path)?;
            for c in &anchors {
                // A certificate webpki cannot use as an anchor is skipped, as OpenSSL
                // keeps the others of a bundle.
                let _ = roots.add(c.clone());
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| {
                        format!(
                            "SSL_CTX_load_verify_locations(\"{}\") failed ({e}) (sluice: tls-trusted)",
                            path.display()
                        )
                    })?,
            )
        }
        _ => None,
    };
    // `proxy_ssl_ciphers` (an OpenSSL list, `DEFAULT` unless set) chooses among the
    // TLSv1.2 suites, in its order; the TLSv1.3 suites stay, as in OpenSSL.
    let chosen = match sluice_compiler::table::ciphers::parse(&t.ciphers) {
        sluice_compiler::table::ciphers::Ciphers::Suites { chosen, .. } => chosen,
        sluice_compiler::table::ciphers::Ciphers::NoMatch => Vec::new(),
    };
    let suites = crate::tls::ranked_suites(provider, Some(&chosen));
    if !suites
        .iter()
        .any(|cs| cs.version() == &rustls::version::TLS12)
    {
        versions.retain(|v| v.version != rustls::ProtocolVersion::TLSv1_2);
        if versions.is_empty() {
            return Err(format!(
                "\"proxy_ssl_ciphers {}\" leaves no TLSv1.2 cipher suite rustls offers, and \"proxy_ssl_protocols {}\" has no TLSv1.3 (sluice: tls-ciphers)",
                t.ciphers,
                t.protocols.words()
            ));
        }
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..(**provider).clone()
    });
    let verifier = Arc::new(Verifier {
        inner,
        anchors,
        depth: t.verify_depth,
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("cannot set up upstream TLS: {e} (sluice: tls)"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match &t.client_cert {
        Some(pair) => {
            let key = crate::tls::load_pair(pair, &provider)?;
            builder.with_client_cert_resolver(Arc::new(ClientCert(Arc::new(key))))
        }
        None => builder.with_no_client_auth(),
    };
    cfg.enable_sni = t.server_name;
    if !t.session_reuse {
        cfg.resumption = Resumption::disabled();
    }
    Ok(cfg)
}

/// `proxy_ssl_certificate`: presented whenever the upstream asks for one.
#[derive(Debug)]
struct ClientCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `proxy_ssl_verify`: off accepts any certificate (the handshake signatures are still
/// checked); on verifies the chain against `proxy_ssl_trusted_certificate`, its length
/// against `proxy_ssl_verify_depth`, and the name.
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    /// The trusted certificates, for the checks webpki does not make.
    anchors: Vec<CertificateDer<'static>>,
    depth: u32,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        // A trusted certificate presented as it is (a self-signed one, say) is accepted
        // by OpenSSL; only the name is left to check.
        if self
            .anchors
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        // The chain first (OpenSSL's verify result), then the name (`ngx_ssl_check_host()`).
        if let Err(e) =
            inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            let general = |m: &str| Err(rustls::Error::General(m.into()));
            // OpenSSL's first complaint about a self-signed leaf it does not trust.
            if der::issuer_subject(end_entity).is_some_and(|(i, s)| i == s) {
                return general("(18:self-signed certificate)");
            }
            return match e {
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                    if intermediates.is_empty() =>
                {
                    general("(21:unable to verify the first certificate)")
                }
                e => Err(e),
            };
        }
        openssl_chain_rules(end_entity, intermediates, &self.anchors, self.depth)?;
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What OpenSSL checks beyond webpki, on the chain webpki accepted (followed by names
/// from the leaf up): `SSL_CTX_set_verify_depth()` allows at most `depth` intermediate
/// certificates between the leaf and the trust anchor (nginx 1.22.1 with the default
/// depth 1 accepted leaf, intermediate, root; with depth 0 it logged `(20:unable to get
/// local issuer certificate)`); and the anchor must be self-issued (no partial chains: a
/// trusted intermediate gave `(2:unable to get issuer certificate)`).
fn openssl_chain_rules(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'static>],
    depth: u32,
) -> Result<(), rustls::Error> {
    let fail = |m: &str| Err(rustls::Error::General(m.into()));
    let Some((mut issuer, _)) = der::issuer_subject(end_entity) else {
        return Ok(());
    };
    let mut used = 0u32;
    // Bounded: a chain longer than the certificates given cannot be built.
    for _ in 0..=intermediates.len() {
        if let Some((ai, asub)) = anchors
            .iter()
            .filter_map(|a| der::issuer_subject(a))
            .find(|(_, sub)| *sub == issuer)
        {
            return if ai == asub {
                Ok(())
            } else {
                fail("(2:unable to get issuer certificate)")
            };
        }
        let Some((next, _)) = intermediates
            .iter()
            .filter_map(|c| der::issuer_subject(c))
            .find(|(_, sub)| *sub == issuer)
        else {
            return Ok(());
        };
        used += 1;
        if used > depth {
            // OpenSSL stops building the chain at the depth and finds no issuer there.
            return fail("(20:unable to get local issuer certificate)");
        }
        issuer = next;
    }
    Ok(())
}

/// Just enough DER to find a certificate's issuer and subject names.
mod der {
    /// One TLV: (tag, contents, the bytes after it).
    fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = d.split_first()?;
        let (&l0, rest) = rest.split_first()?;
        let (len, rest) = if l0 < 0x80 {
            (usize::from(l0), rest)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    /// The whole TLV at the start of `d`, and what follows.
    fn whole(d: &[u8]) -> Option<(&[u8], &[u8])> {
        let (_, _, rest) = tlv(d)?;
        Some((&d[..d.len() - rest.len()], rest))
    }

    /// `(issuer, subject)`, as encoded.
    pub fn issuer_subject(cert: &[u8]) -> Option<(&[u8], &[u8])> {
        let (_, cert, _) = tlv(cert)?;
        let (_, tbs, _) = tlv(cert)?;
        let mut d = tbs;
        if d.first() == Some(&0xa0) {
            d = tlv(d)?.2; // version
        }
        d = tlv(d)?.2; // serial
        d = tlv(d)?.2; // signature algorithm
        let (issuer, d) = whole(d)?;
        let d = tlv(d)?.2; // validity
        let (subject, _) = whole(d)?;
        Some((issuer, subject))
    }
}

/// The name for SNI and verification (`ngx_http_upstream_ssl_name()`): `proxy_ssl_name`
/// or the host of `$proxy_host`, without a port.
pub fn ssl_name(name: &[u8]) -> Result<ServerName<'static>, String> {
    let text = String::from_utf8_lossy(name);
    let host = if text.starts_with('[') {
        text.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        text.split(':').next().unwrap_or("")
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string())
        .map_err(|_| format!("invalid upstream SSL name \"{host}\" (sluice: tls-name)"))
}

/// The TLS handshake on a connected socket. The error is nginx's log message (without
/// `while SSL handshaking to upstream`).
pub async fn handshake(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let shown = match &name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => String::new(),
    };
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| error_text(&e, &shown))
}

/// nginx's words for a failed upstream handshake (OpenSSL 3's reasons).
fn error_text(e: &std::io::Error, name: &str) -> String {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        // `ngx_ssl_handshake()`: the peer went away (`ngx_connection_error()` adds the
        // errno when there is one: a reset, as nginx 1.22.1 logged it).
        return match e.raw_os_error() {
            Some(errno) => format!(
                "peer closed connection in SSL handshake ({errno}: {})",
                sluice_compiler::strerror(errno)
            ),
            None => "peer closed connection in SSL handshake".into(),
        };
    };
    let verify =
        |code: u32, text: &str| format!("upstream SSL certificate verify error: ({code}:{text})");
    match tls {
        rustls::Error::General(m) if m.starts_with('(') => {
            format!("upstream SSL certificate verify error: {m}")
        }
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("upstream SSL certificate does not match \"{name}\"")
            }
            CertificateError::UnknownIssuer => verify(20, "unable to get local issuer certificate"),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                verify(10, "certificate has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                verify(9, "certificate is not yet valid")
            }
            CertificateError::Revoked => verify(23, "certificate revoked"),
            CertificateError::BadSignature => verify(7, "certificate signature failure"),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                verify(26, "unsupported certificate purpose")
            }
            other => format!("upstream SSL certificate verify error: ({other:?}) (sluice: tls)"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)"
                .into()
        }
        rustls::Error::AlertReceived(a) => {
            let (reason, n) = match a {
                rustls::AlertDescription::HandshakeFailure => ("sslv3 alert handshake failure", 40),
                rustls::AlertDescription::ProtocolVersion => ("tlsv1 alert protocol version", 70),
                rustls::AlertDescription::UnknownCA => ("tlsv1 alert unknown ca", 48),
                rustls::AlertDescription::BadCertificate => ("sslv3 alert bad certificate", 42),
                rustls::AlertDescription::CertificateRequired => {
                    ("tlsv13 alert certificate required", 116)
                }
                rustls::AlertDescription::InternalError => ("tlsv1 alert internal error", 80),
                _ => ("alert", u8::from(*a) as u32),
            };
            format!(
                "SSL_do_handshake() failed (SSL: error:0A000{:03X}:SSL routines::{reason}:SSL alert number {n})",
                1000 + n
            )
        }
        other => format!("SSL_do_handshake() failed ({other}) (sluice: tls)"),
    }
}

/// An upstream connection: plain TCP or TLS over it.
pub enum UpIo {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl UpIo {
    /// The socket under it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            UpIo::Plain(s) => s,
            UpIo::Tls(s) => s.get_ref().0,
        }
    }
}

/// Whether an idle upstream connection is still usable: nothing to read (no EOF, no
/// byte), looked at without waiting and without consuming anything.
pub fn idle_and_open(io: &UpIo) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    matches!(io.tcp().poll_peek(&mut cx, &mut buf), Poll::Pending)
}

impl AsyncRead for UpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpIo::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpIo::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_flush(cx),
            UpIo::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpIo::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpIo::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpIo::Plain(s) => s.is_write_vectored(),
            UpIo::Tls(s) => s.is_write_vectored(),
        }
    }
}
