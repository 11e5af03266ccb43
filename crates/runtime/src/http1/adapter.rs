//! Hands the connection layer a [`Head`] from the nginx-exact parser, with the limits of
//! the server that reads it (SEMANTICS §4.5: `client_header_buffer_size`,
//! `large_client_header_buffers`, `underscores_in_headers`, `ignore_invalid_headers`).

use super::parse::{parse_head_once, Limits};
use crate::ctx::Head;
use sluice_compiler::table::Server;

/// nginx's check right after the request line: `..` above the root and `%00` are 400.
fn uri_ok(target: &[u8], merge: bool) -> bool {
    let path = match target.iter().position(|b| *b == b'/') {
        Some(i) => &target[i..],
        None => return true,
    };
    plain_path(path) || sluice_compiler::table::route::normalize_uri(path, merge).is_ok()
}

/// A target starting with `/` that `normalize_uri` accepts without looking further: no
/// control byte, space or DEL anywhere, and before the first `?` or `#` no escape (the
/// only way to an invalid escape or `%00`) and no `/.` (the only way to a `..` segment).
/// Most targets are like this; the rest go through the normaliser for its verdict.
fn plain_path(path: &[u8]) -> bool {
    let ctl = |c: u8| c <= 0x20 || c == 0x7f;
    if path.first() != Some(&b'/') {
        return false;
    }
    for (i, &c) in path.iter().enumerate() {
        if URI_PLAIN[usize::from(c)] {
            continue;
        }
        match c {
            b'/' => {}
            b'.' if i == 0 || path.get(i - 1) != Some(&b'/') => {}
            b'?' | b'#' => return !path.get(i..).unwrap_or_default().iter().any(|&c| ctl(c)),
            _ => return false,
        }
    }
    true
}

/// Target bytes [`plain_path`] has nothing to do for: not `/`, `.`, `%`, `?`, `#`, a
/// control byte, space or DEL.
static URI_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = !matches!(b, b'/' | b'.' | b'%' | b'?' | b'#' | 0..=0x20 | 0x7f);
        c += 1;
    }
    t
};

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
    match parse_head_once(buf, &limits) {
        Ok(None) => Ok(None),
        Ok(Some((head, consumed))) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_compiler::table::route::normalize_uri;

    /// Every path of up to 6 bytes over the bytes that matter to the normaliser: the
    /// shortcut never accepts what `normalize_uri` refuses, with or without
    /// `merge_slashes`.
    #[test]
    fn plain_path_agrees_with_normalize_uri() {
        const ALPHABET: &[u8] = b"/.%0a?#\x00 F";
        let checked = crate::http1::each_string(b"/", ALPHABET, 5, |p| {
            for merge in [true, false] {
                let full = normalize_uri(p, merge).is_ok();
                assert!(
                    !plain_path(p) || full,
                    "{:?} merge={merge}",
                    String::from_utf8_lossy(p)
                );
                assert_eq!(uri_ok(p, merge), full, "{:?}", String::from_utf8_lossy(p));
            }
        });
        assert!(checked > 100_000, "{checked}");
        for p in [
            &b"/"[..],
            b"/small",
            b"/a/b.c?x=/../",
            b"/a..b/c",
            b"/\xff\xfe",
        ] {
            assert!(plain_path(p), "{:?}", String::from_utf8_lossy(p));
        }
        for p in [
            &b"/a/./b"[..],
            b"/../x",
            b"/a%2e",
            b"/a b",
            b"/?a b",
            b"",
            b"a",
        ] {
            assert!(!plain_path(p), "{:?}", String::from_utf8_lossy(p));
        }
    }
}
