//! One request's state while it is served, and variable evaluation over it
//! (SEMANTICS §7). Variables are computed on demand; user variables (`map` targets,
//! named captures) are cached per request, as nginx caches non-volatile maps.

pub use crate::http1::headers::HeaderList;
use bytes::Bytes;
use sluice_compiler::table::route::Captures;
use sluice_compiler::table::{
    Builtin, LocConf, RoutingTable, Server, SetTarget, TPart, Template, UserVarSource, Var,
};
use std::net::SocketAddr;
use std::time::Instant;

/// A request head, as the connection layer hands it over.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Method, as sent.
    pub method: Bytes,
    /// Raw request target (`$request_uri`).
    pub target: Bytes,
    /// HTTP version (minor): 0 or 1.
    pub minor: u8,
    /// Headers in arrival order, names as sent.
    pub headers: HeaderList,
    /// Host for server selection: absolute-form host, else the `Host` header (raw).
    pub host: Option<Bytes>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The client wants the connection kept open.
    pub keep_alive: bool,
    /// The request carried an `Upgrade` header.
    pub upgrade: bool,
    /// Bytes of the request line and headers (`$request_length` starts here).
    pub head_len: usize,
    /// The request came as an HTTP/2 stream (`h2.rs`): `$server_protocol` is
    /// `HTTP/2.0`; the head was rebuilt in HTTP/1.1 form to run through the same phases.
    pub h2: H2Kind,
}

/// How a request reached sluice over HTTP/2, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum H2Kind {
    /// HTTP/1.x.
    #[default]
    No,
    /// An HTTP/2 request.
    Request,
    /// An extended CONNECT with `:protocol websocket` (RFC 8441), presented to the
    /// phases as an HTTP/1.1 WebSocket upgrade.
    WebSocket,
}

impl Head {
    /// `$server_protocol`.
    pub fn protocol(&self) -> &'static [u8] {
        if self.h2 != H2Kind::No {
            b"HTTP/2.0"
        } else if self.minor == 0 {
            b"HTTP/1.0"
        } else {
            b"HTTP/1.1"
        }
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers.find(name)
    }
}

/// A list with one try's worth of room inline: most requests try one peer, and then
/// keep no heap allocation for it.
pub type PerTry<T> = smallvec::SmallVec<[T; 1]>;

/// A peer tried, for `$upstream_addr`: formatted only when a log or variable asks.
#[derive(Debug, Clone)]
pub enum UpAddr {
    /// `ip:port`.
    Peer(SocketAddr),
    /// The group's name, when no peer could be chosen.
    Group(String),
}

impl std::fmt::Display for UpAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpAddr::Peer(a) => a.fmt(f),
            UpAddr::Group(g) => f.write_str(g),
        }
    }
}

/// What was learned from the upstream, for `$upstream_*`.
#[derive(Debug, Default, Clone)]
pub struct UpstreamInfo {
    /// Each peer tried.
    pub addrs: PerTry<UpAddr>,
    /// Status per try (`502`), or `None` when no response.
    pub statuses: PerTry<Option<u16>>,
    /// Response time per try, seconds.
    pub times: PerTry<f64>,
    /// Connect time per try.
    pub connect_times: PerTry<f64>,
    /// Header time per try.
    pub header_times: PerTry<f64>,
    /// The response headers of the last try.
    pub headers: HeaderList,
    /// Bytes received from the upstream.
    pub bytes_received: u64,
    /// Bytes sent to the upstream.
    pub bytes_sent: u64,
    /// Body length of the response.
    pub response_length: u64,
    /// The upstream is `https://`.
    pub https: bool,
    /// The keepalive pool's key for the TLS settings of the connection (0: plain).
    pub tls_key: u64,
    /// The upstream connection's requests and age, for the pool's limits.
    pub conn_life: crate::ConnLife,
    /// The URI sent upstream (for the error log's `upstream: "..."`).
    pub uri: Bytes,
}

