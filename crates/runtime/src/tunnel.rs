//! The upgraded connection (SEMANTICS §5.4–5.5): bytes copied both ways without looking
//! at them; any EOF ends both sides once pending data is written; the tunnel closes when
//! no byte moved in either direction for `proxy_read_timeout`.
//!
//! Memory: one buffer per direction, allocated only while data is moving
//! (`read_buf` into a `BytesMut` that is reserved on demand and released when empty),
//! so an idle tunnel holds no read buffers.

use crate::ctx::Req;
use crate::Shared;
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Relays until either side closes or the tunnel is idle for `idle`.
pub async fn run<C: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: &Shared,
    req: &mut Req<'_>,
    client: &mut C,
    upstream: TcpStream,
    idle: Duration,
    send_timeout: Duration,
) {
    let (mut ur, mut uw) = upstream.into_split();
    let (mut cr, mut cw) = tokio::io::split(client);
    let mut cbuf = BytesMut::new();
    let mut ubuf = BytesMut::new();
    let mut deadline = Instant::now() + idle;
    loop {
        // Wait for readability without holding a buffer: reserve only once data is there.
        if cbuf.capacity() == 0 {
            cbuf.reserve(4096);
        }
        if ubuf.capacity() == 0 {
            ubuf.reserve(4096);
        }
        tokio::select! {
            r = timeout_at(deadline, cr.read_buf(&mut cbuf)) => match r {
                Ok(Ok(n)) if n > 0 => {
                    req.request_length += n as u64;
                    if tokio::time::timeout(send_timeout, uw.write_all(&cbuf)).await.map_or(true, |r| r.is_err()) {
                        break;
                    }
                    cbuf = BytesMut::new();
                    deadline = Instant::now() + idle;
                }
                Ok(_) => break,
                Err(_) => {
                    crate::log::error_log(shared, "info", "upstream timed out (110: Connection timed out) while proxying upgraded connection", req);
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
                    ubuf = BytesMut::new();
                    deadline = Instant::now() + idle;
                }
                Ok(_) => break,
                Err(_) => {
                    crate::log::error_log(shared, "info", "upstream timed out (110: Connection timed out) while proxying upgraded connection", req);
                    break;
                }
            },
        }
    }
    let _ = uw.shutdown().await;
    let _ = cw.shutdown().await;
}
