//! Blocks of key/value entries: `types`, `map`, `geo`, `split_clients`. nginx parses
//! them with a custom handler (`cf->handler`), which also handles `include`.

use super::hash::{Added, HashKeys};
use super::{at, Checker, R};
use sluice_parser::ast::{Directive, File};
use std::collections::HashMap;

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
        self.define_var(d, var)?;
        let mut hostnames = false;
        let mut default = false;
        let mut keys = HashKeys::default();
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
            let k = key.strip_prefix('\\').unwrap_or(key);
            match keys.add(k, hostnames) {
                Added::Ok => Ok(()),
                Added::Busy => Err(c.emerg(
                    format!("conflicting parameter \"{}\"", k.to_ascii_lowercase()),
                    at(e),
                )),
                Added::Declined => {
                    Err(c.emerg(format!("invalid hostname or wildcard \"{k}\""), at(e)))
                }
            }
        })
    }

    /// `geo [$address] $variable { ... }` (`ngx_http_geo_block`, `ngx_http_geo`).
    pub(super) fn geo_block(&mut self, d: &Directive) -> R {
        let first = d.args[0].value.clone();
        let Some(src) = first.strip_prefix('$') else {
            return Err(self.emerg(format!("invalid variable name \"{first}\""), at(d)));
        };
        let target = if d.args.len() == 2 {
            // the address comes from a variable, by name (no `${}`, no text around it)
            if src.is_empty() {
                return Err(self.emerg("invalid variable name \"$\"", at(d)));
            }
            let src = src.to_ascii_lowercase();
            self.hs().use_var(&src);
            let t = d.args[1].value.clone();
            match t.strip_prefix('$') {
                Some(v) => v.to_string(),
                None => return Err(self.emerg(format!("invalid variable name \"{t}\""), at(d))),
            }
        } else {
            src.to_string()
        };
        self.define_var(d, &target)?;
        let mut g = Geo::default();
        entries(self, d, &mut |c, e| {
            let key = e.name.value.as_str();
            let n = e.args.len() + 1;
            if n == 1 && key == "ranges" {
                if g.tree {
                    return Err(c.emerg(
                        "the \"ranges\" directive must be the first directive inside \"geo\" block",
                        at(e),
                    ));
                }
                g.ranges = true;
                return Ok(());
            }
            if n == 1 && key == "proxy_recursive" {
                return Ok(());
            }
            if n != 2 {
                return Err(c.emerg("invalid number of the geo parameters", at(e)));
            }
            let value = e.args[0].value.as_str();
            if key == "include" {
                return Ok(()); // a glob with no match lands here
            }
            if key == "proxy" {
                return geo_cidr(c, e, value).map(|_| ());
            }
            if g.ranges {
                return geo_range(c, e, &mut g, key, value);
            }
            g.tree = true;
            if key == "default" {
                for net in [(4, 0u128, 0u8), (6, 0, 0)] {
                    geo_add(c, e, &mut g, net, key, value);
                }
                return Ok(());
            }
            let (del, text) = if key == "delete" {
                (true, value)
            } else {
                (false, key)
            };
            let net = geo_cidr(c, e, text)?;
            if del {
                if g.nets.remove(&net).is_none() {
                    c.warn(format!("no network \"{text}\" to delete"), Some(at(e)));
                }
                return Ok(());
            }
            geo_add(c, e, &mut g, net, text, value);
            Ok(())
        })
    }

    /// `split_clients "$key" $variable { N% value; ... * value; }`
    /// (`ngx_conf_split_clients_block`, `ngx_http_split_clients`): no `include`, no
    /// argument count check; the total is checked once the block is read.
    pub(super) fn split_clients_block(&mut self, d: &Directive) -> R {
        let src = d.args[0].value.clone();
        self.compile_value(d, &src, false)?;
        let target = d.args[1].value.clone();
        let Some(var) = target.strip_prefix('$') else {
            return Err(self.emerg(format!("invalid variable name \"{target}\""), at(d)));
        };
        self.define_var(d, var)?;
        let Some(block) = &d.block else { return Ok(()) };
        let mut parts: Vec<i64> = Vec::new();
        for e in &block.items {
            let k = e.name.value.as_str();
            if k == "*" {
                parts.push(0);
                continue;
            }
            let pct = k
                .strip_suffix('%')
                .and_then(|p| atofp(p, 2))
                .filter(|&n| n != 0);
            match pct {
                Some(n) => parts.push(n),
                None => {
                    return Err(self.emerg(format!("invalid percent value \"{k}\""), at(e)));
                }
            }
        }
        self.block_error(block.error.as_ref())?;
        let mut sum = 0;
        for p in parts {
            sum = if p == 0 { 10_000 } else { sum + p };
            if sum > 10_000 {
                return Err(self.emerg(
                    "percent total is greater than 100%",
                    (d.span.file, block.close_line),
                ));
            }
        }
        Ok(())
    }
}

