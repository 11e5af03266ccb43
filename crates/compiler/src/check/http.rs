//! The http context: `server`, `location`, `listen`, `server_name`, the rewrite module
//! (`return`, `rewrite`, `if`, `set`), `root`/`alias`, `try_files`, `error_page`,
//! `add_header`, logs, `proxy_pass` and the directives whose values carry variables.

use super::{at, Checker, Ctx, Level_, R};
use crate::registry::{Slot, Spec};
use crate::variables;
use sluice_parser::ast::Directive;
use sluice_parser::FileId;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// Where a thing was declared, for messages after parsing.
pub(crate) type Origin = (FileId, u32);

/// One `listen`.
#[derive(Debug, Clone)]
pub(crate) struct Listen {
    /// `0.0.0.0:80`, `[::]:443`, `unix:/path` — nginx's text for the address.
    pub addr: String,
    pub ssl: bool,
    pub default_server: bool,
    /// Socket options were given (`backlog=`, `reuseport`, ...): nginx's `lsopt.set`.
    pub options_set: bool,
    /// `lsopt.bind`: the address gets its own socket (sorted first).
    pub bind: bool,
    /// `0.0.0.0` or `[::]` (sorted last).
    pub wildcard: bool,
    pub port: u16,
}

/// One location, for the duplicate check after parsing.
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub name: String,
    pub exact: bool,
    /// Prefix location (plain or `^~`): nginx's "inclusive".
    pub inclusive: bool,
    pub origin: Origin,
    pub children: Vec<Loc>,
}

/// What one `server { }` declared.
#[derive(Debug, Default)]
pub(crate) struct Server {
    pub origin: Option<Origin>,
    pub listens: Vec<(Listen, Origin)>,
    pub names: Vec<String>,
    pub certificates: Vec<String>,
    pub keys: Vec<String>,
    /// `ssl on;`
    pub ssl_on: Option<Origin>,
    /// `ssl_trusted_certificate`.
    pub trusted: Option<String>,
    /// `ssl_ciphers` and where.
    pub ciphers: Option<(String, Origin)>,
    /// `ssl_dhparam`.
    pub dhparam: Option<String>,
    /// `ssl_password_file`.
    pub password_file: Option<String>,
    /// The last regex `server_name` has captures (`cscf->captures`).
    pub captures: bool,
    pub locations: Vec<Loc>,
}

/// One upstream group, explicit (`upstream x {}`) or implicit (a `proxy_pass` host).
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub host: String,
    /// Port given with an implicit upstream (`proxy_pass http://h:8080`), else None.
    pub port: Option<u16>,
    pub explicit: bool,
    pub origin: Origin,
    /// Servers without `backup` (explicit upstreams).
    pub primary: usize,
}

/// The state of `http { }` while it is read, and what the post-http checks need.
#[derive(Debug, Default)]
pub(crate) struct HttpState {
    pub servers: Vec<Server>,
    pub upstreams: Vec<Upstream>,
    /// Variables used, in the order first used (nginx's `cmcf->variables`).
    pub used_vars: Vec<String>,
    used_set: HashSet<String>,
    /// Variables the configuration defines.
    pub defined_vars: HashSet<String>,
    /// `log_format` names (`combined` is predefined).
    pub log_formats: HashSet<String>,
    /// ssl_certificate / _key at http level, inherited by servers that set none.
    pub certificates: Vec<String>,
    pub keys: Vec<String>,
    /// `ssl_trusted_certificate` at http level.
    pub trusted: Option<String>,
    /// `ssl_ciphers` at http level.
    pub ciphers: Option<(String, Origin)>,
    /// `ssl_dhparam` at http level.
    pub dhparam: Option<String>,
    /// `ssl_password_file` at http level.
    pub password_file: Option<String>,
    pub http_access_log: bool,
    /// Stack of open locations (innermost last), to nest `Loc`s.
    loc_stack: Vec<Loc>,
    /// The configuration levels (`http` = 0, servers, locations, `if`s) with the values
    /// nginx compiles only when it merges them (`proxy_set_header` and the like).
    pub merge_nodes: Vec<MergeNode>,
    /// The level being read (index into `merge_nodes`).
    merge_cur: usize,
    /// Where `http { }` was closed: merge-time errors are reported there.
    pub close: Option<Origin>,
    /// `upstreams` positions by lowercased host, so matching is not a scan.
    ups_by_host: HashMap<String, Vec<usize>>,
    /// Per listen address: socket options set, default server set (any server so far).
    listen_flags: HashMap<String, (bool, bool)>,
    /// `proxy_pass` directives that make TLS connections (`https://`, or with variables,
    /// which may evaluate to one): level, where, and whether the URL is a static
    /// `https://` one.
    pub ssl_passes: Vec<(usize, Origin, bool)>,
    /// Shared memory zones (`ngx_shared_memory_add`): name, size (0: not given yet),
    /// owner.
    pub shm: Vec<(String, i64, &'static str)>,
    /// `limit_*_zone` zones and the key each is bound to.
    pub shm_keys: Vec<(String, String)>,
}

/// One configuration level as nginx merges it: its own merge-time values, by
/// directive, and the levels inside it in order.
#[derive(Debug, Default)]
pub(crate) struct MergeNode {
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// (directive, value) in order.
    pub values: Vec<(&'static str, String)>,
}

/// What kind of location we are in, for the rules that depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocKind {
    pub regex: bool,
    pub named: bool,
    pub exact: bool,
}

impl HttpState {
    fn merge_root(&mut self) {
        if self.merge_nodes.is_empty() {
            self.merge_nodes.push(MergeNode::default());
        }
    }

    /// Opens a level inside the current one; returns the level to go back to.
    pub fn enter_level(&mut self) -> usize {
        self.merge_root();
        let id = self.merge_nodes.len();
        let parent = self.merge_cur;
        self.merge_nodes.push(MergeNode {
            parent: Some(parent),
            ..MergeNode::default()
        });
        self.merge_nodes[parent].children.push(id);
        self.merge_cur = id;
        parent
    }

    pub fn leave_level(&mut self, back: usize) {
        self.merge_cur = back;
    }

    /// A value nginx compiles when it merges the current level.
    pub fn merge_value(&mut self, directive: &'static str, value: String) {
        self.merge_root();
        let cur = self.merge_cur;
        self.merge_nodes[cur].values.push((directive, value));
    }

    /// The level being read.
    pub fn cur_level(&mut self) -> usize {
        self.merge_root();
        self.merge_cur
    }

    pub fn use_var(&mut self, name: &str) {
        if self.used_set.insert(name.to_string()) {
            self.used_vars.push(name.to_string());
        }
    }
}

impl Checker<'_> {
    pub(crate) fn hs(&mut self) -> &mut HttpState {
        self.http.get_or_insert_with(HttpState::default)
    }

    pub(crate) fn server(&mut self) -> &mut Server {
        let hs = self.hs();
        if hs.servers.is_empty() {
            hs.servers.push(Server::default());
        }
        hs.servers.last_mut().expect("a server was just ensured")
    }

    /// Compiles a value with variables as `ngx_http_script_compile()` would, registering
    /// the variables it uses. `late`: nginx compiles it when it merges the level, after
    /// the whole `http { }` was read (`proxy_set_header` and the like); the post-http
    /// checks do it then, in nginx's order.
    pub(crate) fn compile_value(&mut self, d: &Directive, value: &str, late: bool) -> R {
        if late {
            let directive = super::index()
                .get(d.name.value.as_str())
                .and_then(|rows| rows.first())
                .map_or("", |s| s.name);
            self.hs().merge_value(directive, value.to_string());
            return Ok(());
        }
        match script_vars(value) {
            Ok(names) => {
                for n in names {
                    self.hs().use_var(&n.to_ascii_lowercase());
                }
                Ok(())
            }
            Err(msg) => Err(self.emerg(msg, at(d))),
        }
    }

    /// Registers a variable by name (`$name` already stripped).
    fn use_var(&mut self, name: &str) {
        let n = name.to_ascii_lowercase();
        self.hs().use_var(&n);
    }

    /// `ngx_http_add_variable(.., NGX_HTTP_VAR_CHANGEABLE)`: `set`, `map`, `geo`,
    /// `split_clients` and named captures define a variable; a built-in one that may
    /// not be changed (all but `$args` and `$limit_rate`) is an error.
    pub(crate) fn define_var(&mut self, d: &Directive, name: &str) -> R {
        if name.is_empty() {
            return Err(self.emerg("invalid variable name \"$\"", at(d)));
        }
        let n = name.to_ascii_lowercase();
        let dynamic = variables::DYNAMIC
            .iter()
            .any(|(so, names)| self.loaded.contains(*so) && names.contains(&n.as_str()));
        let fixed = variables::BUILTIN.contains(&n.as_str()) || dynamic;
        let changeable = CHANGEABLE.contains(&n.as_str()) || n.starts_with("ssl_");
        if fixed && !changeable {
            return Err(self.emerg(format!("the duplicate \"{name}\" variable"), at(d)));
        }
        self.hs().defined_vars.insert(n);
        Ok(())
    }

