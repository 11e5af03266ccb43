//! TLS termination for `listen ... ssl` (SEMANTICS §2.4 rule 5, §10), with rustls.
//!
//! - One rustls `ServerConfig` per ssl listener, built with the table (at start and on
//!   reload; a certificate that cannot be loaded fails the load with nginx's words).
//! - The certificate is chosen by SNI with the listener's own server-name lookup (exact,
//!   wildcards, regex: the lookup `conn.rs` does with `Host`), falling back to the
//!   default server's when SNI is absent or names no server. The request's `Host` then
//!   selects the server again, as nginx does.
//! - Several certificates in a server (`ssl_certificate` twice: RSA and ECDSA): the one
//!   OpenSSL would choose by the ClientHello's signature schemes ([`choose`]).
//! - Encrypted keys: the passphrases of `ssl_password_file`, tried in turn
//!   (`keyfile.rs`).
//! - Protocols: the default server's `ssl_protocols` (OpenSSL settles the version before
//!   nginx's SNI callback switches servers, so nginx too negotiates with the default
//!   server's list). rustls has TLSv1.2 and TLSv1.3 only: those listed are offered, the
//!   older ones are dropped, and a list with neither is refused at load.
//! - `ssl_ciphers` (the default server's) chooses among rustls's TLSv1.2 suites (the
//!   OpenSSL list is mapped by `sluice_compiler::table::ciphers`; TLSv1.3 suites are not
//!   affected, as in OpenSSL); `ssl_prefer_server_ciphers` is rustls's
//!   `ignore_client_order`; `ssl_session_cache` is rustls's server session storage
//!   (none by default, as nginx's `none`); `ssl_session_tickets` and
//!   `ssl_session_timeout` are a ticketer and its lifetime.
//! - ALPN: `h2` then `http/1.1` where the address has `listen ... http2` (or `http2 on`
//!   in its default server), `http/1.1` alone otherwise; `h2` hands the connection to
//!   `h2.rs`.
//! - A first byte that is not a TLS handshake record: nginx reads the plain request and
//!   answers `400 The plain HTTP request was sent to HTTPS port` (code 497), then closes.

use crate::ctx::Req;
use crate::Shared;
use bytes::BytesMut;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sluice_compiler::table::route::ServerNames;
use sluice_compiler::table::{CertPair, ListenAddr, Listener, RoutingTable, SessionCache};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The TLS configurations of a table: one per ssl listener, by address (the specific
/// addresses served through a wildcard socket have their own).
pub type Configs = HashMap<ListenAddr, Arc<ServerConfig>>;

/// A server's certificates, in configuration order.
type Keys = Arc<Vec<Arc<CertifiedKey>>>;

/// Builds the TLS configurations for every ssl listener of `table`. Every server with
/// certificates has them loaded (nginx loads them whether or not a `listen ... ssl`
/// reaches the server), so a bad file fails the load either way.
pub fn build(table: &RoutingTable) -> Result<Configs, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut keys: Vec<Option<Keys>> = Vec::with_capacity(table.servers.len());
    for s in &table.servers {
        if s.tls.certs.is_empty() {
            keys.push(None);
            continue;
        }
        let mut list = Vec::with_capacity(s.tls.certs.len());
        for pair in &s.tls.certs {
            list.push(Arc::new(load_pair(pair, &provider)?));
        }
        keys.push(Some(Arc::new(list)));
    }
    let keys = Arc::new(keys);
    let mut out = Configs::new();
    for l in &table.listeners {
        for l in std::iter::once(l).chain(l.specific.iter()) {
            if l.ssl {
                out.insert(l.addr.clone(), listener_config(table, l, &keys, &provider)?);
            }
        }
    }
    Ok(out)
}

