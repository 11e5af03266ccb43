//! sluice-runtime: serves a compiled routing table. Listeners, the HTTP/1 server,
//! proxying, upstream pools and balancing, upgrade tunnels, timeouts, logs, reload.
//!
//! The only crate with tokio (and, as TLS and HTTP/2 land, hyper and rustls). It reads
//! `sluice_compiler::table` values and never sees configuration text.
//!
//! **Reload invariant**: the table and the balancers built for it are one [`Live`]
//! value, swapped atomically; a request keeps the `Live` it started with, so requests and
//! tunnels in flight finish on the old configuration while new ones use the new one.

pub mod access;
pub mod auth_request;
pub mod clock;
pub mod conn;
pub mod crypt;
pub mod ctx;
pub mod deadline;
pub mod h2;
pub mod http1;
mod keyfile;
pub mod log;
pub mod master;
pub mod proxy;
pub mod respond;
pub mod server;
pub mod slots;
pub mod static_files;
pub mod tls;
pub mod tunnel;
pub mod upstream;

use arc_swap::ArcSwap;
use sluice_compiler::table::{LogLevel, RoutingTable};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use upstream::balance::{Balancer, Method as BMethod, PeerConf};

pub use server::{run, RunOptions};

/// The clock behind `Date` and `$time_local`.
pub static CLOCK: LazyLock<respond::Clock> = LazyLock::new(respond::Clock::default);

/// `YYYY/MM/DD HH:MM:SS` for error-log lines (UTC).
pub fn time_now() -> String {
    let d = CLOCK.http_date(); // "Sun, 22 Nov 2026 00:30:00 GMT"
    let t = CLOCK.time_local(); // "22/Nov/2026:00:30:00 +0000"
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months
        .iter()
        .position(|x| t.get(3..6) == Some(*x))
        .map_or(1, |i| i + 1);
    let _ = d;
    format!(
        "{}/{m:02}/{} {}",
        t.get(7..11).unwrap_or("1970"),
        t.get(0..2).unwrap_or("01"),
        t.get(12..20).unwrap_or("00:00:00")
    )
}

/// A configuration being served: the table and its balancers.
pub struct Live {
    /// The table.
    pub table: RoutingTable,
    /// One balancer per upstream group, same indices as `table.upstreams`.
    pub balancers: Vec<Balancer>,
    /// The TLS configuration of each ssl listener (empty from [`Live::new`]).
    pub tls: tls::Configs,
    /// The TLS client configurations for `https://` upstreams (empty from [`Live::new`]).
    pub upstream_tls: upstream::tls::Clients,
}

impl Live {
    /// Builds the balancers and the TLS configurations (certificates are read now; an
    /// error is nginx's message).
    pub fn load(table: RoutingTable) -> Result<Live, String> {
        let tls = tls::build(&table)?;
        let upstream_tls = upstream::tls::build(&table)?;
        let mut live = Live::new(table);
        live.tls = tls;
        live.upstream_tls = upstream_tls;
        Ok(live)
    }

    /// Builds the balancers for a table (no TLS configurations: see [`Live::load`]).
    pub fn new(table: RoutingTable) -> Live {
        let balancers = table
            .upstreams
            .iter()
            .map(|g| {
                let method = match g.method {
                    sluice_compiler::table::Method::RoundRobin => BMethod::RoundRobin,
                    sluice_compiler::table::Method::LeastConn => BMethod::LeastConn,
                    sluice_compiler::table::Method::IpHash => BMethod::IpHash,
                    sluice_compiler::table::Method::Hash { consistent } => {
                        BMethod::Hash { consistent }
                    }
                };
                let peers = g
                    .peers
                    .iter()
                    .map(|p| PeerConf {
                        addr: p.addr,
                        server_text: p.text.clone(),
                        weight: p.weight,
                        max_fails: p.max_fails,
                        fail_timeout: p.fail_timeout,
                        max_conns: p.max_conns,
                        backup: p.backup,
                        down: p.down,
                    })
                    .collect();
                Balancer::new(method, peers)
            })
            .collect();
        Live {
            table,
            balancers,
            tls: tls::Configs::new(),
            upstream_tls: upstream::tls::Clients::new(),
        }
    }
}

