//! One client connection: read a request head (within `client_header_timeout`, or
//! `keepalive_timeout` between requests), choose the server by address then name
//! (SEMANTICS §2), the location (§3), run its handler, log, and loop while keep-alive.

use crate::ctx::{Head, Req};
use crate::deadline::timeout;
use crate::proxy::After;
use crate::respond::{error_page, has_error_page, reason, wire_status};
use crate::Shared;
use bytes::{Buf, Bytes, BytesMut};
use sluice_compiler::table::route::{normalize_uri, Captures, LocationMatch};
use sluice_compiler::table::{
    Condition, Handler, Listener, Rewrite, RewriteOp, RoutingTable, Server, TPart, Var,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a head could not be read.
enum HeadFail {
    /// Peer closed or timed out before a complete head: close silently.
    Gone,
    /// nginx answers with this status (for an HTTP/0.9 request, the page alone), then
    /// closes.
    Status(u16, bool),
}

/// Reads one request head into `buf`.
async fn read_head<C: AsyncRead + Unpin>(
    shared: &Shared,
    io: &mut C,
    buf: &mut BytesMut,
    server: &Server,
    first_wait: Duration,
) -> Result<(Head, Instant, bool), HeadFail> {
    // nginx arms client_header_timeout once for the whole head — at accept for the first
    // request, when the first bytes arrive for a kept-alive one — and never re-arms it on
    // later reads, so a client trickling bytes is cut off (slowloris).
    let wait = if buf.is_empty() {
        first_wait
    } else {
        server.client_header_timeout
    };
    // Set at the first wait (a head already in the buffer needs no clock for it).
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut started: Option<Instant> = None;
    // `stub_status`: a request begins, and its connection reads, from its first byte.
    let mut reading: Option<crate::Gauge<'_>> = None;
    loop {
        if !buf.is_empty() {
            if reading.is_none() {
                shared
                    .requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                reading = Some(crate::Gauge::new(&shared.reading));
            }
            let start = *started.get_or_insert_with(Instant::now);
            match crate::http1::adapter::parse(buf, server) {
                Ok(Some((head, used))) => {
                    let http09 = is_http09(&buf[..used]);
                    buf.advance(used);
                    return Ok((head, start, http09));
                }
                Ok(None) => {}
                Err((code, http09)) => return Err(HeadFail::Status(code, http09)),
            }
        }
        // Until its first byte, a connection may be closed to free its slot
        // (`ngx_http_wait_request_handler()` makes it reusable).
        let first = buf.is_empty();
        // A wait of its own in the connection's task: on the connection's alarm.
        let deadline = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + wait);
        let read = crate::deadline::conn_timeout_at(deadline, io.read_buf(buf));
        let got = if first {
            crate::slots::reusable(read).await
        } else {
            Some(read.await)
        };
        match got {
            Some(Ok(Ok(n))) if n > 0 => {}
            _ => return Err(HeadFail::Gone),
        }
    }
}

/// An HTTP/0.9 simple request: a request line without a version (`GET /path`). nginx
/// answers it with the body alone: no status line, no headers
/// (`ngx_http_header_filter()` returns early below HTTP/1.0).
pub(crate) fn is_http09(head: &[u8]) -> bool {
    let line = head
        .split(|b| *b == b'\n')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    line.split(|b| *b == b' ').filter(|w| !w.is_empty()).count() == 2
}

/// For an HTTP/0.9 request, drops the status line and header block built in `out`.
pub fn strip_head_for_http09(req: &Req<'_>, out: &mut Vec<u8>) {
    if req.http09 {
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(out.len(), |i| i + 4);
        out.drain(..end);
    }
}

/// The server for a request's `Host` (validated and normalised by the parser: lowercase,
/// no port, no final dot) among a listener's; `None` for HTTP/1.0 without one.
pub(crate) fn server_for<'t>(
    table: &'t RoutingTable,
    l: &'t Listener,
    host: Option<&[u8]>,
) -> Result<&'t Server, u16> {
    let default = &table.servers[l.default_server.min(table.servers.len().saturating_sub(1))];
    // No Host (HTTP/1.0): the "" name first (§2.4 rule 4).
    Ok(match l.names.lookup(host.unwrap_or_default()) {
        Some((i, _)) => &table.servers[i],
        None => default,
    })
}

/// `$host` when the request has no `Host`: the server's name (the request's own `Host`,
/// when it has one, is read from its head: `None` here).
pub(crate) fn host_fallback(head: &Head, server: &Server) -> Option<Bytes> {
    match &head.host {
        Some(h) if !h.is_empty() => None,
        _ => Some(Bytes::copy_from_slice(server.name.as_bytes())),
    }
}

