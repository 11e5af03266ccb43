//! HTTP/2 to clients (`listen ... ssl http2`, ALPN `h2`), with the `h2` crate.
//!
//! One source of truth for request semantics: every stream runs through the same phases
//! as an HTTP/1 request (`conn::serve_h2_stream`: server, rewrites, locations, access,
//! proxy, static files, error pages, logs). The stream's head is rebuilt in HTTP/1.1 form
//! as nginx's h2 module builds its request (`ngx_http_v2_construct_request_line()`,
//! `:authority` as a `host` header, `cookie` fields joined with `"; "`), the phases read
//! it and the body from an in-memory pipe and write an HTTP/1.1 response into it, and
//! this module turns that response into HEADERS and DATA frames, without the HTTP/1
//! connection headers (`ngx_http_v2_header_filter()` drops `Connection`, `Keep-Alive`,
//! `Transfer-Encoding`, `Upgrade`). The cost is one serialisation and parse of the head
//! each way and one copy of the body through the pipe (docs/ARCHITECTURE.md).
//!
//! Limits (nginx 1.22's, per the SNI-selected server): `http2_max_concurrent_streams`
//! (128; a stream past it is refused with `RST_STREAM(REFUSED_STREAM)`),
//! `http2_body_preread_size` (64k, the initial stream window: the request body buffered
//! per stream before the phases read it), `http2_chunk_size` (8k DATA frames),
//! `large_client_header_buffers` (an HPACK string longer than one buffer, or names and
//! values over size × number: GOAWAY ENHANCE_YOUR_CALM, as nginx),
//! `keepalive_timeout` (idle connection), `keepalive_requests` (streams per connection),
//! `client_header_timeout` (the connection preface), `send_timeout` (a stalled window).
//! A stream the client resets, or whose connection goes, stops its phases at once (its
//! upstream request is dropped) and is logged with 499, as nginx logs it; resetting
//! streams cannot pile up work beyond the stream limit.
//!
//! RFC 8441 (nginx cannot do this): with `SETTINGS_ENABLE_CONNECT_PROTOCOL` advertised
//! (unless `--http2-websocket=off`), an extended CONNECT with `:protocol websocket`
//! becomes an HTTP/1.1 `GET` with `Upgrade: websocket`, `Connection: upgrade` and a fresh
//! `Sec-WebSocket-Key`; the location's own recipe decides what the upstream sees, the
//! phases refuse (405) a location that would not upgrade an HTTP/1.1 WebSocket, and the
//! upstream's 101 becomes `200` on the stream, whose DATA frames then carry the bytes.

use crate::ctx::H2Kind;
use crate::Shared;
use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use sluice_compiler::table::ListenAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The connection a stream belongs to.
struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: SocketAddr,
    addr: ListenAddr,
    conn_no: u64,
    tls: Option<Arc<crate::tls::TlsInfo>>,
    chunk: usize,
    send_timeout: Duration,
}

/// The pipe between a stream and the phases: large enough for a head and a few frames.
const PIPE: usize = 64 * 1024;

/// How long a closing connection with no stream left waits for the client to let go
/// (nginx's `lingering_timeout`): a GOAWAY's PING that is never answered does not keep
/// it open.
const LINGER: Duration = Duration::from_secs(5);

