//! The checks nginx makes when `http { }` is closed (`ngx_http_block()` after parsing),
//! in its order: upstreams (`ngx_http_upstream_init_main_conf`: implicit hosts resolve,
//! explicit groups need a non-`backup` server), certificates
//! (`ngx_http_ssl_merge_srv_conf`), values compiled while merging (`proxy_set_header`
//! and the like), location trees (`ngx_http_init_locations`), `listen ... ssl` without a
//! certificate (`ngx_http_ssl_init`), unknown variables (`ngx_http_variables_init_vars`),
//! server names (`ngx_http_optimize_servers`).

use super::hash::{Added, HashKeys};
use super::http::{Loc, Server};
use super::upstream::resolves;
use super::{Checker, R};
use crate::variables;
use std::path::PathBuf;

/// Debian's `--http-log-path`.
const DEFAULT_ACCESS_LOG: &str = "/var/log/nginx/access.log";

impl Checker<'_> {
    pub(super) fn http_end(&mut self) -> R {
        let Some(hs) = self.http.take() else {
            return Ok(());
        };
        let r = self.http_end_inner(&hs);
        self.http = Some(hs);
        r
    }

    fn http_end_inner(&mut self, hs: &super::http::HttpState) -> R {
        // 1. upstreams in the order first named (ngx_http_upstream_init_main_conf):
        // implicit ones resolve their proxy_pass host; explicit ones need a server
        // that is not `backup` (ngx_http_upstream_init_round_robin).
        for u in &hs.upstreams {
            if u.explicit {
                if u.primary == 0 {
                    let (file, line) = u.origin;
                    let msg = format!(
                        "no servers in upstream \"{}\" in {}:{line}",
                        u.host,
                        self.sources.path(file).display()
                    );
                    return Err(self.emerg_nowhere(msg));
                }
            } else if self.opts.touch_system && !resolves(&u.host, u.port.unwrap_or(80)) {
                return Err(self.emerg(
                    format!("host not found in upstream \"{}\"", u.host),
                    u.origin,
                ));
            }
        }
        // 2. certificates, server by server, inherited from http when a server sets none.
        for s in &hs.servers {
            let (certs, keys) = merged_certs(hs, s);
            if let Some(origin) = s.ssl_on {
                if certs.is_empty() {
                    return Err(self.emerg(
                        "no \"ssl_certificate\" is defined for the \"ssl\" directive",
                        origin,
                    ));
                }
            }
            if certs.is_empty() {
                continue;
            }
            if keys.len() < certs.len() {
                let msg = format!(
                    "no \"ssl_certificate_key\" is defined for certificate \"{}\"",
                    certs[keys.len()]
                );
                return Err(self.emerg_nowhere(msg));
            }
            if let (true, Some(load)) = (self.opts.touch_system, self.opts.tls_loader) {
                let passwords = s
                    .password_file
                    .as_ref()
                    .or(hs.password_file.as_ref())
                    .map(|p| self.conf_path(p));
                for (cert, key) in certs.iter().zip(keys) {
                    let (cert, key) = (self.conf_path(cert), self.conf_path(key));
                    self.tls_load(
                        load,
                        crate::TlsFile::Pair {
                            cert: &cert,
                            key: &key,
                            passwords: passwords.as_deref(),
                        },
                    )?;
                }
                self.ssl_ciphers(s.ciphers.as_ref().or(hs.ciphers.as_ref()))?;
                if let Some(t) = s.trusted.as_ref().or(hs.trusted.as_ref()) {
                    let t = self.conf_path(t);
                    self.tls_load(load, crate::TlsFile::Trusted(&t))?;
                }
                if let Some(dh) = s.dhparam.as_ref().or(hs.dhparam.as_ref()) {
                    self.dhparam(dh)?;
                }
            } else if self.opts.touch_system {
                for (cert, key) in certs.iter().zip(keys) {
                    self.load_pem(cert, "certificate", "-----BEGIN CERTIFICATE-----", "PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)")?;
                    self.load_pem(key, "certificate key", "PRIVATE KEY-----", "PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)")?;
                }
            }
        }
        // Merging: the values compiled then (proxy_set_header, ...); an error is
        // reported at the line that closed `http { }`.
        let merge_vars = match merge_values(hs) {
            Ok(vars) => vars,
            Err(msg) => {
                let origin = hs.close.unwrap_or((sluice_parser::FileId(0), 0));
                return Err(self.emerg(msg, origin));
            }
        };
        // The proxy module's merge loads what its TLS connections need.
        self.proxy_ssl(hs)?;
        // 3. location trees: duplicate exact or prefix locations at one level.
        for s in &hs.servers {
            self.duplicate_locations(&s.locations)?;
        }
        // 4. `listen ... ssl` needs a certificate in the default server of the address.
        let mut addrs: Vec<&str> = Vec::new();
        for s in &hs.servers {
            for (l, _) in &s.listens {
                if !addrs.contains(&l.addr.as_str()) {
                    addrs.push(&l.addr);
                }
            }
        }
        for addr in &addrs {
            let on_addr: Vec<&Server> = hs
                .servers
                .iter()
                .filter(|s| s.listens.iter().any(|(l, _)| l.addr == *addr))
                .collect();
            let ssl = on_addr
                .iter()
                .any(|s| s.listens.iter().any(|(l, _)| l.addr == *addr && l.ssl));
            if !ssl {
                continue;
            }
            let default = on_addr
                .iter()
                .find(|s| {
                    s.listens
                        .iter()
                        .any(|(l, _)| l.addr == *addr && l.default_server)
                })
                .or(on_addr.first())
                .copied();
            let order = default.into_iter().chain(on_addr.iter().copied());
            for s in order {
                if merged_certs(hs, s).0.is_empty() {
                    let origin = s.origin.unwrap_or((sluice_parser::FileId(0), 0));
                    return Err(self.emerg(
                        "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
                        origin,
                    ));
                }
            }
        }
        // 5. every variable used must exist.
        for name in hs.used_vars.iter().chain(merge_vars.iter()) {
            let dynamic = variables::DYNAMIC
                .iter()
                .any(|(so, names)| self.loaded.contains(*so) && names.contains(&name.as_str()));
            if !variables::is_builtin(name) && !hs.defined_vars.contains(name) && !dynamic {
                return Err(self.emerg_nowhere(format!("unknown \"{name}\" variable")));
            }
        }
        // 6. server names, address by address (ngx_http_optimize_servers): ports in
        // the order first listened on, addresses with `bind` first and wildcards last;
        // only addresses shared by servers (or whose default server has a regex name
        // with captures) are looked at. The same name again: the later server loses it.
        for addr in ordered_addrs(hs) {
            let servers: Vec<&Server> = hs
                .servers
                .iter()
                .filter(|s| s.listens.iter().any(|(l, _)| l.addr == addr))
                .collect();
            let default = servers
                .iter()
                .find(|s| {
                    s.listens
                        .iter()
                        .any(|(l, _)| l.addr == addr && l.default_server)
                })
                .or(servers.first());
            if servers.len() < 2 && !default.is_some_and(|s| s.captures) {
                continue;
            }
            let mut keys = HashKeys::default();
            for s in &servers {
                let implicit = [String::new()];
                let names = if s.names.is_empty() {
                    &implicit[..]
                } else {
                    &s.names[..]
                };
                for n in names.iter().filter(|n| !n.starts_with('~')) {
                    match keys.add(n, true) {
                        Added::Ok => {}
                        Added::Busy => self.warn(
                            format!("conflicting server name \"{n}\" on {addr}, ignored"),
                            None,
                        ),
                        Added::Declined => {
                            return Err(self.emerg_nowhere(format!(
                                "invalid server name or wildcard \"{n}\" on {addr}"
                            )))
                        }
                    }
                }
            }
        }
        if !hs.http_access_log {
            self.main
                .log_files
                .push((PathBuf::from(DEFAULT_ACCESS_LOG), None));
        }
        Ok(())
    }

    /// `ngx_ssl_dhparam()`: the file must open and hold DH parameters (rustls offers no
    /// DHE suites, so they are not used).
    fn dhparam(&mut self, file: &str) -> R {
        let path = self.conf_path(file);
        let shown = path.display().to_string();
        match std::fs::read(&path) {
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                let reason = super::strerror(errno);
                Err(self.emerg_nowhere(format!(
                    "BIO_new_file(\"{shown}\") failed (SSL: error:8000000{errno:X}:system library::{reason}:calling fopen({shown}, r) error:10000080:BIO routines::no such file)"
                )))
            }
            Ok(b) if !String::from_utf8_lossy(&b).contains("-----BEGIN DH PARAMETERS-----") => {
                Err(self.emerg_nowhere(format!(
                    "PEM_read_bio_DHparams(\"{shown}\") failed (SSL: error:0480006C:PEM routines::no start line:Expecting: DH PARAMETERS)"
                )))
            }
            Ok(_) => Ok(()),
        }
    }

    /// `ngx_ssl_ciphers()` for a server with certificates: a list that matches no cipher
    /// is OpenSSL's error; one that selects ciphers rustls lacks gets sluice's warning
    /// (they are left out, never replaced by others).
    fn ssl_ciphers(&mut self, ciphers: Option<&(String, super::http::Origin)>) -> R {
        let Some((list, origin)) = ciphers else {
            return Ok(());
        };
        match crate::table::ciphers::parse(list) {
            crate::table::ciphers::Ciphers::NoMatch => Err(self.emerg_nowhere(format!(
                "SSL_CTX_set_cipher_list(\"{list}\") failed (SSL: error:0A0000B9:SSL routines::no cipher match)"
            ))),
            crate::table::ciphers::Ciphers::Suites { chosen, lost } => {
                if let Some(lost) = lost {
                    let left = if chosen.is_empty() {
                        "no TLSv1.2 cipher suite is left: only TLSv1.3 can be negotiated".to_string()
                    } else {
                        format!("TLSv1.2 uses {}", chosen.join(":"))
                    };
                    let (origin, rule) = (*origin, "tls-ciphers");
                    let msg = format!(
                        "\"ssl_ciphers\" selects \"{lost}\", which rustls does not offer; {left}"
                    );
                    self.diags.push(
                        sluice_parser::Diagnostic::new(sluice_parser::Level::Warn, msg, Some(origin))
                            .with_rule(rule),
                    );
                }
                Ok(())
            }
        }
    }

    /// `ngx_http_proxy_set_ssl()` for each level whose `proxy_pass` makes TLS
    /// connections: a client certificate needs its key, verification needs trusted
    /// certificates, and the files are loaded. A static `https://` URL whose location says
    /// nothing about `proxy_ssl_verify` gets sluice's warning (nginx's default is off,
    /// rarely what is meant); the line ends in `(sluice: upstream-tls-unverified)`, so
    /// comparisons with nginx's output (corpus, conformance) leave it out.
    fn proxy_ssl(&mut self, hs: &super::http::HttpState) -> R {
        for &(node, origin, is_static) in &hs.ssl_passes {
            let get = |name: &str| -> Option<&str> {
                let mut n = Some(node);
                while let Some(i) = n {
                    let found = hs.merge_nodes.get(i)?.values.iter().rev();
                    if let Some((_, v)) = found.into_iter().find(|(k, _)| *k == name) {
                        return Some(v.as_str());
                    }
                    n = hs.merge_nodes[i].parent;
                }
                None
            };
            let loader = self.opts.tls_loader.filter(|_| self.opts.touch_system);
            if let Some(cert) = get("proxy_ssl_certificate").filter(|c| !c.is_empty()) {
                let Some(key) = get("proxy_ssl_certificate_key") else {
                    return Err(self.emerg_nowhere(format!(
                        "no \"proxy_ssl_certificate_key\" is defined for certificate \"{cert}\""
                    )));
                };
                if cert.contains('$') || key.contains('$') {
                    let msg = "\"proxy_ssl_certificate\" with variables is not implemented: no client certificate is sent";
                    self.diags.push(
                        sluice_parser::Diagnostic::new(
                            sluice_parser::Level::Warn,
                            msg,
                            Some(origin),
                        )
                        .with_rule("not-implemented"),
                    );
                }
                if let (Some(load), false) = (loader, cert.contains('$') || key.contains('$')) {
                    let (cert, key) = (self.conf_path(cert), self.conf_path(key));
                    let passwords = get("proxy_ssl_password_file").map(|p| self.conf_path(p));
                    self.tls_load(
                        load,
                        crate::TlsFile::Pair {
                            cert: &cert,
                            key: &key,
                            passwords: passwords.as_deref(),
                        },
                    )?;
                }
            }
            if let Some(list) = get("proxy_ssl_ciphers") {
                match crate::table::ciphers::parse(list) {
                    crate::table::ciphers::Ciphers::NoMatch => {
                        return Err(self.emerg_nowhere(format!(
                            "SSL_CTX_set_cipher_list(\"{list}\") failed (SSL: error:0A0000B9:SSL routines::no cipher match)"
                        )));
                    }
                    crate::table::ciphers::Ciphers::Suites {
                        lost: Some(lost), ..
                    } => {
                        let msg = format!("\"proxy_ssl_ciphers\" selects \"{lost}\", which rustls does not offer; it is left out");
                        self.diags.push(
                            sluice_parser::Diagnostic::new(
                                sluice_parser::Level::Warn,
                                msg,
                                Some(origin),
                            )
                            .with_rule("tls-ciphers"),
                        );
                    }
                    crate::table::ciphers::Ciphers::Suites { .. } => {}
                }
            }
            let verify = get("proxy_ssl_verify").is_some_and(|v| v.eq_ignore_ascii_case("on"));
            if verify {
                let Some(trusted) = get("proxy_ssl_trusted_certificate").filter(|t| !t.is_empty())
                else {
                    return Err(
                        self.emerg_nowhere("no proxy_ssl_trusted_certificate for proxy_ssl_verify")
                    );
                };
                if let Some(load) = loader {
                    let t = self.conf_path(trusted);
                    self.tls_load(load, crate::TlsFile::Trusted(&t))?;
                }
            } else if is_static && get("proxy_ssl_verify").is_none() {
                // Only where nothing was said: an explicit `proxy_ssl_verify off` is a
                // choice, not an oversight.
                self.diags.push(
                    sluice_parser::Diagnostic::new(
                        sluice_parser::Level::Warn,
                        "\"proxy_pass\" to an https upstream does not verify the upstream's certificate (no \"proxy_ssl_verify on\"; nginx's default is off)",
                        Some(origin),
                    )
                    .with_rule("upstream-tls-unverified"),
                );
            }
        }
        Ok(())
    }

    fn duplicate_locations(&mut self, locs: &[Loc]) -> R {
        for l in locs {
            self.duplicate_locations(&l.children)?;
        }
        for (i, l) in locs.iter().enumerate() {
            let dup = locs[..i].iter().any(|p| {
                p.name == l.name && ((p.exact && l.exact) || (p.inclusive && l.inclusive))
            });
            if dup {
                return Err(self.emerg(format!("duplicate location \"{}\"", l.name), l.origin));
            }
        }
        Ok(())
    }

    /// Reads a certificate or key file as `ngx_ssl_certificate()` would need it.
    fn load_pem(&mut self, file: &str, what: &str, marker: &str, bad_pem: &str) -> R {
        let path = self.conf_path(file);
        let shown = path.display().to_string();
        match std::fs::read(&path) {
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                let reason = super::strerror(errno);
                let msg = format!(
                    "cannot load {what} \"{shown}\": BIO_new_file() failed (SSL: error:8000000{errno:X}:system library::{reason}:calling fopen({shown}, r) error:10000080:BIO routines::no such file)"
                );
                Err(self.emerg_nowhere(msg))
            }
            Ok(bytes) => {
                if !String::from_utf8_lossy(&bytes).contains(marker) {
                    return Err(
                        self.emerg_nowhere(format!("cannot load {what} \"{shown}\": {bad_pem}"))
                    );
                }
                Ok(())
            }
        }
    }
}