/// Serves a connection until it closes.
pub async fn serve<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    mut io: C,
    peer: SocketAddr,
    local: SocketAddr,
    addr: sluice_compiler::table::ListenAddr,
    conn_no: u64,
    tls: Option<Arc<crate::tls::TlsInfo>>,
) {
    let mut buf = BytesMut::with_capacity(1024);
    let mut served: u64 = 0;
    // Armed far out until the first keep-alive wait sets it.
    let idle_timer =
        tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(86400 * 365));
    tokio::pin!(idle_timer);
    // The configuration through a cache: a load only compares the current pointer with
    // the one held (no reference count or debt list per request).
    let mut live_cache = arc_swap::Cache::new(&shared.live);
    loop {
        let live: &crate::Live = live_cache.load();
        let table = &live.table;
        let Some(l) = table.listeners.iter().find(|l| l.addr == addr) else {
            return;
        };
        // A wildcard socket serves the specific addresses of its port with their own
        // servers (§2.1): choose by the connection's local address.
        let here = sluice_compiler::table::ListenAddr::Tcp(local);
        let l = l.specific.iter().find(|s| s.addr == here).unwrap_or(l);
        let Some(default) = table.servers.get(l.default_server) else {
            return;
        };
        let wait = if served == 0 {
            default.client_header_timeout
        } else {
            shared.last_keepalive(default)
        };
        if served > 0 && buf.is_empty() {
            // Idle between requests: wait for the next request's first bytes up to
            // keepalive_timeout; a graceful stop (QUIT) closes the connection now.
            // One timer for the connection's idle waits, moved only when it would fire
            // too late or when it fires early: no timer registered per request.
            let deadline = tokio::time::Instant::now() + wait;
            if idle_timer.deadline() > deadline {
                idle_timer.as_mut().reset(deadline);
            }
            // Idle keep-alive connections are reusable (`ngx_http_set_keepalive()`).
            let next = crate::slots::keepalive_wait(async {
                loop {
                    tokio::select! {
                        biased;
                        r = io.read_buf(&mut buf) => break matches!(r, Ok(n) if n > 0),
                        () = &mut idle_timer => {
                            if tokio::time::Instant::now() >= deadline {
                                break false;
                            }
                            idle_timer.as_mut().reset(deadline);
                        }
                    }
                }
            });
            if next.await != Some(true) {
                return;
            }
        }
        let (head, start, http09) = match read_head(&shared, &mut io, &mut buf, default, wait).await
        {
            Ok(h) => h,
            Err(HeadFail::Gone) => return,
            Err(HeadFail::Status(code, http09)) => {
                let _ = write_simple(&mut io, code, default.conf.server_tokens, http09).await;
                linger(&mut io, &mut buf).await;
                return;
            }
        };
        // The request is served by the configuration current when its head arrived, not
        // the one current when the connection went idle (a reload may lie in between).
        let live: &crate::Live = live_cache.load();
        let table = &live.table;
        let Some(l) = table.listeners.iter().find(|l| l.addr == addr) else {
            return;
        };
        let l = l.specific.iter().find(|s| s.addr == here).unwrap_or(l);
        served += 1;
        let _writing = crate::Gauge::new(&shared.writing);
        // Boxed: the request's future (every phase's state, several KiB) is freed when
        // the request ends, so neither an idle keep-alive connection nor a tunnel holds it.
        // Made in its box: `Box::pin(handle(..))` would build the future (4.7 KB, most of
        // it room for later states) on the stack and copy it over.
        let handled = Box::write(
            Box::new_uninit(),
            handle(
                &shared,
                live,
                l,
                head,
                start,
                http09,
                &mut io,
                &mut buf,
                peer,
                local,
                conn_no,
                served,
                &tls,
                std::future::pending(),
            ),
        );
        let handled = Box::into_pin(handled).await;
        match handled {
            Handled::Next(true) => {}
            Handled::Next(false) => {
                linger(&mut io, &mut buf).await;
                return;
            }
            Handled::Tunnel(mut req) => {
                if let Some(pending) = req.tunnel.take() {
                    crate::tunnel::run(&shared, &mut req, &mut io, &mut buf, pending).await;
                }
                crate::log::access(&shared, &mut req);
                // nginx closes both sides of a finished tunnel at once (no lingering
                // close); over TLS the close_notify goes out first.
                if tls.is_some() {
                    let _ = io.shutdown().await;
                }
                return;
            }
        }
    }
}

/// How a request ended.
enum Handled<'t> {
    /// Answered and logged: keep reading requests (`true`) or close (`false`).
    Next(bool),
    /// The 101 was sent; the tunnel runs next, then the request is logged.
    Tunnel(Box<Req<'t>>),
}

/// Serves one HTTP/2 stream (`h2.rs`) through the same phases as an HTTP/1 request:
/// `buf` holds the stream's head rebuilt in HTTP/1.1 form, `io` carries the request body
/// in and the HTTP/1.1 response out, which `h2.rs` turns back into frames. One request,
/// no keep-alive, no lingering close: the stream ends with it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_h2_stream<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    mut io: C,
    mut buf: BytesMut,
    kind: crate::ctx::H2Kind,
    peer: SocketAddr,
    local: SocketAddr,
    addr: &sluice_compiler::table::ListenAddr,
    conn_no: u64,
    served: u64,
    tls: &Option<Arc<crate::tls::TlsInfo>>,
    cancel: impl std::future::Future<Output = ()>,
) {
    let start = Instant::now();
    let live = shared.live.load_full();
    let table = &live.table;
    let Some(l) = table.listeners.iter().find(|l| l.addr == *addr) else {
        return;
    };
    let here = sluice_compiler::table::ListenAddr::Tcp(local);
    let l = l.specific.iter().find(|s| s.addr == here).unwrap_or(l);
    let Some(default) = table.servers.get(l.default_server) else {
        return;
    };
    let mut head = match crate::http1::adapter::parse_h2(&buf, default) {
        Ok(Some((head, used))) => {
            let _ = buf.split_to(used);
            head
        }
        // The head was built whole; an incomplete one cannot happen, answer as nginx
        // answers a head it cannot use.
        Ok(None) => {
            let _ = write_simple(&mut io, 400, default.conf.server_tokens, false).await;
            return;
        }
        Err((code, _)) => {
            let _ = write_simple(&mut io, code, default.conf.server_tokens, false).await;
            return;
        }
    };
    head.h2 = kind;
    // A stream is never "closed" by the request: nginx's h2 requests keep the connection.
    head.keep_alive = true;
    let handled = handle(
        shared, &live, l, head, start, false, &mut io, &mut buf, peer, local, conn_no, served, tls,
        cancel,
    )
    .await;
    // RFC 8441: the 200 went out on the stream; the tunnel runs over it.
    if let Handled::Tunnel(mut req) = handled {
        if let Some(pending) = req.tunnel.take() {
            crate::tunnel::run(shared, &mut req, &mut io, &mut buf, pending).await;
        }
        crate::log::access(shared, &mut req);
    }
}

/// RFC 8441 (a sluice extension, SEMANTICS §5.1): an extended CONNECT is bridged only to
/// a location that would also upgrade an HTTP/1.1 WebSocket, i.e. one that proxies with
/// `proxy_http_version 1.1` and passes a non-empty `Upgrade` header upstream.
fn upgrades_websockets(req: &mut Req<'_>) -> bool {
    if !matches!(req.conf.handler, Handler::Proxy(_)) || !req.conf.proxy_http_11 {
        return false;
    }
    let list = req.conf.proxy_set_headers.clone();
    list.iter()
        .any(|h| &*h.lower == b"upgrade" && !req.eval(&h.value).is_empty())
}

