//! Lowering: the checked, include-expanded tree → [`RoutingTable`]. The checker has
//! validated every value already, so malformed input cannot reach here; what could still
//! fail (a regex that compiled at check time) becomes an error string, never a panic.
//!
//! Inheritance follows nginx's merge functions: a scalar unset at a level takes the
//! parent's value; the list directives (`proxy_set_header`, `add_header`,
//! `proxy_hide_header`, `access_log`) are inherited all-or-nothing (SEMANTICS §4.4).

use super::route::{LocationDef, LocationKind, LocationTree, ServerNamesBuilder};
use super::*;
use sluice_parser::ast::Directive;
use sluice_parser::units::{parse_number, parse_offset, parse_size, parse_time};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// Builds the routing table from the tree `check()` returns (`CheckOutcome::tree`).
/// `prefix` resolves relative log paths; `conf_file` is the main configuration file,
/// whose directory (the conf prefix) resolves relative certificate paths, as
/// `ngx_conf_full_name(.., 1)` does.
pub fn lower(
    tree: &[Directive],
    prefix: &std::path::Path,
    conf_file: &std::path::Path,
) -> Result<RoutingTable, String> {
    let mut l = Lower {
        prefix: prefix.to_path_buf(),
        conf_prefix: conf_file
            .parent()
            .unwrap_or(std::path::Path::new("/"))
            .to_path_buf(),
        ..Lower::default()
    };
    l.main(tree)?;
    Ok(l.finish())
}

#[derive(Default)]
struct Lower {
    prefix: PathBuf,
    /// The directory of the main configuration file.
    conf_prefix: PathBuf,
    main: Option<MainConf>,
    user_vars: Vec<String>,
    user_var_sources: Vec<UserVarSource>,
    maps: Vec<MapDef>,
    upstreams: Vec<UpstreamGroup>,
    log_formats: HashMap<String, Arc<LogFormat>>,
    servers: Vec<Server>,
    /// (address, ssl, http2, default_server, server index)
    listens: Vec<(ListenAddr, bool, bool, bool, usize)>,
    names: Vec<Vec<String>>,
}

/// Settings of one level (http, server, location, if), `None` = not set here.
#[derive(Clone, Default)]
struct Scope {
    access: Option<Vec<(bool, String)>>,
    internal: Option<bool>,
    /// `auth_request` URI; `""` for `off`.
    auth_request: Option<String>,
    /// `auth_request_set` pairs (several add up; the list is inherited whole).
    auth_request_set: Option<Vec<(String, String)>>,
    /// `satisfy any` (`true`) or `all`.
    satisfy_any: Option<bool>,
    auth_basic: Option<String>,
    auth_basic_user_file: Option<String>,
    /// `set_real_ip_from` values (several add up; the list is inherited whole).
    realip_from: Option<Vec<String>>,
    real_ip_header: Option<String>,
    real_ip_recursive: Option<bool>,
    set_headers: Option<Vec<(String, String)>>,
    http11: Option<bool>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    send_timeout_proxy: Option<Duration>,
    buffering: Option<bool>,
    request_buffering: Option<bool>,
    pass_request_headers: Option<bool>,
    pass_request_body: Option<bool>,
    hide_headers: Option<Vec<String>>,
    pass_headers: Option<Vec<String>>,
    redirect: Option<Vec<Vec<String>>>,
    next_upstream: Option<Vec<String>>,
    next_upstream_tries: Option<usize>,
    next_upstream_timeout: Option<Duration>,
    buffer_size: Option<usize>,
    client_max_body_size: Option<u64>,
    client_body_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    keepalive_timeout: Option<Duration>,
    keepalive_requests: Option<u64>,
    access_logs: Option<Vec<Vec<String>>>,
    add_headers: Option<Vec<Vec<String>>>,
    server_tokens: Option<bool>,
    default_type: Option<String>,
    tcp_nodelay: Option<bool>,
    absolute_redirect: Option<bool>,
    port_in_redirect: Option<bool>,
    client_header_timeout: Option<Duration>,
    client_header_buffer_size: Option<usize>,
    large_client_header_buffers: Option<(usize, usize)>,
    underscores_in_headers: Option<bool>,
    ignore_invalid_headers: Option<bool>,
    merge_slashes: Option<bool>,
    /// `http2 on|off` (nginx 1.25.1's directive, a sluice extension).
    http2_enable: Option<bool>,
    /// `http2_max_concurrent_streams`.
    http2_max_concurrent_streams: Option<u32>,
    /// `http2_body_preread_size`.
    http2_body_preread_size: Option<usize>,
    /// `http2_chunk_size`.
    http2_chunk_size: Option<usize>,
    /// `types { TYPE EXT…; }` entries (several blocks at one level add up).
    types: Option<Vec<(String, String)>>,
    /// `root`/`alias` as written, with what it replaces of `$uri`. nginx inherits the
    /// pair (`ngx_http_core_merge_loc_conf()` copies `alias` with `root`), so a location
    /// nested in one with `alias` maps its URIs through that alias.
    root: Option<(String, Alias)>,
    /// `index` names (several directives at one level add up; inherited whole).
    index: Option<Vec<String>>,
    /// `expires` words.
    expires: Option<Vec<String>>,
    etag: Option<bool>,
    if_modified_since: Option<String>,
    log_not_found: Option<bool>,
    /// `ssl_certificate` values (several add up; the list is inherited whole).
    ssl_certificates: Option<Vec<String>>,
    /// `ssl_certificate_key` values (likewise, a separate list).
    ssl_certificate_keys: Option<Vec<String>>,
    /// `ssl_protocols` words.
    ssl_protocols: Option<Vec<String>>,
    /// `ssl on|off` (deprecated).
    ssl_on: Option<bool>,
    /// `ssl_ciphers`, `ssl_prefer_server_ciphers`, `ssl_session_cache`,
    /// `ssl_session_timeout`, `ssl_session_tickets` as written.
    ssl_ciphers: Option<String>,
    ssl_password_file: Option<String>,
    ssl_prefer_server_ciphers: Option<bool>,
    ssl_session_cache: Option<Vec<String>>,
    ssl_session_timeout: Option<Duration>,
    ssl_session_tickets: Option<bool>,
    /// `error_page` words (several add up; the list is inherited whole).
    error_pages: Option<Vec<Vec<String>>>,
    /// `recursive_error_pages`.
    recursive_error_pages: Option<bool>,
    /// `proxy_ssl_*` values as written, by directive name (each inherited on its own).
    proxy_ssl: Option<Vec<(String, Vec<String>)>>,
}

/// What an `if` block inherits from the level it is written in.
struct IfParent<'a> {
    scope: &'a Scope,
    name: &'a str,
    regex_or_named: bool,
    handler: &'a Handler,
    server_level: bool,
}

fn arg(d: &Directive, i: usize) -> &str {
    d.args.get(i).map(|w| w.value.as_str()).unwrap_or("")
}

fn flag(d: &Directive) -> bool {
    arg(d, 0).eq_ignore_ascii_case("on")
}

fn msec(d: &Directive) -> Duration {
    Duration::from_millis(parse_time(arg(d, 0), false).unwrap_or(0).max(0) as u64)
}

fn words(d: &Directive) -> Vec<String> {
    d.args.iter().map(|w| w.value.clone()).collect()
}

fn push_list<T: Clone>(slot: &mut Option<Vec<T>>, v: T) {
    slot.get_or_insert_with(Vec::new).push(v);
}

