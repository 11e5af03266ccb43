//! The routing table: what the runtime serves. Built once from a checked configuration
//! (`lower.rs`), immutable, shared behind an `Arc`; a reload builds a new one.
//!
//! **Invariant**: nothing here borrows from the configuration text or holds AST nodes;
//! values are ready to use (durations, socket addresses, compiled templates and regexes,
//! lowercased header names). Where a place is needed for a log line, an [`Origin`].

pub mod ciphers;
mod lower;
pub mod route;
pub mod vars;

pub use lower::lower;
use route::{LocationTree, ServerNames};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
pub use vars::{Builtin, TPart, Template, Var};

/// Everything the runtime needs.
#[derive(Debug)]
pub struct RoutingTable {
    /// Listening sockets, each with the servers reachable through it.
    pub listeners: Vec<Listener>,
    /// Every `server { }`, in config order.
    pub servers: Vec<Server>,
    /// Upstream groups, explicit and implicit.
    pub upstreams: Vec<UpstreamGroup>,
    /// `map` blocks.
    pub maps: Vec<MapDef>,
    /// Names of user-defined variables; `Var::User(i)` is `user_vars[i]`.
    pub user_vars: Vec<String>,
    /// How each user variable gets its value.
    pub user_var_sources: Vec<UserVarSource>,
    /// Main-context settings.
    pub main: MainConf,
}

/// Main and events settings.
#[derive(Debug, Clone)]
pub struct MainConf {
    /// `worker_processes` (`auto` = number of cores, resolved at load).
    pub worker_processes: usize,
    /// `worker_connections`.
    pub worker_connections: usize,
    /// `worker_rlimit_nofile`: the open-file limit to set at start.
    pub worker_rlimit_nofile: Option<u64>,
    /// `pid`.
    pub pid: PathBuf,
    /// `daemon`.
    pub daemon: bool,
    /// Main `error_log`: `None` = stderr.
    pub error_log: Option<PathBuf>,
    /// Its level (nginx's names: `error` by default).
    pub error_level: LogLevel,
}

/// Error-log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    /// By nginx name.
    pub fn from_name(s: &str) -> Option<LogLevel> {
        Some(match s {
            "emerg" => LogLevel::Emerg,
            "alert" => LogLevel::Alert,
            "crit" => LogLevel::Crit,
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "notice" => LogLevel::Notice,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => return None,
        })
    }

    /// nginx's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Emerg => "emerg",
            LogLevel::Alert => "alert",
            LogLevel::Crit => "crit",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// TCP.
    Tcp(SocketAddr),
    /// A unix-domain socket path.
    Unix(PathBuf),
}

/// One listening socket and the servers behind it (SEMANTICS §2.1–2.2).
#[derive(Debug)]
pub struct Listener {
    /// Address.
    pub addr: ListenAddr,
    /// `ssl` on any `listen` of this address.
    pub ssl: bool,
    /// HTTP/2 offered through ALPN: `listen ... http2`, or `http2 on` in the default
    /// server.
    pub http2: bool,
    /// `ipv6only` (default on).
    pub ipv6only: bool,
    /// `backlog=` (default 511).
    pub backlog: i32,
    /// `reuseport`.
    pub reuseport: bool,
    /// Index of the default server.
    pub default_server: usize,
    /// Server names on this address.
    pub names: ServerNames,
    /// On a wildcard address (`*:port`, `[::]:port`): the listeners of specific addresses
    /// with the same port. nginx binds only the wildcard socket then and picks the
    /// servers of the connection's local address, so a specific `listen` hides the
    /// wildcard servers for that address (SEMANTICS §2.1, trap 16). These are not bound.
    pub specific: Vec<Listener>,
}

/// One `server { }`.
#[derive(Debug)]
pub struct Server {
    /// The first `server_name` (`$server_name`), `""` when none.
    pub name: String,
    /// Locations.
    pub locations: LocationTree,
    /// Location configurations, indexed by the ids the tree returns.
    pub locs: Vec<Arc<LocConf>>,
    /// Server-level configuration, for requests no location matches.
    pub conf: Arc<LocConf>,
    /// The server-level rewrite-module instructions (the server-rewrite phase).
    pub rewrites: Arc<Vec<RewriteOp>>,
    /// `client_header_timeout`.
    pub client_header_timeout: Duration,
    /// `client_header_buffer_size`.
    pub client_header_buffer_size: usize,
    /// `large_client_header_buffers` (number, size).
    pub large_client_header_buffers: (usize, usize),
    /// `underscores_in_headers`.
    pub underscores_in_headers: bool,
    /// `ignore_invalid_headers`.
    pub ignore_invalid_headers: bool,
    /// `merge_slashes`.
    pub merge_slashes: bool,
    /// HTTP/2 settings (`ngx_http_v2_module`), merged with http's.
    pub http2: Http2Conf,
    /// TLS settings (`ngx_http_ssl_module`), merged with http's.
    pub tls: ServerTls,
}

