//! The client side of a case: raw bytes over one TCP connection, and what came back,
//! read as an HTTP/1 response (framed by HEAD, status, `Transfer-Encoding` and
//! `Content-Length`, else up to EOF), as raw bytes, or as "the server closed".

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One client action.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write bytes.
    Send(Vec<u8>),
    /// Read one response; `head` = it answers a HEAD request (no body).
    Response { head: bool },
    /// Read whatever arrives within this many ms (or up to EOF).
    Raw(u64),
    /// Wait up to this many ms for EOF: observes whether the server closed.
    Eof(u64),
    /// `shutdown(SHUT_WR)`.
    HalfClose,
    /// Pause.
    Sleep(u64),
}

/// What was observed.
#[derive(Clone, Debug, PartialEq)]
pub enum Obs {
    /// An HTTP response.
    Resp(Resp),
    /// Bytes read (a non-HTTP reply, or a tunnel).
    Raw(Vec<u8>),
    /// The connection closed before any byte of a response came.
    Nothing,
    /// Whether the server closed within the wait (`Eof`).
    Closed(bool),
    /// The client could not even connect or write.
    Error(String),
}

/// A parsed response.
#[derive(Clone, Debug, PartialEq)]
pub struct Resp {
    /// `HTTP/1.1 200 OK`.
    pub status_line: Vec<u8>,
    /// Headers in order, names as sent.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// The body ended as framed (false: EOF came first).
    pub complete: bool,
}

/// An observation and when it ended, from the start of the case.
pub struct Timed {
    pub obs: Obs,
    pub at: Duration,
}

/// Connects from `src` (any port) to `addr`.
fn connect(src: Option<std::net::IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(ip) = src else {
        return TcpStream::connect_timeout(&addr, Duration::from_secs(3));
    };
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::new(ip, 0).into())?;
    s.connect_timeout(&addr.into(), Duration::from_secs(3))?;
    Ok(s.into())
}

/// Runs the steps against `addr` (from `src` when given); every wait is bounded by
/// `limit`.
pub fn run(
    src: Option<std::net::IpAddr>,
    addr: SocketAddr,
    steps: &[Step],
    limit: Duration,
) -> Vec<Timed> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut c = match connect(src, addr) {
        Ok(c) => c,
        Err(e) => {
            out.push(Timed {
                obs: Obs::Error(format!("connect: {e}")),
                at: start.elapsed(),
            });
            return out;
        }
    };
    let _ = c.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::new();
    let mut eof = false;
    for s in steps {
        let obs = match s {
            Step::Send(b) => {
                if let Err(e) = c.write_all(b) {
                    Some(Obs::Error(format!("write: {e}")))
                } else {
                    None
                }
            }
            Step::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                None
            }
            Step::HalfClose => {
                let _ = c.shutdown(Shutdown::Write);
                None
            }
            Step::Response { head } => {
                Some(read_response(&mut c, &mut buf, &mut eof, *head, limit))
            }
            Step::Raw(ms) => {
                let deadline = Instant::now() + Duration::from_millis(*ms).min(limit);
                while !eof {
                    match fill(&mut c, &mut buf, deadline) {
                        Fill::Data => {}
                        Fill::Eof => eof = true,
                        Fill::Timeout => break,
                    }
                }
                Some(Obs::Raw(std::mem::take(&mut buf)))
            }
            Step::Eof(ms) => {
                let deadline = Instant::now() + Duration::from_millis(*ms).min(limit);
                let mut closed = eof;
                while !closed {
                    match fill(&mut c, &mut buf, deadline) {
                        Fill::Eof => closed = true,
                        Fill::Timeout => break,
                        Fill::Data => {}
                    }
                }
                eof = closed;
                Some(Obs::Closed(closed))
            }
        };
        if let Some(obs) = obs {
            out.push(Timed {
                obs,
                at: start.elapsed(),
            });
        }
    }
    out
}

#[derive(PartialEq)]
enum Fill {
    Data,
    Eof,
    Timeout,
}