/// The cipher suites of `provider` in preference order: the TLSv1.3 ones, then the
/// TLSv1.2 ones `chosen` names (OpenSSL names), in its order; all of them when `chosen` is
/// `None`.
pub(crate) fn ranked_suites(
    provider: &rustls::crypto::CryptoProvider,
    chosen: Option<&[&'static str]>,
) -> Vec<rustls::SupportedCipherSuite> {
    let rank = |cs: &rustls::SupportedCipherSuite| match chosen {
        Some(chosen) if cs.version() == &rustls::version::TLS12 => {
            chosen.iter().position(|n| *n == openssl_name(cs.suite()))
        }
        _ => Some(0),
    };
    let mut suites: Vec<rustls::SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .filter(|cs| rank(cs).is_some())
        .copied()
        .collect();
    suites.sort_by_key(|cs| (cs.version() == &rustls::version::TLS12, rank(cs)));
    suites
}

fn listener_config(
    table: &RoutingTable,
    l: &Listener,
    keys: &Arc<Vec<Option<Keys>>>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<ServerConfig>, String> {
    let default = table
        .servers
        .get(l.default_server)
        .ok_or_else(|| "no default server (sluice: internal)".to_string())?;
    let t = &default.tls;
    let p = t.protocols;
    // `ssl_ciphers` chooses among the TLSv1.2 suites (the checker mapped the OpenSSL
    // list onto rustls's); the TLSv1.3 suites stay, as in OpenSSL.
    // The list's order is the server's preference (`ssl_prefer_server_ciphers on`).
    let suites = ranked_suites(provider, t.ciphers.as_deref());
    let has12 = suites
        .iter()
        .any(|cs| cs.version() == &rustls::version::TLS12);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if p.tlsv1_2 && has12 {
        versions.push(&rustls::version::TLS12);
    }
    if p.tlsv1_3 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err(format!(
            "\"ssl_protocols {}\" of the default server of {}: none of them is supported, sluice offers TLSv1.2 and TLSv1.3 only (sluice: tls-protocols)",
            p.words(),
            addr_text(&l.addr)
        ));
    }
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..(**provider).clone()
    });
    let resolver = BySni {
        names: l.names.clone(),
        default: l.default_server,
        keys: keys.clone(),
        server_order: t.prefer_server_ciphers,
        tls13: versions.contains(&&rustls::version::TLS13),
        suites12: provider
            .cipher_suites
            .iter()
            .filter(|cs| cs.version() == &rustls::version::TLS12)
            .map(|cs| cs.suite())
            .collect(),
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("cannot set up TLS on {}: {e}", addr_text(&l.addr)))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = if l.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // `ssl_prefer_server_ciphers`.
    cfg.ignore_client_order = t.prefer_server_ciphers;
    // `ssl_session_cache`: nginx's default `none` keeps no session on the server.
    cfg.session_storage = match t.session_cache {
        SessionCache::None => Arc::new(rustls::server::NoServerSessionStorage {}),
        SessionCache::Sessions(n) => rustls::server::ServerSessionMemoryCache::new(n),
    };
    // `ssl_session_tickets` (on by default) with `ssl_session_timeout` as the tickets'
    // lifetime.
    if t.session_tickets {
        if let Ok(inner) = rustls::crypto::ring::Ticketer::new() {
            let secs = u32::try_from(t.session_timeout.as_secs()).unwrap_or(u32::MAX);
            cfg.ticketer = Arc::new(TicketLifetime { inner, secs });
        }
    }
    Ok(Arc::new(cfg))
}

/// Tickets made by rustls's ticketer, with `ssl_session_timeout` as their lifetime.
#[derive(Debug)]
struct TicketLifetime {
    inner: Arc<dyn rustls::server::ProducesTickets>,
    secs: u32,
}

impl rustls::server::ProducesTickets for TicketLifetime {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.secs
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.inner.decrypt(cipher)
    }
}

fn addr_text(a: &ListenAddr) -> String {
    match a {
        ListenAddr::Tcp(sa) => sa.to_string(),
        ListenAddr::Unix(p) => format!("unix:{}", p.display()),
    }
}

/// `BIO_new_file() failed` as OpenSSL words it, for a file that cannot be opened.
fn open_failed(what: &str, path: &Path, e: &std::io::Error) -> String {
    let shown = path.display();
    let errno = e.raw_os_error().unwrap_or(0);
    let reason = sluice_compiler::strerror(errno);
    format!(
        "cannot load {what} \"{shown}\": BIO_new_file() failed (SSL: error:8000000{errno:X}:system library::{reason}:calling fopen({shown}, r) error:10000080:BIO routines::no such file)"
    )
}

