//! Request-time lookups over the immutable table: URI normalisation (SEMANTICS §3.1),
//! host validation (§2.4), server selection by name (§2.3), location selection (§3.2,
//! §3.4).
//!
//! Everything here is built once at load; [`ServerNames::lookup`] and
//! [`LocationTree::find`] allocate nothing unless a regex matches (its captures).
//!
//! The code mirrors nginx 1.22.1 function by function: `ngx_http_parse_complex_uri()`,
//! `ngx_http_validate_host()`, `ngx_hash_add_key()` + `ngx_hash_find_combined()` +
//! `ngx_http_find_virtual_server()`, and `ngx_http_init_locations()` /
//! `ngx_http_create_locations_tree()` / `ngx_http_core_find_location()` /
//! `ngx_http_core_find_static_location()` (the location "tree" below is nginx's own
//! ternary tree, built the same way, so even odd configurations choose what nginx
//! chooses).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use pcre2::bytes::{Regex, RegexBuilder};

// ---------------------------------------------------------------------------------------
// URI
// ---------------------------------------------------------------------------------------

/// A normalised request URI (`$uri`) and the query (`$args`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedUri {
    /// Decoded path with `//` merged (if enabled), `.` and `..` resolved.
    pub path: Vec<u8>,
    /// The query string after the first raw `?`, up to a raw `#`, undecoded. `None` when
    /// there is no `?` or nothing follows it: nginx keeps no difference between the two
    /// (`r->args.len == 0`, `$is_args` empty, no `?` added to redirects or upstream URIs).
    pub args: Option<Vec<u8>>,
    /// Whether the path had `%` escapes (nginx's `r->quoted_uri`), which decides whether
    /// the URI is re-escaped when sent upstream with a URI part (§4.2).
    pub had_escapes: bool,
}

/// Why a URI is rejected (nginx answers 400 "client sent invalid request").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// `..` above the root, an encoded NUL, a malformed escape, a control character,
    /// space or DEL in the target, or a target not starting with `/`.
    Invalid,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum UriState {
    Usual,
    Slash,
    Dot,
    DotDot,
    Quoted,
    QuotedSecond,
}

/// The `usual[]` bitmap of `ngx_http_parse.c` (non-Win32): bytes copied without any
/// special meaning in `ngx_http_parse_complex_uri()`.
fn usual(c: u8) -> bool {
    const USUAL: [u32; 8] = [
        0x0000_0000,
        0x7fff_37d6,
        0xffff_ffff,
        0x7fff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    USUAL[usize::from(c >> 5)] & (1u32 << (c & 0x1f)) != 0
}

/// Normalises a raw request target in origin form (`/path?query#frag`) into `$uri` and
/// `$args` exactly as `ngx_http_parse_complex_uri()` does (SEMANTICS §3.1):
/// every `%XX` is decoded (including `%2F` and `%2E`, which then act as `/` and `.`;
/// `%25`, `%23` and `%3F` become a literal `%`, `#`, `?`), runs of `/` are merged when
/// `merge_slashes` is on, `.` segments are dropped and `..` climbs one segment (above the
/// root → error), `%00` is an error, a raw `#` ends the path, and the query starts at the
/// first raw `?` and ends at a raw `#`.
///
/// Also rejects what nginx's request-line parser rejects in a target: bytes below 0x20,
/// space and DEL anywhere. An empty target or one starting with `?` (the path of an
/// absolute-form target like `http://host?x`) gets the path `/`.
pub fn normalize_uri(raw: &[u8], merge_slashes: bool) -> Result<NormalizedUri, UriError> {
    if raw.iter().any(|&c| c <= 0x20 || c == 0x7f) {
        return Err(UriError::Invalid);
    }
    let mut u: Vec<u8> = Vec::with_capacity(raw.len() + 1);
    match raw.first() {
        None | Some(b'?') => u.push(b'/'), // r->empty_path_in_uri
        Some(b'/') => {}
        Some(_) => return Err(UriError::Invalid),
    }

    let mut state = UriState::Usual;
    let mut quoted_state = UriState::Usual;
    let mut decoded: u8 = 0;
    let mut had_escapes = false;
    let mut args_at: Option<usize> = None;
    // A decoded byte that is processed again in the state the escape started in.
    let mut pending: Option<u8> = None;
    let mut p = 0usize;

    loop {
        let ch = match pending.take() {
            Some(c) => c,
            None => match raw.get(p) {
                Some(&c) => {
                    p += 1;
                    c
                }
                None => break,
            },
        };
        match state {
            UriState::Usual => {
                if usual(ch) {
                    u.push(ch);
                    continue;
                }
                match ch {
                    b'/' => {
                        state = UriState::Slash;
                        u.push(ch);
                    }
                    b'%' => {
                        quoted_state = state;
                        state = UriState::Quoted;
                    }
                    b'?' => {
                        args_at = Some(p);
                        break;
                    }
                    b'#' => return Ok(finish_uri(u, None, had_escapes)),
                    _ => u.push(ch),
                }
            }
            UriState::Slash => {
                if usual(ch) {
                    state = UriState::Usual;
                    u.push(ch);
                    continue;
                }
                match ch {
                    b'/' => {
                        if !merge_slashes {
                            u.push(ch);
                        }
                    }
                    b'.' => {
                        state = UriState::Dot;
                        u.push(ch);
                    }
                    b'%' => {
                        quoted_state = state;
                        state = UriState::Quoted;
                    }
                    b'?' => {
                        args_at = Some(p);
                        break;
                    }
                    b'#' => return Ok(finish_uri(u, None, had_escapes)),
                    _ => {
                        state = UriState::Usual;
                        u.push(ch);
                    }
                }
            }
            UriState::Dot => {
                if usual(ch) {
                    state = UriState::Usual;
                    u.push(ch);
                    continue;
                }
                match ch {
                    b'/' => {
                        state = UriState::Slash;
                        u.pop();
                    }
                    b'.' => {
                        state = UriState::DotDot;
                        u.push(ch);
                    }
                    b'%' => {
                        quoted_state = state;
                        state = UriState::Quoted;
                    }
                    b'?' => {
                        u.pop();
                        args_at = Some(p);
                        break;
                    }
                    b'#' => {
                        u.pop();
                        return Ok(finish_uri(u, None, had_escapes));
                    }
                    _ => {
                        state = UriState::Usual;
                        u.push(ch);
                    }
                }
            }
            UriState::DotDot => {
                if usual(ch) {
                    state = UriState::Usual;
                    u.push(ch);
                    continue;
                }
                match ch {
                    b'/' | b'?' | b'#' => {
                        climb(&mut u)?;
                        if ch == b'?' {
                            args_at = Some(p);
                            break;
                        }
                        if ch == b'#' {
                            return Ok(finish_uri(u, None, had_escapes));
                        }
                        state = UriState::Slash;
                    }
                    b'%' => {
                        quoted_state = state;
                        state = UriState::Quoted;
                    }
                    _ => {
                        state = UriState::Usual;
                        u.push(ch);
                    }
                }
            }
            UriState::Quoted => {
                had_escapes = true;
                decoded = match ch {
                    b'0'..=b'9' => ch - b'0',
                    _ => match ch | 0x20 {
                        c @ b'a'..=b'f' => c - b'a' + 10,
                        _ => return Err(UriError::Invalid),
                    },
                };
                state = UriState::QuotedSecond;
            }
            UriState::QuotedSecond => {
                let c = match ch {
                    b'0'..=b'9' => {
                        let c = (decoded << 4) | (ch - b'0');
                        if c == b'%' || c == b'#' {
                            state = UriState::Usual;
                            u.push(c);
                            continue;
                        }
                        if c == 0 {
                            return Err(UriError::Invalid);
                        }
                        c
                    }
                    _ => match ch | 0x20 {
                        l @ b'a'..=b'f' => {
                            let c = (decoded << 4) | (l - b'a' + 10);
                            if c == b'?' {
                                state = UriState::Usual;
                                u.push(c);
                                continue;
                            }
                            c
                        }
                        _ => return Err(UriError::Invalid),
                    },
                };
                state = quoted_state;
                pending = Some(c);
            }
        }
    }

    if let Some(at) = args_at {
        // `args:` in nginx: the query runs up to a raw '#'.
        let rest = raw.get(at..).unwrap_or_default();
        let end = rest.iter().position(|&c| c == b'#').unwrap_or(rest.len());
        let args = rest.get(..end).unwrap_or_default();
        return Ok(finish_uri(u, Some(args), had_escapes));
    }

    match state {
        UriState::Quoted | UriState::QuotedSecond => return Err(UriError::Invalid),
        UriState::Dot => {
            u.pop();
        }
        UriState::DotDot => climb(&mut u)?,
        UriState::Usual | UriState::Slash => {}
    }
    Ok(finish_uri(u, None, had_escapes))
}

/// nginx's `u -= 4; for (;;) { ... }`: `u` ends with `/..`; drop it and the segment
/// before it, keeping that segment's leading `/`.
fn climb(u: &mut Vec<u8>) -> Result<(), UriError> {
    let start = u.len().checked_sub(4).ok_or(UriError::Invalid)?;
    let slash = u
        .get(..=start)
        .and_then(|s| s.iter().rposition(|&c| c == b'/'))
        .ok_or(UriError::Invalid)?;
    u.truncate(slash + 1);
    Ok(())
}

fn finish_uri(path: Vec<u8>, args: Option<&[u8]>, had_escapes: bool) -> NormalizedUri {
    NormalizedUri {
        path,
        args: args.filter(|a| !a.is_empty()).map(<[u8]>::to_vec),
        had_escapes,
    }
}

// ---------------------------------------------------------------------------------------
// Host
// ---------------------------------------------------------------------------------------

/// Why a host name is rejected (nginx answers 400 "client sent invalid host header").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// `..`, `/`, a control character, space or DEL anywhere in the value, or nothing
    /// left once the port and one trailing dot are removed.
    Invalid,
}

