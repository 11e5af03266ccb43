//! The process's serving loop: bind the listeners, accept connections, and handle
//! signals — HUP reloads (SEMANTICS §11, with sluice's rule that kept listeners are never
//! closed and old connections finish on the old table), USR1 reopens logs, QUIT stops
//! gracefully, TERM/INT stop at once.

use crate::{log, Live, Pool, Shared};
use arc_swap::ArcSwap;
use sluice_compiler::table::{ListenAddr, RoutingTable};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

/// Builds a new table from the configuration on disk (after checking it).
pub type Reload = Box<dyn Fn() -> Result<RoutingTable, String> + Send + Sync>;

/// How to run.
pub struct RunOptions {
    /// Called on HUP.
    pub reload: Reload,
    /// Written once every listener is bound; removed on exit.
    pub pid_file: Option<std::path::PathBuf>,
    /// `daemon on`: detach once the listeners are bound, as nginx does (the launching
    /// process exits 0; the daemon writes the pid file).
    pub daemon: bool,
    /// `worker_shutdown_timeout`: after QUIT, how long open connections (tunnels, slow
    /// requests) may still run; `None` waits for them all, as nginx does without it.
    pub shutdown_timeout: Option<Duration>,
    /// `-e FILE`: the error log when the configuration names none.
    pub error_log: Option<std::path::PathBuf>,
    /// `master_process` (on by default): under nginx's master, each worker's channel to
    /// it takes one of its `worker_connections`.
    pub master_process: bool,
    /// Started as root with a master process: the user to serve as (see `master.rs`).
    pub privileges: Option<crate::master::Privileges>,
    /// Offer WebSocket over HTTP/2 (RFC 8441) on h2 connections (`--http2-websocket`).
    pub http2_websocket: bool,
}