    /// Compiles a PCRE pattern as nginx does (`ngx_regex_compile`), defining the named
    /// captures as variables.
    pub(crate) fn compile_regex(&mut self, d: &Directive, pattern: &str, caseless: bool) -> R {
        self.compile_regex_captures(d, pattern, caseless)
            .map(|_| ())
    }

    /// [`Self::compile_regex`], returning the number of capture groups.
    pub(crate) fn compile_regex_captures(
        &mut self,
        d: &Directive,
        pattern: &str,
        caseless: bool,
    ) -> Result<usize, super::Stop> {
        match pcre2::bytes::RegexBuilder::new()
            .caseless(caseless)
            .build(pattern)
        {
            Ok(re) => {
                let names: Vec<String> = re.capture_names().iter().flatten().cloned().collect();
                for n in names {
                    self.define_var(d, &n)?;
                }
                Ok(re.captures_len().saturating_sub(1))
            }
            Err(e) => {
                let msg = pcre_message(&e);
                let off = e.offset().unwrap_or(pattern.len());
                let text = if off >= pattern.len() {
                    format!("pcre2_compile() failed: {msg} in \"{pattern}\"")
                } else {
                    format!(
                        "pcre2_compile() failed: {msg} in \"{pattern}\" at \"{}\"",
                        &pattern[off..]
                    )
                };
                Err(self.emerg(text, at(d)))
            }
        }
    }