/// Serves an h2 connection (after ALPN chose `h2`, or on a plain `listen ... http2`
/// after the client's preface) until it closes. `server` is the server SNI selected
/// (nginx reads a connection's h2 settings from it), the default server without TLS.
#[allow(clippy::too_many_arguments)]
pub async fn serve<C: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: Arc<Shared>,
    mut io: C,
    peer: SocketAddr,
    local: SocketAddr,
    addr: ListenAddr,
    conn_no: u64,
    server: usize,
    tls: Option<Arc<crate::tls::TlsInfo>>,
) {
    let live = shared.live.load_full();
    let Some(s) = live.table.servers.get(server) else {
        return;
    };
    let h = s.http2;
    let (num, size) = s.large_client_header_buffers;
    let preface_timeout = s.client_header_timeout;
    let idle = s.conf.keepalive_timeout;
    let max_requests = s.conf.keepalive_requests;
    let send_timeout = s.conf.send_timeout;
    drop(live);
    let mut b = h2::server::Builder::new();
    b.max_concurrent_streams(h.max_concurrent_streams)
        .initial_window_size(
            u32::try_from(h.body_preread_size)
                .unwrap_or(i32::MAX as u32)
                .min(i32::MAX as u32),
        )
        // nginx's own limits (`header_too_large`) answer first with its GOAWAY; the h2
        // crate's 431 is the backstop for lists far beyond them.
        .max_header_list_size(
            u32::try_from(num.saturating_mul(size).saturating_mul(4)).unwrap_or(u32::MAX),
        )
        .max_send_buffer_size(h.chunk_size.max(16 * 1024));
    if shared.http2_websocket {
        b.enable_connect_protocol();
    }
    // The connection borrows the socket, so that it can be closed as nginx closes one
    // (lingering) once h2 is done with it: a GOAWAY followed by an abrupt close could be
    // lost to a reset when the client's frames are still unread.
    let mut conn =
        match tokio::time::timeout(preface_timeout, b.handshake::<_, Bytes>(&mut io)).await {
            Ok(Ok(c)) => c,
            _ => return,
        };
    let info = Arc::new(Conn {
        shared: shared.clone(),
        peer,
        local,
        addr,
        conn_no,
        tls,
        chunk: h.chunk_size.max(1),
        send_timeout,
    });
    let mut streams = tokio::task::JoinSet::new();
    let mut served: u64 = 0;
    let mut stopping = shared.shutdown.subscribe();
    let mut closing = false;
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    loop {
        tokio::select! {
            r = conn.accept() => match r {
                Some(Ok((req, respond))) => {
                    if let Some(msg) = header_too_large(&req, size, num.saturating_mul(size)) {
                        crate::log::connection(
                            &shared,
                            "info",
                            conn_no,
                            &format!("{msg} while processing HTTP/2 connection"),
                            peer,
                            local,
                        );
                        drop((req, respond));
                        closing = true;
                        conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                        if streams.is_empty() {
                            idle_timer.as_mut().reset(tokio::time::Instant::now() + LINGER);
                        }
                        continue;
                    }
                    served += 1;
                    streams.spawn(stream(info.clone(), served, req, respond));
                    // `keepalive_requests` (nginx 1.19.7+ for h2): GOAWAY after the last.
                    if served >= max_requests && !closing {
                        closing = true;
                        conn.graceful_shutdown();
                    }
                }
                // The connection is done (or broke): its streams go with it.
                Some(Err(_)) | None => break,
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {
                if streams.is_empty() {
                    let wait = if closing { LINGER } else { idle };
                    idle_timer.as_mut().reset(tokio::time::Instant::now() + wait);
                }
            }
            // No stream open. Idle for `keepalive_timeout`: GOAWAY and close at once
            // (`ngx_http_v2_idle_handler()`), not the two-step graceful GOAWAY that waits
            // for a PING answer a silent client never sends. Already closing, and the
            // client still holds on after LINGER: drop the connection.
            () = &mut idle_timer, if streams.is_empty() => {
                if closing {
                    break;
                }
                closing = true;
                conn.abrupt_shutdown(Reason::NO_ERROR);
                idle_timer.as_mut().reset(tokio::time::Instant::now() + LINGER);
            }
            r = stopping.changed(), if !closing => {
                if r.is_err() || *stopping.borrow() {
                    closing = true;
                    conn.graceful_shutdown();
                    if streams.is_empty() {
                        idle_timer.as_mut().reset(tokio::time::Instant::now() + LINGER);
                    }
                }
            }
        }
    }
    // Whatever h2 still has to write (the GOAWAY of an error it raised or of ours) goes
    // out before the socket is closed.
    let _ = tokio::time::timeout(LINGER, std::future::poll_fn(|cx| conn.poll_closed(cx))).await;
    // Streams still open learn that the connection is gone and cancel their phases
    // (logged with 499); the ones that do not finish within LINGER are aborted.
    drop(conn);
    let deadline = tokio::time::Instant::now() + LINGER;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, streams.join_next()).await {}
    drop(streams);
    crate::tls::close(&mut io).await;
}

