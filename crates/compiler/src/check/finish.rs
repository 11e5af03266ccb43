//! The checks nginx makes when `http { }` is closed (`ngx_http_block()` after parsing),
//! in its order: upstream hosts (`ngx_http_upstream_init_main_conf`), certificates
//! (`ngx_http_ssl_merge_srv_conf`), location trees (`ngx_http_init_locations`),
//! `listen ... ssl` without a certificate (`ngx_http_ssl_init`), unknown variables
//! (`ngx_http_variables_init_vars`), conflicting server names (`ngx_http_optimize_servers`).

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
        // 1. implicit upstreams: resolve the proxy_pass hosts.
        if self.opts.touch_system {
            for u in hs.upstreams.iter().filter(|u| !u.explicit) {
                if !resolves(&u.host, u.port.unwrap_or(80)) {
                    return Err(self.emerg(
                        format!("host not found in upstream \"{}\"", u.host),
                        u.origin,
                    ));
                }
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
            if self.opts.touch_system {
                for (cert, key) in certs.iter().zip(keys) {
                    self.load_pem(cert, "certificate", "-----BEGIN CERTIFICATE-----", "PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)")?;
                    self.load_pem(key, "certificate key", "PRIVATE KEY-----", "PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)")?;
                }
            }
        }
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
        for name in hs.used_vars.iter().chain(hs.late_vars.iter()) {
            let dynamic = variables::DYNAMIC
                .iter()
                .any(|(so, names)| self.loaded.contains(*so) && names.contains(&name.as_str()));
            if !variables::is_builtin(name) && !hs.defined_vars.contains(name) && !dynamic {
                return Err(self.emerg_nowhere(format!("unknown \"{name}\" variable")));
            }
        }
        // 6. the same name twice on one address: the later server loses it.
        for addr in &addrs {
            let mut seen: Vec<&str> = Vec::new();
            for s in hs
                .servers
                .iter()
                .filter(|s| s.listens.iter().any(|(l, _)| l.addr == *addr))
            {
                for n in &s.names {
                    if n.starts_with('~') {
                        continue;
                    }
                    if seen.contains(&n.as_str()) {
                        self.warn(
                            format!("conflicting server name \"{n}\" on {addr}, ignored"),
                            None,
                        );
                    } else {
                        seen.push(n);
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

/// A server's certificates and keys after inheritance from http.
fn merged_certs<'a>(hs: &'a super::http::HttpState, s: &'a Server) -> (&'a [String], &'a [String]) {
    if s.certificates.is_empty() {
        (&hs.certificates, &hs.keys)
    } else {
        (&s.certificates, &s.keys)
    }
}
