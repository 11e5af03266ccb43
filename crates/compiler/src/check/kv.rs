//! Blocks of key/value entries: `types`, `map`, `geo`, `split_clients`. nginx parses
//! them with a custom handler (`cf->handler`), which also handles `include`.

use super::{at, Checker, R};
use sluice_parser::ast::{Directive, File};
use std::collections::HashMap;
use std::net::IpAddr;

/// The entries of a kv block, following `include` entries into their files.
fn entries<'o>(
    c: &mut Checker<'o>,
    d: &Directive,
    handle: &mut dyn FnMut(&mut Checker<'o>, &Directive) -> R,
) -> R {
    let Some(block) = &d.block else { return Ok(()) };
    for e in &block.items {
        kv_entry(c, e, handle)?;
    }
    c.block_error(block.error.as_ref())
}

fn kv_entry<'o>(
    c: &mut Checker<'o>,
    e: &Directive,
    handle: &mut dyn FnMut(&mut Checker<'o>, &Directive) -> R,
) -> R {
    if e.name.value == "include" && e.args.len() == 1 {
        return c.with_include(e, true, |c, file: &File| {
            for item in &file.items {
                kv_entry(c, item, handle)?;
            }
            Ok(())
        });
    }
    handle(c, e)
}

impl Checker<'_> {
    /// `types { type ext ...; }` (`ngx_http_core_type`): a repeated extension is a warning.
    pub(super) fn types_block(&mut self, d: &Directive, seen: &mut HashMap<String, String>) -> R {
        entries(self, d, &mut |c, e| {
            if e.name.value == "include" {
                return Err(c.emerg(
                    "invalid number of arguments in \"include\" directive",
                    at(e),
                ));
            }
            let ty = e.name.value.clone();
            for ext in &e.args {
                let key = ext.value.to_ascii_lowercase();
                if let Some(old) = seen.insert(key.clone(), ty.clone()) {
                    c.warn(
                        format!(
                            "duplicate extension \"{key}\", content type: \"{ty}\", previous content type: \"{old}\""
                        ),
                        Some(at(e)),
                    );
                }
            }
            Ok(())
        })
    }

    /// `map SOURCE $target { ... }` (`ngx_http_map_block`, `ngx_http_map`).
    pub(super) fn map_block(&mut self, d: &Directive) -> R {
        let src = d.args[0].value.clone();
        self.compile_value(d, &src, false)?;
        let target = d.args[1].value.clone();
        let Some(var) = target.strip_prefix('$') else {
            return Err(self.emerg(format!("invalid variable name \"{target}\""), at(d)));
        };
        self.define_var(var);
        let mut hostnames = false;
        let mut default = false;
        let mut keys: std::collections::HashSet<String> = std::collections::HashSet::new();
        entries(self, d, &mut |c, e| {
            let n = e.args.len() + 1;
            let key = e.name.value.as_str();
            if n == 1 && key == "hostnames" {
                hostnames = true;
                return Ok(());
            }
            if n == 1 && key == "volatile" {
                return Ok(());
            }
            if n != 2 {
                return Err(c.emerg("invalid number of the map parameters", at(e)));
            }
            if key == "include" {
                return Ok(()); // handled by `entries`; a glob with no match lands here
            }
            let value = e.args[0].value.clone();
            c.compile_value(e, &value, false)?;
            if key == "default" {
                if default {
                    return Err(c.emerg("duplicate default map parameter", at(e)));
                }
                default = true;
                return Ok(());
            }
            if let Some(re) = key.strip_prefix('~') {
                let (pat, caseless) = match re.strip_prefix('*') {
                    Some(p) => (p, true),
                    None => (re, false),
                };
                return c.compile_regex(e, pat, caseless);
            }
            let mut k = key.strip_prefix('\\').unwrap_or(key).to_string();
            if hostnames {
                k = k.to_ascii_lowercase();
                let wild = k.starts_with("*.") || k.starts_with('.') || k.ends_with(".*");
                let bad = k.contains('*') && !wild
                    || k.matches('*').count() > 1
                    || k == "*"
                    || k == "."
                    || k.contains("..");
                if bad {
                    return Err(c.emerg(format!("invalid hostname or wildcard \"{key}\""), at(e)));
                }
                if let Some(rest) = k.strip_prefix('.') {
                    // ".x" stands for "x" and "*.x": both conflict with either
                    if keys.contains(rest) || keys.contains(&format!("*.{rest}")) {
                        return Err(c.emerg(format!("conflicting parameter \"{key}\""), at(e)));
                    }
                    keys.insert(rest.to_string());
                    keys.insert(format!("*.{rest}"));
                    return Ok(());
                }
            }
            if !keys.insert(k) {
                return Err(c.emerg(format!("conflicting parameter \"{key}\""), at(e)));
            }
            Ok(())
        })
    }

    /// `geo [$address] $variable { ... }` (`ngx_http_geo_block`).
    pub(super) fn geo_block(&mut self, d: &Directive) -> R {
        let (src, target) = if d.args.len() == 2 {
            (Some(d.args[0].value.clone()), d.args[1].value.clone())
        } else {
            (None, d.args[0].value.clone())
        };
        if let Some(s) = src {
            self.compile_value(d, &s, false)?;
        }
        let Some(var) = target.strip_prefix('$') else {
            return Err(self.emerg(format!("invalid variable name \"{target}\""), at(d)));
        };
        self.define_var(var);
        let mut ranges = false;
        entries(self, d, &mut |c, e| {
            let key = e.name.value.as_str();
            let n = e.args.len() + 1;
            match (key, n) {
                ("ranges", 1) => {
                    ranges = true;
                    return Ok(());
                }
                ("delete" | "default" | "proxy", 2) | ("proxy_recursive", 1) => return Ok(()),
                (_, 2) => {}
                _ => return Err(c.emerg("invalid number of the geo parameters", at(e))),
            }
            if ranges {
                let ok = key.split_once('-').is_some_and(|(a, b)| {
                    a.parse::<std::net::Ipv4Addr>().is_ok()
                        && b.parse::<std::net::Ipv4Addr>().is_ok()
                });
                if !ok {
                    return Err(c.emerg(format!("invalid range \"{key}\""), at(e)));
                }
            } else if !is_cidr(key) {
                return Err(c.emerg(format!("invalid network \"{key}\""), at(e)));
            }
            Ok(())
        })
    }

    /// `split_clients "$key" $variable { N% value; ... * value; }`.
    pub(super) fn split_clients_block(&mut self, d: &Directive) -> R {
        let src = d.args[0].value.clone();
        self.compile_value(d, &src, false)?;
        let target = d.args[1].value.clone();
        let Some(var) = target.strip_prefix('$') else {
            return Err(self.emerg(format!("invalid variable name \"{target}\""), at(d)));
        };
        self.define_var(var);
        let mut sum = 0.0_f64;
        entries(self, d, &mut |c, e| {
            if e.args.len() != 1 {
                return Err(c.emerg(
                    "invalid number of arguments in \"split_clients\" directive",
                    at(e),
                ));
            }
            let k = e.name.value.as_str();
            if k == "*" {
                return Ok(());
            }
            let pct = k.strip_suffix('%').and_then(|p| p.parse::<f64>().ok());
            match pct {
                Some(p) if p > 0.0 => {
                    sum += p;
                    if sum > 100.0 {
                        return Err(c.emerg("percent total is greater than 100%", at(e)));
                    }
                    Ok(())
                }
                _ => Err(c.emerg(format!("invalid percent value \"{k}\""), at(e))),
            }
        })
    }
}

/// An address or network as `ngx_ptocidr` reads it.
fn is_cidr(s: &str) -> bool {
    let (ip, bits) = match s.split_once('/') {
        Some((ip, bits)) => (ip, Some(bits)),
        None => (s, None),
    };
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|n| n <= max))
}
