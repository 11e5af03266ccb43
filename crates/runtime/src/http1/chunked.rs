//! Chunked request-body decoding with nginx 1.22.1's rules (`ngx_http_parse_chunked()` as
//! driven by `ngx_http_request_body_chunked_filter()`).
//!
//! What 1.22.1 accepts and rejects (all confirmed on nginx 1.22.1 through a proxied location):
//! - Hex sizes in either case, any number of leading zeros; a size above `0x7ffffffffffffff`
//!   (`NGX_MAX_OFF_T_VALUE / 16`) is refused while it is being read.
//! - After the size: CR LF, a bare LF, or `;`, space or tab starting an extension that runs to
//!   the line end (its content is not checked). A bare LF is accepted after chunk data and in
//!   trailers too (1.22 predates the stricter CRLF-only parser).
//! - Trailer lines after the last chunk are read and discarded; only a CR not followed by LF
//!   is an error there.
//! - Anything else → 400 "client sent invalid chunked body". With a body limit
//!   (`client_max_body_size`), a chunk whose size would take the body past it → 413 as soon
//!   as its first data byte arrives.
//! - The body ends right after the last line end of the trailer section; following bytes
//!   belong to the next request.

use bytes::BytesMut;
use std::fmt;

/// Largest chunk size nginx accepts: a size above this fails at its next byte.
const MAX_SIZE_BEFORE_DIGIT: u64 = (i64::MAX as u64) / 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ChunkStart,
    ChunkSize,
    ChunkExtension,
    ChunkExtensionAlmostDone,
    ChunkData,
    AfterData,
    AfterDataAlmostDone,
    LastChunkExtension,
    LastChunkExtensionAlmostDone,
    Trailer,
    TrailerAlmostDone,
    TrailerHeader,
    TrailerHeaderAlmostDone,
    Done,
}

/// How far one [`ChunkedDecoder::feed`] call got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used; when `done`, the bytes after them are not part of the body.
    pub consumed: usize,
    /// The last chunk and the trailer section have been read.
    pub done: bool,
}

/// A chunked body nginx refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkError {
    /// 400 for malformed framing, 413 for a body over the limit.
    pub status: u16,
    /// nginx's error-log wording.
    pub reason: &'static str,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.status)
    }
}

impl std::error::Error for ChunkError {}

const INVALID: ChunkError = ChunkError {
    status: 400,
    reason: "client sent invalid chunked body",
};

const TOO_LARGE: ChunkError = ChunkError {
    status: 413,
    reason: "client intended to send too large chunked body",
};