/// The state of one request.
pub struct Req<'t> {
    /// The table this request is served with (a reload does not change it mid-request).
    pub table: &'t RoutingTable,
    /// The balancers of that table.
    pub balancers: &'t [crate::upstream::balance::Balancer],
    /// The TLS client configurations for `https://` upstreams.
    pub tls_clients: &'t crate::upstream::tls::Clients,
    /// The server chosen.
    pub server: &'t Server,
    /// The location's (or server's) configuration.
    pub conf: &'t LocConf,
    /// The head.
    pub head: Head,
    /// The request was HTTP/0.9 (`GET /path`): the response is the body alone.
    pub http09: bool,
    /// `$uri`.
    pub uri: Vec<u8>,
    /// `$args`.
    pub args: Option<Vec<u8>>,
    /// The raw path had `%` escapes.
    pub uri_escaped: bool,
    /// `$host` when it is not the request's own `Host` (see [`Req::host`]).
    pub host: Option<Bytes>,
    /// Client address.
    pub peer: SocketAddr,
    /// Local address.
    pub local: SocketAddr,
    /// `https`.
    pub https: bool,
    /// The TLS connection's parameters (`$ssl_protocol`, `$ssl_cipher`, ...).
    pub tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// The subject and captures of the last regex match.
    pub captures: Option<(Vec<u8>, Captures)>,
    /// User variable cache.
    pub user: Vec<Option<Bytes>>,
    /// `$proxy_host` (borrowed from the table for a `proxy_pass` without variables).
    pub proxy_host: std::borrow::Cow<'t, [u8]>,
    /// `$proxy_port` (0: none yet).
    pub proxy_port: u16,
    /// Upstream facts.
    pub upstream: UpstreamInfo,
    /// The `worker_connections` slot of the upstream connection in use.
    pub upstream_slot: Option<crate::slots::UpstreamSlot>,
    /// Response status sent.
    pub status: u16,
    /// Body bytes sent.
    pub body_bytes_sent: u64,
    /// All bytes sent.
    pub bytes_sent: u64,
    /// Request bytes received (head + body).
    pub request_length: u64,
    /// When the first byte of the request was read.
    pub start: Instant,
    /// The length of the body being sent upstream (`$proxy_internal_body_length`).
    pub upstream_body_len: Option<u64>,
    /// The connection's number.
    pub connection: u64,
    /// Requests served on this connection so far, this one included.
    pub connection_requests: u64,
    /// `100 Continue` was sent for this request.
    pub continue_sent: bool,
    /// Headers sent to the client (`$sent_http_*`).
    pub sent_headers: Vec<(Bytes, Bytes)>,
    /// The raw path had `%` or `+` (`r->quoted_uri || r->plus_in_uri`): captures copied
    /// by the rewrite module are then escaped (`ngx_http_script_copy_capture_code()`).
    pub quoted: bool,
    /// `r->internal`: after a rewrite or an internal redirect; `internal` locations can
    /// be reached.
    pub internal: bool,
    /// `r->valid_unparsed_uri`: `$uri`/`$args` are still the client's (SEMANTICS §4.2
    /// rule 2: without a URI part the raw target is sent only then).
    pub valid_unparsed_uri: bool,
    /// `r->valid_location`: cleared by `rewrite … break` (§4.2: the URI part of
    /// `proxy_pass` is then ignored).
    pub valid_location: bool,
    /// `r->uri_changed`: a rewrite changed `$uri`; the location is searched again after
    /// the rewrite phase.
    pub uri_changed: bool,
    /// `r->err_status`: after `error_page`, the status every later response is sent with
    /// (0: the response's own).
    pub err_status: u16,
    /// `r->error_page`: an `error_page` was used (no second one unless
    /// `recursive_error_pages`).
    pub error_page_used: bool,
    /// An error that has an `error_page` was raised while routing: the connection layer
    /// redirects instead of answering (see `conn::send_error`).
    pub pending_error: Option<u16>,
    /// `error_page` redirects can be taken (set while the request is routed).
    pub routing: bool,
    /// Escape captures with `NGX_ESCAPE_ARGS` when evaluating (the rewrite engine's
    /// `e->quote` for a request with `quoted`).
    pub escape_captures: bool,
    /// The upstream answered 101 and the client asked to upgrade: the 101 was sent and
    /// the tunnel is to run once the request's own future is gone (see `conn::serve`).
    pub tunnel: Option<crate::tunnel::Pending>,
    /// This is a subrequest (`auth_request`) to this URI: it skips the access phase,
    /// reads no body, and its response goes nowhere.
    pub subrequest: Option<Bytes>,
    /// Header lines a module put in nginx's `headers_out.headers` list before the
    /// response (the `WWW-Authenticate` an `auth_request` 401 copies). They survive
    /// internal redirects, as nginx's list does, and go out after `Connection`.
    pub out_headers: Vec<u8>,
    /// `c->log->action` left by an upstream this request's subrequest used: nginx
    /// appends ` while sending to client` to later error-log lines of the request.
    pub log_action: Option<&'static str>,
    /// In a subrequest, the main request's method: `$request_method` is
    /// `r->main->method_name` and `$request` the main request line, while the
    /// subrequest itself is a GET.
    pub main_method: Option<Bytes>,
    /// The connection's own address once the realip module replaced `peer` (at most
    /// once per request): `$realip_remote_addr`.
    pub realip_orig: Option<SocketAddr>,
    /// `WWW-Authenticate` set by `auth_basic` (the value), sent with the 401.
    pub www_authenticate: Option<Vec<u8>>,
    /// The counters behind `$connections_*`, read when the variables are (`None` for a
    /// request answered before the counters apply).
    pub stats: Option<&'t crate::Shared>,
}