/// Validates and normalises a `Host` header value (or the host of an absolute-form
/// request target) as `ngx_http_validate_host()` does (SEMANTICS §2.4): the port is cut
/// at the first `:` (after a leading `[...]` IPv6 literal, kept with its brackets), one
/// trailing dot is dropped, ASCII letters are lowercased; `..` or `/` or a byte `<= 0x20`
/// or DEL anywhere in the value — the port part included — is an error, and so is an
/// empty result.
pub fn normalize_host(raw: &[u8]) -> Result<Vec<u8>, HostError> {
    #[derive(PartialEq)]
    enum S {
        Usual,
        Literal,
        Rest,
    }
    let mut state = S::Usual;
    let mut dot_pos: Option<usize> = None;
    let mut host_len = raw.len();
    for (i, &ch) in raw.iter().enumerate() {
        match ch {
            b'.' => {
                if i > 0 && dot_pos == Some(i - 1) {
                    return Err(HostError::Invalid);
                }
                dot_pos = Some(i);
            }
            b':' if state == S::Usual => {
                host_len = i;
                state = S::Rest;
            }
            b'[' if i == 0 => state = S::Literal,
            b']' if state == S::Literal => {
                host_len = i + 1;
                state = S::Rest;
            }
            b':' | b'[' | b']' => {}
            b'/' => return Err(HostError::Invalid),
            c if c <= 0x20 || c == 0x7f => return Err(HostError::Invalid),
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == Some(host_len - 1) {
        host_len -= 1;
    }
    if host_len == 0 {
        return Err(HostError::Invalid);
    }
    let mut h = raw.get(..host_len).unwrap_or_default().to_vec();
    h.make_ascii_lowercase();
    Ok(h)
}

// ---------------------------------------------------------------------------------------
// Captures
// ---------------------------------------------------------------------------------------

/// The captures of the last regex that matched (a regex `server_name` or a regex
/// location): byte spans into the string that was matched (the host, or `$uri`).
///
/// nginx resets `$1`…`$9` on **every** successful regex match (`r->ncaptures = rc * 2` in
/// `ngx_http_regex_exec()`), so a regex without groups yields captures with only group 0:
/// `$1` is then empty [confirmed on 1.22.1: `location ~ ^/grp/([a-z]+) { location ~
/// \.nogroup$ { return 200 $1; } }` answered an empty `$1` for `/grp/abc/q.nogroup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captures {
    spans: Vec<Option<(usize, usize)>>,
    names: Arc<[(String, usize)]>,
}

impl Captures {
    /// Matches `re` against `subject` (a `map` regex key, an `if` condition) and returns
    /// the captures, named ones included; `None` when it does not match or fails.
    pub fn match_regex(re: &Regex, subject: &[u8]) -> Option<Captures> {
        let mut locs = re.capture_locations();
        match re.captures_read(&mut locs, subject) {
            Ok(Some(_)) => {}
            _ => return None,
        }
        let names: Vec<(String, usize)> = re
            .capture_names()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (n.clone(), i)))
            .collect();
        Some(Captures {
            spans: (0..locs.len()).map(|i| locs.get(i)).collect(),
            names: names.into(),
        })
    }

    fn from_regex(
        re: &Regex,
        subject: &[u8],
        whole: (usize, usize),
        names: &Arc<[(String, usize)]>,
    ) -> Result<Captures, ()> {
        let spans = if re.captures_len() > 1 {
            let mut locs = re.capture_locations();
            match re.captures_read(&mut locs, subject) {
                Ok(Some(_)) => (0..locs.len()).map(|i| locs.get(i)).collect(),
                Ok(None) | Err(_) => return Err(()),
            }
        } else {
            vec![Some(whole)]
        };
        Ok(Captures {
            spans,
            names: Arc::clone(names),
        })
    }

    /// The span of group `i` (0 = the whole match); `None` when the group did not take
    /// part in the match or does not exist — nginx then substitutes an empty string.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        self.spans.get(i).copied().flatten()
    }

    /// The number of groups, group 0 included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no groups at all (never true for a real match).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The span of the named group `name` (`(?<name>...)`, `(?P<name>...)`).
    pub fn name(&self, name: &str) -> Option<(usize, usize)> {
        self.names
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|&(_, i)| self.get(i))
    }

    /// The named groups of the regex that matched, with their group numbers.
    pub fn names(&self) -> &[(String, usize)] {
        &self.names
    }
}

fn named_groups(re: &Regex) -> Arc<[(String, usize)]> {
    re.capture_names()
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.as_ref().map(|n| (n.clone(), i)))
        .collect::<Vec<_>>()
        .into()
}

/// Compiles a pattern the way `ngx_regex_compile()` does (no UTF mode; `caseless` =
/// `PCRE2_CASELESS`), JIT-compiled when available.
fn compile(pattern: &str, caseless: bool) -> Result<Regex, String> {
    RegexBuilder::new()
        .caseless(caseless)
        .jit_if_available(true)
        .build(pattern)
        .map_err(|e| {
            let shown = e.to_string();
            // "PCRE2: error compiling pattern at offset N: MESSAGE" → MESSAGE
            let msg = shown
                .split_once("pattern at offset ")
                .and_then(|(_, r)| r.split_once(": "))
                .map(|(_, m)| m.to_string())
                .or_else(|| shown.split_once("pattern: ").map(|(_, m)| m.to_string()))
                .unwrap_or(shown);
            let off = e.offset().unwrap_or(pattern.len());
            match pattern.get(off..) {
                Some(rest) if !rest.is_empty() => {
                    format!("pcre2_compile() failed: {msg} in \"{pattern}\" at \"{rest}\"")
                }
                _ => format!("pcre2_compile() failed: {msg} in \"{pattern}\""),
            }
        })
}

// ---------------------------------------------------------------------------------------
// A small fast hasher for the name tables (keys come from the configuration).
// ---------------------------------------------------------------------------------------

/// The hasher of the name and `map` tables: keys come from the configuration, and a
/// lookup hashes a short name in a few instructions.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHash;

/// The state of [`FastHash`].
pub struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(a)).wrapping_mul(SEED);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(SEED);
        }
        self.0 = h;
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(SEED);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

type Table<V> = HashMap<Box<[u8]>, V, FastHash>;

// ---------------------------------------------------------------------------------------
// Server names
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct HeadEntry {
    server: usize,
    /// `*.example.com` (does not match `example.com`) rather than `.example.com`.
    star_only: bool,
}

#[derive(Debug, Clone)]
struct RegexName {
    re: Regex,
    server: usize,
    names: Arc<[(String, usize)]>,
}

/// The `server_name` table of one listening address (`ngx_http_virtual_names_t`).
///
/// Lookup order (first hit wins, SEMANTICS §2.3): exact name → longest matching leading
/// wildcard (`*.example.com`, `.example.com`) → longest matching trailing wildcard
/// (`mail.*`) → first matching regex in configuration order. `None` means "the default
/// server of the address".
#[derive(Debug, Clone, Default)]
pub struct ServerNames {
    exact: Table<usize>,
    /// Keyed by the domain after `*.` or `.`.
    head: Table<HeadEntry>,
    /// Keyed by the part before `.*`.
    tail: Table<usize>,
    regex: Vec<RegexName>,
}

/// Collects the names of the servers of one address, in configuration order (servers in
/// order, each server's names in order), as `ngx_http_server_names()` adds them.
#[derive(Debug, Clone, Default)]
pub struct ServerNamesBuilder {
    names: ServerNames,
    /// nginx's `keys_hash`: exact names *and* the bare domain of every `.example.com`.
    exact_seen: HashSet<Box<[u8]>>,
}

