//! ws-load: the WebSocket load generator and echo origin of `bench/ws-bench.sh`.
//!
//! One thread (tokio `current_thread`), no per-message allocation, hand-written framing so
//! that the load side stays cheaper per message than the proxy it measures:
//! - client frames use the all-zero masking key (RFC 6455 §5.3 allows any key; XOR with
//!   zero is a no-op, so neither the client nor the origin touches the payload bytes);
//! - the origin echoes frame by frame (unmasking when the key is not zero), answers
//!   ping with pong and close with close.
//!
//! Modes (every one prints one `key=value ...` line on stdout):
//!   serve     --listen ADDR                             the echo origin, until SIGTERM
//!   check     --addr ADDR [--path P]                    one connection: handshake, echo of
//!                                                       10 B, 1000 B, 70000 B, checked
//!   handshake --addr ADDR --conns C --secs S            closed loop: connect, upgrade
//!                                                       request, read the 101, send a
//!                                                       close frame, read to EOF
//!   latency   --addr ADDR --conns C --rate R --secs S   open loop: R messages/s in total,
//!                                                       spread over C connections; RTTs
//!   flood     --addr ADDR --conns C --window W --secs S closed loop: W messages in flight
//!                                                       per connection; messages/s
//!   hold      --addr ADDR --conns N [--echo]            open N tunnels, print `ready`,
//!                                                       stay idle until SIGTERM/--max-secs
//! Common: --path /ws, --size BYTES (payload, default 64), --warmup SECS (default 2),
//! --max N (bounds the count), --watch PID,PID (report their CPU ticks over the measured
//! window), --cores CPU,CPU (report those CPUs' busy and interrupt ticks over the window),
//! --origin ADDR (also run the echo origin in this process).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A masked (zero key) close frame with status 1000.
const CLOSE: [u8; 8] = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];

static STOP: AtomicBool = AtomicBool::new(false);
static RECORD: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);
static ERRORS: AtomicU64 = AtomicU64::new(0);

struct Args {
    mode: String,
    addr: Option<SocketAddr>,
    listen: Option<SocketAddr>,
    origin: Option<SocketAddr>,
    path: String,
    conns: usize,
    window: usize,
    size: usize,
    rate: f64,
    secs: f64,
    warmup: f64,
    max: u64,
    max_secs: f64,
    parallel: usize,
    echo: bool,
    watch: Vec<u32>,
    cores: Vec<u32>,
}

fn usage() -> ! {
    eprintln!("usage: ws-load serve|check|handshake|latency|flood|hold [options]; see the top of src/main.rs");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    let mut a = Args {
        mode,
        addr: None,
        listen: None,
        origin: None,
        path: "/ws".into(),
        conns: 100,
        window: 1,
        size: 64,
        rate: 10_000.0,
        secs: 10.0,
        warmup: 2.0,
        max: u64::MAX,
        max_secs: 600.0,
        parallel: 200,
        echo: false,
        watch: vec![],
        cores: vec![],
    };
    while let Some(k) = it.next() {
        if k == "--echo" {
            a.echo = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| usage());
        let bad = |what: &str| -> ! {
            eprintln!("ws-load: bad value for {what}: {v}");
            std::process::exit(2)
        };
        match k.as_str() {
            "--addr" => a.addr = Some(v.parse().unwrap_or_else(|_| bad(&k))),
            "--listen" => a.listen = Some(v.parse().unwrap_or_else(|_| bad(&k))),
            "--origin" => a.origin = Some(v.parse().unwrap_or_else(|_| bad(&k))),
            "--path" => a.path = v.clone(),
            "--conns" => a.conns = v.parse().unwrap_or_else(|_| bad(&k)),
            "--window" => a.window = v.parse().unwrap_or_else(|_| bad(&k)),
            "--size" => a.size = v.parse().unwrap_or_else(|_| bad(&k)),
            "--rate" => a.rate = v.parse().unwrap_or_else(|_| bad(&k)),
            "--secs" => a.secs = v.parse().unwrap_or_else(|_| bad(&k)),
            "--warmup" => a.warmup = v.parse().unwrap_or_else(|_| bad(&k)),
            "--max" => a.max = v.parse().unwrap_or_else(|_| bad(&k)),
            "--max-secs" => a.max_secs = v.parse().unwrap_or_else(|_| bad(&k)),
            "--parallel" => a.parallel = v.parse().unwrap_or_else(|_| bad(&k)),
            "--cores" => {
                a.cores = v.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap_or_else(|_| bad(&k))).collect()
            }
            "--watch" => {
                a.watch = v.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap_or_else(|_| bad(&k))).collect()
            }
            _ => usage(),
        }
    }
    a.conns = a.conns.max(1);
    a.window = a.window.max(1);
    a.size = a.size.max(8);
    a
}

