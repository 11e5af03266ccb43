//! The access phase (`ngx_http_core_access_phase()`): a fixed list of checkers run in
//! nginx's order, combined by `satisfy`; and the realip module, which decides the client
//! address those checkers (and `$remote_addr`, `ip_hash`, the logs) see.
//!
//! A checker answers as an nginx access handler does ([`Check`]). Under `satisfy all`
//! the first refusal ends the request and an `Allow` hands over to the next checker;
//! under `satisfy any` the first `Allow` ends the phase (the refusals so far are
//! forgotten, with the `WWW-Authenticate` a refusal had set) and a refusal only records
//! its status, which the request ends with when no checker allows
//! (`ngx_http_core_post_access_phase()`). Anything else (a 500) ends the request at
//! once under either rule. A new checker (`auth_request`) is one more [`Checker`] in
//! [`CHECKERS`], at its place in nginx's order.

use crate::ctx::{Head, Req};
use crate::Shared;
use sluice_compiler::table::{AccessNet, AuthBasic, RealIp, RealIpHeader};
use std::net::{IpAddr, SocketAddr};

/// What one checker said (an access-phase handler's return value in nginx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `NGX_DECLINED`: nothing to say here (not configured, or no rule matched).
    Declined,
    /// `NGX_OK`: this checker lets the request in.
    Allow,
    /// `NGX_HTTP_FORBIDDEN` or `NGX_HTTP_UNAUTHORIZED`: refused, though under
    /// `satisfy any` a later checker may still let the request in.
    Deny(u16),
    /// Any other status: the request ends with it whatever `satisfy` says.
    Fail(u16),
}

/// The access-phase checkers sluice runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checker {
    /// `allow`/`deny` (`ngx_http_access_handler()`).
    Access,
    /// `auth_basic` (`ngx_http_auth_basic_handler()`).
    AuthBasic,
    /// `auth_request` (`ngx_http_auth_request_handler()`, a subrequest).
    AuthRequest,
}

/// nginx runs a phase's handlers in the reverse of the order their modules registered
/// them; with Debian's module list that is access, then auth_basic, then auth_request.
pub const CHECKERS: &[Checker] = &[Checker::Access, Checker::AuthBasic, Checker::AuthRequest];

/// What the access phase decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on to `try_files` and the content phase.
    Pass,
    /// End the request with this status (`req.www_authenticate` holds the challenge
    /// of a 401).
    Refuse(u16),
}

/// Runs the access phase for the request's current configuration.
pub async fn phase(shared: &Shared, req: &mut Req<'_>) -> Verdict {
    let any = req.conf.satisfy_any;
    let mut access_code = 0u16;
    for checker in CHECKERS {
        let said = match checker {
            Checker::Access => access(shared, req),
            Checker::AuthBasic => auth_basic(shared, req).await,
            // Declined without a look (or an allocation) where `auth_request` is unset.
            Checker::AuthRequest if req.conf.auth_request.is_none() => Check::Declined,
            Checker::AuthRequest => {
                use crate::auth_request::Verdict as V;
                // Boxed: only locations with `auth_request` carry its (large) state.
                match Box::pin(crate::auth_request::check(shared, req)).await {
                    V::Declined => Check::Declined,
                    V::Allow => Check::Allow,
                    V::Deny(code) => Check::Deny(code),
                    V::Error => Check::Fail(500),
                }
            }
        };
        match said {
            Check::Declined => {}
            Check::Allow if !any => {}
            Check::Allow => {
                // `satisfy any`: a challenge an earlier checker set is not sent.
                req.www_authenticate = None;
                req.out_headers.clear();
                return Verdict::Pass;
            }
            Check::Deny(code) if any => access_code = code,
            Check::Deny(code) | Check::Fail(code) => return Verdict::Refuse(code),
        }
    }
    if access_code != 0 {
        if access_code == 403 {
            crate::log::error_log(shared, "error", "access forbidden by rule", req);
        }
        return Verdict::Refuse(access_code);
    }
    Verdict::Pass
}