    pub(super) fn http_handler(
        &mut self,
        spec: &'static Spec,
        d: &Directive,
        cx: Ctx,
        level: &mut Level_,
    ) -> Option<R> {
        if !matches!(
            cx,
            Ctx::Http
                | Ctx::Server
                | Ctx::Location
                | Ctx::ServerIf
                | Ctx::LocationIf
                | Ctx::LimitExcept
                | Ctx::Upstream
        ) {
            return None;
        }
        if spec.module == "ngx_http_upstream_module" && spec.name == "server" {
            return None; // upstream.rs
        }
        let a = |i: usize| d.args.get(i).map(|w| w.value.as_str()).unwrap_or("");
        match spec.slot {
            // every argument is a complex value (`proxy_cache_bypass`, `proxy_no_cache`)
            Slot::Custom("ngx_http_set_predicate_slot") => {
                for w in &d.args {
                    if let Err(e) = self.compile_value(d, &w.value, false) {
                        return Some(Err(e));
                    }
                }
                return Some(Ok(()));
            }
            // one complex value; the `_size` flavour must be a size when it has no
            // variables (`limit_rate`)
            Slot::Custom(
                f @ ("ngx_http_set_complex_value_slot"
                | "ngx_http_set_complex_value_zero_slot"
                | "ngx_http_set_complex_value_size_slot"),
            ) => {
                if !level.seen.insert(spec.name) {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                if let Err(e) = self.compile_value(d, a(0), false) {
                    return Some(Err(e));
                }
                let sized = f == "ngx_http_set_complex_value_size_slot";
                if sized && !a(0).contains('$') && sluice_parser::units::parse_size(a(0)).is_none()
                {
                    return Some(Err(self.directive_err(d, "invalid value")));
                }
                return Some(Ok(()));
            }
            Slot::Custom("ngx_http_types_slot") => return Some(self.types_slot(spec, d, level)),
            // `ngx_http_v2_obsolete()` (nginx 1.19.7+): a warning naming the directive that
            // took over, nothing else.
            Slot::Custom("ngx_http_v2_obsolete") => {
                let now = match spec.name {
                    "http2_idle_timeout" => "keepalive_timeout",
                    "http2_max_requests" => "keepalive_requests",
                    "http2_recv_timeout" => "client_header_timeout",
                    _ => "large_client_header_buffers",
                };
                self.diags.push(sluice_parser::Diagnostic::new(
                    sluice_parser::Level::Warn,
                    format!(
                        "the \"{}\" directive is obsolete, use the \"{now}\" directive instead",
                        spec.name
                    ),
                    Some(at(d)),
                ));
                return Some(Ok(()));
            }
            _ => {}
        }
        Some(match spec.name {
            "server" if cx == Ctx::Http => self.server_block(d),
            "location" => self.location(d, cx, level),
            "listen" => self.listen(d),
            "server_name" => self.server_name(d),
            "if" => self.if_block(d, cx),
            "return" => self.return_(d),
            "rewrite" => self.rewrite(d),
            "set" => {
                let name = a(0);
                let Some(var) = name.strip_prefix('$') else {
                    return Some(Err(
                        self.emerg(format!("invalid variable name \"{name}\""), at(d))
                    ));
                };
                if let Err(e) = self.define_var(d, var) {
                    return Some(Err(e));
                }
                self.use_var(var);
                self.compile_value(d, a(1), false)
            }
            "root" | "alias" => self.root_alias(d, level),
            "try_files" => {
                let last = a(d.args.len() - 1);
                if let Some(code) = last.strip_prefix('=') {
                    if sluice_parser::units::parse_number(code).is_none_or(|n| n > 999) {
                        return Some(Err(self.emerg(format!("invalid code \"{last}\""), at(d))));
                    }
                }
                if !level.seen.insert("try_files") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                for w in &d.args {
                    if let Err(e) = self.compile_value(d, &w.value, false) {
                        return Some(Err(e));
                    }
                }
                Ok(())
            }
            "error_page" => self.error_page(d),
            "keepalive_timeout" if spec.module == "ngx_http_core_module" => {
                self.keepalive_timeout(d, level)
            }
            "resolver" if spec.module == "ngx_http_core_module" => self.resolver(d, level),
            "proxy_redirect" => self.proxy_redirect(d, level),
            "add_header" => {
                if d.args.len() == 3 && a(2) != "always" {
                    return Some(Err(
                        self.emerg(format!("invalid parameter \"{}\"", a(2)), at(d))
                    ));
                }
                self.compile_value(d, a(1), false)
            }
            "expires" => self.expires(d, level),
            "log_format" if cx == Ctx::Http => self.log_format(d),
            "access_log" => self.access_log(d, cx),
            "proxy_pass" => self.proxy_pass(d, cx, level),
            "proxy_set_header" | "proxy_set_body" | "fastcgi_param" | "uwsgi_param"
            | "scgi_param" | "grpc_set_header" => {
                let v = if spec.name == "proxy_set_body" {
                    a(0)
                } else {
                    a(1)
                };
                let v = v.to_string();
                self.compile_value(d, &v, true)
            }
            "index" => {
                for w in &d.args {
                    if w.value.is_empty() {
                        return Some(Err(
                            self.emerg("index \"\" in \"index\" directive is invalid", at(d))
                        ));
                    }
                    if let Err(e) = self.compile_value(d, &w.value, false) {
                        return Some(Err(e));
                    }
                }
                Ok(())
            }
            "ssl" => {
                self.warn(
                    "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead",
                    Some(at(d)),
                );
                if let Err(e) = self.slot(spec, d, level) {
                    return Some(Err(e));
                }
                if a(0).eq_ignore_ascii_case("on") && cx == Ctx::Server {
                    self.server().ssl_on = Some(at(d));
                }
                Ok(())
            }
            "ssl_certificate" | "ssl_certificate_key" => {
                let v = a(0).to_string();
                let hs = self.hs();
                let list = match (cx, spec.name) {
                    (Ctx::Http, "ssl_certificate") => &mut hs.certificates,
                    (Ctx::Http, _) => &mut hs.keys,
                    (_, "ssl_certificate") => &mut self.server().certificates,
                    _ => &mut self.server().keys,
                };
                list.push(v);
                Ok(())
            }
            // `ngx_http_ssl_password_file()`, `ngx_http_proxy_ssl_password_file()`: the
            // file is read here, its errors reported at the directive.
            "ssl_password_file" | "proxy_ssl_password_file" => {
                if !level.seen.insert(spec.name) {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                let v = a(0).to_string();
                if self.opts.touch_system {
                    if let Err(msg) = crate::password_file::read(&self.conf_path(&v)) {
                        return Some(Err(self.emerg(msg, at(d))));
                    }
                }
                match (cx, spec.name) {
                    (_, "proxy_ssl_password_file") => {}
                    (Ctx::Http, _) => self.hs().password_file = Some(v),
                    _ => self.server().password_file = Some(v),
                }
                Ok(())
            }
            "ssl_session_cache" => {
                for w in &d.args {
                    let v = w.value.as_str();
                    let ok = v == "off"
                        || v == "none"
                        || v == "builtin"
                        || v.strip_prefix("builtin:")
                            .is_some_and(|n| n.parse::<u64>().is_ok())
                        || v.strip_prefix("shared:").is_some_and(|r| {
                            r.rsplit_once(':').is_some_and(|(name, size)| {
                                !name.is_empty()
                                    && sluice_parser::units::parse_size(size).is_some_and(|s| s > 0)
                            })
                        });
                    if !ok {
                        return Some(Err(
                            self.emerg(format!("invalid session cache \"{v}\""), at(d))
                        ));
                    }
                }
                Ok(())
            }
            "types" => self.types_block(d, &mut level.types),
            "map" => self.map_block(d),
            "geo" => self.geo_block(d),
            "split_clients" => self.split_clients_block(d),
            "limit_req_zone" | "limit_conn_zone" => self.limit_zone(spec, d),
            "limit_req" => self.limit_req(d, level),
            "limit_conn" => {
                let zone = a(0).to_string();
                if let Err(e) = self.shm_add(d, &zone, 0, "limit_conn") {
                    return Some(Err(e));
                }
                if !level.shm_limits.insert(format!("limit_conn {zone}")) {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                match ngx_atoi(a(1)) {
                    Some(n) if n > 65535 => {
                        Err(self.emerg("connection limit must be less 65536", at(d)))
                    }
                    Some(n) if n > 0 => Ok(()),
                    _ => {
                        Err(self
                            .emerg(format!("invalid number of connections \"{}\"", a(1)), at(d)))
                    }
                }
            }
            // `ngx_http_auth_request()`: a second one at a level (`off` included).
            "auth_request" => {
                if !level.seen.insert("auth_request") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                Ok(())
            }
            // `ngx_http_auth_request_set()`, `ngx_http_perl_set()`.
            "auth_request_set" | "perl_set" => {
                let name = a(0);
                let Some(var) = name.strip_prefix('$') else {
                    return Some(Err(
                        self.emerg(format!("invalid variable name \"{name}\""), at(d))
                    ));
                };
                if let Err(e) = self.define_var(d, var) {
                    return Some(Err(e));
                }
                if d.name.value == "auth_request_set" {
                    self.use_var(var);
                    self.compile_value(d, a(1), false)
                } else {
                    Ok(())
                }
            }
            "allow" | "deny" => self.access_rule(d),
            "set_real_ip_from" => self.realip_from(d),
            "real_ip_header" => self.real_ip_header(d),
            "auth_basic_user_file" => {
                if !level.seen.insert("auth_basic_user_file") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                self.compile_value(d, a(0), false)
            }
            "internal" => {
                if !level.seen.insert("internal") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                Ok(())
            }
            "limit_except" => {
                if let Err(e) = self.limit_except(d, level) {
                    return Some(Err(e));
                }
                let back = self.hs().enter_level();
                let r = self.walk_block(d, Ctx::LimitExcept);
                self.hs().leave_level(back);
                r
            }
            _ => return None,
        })
    }

    fn server_block(&mut self, d: &Directive) -> R {
        let origin = at(d);
        self.hs().servers.push(Server {
            origin: Some(origin),
            ..Server::default()
        });
        let back = self.hs().enter_level();
        let r = self.walk_block(d, Ctx::Server);
        self.hs().leave_level(back);
        r?;
        // A server without `listen` listens on *:80 (root) or *:8000.
        let has_listen = !self.server().listens.is_empty();
        if !has_listen {
            let port = if nix::unistd::geteuid().is_root() {
                80
            } else {
                8000
            };
            let l = Listen {
                addr: format!("0.0.0.0:{port}"),
                ssl: false,
                default_server: false,
                options_set: false,
                bind: false,
                wildcard: true,
                port,
            };
            self.add_listen(l, origin)?;
        }
        Ok(())
    }

    /// `ngx_http_add_listen()`: the same address twice in one server, options twice, or
    /// two default servers on one address are errors.
    fn add_listen(&mut self, l: Listen, origin: Origin) -> R {
        let hs = self.hs();
        let me = hs.servers.len() - 1;
        if hs.servers[me].listens.iter().any(|(x, _)| x.addr == l.addr) {
            let addr = l.addr.clone();
            return Err(self.emerg(format!("a duplicate listen {addr}"), origin));
        }
        // What earlier servers set on this address (this server's own listens of it
        // were just ruled out above).
        let (options, default) = hs.listen_flags.get(&l.addr).copied().unwrap_or_default();
        if l.options_set && options {
            return Err(self.emerg(format!("duplicate listen options for {}", l.addr), origin));
        }
        if l.default_server && default {
            return Err(self.emerg(format!("a duplicate default server for {}", l.addr), origin));
        }
        let hs = self.hs();
        let flags = hs.listen_flags.entry(l.addr.clone()).or_default();
        flags.0 |= l.options_set;
        flags.1 |= l.default_server;
        hs.servers[me].listens.push((l, origin));
        Ok(())
    }

    /// `ngx_http_core_listen()`: the address (`ngx_parse_url()` with `listen` set), then
    /// the parameters in order, then one `ngx_http_add_listen()` per address.
    fn listen(&mut self, d: &Directive) -> R {
        let raw = d.args[0].value.as_str();
        let opts = UrlOpts {
            listen: true,
            default_port: 80,
            ..UrlOpts::default()
        };
        let parsed = match parse_url(raw, opts) {
            Ok(p) => p,
            Err(err) => {
                let msg = format!("{err} in \"{raw}\" of the \"listen\" directive");
                return Err(self.emerg(msg, at(d)));
            }
        };
        let mut l = Listen {
            addr: String::new(),
            ssl: false,
            default_server: false,
            options_set: false,
            bind: false,
            wildcard: false,
            port: 0,
        };
        for w in &d.args[1..] {
            let p = w.value.as_str();
            let mut set = true;
            let bad = |what: &str| format!("invalid {what} \"{p}\"");
            if p == "default_server" || p == "default" {
                l.default_server = true;
                set = false;
            } else if p == "bind" {
            } else if let Some(v) = p.strip_prefix("fastopen=") {
                if ngx_atoi(v).is_none() {
                    return Err(self.emerg(bad("fastopen"), at(d)));
                }
            } else if let Some(v) = p.strip_prefix("backlog=") {
                if ngx_atoi(v).is_none_or(|n| n == 0) {
                    return Err(self.emerg(bad("backlog"), at(d)));
                }
            } else if let Some(v) = p.strip_prefix("rcvbuf=") {
                if sluice_parser::units::parse_size(v).is_none() {
                    return Err(self.emerg(bad("rcvbuf"), at(d)));
                }
            } else if let Some(v) = p.strip_prefix("sndbuf=") {
                if sluice_parser::units::parse_size(v).is_none() {
                    return Err(self.emerg(bad("sndbuf"), at(d)));
                }
            } else if p.starts_with("accept_filter=") {
                // Linux has no accept filters: nginx says so at [emerg] and goes on.
                self.diags.push(sluice_parser::Diagnostic::new(
                    sluice_parser::Level::Emerg,
                    format!("accept filters \"{p}\" are not supported on this platform, ignored"),
                    Some(at(d)),
                ));
                set = false;
            } else if p == "deferred" || p == "reuseport" {
            } else if let Some(v) = p.strip_prefix("ipv6only=o") {
                if v != "n" && v != "ff" {
                    let msg = format!("invalid ipv6only flags \"{}\"", &p[9..]);
                    return Err(self.emerg(msg, at(d)));
                }
            } else if p == "ssl" {
                l.ssl = true;
                set = false;
            } else if p == "http2" || p == "proxy_protocol" {
                set = false;
            } else if let Some(v) = p.strip_prefix("so_keepalive=") {
                if v != "on" && v != "off" && !so_keepalive_ok(v) {
                    let msg = format!("invalid so_keepalive value: \"{v}\"");
                    return Err(self.emerg(msg, at(d)));
                }
            } else {
                return Err(self.emerg(format!("invalid parameter \"{p}\""), at(d)));
            }
            if set {
                l.options_set = true;
                l.bind = true;
            }
        }
        if parsed.unix {
            l.addr = format!("unix:{}", parsed.host);
            return self.add_listen(l, at(d));
        }
        for sa in &parsed.addrs {
            let mut one = l.clone();
            one.addr = sa.to_string();
            one.wildcard = sa.ip().is_unspecified();
            one.port = sa.port();
            self.add_listen(one, at(d))?;
        }
        Ok(())
    }

    /// `ngx_http_core_server_name()`: names are checked, lowercased, and regexes
    /// (`~...`) compiled; a regex with captures makes nginx check the names of the
    /// server's addresses even when the server is alone on them.
    fn server_name(&mut self, d: &Directive) -> R {
        for w in &d.args {
            let n = w.value.as_str();
            let b = n.as_bytes();
            let invalid = match b.first() {
                Some(b'*') => b.len() < 3 || b[1] != b'.',
                Some(b'.') => b.len() < 2,
                _ => false,
            };
            if invalid {
                return Err(self.emerg(format!("server name \"{n}\" is invalid"), at(d)));
            }
            if n.contains('/') {
                self.warn(
                    format!("server name \"{n}\" has suspicious symbols"),
                    Some(at(d)),
                );
            }
            if let Some(re) = n.strip_prefix('~') {
                if re.is_empty() {
                    return Err(self.emerg(format!("empty regex in server name \"{n}\""), at(d)));
                }
                let caseless = re.bytes().any(|c| c.is_ascii_uppercase());
                let captures = self.compile_regex_captures(d, re, caseless)?;
                let s = self.server();
                s.captures = captures > 0;
                s.names.push(n.to_string());
                continue;
            }
            let name = if n.eq_ignore_ascii_case("$hostname") {
                // gethostname(2), as the kernel reports it
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim_end().to_string())
                    .unwrap_or_default()
            } else {
                n.to_string()
            };
            self.server().names.push(name.to_ascii_lowercase());
        }
        Ok(())
    }

    /// `location [=|~|~*|^~] uri { }` and `location @name { }` (`ngx_http_core_location`).
    fn location(&mut self, d: &Directive, cx: Ctx, _level: &mut Level_) -> R {
        let a0 = d.args[0].value.as_str();
        let (name, kind) = if d.args.len() == 2 {
            let name = d.args[1].value.clone();
            match a0 {
                "=" => (
                    name,
                    LocKind {
                        exact: true,
                        ..LocKind::default()
                    },
                ),
                "^~" => (name, LocKind::default()),
                "~" | "~*" => {
                    self.compile_regex(d, &name, a0 == "~*")?;
                    (
                        name,
                        LocKind {
                            regex: true,
                            ..LocKind::default()
                        },
                    )
                }
                _ => return Err(self.emerg(format!("invalid location modifier \"{a0}\""), at(d))),
            }
        } else if let Some(rest) = a0.strip_prefix('=') {
            (
                rest.to_string(),
                LocKind {
                    exact: true,
                    ..LocKind::default()
                },
            )
        } else if let Some(rest) = a0.strip_prefix('~') {
            let (pat, caseless) = match rest.strip_prefix('*') {
                Some(p) => (p, true),
                None => (rest, false),
            };
            self.compile_regex(d, pat, caseless)?;
            (
                pat.to_string(),
                LocKind {
                    regex: true,
                    ..LocKind::default()
                },
            )
        } else {
            (
                a0.to_string(),
                LocKind {
                    named: a0.starts_with('@'),
                    ..LocKind::default()
                },
            )
        };

        let parent = self
            .hs()
            .loc_stack
            .last()
            .map(|l| (l.name.clone(), l.exact, l.name.starts_with('@')));
        if cx == Ctx::Location {
            if let Some((pname, pexact, pnamed)) = parent {
                if pexact {
                    return Err(self.emerg(
                        format!(
                            "location \"{name}\" cannot be inside the exact location \"{pname}\""
                        ),
                        at(d),
                    ));
                }
                if pnamed {
                    return Err(self.emerg(
                        format!(
                            "location \"{name}\" cannot be inside the named location \"{pname}\""
                        ),
                        at(d),
                    ));
                }
                if kind.named {
                    return Err(self.emerg(
                        format!("named location \"{name}\" can be on the server level only"),
                        at(d),
                    ));
                }
                if !kind.regex && !name.as_bytes().starts_with(pname.as_bytes()) {
                    return Err(self.emerg(
                        format!("location \"{name}\" is outside location \"{pname}\""),
                        at(d),
                    ));
                }
            }
        }
        let loc = Loc {
            name,
            exact: kind.exact,
            inclusive: !kind.exact && !kind.regex && !kind.named,
            origin: at(d),
            children: Vec::new(),
        };
        self.hs().loc_stack.push(loc);
        self.loc_kinds.push(kind);
        let back = self.hs().enter_level();
        let r = self.walk_block(d, Ctx::Location);
        self.hs().leave_level(back);
        self.loc_kinds.pop();
        let hs = self.hs();
        let loc = hs.loc_stack.pop().expect("pushed above");
        match hs.loc_stack.last_mut() {
            Some(p) => p.children.push(loc),
            None => self.server().locations.push(loc),
        }
        r
    }

    fn if_block(&mut self, d: &Directive, cx: Ctx) -> R {
        let back = self.hs().enter_level();
        let r = self.if_block_inner(d, cx);
        self.hs().leave_level(back);
        r
    }

    fn if_block_inner(&mut self, d: &Directive, cx: Ctx) -> R {
        self.if_condition(d)?;
        let inner = if cx == Ctx::Server {
            Ctx::ServerIf
        } else {
            Ctx::LocationIf
        };
        self.walk_block(d, inner)
    }

    /// `ngx_http_rewrite_if_condition()`, message for message.
    fn if_condition(&mut self, d: &Directive) -> R {
        let mut v: Vec<String> = std::iter::once(String::new())
            .chain(d.args.iter().map(|w| w.value.clone()))
            .collect();
        let mut last = v.len() - 1;
        let invalid = |c: &mut Self, s: &str| c.emerg(format!("invalid condition \"{s}\""), at(d));
        if !v[1].starts_with('(') {
            let s = v[1].clone();
            return Err(invalid(self, &s));
        }
        let mut cur = 1;
        if v[1].len() == 1 {
            cur = 2;
        } else {
            v[1].remove(0);
        }
        if !v[last].ends_with(')') {
            let s = v[last].clone();
            return Err(invalid(self, &s));
        }
        if v[last].len() == 1 {
            last -= 1;
        } else {
            v[last].pop();
        }
        let p = v.get(cur).cloned().unwrap_or_default();
        if p.len() > 1 && p.starts_with('$') {
            if cur != last && cur + 2 != last {
                return Err(invalid(self, &p));
            }
            self.use_var(&p[1..]);
            if cur == last {
                return Ok(());
            }
            let op = v[cur + 1].clone();
            let rhs = v[last].clone();
            match op.as_str() {
                "=" | "!=" => self.compile_value(d, &rhs, false),
                "~" | "~*" | "!~" | "!~*" => self.compile_regex(d, &rhs, op.ends_with('*')),
                _ => Err(self.emerg(format!("unexpected \"{op}\" in condition"), at(d))),
            }
        } else if (p.len() == 2 && p.starts_with('-')) || (p.len() == 3 && p.starts_with("!-")) {
            if cur + 1 != last {
                return Err(invalid(self, &p));
            }
            let rhs = v[last].clone();
            self.compile_value(d, &rhs, false)?;
            match p.trim_start_matches('!') {
                "-f" | "-d" | "-e" | "-x" => Ok(()),
                _ => Err(invalid(self, &p)),
            }
        } else {
            Err(invalid(self, &p))
        }
    }

    fn return_(&mut self, d: &Directive) -> R {
        let v1 = d.args[0].value.clone();
        match sluice_parser::units::parse_number(&v1) {
            None => {
                let url = v1.starts_with("http://")
                    || v1.starts_with("https://")
                    || v1.starts_with("$scheme");
                if !url || d.args.len() > 1 {
                    return Err(self.emerg(format!("invalid return code \"{v1}\""), at(d)));
                }
                self.compile_value(d, &v1, false)
            }
            Some(n) if n > 999 => Err(self.emerg(format!("invalid return code \"{v1}\""), at(d))),
            Some(_) => match d.args.get(1) {
                Some(w) => {
                    let t = w.value.clone();
                    self.compile_value(d, &t, false)
                }
                None => Ok(()),
            },
        }
    }

    fn rewrite(&mut self, d: &Directive) -> R {
        let re = d.args[0].value.clone();
        self.compile_regex(d, &re, false)?;
        if let Some(flag) = d.args.get(2) {
            if !matches!(
                flag.value.as_str(),
                "last" | "break" | "redirect" | "permanent"
            ) {
                return Err(self.emerg(format!("invalid parameter \"{}\"", flag.value), at(d)));
            }
        }
        let repl = d.args[1].value.clone();
        self.compile_value(d, &repl, false)
    }

    fn root_alias(&mut self, d: &Directive, level: &mut Level_) -> R {
        let me = d.name.value.as_str();
        let earlier = if level.seen.contains("root") {
            Some("root")
        } else if level.seen.contains("alias") {
            Some("alias")
        } else {
            None
        };
        if let Some(e) = earlier {
            if e == me {
                return Err(self.directive_err(d, "is duplicate"));
            }
            return Err(self.emerg(
                format!("\"{me}\" directive is duplicate, \"{e}\" directive was specified earlier"),
                at(d),
            ));
        }
        level
            .seen
            .insert(if me == "root" { "root" } else { "alias" });
        if me == "alias" && self.loc_kinds.last().is_some_and(|k| k.named) {
            return Err(self.emerg(
                "the \"alias\" directive cannot be used inside the named location",
                at(d),
            ));
        }
        let v = d.args[0].value.clone();
        for var in ["document_root", "realpath_root"] {
            if v.contains(&format!("${var}")) || v.contains(&format!("${{{var}}}")) {
                return Err(self.emerg(
                    format!("the ${var} variable cannot be used in the \"{me}\" directive"),
                    at(d),
                ));
            }
        }
        self.compile_value(d, &v, false)
    }

    /// `ngx_shared_memory_add()`: zones meet by name; a zone named only where it is
    /// used has no size until a `*_zone` directive gives it one.
    pub(crate) fn shm_add(&mut self, d: &Directive, name: &str, size: i64, tag: &'static str) -> R {
        let hs = self.hs();
        match hs.shm.iter_mut().find(|z| z.0 == name) {
            Some(z) => {
                if z.2 != tag {
                    let msg = format!(
                        "the shared memory zone \"{name}\" is already declared for a different use"
                    );
                    return Err(self.emerg(msg, at(d)));
                }
                if z.1 == 0 {
                    z.1 = size;
                }
                if size != 0 && size != z.1 {
                    let old = z.1;
                    let msg = format!(
                        "the size {size} of shared memory zone \"{name}\" conflicts with already declared size {old}"
                    );
                    return Err(self.emerg(msg, at(d)));
                }
            }
            None => hs.shm.push((name.to_string(), size, tag)),
        }
        Ok(())
    }

    /// `ngx_http_limit_req_zone()` / `ngx_http_limit_conn_zone()`:
    /// `KEY zone=NAME:SIZE [rate=Nr/s]`.
    fn limit_zone(&mut self, spec: &'static Spec, d: &Directive) -> R {
        let key = d.args[0].value.clone();
        self.compile_value(d, &key, false)?;
        let req = spec.name == "limit_req_zone";
        let mut zone: Option<(String, i64)> = None;
        for w in &d.args[1..] {
            let p = w.value.as_str();
            if let Some(z) = p.strip_prefix("zone=") {
                let Some((name, size)) = z.split_once(':') else {
                    return Err(self.emerg(format!("invalid zone size \"{p}\""), at(d)));
                };
                let Some(size) = sluice_parser::units::parse_size(size) else {
                    return Err(self.emerg(format!("invalid zone size \"{p}\""), at(d)));
                };
                if size < 8 * 4096 {
                    return Err(self.emerg(format!("zone \"{p}\" is too small"), at(d)));
                }
                zone = Some((name.to_string(), size));
                continue;
            }
            if let (true, Some(r)) = (req, p.strip_prefix("rate=")) {
                let n = r
                    .strip_suffix("r/s")
                    .or_else(|| r.strip_suffix("r/m"))
                    .unwrap_or(r);
                if ngx_atoi(n).is_none_or(|n| n <= 0) {
                    return Err(self.emerg(format!("invalid rate \"{p}\""), at(d)));
                }
                continue;
            }
            return Err(self.emerg(format!("invalid parameter \"{p}\""), at(d)));
        }
        let Some((name, size)) = zone else {
            let msg = format!("\"{}\" must have \"zone\" parameter", spec.name);
            return Err(self.emerg(msg, at(d)));
        };
        let tag = if req { "limit_req" } else { "limit_conn" };
        self.shm_add(d, &name, size, tag)?;
        if let Some(bound) = self.hs().shm_keys.iter().find(|(n, _)| *n == name) {
            let msg = format!(
                "{} \"{name}\" is already bound to key \"{}\"",
                spec.name, bound.1
            );
            return Err(self.emerg(msg, at(d)));
        }
        self.hs().shm_keys.push((name, key));
        Ok(())
    }

    /// `ngx_http_limit_req()`: `zone=NAME [burst=N] [nodelay | delay=N]`.
    fn limit_req(&mut self, d: &Directive, level: &mut Level_) -> R {
        let mut zone = None;
        for w in &d.args {
            let p = w.value.as_str();
            if let Some(z) = p.strip_prefix("zone=") {
                self.shm_add(d, z, 0, "limit_req")?;
                zone = Some(z.to_string());
            } else if let Some(v) = p.strip_prefix("burst=") {
                if ngx_atoi(v).is_none_or(|n| n <= 0) {
                    return Err(self.emerg(format!("invalid burst value \"{p}\""), at(d)));
                }
            } else if let Some(v) = p.strip_prefix("delay=") {
                if ngx_atoi(v).is_none_or(|n| n <= 0) {
                    return Err(self.emerg(format!("invalid delay value \"{p}\""), at(d)));
                }
            } else if p != "nodelay" {
                return Err(self.emerg(format!("invalid parameter \"{p}\""), at(d)));
            }
        }
        let Some(zone) = zone else {
            return Err(self.emerg("\"limit_req\" must have \"zone\" parameter", at(d)));
        };
        if !level.shm_limits.insert(format!("limit_req {zone}")) {
            return Err(self.directive_err(d, "is duplicate"));
        }
        Ok(())
    }

    /// `ngx_http_types_slot()` (`gzip_types` and the like): MIME types accumulate per
    /// level, starting from the slot's default; a repeat is a warning; `*` takes all.
    fn types_slot(&mut self, spec: &'static Spec, d: &Directive, level: &mut Level_) -> R {
        // nginx 1.22.1 starts every such list with text/html (checked with gzip_types,
        // charset_types, ssi_types, sub_filter_types, addition_types); xslt_types is
        // documented as text/xml.
        let defaults: &[&str] = match spec.name {
            "xslt_types" => &["text/xml"],
            _ => &["text/html"],
        };
        let list = level
            .mime_types
            .entry(spec.name)
            .or_insert_with(|| Some(defaults.iter().map(|t| t.to_string()).collect()));
        for w in &d.args {
            let Some(types) = list.as_mut() else {
                return Ok(()); // after `*`
            };
            if w.value == "*" {
                *list = None;
                return Ok(());
            }
            let t = w.value.to_ascii_lowercase();
            if types.contains(&t) {
                self.warn(format!("duplicate MIME type \"{t}\""), Some(at(d)));
            } else {
                types.push(t);
            }
        }
        Ok(())
    }

    /// `ngx_http_core_keepalive()`: `timeout [header_timeout]`.
    fn keepalive_timeout(&mut self, d: &Directive, level: &mut Level_) -> R {
        if !level.seen.insert("keepalive_timeout") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        if sluice_parser::units::parse_time(&d.args[0].value, false).is_none() {
            return Err(self.directive_err(d, "invalid value"));
        }
        if let Some(h) = d.args.get(1) {
            if sluice_parser::units::parse_time(&h.value, true).is_none() {
                return Err(self.directive_err(d, "invalid value"));
            }
        }
        Ok(())
    }

    /// `ngx_http_core_resolver()` and `ngx_resolver_create()` (1.22.1 knows `valid=`
    /// and `ipv6=`; anything else is an address).
    fn resolver(&mut self, d: &Directive, level: &mut Level_) -> R {
        if !level.seen.insert("resolver") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        for w in &d.args {
            let p = w.value.as_str();
            if let Some(v) = p.strip_prefix("valid=") {
                if sluice_parser::units::parse_time(v, true).is_none() {
                    return Err(self.emerg(format!("invalid parameter: {p}"), at(d)));
                }
                continue;
            }
            if let Some(v) = p.strip_prefix("ipv6=") {
                if v != "on" && v != "off" {
                    return Err(self.emerg(format!("invalid parameter: {p}"), at(d)));
                }
                continue;
            }
            let opts = UrlOpts {
                default_port: 53,
                no_resolve: !self.opts.touch_system,
                ..UrlOpts::default()
            };
            if let Err(e) = parse_url(p, opts) {
                return Err(self.emerg(format!("{e} in resolver \"{p}\""), at(d)));
            }
        }
        Ok(())
    }

    /// `ngx_http_proxy_redirect()`: `off`, `default` (after a `proxy_pass` without
    /// variables at the same level), or `REDIRECT REPLACEMENT` (a regex with `~`/`~*`).
    fn proxy_redirect(&mut self, d: &Directive, level: &mut Level_) -> R {
        if level.seen.contains("proxy_redirect off") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        let v1 = d.args[0].value.clone();
        if d.args.len() == 1 {
            if v1 == "off" {
                if level.seen.contains("proxy_redirect rules") {
                    return Err(self.directive_err(d, "is duplicate"));
                }
                level.seen.insert("proxy_redirect off");
                return Ok(());
            }
            if v1 != "default" {
                return Err(self.emerg(format!("invalid parameter \"{v1}\""), at(d)));
            }
        }
        level.seen.insert("proxy_redirect rules");
        if v1 == "default" {
            if level.seen.contains("proxy_pass with variables") {
                return Err(self.emerg(
                    "\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with variables",
                    at(d),
                ));
            }
            if !level.seen.contains("proxy_pass") {
                return Err(self.emerg(
                    "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive",
                    at(d),
                ));
            }
            return Ok(());
        }
        if let Some(re) = v1.strip_prefix('~') {
            let (pat, caseless) = match re.strip_prefix('*') {
                Some(p) => (p, true),
                None => (re, false),
            };
            self.compile_regex(d, pat, caseless)?;
        } else {
            self.compile_value(d, &v1, false)?;
        }
        let v2 = d.args[1].value.clone();
        self.compile_value(d, &v2, false)
    }

    /// `ngx_http_core_error_page()`: the `=CODE` word, the URI (compiled), then each
    /// status in order.
    fn error_page(&mut self, d: &Directive) -> R {
        let n = d.args.len();
        let mut codes = &d.args[..n - 1];
        if let Some(last) = codes.last() {
            if let Some(resp) = last.value.strip_prefix('=') {
                if codes.len() == 1 || (!resp.is_empty() && ngx_atoi(resp).is_none()) {
                    return Err(self.emerg(format!("invalid value \"{}\"", last.value), at(d)));
                }
                codes = &codes[..codes.len() - 1];
            }
        }
        let uri = d.args[n - 1].value.clone();
        self.compile_value(d, &uri, false)?;
        for w in codes {
            match ngx_atoi(&w.value) {
                None | Some(499) => {
                    return Err(self.emerg(format!("invalid value \"{}\"", w.value), at(d)))
                }
                Some(c) if !(300..=599).contains(&c) => {
                    return Err(self.emerg(
                        format!("value \"{}\" must be between 300 and 599", w.value),
                        at(d),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// `ngx_http_headers_expires()` and `ngx_http_parse_expires()`.
    fn expires(&mut self, d: &Directive, level: &mut Level_) -> R {
        if !level.seen.insert("expires") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        let modified = d.args.len() == 2;
        if modified && d.args[0].value != "modified" {
            return Err(self.directive_err(d, "invalid value"));
        }
        let v = d.args[d.args.len() - 1].value.clone();
        // ngx_http_compile_complex_value(): a value with `$` is a script, taken as is.
        self.compile_value(d, &v, false)?;
        if v.contains('$') {
            return Ok(());
        }
        if !modified && matches!(v.as_str(), "epoch" | "max" | "off") {
            return Ok(());
        }
        let (t, daily) = if let Some(t) = v.strip_prefix('@') {
            if modified {
                return Err(
                    self.directive_err(d, "daily time cannot be used with \"modified\" parameter")
                );
            }
            (t, true)
        } else if let Some(t) = v.strip_prefix('+').or_else(|| v.strip_prefix('-')) {
            (t, false)
        } else {
            (v.as_str(), false)
        };
        match sluice_parser::units::parse_time(t, true) {
            None => Err(self.directive_err(d, "invalid value")),
            Some(secs) if daily && secs > 24 * 60 * 60 => {
                Err(self.directive_err(d, "daily time value must be less than 24 hours"))
            }
            Some(_) => Ok(()),
        }
    }

    fn log_format(&mut self, d: &Directive) -> R {
        let name = d.args[0].value.clone();
        if name == "combined" || !self.hs().log_formats.insert(name.clone()) {
            return Err(self.emerg(format!("duplicate \"log_format\" name \"{name}\""), at(d)));
        }
        let mut rest = &d.args[1..];
        if let Some(esc) = rest.first().and_then(|w| w.value.strip_prefix("escape=")) {
            if !matches!(esc, "default" | "json" | "none") {
                return Err(self.emerg(format!("unknown log format escaping \"{esc}\""), at(d)));
            }
            rest = &rest[1..];
        }
        for w in rest {
            let v = w.value.clone();
            self.compile_value(d, &v, false)?;
        }
        Ok(())
    }

    /// `ngx_http_log_set_log()`: the path (`off`, `syslog:`, with variables, or a file),
    /// the format, then `buffer=`, `flush=`, `gzip[=N]`, `if=` in order.
    fn access_log(&mut self, d: &Directive, cx: Ctx) -> R {
        if cx == Ctx::Http {
            self.hs().http_access_log = true;
        }
        let path = d.args[0].value.clone();
        if path == "off" {
            if let Some(w) = d.args.get(1) {
                return Err(self.emerg(format!("invalid parameter \"{}\"", w.value), at(d)));
            }
            return Ok(());
        }
        let syslog = path.starts_with("syslog:");
        let script = !syslog && path.contains('$');
        if syslog {
            if let Err(msg) = syslog_conf(&path["syslog:".len()..]) {
                return Err(self.emerg(msg, at(d)));
            }
        } else if script {
            self.compile_value(d, &path, false)?;
        } else {
            let full = self.prefix_path(&path);
            self.main.log_files.push((full, Some(at(d))));
        }
        if let Some(fmt) = d.args.get(1) {
            let f = fmt.value.clone();
            let known = f.eq_ignore_ascii_case("combined")
                || self
                    .hs()
                    .log_formats
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(&f));
            if !known {
                return Err(self.emerg(format!("unknown log format \"{f}\""), at(d)));
            }
        }
        let (mut size, mut flush) = (0, 0);
        for w in d.args.iter().skip(2) {
            let p = w.value.as_str();
            if let Some(v) = p.strip_prefix("buffer=") {
                size = sluice_parser::units::parse_size(v).unwrap_or(0);
                if size == 0 {
                    return Err(self.emerg(format!("invalid buffer size \"{v}\""), at(d)));
                }
            } else if let Some(v) = p.strip_prefix("flush=") {
                flush = sluice_parser::units::parse_time(v, false).unwrap_or(0);
                if flush == 0 {
                    return Err(self.emerg(format!("invalid flush time \"{v}\""), at(d)));
                }
            } else if p == "gzip" || p.starts_with("gzip=") {
                if size == 0 {
                    size = 64 * 1024;
                }
                if let Some(v) = p.strip_prefix("gzip=") {
                    if !ngx_atoi(v).is_some_and(|n| (1..=9).contains(&n)) {
                        let msg = format!("invalid compression level \"{v}\"");
                        return Err(self.emerg(msg, at(d)));
                    }
                }
            } else if let Some(v) = p.strip_prefix("if=") {
                let v = v.to_string();
                self.compile_value(d, &v, false)?;
            } else {
                return Err(self.emerg(format!("invalid parameter \"{p}\""), at(d)));
            }
        }
        if flush != 0 && size == 0 {
            let msg = format!("no buffer is defined for access_log \"{path}\"");
            return Err(self.emerg(msg, at(d)));
        }
        if size != 0 && script {
            return Err(self.emerg("buffered logs cannot have variables in name", at(d)));
        }
        if size != 0 && syslog {
            return Err(self.emerg("logs to syslog cannot be buffered", at(d)));
        }
        Ok(())
    }

    /// `ngx_http_proxy_pass()`.
    fn proxy_pass(&mut self, d: &Directive, cx: Ctx, level: &mut Level_) -> R {
        if !level.seen.insert("proxy_pass") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        let url = d.args[0].value.clone();
        if url.contains('$') {
            level.seen.insert("proxy_pass with variables");
            let hs = self.hs();
            let node = hs.cur_level();
            hs.ssl_passes.push((node, at(d), false));
            return self.compile_value(d, &url, false);
        }
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") {
            let hs = self.hs();
            let node = hs.cur_level();
            hs.ssl_passes.push((node, at(d), true));
        }
        let (rest, default_port) = if lower.starts_with("http://") {
            (&url[7..], 80)
        } else if lower.starts_with("https://") {
            (&url[8..], 443)
        } else {
            return Err(self.emerg("invalid URL prefix", at(d)));
        };
        let opts = UrlOpts {
            uri_part: true,
            no_resolve: true,
            default_port,
            ..UrlOpts::default()
        };
        let parsed = match parse_url(rest, opts) {
            Ok(p) => p,
            Err(err) => {
                return Err(self.emerg(format!("{err} in upstream \"{rest}\""), at(d)));
            }
        };
        // ngx_http_upstream_add() comes first, then the URI-part rule.
        if !parsed.unix {
            self.add_upstream(parsed.host.clone(), parsed.port, false, at(d))?;
        }
        let kind = self.loc_kinds.last().copied().unwrap_or_default();
        let in_if_or_lmt = matches!(cx, Ctx::LocationIf | Ctx::LimitExcept);
        if (kind.regex || kind.named || in_if_or_lmt) && parsed.uri {
            return Err(self.emerg(
                "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
                at(d),
            ));
        }
        Ok(())
    }

    /// `ngx_http_upstream_add()`: an implicit upstream for a `proxy_pass` host, or an
    /// explicit `upstream` block; the two meet by host name.
    pub(crate) fn add_upstream(
        &mut self,
        host: String,
        port: Option<u16>,
        explicit: bool,
        origin: Origin,
    ) -> R {
        let hs = self.hs();
        let key = host.to_ascii_lowercase();
        let found = hs.ups_by_host.get(&key).and_then(|list| {
            list.iter().copied().find(|&i| {
                let u = &hs.upstreams[i];
                u.explicit || explicit || u.port == port
            })
        });
        if let Some(i) = found {
            let u = hs.upstreams[i].clone();
            if explicit && u.explicit {
                return Err(self.emerg(format!("duplicate upstream \"{host}\""), origin));
            }
            let (ex, imp_port) = if explicit {
                (origin, port)
            } else {
                (u.origin, port)
            };
            let _ = ex;
            let port_of_implicit = if explicit { u.port } else { imp_port };
            if u.explicit || explicit {
                if let Some(p) = port_of_implicit {
                    let at_ = if explicit { u.origin } else { origin };
                    return Err(
                        self.emerg(format!("upstream \"{host}\" may not have port {p}"), at_)
                    );
                }
            }
            if explicit {
                // nginx turns the implicit upstream into the explicit one in place,
                // keeping its position and the place it was first named.
                self.hs().upstreams[i].explicit = true;
            }
            return Ok(());
        }
        let hs = self.hs();
        let index = hs.upstreams.len();
        hs.ups_by_host.entry(key).or_default().push(index);
        hs.upstreams.push(Upstream {
            host,
            port,
            explicit,
            origin,
            primary: 0,
        });
        Ok(())
    }
}

/// Built-in variables declared `NGX_HTTP_VAR_CHANGEABLE` (besides every `$ssl_*`): a
/// configuration may define them again. Checked against nginx 1.22.1 with `set`.
const CHANGEABLE: &[&str] = &[
    "args",
    "limit_rate",
    "proxy_host",
    "proxy_port",
    "invalid_referer",
    "memcached_key",
    "modern_browser",
    "ancient_browser",
    "msie",
    "uid_reset",
];

/// The variables `ngx_http_script_compile()` (1.22.1) finds in a value, in order, or
/// its error message: `$name`, `${name}`; `$1`..`$9` are captures, not variables.
pub(crate) fn script_vars(v: &str) -> Result<Vec<String>, String> {
    let invalid = || "invalid variable name".to_string();
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        i += 1;
        if i == b.len() {
            return Err(invalid());
        }
        if (b'1'..=b'9').contains(&b[i]) {
            i += 1;
            continue;
        }
        let bracket = b[i] == b'{';
        if bracket {
            i += 1;
            if i == b.len() {
                return Err(invalid());
            }
        }
        let start = i;
        let mut end = None;
        while i < b.len() {
            let ch = b[i];
            if ch == b'}' && bracket {
                end = Some(i);
                i += 1;
                break;
            }
            if ch.is_ascii_alphanumeric() || ch == b'_' {
                i += 1;
                continue;
            }
            break;
        }
        if bracket && end.is_none() {
            return Err(format!(
                "the closing bracket in \"{}\" variable is missing",
                &v[start..i]
            ));
        }
        let end = end.unwrap_or(i);
        if end == start {
            return Err(invalid());
        }
        out.push(v[start..end].to_string());
    }
    Ok(out)
}

/// How `ngx_parse_url()` is asked to read an address (`ngx_url_t`'s flags).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UrlOpts {
    /// `u.listen`: a bare number is a port, `*` is the wildcard, no URI allowed.
    pub listen: bool,
    /// `u.uri_part`: a `/...` (or `?...`) tail is allowed (proxy_pass).
    pub uri_part: bool,
    /// `u.no_resolve`: do not look the host up.
    pub no_resolve: bool,
    /// `u.default_port`.
    pub default_port: u16,
}

/// What `ngx_parse_url()` found.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedUrl {
    /// `u.host`: the host as written (IPv6 with its brackets), or the socket path.
    pub host: String,
    /// The port written in the URL, if any.
    pub port: Option<u16>,
    /// A URI part follows the address.
    pub uri: bool,
    /// `unix:` address.
    pub unix: bool,
    /// The addresses (literal or resolved); empty when not resolved.
    pub addrs: Vec<SocketAddr>,
}

/// `ngx_atoi()`: digits only, no sign, no overflow.
fn ngx_atoi(s: &str) -> Option<i64> {
    sluice_parser::units::parse_number(s)
}

/// `ngx_inet_addr()`: four dotted decimal octets, read as nginx reads them (an empty
/// octet counts as 0).
pub(crate) fn ngx_inet_addr(s: &str) -> Option<Ipv4Addr> {
    let (mut addr, mut octet, mut dots) = (0u32, 0u64, 0);
    for c in s.bytes() {
        if c.is_ascii_digit() {
            octet = octet.saturating_mul(10).saturating_add(u64::from(c - b'0'));
            continue;
        }
        if c == b'.' && octet < 256 {
            addr = (addr << 8) + octet as u32;
            octet = 0;
            dots += 1;
            continue;
        }
        return None;
    }
    (dots == 3 && octet < 256).then(|| Ipv4Addr::from((addr << 8) + octet as u32))
}

/// `ngx_inet_resolve_host()`: `getaddrinfo()`, IPv4 addresses first.
pub(crate) fn resolve_host(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in found
        .iter()
        .filter(|a| a.is_ipv4())
        .chain(found.iter().filter(|a| a.is_ipv6()))
    {
        if !out.contains(a) {
            out.push(*a);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `ngx_parse_url()` of nginx 1.22.1 (`src/core/ngx_inet.c`), error for error:
/// `unix:PATH[:URI]`, `[IPv6][:PORT][/URI]`, `HOST[:PORT][/URI]`.
pub(crate) fn parse_url(url: &str, o: UrlOpts) -> Result<ParsedUrl, &'static str> {
    if url.len() >= 5 && url.as_bytes()[..5].eq_ignore_ascii_case(b"unix:") {
        let mut path = &url[5..];
        let mut uri = false;
        if o.uri_part {
            if let Some(i) = path.find(':') {
                path = &path[..i];
                uri = true;
            }
        }
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        if path.len() + 1 > 108 {
            return Err("too long path in the unix domain socket");
        }
        return Ok(ParsedUrl {
            host: path.to_string(),
            uri,
            unix: true,
            ..ParsedUrl::default()
        });
    }
    if url.starts_with('[') {
        return parse_inet6_url(url, o);
    }
    let colon = url.find(':');
    let mut uri_at = url.find('/');
    if let Some(q) = url.find('?') {
        if uri_at.is_none_or(|u| q < u) {
            uri_at = Some(q);
        }
    }
    let mut last = url.len();
    let mut port_at = colon;
    if let Some(u) = uri_at {
        if o.listen || !o.uri_part {
            return Err("invalid host");
        }
        last = u;
        if port_at.is_some_and(|p| u < p) {
            port_at = None;
        }
    }
    let mut port = None;
    if let Some(p) = port_at {
        match ngx_atoi(&url[p + 1..last]) {
            Some(n) if (1..=65535).contains(&n) => port = Some(n as u16),
            _ => return Err("invalid port"),
        }
        last = p;
    } else if uri_at.is_none() && o.listen {
        // "listen 8080": the value as a port only
        if let Some(n) = ngx_atoi(&url[..last]) {
            if !(1..=65535).contains(&n) {
                return Err("invalid port");
            }
            let sa = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), n as u16);
            return Ok(ParsedUrl {
                host: String::new(),
                port: Some(n as u16),
                addrs: vec![sa],
                ..ParsedUrl::default()
            });
        }
    }
    let host = &url[..last];
    if host.is_empty() {
        return Err("no host");
    }
    let effective_port = port.unwrap_or(o.default_port);
    let mut out = ParsedUrl {
        host: host.to_string(),
        port,
        uri: uri_at.is_some(),
        ..ParsedUrl::default()
    };
    if o.listen && host == "*" {
        out.addrs = vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            effective_port,
        )];
        return Ok(out);
    }
    if let Some(ip) = ngx_inet_addr(host) {
        out.addrs = vec![SocketAddr::new(IpAddr::V4(ip), effective_port)];
        return Ok(out);
    }
    if o.no_resolve {
        return Ok(out);
    }
    match resolve_host(host, effective_port) {
        Some(addrs) => {
            out.addrs = addrs;
            Ok(out)
        }
        None => Err("host not found"),
    }
}

/// `ngx_parse_inet6_url()`.
fn parse_inet6_url(url: &str, o: UrlOpts) -> Result<ParsedUrl, &'static str> {
    let inner = &url[1..];
    let Some(close) = inner.find(']') else {
        return Err("invalid host");
    };
    let mut rest = &inner[close + 1..];
    let mut uri = false;
    if let Some(u) = rest.find('/') {
        if o.listen || !o.uri_part {
            return Err("invalid host");
        }
        rest = &rest[..u];
        uri = true;
    }
    let mut port = None;
    if let Some(p) = rest.strip_prefix(':') {
        match ngx_atoi(p) {
            Some(n) if (1..=65535).contains(&n) => port = Some(n as u16),
            _ => return Err("invalid port"),
        }
    }
    let addr = &inner[..close];
    if addr.is_empty() {
        return Err("no host");
    }
    let ip: Ipv6Addr = addr.parse().map_err(|_| "invalid IPv6 address")?;
    Ok(ParsedUrl {
        host: format!("[{addr}]"),
        port,
        uri,
        unix: false,
        addrs: vec![SocketAddr::new(
            IpAddr::V6(ip),
            port.unwrap_or(o.default_port),
        )],
    })
}