impl ServerNamesBuilder {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one `server_name` value of `server` (the caller's index), exactly as written
    /// in the configuration: a regex keeps its `~` and its case (it is compiled caseless
    /// iff it contains an uppercase ASCII letter); other names are lowercased here.
    ///
    /// Returns `Ok(false)` when the name is ignored because it is already taken on this
    /// address, so the first server keeps it; nginx then warns `conflicting server name
    /// "NAME" on ADDR, ignored`. Besides the same name twice, `.x` conflicts with an
    /// earlier `x` or `*.x`, `*.x` with an earlier `.x`, and `x` with an earlier `.x` —
    /// even one that was itself ignored [confirmed on 1.22.1: `*.conf.test`,
    /// `.conf.test`, `conf.test` gave two warnings and `conf.test` reached the default
    /// server].
    ///
    /// Errors are nginx's messages: `invalid server name or wildcard "NAME"` (nginx
    /// appends ` on ADDR`; it only checks names when the address has more than one
    /// server), `empty regex in server name "~"`, or the `pcre2_compile() failed: …` text.
    pub fn add(&mut self, name: &str, server: usize) -> Result<bool, String> {
        if let Some(pattern) = name.strip_prefix('~') {
            if pattern.is_empty() {
                return Err(format!("empty regex in server name \"{name}\""));
            }
            let caseless = pattern.bytes().any(|c| c.is_ascii_uppercase());
            let re = compile(pattern, caseless)?;
            let names = named_groups(&re);
            self.names.regex.push(RegexName { re, server, names });
            return Ok(true);
        }
        let key = name.to_ascii_lowercase().into_bytes();
        let invalid = || format!("invalid server name or wildcard \"{name}\"");

        // ngx_hash_add_key(..., NGX_HASH_WILDCARD_KEY)
        let mut stars = 0;
        for (i, &c) in key.iter().enumerate() {
            if c == b'*' {
                stars += 1;
                if stars > 1 {
                    return Err(invalid());
                }
            }
            if c == b'.' && key.get(i + 1) == Some(&b'.') {
                return Err(invalid());
            }
            if c == 0 {
                return Err(invalid());
            }
        }
        let n = key.len();
        let names = &mut self.names;
        if n > 1 && key.first() == Some(&b'.') {
            // ".example.com": "example.com" in the exact conflict table, then a wildcard.
            let domain: Box<[u8]> = key.get(1..).unwrap_or_default().into();
            if !self.exact_seen.insert(domain.clone()) {
                return Ok(false);
            }
            return Ok(Self::claim(
                &mut names.head,
                domain,
                HeadEntry {
                    server,
                    star_only: false,
                },
            ));
        }
        if n > 2 && key.starts_with(b"*.") {
            let domain: Box<[u8]> = key.get(2..).unwrap_or_default().into();
            return Ok(Self::claim(
                &mut names.head,
                domain,
                HeadEntry {
                    server,
                    star_only: true,
                },
            ));
        }
        if n > 2 && key.ends_with(b".*") {
            let prefix: Box<[u8]> = key.get(..n - 2).unwrap_or_default().into();
            return Ok(Self::claim(&mut names.tail, prefix, server));
        }
        if stars > 0 {
            return Err(invalid());
        }
        let key: Box<[u8]> = key.into();
        if !self.exact_seen.insert(key.clone()) {
            return Ok(false);
        }
        names.exact.insert(key, server);
        Ok(true)
    }

    /// Inserts unless the key is taken (nginx's `NGX_BUSY`).
    fn claim<V>(table: &mut Table<V>, key: Box<[u8]>, value: V) -> bool {
        match table.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(value);
                true
            }
        }
    }

    /// The finished table.
    pub fn build(self) -> ServerNames {
        self.names
    }
}

impl ServerNames {
    /// Whether no name at all was added.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.head.is_empty()
            && self.tail.is_empty()
            && self.regex.is_empty()
    }

    /// The server for a host already normalised by [`normalize_host`] (or the empty
    /// name, for an HTTP/1.0 request without `Host`, which only matches a `""` name).
    /// With a regex match, its captures (spans into `host`). `None` → the address's
    /// default server.
    ///
    /// A regex execution error (a PCRE2 limit) counts as no match here; nginx answers 500.
    pub fn lookup(&self, host: &[u8]) -> Option<(usize, Option<Captures>)> {
        if let Some(&s) = self.exact.get(host) {
            return Some((s, None));
        }
        if host.is_empty() {
            return None;
        }
        if let Some(s) = self.find_head(host).or_else(|| self.find_tail(host)) {
            return Some((s, None));
        }
        for r in &self.regex {
            match r.re.find(host) {
                Ok(Some(m)) => {
                    let caps = Captures::from_regex(&r.re, host, (m.start(), m.end()), &r.names);
                    return Some((r.server, caps.ok()));
                }
                Ok(None) => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// `ngx_hash_find_wc_head()`: the longest domain `D` with `host == D` (only for
    /// `.D`) or `host` ending in `.D`.
    fn find_head(&self, host: &[u8]) -> Option<usize> {
        if self.head.is_empty() {
            return None;
        }
        if let Some(e) = self.head.get(host) {
            if !e.star_only {
                return Some(e.server);
            }
        }
        for (i, &c) in host.iter().enumerate() {
            if c == b'.' {
                if let Some(e) = self.head.get(host.get(i + 1..).unwrap_or_default()) {
                    return Some(e.server);
                }
            }
        }
        None
    }

    /// `ngx_hash_find_wc_tail()`: the longest `P` with `host` starting with `P.`.
    fn find_tail(&self, host: &[u8]) -> Option<usize> {
        if self.tail.is_empty() {
            return None;
        }
        for (i, &c) in host.iter().enumerate().rev() {
            if c == b'.' {
                if let Some(&s) = self.tail.get(host.get(..i).unwrap_or_default()) {
                    return Some(s);
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// Locations
// ---------------------------------------------------------------------------------------

/// The modifier of a `location`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    /// `location = /x`
    Exact,
    /// `location /x`
    Prefix,
    /// `location ^~ /x`: when it is the longest prefix, regexes of its level are skipped.
    PrefixNoRegex,
    /// `location ~ re` (`caseless: false`) or `location ~* re` (`caseless: true`).
    Regex {
        /// `~*`
        caseless: bool,
    },
    /// `location @name`: only reachable by name ([`LocationTree::named`]).
    Named,
}

/// One `location` as written, with its nested locations, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationDef {
    /// The modifier.
    pub kind: LocationKind,
    /// The URI (prefix/exact), the pattern without `~`/`~*` (regex), or `@name` (named).
    pub name: String,
    /// The caller's index for this location; returned by lookups.
    pub id: usize,
    /// nginx's `clcf->auto_redirect`: the name ends in `/` and the location has
    /// `proxy_pass` (or fastcgi/uwsgi/scgi/memcached/grpc_pass). nginx sets it for an
    /// exact location too (`location = /x/ { proxy_pass … }` redirects `/x`)
    /// [confirmed on 1.22.1]; it is meaningless for regex and named locations.
    pub auto_redirect: bool,
    /// The nested locations.
    pub children: Vec<LocationDef>,
}

/// The outcome of [`LocationTree::find`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationMatch {
    /// The location to use. `captures` is `Some` when a regex location matched on the way
    /// (the last one that did; its spans index the `$uri` passed in) and replaces any
    /// captures from a regex `server_name`; `None` leaves those in place.
    Found {
        /// The caller's id of the location.
        id: usize,
        /// The captures of the last regex location that matched.
        captures: Option<Captures>,
    },
    /// SEMANTICS §3.4: `$uri` is the name of an `auto_redirect` location minus its
    /// trailing `/`. nginx answers 301 with `Location:` the (URI-escaped) location name,
    /// plus `?` and the args when there are any. `id` is that location (its own checks,
    /// e.g. `internal` and `client_max_body_size`, apply first in nginx).
    Redirect {
        /// The caller's id of the location.
        id: usize,
    },
    /// No location matched: the server level itself handles the request.
    NotFound,
    /// A regex failed to execute (a PCRE2 limit): nginx answers 500.
    Error,
}

#[derive(Debug, Clone, Default)]
struct Level {
    /// Root of this level's static tree (exact and prefix locations).
    tree: Option<u32>,
    /// Regex locations of this level, in configuration order.
    regexes: Box<[u32]>,
}

#[derive(Debug, Clone)]
struct Loc {
    id: usize,
    noregex: bool,
    regex: Option<Regex>,
    names: Arc<[(String, usize)]>,
    children: Level,
}

/// `ngx_http_location_tree_node_t`.
#[derive(Debug, Clone)]
struct Node {
    /// The name minus the prefix already compared by the parent node: a range of
    /// `LocationTree::text`.
    name: (u32, u32),
    exact: Option<u32>,
    inclusive: Option<u32>,
    auto_redirect: bool,
    left: Option<u32>,
    right: Option<u32>,
    tree: Option<u32>,
}

/// The locations of one server, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct LocationTree {
    locs: Vec<Loc>,
    nodes: Vec<Node>,
    /// The node names, back to back.
    text: Vec<u8>,
    root: Level,
    named: HashMap<String, usize>,
    /// (caller id, index into `locs`), sorted by id.
    by_id: Vec<(usize, u32)>,
}

/// A static location while the tree is built (`ngx_http_location_queue_t`).
struct Static {
    name: Vec<u8>,
    exact: Option<u32>,
    inclusive: Option<u32>,
    auto_redirect: bool,
    list: Vec<Static>,
}

/// `ngx_filename_cmp()` on Linux: byte order, except that `/` is the lowest byte, and
/// a string sorts before its extensions [confirmed on 1.22.1: with `location /api/ {
/// proxy_pass …; }` next to `= /aa`, `/api-`, `/b-`, `/b/`, … `/api` was still
/// redirected, which plain byte order would not do].
fn filename_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let low = |c: u8| if c == b'/' { 0 } else { c };
    let order = a.len().cmp(&b.len());
    let n = a.len().min(b.len());
    let (a, b) = (
        a.get(..n).unwrap_or_default(),
        b.get(..n).unwrap_or_default(),
    );
    let mut i = 0;
    // Skip the common part eight bytes at a time (names often share long prefixes).
    while let (Some(x), Some(y)) = (a.get(i..i + 8), b.get(i..i + 8)) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            break;
        };
        if u64::from_ne_bytes(x) != u64::from_ne_bytes(y) {
            break;
        }
        i += 8;
    }
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(i)) {
        if x != y {
            return low(x).cmp(&low(y));
        }
        i += 1;
    }
    order
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rc {
    Ok,
    Done,
    Again,
    Declined,
}

