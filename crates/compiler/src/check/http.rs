//! The http context: `server`, `location`, `listen`, `server_name`, the rewrite module
//! (`return`, `rewrite`, `if`, `set`), `root`/`alias`, `try_files`, `error_page`,
//! `add_header`, logs, `proxy_pass` and the directives whose values carry variables.

use super::{at, Checker, Ctx, Level_, R};
use crate::registry::Spec;
use sluice_parser::ast::Directive;
use sluice_parser::template::{split, Part, TemplateError};
use sluice_parser::FileId;
use std::collections::HashSet;
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
    pub http_access_log: bool,
    /// Stack of open locations (innermost last), to nest `Loc`s.
    loc_stack: Vec<Loc>,
    /// Variable uses registered at merge time (after everything was parsed):
    /// `proxy_set_header` values and the like.
    pub late_vars: Vec<String>,
}

/// What kind of location we are in, for the rules that depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocKind {
    pub regex: bool,
    pub named: bool,
    pub exact: bool,
}

impl HttpState {
    pub fn use_var(&mut self, name: &str) {
        if self.used_set.insert(name.to_string()) {
            self.used_vars.push(name.to_string());
        }
    }
}

impl Checker<'_> {
    fn hs(&mut self) -> &mut HttpState {
        self.http.get_or_insert_with(HttpState::default)
    }

    fn server(&mut self) -> &mut Server {
        let hs = self.hs();
        if hs.servers.is_empty() {
            hs.servers.push(Server::default());
        }
        hs.servers.last_mut().expect("a server was just ensured")
    }

    /// Compiles a value with variables as `ngx_http_script_compile()` would, registering
    /// the variables it uses. `late`: compiled at merge time (after all parsing).
    pub(crate) fn compile_value(&mut self, d: &Directive, value: &str, late: bool) -> R {
        match split(value) {
            Ok(parts) => {
                for p in parts {
                    if let Part::Var(n) = p {
                        let n = n.to_ascii_lowercase();
                        if late {
                            let hs = self.hs();
                            if !hs.late_vars.contains(&n) {
                                hs.late_vars.push(n);
                            }
                        } else {
                            self.hs().use_var(&n);
                        }
                    }
                }
                Ok(())
            }
            Err(TemplateError::InvalidName) => {
                Err(self.emerg(format!("invalid variable name in \"{value}\""), at(d)))
            }
            Err(TemplateError::MissingBracket) => Err(self.emerg(
                format!("the closing bracket in \"{value}\" variable is missing"),
                at(d),
            )),
        }
    }

    /// Registers a variable by name (`$name` already stripped).
    fn use_var(&mut self, name: &str) {
        let n = name.to_ascii_lowercase();
        self.hs().use_var(&n);
    }

    pub(crate) fn define_var(&mut self, name: &str) {
        let n = name.to_ascii_lowercase();
        self.hs().defined_vars.insert(n);
    }

    /// Compiles a PCRE pattern as nginx does (`ngx_regex_compile`), defining the named
    /// captures as variables.
    pub(crate) fn compile_regex(&mut self, d: &Directive, pattern: &str, caseless: bool) -> R {
        match pcre2::bytes::RegexBuilder::new()
            .caseless(caseless)
            .build(pattern)
        {
            Ok(re) => {
                let names: Vec<String> = re.capture_names().iter().flatten().cloned().collect();
                for n in names {
                    self.define_var(&n);
                }
                Ok(())
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
                self.define_var(var);
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
            "limit_req_zone" | "limit_conn_zone" => {
                if let Err(e) = self.compile_value(d, a(0), false) {
                    return Some(Err(e));
                }
                let zone = d
                    .args
                    .iter()
                    .skip(1)
                    .find_map(|w| w.value.strip_prefix("zone="));
                match zone {
                    Some(z) if z.contains(':') => Ok(()),
                    _ => Err(self.emerg(
                        format!("\"{}\" must have \"zone\" parameter", spec.name),
                        at(d),
                    )),
                }
            }
            "auth_request_set" | "perl_set" => {
                if let Some(var) = a(0).strip_prefix('$') {
                    self.define_var(var);
                }
                Ok(())
            }
            "limit_except" => self.walk_block(d, Ctx::LimitExcept),
            _ => return None,
        })
    }

    fn server_block(&mut self, d: &Directive) -> R {
        let origin = at(d);
        self.hs().servers.push(Server {
            origin: Some(origin),
            ..Server::default()
        });
        self.walk_block(d, Ctx::Server)?;
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
        let others = hs.servers[..me]
            .iter()
            .flat_map(|s| s.listens.iter())
            .filter(|(x, _)| x.addr == l.addr);
        let mut options = false;
        let mut default = false;
        for (x, _) in others {
            options |= x.options_set;
            default |= x.default_server;
        }
        if l.options_set && options {
            return Err(self.emerg(format!("duplicate listen options for {}", l.addr), origin));
        }
        if l.default_server && default {
            return Err(self.emerg(format!("a duplicate default server for {}", l.addr), origin));
        }
        self.hs().servers[me].listens.push((l, origin));
        Ok(())
    }

    fn listen(&mut self, d: &Directive) -> R {
        let raw = d.args[0].value.as_str();
        let addr = match listen_addr(raw) {
            Ok(a) => a,
            Err(msg) => return Err(self.emerg(msg, at(d))),
        };
        let mut l = Listen {
            addr,
            ssl: false,
            default_server: false,
            options_set: false,
        };
        for w in &d.args[1..] {
            let p = w.value.as_str();
            let key = p.split('=').next().unwrap_or(p);
            match key {
                "default_server" | "default" => l.default_server = true,
                "ssl" => l.ssl = true,
                "http2" | "proxy_protocol" => {}
                "bind" | "deferred" | "reuseport" => l.options_set = true,
                "backlog" | "rcvbuf" | "sndbuf" | "setfib" | "fastopen" | "accept_filter" | "ipv6only" | "so_keepalive"
                    if p.contains('=') =>
                {
                    l.options_set = true
                }
                "spdy" => {
                    return Err(self.emerg(
                        "invalid parameter \"spdy\": ngx_http_spdy_module was superseded by ngx_http_v2_module",
                        at(d),
                    ))
                }
                _ => return Err(self.emerg(format!("invalid parameter \"{p}\""), at(d))),
            }
        }
        self.add_listen(l, at(d))
    }

    fn server_name(&mut self, d: &Directive) -> R {
        for w in &d.args {
            let n = w.value.as_str();
            if n.contains('/') {
                self.warn(
                    format!("server name \"{n}\" has suspicious symbols"),
                    Some(at(d)),
                );
            }
            if let Some(re) = n.strip_prefix('~') {
                self.compile_regex(d, re, true)?;
            }
            let lower = n.to_ascii_lowercase();
            self.server().names.push(lower);
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
        let r = self.walk_block(d, Ctx::Location);
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
                let url = (v1.len() > 7 && v1.starts_with("http://"))
                    || (v1.len() > 8 && v1.starts_with("https://"))
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

    fn error_page(&mut self, d: &Directive) -> R {
        let n = d.args.len();
        let uri = d.args[n - 1].value.clone();
        let mut codes = &d.args[..n - 1];
        if let Some(last) = codes.last() {
            if let Some(resp) = last.value.strip_prefix('=') {
                if !resp.is_empty() && sluice_parser::units::parse_number(resp).is_none() {
                    return Err(self.emerg(format!("invalid value \"{}\"", last.value), at(d)));
                }
                codes = &codes[..codes.len() - 1];
            }
        }
        if codes.is_empty() {
            return Err(self.emerg(
                "invalid number of arguments in \"error_page\" directive",
                at(d),
            ));
        }
        for w in codes {
            match sluice_parser::units::parse_number(&w.value) {
                None => return Err(self.emerg(format!("invalid value \"{}\"", w.value), at(d))),
                Some(c) if !(300..=599).contains(&c) || c == 499 => {
                    return Err(self.emerg(
                        format!("value \"{}\" must be between 300 and 599", w.value),
                        at(d),
                    ))
                }
                Some(_) => {}
            }
        }
        self.compile_value(d, &uri, false)
    }

    fn expires(&mut self, d: &Directive, level: &mut Level_) -> R {
        if !level.seen.insert("expires") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        let mut args: Vec<&str> = d.args.iter().map(|w| w.value.as_str()).collect();
        if args.len() == 2 {
            if args[0] != "modified" {
                return Err(self.emerg(format!("invalid value \"{}\"", args[0]), at(d)));
            }
            args.remove(0);
        }
        let v = args[0];
        if matches!(v, "epoch" | "max" | "off") {
            return Ok(());
        }
        if v.contains('$') {
            let v = v.to_string();
            return self.compile_value(d, &v, false);
        }
        let t = v
            .strip_prefix('@')
            .or_else(|| v.strip_prefix('+'))
            .or_else(|| v.strip_prefix('-'))
            .unwrap_or(v);
        if sluice_parser::units::parse_time(t, true).is_none() {
            return Err(self.directive_err(d, "invalid value"));
        }
        Ok(())
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

    fn access_log(&mut self, d: &Directive, cx: Ctx) -> R {
        if cx == Ctx::Http {
            self.hs().http_access_log = true;
        }
        let path = d.args[0].value.clone();
        if path == "off" {
            return Ok(());
        }
        if let Some(fmt) = d.args.get(1) {
            let f = fmt.value.clone();
            if f != "combined" && !self.hs().log_formats.contains(&f) {
                return Err(self.emerg(format!("unknown log format \"{f}\""), at(d)));
            }
        }
        for w in d.args.iter().skip(2) {
            let p = w.value.as_str();
            let key = p.split('=').next().unwrap_or(p);
            if !matches!(key, "buffer" | "gzip" | "flush" | "if")
                || (key != "gzip" && !p.contains('='))
            {
                return Err(self.emerg(format!("invalid parameter \"{p}\""), at(d)));
            }
            if let Some(cond) = p.strip_prefix("if=") {
                let c = cond.to_string();
                self.compile_value(d, &c, false)?;
            }
        }
        if path.starts_with("syslog:") {
            return Ok(());
        }
        if path.contains('$') {
            return self.compile_value(d, &path, false);
        }
        let full = self.prefix_path(&path);
        self.main.log_files.push((full, Some(at(d))));
        Ok(())
    }

    /// `ngx_http_proxy_pass()`.
    fn proxy_pass(&mut self, d: &Directive, cx: Ctx, level: &mut Level_) -> R {
        if !level.seen.insert("proxy_pass") {
            return Err(self.directive_err(d, "is duplicate"));
        }
        let url = d.args[0].value.clone();
        if url.contains('$') {
            return self.compile_value(d, &url, false);
        }
        let lower = url.to_ascii_lowercase();
        let (rest, default_port) = if lower.starts_with("http://") {
            (&url[7..], 80)
        } else if lower.starts_with("https://") {
            (&url[8..], 443)
        } else {
            return Err(self.emerg("invalid URL prefix", at(d)));
        };
        let parsed = match parse_upstream_url(rest, default_port) {
            Ok(p) => p,
            Err(err) => {
                let shown = err_url(rest);
                return Err(self.emerg(format!("{err} in upstream \"{shown}\""), at(d)));
            }
        };
        let kind = self.loc_kinds.last().copied().unwrap_or_default();
        let in_if_or_lmt = matches!(cx, Ctx::LocationIf | Ctx::LimitExcept);
        if (kind.regex || kind.named || in_if_or_lmt) && parsed.uri {
            return Err(self.emerg(
                "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
                at(d),
            ));
        }
        if parsed.unix {
            return Ok(());
        }
        self.add_upstream(parsed.host, parsed.port, false, at(d))
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
        if let Some(i) = hs.upstreams.iter().position(|u| {
            u.host.eq_ignore_ascii_case(&host) && (u.explicit || explicit || u.port == port)
        }) {
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
                let u = &mut self.hs().upstreams[i];
                u.explicit = true;
                u.origin = origin;
            }
            return Ok(());
        }
        self.hs().upstreams.push(Upstream {
            host,
            port,
            explicit,
            origin,
        });
        Ok(())
    }
}

/// A parsed `proxy_pass`/upstream `server` address.
pub(crate) struct UpstreamUrl {
    pub host: String,
    pub port: Option<u16>,
    pub uri: bool,
    pub unix: bool,
}

/// What nginx shows as the URL in `... in upstream "X"`: the part after the scheme,
/// without the URI.
fn err_url(rest: &str) -> &str {
    rest
}

/// `ngx_parse_url()` for `host[:port][/uri]`, `[v6][:port]`, `unix:/path[:/uri]`.
pub(crate) fn parse_upstream_url(
    rest: &str,
    _default_port: u16,
) -> Result<UpstreamUrl, &'static str> {
    if let Some(path) = rest.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        let uri = path.contains(":/");
        return Ok(UpstreamUrl {
            host: String::new(),
            port: None,
            uri,
            unix: true,
        });
    }
    let (hostport, uri) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], true),
        None => (rest, false),
    };
    let (host, port_text) = if let Some(r) = hostport.strip_prefix('[') {
        let Some(end) = r.find(']') else {
            return Err("invalid IPv6 address");
        };
        let after = &r[end + 1..];
        (&hostport[..end + 2], after.strip_prefix(':'))
    } else {
        match hostport.rfind(':') {
            Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
            None => (hostport, None),
        }
    };
    let port = match port_text {
        Some(p) => match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Some(n as u16),
            _ => return Err("invalid port"),
        },
        None => None,
    };
    if host.is_empty() {
        return Err("no host");
    }
    Ok(UpstreamUrl {
        host: host.to_string(),
        port,
        uri,
        unix: false,
    })
}

