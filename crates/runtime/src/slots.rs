//! `worker_connections` (SEMANTICS §11): every connection the process holds — client
//! connections and connections to upstream servers, so a proxied request or a WebSocket
//! tunnel takes two — needs a slot, as `ngx_get_connection()` needs a free
//! `ngx_connection_t`.
//!
//! When no more than `worker_connections / 16` are free, nginx 1.22 reuses connections
//! before taking one (`ngx_drain_connections()`; seen live: with 32, a new connection
//! arriving with 2 free closed an idle one, with 3 free it did not): those marked
//! reusable — a client connection waiting for its first request byte, an idle keep-alive
//! connection, a connection in lingering close — are closed, oldest first (the least
//! recently made reusable), `max(min(32, reusable / 8), 1)` of them, and
//! `N worker_connections are not enough, reusing connections` is logged at `warn` at most
//! once a second. With none free afterwards the new connection fails with
//! `[alert] N worker_connections are not enough`: an accepted client is closed at once,
//! a request that needed an upstream connection gets 500.
//!
//! The hot path stays cheap: taking and giving back a slot is an atomic counter; a
//! connection becoming idle or busy stores one atomic. The list of client connections
//! (for finding the oldest idle ones) is locked only at accept, at close and when slots
//! run out.

use crate::Shared;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::time::Sleep;

/// `idle` value of a busy connection.
const BUSY: u64 = 0;
/// `idle` value of a connection whose slot was taken by a newer one.
const EVICTED: u64 = u64::MAX;

/// The process's connection slots.
#[derive(Default)]
pub struct Slots {
    /// How many connections may be open (client and upstream).
    limit: AtomicUsize,
    /// How many are open.
    used: AtomicUsize,
    /// `worker_connections` as configured (for the messages).
    per_worker: AtomicUsize,
    /// Reuse starts when no more than this many are free (`worker_connections / 16`).
    spare: AtomicUsize,
    /// The second of the last "reusing connections" warning.
    warned: AtomicU64,
    /// Every open client connection, for finding reusable ones.
    conns: Mutex<ConnList>,
}

/// The open client connections: a slab (`None` entries are free, listed in `free`).
#[derive(Default)]
struct ConnList {
    list: Vec<Option<Arc<ConnSlot>>>,
    free: Vec<usize>,
}

/// A client connection's place in [`Slots`].
pub struct ConnSlot {
    /// [`BUSY`], [`EVICTED`], or the sequence number at which it became reusable.
    idle: AtomicU64,
    /// Index in `Slots::conns`.
    index: AtomicUsize,
    /// A graceful stop (QUIT) asks idle keep-alive connections to close.
    stop: AtomicBool,
    /// The connection's task, woken when the connection is chosen for reuse or the
    /// process stops. Kept between waits: a task's waker does not change, so a wait
    /// only compares it (no clone, no list to join and leave as with a `Notify`).
    waker: Mutex<Option<Waker>>,
    /// The data and vtable pointers of the waker in `waker`: a wait whose waker is the
    /// one kept compares two loads and takes no lock.
    waker_id: [AtomicUsize; 2],
}

impl ConnSlot {
    fn register(&self, cx: &Context<'_>) {
        let w = cx.waker();
        let id = [w.data() as usize, w.vtable() as *const _ as usize];
        if self.waker_id[0].load(Ordering::Acquire) == id[0]
            && self.waker_id[1].load(Ordering::Acquire) == id[1]
        {
            return;
        }
        if let Ok(mut kept) = self.waker.lock() {
            *kept = Some(w.clone());
            self.waker_id[0].store(id[0], Ordering::Release);
            self.waker_id[1].store(id[1], Ordering::Release);
        }
    }

    fn wake(&self) {
        if let Ok(w) = self.waker.lock() {
            if let Some(w) = w.as_ref() {
                w.wake_by_ref();
            }
        }
    }
}

impl Slots {
    /// Applies a configuration: `worker_connections` per worker, `workers` of them, each
    /// of which holds `listeners` listening sockets and, under a master process, the
    /// channel to it (`ngx_event_process_init()` takes their connections first). Open
    /// connections keep their slots across a reload.
    pub fn configure(
        &self,
        worker_connections: usize,
        workers: usize,
        listeners: usize,
        channel: bool,
    ) {
        let per = worker_connections.saturating_sub(listeners + usize::from(channel));
        self.limit
            .store(per.saturating_mul(workers.max(1)), Ordering::SeqCst);
        self.per_worker.store(worker_connections, Ordering::SeqCst);
        self.spare
            .store((worker_connections / 16) * workers.max(1), Ordering::SeqCst);
    }

    /// Open connections holding a slot now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    /// Takes a slot if fewer than `limit` are used.
    fn take_below(&self, limit: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
                (u < limit).then_some(u + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| u.checked_sub(1));
    }