/// nginx 1.22's limits on a stream's header block (`ngx_http_v2_state_field_len()`,
/// `ngx_http_v2_state_process_header()`), both connection errors (GOAWAY
/// ENHANCE_YOUR_CALM): a name or value whose HPACK string is longer than one
/// `large_client_header_buffers` buffer, and names plus values (pseudo-headers included)
/// over size × number. nginx measures the string as sent; the h2 crate hands over the
/// decoded text, so the sent length is taken as the shorter of its raw and its Huffman
/// form, the one HPACK encoders choose.
fn header_too_large(
    req: &http::Request<RecvStream>,
    field_limit: usize,
    total_limit: usize,
) -> Option<&'static str> {
    let uri = req.uri();
    let protocol = req.extensions().get::<h2::ext::Protocol>();
    let pseudo = [
        (":method", Some(req.method().as_str())),
        (":scheme", uri.scheme_str()),
        (":authority", uri.authority().map(|a| a.as_str())),
        (":path", uri.path_and_query().map(|p| p.as_str())),
        (":protocol", protocol.map(|p| p.as_str())),
    ];
    let fields = pseudo
        .iter()
        .filter_map(|(n, v)| v.map(|v| (n.as_bytes(), v.as_bytes())))
        .chain(
            req.headers()
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())),
        );
    let mut total = 0usize;
    for (name, value) in fields {
        if hpack_len(name) > field_limit || hpack_len(value) > field_limit {
            return Some("client sent too large header field");
        }
        total += name.len() + value.len();
        if total > total_limit {
            return Some("client sent too large header");
        }
    }
    None
}

/// The length of `s` as an HPACK string: the shorter of raw and Huffman-coded.
fn hpack_len(s: &[u8]) -> usize {
    let bits: usize = s
        .iter()
        .map(|b| usize::from(HUFFMAN_BITS[usize::from(*b)]))
        .sum();
    bits.div_ceil(8).min(s.len())
}

/// The Huffman code length of each octet, RFC 7541 Appendix B.
#[rustfmt::skip]
const HUFFMAN_BITS: [u8; 256] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];

