//! `auth_request` (`ngx_http_auth_request_module`): an access checker that asks another
//! location. The subrequest is a GET to the configured URI with the client's headers
//! and no body (see [`Req::subrequest`]); it runs through the same phases as any
//! request, minus the access phase, and its response goes nowhere: only its status and
//! upstream headers count. Then, as `ngx_http_auth_request_handler()` does:
//! `auth_request_set` is evaluated on the subrequest, a 2xx allows, 401 (with the
//! upstream's first `WWW-Authenticate` copied to the response) and 403 are answered,
//! anything else is 500 with `auth request unexpected status: N`.
//!
//! In the terms of an access-phase handler (for `satisfy`): [`Verdict::Declined`] is
//! `NGX_DECLINED`, `Allow` is `NGX_OK`, `Deny` a refusal (401/403) that `satisfy any`
//! may overrule (nginx then hides the copied `WWW-Authenticate`, held here in
//! `Req::out_headers`), `Error` a status that ends the request under either rule.

use crate::ctx::Req;
use crate::Shared;
use bytes::BytesMut;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the access checker decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No `auth_request` here (`off`, or none inherited).
    Declined,
    /// The subrequest answered 2xx.
    Allow,
    /// Answer with this status (401 or 403).
    Deny(u16),
    /// An unexpected status: 500, logged.
    Error,
}

/// Runs the location's `auth_request`, if any.
pub async fn check(shared: &Shared, req: &mut Req<'_>) -> Verdict {
    let Some(uri) = req.conf.auth_request.as_deref() else {
        return Verdict::Declined;
    };
    let mut sr = req.subrequest(uri);
    let mut sink = Discard;
    let mut buf = BytesMut::new();
    crate::conn::route_subrequest(shared, &mut sr, &mut sink, &mut buf).await;
    if !sr.upstream.addrs.is_empty() {
        req.log_action = Some("sending to client");
    }
    // `sr->variables = r->variables`: what the subrequest stored, the parent sees.
    req.user = std::mem::take(&mut sr.user);
    // `ngx_http_auth_request_set_variables()`: before the status is looked at, on the
    // subrequest, so `$upstream_http_*` and `$upstream_status` are its upstream's.
    let sets = req.conf.auth_request_set.clone();
    for s in sets.iter() {
        let v = sr.eval(&s.value);
        req.set_variable(s.target, v);
    }
    let status = sr.status;
    match status {
        403 => Verdict::Deny(403),
        401 => {
            // nginx 1.22.1 copies one header: the upstream's first `WWW-Authenticate`
            // (`u->headers_in.www_authenticate`); `add_header` in the auth location does
            // not count.
            if let Some((n, v)) = sr
                .upstream
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"www-authenticate"))
            {
                req.out_headers.extend_from_slice(n);
                req.out_headers.extend_from_slice(b": ");
                req.out_headers.extend_from_slice(v);
                req.out_headers.extend_from_slice(b"\r\n");
            }
            Verdict::Deny(401)
        }
        200..=299 => Verdict::Allow,
        _ => {
            let msg = format!("auth request unexpected status: {status}");
            crate::log::error_log(shared, "error", &msg, req);
            Verdict::Error
        }
    }
}

/// Where a subrequest's response goes: nowhere (`sr->header_only`, and nginx never
/// writes a subrequest's header). Reads see end of input; a subrequest reads no body.
struct Discard;

impl AsyncRead for Discard {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Discard {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