/// `ngx_http_access_handler()`: the first rule that matches the client decides; none
/// matching (or none configured) is no opinion.
fn access(shared: &Shared, req: &mut Req<'_>) -> Check {
    let ip = Some(req.peer.ip());
    match req.conf.access.iter().find(|r| r.net.matches(ip)) {
        None => Check::Declined,
        Some(r) if r.allow => Check::Allow,
        Some(_) => {
            // `ngx_http_access_found()` logs only under `satisfy all`; under `any` the
            // post-access phase does when the request ends with 403.
            if !req.conf.satisfy_any {
                crate::log::error_log(shared, "error", "access forbidden by rule", req);
            }
            Check::Deny(403)
        }
    }
}

/// `ngx_http_auth_basic_user()`: the user and password of an `Authorization: Basic`
/// header (`Basic ` without case, then spaces, then base64 as nginx decodes it, then
/// `user:password` with a non-empty user). `None` when there is none.
pub fn basic_user(head: &Head) -> Option<(Vec<u8>, Vec<u8>)> {
    let v = head.header(b"authorization")?;
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"Basic ") {
        return None;
    }
    let rest = &v[6..];
    let encoded = &rest[rest.iter().take_while(|c| **c == b' ').count()..];
    if encoded.is_empty() {
        return None;
    }
    let auth = crate::crypt::decode_base64(encoded)?;
    let colon = auth.iter().position(|c| *c == b':')?;
    if colon == 0 {
        return None;
    }
    Some((auth[..colon].to_vec(), auth[colon + 1..].to_vec()))
}

/// `ngx_http_auth_basic_handler()`.
async fn auth_basic(shared: &Shared, req: &mut Req<'_>) -> Check {
    let Some(ab) = req.conf.auth_basic.clone() else {
        return Check::Declined;
    };
    let realm = req.eval(&ab.realm);
    if realm == b"off" {
        return Check::Declined;
    }
    let Some((user, password)) = basic_user(&req.head) else {
        crate::log::error_log(
            shared,
            "info",
            "no user/password was provided for basic authentication",
            req,
        );
        return challenge(req, &realm);
    };
    let file = user_file(req, &ab);
    let shown = String::from_utf8_lossy(&file).into_owned();
    let path: &std::path::Path =
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&file[..]).as_ref();
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || std::fs::read(owned))
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("read task failed")));
    let text = match read {
        Ok(t) => t,
        Err(e) => {
            let code = e.raw_os_error().unwrap_or(0);
            let reason = sluice_compiler::strerror(code);
            // open() succeeds on a directory; the read fails (nginx: pread()).
            let (call, level, status) = if path.is_dir() {
                ("pread()", "crit", 500)
            } else if e.kind() == std::io::ErrorKind::NotFound {
                ("open()", "error", 403)
            } else {
                ("open()", "crit", 500)
            };
            let msg = format!("{call} \"{shown}\" failed ({code}: {reason})");
            crate::log::error_log(shared, level, &msg, req);
            return if status == 403 {
                Check::Deny(403)
            } else {
                Check::Fail(500)
            };
        }
    };
    let user_shown = String::from_utf8_lossy(&user).into_owned();
    let Some(entry) = find_entry(&text, &user) else {
        let msg = format!("user \"{user_shown}\" was not found in \"{shown}\"");
        crate::log::error_log(shared, "error", &msg, req);
        return challenge(req, &realm);
    };
    let ok = if crate::crypt::is_slow(&entry) {
        // Hash schemes built to be slow (bcrypt, yescrypt, SHA-crypt) run on the
        // blocking pool, not on a thread that serves connections.
        tokio::task::spawn_blocking(move || crate::crypt::matches(&password, &entry))
            .await
            .unwrap_or(false)
    } else {
        crate::crypt::matches(&password, &entry)
    };
    if ok {
        return Check::Allow;
    }
    let msg = format!("user \"{user_shown}\": password mismatch");
    crate::log::error_log(shared, "error", &msg, req);
    challenge(req, &realm)
}