/// A server's HTTP/2 limits (SEMANTICS §10). The obsolete `http2_idle_timeout`,
/// `http2_max_requests`, `http2_recv_timeout`, `http2_max_field_size` and
/// `http2_max_header_size` have no field: nginx 1.22 uses `keepalive_timeout`,
/// `keepalive_requests`, `client_header_timeout` and `large_client_header_buffers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Conf {
    /// `http2 on` (nginx 1.25.1's directive, accepted as an extension).
    pub enable: bool,
    /// `http2_max_concurrent_streams` (128): streams past it are refused.
    pub max_concurrent_streams: u32,
    /// `http2_body_preread_size` (64k): the initial stream window, so the body a client
    /// may send before it is read.
    pub body_preread_size: usize,
    /// `http2_chunk_size` (8k): the largest DATA frame of a response.
    pub chunk_size: usize,
}

/// A server's TLS settings after nginx's merge (`ngx_http_ssl_merge_srv_conf()`): the
/// certificate list and the key list are each inherited whole from `http { }` when the
/// server sets none. Used when the server is reached through a `listen ... ssl` socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTls {
    /// `ssl_certificate`/`ssl_certificate_key` pairs in order, resolved against the conf
    /// prefix (the directory of the main configuration file). Several pairs let a
    /// server offer, say, an RSA and an ECDSA certificate.
    pub certs: Vec<CertPair>,
    /// `ssl_protocols` (1.22 default: `TLSv1 TLSv1.1 TLSv1.2`).
    pub protocols: TlsProtocols,
    /// `ssl on` (deprecated): nginx then does TLS on every connection whose default
    /// server this is, whatever the `listen` says.
    pub ssl_on: bool,
    /// `ssl_ciphers` mapped onto rustls's TLSv1.2 suites (OpenSSL names, see
    /// [`ciphers`]); `None`: nginx's default `HIGH:!aNULL:!MD5`, every rustls suite.
    pub ciphers: Option<Vec<&'static str>>,
    /// `ssl_prefer_server_ciphers` (default off: the client's order).
    pub prefer_server_ciphers: bool,
    /// `ssl_session_cache`.
    pub session_cache: SessionCache,
    /// `ssl_session_timeout` (default 5m): the lifetime of sessions and tickets.
    pub session_timeout: Duration,
    /// `ssl_session_tickets` (default on).
    pub session_tickets: bool,
}

/// `ssl_session_cache`: where resumable sessions are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SessionCache {
    /// `off`, or `none` (nginx's default: sessions may be offered, none is kept).
    #[default]
    None,
    /// `builtin[:N]` or `shared:NAME:SIZE` (about 4000 sessions per megabyte, nginx's
    /// figure): at most this many sessions, in memory (one process: shared by every
    /// thread).
    Sessions(usize),
}

/// One `ssl_certificate` with its `ssl_certificate_key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertPair {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
    /// `ssl_password_file` / `proxy_ssl_password_file`: the passphrases tried in turn
    /// when the key is encrypted.
    pub passwords: Option<PathBuf>,
}

/// The protocol versions `ssl_protocols` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub struct TlsProtocols {
    pub sslv2: bool,
    pub sslv3: bool,
    pub tlsv1: bool,
    pub tlsv1_1: bool,
    pub tlsv1_2: bool,
    pub tlsv1_3: bool,
}

impl Default for TlsProtocols {
    /// nginx 1.22's default: `TLSv1 TLSv1.1 TLSv1.2` (no TLSv1.3 unless listed).
    fn default() -> Self {
        TlsProtocols {
            sslv2: false,
            sslv3: false,
            tlsv1: true,
            tlsv1_1: true,
            tlsv1_2: true,
            tlsv1_3: false,
        }
    }
}

impl TlsProtocols {
    /// From the words of `ssl_protocols` (unknown words were refused by the checker).
    pub fn from_words<S: AsRef<str>>(words: &[S]) -> TlsProtocols {
        let mut p = TlsProtocols {
            sslv2: false,
            sslv3: false,
            tlsv1: false,
            tlsv1_1: false,
            tlsv1_2: false,
            tlsv1_3: false,
        };
        // `ngx_conf_set_bitmask_slot()` compares without case.
        for w in words {
            match w.as_ref().to_ascii_lowercase().as_str() {
                "sslv2" => p.sslv2 = true,
                "sslv3" => p.sslv3 = true,
                "tlsv1" => p.tlsv1 = true,
                "tlsv1.1" => p.tlsv1_1 = true,
                "tlsv1.2" => p.tlsv1_2 = true,
                "tlsv1.3" => p.tlsv1_3 = true,
                _ => {}
            }
        }
        p
    }

