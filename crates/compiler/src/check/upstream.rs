//! `upstream { }` and what goes in it: `server`, the balancing methods, `keepalive`.

use super::http::parse_upstream_url;
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
    /// Whether a server used `backup` before a method that forbids it was set.
    servers: usize,
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
                if self.ups.method.is_some() {
                    self.warn("load balancing method redefined", Some(at(d)));
                }
                self.ups.method = Some(spec.name);
                self.ups.no_backup = matches!(spec.name, "ip_hash" | "hash" | "random");
                if spec.name == "hash" {
                    if d.args.len() == 2 && a(1) != "consistent" {
                        return Some(Err(
                            self.emerg(format!("invalid parameter \"{}\"", a(1)), at(d))
                        ));
                    }
                    let k = a(0).to_string();
                    return Some(self.compile_value(d, &k, false));
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
        self.add_upstream(name, None, true, at(d))?;
        self.ups = UpsState::default();
        self.walk_block(d, Ctx::Upstream)?;
        if self.ups.servers == 0 {
            let line = d.block.as_ref().map_or(d.line(), |b| b.close_line);
            return Err(self.emerg("no servers are inside upstream", (d.span.file, line)));
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
        let url = d.args[0].value.clone();
        let parsed = match parse_upstream_url(&url, 80) {
            Ok(p) => p,
            Err(err) => return Err(self.emerg(format!("{err} in upstream \"{url}\""), at(d))),
        };
        if parsed.uri {
            return Err(self.emerg(format!("invalid URI in upstream \"{url}\""), at(d)));
        }
        if parsed.unix || !self.opts.touch_system {
            return Ok(());
        }
        if !resolves(&parsed.host, parsed.port.unwrap_or(80)) {
            return Err(self.emerg(format!("host not found in upstream \"{url}\""), at(d)));
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
