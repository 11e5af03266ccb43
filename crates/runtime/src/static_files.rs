//! Static files (SEMANTICS §10): what nginx's content phase does for a location without a
//! content handler. `ngx_http_index_handler()` for a URI ending in `/` (an internal
//! redirect to the first index file that exists), then `ngx_http_static_handler()`
//! (`root`/`alias` → file, directory → 301, errors → 403/404/405), and the header
//! filters that shape the answer, in nginx's filter order: not-modified
//! (`If-Modified-Since`, `If-None-Match`, `If-Match`, `If-Unmodified-Since`), headers
//! (`expires`, `add_header`), range (`Range`, `If-Range`).
//!
//! Files are opened and read on tokio's blocking pool and streamed in chunks; a file is
//! never read whole into memory.

use crate::conn::{self, add_headers, strip_head_for_http09};
use crate::ctx::Req;
use crate::deadline::timeout;
use crate::proxy::After;
use crate::Shared;
use bytes::BytesMut;
use sluice_compiler::table::{parse_expires, Alias, Expires, IfModifiedSince};
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// How much of a file is read per trip to the blocking pool.
const CHUNK: u64 = 128 * 1024;

/// What the static content phase did.
pub enum Served {
    /// Answered; the connection's fate.
    Done(After),
    /// `ngx_http_internal_redirect()` to this URI (an index file): the caller searches
    /// the locations again with it.
    Redirect(Vec<u8>),
}

/// The static content phase for the request's location.
pub async fn serve<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> Served {
    let method = req.head.method.clone();
    // `ngx_http_static_handler()` and `ngx_http_index_handler()` serve these only; the
    // index handler declines the others and the static one answers 405 (nginx 1.22.1:
    // `PUT /missing` and `PUT /dir/` are 405, not 404 or 403).
    let allowed = matches!(&method[..], b"GET" | b"HEAD" | b"POST");
    if req.uri.last() == Some(&b'/') {
        if allowed {
            match index(shared, req).await {
                Index::Redirect(uri) => return Served::Redirect(uri),
                Index::Status(code) => return Served::Done(error(req, io, buf, code).await),
                Index::Declined => {}
            }
        } else {
            return Served::Done(error(req, io, buf, 405).await);
        }
        // `ngx_http_core_content_phase()`: nobody took a URI ending in `/`.
        let path = map_uri_to_path(req);
        let msg = format!(
            "directory index of \"{}\" is forbidden",
            String::from_utf8_lossy(&path)
        );
        crate::log::error_log(shared, "error", &msg, req);
        return Served::Done(error(req, io, buf, 403).await);
    }
    if !allowed {
        return Served::Done(error(req, io, buf, 405).await);
    }
    Served::Done(file(shared, req, io, buf, &method).await)
}

/// nginx's page for `code`, then the request body is read and dropped.
/// `ngx_http_special_response_handler()` sets `r->expect_tested` first: a client that
/// sent `Expect: 100-continue` gets the final status without a `100 Continue` (nginx
/// 1.22.1 answered such a POST to a file with a bare 405).
async fn error<C: AsyncRead + AsyncWrite + Unpin + Send>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    code: u16,
) -> After {
    req.continue_sent = true;
    let after = conn::send_error(req, io, code).await;
    conn::finish_discard(req, io, buf, after).await
}

/// `ngx_http_map_uri_to_path()`: `root` + `$uri`, the alias + the rest of `$uri` after
/// the location name, or a regex location's alias alone. A value with variables that
/// comes out relative is taken from the prefix (`ngx_get_full_name()`).
pub fn map_uri_to_path(req: &mut Req<'_>) -> Vec<u8> {
    let root = req.conf.root.clone();
    let mut path = req.eval(&root.path);
    if root.path.literal().is_none() && !path.starts_with(b"/") {
        let mut full = root.prefix.to_vec();
        full.extend_from_slice(&path);
        path = full;
    }
    match root.alias {
        Alias::No => path.extend_from_slice(&req.uri),
        Alias::Prefix(n) => path.extend_from_slice(req.uri.get(n..).unwrap_or_default()),
        Alias::Whole => {}
    }
    path
}

/// The `root`/`alias` value alone (what `ngx_http_map_uri_to_path()` puts before the
/// URI), resolved against the prefix when a value with variables comes out relative.
fn root_base(req: &mut Req<'_>) -> Vec<u8> {
    let root = req.conf.root.clone();
    let mut path = req.eval(&root.path);
    if root.path.literal().is_none() && !path.starts_with(b"/") {
        let mut full = root.prefix.to_vec();
        full.extend_from_slice(&path);
        path = full;
    }
    path
}

/// What `try_files` decided.
pub enum Tried {
    /// A name exists: `$uri` is now that name; the content phase serves it.
    Found,
    /// The last parameter: an internal redirect to this URI (`?` splits arguments).
    Redirect(Vec<u8>, Option<Vec<u8>>),
    /// The last parameter: a named location.
    Named(Vec<u8>),
    /// `=CODE`.
    Code(u16),
}