/// The merge-time values in nginx's order: module by module (proxy, fastcgi, uwsgi,
/// scgi, grpc: `ngx_http_block()` merges every server for one module before the next),
/// then level by level, servers and their locations depth first
/// (`ngx_http_merge_servers()`, `ngx_http_merge_locations()`). A level without its own
/// values of a kind takes its parent's, which nginx compiles then if it has not yet
/// (that is how values set in `http { }` get compiled, or never are when every server
/// sets its own). Returns the variables used, in order, or the first error.
fn merge_values(hs: &super::http::HttpState) -> Result<Vec<String>, String> {
    const ORDER: &[&str] = &[
        "proxy_set_body",
        "proxy_set_header",
        "fastcgi_param",
        "uwsgi_param",
        "scgi_param",
        "grpc_set_header",
    ];
    let nodes = &hs.merge_nodes;
    let mut vars: Vec<String> = Vec::new();
    if nodes.is_empty() {
        return Ok(vars);
    }
    let own = |n: usize, kind: &str| nodes[n].values.iter().any(|(k, _)| *k == kind);
    for kind in ORDER {
        let mut compiled = vec![false; nodes.len()];
        let mut stack: Vec<usize> = nodes[0].children.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            let mut source = Some(n);
            while let Some(s) = source {
                if own(s, kind) {
                    break;
                }
                source = nodes[s].parent;
            }
            if let Some(s) = source {
                if !compiled[s] {
                    compiled[s] = true;
                    for (_, v) in nodes[s].values.iter().filter(|(k, _)| k == kind) {
                        for name in super::http::script_vars(v)? {
                            let name = name.to_ascii_lowercase();
                            if !vars.contains(&name) {
                                vars.push(name);
                            }
                        }
                    }
                }
            }
            stack.extend(nodes[n].children.iter().rev().copied());
        }
    }
    Ok(vars)
}

