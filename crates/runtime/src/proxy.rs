//! `proxy_pass`: the URI and header block nginx sends upstream (SEMANTICS §4.2, §4.3),
//! peer selection and retries (§8.6, §8.7), the response nginx relays (§4.6, §4.8),
//! error pages (§8.9), and the switch to a tunnel on 101 (§5).

use crate::ctx::HeaderList;
use crate::ctx::Req;
// Every wait here is one of a request's sequential waits: on the connection's alarm.
use crate::deadline::conn_timeout as timeout;
use crate::log::error_log;
use crate::upstream::balance::{Attempt, PeerId};
use crate::upstream::tls::UpIo;
use crate::Shared;
use bytes::{Buf, Bytes, BytesMut};
use sluice_compiler::table::route::Captures;
use sluice_compiler::table::{Handler, ProxyPass, RedirectRule, Redirects, TPart, Var};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What became of the client connection.
pub enum After {
    /// Keep reading requests.
    KeepAlive,
    /// Close it.
    Close,
}

/// Where a request goes.
struct Target {
    group: Option<usize>,
    direct: Option<SocketAddr>,
    /// The URI to send, `None` for the request's own target unchanged.
    uri: Option<Vec<u8>>,
    /// `https://`.
    tls: bool,
}

/// nginx's `NGX_ESCAPE_URI` set: what `ngx_escape_uri` re-encodes in a path.
fn escape_uri(path: &[u8], out: &mut Vec<u8>) {
    for &b in path {
        if b <= 0x20 || b >= 0x7f || b == b'#' || b == b'%' || b == b'?' {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// The URI sent upstream, §4.2.
fn upstream_uri(req: &mut Req<'_>, uri_part: Option<&[u8]>) -> Option<Vec<u8>> {
    if uri_part.is_none() && req.valid_unparsed_uri {
        // No URI part, URI unchanged: the raw request target (`None`: not copied).
        return None;
    }
    let conf = req.conf;
    // `ngx_http_proxy_create_request()`: after `rewrite … break` (`r->valid_location`
    // cleared) the URI part is not written and nothing is cut: the whole changed URI is
    // sent (SEMANTICS §4.2 rule 3, the `/rw/` row).
    let part = uri_part.filter(|_| req.valid_location);
    let mut out = part.map(<[u8]>::to_vec).unwrap_or_default();
    let cut = if conf.regex_or_named || part.is_none() {
        0
    } else {
        conf.name.len().min(req.uri.len())
    };
    let rest = &req.uri[cut..];
    if req.uri_escaped {
        escape_uri(rest, &mut out);
    } else {
        out.extend_from_slice(rest);
    }
    if let Some(a) = &req.args {
        if !a.is_empty() {
            out.push(b'?');
            out.extend_from_slice(a);
        }
    }
    Some(out)
}

fn resolve_target<'t>(req: &mut Req<'t>, pass: &'t ProxyPass) -> Result<Target, u16> {
    match pass {
        ProxyPass::Static {
            upstream,
            uri,
            proxy_host,
            proxy_port,
            tls,
            ..
        } => {
            req.proxy_host = std::borrow::Cow::Borrowed(proxy_host.as_bytes());
            req.proxy_port = *proxy_port;
            let u = upstream_uri(req, uri.as_deref());
            Ok(Target {
                group: Some(*upstream),
                direct: None,
                uri: u,
                tls: *tls,
            })
        }
        ProxyPass::Dynamic(t) => {
            let url = req.eval(t);
            let lower = url.to_ascii_lowercase();
            let (rest, default_port, tls) = if lower.starts_with(b"http://") {
                (&url[7..], 80u16, false)
            } else if lower.starts_with(b"https://") {
                (&url[8..], 443u16, true)
            } else {
                return Err(500);
            };
            let (hostport, uri) = match rest.iter().position(|b| *b == b'/') {
                Some(i) => (&rest[..i], Some(rest[i..].to_vec())),
                None => (rest, None),
            };
            let hp = String::from_utf8_lossy(hostport).into_owned();
            let (host, port) = match hp.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || hp.starts_with('[') => {
                    (h.to_string(), p.parse::<u16>().ok())
                }
                _ => (hp.clone(), None),
            };
            req.proxy_host = std::borrow::Cow::Owned(
                match port {
                    Some(p) if p != default_port => format!("{host}:{p}"),
                    _ => host.clone(),
                }
                .into_bytes(),
            );
            req.proxy_port = port.unwrap_or(default_port);
            // With variables and no URI part the raw target goes out only while the URI is
            // unchanged; after a rewrite the changed `$uri` (and `$args`) do (§4.2).
            let u = match uri {
                Some(u) if !u.is_empty() => Some(u),
                _ => upstream_uri(req, None),
            };
            let group = req
                .table
                .upstreams
                .iter()
                .position(|g| g.name.eq_ignore_ascii_case(&host) && port.is_none());
            if let Some(g) = group {
                return Ok(Target {
                    group: Some(g),
                    direct: None,
                    uri: u,
                    tls,
                });
            }
            let ip: std::net::IpAddr = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| 502u16)?;
            Ok(Target {
                group: None,
                direct: Some(SocketAddr::new(ip, port.unwrap_or(default_port))),
                uri: u,
                tls,
            })
        }
    }
}

