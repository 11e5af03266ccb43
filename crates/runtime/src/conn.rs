//! One client connection: read a request head (within `client_header_timeout`, or
//! `keepalive_timeout` between requests), choose the server by address then name
//! (SEMANTICS §2), the location (§3), run its handler, log, and loop while keep-alive.

use crate::ctx::{Head, Req};
use crate::proxy::After;
use crate::respond::{error_page, has_error_page, reason, wire_status};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use sluice_compiler::table::route::{normalize_uri, LocationMatch};
use sluice_compiler::table::{Handler, Listener, RoutingTable, Server};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

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
    let deadline = tokio::time::Instant::now() + wait;
    let mut started: Option<Instant> = None;
    loop {
        if !buf.is_empty() {
            let start = *started.get_or_insert_with(Instant::now);
            match crate::http1::adapter::parse(buf, server) {
                Ok(Some((head, used))) => {
                    let http09 = is_http09(&buf[..used]);
                    let _ = buf.split_to(used);
                    return Ok((head, start, http09));
                }
                Ok(None) => {}
                Err((code, http09)) => return Err(HeadFail::Status(code, http09)),
            }
        }
        match tokio::time::timeout_at(deadline, io.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
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

/// The servers for a connection's local address: the listener itself.
pub(crate) fn server_for<'t>(
    table: &'t RoutingTable,
    l: &'t Listener,
    host: Option<&[u8]>,
) -> Result<(&'t Server, Vec<u8>), u16> {
    let default = &table.servers[l.default_server.min(table.servers.len().saturating_sub(1))];
    let Some(raw) = host else {
        // No Host (HTTP/1.0): the "" name first (§2.4 rule 4).
        return Ok(match l.names.lookup(b"") {
            Some((i, _)) => (&table.servers[i], Vec::new()),
            None => (default, Vec::new()),
        });
    };
    // The parser validated and normalised it already (lowercase, no port, no final dot).
    let host = raw.to_vec();
    let server = match l.names.lookup(&host) {
        Some((i, _)) => &table.servers[i],
        None => default,
    };
    Ok((server, host))
}

/// Serves a connection until it closes.
pub async fn serve<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    mut io: C,
    peer: SocketAddr,
    local: SocketAddr,
    addr: sluice_compiler::table::ListenAddr,
    conn_no: u64,
    https: bool,
) {
    let mut buf = BytesMut::with_capacity(1024);
    let mut served: u64 = 0;
    loop {
        let live = shared.live.load_full();
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
            // Idle between requests: a graceful stop (QUIT) closes the connection now;
            // otherwise wait for the next request's first bytes up to keepalive_timeout.
            let mut stopping = shared.shutdown.subscribe();
            if *stopping.borrow() {
                return;
            }
            tokio::select! {
                r = tokio::time::timeout(wait, io.read_buf(&mut buf)) => match r {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return,
                },
                _ = stopping.changed() => return,
            }
        }
        let (head, start, http09) = match read_head(&mut io, &mut buf, default, wait).await {
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
        let live = shared.live.load_full();
        let table = &live.table;
        let Some(l) = table.listeners.iter().find(|l| l.addr == addr) else {
            return;
        };
        let l = l.specific.iter().find(|s| s.addr == here).unwrap_or(l);
        served += 1;
        let keep = handle(
            &shared, &live, l, head, start, http09, &mut io, &mut buf, peer, local, conn_no,
            served, https,
        )
        .await;
        if !keep {
            linger(&mut io, &mut buf).await;
            return;
        }
    }
}

