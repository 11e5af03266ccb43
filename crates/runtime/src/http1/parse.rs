//! HTTP/1.x request-head parsing with nginx 1.22.1's acceptance rules and error statuses.
//!
//! A byte-for-byte port of the state machines in nginx's `ngx_http_parse_request_line()` and
//! `ngx_http_parse_header_line()`, plus the per-line and end-of-head checks of
//! `ngx_http_process_request_line()`, `ngx_http_process_request_headers()`,
//! `ngx_http_process_host()`, `ngx_http_validate_host()` and
//! `ngx_http_process_request_header()`. Where the stored nginx source differs from the Debian
//! 1.22.1 binary that sluice imitates, the binary wins; every rejection the tests check was
//! sent to `/usr/sbin/nginx` 1.22.1 on 127.0.0.1 (see `tests/data/nginx-parse-probe.py`).
//!
//! Things worth knowing (all confirmed on nginx 1.22.1):
//! - Lines may end in CRLF or a bare LF; CR not followed by LF is an error (a header line may
//!   end in CR CR LF). Empty lines before the request line are skipped.
//! - A method is any run of `A-Z`, `_`, `-`; lowercase or other bytes → 400 "invalid method".
//!   `TRACE` and `CONNECT` are parsed, then refused with 405 after the headers were read.
//! - `HTTP/2.0` and any major version above 1 → 505; `HTTP/0.9` spelled out → 400; a request
//!   line without a version is an HTTP/0.9 request (GET only) with no header block, answered
//!   without a status line.
//! - Only spaces separate the request-line parts and surround header values: a tab is part of
//!   the value (`Host:\ta` is an invalid host).
//! - Header names with bytes other than `A-Z a-z 0-9 -` (and `_` with
//!   `underscores_in_headers on`) are dropped when `ignore_invalid_headers` is on (the
//!   default); control bytes, a space before the colon, a leading space or tab (obsolete line
//!   folding) and NUL in values are 400.
//! - Sizes follow nginx's buffers: the head is read into a `client_header_buffer_size` buffer;
//!   a line that does not fit moves to one of `large_client_header_buffers`. A request line that
//!   does not fit one large buffer → 414; a header line that does not, or running out of
//!   large buffers → 494 (sent as 400 "Request Header Or Cookie Too Large").
//! - The Debian 1.22.1 package carries a backport of upstream's `max_headers` (default 1000):
//!   the 1001st accepted header line → 494 "client sent too many header lines".
//!
//! Known deviation: nginx starts a pipelined request in the middle of the previous request's
//! buffer, so its size limits for that request depend on where the previous one ended. This
//! parser always accounts as if the request started a fresh `client_header_buffer_size`
//! buffer, which is exact for the first request and for every non-pipelined keep-alive request.

use super::headers::HeaderList;
use bytes::Bytes;
use std::fmt;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Limits and switches that change how a head is parsed (nginx server-level directives).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `client_header_buffer_size` (default 1k).
    pub header_buffer: usize,
    /// `large_client_header_buffers` number (default 4).
    pub large_buffers: usize,
    /// `large_client_header_buffers` size (default 8k).
    pub large_buffer_size: usize,
    /// Most header lines accepted (Debian's backport of upstream `max_headers`, default 1000).
    /// Dropped (invalid) lines do not count. `usize::MAX` disables the check, as in upstream
    /// 1.22.1.
    pub max_headers: usize,
    /// `underscores_in_headers` (default off).
    pub underscores_in_headers: bool,
    /// `ignore_invalid_headers` (default on).
    pub ignore_invalid_headers: bool,
    /// `merge_slashes` (default on); only passed on to [`Limits::uri_check`].
    pub merge_slashes: bool,
    /// nginx runs `ngx_http_parse_complex_uri()` right after the request line, before reading
    /// any header, and answers 400 "client sent invalid request" if it fails (`/../x`, `%00`).
    /// When set, this is called with the origin-form URI (path and query, as sent) and
    /// `merge_slashes`; returning `false` gives that 400 at the same point. Wire it to the URI
    /// normaliser (e.g. `|u, m| normalize_uri(u, m).is_ok()`).
    pub uri_check: Option<fn(&[u8], bool) -> bool>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_buffer: 1024,
            large_buffers: 4,
            large_buffer_size: 8192,
            max_headers: 1000,
            underscores_in_headers: false,
            ignore_invalid_headers: true,
            merge_slashes: true,
            uri_check: None,
        }
    }
}

/// The methods nginx recognises by name; any other uppercase token is [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `MKCOL`
    Mkcol,
    /// `COPY`
    Copy,
    /// `MOVE`
    Move,
    /// `OPTIONS`
    Options,
    /// `PROPFIND`
    Propfind,
    /// `PROPPATCH`
    Proppatch,
    /// `LOCK`
    Lock,
    /// `UNLOCK`
    Unlock,
    /// `PATCH`
    Patch,
    /// `TRACE` (a complete head with it is refused with 405).
    Trace,
    /// `CONNECT` (refused with 405; an authority-form target is already a 400).
    Connect,
    /// Any other token of `A-Z`, `_`, `-` (nginx accepts it; see [`RequestHead::method_name`]).
    Other,
}

impl Method {
    /// Classifies a method token the way nginx's request-line parser does (exact, uppercase).
    pub fn from_bytes(name: &[u8]) -> Method {
        match name {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"MKCOL" => Method::Mkcol,
            b"COPY" => Method::Copy,
            b"MOVE" => Method::Move,
            b"OPTIONS" => Method::Options,
            b"PROPFIND" => Method::Propfind,
            b"PROPPATCH" => Method::Proppatch,
            b"LOCK" => Method::Lock,
            b"UNLOCK" => Method::Unlock,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// A parsed and checked request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, classified.
    pub method: Method,
    /// The method as sent (`$request_method`).
    pub method_name: Bytes,
    /// nginx's unparsed URI (`$request_uri`): the target for origin form; for absolute form
    /// the part from the path on, `/` when there is no path, or `?query` when the query
    /// follows the authority directly.
    pub uri: Bytes,
    /// `(start, end)` of the request line without its line end.
    request_line_at: (usize, usize),
    /// `(start, end)` of the target exactly as sent.
    target_at: (usize, usize),
    /// `(start, end)` of the absolute-form scheme and authority.
    schema_at: Option<(usize, usize)>,
    absolute_host_at: Option<(usize, usize)>,
    /// `(start, end)` of the protocol text.
    protocol_at: Option<(usize, usize)>,
    /// `(major, minor)`; `(0, 9)` for a request line without a version. nginx accepts minor
    /// versions up to 999.
    pub version: (u16, u16),
    /// Header lines in arrival order, minus the ones nginx drops: names with their case,
    /// values without surrounding spaces (tabs are kept, as nginx 1.22 does).
    pub headers: HeaderList,
    /// The name used for server selection (SEMANTICS §2.4): the absolute-form host if any,
    /// else the `Host` header, lowercased, without `:port` and one trailing dot.
    pub host: Option<Bytes>,
    /// The `Content-Length` value (never together with `chunked`).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// A `Connection` header containing `close` (substring, case-insensitive, as nginx).
    pub connection_close: bool,
    /// Whether the connection may stay open after the response as far as the request is
    /// concerned: `Connection` close/keep-alive decide, else HTTP/1.1 and later.
    pub keep_alive: bool,
    /// The request had an `Upgrade` header (what nginx requires to tunnel after a 101).
    pub upgrade: bool,
    /// `Expect: 100-continue` on HTTP/1.1 or later: answer `100 Continue` before reading
    /// the body.
    pub expect_continue: bool,
    /// How many header lines were dropped as invalid (nginx logs each at info level as
    /// `client sent invalid header line: "..."`).
    pub ignored_headers: usize,
}

impl RequestHead {
    /// nginx's `http_version`: `major * 1000 + minor` (9 for HTTP/0.9).
    pub fn http_version(&self) -> u32 {
        u32::from(self.version.0) * 1000 + u32::from(self.version.1)
    }

    /// The head as received (the buffer of `headers`): the rarely used parts of the
    /// request line are spans of it.
    fn span(&self, (start, end): (usize, usize)) -> &[u8] {
        self.headers.raw().get(start..end).unwrap_or_default()
    }

    /// The request line without its line end (`$request`); keeps spaces after the version.
    pub fn request_line(&self) -> &[u8] {
        self.span(self.request_line_at)
    }

    /// The request target exactly as sent, absolute form included.
    pub fn target(&self) -> &[u8] {
        self.span(self.target_at)
    }

    /// Scheme of an absolute-form target, as sent.
    pub fn schema(&self) -> Option<&[u8]> {
        self.schema_at.map(|s| self.span(s))
    }

    /// Authority of an absolute-form target (`host[:port]`, as sent).
    pub fn absolute_host(&self) -> Option<&[u8]> {
        self.absolute_host_at.map(|s| self.span(s))
    }

    /// The protocol text from `HTTP` to the line end (`$server_protocol`); empty for
    /// HTTP/0.9.
    pub fn protocol(&self) -> &[u8] {
        self.protocol_at.map_or(&[][..], |s| self.span(s))
    }

    /// An HTTP/0.9 request: the response has no status line and no headers.
    pub fn is_http09(&self) -> bool {
        self.http_version() < 1000
    }

    /// The first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers.find(name)
    }
}

/// Why nginx rejects a request head. Every such error ends the connection after the
/// response (nginx answers and closes, with a lingering close for 494).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    /// 400, 405, 414, 494 (sent as 400 with the "Request Header Or Cookie Too Large" page),
    /// 501 or 505.
    pub status: u16,
    /// nginx's error-log wording (info level), without the details nginx appends.
    pub reason: &'static str,
    /// The request was HTTP/0.9: nginx sends the error page without a status line or headers.
    pub http09: bool,
}

impl HeadError {
    fn new(status: u16, reason: &'static str) -> Self {
        HeadError {
            status,
            reason,
            http09: false,
        }
    }

    /// The status code on the wire (494 is sent as 400).
    pub fn response_status(&self) -> u16 {
        if self.status == 494 {
            400
        } else {
            self.status
        }
    }

    /// The title of nginx's error page (`<title>` and `<h1>` differ only for 494, whose
    /// `<h1>` stays `400 Bad Request`).
    pub fn title(&self) -> &'static str {
        match self.status {
            494 => "400 Request Header Or Cookie Too Large",
            405 => "405 Not Allowed",
            414 => "414 Request-URI Too Large",
            501 => "501 Not Implemented",
            505 => "505 HTTP Version Not Supported",
            _ => "400 Bad Request",
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.status)
    }
}

impl std::error::Error for HeadError {}