/// State shared by every connection.
pub struct Shared {
    /// The configuration being served.
    pub live: ArcSwap<Live>,
    /// Idle upstream connections.
    pub pool: Pool,
    /// The log writer thread.
    pub logs: log::LogWriter,
    /// Main error log file (`None` = stderr).
    pub error_log: Option<PathBuf>,
    /// Its level.
    pub error_level: LogLevel,
    /// Connections accepted so far (`$connection`).
    pub connections: std::sync::atomic::AtomicU64,
    /// `worker_connections`: the slots client and upstream connections take.
    pub slots: Arc<slots::Slots>,
    /// Connections open now.
    pub active: std::sync::atomic::AtomicUsize,
    /// Requests begun so far (`stub_status`' third number).
    pub requests: std::sync::atomic::AtomicU64,
    /// Connections reading a request head now.
    pub reading: std::sync::atomic::AtomicUsize,
    /// Requests being processed now.
    pub writing: std::sync::atomic::AtomicUsize,
    /// Set by QUIT: connections close once idle (between requests) instead of waiting.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Woken when a connection closes while the process stops gracefully (`stopping`).
    pub closed: tokio::sync::Notify,
    /// QUIT was received: closing connections wake `closed`.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Advertise `SETTINGS_ENABLE_CONNECT_PROTOCOL` and bridge RFC 8441 WebSockets.
    pub http2_websocket: bool,
}