/// `ngx_http_core_try_files_phase()` of nginx 1.22.1: each name is appended to the
/// root (with `alias`, a name with variables that starts with the location name loses
/// it) and tested; a directory counts only for a name written with a final `/`. The
/// first that exists becomes `$uri` (without a redirect); else the last parameter.
pub async fn try_files(
    shared: &Shared,
    req: &mut Req<'_>,
    tf: &sluice_compiler::table::TryFiles,
) -> Tried {
    let base = root_base(req);
    let name_of_loc = req.conf.name.clone();
    let alias = req.conf.root.alias != Alias::No;
    let strip = |name: &[u8], has_vars: bool| -> Option<usize> {
        (alias && has_vars && name.starts_with(name_of_loc.as_bytes())).then_some(name_of_loc.len())
    };
    for (t, test_dir) in &tf.files {
        let name = req.eval(t);
        let cut = strip(&name, t.literal().is_none()).unwrap_or(0);
        let rest = &name[cut..];
        let mut path = base.clone();
        path.extend_from_slice(rest);
        match stat(&path).await {
            Err(e) => {
                if e != nix::libc::ENOENT && e != nix::libc::ENOTDIR {
                    let msg = format!(
                        "open() \"{}\" failed {}",
                        String::from_utf8_lossy(&path),
                        errno_text(e)
                    );
                    crate::log::error_log(shared, "crit", &msg, req);
                }
                continue;
            }
            Ok(true) if !test_dir => continue,
            Ok(_) => {}
        }
        req.uri = if alias {
            let mut u = name_of_loc.as_bytes().to_vec();
            u.extend_from_slice(rest);
            u
        } else {
            rest.to_vec()
        };
        return Tried::Found;
    }
    match &tf.last {
        sluice_compiler::table::TryLast::Code(c) => Tried::Code(*c),
        sluice_compiler::table::TryLast::Uri(t) => {
            let v = req.eval(t);
            let cut = strip(&v, t.literal().is_none()).unwrap_or(0);
            let v = v[cut..].to_vec();
            if v.starts_with(b"@") {
                return Tried::Named(v);
            }
            match v.iter().position(|b| *b == b'?') {
                Some(i) => Tried::Redirect(v[..i].to_vec(), Some(v[i + 1..].to_vec())),
                None => Tried::Redirect(v, None),
            }
        }
    }
}

/// The file tests of `if` (`ngx_http_script_file_code()`): `stat()`, following
/// symlinks; a failed test is false for the positive forms and true for the `!` ones,
/// and is logged unless the file is just missing.
pub async fn file_test(
    shared: &Shared,
    req: &mut Req<'_>,
    path: &[u8],
    op: sluice_compiler::table::FileTest,
    negate: bool,
) -> bool {
    use sluice_compiler::table::FileTest;
    use std::os::unix::fs::PermissionsExt;
    let p = path.to_vec();
    let md = tokio::task::spawn_blocking(move || std::fs::metadata(os(&p)))
        .await
        .unwrap_or_else(|_| Err(std::io::Error::from_raw_os_error(nix::libc::EIO)));
    match md {
        Err(e) => {
            let e = errno_of(&e);
            use nix::libc::{ENAMETOOLONG, ENOENT, ENOTDIR};
            if !matches!(e, ENOENT | ENOTDIR | ENAMETOOLONG) {
                let msg = format!(
                    "stat() \"{}\" failed {}",
                    String::from_utf8_lossy(path),
                    errno_text(e)
                );
                crate::log::error_log(shared, "crit", &msg, req);
            }
            negate
        }
        Ok(md) => {
            let yes = match op {
                FileTest::Plain => md.is_file(),
                FileTest::Dir => md.is_dir(),
                FileTest::Exists => true,
                FileTest::Exec => md.permissions().mode() & 0o100 != 0,
            };
            yes != negate
        }
    }
}

fn os(path: &[u8]) -> &std::path::Path {
    std::path::Path::new(OsStr::from_bytes(path))
}

/// nginx's `" (%d: %s)"` after a message about a failed system call.
fn errno_text(e: i32) -> String {
    format!("({e}: {})", sluice_compiler::strerror(e))
}

fn errno_of(e: &std::io::Error) -> i32 {
    // A path std cannot pass to the kernel (an inner NUL) never names a file.
    e.raw_os_error().unwrap_or(nix::libc::ENOENT)
}

/// `stat()` (follows symlinks: `disable_symlinks off`, the default) on the blocking
/// pool: `Ok(is_dir)` or the errno.
async fn stat(path: &[u8]) -> Result<bool, i32> {
    let p = path.to_vec();
    match tokio::task::spawn_blocking(move || std::fs::metadata(os(&p))).await {
        Ok(Ok(md)) => Ok(md.is_dir()),
        Ok(Err(e)) => Err(errno_of(&e)),
        Err(_) => Err(nix::libc::EIO),
    }
}

enum Index {
    Redirect(Vec<u8>),
    Status(u16),
    Declined,
}