struct Search {
    cur: Option<u32>,
    caps: Option<Captures>,
}

impl LocationTree {
    /// Builds the lookup structures of a server's locations (`defs` in configuration
    /// order). Errors: `duplicate location "NAME"` (nginx appends ` in FILE:LINE`), a
    /// regex that does not compile (`pcre2_compile() failed: …`).
    ///
    /// Named locations are registered from the server level only (nginx allows them
    /// nowhere else); the first of two with the same name wins.
    pub fn build(defs: &[LocationDef]) -> Result<LocationTree, String> {
        let mut t = LocationTree::default();
        t.root = t.level(defs, true)?;
        t.by_id.sort_unstable_by_key(|&(id, _)| id);
        Ok(t)
    }

    fn idx(n: usize) -> Result<u32, String> {
        u32::try_from(n).map_err(|_| "too many locations".to_string())
    }

    fn level(&mut self, defs: &[LocationDef], top: bool) -> Result<Level, String> {
        let mut statics: Vec<(Vec<u8>, bool, u32, bool)> = Vec::new();
        let mut regexes: Vec<u32> = Vec::new();
        for d in defs {
            let children = self.level(&d.children, false)?;
            let (regex, names) = match d.kind {
                LocationKind::Regex { caseless } => {
                    let re = compile(&d.name, caseless)?;
                    let names = named_groups(&re);
                    (Some(re), names)
                }
                _ => (None, Arc::from(Vec::new())),
            };
            let li = Self::idx(self.locs.len())?;
            self.locs.push(Loc {
                id: d.id,
                noregex: d.kind == LocationKind::PrefixNoRegex,
                regex,
                names,
                children,
            });
            self.by_id.push((d.id, li));
            match d.kind {
                LocationKind::Exact => {
                    statics.push((d.name.as_bytes().to_vec(), true, li, d.auto_redirect))
                }
                LocationKind::Prefix | LocationKind::PrefixNoRegex => {
                    statics.push((d.name.as_bytes().to_vec(), false, li, d.auto_redirect))
                }
                LocationKind::Regex { .. } => regexes.push(li),
                LocationKind::Named => {
                    if top {
                        self.named.entry(d.name.clone()).or_insert(d.id);
                    }
                }
            }
        }

        // ngx_http_cmp_locations(): ngx_filename_cmp() order, "=" before the same prefix.
        statics.sort_by(|a, b| filename_cmp(&a.0, &b.0).then(b.1.cmp(&a.1)));

        // ngx_http_join_exact_locations()
        let mut joined: Vec<Static> = Vec::with_capacity(statics.len());
        for (name, exact, li, auto) in statics {
            if let Some(last) = joined.last_mut() {
                if last.name == name {
                    if (exact && last.exact.is_some()) || (!exact && last.inclusive.is_some()) {
                        return Err(format!(
                            "duplicate location \"{}\"",
                            String::from_utf8_lossy(&name)
                        ));
                    }
                    last.inclusive = Some(li);
                    last.auto_redirect |= auto;
                    continue;
                }
            }
            joined.push(Static {
                name,
                exact: exact.then_some(li),
                inclusive: (!exact).then_some(li),
                auto_redirect: auto,
                list: Vec::new(),
            });
        }

        let list = Self::nest(joined);
        let tree = self.tree(&list, 0)?;
        Ok(Level {
            tree,
            regexes: regexes.into(),
        })
    }

    /// `ngx_http_create_locations_list()`: every location whose name starts with the
    /// name of a preceding prefix location moves into that location's list.
    fn nest(sorted: Vec<Static>) -> Vec<Static> {
        let mut out: Vec<Static> = Vec::with_capacity(sorted.len());
        let mut it = sorted.into_iter().peekable();
        while let Some(mut s) = it.next() {
            if s.inclusive.is_some() {
                let mut sub = Vec::new();
                while let Some(next) = it.peek() {
                    if !next.name.starts_with(&s.name) {
                        break;
                    }
                    if let Some(next) = it.next() {
                        sub.push(next);
                    }
                }
                s.list = Self::nest(sub);
            }
            out.push(s);
        }
        out
    }

    /// `ngx_http_create_locations_tree()`: the middle element is the node, the halves
    /// its left and right subtrees, its list the `tree` subtree (names relative to it).
    fn tree(&mut self, list: &[Static], prefix: usize) -> Result<Option<u32>, String> {
        if list.is_empty() {
            return Ok(None);
        }
        let mid = list.len() / 2;
        let Some(s) = list.get(mid) else {
            return Ok(None);
        };
        let at = Self::idx(self.nodes.len())?;
        let from = Self::idx(self.text.len())?;
        self.text
            .extend_from_slice(s.name.get(prefix..).unwrap_or_default());
        let to = Self::idx(self.text.len())?;
        self.nodes.push(Node {
            name: (from, to),
            exact: s.exact,
            inclusive: s.inclusive,
            auto_redirect: s.auto_redirect,
            left: None,
            right: None,
            tree: None,
        });
        let left = self.tree(list.get(..mid).unwrap_or_default(), prefix)?;
        let right = self.tree(list.get(mid + 1..).unwrap_or_default(), prefix)?;
        let tree = self.tree(&s.list, s.name.len())?;
        if let Some(n) = self.nodes.get_mut(at as usize) {
            n.left = left;
            n.right = right;
            n.tree = tree;
        }
        Ok(Some(at))
    }

    /// The location for `$uri` (the normalised path, SEMANTICS §3.2): exact match → stop;
    /// else the longest prefix, then its nested locations, then (unless the prefix is
    /// `^~` or the nested search ended on an exact or regex match) this level's regexes
    /// in order, a matching regex's nested locations being searched in turn; and the
    /// §3.4 redirect, which pre-empts regexes.
    pub fn find(&self, uri: &[u8]) -> LocationMatch {
        let mut st = Search {
            cur: None,
            caps: None,
        };
        let rc = match self.find_location(&self.root, uri, &mut st) {
            Ok(rc) => rc,
            Err(()) => return LocationMatch::Error,
        };
        let Some(loc) = st.cur.and_then(|i| self.locs.get(i as usize)) else {
            return LocationMatch::NotFound;
        };
        if rc == Rc::Done {
            return LocationMatch::Redirect { id: loc.id };
        }
        LocationMatch::Found {
            id: loc.id,
            captures: st.caps,
        }
    }

    /// `ngx_http_core_find_location()`.
    fn find_location(&self, level: &Level, uri: &[u8], st: &mut Search) -> Result<Rc, ()> {
        let mut rc = self.find_static(level.tree, uri, st);
        let mut noregex = false;
        if rc == Rc::Again {
            let Some(loc) = st.cur.and_then(|i| self.locs.get(i as usize)) else {
                return Ok(rc);
            };
            noregex = loc.noregex;
            rc = self.find_location(&loc.children, uri, st)?;
        }
        if rc == Rc::Ok || rc == Rc::Done {
            return Ok(rc);
        }
        if !noregex {
            for &ri in level.regexes.iter() {
                let Some(loc) = self.locs.get(ri as usize) else {
                    continue;
                };
                let Some(re) = &loc.regex else {
                    continue;
                };
                match re.find(uri) {
                    Ok(Some(m)) => {
                        st.caps = Some(Captures::from_regex(
                            re,
                            uri,
                            (m.start(), m.end()),
                            &loc.names,
                        )?);
                        st.cur = Some(ri);
                        self.find_location(&loc.children, uri, st)?;
                        return Ok(Rc::Ok);
                    }
                    Ok(None) => continue,
                    Err(_) => return Err(()),
                }
            }
        }
        Ok(rc)
    }