/// nginx's lingering close (`ngx_http_set_lingering_close()`): send FIN, then read and
/// drop what the client still sends — up to `lingering_timeout` (5 s) of silence and
/// `lingering_time` (30 s) in all — so that unread input does not turn the close into a
/// reset that could destroy the response before the client reads it.
async fn linger<C: AsyncRead + AsyncWrite + Unpin>(io: &mut C, buf: &mut BytesMut) {
    let _ = io.shutdown().await;
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    // The scratch space is the connection's buffer (on the heap): an array here would
    // make every connection's task that much bigger for its whole life.
    buf.clear();
    buf.reserve(4096);
    loop {
        let idle = tokio::time::Instant::now() + Duration::from_secs(5);
        // Reusable while lingering, as in nginx 1.22.
        match crate::slots::reusable(crate::deadline::timeout_at(idle.min(end), io.read_buf(buf)))
            .await
        {
            Some(Ok(Ok(n))) if n > 0 => buf.clear(),
            _ => return,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle<'t, C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &'t Shared,
    live: &'t crate::Live,
    l: &'t Listener,
    head: Head,
    start: Instant,
    http09: bool,
    io: &mut C,
    buf: &mut BytesMut,
    peer: SocketAddr,
    local: SocketAddr,
    conn_no: u64,
    served: u64,
    tls: &Option<Arc<crate::tls::TlsInfo>>,
    cancel: impl std::future::Future<Output = ()>,
) -> Handled<'t> {
    let table = &live.table;
    let server = match server_for(table, l, head.host.as_deref()) {
        Ok(s) => s,
        Err(code) => {
            let default = &table.servers[l.default_server];
            let _ = write_simple(io, code, default.conf.server_tokens, false).await;
            return Handled::Next(false);
        }
    };
    let host = host_fallback(&head, server);
    let mut req = Req::new(
        live,
        server,
        head,
        http09,
        host,
        (peer, local),
        tls.is_some(),
        start,
        (conn_no, served),
    );
    req.stats = Some(shared);
    req.tls = tls.clone();
    let target = &req.head.target;
    let path_start = if target.starts_with(b"/") {
        0
    } else {
        target
            .iter()
            .position(|b| *b == b'/')
            .unwrap_or(target.len())
    };
    let after = match normalize_uri(&target[path_start..], server.merge_slashes) {
        Err(_) => {
            req.status = 400;
            let _ = send_error(&mut req, io, 400).await;
            After::Close
        }
        Ok(n) => {
            req.uri = n.path;
            req.args = n.args;
            req.uri_escaped = n.had_escapes;
            // An HTTP/2 stream the client reset stops here, upstream request and all,
            // and is logged with 499 as nginx logs it.
            let run = {
                let run = route_and_run(shared, &mut req, io, buf);
                tokio::select! {
                    biased;
                    after = run => Some(after),
                    () = cancel => None,
                }
            };
            match run {
                Some(after) => after,
                None => {
                    req.status = 499;
                    After::Close
                }
            }
        }
    };
    if req.tunnel.is_some() {
        return Handled::Tunnel(Box::new(req));
    }
    crate::log::access(shared, &mut req);
    Handled::Next(
        matches!(after, After::KeepAlive)
            && req.head.keep_alive
            && served < req.conf.keepalive_requests
            && !req.conf.keepalive_timeout.is_zero(),
    )
}

/// Runs a subrequest through the phases (`auth_request`); what it answers goes to
/// `sink`. Boxed: the main request's access phase awaits it, and a subrequest's phases
/// are the same code.
pub(crate) fn route_subrequest<'a, 't, C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &'a Shared,
    sr: &'a mut Req<'t>,
    sink: &'a mut C,
    buf: &'a mut BytesMut,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>
where
    't: 'a,
{
    Box::pin(async move {
        let _ = route_and_run(shared, sr, sink, buf).await;
    })
}

async fn route_and_run<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> After {
    let server = req.server;
    // `r->quoted_uri || r->plus_in_uri`: the raw path (before `?`) had `%` or `+`.
    let path = req
        .head
        .target
        .split(|b| *b == b'?')
        .next()
        .unwrap_or_default();
    let quoted = path.iter().any(|b| matches!(b, b'%' | b'+'));
    req.quoted = req.subrequest.is_none() && quoted;
    // The post-read phase (main requests only): the realip module with the server's
    // configuration.
    if let Some(r) = server
        .conf
        .realip
        .as_ref()
        .filter(|_| req.subrequest.is_none())
    {
        crate::access::realip(req, r);
    }
    req.routing = true;
    // `NGX_HTTP_MAX_URI_CHANGES` + 1: the eleventh internal redirect or location
    // re-search of a request fails with 500.
    let mut uri_changes = 11u32;
    let mut routed = route_once(shared, req, io, buf, Start::ServerRewrite).await;
    loop {
        // An error raised with an `error_page` for it (see `send_error_extra`).
        if let Some(code) = req.pending_error.take() {
            if matches!(routed, Routed::Done(After::Close)) {
                req.head.keep_alive = false;
            }
            routed = Routed::ErrorPage(code);
        }
        routed = match routed {
            Routed::Done(after) => return after,
            Routed::ErrorPage(code) => send_error_page(req, io, buf, code).await,
            // `ngx_http_internal_redirect()`: an index file, `try_files`, `error_page`.
            Routed::Redirect(uri, args) => {
                uri_changes -= 1;
                if uri_changes == 0 {
                    let msg = format!(
                        "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                        String::from_utf8_lossy(&uri)
                    );
                    Routed::Done(cycle(shared, req, io, buf, &msg).await)
                } else {
                    req.uri = uri;
                    req.args = args;
                    // nginx escapes `$uri` for an upstream after an internal redirect
                    // (`r->internal` in `ngx_http_proxy_create_request()`).
                    req.uri_escaped = true;
                    req.internal = true;
                    req.valid_unparsed_uri = false;
                    // `ngx_http_handler()` for an internal request.
                    req.valid_location = true;
                    req.conf = &server.conf;
                    route_once(shared, req, io, buf, Start::ServerRewrite).await
                }
            }
            // `ngx_http_core_post_rewrite_phase()`: the rewrite phase changed `$uri`.
            Routed::Relocate => {
                uri_changes -= 1;
                if uri_changes == 0 {
                    let msg = format!(
                        "rewrite or internal redirection cycle while processing \"{}\"",
                        String::from_utf8_lossy(&req.uri)
                    );
                    Routed::Done(cycle(shared, req, io, buf, &msg).await)
                } else {
                    req.conf = &server.conf;
                    route_once(shared, req, io, buf, Start::FindConfig).await
                }
            }
            // `ngx_http_named_location()`: the URI stays; the named location's rewrite
            // phase comes next.
            Routed::Named(name) => {
                uri_changes -= 1;
                let name = String::from_utf8_lossy(&name).into_owned();
                if uri_changes == 0 {
                    let msg = format!(
                        "rewrite or internal redirection cycle while redirect to named location \"{name}\""
                    );
                    Routed::Done(cycle(shared, req, io, buf, &msg).await)
                } else {
                    match server
                        .locations
                        .named(&name)
                        .and_then(|id| server.locs.get(id))
                    {
                        Some(c) => {
                            req.conf = c;
                            limit_except(req);
                            req.internal = true;
                            req.uri_escaped = true;
                            req.uri_changed = false;
                            route_once(shared, req, io, buf, Start::Named).await
                        }
                        None => {
                            let msg = format!("could not find named location \"{name}\"");
                            crate::log::error_log(shared, "error", &msg, req);
                            no_continue(req);
                            let after = send_error(req, io, 500).await;
                            Routed::Done(finish_discard(req, io, buf, after).await)
                        }
                    }
                }
            }
        };
    }
}

/// The 500 for too many URI changes; no `error_page` applies any more (nginx checks
/// `r->uri_changes != 0`).
async fn cycle<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    msg: &str,
) -> After {
    crate::log::error_log(shared, "error", msg, req);
    req.routing = false;
    no_continue(req);
    let after = send_error(req, io, 500).await;
    finish_discard(req, io, buf, after).await
}