/// `ngx_http_index_handler()` of nginx 1.22.1: the first index name that exists (any
/// kind of file) becomes an internal redirect to `$uri` + name; an absolute name
/// redirects without a test. The directory itself is tested once, after the first
/// name that is missing: a missing directory is 404 (logged with the index file's
/// path), a file in its place 500.
async fn index(shared: &Shared, req: &mut Req<'_>) -> Index {
    let names = req.conf.index.clone();
    let base = map_uri_to_path(req);
    let mut dir_tested = false;
    for t in names.iter() {
        let name = req.eval(t);
        if name.starts_with(b"/") {
            return Index::Redirect(name);
        }
        let mut path = base.clone();
        path.extend_from_slice(&name);
        let e = match stat(&path).await {
            Ok(_) => {
                let mut uri = req.uri.clone();
                uri.extend_from_slice(&name);
                return Index::Redirect(uri);
            }
            Err(e) => e,
        };
        use nix::libc::{EACCES, ENAMETOOLONG, ENOENT, ENOTDIR};
        if matches!(e, ENOTDIR | ENAMETOOLONG | EACCES) {
            return index_error(shared, req, &path, e);
        }
        if !dir_tested {
            // `ngx_http_index_test_dir()`: the path before the name without its final
            // `/` (kept when it is the only byte); with an `alias` lacking its trailing
            // slash the name follows the directory directly, and the whole is tested.
            let dir = match base.strip_suffix(b"/") {
                Some(d) if !d.is_empty() => d.to_vec(),
                _ => base.clone(),
            };
            match stat(&dir).await {
                Ok(true) => {}
                // Logged after the byte cut off for the test is put back: the whole path.
                Ok(false) => {
                    let msg = format!("\"{}\" is not a directory", String::from_utf8_lossy(&path));
                    crate::log::error_log(shared, "alert", &msg, req);
                    return Index::Status(500);
                }
                Err(ENOENT) => return index_error(shared, req, &path, ENOENT),
                // Searching the directory is allowed, since the name's test did not
                // fail with EACCES.
                Err(EACCES) => {}
                Err(de) => {
                    let msg = format!(
                        "stat() \"{}\" failed {}",
                        String::from_utf8_lossy(&dir),
                        errno_text(de)
                    );
                    crate::log::error_log(shared, "crit", &msg, req);
                    return Index::Status(500);
                }
            }
            dir_tested = true;
        }
        if e == ENOENT {
            continue;
        }
        let msg = format!(
            "stat() \"{}\" failed {}",
            String::from_utf8_lossy(&path),
            errno_text(e)
        );
        crate::log::error_log(shared, "crit", &msg, req);
        return Index::Status(500);
    }
    Index::Declined
}

/// `ngx_http_index_error()`.
fn index_error(shared: &Shared, req: &mut Req<'_>, path: &[u8], e: i32) -> Index {
    let p = String::from_utf8_lossy(path);
    if e == nix::libc::EACCES {
        let msg = format!("\"{p}\" is forbidden {}", errno_text(e));
        crate::log::error_log(shared, "error", &msg, req);
        return Index::Status(403);
    }
    if req.conf.log_not_found {
        let msg = format!("\"{p}\" is not found {}", errno_text(e));
        crate::log::error_log(shared, "error", &msg, req);
    }
    Index::Status(404)
}

/// An open file and what `fstat()` said.
struct Opened {
    file: File,
    is_dir: bool,
    is_file: bool,
    size: u64,
    mtime: i64,
}

/// `open()` with `O_NONBLOCK` (nginx's flag, so a FIFO cannot hang the open), then
/// `fstat()`. `Err((call, errno))`.
///
/// In the task itself, as nginx does in its event loop (`open_file_cache off`, no
/// `aio threads`): for a file in the page cache both calls take a few microseconds,
/// less than handing them to the blocking pool and waking this task again (two thread
/// switches per call, most of the time of a 1 KiB response when measured).
async fn open(path: &[u8]) -> Result<Opened, (&'static str, i32)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(os(path))
        .map_err(|e| ("open()", errno_of(&e)))?;
    let md = file.metadata().map_err(|e| ("fstat()", errno_of(&e)))?;
    Ok(Opened {
        is_dir: md.is_dir(),
        is_file: md.is_file(),
        size: md.len(),
        mtime: md.mtime(),
        file,
    })
}

/// `ngx_http_static_handler()` for a URI not ending in `/`.
async fn file<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
    method: &[u8],
) -> After {
    let path = map_uri_to_path(req);
    let f = match open(&path).await {
        Ok(f) => f,
        Err((call, e)) => {
            use nix::libc::{EACCES, ELOOP, EMLINK, ENAMETOOLONG, ENOENT, ENOTDIR};
            let (level, code) = match e {
                ENOENT | ENOTDIR | ENAMETOOLONG => ("error", 404),
                EACCES | EMLINK | ELOOP => ("error", 403),
                _ => ("crit", 500),
            };
            if code != 404 || req.conf.log_not_found {
                let msg = format!(
                    "{call} \"{}\" failed {}",
                    String::from_utf8_lossy(&path),
                    errno_text(e)
                );
                crate::log::error_log(shared, level, &msg, req);
            }
            return error(req, io, buf, code).await;
        }
    };
    if f.is_dir {
        drop(f);
        return directory_redirect(req, io, buf).await;
    }
    if !f.is_file {
        let msg = format!(
            "\"{}\" is not a regular file",
            String::from_utf8_lossy(&path)
        );
        crate::log::error_log(shared, "crit", &msg, req);
        return error(req, io, buf, 404).await;
    }
    if method == b"POST" {
        return error(req, io, buf, 405).await;
    }
    // `ngx_http_discard_request_body()` before the header goes out: `100 Continue`
    // first when the client asked for it.
    if conn::expect_continue(req, io).await.is_err() {
        return After::Close;
    }
    let after = respond(shared, req, io, f).await;
    conn::finish_discard(req, io, buf, after).await
}

/// The 301 for a directory named without its trailing slash: `Location` is `$uri`
/// URI-escaped, `/`, and `?args` (`ngx_http_static_handler()`; nginx 1.22.1 sent
/// `/sp%20dir/` for `/sp%20dir`); the header filter makes it absolute.
async fn directory_redirect<C: AsyncRead + AsyncWrite + Unpin + Send>(
    req: &mut Req<'_>,
    io: &mut C,
    buf: &mut BytesMut,
) -> After {
    let mut loc = Vec::with_capacity(req.uri.len() + 8);
    escape_uri(&req.uri, &mut loc);
    loc.push(b'/');
    if let Some(a) = req.args.as_ref().filter(|a| !a.is_empty()) {
        loc.push(b'?');
        loc.extend_from_slice(a);
    }
    // A special response, as for the errors: no `100 Continue`.
    req.continue_sent = true;
    let after = conn::send_redirect(req, io, 301, &loc).await;
    conn::finish_discard(req, io, buf, after).await
}