/// nginx's lingering close (`ngx_http_set_lingering_close()`): send FIN, then read and
/// drop what the client still sends — up to `lingering_timeout` (5 s) of silence and
/// `lingering_time` (30 s) in all — so that unread input does not turn the close into a
/// reset that could destroy the response before the client reads it.
async fn linger<C: AsyncRead + AsyncWrite + Unpin>(io: &mut C, buf: &mut BytesMut) {
    let _ = io.shutdown().await;
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut scratch = [0u8; 4096];
    buf.clear();
    loop {
        let idle = tokio::time::Instant::now() + Duration::from_secs(5);
        match tokio::time::timeout_at(idle.min(end), io.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    live: &crate::Live,
    l: &Listener,
    head: Head,
    start: Instant,
    http09: bool,
    io: &mut C,
    buf: &mut BytesMut,
    peer: SocketAddr,
    local: SocketAddr,
    conn_no: u64,
    served: u64,
    https: bool,
) -> bool {
    let table = &live.table;
    let (server, host) = match server_for(table, l, head.host.as_deref()) {
        Ok(s) => s,
        Err(code) => {
            let default = &table.servers[l.default_server];
            let _ = write_simple(io, code, default.conf.server_tokens, false).await;
            return false;
        }
    };
    let host = if host.is_empty() {
        server.name.as_bytes().to_vec()
    } else {
        host
    };
    let mut req = Req::new(
        live,
        server,
        head,
        http09,
        host,
        (peer, local),
        https,
        start,
        (conn_no, served),
    );
    let target = req.head.target.clone();
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
            route_and_run(shared, &mut req, io, buf).await
        }
    };
    crate::log::access(shared, &mut req);
    matches!(after, After::KeepAlive)
        && req.head.keep_alive
        && served < req.conf.keepalive_requests
        && !req.conf.keepalive_timeout.is_zero()
}

async fn route_and_run<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> After {
    let server = req.server;
    // `ngx_http_internal_redirect()` (an index file, SEMANTICS §10): the locations are
    // searched again with the new `$uri`, `internal` ones included; the eleventh
    // redirect of a request fails (`NGX_HTTP_MAX_URI_CHANGES`).
    let mut internal = false;
    let mut uri_changes = 11u32;
    loop {
        match route_once(shared, req, io, buf, internal).await {
            Routed::Done(after) => return after,
            Routed::Redirect(uri) => {
                uri_changes -= 1;
                if uri_changes == 0 {
                    let msg = format!(
                        "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                        String::from_utf8_lossy(&uri)
                    );
                    crate::log::error_log(shared, "error", &msg, req);
                    no_continue(req);
                    let after = send_error(req, io, 500).await;
                    return finish_discard(req, io, buf, after).await;
                }
                req.uri = uri;
                // nginx escapes `$uri` for an upstream after an internal redirect
                // (`r->internal` in `ngx_http_proxy_create_request()`).
                req.uri_escaped = true;
                req.conf = &server.conf;
                internal = true;
            }
        }
    }
}

/// What one pass of location search and content phase did.
enum Routed {
    Done(After),
    /// Search again with this `$uri`.
    Redirect(Vec<u8>),
}