/// `ngx_http_send_error_page()`: the special response for `code` becomes an internal
/// redirect (a URI, with `?` splitting arguments; GET unless HEAD), a named location,
/// or a 302 (or the `=` code when it is a redirect code) to a URL. The status sent at
/// the end is the original one, the `=CODE`, or (bare `=`) the target's own.
async fn send_error_page<C: AsyncRead + AsyncWrite + Unpin + Send>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    code: u16,
) -> Routed {
    let conf = req.conf;
    let Some(page) = conf.error_pages.iter().find(|p| p.codes.contains(&code)) else {
        req.routing = false;
        let after = send_error(req, io, code).await;
        req.routing = true;
        return Routed::Done(after);
    };
    // `ngx_http_special_response_handler()` ends keep-alive for these first.
    if matches!(code, 400 | 413 | 414 | 494..=497 | 500 | 501) {
        req.head.keep_alive = false;
    }
    if !conf.recursive_error_pages {
        req.error_page_used = true;
    }
    // `ngx_http_core_error_page()`: without `=`, 494–497 are answered as 400.
    let overwrite = page
        .overwrite
        .or((494..=497).contains(&code).then_some(400));
    if overwrite.is_some_and(|o| o != 200) {
        no_continue(req);
    }
    req.err_status = overwrite.unwrap_or(code);
    let uri = req.eval(&page.uri);
    if uri.starts_with(b"/") {
        let (path, args) = match uri.iter().position(|b| *b == b'?') {
            Some(i) => (uri[..i].to_vec(), Some(uri[i + 1..].to_vec())),
            None => (uri, None),
        };
        if &req.head.method[..] != b"HEAD" {
            req.head.method = Bytes::from_static(b"GET");
        }
        return Routed::Redirect(path, args);
    }
    if uri.starts_with(b"@") {
        return Routed::Named(uri);
    }
    no_continue(req);
    let status = overwrite
        .filter(|c| matches!(c, 301 | 302 | 303 | 307 | 308))
        .unwrap_or(302);
    req.err_status = status;
    let after = send_redirect(req, io, status, &uri).await;
    Routed::Done(finish_discard(req, io, buf, after).await)
}

/// Where one pass through nginx's phases starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// `ngx_http_handler()`: the server-rewrite phase, then location search.
    ServerRewrite,
    /// `ngx_http_core_post_rewrite_phase()`: location search again.
    FindConfig,
    /// `ngx_http_named_location()`: the (already chosen) location's rewrite phase.
    Named,
}

/// What one pass of the phases did.
enum Routed {
    Done(After),
    /// `ngx_http_internal_redirect()` to this `$uri` and `$args`.
    Redirect(Vec<u8>, Option<Vec<u8>>),
    /// Search the locations again with the changed `$uri`.
    Relocate,
    /// Go to the named location (`@name`).
    Named(Vec<u8>),
    /// A special response whose status has an `error_page`.
    ErrorPage(u16),
}

/// What rewrite-module code decided (`ngx_http_rewrite_handler()`'s `e->status`).
enum Script<'t> {
    /// `NGX_DECLINED`: go on to the next phase.
    Declined,
    /// `return CODE [TEXT]`.
    Return(u16, Option<&'t sluice_compiler::table::Template>),
    /// A rewrite to a redirect: status and `Location`.
    Redirect(u16, Vec<u8>),
    /// An error status.
    Status(u16),
}

async fn route_once<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    start: Start,
) -> Routed {
    let server = req.server;
    // The server-rewrite phase: the server level's rewrite-module instructions, before
    // any location is chosen (a `rewrite` there needs no `last`: location search
    // follows anyway).
    if start == Start::ServerRewrite && !server.rewrites.is_empty() {
        let ops: &[RewriteOp] = &server.rewrites;
        match run_script(shared, req, ops).await {
            Script::Declined => {}
            s => return respond_script(req, io, buf, s).await,
        }
    }
    if start != Start::Named {
        if let Some(r) = find_config(req, io, buf).await {
            return r;
        }
    }
    // The rewrite phase: the location's instructions (an `if` may switch `req.conf`).
    let conf = req.conf;
    if !conf.rewrites.is_empty() {
        match run_script(shared, req, &conf.rewrites).await {
            Script::Declined => {}
            s => return respond_script(req, io, buf, s).await,
        }
    }
    if req.uri_changed {
        return Routed::Relocate;
    }
    // The pre-access phase: the realip module with the location's configuration
    // (when the server's did not replace the address already).
    if let Some(r) = &req.conf.realip {
        crate::access::realip(req, r);
    }
    // The access phase comes after the rewrite phase (`return` answers before any
    // allow/deny is looked at, as in nginx) and before try_files and content. A
    // subrequest skips it (`ngx_http_core_access_phase()`: `r != r->main`).
    if req.subrequest.is_none() {
        if let crate::access::Verdict::Refuse(code) = crate::access::phase(shared, req).await {
            no_continue(req);
            let after = send_error(req, io, code).await;
            return Routed::Done(finish_discard(req, io, buf, after).await);
        }
    }
    if let Some(tf) = req.conf.try_files.clone() {
        use crate::static_files::Tried;
        match crate::static_files::try_files(shared, req, &tf).await {
            Tried::Found => {}
            Tried::Redirect(uri, args) => return Routed::Redirect(uri, args),
            Tried::Named(name) => return Routed::Named(name),
            Tried::Code(c) => {
                no_continue(req);
                let after = send_error(req, io, c).await;
                return Routed::Done(finish_discard(req, io, buf, after).await);
            }
        }
    }
    if req.head.h2 == crate::ctx::H2Kind::WebSocket && !upgrades_websockets(req) {
        // nginx answers a CONNECT with 405; a location that would not tunnel a
        // WebSocket gets the same for RFC 8441's extended CONNECT.
        crate::log::error_log(
            shared,
            "info",
            "client sent extended CONNECT to a location that does not upgrade WebSockets",
            req,
        );
        no_continue(req);
        let after = send_error(req, io, 405).await;
        return Routed::Done(finish_discard(req, io, buf, after).await);
    }
    let after = match &req.conf.handler {
        Handler::Proxy(_) => crate::proxy::proxy(shared, req, io, buf).await,
        Handler::StubStatus => stub_status(shared, req, io, buf).await,
        Handler::Static => match crate::static_files::serve(shared, req, io, buf).await {
            crate::static_files::Served::Done(after) => after,
            crate::static_files::Served::Redirect(uri) => {
                let args = req.args.clone();
                return Routed::Redirect(uri, args);
            }
        },
    };
    Routed::Done(after)
}