fn main() {
    let a = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let code = rt.block_on(async move {
        if let Some(o) = a.origin {
            let l = listen(o).unwrap_or_else(|e| {
                eprintln!("ws-load: bind {o}: {e}");
                std::process::exit(1)
            });
            tokio::spawn(serve(l));
        }
        match a.mode.as_str() {
            "serve" => {
                let addr = a.listen.unwrap_or_else(|| usage());
                let l = listen(addr).unwrap_or_else(|e| {
                    eprintln!("ws-load: bind {addr}: {e}");
                    std::process::exit(1)
                });
                tokio::spawn(serve(l));
                println!("mode=serve listen={addr}");
                wait_term(a.max_secs).await;
                0
            }
            "check" => check(&a).await,
            "handshake" => handshake(&a).await,
            "latency" => latency(&a).await,
            "flood" => flood(&a).await,
            "hold" => hold(&a).await,
            _ => usage(),
        }
    });
    // Do not wait for the tasks still running: the measurements are printed.
    rt.shutdown_background();
    std::process::exit(code);
}

async fn wait_term(max_secs: f64) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal");
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).expect("signal");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = tokio::time::sleep(Duration::from_secs_f64(max_secs)) => {}
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(4096)
}

// ---------------------------------------------------------------------------------------
// Framing

fn b64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

fn accept_key(key: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID.as_bytes());
    b64(&h.finalize())
}

/// A parsed frame header: (header length, payload length, opcode, masking key if any).
fn frame_at(b: &[u8]) -> Option<(usize, usize, u8, Option<[u8; 4]>)> {
    if b.len() < 2 {
        return None;
    }
    let op = b[0] & 0x0f;
    let masked = b[1] & 0x80 != 0;
    let (mut h, len) = match b[1] & 0x7f {
        126 => {
            if b.len() < 4 {
                return None;
            }
            (4, u16::from_be_bytes([b[2], b[3]]) as usize)
        }
        127 => {
            if b.len() < 10 {
                return None;
            }
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[2..10]);
            (10, u64::from_be_bytes(x) as usize)
        }
        n => (2, n as usize),
    };
    let mask = if masked {
        if b.len() < h + 4 {
            return None;
        }
        let m = [b[h], b[h + 1], b[h + 2], b[h + 3]];
        h += 4;
        Some(m)
    } else {
        None
    };
    Some((h, len, op, mask))
}

fn push_header(out: &mut Vec<u8>, b0: u8, len: usize, mask: bool) {
    let m = if mask { 0x80 } else { 0 };
    out.push(b0);
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if mask {
        out.extend_from_slice(&[0, 0, 0, 0]);
    }
}

/// A binary client frame (masked with the zero key) whose payload starts with `stamp`.
fn client_frame(out: &mut Vec<u8>, size: usize, stamp: u64) {
    push_header(out, 0x82, size, true);
    out.extend_from_slice(&stamp.to_le_bytes());
    out.resize(out.len() + size - 8, b'x');
}

fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn header_value<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    for line in head.split(|&c| c == b'\n') {
        if line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name) && line[name.len()] == b':' {
            let v = &line[name.len() + 1..];
            let s = v.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(v.len());
            let e = v.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(s, |p| p + 1);
            return Some(&v[s..e.max(s)]);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// The echo origin

async fn serve(l: TcpListener) {
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = echo_conn(s).await;
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn echo_conn(mut s: TcpStream) -> std::io::Result<()> {
    let mut inb = vec![0u8; 4096];
    let mut have = 0;
    // The upgrade request.
    let end = loop {
        if have == inb.len() {
            if inb.len() >= 65536 {
                return Ok(());
            }
            inb.resize(inb.len() * 2, 0);
        }
        let n = s.read(&mut inb[have..]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        if let Some(e) = head_end(&inb[..have]) {
            break e;
        }
    };
    let Some(key) = header_value(&inb[..end], b"sec-websocket-key") else {
        s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
        return Ok(());
    };
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    s.write_all(resp.as_bytes()).await?;
    inb.copy_within(end..have, 0);
    have -= end;
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let mut pos = 0;
        let mut closing = false;
        while let Some((h, len, op, mask)) = frame_at(&inb[pos..have]) {
            if len > (64 << 20) {
                return Ok(());
            }
            if have - pos < h + len {
                break;
            }
            let payload = &mut inb[pos + h..pos + h + len];
            if let Some(m) = mask {
                if m != [0; 4] {
                    for (i, c) in payload.iter_mut().enumerate() {
                        *c ^= m[i & 3];
                    }
                }
            }
            let b0 = match op {
                0x9 => 0x8a,            // ping -> pong
                0xa => {
                    pos += h + len; // unsolicited pong: nothing to answer
                    continue;
                }
                0x8 => {
                    closing = true;
                    0x88
                }
                _ => inb[pos],
            };
            push_header(&mut out, b0, len, false);
            out.extend_from_slice(&inb[pos + h..pos + h + len]);
            pos += h + len;
            if closing {
                break;
            }
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
            if out.capacity() > 65536 {
                out.shrink_to(4096);
            }
        }
        if closing {
            return Ok(());
        }
        inb.copy_within(pos..have, 0);
        have -= pos;
        if have == inb.len() {
            inb.resize(inb.len() * 2, 0);
        }
        let n = s.read(&mut inb[have..]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
    }
}

// ---------------------------------------------------------------------------------------
// The client side

fn request(a: &Args, host: SocketAddr) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        a.path
    )
    .into_bytes()
}

/// Connects and upgrades. Returns the stream and any bytes read past the 101 head.
async fn open(addr: SocketAddr, req: &[u8], want: &[u8]) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(req).await?;
    let mut buf = vec![0u8; 1024];
    let mut have = 0;
    loop {
        if have == buf.len() {
            return Err(std::io::Error::other("response head too long"));
        }
        let n = s.read(&mut buf[have..]).await?;
        if n == 0 {
            return Err(std::io::Error::other("EOF before the 101 head"));
        }
        have += n;
        if let Some(e) = head_end(&buf[..have]) {
            let head = &buf[..e];
            if !head.starts_with(b"HTTP/1.1 101 ") {
                let line = head.split(|&c| c == b'\r').next().unwrap_or(b"");
                return Err(std::io::Error::other(format!("not 101: {}", String::from_utf8_lossy(line))));
            }
            if header_value(head, b"sec-websocket-accept") != Some(want) {
                return Err(std::io::Error::other("bad Sec-WebSocket-Accept"));
            }
            let rest = buf[e..have].to_vec();
            return Ok((s, rest));
        }
    }
}