/// A network: (IP version, address bits, prefix length).
type Net = (u8, u128, u8);

/// What a `geo` block holds so far.
#[derive(Default)]
struct Geo {
    /// `ranges` was given.
    ranges: bool,
    /// A network entry (or `default`, `delete`) was read: `ranges` may no longer come.
    tree: bool,
    /// The radix trees: network → value.
    nets: HashMap<Net, String>,
    /// `ranges` mode: per /16 block, sorted (start, end, value) of the low 16 bits.
    blocks: HashMap<u32, Vec<(u32, u32, String)>>,
    /// `ranges` mode `default`.
    range_default: Option<String>,
}

/// `ngx_http_geo_cidr_add()`: a network already there is replaced, with a warning.
fn geo_add(c: &mut Checker<'_>, e: &Directive, g: &mut Geo, net: Net, text: &str, value: &str) {
    if let Some(old) = g.nets.insert(net, value.to_string()) {
        c.warn(
            format!("duplicate network \"{text}\", value: \"{value}\", old value: \"{old}\""),
            Some(at(e)),
        );
    }
}

/// `ngx_http_geo_cidr_value()` with `ngx_ptocidr()`: `ADDR[/BITS]`, IPv4 or IPv6.
fn geo_cidr(c: &mut Checker<'_>, e: &Directive, text: &str) -> Result<Net, super::Stop> {
    if text == "255.255.255.255" {
        return Ok((4, 0xffff_ffff, 32));
    }
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let invalid = |c: &mut Checker<'_>| c.emerg(format!("invalid network \"{text}\""), at(e));
    let (family, value, max) = if let Some(ip) = super::http::ngx_inet_addr(addr) {
        (4u8, u128::from(u32::from(ip)), 32u32)
    } else if let Ok(ip) = addr.parse::<std::net::Ipv6Addr>() {
        (6u8, u128::from(ip), 128u32)
    } else {
        return Err(invalid(c));
    };
    let shift = match bits {
        None => max,
        Some(b) => match sluice_parser::units::parse_number(b) {
            Some(n) if n <= i64::from(max) => n as u32,
            _ => return Err(invalid(c)),
        },
    };
    let full: u128 = if max == 128 { !0 } else { (1u128 << max) - 1 };
    let mask: u128 = if shift == 0 {
        0
    } else {
        full & !((1u128 << (max - shift)) - 1)
    };
    if value & mask != value {
        c.warn(
            format!("low address bits of {text} are meaningless"),
            Some(at(e)),
        );
    }
    Ok((family, value & mask, shift as u8))
}