/// What `-t` loads (`sluice_compiler::Options::tls_loader`): a certificate with its key,
/// or a file of trusted certificates, with nginx's message when it fails.
pub fn load_file(f: sluice_compiler::TlsFile<'_>, logged: &mut Vec<String>) -> Result<(), String> {
    match f {
        sluice_compiler::TlsFile::Pair {
            cert,
            key,
            passwords,
        } => {
            let provider = rustls::crypto::ring::default_provider();
            let pair = CertPair {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                passwords: passwords.map(Path::to_path_buf),
            };
            load_pair_logged(&pair, &provider, logged).map(|_| ())
        }
        sluice_compiler::TlsFile::Trusted(path) => load_trusted(path).map(|_| ()),
    }
}

/// `SSL_CTX_load_verify_locations()`: the certificates of a CA file.
pub(crate) fn load_trusted(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        let reason = sluice_compiler::strerror(errno);
        format!(
            "SSL_CTX_load_verify_locations(\"{shown}\") failed (SSL: error:8000000{errno:X}:system library::{reason}:calling fopen({shown}, r) error:10000080:BIO routines::no such file error:05880002:x509 certificate routines::system lib)"
        )
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "SSL_CTX_load_verify_locations(\"{shown}\") failed (SSL: error:05800088:x509 certificate routines::no certificate or crl found)"
        ));
    }
    Ok(certs)
}

/// Loads one certificate chain and its key (`ngx_ssl_certificate()`).
pub(crate) fn load_pair(
    pair: &CertPair,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, String> {
    // What nginx logs at `[error]` while loading was printed by the check before.
    load_pair_logged(pair, provider, &mut Vec::new())
}

/// [`load_pair`], with the `[error]` lines nginx logs on the way (a passphrase
/// truncated).
fn load_pair_logged(
    pair: &CertPair,
    provider: &rustls::crypto::CryptoProvider,
    logged: &mut Vec<String>,
) -> Result<CertifiedKey, String> {
    let cert_text =
        std::fs::read(&pair.cert).map_err(|e| open_failed("certificate", &pair.cert, &e))?;
    let no_cert = || {
        format!(
            "cannot load certificate \"{}\": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)",
            pair.cert.display()
        )
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<_, _>>()
        .map_err(|_| no_cert())?;
    if chain.is_empty() {
        return Err(no_cert());
    }
    let key_text =
        std::fs::read(&pair.key).map_err(|e| open_failed("certificate key", &pair.key, &e))?;
    let passwords = match &pair.passwords {
        Some(p) => Some(sluice_compiler::password_file::read(p)?),
        None => None,
    };
    let key = match crate::keyfile::decrypt(&key_text, passwords.as_deref(), logged) {
        Some(Ok(key)) => key,
        Some(Err(e)) => {
            if matches!(e, crate::keyfile::KeyError::NoPassword { .. }) {
                // OpenSSL's prompt, twice, with no terminal to answer it (nginx prints
                // the same on its stderr; sluice never reads a passphrase from a
                // terminal).
                use std::io::Write as _;
                let _ = std::io::stderr()
                    .write_all(b"Enter PEM pass phrase:\nEnter PEM pass phrase:\n");
            }
            return Err(format!(
                "cannot load certificate key \"{}\": PEM_read_bio_PrivateKey() failed {}",
                pair.key.display(),
                e.openssl_text()
            ));
        }
        None => PrivateKeyDer::from_pem_slice(&key_text).map_err(|_| {
            format!(
                "cannot load certificate key \"{}\": PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)",
                pair.key.display()
            )
        })?,
    };
    let signing = provider.key_provider.load_private_key(key).map_err(|e| {
        format!(
            "cannot load certificate key \"{}\": {e} (sluice: tls-key)",
            pair.key.display()
        )
    })?;
    let ck = CertifiedKey::new(chain, signing);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(_)) => Err(format!(
            "SSL_CTX_use_PrivateKey(\"{}\") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)",
            pair.key.display()
        )),
        // A certificate webpki does not parse (an X.509 v1 one, say) is loaded as
        // OpenSSL loads it; only the key comparison is skipped.
        Err(_) => Ok(ck),
    }
}