    /// `ngx_get_connection()`: a free slot, or one freed by reusing idle connections;
    /// `false` after logging nginx's alert (`context` follows the message, as the log
    /// handler of the connection asking would add it).
    fn acquire(&self, shared: &Shared, alert: impl FnOnce(&str)) -> bool {
        let limit = self.limit.load(Ordering::SeqCst);
        let spare = self.spare.load(Ordering::SeqCst);
        // More than `spare` free: nothing to reuse first (the hot path: one atomic).
        if self.take_below(limit.saturating_sub(spare)) {
            return true;
        }
        self.drain(shared);
        if self.take_below(limit) {
            return true;
        }
        let n = self.per_worker.load(Ordering::SeqCst);
        alert(&format!("{n} worker_connections are not enough"));
        false
    }

    /// `ngx_drain_connections()`: closes the oldest reusable connections and frees
    /// their slots.
    fn drain(&self, shared: &Shared) {
        let Ok(conns) = self.conns.lock() else {
            return;
        };
        let mut idle: Vec<(u64, &Arc<ConnSlot>)> = conns
            .list
            .iter()
            .flatten()
            .filter_map(|c| {
                let s = c.idle.load(Ordering::SeqCst);
                (s != BUSY && s != EVICTED).then_some((s, c))
            })
            .collect();
        if idle.is_empty() {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.warned.swap(now, Ordering::SeqCst) != now {
            let n = self.per_worker.load(Ordering::SeqCst);
            crate::log::process(
                shared,
                sluice_compiler::table::LogLevel::Warn,
                &format!("{n} worker_connections are not enough, reusing connections"),
            );
        }
        idle.sort_unstable_by_key(|(s, _)| *s);
        let n = (idle.len() / 8).clamp(1, 32);
        for (s, c) in idle.into_iter().take(n) {
            // The connection may have become busy since: then it is not reused.
            if c.idle
                .compare_exchange(s, EVICTED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                c.wake();
                // Its slot is free now (the connection, closing, does not give it back).
                self.give_back();
            }
        }
    }

    /// A slot for an accepted client connection; `None` (after nginx's alert) when
    /// there is none and none could be freed.
    pub fn client(self: &Arc<Self>, shared: &Shared) -> Option<ClientSlot> {
        if !self.acquire(shared, |msg| {
            crate::log::process(shared, sluice_compiler::table::LogLevel::Alert, msg)
        }) {
            return None;
        }
        let slot = Arc::new(ConnSlot {
            idle: AtomicU64::new(BUSY),
            index: AtomicUsize::new(usize::MAX),
            stop: AtomicBool::new(false),
            waker: Mutex::new(None),
            waker_id: [AtomicUsize::new(0), AtomicUsize::new(0)],
        });
        let index = {
            let Ok(mut conns) = self.conns.lock() else {
                self.give_back();
                return None;
            };
            match conns.free.pop() {
                Some(i) => {
                    conns.list[i] = Some(slot.clone());
                    i
                }
                None => {
                    conns.list.push(Some(slot.clone()));
                    conns.list.len() - 1
                }
            }
        };
        slot.index.store(index, Ordering::SeqCst);
        Some(ClientSlot {
            slots: self.clone(),
            slot,
        })
    }

    /// A graceful stop: every client connection closes when it is, or next becomes, an
    /// idle keep-alive connection ([`keepalive_wait`]).
    pub fn stop_idle(&self) {
        if let Ok(conns) = self.conns.lock() {
            for c in conns.list.iter().flatten() {
                c.stop.store(true, Ordering::SeqCst);
                c.wake();
            }
        }
    }

    /// A slot for a connection to an upstream server; `None` after calling `alert` with
    /// nginx's message when there is none.
    pub fn upstream(
        self: &Arc<Self>,
        shared: &Shared,
        alert: impl FnOnce(&str),
    ) -> Option<UpstreamSlot> {
        self.acquire(shared, alert).then(|| UpstreamSlot {
            slots: self.clone(),
        })
    }
}

/// A client connection's slot, given back when dropped (unless it was reused: then the
/// reusing side gave it back already).
pub struct ClientSlot {
    slots: Arc<Slots>,
    slot: Arc<ConnSlot>,
}

impl ClientSlot {
    /// The handle [`reusable`] finds through [`CONN`].
    pub fn handle(&self) -> Arc<ConnSlot> {
        self.slot.clone()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let index = self.slot.index.load(Ordering::SeqCst);
        if let Ok(mut conns) = self.slots.conns.lock() {
            if let Some(c) = conns.list.get_mut(index) {
                *c = None;
                conns.free.push(index);
            }
        }
        if self.slot.idle.swap(BUSY, Ordering::SeqCst) != EVICTED {
            self.slots.give_back();
        }
    }
}

/// An upstream connection's slot, given back when dropped.
pub struct UpstreamSlot {
    slots: Arc<Slots>,
}

impl Drop for UpstreamSlot {
    fn drop(&mut self) {
        self.slots.give_back();
    }
}

/// What the task of a client connection keeps for itself (a task-local, never shared
/// with another task: no atomics or locks).
pub struct ConnLocal {
    /// Its place in [`Slots`].
    slot: Arc<ConnSlot>,
    /// The connection's alarm for [`crate::deadline::conn_timeout`]: one timer reused by
    /// the sequential waits of its requests instead of one registered per wait.
    alarm: std::cell::RefCell<Option<Pin<Box<Sleep>>>>,
}

impl ConnLocal {
    /// The task-local of a connection holding `slot`.
    pub fn new(slot: Arc<ConnSlot>) -> Self {
        ConnLocal {
            slot,
            alarm: std::cell::RefCell::new(None),
        }
    }

