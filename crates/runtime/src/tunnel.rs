//! The upgraded connection (SEMANTICS §5.4–5.5): bytes copied both ways without looking
//! at them; any EOF ends both sides once pending data is written; the tunnel closes when
//! no byte moved in either direction for `proxy_read_timeout`.
//!
//! A tunnel runs after its request's future is gone (`conn::serve`), so an idle one holds
//! the two sockets and little else. Memory: a plain upstream side holds no buffer (it
//! waits for readiness and allocates a buffer only once bytes are there); a TLS upstream
//! side and the client side (any `AsyncRead`, TCP or TLS, which offers no readiness wait
//! without a buffer) hold a small buffer each: 512 bytes, doubled up to 16 KiB while
//! reads fill it, back to 512 once traffic stops.

use crate::ctx::Req;
use crate::deadline::timeout;
use crate::upstream::tls::UpIo;
use crate::Shared;
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

const SMALL: usize = 512;
const LARGE: usize = 16 * 1024;

/// An upgraded upstream connection waiting for its tunnel.
pub struct Pending {
    /// The upstream connection (its 101 was read and relayed).
    pub upstream: UpIo,
    /// `proxy_read_timeout`: the tunnel closes after this long without a byte.
    pub idle: Duration,
    /// `send_timeout` for writes to the client (and to the upstream).
    pub send_timeout: Duration,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("idle", &self.idle)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

/// The upstream side, read and written in turn (`select!` drops its read futures before
/// a handler writes, so no split halves and no lock between them are needed).
struct Up<'a> {
    io: &'a mut UpIo,
    /// TLS: the size of the next read buffer.
    want: usize,
}

impl Up<'_> {
    /// The next bytes from the upstream; empty at EOF. A plain socket is read after
    /// readiness into a fresh buffer; TLS through the stream into an adaptive one.
    async fn next(&mut self) -> std::io::Result<BytesMut> {
        match &mut *self.io {
            UpIo::Plain(s) => loop {
                // `poll_read_ready` (one waker slot) rather than `readable()` (a waiter
                // list entry per wait): the cheaper of tokio's two readiness waits.
                std::future::poll_fn(|cx| s.poll_read_ready(cx)).await?;
                let mut buf = BytesMut::with_capacity(LARGE);
                match s.try_read_buf(&mut buf) {
                    Ok(_) => return Ok(buf),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
            UpIo::Tls(s) => {
                let mut buf = BytesMut::with_capacity(self.want);
                let n = s.read_buf(&mut buf).await?;
                self.want = if n == buf.capacity() {
                    (self.want * 2).min(LARGE)
                } else {
                    SMALL
                };
                Ok(buf)
            }
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut *self.io {
            UpIo::Plain(s) => s.write_all(data).await,
            UpIo::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }
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
    // nginx closes both sockets when the tunnel ends, with no `shutdown()` first: the
    // upstream is dropped here, the client by `conn::serve`.
    let up = Up {
        io: &mut upstream,
        want: SMALL,
    };
    relay(shared, req, client, early, up, idle, send_timeout).await;
}

#[allow(clippy::too_many_arguments)]
async fn relay<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    client: &mut C,
    early: &mut BytesMut,
    mut up: Up<'_>,
    idle: Duration,
    send_timeout: Duration,
) {
    if !early.is_empty() {
        req.request_length += early.len() as u64;
        let sent = timeout(send_timeout, up.write_all(early)).await;
        if sent.map_or(true, |r| r.is_err()) {
            return;
        }
    }
    *early = BytesMut::new();
    let mut cbuf = BytesMut::new();
    let mut want = SMALL;
    // One timer for the tunnel's life, moved only when it fires: bytes moving just push
    // `deadline` (nginx re-adds its timer per event; a timer-wheel update per message
    // would cost more than the copy). In a client connection's task that timer is the
    // connection's alarm (nothing else of the task waits meanwhile); an HTTP/2 stream's
    // tunnel has a timer of its own.
    let mut deadline = Instant::now() + idle;
    let sleep = crate::slots::CONN
        .try_with(|_| ())
        .is_err()
        .then(|| tokio::time::sleep_until(deadline));
    tokio::pin!(sleep);
    let idle_msg =
        "upstream timed out (110: Connection timed out) while proxying upgraded connection";
    loop {
        if cbuf.capacity() < want {
            cbuf = BytesMut::with_capacity(want);
        }
        tokio::select! {
            r = client.read_buf(&mut cbuf) => match r {
                Ok(n) if n > 0 => {
                    req.request_length += n as u64;
                    if timeout(send_timeout, up.write_all(&cbuf)).await.map_or(true, |r| r.is_err()) {
                        break;
                    }
                    // A read that filled the buffer asks for a bigger one next time.
                    want = if n == cbuf.capacity() { (want * 2).min(LARGE) } else { SMALL };
                    cbuf = BytesMut::new();
                    deadline = Instant::now() + idle;
                }
                _ => break,
            },
            r = up.next() => match r {
                Ok(ubuf) if !ubuf.is_empty() => {
                    let n = ubuf.len() as u64;
                    req.body_bytes_sent += n;
                    req.bytes_sent += n;
                    if timeout(send_timeout, client.write_all(&ubuf)).await.map_or(true, |r| r.is_err()) {
                        break;
                    }
                    let _ = client.flush().await;
                    deadline = Instant::now() + idle;
                }
                _ => break,
            },
            () = std::future::poll_fn(|cx| crate::deadline::poll_idle(sleep.as_mut(), deadline, cx)) => {
                crate::log::error_log(shared, "info", idle_msg, req);
                break;
            }
        }
    }
}