/// Binds a TCP listener as nginx does (`SO_REUSEADDR`, backlog, `IPV6_V6ONLY`).
pub(crate) fn bind(
    addr: SocketAddr,
    backlog: i32,
    ipv6only: bool,
) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(ipv6only)?;
    }
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Binds with nginx's retries: five attempts half a second apart, each failure logged as
/// `bind() to A:P failed (98: Address already in use)`, then `still could not bind()`.
fn bind_retrying(
    addr: SocketAddr,
    backlog: i32,
    ipv6only: bool,
) -> Result<std::net::TcpListener, String> {
    for attempt in 0..5 {
        match bind(addr, backlog, ipv6only) {
            Ok(l) => return Ok(l),
            Err(e) => {
                let code = e.raw_os_error().unwrap_or(0);
                eprintln!(
                    "sluice: [emerg] bind() to {addr} failed ({code}: {})",
                    sluice_compiler::strerror(code)
                );
                if code != libc_eaddrinuse() || attempt == 4 {
                    if code != libc_eaddrinuse() {
                        return Err(String::new());
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    eprintln!("sluice: [emerg] still could not bind()");
    Err(String::new())
}

fn libc_eaddrinuse() -> i32 {
    98
}

fn spawn_accept(shared: Arc<Shared>, listener: TcpListener, addr: ListenAddr) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (io, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            // `ngx_event_accept()`: a connection that gets no slot is closed at once and
            // takes no connection number.
            let Some(slot) = shared.slots.client(&shared) else {
                drop(io);
                continue;
            };
            // A socket bound to one address accepts on that address: only a wildcard
            // one needs getsockname() to learn it (nginx does the same).
            let local = match &addr {
                ListenAddr::Tcp(a) if !a.ip().is_unspecified() => *a,
                _ => io.local_addr().unwrap_or(peer),
            };
            let _ = io.set_nodelay(true);
            let n = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
            let s = shared.clone();
            let a = addr.clone();
            s.active.fetch_add(1, Ordering::SeqCst);
            let conn_local = crate::slots::ConnLocal::new(slot.handle());
            tokio::spawn(crate::slots::CONN.scope(conn_local, async move {
                crate::tls::serve(s.clone(), io, peer, local, a, n).await;
                drop(slot);
                s.active.fetch_sub(1, Ordering::SeqCst);
                // Only a graceful stop waits for connections to close: no lock per close
                // otherwise. (The stop sets `stopping` before it looks at `active`.)
                if s.stopping.load(Ordering::SeqCst) {
                    s.closed.notify_waiters();
                }
            }));
        }
    })
}

/// Sizes the connection slots for the configuration being served (at start and after
/// each reload; open connections keep theirs).
fn configure_slots(shared: &Shared, opts: &RunOptions) {
    let live = shared.live.load();
    let m = &live.table.main;
    shared.slots.configure(
        m.worker_connections,
        m.worker_processes.max(1),
        live.table.listeners.len(),
        opts.master_process,
    );
}

/// Serves until stopped. Binds every listener first (errors are printed in nginx's
/// words and returned), then writes the pid file.
pub fn run(table: RoutingTable, opts: RunOptions) -> Result<(), String> {
    let workers = table.main.worker_processes.max(1);
    // `worker_rlimit_nofile` (nginx sets it in each worker; sluice's one process sets it
    // before opening anything): soft and hard limit, as `setrlimit(RLIMIT_NOFILE)` there.
    if let Some(n) = table.main.worker_rlimit_nofile {
        use nix::sys::resource::{setrlimit, Resource};
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, n, n) {
            eprintln!(
                "sluice: [alert] setrlimit(RLIMIT_NOFILE, {n}) failed ({}: {})",
                e as i32,
                e.desc()
            );
        }
    }
    // Certificates are read before any socket is bound, as nginx reads them while
    // parsing the configuration.
    let live = Live::load(table)?;
    // A serving process under a root master takes the master's sockets.
    let serving = opts
        .privileges
        .as_ref()
        .is_some_and(|p| matches!(p.role, crate::master::Role::Serving));
    let mut passed = if serving {
        crate::master::receive_listeners(true)
    } else {
        HashMap::new()
    };
    let mut bound: Vec<(ListenAddr, std::net::TcpListener)> = Vec::new();
    for l in &live.table.listeners {
        if let ListenAddr::Tcp(a) = &l.addr {
            let s = match passed.remove(a) {
                Some(s) => s,
                None => bind_retrying(*a, l.backlog, l.ipv6only)?,
            };
            bound.push((l.addr.clone(), s));
        }
    }
    drop(passed);
    if opts.daemon {
        // Before any thread exists: fork, the parent exits 0, the child carries on.
        nix::unistd::daemon(true, true).map_err(|e| format!("daemon() failed ({e})"))?;
    }
    // As root (see `master.rs`): the master hands over to a serving process and relays
    // signals; the serving process goes on as the user.
    let mut pid_file = opts.pid_file.clone();
    if let Some(p) = &opts.privileges {
        match &p.role {
            crate::master::Role::Master {
                log_files,
                recheck,
                args,
                error_log,
            } => {
                let listeners = bound
                    .into_iter()
                    .filter_map(|(a, s)| match a {
                        ListenAddr::Tcp(a) => Some((a, s)),
                        _ => None,
                    })
                    .collect();
                let status = crate::master::master(
                    p,
                    listeners,
                    log_files,
                    recheck,
                    args,
                    error_log.as_deref(),
                    pid_file.as_deref(),
                )?;
                return if status == 0 {
                    Ok(())
                } else {
                    Err(String::new())
                };
            }
            crate::master::Role::Serving => {
                crate::master::become_user(p);
                // The master writes the pid file and removes it.
                pid_file = None;
            }
        }
    }
    // worker_processes maps onto runtime threads; with one, a current-thread runtime
    // avoids the cross-thread scheduling a single nginx worker does not have either.
    let rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let error_log = live.table.main.error_log.clone().or(opts.error_log.clone());
    let error_level = live.table.main.error_level;
    let shared = Arc::new(Shared {
        live: ArcSwap::from_pointee(live),
        pool: Pool::default(),
        logs: log::LogWriter::start(),
        error_log,
        error_level,
        connections: Default::default(),
        slots: Default::default(),
        active: Default::default(),
        requests: Default::default(),
        reading: Default::default(),
        writing: Default::default(),
        shutdown: tokio::sync::watch::channel(false).0,
        closed: tokio::sync::Notify::new(),
        stopping: Default::default(),
        http2_websocket: opts.http2_websocket,
    });
    configure_slots(&shared, &opts);
    let r = rt.block_on(async {
        let mut accepts: HashMap<ListenAddr, JoinHandle<()>> = HashMap::new();
        for (addr, std_l) in bound {
            let l = TcpListener::from_std(std_l).map_err(|e| e.to_string())?;
            accepts.insert(addr.clone(), spawn_accept(shared.clone(), l, addr));
        }
        if let Some(p) = &pid_file {
            std::fs::write(p, format!("{}\n", std::process::id())).map_err(|e| format!("open() \"{}\" failed ({e})", p.display()))?;
        }
        let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
        let mut usr1 = signal(SignalKind::user_defined1()).map_err(|e| e.to_string())?;
        let mut quit = signal(SignalKind::quit()).map_err(|e| e.to_string())?;
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        if serving {
            crate::master::handle_signals();
        }
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    log::notice(&shared, "notice", "signal 1 (SIGHUP) received from the process, reconfiguring");
                    // Certificates are read with the configuration: a bad one fails the
                    // reload and the old configuration stays.
                    match (opts.reload)().and_then(Live::load) {
                        Err(msg) => log::notice(&shared, "emerg", &msg),
                        Ok(live) => {
                            let table = &live.table;
                            // Bind what is new before swapping; keep what stays; drop the rest.
                            let mut ok = true;
                            let mut fresh: Vec<(ListenAddr, std::net::TcpListener)> = Vec::new();
                            // Under a root master: the sockets it bound for this reload.
                            let mut passed = if serving { crate::master::receive_listeners(false) } else { HashMap::new() };
                            for l in &table.listeners {
                                if accepts.contains_key(&l.addr) { continue; }
                                if let ListenAddr::Tcp(a) = &l.addr {
                                    match passed.remove(a).map_or_else(|| bind(*a, l.backlog, l.ipv6only), Ok) {
                                        Ok(s) => fresh.push((l.addr.clone(), s)),
                                        Err(e) => {
                                            let code = e.raw_os_error().unwrap_or(0);
                                            log::notice(&shared, "emerg", &format!("bind() to {a} failed ({code}: {})", sluice_compiler::strerror(code)));
                                            ok = false;
                                        }
                                    }
                                }
                            }
                            if ok {
                                let keep: Vec<ListenAddr> = table.listeners.iter().map(|l| l.addr.clone()).collect();
                                // Close the sockets that go before the new configuration is
                                // visible: `abort()` only schedules the accept task's end, so
                                // wait for it (the socket closes when the task is dropped).
                                let gone: Vec<ListenAddr> = accepts.keys().filter(|a| !keep.contains(a)).cloned().collect();
                                for addr in gone {
                                    if let Some(h) = accepts.remove(&addr) {
                                        h.abort();
                                        let _ = h.await;
                                    }
                                }
                                shared.live.store(Arc::new(live));
                                configure_slots(&shared, &opts);
                                for (addr, s) in fresh {
                                    if let Ok(l) = TcpListener::from_std(s) {
                                        accepts.insert(addr.clone(), spawn_accept(shared.clone(), l, addr));
                                    }
                                }
                            }
                        }
                    }
                }
                _ = usr1.recv() => {
                    log::notice(&shared, "notice", "signal 10 (SIGUSR1) received from the process, reopening logs");
                    shared.logs.reopen();
                }
                _ = quit.recv() => {
                    // Graceful: stop accepting (listening sockets close now), let requests
                    // and tunnels finish, close idle keep-alive connections.
                    log::notice(&shared, "notice", "signal 3 (SIGQUIT) received from the process, shutting down");
                    for h in accepts.values() {
                        h.abort();
                    }
                    accepts.clear();
                    shared.stopping.store(true, Ordering::SeqCst);
                    let _ = shared.shutdown.send(true);
                    shared.slots.stop_idle();
                    let drain = async {
                        while shared.active.load(Ordering::SeqCst) > 0 {
                            let woken = shared.closed.notified();
                            if shared.active.load(Ordering::SeqCst) == 0 {
                                break;
                            }
                            woken.await;
                        }
                    };
                    match opts.shutdown_timeout {
                        Some(t) => {
                            let _ = tokio::time::timeout(t, drain).await;
                        }
                        None => drain.await,
                    }
                    break;
                }
                _ = term.recv() => {
                    log::notice(&shared, "notice", "signal 15 (SIGTERM) received from the process, exiting");
                    break;
                }
                _ = int.recv() => break,
            }
        }
        for h in accepts.values() {
            h.abort();
        }
        Ok::<(), String>(())
    });
    shared.logs.flush();
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    rt.shutdown_timeout(Duration::from_millis(100));
    r
}
