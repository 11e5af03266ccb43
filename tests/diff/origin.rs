//! The test origin: plain std threads on `127.0.0.1:0`. It records the exact bytes of
//! every request it receives (request line, headers, body) with the connection it came
//! on, and answers each one with the next [`Script`] the running case gave it.
//!
//! Cases run one at a time in a group, first against nginx then against sluice, so the
//! origin's state (scripts, recordings) is reset between the two runs; recordings carry
//! the epoch they were made in, so a late byte from an earlier run never leaks into the
//! next one.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One thing the origin does after reading a request.
#[derive(Clone, Debug)]
pub enum Act {
    /// Write these bytes (`{O0}`… already substituted).
    Send(Vec<u8>),
    /// Wait.
    Sleep(u64),
    /// Close the connection now (with or without having answered).
    Close,
    /// Read the next request on this connection (upstream keepalive).
    KeepAlive,
    /// Copy every byte read back to the peer until EOF (a tunnel after a 101).
    Echo,
    /// As the first act of a script: do not even read the request; keep the connection
    /// open without reading for this many ms, then close (a stuck upstream).
    Stall(u64),
}

/// What the origin does with one request.
pub type Script = Vec<Act>;

/// A request as the origin saw it.
#[derive(Clone, Debug)]
pub struct Record {
    /// Which origin (index).
    pub origin: usize,
    /// The connection's number on that origin (normalised per case by the runner).
    pub conn: u64,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    epoch: u64,
    seq: u64,
}

struct State {
    index: usize,
    epoch: AtomicU64,
    conns: AtomicU64,
    /// Scripts for successive requests (the last one repeats), and how many were used.
    scripts: Mutex<(Vec<Script>, usize)>,
    log: Mutex<Vec<Record>>,
    stop: AtomicBool,
    /// Arrival order across the origins of a group.
    seq: Arc<AtomicU64>,
}

/// The default answer: 200 with a small body naming the origin.
pub fn default_script(index: usize) -> Script {
    let body = format!("origin {index}\n");
    vec![
        Act::Send(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Origin: {index}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ),
        Act::Close,
    ]
}

/// Several origins on their own ports.
pub struct Origins {
    states: Vec<Arc<State>>,
    /// Their ports, by index.
    pub ports: Vec<u16>,
    threads: Vec<JoinHandle<()>>,
}

impl Origins {
    /// Starts `n` origins.
    pub fn start(n: usize) -> std::io::Result<Origins> {
        let mut o = Origins {
            states: Vec::new(),
            ports: Vec::new(),
            threads: Vec::new(),
        };
        let seq = Arc::new(AtomicU64::new(0));
        for index in 0..n {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let port = l.local_addr()?.port();
            let st = Arc::new(State {
                index,
                epoch: AtomicU64::new(0),
                conns: AtomicU64::new(0),
                scripts: Mutex::new((Vec::new(), 0)),
                log: Mutex::new(Vec::new()),
                stop: AtomicBool::new(false),
                seq: seq.clone(),
            });
            let s2 = st.clone();
            o.threads
                .push(std::thread::spawn(move || accept_loop(l, s2)));
            o.states.push(st);
            o.ports.push(port);
        }
        Ok(o)
    }

    /// Starts a new run: forgets recordings and sets each origin's scripts
    /// (`scripts[i]` for origin `i`; missing or empty = the default answer).
    pub fn reset(&self, epoch: u64, scripts: &[Vec<Script>]) {
        for (i, st) in self.states.iter().enumerate() {
            st.epoch.store(epoch, Ordering::SeqCst);
            let s = scripts.get(i).cloned().unwrap_or_default();
            if let Ok(mut g) = st.scripts.lock() {
                *g = (s, 0);
            }
            if let Ok(mut g) = st.log.lock() {
                g.clear();
            }
        }
    }

    /// Every request recorded in `epoch`, all origins, in arrival order.
    pub fn records(&self, epoch: u64) -> Vec<Record> {
        let mut all: Vec<Record> = Vec::new();
        for st in &self.states {
            if let Ok(g) = st.log.lock() {
                all.extend(g.iter().filter(|r| r.epoch == epoch).cloned());
            }
        }
        all.sort_by_key(|r| r.seq);
        all
    }
}