impl Scope {
    /// Applies the directives of one block that configure this level.
    fn apply(&mut self, d: &Directive) {
        match d.name.value.as_str() {
            "allow" | "deny" => push_list(
                &mut self.access,
                (d.name.value == "allow", arg(d, 0).to_string()),
            ),
            "internal" => self.internal = Some(true),
            "auth_request" => {
                let uri = arg(d, 0);
                self.auth_request = Some(if uri == "off" { "" } else { uri }.to_string());
            }
            "auth_request_set" => push_list(
                &mut self.auth_request_set,
                (arg(d, 0).to_string(), arg(d, 1).to_string()),
            ),
            "satisfy" => self.satisfy_any = Some(arg(d, 0).eq_ignore_ascii_case("any")),
            "auth_basic" => self.auth_basic = Some(arg(d, 0).to_string()),
            "auth_basic_user_file" => self.auth_basic_user_file = Some(arg(d, 0).to_string()),
            "set_real_ip_from" => push_list(&mut self.realip_from, arg(d, 0).to_string()),
            "real_ip_header" => self.real_ip_header = Some(arg(d, 0).to_string()),
            "real_ip_recursive" => self.real_ip_recursive = Some(flag(d)),
            "proxy_set_header" => push_list(
                &mut self.set_headers,
                (arg(d, 0).to_string(), arg(d, 1).to_string()),
            ),
            "proxy_http_version" => self.http11 = Some(arg(d, 0) == "1.1"),
            "proxy_connect_timeout" => self.connect_timeout = Some(msec(d)),
            "proxy_read_timeout" => self.read_timeout = Some(msec(d)),
            "proxy_send_timeout" => self.send_timeout_proxy = Some(msec(d)),
            "proxy_buffering" => self.buffering = Some(flag(d)),
            "proxy_request_buffering" => self.request_buffering = Some(flag(d)),
            "proxy_pass_request_headers" => self.pass_request_headers = Some(flag(d)),
            "proxy_pass_request_body" => self.pass_request_body = Some(flag(d)),
            "proxy_hide_header" => {
                push_list(&mut self.hide_headers, arg(d, 0).to_ascii_lowercase())
            }
            "proxy_pass_header" => {
                push_list(&mut self.pass_headers, arg(d, 0).to_ascii_lowercase())
            }
            "proxy_redirect" => push_list(&mut self.redirect, words(d)),
            "proxy_next_upstream" => self.next_upstream = Some(words(d)),
            "proxy_next_upstream_tries" => {
                self.next_upstream_tries = parse_number(arg(d, 0)).map(|n| n as usize)
            }
            "proxy_next_upstream_timeout" => self.next_upstream_timeout = Some(msec(d)),
            "proxy_buffer_size" => self.buffer_size = parse_size(arg(d, 0)).map(|n| n as usize),
            "client_max_body_size" => {
                self.client_max_body_size = parse_offset(arg(d, 0)).map(|n| n as u64)
            }
            "client_body_timeout" => self.client_body_timeout = Some(msec(d)),
            "send_timeout" => self.send_timeout = Some(msec(d)),
            "keepalive_timeout" => self.keepalive_timeout = Some(msec(d)),
            "keepalive_requests" => {
                self.keepalive_requests = parse_number(arg(d, 0)).map(|n| n as u64)
            }
            "access_log" => push_list(&mut self.access_logs, words(d)),
            "add_header" => push_list(&mut self.add_headers, words(d)),
            "server_tokens" => self.server_tokens = Some(arg(d, 0) != "off"),
            "default_type" => self.default_type = Some(arg(d, 0).to_string()),
            "tcp_nodelay" => self.tcp_nodelay = Some(flag(d)),
            "absolute_redirect" => self.absolute_redirect = Some(flag(d)),
            "port_in_redirect" => self.port_in_redirect = Some(flag(d)),
            "client_header_timeout" => self.client_header_timeout = Some(msec(d)),
            "client_header_buffer_size" => {
                self.client_header_buffer_size = parse_size(arg(d, 0)).map(|n| n as usize)
            }
            "large_client_header_buffers" => {
                let n = parse_number(arg(d, 0)).unwrap_or(4) as usize;
                let s = parse_size(arg(d, 1)).unwrap_or(8192) as usize;
                self.large_client_header_buffers = Some((n, s));
            }
            "underscores_in_headers" => self.underscores_in_headers = Some(flag(d)),
            "ignore_invalid_headers" => self.ignore_invalid_headers = Some(flag(d)),
            "merge_slashes" => self.merge_slashes = Some(flag(d)),
            "http2" => self.http2_enable = Some(flag(d)),
            "http2_max_concurrent_streams" => {
                self.http2_max_concurrent_streams =
                    parse_number(arg(d, 0)).map(|n| n.min(u32::MAX as _) as u32)
            }
            "http2_body_preread_size" => {
                self.http2_body_preread_size = parse_size(arg(d, 0)).map(|n| n as usize)
            }
            "http2_chunk_size" => self.http2_chunk_size = parse_size(arg(d, 0)).map(|n| n as usize),
            "root" => self.root = Some((arg(d, 0).to_string(), Alias::No)),
            // The part of `$uri` it replaces depends on the location, fixed by
            // `Lower::loc_conf` once the location is known (`ngx_http_core_root()`).
            "alias" => self.root = Some((arg(d, 0).to_string(), Alias::Whole)),
            "index" => {
                for w in &d.args {
                    push_list(&mut self.index, w.value.clone());
                }
            }
            "expires" => self.expires = Some(words(d)),
            "etag" => self.etag = Some(flag(d)),
            "if_modified_since" => self.if_modified_since = Some(arg(d, 0).to_string()),
            "log_not_found" => self.log_not_found = Some(flag(d)),
            "ssl_certificate" => push_list(&mut self.ssl_certificates, arg(d, 0).to_string()),
            "ssl_certificate_key" => {
                push_list(&mut self.ssl_certificate_keys, arg(d, 0).to_string())
            }
            "ssl_protocols" => self.ssl_protocols = Some(words(d)),
            "ssl_password_file" => self.ssl_password_file = Some(arg(d, 0).to_string()),
            "ssl" => self.ssl_on = Some(flag(d)),
            "ssl_ciphers" => self.ssl_ciphers = Some(arg(d, 0).to_string()),
            "ssl_prefer_server_ciphers" => self.ssl_prefer_server_ciphers = Some(flag(d)),
            "ssl_session_cache" => self.ssl_session_cache = Some(words(d)),
            "ssl_session_timeout" => {
                self.ssl_session_timeout =
                    parse_time(arg(d, 0), true).map(|t| Duration::from_secs(t.max(0) as u64))
            }
            "ssl_session_tickets" => self.ssl_session_tickets = Some(flag(d)),
            "error_page" => push_list(&mut self.error_pages, words(d)),
            "recursive_error_pages" => self.recursive_error_pages = Some(flag(d)),
            n if n.starts_with("proxy_ssl_") => {
                let list = self.proxy_ssl.get_or_insert_with(Vec::new);
                list.retain(|(k, _)| k != n);
                list.push((n.to_string(), words(d)));
            }
            // `sendfile`, `tcp_nopush`: socket and copy tuning only (SEMANTICS §10);
            // sluice streams files in chunks either way.
            "types" => {
                let list = self.types.get_or_insert_with(Vec::new);
                for e in d.block.iter().flat_map(|b| b.items.iter()) {
                    for ext in &e.args {
                        list.push((ext.value.clone(), e.name.value.clone()));
                    }
                }
            }
            _ => {}
        }
    }

    /// This level's settings over the parent's (nginx's merge: unset takes the parent's).
    fn inherit(&self, parent: &Scope) -> Scope {
        macro_rules! m {
            ($($f:ident),*) => { Scope { $($f: self.$f.clone().or_else(|| parent.$f.clone()),)* } };
        }
        let mut out = m!(
            access,
            internal,
            auth_request,
            auth_request_set,
            satisfy_any,
            auth_basic,
            auth_basic_user_file,
            realip_from,
            real_ip_header,
            real_ip_recursive,
            set_headers,
            http11,
            connect_timeout,
            read_timeout,
            send_timeout_proxy,
            buffering,
            request_buffering,
            pass_request_headers,
            pass_request_body,
            hide_headers,
            pass_headers,
            redirect,
            next_upstream,
            next_upstream_tries,
            next_upstream_timeout,
            buffer_size,
            client_max_body_size,
            client_body_timeout,
            send_timeout,
            keepalive_timeout,
            keepalive_requests,
            access_logs,
            add_headers,
            server_tokens,
            default_type,
            tcp_nodelay,
            absolute_redirect,
            port_in_redirect,
            client_header_timeout,
            client_header_buffer_size,
            large_client_header_buffers,
            underscores_in_headers,
            ignore_invalid_headers,
            merge_slashes,
            http2_enable,
            http2_max_concurrent_streams,
            http2_body_preread_size,
            http2_chunk_size,
            types,
            root,
            index,
            expires,
            etag,
            if_modified_since,
            log_not_found,
            ssl_certificates,
            ssl_certificate_keys,
            ssl_protocols,
            ssl_on,
            ssl_ciphers,
            ssl_password_file,
            ssl_prefer_server_ciphers,
            ssl_session_cache,
            ssl_session_timeout,
            ssl_session_tickets,
            error_pages,
            recursive_error_pages,
            proxy_ssl
        );
        out.proxy_ssl = self.merge_proxy_ssl(parent);
        out
    }

    /// `proxy_ssl_*`: each directive inherits on its own, so the lists merge by name
    /// (this level's value wins).
    fn merge_proxy_ssl(&self, parent: &Scope) -> Option<Vec<(String, Vec<String>)>> {
        match (&self.proxy_ssl, &parent.proxy_ssl) {
            (Some(mine), Some(theirs)) => {
                let mut out = theirs.clone();
                out.retain(|(k, _)| !mine.iter().any(|(m, _)| m == k));
                out.extend(mine.iter().cloned());
                Some(out)
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        }
    }
}

const COMBINED: &str =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// nginx's default hidden response headers (SEMANTICS §4.6).
const HIDDEN: &[&str] = &[
    "date",
    "server",
    "x-pad",
    "x-accel-expires",
    "x-accel-redirect",
    "x-accel-limit-rate",
    "x-accel-buffering",
    "x-accel-charset",
];

impl Lower {
    fn finish(self) -> RoutingTable {
        let mut listeners: Vec<Listener> = Vec::new();
        let mut addrs: Vec<ListenAddr> = Vec::new();
        for (a, ..) in &self.listens {
            if !addrs.contains(a) {
                addrs.push(a.clone());
            }
        }
        for a in addrs {
            let on: Vec<&(ListenAddr, bool, bool, bool, usize)> =
                self.listens.iter().filter(|l| l.0 == a).collect();
            let default_server = on.iter().find(|l| l.3).or(on.first()).map_or(0, |l| l.4);
            // `listen ... http2` (1.22), or `http2 on` (1.25.1) in the default server:
            // nginx 1.25 asks the SNI-chosen server, sluice settles ALPN per address.
            let http2 = on.iter().any(|l| l.2)
                || self
                    .servers
                    .get(default_server)
                    .is_some_and(|s| s.http2.enable);
            // `ngx_http_init_connection()`: TLS when the `listen` says `ssl` or the
            // default server of the address has the deprecated `ssl on`.
            let ssl = on.iter().any(|l| l.1)
                || self
                    .servers
                    .get(default_server)
                    .is_some_and(|s| s.tls.ssl_on);
            let mut names = ServerNamesBuilder::new();
            for l in &on {
                for n in &self.names[l.4] {
                    let _ = names.add(n, l.4);
                }
            }
            listeners.push(Listener {
                addr: a,
                ssl,
                http2,
                ipv6only: true,
                backlog: 511,
                reuseport: false,
                default_server,
                names: names.build(),
                specific: Vec::new(),
            });
        }
        // A specific address whose port also has a wildcard `listen` is served through
        // the wildcard socket (`ngx_http_optimize_servers()`: only the wildcard is bound
        // unless `bind` is given; SEMANTICS §2.1).
        let wildcard_of = |a: &ListenAddr| match a {
            ListenAddr::Tcp(sa) if !sa.ip().is_unspecified() => {
                let any: IpAddr = if sa.is_ipv4() {
                    Ipv4Addr::UNSPECIFIED.into()
                } else {
                    Ipv6Addr::UNSPECIFIED.into()
                };
                Some(ListenAddr::Tcp(SocketAddr::new(any, sa.port())))
            }
            _ => None,
        };
        let (nested, mut top): (Vec<Listener>, Vec<Listener>) =
            listeners.into_iter().partition(|l| {
                wildcard_of(&l.addr).is_some_and(|w| self.listens.iter().any(|x| x.0 == w))
            });
        for l in nested {
            if let Some(w) = wildcard_of(&l.addr) {
                if let Some(parent) = top.iter_mut().find(|t| t.addr == w) {
                    parent.specific.push(l);
                }
            }
        }
        let listeners = top;
        RoutingTable {
            listeners,
            servers: self.servers,
            upstreams: self.upstreams,
            maps: self.maps,
            user_vars: self.user_vars,
            user_var_sources: self.user_var_sources,
            main: self.main.unwrap_or_else(default_main),
        }
    }