/// One stream: the head rebuilt for the phases, the body pumped in, the response out.
async fn stream(
    c: Arc<Conn>,
    served: u64,
    req: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let (parts, body) = req.into_parts();
    let websocket = parts.method == http::Method::CONNECT
        && parts
            .extensions
            .get::<h2::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    let has_body = !body.is_end_stream();
    let (head, chunked) = build_head(&parts, websocket, has_body);
    let kind = if websocket {
        H2Kind::WebSocket
    } else {
        H2Kind::Request
    };
    let head_request = parts.method == http::Method::HEAD;
    // Two one-way pipes rather than one split duplex: no lock shared by the two halves.
    let (wr, body_in) = tokio::io::duplex(PIPE);
    let (resp_out, rd) = tokio::io::duplex(PIPE);
    let pipe = tokio::io::join(body_in, resp_out);
    // A stream that ends early (the client reset it, or the connection went) cancels the
    // phases, which log it with 499 and drop its upstream request.
    let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
    let cancel = async {
        if cancel_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let phases = async {
        crate::conn::serve_h2_stream(
            &c.shared, pipe, head, kind, c.peer, c.local, &c.addr, c.conn_no, served, &c.tls,
            cancel,
        )
        .await;
    };
    let download = async {
        if relay_response(&c, rd, respond, websocket, head_request)
            .await
            .is_err()
        {
            let _ = cancel_tx.send(());
        }
    };
    let upload = async {
        pump_body(body, wr, chunked, has_body, c.send_timeout).await;
        // The body is all in (or the client gave up on it): the response decides.
        std::future::pending::<()>().await;
    };
    // The response ends the stream; a body the phases did not read is dropped with it.
    tokio::select! {
        _ = async { tokio::join!(phases, download) } => {}
        () = upload => {}
    }
}

/// The stream's head in HTTP/1.1 form, as nginx's h2 module constructs its request:
/// the request line from `:method` and `:path`, `:authority` as a `host` header first,
/// the fields in order with their (lowercase) names, the `cookie` fields joined into one
/// at the end (`ngx_http_v2_construct_cookie_header()`). A body without
/// `content-length` is framed chunked for the pipe (the phases buffer or stream it as
/// they do an HTTP/1.1 chunked body). Returns the head and whether the body is chunked.
fn build_head(parts: &http::request::Parts, websocket: bool, has_body: bool) -> (BytesMut, bool) {
    let mut out = BytesMut::with_capacity(512);
    let method = if websocket {
        "GET"
    } else {
        parts.method.as_str()
    };
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(b" ");
    match parts.uri.path_and_query() {
        Some(pq) if parts.method != http::Method::CONNECT || websocket => {
            out.extend_from_slice(pq.as_str().as_bytes())
        }
        _ => out.extend_from_slice(parts.uri.authority().map_or("/", |a| a.as_str()).as_bytes()),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = parts.uri.authority() {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(a.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut cookie: Vec<u8> = Vec::new();
    for (name, value) in &parts.headers {
        if name == http::header::COOKIE {
            if !cookie.is_empty() {
                cookie.extend_from_slice(b"; ");
            }
            cookie.extend_from_slice(value.as_bytes());
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !cookie.is_empty() {
        out.extend_from_slice(b"cookie: ");
        out.extend_from_slice(&cookie);
        out.extend_from_slice(b"\r\n");
    }
    if websocket {
        out.extend_from_slice(b"upgrade: websocket\r\nconnection: upgrade\r\n");
        // RFC 8441 §5: no key on the h2 side (a client that sends one anyway keeps it).
        if !parts.headers.contains_key("sec-websocket-key") {
            out.extend_from_slice(b"sec-websocket-key: ");
            out.extend_from_slice(websocket_key().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    let chunked =
        has_body && !websocket && !parts.headers.contains_key(http::header::CONTENT_LENGTH);
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (out, chunked)
}

/// A `Sec-WebSocket-Key` for the upstream handshake (RFC 6455 §4.1: 16 random bytes,
/// base64). RFC 8441 streams carry no key; the upstream's `Sec-WebSocket-Accept` answers
/// this one and is not passed on.
fn websocket_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut raw = [0u8; 16];
    for (i, half) in raw.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    base64(&raw)
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Copies the request body (or, for a WebSocket, the client's bytes) into the pipe,
/// giving the window back as the phases take it, so a stream never buffers more than
/// `http2_body_preread_size` plus the pipe.
async fn pump_body<W: AsyncWrite + Unpin>(
    mut body: RecvStream,
    mut wr: W,
    chunked: bool,
    has_body: bool,
    send_timeout: Duration,
) {
    if !has_body {
        return;
    }
    while let Some(r) = body.data().await {
        let Ok(data) = r else {
            return;
        };
        let n = data.len();
        let wrote = async {
            if chunked {
                if n == 0 {
                    return Ok(());
                }
                wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                wr.write_all(&data).await?;
                wr.write_all(b"\r\n").await
            } else {
                wr.write_all(&data).await
            }
        };
        // The phases stopped reading (the response went out, or they wait on an
        // upstream): a client that keeps sending does not hold the stream forever.
        match tokio::time::timeout(send_timeout.max(Duration::from_secs(1)), wrote).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        let _ = body.flow_control().release_capacity(n);
    }
    if chunked {
        let _ = wr.write_all(b"0\r\n\r\n").await;
    }
    // END_STREAM: for a WebSocket, the half-close reaches the upstream.
    let _ = wr.shutdown().await;
}

/// HTTP/1 connection headers that HTTP/2 does not carry (RFC 9113 §8.2.2;
/// `ngx_http_v2_header_filter()` skips them).
fn hop_by_hop(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Reads the phases' HTTP/1.1 response from the pipe and sends it on the stream.
/// `Err` when the stream ended early (the client reset it, or the response could not be
/// relayed): the phases are stopped then, so a reset stream frees its upstream at once
/// and a client cannot pile up work by opening and resetting streams.
async fn relay_response<R: AsyncRead + Unpin>(
    c: &Conn,
    mut rd: R,
    mut respond: SendResponse<Bytes>,
    websocket: bool,
    head_request: bool,
) -> Result<(), ()> {
    let mut buf = BytesMut::with_capacity(4096);
    // The head; `100 Continue` and other interim answers are not relayed.
    let (status, headers, content_length, chunked) = loop {
        let parsed = {
            let mut fields =
                [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 256];
            let mut resp = httparse::Response::new(&mut []);
            match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut resp,
                &buf,
                &mut fields,
            ) {
                Ok(httparse::Status::Complete(used)) => {
                    let status = resp.code.unwrap_or(502);
                    let mut headers = http::HeaderMap::new();
                    let mut content_length = None;
                    let mut chunked = false;
                    for f in resp.headers.iter() {
                        let name = f.name.as_bytes();
                        if name.eq_ignore_ascii_case(b"content-length") {
                            content_length = std::str::from_utf8(f.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<u64>().ok());
                        }
                        if name.eq_ignore_ascii_case(b"transfer-encoding") {
                            chunked = f.value.eq_ignore_ascii_case(b"chunked");
                        }
                        if hop_by_hop(name) {
                            continue;
                        }
                        if websocket && name.eq_ignore_ascii_case(b"sec-websocket-accept") {
                            continue;
                        }
                        if let (Ok(n), Ok(v)) = (
                            http::HeaderName::from_bytes(name),
                            http::HeaderValue::from_bytes(f.value),
                        ) {
                            headers.append(n, v);
                        }
                    }
                    Some((used, status, headers, content_length, chunked))
                }
                Ok(httparse::Status::Partial) => None,
                Err(_) => {
                    respond.send_reset(Reason::INTERNAL_ERROR);
                    return Err(());
                }
            }
        };
        match parsed {
            Some((used, status, headers, cl, ch)) => {
                let _ = buf.split_to(used);
                if (100..200).contains(&status) && status != 101 {
                    continue;
                }
                break (status, headers, cl, ch);
            }
            None => {
                let read = tokio::select! {
                    r = rd.read_buf(&mut buf) => r,
                    _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return Err(()),
                };
                match read {
                    Ok(n) if n > 0 => {}
                    // No response (`return 444`, a client that went away, a timeout):
                    // nginx closes the stream with RST_STREAM(INTERNAL_ERROR).
                    _ => {
                        respond.send_reset(Reason::INTERNAL_ERROR);
                        return Err(());
                    }
                }
            }
        }
    };
    let tunnel = websocket && status == 101;
    // An extended CONNECT succeeds only through an upstream's 101: any other 2xx (a
    // `return 200` in a rewrite phase, say) must not look like an open WebSocket.
    if websocket && !tunnel && (200..300).contains(&status) || !websocket && status == 101 {
        respond.send_reset(Reason::CANCEL);
        return Err(());
    }
    let mut resp = http::Response::new(());
    *resp.status_mut() = if tunnel {
        http::StatusCode::OK
    } else {
        match http::StatusCode::from_u16(status) {
            Ok(s) => s,
            Err(_) => {
                respond.send_reset(Reason::INTERNAL_ERROR);
                return Err(());
            }
        }
    };
    *resp.headers_mut() = headers;
    let no_body =
        !tunnel && (head_request || status == 204 || status == 304 || content_length == Some(0));
    let mut tx = respond.send_response(resp, no_body).map_err(|_| ())?;
    if no_body {
        return drain(rd).await;
    }
    let mut dec = chunked.then(crate::http1::chunked::ChunkedDecoder::new);
    let mut left = if tunnel || chunked {
        None
    } else {
        content_length
    };
    let mut out = BytesMut::new();
    loop {
        if !buf.is_empty() {
            let piece = if let Some(d) = dec.as_mut() {
                match d.feed(&buf, &mut out) {
                    Ok(p) => {
                        let _ = buf.split_to(p.consumed);
                        if p.done {
                            let data = out.split().freeze();
                            send_all(c, &mut tx, data, true).await?;
                            return drain(rd).await;
                        }
                        out.split().freeze()
                    }
                    Err(_) => {
                        tx.send_reset(Reason::INTERNAL_ERROR);
                        return Err(());
                    }
                }
            } else if let Some(n) = left.as_mut() {
                let take = buf.len().min(usize::try_from(*n).unwrap_or(usize::MAX));
                *n -= take as u64;
                buf.split_to(take).freeze()
            } else {
                buf.split().freeze()
            };
            let last = left == Some(0);
            send_all(c, &mut tx, piece, last).await?;
            if last {
                return drain(rd).await;
            }
        }
        let read = tokio::select! {
            r = rd.read_buf(&mut buf) => r,
            _ = std::future::poll_fn(|cx| tx.poll_reset(cx)) => return Err(()),
        };
        match read {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    // The pipe closed: the end of a body read to the close, or of a tunnel. A body cut
    // short of its length or its last chunk is reset, as nginx resets a truncated one.
    if dec.is_some() || left.is_some_and(|n| n > 0) {
        tx.send_reset(Reason::INTERNAL_ERROR);
        Err(())
    } else {
        tx.send_data(Bytes::new(), true).map_err(|_| ())
    }
}

/// After a complete response: reads what the phases still write until they finish, so
/// they never block on a full pipe.
async fn drain<R: AsyncRead + Unpin>(mut rd: R) -> Result<(), ()> {
    let mut scratch = [0u8; 4096];
    while matches!(rd.read(&mut scratch).await, Ok(n) if n > 0) {}
    Ok(())
}

/// Sends `data` within the peer's flow-control window, `http2_chunk_size` at a time; a
/// window that stays shut for `send_timeout` ends the stream.
async fn send_all(
    c: &Conn,
    tx: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> Result<(), ()> {
    while !data.is_empty() {
        tx.reserve_capacity(data.len().min(c.chunk));
        let cap = tokio::time::timeout(
            c.send_timeout,
            std::future::poll_fn(|cx| tx.poll_capacity(cx)),
        )
        .await;
        let n = match cap {
            Ok(Some(Ok(n))) => n,
            Ok(_) => return Err(()),
            Err(_) => {
                tx.send_reset(Reason::INTERNAL_ERROR);
                return Err(());
            }
        };
        if n == 0 {
            continue;
        }
        let piece = data.split_to(n.min(data.len()).min(c.chunk));
        let last = end && data.is_empty();
        tx.send_data(piece, last).map_err(|_| ())?;
    }
    if end && data.is_empty() {
        // `send_data` with an empty last piece closes a stream whose body was empty.
        return Ok(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpack_lengths_follow_rfc7541() {
        // '0' and 'a' have 5-bit codes, 'v' 7 bits, 0x00 13 bits (Appendix B).
        assert_eq!(hpack_len(b"aaaaaaaa"), 5);
        assert_eq!(hpack_len(&[b'v'; 9000]), 7875);
        assert_eq!(hpack_len(&[0u8; 10]), 10);
        assert_eq!(HUFFMAN_BITS.iter().map(|b| u32::from(*b)).min(), Some(5));
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(websocket_key().len(), 24);
    }

    #[test]
    fn head_is_built_as_nginx_builds_it() {
        let req = http::Request::builder()
            .method("GET")
            .uri("https://example.test:8443/a/b?c=d")
            .header("user-agent", "t")
            .header("cookie", "a=1")
            .header("accept", "*/*")
            .header("cookie", "b=2")
            .body(())
            .unwrap_or_default();
        let (parts, ()) = req.into_parts();
        let (head, chunked) = build_head(&parts, false, false);
        assert!(!chunked);
        assert_eq!(
            std::str::from_utf8(&head).unwrap_or_default(),
            "GET /a/b?c=d HTTP/1.1\r\nhost: example.test:8443\r\nuser-agent: t\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n"
        );
    }
}