    /// The value as nginx's words, for messages.
    pub fn words(&self) -> String {
        let all = [
            (self.sslv2, "SSLv2"),
            (self.sslv3, "SSLv3"),
            (self.tlsv1, "TLSv1"),
            (self.tlsv1_1, "TLSv1.1"),
            (self.tlsv1_2, "TLSv1.2"),
            (self.tlsv1_3, "TLSv1.3"),
        ];
        all.iter()
            .filter(|(on, _)| *on)
            .map(|(_, w)| *w)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What answers a request in a location's content phase. (`return` is a rewrite-module
/// instruction: [`RewriteOp::Return`].)
#[derive(Debug, Clone)]
pub enum Handler {
    /// `proxy_pass`.
    Proxy(Arc<ProxyPass>),
    /// Nothing configured: static files from `root`/`alias`, with `index` for a URI
    /// ending in `/` (SEMANTICS §10).
    Static,
    /// `stub_status`: the connection and request counters.
    StubStatus,
}

/// One instruction of `ngx_http_rewrite_module`, run in order in the server-rewrite
/// phase (server level, before location search) or the rewrite phase (location level).
/// Rewrite instructions are not inherited by nested locations (nginx merges no codes).
#[derive(Debug, Clone)]
pub enum RewriteOp {
    /// `rewrite REGEX REPL [FLAG]`.
    Rewrite(Arc<Rewrite>),
    /// `return CODE [TEXT|URL]` / `return URL` (302).
    Return {
        /// Status.
        code: u16,
        /// Body text or redirect URL.
        text: Option<Template>,
    },
    /// `set $var VALUE`.
    Set {
        /// Which variable.
        target: SetTarget,
        /// The value.
        value: Template,
    },
    /// `break`.
    Break,
    /// `if (COND) { ... }`: when the condition holds, a location-level `if` makes its
    /// block's configuration the request's (`conf`), then its instructions run and the
    /// enclosing list goes on after the block (`ngx_http_script_if_code()`).
    If {
        /// The condition.
        cond: Arc<Condition>,
        /// The block as a nested location configuration (`None` for a server-level
        /// `if`: nginx does not switch configuration there).
        conf: Option<Arc<LocConf>>,
        /// The instructions inside the block.
        body: Arc<Vec<RewriteOp>>,
    },
}

/// A compiled `rewrite`.
#[derive(Debug)]
pub struct Rewrite {
    /// Matched against `$uri` (case-sensitive; compiled at load).
    pub re: pcre2::bytes::Regex,
    /// The replacement without a final `?`.
    pub repl: Template,
    /// `redirect`, `permanent`, or a replacement starting with `http://`, `https://`,
    /// `$scheme`: the status (302/301); 0 for an internal rewrite.
    pub redirect: u16,
    /// `last` (or any redirect): stop the instructions after this one when it matches.
    pub stop: bool,
    /// `break`: stop, and stay in this location.
    pub break_cycle: bool,
    /// The replacement does not end in `?`: the original arguments are appended.
    pub add_args: bool,
    /// The replacement has a `?` of its own (arguments are appended after `&`).
    pub has_args: bool,
}

/// `auth_request_set $var value`: evaluated on the auth subrequest once it is done.
#[derive(Debug, Clone)]
pub struct AuthRequestSet {
    /// The variable written: a user variable, or `$args` (its set handler).
    pub target: SetTarget,
    /// The value, evaluated in the subrequest's context (`$upstream_http_*`).
    pub value: Template,
}

/// What `set` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTarget {
    /// A user variable: index into [`RoutingTable::user_vars`].
    User(u32),
    /// `$args` (`ngx_http_variable_set_args()`).
    Args,
}

/// An `if` condition (`ngx_http_rewrite_if_condition()`).
#[derive(Debug)]
pub enum Condition {
    /// `($var)`: true unless empty or `"0"`.
    Var(Template),
    /// `($var = VALUE)`, `($var != VALUE)`: byte-wise comparison.
    Eq {
        /// The variable.
        lhs: Template,
        /// The value.
        rhs: Template,
        /// `!=`.
        negate: bool,
    },
    /// `($var ~ RE)`, `~*`, `!~`, `!~*`: a match sets the captures.
    Regex {
        /// The variable.
        lhs: Template,
        /// Compiled at load.
        re: pcre2::bytes::Regex,
        /// `!~`, `!~*`.
        negate: bool,
    },
    /// `-f`, `-d`, `-e`, `-x` and their `!` forms.
    File {
        /// The path.
        path: Template,
        /// Which test.
        op: FileTest,
        /// `!-…`.
        negate: bool,
    },
}

/// The file tests of `if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTest {
    /// `-f`: a regular file.
    Plain,
    /// `-d`: a directory.
    Dir,
    /// `-e`: a file, directory or symlink.
    Exists,
    /// `-x`: executable.
    Exec,
}