    fn define(&mut self, name: &str, src: UserVarSource) {
        let n = name.to_ascii_lowercase();
        if !self.user_vars.contains(&n) {
            self.user_vars.push(n);
            self.user_var_sources.push(src);
        }
    }

    fn t(&self, s: &str) -> Template {
        Template::compile(s, &self.user_vars)
    }

    fn main(&mut self, tree: &[Directive]) -> Result<(), String> {
        let mut m = default_main();
        for d in tree {
            match d.name.value.as_str() {
                "worker_processes" => {
                    m.worker_processes = match arg(d, 0) {
                        "auto" => std::thread::available_parallelism().map_or(1, |n| n.get()),
                        v => parse_number(v).unwrap_or(1).max(1) as usize,
                    }
                }
                "pid" => m.pid = self.prefix_path(arg(d, 0)),
                "worker_rlimit_nofile" => {
                    m.worker_rlimit_nofile = parse_number(arg(d, 0)).map(|n| n as u64)
                }
                "daemon" => m.daemon = flag(d),
                "error_log" => {
                    let f = arg(d, 0);
                    m.error_log = (f != "stderr").then(|| self.prefix_path(f));
                    if let Some(l) = d.args.get(1).and_then(|w| LogLevel::from_name(&w.value)) {
                        m.error_level = l;
                    }
                }
                "events" => {
                    for e in d.block.iter().flat_map(|b| b.items.iter()) {
                        if e.name.value == "worker_connections" {
                            m.worker_connections = parse_number(arg(e, 0)).unwrap_or(512) as usize;
                        }
                    }
                }
                _ => {}
            }
        }
        self.main = Some(m);
        if let Some(http) = tree.iter().find(|d| d.name.value == "http") {
            self.http(http)?;
        }
        Ok(())
    }

    fn prefix_path(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            PathBuf::from(p)
        } else {
            self.prefix.join(p)
        }
    }

    fn http(&mut self, http: &Directive) -> Result<(), String> {
        let items: &[Directive] = http.block.as_ref().map_or(&[], |b| &b.items);
        // 1. user variables first, so templates resolve them.
        self.collect_vars(items)?;
        // 2. log formats.
        let combined = Arc::new(LogFormat {
            name: "combined".into(),
            template: self.t(COMBINED),
            escape: LogEscape::Default,
        });
        self.log_formats.insert("combined".into(), combined);
        for d in items.iter().filter(|d| d.name.value == "log_format") {
            let mut rest = &d.args[1..];
            let mut escape = LogEscape::Default;
            if let Some(e) = rest.first().and_then(|w| w.value.strip_prefix("escape=")) {
                escape = match e {
                    "json" => LogEscape::Json,
                    "none" => LogEscape::None,
                    _ => LogEscape::Default,
                };
                rest = &rest[1..];
            }
            let text: String = rest.iter().map(|w| w.value.as_str()).collect();
            let f = LogFormat {
                name: arg(d, 0).to_string(),
                template: self.t(&text),
                escape,
            };
            self.log_formats.insert(arg(d, 0).to_string(), Arc::new(f));
        }
        // 3. maps.
        for d in items.iter().filter(|d| d.name.value == "map") {
            let m = self.map(d)?;
            self.maps.push(m);
        }
        // 4. explicit upstreams (implicit ones are added as proxy_pass lines are met).
        for d in items.iter().filter(|d| d.name.value == "upstream") {
            let g = self.upstream(d)?;
            self.upstreams.push(g);
        }
        // 5. servers.
        let mut scope = Scope::default();
        for d in items {
            scope.apply(d);
        }
        for d in items.iter().filter(|d| d.name.value == "server") {
            self.server(d, &scope)?;
        }
        Ok(())
    }

    /// Every variable the configuration defines, in order.
    fn collect_vars(&mut self, items: &[Directive]) -> Result<(), String> {
        for d in items {
            let name = d.name.value.as_str();
            match name {
                "map" => {
                    let idx = self.user_vars.len();
                    let _ = idx;
                    if let Some(v) = arg(d, 1).strip_prefix('$') {
                        let map_index = items[..]
                            .iter()
                            .filter(|x| x.name.value == "map")
                            .position(|x| std::ptr::eq(x, d))
                            .unwrap_or(0);
                        self.define(v, UserVarSource::Map(map_index));
                    }
                    if let Some(b) = &d.block {
                        for e in &b.items {
                            if let Some(re) = e.name.value.strip_prefix('~') {
                                let (p, ci) =
                                    re.strip_prefix('*').map_or((re, false), |p| (p, true));
                                for n in capture_names(p, ci)? {
                                    self.define(&n, UserVarSource::Capture);
                                }
                            }
                        }
                    }
                    continue;
                }
                "geo" => {
                    if let Some(v) = d.args.last().and_then(|w| w.value.strip_prefix('$')) {
                        self.define(v, UserVarSource::Other);
                    }
                    continue;
                }
                "split_clients" => {
                    if let Some(v) = arg(d, 1).strip_prefix('$') {
                        self.define(v, UserVarSource::Other);
                    }
                    continue;
                }
                "types" => continue,
                "set" | "auth_request_set" | "perl_set" => {
                    // `set $args` writes the built-in (`ngx_http_variable_set_args()`).
                    if let Some(v) = arg(d, 0)
                        .strip_prefix('$')
                        .filter(|v| !(name == "set" && v.eq_ignore_ascii_case("args")))
                    {
                        self.define(
                            v,
                            if name == "set" {
                                UserVarSource::Set
                            } else {
                                UserVarSource::Other
                            },
                        );
                    }
                }
                "location" => {
                    let (m, p) = if d.args.len() == 2 {
                        (arg(d, 0), arg(d, 1))
                    } else {
                        ("", arg(d, 0))
                    };
                    let (re, ci) = match (m, p) {
                        ("~", p) => (Some(p), false),
                        ("~*", p) => (Some(p), true),
                        ("", p) if p.starts_with("~*") => (Some(&p[2..]), true),
                        ("", p) if p.starts_with('~') => (Some(&p[1..]), false),
                        _ => (None, false),
                    };
                    if let Some(re) = re {
                        for n in capture_names(re, ci)? {
                            self.define(&n, UserVarSource::Capture);
                        }
                    }
                }
                "server_name" => {
                    for w in &d.args {
                        if let Some(re) = w.value.strip_prefix('~') {
                            for n in capture_names(re, true)? {
                                self.define(&n, UserVarSource::Capture);
                            }
                        }
                    }
                }
                "rewrite" => {
                    for n in capture_names(arg(d, 0), false)? {
                        self.define(&n, UserVarSource::Capture);
                    }
                }
                "if" => {
                    if let Some(i) = d
                        .args
                        .iter()
                        .position(|w| matches!(w.value.as_str(), "~" | "~*" | "!~" | "!~*"))
                    {
                        if let Some(w) = d.args.get(i + 1) {
                            // The last word loses the one `)` that closes the condition.
                            let re = if i + 2 == d.args.len() {
                                w.value.strip_suffix(')').unwrap_or(&w.value)
                            } else {
                                &w.value
                            };
                            for n in capture_names(re, false).unwrap_or_default() {
                                self.define(&n, UserVarSource::Capture);
                            }
                        }
                    }
                }
                _ => {}
            }
            if let Some(b) = &d.block {
                self.collect_vars(&b.items)?;
            }
        }
        Ok(())
    }

    fn map(&self, d: &Directive) -> Result<MapDef, String> {
        let mut m = MapDef {
            source: self.t(arg(d, 0)),
            exact: HashMap::default(),
            regexes: Vec::new(),
            wild_front: Vec::new(),
            wild_back: Vec::new(),
            hostnames: false,
            default: Template::default(),
            volatile: false,
        };
        for e in d.block.iter().flat_map(|b| b.items.iter()) {
            let key = e.name.value.as_str();
            if e.args.is_empty() {
                match key {
                    "hostnames" => m.hostnames = true,
                    "volatile" => m.volatile = true,
                    _ => {}
                }
                continue;
            }
            let value = self.t(arg(e, 0));
            if key == "default" {
                m.default = value;
            } else if let Some(re) = key.strip_prefix('~') {
                let (p, ci) = re.strip_prefix('*').map_or((re, false), |p| (p, true));
                m.regexes.push((compile(p, ci)?, value));
            } else {
                let k = key.strip_prefix('\\').unwrap_or(key).to_ascii_lowercase();
                if m.hostnames {
                    if let Some(s) = k.strip_prefix('*') {
                        m.wild_front.push((s.as_bytes().to_vec(), value));
                        continue;
                    }
                    if let Some(p) = k.strip_suffix('*') {
                        m.wild_back.push((p.as_bytes().to_vec(), value));
                        continue;
                    }
                    if let Some(s) = k.strip_prefix('.') {
                        m.exact
                            .entry(s.as_bytes().to_vec())
                            .or_insert_with(|| value.clone());
                        m.wild_front.push((k.as_bytes().to_vec(), value));
                        continue;
                    }
                }
                m.exact.entry(k.into_bytes()).or_insert(value);
            }
        }
        // Longest wildcard first.
        m.wild_front.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        m.wild_back.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        Ok(m)
    }

    fn upstream(&self, d: &Directive) -> Result<UpstreamGroup, String> {
        let mut g = UpstreamGroup::new(arg(d, 0).to_string(), Vec::new());
        for e in d.block.iter().flat_map(|b| b.items.iter()) {
            // nginx 1.22.1: `keepalive` wraps the balancer set before it; a balancer
            // directive after it replaces the wrapper, and keepalive is silently lost
            // (SEMANTICS §8.1, trap 23).
            if matches!(e.name.value.as_str(), "ip_hash" | "least_conn" | "hash") {
                g.keepalive = 0;
            }
            match e.name.value.as_str() {
                "server" => g.peers.extend(peers_of(e)?),
                "ip_hash" => g.method = Method::IpHash,
                "least_conn" => g.method = Method::LeastConn,
                "hash" => {
                    g.method = Method::Hash {
                        consistent: arg(e, 1) == "consistent",
                    };
                    g.hash_key = Some(self.t(arg(e, 0)));
                }
                "keepalive" => g.keepalive = parse_number(arg(e, 0)).unwrap_or(0) as usize,
                "keepalive_timeout" => g.keepalive_timeout = msec(e),
                "keepalive_requests" => {
                    g.keepalive_requests = parse_number(arg(e, 0)).unwrap_or(1000) as u64
                }
                "keepalive_time" => g.keepalive_time = msec(e),
                _ => {}
            }
        }
        Ok(g)
    }