/// Builds the request line and header block (§4.3).
fn request_head<'t>(req: &mut Req<'t>, uri: Option<&[u8]>) -> Vec<u8> {
    let conf: &'t sluice_compiler::table::LocConf = req.conf;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&req.head.method);
    out.push(b' ');
    out.extend_from_slice(uri.unwrap_or(&req.head.target));
    out.extend_from_slice(if conf.proxy_http_11 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    let headers = &conf.proxy_set_headers;
    for h in headers.iter() {
        // The line is written in place and taken back when the value is empty.
        let mark = out.len();
        out.extend_from_slice(&h.name);
        out.extend_from_slice(b": ");
        let value_at = out.len();
        // Content-Length for the body nginx sends (§4.4: even with pass_request_body off).
        let is_len = matches!(
            h.value.parts.as_slice(),
            [TPart::Var(Var::Builtin(
                sluice_compiler::table::Builtin::ProxyInternalBodyLength
            ))]
        );
        if is_len {
            if let Some(n) = req.upstream_body_len {
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            }
        } else {
            req.eval_into(&h.value, &mut out);
        }
        if out.len() == value_at {
            out.truncate(mark);
            continue;
        }
        out.extend_from_slice(b"\r\n");
    }
    if conf.proxy_pass_request_headers {
        for (n, v) in &req.head.headers {
            let overridden = headers.iter().any(|h| n.eq_ignore_ascii_case(&h.lower));
            if overridden {
                continue;
            }
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A parsed upstream response head.
struct UpHead {
    status: u16,
    /// The status line after `HTTP/x.y `: code and reason as sent (`200 OK`, or just
    /// `200`), which nginx copies after its own `HTTP/1.1 `: a range of `headers.raw()`.
    status_text: (usize, usize),
    minor: u8,
    headers: HeaderList,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    /// Bytes after the head already read.
    rest: BytesMut,
    /// The reply was not HTTP: relay raw (HTTP/0.9 style, §4.6).
    raw09: bool,
}

enum UpError {
    Connect(std::io::Error),
    /// The TLS handshake failed: nginx's message.
    Tls(String),
    Timeout(&'static str),
    Closed,
    Invalid(&'static str),
    TooBig,
}

/// `ngx_http_parse_status_line()` over the start of an upstream reply: `Some(true)` for a
/// complete valid status line, `Some(false)` as soon as it cannot be one (nginx then logs
/// `upstream sent no valid HTTP/1.0 header` and relays the reply raw, HTTP/0.9 style:
/// `HTTP/1.1 abc` came through as is from nginx 1.22.1), `None` while more is needed.
fn status_line_ok(buf: &[u8]) -> Option<bool> {
    let mut it = buf.iter().copied();
    for want in *b"HTTP/" {
        match it.next() {
            None => return None,
            Some(c) if c == want => {}
            Some(_) => return Some(false),
        }
    }
    // Major version: 1-9 then digits (at most 99: `HTTP/2.0 200 OK` is a valid reply to
    // nginx 1.22.1); then `.`, minor digits (at most 99).
    let mut major: u32 = match it.next() {
        None => return None,
        Some(c @ b'1'..=b'9') => u32::from(c - b'0'),
        Some(_) => return Some(false),
    };
    loop {
        match it.next() {
            None => return None,
            Some(b'.') => break,
            Some(c @ b'0'..=b'9') => {
                major = major * 10 + u32::from(c - b'0');
                if major > 99 {
                    return Some(false);
                }
            }
            Some(_) => return Some(false),
        }
    }
    let mut minor: u32 = match it.next() {
        None => return None,
        Some(c @ b'0'..=b'9') => u32::from(c - b'0'),
        Some(_) => return Some(false),
    };
    loop {
        match it.next() {
            None => return None,
            Some(b' ') => break,
            Some(c @ b'0'..=b'9') => {
                minor = minor * 10 + u32::from(c - b'0');
                if minor > 99 {
                    return Some(false);
                }
            }
            Some(_) => return Some(false),
        }
    }
    // Spaces, then exactly three digits.
    let mut digits = 0;
    while digits < 3 {
        match it.next() {
            None => return None,
            Some(b' ') if digits == 0 => {}
            Some(b'0'..=b'9') => digits += 1,
            Some(_) => return Some(false),
        }
    }
    match it.next() {
        None => None,
        Some(b' ' | b'.') => loop {
            match it.next() {
                None => return None,
                Some(b'\n') => return Some(true),
                Some(_) => {}
            }
        },
        Some(b'\n') => Some(true),
        Some(b'\r') => match it.next() {
            None => None,
            Some(b'\n') => Some(true),
            Some(_) => Some(false),
        },
        Some(_) => Some(false),
    }
}

async fn read_up_head(
    io: &mut UpIo,
    conf_read: Duration,
    buffer: usize,
) -> Result<UpHead, UpError> {
    let mut buf = BytesMut::with_capacity(buffer);
    loop {
        let n = match timeout(conf_read, io.read_buf(&mut buf)).await {
            Err(_) => return Err(UpError::Timeout("reading response header from upstream")),
            Ok(Err(_)) => return Err(UpError::Closed),
            Ok(Ok(n)) => n,
        };
        if status_line_ok(&buf) == Some(false) {
            return Ok(UpHead {
                status: 200,
                status_text: (0, 0),
                minor: 0,
                headers: HeaderList::default(),
                content_length: None,
                chunked: false,
                close: true,
                rest: buf,
                raw09: true,
            });
        }
        if n == 0 {
            return Err(UpError::Closed);
        }
        // httparse knows HTTP/1.x only: a valid status line with another version (nginx
        // takes any `HTTP/M.N`) is parsed as `HTTP/1.1`, the version nginx then treats it
        // as (not below 1.1, so no implied close).
        let ver_end = buf.iter().position(|b| *b == b' ').unwrap_or(0);
        let other_version = !matches!(buf.get(..ver_end), Some(b"HTTP/1.0" | b"HTTP/1.1"));
        let normalised;
        let (parse_buf, shift): (&[u8], usize) = if other_version && ver_end > 0 {
            let mut v = b"HTTP/1.1".to_vec();
            v.extend_from_slice(&buf[ver_end..]);
            normalised = v;
            (&normalised, ver_end)
        } else {
            (&buf, 8)
        };
        // Left uninitialised: httparse writes the slots it fills (zeroing 100 of them
        // per response would cost more than the parse).
        let mut hdrs = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 100];
        let mut resp = httparse::Response::new(&mut []);
        match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, parse_buf, &mut hdrs)
        {
            Ok(httparse::Status::Complete(len)) => {
                let len = len + shift - 8;
                let status = resp.code.unwrap_or(200);
                let line_end = buf.iter().position(|b| *b == b'\n').unwrap_or(0);
                let line = buf[..line_end]
                    .strip_suffix(b"\r")
                    .unwrap_or(&buf[..line_end]);
                let code_at = line
                    .iter()
                    .position(|b| *b == b' ')
                    .map_or(line.len(), |i| i + 1);
                let text_range = (code_at, line.len());
                let minor = resp.version.unwrap_or(1);
                // Header names and values are sliced out of one frozen copy of the head
                // instead of copied one by one (the hot path of small responses).
                let base = parse_buf.as_ptr() as usize;
                let offset = |s: &[u8]| (s.as_ptr() as usize).wrapping_sub(base);
                let mut ranges = Vec::with_capacity(resp.headers.len());
                let mut content_length = None;
                let mut chunked = false;
                let mut close = minor == 0;
                for h in resp.headers.iter() {
                    let name = h.name.as_bytes();
                    if name.eq_ignore_ascii_case(b"content-length") {
                        content_length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|s| s.trim().parse().ok());
                    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                        chunked = h.value.eq_ignore_ascii_case(b"chunked");
                    } else if name.eq_ignore_ascii_case(b"connection") {
                        close = h.value.eq_ignore_ascii_case(b"close");
                    }
                    // Offsets and lengths fit: the head is at most `proxy_buffer_size`.
                    ranges.push([
                        offset(name) as u32,
                        name.len() as u32,
                        offset(h.value) as u32,
                        h.value.len() as u32,
                    ]);
                }
                let shifted = other_version && ver_end > 0;
                // The bytes after the head (a small body, usually) stay where they were
                // read: the buffer is split, its head half going to the header list.
                // (A head with another version was parsed from a copy, which is kept.)
                let copy = shifted.then(|| Bytes::copy_from_slice(parse_buf));
                let rest = if buf.len() > len {
                    buf.split_off(len)
                } else {
                    BytesMut::new()
                };
                let (head, status_text) = match copy {
                    Some(copy) => {
                        // The status text, after the version, is the same in the copy.
                        let d = 8usize.wrapping_sub(ver_end);
                        let st = (text_range.0.wrapping_add(d), text_range.1.wrapping_add(d));
                        (copy, st)
                    }
                    None => {
                        buf.truncate(len);
                        (buf.freeze(), text_range)
                    }
                };
                // An empty value may point anywhere: HeaderList reads a span outside
                // its buffer as empty.
                let headers = HeaderList::new(head, ranges);
                // With both, chunked framing wins and the length is ignored (nginx
                // 1.22.1 re-chunked such a reply to the client).
                if chunked {
                    content_length = None;
                }
                return Ok(UpHead {
                    status,
                    status_text,
                    minor,
                    headers,
                    content_length,
                    chunked,
                    close,
                    rest,
                    raw09: false,
                });
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() >= buffer {
                    return Err(UpError::TooBig);
                }
            }
            Err(_) => return Err(UpError::Invalid("upstream sent invalid header")),
        }
    }
}

/// Serves a `proxy_pass` location. The request head was read; the body (if any) is
/// still on the connection after `pending`.
pub async fn proxy<'t, C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'t>,
    client: &mut C,
    pending: &mut BytesMut,
) -> After {
    let conf: &'t sluice_compiler::table::LocConf = req.conf;
    let Handler::Proxy(pass) = &conf.handler else {
        return After::Close;
    };

    // The request body, buffered (proxy_request_buffering on, the default).
    let body = match crate::conn::read_body(req, client, pending).await {
        Ok(b) => b,
        Err(code) => {
            if code != 0 {
                let _ = crate::conn::send_error(req, client, code).await;
            }
            return After::Close;
        }
    };
    req.upstream_body_len = match (&body, req.head.content_length) {
        (Some(b), _) if !b.is_empty() || req.head.content_length.is_some() || req.head.chunked => {
            Some(b.len() as u64)
        }
        (_, Some(n)) => Some(n),
        _ => None,
    };
    if !conf.proxy_pass_request_body {
        req.upstream_body_len = req.head.content_length;
    }

    let mut target = match resolve_target(req, pass) {
        Ok(t) => t,
        Err(code) => return crate::conn::send_error(req, client, code).await,
    };
    req.upstream.https = target.tls;
    // The TLS client configuration, built with the table for this location's settings.
    let tls = if target.tls {
        match req.tls_clients.get(&conf.proxy_ssl.key) {
            Some(c) => Some(c.clone()),
            None => return crate::conn::send_error(req, client, 502).await,
        }
    } else {
        None
    };
    let head = request_head(req, target.uri.as_deref());
    // Kept for the error log's `upstream: "..."` (moved, not copied; left empty for the
    // request's own target, which the log falls back to).
    if let Some(uri) = target.uri.take() {
        req.upstream.uri = Bytes::from(uri);
    }
    let body = if conf.proxy_pass_request_body {
        body.unwrap_or_default()
    } else {
        Bytes::new()
    };

    let group = target
        .group
        .and_then(|g| req.table.upstreams.get(g).map(|u| (g, u)));
    let balancers = req.balancers;
    let balancer = target.group.and_then(|g| balancers.get(g));
    let mut attempt: Option<Attempt> = None;
    if let (Some(b), Some((_, g))) = (balancer, group) {
        let key = g.hash_key.as_ref().map(|k| req.eval(k));
        let mut a = b.start(key.as_deref(), Some(req.peer.ip()));
        a.limit_tries(conf.proxy_next_upstream_tries);
        attempt = Some(a);
    }
    // nginx's per-request tries counter lives in the attempt (a one-peer group gets
    // no retry); without a group there is exactly one try.
    let tries_left = |a: &Option<Attempt>, tries: usize| match a {
        Some(a) => a.tries() > 0,
        None => tries < 1,
    };
    // The clock is read for what needs it: proxy_next_upstream_timeout, and a group
    // whose peer choice looks at failure windows.
    let started = (!conf.proxy_next_upstream_timeout.is_zero()).then(Instant::now);
    let mut tries = 0;
    let mut last_error: u16;
    loop {
        tries += 1;
        let now = match balancer {
            Some(b) if !b.needs_clock() => req.start,
            _ => Instant::now(),
        };
        let (addr, peer_id): (SocketAddr, Option<PeerId>) = match (&mut attempt, balancer) {
            (Some(a), Some(b)) => match a.next(b, now) {
                Some(id) => (b.peer(id).addr, Some(id)),
                None => {
                    let name = group.map(|(_, g)| g.name.clone()).unwrap_or_default();
                    req.upstream.addrs.push(crate::ctx::UpAddr::Group(name));
                    error_log(
                        shared,
                        "error",
                        "no live upstreams while connecting to upstream",
                        req,
                    );
                    return crate::conn::send_error(req, client, 502).await;
                }
            },
            _ => match target.direct {
                Some(a) => (a, None),
                None => return crate::conn::send_error(req, client, 502).await,
            },
        };
        req.upstream.addrs.push(crate::ctx::UpAddr::Peer(addr));
        // `ngx_event_connect_peer()` needs a free connection: without one the request
        // ends in 500 (no next upstream), the peer given back unharmed.
        req.upstream_slot = None;
        let mut alert = None;
        req.upstream_slot = shared
            .slots
            .upstream(shared, |m| alert = Some(m.to_string()));
        if let Some(msg) = alert {
            error_log(
                shared,
                "alert",
                &format!("{msg} while connecting to upstream"),
                req,
            );
            if let (Some(a), Some(b), Some(id)) = (&mut attempt, balancer, peer_id) {
                a.done(b, id, false, Instant::now());
            }
            return crate::conn::send_error(req, client, 500).await;
        }
        // `u->start_time`: the connect, header and response times all count from here.
        let t0 = Instant::now();
        let result = try_peer(
            shared,
            req,
            addr,
            target.group,
            tls.as_ref(),
            &head,
            &body,
            t0,
        )
        .await;
        let took = t0.elapsed().as_secs_f64();
        req.upstream.times.push(took);
        if result.is_ok() {
            // `ngx_current_msec - u->start_time` when the header was read.
            req.upstream.header_times.push(took);
        }
        let (retry_kind, code) = match result {
            Ok((io, up)) => {
                // `ngx_http_upstream_test_next()`: a listed status moves on only while
                // another try remains (`u->peer.tries > 1`), and only then is the peer
                // given back as failed (403/404 as "next", not failed); a response
                // passed to the client counts as a success, whatever its status.
                let can_retry = status_retry(conf, up.status)
                    && attempt.as_ref().is_some_and(|a| a.tries() > 1)
                    && within(conf, started)
                    && idempotent_ok(req, conf);
                req.upstream.statuses.push(Some(up.status));
                if can_retry {
                    if let (Some(a), Some(b), Some(id)) = (&mut attempt, balancer, peer_id) {
                        let failed = up.status != 403 && up.status != 404;
                        if a.done(b, id, failed, Instant::now()) {
                            error_log(shared, "warn", "upstream server temporarily disabled while reading response header from upstream", req);
                        }
                    }
                    continue;
                }
                // The request head is sent for good: its buffer takes the response head.
                return relay(shared, req, client, io, up, target.group, addr, head).await;
            }
            Err(e) => {
                req.upstream.statuses.push(Some(502));
                let (msg, code, kind) = match &e {
                    UpError::Connect(err) => (format!("connect() failed ({}: {}) while connecting to upstream", err.raw_os_error().unwrap_or(0), sluice_compiler::strerror(err.raw_os_error().unwrap_or(0))), 502, "connect"),
                    // nginx counts a failed handshake as an error of the connection
                    // (`NGX_HTTP_UPSTREAM_FT_ERROR`); the request was not sent.
                    UpError::Tls(m) => (format!("{m} while SSL handshaking to upstream"), 502, "connect"),
                    UpError::Timeout(what) if what.starts_with("connecting") => (format!("upstream timed out (110: Connection timed out) while {what}"), 504, "connect-timeout"),
                    UpError::Timeout(what) if what.starts_with("SSL") => (format!("upstream timed out (110: Connection timed out) while {what}"), 504, "tls-timeout"),
                    UpError::Timeout(what) => (format!("upstream timed out (110: Connection timed out) while {what}"), 504, "timeout"),
                    UpError::Closed => ("upstream prematurely closed connection while reading response header from upstream".to_string(), 502, "error"),
                    UpError::Invalid(m) => (format!("{m} while reading response header from upstream"), 502, "invalid_header"),
                    UpError::TooBig => ("upstream sent too big header while reading response header from upstream".to_string(), 502, "invalid_header"),
                };
                if let Some(last) = req.upstream.statuses.last_mut() {
                    *last = if code == 504 { Some(504) } else { Some(502) };
                }
                // `ngx_http_upstream_next()` frees the peer (the "temporarily disabled"
                // warning, naming the phase) before it logs a timeout; other failures are
                // logged by their caller first.
                let phase = match &e {
                    UpError::Connect(_) => "connecting to upstream",
                    UpError::Tls(_) => "SSL handshaking to upstream",
                    UpError::Timeout(what) => what,
                    _ => "reading response header from upstream",
                };
                let timed_out = matches!(e, UpError::Timeout(_));
                if !timed_out {
                    error_log(shared, "error", &msg, req);
                }
                if let (Some(a), Some(b), Some(id)) = (&mut attempt, balancer, peer_id) {
                    if a.done(b, id, true, Instant::now()) {
                        let warn = format!("upstream server temporarily disabled while {phase}");
                        error_log(shared, "warn", &warn, req);
                    }
                }
                if timed_out {
                    error_log(shared, "error", &msg, req);
                }
                (kind, code)
            }
        };
        last_error = code;
        let nu = conf.proxy_next_upstream;
        let listed = match retry_kind {
            "error" | "connect" => nu.error,
            "timeout" => nu.timeout,
            "connect-timeout" | "tls-timeout" => nu.timeout,
            // An invalid header always counts as a failure (SEMANTICS §8.6, the peer was
            // given back as failed above) but moves on only when `invalid_header` is
            // listed (nginx 1.22.1: not retried with the default list).
            _ => nu.invalid_header,
        };
        // A request that never left (connect failed) may be retried whatever its method.
        let sent = !matches!(retry_kind, "connect" | "connect-timeout" | "tls-timeout");
        if nu.off
            || !listed
            || !tries_left(&attempt, tries)
            || !within(conf, started)
            || (sent && !idempotent_ok(req, conf))
        {
            break;
        }
    }
    crate::conn::send_error(req, client, last_error).await
}

fn status_retry(conf: &sluice_compiler::table::LocConf, status: u16) -> bool {
    let n = conf.proxy_next_upstream;
    match status {
        500 => n.http_500,
        502 => n.http_502,
        503 => n.http_503,
        504 => n.http_504,
        429 => n.http_429,
        403 => n.http_403,
        404 => n.http_404,
        _ => false,
    }
}

fn within(conf: &sluice_compiler::table::LocConf, started: Option<Instant>) -> bool {
    started.is_none_or(|t| t.elapsed() < conf.proxy_next_upstream_timeout)
}

/// POST, LOCK and PATCH are not retried once sent unless `non_idempotent` (§8.7).
fn idempotent_ok(req: &Req<'_>, conf: &sluice_compiler::table::LocConf) -> bool {
    conf.proxy_next_upstream.non_idempotent
        || !matches!(&req.head.method[..], b"POST" | b"LOCK" | b"PATCH")
}

/// Connects (or reuses a pooled connection), sends the request, reads the head.
#[allow(clippy::too_many_arguments)]
async fn try_peer(
    shared: &Shared,
    req: &mut Req<'_>,
    addr: SocketAddr,
    group: Option<usize>,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    head: &[u8],
    body: &[u8],
    t0: Instant,
) -> Result<(UpIo, UpHead), UpError> {
    let conf = req.conf;
    // The pool key of the TLS settings: with a `proxy_ssl_name` that has variables, the
    // name evaluated now is part of it (a connection made for one SNI name is not reused
    // for another).
    let tls_key = match (tls, &conf.proxy_ssl.name) {
        (None, _) => 0,
        (Some(_), Some(t)) if t.parts.iter().any(|p| matches!(p, TPart::Var(_))) => {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            conf.proxy_ssl.key.hash(&mut h);
            req.eval(t).hash(&mut h);
            h.finish() | 1
        }
        (Some(_), _) => conf.proxy_ssl.key | 1,
    };
    req.upstream.tls_key = tls_key;
    // nginx closes an idle kept-alive connection as soon as the upstream closes it (or
    // sends anything, a TLS close_notify say: `ngx_http_upstream_keepalive_close_handler()`);
    // sluice looks when it takes one, and skips those.
    let pooled = group
        .and_then(|g| req.table.upstreams.get(g))
        .filter(|g| g.keepalive > 0)
        .and_then(|g| {
            std::iter::from_fn(|| {
                shared
                    .pool
                    .take(&g.name, tls_key, addr, g.keepalive_timeout)
            })
            .take(g.keepalive.max(1))
            .find(|(io, _)| crate::upstream::tls::idle_and_open(io))
        });
    let mut io = match pooled {
        Some((io, life)) => {
            req.upstream.conn_life = life;
            io
        }
        None => {
            req.upstream.conn_life = crate::ConnLife::new();
            // nginx's `proxy_connect_timeout` covers the connect and the handshake.
            let deadline = tokio::time::Instant::from_std(t0) + conf.proxy_connect_timeout;
            let connect = crate::deadline::conn_timeout_at(deadline, TcpStream::connect(addr));
            let io = match connect.await {
                Err(_) => return Err(UpError::Timeout("connecting to upstream")),
                Ok(Err(e)) => return Err(UpError::Connect(e)),
                Ok(Ok(io)) => io,
            };
            if conf.tcp_nodelay {
                let _ = io.set_nodelay(true);
            }
            let io = match tls {
                None => UpIo::Plain(io),
                Some(cfg) => {
                    let name_bytes = match &conf.proxy_ssl.name {
                        Some(t) => req.eval(t),
                        None => req.proxy_host.to_vec(),
                    };
                    let name = crate::upstream::tls::ssl_name(&name_bytes).map_err(UpError::Tls)?;
                    let hs = crate::upstream::tls::handshake(cfg.clone(), name, io);
                    // Boxed: the handshake's state is large, and a plain upstream's
                    // request should not carry room for it (nor copy it when it starts).
                    match Box::pin(crate::deadline::conn_timeout_at(deadline, hs)).await {
                        Err(_) => return Err(UpError::Timeout("SSL handshaking to upstream")),
                        Ok(Err(m)) => return Err(UpError::Tls(m)),
                        Ok(Ok(s)) => UpIo::Tls(Box::new(s)),
                    }
                }
            };
            req.upstream.connect_times.push(t0.elapsed().as_secs_f64());
            io
        }
    };
    let send = async {
        io.write_all(head).await?;
        if !body.is_empty() {
            io.write_all(body).await?;
        }
        io.flush().await
    };
    match timeout(conf.proxy_send_timeout, send).await {
        Err(_) => return Err(UpError::Timeout("sending request to upstream")),
        Ok(Err(_)) => return Err(UpError::Closed),
        Ok(Ok(())) => {}
    }
    req.upstream.bytes_sent += (head.len() + body.len()) as u64;
    let up = read_up_head(
        &mut io,
        conf.proxy_read_timeout,
        conf.proxy_buffer_size.max(1024),
    )
    .await?;
    Ok((io, up))
}

/// The upstream response headers the header block treats apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpName {
    Server,
    Date,
    ContentType,
    Location,
    Refresh,
    XAccelBuffering,
    /// Framing headers nginx always consumes (§4.6): `Connection`, `Keep-Alive`,
    /// `Transfer-Encoding`, `Content-Length`.
    Consumed,
    Other,
}

/// Which of [`UpName`] a header name is (ASCII case-insensitive), by its length first.
fn up_name(n: &[u8]) -> UpName {
    let is = |name: &[u8]| n.eq_ignore_ascii_case(name);
    match n.len() {
        4 if is(b"date") => UpName::Date,
        6 if is(b"server") => UpName::Server,
        7 if is(b"refresh") => UpName::Refresh,
        8 if is(b"location") => UpName::Location,
        10 if is(b"connection") || is(b"keep-alive") => UpName::Consumed,
        12 if is(b"content-type") => UpName::ContentType,
        14 if is(b"content-length") => UpName::Consumed,
        17 if is(b"transfer-encoding") => UpName::Consumed,
        17 if is(b"x-accel-buffering") => UpName::XAccelBuffering,
        _ => UpName::Other,
    }
}

/// `proxy_redirect` (§4.7, `ngx_http_proxy_rewrite_redirect()`): the rewritten
/// `Location` or `Refresh` value when a rule matched, `None` when none did (nginx's
/// `NGX_DECLINED`, the value then passes untouched). In `Refresh` only what follows
/// `url=` (found case-insensitively) is looked at.
fn redirect(req: &mut Req<'_>, value: &[u8], refresh: bool) -> Option<Vec<u8>> {
    let conf = req.conf;
    let Redirects::Rules(rules) = &conf.proxy_redirect else {
        return None;
    };
    let start = if refresh {
        value
            .windows(4)
            .position(|w| w.eq_ignore_ascii_case(b"url="))?
            + 4
    } else {
        0
    };
    let (prefix, url) = value.split_at(start);
    for rule in rules.iter() {
        let (from, to): (Vec<u8>, Vec<u8>) = match rule {
            RedirectRule::Default => match &conf.handler {
                Handler::Proxy(p) => match &**p {
                    ProxyPass::Static { url, uri, .. } => match uri {
                        Some(_) => (url.as_bytes().to_vec(), conf.name.as_bytes().to_vec()),
                        None => (format!("{url}/").into_bytes(), b"/".to_vec()),
                    },
                    ProxyPass::Dynamic(_) => continue,
                },
                _ => continue,
            },
            RedirectRule::Prefix { from, to } => (req.eval(from), req.eval(to)),
            RedirectRule::Regex { re, to } => {
                // The whole value after the prefix is replaced; the captures are the
                // request's from now on, as `ngx_http_regex_exec()` leaves them.
                let Some(caps) = Captures::match_regex(re, url) else {
                    continue;
                };
                req.captures = Some((url.to_vec(), caps));
                let mut out = prefix.to_vec();
                out.extend_from_slice(&req.eval(to));
                return Some(out);
            }
        };
        if url.starts_with(&from) {
            let mut out = prefix.to_vec();
            out.extend_from_slice(&to);
            out.extend_from_slice(&url[from.len()..]);
            return Some(out);
        }
    }
    None
}

/// The absolute `Location` nginx's header filter makes of a relative one (§3.4), or
/// `None` when it leaves the value alone (not starting with `/`, or
/// `absolute_redirect off`). The host is the request's (request line or `Host`,
/// normalised); without one, the local address (`ngx_connection_local_sockaddr()`:
/// an HTTP/1.0 request without `Host` got `http://127.0.0.1:PORT/…` from nginx 1.22.1).
pub fn absolute_location(req: &Req<'_>, loc: &[u8]) -> Option<Vec<u8>> {
    if !loc.starts_with(b"/") || !req.conf.absolute_redirect {
        return None;
    }
    let scheme: &[u8] = if req.https { b"https://" } else { b"http://" };
    let mut out = scheme.to_vec();
    match req.head.host.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => out.extend_from_slice(h),
        None => match req.local.ip() {
            std::net::IpAddr::V4(ip) => out.extend_from_slice(ip.to_string().as_bytes()),
            std::net::IpAddr::V6(ip) => out.extend_from_slice(format!("[{ip}]").as_bytes()),
        },
    }
    let port = req.local.port();
    let default = if req.https { 443 } else { 80 };
    if req.conf.port_in_redirect && port != default {
        out.extend_from_slice(format!(":{port}").as_bytes());
    }
    out.extend_from_slice(loc);
    Some(out)
}

