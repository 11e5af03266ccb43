//! `upstream { }` and what goes in it: `server`, the balancing methods, `keepalive`.

use super::http::{parse_url, UrlOpts};
use super::{at, Checker, Ctx, Level_, R};
use crate::registry::Spec;
use sluice_parser::ast::Directive;
use std::net::ToSocketAddrs;

/// Balancing flags (`NGX_HTTP_UPSTREAM_*`): which `server` parameters a method allows.
#[derive(Default)]
pub(crate) struct UpsState {
    method: Option<&'static str>,
    /// Parameters the method does not support: "backup" for hash, ip_hash, random.
    no_backup: bool,
    /// `server` lines read.
    servers: usize,
    /// `server` lines without `backup`.
    primary: usize,
}

impl Checker<'_> {
    pub(super) fn upstream_handler(
        &mut self,
        spec: &'static Spec,
        d: &Directive,
        cx: Ctx,
        level: &mut Level_,
    ) -> Option<R> {
        let a = |i: usize| d.args.get(i).map(|w| w.value.as_str()).unwrap_or("");
        Some(match (spec.name, cx) {
            ("upstream", Ctx::Http) => self.upstream_block(d),
            ("server", Ctx::Upstream) => self.upstream_server(d),
            ("ip_hash" | "least_conn" | "random" | "hash", Ctx::Upstream) => {
                // ngx_http_upstream_hash() compiles its key before anything else
                if spec.name == "hash" {
                    let k = a(0).to_string();
                    if let Err(e) = self.compile_value(d, &k, false) {
                        return Some(Err(e));
                    }
                }
                if self.ups.method.is_some() {
                    self.warn("load balancing method redefined", Some(at(d)));
                }
                self.ups.method = Some(spec.name);
                self.ups.no_backup = matches!(spec.name, "ip_hash" | "hash" | "random");
                let bad = match spec.name {
                    "hash" => d.args.get(1).filter(|w| w.value != "consistent"),
                    // ngx_http_upstream_random(): `random [two [least_conn]]`
                    "random" => d
                        .args
                        .first()
                        .filter(|w| w.value != "two")
                        .or_else(|| d.args.get(1).filter(|w| w.value != "least_conn")),
                    _ => None,
                };
                if let Some(w) = bad {
                    let msg = format!("invalid parameter \"{}\"", w.value);
                    return Some(Err(self.emerg(msg, at(d))));
                }
                Ok(())
            }
            ("zone", Ctx::Upstream) => {
                // ngx_http_upstream_zone()
                if a(0).is_empty() {
                    let msg = format!("invalid zone name \"{}\"", a(0));
                    return Some(Err(self.emerg(msg, at(d))));
                }
                if let Some(w) = d.args.get(1) {
                    match sluice_parser::units::parse_size(&w.value) {
                        None => {
                            let msg = format!("invalid zone size \"{}\"", w.value);
                            return Some(Err(self.emerg(msg, at(d))));
                        }
                        Some(n) if n < 8 * 4096 => {
                            let msg = format!("zone \"{}\" is too small", a(0));
                            return Some(Err(self.emerg(msg, at(d))));
                        }
                        Some(_) => {}
                    }
                }
                let size = d
                    .args
                    .get(1)
                    .and_then(|w| sluice_parser::units::parse_size(&w.value))
                    .unwrap_or(0);
                let name = a(0).to_string();
                if let Err(e) = self.shm_add(d, &name, size, "upstream") {
                    return Some(Err(e));
                }
                Ok(())
            }
            ("keepalive", Ctx::Upstream) => {
                if sluice_parser::units::parse_number(a(0)).is_none_or(|n| n == 0) {
                    return Some(Err(self.emerg(
                        format!("invalid value \"{}\" in \"keepalive\" directive", a(0)),
                        at(d),
                    )));
                }
                if !level.seen.insert("keepalive") {
                    return Some(Err(self.directive_err(d, "is duplicate")));
                }
                Ok(())
            }
            _ => return None,
        })
    }

    fn upstream_block(&mut self, d: &Directive) -> R {
        let name = d.args[0].value.clone();
        self.add_upstream(name.clone(), None, true, at(d))?;
        self.ups = UpsState::default();
        self.walk_block(d, Ctx::Upstream)?;
        if self.ups.servers == 0 {
            let line = d.block.as_ref().map_or(d.line(), |b| b.close_line);
            return Err(self.emerg("no servers are inside upstream", (d.span.file, line)));
        }
        let primary = self.ups.primary;
        if let Some(hs) = self.http.as_mut() {
            if let Some(u) = hs
                .upstreams
                .iter_mut()
                .find(|u| u.explicit && u.host.eq_ignore_ascii_case(&name))
            {
                u.primary = primary;
            }
        }
        Ok(())
    }

    /// `server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down] ...`
    /// (`ngx_http_upstream_server`): the host is resolved at once.
    fn upstream_server(&mut self, d: &Directive) -> R {
        for w in &d.args[1..] {
            let p = w.value.as_str();
            let (key, val) = match p.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (p, None),
            };
            let ok = match (key, val) {
                ("weight" | "max_conns" | "max_fails", Some(v)) => {
                    sluice_parser::units::parse_number(v).is_some_and(|n| key != "weight" || n > 0)
                }
                ("fail_timeout", Some(v)) => sluice_parser::units::parse_time(v, true).is_some(),
                ("backup", None) => {
                    if self.ups.no_backup {
                        return Err(self.emerg(
                            "balancing method does not support parameter \"backup\"",
                            at(d),
                        ));
                    }
                    true
                }
                ("down", None) => true,
                _ => false,
            };
            if !ok {
                return Err(self.emerg(format!("invalid parameter \"{p}\""), at(d)));
            }
        }
        self.ups.servers += 1;
        if !d.args[1..].iter().any(|w| w.value == "backup") {
            self.ups.primary += 1;
        }
        let url = d.args[0].value.clone();
        let opts = UrlOpts {
            default_port: 80,
            no_resolve: !self.opts.touch_system,
            ..UrlOpts::default()
        };
        if let Err(err) = parse_url(&url, opts) {
            return Err(self.emerg(format!("{err} in upstream \"{url}\""), at(d)));
        }
        Ok(())
    }
}

/// Whether a host (name or address literal, IPv6 in brackets) resolves, as
/// `ngx_inet_resolve_host()` asks `getaddrinfo()`.
pub(crate) fn resolves(host: &str, port: u16) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    (h, port)
        .to_socket_addrs()
        .is_ok_and(|mut it| it.next().is_some())
}