/// `ngx_http_core_find_config_phase()`: the location for `$uri`, then its checks
/// (`internal`, keep-alive, `client_max_body_size`, the auto 301). `None` to go on.
async fn find_config<C: AsyncRead + AsyncWrite + Unpin + Send>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> Option<Routed> {
    let server = req.server;
    req.uri_changed = false;
    req.conf = &server.conf;
    let mut auto_redirect: Option<Vec<u8>> = None;
    match server.locations.find(&req.uri) {
        LocationMatch::Found { id, captures } => {
            if let Some(c) = server.locs.get(id) {
                req.conf = c;
            }
            if let Some(c) = captures {
                req.captures = Some((req.uri.clone(), c));
            }
        }
        LocationMatch::Redirect { id } => {
            if let Some(c) = server.locs.get(id) {
                req.conf = c;
            }
            // §3.4: 301 to the name with a slash, plus the query (answered below, after
            // the keep-alive and body-size checks, in nginx's order).
            let mut loc = req.uri.clone();
            loc.push(b'/');
            if let Some(a) = &req.args {
                loc.push(b'?');
                loc.extend_from_slice(a);
            }
            auto_redirect = Some(loc);
        }
        LocationMatch::NotFound => {}
        LocationMatch::Error => return Some(Routed::Done(send_error(req, io, 500).await)),
    }
    // An `internal` location is not there for requests from outside; a rewrite or an
    // internal redirect (index file, try_files, error_page) may reach it.
    if req.conf.internal && !req.internal {
        no_continue(req);
        let after = send_error(req, io, 404).await;
        return Some(Routed::Done(finish_discard(req, io, buf, after).await));
    }
    // `ngx_http_update_location_config()`: a method `limit_except` does not name gets
    // the block's configuration. The body-size check below still reads the
    // location's (nginx keeps its `clcf`).
    let location_conf = req.conf;
    limit_except(req);
    // `ngx_http_update_location_config()`, before anything is answered: keep-alive ends
    // with this request when the location's `keepalive_timeout` is 0 or this is its
    // `keepalive_requests`-th request (the response then says `Connection: close`).
    if req.conf.keepalive_timeout.is_zero()
        || req.connection_requests >= req.conf.keepalive_requests
    {
        req.head.keep_alive = false;
    }
    if let Some(len) = req.head.content_length {
        let max = location_conf.client_max_body_size;
        if max > 0 && len > max {
            // nginx sends the 413, then still discards the declared body (waiting up to
            // lingering_timeout between reads) before it closes.
            no_continue(req);
            let _ = send_error(req, io, 413).await;
            let _ = read_body_with(req, io, buf, false, Duration::from_secs(5)).await;
            req.head.keep_alive = false;
            return Some(Routed::Done(After::Close));
        }
    }
    if let Some(loc) = auto_redirect {
        no_continue(req);
        let after = send_redirect(req, io, 301, &loc).await;
        return Some(Routed::Done(finish_discard(req, io, buf, after).await));
    }
    None
}

/// Switches to the `limit_except` block's configuration for a method it does not name.
fn limit_except(req: &mut Req<'_>) {
    let conf = req.conf;
    if let Some(le) = conf.limit_except.as_deref() {
        if sluice_compiler::table::method_bit(&req.head.method) & le.mask != 0 {
            req.conf = &le.conf;
        }
    }
}

/// `ngx_http_stub_status_handler()`: GET and HEAD only (405 otherwise); the counters
/// as `text/plain`, in nginx's exact layout (trailing spaces included).
async fn stub_status<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> After {
    if !matches!(&req.head.method[..], b"GET" | b"HEAD") {
        no_continue(req);
        let after = send_error(req, io, 405).await;
        return finish_discard(req, io, buf, after).await;
    }
    let [active, accepted, requests, reading, writing, waiting] = shared.status_counts();
    let body = format!(
        "Active connections: {active} \nserver accepts handled requests\n {accepted} {accepted} {requests} \nReading: {reading} Writing: {writing} Waiting: {waiting} \n"
    );
    if expect_continue(req, io).await.is_err() {
        return After::Close;
    }
    let after = send_body(req, io, 200, b"text/plain", body.as_bytes()).await;
    finish_discard(req, io, buf, after).await
}

/// Answers what the rewrite-module code decided.
async fn respond_script<C: AsyncRead + AsyncWrite + Unpin + Send>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    s: Script<'_>,
) -> Routed {
    let after = match s {
        Script::Declined => return Routed::Done(After::Close),
        Script::Return(code, text) => {
            return Routed::Done(respond_return(req, io, buf, code, text).await)
        }
        Script::Redirect(code, loc) => {
            no_continue(req);
            send_redirect(req, io, code, &loc).await
        }
        Script::Status(code) => {
            no_continue(req);
            send_error(req, io, code).await
        }
    };
    Routed::Done(finish_discard(req, io, buf, after).await)
}

/// `return CODE [TEXT|URL]` (`ngx_http_script_return_code()`).
async fn respond_return<C: AsyncRead + AsyncWrite + Unpin + Send>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    code: u16,
    text: Option<&sluice_compiler::table::Template>,
) -> After {
    // nginx answers first and discards the body afterwards (it starts discarding
    // without waiting for it), so a slow or oversized body does not hold the
    // response up. `ngx_http_send_response()` (a code below 400, or any text)
    // starts the discard, and with it 100 Continue; a bare error code is a
    // special response, which answers no 100 Continue.
    if code < 400 || text.is_some() {
        if expect_continue(req, io).await.is_err() {
            return After::Close;
        }
    } else {
        no_continue(req);
    }
    // `ngx_http_script_return_code()`: a code below 400 or any text goes through
    // `ngx_http_send_response()` (301–308 make the text a `Location`, others send
    // it as the body, typed by the URI's extension or `default_type`); a bare
    // code from 400 up is a special response (error page).
    // `ngx_http_send_response()` sets the status before it evaluates the text: `$status`
    // in a `return` text is the code being returned.
    if text.is_some() {
        req.status = code;
    }
    let after = match (code, text) {
        (301..=308, Some(t)) => {
            let url = req.eval(t);
            send_redirect(req, io, code, &url).await
        }
        (c, Some(t)) => {
            let body = req.eval(t);
            let ct = content_type(req);
            send_body(req, io, c, &ct, &body).await
        }
        (c, None) if c >= 400 || has_error_page(c) => send_error(req, io, c).await,
        (c, None) => {
            let ct = content_type(req);
            send_body(req, io, c, &ct, b"").await
        }
    };
    finish_discard(req, io, buf, after).await
}