impl<'t> Req<'t> {
    /// A request about to be routed: `server` chosen by name, `conf` its server level.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        live: &'t crate::Live,
        server: &'t Server,
        head: Head,
        http09: bool,
        host: Option<Bytes>,
        (peer, local): (SocketAddr, SocketAddr),
        https: bool,
        start: Instant,
        (connection, connection_requests): (u64, u64),
    ) -> Req<'t> {
        let request_length = head.head_len as u64;
        Req {
            table: &live.table,
            balancers: &live.balancers,
            tls_clients: &live.upstream_tls,
            server,
            conf: &server.conf,
            head,
            http09,
            uri: Vec::new(),
            args: None,
            uri_escaped: false,
            host,
            peer,
            local,
            https,
            tls: None,
            captures: None,
            user: Vec::new(),
            proxy_host: std::borrow::Cow::Borrowed(b""),
            proxy_port: 0,
            upstream: UpstreamInfo::default(),
            upstream_slot: None,
            status: 0,
            body_bytes_sent: 0,
            bytes_sent: 0,
            request_length,
            start,
            upstream_body_len: None,
            connection,
            connection_requests,
            sent_headers: Vec::new(),
            continue_sent: false,
            quoted: false,
            internal: false,
            valid_unparsed_uri: true,
            valid_location: true,
            uri_changed: false,
            err_status: 0,
            error_page_used: false,
            pending_error: None,
            routing: false,
            escape_captures: false,
            tunnel: None,
            subrequest: None,
            out_headers: Vec::new(),
            log_action: None,
            main_method: None,
            realip_orig: None,
            www_authenticate: None,
            stats: None,
        }
    }

    /// `ngx_http_subrequest()`: a GET to `uri` (no arguments) on the same connection,
    /// server and client headers (`sr->headers_in = r->headers_in`), an internal
    /// request, its phases started at server rewrite. nginx shares the variables array
    /// (`sr->variables = r->variables`): the user variables start as the parent's.
    pub fn subrequest(&self, uri: &[u8]) -> Req<'t> {
        let mut head = self.head.clone();
        head.method = Bytes::from_static(b"GET");
        Req {
            table: self.table,
            balancers: self.balancers,
            tls_clients: self.tls_clients,
            server: self.server,
            conf: &self.server.conf,
            head,
            http09: self.http09,
            uri: uri.to_vec(),
            args: None,
            uri_escaped: true,
            host: Some(Bytes::copy_from_slice(self.host())),
            peer: self.peer,
            local: self.local,
            https: self.https,
            captures: None,
            user: self.user.clone(),
            proxy_host: std::borrow::Cow::Borrowed(b""),
            proxy_port: 0,
            upstream: UpstreamInfo::default(),
            status: 0,
            body_bytes_sent: 0,
            bytes_sent: 0,
            request_length: self.request_length,
            start: Instant::now(),
            upstream_body_len: None,
            connection: self.connection,
            connection_requests: self.connection_requests,
            sent_headers: Vec::new(),
            // `sr->expect_tested = 1`: a subrequest never answers `100 Continue`.
            continue_sent: true,
            quoted: false,
            internal: true,
            valid_unparsed_uri: false,
            valid_location: true,
            uri_changed: false,
            err_status: 0,
            error_page_used: false,
            pending_error: None,
            routing: true,
            escape_captures: false,
            tunnel: None,
            upstream_slot: None,
            subrequest: Some(Bytes::copy_from_slice(uri)),
            out_headers: Vec::new(),
            log_action: None,
            main_method: Some(
                self.main_method
                    .clone()
                    .unwrap_or_else(|| self.head.method.clone()),
            ),
            tls: self.tls.clone(),
            realip_orig: self.realip_orig,
            www_authenticate: None,
            stats: self.stats,
        }
    }
}