/// nginx's text for a `listen` address: `0.0.0.0:80`, `127.0.0.1:8080`, `[::]:443`.
fn listen_addr(raw: &str) -> Result<String, String> {
    if raw.starts_with("unix:") {
        return Ok(raw.to_string());
    }
    let bad_port = || format!("invalid port in \"{raw}\" of the \"listen\" directive");
    let port_ok = |p: &str| p.parse::<u32>().ok().filter(|n| (1..=65535).contains(n));
    if let Some(r) = raw.strip_prefix('[') {
        let Some(end) = r.find(']') else {
            return Err(format!(
                "invalid IPv6 address in \"{raw}\" of the \"listen\" directive"
            ));
        };
        let ip: Ipv6Addr = r[..end].parse().map_err(|_| {
            format!("invalid IPv6 address in \"{raw}\" of the \"listen\" directive")
        })?;
        let port = match r[end + 1..].strip_prefix(':') {
            Some(p) => port_ok(p).ok_or_else(bad_port)?,
            None => 80,
        };
        return Ok(SocketAddr::new(IpAddr::V6(ip), port as u16).to_string());
    }
    let (host, port) = match raw.rfind(':') {
        Some(i) => (&raw[..i], port_ok(&raw[i + 1..]).ok_or_else(bad_port)?),
        None => match port_ok(raw) {
            Some(p) => ("*", p),
            None if raw.bytes().all(|b| b.is_ascii_digit()) => return Err(bad_port()),
            None => (raw, 80),
        },
    };
    let ip = if host == "*" {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        IpAddr::V4(ip)
    } else {
        match (host, port as u16)
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.find(|a| a.is_ipv4()))
        {
            Some(a) => a.ip(),
            None => {
                return Err(format!(
                    "host not found in \"{raw}\" of the \"listen\" directive"
                ))
            }
        }
    };
    Ok(SocketAddr::new(ip, port as u16).to_string())
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