/// One `error_page CODE... [=[RESPONSE]] URI`.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The statuses it applies to.
    pub codes: Vec<u16>,
    /// `=CODE` → `Some(CODE)`, a bare `=` → `Some(0)` (the target's status), none →
    /// `None` (the original status; 494–497 become 400, as `ngx_http_core_error_page()`).
    pub overwrite: Option<u16>,
    /// A URI (internal redirect, `?` splits arguments), `@named`, or a URL (302).
    pub uri: Template,
}

/// `try_files FILE... URI|=CODE|@named`.
#[derive(Debug, Clone)]
pub struct TryFiles {
    /// The names to test (a trailing `/` removed and recorded: a directory is accepted).
    pub files: Vec<(Template, bool)>,
    /// The fallback.
    pub last: TryLast,
}

/// The last parameter of `try_files`.
#[derive(Debug, Clone)]
pub enum TryLast {
    /// An internal redirect (`?` splits arguments) or `@named`.
    Uri(Template),
    /// `=CODE`.
    Code(u16),
}

/// A `proxy_pass` target.
#[derive(Debug)]
pub enum ProxyPass {
    /// A URL without variables, resolved at load.
    Static {
        /// Index into [`RoutingTable::upstreams`].
        upstream: usize,
        /// `https://`.
        tls: bool,
        /// The URI part, if any (`proxy_pass http://h/new/` → `/new/`).
        uri: Option<Vec<u8>>,
        /// `$proxy_host`.
        proxy_host: String,
        /// `$proxy_port`.
        proxy_port: u16,
        /// The URL text as written (for `proxy_redirect default`).
        url: String,
    },
    /// A URL with variables, evaluated per request.
    Dynamic(Template),
}

/// One `proxy_set_header` (or a default one): lowercased name for matching, the name
/// as written, and the value.
#[derive(Debug, Clone)]
pub struct SetHeader {
    /// Lowercased.
    pub lower: Box<[u8]>,
    /// As written.
    pub name: Box<[u8]>,
    /// Value; an empty result removes the header.
    pub value: Template,
}

/// `proxy_redirect` rules (SEMANTICS §4.7), tried in order; the first match rewrites.
#[derive(Debug, Clone)]
pub enum Redirects {
    /// `off`.
    Off,
    /// The rules; an unset `proxy_redirect` is `[Default]`.
    Rules(Vec<RedirectRule>),
}

/// One `proxy_redirect` rule.
#[derive(Debug, Clone)]
pub enum RedirectRule {
    /// `default`: the `proxy_pass` URL → the location name (with a URI part), or the URL
    /// plus `/` → `/` (without one); nothing for a `proxy_pass` with variables.
    Default,
    /// `proxy_redirect FROM TO`: a case-sensitive prefix of the value, replaced.
    Prefix {
        /// Evaluated per response.
        from: Template,
        /// The replacement of the prefix.
        to: Template,
    },
    /// `proxy_redirect ~REGEX TO` (`~*` caseless): the whole value is replaced by `to`,
    /// evaluated with the regex's captures.
    Regex {
        /// Compiled at load.
        re: Arc<pcre2::bytes::Regex>,
        /// The replacement.
        to: Template,
    },
}

/// `proxy_next_upstream` conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct NextUpstream {
    pub error: bool,
    pub timeout: bool,
    pub invalid_header: bool,
    pub http_500: bool,
    pub http_502: bool,
    pub http_503: bool,
    pub http_504: bool,
    pub http_403: bool,
    pub http_404: bool,
    pub http_429: bool,
    pub non_idempotent: bool,
    pub off: bool,
}

/// One `access_log`.
#[derive(Debug, Clone)]
pub struct AccessLog {
    /// File (prefix-resolved).
    pub path: PathBuf,
    /// The format's parts.
    pub format: Arc<LogFormat>,
    /// `if=`: logged only when non-empty and not "0".
    pub condition: Option<Template>,
}

/// A `log_format`.
#[derive(Debug)]
pub struct LogFormat {
    /// Name.
    pub name: String,
    /// Concatenated strings, compiled.
    pub template: Template,
    /// `escape=json`/`none`/default.
    pub escape: LogEscape,
}

/// How variable values are escaped in a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum LogEscape {
    Default,
    Json,
    None,
}

/// `add_header NAME VALUE [always]`.
#[derive(Debug, Clone)]
pub struct AddHeader {
    /// Name as written.
    pub name: Box<[u8]>,
    /// Value.
    pub value: Template,
    /// `always`.
    pub always: bool,
}