/// The certificate resolver of one listener: SNI → server (the listener's name lookup)
/// → that server's certificates; the default server's when SNI names none.
#[derive(Debug)]
struct BySni {
    names: ServerNames,
    default: usize,
    /// Per server (table order): its certificates, `None` when it has none.
    keys: Arc<Vec<Option<Keys>>>,
    /// `ssl_prefer_server_ciphers` of the default server: which order picks among
    /// several certificates.
    server_order: bool,
    /// TLSv1.3 is offered.
    tls13: bool,
    /// The TLSv1.2 suites offered, in the server's order.
    suites12: Vec<rustls::CipherSuite>,
}

/// The server an SNI name selects (`ngx_http_ssl_servername()`: the name lowercased,
/// one trailing dot dropped, looked up as a `Host` is).
fn sni_lookup(names: &ServerNames, name: &str) -> Option<usize> {
    let mut host = name.as_bytes().to_ascii_lowercase();
    if host.last() == Some(&b'.') {
        host.pop();
    }
    if host.is_empty() {
        return None;
    }
    names.lookup(&host).map(|(i, _)| i)
}

impl BySni {
    /// The server whose certificate answers `sni`: the one it selects, when that server
    /// has certificates.
    fn server_for(&self, sni: Option<&str>) -> usize {
        let found = sni.and_then(|name| sni_lookup(&self.names, name));
        match found {
            Some(i) if self.keys.get(i).is_some_and(Option::is_some) => i,
            _ => self.default,
        }
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let i = self.server_for(hello.server_name());
        let list = self
            .keys
            .get(i)
            .and_then(Option::as_ref)
            .or_else(|| self.keys.get(self.default).and_then(Option::as_ref))?;
        // The version rustls settled is not shown to the resolver: TLSv1.2 when the
        // listener has no TLSv1.3 (nginx 1.22's default) or the client offers no
        // TLSv1.3 suite; a client offering TLSv1.3 suites gets TLSv1.3 where the
        // listener has it (one whose supported versions stop at TLSv1.2 while it
        // lists TLSv1.3 suites gets the TLSv1.3 choice).
        let offered = hello.cipher_suites();
        let tls12 = !self.tls13 || !offered.iter().any(|cs| is_tls13(*cs));
        let by_suite = if tls12 {
            choose_tls12(list, &hello, &self.suites12, self.server_order)
        } else {
            None
        };
        by_suite
            .or_else(|| choose(list, hello.signature_schemes(), self.server_order))
            .cloned()
    }
}

fn is_tls13(cs: rustls::CipherSuite) -> bool {
    use rustls::CipherSuite as C;
    matches!(
        cs,
        C::TLS13_AES_128_GCM_SHA256
            | C::TLS13_AES_256_GCM_SHA384
            | C::TLS13_CHACHA20_POLY1305_SHA256
            | C::TLS13_AES_128_CCM_SHA256
            | C::TLS13_AES_128_CCM_8_SHA256
    )
}

/// Several certificates over TLSv1.2 (`ssl3_choose_cipher()`): OpenSSL picks the cipher
/// suite first, in the client's order (or the server's, `ssl_prefer_server_ciphers
/// on`), skipping suites whose key type has no certificate the client can verify; the
/// suite's key type then names the certificate.
fn choose_tls12<'k>(
    list: &'k [Arc<CertifiedKey>],
    hello: &ClientHello<'_>,
    server_suites: &[rustls::CipherSuite],
    server_order: bool,
) -> Option<&'k Arc<CertifiedKey>> {
    use rustls::CipherSuite as C;
    if list.len() < 2 {
        return None;
    }
    let schemes = hello.signature_schemes();
    let offered = hello.cipher_suites();
    let auth = |cs: &rustls::CipherSuite| match cs {
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            Some(rustls::SignatureAlgorithm::ECDSA)
        }
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Some(rustls::SignatureAlgorithm::RSA),
        _ => None,
    };
    let key_for = |cs: &rustls::CipherSuite| {
        let alg = auth(cs)?;
        list.iter()
            .find(|k| k.key.algorithm() == alg && k.key.choose_scheme(schemes).is_some())
    };
    if server_order {
        server_suites
            .iter()
            .filter(|cs| offered.contains(cs))
            .find_map(key_for)
    } else {
        offered
            .iter()
            .filter(|cs| server_suites.contains(cs))
            .find_map(key_for)
    }
}