/// One read into `buf`, waiting at most until `deadline`.
fn fill(c: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> Fill {
    let now = Instant::now();
    if now >= deadline {
        return Fill::Timeout;
    }
    let _ = c.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))));
    let mut tmp = [0u8; 16384];
    match c.read(&mut tmp) {
        Ok(0) => Fill::Eof,
        Ok(n) => {
            buf.extend_from_slice(&tmp[..n]);
            Fill::Data
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Fill::Timeout
        }
        Err(_) => Fill::Eof,
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn read_response(
    c: &mut TcpStream,
    buf: &mut Vec<u8>,
    eof: &mut bool,
    head_req: bool,
    limit: Duration,
) -> Obs {
    let deadline = Instant::now() + limit;
    // The head (or proof that this is not HTTP).
    let head_end = loop {
        if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
            while !*eof {
                match fill(c, buf, deadline) {
                    Fill::Data => {}
                    Fill::Eof => *eof = true,
                    Fill::Timeout => break,
                }
            }
            return Obs::Raw(std::mem::take(buf));
        }
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if *eof {
            return if buf.is_empty() {
                Obs::Nothing
            } else {
                Obs::Raw(std::mem::take(buf))
            };
        }
        match fill(c, buf, deadline) {
            Fill::Data => {}
            Fill::Eof => *eof = true,
            Fill::Timeout => {
                return if buf.is_empty() {
                    Obs::Error("timed out waiting for a response".into())
                } else {
                    Obs::Raw(std::mem::take(buf))
                }
            }
        }
    };
    let head: Vec<u8> = buf.drain(..head_end).collect();
    let mut lines = head[..head.len() - 4].split(|b| *b == b'\n');
    let status_line = lines.next().unwrap_or_default().to_vec();
    let status_line = status_line
        .strip_suffix(b"\r")
        .map_or(status_line.clone(), <[u8]>::to_vec);
    let mut headers = Vec::new();
    for l in lines {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let (n, v) = match l.iter().position(|b| *b == b':') {
            Some(i) => (&l[..i], l[i + 1..].trim_ascii()),
            None => (l, &b""[..]),
        };
        headers.push((n.to_vec(), v.to_vec()));
    }
    let code: u16 = std::str::from_utf8(status_line.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let hdr = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v).to_ascii_lowercase())
    };
    let mut resp = Resp {
        status_line,
        headers: headers.clone(),
        body: Vec::new(),
        complete: true,
    };
    if head_req || code == 204 || code == 304 || (100..200).contains(&code) {
        return Obs::Resp(resp);
    }
    if hdr("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        // De-chunk; chunk sizes are not compared (nginx's depend on its buffers).
        loop {
            let Some(le) = find(buf, b"\r\n") else {
                if *eof || fill(c, buf, deadline) != Fill::Data {
                    resp.complete = false;
                    break;
                }
                continue;
            };
            let size_txt = String::from_utf8_lossy(&buf[..le]).to_string();
            let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16);
            let Ok(size) = size else {
                resp.complete = false;
                resp.body.extend_from_slice(b"<bad chunk size>");
                break;
            };
            if size == 0 {
                // Trailer section: up to the empty line.
                loop {
                    if let Some(i) = find(&buf[le..], b"\r\n\r\n") {
                        buf.drain(..le + i + 4);
                        break;
                    }
                    if *eof || fill(c, buf, deadline) != Fill::Data {
                        resp.complete = false;
                        break;
                    }
                }
                break;
            }
            while buf.len() < le + 2 + size + 2 {
                if *eof || fill(c, buf, deadline) != Fill::Data {
                    break;
                }
            }
            if buf.len() < le + 2 + size + 2 {
                let have = buf.len().saturating_sub(le + 2).min(size);
                resp.body.extend_from_slice(&buf[le + 2..le + 2 + have]);
                buf.clear();
                resp.complete = false;
                break;
            }
            resp.body.extend_from_slice(&buf[le + 2..le + 2 + size]);
            buf.drain(..le + 2 + size + 2);
        }
        return Obs::Resp(resp);
    }
    if let Some(len) = hdr("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        while buf.len() < len && !*eof {
            match fill(c, buf, deadline) {
                Fill::Data => {}
                Fill::Eof => *eof = true,
                Fill::Timeout => break,
            }
        }
        let n = len.min(buf.len());
        resp.body = buf.drain(..n).collect();
        resp.complete = n == len;
        return Obs::Resp(resp);
    }
    // Close-delimited.
    while !*eof {
        match fill(c, buf, deadline) {
            Fill::Data => {}
            Fill::Eof => *eof = true,
            Fill::Timeout => {
                resp.complete = false;
                break;
            }
        }
    }
    resp.body = std::mem::take(buf);
    Obs::Resp(resp)
}