impl Drop for Origins {
    fn drop(&mut self) {
        for (st, port) in self.states.iter().zip(&self.ports) {
            st.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop.
            let _ = TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], *port)),
                Duration::from_millis(200),
            );
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(l: TcpListener, st: Arc<State>) {
    for conn in l.incoming() {
        if st.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(c) = conn else { continue };
        let st = st.clone();
        // Detached: every read in a connection is bounded, so the thread ends by itself.
        std::thread::spawn(move || serve(c, st));
    }
}

/// Reads one request (head and body as framed). `None` when the peer went away or stayed
/// silent before sending anything.
fn read_request(c: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let idle = Duration::from_secs(15);
    let _ = c.set_read_timeout(Some(idle));
    let mut tmp = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        match c.read(&mut tmp) {
            Ok(0) | Err(_) => {
                if buf.is_empty() {
                    return None;
                }
                return Some(std::mem::take(buf));
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let mut len: Option<usize> = None;
    let mut chunked = false;
    for line in head.split("\r\n") {
        if let Some(v) = line.strip_prefix("content-length:") {
            len = v.trim().parse().ok();
        }
        if let Some(v) = line.strip_prefix("transfer-encoding:") {
            chunked = v.trim() == "chunked";
        }
    }
    // A body that never comes (proxy_pass_request_body off still sends Content-Length,
    // SEMANTICS §4.4) is waited for briefly, then the request is taken as it is.
    let _ = c.set_read_timeout(Some(Duration::from_millis(400)));
    let complete = |b: &[u8]| {
        if chunked {
            find(&b[head_end..], b"0\r\n\r\n").map(|i| head_end + i + 5)
        } else {
            let want = head_end + len.unwrap_or(0);
            (b.len() >= want).then_some(want)
        }
    };
    loop {
        if let Some(end) = complete(buf) {
            let rest = buf.split_off(end);
            let req = std::mem::replace(buf, rest);
            return Some(req);
        }
        match c.read(&mut tmp) {
            Ok(0) | Err(_) => return Some(std::mem::take(buf)),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn serve(mut c: TcpStream, st: Arc<State>) {
    if st.stop.load(Ordering::SeqCst) {
        return;
    }
    let conn = st.conns.fetch_add(1, Ordering::SeqCst);
    let stall = st.scripts.lock().ok().and_then(|g| {
        let (list, used) = &*g;
        match list.get(*used).or(list.last()).and_then(|s| s.first()) {
            Some(Act::Stall(ms)) => Some(*ms),
            _ => None,
        }
    });
    if let Some(ms) = stall {
        std::thread::sleep(Duration::from_millis(ms));
        let _ = c.shutdown(Shutdown::Both);
        return;
    }
    let mut buf = Vec::new();
    'requests: loop {
        let Some(req) = read_request(&mut c, &mut buf) else {
            return;
        };
        let epoch = st.epoch.load(Ordering::SeqCst);
        if let Ok(mut g) = st.log.lock() {
            g.push(Record {
                origin: st.index,
                conn,
                bytes: req,
                epoch,
                seq: st.seq.fetch_add(1, Ordering::SeqCst),
            });
        }
        let script = match st.scripts.lock() {
            Ok(mut g) => {
                let (list, used) = &mut *g;
                let s = list
                    .get(*used)
                    .or(list.last())
                    .cloned()
                    .unwrap_or_else(|| default_script(st.index));
                *used += 1;
                s
            }
            Err(_) => default_script(st.index),
        };
        for act in script {
            match act {
                Act::Send(b) => {
                    if c.write_all(&b).is_err() {
                        return;
                    }
                    let _ = c.flush();
                }
                Act::Sleep(ms) | Act::Stall(ms) => std::thread::sleep(Duration::from_millis(ms)),
                Act::Close => {
                    let _ = c.shutdown(Shutdown::Both);
                    return;
                }
                Act::KeepAlive => continue 'requests,
                Act::Echo => {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut tmp = [0u8; 4096];
                    if !buf.is_empty() && c.write_all(&std::mem::take(&mut buf)).is_err() {
                        return;
                    }
                    loop {
                        match c.read(&mut tmp) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if c.write_all(&tmp[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = c.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        let _ = c.shutdown(Shutdown::Both);
        return;
    }
}