/// The merged configuration of a location (or of a server outside any location).
#[derive(Debug, Clone)]
pub struct LocConf {
    /// `allow`/`deny` rules after inheritance (all-or-nothing), in order.
    pub access: Arc<Vec<AccessRule>>,
    /// `internal`: only internal redirects may reach it; external requests get 404.
    pub internal: bool,
    /// `auth_request` URI (`None`: off, the default).
    pub auth_request: Option<Box<[u8]>>,
    /// `auth_request_set` after inheritance (all-or-nothing), in order.
    pub auth_request_set: Arc<Vec<AuthRequestSet>>,
    /// `satisfy any` (else `all`): how the access phase's checkers combine.
    pub satisfy_any: bool,
    /// `auth_basic` + `auth_basic_user_file`, when both are set after inheritance.
    pub auth_basic: Option<Arc<AuthBasic>>,
    /// `limit_except`: the methods it names, and the block's configuration for the
    /// others.
    pub limit_except: Option<Arc<LimitExcept>>,
    /// `set_real_ip_from` (with `real_ip_header`, `real_ip_recursive`).
    pub realip: Option<Arc<RealIp>>,
    /// The location's name (for the URI replacement of §4.2), `""` at server level.
    pub name: String,
    /// Regex or named location, or inside `if`: no URI replacement by prefix.
    pub regex_or_named: bool,
    /// The handler.
    pub handler: Handler,
    /// The location's rewrite-module instructions (empty at server level: those run in
    /// the server-rewrite phase, [`Server::rewrites`]).
    pub rewrites: Arc<Vec<RewriteOp>>,
    /// `error_page` entries after inheritance (all-or-nothing), in order.
    pub error_pages: Arc<Vec<ErrorPage>>,
    /// `recursive_error_pages`.
    pub recursive_error_pages: bool,
    /// `try_files` (not inherited).
    pub try_files: Option<Arc<TryFiles>>,
    /// `proxy_set_header` list after inheritance, with nginx's defaults last.
    pub proxy_set_headers: Arc<Vec<SetHeader>>,
    /// `proxy_http_version` 1.1 (else 1.0).
    pub proxy_http_11: bool,
    /// Timeouts.
    pub proxy_connect_timeout: Duration,
    /// `proxy_read_timeout`.
    pub proxy_read_timeout: Duration,
    /// `proxy_send_timeout`.
    pub proxy_send_timeout: Duration,
    /// `proxy_buffering`.
    pub proxy_buffering: bool,
    /// `proxy_request_buffering`.
    pub proxy_request_buffering: bool,
    /// `proxy_pass_request_headers`.
    pub proxy_pass_request_headers: bool,
    /// `proxy_pass_request_body`.
    pub proxy_pass_request_body: bool,
    /// Response headers hidden from the client (lowercase), after `proxy_pass_header`.
    pub proxy_hide_headers: Arc<Vec<Box<[u8]>>>,
    /// `proxy_redirect`.
    pub proxy_redirect: Redirects,
    /// `proxy_next_upstream`.
    pub proxy_next_upstream: NextUpstream,
    /// `proxy_next_upstream_tries` (0 = unlimited).
    pub proxy_next_upstream_tries: usize,
    /// `proxy_next_upstream_timeout` (zero = none).
    pub proxy_next_upstream_timeout: Duration,
    /// `proxy_buffer_size`.
    pub proxy_buffer_size: usize,
    /// `client_max_body_size` (0 = unlimited).
    pub client_max_body_size: u64,
    /// `client_body_timeout`.
    pub client_body_timeout: Duration,
    /// `send_timeout`.
    pub send_timeout: Duration,
    /// `keepalive_timeout` (zero disables keep-alive).
    pub keepalive_timeout: Duration,
    /// `keepalive_requests`.
    pub keepalive_requests: u64,
    /// `access_log` entries; empty = off.
    pub access_logs: Arc<Vec<AccessLog>>,
    /// `add_header`.
    pub add_headers: Arc<Vec<AddHeader>>,
    /// `server_tokens`.
    pub server_tokens: bool,
    /// `default_type`.
    pub default_type: Box<[u8]>,
    /// `types`: lowercased extension → content type, after nginx's all-or-nothing
    /// inheritance; nginx's built-in three (`html`, `gif`, `jpg`) when no level has one.
    pub types: Arc<std::collections::HashMap<Vec<u8>, Box<[u8]>>>,
    /// `tcp_nodelay`.
    pub tcp_nodelay: bool,
    /// `absolute_redirect`.
    pub absolute_redirect: bool,
    /// `port_in_redirect`.
    pub port_in_redirect: bool,
    /// `root` or `alias` after inheritance (SEMANTICS §10): where static files are.
    pub root: Arc<DocRoot>,
    /// `index` names after nginx's all-or-nothing inheritance (default `index.html`).
    pub index: Arc<Vec<Template>>,
    /// `expires`.
    pub expires: Expires,
    /// `etag` (default on).
    pub etag: bool,
    /// `if_modified_since` (default `exact`).
    pub if_modified_since: IfModifiedSince,
    /// `log_not_found` (default on): whether a missing file is logged.
    pub log_not_found: bool,
    /// The `proxy_ssl_*` settings, used when `proxy_pass` names an `https://` URL.
    pub proxy_ssl: Arc<UpstreamTls>,
}