/// Incremental decoder for a `Transfer-Encoding: chunked` request body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Bytes of the current chunk not yet delivered.
    size: u64,
    /// Body bytes delivered so far (nginx's `content_length_n`).
    total: u64,
    /// `client_max_body_size`; 0 means no limit.
    max_body: u64,
    error: Option<ChunkError>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder without a body-size limit (as when nginx discards a body).
    pub fn new() -> Self {
        Self::with_max_body(0)
    }

    /// A decoder that refuses bodies over `max_body` bytes with 413, checked the way nginx
    /// checks `client_max_body_size` for chunked bodies; 0 disables the check.
    pub fn with_max_body(max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::ChunkStart,
            size: 0,
            total: 0,
            max_body,
            error: None,
        }
    }

    /// The body has been read completely.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decoded body bytes so far.
    pub fn body_len(&self) -> u64 {
        self.total
    }

    /// Decodes as much of `input` as possible, appending body bytes to `out`. Stops after the
    /// end of the body (`done`); call again with the unconsumed rest otherwise. After an error
    /// every later call returns it again.
    pub fn feed(&mut self, input: &[u8], out: &mut BytesMut) -> Result<Progress, ChunkError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let r = self.run(input, out);
        if let Err(e) = r {
            self.error = Some(e);
        }
        r
    }

    fn run(&mut self, input: &[u8], out: &mut BytesMut) -> Result<Progress, ChunkError> {
        let mut pos = 0;
        while pos < input.len() {
            if self.state == State::Done {
                break;
            }
            if self.state == State::ChunkData {
                if self.size == 0 {
                    self.state = State::AfterData;
                    continue;
                }
                if self.max_body != 0 && self.max_body.saturating_sub(self.total) < self.size {
                    return Err(TOO_LARGE);
                }
                let avail = input.len() - pos;
                let take = usize::try_from(self.size).map_or(avail, |s| s.min(avail));
                let data = input.get(pos..pos + take).ok_or(INVALID)?;
                out.extend_from_slice(data);
                pos += take;
                self.size -= take as u64;
                self.total += take as u64;
                continue;
            }
            let ch = match input.get(pos) {
                Some(&c) => c,
                None => break,
            };
            pos += 1;
            self.step(ch)?;
        }
        Ok(Progress {
            consumed: pos,
            done: self.state == State::Done,
        })
    }

    /// One framing byte of nginx 1.22.1's `ngx_http_parse_chunked()`.
    fn step(&mut self, ch: u8) -> Result<(), ChunkError> {
        use State::*;
        self.state = match self.state {
            ChunkStart => {
                self.size = u64::from(hex(ch).ok_or(INVALID)?);
                ChunkSize
            }
            ChunkSize => {
                if self.size > MAX_SIZE_BEFORE_DIGIT {
                    return Err(INVALID);
                }
                if let Some(d) = hex(ch) {
                    self.size = self.size * 16 + u64::from(d);
                    ChunkSize
                } else if self.size == 0 {
                    match ch {
                        b'\r' => LastChunkExtensionAlmostDone,
                        b'\n' => Trailer,
                        b';' | b' ' | b'\t' => LastChunkExtension,
                        _ => return Err(INVALID),
                    }
                } else {
                    match ch {
                        b'\r' => ChunkExtensionAlmostDone,
                        b'\n' => ChunkData,
                        b';' | b' ' | b'\t' => ChunkExtension,
                        _ => return Err(INVALID),
                    }
                }
            }
            ChunkExtension => match ch {
                b'\r' => ChunkExtensionAlmostDone,
                b'\n' => ChunkData,
                _ => ChunkExtension,
            },
            ChunkExtensionAlmostDone => {
                if ch != b'\n' {
                    return Err(INVALID);
                }
                ChunkData
            }
            AfterData => match ch {
                b'\r' => AfterDataAlmostDone,
                b'\n' => ChunkStart,
                _ => return Err(INVALID),
            },
            AfterDataAlmostDone => {
                if ch != b'\n' {
                    return Err(INVALID);
                }
                ChunkStart
            }
            LastChunkExtension => match ch {
                b'\r' => LastChunkExtensionAlmostDone,
                b'\n' => Trailer,
                _ => LastChunkExtension,
            },
            LastChunkExtensionAlmostDone => {
                if ch != b'\n' {
                    return Err(INVALID);
                }
                Trailer
            }
            Trailer => match ch {
                b'\r' => TrailerAlmostDone,
                b'\n' => Done,
                _ => TrailerHeader,
            },
            TrailerAlmostDone => {
                if ch != b'\n' {
                    return Err(INVALID);
                }
                Done
            }
            TrailerHeader => match ch {
                b'\r' => TrailerHeaderAlmostDone,
                b'\n' => Trailer,
                _ => TrailerHeader,
            },
            TrailerHeaderAlmostDone => {
                if ch != b'\n' {
                    return Err(INVALID);
                }
                Trailer
            }
            // handled by the caller
            ChunkData | Done => self.state,
        };
        Ok(())
    }
}