/// `ngx_escape_uri(NGX_ESCAPE_URI)`: space, `#`, `%`, `?`, controls and bytes from 0x7f.
fn escape_uri(path: &[u8], out: &mut Vec<u8>) {
    for &b in path {
        if b <= 0x20 || b >= 0x7f || b == b'#' || b == b'%' || b == b'?' {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// What is sent after the header block.
enum Piece {
    Bytes(Vec<u8>),
    /// Bytes `start..end` of the file.
    File(u64, u64),
}

/// The response for an open regular file, through nginx's header filters.
async fn respond<C: AsyncWrite + Unpin>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    f: Opened,
) -> After {
    let conf = req.conf;
    let size = f.size;
    let mtime = f.mtime;
    // `ngx_http_set_etag()`: `"<mtime hex>-<size hex>"`.
    let etag = conf
        .etag
        .then(|| format!("\"{:x}-{:x}\"", mtime, size).into_bytes());
    let ct = conn::content_type(req);

    // After `error_page`, `ngx_http_send_header()` sends `r->err_status`; the
    // not-modified and range filters then leave the response alone (they act on 200s).
    let mut status = if req.err_status != 0 {
        req.err_status
    } else {
        200
    };
    // Not-modified filter (`ngx_http_not_modified_header_filter()`).
    let h = |n: &[u8]| req.head.header(n).map(|v| req.head.headers.share(v));
    let (ius, im, ims, inm) = (
        h(b"if-unmodified-since"),
        h(b"if-match"),
        h(b"if-modified-since"),
        h(b"if-none-match"),
    );
    let filtered = status == 200;
    let unmodified_fails =
        filtered && ius.is_some_and(|v| parse_http_time(&v).is_none_or(|t| t < mtime));
    let match_fails = filtered && im.is_some_and(|v| !etag_matches(&v, etag.as_deref(), false));
    if unmodified_fails || match_fails {
        // `ngx_http_filter_finalize_request()`: a clean 412 page; the request then
        // ends in an error and the connection closes (nginx 1.22.1 closed it after
        // the page, `Connection: keep-alive` notwithstanding).
        let _ = conn::send_error(req, io, 412).await;
        return After::Close;
    }
    if filtered && (ims.is_some() || inm.is_some()) {
        let modified = ims
            .as_ref()
            .is_some_and(|v| modified_since(conf.if_modified_since, v, mtime));
        let none_match_passes = !modified
            && inm
                .as_ref()
                .is_some_and(|v| !etag_matches(v, etag.as_deref(), true));
        if !modified && !none_match_passes {
            status = 304;
        }
    }

    // Headers filter: `expires`, then `add_header`, computed for the status so far.
    let mut filter = Vec::new();
    expires_headers(req, status, Some(mtime), &mut filter);
    add_headers(req, status, &mut filter);

    // Range filter (`ngx_http_range_header_filter()`): 200 responses to HTTP/1.x only.
    let mut ranges: Option<Vec<(u64, u64)>> = None;
    let mut accept_ranges = false;
    if status == 200 && !req.http09 {
        match range_request(req, etag.as_deref(), mtime, size) {
            RangeOutcome::Ranges(r) => ranges = Some(r),
            RangeOutcome::NotSatisfiable => {
                // The first pass's `expires`/`add_header` lines stay in the list and
                // the error page's pass adds the `always` ones again (nginx 1.22.1
                // printed an `always` header twice on a 416).
                let mut extra = filter;
                extra.extend_from_slice(format!("Content-Range: bytes */{size}\r\n").as_bytes());
                return conn::send_error_extra(req, io, 416, &extra).await;
            }
            RangeOutcome::Whole => accept_ranges = true,
        }
    }

    let head_only = &req.head.method[..] == b"HEAD" || status == 304;
    let mut pieces: Vec<Piece> = Vec::new();
    let mut content_type = ct;
    let mut length = size;
    let mut content_range: Option<String> = None;
    match ranges.as_deref() {
        Some([(s, e)]) => {
            status = 206;
            content_range = Some(format!("bytes {s}-{}/{size}", e - 1));
            length = e - s;
            pieces.push(Piece::File(*s, *e));
        }
        Some(list) => {
            // `ngx_http_range_multipart_header()`: the boundary is nginx's temp-file
            // counter, 20 digits.
            status = 206;
            let boundary = format!("{:020}", BOUNDARY.fetch_add(1, Ordering::Relaxed) + 1);
            let mut part_head = format!("\r\n--{boundary}\r\n").into_bytes();
            if !content_type.is_empty() {
                part_head.extend_from_slice(b"Content-Type: ");
                part_head.extend_from_slice(&content_type);
                part_head.extend_from_slice(b"\r\n");
            }
            part_head.extend_from_slice(b"Content-Range: bytes ");
            let mut total = 0u64;
            for (s, e) in list {
                let mut ph = part_head.clone();
                ph.extend_from_slice(format!("{s}-{}/{size}\r\n\r\n", e - 1).as_bytes());
                total += ph.len() as u64 + (e - s);
                pieces.push(Piece::Bytes(ph));
                pieces.push(Piece::File(*s, *e));
            }
            let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
            total += tail.len() as u64;
            pieces.push(Piece::Bytes(tail));
            length = total;
            content_type = format!("multipart/byteranges; boundary={boundary}").into_bytes();
        }
        None => {
            if size > 0 {
                pieces.push(Piece::File(0, size));
            }
        }
    }

    // `ngx_http_header_filter()`: fixed headers, then the list in push order (ETag by
    // the static handler, the headers filter's, the range filter's).
    req.status = status;
    let mut out = Vec::with_capacity(512);
    conn::head_start(req, status, &mut out);
    if status != 304 {
        if !content_type.is_empty() {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(&content_type);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes());
    }
    // `ngx_http_header_filter()` drops `Last-Modified` from other statuses (an
    // `error_page` target sent with its error's status).
    if matches!(status, 200 | 206 | 304) {
        out.extend_from_slice(b"Last-Modified: ");
        out.extend_from_slice(http_date(mtime).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let keep = req.head.keep_alive;
    out.extend_from_slice(if keep {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });
    crate::access::challenge_header(req, &mut out);
    if let Some(e) = &etag {
        out.extend_from_slice(b"ETag: ");
        out.extend_from_slice(e);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&filter);
    if let Some(cr) = content_range {
        out.extend_from_slice(b"Content-Range: ");
        out.extend_from_slice(cr.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if accept_ranges {
        out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
    }
    out.extend_from_slice(b"\r\n");
    strip_head_for_http09(req, &mut out);
    let head_len = out.len() as u64;
    if head_only {
        pieces.clear();
    }
    let ok = send_pieces(shared, req, io, out, &pieces, Arc::new(f.file)).await;
    req.bytes_sent = req.bytes_sent.max(head_len);
    if ok && keep {
        After::KeepAlive
    } else {
        After::Close
    }
}

/// nginx's temp-file counter, which also numbers multipart boundaries (it starts at 0
/// in a fresh nginx, so the first boundary is `00000000000000000001`).
static BOUNDARY: AtomicU64 = AtomicU64::new(0);

/// Writes the head and the pieces, reading the file a chunk at a time; each write is
/// bounded by `send_timeout` (between two writes, SEMANTICS §9). `false` when the
/// connection cannot continue (write error, timeout, file truncated meanwhile).
async fn send_pieces<C: AsyncWrite + Unpin>(
    shared: &Shared,
    req: &mut Req<'_>,
    io: &mut C,
    mut out: Vec<u8>,
    pieces: &[Piece],
    file: Arc<File>,
) -> bool {
    let t = req.conf.send_timeout;
    let head_len = out.len() as u64;
    let mut sent: u64 = 0;
    for p in pieces {
        match p {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::File(start, end) => {
                let mut pos = *start;
                while pos < *end {
                    // Read straight into the output buffer, in the task (nginx reads
                    // files in its event loop too): no thread hand-off, no extra copy.
                    let want = (end - pos).min(CHUNK) as usize;
                    let base = out.len();
                    out.resize(base + want, 0);
                    let mut got = 0;
                    let mut failed = false;
                    while got < want {
                        match file.read_at(&mut out[base + got..], pos + got as u64) {
                            Ok(0) => break,
                            Ok(n) => got += n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => {
                                failed = true;
                                break;
                            }
                        }
                    }
                    out.truncate(if failed { base } else { base + got });
                    if failed || got == 0 {
                        // The file shrank (or failed) under us: what was promised
                        // cannot be sent; nginx logs and closes.
                        let msg = "file was truncated while sending response to client";
                        crate::log::error_log(shared, "alert", msg, req);
                        let _ = timeout(t, io.write_all(&out)).await;
                        return false;
                    }
                    pos += got as u64;
                    if out.len() as u64 >= CHUNK {
                        if !matches!(timeout(t, io.write_all(&out)).await, Ok(Ok(()))) {
                            return false;
                        }
                        sent += out.len() as u64;
                        req.bytes_sent = sent;
                        req.body_bytes_sent = sent.saturating_sub(head_len);
                        out.clear();
                    }
                }
            }
        }
    }
    if !out.is_empty() {
        if !matches!(timeout(t, io.write_all(&out)).await, Ok(Ok(()))) {
            return false;
        }
        sent += out.len() as u64;
    }
    req.bytes_sent = sent;
    req.body_bytes_sent = sent.saturating_sub(head_len);
    true
}

/// `ngx_http_test_if_modified()`: `true` = send the file.
fn modified_since(mode: IfModifiedSince, value: &[u8], mtime: i64) -> bool {
    if mode == IfModifiedSince::Off {
        return true;
    }
    let ims = parse_http_time(value).unwrap_or(-1);
    if ims == mtime {
        return false;
    }
    mode == IfModifiedSince::Exact || ims < mtime
}

/// `ngx_http_test_if_match()`: `*` matches anything; otherwise the list must hold the
/// entity tag byte for byte (`weak`: `W/` prefixes ignored on both sides, for
/// `If-None-Match`).
fn etag_matches(list: &[u8], etag: Option<&[u8]>, weak: bool) -> bool {
    if list == b"*" {
        return true;
    }
    let Some(mut etag) = etag else {
        return false;
    };
    if weak && etag.len() > 2 && etag.starts_with(b"W/") {
        etag = &etag[2..];
    }
    let mut i = 0;
    let end = list.len();
    while i < end {
        if weak && end - i > 2 && list[i..].starts_with(b"W/") {
            i += 2;
        }
        if etag.len() > end - i {
            return false;
        }
        if &list[i..i + etag.len()] == etag {
            let mut j = i + etag.len();
            while j < end && (list[j] == b' ' || list[j] == b'\t') {
                j += 1;
            }
            if j == end || list[j] == b',' {
                return true;
            }
        }
        while i < end && list[i] != b',' {
            i += 1;
        }
        while i < end && matches!(list[i], b' ' | b'\t' | b',') {
            i += 1;
        }
    }
    false
}

enum RangeOutcome {
    /// No (usable) range: the whole file, with `Accept-Ranges: bytes`.
    Whole,
    /// 206 with these `start..end` ranges.
    Ranges(Vec<(u64, u64)>),
    /// 416.
    NotSatisfiable,
}

/// The range filter's decision for a 200 response of `size` bytes.
fn range_request(req: &Req<'_>, etag: Option<&[u8]>, mtime: i64, size: u64) -> RangeOutcome {
    let Some(range) = req.head.header(b"range") else {
        return RangeOutcome::Whole;
    };
    if range.len() < 7 || !range[..6].eq_ignore_ascii_case(b"bytes=") {
        return RangeOutcome::Whole;
    }
    if let Some(ir) = req.head.header(b"if-range") {
        if ir.len() >= 2 && ir.ends_with(b"\"") {
            if etag.is_none_or(|e| e != ir) {
                return RangeOutcome::Whole;
            }
        } else if parse_http_time(ir) != Some(mtime) {
            return RangeOutcome::Whole;
        }
    }
    parse_ranges(&range[6..], size)
}

/// `ngx_http_range_parse()` (no `max_ranges`): `a-b`, `a-`, `-n`, comma-separated;
/// spaces allowed around the numbers. A range starting beyond the end is dropped
/// (416 when none is left); `0-` of an empty file, or ranges adding up to more than
/// the file, give the whole file.
fn parse_ranges(spec: &[u8], size: u64) -> RangeOutcome {
    let len = i64::try_from(size).unwrap_or(i64::MAX);
    let at = |i: usize| spec.get(i).copied().unwrap_or(0);
    let cutoff = i64::MAX / 10;
    let cutlim = i64::MAX % 10;
    let mut p = 0;
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut total: i64 = 0;
    let number = |p: &mut usize, v: &mut i64| -> bool {
        while at(*p).is_ascii_digit() {
            let d = i64::from(at(*p) - b'0');
            if *v >= cutoff && (*v > cutoff || d > cutlim) {
                return false;
            }
            *v = *v * 10 + d;
            *p += 1;
        }
        true
    };
    loop {
        let mut start: i64 = 0;
        let mut end: i64 = 0;
        let mut suffix = false;
        while at(p) == b' ' {
            p += 1;
        }
        let mut open_ended = false;
        if at(p) != b'-' {
            if !at(p).is_ascii_digit() {
                return RangeOutcome::NotSatisfiable;
            }
            if !number(&mut p, &mut start) {
                return RangeOutcome::NotSatisfiable;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b'-' {
                return RangeOutcome::NotSatisfiable;
            }
            p += 1;
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) == b',' || at(p) == 0 {
                end = len;
                open_ended = true;
            }
        } else {
            suffix = true;
            p += 1;
        }
        if !open_ended {
            if !at(p).is_ascii_digit() {
                return RangeOutcome::NotSatisfiable;
            }
            if !number(&mut p, &mut end) {
                return RangeOutcome::NotSatisfiable;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b',' && at(p) != 0 {
                return RangeOutcome::NotSatisfiable;
            }
            if suffix {
                start = if end < len { len - end } else { 0 };
                end = len - 1;
            }
            if end >= len {
                end = len;
            } else {
                end += 1;
            }
        }
        if start < end {
            if total > i64::MAX - (end - start) {
                return RangeOutcome::NotSatisfiable;
            }
            total += end - start;
            out.push((start as u64, end as u64));
        } else if start == 0 {
            return RangeOutcome::Whole;
        }
        let c = at(p);
        p += 1;
        if c != b',' {
            break;
        }
    }
    if out.is_empty() {
        return RangeOutcome::NotSatisfiable;
    }
    if total > len {
        return RangeOutcome::Whole;
    }
    RangeOutcome::Ranges(out)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The statuses the headers filter adds `expires` and non-`always` `add_header` to.
fn safe_status(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// `ngx_http_set_expires()`: appends `Expires` and `Cache-Control` for `expires` when
/// the status is one the headers filter touches. `last_modified` is the file's time
/// (`None` for responses without one: `modified` then counts from now).
pub fn expires_headers(
    req: &mut Req<'_>,
    status: u16,
    last_modified: Option<i64>,
    out: &mut Vec<u8>,
) {
    if !safe_status(status) {
        return;
    }
    let conf = req.conf;
    // `conf->expires_time < 0` (only a literal value has one) forces `no-cache`.
    let (e, conf_negative) = match &conf.expires {
        Expires::Off => return,
        // A value that does not parse adds nothing (`ngx_http_set_expires()`).
        Expires::Variable { modified, value } => {
            let v = req.eval(value);
            match parse_expires(&String::from_utf8_lossy(&v), *modified) {
                Some(e) => (e, false),
                None => return,
            }
        }
        Expires::Access(t) | Expires::Modified(t) => (conf.expires.clone(), *t < 0),
        e => (e.clone(), false),
    };
    let Some((expires, cache)) = expires_values(&e, conf_negative, now(), last_modified) else {
        return;
    };
    out.extend_from_slice(b"Expires: ");
    out.extend_from_slice(expires.as_bytes());
    out.extend_from_slice(b"\r\nCache-Control: ");
    out.extend_from_slice(cache.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The `Expires` and `Cache-Control` values of `ngx_http_set_expires()` at time `now`
/// (`None` for `off`). `conf_negative`: a literal negative time, which always means
/// `no-cache`.
fn expires_values(
    e: &Expires,
    conf_negative: bool,
    now: i64,
    last_modified: Option<i64>,
) -> Option<(String, String)> {
    let (when, max_age) = match *e {
        Expires::Off | Expires::Variable { .. } => return None,
        Expires::Epoch => return Some(("Thu, 01 Jan 1970 00:00:01 GMT".into(), "no-cache".into())),
        Expires::Max => {
            return Some((
                "Thu, 31 Dec 2037 23:55:55 GMT".into(),
                "max-age=315360000".into(),
            ))
        }
        // A zero time is "now" whatever it counts from (not for `@`).
        Expires::Access(0) | Expires::Modified(0) => {
            return Some((http_date(now), "max-age=0".into()))
        }
        // `ngx_next_time()`: the next time this time of day comes (sluice reckons days
        // in UTC; nginx in the local time zone).
        Expires::Daily(t) => {
            let mut next = now - now.rem_euclid(86_400) + t;
            if next - now <= 0 {
                next += 86_400;
            }
            (next, next - now)
        }
        Expires::Modified(t) => match last_modified {
            Some(lm) => {
                let when = lm.saturating_add(t);
                (when, when - now)
            }
            // A response without a modification time counts from now.
            None => (now.saturating_add(t), t),
        },
        Expires::Access(t) => (now.saturating_add(t), t),
    };
    let cache = if conf_negative || max_age < 0 {
        "no-cache".to_string()
    } else {
        format!("max-age={max_age}")
    };
    Some((http_date(when), cache))
}

/// `ngx_http_time()`: `Tue, 02 Jan 2024 03:04:05 GMT` (times before 1970 as 1970).
pub fn http_date(secs: i64) -> String {
    crate::respond::format_http_date(secs.max(0) as u64)
}

/// `ngx_parse_http_time()`: RFC 1123 (`Tue, 10 Nov 2002 23:50:13`), RFC 850
/// (`Tuesday, 10-Nov-02 23:50:13`) and asctime (`Tue Nov 10 23:50:13 2002`); what
/// follows the time (the zone) is not looked at. `None` where nginx returns an error.
pub fn parse_http_time(v: &[u8]) -> Option<i64> {
    #[derive(PartialEq)]
    enum Fmt {
        No,
        Rfc822,
        Rfc850,
        Isoc,
    }
    let end = v.len() as isize;
    let at = |i: isize| -> u8 {
        if i < 0 {
            0
        } else {
            v.get(i as usize).copied().unwrap_or(0)
        }
    };
    let digit = |i: isize| -> Option<i64> {
        let c = at(i);
        c.is_ascii_digit().then(|| i64::from(c - b'0'))
    };
    let mut fmt = Fmt::No;
    let mut p: isize = 0;
    while p < end {
        if at(p) == b',' {
            break;
        }
        if at(p) == b' ' {
            fmt = Fmt::Isoc;
            break;
        }
        p += 1;
    }
    p += 1;
    while p < end && at(p) == b' ' {
        p += 1;
    }
    if end - p < 18 {
        return None;
    }
    let mut day: i64 = 0;
    if fmt != Fmt::Isoc {
        day = digit(p)? * 10 + digit(p + 1)?;
        p += 2;
        if at(p) == b' ' {
            if end - p < 18 {
                return None;
            }
            fmt = Fmt::Rfc822;
        } else if at(p) == b'-' {
            fmt = Fmt::Rfc850;
        } else {
            return None;
        }
        p += 1;
    }
    let mut month: i64 = match at(p) {
        b'J' => {
            if at(p + 1) == b'a' {
                0
            } else if at(p + 2) == b'n' {
                5
            } else {
                6
            }
        }
        b'F' => 1,
        b'M' => {
            if at(p + 2) == b'r' {
                2
            } else {
                4
            }
        }
        b'A' => {
            if at(p + 1) == b'p' {
                3
            } else {
                7
            }
        }
        b'S' => 8,
        b'O' => 9,
        b'N' => 10,
        b'D' => 11,
        _ => return None,
    };
    p += 3;
    if (fmt == Fmt::Rfc822 && at(p) != b' ') || (fmt == Fmt::Rfc850 && at(p) != b'-') {
        return None;
    }
    p += 1;
    let mut year: i64 = 0;
    if fmt == Fmt::Rfc822 {
        year = digit(p)? * 1000 + digit(p + 1)? * 100 + digit(p + 2)? * 10 + digit(p + 3)?;
        p += 4;
    } else if fmt == Fmt::Rfc850 {
        year = digit(p)? * 10 + digit(p + 1)?;
        year += if year < 70 { 2000 } else { 1900 };
        p += 2;
    }
    if fmt == Fmt::Isoc {
        if at(p) == b' ' {
            p += 1;
        }
        day = digit(p)?;
        p += 1;
        if at(p) != b' ' {
            day = day * 10 + digit(p)?;
            p += 1;
        }
        if end - p < 14 {
            return None;
        }
    }
    if at(p) != b' ' {
        return None;
    }
    p += 1;
    let hour = digit(p)? * 10 + digit(p + 1)?;
    p += 2;
    if at(p) != b':' {
        return None;
    }
    p += 1;
    let min = digit(p)? * 10 + digit(p + 1)?;
    p += 2;
    if at(p) != b':' {
        return None;
    }
    p += 1;
    let sec = digit(p)? * 10 + digit(p + 1)?;
    if fmt == Fmt::Isoc {
        p += 2;
        if at(p) != b' ' {
            return None;
        }
        p += 1;
        year = digit(p)? * 1000 + digit(p + 1)? * 100 + digit(p + 2)? * 10 + digit(p + 3)?;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    const MDAY: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day == 29 && month == 1 {
        if (year & 3) != 0 || (year % 100 == 0 && year % 400 != 0) {
            return None;
        }
    } else if day > MDAY[month as usize] {
        return None;
    }
    // Gauss' formula, with the year starting in March (as nginx computes it).
    month -= 1;
    if month <= 0 {
        month += 12;
        year -= 1;
    }
    let days =
        365 * year + year / 4 - year / 100 + year / 400 + 367 * month / 12 - 30 + day - 1 - 719_527
            + 31
            + 28;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(http_date(1_704_164_645), "Tue, 02 Jan 2024 03:04:05 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            parse_http_time(b"Tue, 02 Jan 2024 03:04:05 GMT"),
            Some(1_704_164_645)
        );
        assert_eq!(
            parse_http_time(b"Tuesday, 02-Jan-24 03:04:05 GMT"),
            Some(1_704_164_645)
        );
        assert_eq!(
            parse_http_time(b"Tue Jan  2 03:04:05 2024"),
            Some(1_704_164_645)
        );
        // The zone is not read; the weekday is not checked.
        assert_eq!(
            parse_http_time(b"Xyz, 02 Jan 2024 03:04:05 PST"),
            Some(1_704_164_645)
        );
        assert_eq!(parse_http_time(b"Tue, 02 Jan 2024 03:04"), None);
        assert_eq!(parse_http_time(b"Tue, 30 Feb 2024 03:04:05 GMT"), None);
        assert_eq!(
            parse_http_time(b"Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
        assert_eq!(parse_http_time(b""), None);
        assert_eq!(parse_http_time(b"garbage"), None);
    }

    #[test]
    fn ranges() {
        let r = |s: &str, n| match parse_ranges(s.as_bytes(), n) {
            RangeOutcome::Whole => "whole".to_string(),
            RangeOutcome::NotSatisfiable => "416".to_string(),
            RangeOutcome::Ranges(v) => format!("{v:?}"),
        };
        assert_eq!(r("0-4", 20), "[(0, 5)]");
        assert_eq!(r("5-", 20), "[(5, 20)]");
        assert_eq!(r("-3", 20), "[(17, 20)]");
        assert_eq!(r("-30", 20), "[(0, 20)]");
        assert_eq!(r("10-100", 20), "[(10, 20)]");
        assert_eq!(r("20-", 20), "416");
        assert_eq!(r("5-2", 20), "416");
        assert_eq!(r("abc", 20), "416");
        assert_eq!(r(" 1 - 2 ", 20), "[(1, 3)]");
        assert_eq!(r("0-1,3-4", 20), "[(0, 2), (3, 5)]");
        assert_eq!(r("0-15,5-19", 20), "whole");
        assert_eq!(r("0-", 0), "whole");
        assert_eq!(r("-0", 20), "416");
        assert_eq!(r("99999999999999999999-", 20), "416");
        assert_eq!(r("50-,0-1", 20), "[(0, 2)]");
    }

    #[test]
    fn expires_counted_from_now() {
        // Values nginx 1.22.1 sent at Sun, 22 Nov 2026 01:02:43 GMT for a file modified
        // Tue, 02 Jan 2024 03:04:05 GMT.
        let now = 1_795_309_363;
        let lm = Some(1_704_164_645);
        let v = |e: Expires, neg| expires_values(&e, neg, now, lm);
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(http_date(now), "Sun, 22 Nov 2026 01:02:43 GMT");
        assert_eq!(
            v(Expires::Access(3600), false),
            pair("Sun, 22 Nov 2026 02:02:43 GMT", "max-age=3600")
        );
        assert_eq!(
            v(Expires::Access(-3600), true),
            pair("Sun, 22 Nov 2026 00:02:43 GMT", "no-cache")
        );
        assert_eq!(
            v(Expires::Access(0), false),
            pair("Sun, 22 Nov 2026 01:02:43 GMT", "max-age=0")
        );
        assert_eq!(
            v(Expires::Modified(3600), false),
            pair("Tue, 02 Jan 2024 04:04:05 GMT", "no-cache")
        );
        assert_eq!(
            v(Expires::Modified(100 * 31_536_000), false),
            pair("Thu, 09 Dec 2123 03:04:05 GMT", "max-age=3062455282")
        );
        assert_eq!(
            expires_values(&Expires::Modified(60), false, now, None),
            pair("Sun, 22 Nov 2026 01:03:43 GMT", "max-age=60")
        );
        // @15h30m: later today; @1h: tomorrow.
        assert_eq!(
            v(Expires::Daily(15 * 3600 + 1800), false),
            pair("Sun, 22 Nov 2026 15:30:00 GMT", "max-age=52037")
        );
        assert_eq!(
            v(Expires::Daily(3600), false),
            pair("Mon, 23 Nov 2026 01:00:00 GMT", "max-age=86237")
        );
        assert_eq!(v(Expires::Off, false), None);
    }

    #[test]
    fn entity_tags() {
        let e = Some(&b"\"a-1\""[..]);
        assert!(etag_matches(b"\"a-1\"", e, false));
        assert!(etag_matches(b"\"x\", \"a-1\"", e, false));
        assert!(etag_matches(b"*", None, false));
        assert!(!etag_matches(b"W/\"a-1\"", e, false));
        assert!(etag_matches(b"W/\"a-1\"", e, true));
        assert!(!etag_matches(b"\"a-1\"x", e, true));
        assert!(!etag_matches(b"\"a-1\"", None, true));
    }
}