/// Result of feeding bytes to the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// The head is complete; `consumed` bytes belong to it, the rest is body or the next
    /// pipelined request.
    Complete {
        /// The head (boxed: it is large and `Incomplete` is returned often).
        head: Box<RequestHead>,
        /// Length of the head, final line end included.
        consumed: usize,
    },
}

/// Parses a request head from the start of `buf` in one go. For bytes arriving piecemeal use
/// [`HeadParser`], which resumes where it stopped.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Parsed, HeadError> {
    HeadParser::new().parse(buf, limits)
}

/// [`parse_head`] with the head unboxed: `Ok(Some((head, consumed)))` when complete,
/// `Ok(None)` when more bytes are needed.
pub fn parse_head_once(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    HeadParser::new().parse_once(buf, limits)
}

mod reason {
    pub const INVALID_METHOD: &str = "client sent invalid method";
    pub const INVALID_REQUEST: &str = "client sent invalid request";
    pub const INVALID_VERSION: &str = "client sent invalid version";
    pub const INVALID_09_METHOD: &str = "client sent invalid method in HTTP/0.9 request";
    pub const TOO_LONG_URI: &str = "client sent too long URI";
    pub const INVALID_HOST_IN_LINE: &str = "client sent invalid host in request line";
    pub const INVALID_HEADER: &str = "client sent invalid header line";
    pub const TOO_LONG_HEADER: &str = "client sent too long header line";
    pub const TOO_LARGE_REQUEST: &str = "client sent too large request";
    pub const TOO_MANY_HEADERS: &str = "client sent too many header lines";
    pub const DUPLICATE_HOST: &str = "client sent duplicate host header";
    pub const INVALID_HOST: &str = "client sent invalid host header";
    pub const DUPLICATE_HEADER: &str = "client sent duplicate header line";
    pub const NO_HOST: &str = "client sent HTTP/1.1 request without \"Host\" header";
    pub const INVALID_CL: &str = "client sent invalid \"Content-Length\" header";
    pub const TE_HTTP10: &str = "client sent HTTP/1.0 request with \"Transfer-Encoding\" header";
    pub const CL_AND_TE: &str =
        "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time";
    pub const UNKNOWN_TE: &str = "client sent unknown \"Transfer-Encoding\"";
    pub const CONNECT: &str = "client sent CONNECT method";
    pub const TRACE: &str = "client sent TRACE method";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rl {
    Start,
    Method,
    SpacesBeforeUri,
    Schema,
    SchemaSlash,
    SchemaSlashSlash,
    HostStart,
    Host,
    HostEnd,
    HostIpLiteral,
    Port,
    Uri,
    Http09,
    H,
    Ht,
    Htt,
    Http,
    FirstMajor,
    Major,
    FirstMinor,
    Minor,
    SpacesAfterDigit,
    AlmostDone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hl {
    Start,
    Name,
    SpaceBeforeValue,
    Value,
    SpaceAfterValue,
    AlmostDone,
    HeaderAlmostDone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    RequestLine,
    Headers,
    Done,
}

/// Headers whose repetition nginx 1.22.1 refuses with 400 ("duplicate header line").
const UNIQUE: [&[u8]; 10] = [
    b"if-modified-since",
    b"if-unmodified-since",
    b"if-match",
    b"if-none-match",
    b"content-length",
    b"content-range",
    b"if-range",
    b"transfer-encoding",
    b"expect",
    b"authorization",
];

const UNIQUE_CONTENT_LENGTH: u8 = 4;
const UNIQUE_TRANSFER_ENCODING: u8 = 7;
const UNIQUE_EXPECT: u8 = 8;

/// The header names the parser acts on.
enum Known {
    Host,
    Connection,
    Upgrade,
    /// Index in [`UNIQUE`].
    Unique(u8),
    Other,
}

/// Which of the names the parser acts on `name` is (ASCII case-insensitive), comparing
/// only with the names of the same length.
fn known_header(name: &[u8]) -> Known {
    let candidates: &[u8] = match name.len() {
        4 => return eq_known(name, b"host", Known::Host),
        7 => return eq_known(name, b"upgrade", Known::Upgrade),
        10 => return eq_known(name, b"connection", Known::Connection),
        6 => &[8],
        8 => &[2, 6],
        13 => &[3, 5, 9],
        14 => &[4],
        17 => &[0, 7],
        19 => &[1],
        _ => return Known::Other,
    };
    for &i in candidates {
        if UNIQUE
            .get(usize::from(i))
            .is_some_and(|u| name.eq_ignore_ascii_case(u))
        {
            return Known::Unique(i);
        }
    }
    Known::Other
}

fn eq_known(name: &[u8], known: &[u8], kind: Known) -> Known {
    if name.eq_ignore_ascii_case(known) {
        kind
    } else {
        Known::Other
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }
}

/// Incremental request-head parser. Call [`HeadParser::parse`] with the bytes received so far
/// (always the same prefix, growing); work already done is not repeated. After an error every
/// later call returns the same error; after completion it returns the same head again.
#[derive(Debug, Clone)]
pub struct HeadParser {
    phase: Phase,
    pos: usize,
    error: Option<HeadError>,
    // nginx buffer accounting: the current buffer ends at stream offset `buf_end`.
    buf_end: usize,
    nbusy: usize,
    // request line
    rl: Rl,
    request_start: usize,
    request_end: usize,
    method: Method,
    method_end: usize,
    schema: Option<Span>,
    host_start: usize,
    host_end: Option<usize>,
    uri_start: usize,
    uri_end: usize,
    target_start: usize,
    target_end: usize,
    empty_path: bool,
    proto_start: Option<usize>,
    major: u16,
    minor: u16,
    // header lines
    hl: Hl,
    line_started: bool,
    line_start: usize,
    name_end: usize,
    value_start: usize,
    value_end: usize,
    invalid: bool,
    /// Accepted lines as [`HeaderList`] spans: name start, name length, value start,
    /// value length (a head is bounded by the large header buffers, so offsets fit).
    headers: Vec<[u32; 4]>,
    ignored: usize,
    host_header: Option<usize>,
    host_name: Option<Span>,
    unique_seen: u16,
    content_length: Option<usize>,
    transfer_encoding: Option<usize>,
    expect: Option<usize>,
    upgrade: bool,
    connection: u8,
    consumed: usize,
    cl_value: Option<u64>,
    chunked: bool,
}

impl Default for HeadParser {
    fn default() -> Self {
        Self::new()
    }
}

const CONN_CLOSE: u8 = 1;
const CONN_KEEP_ALIVE: u8 = 2;

enum Event {
    None,
    LineDone,
    HeadDone,
}

impl HeadParser {
    /// A parser for a request starting at offset 0 of the buffers it will be given.
    pub fn new() -> Self {
        HeadParser {
            phase: Phase::RequestLine,
            pos: 0,
            error: None,
            buf_end: 0,
            nbusy: 0,
            rl: Rl::Start,
            request_start: 0,
            request_end: 0,
            method: Method::Other,
            method_end: 0,
            schema: None,
            host_start: 0,
            host_end: None,
            uri_start: 0,
            uri_end: 0,
            target_start: 0,
            target_end: 0,
            empty_path: false,
            proto_start: None,
            major: 0,
            minor: 0,
            hl: Hl::Start,
            line_started: false,
            line_start: 0,
            name_end: 0,
            value_start: 0,
            value_end: 0,
            invalid: false,
            headers: Vec::new(),
            ignored: 0,
            host_header: None,
            host_name: None,
            unique_seen: 0,
            content_length: None,
            transfer_encoding: None,
            expect: None,
            upgrade: false,
            connection: 0,
            consumed: 0,
            cl_value: None,
            chunked: false,
        }
    }

    /// Feeds the bytes received so far (`buf` must start with the bytes given before).
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, HeadError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.run(buf, limits) {
            Ok(true) => Ok(Parsed::Complete {
                head: Box::new(self.build(buf, self.headers.clone())),
                consumed: self.consumed,
            }),
            Ok(false) => Ok(Parsed::Incomplete),
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    fn http_version(&self) -> u32 {
        u32::from(self.major) * 1000 + u32::from(self.minor)
    }

    /// Returns Ok(true) when the head is complete.
    fn run(&mut self, buf: &[u8], limits: &Limits) -> Result<bool, HeadError> {
        if self.phase == Phase::Done {
            return Ok(true);
        }
        if self.buf_end == 0 {
            self.buf_end = limits.header_buffer.max(1);
        }
        loop {
            let end = buf.len().min(self.buf_end);
            while self.pos < end {
                // whole lines of the common shapes at once; anything else byte by byte
                if self.phase == Phase::Headers && self.hl == Hl::Start {
                    if self.fast_header_line(buf, end) {
                        self.header_line_done(buf, limits)?;
                        continue;
                    }
                } else if self.phase == Phase::RequestLine
                    && self.rl == Rl::Start
                    && self.fast_request_line(buf, end)
                {
                    if self.request_line_done(buf, limits)? {
                        self.consumed = self.pos;
                        self.phase = Phase::Done;
                        return Ok(true);
                    }
                    self.phase = Phase::Headers;
                    continue;
                }
                self.skip_plain(buf, end);
                if self.pos >= end {
                    break;
                }
                let p = self.pos;
                let ch = match buf.get(p) {
                    Some(&c) => c,
                    None => break,
                };
                self.pos += 1;
                match self.phase {
                    Phase::RequestLine => {
                        if let Event::LineDone = self.rl_step(buf, p, ch)? {
                            if self.request_line_done(buf, limits)? {
                                self.consumed = self.pos;
                                self.phase = Phase::Done;
                                return Ok(true);
                            }
                            self.phase = Phase::Headers;
                        }
                    }
                    Phase::Headers => match self.hl_step(p, ch, limits)? {
                        Event::None => {}
                        Event::LineDone => self.header_line_done(buf, limits)?,
                        Event::HeadDone => {
                            self.head_done(buf)?;
                            self.consumed = self.pos;
                            self.phase = Phase::Done;
                            return Ok(true);
                        }
                    },
                    Phase::Done => return Ok(true),
                }
            }
            if self.pos < self.buf_end {
                return Ok(false);
            }
            self.alloc_large_buffer(limits)?;
        }
    }

    /// A whole request line `METHOD /target HTTP/1.D` + CRLF or LF (one space between
    /// the parts, one minor digit) ending before `end`, read in a few scans and left
    /// exactly as [`HeadParser::rl_step`] would leave it byte by byte. `false` (nothing
    /// changed) for any other shape, for the byte-by-byte states to take.
    fn fast_request_line(&mut self, buf: &[u8], end: usize) -> bool {
        let start = self.pos;
        let line = match buf.get(start..end) {
            Some(l) => l,
            None => return false,
        };
        let Some(m) = line.iter().position(|&c| !is_method_char(c)) else {
            return false;
        };
        if m == 0 || line.get(m..m + 2) != Some(b" /") {
            return false;
        }
        let target = m + 1;
        let Some(rest) = line.get(target..) else {
            return false;
        };
        let Some(t) = rest.iter().position(|&c| c <= 0x20 || c == 0x7f) else {
            return false;
        };
        let sp = target + t;
        let (minor, lf) = match line.get(sp..sp + 11) {
            Some(&[b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', d, CR, LF])
                if d.is_ascii_digit() =>
            {
                (d, sp + 10)
            }
            _ => match line.get(sp..sp + 10) {
                Some(&[b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', d, LF])
                    if d.is_ascii_digit() =>
                {
                    (d, sp + 9)
                }
                _ => return false,
            },
        };
        self.request_start = start;
        self.method_end = start + m;
        self.method = Method::from_bytes(line.get(..m).unwrap_or(&[]));
        self.uri_start = start + target;
        self.target_start = start + target;
        self.uri_end = start + sp;
        self.target_end = start + sp;
        self.proto_start = Some(start + sp + 1);
        self.major = 1;
        self.minor = u16::from(minor - b'0');
        self.request_end = start + sp + 9;
        self.rl = Rl::Start;
        self.pos = start + lf + 1;
        true
    }

    /// A whole header line `name: value` + CRLF or LF with a valid name (letters,
    /// digits, `-`) ending before `end`, read in a few scans and left exactly as
    /// [`HeadParser::hl_step`] would leave it byte by byte (value without the spaces
    /// around it). `false` (nothing changed) for any other shape.
    fn fast_header_line(&mut self, buf: &[u8], end: usize) -> bool {
        let start = self.pos;
        let line = match buf.get(start..end) {
            Some(l) => l,
            None => return false,
        };
        let n = name_len(line);
        if n == 0 || line.get(n) != Some(&b':') {
            return false;
        }
        let mut v = n + 1;
        while line.get(v) == Some(&b' ') {
            v += 1;
        }
        let Some(rest) = line.get(v..) else {
            return false;
        };
        let Some(e) = find_cr_lf_nul(rest).map(|e| v + e) else {
            return false;
        };
        let lf = match line.get(e..e + 2) {
            Some(&[LF, _]) => e,
            Some(&[CR, LF]) => e + 1,
            _ if line.get(e) == Some(&LF) => e,
            _ => return false,
        };
        let mut ve = e;
        while ve > v && line.get(ve - 1) == Some(&b' ') {
            ve -= 1;
        }
        self.line_start = start;
        self.line_started = true;
        self.invalid = false;
        self.name_end = start + n;
        self.value_start = start + v;
        self.value_end = start + ve;
        self.pos = start + lf + 1;
        true
    }

    /// Skips the bytes of a URI, header name or header value that leave the state as it
    /// is (the per-byte states would do nothing with them): the same result, without a
    /// state dispatch per byte.
    #[inline]
    fn skip_plain(&mut self, buf: &[u8], end: usize) {
        let rest = match buf.get(self.pos..end) {
            Some(r) => r,
            None => return,
        };
        let n = match (self.phase, self.hl, self.rl) {
            (Phase::Headers, Hl::Value, _) => rest
                .iter()
                .position(|&c| matches!(c, b' ' | CR | LF | 0))
                .unwrap_or(rest.len()),
            (Phase::Headers, Hl::Name, _) => name_len(rest),
            (Phase::RequestLine, _, Rl::Uri) => rest
                .iter()
                .position(|&c| c <= 0x20 || c == 0x7f)
                .unwrap_or(rest.len()),
            _ => 0,
        };
        self.pos += n;
    }

    /// `ngx_http_alloc_large_header_buffer()`: the current buffer is full and parsed.
    fn alloc_large_buffer(&mut self, limits: &Limits) -> Result<(), HeadError> {
        let large = limits.large_buffer_size.max(1);
        match self.phase {
            Phase::RequestLine => {
                if self.rl == Rl::Start {
                    // only empty lines so far: the small buffer is reused from the start
                    self.buf_end = self.pos.saturating_add(limits.header_buffer.max(1));
                    return Ok(());
                }
                let old = self.request_start;
                if self.pos - old >= large || self.nbusy >= limits.large_buffers {
                    return Err(HeadError::new(414, reason::TOO_LONG_URI));
                }
                self.nbusy += 1;
                self.buf_end = old.saturating_add(large);
            }
            _ => {
                let partial = self.hl != Hl::Start;
                if partial && self.pos - self.line_start >= large {
                    return Err(HeadError::new(494, reason::TOO_LONG_HEADER));
                }
                if self.nbusy >= limits.large_buffers {
                    let why = if self.line_started {
                        reason::TOO_LONG_HEADER
                    } else {
                        reason::TOO_LARGE_REQUEST
                    };
                    return Err(HeadError::new(494, why));
                }
                self.nbusy += 1;
                self.buf_end =
                    if partial { self.line_start } else { self.pos }.saturating_add(large);
            }
        }
        Ok(())
    }

    /// One byte of `ngx_http_parse_request_line()`.
    fn rl_step(&mut self, buf: &[u8], p: usize, ch: u8) -> Result<Event, HeadError> {
        let bad = |r| Err(HeadError::new(400, r));
        let mut state = self.rl;
        loop {
            match state {
                Rl::Start => {
                    self.request_start = p;
                    if ch == CR || ch == LF {
                        break;
                    }
                    if !is_method_char(ch) {
                        return bad(reason::INVALID_METHOD);
                    }
                    state = Rl::Method;
                }
                Rl::Method => {
                    if ch == b' ' {
                        self.method_end = p;
                        self.method =
                            Method::from_bytes(buf.get(self.request_start..p).unwrap_or(&[]));
                        state = Rl::SpacesBeforeUri;
                    } else if !is_method_char(ch) {
                        return bad(reason::INVALID_METHOD);
                    }
                }
                Rl::SpacesBeforeUri => {
                    if ch == b'/' {
                        self.uri_start = p;
                        self.target_start = p;
                        state = Rl::Uri;
                    } else if (ch | 0x20).is_ascii_lowercase() {
                        self.schema = Some(Span { start: p, end: p });
                        self.target_start = p;
                        state = Rl::Schema;
                    } else if ch != b' ' {
                        return bad(reason::INVALID_REQUEST);
                    }
                }
                Rl::Schema => {
                    if (ch | 0x20).is_ascii_lowercase()
                        || ch.is_ascii_digit()
                        || matches!(ch, b'+' | b'-' | b'.')
                    {
                    } else if ch == b':' {
                        if let Some(s) = self.schema.as_mut() {
                            s.end = p;
                        }
                        state = Rl::SchemaSlash;
                    } else {
                        return bad(reason::INVALID_REQUEST);
                    }
                }
                Rl::SchemaSlash | Rl::SchemaSlashSlash => {
                    if ch != b'/' {
                        return bad(reason::INVALID_REQUEST);
                    }
                    state = if state == Rl::SchemaSlash {
                        Rl::SchemaSlashSlash
                    } else {
                        Rl::HostStart
                    };
                }
                Rl::HostStart => {
                    self.host_start = p;
                    if ch == b'[' {
                        state = Rl::HostIpLiteral;
                    } else {
                        state = Rl::Host;
                        continue;
                    }
                }
                Rl::Host => {
                    if ch.is_ascii_alphanumeric() || ch == b'.' || ch == b'-' {
                    } else {
                        state = Rl::HostEnd;
                        continue;
                    }
                }
                Rl::HostEnd | Rl::Port => {
                    if state == Rl::HostEnd && ch == b':' {
                        state = Rl::Port;
                    } else if state == Rl::Port && ch.is_ascii_digit() {
                    } else {
                        self.host_end = Some(p);
                        match ch {
                            b'/' => {
                                self.uri_start = p;
                                state = Rl::Uri;
                            }
                            b'?' => {
                                self.uri_start = p;
                                self.empty_path = true;
                                state = Rl::Uri;
                            }
                            b' ' => {
                                // nginx points the URI at the "/" of "://"
                                let s = self.schema.map_or(p, |s| s.end);
                                self.uri_start = s + 1;
                                self.uri_end = s + 2;
                                self.target_end = p;
                                state = Rl::Http09;
                            }
                            _ => return bad(reason::INVALID_REQUEST),
                        }
                    }
                }
                Rl::HostIpLiteral => {
                    if ch.is_ascii_alphanumeric()
                        || matches!(
                            ch,
                            b':' | b'-'
                                | b'.'
                                | b'_'
                                | b'~'
                                | b'!'
                                | b'$'
                                | b'&'
                                | b'\''
                                | b'('
                                | b')'
                                | b'*'
                                | b'+'
                                | b','
                                | b';'
                                | b'='
                        )
                    {
                    } else if ch == b']' {
                        state = Rl::HostEnd;
                    } else {
                        return bad(reason::INVALID_REQUEST);
                    }
                }
                Rl::Uri => match ch {
                    b' ' => {
                        self.uri_end = p;
                        self.target_end = p;
                        state = Rl::Http09;
                    }
                    CR => {
                        self.uri_end = p;
                        self.target_end = p;
                        self.minor = 9;
                        state = Rl::AlmostDone;
                    }
                    LF => {
                        self.uri_end = p;
                        self.target_end = p;
                        self.minor = 9;
                        return self.rl_done(p, false);
                    }
                    c if c < 0x20 || c == 0x7f => return bad(reason::INVALID_REQUEST),
                    _ => {}
                },
                Rl::Http09 => match ch {
                    b' ' => {}
                    CR => {
                        self.minor = 9;
                        state = Rl::AlmostDone;
                    }
                    LF => {
                        self.minor = 9;
                        return self.rl_done(p, false);
                    }
                    b'H' => {
                        self.proto_start = Some(p);
                        state = Rl::H;
                    }
                    _ => return bad(reason::INVALID_REQUEST),
                },
                Rl::H | Rl::Ht | Rl::Htt | Rl::Http => {
                    let (want, next) = match state {
                        Rl::H => (b'T', Rl::Ht),
                        Rl::Ht => (b'T', Rl::Htt),
                        Rl::Htt => (b'P', Rl::Http),
                        _ => (b'/', Rl::FirstMajor),
                    };
                    if ch != want {
                        return bad(reason::INVALID_REQUEST);
                    }
                    state = next;
                }
                Rl::FirstMajor => {
                    if !(b'1'..=b'9').contains(&ch) {
                        return bad(reason::INVALID_REQUEST);
                    }
                    self.major = u16::from(ch - b'0');
                    if self.major > 1 {
                        return Err(HeadError::new(505, reason::INVALID_VERSION));
                    }
                    state = Rl::Major;
                }
                Rl::Major => {
                    if ch == b'.' {
                        state = Rl::FirstMinor;
                    } else if ch.is_ascii_digit() {
                        // any second digit makes the major version at least 10
                        return Err(HeadError::new(505, reason::INVALID_VERSION));
                    } else {
                        return bad(reason::INVALID_REQUEST);
                    }
                }
                Rl::FirstMinor => {
                    if !ch.is_ascii_digit() {
                        return bad(reason::INVALID_REQUEST);
                    }
                    self.minor = u16::from(ch - b'0');
                    state = Rl::Minor;
                }
                Rl::Minor => match ch {
                    CR => state = Rl::AlmostDone,
                    LF => return self.rl_done(p, false),
                    b' ' => state = Rl::SpacesAfterDigit,
                    c if c.is_ascii_digit() => {
                        if self.minor > 99 {
                            return bad(reason::INVALID_REQUEST);
                        }
                        self.minor = self.minor * 10 + u16::from(c - b'0');
                    }
                    _ => return bad(reason::INVALID_REQUEST),
                },
                Rl::SpacesAfterDigit => match ch {
                    b' ' => {}
                    CR => state = Rl::AlmostDone,
                    LF => return self.rl_done(p, false),
                    _ => return bad(reason::INVALID_REQUEST),
                },
                Rl::AlmostDone => {
                    if ch == LF {
                        return self.rl_done(p, true);
                    }
                    return bad(reason::INVALID_REQUEST);
                }
            }
            break;
        }
        self.rl = state;
        Ok(Event::None)
    }

    fn rl_done(&mut self, p: usize, after_cr: bool) -> Result<Event, HeadError> {
        self.request_end = if after_cr { p - 1 } else { p };
        self.rl = Rl::Start;
        if self.http_version() == 9 && self.method != Method::Get {
            return Err(HeadError {
                status: 400,
                reason: reason::INVALID_09_METHOD,
                http09: true,
            });
        }
        Ok(Event::LineDone)
    }

    /// `ngx_http_process_request_line()` after a complete line. Ok(true) for HTTP/0.9,
    /// which has no header block.
    fn request_line_done(&mut self, buf: &[u8], limits: &Limits) -> Result<bool, HeadError> {
        let http09 = self.http_version() < 1000;
        let fail = |r| HeadError {
            status: 400,
            reason: r,
            http09,
        };
        if let Some(check) = limits.uri_check {
            let uri = buf.get(self.uri_start..self.uri_end).unwrap_or(&[]);
            if !self.empty_path && !check(uri, limits.merge_slashes) {
                return Err(fail(reason::INVALID_REQUEST));
            }
        }
        if let Some(end) = self.host_end {
            let raw = buf.get(self.host_start..end).unwrap_or(&[]);
            match validate_host(raw) {
                Some(len) => {
                    self.host_name = Some(Span {
                        start: self.host_start,
                        end: self.host_start + len,
                    })
                }
                None => return Err(fail(reason::INVALID_HOST_IN_LINE)),
            }
        }
        Ok(http09)
    }

    /// One byte of `ngx_http_parse_header_line()` (1.22.1: only spaces surround values).
    fn hl_step(&mut self, p: usize, ch: u8, limits: &Limits) -> Result<Event, HeadError> {
        let bad = || Err(HeadError::new(400, reason::INVALID_HEADER));
        match self.hl {
            Hl::Start => {
                self.line_start = p;
                self.line_started = true;
                self.invalid = false;
                match ch {
                    CR => self.hl = Hl::HeaderAlmostDone,
                    LF => return Ok(Event::HeadDone),
                    _ => {
                        self.hl = Hl::Name;
                        if is_name_char(ch) {
                        } else if ch == b'_' {
                            self.invalid |= !limits.underscores_in_headers;
                        } else if ch <= 0x20 || ch == 0x7f || ch == b':' {
                            return bad();
                        } else {
                            self.invalid = true;
                        }
                    }
                }
            }
            Hl::Name => {
                if is_name_char(ch) {
                } else if ch == b'_' {
                    self.invalid |= !limits.underscores_in_headers;
                } else if ch == b':' {
                    self.name_end = p;
                    self.hl = Hl::SpaceBeforeValue;
                } else if ch == CR || ch == LF {
                    self.name_end = p;
                    self.value_start = p;
                    self.value_end = p;
                    return Ok(self.line_end(ch));
                } else if ch <= 0x20 || ch == 0x7f {
                    return bad();
                } else {
                    self.invalid = true;
                }
            }
            Hl::SpaceBeforeValue => match ch {
                b' ' => {}
                CR | LF => {
                    self.value_start = p;
                    self.value_end = p;
                    return Ok(self.line_end(ch));
                }
                0 => return bad(),
                _ => {
                    self.value_start = p;
                    self.hl = Hl::Value;
                }
            },
            Hl::Value => match ch {
                b' ' => {
                    self.value_end = p;
                    self.hl = Hl::SpaceAfterValue;
                }
                CR | LF => {
                    self.value_end = p;
                    return Ok(self.line_end(ch));
                }
                0 => return bad(),
                _ => {}
            },
            Hl::SpaceAfterValue => match ch {
                b' ' => {}
                CR | LF => return Ok(self.line_end(ch)),
                0 => return bad(),
                _ => self.hl = Hl::Value,
            },
            Hl::AlmostDone => match ch {
                LF => {
                    self.hl = Hl::Start;
                    return Ok(Event::LineDone);
                }
                CR => {}
                _ => return bad(),
            },
            Hl::HeaderAlmostDone => {
                if ch == LF {
                    return Ok(Event::HeadDone);
                }
                return bad();
            }
        }
        Ok(Event::None)
    }

    fn line_end(&mut self, ch: u8) -> Event {
        if ch == CR {
            self.hl = Hl::AlmostDone;
            Event::None
        } else {
            self.hl = Hl::Start;
            Event::LineDone
        }
    }

    /// A complete header line: `ngx_http_process_request_headers()` and the
    /// `ngx_http_headers_in` handlers.
    fn header_line_done(&mut self, buf: &[u8], limits: &Limits) -> Result<(), HeadError> {
        if self.invalid && limits.ignore_invalid_headers {
            self.ignored += 1;
            return Ok(());
        }
        if self.headers.len() >= limits.max_headers {
            return Err(HeadError::new(494, reason::TOO_MANY_HEADERS));
        }
        let name = Span {
            start: self.line_start,
            end: self.name_end,
        };
        let value = Span {
            start: self.value_start,
            end: self.value_end.max(self.value_start),
        };
        let index = self.headers.len();
        if self.headers.capacity() == 0 {
            self.headers.reserve(16);
        }
        self.headers.push([
            name.start as u32,
            (name.end - name.start) as u32,
            value.start as u32,
            (value.end - value.start) as u32,
        ]);
        let value_start = value.start;
        let (name, value) = (name.of(buf), value.of(buf));
        match known_header(name) {
            Known::Host => {
                if self.host_header.is_some() {
                    return Err(HeadError::new(400, reason::DUPLICATE_HOST));
                }
                self.host_header = Some(index);
                let len = validate_host(value)
                    .ok_or_else(|| HeadError::new(400, reason::INVALID_HOST))?;
                if self.host_name.is_none() {
                    self.host_name = Some(Span {
                        start: value_start,
                        end: value_start + len,
                    });
                }
            }
            Known::Connection => {
                if contains_ci(value, b"close") {
                    self.connection = CONN_CLOSE;
                } else if contains_ci(value, b"keep-alive") {
                    self.connection = CONN_KEEP_ALIVE;
                }
            }
            Known::Upgrade => self.upgrade = true,
            Known::Unique(bit) => {
                let mask = 1u16 << bit;
                if self.unique_seen & mask != 0 {
                    return Err(HeadError::new(400, reason::DUPLICATE_HEADER));
                }
                self.unique_seen |= mask;
                match bit {
                    UNIQUE_CONTENT_LENGTH => self.content_length = Some(index),
                    UNIQUE_TRANSFER_ENCODING => self.transfer_encoding = Some(index),
                    UNIQUE_EXPECT => self.expect = Some(index),
                    _ => {}
                }
            }
            Known::Other => {}
        }
        Ok(())
    }

    fn header_value<'a>(&self, buf: &'a [u8], index: Option<usize>) -> Option<&'a [u8]> {
        let [_, _, start, len] = *index.and_then(|i| self.headers.get(i))?;
        let start = start as usize;
        buf.get(start..start + len as usize)
    }

    /// `ngx_http_process_request_header()`: checks once the empty line arrived, in nginx's
    /// order (Host, Content-Length, Transfer-Encoding, CONNECT, TRACE).
    fn head_done(&mut self, buf: &[u8]) -> Result<(), HeadError> {
        let version = self.http_version();
        if self.host_header.is_none() && version > 1000 {
            return Err(HeadError::new(400, reason::NO_HOST));
        }
        if let Some(v) = self.header_value(buf, self.content_length) {
            self.cl_value = Some(
                parse_content_length(v).ok_or_else(|| HeadError::new(400, reason::INVALID_CL))?,
            );
        }
        if let Some(te) = self.header_value(buf, self.transfer_encoding) {
            if version < 1001 {
                return Err(HeadError::new(400, reason::TE_HTTP10));
            }
            if !te.eq_ignore_ascii_case(b"chunked") {
                return Err(HeadError::new(501, reason::UNKNOWN_TE));
            }
            if self.content_length.is_some() {
                return Err(HeadError::new(400, reason::CL_AND_TE));
            }
            self.chunked = true;
        }
        match self.method {
            Method::Connect => Err(HeadError::new(405, reason::CONNECT)),
            Method::Trace => Err(HeadError::new(405, reason::TRACE)),
            _ => Ok(()),
        }
    }

    /// [`HeadParser::parse`] for a whole head at once, without the box: the parser is
    /// used up, so its header list moves into the head instead of being copied.
    fn parse_once(
        mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(RequestHead, usize)>, HeadError> {
        if self.run(buf, limits)? {
            let spans = std::mem::take(&mut self.headers);
            Ok(Some((self.build(buf, spans), self.consumed)))
        } else {
            Ok(None)
        }
    }

    fn build(&self, buf: &[u8], spans: Vec<[u32; 4]>) -> RequestHead {
        let raw = buf.get(..self.consumed).unwrap_or(buf);
        let head = head_bytes(raw);
        let len = head.len();
        let slice = |start: usize, end: usize| {
            if start <= end && end <= len {
                head.slice(start..end)
            } else {
                Bytes::new()
            }
        };
        let version = self.http_version();
        let keep_alive = match self.connection {
            CONN_CLOSE => false,
            CONN_KEEP_ALIVE => true,
            _ => version > 1000,
        };
        let expect_continue = version >= 1001
            && self
                .header_value(buf, self.expect)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
        // The common methods as static bytes: no reference to the head to count.
        let method_name = match self.method {
            Method::Get => Bytes::from_static(b"GET"),
            Method::Head => Bytes::from_static(b"HEAD"),
            Method::Post => Bytes::from_static(b"POST"),
            Method::Put => Bytes::from_static(b"PUT"),
            Method::Delete => Bytes::from_static(b"DELETE"),
            Method::Options => Bytes::from_static(b"OPTIONS"),
            Method::Patch => Bytes::from_static(b"PATCH"),
            _ => slice(self.request_start, self.method_end),
        };
        let uri = slice(self.uri_start, self.uri_end);
        // a slice of the head when it is lowercase already (the usual case)
        let host = self.host_name.map(|s| {
            let host = s.of(buf);
            if host.iter().any(u8::is_ascii_uppercase) {
                Bytes::from(host.to_ascii_lowercase())
            } else {
                slice(s.start, s.end)
            }
        });
        RequestHead {
            method: self.method,
            method_name,
            uri,
            request_line_at: (self.request_start, self.request_end),
            target_at: (self.target_start, self.target_end),
            schema_at: self.schema.map(|s| (s.start, s.end)),
            absolute_host_at: self.host_end.map(|end| (self.host_start, end)),
            protocol_at: self.proto_start.map(|s| (s, self.request_end)),
            version: (self.major, self.minor),
            headers: HeaderList::new(head, spans),
            host,
            content_length: self.cl_value,
            chunked: self.chunked,
            connection_close: self.connection == CONN_CLOSE,
            keep_alive,
            upgrade: self.upgrade,
            expect_continue,
            ignored_headers: self.ignored,
        }
    }
}

/// The offset of the first CR, LF or NUL in `s` (eight bytes at a time).
fn find_cr_lf_nul(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // high bit of each byte that is zero; exact for the lowest such byte (a borrow only
    // marks bytes above a zero byte)
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        let hit = zero(x) | zero(x ^ (ONES * u64::from(CR))) | zero(x ^ (ONES * u64::from(LF)));
        if hit != 0 {
            return Some(at + (hit.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| matches!(c, CR | LF | 0))
        .map(|i| at + i)
}

/// A copy of a head as `Bytes` in one allocation (bytes and reference count together)
/// for the usual sizes; a longer head takes two.
fn head_bytes(raw: &[u8]) -> Bytes {
    if raw.len() <= 128 {
        Bytes::from_owner(Inline::<128>::new(raw))
    } else if raw.len() <= 256 {
        Bytes::from_owner(Inline::<256>::new(raw))
    } else if raw.len() <= 512 {
        Bytes::from_owner(Inline::<512>::new(raw))
    } else {
        // One spare byte: `Bytes` then takes a Vec whose length is not its capacity as
        // shared storage at once, instead of converting it on the first clone.
        let mut v = Vec::with_capacity(raw.len() + 1);
        v.extend_from_slice(raw);
        Bytes::from(v)
    }
}

/// Up to `N` bytes kept in place (the owner of a [`head_bytes`] buffer).
struct Inline<const N: usize> {
    len: usize,
    buf: [u8; N],
}

impl<const N: usize> Inline<N> {
    fn new(raw: &[u8]) -> Self {
        let mut buf = [0u8; N];
        let len = raw.len().min(N);
        if let (Some(to), Some(from)) = (buf.get_mut(..len), raw.get(..len)) {
            to.copy_from_slice(from);
        }
        Inline { len, buf }
    }
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

fn is_method_char(ch: u8) -> bool {
    ch.is_ascii_uppercase() || ch == b'_' || ch == b'-'
}

/// Bytes nginx's `lowcase[]` table maps (valid header-name bytes besides `_`).
fn is_name_char(ch: u8) -> bool {
    NAME_CHARS[usize::from(ch)]
}

/// How many bytes at the start of `s` are [`is_name_char`] (eight at a time while they
/// all are).
fn name_len(s: &[u8]) -> usize {
    let mut n = 0;
    for c in s.chunks_exact(8) {
        if !c.iter().fold(true, |all, &b| all & is_name_char(b)) {
            break;
        }
        n += 8;
    }
    let rest = s.get(n..).unwrap_or_default();
    n + rest
        .iter()
        .position(|&c| !is_name_char(c))
        .unwrap_or(rest.len())
}

/// [`is_name_char`] as a table: one load per byte in the loops over names.
static NAME_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-';
        c += 1;
    }
    t
};

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `ngx_http_validate_host()` (1.22.1): the length of the host part (port and one trailing
/// dot removed), or None when nginx answers 400. The checks of
/// `sluice_compiler::table::route::normalize_host` without its lowercased copy (this runs
/// for every request); `host_length_is_normalize_host` keeps the two the same.
pub fn validate_host(host: &[u8]) -> Option<usize> {
    let mut literal = false;
    let mut port = false;
    let mut dot_pos: Option<usize> = None;
    let mut host_len = host.len();
    for (i, &ch) in host.iter().enumerate() {
        if HOST_PLAIN[usize::from(ch)] {
            continue;
        }
        match ch {
            b'.' => {
                if i > 0 && dot_pos == Some(i - 1) {
                    return None;
                }
                dot_pos = Some(i);
            }
            b':' if !literal && !port => {
                host_len = i;
                port = true;
            }
            b'[' if i == 0 => literal = true,
            b']' if literal && !port => {
                host_len = i + 1;
                literal = false;
                port = true;
            }
            b'/' => return None,
            c if c <= 0x20 || c == 0x7f => return None,
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == Some(host_len - 1) {
        host_len -= 1;
    }
    (host_len > 0).then_some(host_len)
}

/// Host bytes [`validate_host`] has nothing to do for: not `.`, `:`, `[`, `]`, `/`, a
/// control byte, space or DEL.
static HOST_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = !matches!(b, b'.' | b':' | b'[' | b']' | b'/' | 0..=0x20 | 0x7f);
        c += 1;
    }
    t
};

/// `ngx_atoof()`: decimal digits only, at most `i64::MAX`.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        if n > i64::MAX as u64 {
            return None;
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stand-in for the URI normaliser: rejects what nginx's complex-URI parser rejects in
    /// the table below (`..` above the root, `%00`).
    fn uri_check(uri: &[u8], _merge_slashes: bool) -> bool {
        !(uri.starts_with(b"/../") || uri == b"/.." || contains_ci(uri, b"%00"))
    }

    fn limits() -> Limits {
        Limits {
            uri_check: Some(uri_check),
            ..Limits::default()
        }
    }

    fn complete(raw: &[u8], limits: &Limits) -> (RequestHead, usize) {
        match parse_head(raw, limits) {
            Ok(Parsed::Complete { head, consumed }) => (*head, consumed),
            other => panic!(
                "{:?}: expected a complete head, got {other:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }

    fn head(raw: &[u8]) -> RequestHead {
        complete(raw, &limits()).0
    }

    fn error(raw: &[u8], limits: &Limits) -> HeadError {
        match parse_head(raw, limits) {
            Err(e) => e,
            other => panic!(
                "{:?}: expected an error, got {other:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }

    /// Feeds `raw` one byte at a time to one parser; returns the first non-Incomplete result.
    fn bytewise(raw: &[u8], limits: &Limits) -> Result<Parsed, HeadError> {
        let mut p = HeadParser::new();
        for n in 1..=raw.len() {
            match p.parse(raw.get(..n).unwrap_or(raw), limits) {
                Ok(Parsed::Incomplete) => {}
                other => return other,
            }
        }
        Ok(Parsed::Incomplete)
    }

    // Each row is sent as-is to nginx 1.22.1 by tests/data/nginx-parse-probe.py (a server
    // with `location / { return 200 ...; }`); the third field is the status nginx answered.
    // Every row was confirmed there. A 413 row is accepted by the parser and refused later by
    // client_max_body_size.
    // PROBE-VALID-BEGIN
    #[rustfmt::skip]
    const VALID: &[(&str, &[u8], u16)] = &[
        ("basic", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("lf-only", b"GET / HTTP/1.1\nHost: a\n\n", 200),
        ("http10-no-host", b"GET / HTTP/1.0\r\n\r\n", 200),
        ("http09-get", b"GET /\r\n", 200),
        ("http09-lf", b"GET /x\n", 200),
        ("http09-trailing-space", b"GET /x \r\n", 200),
        ("abs-form", b"GET http://Example.COM:80/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 200),
        ("abs-no-path", b"GET http://example.com HTTP/1.1\r\nHost: o\r\n\r\n", 200),
        ("abs-query-only", b"GET http://example.com?x=1 HTTP/1.1\r\nHost: o\r\n\r\n", 200),
        ("abs-ipv6", b"GET http://[::1]:8/p HTTP/1.1\r\nHost: o\r\n\r\n", 200),
        ("abs-odd-scheme", b"GET a+b-c.d://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("abs-trailing-dot", b"GET http://A.b./ HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("unknown-method", b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("method-underscore-dash", b"FO_O-X / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("m-search", b"M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("http-minor-999", b"GET / HTTP/1.999\r\nHost: a\r\n\r\n", 200),
        ("http-1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 200),
        ("spaces-after-version", b"GET / HTTP/1.1  \r\nHost: a\r\n\r\n", 200),
        ("multiple-spaces", b"GET   /   HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("leading-empty-lines", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("high-bytes-in-uri", b"GET /a\xffb HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("hash-in-uri", b"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("underscore-header-dropped", b"GET / HTTP/1.1\r\nHost: a\r\nX_Under: 1\r\nX-A: ok\r\n\r\n", 200),
        ("invalid-name-dropped", b"GET / HTTP/1.1\r\nHost: a\r\nX@A: 1\r\nX-A: ok\r\n\r\n", 200),
        ("high-byte-name-dropped", b"GET / HTTP/1.1\r\nHost: a\r\n\xffX: 1\r\n\r\n", 200),
        ("underscore-cl-dropped", b"POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n", 200),
        ("header-without-colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", 200),
        ("header-cr-cr-lf", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\r\n\r\n", 200),
        ("ctl-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x012\r\n\r\n", 200),
        ("del-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x7f2\r\n\r\n", 200),
        ("value-spaces-trimmed", b"GET / HTTP/1.1\r\nHost: a\r\nX-A:   1 2   \r\n\r\n", 200),
        ("value-tabs-kept", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \t 1 2 \t \r\n\r\n", 200),
        ("empty-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n", 200),
        ("host-backslash", b"GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 200),
        ("host-trailing-dot-port", b"GET / HTTP/1.1\r\nHost: EXAMPLE.com.:8080\r\n\r\n", 200),
        ("host-leading-dot", b"GET / HTTP/1.1\r\nHost: .a\r\n\r\n", 200),
        ("host-ipv6", b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 200),
        ("host-unclosed-bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 200),
        ("host-underscore", b"GET / HTTP/1.1\r\nHost: a_b\r\n\r\n", 200),
        ("host-utf8", b"GET / HTTP/1.1\r\nHost: \xc3\xa9.com\r\n\r\n", 200),
        ("cl-leading-zeros", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc", 200),
        ("cl-i64-max", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", 413),
        ("cl-on-get", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 200),
        ("te-chunked-uppercase", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", 200),
        ("te-chunked-spaces", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked  \r\n\r\n0\r\n\r\n", 200),
        ("dup-user-agent", b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\nUser-Agent: y\r\n\r\n", 200),
        ("dup-content-type", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Type: x\r\nContent-Type: y\r\n\r\n", 200),
        ("dup-connection", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: y\r\n\r\n", 200),
        ("dup-x-header", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: x\r\nX-A: y\r\n\r\n", 200),
        ("expect-100", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", 200),
        ("pipelined", b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ];
    // PROBE-VALID-END

    // Rows: (name, raw request, nginx's status, answered HTTP/0.9-style without a status
    // line). Every row was confirmed on nginx 1.22.1 by tests/data/nginx-parse-probe.py.
    // The `uri-*` rows rely on `uri_check` above standing in for the URI normaliser.
    // PROBE-HOSTILE-BEGIN
    #[rustfmt::skip]
    const HOSTILE: &[(&str, &[u8], u16, bool)] = &[
        // request line
        ("lowercase-method", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("digit-in-method", b"G1T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("space-before-method", b"  GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("tab-after-method", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("asterisk-target", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("relative-target", b"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("space-in-uri", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("nul-in-uri", b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("ctl-in-uri", b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("del-in-uri", b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("tab-in-uri", b"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("bare-cr-in-uri", b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("cr-without-lf", b"GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n", 400, false),
        ("http-2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, false),
        ("http-3.0", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, false),
        ("http-10.0", b"GET / HTTP/10.0\r\nHost: a\r\n\r\n", 505, false),
        ("http-0.9-spelled", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 400, false),
        ("http-lowercase", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("http-minor-1000", b"GET / HTTP/1.1000\r\nHost: a\r\n\r\n", 400, false),
        ("http-no-minor", b"GET / HTTP/1.\r\nHost: a\r\n\r\n", 400, false),
        ("http-no-dot", b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400, false),
        ("http-leading-zero", b"GET / HTTP/01.1\r\nHost: a\r\n\r\n", 400, false),
        ("junk-after-version", b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400, false),
        ("trace", b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, false),
        ("trace-http10", b"TRACE / HTTP/1.0\r\n\r\n", 405, false),
        ("connect-authority", b"CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("connect-origin", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 405, false),
        ("http09-post", b"POST /\r\n", 400, true),
        ("http09-head", b"HEAD /\r\n", 400, true),
        ("http09-uri-dotdot", b"GET /../x\r\n", 400, true),
        ("http09-abs-bad-host", b"GET http://a..b/\r\n", 400, true),
        ("uri-dotdot", b"GET /../x HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("uri-pct00", b"GET /a/%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("abs-underscore-host", b"GET http://a_b.com/ HTTP/1.1\r\nHost: o\r\n\r\n", 400, false),
        ("abs-dotdot-host", b"GET http://a..b/ HTTP/1.1\r\nHost: o\r\n\r\n", 400, false),
        ("abs-empty-host", b"GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("abs-port-only", b"GET http://:80/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("abs-userinfo", b"GET http://u@x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("abs-port-letter", b"GET http://x:8a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("abs-no-slashes", b"GET http:x HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        ("abs-bad-ip-literal", b"GET http://[::1%25]/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, false),
        // header lines
        ("space-before-colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", 400, false),
        ("tab-in-name", b"GET / HTTP/1.1\r\nHost: a\r\nX\tA: 1\r\n\r\n", 400, false),
        ("ctl-in-name", b"GET / HTTP/1.1\r\nHost: a\r\nX\x01A: 1\r\n\r\n", 400, false),
        ("del-in-name", b"GET / HTTP/1.1\r\nHost: a\r\nX\x7fA: 1\r\n\r\n", 400, false),
        ("nul-in-name", b"GET / HTTP/1.1\r\nHost: a\r\nX\x00A: 1\r\n\r\n", 400, false),
        ("empty-name", b"GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", 400, false),
        ("space-before-name", b"GET / HTTP/1.1\r\nHost: a\r\n X-A: 1\r\n\r\n", 400, false),
        ("obs-fold-space", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n", 400, false),
        ("obs-fold-tab", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\n\r\n", 400, false),
        ("nul-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n", 400, false),
        ("nul-value-start", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \x002\r\n\r\n", 400, false),
        ("nul-after-value-space", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1 \x00\r\n\r\n", 400, false),
        ("cr-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r2\r\n\r\n", 400, false),
        ("cr-without-lf-at-end", b"GET / HTTP/1.1\r\nHost: a\r\n\rX", 400, false),
        // Host
        ("no-host-http11", b"GET / HTTP/1.1\r\n\r\n", 400, false),
        ("no-host-http12", b"GET / HTTP/1.2\r\n\r\n", 400, false),
        ("no-host-abs-form", b"GET http://x/ HTTP/1.1\r\n\r\n", 400, false),
        ("dup-host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, false),
        ("dup-host-same-value", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, false),
        ("empty-host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, false),
        ("host-without-colon", b"GET / HTTP/1.1\r\nHost\r\n\r\n", 400, false),
        ("host-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, false),
        ("host-dotdot", b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400, false),
        ("host-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, false),
        ("host-ctl", b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400, false),
        ("host-del", b"GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n", 400, false),
        ("host-leading-tab", b"GET / HTTP/1.1\r\nHost:\ta\r\n\r\n", 400, false),
        ("host-trailing-tab", b"GET / HTTP/1.1\r\nHost: a\t\r\n\r\n", 400, false),
        ("host-dot-only", b"GET / HTTP/1.1\r\nHost: .\r\n\r\n", 400, false),
        ("host-port-only", b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400, false),
        ("abs-form-bad-host-header", b"GET http://x/ HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, false),
        ("abs-form-dup-host", b"GET http://x/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, false),
        ("http10-bad-host", b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n", 400, false),
        // Content-Length / Transfer-Encoding
        ("cl-dup-same", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, false),
        ("cl-dup-case", b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 1\r\nCONTENT-LENGTH: 1\r\n\r\nx", 400, false),
        ("cl-negative", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, false),
        ("cl-plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400, false),
        ("cl-inner-space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400, false),
        ("cl-hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n", 400, false),
        ("cl-empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, false),
        ("cl-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3,3\r\n\r\nabc", 400, false),
        ("cl-overflow", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, false),
        ("cl-i64-max-plus-1", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400, false),
        ("cl-trailing-tab", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\t\r\n\r\nabc", 400, false),
        ("cl-without-colon", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length\r\n\r\n", 400, false),
        ("te-gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, false),
        ("te-gzip-chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, false),
        ("te-identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501, false),
        ("te-empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 501, false),
        ("te-tab-chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n", 501, false),
        ("te-dup", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false),
        ("te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false),
        ("te-http10-gzip", b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", 400, false),
        ("te-and-cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false),
        ("te-gzip-and-cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n", 501, false),
        ("te-chunked-bad-cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false),
        ("trace-bad-cl", b"TRACE / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400, false),
        ("trace-no-host", b"TRACE / HTTP/1.1\r\n\r\n", 400, false),
        ("trace-te-gzip", b"TRACE / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, false),
        // headers nginx 1.22.1 allows once
        ("dup-if-modified-since", b"GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: x\r\nIf-Modified-Since: y\r\n\r\n", 400, false),
        ("dup-if-unmodified-since", b"GET / HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: x\r\nIf-Unmodified-Since: y\r\n\r\n", 400, false),
        ("dup-if-match", b"GET / HTTP/1.1\r\nHost: a\r\nIf-Match: x\r\nIf-Match: y\r\n\r\n", 400, false),
        ("dup-if-none-match", b"GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: x\r\nIf-None-Match: y\r\n\r\n", 400, false),
        ("dup-if-range", b"GET / HTTP/1.1\r\nHost: a\r\nIf-Range: x\r\nIf-Range: y\r\n\r\n", 400, false),
        ("dup-expect", b"GET / HTTP/1.1\r\nHost: a\r\nExpect: x\r\nExpect: y\r\n\r\n", 400, false),
        ("dup-authorization", b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: x\r\nAuthorization: y\r\n\r\n", 400, false),
        ("dup-content-range", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Range: x\r\nContent-Range: y\r\n\r\n", 400, false),
    ];
    // PROBE-HOSTILE-END

    /// Requests too long to write out; the probe script builds the same bytes under the same
    /// names. (name, bytes, status): 200 = accepted, 494 = nginx's 400 "Request Header Or
    /// Cookie Too Large". All confirmed on nginx 1.22.1.
    fn generated() -> Vec<(&'static str, Vec<u8>, u16)> {
        fn line_of(total: usize, eol: &[u8]) -> Vec<u8> {
            // a request line of exactly `total` bytes including its line end
            let fixed = b"GET / HTTP/1.1".len() + eol.len();
            let mut v = b"GET /".to_vec();
            v.resize(5 + total - fixed, b'a');
            v.extend_from_slice(b" HTTP/1.1");
            v.extend_from_slice(eol);
            v
        }
        fn req(line: Vec<u8>, eol: &[u8]) -> Vec<u8> {
            let mut v = line;
            v.extend_from_slice(b"Host: a");
            v.extend_from_slice(eol);
            v.extend_from_slice(eol);
            v
        }
        fn with_headers(lines: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
            let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
            for l in lines {
                v.extend_from_slice(&l);
            }
            v.extend_from_slice(b"\r\n");
            v
        }
        fn x_a(total: usize) -> Vec<u8> {
            // a header line of exactly `total` bytes including CRLF
            let mut v = b"X-A: ".to_vec();
            v.resize(total - 2, b'b');
            v.extend_from_slice(b"\r\n");
            v
        }
        let crlf: &[u8] = b"\r\n";
        let lf: &[u8] = b"\n";
        let mut unterminated = b"GET /".to_vec();
        unterminated.resize(9005, b'a');
        let mut bad_early = b"GET /a\x01".to_vec();
        bad_early.resize(9007, b'a');
        let mut crlf_flood = b"\r\n".repeat(5000);
        crlf_flood.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let big = |i: usize| {
            let mut v = format!("X-{i}: ").into_bytes();
            v.resize(v.len() + 8000, b'b');
            v.extend_from_slice(b"\r\n");
            v
        };
        let small = |i: usize| format!("X{i}:v\r\n").into_bytes();
        let mut dup_host_last = with_headers((0..999).map(small));
        dup_host_last.truncate(dup_host_last.len() - 2);
        dup_host_last.extend_from_slice(b"Host: b\r\n\r\n");
        vec![
            ("rl-1024", req(line_of(1024, crlf), crlf), 200),
            ("rl-8192", req(line_of(8192, crlf), crlf), 200),
            ("rl-8192-lf", req(line_of(8192, lf), lf), 200),
            ("rl-8193", req(line_of(8193, crlf), crlf), 414),
            ("rl-8193-lf", req(line_of(8193, lf), lf), 414),
            ("rl-unterminated", unterminated, 414),
            ("rl-long-bad-early", bad_early, 400),
            ("crlf-flood", crlf_flood, 200),
            ("hl-8192", with_headers(std::iter::once(x_a(8192))), 200),
            ("hl-8193", with_headers(std::iter::once(x_a(8193))), 494),
            ("hdr-4x8k", with_headers((0..4).map(big)), 200),
            ("hdr-5x8k", with_headers((0..5).map(big)), 494),
            ("hdr-1000", with_headers((0..999).map(small)), 200),
            ("hdr-1001", with_headers((0..1000).map(small)), 494),
            ("hdr-1001-dup-host-last", dup_host_last, 494),
        ]
    }

    #[test]
    fn valid_table() {
        for (name, raw, _) in VALID {
            let (h, consumed) = complete(raw, &limits());
            assert!(consumed <= raw.len(), "{name}");
            assert_eq!(
                bytewise(raw, &limits()),
                parse_head(raw, &limits()),
                "{name} bytewise"
            );
            assert!(!h.method_name.is_empty(), "{name}");
        }
    }

    #[test]
    fn hostile_table() {
        for (name, raw, status, http09) in HOSTILE {
            let e = error(raw, &limits());
            assert_eq!((e.status, e.http09), (*status, *http09), "{name}: {e}");
            assert_eq!(bytewise(raw, &limits()), Err(e), "{name} bytewise");
        }
    }

    #[test]
    fn generated_table() {
        for (name, raw, status) in generated() {
            match parse_head(&raw, &limits()) {
                Ok(Parsed::Complete { consumed, .. }) => {
                    assert_eq!(status, 200, "{name}");
                    assert_eq!(consumed, raw.len(), "{name}");
                }
                Ok(Parsed::Incomplete) => panic!("{name}: incomplete"),
                Err(e) => assert_eq!(e.status, status, "{name}: {e}"),
            }
            assert_eq!(
                bytewise(&raw, &limits()),
                parse_head(&raw, &limits()),
                "{name}"
            );
        }
    }

    #[test]
    fn size_error_reasons() {
        let by_name = |n: &str| {
            generated()
                .into_iter()
                .find(|g| g.0 == n)
                .map(|g| g.1)
                .unwrap_or_default()
        };
        let e = error(&by_name("rl-8193"), &limits());
        assert_eq!(e.reason, "client sent too long URI");
        assert_eq!(e.response_status(), 414);
        let e = error(&by_name("hl-8193"), &limits());
        assert_eq!(e.reason, "client sent too long header line");
        assert_eq!(
            (e.response_status(), e.title()),
            (400, "400 Request Header Or Cookie Too Large")
        );
        let e = error(&by_name("hdr-5x8k"), &limits());
        assert_eq!(e.reason, "client sent too long header line");
        let e = error(&by_name("hdr-1001-dup-host-last"), &limits());
        assert_eq!(e.reason, "client sent too many header lines");
    }

    #[test]
    fn too_large_request_without_header_line() {
        // the request line fills the only large buffer exactly: no room for any header
        let lim = Limits {
            large_buffers: 1,
            ..limits()
        };
        let mut raw = b"GET /".to_vec();
        raw.resize(8192 - b" HTTP/1.1\r\n".len(), b'a');
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        let e = error(&raw, &lim);
        assert_eq!((e.status, e.reason), (494, "client sent too large request"));
    }

    #[test]
    fn max_headers_can_be_disabled() {
        let lim = Limits {
            max_headers: usize::MAX,
            ..limits()
        };
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..1500 {
            raw.extend_from_slice(format!("X{i}:\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(complete(&raw, &lim).0.headers.len(), 1501);
    }

    #[test]
    fn basic_fields() {
        let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: t\r\n\r\n";
        let (h, consumed) = complete(raw, &limits());
        assert_eq!(consumed, raw.len());
        assert_eq!(h.method, Method::Get);
        assert_eq!(&h.method_name[..], b"GET");
        assert_eq!(h.request_line(), b"GET /a?b=1 HTTP/1.1");
        assert_eq!(h.target(), b"/a?b=1");
        assert_eq!(&h.uri[..], b"/a?b=1");
        assert_eq!(h.protocol(), b"HTTP/1.1");
        assert_eq!(h.version, (1, 1));
        assert_eq!(h.host.as_deref(), Some(&b"example.com"[..]));
        assert_eq!(h.absolute_host(), None);
        assert!(h.keep_alive && !h.connection_close && !h.chunked && !h.upgrade);
        assert_eq!(h.content_length, None);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.header(b"user-agent"), Some(&b"t"[..]));
    }

    #[test]
    fn lf_only_and_leading_empty_lines() {
        let raw = b"\n\r\nPOST /x HTTP/1.0\nContent-Length: 2\n\nok";
        let (h, consumed) = complete(raw, &limits());
        assert_eq!(consumed, raw.len() - 2);
        assert_eq!(h.request_line(), b"POST /x HTTP/1.0");
        assert_eq!(h.content_length, Some(2));
        assert_eq!(h.host, None);
        assert!(!h.keep_alive);
    }

    #[test]
    fn pipelined_second_request_left_in_buffer() {
        let raw = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
        let (h, consumed) = complete(raw, &limits());
        assert_eq!(&h.uri[..], b"/1");
        let rest = raw.get(consumed..).unwrap_or_default();
        assert_eq!(rest, b"GET /2 HTTP/1.1\r\nHost: b\r\n\r\n");
        let (h2, c2) = complete(rest, &limits());
        assert_eq!((&h2.uri[..], c2), (&b"/2"[..], rest.len()));
        assert_eq!(h2.host.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn http10_without_host_and_keep_alive() {
        let h = head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert_eq!((h.version, h.host.clone()), ((1, 0), None));
        assert!(h.keep_alive && !h.connection_close);
        let h = head(b"GET / HTTP/1.0\r\nConnection: upgrade\r\n\r\n");
        assert!(!h.keep_alive);
    }

    #[test]
    fn connection_tokens_are_substrings() {
        // nginx uses ngx_strcasestrn: "close" wins over "keep-alive", anywhere in the value
        assert!(
            head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n")
                .connection_close
        );
        assert!(!head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: xCLOSEDx\r\n\r\n").keep_alive);
        // a later header overrides only when it matches
        let h = head(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
        );
        assert!(h.keep_alive && !h.connection_close);
        let h =
            head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: upgrade\r\n\r\n");
        assert!(!h.keep_alive && h.connection_close);
    }

    #[test]
    fn absolute_form() {
        let h = head(b"GET http://Example.COM:80/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!(h.target(), b"http://Example.COM:80/p?q");
        assert_eq!(&h.uri[..], b"/p?q");
        assert_eq!(h.schema(), Some(&b"http"[..]));
        assert_eq!(h.absolute_host(), Some(&b"Example.COM:80"[..]));
        assert_eq!(h.host.as_deref(), Some(&b"example.com"[..]));
        assert_eq!(h.header(b"host"), Some(&b"other"[..]));

        let h = head(b"GET http://example.com HTTP/1.1\r\nHost: o\r\n\r\n");
        assert_eq!(
            (h.target(), &h.uri[..]),
            (&b"http://example.com"[..], &b"/"[..])
        );
        let h = head(b"GET http://example.com?x=1 HTTP/1.1\r\nHost: o\r\n\r\n");
        assert_eq!(&h.uri[..], b"?x=1");
        let h = head(b"GET http://[::1]:8/p HTTP/1.1\r\nHost: o\r\n\r\n");
        assert_eq!(h.host.as_deref(), Some(&b"[::1]"[..]));
        let h = head(b"GET http://A.b./ HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(h.host.as_deref(), Some(&b"a.b"[..]));
    }

    #[test]
    fn http09() {
        let raw = b"GET /x\r\nHost: ignored\r\n\r\n";
        let (h, consumed) = complete(raw, &limits());
        assert_eq!(consumed, 8);
        assert!(h.is_http09());
        assert_eq!(h.version, (0, 9));
        assert!(h.headers.is_empty() && !h.keep_alive);
        assert!(h.protocol().is_empty());
        let h = head(b"GET http://a/ \r\n");
        assert_eq!(h.host.as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn methods() {
        for (m, want) in [
            (&b"GET"[..], Method::Get),
            (b"HEAD", Method::Head),
            (b"POST", Method::Post),
            (b"PUT", Method::Put),
            (b"DELETE", Method::Delete),
            (b"OPTIONS", Method::Options),
            (b"PATCH", Method::Patch),
            (b"PROPPATCH", Method::Proppatch),
            (b"UNLOCK", Method::Unlock),
            (b"FOO", Method::Other),
        ] {
            let mut raw = m.to_vec();
            raw.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
            let h = head(&raw);
            assert_eq!((h.method, &h.method_name[..]), (want, m));
        }
        assert_eq!(
            error(b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", &limits()).reason,
            "client sent TRACE method"
        );
    }

    #[test]
    fn header_case_order_and_duplicates_preserved() {
        let h = head(b"GET / HTTP/1.1\r\nhOsT: a\r\nX-Dup: 1\r\nx-dup: 2\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n");
        let got: Vec<(&[u8], &[u8])> = h.headers.iter().collect();
        assert_eq!(
            got,
            vec![
                (&b"hOsT"[..], &b"a"[..]),
                (b"X-Dup", b"1"),
                (b"x-dup", b"2"),
                (b"Cookie", b"a=1"),
                (b"Cookie", b"b=2"),
            ]
        );
    }

    #[test]
    fn value_trimming_spaces_only() {
        let h = head(b"GET / HTTP/1.1\r\nHost: a\r\nX-A:   1  2   \r\nX-B: \t 1 2 \t \r\nX-C:\r\nX-D\r\n\r\n");
        let v: Vec<&[u8]> = h.headers.iter().map(|(_, v)| v).collect();
        assert_eq!(v, vec![&b"a"[..], b"1  2", b"\t 1 2 \t", b"", b""]);
    }

    #[test]
    fn invalid_and_underscore_headers() {
        let raw =
            b"GET / HTTP/1.1\r\nHost: a\r\nX_Under: 1\r\nX@A: 2\r\n\xffX: 3\r\nX-A: ok\r\n\r\n";
        let h = head(raw);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.ignored_headers, 3);
        let lim = Limits {
            underscores_in_headers: true,
            ..limits()
        };
        let (h, _) = complete(raw, &lim);
        assert_eq!(h.header(b"x_under"), Some(&b"1"[..]));
        assert_eq!(h.headers.len(), 3);
        let lim = Limits {
            ignore_invalid_headers: false,
            ..limits()
        };
        let (h, _) = complete(raw, &lim);
        assert_eq!(h.headers.len(), 5);
        assert_eq!(h.ignored_headers, 0);
        // an invalid "Hos_t" is not the Host header even when kept
        let (h, _) = complete(b"GET / HTTP/1.1\r\nHost: a\r\nHos_t: b\r\n\r\n", &lim);
        assert_eq!(h.host.as_deref(), Some(&b"a"[..]));
        // a dropped Content_Length does not frame the body
        assert_eq!(
            head(b"POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n").content_length,
            None
        );
    }

    #[test]
    fn framing_fields() {
        let h = head(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert!(h.chunked && h.content_length.is_none());
        let h = head(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
        assert_eq!(h.content_length, Some(7));
        let h = head(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        );
        assert!(h.expect_continue);
        let h = head(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.expect_continue);
        let h =
            head(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        assert!(h.upgrade && h.keep_alive);
    }

    #[test]
    fn host_normalisation() {
        for (host, want) in [
            (&b"EXAMPLE.com.:8080"[..], &b"example.com"[..]),
            (b"[::1]:80", b"[::1]"),
            (b"[::1", b"[::1"),
            (b".a", b".a"),
            (b"a\\b", b"a\\b"),
        ] {
            let mut raw = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            raw.extend_from_slice(host);
            raw.extend_from_slice(b"\r\n\r\n");
            assert_eq!(head(&raw).host.as_deref(), Some(want));
        }
        assert_eq!(validate_host(b"a.:1"), Some(1));
        assert_eq!(validate_host(b""), None);
        assert_eq!(validate_host(b"a..b"), None);
    }

    /// Whole lines read by the fast paths leave the parser where the byte-by-byte states
    /// leave it: the same result whole, byte by byte, and resumed after every split.
    #[test]
    fn fast_paths_match_byte_by_byte() {
        let heads: &[&[u8]] = &[
            b"GET /small HTTP/1.1\r\nHost: 127.0.0.1:18482\r\n\r\n",
            b"GET /chat HTTP/1.1\r\nHost: WS.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            b"POST /a?b=%20/../ HTTP/1.0\nContent-Length: 3\nX-A:   v  w  \nX-B:\t t\t\nX-C:   \nX-D:\n\nabc",
            b"GET /x HTTP/1.1\r\nHost: a\r\nX-Long-Header-Name-Here: 0123456789abcdef0123456789abcdef\r\nIf-None-Match: \"x\"\r\nIf-None-Match: \"y\"\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\r\nX_B: 2\r\nX-C: a\x00b\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\rX\r\n\r\n",
            b"GET /x HTTP/1.9\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /x HTTP/1.12\r\nHost: a\r\n\r\n",
            b"GET /x HTTP/1.1 \r\nHost: a\r\n\r\n",
            b"GET /a/../../b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET  /x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET /x HTTP/1.1\r\nhost: a:1\r\nconnection: close\r\nexpect: 100-continue\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: a\r\n X-A: folded\r\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n",
        ];
        for raw in heads {
            let whole = parse_head(raw, &limits());
            let name = String::from_utf8_lossy(raw);
            assert_eq!(bytewise(raw, &limits()), whole, "{name}");
            for k in 0..raw.len() {
                let mut p = HeadParser::new();
                let first = p.parse(raw.get(..k).unwrap_or_default(), &limits());
                if first.is_err() {
                    assert_eq!(first, whole, "{name} split at {k}");
                    continue;
                }
                assert_eq!(p.parse(raw, &limits()), whole, "{name} split at {k}");
            }
        }
    }

    #[test]
    fn head_bytes_copies_every_size() {
        for len in [0, 1, 127, 128, 129, 256, 257, 511, 512, 513, 4000] {
            let raw: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let b = head_bytes(&raw);
            assert_eq!(&b[..], &raw[..], "{len}");
            let part = b.slice(len / 2..);
            drop(b);
            assert_eq!(&part[..], raw.get(len / 2..).unwrap_or_default(), "{len}");
        }
    }

    /// The eight-bytes-at-a-time search finds what a byte-by-byte one finds, wherever
    /// the byte is and whatever follows it (a borrow must not hide or fake a hit).
    #[test]
    fn find_cr_lf_nul_is_position() {
        for len in 0..40 {
            for at in 0..len {
                for b in [CR, LF, 0, b' ', 0x01, 0x0e, 0xff] {
                    for after in [b'a', 0x00, 0x01, 0xff] {
                        let mut s = vec![after; len];
                        s.iter_mut().take(at).for_each(|c| *c = b'a');
                        if let Some(c) = s.get_mut(at) {
                            *c = b;
                        }
                        let want = s.iter().position(|&c| matches!(c, CR | LF | 0));
                        assert_eq!(find_cr_lf_nul(&s), want, "{s:?}");
                    }
                }
            }
        }
    }

    /// `validate_host` gives the length of what `normalize_host` returns, for every
    /// value of up to 5 bytes over the bytes that matter to it.
    #[test]
    fn host_length_is_normalize_host() {
        const ALPHABET: &[u8] = b".:[]/aB1 \x7f_";
        let checked = crate::http1::each_string(b"", ALPHABET, 5, |h| {
            let want = sluice_compiler::table::route::normalize_host(h)
                .ok()
                .map(|n| n.len());
            assert_eq!(validate_host(h), want, "{:?}", String::from_utf8_lossy(h));
        });
        assert!(checked > 100_000, "{checked}");
    }

    /// The by-length lookup finds exactly the names the parser acts on, in any case.
    #[test]
    fn known_header_names() {
        let mut names: Vec<Vec<u8>> = UNIQUE.iter().map(|u| u.to_vec()).collect();
        names.extend([
            b"host".to_vec(),
            b"connection".to_vec(),
            b"upgrade".to_vec(),
        ]);
        for n in &names {
            for name in [n.clone(), n.to_ascii_uppercase()] {
                let got = known_header(&name);
                let want = if n == b"host" {
                    matches!(got, Known::Host)
                } else if n == b"connection" {
                    matches!(got, Known::Connection)
                } else if n == b"upgrade" {
                    matches!(got, Known::Upgrade)
                } else {
                    matches!(got, Known::Unique(i) if UNIQUE.get(usize::from(i)) == Some(&&n[..]))
                };
                assert!(want, "{:?}", String::from_utf8_lossy(&name));
                let mut other = name.clone();
                other[0] ^= 0x01;
                assert!(matches!(known_header(&other), Known::Other));
            }
        }
        assert!(matches!(known_header(b"content-lengthx"), Known::Other));
        assert_eq!(
            UNIQUE.get(usize::from(UNIQUE_CONTENT_LENGTH)),
            Some(&&b"content-length"[..])
        );
        assert_eq!(
            UNIQUE.get(usize::from(UNIQUE_TRANSFER_ENCODING)),
            Some(&&b"transfer-encoding"[..])
        );
        assert_eq!(
            UNIQUE.get(usize::from(UNIQUE_EXPECT)),
            Some(&&b"expect"[..])
        );
    }

    #[test]
    fn error_reasons() {
        let r = |raw: &[u8]| error(raw, &limits()).reason;
        assert_eq!(r(b"get / HTTP/1.1\r\n"), "client sent invalid method");
        assert_eq!(r(b"GET /a b HTTP/1.1\r\n"), "client sent invalid request");
        assert_eq!(r(b"GET / HTTP/2.0\r\n"), "client sent invalid version");
        assert_eq!(
            r(b"POST /\r\n"),
            "client sent invalid method in HTTP/0.9 request"
        );
        assert_eq!(
            r(b"GET http://a..b/ HTTP/1.1\r\n"),
            "client sent invalid host in request line"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nX-A : 1\r\n"),
            "client sent invalid header line"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n"),
            "client sent duplicate host header"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nHost: a/b\r\n"),
            "client sent invalid host header"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nExpect: a\r\nExpect: a\r\n"),
            "client sent duplicate header line"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\n\r\n"),
            "client sent HTTP/1.1 request without \"Host\" header"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n"),
            "client sent invalid \"Content-Length\" header"
        );
        assert_eq!(
            r(b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "client sent HTTP/1.0 request with \"Transfer-Encoding\" header"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"
        );
        assert_eq!(
            r(b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
            "client sent unknown \"Transfer-Encoding\""
        );
        assert_eq!(
            r(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"),
            "client sent CONNECT method"
        );
    }

    #[test]
    fn errors_are_reported_before_the_head_ends() {
        // nginx answers as soon as the offending line is complete
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n"[..],
            b"GET / HTTP/1.1\r\nX-A: 1\x00",
            b"GET /a\x01",
            b"GET / HTTP/2",
            b"GET / HTTP/1.1\r\nHost: a\r\nIf-Match: 1\r\nIf-Match: 2\r\n",
        ] {
            assert!(
                parse_head(raw, &limits()).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n",
            b"TRACE / HTTP/1.1\r\nHost: a\r\n",
        ] {
            assert_eq!(parse_head(raw, &limits()), Ok(Parsed::Incomplete));
        }
    }

    #[test]
    fn parser_is_sticky_and_incremental() {
        let mut p = HeadParser::new();
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(p.parse(&raw[..10], &limits()), Ok(Parsed::Incomplete));
        let done = p.parse(raw, &limits());
        assert!(matches!(done, Ok(Parsed::Complete { consumed: 27, .. })));
        assert_eq!(p.parse(raw, &limits()), done);
        let mut p = HeadParser::new();
        let e = p.parse(b"get", &limits());
        assert!(e.is_err());
        assert_eq!(p.parse(b"get / HTTP/1.1\r\n", &limits()), e);
    }

    #[test]
    fn uri_check_sees_origin_form() {
        fn reject_b(uri: &[u8], merge: bool) -> bool {
            assert!(merge);
            uri != b"/b?x"
        }
        let lim = Limits {
            uri_check: Some(reject_b),
            ..Limits::default()
        };
        assert!(parse_head(b"GET http://h/b?x HTTP/1.1\r\n", &lim).is_err());
        assert!(parse_head(b"GET /b?x HTTP/1.1\r\n", &lim).is_err());
        assert_eq!(
            parse_head(b"GET /a HTTP/1.1\r\n", &lim),
            Ok(Parsed::Incomplete)
        );
    }
}