    /// `ngx_http_core_find_static_location()`.
    fn find_static(&self, mut node: Option<u32>, uri: &[u8], st: &mut Search) -> Rc {
        let mut uri = uri;
        let mut rv = Rc::Declined;
        loop {
            let Some(n) = node.and_then(|i| self.nodes.get(i as usize)) else {
                return rv;
            };
            let name = self
                .text
                .get(n.name.0 as usize..n.name.1 as usize)
                .unwrap_or_default();
            let len = uri.len();
            let nlen = name.len();
            let m = len.min(nlen);
            match filename_cmp(
                uri.get(..m).unwrap_or_default(),
                name.get(..m).unwrap_or_default(),
            ) {
                std::cmp::Ordering::Less => {
                    node = n.left;
                    continue;
                }
                std::cmp::Ordering::Greater => {
                    node = n.right;
                    continue;
                }
                std::cmp::Ordering::Equal => {}
            }
            if len > nlen {
                if n.inclusive.is_some() {
                    st.cur = n.inclusive;
                    rv = Rc::Again;
                    node = n.tree;
                    uri = uri.get(m..).unwrap_or_default();
                    continue;
                }
                // exact only
                node = n.right;
                continue;
            }
            if len == nlen {
                if n.exact.is_some() {
                    st.cur = n.exact;
                    return Rc::Ok;
                }
                st.cur = n.inclusive;
                return Rc::Again;
            }
            // len < nlen
            if len + 1 == nlen && n.auto_redirect {
                st.cur = n.exact.or(n.inclusive);
                rv = Rc::Done;
            }
            node = n.left;
        }
    }

    /// The id of the named location `name` (`@name`, with the `@`), for `try_files` and
    /// `error_page` (`ngx_http_named_location()`).
    pub fn named(&self, name: &str) -> Option<usize> {
        self.named.get(name).copied()
    }