async fn route_once<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    internal: bool,
) -> Routed {
    let server = req.server;
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
        LocationMatch::Error => return Routed::Done(send_error(req, io, 500).await),
    }
    // `ngx_http_core_find_config_phase()`: an `internal` location is not there for
    // requests from outside; an internal redirect (an index file) may reach it.
    if req.conf.internal && !internal {
        no_continue(req);
        let after = send_error(req, io, 404).await;
        return Routed::Done(finish_discard(req, io, buf, after).await);
    }
    // `ngx_http_update_location_config()`, before anything is answered: keep-alive ends
    // with this request when the location's `keepalive_timeout` is 0 or this is its
    // `keepalive_requests`-th request (the response then says `Connection: close`).
    if req.conf.keepalive_timeout.is_zero()
        || req.connection_requests >= req.conf.keepalive_requests
    {
        req.head.keep_alive = false;
    }
    if let Some(len) = req.head.content_length {
        let max = req.conf.client_max_body_size;
        if max > 0 && len > max {
            // nginx sends the 413, then still discards the declared body (waiting up to
            // lingering_timeout between reads) before it closes.
            no_continue(req);
            let _ = send_error(req, io, 413).await;
            let _ = read_body_with(req, io, buf, false, Duration::from_secs(5)).await;
            return Routed::Done(After::Close);
        }
    }
    if let Some(loc) = auto_redirect {
        no_continue(req);
        let after = send_redirect(req, io, 301, &loc).await;
        return Routed::Done(finish_discard(req, io, buf, after).await);
    }
    let after = match &req.conf.handler {
        Handler::Return { code, text } => {
            let (code, text) = (*code, text.clone());
            // nginx answers first and discards the body afterwards (it starts discarding
            // without waiting for it), so a slow or oversized body does not hold the
            // response up. `ngx_http_send_response()` (a code below 400, or any text)
            // starts the discard, and with it 100 Continue; a bare error code is a
            // special response, which answers no 100 Continue.
            if code < 400 || text.is_some() {
                if expect_continue(req, io).await.is_err() {
                    return Routed::Done(After::Close);
                }
            } else {
                no_continue(req);
            }
            // `ngx_http_script_return_code()`: a code below 400 or any text goes through
            // `ngx_http_send_response()` (301–308 make the text a `Location`, others send
            // it as the body, typed by the URI's extension or `default_type`); a bare
            // code from 400 up is a special response (error page).
            let after = match (code, text) {
                (301..=308, Some(t)) => {
                    let url = req.eval(&t);
                    send_redirect(req, io, code, &url).await
                }
                (c, Some(t)) => {
                    let body = req.eval(&t);
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
        // The access phase comes after the rewrite phase (`return` above answers before
        // any allow/deny is looked at, as in nginx) and before content.
        Handler::Proxy(_) | Handler::Static if !access_allowed(req) => {
            crate::log::error_log(shared, "error", "access forbidden by rule", req);
            no_continue(req);
            let after = send_error(req, io, 403).await;
            finish_discard(req, io, buf, after).await
        }
        Handler::Proxy(_) => crate::proxy::proxy(shared, req, io, buf).await,
        Handler::Static => match crate::static_files::serve(shared, req, io, buf).await {
            crate::static_files::Served::Done(after) => after,
            crate::static_files::Served::Redirect(uri) => return Routed::Redirect(uri),
        },
    };
    Routed::Done(after)
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
                        let _ = buf.split_to(p.consumed);
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
pub fn add_headers(req: &mut Req<'_>, status: u16, out: &mut Vec<u8>) {
    let list = req.conf.add_headers.clone();
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
    // The headers filter: `expires` for the 2xx/3xx codes that come this way.
    crate::static_files::expires_headers(req, wire, None, &mut out);
    add_headers(req, wire, &mut out);
    out.extend_from_slice(b"\r\n");
    if &req.head.method[..] != b"HEAD" {
        out.extend_from_slice(&body);
        req.body_bytes_sent = body.len() as u64;
    }
    strip_head_for_http09(req, &mut out);
    req.bytes_sent = out.len() as u64;
    let ok = timeout(req.conf.send_timeout, io.write_all(&out))
        .await
        .is_ok_and(|r| r.is_ok());
    if close || !ok {
        After::Close
    } else {
        After::KeepAlive
    }
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
    crate::static_files::expires_headers(req, code, None, &mut out);
    add_headers(req, code, &mut out);
    out.extend_from_slice(b"\r\n");
    if &req.head.method[..] != b"HEAD" {
        out.extend_from_slice(&body);
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

/// `return CODE TEXT`: the text with `default_type`.
async fn send_body<C: AsyncWrite + Unpin>(
    req: &mut Req<'_>,
    io: &mut C,
    code: u16,
    ct: &[u8],
    body: &[u8],
) -> After {
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
    crate::static_files::expires_headers(req, code, None, &mut out);
    add_headers(req, code, &mut out);
    out.extend_from_slice(b"\r\n");
    if &req.head.method[..] != b"HEAD" && !no_content {
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
async fn write_simple<C: AsyncWrite + Unpin>(
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

/// `ngx_http_access_handler()`: the first rule that matches the client decides; no match
/// lets the request through.
fn access_allowed(req: &Req<'_>) -> bool {
    let ip = Some(req.peer.ip());
    req.conf
        .access
        .iter()
        .find(|r| r.net.matches(ip))
        .is_none_or(|r| r.allow)
}