/// Counts one in a gauge while alive (a connection reading a head, a request being
/// processed); the count drops when the value does, however the task ends.
pub struct Gauge<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Gauge<'a> {
    /// Counts one in `g`.
    pub fn new(g: &'a std::sync::atomic::AtomicUsize) -> Gauge<'a> {
        g.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Gauge(g)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Shared {
    /// `stub_status`' figures: active, accepted (= handled), requests, reading,
    /// writing, waiting (the open connections doing neither).
    pub fn status_counts(&self) -> [u64; 6] {
        use std::sync::atomic::Ordering::Relaxed;
        let active = self.active.load(Relaxed) as u64;
        let reading = self.reading.load(Relaxed) as u64;
        let writing = self.writing.load(Relaxed) as u64;
        [
            active,
            self.connections.load(Relaxed),
            self.requests.load(Relaxed),
            reading,
            writing,
            active.saturating_sub(reading + writing),
        ]
    }

    /// The idle wait between requests on a kept-alive connection.
    pub fn last_keepalive(&self, server: &sluice_compiler::table::Server) -> Duration {
        server.conf.keepalive_timeout
    }
}

/// Idle upstream connections by peer address, each tagged with its group and its TLS
/// settings (`UpstreamTls::key`, 0 for plain HTTP: a connection is reused only by a
/// location with the same `proxy_ssl_*` values) — the keepalive pool of SEMANTICS §8.8.
/// Connections that saw an error never come back here; one the upstream closed while it
/// was idle is skipped when taken (`upstream::tls::idle_and_open`).
/// Looking up and returning a connection allocates nothing once a group has been seen.
///
/// Each runtime thread keeps its own pool, as each nginx worker keeps its own cache (so
/// `keepalive N` is per thread as it is per worker), and takes no lock for it.
#[derive(Default)]
pub struct Pool {
    _per_thread: (),
}

thread_local! {
    static POOL: std::cell::RefCell<PoolInner> = std::cell::RefCell::new(PoolInner::default());
}

#[derive(Default)]
struct PoolInner {
    /// Per group, its idle connections: a stack (the most recently parked is taken
    /// first, and its memory is warm).
    groups: Vec<Group>,
    /// When a trim of the groups over their limit was queued on this thread
    /// ([`trim_later`]), if one is.
    trim_queued: Option<u64>,
}

/// One group's idle connections in a thread's pool.
struct Group {
    /// [`group_tag`] of its name.
    tag: u64,
    /// Its `keepalive N` as last parked with.
    max: usize,
    /// The longest idle first.
    idle: Vec<Idle>,
}

/// A group's tag in the pool: a hash (FNV-1a) of its name, so that connections outlive a
/// reload that keeps the group (the peer address is part of the key, so two groups
/// sharing a tag would at worst share connections to the same server).
fn group_tag(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A parked connection: its peer, its TLS settings, since when, and its life so far.
struct Idle {
    addr: SocketAddr,
    tls: u64,
    io: upstream::tls::UpIo,
    /// [`clock::mono_ms`] when it was parked.
    since: u64,
    life: ConnLife,
}

/// What an upstream connection has carried: the upstream `keepalive_requests` and
/// `keepalive_time` limits are checked against it when it is to be parked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnLife {
    /// Requests sent on it, the current one included (nginx's `c->requests`).
    pub requests: u64,
    /// [`clock::mono_ms`] when it was connected (`c->start_time`).
    pub born: u64,
}

impl ConnLife {
    /// A connection just opened, for its first request.
    pub fn new() -> ConnLife {
        ConnLife {
            requests: 1,
            born: clock::mono_ms(),
        }
    }

    /// Whether the group's limits let it be parked after this request
    /// (`ngx_http_upstream_free_keepalive_peer()`: `c->requests >= requests` or
    /// `ngx_current_msec - c->start_time > time` close it instead).
    pub fn may_park(&self, group: &sluice_compiler::table::UpstreamGroup) -> bool {
        let time = u64::try_from(group.keepalive_time.as_millis()).unwrap_or(u64::MAX);
        self.requests < group.keepalive_requests
            && clock::mono_ms().saturating_sub(self.born) <= time
    }
}

impl Pool {
    /// Takes the most recently parked connection to `addr` of group `group`, if one is
    /// still within `idle_timeout`; the group's connections idle longer than that are
    /// closed on the way (nginx closes them when their timer fires).
    pub fn take(
        &self,
        group: &str,
        tls: u64,
        addr: SocketAddr,
        idle_timeout: Duration,
    ) -> Option<(upstream::tls::UpIo, ConnLife)> {
        let tag = group_tag(group);
        POOL.with_borrow_mut(|inner| {
            let list = &mut inner.groups.iter_mut().find(|g| g.tag == tag)?.idle;
            let now = clock::mono_ms();
            let limit = u64::try_from(idle_timeout.as_millis()).unwrap_or(u64::MAX);
            // Those idle too long are at the front (parked first).
            let expired = list
                .iter()
                .position(|c| now.saturating_sub(c.since) < limit)
                .unwrap_or(list.len());
            if expired > 0 {
                list.drain(..expired);
            }
            let i = list.iter().rposition(|c| c.addr == addr && c.tls == tls)?;
            let c = list.remove(i);
            let life = ConnLife {
                requests: c.life.requests + 1,
                ..c.life
            };
            Some((c.io, life))
        })
    }

    /// Parks a connection after a complete, reusable exchange, unless it reached the
    /// group's `keepalive_requests` or `keepalive_time` (it is closed then); keeps at
    /// most `keepalive` idle per group, dropping that group's longest idle (nginx's LRU
    /// eviction) at the end of the event loop's turn ([`trim_later`]).
    pub fn put(
        &self,
        group: &sluice_compiler::table::UpstreamGroup,
        tls: u64,
        addr: SocketAddr,
        io: upstream::tls::UpIo,
        life: ConnLife,
    ) {
        if group.keepalive == 0 || !life.may_park(group) {
            return;
        }
        let tag = group_tag(&group.name);
        POOL.with_borrow_mut(|inner| put_in(inner, tag, tls, addr, io, group.keepalive, life));
    }
}

/// How many connections of group `name` are parked on this thread.
#[cfg(test)]
fn idle_count(name: &str) -> usize {
    let tag = group_tag(name);
    POOL.with_borrow(|inner| {
        inner
            .groups
            .iter()
            .find(|g| g.tag == tag)
            .map_or(0, |g| g.idle.len())
    })
}

/// [`Pool::put`] into the pool of the current thread.
fn put_in(
    inner: &mut PoolInner,
    tag: u64,
    tls: u64,
    addr: SocketAddr,
    io: upstream::tls::UpIo,
    max: usize,
    life: ConnLife,
) {
    let i = match inner.groups.iter().position(|g| g.tag == tag) {
        Some(i) => i,
        None => {
            inner.groups.push(Group {
                tag,
                max,
                idle: Vec::new(),
            });
            inner.groups.len() - 1
        }
    };
    inner.groups[i].max = max;
    inner.groups[i].idle.push(Idle {
        addr,
        tls,
        io,
        since: clock::mono_ms(),
        life,
    });
    if inner.groups[i].idle.len() > max && !trim_later(inner) {
        inner.groups[i].idle.remove(0);
    }
}

/// Queues, on a current-thread runtime, the closing of each group's longest-idle
/// connections beyond its `keepalive N`, to run after the next poll for I/O: the
/// requests that poll wakes take parked connections first. nginx closes the excess at
/// once; sluice lets it stand for that one turn of the event loop. Without it, when the
/// clients move in step (a run of responses parks every connection, then a run of
/// requests takes them all), each turn closes the connections the next one reopens: a
/// quarter of all requests reconnected in such storms (docs/benchmarks.md, "Upstream
/// reconnect storms"). Returns false where nothing can be queued (another runtime
/// flavour: its tasks move between threads, and the pool is per thread); the caller
/// then closes the connection at once.
fn trim_later(inner: &mut PoolInner) -> bool {
    let now = clock::mono_ms();
    // A queued trim older than a second was lost (its runtime stopped): queue another.
    if inner
        .trim_queued
        .is_some_and(|t| now.saturating_sub(t) < 1000)
    {
        return true;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread {
        return false;
    }
    inner.trim_queued = Some(now);
    rt.spawn(async {
        // Resumes after the next poll for I/O and the tasks it woke.
        tokio::task::yield_now().await;
        let closed: Vec<Idle> = POOL.with_borrow_mut(|inner| {
            inner.trim_queued = None;
            let mut closed = Vec::new();
            for g in &mut inner.groups {
                if g.idle.len() > g.max {
                    let n = g.idle.len() - g.max;
                    closed.extend(g.idle.drain(..n));
                }
            }
            closed
        });
        // Closed outside the pool's borrow.
        drop(closed);
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_compiler::table::UpstreamGroup;

    fn group(requests: u64, time: Duration) -> UpstreamGroup {
        let mut g = UpstreamGroup::new("g".into(), Vec::new());
        g.keepalive = 4;
        g.keepalive_requests = requests;
        g.keepalive_time = time;
        g
    }

    /// A group named `name` with `keepalive 2`, and a listener with `count` of its
    /// connections parked in it (as many `put`s).
    async fn parked(name: &str, count: usize) -> (UpstreamGroup, std::net::TcpListener) {
        let g = UpstreamGroup {
            keepalive: 2,
            name: name.into(),
            ..group(1000, Duration::from_secs(3600))
        };
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        park_more(&g, &l, count).await;
        (g, l)
    }

    /// Connects `count` times to `l`, then parks every connection in `g` in one go (no
    /// turn of the event loop between the parks).
    async fn park_more(g: &UpstreamGroup, l: &std::net::TcpListener, count: usize) {
        let addr = l.local_addr().expect("addr");
        let mut conns = Vec::new();
        for _ in 0..count {
            conns.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
        }
        for s in conns {
            Pool::default().put(g, 0, addr, upstream::tls::UpIo::Plain(s), ConnLife::new());
        }
    }

    /// Lets the event loop turn (a few times at most) until `name` is down to `max`.
    async fn turns_until(name: &str, max: usize) {
        for _ in 0..10 {
            tokio::task::yield_now().await;
            if idle_count(name) <= max {
                break;
            }
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_excess_over_keepalive_is_closed_after_the_next_turn() {
        let (g, l) = parked("turn", 4).await;
        // Parked beyond `keepalive 2` until the event loop turns: a request of this turn
        // takes one of them.
        assert_eq!(idle_count("turn"), 4);
        let addr = l.local_addr().expect("addr");
        let hour = Duration::from_secs(3600);
        assert!(Pool::default().take("turn", 0, addr, hour).is_some());
        assert_eq!(idle_count("turn"), 3);
        // After the turn the longest idle beyond the limit are closed.
        turns_until("turn", 2).await;
        assert_eq!(idle_count("turn"), 2);
        // Later overflows are trimmed again.
        park_more(&g, &l, 3).await;
        assert_eq!(idle_count("turn"), 5);
        turns_until("turn", 2).await;
        assert_eq!(idle_count("turn"), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn on_a_multi_thread_runtime_the_excess_is_closed_at_once() {
        let _parked = parked("at-once", 4).await;
        assert_eq!(idle_count("at-once"), 2);
    }

    #[test]
    fn a_connection_is_parked_until_keepalive_requests_or_keepalive_time() {
        let hour = Duration::from_secs(3600);
        let fresh = ConnLife::new();
        assert_eq!(fresh.requests, 1);
        // nginx: `c->requests >= requests` closes it, the current request counted.
        assert!(!fresh.may_park(&group(1, hour)));
        assert!(fresh.may_park(&group(2, hour)));
        let second = ConnLife {
            requests: 2,
            ..fresh
        };
        assert!(!second.may_park(&group(2, hour)));
        assert!(second.may_park(&group(1000, hour)));
        // `ngx_current_msec - c->start_time > time`: older than `keepalive_time` closes.
        let old = ConnLife {
            requests: 1,
            born: clock::mono_ms().saturating_sub(5_000),
        };
        assert!(!old.may_park(&group(1000, Duration::from_secs(1))));
        assert!(old.may_park(&group(1000, Duration::from_secs(60))));
    }
}