fn ticks(pid: u32) -> u64 {
    let p = if pid == 0 { "/proc/self/stat".to_string() } else { format!("/proc/{pid}/stat") };
    let Ok(s) = std::fs::read_to_string(p) else { return 0 };
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let rest = &s[s.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split(' ').collect();
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

/// (all ticks, idle + iowait ticks, irq + softirq ticks) of one CPU, from /proc/stat.
fn core_ticks(cpu: u32) -> (u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let name = format!("cpu{cpu} ");
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(&name) {
            let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
            let g = |i: usize| f.get(i).copied().unwrap_or(0);
            // user nice system idle iowait irq softirq steal
            return ((0..8).map(g).sum(), g(3) + g(4), g(5) + g(6));
        }
    }
    (0, 0, 0)
}

/// CPU ticks of every process on the machine, by pid.
fn all_ticks() -> std::collections::HashMap<u32, u64> {
    let mut m = std::collections::HashMap::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                m.insert(pid, ticks(pid));
            }
        }
    }
    m
}

struct Window {
    others0: std::collections::HashMap<u32, u64>,
    cores0: Vec<(u64, u64, u64)>,
    t0: Instant,
    c0: u64,
    e0: u64,
    ticks0: Vec<u64>,
    self0: u64,
}

/// Waits the warm-up, then measures `secs` (or until `max` counted events).
async fn measure(a: &Args) -> (f64, u64, u64, String) {
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let w = Window {
        others0: all_ticks(),
        cores0: a.cores.iter().map(|&c| core_ticks(c)).collect(),
        t0: Instant::now(),
        c0: COUNT.load(Relaxed),
        e0: ERRORS.load(Relaxed),
        ticks0: a.watch.iter().map(|&p| ticks(p)).collect(),
        self0: ticks(0),
    };
    RECORD.store(true, Relaxed);
    let end = w.t0 + Duration::from_secs_f64(a.secs);
    while Instant::now() < end && COUNT.load(Relaxed) - w.c0 < a.max {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    RECORD.store(false, Relaxed);
    let el = w.t0.elapsed().as_secs_f64();
    let c = COUNT.load(Relaxed) - w.c0;
    let e = ERRORS.load(Relaxed) - w.e0;
    let mut cpu = format!("cpu_self={}", ticks(0) - w.self0);
    for (i, &p) in a.watch.iter().enumerate() {
        cpu += &format!(" cpu_{p}={}", ticks(p).saturating_sub(w.ticks0[i]));
    }
    // Every other process on the machine (those alive at the end; new ones count whole):
    // the background load this run competed with.
    let me = std::process::id();
    let others: u64 = all_ticks()
        .iter()
        .filter(|(p, _)| **p != me && !a.watch.contains(p))
        .map(|(p, t)| t.saturating_sub(*w.others0.get(p).unwrap_or(&0)))
        .sum();
    cpu += &format!(" others={others}");
    // Per CPU: ticks busy (not idle) and in interrupts, over the window (all processes,
    // this machine's other users included).
    for (i, &c) in a.cores.iter().enumerate() {
        let (t1, i1, q1) = core_ticks(c);
        let (t0, i0, q0) = w.cores0[i];
        let total = t1.saturating_sub(t0);
        cpu += &format!(" core{c}_ticks={total} core{c}_busy={} core{c}_irq={}", total.saturating_sub(i1.saturating_sub(i0)), q1.saturating_sub(q0));
    }
    STOP.store(true, Relaxed);
    (el, c, e, cpu)
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[i.clamp(1, v.len()) - 1] as f64 / 1000.0 // ns -> us
}

fn lat_summary(mut v: Vec<u64>) -> String {
    v.sort_unstable();
    format!(
        "n_lat={} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1}",
        v.len(),
        pct(&mut v, 50.0),
        pct(&mut v, 90.0),
        pct(&mut v, 99.0),
        pct(&mut v, 99.9),
        pct(&mut v, 100.0)
    )
}

fn target(a: &Args) -> SocketAddr {
    a.addr.unwrap_or_else(|| usage())
}

async fn check(a: &Args) -> i32 {
    let addr = target(a);
    let want = accept_key(KEY.as_bytes());
    let fut = async {
        let (mut s, mut buf) = open(addr, &request(a, addr), want.as_bytes()).await?;
        for size in [10usize, 1000, 70000] {
            let mut f = Vec::new();
            push_header(&mut f, 0x82, size, true);
            // Replace the zero key by a real one: checks the origin's unmasking.
            let len = f.len();
            f.truncate(len - 4);
            f.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
            let payload: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            let m = [0x11u8, 0x22, 0x33, 0x44];
            f.extend(payload.iter().enumerate().map(|(i, c)| c ^ m[i & 3]));
            s.write_all(&f).await?;
            loop {
                if let Some((h, len, op, _)) = frame_at(&buf) {
                    if buf.len() >= h + len {
                        if op != 2 || buf[h..h + len] != payload[..] {
                            return Err(std::io::Error::other(format!("echo of {size} B differs")));
                        }
                        buf.drain(..h + len);
                        break;
                    }
                }
                let mut tmp = [0u8; 16384];
                let n = s.read(&mut tmp).await?;
                if n == 0 {
                    return Err(std::io::Error::other("EOF"));
                }
                buf.extend_from_slice(&tmp[..n]);
            }
        }
        // Close handshake.
        s.write_all(&CLOSE).await?;
        let mut tmp = [0u8; 64];
        let n = s.read(&mut tmp).await?;
        if n < 2 || tmp[0] != 0x88 {
            return Err(std::io::Error::other("no close frame back"));
        }
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(Ok(())) => {
            println!("mode=check ok=1");
            0
        }
        Ok(Err(e)) => {
            println!("mode=check ok=0 error={:?}", e.to_string());
            1
        }
        Err(_) => {
            println!("mode=check ok=0 error=timeout");
            1
        }
    }
}

async fn handshake(a: &Args) -> i32 {
    let addr = target(a);
    let req: Arc<[u8]> = request(a, addr).into();
    let want: Arc<[u8]> = accept_key(KEY.as_bytes()).into_bytes().into();
    let lats = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 20)));
    let last_err = Arc::new(Mutex::new(String::new()));
    for _ in 0..a.conns {
        let (req, want, lats, last_err) = (req.clone(), want.clone(), lats.clone(), last_err.clone());
        tokio::spawn(async move {
            let mut mine = Vec::with_capacity(1 << 16);
            while !STOP.load(Relaxed) {
                let t = Instant::now();
                let cycle = async {
                    let (mut s, _) = open(addr, &req, &want).await?;
                    let took = t.elapsed().as_nanos() as u64;
                    // The closing handshake: the origin answers the close frame and closes
                    // TCP first (RFC 6455 §7.1.1), so TIME_WAIT stays on the server sides
                    // and this side's connect() never searches ports held in TIME_WAIT.
                    s.write_all(&CLOSE).await?;
                    let mut tmp = [0u8; 256];
                    while s.read(&mut tmp).await? > 0 {}
                    Ok::<u64, std::io::Error>(took)
                };
                match tokio::time::timeout(Duration::from_secs(5), cycle).await {
                    Ok(Ok(took)) => {
                        if RECORD.load(Relaxed) {
                            COUNT.fetch_add(1, Relaxed);
                            mine.push(took);
                        }
                    }
                    Ok(Err(e)) => {
                        if RECORD.load(Relaxed) {
                            ERRORS.fetch_add(1, Relaxed);
                        }
                        *last_err.lock().unwrap() = e.to_string();
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(_) => {
                        if RECORD.load(Relaxed) {
                            ERRORS.fetch_add(1, Relaxed);
                        }
                        *last_err.lock().unwrap() = "timeout".into();
                    }
                }
                if mine.len() >= 4096 {
                    lats.lock().unwrap().append(&mut mine);
                }
            }
            lats.lock().unwrap().append(&mut mine);
        });
    }
    let (el, c, e, cpu) = measure(a).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v = std::mem::take(&mut *lats.lock().unwrap());
    let le = last_err.lock().unwrap().clone();
    println!(
        "mode=handshake conns={} secs={el:.3} count={c} errors={e} rate={:.1} {} {cpu} last_error={:?}",
        a.conns,
        c as f64 / el,
        lat_summary(v),
        le
    );
    0
}