/// Several certificates (RSA and ECDSA, say) over TLSv1.3 (and over TLSv1.2 when no
/// suite decides): the one OpenSSL would use. It signs with the first signature scheme
/// of the client's list that one of the keys can use (`tls1_set_shared_sigalgs()`: the
/// client's order), or, with `ssl_prefer_server_ciphers on`, in OpenSSL's own order,
/// which puts ECDSA before EdDSA before RSA. A client that can verify none gets the
/// first, as from OpenSSL.
fn choose<'k>(
    list: &'k [Arc<CertifiedKey>],
    schemes: &[rustls::SignatureScheme],
    server_order: bool,
) -> Option<&'k Arc<CertifiedKey>> {
    let found = if list.len() < 2 {
        None
    } else if server_order {
        let rank = |k: &CertifiedKey| match k.key.algorithm() {
            rustls::SignatureAlgorithm::ECDSA => 0,
            rustls::SignatureAlgorithm::ED25519 => 1,
            rustls::SignatureAlgorithm::ED448 => 2,
            rustls::SignatureAlgorithm::RSA => 3,
            _ => 4,
        };
        list.iter()
            .filter(|k| k.key.choose_scheme(schemes).is_some())
            .min_by_key(|k| rank(k))
    } else {
        schemes.iter().find_map(|s| {
            list.iter()
                .find(|k| k.key.choose_scheme(std::slice::from_ref(s)).is_some())
        })
    };
    found.or_else(|| list.first())
}

/// What a request may ask of its TLS connection (`$ssl_protocol`, `$ssl_cipher`,
/// `$ssl_server_name`, `$ssl_session_reused`), in OpenSSL's spelling as nginx prints it.
#[derive(Debug)]
pub struct TlsInfo {
    /// `TLSv1.2`, `TLSv1.3`.
    pub protocol: &'static str,
    /// `TLS_AES_256_GCM_SHA384`, `ECDHE-RSA-AES128-GCM-SHA256`, ...
    pub cipher: &'static str,
    /// The SNI name, as sent.
    pub server_name: Option<Box<[u8]>>,
    /// The session was resumed.
    pub reused: bool,
}

impl TlsInfo {
    fn of(c: &rustls::ServerConnection) -> TlsInfo {
        TlsInfo {
            protocol: match c.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                _ => "",
            },
            cipher: c
                .negotiated_cipher_suite()
                .map_or("", |s| openssl_name(s.suite())),
            server_name: c.server_name().map(|n| n.as_bytes().into()),
            reused: c.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// OpenSSL's name of a cipher suite rustls offers (the names `ssl_ciphers` uses).
pub fn openssl_name(s: rustls::CipherSuite) -> &'static str {
    use rustls::CipherSuite as C;
    match s {
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => "",
    }
}

/// The listener serving a connection: the specific address's, when a wildcard socket
/// serves it (SEMANTICS §2.1).
fn effective<'t>(
    table: &'t RoutingTable,
    addr: &ListenAddr,
    local: SocketAddr,
) -> Option<&'t Listener> {
    let l = table.listeners.iter().find(|l| l.addr == *addr)?;
    let here = ListenAddr::Tcp(local);
    Some(l.specific.iter().find(|s| s.addr == here).unwrap_or(l))
}