/// `ngx_http_auth_basic_set_realm()`: 401 with `WWW-Authenticate: Basic realm="..."`.
fn challenge(req: &mut Req<'_>, realm: &[u8]) -> Check {
    let mut v = Vec::with_capacity(realm.len() + 14);
    v.extend_from_slice(b"Basic realm=\"");
    v.extend_from_slice(realm);
    v.push(b'"');
    req.www_authenticate = Some(v);
    Check::Deny(401)
}

/// Appends the `WWW-Authenticate` line `auth_basic` left in the response headers, if
/// any: nginx keeps it in `r->headers_out` across an `error_page` redirect, first of the
/// list headers (right after `Connection`).
pub fn challenge_header(req: &Req<'_>, out: &mut Vec<u8>) {
    if let Some(v) = &req.www_authenticate {
        out.extend_from_slice(b"WWW-Authenticate: ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
}

/// The password file's name: relative names are taken from the directory of the main
/// configuration file (`ccv.conf_prefix`).
fn user_file(req: &mut Req<'_>, ab: &AuthBasic) -> Vec<u8> {
    let v = req.eval(&ab.user_file);
    if v.starts_with(b"/") {
        return v;
    }
    let mut p = ab.conf_prefix.to_vec();
    p.extend_from_slice(&v);
    p
}

/// The scan of `ngx_http_auth_basic_handler()`: a line that starts with `#` or CR is
/// skipped, `user:` must start a line, and the entry runs to LF, CR or `:`.
fn find_entry(text: &[u8], user: &[u8]) -> Option<Vec<u8>> {
    for line in text.split(|c| *c == b'\n') {
        if line.first().is_some_and(|c| *c == b'#' || *c == b'\r') {
            continue;
        }
        let Some(rest) = line.strip_prefix(user) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(b":") else {
            continue;
        };
        let end = rest
            .iter()
            .position(|c| matches!(c, b'\r' | b':'))
            .unwrap_or(rest.len());
        return Some(rest[..end].to_vec());
    }
    None
}

/// The realip module's handler (`ngx_http_realip_handler()`), run with the server's
/// configuration before the location is chosen (post-read phase) and with the
/// location's in the pre-access phase; the address is replaced once per request.
pub fn realip(req: &mut Req<'_>, conf: &RealIp) {
    if req.realip_orig.is_some() {
        return;
    }
    let values: Vec<&[u8]> = match &conf.header {
        RealIpHeader::XRealIp => req.head.header(b"x-real-ip").into_iter().collect(),
        RealIpHeader::XForwardedFor => req
            .head
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"))
            .map(|(_, v)| v)
            .collect(),
        RealIpHeader::Other(name) => req.head.header(name.as_bytes()).into_iter().collect(),
    };
    if values.is_empty() {
        return;
    }
    if let Some(addr) = forwarded_addr(req.peer, &values, &conf.from, conf.recursive) {
        req.realip_orig = Some(req.peer);
        req.peer = addr;
    }
}

/// `ngx_http_get_forwarded_addr()`: when the connection's address is trusted, the
/// last address of the last header; with `recursive`, walking left past trusted ones
/// (the first untrusted one, or the leftmost when all are trusted). An entry that is
/// not an address stops the walk: the address found before it stands, if any.
fn forwarded_addr(
    peer: SocketAddr,
    values: &[&[u8]],
    from: &[AccessNet],
    recursive: bool,
) -> Option<SocketAddr> {
    let trusted = |a: &SocketAddr| from.iter().any(|n| n.matches(Some(a.ip())));
    if !trusted(&peer) {
        return None;
    }
    let mut found: Option<SocketAddr> = None;
    for v in values.iter().rev() {
        for entry in v
            .split(|c| *c == b' ' || *c == b',')
            .filter(|e| !e.is_empty())
            .rev()
        {
            let Some(addr) = parse_addr_port(entry) else {
                return found;
            };
            found = Some(addr);
            if !recursive || !trusted(&addr) {
                return found;
            }
        }
    }
    found
}

/// `ngx_parse_addr_port()`: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80` (port 0
/// when none is given).
fn parse_addr_port(b: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(b).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| SocketAddr::new(IpAddr::V6(ip), 0));
    }
    s.parse::<SocketAddr>().ok().filter(|a| a.port() != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_with(auth: &str) -> Head {
        Head {
            headers: crate::http1::headers::HeaderList::from_lines([(
                &b"Authorization"[..],
                auth.as_bytes(),
            )]),
            ..Head::default()
        }
    }

    #[test]
    fn basic_user_parses_as_nginx() {
        let u = |a: &str| {
            basic_user(&head_with(a)).map(|(u, p)| {
                (
                    String::from_utf8(u).unwrap_or_default(),
                    String::from_utf8(p).unwrap_or_default(),
                )
            })
        };
        assert_eq!(
            u("Basic cGxhaW46c2VjcmV0"),
            Some(("plain".into(), "secret".into()))
        );
        assert_eq!(
            u("basic   cGxhaW46c2VjcmV0"),
            Some(("plain".into(), "secret".into()))
        );
        assert_eq!(
            u("Basic cGxhaW46c2VjcmV0===garbage"),
            Some(("plain".into(), "secret".into()))
        );
        // ":pass" has no user; no colon at all is no password.
        assert_eq!(u("Basic OnBhc3M="), None);
        assert_eq!(u("Basic eHl6"), None);
        assert_eq!(u("Basic"), None);
        assert_eq!(u("Basic "), None);
        assert_eq!(u("Bearer abc"), None);
    }

    #[test]
    fn entry_scan_as_nginx() {
        let f = b"# alice:{PLAIN}no\nalice:{PLAIN}a:comment\r\nbob:{PLAIN}b\r\nbo:x\n";
        let e = |u: &[u8]| find_entry(f, u).map(|v| String::from_utf8(v).unwrap_or_default());
        assert_eq!(e(b"alice").as_deref(), Some("{PLAIN}a"));
        assert_eq!(e(b"bob").as_deref(), Some("{PLAIN}b"));
        assert_eq!(e(b"bo").as_deref(), Some("x"));
        assert_eq!(e(b"carol"), None);
        assert_eq!(e(b"# alice"), None);
    }

    #[test]
    fn forwarded_addr_walks_as_nginx() {
        let peer: SocketAddr = "127.0.0.1:5000"
            .parse()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let from: Vec<AccessNet> = ["10.0.0.0/8", "127.0.0.1"]
            .iter()
            .filter_map(|c| sluice_compiler::table::parse_cidr(c).map(|(n, _)| n))
            .collect();
        let w = |vals: &[&str], rec: bool| {
            let v: Vec<&[u8]> = vals.iter().map(|s| s.as_bytes()).collect();
            forwarded_addr(peer, &v, &from, rec).map(|a| a.to_string())
        };
        // Observed on nginx 1.22.1.
        assert_eq!(
            w(&["5.5.5.5, 10.1.1.1, 10.2.2.2"], true).as_deref(),
            Some("5.5.5.5:0")
        );
        assert_eq!(
            w(&["10.1.1.1, 10.2.2.2"], true).as_deref(),
            Some("10.1.1.1:0")
        );
        assert_eq!(
            w(&["5.5.5.5, junk, 10.2.2.2"], true).as_deref(),
            Some("10.2.2.2:0")
        );
        assert_eq!(
            w(&["6.6.6.6, 5.5.5.5", "10.1.1.1"], true).as_deref(),
            Some("5.5.5.5:0")
        );
        assert_eq!(
            w(&["5.5.5.5:77, 10.1.1.1"], true).as_deref(),
            Some("5.5.5.5:77")
        );
        assert_eq!(
            w(&["[::2]:77, 10.1.1.1"], true).as_deref(),
            Some("[::2]:77")
        );
        assert_eq!(
            w(&["5.5.5.5, 10.1.1.1, 10.2.2.2"], false).as_deref(),
            Some("10.2.2.2:0")
        );
        assert_eq!(
            w(&["9.9.9.9", "1.2.3.4"], false).as_deref(),
            Some("1.2.3.4:0")
        );
        assert_eq!(w(&["1.2.3.4 , "], false).as_deref(), Some("1.2.3.4:0"));
        assert_eq!(w(&["garbage"], false), None);
        assert_eq!(w(&["::1"], false).as_deref(), Some("[::1]:0"));
    }
}