/// Opens `n` upgraded connections, `parallel` at a time.
async fn open_many(a: &Args, n: usize) -> (Vec<(TcpStream, Vec<u8>)>, usize, String) {
    let addr = target(a);
    let req: Arc<[u8]> = request(a, addr).into();
    let want: Arc<[u8]> = accept_key(KEY.as_bytes()).into_bytes().into();
    let mut out = Vec::with_capacity(n);
    let mut errors = 0;
    let mut last = String::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(a.parallel.max(1));
        let mut hs = Vec::with_capacity(k);
        for _ in 0..k {
            let (req, want) = (req.clone(), want.clone());
            hs.push(tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(10), open(addr, &req, &want))
                    .await
                    .unwrap_or_else(|_| Err(std::io::Error::other("timeout")))
            }));
        }
        for h in hs {
            match h.await {
                Ok(Ok(s)) => out.push(s),
                Ok(Err(e)) => {
                    errors += 1;
                    last = e.to_string();
                }
                Err(e) => {
                    errors += 1;
                    last = e.to_string();
                }
            }
        }
        left -= k;
        if errors > n / 10 + 10 {
            break;
        }
    }
    (out, errors, last)
}

/// Reads server frames from `s` until `want` complete frames arrived; calls `each` with
/// every payload. `buf` keeps partial frames between calls.
async fn read_frames(
    r: &mut (impl AsyncReadExt + Unpin),
    buf: &mut Vec<u8>,
    have: &mut usize,
    mut each: impl FnMut(&[u8]),
) -> std::io::Result<usize> {
    loop {
        let mut pos = 0;
        let mut k = 0;
        while let Some((h, len, _, _)) = frame_at(&buf[pos..*have]) {
            if *have - pos < h + len {
                break;
            }
            each(&buf[pos + h..pos + h + len]);
            pos += h + len;
            k += 1;
        }
        if pos > 0 {
            buf.copy_within(pos..*have, 0);
            *have -= pos;
        }
        if k > 0 {
            return Ok(k);
        }
        if *have == buf.len() {
            let l = buf.len();
            buf.resize(l * 2, 0);
        }
        let n = r.read(&mut buf[*have..]).await?;
        if n == 0 {
            return Err(std::io::Error::other("EOF"));
        }
        *have += n;
    }
}

