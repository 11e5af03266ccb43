//! The upgraded connection (SEMANTICS §5.4–5.5): bytes copied both ways without looking
//! at them; any EOF ends both sides once pending data is written; the tunnel closes when
//! no byte moved in either direction for `proxy_read_timeout`.
//!
//! Memory: an idle tunnel holds a small buffer per side (512 bytes, doubled up to 16 KiB
//! while reads fill it, back to 512 once traffic stops): either side is any `AsyncRead`
//! (TCP or TLS), which offers no readiness wait without a buffer.

use crate::ctx::Req;
use crate::Shared;
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

/// Relays until either side closes or the tunnel is idle for `idle`.
pub async fn run<C, U>(
    shared: &Shared,
    req: &mut Req<'_>,
    client: &mut C,
    upstream: U,
    idle: Duration,
    send_timeout: Duration,
) where
    C: AsyncRead + AsyncWrite + Unpin + Send,
    U: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (mut cr, mut cw) = tokio::io::split(client);
    const SMALL: usize = 512;
    const LARGE: usize = 16 * 1024;
    let mut cbuf = BytesMut::new();
    let mut want = SMALL;
    let mut ubuf = BytesMut::new();
    let mut uwant = SMALL;
    let mut deadline = Instant::now() + idle;
    let idle_msg =
        "upstream timed out (110: Connection timed out) while proxying upgraded connection";
    loop {
        if cbuf.capacity() < want {
            cbuf = BytesMut::with_capacity(want);
        }
        if ubuf.capacity() < uwant {
            ubuf = BytesMut::with_capacity(uwant);
        }
        tokio::select! {
            r = timeout_at(deadline, cr.read_buf(&mut cbuf)) => match r {
                Ok(Ok(n)) if n > 0 => {
                    req.request_length += n as u64;
                    if tokio::time::timeout(send_timeout, uw.write_all(&cbuf)).await.map_or(true, |r| r.is_err()) {
                        break;
                    }
                    // A read that filled the buffer asks for a bigger one next time.
                    want = if n == cbuf.capacity() { (want * 2).min(LARGE) } else { SMALL };
                    cbuf = BytesMut::new();
                    deadline = Instant::now() + idle;
                }
                Ok(_) => break,
                Err(_) => {
                    crate::log::error_log(shared, "info", idle_msg, req);
                    break;
                }
            },
            r = timeout_at(deadline, ur.read_buf(&mut ubuf)) => match r {
                Ok(Ok(n)) if n > 0 => {
                    req.body_bytes_sent += n as u64;
                    req.bytes_sent += n as u64;
                    if tokio::time::timeout(send_timeout, cw.write_all(&ubuf)).await.map_or(true, |r| r.is_err()) {
                        break;
                    }
                    let _ = cw.flush().await;
                    uwant = if n == ubuf.capacity() { (uwant * 2).min(LARGE) } else { SMALL };
                    ubuf = BytesMut::new();
                    deadline = Instant::now() + idle;
                }
                Ok(_) => break,
                Err(_) => {
                    crate::log::error_log(shared, "info", idle_msg, req);
                    break;
                }
            },
        }
    }
    let _ = uw.shutdown().await;
    let _ = cw.shutdown().await;
}