/// Appends an address as `$remote_addr` prints it, without a `String` in between.
fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    use std::io::Write;
    let _ = write!(out, "{ip}");
}

fn header_var_matches(header: &[u8], var: &str) -> bool {
    header.len() == var.len()
        && header.iter().zip(var.bytes()).all(|(h, v)| {
            let h = h.to_ascii_lowercase();
            h == v || (h == b'-' && v == b'_')
        })
}

impl Req<'_> {
    /// `$host`: the request's `Host` (lowercase, without port), else the server's name.
    pub fn host(&self) -> &[u8] {
        self.host
            .as_deref()
            .or(self.head.host.as_deref())
            .unwrap_or_default()
    }

    /// Evaluates a template into `out`.
    ///
    /// nginx computes a complex value in two passes, lengths then values, so every
    /// variable is read once before anything is copied: a map whose regex captures,
    /// read anywhere in the value, has replaced `$1…$9` before they are copied (nginx
    /// 1.22.1 printed the map's `$1` in both places of `"[$1] [$m] [$1]"`; SEMANTICS §6,
    /// trap 14). The first pass is only needed when a value has both.
    pub fn eval_into(&mut self, t: &Template, out: &mut Vec<u8>) {
        let capture = t
            .parts
            .iter()
            .any(|p| matches!(p, TPart::Var(Var::Capture(_))));
        if capture {
            for p in &t.parts {
                if let TPart::Var(v @ Var::User(_)) = p {
                    let _ = self.var(v);
                }
            }
        }
        for p in &t.parts {
            match p {
                TPart::Lit(l) => out.extend_from_slice(l),
                TPart::Var(v) => self.var_into(v, out),
            }
        }
    }

    /// Stores `v` where `set` (or `auth_request_set`) writes: a user variable, or `$args`
    /// (`ngx_http_variable_set_args()`).
    pub fn set_variable(&mut self, target: SetTarget, v: Vec<u8>) {
        match target {
            SetTarget::User(i) => {
                let i = i as usize;
                if self.user.len() <= i {
                    self.user.resize(i + 1, None);
                }
                self.user[i] = Some(Bytes::from(v));
            }
            SetTarget::Args => {
                self.args = Some(v);
                self.valid_unparsed_uri = false;
            }
        }
    }

    /// Evaluates a template.
    pub fn eval(&mut self, t: &Template) -> Vec<u8> {
        if let Some(l) = t.literal() {
            return l.to_vec();
        }
        let mut out = Vec::new();
        self.eval_into(t, &mut out);
        out
    }

    /// Appends a variable's value to `out`: the values a request already holds are
    /// copied from where they are, without a `Bytes` made for them (the variables of
    /// nginx's default proxy headers and of the WebSocket recipe take this path).
    fn var_into(&mut self, v: &Var, out: &mut Vec<u8>) {
        match v {
            Var::Builtin(Builtin::ProxyHost) => out.extend_from_slice(&self.proxy_host),
            Var::Builtin(Builtin::Host) => out.extend_from_slice(self.host()),
            Var::Builtin(Builtin::RequestUri) => out.extend_from_slice(&self.head.target),
            Var::Builtin(Builtin::Scheme) => {
                out.extend_from_slice(if self.https { b"https" } else { b"http" })
            }
            Var::Builtin(Builtin::RemoteAddr) => push_ip(out, self.peer.ip()),
            Var::Builtin(Builtin::ProxyAddXForwardedFor) => {
                let xff = self.http_header("x_forwarded_for");
                if !xff.is_empty() {
                    out.extend_from_slice(&xff);
                    out.extend_from_slice(b", ");
                }
                push_ip(out, self.peer.ip());
            }
            Var::User(i) => self.user_var_into(*i as usize, out),
            Var::Header(name) if !matches!(&**name, "cookie" | "x_forwarded_for") => {
                if let Some((_, v)) = self
                    .head
                    .headers
                    .iter()
                    .find(|(n, _)| header_var_matches(n, name))
                {
                    out.extend_from_slice(v);
                }
            }
            _ => {
                let val = self.var(v);
                out.extend_from_slice(&val);
            }
        }
    }

    /// A variable's value (empty when unset).
    pub fn var(&mut self, v: &Var) -> Bytes {
        match v {
            Var::Header(name) => self.http_header(name),
            Var::Cookie(name) => self.cookie(name),
            Var::Arg(name) => self.arg(name),
            Var::SentHeader(name) => self
                .sent_headers
                .iter()
                .find(|(n, _)| header_var_matches(n, name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            Var::UpstreamHeader(name) => self
                .upstream
                .headers
                .iter()
                .find(|(n, _)| header_var_matches(n, name))
                .map(|(_, v)| self.upstream.headers.share(v))
                .unwrap_or_default(),
            Var::Capture(n) => {
                let v = self.capture(*n as usize);
                if self.escape_captures {
                    let mut out = Vec::with_capacity(v.len());
                    escape_args(&v, &mut out);
                    Bytes::from(out)
                } else {
                    v
                }
            }
            Var::User(i) => self.user_var(*i as usize),
            Var::Builtin(b) => self.builtin(*b),
            Var::Unsupported(_) => Bytes::new(),
        }
    }

    fn http_header(&self, name: &str) -> Bytes {
        let joiner: Option<&[u8]> = match name {
            "cookie" => Some(b"; "),
            "x_forwarded_for" => Some(b", "),
            _ => None,
        };
        let mut it = self
            .head
            .headers
            .iter()
            .filter(|(n, _)| header_var_matches(n, name))
            .map(|(_, v)| v);
        let share = |v: &[u8]| self.head.headers.share(v);
        match joiner {
            None => it.next().map(share).unwrap_or_default(),
            Some(j) => {
                let vals: Vec<&[u8]> = it.collect();
                if vals.len() <= 1 {
                    return vals.first().map(|b| share(b)).unwrap_or_default();
                }
                Bytes::from(vals.join(j))
            }
        }
    }

    fn cookie(&self, name: &str) -> Bytes {
        for (n, v) in &self.head.headers {
            if !n.eq_ignore_ascii_case(b"cookie") {
                continue;
            }
            for part in v.split(|b| *b == b';') {
                let part = part.trim_ascii_start();
                if let Some(rest) = part.strip_prefix(name.as_bytes()) {
                    if let Some(val) = rest.strip_prefix(b"=") {
                        return Bytes::copy_from_slice(val);
                    }
                }
            }
        }
        Bytes::new()
    }

    fn arg(&self, name: &str) -> Bytes {
        let Some(args) = &self.args else {
            return Bytes::new();
        };
        for part in args.split(|b| *b == b'&') {
            let (k, v) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            if k.eq_ignore_ascii_case(name.as_bytes()) {
                return Bytes::copy_from_slice(v);
            }
        }
        Bytes::new()
    }

    fn capture(&self, n: usize) -> Bytes {
        match &self.captures {
            Some((subject, caps)) => caps
                .get(n)
                .map(|(s, e)| Bytes::copy_from_slice(&subject[s..e]))
                .unwrap_or_default(),
            None => Bytes::new(),
        }
    }

    fn user_var(&mut self, i: usize) -> Bytes {
        if let Some(Some(v)) = self.user.get(i) {
            return v.clone();
        }
        let (v, volatile) = self.compute_user_var(i);
        if !volatile {
            self.cache_user_var(i, v.clone());
        }
        v
    }

    /// Appends a user variable (see [`Req::var_into`]): a value computed now is moved
    /// into the cache, not cloned.
    fn user_var_into(&mut self, i: usize, out: &mut Vec<u8>) {
        if let Some(Some(v)) = self.user.get(i) {
            out.extend_from_slice(v);
            return;
        }
        let (v, volatile) = self.compute_user_var(i);
        out.extend_from_slice(&v);
        if !volatile {
            self.cache_user_var(i, v);
        }
    }

    fn cache_user_var(&mut self, i: usize, v: Bytes) {
        if self.user.len() <= i {
            self.user.resize(i + 1, None);
        }
        self.user[i] = Some(v);
    }

    /// A user variable's value, and whether it is `volatile` (not to be cached).
    fn compute_user_var(&mut self, i: usize) -> (Bytes, bool) {
        let v = match self.table.user_var_sources.get(i) {
            Some(UserVarSource::Map(m)) => self.map(*m),
            Some(UserVarSource::Capture) => {
                let name = self.table.user_vars.get(i).cloned().unwrap_or_default();
                match &self.captures {
                    Some((subject, caps)) => caps
                        .name(&name)
                        .map(|(s, e)| Bytes::copy_from_slice(&subject[s..e]))
                        .unwrap_or_default(),
                    None => Bytes::new(),
                }
            }
            _ => Bytes::new(),
        };
        let volatile = matches!(self.table.user_var_sources.get(i), Some(UserVarSource::Map(m)) if self.table.maps.get(*m).is_some_and(|d| d.volatile));
        (v, volatile)
    }

    /// `ngx_http_map_find`: exact (case-insensitive) → wildcards → regexes → default.
    fn map(&mut self, m: usize) -> Bytes {
        let table = self.table;
        let Some(def) = table.maps.get(m) else {
            return Bytes::new();
        };
        let mut key = self.eval(&def.source);
        if def.hostnames && key.last() == Some(&b'.') {
            key.pop();
        }
        key.make_ascii_lowercase();
        if let Some(v) = def.exact.get(&key) {
            return match v.literal() {
                Some(l) => Bytes::copy_from_slice(l),
                None => Bytes::from(self.eval(v)),
            };
        }
        if def.hostnames {
            for (suffix, v) in &def.wild_front {
                if key.ends_with(suffix) && key.len() > suffix.len() {
                    return Bytes::from(self.eval(v));
                }
            }
            for (prefix, v) in &def.wild_back {
                if key.starts_with(prefix) && key.len() > prefix.len() {
                    return Bytes::from(self.eval(v));
                }
            }
        }
        if !key.is_empty() {
            let subject = self.eval(&def.source);
            for (re, v) in &def.regexes {
                if let Some(caps) = Captures::match_regex(re, &subject) {
                    self.captures = Some((subject.clone(), caps));
                    return Bytes::from(self.eval(v));
                }
            }
        }
        Bytes::from(self.eval(&def.default))
    }

    fn builtin(&mut self, b: Builtin) -> Bytes {
        use Builtin::*;
        let s = |x: String| Bytes::from(x);
        match b {
            Host => match (&self.host, &self.head.host) {
                (Some(h), _) | (None, Some(h)) => h.clone(),
                (None, None) => Bytes::new(),
            },
            RemoteAddr => s(self.peer.ip().to_string()),
            // A port-less address from the realip module has no `$remote_port`.
            RemotePort if self.peer.port() == 0 => Bytes::new(),
            RemotePort => s(self.peer.port().to_string()),
            RealipRemoteAddr => s(self.realip_orig.unwrap_or(self.peer).ip().to_string()),
            RealipRemotePort => s(self.realip_orig.unwrap_or(self.peer).port().to_string()),
            ConnectionsActive => s(self.stats.map_or(0, |c| c.status_counts()[0]).to_string()),
            ConnectionsReading => s(self.stats.map_or(0, |c| c.status_counts()[3]).to_string()),
            ConnectionsWriting => s(self.stats.map_or(0, |c| c.status_counts()[4]).to_string()),
            ConnectionsWaiting => s(self.stats.map_or(0, |c| c.status_counts()[5]).to_string()),
            BinaryRemoteAddr => match self.peer.ip() {
                std::net::IpAddr::V4(a) => Bytes::copy_from_slice(&a.octets()),
                std::net::IpAddr::V6(a) => Bytes::copy_from_slice(&a.octets()),
            },
            ServerAddr => s(self.local.ip().to_string()),
            ServerPort => s(self.local.port().to_string()),
            ServerProtocol => Bytes::from_static(self.head.protocol()),
            ServerName => s(self.server.name.clone()),
            Scheme => Bytes::from_static(if self.https { b"https" } else { b"http" }),
            Https => Bytes::from_static(if self.https { b"on" } else { b"" }),
            SslProtocol => self
                .tls
                .as_ref()
                .map_or(Bytes::new(), |t| Bytes::from_static(t.protocol.as_bytes())),
            SslCipher => self
                .tls
                .as_ref()
                .map_or(Bytes::new(), |t| Bytes::from_static(t.cipher.as_bytes())),
            SslServerName => self
                .tls
                .as_ref()
                .and_then(|t| t.server_name.as_deref())
                .map_or(Bytes::new(), Bytes::copy_from_slice),
            SslSessionReused => match &self.tls {
                Some(t) if t.reused => Bytes::from_static(b"r"),
                Some(_) => Bytes::from_static(b"."),
                None => Bytes::new(),
            },
            RequestUri => self.head.target.clone(),
            Uri | DocumentUri => Bytes::copy_from_slice(&self.uri),
            Request => {
                let mut v = self
                    .main_method
                    .as_ref()
                    .unwrap_or(&self.head.method)
                    .to_vec();
                v.push(b' ');
                v.extend_from_slice(&self.head.target);
                v.push(b' ');
                v.extend_from_slice(self.head.protocol());
                Bytes::from(v)
            }
            Args | QueryString => self
                .args
                .as_deref()
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
            IsArgs => Bytes::from_static(if self.args.as_ref().is_some_and(|a| !a.is_empty()) {
                b"?"
            } else {
                b""
            }),
            RequestMethod => self
                .main_method
                .as_ref()
                .unwrap_or(&self.head.method)
                .clone(),
            ContentLength => self
                .head
                .header(b"content-length")
                .map(|v| self.head.headers.share(v))
                .unwrap_or_default(),
            ContentType => self
                .head
                .header(b"content-type")
                .map(|v| self.head.headers.share(v))
                .unwrap_or_default(),
            // `ngx_http_variable_remote_user()`: the user of `Authorization: Basic`,
            // whether or not `auth_basic` checked it.
            RemoteUser => crate::access::basic_user(&self.head)
                .map(|(u, _)| Bytes::from(u))
                .unwrap_or_default(),
            // `ngx_http_variable_status()`: `r->err_status` first.
            Status => s(format!(
                "{:03}",
                if self.err_status != 0 {
                    self.err_status
                } else {
                    self.status
                }
            )),
            BodyBytesSent => s(self.body_bytes_sent.to_string()),
            BytesSent => s(self.bytes_sent.to_string()),
            RequestLength => s(self.request_length.to_string()),
            RequestTime => s(secs(self.start.elapsed().as_secs_f64())),
            RequestId => s(format!("{:032x}", rand_u128(self))),
            Msec => {
                let d = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                s(format!("{}.{:03}", d.as_secs(), d.subsec_millis()))
            }
            TimeLocal => s(crate::CLOCK.time_local()),
            TimeIso8601 => s(iso8601()),
            Hostname => s(hostname()),
            Pid => s(std::process::id().to_string()),
            NginxVersion => Bytes::from_static(b"1.22.1"),
            Connection => s(self.connection.to_string()),
            ConnectionRequests => s(self.connection_requests.to_string()),
            Pipe => Bytes::from_static(b"."),
            ProxyHost => Bytes::copy_from_slice(&self.proxy_host),
            ProxyPort if self.proxy_port == 0 => Bytes::new(),
            ProxyPort => s(self.proxy_port.to_string()),
            // One rule for both paths: written by `var_into`.
            ProxyAddXForwardedFor => {
                let mut v = Vec::new();
                self.var_into(&Var::Builtin(ProxyAddXForwardedFor), &mut v);
                Bytes::from(v)
            }
            UpstreamAddr => {
                let mut v = String::new();
                for (i, a) in self.upstream.addrs.iter().enumerate() {
                    if i > 0 {
                        v.push_str(", ");
                    }
                    let _ = std::fmt::Write::write_fmt(&mut v, format_args!("{a}"));
                }
                s(v)
            }
            UpstreamStatus => s(self
                .upstream
                .statuses
                .iter()
                .map(|st| st.map_or("-".to_string(), |c| c.to_string()))
                .collect::<Vec<_>>()
                .join(", ")),
            UpstreamResponseTime => s(join_times(&self.upstream.times)),
            UpstreamConnectTime => s(join_times(&self.upstream.connect_times)),
            UpstreamHeaderTime => s(join_times(&self.upstream.header_times)),
            UpstreamResponseLength => s(self.upstream.response_length.to_string()),
            UpstreamBytesReceived => s(self.upstream.bytes_received.to_string()),
            UpstreamBytesSent => s(self.upstream.bytes_sent.to_string()),
            ProxyInternalBodyLength => self
                .upstream_body_len
                .map(|n| s(n.to_string()))
                .unwrap_or_default(),
            ProxyInternalChunked => Bytes::new(),
            // `ngx_http_variable_http2()`: "h2" over TLS, "h2c" over plain TCP.
            Http2 => Bytes::from_static(match (self.head.h2, self.https) {
                (H2Kind::No, _) => b"",
                (_, true) => b"h2",
                (_, false) => b"h2c",
            }),
            RequestCompletion => Bytes::new(),
        }
    }
}

/// `ngx_escape_uri(NGX_ESCAPE_ARGS)`: controls, space, `#`, `%`, `&`, `+`, `;`, `?`
/// and bytes from 0x7f, as `%XX` (upper-case hex).
pub fn escape_args(v: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if b <= 0x20 || b >= 0x7f || matches!(b, b'#' | b'%' | b'&' | b'+' | b';' | b'?') {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

fn secs(f: f64) -> String {
    format!("{f:.3}")
}

fn join_times(t: &[f64]) -> String {
    t.iter().map(|x| secs(*x)).collect::<Vec<_>>().join(", ")
}

fn rand_u128(r: &Req<'_>) -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(r.connection);
    h.write_u128(r.start.elapsed().as_nanos());
    let a = h.finish();
    let mut h2 = std::collections::hash_map::RandomState::new().build_hasher();
    h2.write_u64(a);
    (u128::from(a) << 64) | u128::from(h2.finish())
}

fn iso8601() -> String {
    let t = crate::CLOCK.time_local();
    // 22/Nov/2026:00:30:00 +0000 → 2026-11-22T00:30:00+00:00
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (d, rest) = t.split_at(2);
    let m = months
        .iter()
        .position(|x| rest.get(1..4) == Some(*x))
        .map_or(1, |i| i + 1);
    let y = rest.get(5..9).unwrap_or("1970");
    let hms = rest.get(10..18).unwrap_or("00:00:00");
    format!("{y}-{m:02}-{d}T{hms}+00:00")
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}
