//! The upgraded connection (SEMANTICS §5.4–5.5): bytes copied both ways without looking
//! at them; any EOF ends both sides once pending data is written; the tunnel closes when
//! no byte moved in either direction for `proxy_read_timeout`.
//!
//! Memory: an idle tunnel holds no upstream buffer (it waits for readiness and allocates
//! a buffer only once bytes are there) and a small client buffer (512 bytes, doubled up
//! to 16 KiB while reads fill it, back to 512 once traffic stops): the client side is any
//! `AsyncRead` (TCP or TLS), which offers no readiness wait without a buffer.

use crate::ctx::Req;
use crate::deadline::{timeout, timeout_at};
use crate::Shared;
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// An upgraded upstream connection waiting for its tunnel.
#[derive(Debug)]
pub struct Pending {
    /// The upstream socket (its 101 was read and relayed).
    pub upstream: TcpStream,
    /// `proxy_read_timeout`: the tunnel closes after this long without a byte.
    pub idle: Duration,
    /// `send_timeout` for writes to the client (and to the upstream).
    pub send_timeout: Duration,
}

/// Relays until either side closes or the tunnel is idle for `idle`. `early` holds what
/// the client sent after the request head (nginx forwards it, `r->header_in`); it is
/// sent upstream first and then freed.
pub async fn run<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    client: &mut C,
    early: &mut BytesMut,
    pending: Pending,
) {
    let Pending {
        mut upstream,
        idle,
        send_timeout,
    } = pending;
    // Borrowed halves: nginx closes both sockets when the tunnel ends, with no
    // `shutdown()` first, and an owned write half would shut down on drop.
    let (ur, mut uw) = upstream.split();
    if !early.is_empty() {
        req.request_length += early.len() as u64;
        let sent = timeout(send_timeout, uw.write_all(early)).await;
        if sent.map_or(true, |r| r.is_err()) {
            return;
        }
    }
    *early = BytesMut::new();
    let (mut cr, mut cw) = tokio::io::split(client);
    const SMALL: usize = 512;
    const LARGE: usize = 16 * 1024;
    let mut cbuf = BytesMut::new();
    let mut want = SMALL;
    let mut deadline = Instant::now() + idle;
    let idle_msg =
        "upstream timed out (110: Connection timed out) while proxying upgraded connection";
    loop {
        if cbuf.capacity() < want {
            cbuf = BytesMut::with_capacity(want);
        }
        tokio::select! {
            r = timeout_at(deadline, cr.read_buf(&mut cbuf)) => match r {
                Ok(Ok(n)) if n > 0 => {
                    req.request_length += n as u64;
                    if timeout(send_timeout, uw.write_all(&cbuf)).await.map_or(true, |r| r.is_err()) {
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
            r = timeout_at(deadline, ur.readable()) => match r {
                Ok(Ok(())) => {
                    let mut ubuf = BytesMut::with_capacity(LARGE);
                    match ur.try_read_buf(&mut ubuf) {
                        Ok(0) => break,
                        Ok(n) => {
                            req.body_bytes_sent += n as u64;
                            req.bytes_sent += n as u64;
                            if timeout(send_timeout, cw.write_all(&ubuf)).await.map_or(true, |r| r.is_err()) {
                                break;
                            }
                            let _ = cw.flush().await;
                            deadline = Instant::now() + idle;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                }
                Ok(Err(_)) => break,
                Err(_) => {
                    crate::log::error_log(shared, "info", idle_msg, req);
                    break;
                }
            },
        }
    }
}