/// Runs rewrite-module instructions (`ngx_http_rewrite_handler()` over the codes nginx
/// compiles them to): in order; an `if` whose condition holds runs its block and then
/// the instructions after it; `return`, `break`, a matching `rewrite … last|break` or
/// a redirect stop.
async fn run_script<'t>(shared: &Shared, req: &mut Req<'t>, ops: &'t [RewriteOp]) -> Script<'t> {
    // `e->quote`: captures copied into `set`/`if` values are escaped for a request with
    // `%` or `+` in its path until a `rewrite` has matched (`ngx_http_script_regex_end_code()`
    // clears it).
    let mut quote = true;
    let mut stack: Vec<std::slice::Iter<'t, RewriteOp>> = vec![ops.iter()];
    while let Some(it) = stack.last_mut() {
        let Some(op) = it.next() else {
            stack.pop();
            continue;
        };
        match op {
            RewriteOp::Return { code, text } => return Script::Return(*code, text.as_ref()),
            // `ngx_http_script_break_code()`.
            RewriteOp::Break => {
                if req.uri_changed {
                    req.valid_location = false;
                    req.uri_changed = false;
                }
                return Script::Declined;
            }
            RewriteOp::Set { target, value } => {
                req.escape_captures = quote && req.quoted;
                let v = req.eval(value);
                req.escape_captures = false;
                req.set_variable(*target, v);
            }
            RewriteOp::If { cond, conf, body } => {
                if condition(shared, req, cond, quote).await {
                    if let Some(c) = conf {
                        req.conf = c;
                        if req.conf.keepalive_timeout.is_zero() {
                            req.head.keep_alive = false;
                        }
                    }
                    stack.push(body.iter());
                }
            }
            RewriteOp::Rewrite(rw) => {
                let subject = req.uri.clone();
                let Some(caps) = Captures::match_regex(&rw.re, &subject) else {
                    // `r->ncaptures = 0` on a failed match (nginx 1.22.1: after a second
                    // server-level rewrite that did not match, `$1` was empty).
                    req.captures = None;
                    continue;
                };
                set_captures(req, subject, caps);
                quote = false;
                if let Some(s) = rewrite(shared, req, rw) {
                    return s;
                }
            }
        }
    }
    Script::Declined
}

/// Makes the captures of a match current (`ngx_http_regex_exec()`): `$1…$9`, and the
/// named ones, whose variables are set anew.
fn set_captures(req: &mut Req<'_>, subject: Vec<u8>, caps: Captures) {
    for (name, _) in caps.names() {
        if let Some(i) = req.table.user_vars.iter().position(|u| u == name) {
            if let Some(slot) = req.user.get_mut(i) {
                *slot = None;
            }
        }
    }
    req.captures = Some((subject, caps));
}

/// A matching `rewrite` (`ngx_http_script_regex_start_code()` and
/// `ngx_http_script_regex_end_code()`): `Some` when processing stops.
fn rewrite(shared: &Shared, req: &mut Req<'_>, rw: &Rewrite) -> Option<Script<'static>> {
    req.internal = true;
    req.uri_escaped = true;
    req.valid_unparsed_uri = false;
    if rw.break_cycle {
        req.valid_location = false;
        req.uri_changed = false;
    } else {
        req.uri_changed = true;
    }
    let redirect = rw.redirect != 0;
    // The replacement: a literal `?` starts the new arguments (not for a redirect);
    // captures are escaped in the arguments, and everywhere in a redirect, when the
    // request's path had `%` or `+`.
    let mut out: Vec<u8> = Vec::new();
    let mut args_at: Option<usize> = None;
    for part in &rw.repl.parts {
        match part {
            TPart::Lit(l) => match l.iter().position(|b| *b == b'?') {
                Some(q) if !redirect && args_at.is_none() => {
                    out.extend_from_slice(&l[..q]);
                    args_at = Some(out.len());
                    out.extend_from_slice(&l[q + 1..]);
                }
                _ => out.extend_from_slice(l),
            },
            TPart::Var(v @ Var::Capture(_)) => {
                let val = req.var(v);
                if (redirect || args_at.is_some()) && req.quoted {
                    crate::ctx::escape_args(&val, &mut out);
                } else {
                    out.extend_from_slice(&val);
                }
            }
            TPart::Var(v) => {
                let val = req.var(v);
                out.extend_from_slice(&val);
            }
        }
    }
    let old_args = req.args.clone().filter(|a| !a.is_empty());
    if redirect {
        let mut loc = unescape_redirect(&out);
        if let Some(a) = old_args.filter(|_| rw.add_args) {
            loc.push(if rw.has_args { b'&' } else { b'?' });
            loc.extend_from_slice(&a);
        }
        return Some(Script::Redirect(rw.redirect, loc));
    }
    match args_at {
        Some(at) => {
            let mut args = out.split_off(at);
            if let Some(a) = old_args.filter(|_| rw.add_args) {
                args.push(b'&');
                args.extend_from_slice(&a);
            }
            req.args = Some(args);
        }
        None if !rw.add_args => req.args = None,
        None => {}
    }
    if out.is_empty() {
        crate::log::error_log(shared, "error", "the rewritten URI has a zero length", req);
        return Some(Script::Status(500));
    }
    req.uri = out;
    rw.stop.then_some(Script::Declined)
}

/// `ngx_unescape_uri(NGX_UNESCAPE_REDIRECT)` over a redirect's replacement: `%XX` that
/// decodes to a byte above `%` and below 0x7f is decoded, other escapes kept; a `?`
/// (written or decoded) ends the decoding and the rest is copied as it is.
fn unescape_redirect(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            _ => match c | 0x20 {
                c @ b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            },
        }
    };
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let ch = s[i];
        i += 1;
        if ch == b'?' {
            out.push(ch);
            out.extend_from_slice(&s[i..]);
            return out;
        }
        if ch != b'%' {
            out.push(ch);
            continue;
        }
        // sw_quoted: an invalid first digit drops the `%` and keeps the byte.
        let Some(&c1) = s.get(i) else { break };
        i += 1;
        let Some(hi) = hex(c1) else {
            out.push(c1);
            continue;
        };
        // sw_quoted_second: an invalid second digit drops all three bytes.
        let Some(&c2) = s.get(i) else { break };
        i += 1;
        let Some(lo) = hex(c2) else { continue };
        let d = (hi << 4) + lo;
        if d == b'?' && !c2.is_ascii_digit() {
            out.push(d);
            out.extend_from_slice(&s[i..]);
            return out;
        }
        if d > b'%' && d < 0x7f {
            out.push(d);
        } else {
            out.extend_from_slice(&[b'%', c1, c2]);
        }
    }
    out
}

