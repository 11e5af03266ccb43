//! sluice-runtime: serves a compiled routing table. Listeners, the HTTP/1 server,
//! proxying, upstream pools and balancing, upgrade tunnels, timeouts, logs, reload.
//!
//! The only crate with tokio (and, as TLS and HTTP/2 land, hyper and rustls). It reads
//! `sluice_compiler::table` values and never sees configuration text.
//!
//! **Reload invariant**: the table and the balancers built for it are one [`Live`]
//! value, swapped atomically; a request keeps the `Live` it started with, so requests and
//! tunnels in flight finish on the old configuration while new ones use the new one.

pub mod conn;
pub mod ctx;
pub mod http1;
pub mod log;
pub mod proxy;
pub mod respond;
pub mod server;
pub mod tunnel;
pub mod upstream;

use arc_swap::ArcSwap;
use sluice_compiler::table::{LogLevel, RoutingTable};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
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
}

impl Live {
    /// Builds the balancers for a table.
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
        Live { table, balancers }
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
    /// Connections open now.
    pub active: std::sync::atomic::AtomicUsize,
    /// Set by QUIT: connections close once idle (between requests) instead of waiting.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Woken whenever a connection closes.
    pub closed: tokio::sync::Notify,
}

impl Shared {
    /// The idle wait between requests on a kept-alive connection.
    pub fn last_keepalive(&self, server: &sluice_compiler::table::Server) -> Duration {
        server.conf.keepalive_timeout
    }
}

/// Idle upstream connections by (group name, peer address) — the keepalive pool of
/// SEMANTICS §8.8. Connections that saw an error never come back here.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
}

/// (group name, peer address).
type PoolKey = (String, SocketAddr);
/// A parked connection: since when, and how many requests it carried.
type Idle = (TcpStream, Instant, u64);

impl Pool {
    /// Takes an idle connection to `addr` of group `g`, if one is still fresh.
    pub fn take(
        &self,
        group: &str,
        addr: SocketAddr,
        idle_timeout: Duration,
    ) -> Option<(TcpStream, u64)> {
        let mut map = self.idle.lock().ok()?;
        let list = map.get_mut(&(group.to_string(), addr))?;
        while let Some((io, since, uses)) = list.pop() {
            if since.elapsed() < idle_timeout {
                return Some((io, uses));
            }
        }
        None
    }

    /// Returns a connection after a complete, reusable exchange; keeps at most `max`
    /// idle per group, dropping the oldest.
    pub fn put(&self, group: &str, addr: SocketAddr, io: TcpStream, max: usize, uses: u64) {
        if max == 0 {
            return;
        }
        let Ok(mut map) = self.idle.lock() else {
            return;
        };
        let total: usize = map
            .iter()
            .filter(|((g, _), _)| g == group)
            .map(|(_, v)| v.len())
            .sum();
        if total >= max {
            if let Some(list) = map
                .iter_mut()
                .filter(|((g, _), _)| g == group)
                .map(|(_, v)| v)
                .find(|v| !v.is_empty())
            {
                list.remove(0);
            }
        }
        map.entry((group.to_string(), addr))
            .or_default()
            .push((io, Instant::now(), uses));
    }
}