/// The addresses listened on, in the order `ngx_http_optimize_servers()` visits them:
/// ports in the order first seen; within a port, `bind` addresses first and wildcard
/// addresses last, otherwise in the order first seen (`ngx_sort` is stable).
fn ordered_addrs(hs: &super::http::HttpState) -> Vec<String> {
    let mut ports: Vec<u16> = Vec::new();
    let mut addrs: Vec<(u16, String, bool, bool)> = Vec::new();
    for s in &hs.servers {
        for (l, _) in &s.listens {
            if !ports.contains(&l.port) {
                ports.push(l.port);
            }
            match addrs.iter_mut().find(|a| a.1 == l.addr) {
                Some(a) => a.2 |= l.bind,
                None => addrs.push((l.port, l.addr.clone(), l.bind, l.wildcard)),
            }
        }
    }
    let mut out = Vec::new();
    for p in ports {
        let mut v: Vec<&(u16, String, bool, bool)> = addrs.iter().filter(|a| a.0 == p).collect();
        // ngx_http_cmp_conf_addrs() through ngx_sort()'s insertion sort
        let cmp = |a: &(u16, String, bool, bool), b: &(u16, String, bool, bool)| {
            if a.3 {
                1
            } else if b.3 || (a.2 && !b.2) {
                -1
            } else if !a.2 && b.2 {
                1
            } else {
                0
            }
        };
        for i in 1..v.len() {
            let cur = v[i];
            let mut j = i;
            while j > 0 && cmp(v[j - 1], cur) > 0 {
                v[j] = v[j - 1];
                j -= 1;
            }
            v[j] = cur;
        }
        out.extend(v.into_iter().map(|a| a.1.clone()));
    }
    out
}

impl Checker<'_> {
    /// Loads a TLS file with the binary's loader: the `[error]` lines nginx logs while
    /// loading, then its `[emerg]` when loading fails.
    fn tls_load(&mut self, load: crate::TlsLoader, f: crate::TlsFile<'_>) -> R {
        let mut logged = Vec::new();
        let r = load(f, &mut logged);
        for m in logged {
            self.diags.push(sluice_parser::Diagnostic::new(
                sluice_parser::Level::Error,
                m,
                None,
            ));
        }
        r.map_err(|m| self.emerg_nowhere(m))
    }
}

/// A server's certificates and keys after inheritance from http.
fn merged_certs<'a>(hs: &'a super::http::HttpState, s: &'a Server) -> (&'a [String], &'a [String]) {
    if s.certificates.is_empty() {
        (&hs.certificates, &hs.keys)
    } else {
        (&s.certificates, &s.keys)
    }
}
