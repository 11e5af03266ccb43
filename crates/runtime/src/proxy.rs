//! `proxy_pass`: the URI and header block nginx sends upstream (SEMANTICS §4.2, §4.3),
//! peer selection and retries (§8.6, §8.7), the response nginx relays (§4.6, §4.8),
//! error pages (§8.9), and the switch to a tunnel on 101 (§5).

use crate::ctx::Req;
use crate::log::error_log;
use crate::upstream::balance::{Attempt, PeerId};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use sluice_compiler::table::{Handler, ProxyPass, Redirects, TPart, Var};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

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
    uri: Vec<u8>,
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
fn upstream_uri(req: &mut Req<'_>, uri_part: Option<&[u8]>) -> Vec<u8> {
    let Some(part) = uri_part else {
        // No URI part, URI unchanged: the raw request target.
        return req.head.target.to_vec();
    };
    let conf = req.conf;
    let mut out = part.to_vec();
    let cut = if conf.regex_or_named {
        0
    } else {
        conf.name.len().min(req.uri.len())
    };
    let rest = req.uri[cut..].to_vec();
    if req.uri_escaped {
        escape_uri(&rest, &mut out);
    } else {
        out.extend_from_slice(&rest);
    }
    if let Some(a) = &req.args {
        if !a.is_empty() {
            out.push(b'?');
            out.extend_from_slice(a);
        }
    }
    out
}

fn resolve_target(req: &mut Req<'_>, pass: &ProxyPass) -> Result<Target, u16> {
    match pass {
        ProxyPass::Static {
            upstream,
            uri,
            proxy_host,
            proxy_port,
            ..
        } => {
            req.proxy_host = Bytes::from(proxy_host.clone());
            req.proxy_port = Bytes::from(proxy_port.to_string());
            let u = upstream_uri(req, uri.as_deref());
            Ok(Target {
                group: Some(*upstream),
                direct: None,
                uri: u,
            })
        }
        ProxyPass::Dynamic(t) => {
            let url = req.eval(t);
            let lower = url.to_ascii_lowercase();
            let (rest, default_port) = if lower.starts_with(b"http://") {
                (&url[7..], 80u16)
            } else if lower.starts_with(b"https://") {
                (&url[8..], 443u16)
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
            req.proxy_host = Bytes::from(match port {
                Some(p) if p != default_port => format!("{host}:{p}"),
                _ => host.clone(),
            });
            req.proxy_port = Bytes::from(port.unwrap_or(default_port).to_string());
            let u = match uri {
                Some(u) if !u.is_empty() => u,
                _ => req.head.target.to_vec(),
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
            })
        }
    }
}