fn seed(buf: &mut [u8], rest: Vec<u8>) -> usize {
    let n = rest.len();
    buf[..n].copy_from_slice(&rest);
    n
}

async fn latency(a: &Args) -> i32 {
    let (conns, errors, last) = open_many(a, a.conns).await;
    if conns.len() < a.conns {
        println!("mode=latency ok=0 opened={} errors={errors} last_error={last:?}", conns.len());
        return 1;
    }
    let epoch = Instant::now();
    let interval = Duration::from_secs_f64(a.conns as f64 / a.rate);
    let lats = Arc::new(Mutex::new(Vec::<u64>::new()));
    let sent = Arc::new(AtomicU64::new(0));
    for (i, (s, rest)) in conns.into_iter().enumerate() {
        let (mut r, mut w) = s.into_split();
        let size = a.size;
        let sent = sent.clone();
        let start = epoch + interval.mul_f64(i as f64 / a.conns as f64);
        tokio::spawn(async move {
            let mut f = Vec::with_capacity(size + 16);
            let mut next = start;
            while !STOP.load(Relaxed) {
                tokio::time::sleep_until(next.into()).await;
                next += interval;
                f.clear();
                client_frame(&mut f, size, epoch.elapsed().as_nanos() as u64);
                if w.write_all(&f).await.is_err() {
                    ERRORS.fetch_add(1, Relaxed);
                    return;
                }
                if RECORD.load(Relaxed) {
                    sent.fetch_add(1, Relaxed);
                }
            }
            // Keep the write half (and the connection) until the process ends.
            std::future::pending::<()>().await;
        });
        let lats = lats.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut have = seed(&mut buf, rest);
            let mut mine = Vec::with_capacity(1 << 14);
            while !STOP.load(Relaxed) {
                let rec = RECORD.load(Relaxed);
                let res = read_frames(&mut r, &mut buf, &mut have, |p| {
                    let now = epoch.elapsed().as_nanos() as u64;
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&p[..8]);
                    if rec {
                        mine.push(now - u64::from_le_bytes(x));
                    }
                })
                .await;
                match res {
                    Ok(k) => {
                        if rec {
                            COUNT.fetch_add(k as u64, Relaxed);
                        }
                    }
                    Err(_) => {
                        ERRORS.fetch_add(1, Relaxed);
                        break;
                    }
                }
            }
            lats.lock().unwrap().append(&mut mine);
        });
    }
    let (el, c, e, cpu) = measure(a).await;
    // Readers finish with their next message (at most one interval away).
    tokio::time::sleep(interval * 3 + Duration::from_millis(50)).await;
    let v = std::mem::take(&mut *lats.lock().unwrap());
    println!(
        "mode=latency conns={} target_rate={} size={} secs={el:.3} sent={} count={c} errors={e} rate={:.1} {} {cpu}",
        a.conns,
        a.rate,
        a.size,
        sent.load(Relaxed),
        c as f64 / el,
        lat_summary(v)
    );
    0
}