/// Relays the upstream's response to the client, then parks the upstream connection if
/// it can be reused. `buf`, the sent request head's buffer, takes the response head.
#[allow(clippy::too_many_arguments)]
async fn relay<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    client: &mut C,
    mut up_io: UpIo,
    mut up: UpHead,
    group: Option<usize>,
    peer_addr: SocketAddr,
    buf: Vec<u8>,
) -> After {
    let conf = req.conf;
    if up.raw09 {
        // §4.6, trap 34: the reply is relayed as it is, without a status line or headers
        // (nginx switches the request to HTTP/0.9), up to the upstream's EOF; the client
        // connection then stays open for its next request (nginx 1.22.1 did not close a
        // keep-alive connection after such a reply).
        req.status = 200;
        let mut done = false;
        if timeout(conf.send_timeout, client.write_all(&up.rest))
            .await
            .is_ok_and(|r| r.is_ok())
        {
            let mut buf = BytesMut::with_capacity(16 * 1024);
            loop {
                buf.clear();
                match timeout(conf.proxy_read_timeout, up_io.read_buf(&mut buf)).await {
                    Ok(Ok(0)) => {
                        done = true;
                        break;
                    }
                    Ok(Ok(n)) => {
                        req.body_bytes_sent += n as u64;
                        let w = timeout(conf.send_timeout, client.write_all(&buf)).await;
                        if !w.is_ok_and(|r| r.is_ok()) {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        let _ = client.flush().await;
        return if done && req.head.keep_alive {
            After::KeepAlive
        } else {
            After::Close
        };
    }
    req.status = up.status;
    // The request owns the upstream's headers from here (`$upstream_http_*`); the header
    // block below reads them there, by index, so nothing is copied or shared.
    req.upstream.headers = std::mem::take(&mut up.headers);
    if req.subrequest.is_some() {
        // `sr->header_only`: the status and headers are all an `auth_request`
        // subrequest wants; nginx finalizes the upstream without reading the body. The
        // connection goes back to the keepalive pool only when there was no body to
        // read (204, 304, 1xx, `Content-Length: 0`: `u->keepalive` is already set).
        let empty = matches!(up.status, 204 | 304 | 100..=199) || up.content_length == Some(0);
        if let Some(g) = group.and_then(|g| req.table.upstreams.get(g)) {
            if empty && !up.close && up.minor >= 1 && up.rest.is_empty() {
                shared.pool.put(
                    g,
                    req.upstream.tls_key,
                    peer_addr,
                    up_io,
                    req.upstream.conn_life,
                );
            }
        }
        return After::KeepAlive;
    }
    let head_method = &req.head.method[..] == b"HEAD";
    // A 101 that does not become a tunnel (the client sent no `Upgrade`) is relayed
    // with whatever follows it up to EOF, unframed (nginx 1.22.1).
    let no_body = head_method
        || up.status == 204
        || up.status == 304
        || ((100..200).contains(&up.status) && up.status != 101);
    let upgrade = up.status == 101 && req.head.upgrade;

    // The header block nginx writes (§4.6 order): the status line with the upstream's
    // own text after the version, then the header filter's fixed fields (`Server`,
    // `Date`, `Content-Type`, `Content-Length`, a `Location` made absolute,
    // `Transfer-Encoding`, `Connection`), then the upstream's headers in their order —
    // `Last-Modified`, a passed `Server`/`Date` and any other `Location` included, with
    // their names as sent — then `add_header`.
    let mut out = buf;
    out.clear();
    if req.err_status != 0 {
        // `ngx_http_send_header()`: after error_page the response goes out with the error
        // status (`r->err_status`) and nginx's own status line, not the upstream's.
        req.status = req.err_status;
        out.extend_from_slice(crate::respond::status_line(req.err_status).as_bytes());
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        let (ts, te) = up.status_text;
        out.extend_from_slice(req.upstream.headers.raw().get(ts..te).unwrap_or_default());
        out.extend_from_slice(b"\r\n");
    }
    let hidden = |n: &[u8]| {
        conf.proxy_hide_headers
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
    };
    let passed_server = !hidden(b"server");
    let passed_date = !hidden(b"date");
    // One look at each upstream header name; what the header block needs is noted on
    // the way (the names are matched again below only through `kinds`).
    let mut kinds: smallvec::SmallVec<[UpName; 16]> = smallvec::SmallVec::new();
    let (mut has_server, mut has_date) = (false, false);
    let mut content_type = None;
    let mut location_at = None;
    let mut accel_buffering_off = None;
    for (i, (n, v)) in req.upstream.headers.iter().enumerate() {
        let kind = up_name(n);
        match kind {
            UpName::Server => has_server = true,
            UpName::Date => has_date = true,
            // The last `Content-Type` is the type (`ngx_http_upstream_copy_content_type()`
            // overwrites).
            UpName::ContentType => content_type = Some(i),
            UpName::Location if location_at.is_none() => location_at = Some(i),
            UpName::XAccelBuffering if accel_buffering_off.is_none() => {
                accel_buffering_off = Some(v.eq_ignore_ascii_case(b"no"));
            }
            _ => {}
        }
        kinds.push(kind);
    }
    // nginx writes its own Server/Date unless the upstream's are passed and present.
    if !(passed_server && has_server) {
        out.extend_from_slice(b"Server: ");
        out.extend_from_slice(if conf.server_tokens {
            crate::respond::SERVER_TOKEN.as_bytes()
        } else {
            b"sluice"
        });
        out.extend_from_slice(b"\r\n");
    }
    if !(passed_date && has_date) {
        out.extend_from_slice(b"Date: ");
        crate::respond::append_http_date(&mut out);
        out.extend_from_slice(b"\r\n");
    }
    // A proxied 204 keeps its type and length: the header filter strips them only when
    // it writes the status line itself.
    if let Some((_, ct)) = content_type.and_then(|i| req.upstream.headers.get(i)) {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct);
        out.extend_from_slice(b"\r\n");
    }
    let client_chunked = !no_body
        && !upgrade
        && up.status >= 200
        && up.content_length.is_none()
        && req.head.minor >= 1;
    let mut keep = req.head.keep_alive
        && !upgrade
        && up.status != 101
        && (up.content_length.is_some() || client_chunked || no_body);
    if let Some(n) = up.content_length.filter(|_| !upgrade) {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // `Location`: a value a `proxy_redirect` rule rewrote and that starts with `/` is made
    // absolute and moved here; any other stays in the upstream's order
    // (`ngx_http_upstream_rewrite_location()` sets `headers_out.location` only then).
    let mut location: Option<(usize, Vec<u8>)> = None;
    if let Some(i) = location_at {
        let value = req.upstream.headers.get(i).map(|(_, v)| v.to_vec());
        if let Some(v) = value.and_then(|v| redirect(req, &v, false)) {
            location = Some((i, v));
        }
    }
    let mut location_fixed = false;
    if let Some((_, v)) = &location {
        if let Some(abs) = absolute_location(req, v) {
            out.extend_from_slice(b"Location: ");
            out.extend_from_slice(&abs);
            out.extend_from_slice(b"\r\n");
            location_fixed = true;
        }
    }
    if client_chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    // A 101 always says `Connection: upgrade`, tunnel or not.
    if up.status == 101 {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if keep {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    } else {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(&req.out_headers);
    crate::access::challenge_header(req, &mut out);
    for (i, &kind) in kinds.iter().enumerate() {
        // Content-Type went to its fixed place above; the framing headers are nginx's.
        if matches!(kind, UpName::ContentType | UpName::Consumed) {
            continue;
        }
        let Some((n, v)) = req.upstream.headers.get(i) else {
            continue;
        };
        let own_server_date =
            (kind == UpName::Server && passed_server) || (kind == UpName::Date && passed_date);
        if !own_server_date && hidden(n) {
            continue;
        }
        match &location {
            Some((li, _)) if *li == i && location_fixed => continue,
            Some((li, nv)) if *li == i => {
                out.extend_from_slice(n);
                out.extend_from_slice(b": ");
                out.extend_from_slice(nv);
            }
            _ if kind == UpName::Refresh => {
                // `proxy_redirect` may read variables: the line is copied out first.
                let (n, v) = (n.to_vec(), v.to_vec());
                let value = redirect(req, &v, true).unwrap_or(v);
                out.extend_from_slice(&n);
                out.extend_from_slice(b": ");
                out.extend_from_slice(&value);
            }
            _ => {
                out.extend_from_slice(n);
                out.extend_from_slice(b": ");
                out.extend_from_slice(v);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    crate::conn::add_headers(req, up.status, &mut out);
    out.extend_from_slice(b"\r\n");

    crate::conn::strip_head_for_http09(req, &mut out);
    let buffering = conf.proxy_buffering && accel_buffering_off != Some(true);
    let send_timeout = conf.send_timeout;
    let read_timeout = conf.proxy_read_timeout;
    req.bytes_sent += out.len() as u64;

    if upgrade {
        if timeout(send_timeout, client.write_all(&out)).await.is_err() {
            return After::Close;
        }
        if !up.rest.is_empty() && client.write_all(&up.rest).await.is_err() {
            return After::Close;
        }
        let _ = client.flush().await;
        // The tunnel can live for hours: it runs after this request's future is gone
        // (`conn::serve`), holding the two sockets and little else. The upstream's
        // headers stay readable for the access log, copied out of the head buffer so
        // that the buffer can go.
        drop(up);
        req.upstream.headers.compact();
        req.tunnel = Some(crate::tunnel::Pending {
            upstream: up_io,
            idle: read_timeout,
            send_timeout,
        });
        return After::Close;
    }

    let mut sink = Sink {
        out,
        buffering,
        chunked: client_chunked,
        sent_body: 0,
    };
    if !buffering && sink.flush(client, send_timeout).await.is_err() {
        return After::Close;
    }
    let mut rest = up.rest;
    let complete = if no_body {
        true
    } else if up.chunked {
        let mut dec = crate::http1::chunked::ChunkedDecoder::new();
        let mut data = BytesMut::new();
        let mut done = false;
        loop {
            if !rest.is_empty() {
                match dec.feed(&rest, &mut data) {
                    Ok(p) => {
                        rest.advance(p.consumed);
                        done = p.done;
                    }
                    Err(_) => break,
                }
                if !data.is_empty() {
                    if sink.data(client, &data, send_timeout).await.is_err() {
                        return After::Close;
                    }
                    data.clear();
                }
                if done {
                    break;
                }
            }
            match timeout(read_timeout, up_io.read_buf(&mut rest)).await {
                Ok(Ok(n)) if n > 0 => req.upstream.bytes_received += n as u64,
                _ => break,
            }
        }
        done
    } else if let Some(mut left) = up.content_length {
        let take = (left as usize).min(rest.len());
        left -= take as u64;
        if take > 0
            && sink
                .data(client, &rest[..take], send_timeout)
                .await
                .is_err()
        {
            return After::Close;
        }
        // What is left after the body: the connection is not reused then.
        rest.advance(take);
        // Allocated only if the body did not arrive with the head (small responses).
        let mut buf = BytesMut::new();
        while left > 0 {
            if buf.capacity() == 0 {
                buf.reserve(16 * 1024);
            }
            buf.clear();
            match timeout(read_timeout, up_io.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    req.upstream.bytes_received += n as u64;
                    let n = (n as u64).min(left) as usize;
                    left -= n as u64;
                    if sink.data(client, &buf[..n], send_timeout).await.is_err() {
                        return After::Close;
                    }
                }
                _ => break,
            }
        }
        left == 0
    } else {
        if !rest.is_empty() && sink.data(client, &rest, send_timeout).await.is_err() {
            return After::Close;
        }
        rest.clear();
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            buf.clear();
            match timeout(read_timeout, up_io.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    req.upstream.bytes_received += n as u64;
                    if sink.data(client, &buf, send_timeout).await.is_err() {
                        return After::Close;
                    }
                }
                Ok(Ok(_)) => break,
                _ => {
                    keep = false;
                    break;
                }
            }
        }
        true
    };
    if !complete {
        // Error after the header was sent: the client connection is just closed (§4.8).
        let _ = sink.flush(client, send_timeout).await;
        req.body_bytes_sent = sink.sent_body;
        return After::Close;
    }
    if sink.chunked {
        sink.out.extend_from_slice(b"0\r\n\r\n");
    }
    if sink.flush(client, send_timeout).await.is_err() {
        return After::Close;
    }
    req.body_bytes_sent = sink.sent_body;
    req.upstream.response_length = sink.sent_body;
    // Upstream keepalive: only a fully read, reusable HTTP/1.1 response.
    if let Some(g) = group.and_then(|g| req.table.upstreams.get(g)) {
        // nginx decides by the response alone (`u->keepalive`): an HTTP/1.1 answer without
        // `Connection: close`, fully read; what the request said does not matter.
        let reusable = !up.close
            && up.minor >= 1
            && rest.is_empty()
            && (up.content_length.is_some() || up.chunked || no_body);
        if reusable {
            // The peer's address is known: no getpeername() per request.
            let (tls_key, life) = (req.upstream.tls_key, req.upstream.conn_life);
            shared.pool.put(g, tls_key, peer_addr, up_io, life);
        }
    }
    if keep {
        After::KeepAlive
    } else {
        After::Close
    }
}

/// Collects the response for the client: buffered (proxy_buffering on) or flushed on
/// every read (off), chunk-framed when the client gets chunked encoding.
struct Sink {
    out: Vec<u8>,
    buffering: bool,
    chunked: bool,
    sent_body: u64,
}

/// nginx's default `proxy_buffers 8 4k` plus `proxy_buffer_size`: what it holds before
/// the client sees anything.
const BUFFERED: usize = 9 * 4096;

impl Sink {
    async fn data<C: AsyncWrite + Unpin>(
        &mut self,
        c: &mut C,
        data: &[u8],
        t: Duration,
    ) -> Result<(), ()> {
        self.sent_body += data.len() as u64;
        if self.chunked {
            use std::io::Write;
            let _ = write!(self.out, "{:x}\r\n", data.len());
            self.out.extend_from_slice(data);
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.out.extend_from_slice(data);
        }
        if !self.buffering || self.out.len() >= BUFFERED {
            self.flush(c, t).await?;
        }
        Ok(())
    }

    async fn flush<C: AsyncWrite + Unpin>(&mut self, c: &mut C, t: Duration) -> Result<(), ()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = timeout(t, async {
            c.write_all(&self.out).await?;
            c.flush().await
        })
        .await;
        self.out.clear();
        match r {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::status_line_ok;

    #[test]
    fn status_lines_as_nginx_parses_them() {
        // Valid: nginx 1.22.1 relayed these as HTTP responses.
        for ok in [
            &b"HTTP/1.1 200 OK\r\n"[..],
            b"HTTP/1.0 404 Not Found\r\n",
            b"HTTP/1.1 200\r\n",
            b"HTTP/1.1 200\n",
            b"HTTP/2.0 200 OK\r\n",
            b"HTTP/1.1  204 spaced\r\n",
        ] {
            assert_eq!(
                status_line_ok(ok),
                Some(true),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        // Invalid: relayed raw, HTTP/0.9 style (trap 34).
        for bad in [
            &b"GARBAGE\n"[..],
            b"HTTP/1.1 abc\r\n",
            b"HTTP/x.1 200 OK\r\n",
            b"HTTP/1.1 20x OK\r\n",
            b"http/1.1 200 OK\r\n",
        ] {
            assert_eq!(
                status_line_ok(bad),
                Some(false),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Not enough bytes yet.
        for more in [&b"HT"[..], b"HTTP/1.1 2", b"HTTP/1.1 200 OK"] {
            assert_eq!(status_line_ok(more), None);
        }
    }
}