/// Serves an accepted connection: plain HTTP when its listener has no `ssl`, otherwise
/// the TLS handshake (or nginx's answer to plain HTTP on an ssl port) first.
pub async fn serve(
    shared: Arc<Shared>,
    io: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    addr: ListenAddr,
    conn_no: u64,
) {
    let live = shared.live.load_full();
    let Some(l) = effective(&live.table, &addr, local) else {
        return;
    };
    let config = if l.ssl {
        match live.tls.get(&l.addr) {
            Some(c) => c.clone(),
            // Built with the table; an ssl listener without one cannot be served safely.
            None => return,
        }
    } else {
        let (http2, server, wait) = (
            l.http2,
            l.default_server,
            live.table
                .servers
                .get(l.default_server)
                .map_or(Duration::from_secs(60), |s| s.client_header_timeout),
        );
        drop(live);
        // `listen ... http2` without `ssl`: HTTP/2 with prior knowledge (h2c), which is
        // all nginx 1.22 speaks there; a client that starts with an HTTP/1 request line
        // is served HTTP/1 (nginx would drop it).
        if http2 {
            match h2_preface(&io, tokio::time::Instant::now() + wait).await {
                Some(true) => {
                    Box::pin(crate::h2::serve(
                        shared, io, peer, local, addr, conn_no, server, None,
                    ))
                    .await;
                    return;
                }
                Some(false) => {}
                // Closed, or silent for client_header_timeout: nginx closes too.
                None => return,
            }
        }
        crate::conn::serve(shared, io, peer, local, addr, conn_no, None).await;
        return;
    };
    // Boxed: the handshake's and the TLS stream's state are large, and the task of a
    // plain connection should not reserve room for them.
    Box::pin(serve_ssl(
        shared, io, peer, local, addr, conn_no, config, live,
    ))
    .await;
}