/// An `if` condition (`ngx_http_script_*_code()` for the forms of
/// `ngx_http_rewrite_if_condition()`).
async fn condition(shared: &Shared, req: &mut Req<'_>, cond: &Condition, quote: bool) -> bool {
    match cond {
        Condition::Var(t) => {
            let v = req.eval(t);
            !v.is_empty() && v != b"0"
        }
        Condition::Eq { lhs, rhs, negate } => {
            let l = req.eval(lhs);
            req.escape_captures = quote && req.quoted;
            let r = req.eval(rhs);
            req.escape_captures = false;
            (l == r) != *negate
        }
        Condition::Regex { lhs, re, negate } => {
            let subject = req.eval(lhs);
            let hit = match Captures::match_regex(re, &subject) {
                Some(caps) => {
                    set_captures(req, subject, caps);
                    true
                }
                None => {
                    req.captures = None;
                    false
                }
            };
            hit != *negate
        }
        Condition::File { path, op, negate } => {
            req.escape_captures = quote && req.quoted;
            let p = req.eval(path);
            req.escape_captures = false;
            crate::static_files::file_test(shared, req, &p, *op, *negate).await
        }
    }
}

/// Reads the request body fully (for proxying with request buffering): `Ok(None)` when
/// there is none; `Err(code)` for nginx's error (0 = just close).
///
/// First, like `ngx_http_test_expect()` (called when nginx starts reading or discarding
/// a body, whether one follows or not), an HTTP/1.1 `Expect: 100-continue` gets
/// `HTTP/1.1 100 Continue` at once; the header itself is never forwarded (§4.5).
pub async fn read_body<C: AsyncRead + AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> Result<Option<Bytes>, u16> {
    let t = req.conf.client_body_timeout;
    read_body_with(req, io, buf, true, t).await
}

/// [`read_body`], optionally without the `client_max_body_size` check (nginx does not
/// apply it while discarding a body) and with a given wait between reads.
async fn read_body_with<C: AsyncRead + AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    enforce_limit: bool,
    t: Duration,
) -> Result<Option<Bytes>, u16> {
    // An `auth_request` subrequest has a fake empty body (`sr->request_body`): the
    // client's body stays on the connection for the main request.
    if req.subrequest.is_some() {
        return Ok(None);
    }
    let limit = if enforce_limit {
        req.conf.client_max_body_size
    } else {
        0
    };
    if expect_continue(req, io).await.is_err() {
        return Err(0);
    }
    if let Some(len) = req.head.content_length {
        let len = len as usize;
        while buf.len() < len {
            match timeout(t, io.read_buf(buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return Err(0),
            }
        }
        req.request_length += len as u64;
        return Ok(Some(buf.split_to(len).freeze()));
    }
    if req.head.chunked {
        // The decoder refuses a chunk that would take the body past client_max_body_size
        // as soon as its size line is read, as nginx does (413 at once, not at the end).
        let mut dec = if limit > 0 {
            crate::http1::chunked::ChunkedDecoder::with_max_body(limit)
        } else {
            crate::http1::chunked::ChunkedDecoder::new()
        };
        let mut out = BytesMut::new();
        loop {
            if !buf.is_empty() {
                match dec.feed(buf, &mut out) {
                    Ok(p) => {
                        req.request_length += p.consumed as u64;
                        buf.advance(p.consumed);
                        if p.done {
                            return Ok(Some(out.freeze()));
                        }
                    }
                    Err(e) => return Err(e.status),
                }
            }
            match timeout(t, io.read_buf(buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return Err(0),
            }
        }
    }
    Ok(None)
}

/// `ngx_http_test_expect()`: an HTTP/1.1 `Expect: 100-continue` gets `100 Continue`
/// once, when nginx starts reading or discarding the body.
pub(crate) async fn expect_continue<C: AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
) -> Result<(), ()> {
    let expects = req.head.minor >= 1
        && req
            .head
            .header(b"expect")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    if !expects || req.continue_sent {
        return Ok(());
    }
    req.continue_sent = true;
    let sent = timeout(
        req.conf.send_timeout,
        io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"),
    )
    .await;
    if matches!(sent, Ok(Ok(()))) {
        Ok(())
    } else {
        Err(())
    }
}

/// nginx's special responses (its own error pages and redirects) mark the expectation
/// as tested: the body they discard afterwards gets no `100 Continue`.
fn no_continue(req: &mut Req<'_>) {
    req.continue_sent = true;
}

/// After a response that did not need the body: read and drop it so the connection can
/// carry the next request; a connection that closes anyway is not read.
pub(crate) async fn finish_discard<C: AsyncRead + AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    after: After,
) -> After {
    match after {
        After::KeepAlive if discard_body(req, io, buf).await.is_ok() => After::KeepAlive,
        _ => After::Close,
    }
}

/// Reads and drops a body nginx would discard, so the connection can be reused.
pub(crate) async fn discard_body<C: AsyncRead + AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> Result<(), ()> {
    let t = req.conf.client_body_timeout;
    read_body_with(req, io, buf, false, t)
        .await
        .map(|_| ())
        .map_err(|_| ())
}

/// `ngx_http_set_content_type()`: the type of `$uri`'s extension (the text after the
/// last `.` of the last path segment, not a leading one; compared case-insensitively)
/// in the location's `types`, else `default_type`. Without any `types` block nginx
/// knows `html`, `gif` and `jpg` (`ngx_http_core_default_types`).
pub(crate) fn content_type(req: &Req<'_>) -> Vec<u8> {
    let uri = &req.uri;
    let seg = uri.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
    let last = &uri[seg..];
    if let Some(dot) = last.iter().rposition(|b| *b == b'.').filter(|d| *d > 0) {
        let ext = last[dot + 1..].to_ascii_lowercase();
        if !ext.is_empty() {
            if let Some(t) = req.conf.types.get(&ext) {
                return t.to_vec();
            }
        }
    }
    req.conf.default_type.to_vec()
}

/// Appends `add_header` lines that apply to `status` (§4.6: only 2xx/3xx listed ones
/// unless `always`).
pub fn add_headers<'t>(req: &mut Req<'t>, status: u16, out: &mut Vec<u8>) {
    let conf: &'t sluice_compiler::table::LocConf = req.conf;
    let list = &conf.add_headers;
    let ok = matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    );
    for h in list.iter() {
        if !ok && !h.always {
            continue;
        }
        let v = req.eval(&h.value);
        if v.is_empty() {
            continue;
        }
        out.extend_from_slice(&h.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&v);
        out.extend_from_slice(b"\r\n");
    }
}