    /// The named groups of the regex of location `id`, with their group numbers (empty
    /// for other locations and unknown ids).
    pub fn capture_names(&self, id: usize) -> &[(String, usize)] {
        self.by_id
            .binary_search_by_key(&id, |&(i, _)| i)
            .ok()
            .and_then(|k| self.by_id.get(k))
            .and_then(|&(_, li)| self.locs.get(li as usize))
            .map_or(&[], |l| &l.names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- helpers -------------------------------------------------------------------

    fn uri(raw: &str) -> Result<String, UriError> {
        uri_m(raw, true)
    }

    fn uri_m(raw: &str, merge: bool) -> Result<String, UriError> {
        normalize_uri(raw.as_bytes(), merge).map(|u| String::from_utf8_lossy(&u.path).into_owned())
    }

    fn args(raw: &str) -> Option<String> {
        normalize_uri(raw.as_bytes(), true)
            .ok()
            .and_then(|u| u.args)
            .map(|a| String::from_utf8_lossy(&a).into_owned())
    }

    fn host(raw: &str) -> Result<String, HostError> {
        normalize_host(raw.as_bytes()).map(|h| String::from_utf8_lossy(&h).into_owned())
    }

    fn def(kind: LocationKind, name: &str, id: usize, children: Vec<LocationDef>) -> LocationDef {
        LocationDef {
            kind,
            name: name.to_string(),
            id,
            auto_redirect: false,
            children,
        }
    }
    fn pre(name: &str, id: usize) -> LocationDef {
        def(LocationKind::Prefix, name, id, vec![])
    }
    fn pre_in(name: &str, id: usize, children: Vec<LocationDef>) -> LocationDef {
        def(LocationKind::Prefix, name, id, children)
    }
    fn exact(name: &str, id: usize) -> LocationDef {
        def(LocationKind::Exact, name, id, vec![])
    }
    fn noregex(name: &str, id: usize) -> LocationDef {
        def(LocationKind::PrefixNoRegex, name, id, vec![])
    }
    fn re(pattern: &str, id: usize) -> LocationDef {
        def(LocationKind::Regex { caseless: false }, pattern, id, vec![])
    }
    fn re_in(pattern: &str, id: usize, children: Vec<LocationDef>) -> LocationDef {
        def(
            LocationKind::Regex { caseless: false },
            pattern,
            id,
            children,
        )
    }
    fn rei(pattern: &str, id: usize) -> LocationDef {
        def(LocationKind::Regex { caseless: true }, pattern, id, vec![])
    }
    fn proxied(mut d: LocationDef) -> LocationDef {
        d.auto_redirect = d.name.ends_with('/');
        d
    }

    fn tree(defs: Vec<LocationDef>) -> LocationTree {
        match LocationTree::build(&defs) {
            Ok(t) => t,
            Err(e) => panic!("build failed: {e}"),
        }
    }

    /// The chosen id; `None` for `NotFound`; redirects are `1000 + id`.
    fn pick(t: &LocationTree, u: &str) -> Option<usize> {
        match t.find(u.as_bytes()) {
            LocationMatch::Found { id, .. } => Some(id),
            LocationMatch::Redirect { id } => Some(1000 + id),
            LocationMatch::NotFound => None,
            LocationMatch::Error => panic!("regex error on {u}"),
        }
    }

    fn caps(t: &LocationTree, u: &str) -> Option<Captures> {
        match t.find(u.as_bytes()) {
            LocationMatch::Found { captures, .. } => captures,
            other => panic!("{u}: {other:?}"),
        }
    }

    fn text(s: &[u8], span: Option<(usize, usize)>) -> &str {
        span.and_then(|(a, b)| s.get(a..b))
            .map(|b| std::str::from_utf8(b).unwrap_or("<bin>"))
            .unwrap_or("")
    }

    fn names(list: &[(&str, usize)]) -> ServerNames {
        let mut b = ServerNamesBuilder::new();
        for &(n, s) in list {
            if let Err(e) = b.add(n, s) {
                panic!("{n}: {e}");
            }
        }
        b.build()
    }

    fn server(n: &ServerNames, h: &str) -> Option<usize> {
        n.lookup(h.as_bytes()).map(|(s, _)| s)
    }

    // ---- §3.1 URI normalisation ---------------------------------------------------

    #[test]
    fn uri_table_3_1() {
        assert_eq!(uri("/a//b"), Ok("/a/b".into()));
        assert_eq!(uri("/a/./b"), Ok("/a/b".into()));
        assert_eq!(uri("/a/b/../c"), Ok("/a/c".into()));
        assert_eq!(uri("/a/.."), Ok("/".into()));
        assert_eq!(uri("/../x"), Err(UriError::Invalid));
        assert_eq!(uri("/%64ocuments/"), Ok("/documents/".into()));
        assert_eq!(uri("/documents/%2E%2E/images/x"), Ok("/images/x".into()));
        assert_eq!(uri("/a%2Fb"), Ok("/a/b".into()));
        assert_eq!(uri("/a/%00"), Err(UriError::Invalid));
        assert_eq!(uri("/a#frag"), Ok("/a".into()));
        assert_eq!(uri("/a%23frag"), Ok("/a#frag".into()));
    }

    /// Each row was checked on nginx 1.22.1 (`return 200 "$uri|$args|$is_args"`) with raw
    /// request lines.
    #[test]
    fn uri_more_confirmed_live() {
        for (raw, want) in [
            ("/a%3Fb?c", Ok("/a?b")),
            ("/a/..%3F", Ok("/a/..?")), // a decoded '?' is a plain byte: no climbing
            ("/a/b/..%2F", Ok("/a/")),
            ("/a/b/%2e%2e", Ok("/a/")),
            ("/a/b/%2e%2E/", Ok("/a/")),
            ("/a/.%2e/x", Ok("/x")),
            ("//a///b//", Ok("/a/b/")),
            ("/a/.", Ok("/a/")),
            ("/a/./", Ok("/a/")),
            ("/..", Err(UriError::Invalid)),
            ("/a/b/..?q", Ok("/a/")),
            ("/a/b/.#x", Ok("/a/b/")),
            ("/a/%2F%2Fb", Ok("/a/b")),
            ("/a%", Err(UriError::Invalid)),
            ("/a%4", Err(UriError::Invalid)),
            ("/a%4g", Err(UriError::Invalid)),
            ("/a%zz", Err(UriError::Invalid)),
            ("/%25", Ok("/%")),
            ("/a%0a", Ok("/a\n")),
            ("/a%20b", Ok("/a b")),
            ("/a+b", Ok("/a+b")),
            ("/a%2B", Ok("/a+")),
            ("/a/.../b", Ok("/a/.../b")),
            ("/a/..b/", Ok("/a/..b/")),
            ("/a/b/...", Ok("/a/b/...")),
            ("/a//..", Ok("/")),
            ("/a/b//..//c", Ok("/a/c")),
            ("/%2e%2e/x", Err(UriError::Invalid)),
            ("/a%00b", Err(UriError::Invalid)),
            ("/\u{e9}", Ok("/\u{e9}")),
            ("/a\u{1}", Err(UriError::Invalid)),
        ] {
            assert_eq!(uri(raw), want.map(String::from), "{raw:?}");
        }
    }

    #[test]
    fn uri_args_confirmed_live() {
        assert_eq!(args("/a"), None);
        assert_eq!(args("/a?"), None); // $is_args was empty
        assert_eq!(args("/a?x=1#frag"), Some("x=1".into()));
        assert_eq!(args("/a?x=%41"), Some("x=%41".into()));
        assert_eq!(args("/a#b?c"), None);
        assert_eq!(args("/a%3Fb?c"), Some("c".into()));
        assert_eq!(args("/a?b?c"), Some("b?c".into()));
        assert_eq!(args("/a?#"), None);
        assert_eq!(args("/a/b/..?q"), Some("q".into()));
        assert_eq!(uri("/a?b/../c"), Ok("/a".into()));
    }

    #[test]
    fn uri_escapes_flag_and_edges() {
        let e = |raw: &str| normalize_uri(raw.as_bytes(), true).map(|u| u.had_escapes);
        assert_eq!(e("/a"), Ok(false));
        assert_eq!(e("/a%41"), Ok(true));
        assert_eq!(e("/a?x=%41"), Ok(false));
        assert_eq!(e("/a#%41"), Ok(false));
        assert_eq!(e("/%2F"), Ok(true));
        // request-line rules: no controls, space or DEL; origin form only
        assert_eq!(uri("/a b"), Err(UriError::Invalid));
        assert_eq!(uri("/a?b c"), Err(UriError::Invalid));
        assert_eq!(uri("/a\u{7f}"), Err(UriError::Invalid));
        assert_eq!(uri("a/b"), Err(UriError::Invalid));
        assert_eq!(uri("*"), Err(UriError::Invalid));
        // the path of an absolute-form target without one
        assert_eq!(uri(""), Ok("/".into()));
        assert_eq!(uri("?x=1"), Ok("/".into()));
        assert_eq!(args("?x=1"), Some("x=1".into()));
        // bytes >= 0x80, raw or escaped, are kept
        assert_eq!(
            normalize_uri(b"/\xff%FE", true).map(|u| u.path),
            Ok(b"/\xff\xfe".to_vec())
        );
    }

    /// `merge_slashes off`, checked on nginx 1.22.1.
    #[test]
    fn uri_merge_slashes_off_confirmed_live() {
        assert_eq!(uri_m("/a//b", false), Ok("/a//b".into()));
        assert_eq!(uri_m("//a", false), Ok("//a".into()));
        assert_eq!(uri_m("/a//..", false), Ok("/a/".into()));
        assert_eq!(uri_m("/a//../b", false), Ok("/a/b".into()));
        assert_eq!(uri_m("//..", false), Ok("/".into()));
        assert_eq!(uri_m("///", false), Ok("///".into()));
        assert_eq!(uri_m("/a/b//../c", false), Ok("/a/b/c".into()));
    }

    // ---- §2.4 host ------------------------------------------------------------------

    #[test]
    fn host_normalisation() {
        assert_eq!(host("EXAMPLE.com."), Ok("example.com".into()));
        assert_eq!(host("Example.COM:8080"), Ok("example.com".into()));
        assert_eq!(
            host("exact.example.com.:80"),
            Ok("exact.example.com".into())
        );
        assert_eq!(host("[::1]:80"), Ok("[::1]".into()));
        assert_eq!(host("[::1]"), Ok("[::1]".into()));
        assert_eq!(host(".dot.test"), Ok(".dot.test".into()));
        assert_eq!(host("x.dot.test:abc"), Ok("x.dot.test".into())); // port not checked
        assert_eq!(host("h\u{e9}.test"), Ok("h\u{e9}.test".into()));
        for bad in [
            "",
            ".",
            ":80",
            "a/b",
            "a..b",
            "a. b",
            "a\u{1}b",
            "a\u{7f}",
            "a b",
            "ex.test..",
            // the rules apply to the port part too [confirmed live]
            "a.b:1..2",
            "x.dot.test:8/0",
        ] {
            assert_eq!(host(bad), Err(HostError::Invalid), "{bad:?}");
        }
    }

    // ---- §2.3 server names ---------------------------------------------------------

    #[test]
    fn server_name_order_confirmed() {
        let n = names(&[
            ("*.example.com", 1),
            ("mail.*", 2),
            ("~^.*\\.example\\.com$", 3),
            (".dot.test", 4),
            ("exact.example.com", 5),
        ]);
        assert_eq!(server(&n, "mail.example.com"), Some(1)); // leading beats trailing
        assert_eq!(server(&n, "a.b.example.com"), Some(1)); // several labels
        assert_eq!(server(&n, "x.example.com"), Some(1)); // leading beats regex
        assert_eq!(server(&n, "exact.example.com"), Some(5)); // exact first
        assert_eq!(server(&n, "example.com"), None); // *.x does not match x
        assert_eq!(server(&n, "x.dot.test"), Some(4));
        assert_eq!(server(&n, "dot.test"), Some(4));
        assert_eq!(server(&n, "a.b.dot.test"), Some(4));
        assert_eq!(server(&n, ".dot.test"), Some(4));
        assert_eq!(server(&n, "mail.other"), Some(2));
        assert_eq!(server(&n, "mail"), None); // mail.* needs one more label
        assert_eq!(server(&n, "nomatch"), None);
    }

    /// Checked on nginx 1.22.1 (one address, the names in this order).
    #[test]
    fn server_name_longest_wildcards_confirmed_live() {
        let n = names(&[
            ("www.*", 1),
            ("www.long.*", 2),
            ("*.b.test", 3),
            ("*.a.b.test", 4),
            ("~^.*\\.other\\.com$", 5),
        ]);
        assert_eq!(server(&n, "www.long.x"), Some(2));
        assert_eq!(server(&n, "www.long"), Some(1));
        assert_eq!(server(&n, "www.x.y"), Some(1));
        assert_eq!(server(&n, "www"), None);
        assert_eq!(server(&n, "x.a.b.test"), Some(4));
        assert_eq!(server(&n, "a.b.test"), Some(3));
        assert_eq!(server(&n, "b.test"), None);
        assert_eq!(server(&n, "x.other.com"), Some(5));
    }

    /// `*.conf.test`, `.conf.test`, `conf.test` on three servers: nginx warns twice and
    /// `conf.test` goes to the default server, because the ignored `.conf.test` had
    /// already claimed the exact name [confirmed on 1.22.1].
    #[test]
    fn server_name_conflicts_confirmed_live() {
        let n = names(&[
            ("*.conf.test", 1),
            (".conf.test", 2),
            ("conf.test", 3),
            ("ex.test", 4),
            ("ex.test", 5),
            ("EX.test", 6),
        ]);
        assert_eq!(server(&n, "conf.test"), None);
        let mut b = ServerNamesBuilder::new();
        let added: Vec<bool> = [
            "*.conf.test",
            ".conf.test",
            "conf.test",
            "ex.test",
            "ex.test",
            "EX.test",
        ]
        .iter()
        .enumerate()
        .map(|(i, n)| b.add(n, i) == Ok(true))
        .collect();
        assert_eq!(added, [true, false, false, true, false, false]);
        assert_eq!(server(&n, "x.conf.test"), Some(1));
        assert_eq!(server(&n, "ex.test"), Some(4)); // the first server keeps it
                                                    // exact "x" and "*.x" coexist; ".x" after "x" is dropped whole
        let n = names(&[
            ("s.test", 1),
            ("*.s.test", 2),
            (".s.test", 3),
            ("t.test", 4),
            (".t.test", 5),
            ("", 6),
            ("~.*", 7),
        ]);
        assert_eq!(server(&n, "s.test"), Some(1));
        assert_eq!(server(&n, "a.s.test"), Some(2));
        assert_eq!(server(&n, "t.test"), Some(4));
        assert_eq!(server(&n, "a.t.test"), Some(7)); // the regex: `.t.test` is gone
        assert_eq!(server(&n, ""), Some(6)); // HTTP/1.0 without Host
    }

    #[test]
    fn server_name_regex_captures_and_case() {
        let n = names(&[
            ("~^(?<sub>.+)\\.regex\\.test$", 1),
            ("~^(?<x>[a-z]+)\\.Upper\\.test$", 2),
            ("~^(?<x>[a-z]+)\\.lower\\.test$", 3),
            ("~^(a)(b)?c\\.opt\\.test$", 4),
            ("~^nogroup\\.test$", 5),
        ]);
        let h = b"abc.regex.test";
        let Some((1, Some(c))) = n.lookup(h) else {
            panic!("no regex match")
        };
        assert_eq!(text(h, c.name("sub")), "abc"); // $sub [confirmed]
        assert_eq!(text(h, c.get(1)), "abc");
        assert_eq!(text(h, c.get(0)), "abc.regex.test");
        assert_eq!(c.names(), &[("sub".to_string(), 1)]);
        // an uppercase letter makes the regex caseless; hosts are lowercase [confirmed]
        assert_eq!(server(&n, "a.upper.test"), Some(2));
        assert_eq!(server(&n, "a.lower.test"), Some(3));
        // an unset group is empty, later ones still set [confirmed: 1=[a] 2=[] / 2=[b]]
        let h = b"ac.opt.test";
        let Some((4, Some(c))) = n.lookup(h) else {
            panic!("no match")
        };
        assert_eq!((text(h, c.get(1)), c.get(2)), ("a", None));
        let Some((5, Some(c))) = n.lookup(b"nogroup.test") else {
            panic!("no match")
        };
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn server_name_empty_and_errors() {
        // "" (servers without server_name) only matches the empty host
        let n = names(&[("", 7), ("~.*", 8), ("*.x.test", 9)]);
        assert_eq!(server(&n, ""), Some(7));
        assert_eq!(server(&n, "anything"), Some(8));
        let n = names(&[("~.*", 8)]);
        assert_eq!(server(&n, ""), None); // regexes never see an empty host
        let mut b = ServerNamesBuilder::new();
        assert_eq!(
            b.add("w*.x", 1),
            Err("invalid server name or wildcard \"w*.x\"".to_string())
        );
        assert!(b.add("*.*.x", 1).is_err());
        assert!(b.add("a..b", 1).is_err());
        assert!(b.add("~", 1).is_err());
        assert!(b.add("~(", 1).is_err());
        assert_eq!(b.add("_", 1), Ok(true));
        assert!(b.build().lookup(b"_").is_some());
    }

    // ---- §3.2 locations ---------------------------------------------------------

    /// The exact set of SEMANTICS §3.2, confirmed again on nginx 1.22.1.
    fn semantics_3_2() -> LocationTree {
        tree(vec![
            exact("/", 1),
            pre("/", 2),
            pre("/documents/", 3),
            noregex("/images/", 4),
            rei("\\.(gif|jpg|jpeg)$", 5),
            re("\\.JPG$", 6),
            pre_in(
                "/outer/",
                7,
                vec![pre("/outer/inner/", 8), re("\\.php$", 9)],
            ),
            re("^/outer/x", 10),
        ])
    }

    #[test]
    fn locations_table_3_2() {
        let t = semantics_3_2();
        assert_eq!(pick(&t, "/"), Some(1));
        assert_eq!(pick(&t, "/index.html"), Some(2));
        assert_eq!(pick(&t, "/documents/a.jpg"), Some(5));
        assert_eq!(pick(&t, "/images/a.jpg"), Some(4));
        assert_eq!(pick(&t, "/x/a.JPG"), Some(5));
        assert_eq!(pick(&t, "/outer/inner/a.php"), Some(9));
        assert_eq!(pick(&t, "/outer/x.php"), Some(9));
        assert_eq!(pick(&t, "/outer/xyz"), Some(10));
        assert_eq!(pick(&t, "/documents"), Some(2));
        // and a few more around it
        assert_eq!(pick(&t, "/documents/x"), Some(3));
        assert_eq!(pick(&t, "/outer/inner/b"), Some(8));
        assert_eq!(pick(&t, "/outer/"), Some(7));
    }

    #[test]
    fn exact_stops_everything_and_noregex_stops_regexes() {
        let t = tree(vec![
            exact("/x.php", 1),
            noregex("/static/", 2),
            re("\\.php$", 3),
            pre_in("/p/", 4, vec![re("\\.php$", 5)]),
            exact("/p/a.php", 6),
        ]);
        assert_eq!(pick(&t, "/x.php"), Some(1));
        assert_eq!(pick(&t, "/y.php"), Some(3));
        assert_eq!(pick(&t, "/static/a.php"), Some(2));
        assert_eq!(pick(&t, "/p/a.php"), Some(6)); // exact before the nested regex
        assert_eq!(pick(&t, "/p/b.php"), Some(5));
        assert_eq!(pick(&t, "/nothing"), None);
    }

    #[test]
    fn prefix_is_case_sensitive() {
        let t = tree(vec![pre("/", 1), pre("/case/", 2)]);
        assert_eq!(pick(&t, "/case/"), Some(2));
        assert_eq!(pick(&t, "/Case/"), Some(1));
        let t = tree(vec![pre("/Case/", 2)]);
        assert_eq!(pick(&t, "/case/"), None);
    }

    /// A URI equal to a prefix location's name still goes through regexes (only `=`
    /// stops): `location /exact-len` lost to `location ~ exact-len` for `/exact-len`
    /// [confirmed on 1.22.1].
    #[test]
    fn prefix_equal_to_uri_still_tries_regexes_confirmed_live() {
        let t = tree(vec![pre("/", 1), pre("/exact-len", 2), re("exact-len", 3)]);
        assert_eq!(pick(&t, "/exact-len"), Some(3));
        assert_eq!(pick(&t, "/exact-lenx"), Some(3));
    }

    /// A nested `^~` only skips the regexes of its own level: `/n/b/x` reached the
    /// top-level `~ /n/b/x` through `location /n/ { location ^~ /n/b/ {} }`
    /// [confirmed on 1.22.1].
    #[test]
    fn nested_noregex_does_not_stop_outer_regexes_confirmed_live() {
        let t = tree(vec![
            pre("/", 1),
            pre_in("/n/", 2, vec![noregex("/n/b/", 3), re("x$", 4)]),
            re("/n/b/x", 5),
        ]);
        assert_eq!(pick(&t, "/n/b/x"), Some(5));
        assert_eq!(pick(&t, "/n/b/y"), Some(3));
        assert_eq!(pick(&t, "/n/x"), Some(4));
        assert_eq!(pick(&t, "/n/"), Some(2));
    }

    /// Prefix locations of one level nest among themselves for the search, but the
    /// nested search uses the configuration children of the longest one [confirmed on
    /// 1.22.1: `/pfx/a/b/x` → `/pfx/a/`, `/pfx/a/b` → `= /pfx/a/b`, `/pfx/a/b/c` → the
    /// top-level `/pfx/a/b/c`].
    #[test]
    fn nested_prefixes_confirmed_live() {
        let t = tree(vec![
            pre("/", 1),
            pre_in("/pfx/", 2, vec![pre("/pfx/a/", 3), exact("/pfx/a/b", 4)]),
            pre("/pfx/a/b/c", 5),
        ]);
        assert_eq!(pick(&t, "/pfx/a/b"), Some(4));
        assert_eq!(pick(&t, "/pfx/a/b/c"), Some(5));
        assert_eq!(pick(&t, "/pfx/a/b/x"), Some(3));
        assert_eq!(pick(&t, "/pfx/a/x"), Some(3));
        assert_eq!(pick(&t, "/pfx/a"), Some(2));
    }

    #[test]
    fn nested_regex_inside_regex() {
        let t = tree(vec![
            pre("/", 1),
            re_in("^/rr/", 2, vec![re("\\.txt$", 3)]),
            re("\\.txt$", 4),
        ]);
        assert_eq!(pick(&t, "/rr/a.txt"), Some(3)); // [confirmed]
        assert_eq!(pick(&t, "/rr/a"), Some(2));
        assert_eq!(pick(&t, "/b.txt"), Some(4));
    }

    // ---- §3.4 auto redirect -----------------------------------------------------------

    #[test]
    fn auto_redirect_3_4() {
        let t = tree(vec![
            pre("/", 1),
            proxied(pre("/api/", 2)),
            re("^/api$", 3),
            exact("/api2", 4),
            proxied(pre("/api2/", 5)),
            proxied(noregex("/svc/", 6)),
        ]);
        assert_eq!(pick(&t, "/api"), Some(1002)); // pre-empts ~ ^/api$ [confirmed]
        assert_eq!(pick(&t, "/api/"), Some(2));
        assert_eq!(pick(&t, "/api/x"), Some(2));
        assert_eq!(pick(&t, "/api2"), Some(4)); // = /api2 avoids it [confirmed]
        assert_eq!(pick(&t, "/svc"), Some(1006));
        assert_eq!(pick(&t, "/ap"), Some(1));
        // without proxy_pass the regex wins
        let t = tree(vec![pre("/", 1), pre("/api/", 2), re("^/api$", 3)]);
        assert_eq!(pick(&t, "/api"), Some(3));
    }

    /// `location = /ex/ { proxy_pass …; }` redirects `/ex` too [confirmed on 1.22.1].
    #[test]
    fn auto_redirect_exact_confirmed_live() {
        let t = tree(vec![pre("/", 1), proxied(exact("/ex/", 2))]);
        assert_eq!(pick(&t, "/ex"), Some(1002));
        assert_eq!(pick(&t, "/ex/"), Some(2));
        assert_eq!(pick(&t, "/ex/y"), Some(1));
    }

    /// `/` sorts lowest in nginx's location order, so `/api/` is found next to `/api-`,
    /// `= /aa`, `/b-`, … [confirmed on 1.22.1: both `/api` and `/b` were redirected].
    #[test]
    fn auto_redirect_with_neighbours_confirmed_live() {
        let t = tree(vec![
            pre("/", 1),
            exact("/aa", 2),
            pre("/api-", 3),
            proxied(pre("/api/", 4)),
            proxied(pre("/b/", 5)),
            pre("/b-", 6),
            pre("/d/", 7),
            pre("/try/", 8),
        ]);
        assert_eq!(pick(&t, "/api"), Some(1004));
        assert_eq!(pick(&t, "/b"), Some(1005));
        assert_eq!(pick(&t, "/aa"), Some(2));
        assert_eq!(pick(&t, "/api-x"), Some(3));
    }

    // ---- captures, named, ids -------------------------------------------------------

    #[test]
    fn location_captures_confirmed_live() {
        let t = tree(vec![
            pre("/", 1),
            re("^/cap/(?<nm>[a-z]+)/(\\d+)", 2),
            re("^/cap2/(x)?(y)?(z)", 3),
            re_in("^/grp/([a-z]+)", 4, vec![re("\\.nogroup$", 5)]),
            pre_in("/d/", 6, vec![re("^/d/(\\w+)$", 7)]),
            re("^/nog/", 8),
        ]);
        let u = b"/cap/abc/123";
        let Some(c) = caps(&t, "/cap/abc/123") else {
            panic!("no captures")
        };
        assert_eq!(
            (text(u, c.get(1)), text(u, c.get(2)), text(u, c.name("nm"))),
            ("abc", "123", "abc")
        );
        assert_eq!(t.capture_names(2), &[("nm".to_string(), 1)]);
        assert!(t.capture_names(1).is_empty());
        assert!(t.capture_names(99).is_empty());
        let u = b"/cap2/yz";
        let Some(c) = caps(&t, "/cap2/yz") else {
            panic!("no captures")
        };
        assert_eq!(
            (c.get(1), text(u, c.get(2)), text(u, c.get(3))),
            (None, "y", "z")
        );
        // a group-less regex matching last resets $1 [confirmed: "1=" was empty]
        let Some(c) = caps(&t, "/grp/abc/q.nogroup") else {
            panic!("no captures")
        };
        assert_eq!(
            (pick(&t, "/grp/abc/q.nogroup"), c.len(), c.get(1)),
            (Some(5), 1, None)
        );
        let u = b"/d/abc";
        let Some(c) = caps(&t, "/d/abc") else {
            panic!("no captures")
        };
        assert_eq!(text(u, c.get(1)), "abc");
        // static matches leave the server_name captures alone [confirmed: a regex
        // server_name's $1 survived into `location /st/` but not into `~ ^/nog/`]
        assert_eq!(caps(&t, "/x"), None);
        assert!(caps(&t, "/nog/a").is_some());
    }

    /// PCRE2 defaults as in nginx: `$` also matches before a final newline, no UTF mode
    /// (`\xe9` is a byte, `~*` folds ASCII only) [confirmed on 1.22.1: `/nl%0A` matched
    /// `~ ^/nl$`, `/nl%0A%0A` did not; `/caseless/%E9` matched `~* ^/caseless/\xe9$`,
    /// `/caseless/%C9` did not].
    #[test]
    fn regex_flavour_confirmed_live() {
        let t = tree(vec![
            pre("/", 1),
            re("^/nl$", 2),
            rei("^/caseless/\\xe9$", 3),
        ]);
        assert_eq!(pick(&t, "/nl"), Some(2));
        assert_eq!(pick(&t, "/nl\n"), Some(2));
        assert_eq!(pick(&t, "/nl\n\n"), Some(1));
        let e9 = LocationMatch::Found {
            id: 3,
            captures: Some(Captures {
                spans: vec![Some((0, 11))],
                names: Arc::from(Vec::new()),
            }),
        };
        assert_eq!(t.find(b"/caseless/\xe9"), e9);
        assert_eq!(pick_bytes(&t, b"/caseless/\xc9"), Some(1));
    }

    fn pick_bytes(t: &LocationTree, u: &[u8]) -> Option<usize> {
        match t.find(u) {
            LocationMatch::Found { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Two `location @a`: `try_files … @a` reached the first [confirmed on 1.22.1, which
    /// accepts the duplicate silently].
    #[test]
    fn named_locations() {
        let t = tree(vec![
            pre("/", 1),
            def(LocationKind::Named, "@named", 2, vec![]),
            def(LocationKind::Named, "@other", 3, vec![]),
            def(LocationKind::Named, "@named", 4, vec![]),
            pre_in(
                "/in/",
                5,
                vec![def(LocationKind::Named, "@deep", 6, vec![])],
            ),
        ]);
        assert_eq!(t.named("@named"), Some(2));
        assert_eq!(t.named("@other"), Some(3));
        assert_eq!(t.named("@deep"), None);
        assert_eq!(t.named("named"), None);
        // never reached by URI
        assert_eq!(pick(&t, "@named"), None);
        assert_eq!(pick(&t, "/@named"), Some(1));
    }

    #[test]
    fn build_errors() {
        let dup = LocationTree::build(&[pre("/x", 1), noregex("/x", 2)]);
        assert_eq!(dup.err(), Some("duplicate location \"/x\"".to_string()));
        assert!(LocationTree::build(&[exact("/x", 1), exact("/x", 2)]).is_err());
        assert!(LocationTree::build(&[exact("/x", 1), pre("/x", 2)]).is_ok());
        assert!(
            LocationTree::build(&[pre_in("/a/", 1, vec![pre("/a/b", 2), pre("/a/b", 3)])]).is_err()
        );
        let bad = LocationTree::build(&[re("(x", 1)]);
        assert!(bad
            .err()
            .is_some_and(|e| e.starts_with("pcre2_compile() failed: ")));
        let empty = tree(vec![]);
        assert_eq!(pick(&empty, "/"), None);
    }

    #[test]
    fn exact_and_prefix_with_the_same_name() {
        let t = tree(vec![pre("/x", 1), exact("/x", 2), re("x", 3)]);
        assert_eq!(pick(&t, "/x"), Some(2));
        assert_eq!(pick(&t, "/xy"), Some(3));
        let t = tree(vec![pre("/x", 1), exact("/x", 2)]);
        assert_eq!(pick(&t, "/xy"), Some(1));
    }

    /// Many flat exact/prefix locations against a linear-scan model (exact name → it;
    /// name + "/" with auto_redirect → redirect; else the longest prefix).
    #[test]
    fn static_tree_matches_linear_model() {
        let mut seed: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let alphabet = [b'/', b'a', b'b', b'-', b'.', b'z'];
        let word = |rnd: &mut dyn FnMut(u64) -> u64| {
            let len = 1 + rnd(6) as usize;
            let mut w = vec![b'/'];
            for _ in 0..len {
                w.push(alphabet[rnd(alphabet.len() as u64) as usize]);
            }
            String::from_utf8(w).unwrap_or_default()
        };
        for round in 0..40 {
            let mut defs: Vec<LocationDef> = Vec::new();
            let mut seen: Vec<(String, bool)> = Vec::new();
            for id in 0..(5 + rnd(200) as usize) {
                let w = word(&mut rnd);
                let ex = rnd(3) == 0;
                if seen.contains(&(w.clone(), ex)) {
                    continue;
                }
                seen.push((w.clone(), ex));
                let mut d = if ex { exact(&w, id) } else { pre(&w, id) };
                d.auto_redirect = w.ends_with('/') && rnd(2) == 0;
                defs.push(d);
            }
            let t = tree(defs.clone());
            for _ in 0..300 {
                let u = word(&mut rnd);
                let by = |name: &str, ex: bool| {
                    defs.iter()
                        .find(|d| d.name == name && (d.kind == LocationKind::Exact) == ex)
                };
                let model = if let Some(d) = by(&u, true).or_else(|| by(&u, false)) {
                    Some(d.id)
                } else if let Some(d) = {
                    let slash = format!("{u}/");
                    let e = by(&slash, true);
                    let p = by(&slash, false);
                    let auto =
                        e.is_some_and(|d| d.auto_redirect) || p.is_some_and(|d| d.auto_redirect);
                    if auto {
                        e.or(p)
                    } else {
                        None
                    }
                } {
                    Some(1000 + d.id)
                } else {
                    defs.iter()
                        .filter(|d| d.kind == LocationKind::Prefix && u.starts_with(&d.name))
                        .max_by_key(|d| d.name.len())
                        .map(|d| d.id)
                };
                assert_eq!(pick(&t, &u), model, "round {round} uri {u}");
            }
        }
    }
}
