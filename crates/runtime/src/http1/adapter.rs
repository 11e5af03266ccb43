//! Hands the connection layer a [`Head`] from the nginx-exact parser, with the limits of
//! the server that reads it (SEMANTICS §4.5: `client_header_buffer_size`,
//! `large_client_header_buffers`, `underscores_in_headers`, `ignore_invalid_headers`).

use super::parse::{parse_head, Limits, Parsed};
use crate::ctx::Head;
use sluice_compiler::table::Server;

/// nginx's check right after the request line: `..` above the root and `%00` are 400.
fn uri_ok(target: &[u8], merge: bool) -> bool {
    let path = match target.iter().position(|b| *b == b'/') {
        Some(i) => &target[i..],
        None => return true,
    };
    sluice_compiler::table::route::normalize_uri(path, merge).is_ok()
}

/// `Ok(Some((head, consumed)))` when a head is complete, `Ok(None)` when more bytes are
/// needed, `Err((status, http09))` for nginx's error (494 stays 494 so the page says why;
/// `http09`: the request was HTTP/0.9, so the page goes out without a status line).
pub fn parse(buf: &[u8], server: &Server) -> Result<Option<(Head, usize)>, (u16, bool)> {
    parse_with(
        buf,
        server,
        server.client_header_buffer_size,
        server.large_client_header_buffers,
    )
}

/// [`parse`] for the head of an HTTP/2 stream (`h2.rs`), rebuilt whole: nginx's h2
/// limits (each HPACK string within one `large_client_header_buffers` buffer, names and
/// values within size × number) were applied to the frames already, so the HTTP/1
/// buffer rules (a request line or header line within one large buffer: 414, 494) do
/// not apply: a 9000-byte field that HPACK sent in under 8k is served.
pub fn parse_h2(buf: &[u8], server: &Server) -> Result<Option<(Head, usize)>, (u16, bool)> {
    let all = buf.len().saturating_add(1);
    parse_with(buf, server, all, (1, all))
}

fn parse_with(
    buf: &[u8],
    server: &Server,
    header_buffer: usize,
    large: (usize, usize),
) -> Result<Option<(Head, usize)>, (u16, bool)> {
    let limits = Limits {
        header_buffer,
        large_buffers: large.0,
        large_buffer_size: large.1,
        underscores_in_headers: server.underscores_in_headers,
        ignore_invalid_headers: server.ignore_invalid_headers,
        merge_slashes: server.merge_slashes,
        uri_check: Some(uri_ok),
        ..Limits::default()
    };
    match parse_head(buf, &limits) {
        Ok(Parsed::Incomplete) => Ok(None),
        Ok(Parsed::Complete { head, consumed }) => {
            let head = *head;
            let h = Head {
                method: head.method_name,
                target: head.uri,
                minor: if head.version >= (1, 1) { 1 } else { 0 },
                headers: head.headers,
                host: head.host,
                content_length: head.content_length,
                chunked: head.chunked,
                keep_alive: head.keep_alive,
                upgrade: head.upgrade,
                head_len: consumed,
                h2: crate::ctx::H2Kind::No,
            };
            Ok(Some((h, consumed)))
        }
        Err(e) => Err((e.status, e.http09)),
    }
}