/// TLS to an `https://` upstream (`ngx_http_proxy_set_ssl()`), after inheritance, with
/// nginx's defaults: no SNI, no verification, `TLSv1 TLSv1.1 TLSv1.2`, session reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// A digest of every setting below: connections and TLS client configurations are
    /// shared only between locations with the same key.
    pub key: u64,
    /// `proxy_ssl_server_name` (default off: no SNI).
    pub server_name: bool,
    /// `proxy_ssl_name` (default `$proxy_host`): the name sent as SNI and verified.
    pub name: Option<Template>,
    /// `proxy_ssl_verify` (default off).
    pub verify: bool,
    /// `proxy_ssl_verify_depth` (default 1).
    pub verify_depth: u32,
    /// `proxy_ssl_trusted_certificate`, resolved against the conf prefix.
    pub trusted: Option<PathBuf>,
    /// `proxy_ssl_protocols`.
    pub protocols: TlsProtocols,
    /// `proxy_ssl_ciphers` (default `DEFAULT`), as written.
    pub ciphers: String,
    /// `proxy_ssl_certificate` and `proxy_ssl_certificate_key`, resolved.
    pub client_cert: Option<CertPair>,
    /// `proxy_ssl_session_reuse` (default on).
    pub session_reuse: bool,
}

impl Default for UpstreamTls {
    fn default() -> Self {
        UpstreamTls {
            key: 0,
            server_name: false,
            name: None,
            verify: false,
            verify_depth: 1,
            trusted: None,
            protocols: TlsProtocols::default(),
            ciphers: "DEFAULT".into(),
            client_cert: None,
            session_reuse: true,
        }
    }
}

/// `root PATH` or `alias PATH` (`ngx_http_core_root()`), ready to map `$uri` to a file.
#[derive(Debug, Clone)]
pub struct DocRoot {
    /// The value: for `root`, without its one trailing `/`. A value without variables
    /// (or one not starting with `$`) is already resolved against the prefix at load.
    pub path: Template,
    /// `root` or which kind of `alias`.
    pub alias: Alias,
    /// The prefix (`-p`, ending in `/`), for a value with variables that evaluates to
    /// a relative path (`ngx_get_full_name()` at request time).
    pub prefix: Arc<[u8]>,
}

/// How much of `$uri` a `root`/`alias` replaces (`clcf->alias`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alias {
    /// `root`: the file is the value plus the whole `$uri`.
    No,
    /// `alias` in a prefix or exact location: the first N bytes of `$uri` (the length of
    /// the location name where `alias` is written; nested locations inherit it).
    Prefix(usize),
    /// `alias` in a regex location: the value (with captures) is the whole file name.
    Whole,
}

/// `expires` (`ngx_http_headers_module`), applied to 2xx/3xx responses listed in
/// SEMANTICS §4.6.
#[derive(Debug, Clone)]
pub enum Expires {
    /// `off` (the default): no header added.
    Off,
    /// `epoch`: `Thu, 01 Jan 1970 00:00:01 GMT`, `no-cache`.
    Epoch,
    /// `max`: `Thu, 31 Dec 2037 23:55:55 GMT`, ten years.
    Max,
    /// `[+|-]TIME`: from the time of the response (seconds, may be negative).
    Access(i64),
    /// `modified [+|-]TIME`: from the file's modification time.
    Modified(i64),
    /// `@TIME`: the next time this time of day comes (seconds after midnight).
    Daily(i64),
    /// A value with variables, parsed per request (`modified` when given).
    Variable {
        /// `expires modified $x`.
        modified: bool,
        /// The value.
        value: Template,
    },
}

/// `if_modified_since off | exact | before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfModifiedSince {
    /// Never 304 by date.
    Off,
    /// 304 only when the date equals the file's time (the default).
    Exact,
    /// 304 when the date is the file's time or later.
    Before,
}

/// An upstream group (SEMANTICS §8).
#[derive(Debug)]
pub struct UpstreamGroup {
    /// The name (`upstream NAME`, or the host of an implicit one).
    pub name: String,
    /// Peers, in config order (a host name with several addresses gives several peers).
    pub peers: Vec<Peer>,
    /// Balancing method.
    pub method: Method,
    /// `hash` key.
    pub hash_key: Option<Template>,
    /// `keepalive N` (0 = no pool).
    pub keepalive: usize,
    /// `keepalive_timeout` in upstream.
    pub keepalive_timeout: Duration,
    /// `keepalive_requests` in upstream.
    pub keepalive_requests: u64,
    /// `keepalive_time`.
    pub keepalive_time: Duration,
}