/// `ngx_syslog_process_conf()` for the text after `syslog:`: comma-separated
/// `server=`, `facility=`, `severity=`, `tag=`, `nohostname`.
pub(crate) fn syslog_conf(params: &str) -> Result<(), String> {
    const FACILITIES: &[&str] = &[
        "kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp", "clock",
        "authpriv", "ftp", "ntp", "audit", "alert", "cron", "local0", "local1", "local2", "local3",
        "local4", "local5", "local6", "local7",
    ];
    const SEVERITIES: &[&str] = &[
        "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
    ];
    let (mut server, mut facility, mut severity, mut tag) = (false, false, false, false);
    let mut rest = params;
    loop {
        let (p, next) = match rest.find(',') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Some(url) = p.strip_prefix("server=") {
            if server {
                return Err("duplicate syslog \"server\"".into());
            }
            let opts = UrlOpts {
                default_port: 514,
                ..UrlOpts::default()
            };
            if let Err(e) = parse_url(url, opts) {
                return Err(format!("{e} in syslog server \"{url}\""));
            }
            server = true;
        } else if let Some(v) = p.strip_prefix("facility=") {
            if facility {
                return Err("duplicate syslog \"facility\"".into());
            }
            if !FACILITIES.contains(&v) {
                return Err(format!("unknown syslog facility \"{v}\""));
            }
            facility = true;
        } else if let Some(v) = p.strip_prefix("severity=") {
            if severity {
                return Err("duplicate syslog \"severity\"".into());
            }
            if !SEVERITIES.contains(&v) {
                return Err(format!("unknown syslog severity \"{v}\""));
            }
            severity = true;
        } else if let Some(v) = p.strip_prefix("tag=") {
            if tag {
                return Err("duplicate syslog \"tag\"".into());
            }
            if v.len() > 32 {
                return Err("syslog tag length exceeds 32".into());
            }
            if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(
                    "syslog \"tag\" only allows alphanumeric characters and underscore".into(),
                );
            }
            tag = true;
        } else if p != "nohostname" {
            return Err(format!("unknown syslog parameter \"{rest}\""));
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    if !server {
        return Err("no syslog server specified".into());
    }
    Ok(())
}

/// `so_keepalive=[keepidle]:[keepintvl]:[keepcnt]` as `ngx_http_core_listen()` reads it.
fn so_keepalive_ok(v: &str) -> bool {
    let mut parts = v.splitn(3, ':');
    let idle = parts.next().unwrap_or("");
    let intvl = parts.next().unwrap_or("");
    let cnt = parts.next().unwrap_or("");
    let time = |s: &str| {
        if s.is_empty() {
            Some(0)
        } else {
            sluice_parser::units::parse_time(s, true)
        }
    };
    let (Some(a), Some(b)) = (time(idle), time(intvl)) else {
        return false;
    };
    let c = if cnt.is_empty() {
        Some(0)
    } else {
        ngx_atoi(cnt)
    };
    let Some(c) = c else { return false };
    !(a == 0 && b == 0 && c == 0)
}

/// PCRE2's own message, without the crate's "PCRE2: error compiling pattern at offset N: ".
fn pcre_message(e: &pcre2::Error) -> String {
    let full = e.to_string();
    let rest = full
        .strip_prefix("PCRE2: error compiling pattern")
        .unwrap_or(&full);
    match rest.strip_prefix(" at offset ") {
        Some(r) => r.split_once(": ").map_or(r, |(_, m)| m).to_string(),
        None => rest.trim_start_matches(": ").to_string(),
    }
}

/// `ngx_methods_names` of nginx 1.22.1: what `limit_except` accepts (compared without
/// case).
pub(crate) const LIMIT_EXCEPT_METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "MKCOL",
    "COPY",
    "MOVE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "LOCK",
    "UNLOCK",
    "PATCH",
];