/// `ngx_http_geo_range()`: `default`, `delete START-END`, `START-END VALUE`.
fn geo_range(c: &mut Checker<'_>, e: &Directive, g: &mut Geo, key: &str, value: &str) -> R {
    if key == "default" {
        if let Some(old) = &g.range_default {
            c.warn(
                format!("duplicate default geo range value: \"{value}\", old value: \"{old}\""),
                Some(at(e)),
            );
        }
        g.range_default = Some(value.to_string());
        return Ok(());
    }
    let (del, net) = if key == "delete" {
        (true, value)
    } else {
        (false, key)
    };
    let parsed = net.split_once('-').and_then(|(a, b)| {
        let s = u32::from(super::http::ngx_inet_addr(a).filter(|ip| !ip.is_broadcast())?);
        let t = u32::from(super::http::ngx_inet_addr(b).filter(|ip| !ip.is_broadcast())?);
        (s <= t).then_some((s, t))
    });
    let Some((start, end)) = parsed else {
        return Err(c.emerg(format!("invalid range \"{net}\""), at(e)));
    };
    if del {
        let mut missing = false;
        for (h, s, t) in range_pieces(start, end) {
            let list = g.blocks.entry(h).or_default();
            match list.iter().position(|r| r.0 == s && r.1 == t) {
                Some(i) => {
                    list.remove(i);
                }
                None => missing = true,
            }
        }
        if missing {
            c.warn(format!("no address range \"{net}\" to delete"), Some(at(e)));
        }
        return Ok(());
    }
    for (h, s, t) in range_pieces(start, end) {
        let list = g.blocks.entry(h).or_default();
        // ngx_http_geo_add_range(): from the highest range down
        let mut placed = false;
        for i in (0..list.len()).rev() {
            let (rs, re) = (list[i].0, list[i].1);
            if t < rs {
                continue;
            }
            if s > re {
                list.insert(i + 1, (s, t, value.to_string()));
            } else if s == rs && t == re {
                let old = std::mem::replace(&mut list[i].2, value.to_string());
                c.warn(
                    format!("duplicate range \"{net}\", value: \"{value}\", old value: \"{old}\""),
                    Some(at(e)),
                );
            } else if s > rs && t < re {
                let old = list[i].2.clone();
                list[i].1 = s - 1;
                list.insert(i + 1, (s, t, value.to_string()));
                list.insert(i + 2, (t + 1, re, old));
            } else if s == rs && t < re {
                list[i].0 = t + 1;
                list.insert(i, (s, t, value.to_string()));
            } else if s > rs && t == re {
                list[i].1 = s - 1;
                list.insert(i + 1, (s, t, value.to_string()));
            } else {
                let msg = format!(
                    "range \"{net}\" overlaps \"{}.{}.{}.{}-{}.{}.{}.{}\"",
                    h >> 8,
                    h & 0xff,
                    rs >> 8,
                    rs & 0xff,
                    h >> 8,
                    h & 0xff,
                    re >> 8,
                    re & 0xff
                );
                return Err(c.emerg(msg, at(e)));
            }
            placed = true;
            break;
        }
        if !placed {
            list.insert(0, (s, t, value.to_string()));
        }
    }
    Ok(())
}

/// A range cut at /16 boundaries: (high 16 bits, low start, low end).
fn range_pieces(start: u32, end: u32) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    let mut n = start;
    loop {
        let h = n >> 16;
        let s = if n == start { n & 0xffff } else { 0 };
        let t = if (n | 0xffff) > end {
            end & 0xffff
        } else {
            0xffff
        };
        out.push((h, s, t));
        if h == 0xffff {
            break;
        }
        n = (n + 0x10000) & 0xffff_0000;
        if n > end {
            break;
        }
    }
    out
}

/// `ngx_atofp(s, len, point)`: a decimal number with at most `point` fractional
/// digits, scaled by 10^point.
fn atofp(s: &str, point: u32) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut point = point as i64;
    let (mut value, mut dot) = (0i64, false);
    for c in s.bytes() {
        if point == 0 {
            return None;
        }
        if c == b'.' {
            if dot {
                return None;
            }
            dot = true;
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
        if dot {
            point -= 1;
        }
    }
    while point > 0 {
        value = value.checked_mul(10)?;
        point -= 1;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atofp_takes_two_decimals_at_most() {
        assert_eq!(atofp("50", 2), Some(5000));
        assert_eq!(atofp("0.5", 2), Some(50));
        assert_eq!(atofp("33.33", 2), Some(3333));
        assert_eq!(atofp("0.555", 2), None);
        assert_eq!(atofp("", 2), None);
        assert_eq!(atofp("1.2.3", 2), None);
    }

    #[test]
    fn ranges_are_cut_at_16_bit_blocks() {
        assert_eq!(
            range_pieces(0x0a00_ff00, 0x0a01_000a),
            vec![(0x0a00, 0xff00, 0xffff), (0x0a01, 0, 0x000a)]
        );
        assert_eq!(
            range_pieces(0xffff_fff0, 0xffff_fffe),
            vec![(0xffff, 0xfff0, 0xfffe)]
        );
    }
}