impl UpstreamGroup {
    /// A group with nginx's defaults: round robin, no keepalive pool, upstream
    /// `keepalive_timeout 60s`, `keepalive_requests 1000`, `keepalive_time 1h`.
    pub fn new(name: String, peers: Vec<Peer>) -> UpstreamGroup {
        UpstreamGroup {
            name,
            peers,
            method: Method::RoundRobin,
            hash_key: None,
            keepalive: 0,
            keepalive_timeout: Duration::from_secs(60),
            keepalive_requests: 1000,
            keepalive_time: Duration::from_secs(3600),
        }
    }
}

/// A balancing method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Method {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash { consistent: bool },
}

/// One peer of a group.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Address (unix sockets: see `unix`).
    pub addr: SocketAddr,
    /// A unix-socket peer's path.
    pub unix: Option<PathBuf>,
    /// The `server` text as written (ketama hashes it; `$upstream_addr` shows the address).
    pub text: String,
    /// `weight=`.
    pub weight: u32,
    /// `max_fails=`.
    pub max_fails: u32,
    /// `fail_timeout=`.
    pub fail_timeout: Duration,
    /// `max_conns=`.
    pub max_conns: u32,
    /// `backup`.
    pub backup: bool,
    /// `down`.
    pub down: bool,
}

impl Peer {
    /// A peer with nginx's `server` defaults (SEMANTICS §8.1): weight 1, max_fails 1,
    /// fail_timeout 10s, no max_conns, neither backup nor down.
    pub fn new(addr: SocketAddr, text: String) -> Peer {
        Peer {
            addr,
            unix: None,
            text,
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            backup: false,
            down: false,
        }
    }
}

/// How a user variable gets its value.
#[derive(Debug, Clone)]
pub enum UserVarSource {
    /// A `map`: index into [`RoutingTable::maps`].
    Map(usize),
    /// A named regex capture: set when the regex that defines it matches.
    Capture,
    /// `set $x ...` (rewrite module): what the last `set` stored, empty before.
    Set,
    /// Another definition sluice does not evaluate yet (`geo`, `split_clients`, ...).
    Other,
}

/// A compiled `map` (SEMANTICS §6).
#[derive(Debug)]
pub struct MapDef {
    /// The source value.
    pub source: Template,
    /// Exact keys, lowercased, with their values.
    pub exact: std::collections::HashMap<Vec<u8>, Template, route::FastHash>,
    /// Regex keys in order.
    pub regexes: Vec<(pcre2::bytes::Regex, Template)>,
    /// `hostnames`: wildcard keys (`*.x` stored as the suffix `.x`).
    pub wild_front: Vec<(Vec<u8>, Template)>,
    /// `hostnames`: `x.*` stored as the prefix `x.`.
    pub wild_back: Vec<(Vec<u8>, Template)>,
    /// `hostnames` given.
    pub hostnames: bool,
    /// `default`, empty when absent.
    pub default: Template,
    /// `volatile`.
    pub volatile: bool,
}

/// `auth_basic REALM` with `auth_basic_user_file FILE` (`ngx_http_auth_basic_module`).
#[derive(Debug)]
pub struct AuthBasic {
    /// The realm; `off` (after evaluation) turns the check off.
    pub realm: Template,
    /// The password file; a relative result is taken from the directory of the main
    /// configuration file (`ccv.conf_prefix`).
    pub user_file: Template,
    /// That directory, ending in `/`.
    pub conf_prefix: Arc<[u8]>,
}

/// `limit_except METHOD... { ... }` (`ngx_http_core_limit_except()`).
#[derive(Debug)]
pub struct LimitExcept {
    /// The methods (as [`method_bit`]s) that get the block's configuration: every one
    /// the directive does not name (`GET` names `HEAD` too), unknown methods included.
    pub mask: u32,
    /// The block, merged with the location like a nested location: its own access
    /// rules and authentication, everything else inherited (a `proxy_pass` too); no
    /// rewrite-module instructions and no `try_files` (nginx does not inherit those).
    pub conf: Arc<LocConf>,
}

/// nginx's method bits (`NGX_HTTP_GET`...); `NGX_HTTP_UNKNOWN` (1) for anything else.
pub fn method_bit(m: &[u8]) -> u32 {
    match m {
        b"GET" => 0x0002,
        b"HEAD" => 0x0004,
        b"POST" => 0x0008,
        b"PUT" => 0x0010,
        b"DELETE" => 0x0020,
        b"MKCOL" => 0x0040,
        b"COPY" => 0x0080,
        b"MOVE" => 0x0100,
        b"OPTIONS" => 0x0200,
        b"PROPFIND" => 0x0400,
        b"PROPPATCH" => 0x0800,
        b"LOCK" => 0x1000,
        b"UNLOCK" => 0x2000,
        b"PATCH" => 0x4000,
        b"TRACE" => 0x8000,
        b"CONNECT" => 0x10000,
        _ => 0x0001,
    }
}