/// Builds the request line and header block (§4.3).
fn request_head(req: &mut Req<'_>, uri: &[u8]) -> Vec<u8> {
    let conf = req.conf;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&req.head.method);
    out.push(b' ');
    out.extend_from_slice(uri);
    out.extend_from_slice(if conf.proxy_http_11 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    let headers = conf.proxy_set_headers.clone();
    let mut value = Vec::new();
    for h in headers.iter() {
        value.clear();
        // Content-Length for the body nginx sends (§4.4: even with pass_request_body off).
        let is_len = matches!(
            h.value.parts.as_slice(),
            [TPart::Var(Var::Builtin(
                sluice_compiler::table::Builtin::ProxyInternalBodyLength
            ))]
        );
        if is_len {
            if let Some(n) = req.upstream_body_len {
                value.extend_from_slice(n.to_string().as_bytes());
            }
        } else {
            req.eval_into(&h.value, &mut value);
        }
        if value.is_empty() {
            continue;
        }
        out.extend_from_slice(&h.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
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
    reason: Bytes,
    minor: u8,
    headers: Vec<(Bytes, Bytes)>,
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
    Timeout(&'static str),
    Closed,
    Invalid(&'static str),
    TooBig,
}

async fn read_up_head(
    io: &mut TcpStream,
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
        if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
            return Ok(UpHead {
                status: 200,
                reason: Bytes::new(),
                minor: 0,
                headers: Vec::new(),
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
        let mut hdrs = [httparse::EMPTY_HEADER; 100];
        let mut resp = httparse::Response::new(&mut hdrs);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(200);
                let reason = Bytes::copy_from_slice(resp.reason.unwrap_or("").as_bytes());
                let minor = resp.version.unwrap_or(1);
                let mut headers = Vec::with_capacity(resp.headers.len());
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
                    headers.push((
                        Bytes::copy_from_slice(name),
                        Bytes::copy_from_slice(h.value),
                    ));
                }
                let rest = buf.split_off(len);
                return Ok(UpHead {
                    status,
                    reason,
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
pub async fn proxy<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    client: &mut C,
    pending: &mut BytesMut,
) -> After {
    let Handler::Proxy(pass) = &req.conf.handler else {
        return After::Close;
    };
    let pass = pass.clone();
    let conf = req.conf;

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

    let target = match resolve_target(req, &pass) {
        Ok(t) => t,
        Err(code) => return crate::conn::send_error(req, client, code).await,
    };
    let head = request_head(req, &target.uri);
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
    let started = Instant::now();
    let mut tries = 0;
    let mut last_error: u16;
    loop {
        tries += 1;
        let now = Instant::now();
        let (addr, peer_id): (SocketAddr, Option<PeerId>) = match (&mut attempt, balancer) {
            (Some(a), Some(b)) => match a.next(b, now) {
                Some(id) => (b.peer(id).addr, Some(id)),
                None => {
                    let name = group.map(|(_, g)| g.name.clone()).unwrap_or_default();
                    req.upstream.addrs.push(name);
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
        req.upstream.addrs.push(addr.to_string());
        let t0 = Instant::now();
        let result = try_peer(shared, req, addr, target.group, &head, &body).await;
        req.upstream.times.push(t0.elapsed().as_secs_f64());
        let (retry_kind, code) = match result {
            Ok((io, up)) => {
                let failed_status = status_retry(conf, up.status);
                if let (Some(a), Some(b), Some(id)) = (&mut attempt, balancer, peer_id) {
                    if a.done(
                        b,
                        id,
                        failed_status && up.status != 403 && up.status != 404,
                        Instant::now(),
                    ) {
                        error_log(shared, "warn", "upstream server temporarily disabled while reading response header from upstream", req);
                    }
                }
                let can_retry = failed_status
                    && tries_left(&attempt, tries)
                    && within(conf, started)
                    && idempotent_ok(req, conf);
                req.upstream.statuses.push(Some(up.status));
                if can_retry {
                    continue;
                }
                return relay(shared, req, client, io, up, target.group).await;
            }
            Err(e) => {
                req.upstream.statuses.push(Some(502));
                let (msg, code, kind) = match &e {
                    UpError::Connect(err) => (format!("connect() failed ({}: {}) while connecting to upstream", err.raw_os_error().unwrap_or(0), sluice_compiler::strerror(err.raw_os_error().unwrap_or(0))), 502, "connect"),
                    UpError::Timeout(what) if what.starts_with("connecting") => (format!("upstream timed out (110: Connection timed out) while {what}"), 504, "connect-timeout"),
                    UpError::Timeout(what) => (format!("upstream timed out (110: Connection timed out) while {what}"), 504, "timeout"),
                    UpError::Closed => ("upstream prematurely closed connection while reading response header from upstream".to_string(), 502, "error"),
                    UpError::Invalid(m) => (format!("{m} while reading response header from upstream"), 502, "invalid_header"),
                    UpError::TooBig => ("upstream sent too big header while reading response header from upstream".to_string(), 502, "invalid_header"),
                };
                if let Some(last) = req.upstream.statuses.last_mut() {
                    *last = if code == 504 { Some(504) } else { Some(502) };
                }
                error_log(shared, "error", &msg, req);
                if let (Some(a), Some(b), Some(id)) = (&mut attempt, balancer, peer_id) {
                    if a.done(b, id, true, Instant::now()) {
                        error_log(
                            shared,
                            "warn",
                            "upstream server temporarily disabled while connecting to upstream",
                            req,
                        );
                    }
                }
                (kind, code)
            }
        };
        last_error = code;
        let nu = conf.proxy_next_upstream;
        let listed = match retry_kind {
            "error" | "connect" => nu.error,
            "timeout" => nu.timeout,
            "connect-timeout" => nu.timeout,
            // An invalid header always counts as a failure (SEMANTICS §8.6).
            _ => true,
        };
        // A request that never left (connect failed) may be retried whatever its method.
        let sent = !matches!(retry_kind, "connect" | "connect-timeout");
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

fn within(conf: &sluice_compiler::table::LocConf, started: Instant) -> bool {
    conf.proxy_next_upstream_timeout.is_zero()
        || started.elapsed() < conf.proxy_next_upstream_timeout
}

/// POST, LOCK and PATCH are not retried once sent unless `non_idempotent` (§8.7).
fn idempotent_ok(req: &Req<'_>, conf: &sluice_compiler::table::LocConf) -> bool {
    conf.proxy_next_upstream.non_idempotent
        || !matches!(&req.head.method[..], b"POST" | b"LOCK" | b"PATCH")
}

/// Connects (or reuses a pooled connection), sends the request, reads the head.
async fn try_peer(
    shared: &Shared,
    req: &mut Req<'_>,
    addr: SocketAddr,
    group: Option<usize>,
    head: &[u8],
    body: &[u8],
) -> Result<(TcpStream, UpHead), UpError> {
    let conf = req.conf;
    let pooled = group
        .and_then(|g| req.table.upstreams.get(g))
        .filter(|g| g.keepalive > 0)
        .and_then(|g| shared.pool.take(&g.name, addr, g.keepalive_timeout));
    let mut io = match pooled {
        Some((io, _)) => io,
        None => {
            let t0 = Instant::now();
            let io = match timeout(conf.proxy_connect_timeout, TcpStream::connect(addr)).await {
                Err(_) => return Err(UpError::Timeout("connecting to upstream")),
                Ok(Err(e)) => return Err(UpError::Connect(e)),
                Ok(Ok(io)) => io,
            };
            req.upstream.connect_times.push(t0.elapsed().as_secs_f64());
            if conf.tcp_nodelay {
                let _ = io.set_nodelay(true);
            }
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
    let t0 = Instant::now();
    let up = read_up_head(
        &mut io,
        conf.proxy_read_timeout,
        conf.proxy_buffer_size.max(1024),
    )
    .await?;
    req.upstream.header_times.push(t0.elapsed().as_secs_f64());
    Ok((io, up))
}

/// Headers nginx always consumes from the upstream response (§4.6).
fn consumed(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// `proxy_redirect`: rewrites `Location`/`Refresh` (§4.7).
fn redirect(req: &mut Req<'_>, value: &[u8], refresh: bool) -> Vec<u8> {
    let conf = req.conf;
    let rules: Vec<(Vec<u8>, Vec<u8>)> = match &conf.proxy_redirect {
        Redirects::Off => return value.to_vec(),
        Redirects::Rules(r) if r.is_empty() => match &conf.handler {
            Handler::Proxy(p) => match &**p {
                ProxyPass::Static { url, uri, .. } => match uri {
                    Some(_) => vec![(url.as_bytes().to_vec(), conf.name.as_bytes().to_vec())],
                    None => vec![(format!("{url}/").into_bytes(), b"/".to_vec())],
                },
                ProxyPass::Dynamic(_) => Vec::new(),
            },
            _ => Vec::new(),
        },
        Redirects::Rules(r) => r.iter().map(|(f, t)| (req.eval(f), req.eval(t))).collect(),
    };
    let (prefix, url) = if refresh {
        match value
            .windows(4)
            .position(|w| w.eq_ignore_ascii_case(b"url="))
        {
            Some(i) => (&value[..i + 4], &value[i + 4..]),
            None => return value.to_vec(),
        }
    } else {
        (&value[..0], value)
    };
    for (from, to) in rules {
        if url.starts_with(&from) {
            let mut out = prefix.to_vec();
            out.extend_from_slice(&to);
            out.extend_from_slice(&url[from.len()..]);
            return out;
        }
    }
    value.to_vec()
}

/// Makes a relative `Location` absolute as nginx's header filter does (§3.4).
pub fn absolute_location(req: &Req<'_>, loc: &[u8]) -> Vec<u8> {
    if !loc.starts_with(b"/") || !req.conf.absolute_redirect {
        return loc.to_vec();
    }
    let scheme: &[u8] = if req.https { b"https://" } else { b"http://" };
    let mut out = scheme.to_vec();
    let host = if req.host.is_empty() {
        req.server.name.as_bytes()
    } else {
        &req.host[..]
    };
    out.extend_from_slice(host);
    let port = req.local.port();
    let default = if req.https { 443 } else { 80 };
    if req.conf.port_in_redirect && port != default {
        out.extend_from_slice(format!(":{port}").as_bytes());
    }
    out.extend_from_slice(loc);
    out
}

async fn relay<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    client: &mut C,
    mut up_io: TcpStream,
    up: UpHead,
    group: Option<usize>,
) -> After {
    let conf = req.conf;
    if up.raw09 {
        req.status = 200;
        let _ = client.write_all(&up.rest).await;
        let _ = tokio::io::copy(&mut up_io, client).await;
        return After::Close;
    }
    req.status = up.status;
    req.upstream.headers = up.headers.clone();
    let head_method = &req.head.method[..] == b"HEAD";
    let no_body =
        head_method || up.status == 204 || up.status == 304 || (100..200).contains(&up.status);
    let upgrade = up.status == 101 && req.head.upgrade;

    // The header block nginx writes (§4.6 order).
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(up.status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(&up.reason);
    out.extend_from_slice(b"\r\n");
    let hidden = |n: &[u8]| {
        conf.proxy_hide_headers
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
    };
    let passed_server = !hidden(b"server");
    let passed_date = !hidden(b"date");
    if !passed_server {
        out.extend_from_slice(if conf.server_tokens {
            b"Server: "
        } else {
            b"Server: sluice\r\n"
        });
        if conf.server_tokens {
            out.extend_from_slice(crate::respond::SERVER_TOKEN.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if !passed_date {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(crate::CLOCK.http_date().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let find = |n: &[u8]| {
        up.headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    if let Some(ct) = find(b"content-type") {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(&ct);
        out.extend_from_slice(b"\r\n");
    }
    let client_chunked = !no_body && !upgrade && up.content_length.is_none() && req.head.minor >= 1;
    let mut keep = req.head.keep_alive
        && !upgrade
        && (up.content_length.is_some() || client_chunked || no_body);
    if let Some(n) = up.content_length.filter(|_| !upgrade) {
        out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
    }
    if let Some(lm) = find(b"last-modified") {
        out.extend_from_slice(b"Last-Modified: ");
        out.extend_from_slice(&lm);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(loc) = find(b"location") {
        let rewritten = redirect(req, &loc, false);
        let abs = absolute_location(req, &rewritten);
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(&abs);
        out.extend_from_slice(b"\r\n");
    }
    if client_chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if keep {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    } else {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    for (n, v) in &up.headers {
        let special = [&b"content-type"[..], b"last-modified", b"location"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h));
        let own_server_date = (n.eq_ignore_ascii_case(b"server") && passed_server)
            || (n.eq_ignore_ascii_case(b"date") && passed_date);
        if special || consumed(n) || (hidden(n) && !own_server_date) {
            continue;
        }
        if n.eq_ignore_ascii_case(b"refresh") {
            let r = redirect(req, v, true);
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&r);
            out.extend_from_slice(b"\r\n");
            continue;
        }
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    crate::conn::add_headers(req, up.status, &mut out);
    out.extend_from_slice(b"\r\n");

    let buffering = conf.proxy_buffering
        && !find(b"x-accel-buffering").is_some_and(|v| v.eq_ignore_ascii_case(b"no"));
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
        crate::tunnel::run(shared, req, client, up_io, read_timeout, send_timeout).await;
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
                        let _ = rest.split_to(p.consumed);
                        done = p.done;
                    }
                    Err(_) => break,
                }
                if !data.is_empty() {
                    let chunk = data.split().freeze();
                    if sink.data(client, &chunk, send_timeout).await.is_err() {
                        return After::Close;
                    }
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
        let first = rest.split_to(take).freeze();
        left -= first.len() as u64;
        if !first.is_empty() && sink.data(client, &first, send_timeout).await.is_err() {
            return After::Close;
        }
        let mut buf = BytesMut::with_capacity(16 * 1024);
        while left > 0 {
            buf.clear();
            match timeout(read_timeout, up_io.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    req.upstream.bytes_received += n as u64;
                    let n = (n as u64).min(left) as usize;
                    left -= n as u64;
                    let chunk = buf.split_to(n).freeze();
                    if sink.data(client, &chunk, send_timeout).await.is_err() {
                        return After::Close;
                    }
                }
                _ => break,
            }
        }
        left == 0
    } else {
        if !rest.is_empty() {
            let chunk = rest.split().freeze();
            if sink.data(client, &chunk, send_timeout).await.is_err() {
                return After::Close;
            }
        }
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            buf.clear();
            match timeout(read_timeout, up_io.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    req.upstream.bytes_received += n as u64;
                    let chunk = buf.split().freeze();
                    if sink.data(client, &chunk, send_timeout).await.is_err() {
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
        let reusable = req.conf.proxy_http_11
            && !up.close
            && up.minor >= 1
            && rest.is_empty()
            && (up.content_length.is_some() || up.chunked || no_body);
        if reusable && g.keepalive > 0 {
            if let Ok(addr) = up_io.peer_addr() {
                shared.pool.put(&g.name, addr, up_io, g.keepalive, 0);
            }
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
            self.out
                .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
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