pub(crate) fn head_start(req: &Req<'_>, code: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("HTTP/1.1 {code} {}\r\n", reason(code)).as_bytes());
    out.extend_from_slice(b"Server: ");
    out.extend_from_slice(if req.conf.server_tokens {
        crate::respond::SERVER_TOKEN.as_bytes()
    } else {
        b"sluice"
    });
    out.extend_from_slice(b"\r\nDate: ");
    crate::respond::append_http_date(out);
    out.extend_from_slice(b"\r\n");
}

/// An nginx error page (or redirect page) with its status; closes after the statuses
/// nginx closes after (§8.9).
pub async fn send_error<C: AsyncWrite + Unpin>(req: &mut Req<'_>, io: &mut C, code: u16) -> After {
    send_error_extra(req, io, code, b"").await
}

/// [`send_error`] with header lines an earlier pass of the header filters left in
/// nginx's list (`extra`, after `Connection`, before this status's `add_header`s).
pub(crate) async fn send_error_extra<C: AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    code: u16,
    extra: &[u8],
) -> After {
    // `ngx_http_special_response_handler()`: while the request is routed, a status with
    // an `error_page` (none used yet, unless `recursive_error_pages`) is not answered
    // here: the routing loop takes the page's redirect (`Routed::ErrorPage`).
    if req.routing
        && !req.error_page_used
        && !matches!(code, 408 | 444 | 499)
        && req.conf.error_pages.iter().any(|p| p.codes.contains(&code))
    {
        req.pending_error = Some(code);
        return After::KeepAlive;
    }
    let wire = wire_status(code);
    req.status = wire;
    // `ngx_http_finalize_request()`: 408 and 499 terminate the request and 444
    // (`NGX_HTTP_CLOSE`) closes, all without a byte of response (nginx 1.22.1:
    // `return 444;` and `return 499;` closed the connection silently).
    if matches!(code, 408 | 444 | 499) {
        return After::Close;
    }
    let close = matches!(code, 400 | 413 | 414 | 494..=497 | 500 | 501) || !req.head.keep_alive;
    let body = error_page(code, req.conf.server_tokens);
    let mut out = Vec::with_capacity(256 + body.len());
    head_start(req, wire, &mut out);
    // A code without a page gets `Content-Length: 0` and no type (`return 418;`).
    if !body.is_empty() {
        out.extend_from_slice(b"Content-Type: text/html\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(if close {
        b"Connection: close\r\n"
    } else {
        b"Connection: keep-alive\r\n"
    });
    out.extend_from_slice(extra);
    crate::access::challenge_header(req, &mut out);
    // The headers filter: `expires` for the 2xx/3xx codes that come this way.
    finish_response(req, io, out, wire, &body, true, !close).await
}

pub(crate) async fn send_redirect<C: AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    code: u16,
    loc: &[u8],
) -> After {
    req.status = code;
    let body = error_page(code, req.conf.server_tokens);
    // nginx's header filter writes `Location` in its fixed place only when it makes a
    // relative one absolute; otherwise it stays where the headers list has it: first
    // after `Connection`, before the `add_header` lines (§3.4; observed on 1.22.1).
    let fixed = crate::proxy::absolute_location(req, loc);
    let mut out = Vec::with_capacity(256 + body.len());
    head_start(req, code, &mut out);
    if !body.is_empty() {
        out.extend_from_slice(b"Content-Type: text/html\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    if let Some(abs) = &fixed {
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(abs);
        out.extend_from_slice(b"\r\n");
    }
    let keep = req.head.keep_alive;
    out.extend_from_slice(if keep {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });
    if fixed.is_none() {
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(loc);
        out.extend_from_slice(b"\r\n");
    }
    finish_response(req, io, out, code, &body, true, keep).await
}

/// `return CODE TEXT`: the text with `default_type`.
async fn send_body<C: AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    code: u16,
    ct: &[u8],
    body: &[u8],
) -> After {
    // After `error_page`, `ngx_http_send_header()` sends the error's status
    // (`r->err_status`) whatever the handler set.
    let code = if req.err_status != 0 {
        req.err_status
    } else {
        code
    };
    req.status = code;
    let mut out = Vec::with_capacity(256 + body.len());
    head_start(req, code, &mut out);
    // The header filter drops the type and length of a 204 (`return 204;`).
    let no_content = code == 204;
    if !ct.is_empty() && !no_content {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct);
        out.extend_from_slice(b"\r\n");
    }
    if !no_content {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    let keep = req.head.keep_alive;
    out.extend_from_slice(if keep {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });
    crate::access::challenge_header(req, &mut out);
    finish_response(req, io, out, code, body, !no_content, keep).await
}

/// The end every nginx-made response shares: the headers filter (`expires`,
/// `add_header`), the blank line, the body unless HEAD (or `with_body` is false), the
/// HTTP/0.9 form, and the write within `send_timeout`. Keep-alive only if `keep` and the
/// write went through.
async fn finish_response<C: AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    mut out: Vec<u8>,
    status: u16,
    body: &[u8],
    with_body: bool,
    keep: bool,
) -> After {
    out.extend_from_slice(&req.out_headers);
    crate::static_files::expires_headers(req, status, None, &mut out);
    add_headers(req, status, &mut out);
    out.extend_from_slice(b"\r\n");
    if &req.head.method[..] != b"HEAD" && with_body {
        out.extend_from_slice(body);
        req.body_bytes_sent = body.len() as u64;
    }
    strip_head_for_http09(req, &mut out);
    req.bytes_sent = out.len() as u64;
    let ok = timeout(req.conf.send_timeout, io.write_all(&out))
        .await
        .is_ok_and(|r| r.is_ok());
    if keep && ok {
        After::KeepAlive
    } else {
        After::Close
    }
}

/// An error answered before any server configuration applies (bad request head).
pub(crate) async fn write_simple<C: AsyncWrite + Unpin>(
    io: &mut C,
    code: u16,
    tokens: bool,
    http09: bool,
) -> std::io::Result<()> {
    let wire = wire_status(code);
    let body = error_page(code, tokens);
    if http09 {
        // `ngx_http_header_filter()` writes no status line or headers below HTTP/1.0.
        return io.write_all(&body).await;
    }
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {wire} {}\r\n", reason(wire)).as_bytes());
    out.extend_from_slice(b"Server: ");
    out.extend_from_slice(if tokens {
        crate::respond::SERVER_TOKEN.as_bytes()
    } else {
        b"sluice"
    });
    out.extend_from_slice(b"\r\nDate: ");
    crate::respond::append_http_date(&mut out);
    out.extend_from_slice(b"\r\nContent-Type: text/html\r\n");
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    io.write_all(&out).await
}