/// The realip module's settings after inheritance (`ngx_http_realip_merge_loc_conf()`).
#[derive(Debug)]
pub struct RealIp {
    /// `set_real_ip_from`: the trusted senders (the list is inherited whole).
    pub from: Vec<AccessNet>,
    /// `real_ip_header` (default `X-Real-IP`).
    pub header: RealIpHeader,
    /// `real_ip_recursive`.
    pub recursive: bool,
}

/// Where the client address is taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealIpHeader {
    /// `X-Real-IP` (the first such header).
    XRealIp,
    /// `X-Forwarded-For` (every such header, in order).
    XForwardedFor,
    /// Another header, lowercased (the first one of that name).
    Other(Box<str>),
}

/// One `allow` or `deny` rule (`ngx_http_access_module`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// `allow` (else `deny`).
    pub allow: bool,
    /// Whom it matches.
    pub net: AccessNet,
}

/// The clients a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessNet {
    /// `all`: every client, of every family.
    All,
    /// `unix:`: clients on unix-domain sockets.
    Unix,
    /// An IPv4 network: address and mask.
    V4(u32, u32),
    /// An IPv6 network: address and mask.
    V6(u128, u128),
}

impl AccessNet {
    /// Whether a client address falls in the network. nginx keeps one rule list per
    /// family, so an IPv4 network never matches an IPv6 client; `all` matches all.
    pub fn matches(&self, ip: Option<std::net::IpAddr>) -> bool {
        match (self, ip) {
            (AccessNet::All, _) => true,
            (AccessNet::Unix, None) => true,
            (AccessNet::V4(a, m), Some(std::net::IpAddr::V4(ip))) => u32::from(ip) & m == *a,
            (AccessNet::V6(a, m), Some(std::net::IpAddr::V6(ip))) => {
                // An IPv4-mapped client is checked against the IPv4 rules only.
                ip.to_ipv4_mapped().is_none() && u128::from(ip) & m == *a
            }
            (AccessNet::V4(a, m), Some(std::net::IpAddr::V6(ip))) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| u32::from(v4) & m == *a),
            _ => false,
        }
    }
}

/// `ngx_ptocidr()`: `ADDR[/BITS]` (IPv4 or IPv6) → the network, and whether address bits
/// below the mask were set (nginx warns `low address bits of X are meaningless` and
/// clears them). `None` for anything else.
pub fn parse_cidr(text: &str) -> Option<(AccessNet, bool)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let bits = match bits {
        None => None,
        Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
            Some(b.parse::<u32>().ok()?)
        }
        Some(_) => return None,
    };
    if let Ok(ip) = addr.parse::<std::net::Ipv4Addr>() {
        let n = bits.unwrap_or(32);
        if n > 32 {
            return None;
        }
        let mask = if n == 0 { 0 } else { u32::MAX << (32 - n) };
        let v = u32::from(ip);
        return Some((AccessNet::V4(v & mask, mask), v & mask != v));
    }
    if let Ok(ip) = addr.parse::<std::net::Ipv6Addr>() {
        let n = bits.unwrap_or(128);
        if n > 128 {
            return None;
        }
        let mask = if n == 0 { 0 } else { u128::MAX << (128 - n) };
        let v = u128::from(ip);
        return Some((AccessNet::V6(v & mask, mask), v & mask != v));
    }
    None
}

/// `ngx_http_parse_expires()`: `epoch`, `max`, `off` (not after `modified`), `@TIME`
/// (time of day, not after `modified`, at most 24 hours), `[+|-]TIME`. `None` for what
/// nginx calls an invalid value. Used at load, and per request for values with
/// variables.
pub fn parse_expires(v: &str, modified: bool) -> Option<Expires> {
    if !modified {
        match v {
            "epoch" => return Some(Expires::Epoch),
            "max" => return Some(Expires::Max),
            "off" => return Some(Expires::Off),
            _ => {}
        }
    }
    let (t, daily, minus) = if let Some(t) = v.strip_prefix('@') {
        if modified {
            return None;
        }
        (t, true, false)
    } else if let Some(t) = v.strip_prefix('+') {
        (t, false, false)
    } else if let Some(t) = v.strip_prefix('-') {
        (t, false, true)
    } else {
        (v, false, false)
    };
    let secs = sluice_parser::units::parse_time(t, true)?;
    if daily && secs > 24 * 60 * 60 {
        return None;
    }
    let secs = if minus { -secs } else { secs };
    Some(if daily {
        Expires::Daily(secs)
    } else if modified {
        Expires::Modified(secs)
    } else {
        Expires::Access(secs)
    })
}