fn hex(ch: u8) -> Option<u8> {
    match ch {
        b'0'..=b'9' => Some(ch - b'0'),
        b'a'..=b'f' => Some(ch - b'a' + 10),
        b'A'..=b'F' => Some(ch - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `body` in one call with nginx's default 1m `client_max_body_size`.
    fn decode(body: &[u8]) -> Result<(Vec<u8>, Progress), ChunkError> {
        let mut d = ChunkedDecoder::with_max_body(1024 * 1024);
        let mut out = BytesMut::new();
        let p = d.feed(body, &mut out)?;
        Ok((out.to_vec(), p))
    }

    /// Feeds one byte at a time; returns the output and the total consumed when done.
    fn decode_bytewise(body: &[u8]) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut d = ChunkedDecoder::with_max_body(1024 * 1024);
        let mut out = BytesMut::new();
        let mut consumed = 0;
        for b in body.chunks(1) {
            let p = d.feed(b, &mut out)?;
            consumed += p.consumed;
            if p.done {
                return Ok((out.to_vec(), consumed, true));
            }
        }
        Ok((out.to_vec(), consumed, false))
    }

    // Each row is sent by tests/data/nginx-parse-probe.py as the body of
    // `POST /p HTTP/1.1` + `Transfer-Encoding: chunked` to nginx 1.22.1 proxying to an echo
    // origin (client_max_body_size 1m). (name, body, nginx's status, decoded body the origin
    // received). All rows were confirmed there.
    // PROBE-CHUNKED-BEGIN
    #[rustfmt::skip]
    const CASES: &[(&str, &[u8], u16, &[u8])] = &[
        ("ok", b"3\r\nabc\r\n0\r\n\r\n", 200, b"abc"),
        ("two-chunks", b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n", 200, b"abc"),
        ("lf-only", b"3\nabc\n0\n\n", 200, b"abc"),
        ("extension", b"3;foo=bar\r\nabc\r\n0;x\r\n\r\n", 200, b"abc"),
        ("extension-after-space", b"3 ;foo\r\nabc\r\n0 \r\n\r\n", 200, b"abc"),
        ("extension-after-tab", b"3\t\r\nabc\r\n0\r\n\r\n", 200, b"abc"),
        ("extension-lf", b"3;a\nabc\r\n0\r\n\r\n", 200, b"abc"),
        ("last-extension-lf", b"0;a\n\r\n", 200, b""),
        ("trailers", b"3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", 200, b"abc"),
        ("trailer-lf", b"3\r\nabc\r\n0\r\nX-T: 1\n\n", 200, b"abc"),
        ("trailer-with-nul", b"0\r\nX-T\x00: 1\r\n\r\n", 200, b""),
        ("uppercase-hex", b"A\r\n0123456789\r\n0\r\n\r\n", 200, b"0123456789"),
        ("leading-zeros", b"0000000000000000000003\r\nabc\r\n0\r\n\r\n", 200, b"abc"),
        ("data-lf-only", b"3\r\nabc\n0\r\n\r\n", 200, b"abc"),
        ("bad-size-char", b"g\r\nabc\r\n0\r\n\r\n", 400, b""),
        ("negative-size", b"-3\r\nabc\r\n0\r\n\r\n", 400, b""),
        ("0x-prefix", b"0x3\r\nabc\r\n0\r\n\r\n", 400, b""),
        ("empty-size", b"\r\nabc\r\n0\r\n\r\n", 400, b""),
        ("space-before-size", b" 3\r\nabc\r\n0\r\n\r\n", 400, b""),
        ("data-too-long", b"3\r\nabcX\r\n0\r\n\r\n", 400, b""),
        ("data-not-followed-by-crlf", b"3\r\nabc0\r\n\r\n", 400, b""),
        ("cr-without-lf-after-data", b"3\r\nabc\rX0\r\n\r\n", 400, b""),
        ("cr-without-lf-after-size", b"3\rabc\r\n0\r\n\r\n", 400, b""),
        ("cr-without-lf-in-extension", b"3;a\rb\r\nabc\r\n0\r\n\r\n", 400, b""),
        ("cr-without-lf-in-trailer", b"0\r\nX\rY\r\n\r\n", 400, b""),
        ("size-overflow", b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400, b""),
        ("size-over-max", b"fffffffffffffff\r\nabc", 400, b""),
        ("size-0x8000000000000000", b"8000000000000000\r\nabc", 400, b""),
        ("size-at-max-too-large", b"7ffffffffffffff\r\nabc", 413, b""),
        ("over-client-max-body-size", b"200000\r\nabc", 413, b""),
        ("garbage-after-end", b"0\r\n\r\nGARBAGE", 200, b""),
    ];
    // PROBE-CHUNKED-END

    #[test]
    fn table() {
        for (name, body, status, want) in CASES {
            match decode(body) {
                Ok((out, p)) => {
                    assert_eq!(*status, 200, "{name}");
                    assert!(p.done, "{name}");
                    assert_eq!(out, *want, "{name}");
                }
                Err(e) => assert_eq!(e.status, *status, "{name}: {e}"),
            }
            match decode_bytewise(body) {
                Ok((out, _, done)) => {
                    assert!(*status == 200 && done && out == *want, "{name} bytewise")
                }
                Err(e) => assert_eq!(e.status, *status, "{name} bytewise"),
            }
        }
    }

    #[test]
    fn stops_after_the_body() {
        let body = b"3\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n";
        let (out, p) = decode(body).unwrap_or_default();
        assert_eq!(out, b"abc");
        assert_eq!(
            p,
            Progress {
                consumed: 19,
                done: true
            }
        );
        let (_, consumed, _) = decode_bytewise(body).unwrap_or_default();
        assert_eq!(consumed, 19);
    }

    #[test]
    fn split_anywhere() {
        let body = b"5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nA: b\r\n\r\n";
        for cut in 0..body.len() {
            let mut d = ChunkedDecoder::new();
            let mut out = BytesMut::new();
            let (a, b) = body.split_at(cut);
            let p1 = d.feed(a, &mut out).map_err(|e| e.to_string());
            assert_eq!(
                p1,
                Ok(Progress {
                    consumed: a.len(),
                    done: false
                }),
                "cut {cut}"
            );
            let p2 = d.feed(b, &mut out).map_err(|e| e.to_string());
            assert_eq!(
                p2,
                Ok(Progress {
                    consumed: b.len(),
                    done: true
                }),
                "cut {cut}"
            );
            assert_eq!(&out[..], b"hello0123456789abcdef");
            assert!(d.is_done());
            assert_eq!(d.body_len(), 21);
        }
    }

    #[test]
    fn size_limit_counts_previous_chunks() {
        // nginx: client_max_body_size - received < next chunk size → 413
        let mut d = ChunkedDecoder::with_max_body(5);
        let mut out = BytesMut::new();
        assert!(d.feed(b"3\r\nabc\r\n2\r\nde\r\n", &mut out).is_ok());
        assert_eq!(d.feed(b"1\r\nf", &mut out).map_err(|e| e.status), Err(413));
        // the check waits for the first data byte, as nginx's does
        let mut d = ChunkedDecoder::with_max_body(2);
        assert!(d.feed(b"3\r\n", &mut out).is_ok());
        let e = d.feed(b"a", &mut out);
        assert_eq!(
            e.map_err(|e| (e.status, e.reason)),
            Err((413, "client intended to send too large chunked body"))
        );
        // and stays failed
        assert!(d.feed(b"", &mut out).is_err());
        // 0 = no limit
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"7ffffffffffffff\r\nabc", &mut out).is_ok());
    }

    #[test]
    fn invalid_reason() {
        let e = decode(b"z").err();
        assert_eq!(
            e.map(|e| (e.status, e.reason)),
            Some((400, "client sent invalid chunked body"))
        );
    }

    #[test]
    fn nothing_after_done_is_consumed() {
        let mut d = ChunkedDecoder::new();
        let mut out = BytesMut::new();
        assert_eq!(
            d.feed(b"0\n\n", &mut out).map_err(|e| e.status),
            Ok(Progress {
                consumed: 3,
                done: true
            })
        );
        assert_eq!(
            d.feed(b"more", &mut out).map_err(|e| e.status),
            Ok(Progress {
                consumed: 0,
                done: true
            })
        );
    }
}