    /// The group a static `proxy_pass` host names: an explicit upstream of that name, or
    /// an implicit one resolved now.
    fn upstream_for(
        &mut self,
        host: &str,
        port: Option<u16>,
        default_port: u16,
    ) -> Result<usize, String> {
        if port.is_none() {
            if let Some(i) = self.upstreams.iter().position(|u| {
                u.name.eq_ignore_ascii_case(host) && !u.peers.is_empty() && !u.name.contains(':')
            }) {
                return Ok(i);
            }
        }
        let p = port.unwrap_or(default_port);
        let name = format!("{host}:{p}");
        if let Some(i) = self.upstreams.iter().position(|u| u.name == name) {
            return Ok(i);
        }
        let text = if port.is_some() {
            name.clone()
        } else {
            host.to_string()
        };
        let addrs = resolve(host, p)?;
        let peers = addrs
            .into_iter()
            .map(|addr| Peer::new(addr, text.clone()))
            .collect();
        self.upstreams.push(UpstreamGroup::new(name, peers));
        Ok(self.upstreams.len() - 1)
    }

    fn server(&mut self, d: &Directive, http: &Scope) -> Result<(), String> {
        let items: &[Directive] = d.block.as_ref().map_or(&[], |b| &b.items);
        let mut own = Scope::default();
        for x in items {
            own.apply(x);
        }
        let scope = own.inherit(http);
        let index = self.servers.len();
        let mut names: Vec<String> = Vec::new();
        let mut listens = 0;
        for x in items {
            match x.name.value.as_str() {
                // As written: `add` lowercases plain names itself, and an uppercase letter is
                // what makes a regex name case-insensitive (SEMANTICS §2.3).
                // `$hostname` is the machine's name (`ngx_http_core_server_name()`
                // substitutes `cycle->hostname`, lowercased).
                "server_name" => names.extend(x.args.iter().map(|w| {
                    if w.value.eq_ignore_ascii_case("$hostname") {
                        machine_hostname()
                    } else {
                        w.value.clone()
                    }
                })),
                "listen" => {
                    listens += 1;
                    let a = listen_addr(arg(x, 0))?;
                    let params: Vec<&str> = x.args[1..].iter().map(|w| w.value.as_str()).collect();
                    self.listens.push((
                        a,
                        params.contains(&"ssl"),
                        params.contains(&"http2"),
                        params
                            .iter()
                            .any(|p| *p == "default_server" || *p == "default"),
                        index,
                    ));
                }
                _ => {}
            }
        }
        if listens == 0 {
            let port = if nix_is_root() { 80 } else { 8000 };
            self.listens.push((
                ListenAddr::Tcp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))),
                false,
                false,
                false,
                index,
            ));
        }
        if names.is_empty() {
            names.push(String::new());
        }
        let first = names
            .first()
            .map(|n| {
                if n.starts_with('~') {
                    n.clone()
                } else {
                    n.to_ascii_lowercase()
                }
            })
            .unwrap_or_default();
        let first = first.strip_prefix('.').map(str::to_string).unwrap_or(first);
        self.names.push(names);

        let mut locs: Vec<Arc<LocConf>> = Vec::new();
        let mut defs: Vec<LocationDef> = Vec::new();
        let mut server_conf = self.loc_conf(items, &scope, "", false, &mut locs, &mut defs)?;
        // The server level's instructions run in the server-rewrite phase only; nginx
        // skips the rewrite phase for the server's own configuration.
        let rewrites = std::mem::take(&mut server_conf.rewrites);
        let locations = LocationTree::build(&defs)?;
        self.servers.push(Server {
            name: first,
            locations,
            locs,
            conf: Arc::new(server_conf),
            rewrites,
            client_header_timeout: scope
                .client_header_timeout
                .unwrap_or(Duration::from_secs(60)),
            client_header_buffer_size: scope.client_header_buffer_size.unwrap_or(1024),
            large_client_header_buffers: scope.large_client_header_buffers.unwrap_or((4, 8192)),
            underscores_in_headers: scope.underscores_in_headers.unwrap_or(false),
            ignore_invalid_headers: scope.ignore_invalid_headers.unwrap_or(true),
            merge_slashes: scope.merge_slashes.unwrap_or(true),
            // nginx 1.22's defaults (`ngx_http_v2_merge_srv_conf()`).
            http2: Http2Conf {
                enable: scope.http2_enable.unwrap_or(false),
                max_concurrent_streams: scope.http2_max_concurrent_streams.unwrap_or(128),
                body_preread_size: scope.http2_body_preread_size.unwrap_or(65536),
                chunk_size: scope.http2_chunk_size.unwrap_or(8192),
            },
            tls: self.server_tls(&scope),
        });
        Ok(())
    }

    /// `ngx_http_ssl_merge_srv_conf()`: certificates and keys (each list inherited whole,
    /// paired in order; the checker made sure every certificate has a key) and
    /// `ssl_protocols`.
    fn server_tls(&self, s: &Scope) -> ServerTls {
        let certs = s.ssl_certificates.as_deref().unwrap_or_default();
        let keys = s.ssl_certificate_keys.as_deref().unwrap_or_default();
        ServerTls {
            certs: certs
                .iter()
                .zip(keys)
                .map(|(c, k)| CertPair {
                    cert: self.conf_path(c),
                    key: self.conf_path(k),
                    passwords: s.ssl_password_file.as_deref().map(|p| self.conf_path(p)),
                })
                .collect(),
            protocols: s
                .ssl_protocols
                .as_deref()
                .map(TlsProtocols::from_words)
                .unwrap_or_default(),
            ssl_on: s.ssl_on.unwrap_or(false),
            ciphers: s
                .ssl_ciphers
                .as_deref()
                .and_then(|c| match super::ciphers::parse(c) {
                    super::ciphers::Ciphers::Suites { chosen, .. } => Some(chosen),
                    super::ciphers::Ciphers::NoMatch => None,
                }),
            prefer_server_ciphers: s.ssl_prefer_server_ciphers.unwrap_or(false),
            session_cache: session_cache(s.ssl_session_cache.as_deref()),
            session_timeout: s.ssl_session_timeout.unwrap_or(Duration::from_secs(300)),
            session_tickets: s.ssl_session_tickets.unwrap_or(true),
        }
    }

    /// `ngx_conf_full_name(.., 1)`: relative to the directory of the main configuration
    /// file (written as the checker does, so messages name the same path).
    fn conf_path(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            return PathBuf::from(p);
        }
        PathBuf::from(format!(
            "{}/{}",
            self.conf_prefix.display().to_string().trim_end_matches('/'),
            p
        ))
    }

    /// The configuration of one level and, recursively, of its locations.
    fn loc_conf(
        &mut self,
        items: &[Directive],
        scope: &Scope,
        name: &str,
        regex_or_named: bool,
        locs: &mut Vec<Arc<LocConf>>,
        defs: &mut Vec<LocationDef>,
    ) -> Result<LocConf, String> {
        let mut handler = Handler::Static;
        for x in items {
            if x.name.value == "proxy_pass" {
                handler = Handler::Proxy(Arc::new(self.proxy_pass(arg(x, 0))?));
            }
            // `ngx_http_set_stub_status()` sets the location's handler, as `proxy_pass`
            // does: the last one written wins.
            if x.name.value == "stub_status" {
                handler = Handler::StubStatus;
            }
        }
        let limit_except = match items.iter().find(|x| x.name.value == "limit_except") {
            Some(x) => Some(Arc::new(self.limit_except(
                x,
                scope,
                name,
                regex_or_named,
                &handler,
            )?)),
            None => None,
        };
        let server_level = name.is_empty();
        let parent = IfParent {
            scope,
            name,
            regex_or_named,
            handler: &handler,
            server_level,
        };
        let rewrites = self.rewrite_ops(items, &parent)?;
        let try_files = items
            .iter()
            .find(|x| x.name.value == "try_files")
            .map(|x| Arc::new(self.try_files(x)));
        for x in items.iter().filter(|x| x.name.value == "location") {
            let (kind, lname) = location_kind(x);
            let b: &[Directive] = x.block.as_ref().map_or(&[], |b| &b.items);
            let mut own = Scope::default();
            for y in b {
                own.apply(y);
            }
            // `ngx_http_core_root()`: `alias` replaces the location name's length of
            // `$uri`; in a regex location its value is the whole file name.
            if let Some((_, a @ Alias::Whole)) = &mut own.root {
                if !matches!(kind, LocationKind::Regex { .. }) {
                    *a = Alias::Prefix(lname.len());
                }
            }
            let child_scope = own.inherit(scope);
            let id = locs.len();
            locs.push(Arc::new(placeholder_conf()));
            let mut children = Vec::new();
            let is_re = matches!(kind, LocationKind::Regex { .. } | LocationKind::Named);
            let conf = self.loc_conf(b, &child_scope, &lname, is_re, locs, &mut children)?;
            // `= /x/` redirects `/x` too (checked on nginx 1.22.1).
            let auto_redirect = lname.ends_with('/')
                && matches!(conf.handler, Handler::Proxy(_))
                && matches!(
                    kind,
                    LocationKind::Prefix | LocationKind::PrefixNoRegex | LocationKind::Exact
                );
            locs[id] = Arc::new(conf);
            defs.push(LocationDef {
                kind,
                name: lname,
                id,
                auto_redirect,
                children,
            });
        }
        let mut conf = self.finish_conf(scope, name, regex_or_named, handler);
        conf.rewrites = Arc::new(rewrites);
        conf.try_files = try_files;
        conf.limit_except = limit_except;
        Ok(conf)
    }

    /// A `limit_except` block (`ngx_http_core_limit_except()`): a nameless location in
    /// the enclosing one, merged with it. Its handler is its own `proxy_pass`, else the
    /// enclosing `proxy_pass` (`ngx_http_proxy_merge_loc_conf()` gives a `lmt_excpt`
    /// location without a handler the inherited upstream's), else static files.
    fn limit_except(
        &mut self,
        x: &Directive,
        parent: &Scope,
        name: &str,
        regex_or_named: bool,
        parent_handler: &Handler,
    ) -> Result<LimitExcept, String> {
        let mut mask: u32 = 0xffff_ffff;
        for w in &x.args {
            mask &= !method_bit(w.value.to_ascii_uppercase().as_bytes());
        }
        if mask & method_bit(b"GET") == 0 {
            mask &= !method_bit(b"HEAD");
        }
        let items: &[Directive] = x.block.as_ref().map_or(&[], |b| &b.items);
        let mut own = Scope::default();
        for y in items {
            own.apply(y);
        }
        let scope = own.inherit(parent);
        let mut handler = None;
        for y in items {
            if y.name.value == "proxy_pass" {
                handler = Some(Handler::Proxy(Arc::new(self.proxy_pass(arg(y, 0))?)));
            }
        }
        let conf = match handler {
            Some(h) => self.finish_conf(&scope, name, true, h),
            None => {
                let h = match parent_handler {
                    Handler::Proxy(p) => Handler::Proxy(p.clone()),
                    _ => Handler::Static,
                };
                self.finish_conf(&scope, name, regex_or_named, h)
            }
        };
        Ok(LimitExcept {
            mask,
            conf: Arc::new(conf),
        })
    }

    /// The rewrite-module instructions of one level, in order (`ngx_http_rewrite()`,
    /// `ngx_http_rewrite_return()`, `ngx_http_rewrite_set()`, `ngx_http_rewrite_break()`,
    /// `ngx_http_rewrite_if()`).
    fn rewrite_ops(
        &mut self,
        items: &[Directive],
        parent: &IfParent<'_>,
    ) -> Result<Vec<RewriteOp>, String> {
        let mut ops = Vec::new();
        for x in items {
            match x.name.value.as_str() {
                "rewrite" => ops.push(RewriteOp::Rewrite(Arc::new(self.rewrite(x)?))),
                "return" => {
                    let v0 = arg(x, 0);
                    ops.push(match parse_number(v0) {
                        Some(code) => RewriteOp::Return {
                            code: code as u16,
                            text: x.args.get(1).map(|w| self.t(&w.value)),
                        },
                        None => RewriteOp::Return {
                            code: 302,
                            text: Some(self.t(v0)),
                        },
                    });
                }
                "set" => {
                    let v = arg(x, 0).trim_start_matches('$');
                    let target = if v.eq_ignore_ascii_case("args") {
                        SetTarget::Args
                    } else {
                        match Var::resolve(&v.to_ascii_lowercase(), &self.user_vars) {
                            Var::User(i) => SetTarget::User(i),
                            // The checker refused other names already.
                            _ => continue,
                        }
                    };
                    ops.push(RewriteOp::Set {
                        target,
                        value: self.t(arg(x, 1)),
                    });
                }
                "break" => ops.push(RewriteOp::Break),
                "if" => {
                    let cond = Arc::new(self.condition(x)?);
                    let b: &[Directive] = x.block.as_ref().map_or(&[], |b| &b.items);
                    let body = Arc::new(self.rewrite_ops(b, parent)?);
                    let conf = if parent.server_level {
                        None
                    } else {
                        Some(Arc::new(self.if_conf(b, parent)?))
                    };
                    ops.push(RewriteOp::If { cond, conf, body });
                }
                _ => {}
            }
        }
        Ok(ops)
    }

    /// A location-level `if` block's configuration: a nameless location nested in the
    /// enclosing one, merged with it like any other (`ngx_http_rewrite_if()` adds it with
    /// `noname`). Without a `proxy_pass` of its own it keeps the enclosing one, with its
    /// URI part and location name (`ngx_http_proxy_merge_loc_conf()` copies them for a
    /// `noname` location).
    fn if_conf(&mut self, items: &[Directive], parent: &IfParent<'_>) -> Result<LocConf, String> {
        let mut own = Scope::default();
        for y in items {
            own.apply(y);
        }
        let scope = own.inherit(parent.scope);
        let mut handler = None;
        for x in items {
            if x.name.value == "proxy_pass" {
                handler = Some(Handler::Proxy(Arc::new(self.proxy_pass(arg(x, 0))?)));
            }
        }
        Ok(match handler {
            Some(h) => self.finish_conf(&scope, parent.name, true, h),
            None => self.finish_conf(
                &scope,
                parent.name,
                parent.regex_or_named,
                parent.handler.clone(),
            ),
        })
    }

    /// A `rewrite` directive (`ngx_http_rewrite()`).
    fn rewrite(&self, x: &Directive) -> Result<Rewrite, String> {
        let re = compile(arg(x, 0), false)?;
        let raw = arg(x, 1);
        let (repl, add_args) = match raw.strip_suffix('?') {
            Some(r) => (r, false),
            None => (raw, true),
        };
        let url =
            raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("$scheme");
        let (mut redirect, mut stop, mut break_cycle) = (if url { 302 } else { 0 }, url, false);
        match arg(x, 2) {
            "last" => stop = true,
            "break" => {
                stop = true;
                break_cycle = true;
            }
            "redirect" => {
                redirect = 302;
                stop = true;
            }
            "permanent" => {
                redirect = 301;
                stop = true;
            }
            _ => {}
        }
        let repl = self.t(repl);
        let has_args = repl
            .parts
            .iter()
            .any(|p| matches!(p, TPart::Lit(l) if l.contains(&b'?')));
        Ok(Rewrite {
            re,
            repl,
            redirect,
            stop,
            break_cycle,
            add_args,
            has_args,
        })
    }

    /// An `if` condition, already validated by the checker
    /// (`ngx_http_rewrite_if_condition()`).
    fn condition(&self, x: &Directive) -> Result<Condition, String> {
        let mut v: Vec<String> = x.args.iter().map(|w| w.value.clone()).collect();
        if let Some(first) = v.first_mut() {
            if first.starts_with('(') {
                first.remove(0);
            }
            if first.is_empty() {
                v.remove(0);
            }
        }
        if let Some(last) = v.last_mut() {
            if last.ends_with(')') {
                last.pop();
            }
            if last.is_empty() {
                v.pop();
            }
        }
        let p = v.first().cloned().unwrap_or_default();
        if p.starts_with('$') {
            let lhs = self.t(&p);
            let (Some(op), Some(rhs)) = (v.get(1), v.get(2)) else {
                return Ok(Condition::Var(lhs));
            };
            return Ok(match op.as_str() {
                "=" | "!=" => Condition::Eq {
                    lhs,
                    rhs: self.t(rhs),
                    negate: op == "!=",
                },
                _ => Condition::Regex {
                    lhs,
                    re: compile(rhs, op.ends_with('*'))?,
                    negate: op.starts_with('!'),
                },
            });
        }
        let negate = p.starts_with('!');
        let op = match p.trim_start_matches('!') {
            "-f" => FileTest::Plain,
            "-d" => FileTest::Dir,
            "-e" => FileTest::Exists,
            _ => FileTest::Exec,
        };
        Ok(Condition::File {
            path: self.t(v.get(1).map_or("", String::as_str)),
            op,
            negate,
        })
    }

    /// `ngx_http_core_try_files()`: a name ending in `/` (not the last) accepts a
    /// directory and loses the slash; the last is `=CODE` or a URI.
    fn try_files(&self, x: &Directive) -> TryFiles {
        let n = x.args.len();
        let files = x.args[..n.saturating_sub(1)]
            .iter()
            .map(|w| match w.value.strip_suffix('/') {
                Some(v) => (self.t(v), true),
                None => (self.t(&w.value), false),
            })
            .collect();
        let last = arg(x, n.saturating_sub(1));
        let last = match last.strip_prefix('=').and_then(parse_number) {
            Some(code) => TryLast::Code(code as u16),
            None => TryLast::Uri(self.t(last)),
        };
        TryFiles { files, last }
    }

    fn proxy_pass(&mut self, url: &str) -> Result<ProxyPass, String> {
        if url.contains('$') {
            return Ok(ProxyPass::Dynamic(self.t(url)));
        }
        let lower = url.to_ascii_lowercase();
        let (rest, tls, default_port) = if lower.starts_with("https://") {
            (&url[8..], true, 443)
        } else {
            (&url[7..], false, 80)
        };
        let (hostport, uri) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest.as_bytes()[i..].to_vec())),
            None => (rest, None),
        };
        if let Some(path) = hostport.strip_prefix("unix:") {
            let (sock, uri) = match rest[5..].split_once(":/") {
                Some((s, u)) => (s.to_string(), Some(format!("/{u}").into_bytes())),
                None => (path.to_string(), None),
            };
            self.upstreams.push(UpstreamGroup::new(
                format!("unix:{sock}"),
                vec![Peer {
                    unix: Some(PathBuf::from(&sock)),
                    ..Peer::new(
                        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                        format!("unix:{sock}"),
                    )
                }],
            ));
            return Ok(ProxyPass::Static {
                upstream: self.upstreams.len() - 1,
                tls,
                uri,
                proxy_host: "localhost".into(),
                proxy_port: default_port,
                url: url.to_string(),
            });
        }
        let (host, port) = split_host_port(hostport);
        let upstream = self.upstream_for(host, port, default_port)?;
        let proxy_host = match port {
            Some(p) if p != default_port => format!("{host}:{p}"),
            _ => host.to_string(),
        };
        Ok(ProxyPass::Static {
            upstream,
            tls,
            uri,
            proxy_host,
            proxy_port: port.unwrap_or(default_port),
            url: url.to_string(),
        })
    }

    fn finish_conf(
        &self,
        s: &Scope,
        name: &str,
        regex_or_named: bool,
        handler: Handler,
    ) -> LocConf {
        let sec = Duration::from_secs;
        // proxy_set_header: the level's list, then nginx's defaults not overridden.
        let mut set: Vec<SetHeader> = Vec::new();
        for (n, v) in s.set_headers.iter().flatten() {
            set.push(SetHeader {
                lower: n.to_ascii_lowercase().into_bytes().into(),
                name: n.as_bytes().into(),
                value: self.t(v),
            });
        }
        let defaults: [(&str, &str); 8] = [
            ("Host", "$proxy_host"),
            ("Connection", "close"),
            ("Content-Length", "$proxy_internal_body_length"),
            ("Transfer-Encoding", "$proxy_internal_chunked"),
            ("TE", ""),
            ("Keep-Alive", ""),
            ("Expect", ""),
            ("Upgrade", ""),
        ];
        for (n, v) in defaults {
            let lower = n.to_ascii_lowercase();
            if !set.iter().any(|h| *h.lower == *lower.as_bytes()) {
                set.push(SetHeader {
                    lower: lower.into_bytes().into(),
                    name: n.as_bytes().into(),
                    value: self.t(v),
                });
            }
        }
        let pass = s.pass_headers.clone().unwrap_or_default();
        let mut hide: Vec<Box<[u8]>> = HIDDEN
            .iter()
            .filter(|h| !pass.iter().any(|p| p == *h))
            .map(|h| h.as_bytes().into())
            .collect();
        for h in s.hide_headers.iter().flatten() {
            hide.push(h.as_bytes().into());
        }
        let redirect = match &s.redirect {
            None => Redirects::Rules(vec![RedirectRule::Default]),
            Some(rules) if rules.iter().any(|r| r.first().is_some_and(|w| w == "off")) => {
                Redirects::Off
            }
            Some(rules) => Redirects::Rules(
                rules
                    .iter()
                    .filter_map(|r| match r.as_slice() {
                        [w] if w == "default" => Some(RedirectRule::Default),
                        [from, to] => Some(match from.strip_prefix('~') {
                            Some(re) => {
                                let (p, ci) =
                                    re.strip_prefix('*').map_or((re, false), |p| (p, true));
                                match compile(p, ci) {
                                    Ok(re) => RedirectRule::Regex {
                                        re: Arc::new(re),
                                        to: self.t(to),
                                    },
                                    // The checker compiled it already; a failure here
                                    // cannot match anything.
                                    Err(_) => return None,
                                }
                            }
                            None => RedirectRule::Prefix {
                                from: self.t(from),
                                to: self.t(to),
                            },
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
        };
        let mut next = NextUpstream {
            error: true,
            timeout: true,
            ..NextUpstream::default()
        };
        if let Some(list) = &s.next_upstream {
            next = NextUpstream::default();
            for w in list {
                match w.as_str() {
                    "error" => next.error = true,
                    "timeout" => next.timeout = true,
                    "invalid_header" => next.invalid_header = true,
                    "http_500" => next.http_500 = true,
                    "http_502" => next.http_502 = true,
                    "http_503" => next.http_503 = true,
                    "http_504" => next.http_504 = true,
                    "http_403" => next.http_403 = true,
                    "http_404" => next.http_404 = true,
                    "http_429" => next.http_429 = true,
                    "non_idempotent" => next.non_idempotent = true,
                    "off" => next.off = true,
                    _ => {}
                }
            }
        }
        let logs: Vec<AccessLog> = match &s.access_logs {
            None => vec![AccessLog {
                path: PathBuf::from("/var/log/nginx/access.log"),
                format: self
                    .log_formats
                    .get("combined")
                    .cloned()
                    .unwrap_or_else(|| {
                        Arc::new(LogFormat {
                            name: "combined".into(),
                            template: self.t(COMBINED),
                            escape: LogEscape::Default,
                        })
                    }),
                condition: None,
            }],
            Some(list) => list
                .iter()
                .filter(|w| w.first().is_some_and(|p| p != "off"))
                .filter_map(|w| {
                    let format = self
                        .log_formats
                        .get(w.get(1).map_or("combined", String::as_str))?
                        .clone();
                    let condition = w
                        .iter()
                        .skip(2)
                        .find_map(|p| p.strip_prefix("if="))
                        .map(|c| self.t(c));
                    Some(AccessLog {
                        path: self.prefix_path(&w[0]),
                        format,
                        condition,
                    })
                })
                .collect(),
        };
        let add: Vec<AddHeader> = s
            .add_headers
            .iter()
            .flatten()
            .map(|w| AddHeader {
                name: w.first().map_or(&b""[..], |n| n.as_bytes()).into(),
                value: self.t(w.get(1).map_or("", String::as_str)),
                always: w.get(2).is_some_and(|a| a == "always"),
            })
            .collect();
        let access: Vec<AccessRule> = s
            .access
            .iter()
            .flatten()
            .filter_map(|(allow, addr)| {
                let net = match addr.as_str() {
                    "all" => AccessNet::All,
                    "unix:" => AccessNet::Unix,
                    a => parse_cidr(a)?.0,
                };
                Some(AccessRule { allow: *allow, net })
            })
            .collect();
        let error_pages: Vec<ErrorPage> = s
            .error_pages
            .iter()
            .flatten()
            .filter_map(|w| self.error_page(w))
            .collect();
        let auth_request_set: Vec<AuthRequestSet> = s
            .auth_request_set
            .iter()
            .flatten()
            .filter_map(|(var, value)| {
                let name = var.strip_prefix('$')?.to_ascii_lowercase();
                let target = if name == "args" {
                    SetTarget::Args
                } else {
                    match Var::resolve(&name, &self.user_vars) {
                        Var::User(i) => SetTarget::User(i),
                        // The checker refused other names already.
                        _ => return None,
                    }
                };
                Some(AuthRequestSet {
                    target,
                    value: self.t(value),
                })
            })
            .collect();
        let auth_basic = match (&s.auth_basic, &s.auth_basic_user_file) {
            (Some(realm), Some(file)) => Some(Arc::new(AuthBasic {
                realm: self.t(realm),
                user_file: self.t(file),
                conf_prefix: format!(
                    "{}/",
                    self.conf_prefix.display().to_string().trim_end_matches('/')
                )
                .into_bytes()
                .into(),
            })),
            _ => None,
        };
        let realip = s.realip_from.as_ref().map(|from| {
            Arc::new(RealIp {
                from: from
                    .iter()
                    .flat_map(|a| match a.as_str() {
                        "unix:" => vec![AccessNet::Unix],
                        a => match parse_cidr(a) {
                            Some((n, _)) => vec![n],
                            // A host name: each of its addresses (the checker resolved it).
                            None => resolve(a, 0)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|sa| match sa.ip() {
                                    IpAddr::V4(v4) => AccessNet::V4(u32::from(v4), u32::MAX),
                                    IpAddr::V6(v6) => AccessNet::V6(u128::from(v6), u128::MAX),
                                })
                                .collect(),
                        },
                    })
                    .collect(),
                header: match s.real_ip_header.as_deref() {
                    None | Some("X-Real-IP") => RealIpHeader::XRealIp,
                    Some("X-Forwarded-For") => RealIpHeader::XForwardedFor,
                    Some(h) => RealIpHeader::Other(h.to_ascii_lowercase().into()),
                },
                recursive: s.real_ip_recursive.unwrap_or(false),
            })
        });
        LocConf {
            access: Arc::new(access),
            internal: s.internal.unwrap_or(false),
            auth_request: s
                .auth_request
                .as_deref()
                .filter(|u| !u.is_empty())
                .map(|u| u.as_bytes().into()),
            auth_request_set: Arc::new(auth_request_set),
            satisfy_any: s.satisfy_any.unwrap_or(false),
            auth_basic,
            limit_except: None,
            realip,
            name: name.to_string(),
            regex_or_named,
            handler,
            rewrites: Arc::new(Vec::new()),
            error_pages: Arc::new(error_pages),
            recursive_error_pages: s.recursive_error_pages.unwrap_or(false),
            try_files: None,
            proxy_set_headers: Arc::new(set),
            proxy_http_11: s.http11.unwrap_or(false),
            proxy_connect_timeout: s.connect_timeout.unwrap_or(sec(60)),
            proxy_read_timeout: s.read_timeout.unwrap_or(sec(60)),
            proxy_send_timeout: s.send_timeout_proxy.unwrap_or(sec(60)),
            proxy_buffering: s.buffering.unwrap_or(true),
            proxy_request_buffering: s.request_buffering.unwrap_or(true),
            proxy_pass_request_headers: s.pass_request_headers.unwrap_or(true),
            proxy_pass_request_body: s.pass_request_body.unwrap_or(true),
            proxy_hide_headers: Arc::new(hide),
            proxy_redirect: redirect,
            proxy_next_upstream: next,
            proxy_next_upstream_tries: s.next_upstream_tries.unwrap_or(0),
            proxy_next_upstream_timeout: s.next_upstream_timeout.unwrap_or(Duration::ZERO),
            proxy_buffer_size: s.buffer_size.unwrap_or(4096),
            client_max_body_size: s.client_max_body_size.unwrap_or(1024 * 1024),
            client_body_timeout: s.client_body_timeout.unwrap_or(sec(60)),
            send_timeout: s.send_timeout.unwrap_or(sec(60)),
            keepalive_timeout: s.keepalive_timeout.unwrap_or(sec(75)),
            keepalive_requests: s.keepalive_requests.unwrap_or(1000),
            access_logs: Arc::new(logs),
            add_headers: Arc::new(add),
            server_tokens: s.server_tokens.unwrap_or(true),
            default_type: s
                .default_type
                .clone()
                .unwrap_or_else(|| "text/plain".into())
                .into_bytes()
                .into(),
            tcp_nodelay: s.tcp_nodelay.unwrap_or(true),
            absolute_redirect: s.absolute_redirect.unwrap_or(true),
            port_in_redirect: s.port_in_redirect.unwrap_or(true),
            types: Arc::new(types_map(s.types.as_deref())),
            root: Arc::new(self.doc_root(s.root.as_ref())),
            index: Arc::new(
                s.index
                    .as_deref()
                    .unwrap_or(&["index.html".to_string()])
                    .iter()
                    .map(|n| self.t(n))
                    .collect(),
            ),
            expires: self.expires(s.expires.as_deref()),
            etag: s.etag.unwrap_or(true),
            if_modified_since: match s.if_modified_since.as_deref() {
                Some("off") => IfModifiedSince::Off,
                Some("before") => IfModifiedSince::Before,
                _ => IfModifiedSince::Exact,
            },
            log_not_found: s.log_not_found.unwrap_or(true),
            proxy_ssl: Arc::new(self.upstream_tls(s.proxy_ssl.as_deref().unwrap_or(&[]))),
        }
    }

    /// The `proxy_ssl_*` settings of a level (`ngx_http_proxy_merge_loc_conf()`'s
    /// defaults for those not set).
    fn upstream_tls(&self, set: &[(String, Vec<String>)]) -> UpstreamTls {
        use std::hash::{Hash, Hasher};
        let mut t = UpstreamTls::default();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut sorted: Vec<&(String, Vec<String>)> = set.iter().collect();
        sorted.sort();
        for (name, w) in sorted {
            (name, w).hash(&mut h);
            let first = w.first().map_or("", String::as_str);
            let on = first.eq_ignore_ascii_case("on");
            match name.as_str() {
                "proxy_ssl_server_name" => t.server_name = on,
                "proxy_ssl_name" => t.name = Some(self.t(first)),
                "proxy_ssl_verify" => t.verify = on,
                "proxy_ssl_verify_depth" => {
                    t.verify_depth = parse_number(first).map_or(1, |n| n as u32)
                }
                "proxy_ssl_trusted_certificate" => t.trusted = Some(self.conf_path(first)),
                "proxy_ssl_protocols" => t.protocols = TlsProtocols::from_words(w),
                "proxy_ssl_ciphers" => t.ciphers = first.to_string(),
                "proxy_ssl_session_reuse" => t.session_reuse = on,
                _ => {}
            }
        }
        let cert = set.iter().find(|(n, _)| n == "proxy_ssl_certificate");
        let key = set.iter().find(|(n, _)| n == "proxy_ssl_certificate_key");
        // With variables (loaded per request by nginx): not supported, the checker warns.
        let has_var = |w: &[String]| w.first().is_some_and(|v| v.contains('$'));
        let cert = cert.filter(|(_, w)| !has_var(w));
        let key = key.filter(|(_, w)| !has_var(w));
        if let (Some((_, c)), Some((_, k))) = (cert, key) {
            let passwords = set
                .iter()
                .find(|(n, _)| n == "proxy_ssl_password_file")
                .and_then(|(_, w)| w.first())
                .map(|p| self.conf_path(p));
            t.client_cert = Some(CertPair {
                cert: self.conf_path(c.first().map_or("", String::as_str)),
                key: self.conf_path(k.first().map_or("", String::as_str)),
                passwords,
            });
        }
        // Paths resolve against the prefix: two configurations of different prefixes
        // must not share a key.
        (&t.trusted, &t.client_cert).hash(&mut h);
        t.key = h.finish();
        t
    }

    /// `ngx_http_core_error_page()`: codes, an optional `=[CODE]`, the URI. Without
    /// `=`, 494–497 are answered as 400.
    fn error_page(&self, w: &[String]) -> Option<ErrorPage> {
        let (uri, rest) = w.split_last()?;
        let (overwrite, codes) = match rest.split_last() {
            Some((o, codes)) if o.starts_with('=') => {
                (Some(parse_number(&o[1..]).unwrap_or(0) as u16), codes)
            }
            _ => (None, rest),
        };
        let codes: Vec<u16> = codes
            .iter()
            .filter_map(|c| parse_number(c).map(|n| n as u16))
            .collect();
        Some(ErrorPage {
            codes,
            overwrite,
            uri: self.t(uri),
        })
    }

    /// `ngx_http_core_root()` and the merge: `root html` when no level sets one; a
    /// `root` loses one trailing `/`; a value not starting with `$` is resolved against
    /// the prefix now (`ngx_conf_full_name()`), which keeps absolute ones (the test is
    /// on the first byte as written, so `root /` maps `/x` to `/x`).
    fn doc_root(&self, root: Option<&(String, Alias)>) -> DocRoot {
        use std::os::unix::ffi::OsStrExt;
        let (value, alias) = root.map_or(("html", Alias::No), |(v, a)| (v.as_str(), *a));
        let mut v = value;
        if alias == Alias::No {
            v = v.strip_suffix('/').unwrap_or(v);
        }
        let mut prefix = self.prefix.as_os_str().as_bytes().to_vec();
        if !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        let full = if value.starts_with('/') || value.starts_with('$') {
            v.to_string()
        } else {
            format!("{}{v}", String::from_utf8_lossy(&prefix))
        };
        DocRoot {
            path: self.t(&full),
            alias,
            prefix: prefix.into(),
        }
    }

    /// `ngx_http_headers_expires()`: a value with variables is parsed per request.
    fn expires(&self, words: Option<&[String]>) -> Expires {
        let (modified, v) = match words {
            Some([v]) => (false, v),
            Some([m, v]) if m == "modified" => (true, v),
            _ => return Expires::Off,
        };
        if v.contains('$') {
            return Expires::Variable {
                modified,
                value: self.t(v),
            };
        }
        // The checker refused invalid values already.
        parse_expires(v, modified).unwrap_or(Expires::Off)
    }
}

/// `ngx_http_core_merge_loc_conf()`'s types: the level's own list (inherited whole), else
/// `ngx_http_core_default_types`. Extensions are compared lowercased; a repeated
/// extension takes the later type (`ngx_http_core_type()` warns and overrides).
fn types_map(list: Option<&[(String, String)]>) -> HashMap<Vec<u8>, Box<[u8]>> {
    const DEFAULT: [(&str, &str); 3] = [
        ("html", "text/html"),
        ("gif", "image/gif"),
        ("jpg", "image/jpeg"),
    ];
    let mut m = HashMap::new();
    match list {
        Some(l) => {
            for (ext, ty) in l {
                m.insert(ext.to_ascii_lowercase().into_bytes(), ty.as_bytes().into());
            }
        }
        None => {
            for (ext, ty) in DEFAULT {
                m.insert(ext.as_bytes().to_vec(), ty.as_bytes().into());
            }
        }
    }
    m
}

/// `ssl_session_cache` words (checked): the last cache given wins (`off`/`none`
/// included); `builtin` holds 20480 sessions by default, `shared:NAME:SIZE` about 4000
/// per megabyte.
fn session_cache(words: Option<&[String]>) -> SessionCache {
    let mut out = SessionCache::None;
    for w in words.unwrap_or_default() {
        out = match w.as_str() {
            "off" | "none" => SessionCache::None,
            "builtin" => SessionCache::Sessions(20480),
            _ => {
                if let Some(n) = w.strip_prefix("builtin:") {
                    SessionCache::Sessions(n.parse().unwrap_or(20480))
                } else if let Some((_, size)) = w.rsplit_once(':') {
                    let bytes = parse_size(size).unwrap_or(0).max(0) as usize;
                    SessionCache::Sessions((bytes / 256).max(1))
                } else {
                    out
                }
            }
        };
    }
    out
}

fn placeholder_conf() -> LocConf {
    Lower::default().finish_conf(&Scope::default(), "", false, Handler::Static)
}

fn default_main() -> MainConf {
    MainConf {
        worker_processes: 1,
        worker_connections: 512,
        worker_rlimit_nofile: None,
        pid: PathBuf::from("/run/nginx.pid"),
        daemon: true,
        error_log: None,
        error_level: LogLevel::Error,
    }
}

/// gethostname(2) as the kernel reports it, lowercased (as the checker reads it).
fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn nix_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn location_kind(d: &Directive) -> (LocationKind, String) {
    if d.args.len() == 2 {
        let name = arg(d, 1).to_string();
        return match arg(d, 0) {
            "=" => (LocationKind::Exact, name),
            "^~" => (LocationKind::PrefixNoRegex, name),
            "~*" => (LocationKind::Regex { caseless: true }, name),
            _ => (LocationKind::Regex { caseless: false }, name),
        };
    }
    let a = arg(d, 0);
    if let Some(r) = a.strip_prefix('=') {
        (LocationKind::Exact, r.to_string())
    } else if let Some(r) = a.strip_prefix("~*") {
        (LocationKind::Regex { caseless: true }, r.to_string())
    } else if let Some(r) = a.strip_prefix('~') {
        (LocationKind::Regex { caseless: false }, r.to_string())
    } else if a.starts_with('@') {
        (LocationKind::Named, a.to_string())
    } else {
        (LocationKind::Prefix, a.to_string())
    }
}

fn compile(p: &str, caseless: bool) -> Result<pcre2::bytes::Regex, String> {
    pcre2::bytes::RegexBuilder::new()
        .caseless(caseless)
        .jit_if_available(true)
        .build(p)
        .map_err(|e| format!("regex \"{p}\": {e}"))
}

fn capture_names(p: &str, caseless: bool) -> Result<Vec<String>, String> {
    Ok(compile(p, caseless)?
        .capture_names()
        .iter()
        .flatten()
        .cloned()
        .collect())
}

fn split_host_port(hostport: &str) -> (&str, Option<u16>) {
    if hostport.starts_with('[') {
        if let Some(end) = hostport.find(']') {
            let port = hostport[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (&hostport[..=end], port);
        }
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()),
        None => (hostport, None),
    }
}

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (h, port)
        .to_socket_addrs()
        .map_err(|_| format!("host not found in upstream \"{host}\""))?
        .collect();
    let mut uniq: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(format!("host not found in upstream \"{host}\""));
    }
    Ok(uniq)
}

/// The peers one upstream `server` line gives.
fn peers_of(e: &Directive) -> Result<Vec<Peer>, String> {
    let text = arg(e, 0).to_string();
    let mut base = Peer::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 80)), text.clone());
    for w in &e.args[1..] {
        let p = w.value.as_str();
        match p.split_once('=') {
            Some(("weight", v)) => base.weight = parse_number(v).unwrap_or(1) as u32,
            Some(("max_fails", v)) => base.max_fails = parse_number(v).unwrap_or(1) as u32,
            Some(("max_conns", v)) => base.max_conns = parse_number(v).unwrap_or(0) as u32,
            Some(("fail_timeout", v)) => {
                base.fail_timeout = Duration::from_secs(parse_time(v, true).unwrap_or(10) as u64)
            }
            _ if p == "backup" => base.backup = true,
            _ if p == "down" => base.down = true,
            _ => {}
        }
    }
    if let Some(path) = text.strip_prefix("unix:") {
        base.unix = Some(PathBuf::from(path));
        return Ok(vec![base]);
    }
    let (host, port) = split_host_port(&text);
    Ok(resolve(host, port.unwrap_or(80))?
        .into_iter()
        .map(|addr| Peer {
            addr,
            ..base.clone()
        })
        .collect())
}