/// The ssl half of [`serve`].
#[allow(clippy::too_many_arguments)]
async fn serve_ssl(
    shared: Arc<Shared>,
    io: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    addr: ListenAddr,
    conn_no: u64,
    config: Arc<rustls::ServerConfig>,
    live: Arc<crate::Live>,
) {
    let Some(l) = effective(&live.table, &addr, local) else {
        return;
    };
    let handshake_timeout = live
        .table
        .servers
        .get(l.default_server)
        .map_or(Duration::from_secs(60), |s| s.client_header_timeout);
    drop(live);
    let deadline = tokio::time::Instant::now() + handshake_timeout;
    // `ngx_http_ssl_handshake()`: peek one byte; 0x16 (a handshake record) or the SSLv2
    // bit starts TLS, anything else is served as plain HTTP that ends in a 497.
    let mut first = [0u8; 1];
    // Reusable until the first byte, as nginx's `ngx_http_ssl_handshake()` makes it.
    let n = match crate::slots::reusable(tokio::time::timeout_at(deadline, io.peek(&mut first)))
        .await
    {
        Some(Ok(Ok(n))) => n,
        _ => return,
    };
    if n == 0 {
        return;
    }
    if first[0] != 0x16 && first[0] & 0x80 == 0 {
        plain_on_ssl_port(&shared, io, peer, local, &addr, conn_no, deadline).await;
        return;
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let tls = match tokio::time::timeout_at(deadline, acceptor.accept(io)).await {
        Ok(Ok(s)) => s,
        _ => return,
    };
    let info = Some(Arc::new(TlsInfo::of(tls.get_ref().1)));
    let (_, session) = tls.get_ref();
    if session.alpn_protocol() == Some(b"h2") {
        // nginx takes a connection's h2 settings from the server SNI chose.
        let server = {
            let live = shared.live.load();
            effective(&live.table, &addr, local).map_or(0, |l| {
                session
                    .server_name()
                    .and_then(|n| sni_lookup(&l.names, n))
                    .unwrap_or(l.default_server)
            })
        };
        crate::h2::serve(shared, tls, peer, local, addr, conn_no, server, info).await;
        return;
    }
    crate::conn::serve(shared, tls, peer, local, addr, conn_no, info).await;
}

/// Whether a plain connection opens with the HTTP/2 connection preface (RFC 9113 §3.4).
/// Clients send it in one piece; a partial match is looked at again every 10 ms until
/// `deadline`. `None`: the client closed or sent nothing in time.
async fn h2_preface(io: &TcpStream, deadline: tokio::time::Instant) -> Option<bool> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = [0u8; 24];
    loop {
        let n = match tokio::time::timeout_at(deadline, io.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return None,
        };
        if buf[..n] != PREFACE[..n] {
            return Some(false);
        }
        if n == PREFACE.len() {
            return Some(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Plain HTTP on an ssl port (`ngx_http_process_request()`, `NGX_HTTP_TO_HTTPS`): the
/// head is read and parsed as usual (its own errors answer as usual), the server is
/// selected by `Host`, then nginx's 497 page goes out as a 400 with `Connection: close`,
/// and the request is logged.
async fn plain_on_ssl_port(
    shared: &Shared,
    mut io: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    addr: &ListenAddr,
    conn_no: u64,
    deadline: tokio::time::Instant,
) {
    let live = shared.live.load_full();
    let table = &live.table;
    let Some(l) = effective(table, addr, local) else {
        return;
    };
    let Some(default) = table.servers.get(l.default_server) else {
        return;
    };
    let mut buf = BytesMut::with_capacity(1024);
    let mut start: Option<Instant> = None;
    let (head, http09) = loop {
        if !buf.is_empty() {
            start.get_or_insert_with(Instant::now);
            match crate::http1::adapter::parse(&buf, default) {
                Ok(Some((head, used))) => {
                    let http09 = crate::conn::is_http09(&buf[..used]);
                    break (head, http09);
                }
                Ok(None) => {}
                Err((code, http09)) => {
                    let _ = crate::conn::write_simple(
                        &mut io,
                        code,
                        default.conf.server_tokens,
                        http09,
                    )
                    .await;
                    close(&mut io).await;
                    return;
                }
            }
        }
        match tokio::time::timeout_at(deadline, io.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    };
    let server = crate::conn::server_for(table, l, head.host.as_deref()).unwrap_or(default);
    let host = crate::conn::host_fallback(&head, server);
    let start = start.unwrap_or_else(Instant::now);
    let mut req = Req::new(
        &live,
        server,
        head,
        http09,
        host,
        (peer, local),
        false,
        start,
        (conn_no, 1),
    );
    if let Ok(n) = sluice_compiler::table::route::normalize_uri(
        &req.head.target.clone()[path_start(&req.head.target)..],
        server.merge_slashes,
    ) {
        req.uri = n.path;
        req.args = n.args;
    }
    crate::log::error_log(
        shared,
        "info",
        "client sent plain HTTP request to HTTPS port while reading client request headers",
        &mut req,
    );
    let _ = crate::conn::send_error(&mut req, &mut io, 497).await;
    crate::log::access(shared, &mut req);
    close(&mut io).await;
}

fn path_start(target: &[u8]) -> usize {
    if target.starts_with(b"/") {
        0
    } else {
        target
            .iter()
            .position(|b| *b == b'/')
            .unwrap_or(target.len())
    }
}

/// nginx's lingering close: FIN, then drop what the client still sends for a while, so
/// unread input does not turn the close into a reset that destroys the response.
pub(crate) async fn close<C: AsyncRead + AsyncWrite + Unpin>(io: &mut C) {
    let _ = io.shutdown().await;
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut scratch = [0u8; 4096];
    loop {
        let idle = tokio::time::Instant::now() + Duration::from_secs(5);
        match tokio::time::timeout_at(idle.min(end), io.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_falls_back_to_the_default_server() {
        let mut b = sluice_compiler::table::route::ServerNamesBuilder::new();
        let _ = b.add("a.test", 0);
        let _ = b.add("*.b.test", 1);
        let _ = b.add("~^re\\d+\\.test$", 2);
        let r = BySni {
            names: b.build(),
            default: 3,
            keys: Arc::new(vec![
                Some(Arc::new(Vec::new())),
                Some(Arc::new(Vec::new())),
                Some(Arc::new(Vec::new())),
                Some(Arc::new(Vec::new())),
            ]),
            server_order: false,
            tls13: false,
            suites12: Vec::new(),
        };
        assert_eq!(r.server_for(Some("a.test")), 0);
        assert_eq!(r.server_for(Some("A.TEST.")), 0);
        assert_eq!(r.server_for(Some("x.y.b.test")), 1);
        assert_eq!(r.server_for(Some("re42.test")), 2);
        assert_eq!(r.server_for(Some("other.test")), 3);
        assert_eq!(r.server_for(None), 3);
    }
}