async fn flood(a: &Args) -> i32 {
    let (conns, errors, last) = open_many(a, a.conns).await;
    if conns.len() < a.conns {
        println!("mode=flood ok=0 opened={} errors={errors} last_error={last:?}", conns.len());
        return 1;
    }
    for (s, rest) in conns {
        let (size, window) = (a.size, a.window);
        tokio::spawn(async move {
            let (mut r, mut w) = s.into_split();
            let mut frames = Vec::with_capacity((size + 16) * window);
            for _ in 0..window {
                client_frame(&mut frames, size, 0);
            }
            let one = frames.len() / window;
            let mut buf = vec![0u8; 16384];
            let mut have = seed(&mut buf, rest);
            if w.write_all(&frames).await.is_err() {
                ERRORS.fetch_add(1, Relaxed);
                return;
            }
            while !STOP.load(Relaxed) {
                match read_frames(&mut r, &mut buf, &mut have, |_| {}).await {
                    Ok(k) => {
                        if RECORD.load(Relaxed) {
                            COUNT.fetch_add(k as u64, Relaxed);
                        }
                        if w.write_all(&frames[..k.min(window) * one]).await.is_err() {
                            ERRORS.fetch_add(1, Relaxed);
                            return;
                        }
                    }
                    Err(_) => {
                        ERRORS.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
        });
    }
    let (el, c, e, cpu) = measure(a).await;
    println!(
        "mode=flood conns={} window={} size={} secs={el:.3} count={c} errors={e} rate={:.1} {cpu}",
        a.conns,
        a.window,
        a.size,
        c as f64 / el
    );
    0
}

async fn hold(a: &Args) -> i32 {
    let t = Instant::now();
    let (mut conns, errors, last) = open_many(a, a.conns).await;
    let opened = conns.len();
    let mut echo_errors = 0;
    if a.echo {
        // One message each way per tunnel, then silence.
        let mut f = Vec::new();
        client_frame(&mut f, a.size, 1);
        for (s, rest) in conns.iter_mut() {
            let rest = std::mem::take(rest);
            let r = async {
                s.write_all(&f).await?;
                let mut buf = vec![0u8; 256];
                let mut have = seed(&mut buf, rest);
                read_frames(s, &mut buf, &mut have, |_| {}).await
            };
            match tokio::time::timeout(Duration::from_secs(10), r).await {
                Ok(Ok(_)) => {}
                _ => echo_errors += 1,
            }
        }
    }
    println!(
        "ready opened={opened} errors={errors} echo_errors={echo_errors} secs={:.3} last_error={last:?}",
        t.elapsed().as_secs_f64()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    wait_term(a.max_secs).await;
    drop(conns);
    i32::from(opened < a.conns)
}