fn listen_addr(raw: &str) -> Result<ListenAddr, String> {
    if let Some(p) = raw.strip_prefix("unix:") {
        return Ok(ListenAddr::Unix(PathBuf::from(p)));
    }
    if let Some(r) = raw.strip_prefix('[') {
        let end = r
            .find(']')
            .ok_or_else(|| format!("invalid listen \"{raw}\""))?;
        let ip: Ipv6Addr = r[..end]
            .parse()
            .map_err(|_| format!("invalid listen \"{raw}\""))?;
        let port = r[end + 1..]
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(80);
        return Ok(ListenAddr::Tcp(SocketAddr::new(IpAddr::V6(ip), port)));
    }
    if let Ok(port) = raw.parse::<u16>() {
        return Ok(ListenAddr::Tcp(SocketAddr::from((
            Ipv4Addr::UNSPECIFIED,
            port,
        ))));
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("invalid port in \"{raw}\""))?,
        ),
        None => (raw, 80),
    };
    if host == "*" {
        return Ok(ListenAddr::Tcp(SocketAddr::from((
            Ipv4Addr::UNSPECIFIED,
            port,
        ))));
    }
    let addr = resolve(host, port)?
        .into_iter()
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("host not found in \"{raw}\""))?;
    Ok(ListenAddr::Tcp(addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_parser::{parse, FileId, ParseOptions};

    fn table(http: &str) -> RoutingTable {
        let text = format!("events {{ }} http {{ {http} }}");
        let opts = ParseOptions {
            kv_block: &|n| n == "types",
            ..ParseOptions::default()
        };
        let file = parse(text.as_bytes(), FileId(0), opts);
        lower(
            &file.items,
            std::path::Path::new("/pfx/"),
            std::path::Path::new("/etc/sl/nginx.conf"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn root_of(c: &LocConf) -> (Vec<u8>, Alias) {
        let t = c
            .root
            .path
            .literal()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        (t, c.root.alias)
    }

    #[test]
    fn root_and_alias_merge_as_nginx() {
        let t = table(
            "server { listen 127.0.0.1:8080; \
               location /a/ { } \
               location /r/ { root data/; } \
               location /slash/ { root /; } \
               location /al/ { alias /srv/x/; location /al/n/ { } } \
               location ~ ^/re/(.*)$ { alias /srv/$1; } \
               location /v/ { root $host; } }",
        );
        let s = &t.servers[0];
        let by_name = |n: &str| {
            s.locs
                .iter()
                .find(|c| c.name == n)
                .unwrap_or_else(|| panic!("no location {n}"))
        };
        // The default `html`, resolved against the prefix.
        assert_eq!(root_of(&s.conf), (b"/pfx/html".to_vec(), Alias::No));
        assert_eq!(root_of(by_name("/a/")), (b"/pfx/html".to_vec(), Alias::No));
        // One trailing slash dropped, then made absolute.
        assert_eq!(root_of(by_name("/r/")), (b"/pfx/data".to_vec(), Alias::No));
        // `root /` keeps mapping `/x` to `/x` (the absolute test is on the value written).
        assert_eq!(root_of(by_name("/slash/")), (Vec::new(), Alias::No));
        // alias replaces the location name; a nested location inherits the pair.
        assert_eq!(
            root_of(by_name("/al/")),
            (b"/srv/x/".to_vec(), Alias::Prefix(4))
        );
        assert_eq!(
            root_of(by_name("/al/n/")),
            (b"/srv/x/".to_vec(), Alias::Prefix(4))
        );
        // In a regex location the alias is the whole file name.
        assert_eq!(by_name("^/re/(.*)$").root.alias, Alias::Whole);
        // A value starting with `$` is resolved per request.
        let v = by_name("/v/");
        assert!(v.root.path.literal().is_none());
        assert_eq!(&*v.root.prefix, b"/pfx/");
    }

    #[test]
    fn index_expires_etag_merge_as_nginx() {
        let t = table(
            "index a.html b.html; expires max; \
             server { listen 127.0.0.1:8080; etag off; \
               location /i/ { index c.html; index d.html; expires off; } \
               location /m/ { expires modified -1h; if_modified_since before; } \
               location /d/ { expires @15h30m; } \
               location /var/ { expires $arg_e; } }",
        );
        let s = &t.servers[0];
        let by_name = |n: &str| s.locs.iter().find(|c| c.name == n).expect("location");
        let names = |c: &LocConf| -> Vec<Vec<u8>> {
            c.index
                .iter()
                .map(|t| t.literal().map(<[u8]>::to_vec).unwrap_or_default())
                .collect()
        };
        assert_eq!(names(&s.conf), vec![b"a.html".to_vec(), b"b.html".to_vec()]);
        // Several `index` directives at one level add up and replace the inherited list.
        assert_eq!(
            names(by_name("/i/")),
            vec![b"c.html".to_vec(), b"d.html".to_vec()]
        );
        assert!(matches!(s.conf.expires, Expires::Max));
        assert!(matches!(by_name("/i/").expires, Expires::Off));
        assert!(matches!(by_name("/m/").expires, Expires::Modified(-3600)));
        assert!(matches!(by_name("/d/").expires, Expires::Daily(55_800)));
        assert!(matches!(
            by_name("/var/").expires,
            Expires::Variable {
                modified: false,
                ..
            }
        ));
        assert!(!by_name("/i/").etag);
        assert_eq!(by_name("/m/").if_modified_since, IfModifiedSince::Before);
        assert_eq!(by_name("/i/").if_modified_since, IfModifiedSince::Exact);
        assert!(by_name("/i/").log_not_found);
        let t = table("server { listen 127.0.0.1:8080; }");
        assert_eq!(names(&t.servers[0].conf), vec![b"index.html".to_vec()]);
        assert!(t.servers[0].conf.etag);
    }

    #[test]
    fn rewrite_module_lowers_in_order() {
        let t = table(
            "error_page 404 /e; \
             server { listen 127.0.0.1:8080; set $s 1; rewrite ^/a /b; \
               location /p/ { proxy_pass http://127.0.0.1:9/u/; \
                 rewrite ^/p/(.*)$ /q/$1?x=1 last; rewrite ^ http://h/ permanent; \
                 rewrite ^ /r? break; \
                 if ($arg_a ~* ^b) { add_header X y; set $s 2; break; } \
                 error_page 500 502 =200 @n; try_files $uri $uri/ =404; } \
               location @n { return 200 x; } }",
        );
        let s = &t.servers[0];
        assert_eq!(s.rewrites.len(), 2);
        assert!(s.conf.rewrites.is_empty());
        let p = s.locs.iter().find(|c| c.name == "/p/").expect("location");
        let ops = &p.rewrites;
        assert_eq!(ops.len(), 4);
        let RewriteOp::Rewrite(r) = &ops[0] else {
            panic!("rewrite first")
        };
        assert!(r.stop && !r.break_cycle && r.redirect == 0 && r.add_args && r.has_args);
        let RewriteOp::Rewrite(r) = &ops[1] else {
            panic!("rewrite second")
        };
        assert_eq!(r.redirect, 301);
        let RewriteOp::Rewrite(r) = &ops[2] else {
            panic!("rewrite third")
        };
        assert!(r.break_cycle && !r.add_args);
        let RewriteOp::If { cond, conf, body } = &ops[3] else {
            panic!("if last")
        };
        assert!(matches!(**cond, Condition::Regex { negate: false, .. }));
        assert_eq!(body.len(), 2);
        // The block keeps the location's proxy_pass, name and error pages.
        let c = conf
            .as_ref()
            .expect("location-level if has a configuration");
        assert!(matches!(c.handler, Handler::Proxy(_)));
        assert_eq!(c.name, "/p/");
        assert_eq!(c.add_headers.len(), 1);
        assert_eq!(p.error_pages.len(), 1);
        assert_eq!(p.error_pages[0].codes, vec![500, 502]);
        assert_eq!(p.error_pages[0].overwrite, Some(200));
        assert_eq!(s.conf.error_pages[0].overwrite, None);
        let tf = p.try_files.as_ref().expect("try_files");
        assert_eq!(tf.files.len(), 2);
        assert!(!tf.files[0].1 && tf.files[1].1);
        assert!(matches!(tf.last, TryLast::Code(404)));
    }

    #[test]
    fn tls_certificates_and_protocols_merge_as_nginx() {
        let t = table(
            "ssl_certificate h.crt; ssl_certificate_key /abs/h.key; \
             server { listen 127.0.0.1:8443 ssl; } \
             server { listen 127.0.0.1:8443 ssl; server_name two; \
               ssl_certificate rsa.crt; ssl_certificate_key rsa.key; \
               ssl_certificate ec.crt; ssl_certificate_key ec.key; \
               ssl_protocols TLSv1.2 tlsv1.3; } \
             server { listen 127.0.0.1:8444; ssl on; ssl_certificate_key own.key; }",
        );
        let pair = |c: &str, k: &str| CertPair {
            cert: PathBuf::from(c),
            key: PathBuf::from(k),
            passwords: None,
        };
        // Inherited from http; relative paths against the conf prefix, not `-p`.
        assert_eq!(
            t.servers[0].tls.certs,
            vec![pair("/etc/sl/h.crt", "/abs/h.key")]
        );
        assert_eq!(t.servers[0].tls.protocols, TlsProtocols::default());
        assert!(t.servers[0].tls.protocols.tlsv1 && !t.servers[0].tls.protocols.tlsv1_3);
        // Several pairs, in order; `ssl_protocols` without case.
        assert_eq!(
            t.servers[1].tls.certs,
            vec![
                pair("/etc/sl/rsa.crt", "/etc/sl/rsa.key"),
                pair("/etc/sl/ec.crt", "/etc/sl/ec.key")
            ]
        );
        let p = t.servers[1].tls.protocols;
        assert!(p.tlsv1_2 && p.tlsv1_3 && !p.tlsv1 && !p.tlsv1_1);
        assert_eq!(p.words(), "TLSv1.2 TLSv1.3");
        // The two lists merge separately: the key is the server's, the certificate
        // http's. `ssl on` in the default server makes its address TLS.
        assert_eq!(
            t.servers[2].tls.certs,
            vec![pair("/etc/sl/h.crt", "/etc/sl/own.key")]
        );
        assert!(t.listeners.iter().all(|l| l.ssl));
    }
}