impl Checker<'_> {
    /// `ngx_http_core_limit_except()`: one per location, known methods only.
    fn limit_except(&mut self, d: &Directive, level: &mut Level_) -> R {
        if !level.seen.insert("limit_except") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        for w in &d.args {
            if !LIMIT_EXCEPT_METHODS
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&w.value))
            {
                return Err(self.emerg(format!("invalid method \"{}\"", w.value), at(d)));
            }
        }
        Ok(())
    }

    /// `ngx_http_realip_from()`: `unix:`, an address with an optional prefix, or a host
    /// name (every address it resolves to).
    fn realip_from(&mut self, d: &Directive) -> R {
        let v = d.args[0].value.as_str();
        if v == "unix:" {
            return Ok(());
        }
        match crate::table::parse_cidr(v) {
            None if resolve_host(v, 0).is_some() => Ok(()),
            None => Err(self.emerg(format!("host not found in set_real_ip_from \"{v}\""), at(d))),
            Some((_, low_bits)) => {
                if low_bits {
                    self.warn(
                        format!("low address bits of {v} are meaningless"),
                        Some(at(d)),
                    );
                }
                Ok(())
            }
        }
    }

    /// `ngx_http_realip()`: any header name; `proxy_protocol` needs the PROXY protocol
    /// on the listening socket, which sluice does not speak: without it the rules that
    /// depend on the client address would see the wrong one, so it is refused.
    fn real_ip_header(&mut self, d: &Directive) -> R {
        if d.args[0].value == "proxy_protocol" {
            let msg = "\"real_ip_header proxy_protocol\" is not supported yet (the PROXY protocol is not implemented), and running without it would let in requests that nginx refuses";
            self.diags.push(
                sluice_parser::Diagnostic::new(sluice_parser::Level::Emerg, msg, Some(at(d)))
                    .with_rule("refused-unsafe"),
            );
            return Err(super::Stop);
        }
        Ok(())
    }

    /// `ngx_http_access_rule()`: `all`, `unix:`, or an address with an optional prefix.
    fn access_rule(&mut self, d: &Directive) -> R {
        let v = d.args[0].value.as_str();
        if v == "all" || v == "unix:" {
            return Ok(());
        }
        match crate::table::parse_cidr(v) {
            None => Err(self.emerg(format!("invalid parameter \"{v}\""), at(d))),
            Some((_, low_bits)) => {
                if low_bits {
                    self.warn(
                        format!("low address bits of {v} are meaningless"),
                        Some(at(d)),
                    );
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `script_vars` on one value, as `name,name` or the error.
    fn check(v: &str) -> String {
        match script_vars(v) {
            Ok(names) => names.join(","),
            Err(e) => e,
        }
    }

    #[test]
    fn script_vars_reads_like_ngx_http_script_compile() {
        assert_eq!(check("$host:${server_port}x$1"), "host,server_port");
        assert_eq!(check("a$"), "invalid variable name");
        assert_eq!(check("$ b"), "invalid variable name");
        assert_eq!(check("${}"), "invalid variable name");
        assert_eq!(check("${"), "invalid variable name");
        assert_eq!(
            check("${ho-st}"),
            "the closing bracket in \"ho\" variable is missing"
        );
        assert_eq!(check("100\\$ off"), "invalid variable name");
    }

    /// `parse_url` as proxy_pass (`uri_part`, no resolving) or listen reads it.
    fn url(u: &str, listen: bool) -> String {
        let o = UrlOpts {
            listen,
            uri_part: !listen,
            no_resolve: true,
            default_port: 80,
        };
        match parse_url(u, o) {
            Ok(p) => format!("{} {:?} uri={} {:?}", p.host, p.port, p.uri, p.addrs),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parse_url_follows_ngx_parse_url() {
        assert_eq!(url("app:3000/x", false), "app Some(3000) uri=true []");
        assert_eq!(url("a:b:3000", false), "invalid port");
        assert_eq!(url(":3000", false), "no host");
        assert_eq!(url("127.0.0.1:0", false), "invalid port");
        assert_eq!(url("[::1:3000", false), "invalid host");
        assert_eq!(url("[::zz]:3000", false), "invalid IPv6 address");
        assert_eq!(url("127.0.0.1:8080/x", true), "invalid host");
        assert_eq!(url("8080", true), " Some(8080) uri=false [0.0.0.0:8080]");
        assert_eq!(url("unix:", false), "no path in the unix domain socket");
    }
}