    /// Polls the connection's alarm for a wait that ends at `deadline`: `Ready` once it
    /// has passed. The alarm is moved only when it would go off too late, or went off
    /// already (for a deadline since passed or given up): a wait that completes in time
    /// leaves it armed for the next one, so steady traffic registers no timer at all.
    /// Only one wait of the connection's task may use it at a time; it is armed no later
    /// than that wait's deadline, and an early alarm just makes the wait look again.
    pub(crate) fn alarm(&self, deadline: tokio::time::Instant, cx: &mut Context<'_>) -> Poll<()> {
        let Ok(mut alarm) = self.alarm.try_borrow_mut() else {
            return Poll::Pending;
        };
        if let Some(s) = alarm.as_ref() {
            if !s.is_elapsed() && s.deadline() <= deadline {
                return Poll::Pending;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Poll::Ready(());
        }
        let s = alarm.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        s.as_mut().reset(deadline);
        s.as_mut().poll(cx)
    }
}

tokio::task_local! {
    /// The client connection the current task serves.
    pub static CONN: ConnLocal;
}

/// Runs `wait` with the current connection marked reusable
/// (`ngx_reusable_connection(c, 1)` … `(c, 0)`): `None` when the connection was chosen
/// for reuse meanwhile, and must now close. Outside a connection task it only awaits.
pub async fn reusable<F: Future>(wait: F) -> Option<F::Output> {
    reusable_wait(wait, false).await
}

/// [`reusable`] for an idle keep-alive connection, which also ends (`None`) when the
/// process stops gracefully ([`Slots::stop_idle`]), as nginx closes idle connections
/// then.
pub async fn keepalive_wait<F: Future>(wait: F) -> Option<F::Output> {
    reusable_wait(wait, true).await
}

async fn reusable_wait<F: Future>(wait: F, stop: bool) -> Option<F::Output> {
    // Marks the slot reusable; `None`: no connection task (then the wait is plain), or
    // the connection may not wait (stopping, or reused already).
    let marked = CONN.try_with(|c| {
        let slot = &c.slot;
        if (stop && slot.stop.load(Ordering::SeqCst)) || slot.idle.load(Ordering::SeqCst) == EVICTED
        {
            return false;
        }
        // Only this task moves its slot from BUSY; the drain only moves an idle one (to
        // EVICTED), so a plain store is enough here.
        slot.idle.store(next_seq(), Ordering::SeqCst);
        true
    });
    match marked {
        Err(_) => return Some(wait.await),
        Ok(false) => return None,
        Ok(true) => {}
    }
    let mut wait = std::pin::pin!(wait);
    let out = std::future::poll_fn(|cx| {
        // Registered before the flags are looked at: a reuse or stop after the look
        // wakes this task.
        let gone = CONN.with(|c| {
            c.slot.register(cx);
            c.slot.idle.load(Ordering::SeqCst) == EVICTED
                || (stop && c.slot.stop.load(Ordering::SeqCst))
        });
        if gone {
            return Poll::Ready(None);
        }
        wait.as_mut().poll(cx).map(Some)
    })
    .await;
    // Busy again, unless it was reused in the meantime.
    let evicted = CONN.with(|c| {
        let was = c.slot.idle.swap(BUSY, Ordering::SeqCst);
        if was == EVICTED {
            c.slot.idle.store(EVICTED, Ordering::SeqCst);
        }
        was == EVICTED
    });
    if evicted {
        return None;
    }
    out
}

/// The next reusable-since number: per thread (no shared counter per wait); with one
/// runtime thread, as with nginx's one worker, the order is exact.
fn next_seq() -> u64 {
    thread_local! {
        static SEQ: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
    }
    SEQ.with(|s| {
        let n = s.get();
        s.set(n + 1);
        n
    })
}
