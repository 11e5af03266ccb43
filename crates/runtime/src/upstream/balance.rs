//! Upstream peer selection with nginx 1.22.1's exact semantics (SEMANTICS.md §8.2–8.6).
//!
//! One [`Balancer`] is built per `upstream` group and shared by every connection. Each
//! proxied request calls [`Balancer::start`] for an [`Attempt`], then alternates
//! [`Attempt::next`] (nginx's `peer.get`) and [`Attempt::done`] (nginx's `peer.free`):
//!
//! ```text
//! let mut a = balancer.start(key, client);
//! a.limit_tries(proxy_next_upstream_tries);           // 0 = no limit
//! loop {
//!     let Some(peer) = a.next(&balancer, now) else { /* "no live upstreams", 502 */ };
//!     match try_peer(balancer.peer(peer)) {
//!         Ok(..) => { a.done(&balancer, peer, false, now); break }
//!         Err(..) => {
//!             a.done(&balancer, peer, true, now);     // true: counts as a failure
//!             if a.tries() == 0 || !retryable { break }
//!         }
//!     }
//! }
//! ```
//!
//! The code is a transcription of `ngx_http_upstream_round_robin.c`,
//! `ngx_http_upstream_least_conn_module.c`, `ngx_http_upstream_ip_hash_module.c` and
//! `ngx_http_upstream_hash_module.c` as shipped in 1.22.1 (without a shared `zone`; the
//! state of a [`Balancer`] is what one nginx worker keeps). Mainline has since added, in the
//! hash and ip_hash modules, a `config` check for re-resolved (`resolve`) peers and an
//! `NGX_HTTP_UPSTREAM_SID` hook; neither exists in 1.22 nor here.
//!
//! Times follow nginx's `ngx_time()`: whole seconds. They are counted from an epoch taken
//! when the balancer is built, shifted so that a peer never checked (nginx: `checked = 0`)
//! looks checked long ago, as it does in nginx.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// One `server` of an upstream group, as configured (one per resolved address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConf {
    /// The address to connect to.
    pub addr: SocketAddr,
    /// The `server` argument as written (e.g. `backend1.test:8080`, `unix:/run/app.sock`).
    /// `hash … consistent` hashes the host and port split from this text, and peers that
    /// share it (a name with several addresses) share their points on the ring.
    pub server_text: String,
    /// `weight=` (nginx rejects 0; a 0 here is treated as 1).
    pub weight: u32,
    /// `max_fails=`; 0 disables failure accounting for this peer.
    pub max_fails: u32,
    /// `fail_timeout=`; used in whole seconds, as nginx does.
    pub fail_timeout: Duration,
    /// `max_conns=`; 0 = unlimited.
    pub max_conns: u32,
    /// `backup`: used only when no primary peer can be chosen.
    pub backup: bool,
    /// `down`: never chosen.
    pub down: bool,
}

impl PeerConf {
    /// A peer with nginx's defaults: weight 1, `max_fails=1`, `fail_timeout=10s`, no
    /// `max_conns`, neither backup nor down.
    pub fn new(addr: SocketAddr, server_text: impl Into<String>) -> PeerConf {
        PeerConf {
            addr,
            server_text: server_text.into(),
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            backup: false,
            down: false,
        }
    }
}

/// A balancing method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Smooth weighted round robin (the default).
    RoundRobin,
    /// `least_conn`.
    LeastConn,
    /// `ip_hash`.
    IpHash,
    /// `hash KEY` (`consistent: false`) or `hash KEY consistent` (ketama).
    Hash {
        /// `consistent` was given.
        consistent: bool,
    },
}

/// A peer of a [`Balancer`]: its position in the `peers` given to [`Balancer::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(usize);

impl PeerId {
    /// The peer's index in the configuration-order list given to [`Balancer::new`].
    pub fn index(self) -> usize {
        self.0
    }
}

/// nginx's `peers->peer` list index for the primary peers.
const PRIMARY: usize = 0;
/// ... and for `peers->next`, the backup peers.
const BACKUP: usize = 1;

/// How far "now" is shifted so that `checked = 0` (never checked) is long past, like
/// nginx's `checked = 0` against a wall clock in the billions of seconds.
const EPOCH_SHIFT: i64 = 1 << 40;

/// Hash-based methods give up after this many unusable picks and use round robin.
const HASH_MAX_MISSES: u32 = 20;

/// Static per-peer parameters in nginx's types.
#[derive(Debug)]
struct Peer {
    weight: i64,
    max_fails: u64,
    fail_timeout: i64,
    max_conns: u64,
    down: bool,
    /// Identifies the `server` text (equal texts, equal ids).
    text_id: usize,
}

/// `ngx_http_upstream_rr_peers_t`: the primary or the backup list.
#[derive(Debug, Default)]
struct PeerList {
    /// Indices into the configuration-order peers.
    members: Vec<usize>,
    /// Sum of weights, `down` peers included.
    total_weight: u64,
    /// Peers that are not `down`.
    tries: usize,
    /// Exactly one primary peer and no backup list.
    single: bool,
}

/// Mutable per-peer state (`ngx_http_upstream_rr_peer_t`).
#[derive(Debug, Default, Clone)]
struct PeerState {
    current_weight: i64,
    effective_weight: i64,
    conns: u64,
    fails: u64,
    accessed: i64,
    checked: i64,
}

/// A ketama point: its hash and the `server` text it belongs to.
#[derive(Debug, Clone, Copy)]
struct Point {
    hash: u32,
    text_id: usize,
}

#[derive(Debug)]
struct Shared {
    method: Method,
    confs: Vec<PeerConf>,
    peers: Vec<Peer>,
    lists: [PeerList; 2],
    /// Sorted, deduplicated ketama points (`hash … consistent` only).
    points: Vec<Point>,
    epoch: Instant,
    state: Mutex<Vec<PeerState>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<PeerState>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// nginx's `ngx_time()` in this balancer's time base.
    fn secs(&self, now: Instant) -> i64 {
        let s = now.saturating_duration_since(self.epoch).as_secs();
        i64::try_from(s)
            .unwrap_or(i64::MAX / 2)
            .saturating_add(EPOCH_SHIFT)
    }

    /// `peer->max_fails && peer->fails >= peer->max_fails && now - peer->checked <= fail_timeout`
    fn is_failed(&self, idx: usize, s: &PeerState, now: i64) -> bool {
        let p = &self.peers[idx];
        p.max_fails != 0
            && s.fails >= p.max_fails
            && now.saturating_sub(s.checked) <= p.fail_timeout
    }

    /// `peer->max_conns && peer->conns >= peer->max_conns`
    fn is_full(&self, idx: usize, s: &PeerState) -> bool {
        let p = &self.peers[idx];
        p.max_conns != 0 && s.conns >= p.max_conns
    }

    /// `if (now - best->checked > best->fail_timeout) best->checked = now;`
    fn touch_checked(&self, idx: usize, s: &mut PeerState, now: i64) {
        if now.saturating_sub(s.checked) > self.peers[idx].fail_timeout {
            s.checked = now;
        }
    }

    /// `conns * w` products compared exactly (nginx's unsigned products cannot overflow in
    /// practice; u128 makes sure they do not here either).
    fn load(&self, s: &PeerState, other: usize) -> u128 {
        u128::from(s.conns) * self.weight_u(other) as u128
    }

    fn weight_u(&self, idx: usize) -> u64 {
        u64::try_from(self.peers[idx].weight).unwrap_or(1)
    }

    /// The hash modules' weight walk: `w = hash % total_weight`, then subtract weights
    /// along the list. Returns (list position, peer index).
    fn walk(&self, list: usize, hash: u64) -> Option<(usize, usize)> {
        let l = &self.lists[list];
        if l.total_weight == 0 {
            return None;
        }
        let mut w = hash % l.total_weight;
        for (p, &idx) in l.members.iter().enumerate() {
            let wt = self.weight_u(idx);
            if w < wt {
                return Some((p, idx));
            }
            w -= wt;
        }
        None
    }
}

/// The peer selection of one upstream group: configuration plus the shared, mutable state
/// nginx keeps per worker (`current_weight`, `effective_weight`, `conns`, `fails`,
/// `accessed`, `checked`). `Send + Sync`; the state is behind a mutex held only inside
/// these (non-async) methods.
pub struct Balancer {
    shared: Arc<Shared>,
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("method", &self.shared.method)
            .field("peers", &self.shared.confs)
            .finish_non_exhaustive()
    }
}

impl Balancer {
    /// Builds the balancer for `peers` in configuration order. Peers with `backup` form
    /// nginx's separate backup list; the others, the primary list.
    ///
    /// nginx refuses some inputs at configuration time (an upstream without primary peers,
    /// `weight=0`, `backup` with `ip_hash`/`hash`); they are accepted here and behave as
    /// the C code would (weight 0 counts as 1; no primaries: straight to the backups;
    /// hash methods only hash over the primaries and reach backups through their
    /// round-robin fallback).
    pub fn new(method: Method, peers: Vec<PeerConf>) -> Balancer {
        Balancer::new_at(method, peers, Instant::now())
    }

    fn new_at(method: Method, confs: Vec<PeerConf>, epoch: Instant) -> Balancer {
        let mut text_ids: HashMap<&str, usize> = HashMap::new();
        let mut peers = Vec::with_capacity(confs.len());
        for c in &confs {
            let next_id = text_ids.len();
            let text_id = *text_ids.entry(c.server_text.as_str()).or_insert(next_id);
            peers.push(Peer {
                weight: i64::from(c.weight.max(1)),
                max_fails: u64::from(c.max_fails),
                fail_timeout: i64::try_from(c.fail_timeout.as_secs()).unwrap_or(i64::MAX),
                max_conns: u64::from(c.max_conns),
                down: c.down,
                text_id,
            });
        }

        let mut lists = [PeerList::default(), PeerList::default()];
        for (idx, c) in confs.iter().enumerate() {
            let l = &mut lists[if c.backup { BACKUP } else { PRIMARY }];
            l.members.push(idx);
            l.total_weight += u64::from(c.weight.max(1));
            if !c.down {
                l.tries += 1;
            }
        }
        lists[PRIMARY].single =
            lists[PRIMARY].members.len() == 1 && lists[BACKUP].members.is_empty();

        let state = peers
            .iter()
            .map(|p| PeerState {
                effective_weight: p.weight,
                ..PeerState::default()
            })
            .collect();

        let points = if method == (Method::Hash { consistent: true }) {
            ketama_points(&confs, &peers, &lists[PRIMARY])
        } else {
            Vec::new()
        };

        Balancer {
            shared: Arc::new(Shared {
                method,
                confs,
                peers,
                lists,
                points,
                epoch,
                state: Mutex::new(state),
            }),
        }
    }

    /// The balancing method.
    pub fn method(&self) -> Method {
        self.shared.method
    }

    /// All peers, in configuration order (index = [`PeerId::index`]).
    pub fn peers(&self) -> &[PeerConf] {
        &self.shared.confs
    }

    /// The configuration of a peer returned by this balancer.
    ///
    /// # Panics
    /// If `id` comes from another balancer with more peers.
    pub fn peer(&self, id: PeerId) -> &PeerConf {
        &self.shared.confs[id.0]
    }

    /// Whether choosing a peer looks at the time (failure windows): not in a group of
    /// exactly one peer, where nginx keeps no failure state (`peers->single`).
    pub fn needs_clock(&self) -> bool {
        !self.shared.lists[PRIMARY].single
    }

    /// nginx's initial number of tries (`u->upstream->peer.tries`): the peers that are not
    /// `down`, primary plus backup. Each [`Attempt`] starts with this; see
    /// [`Attempt::limit_tries`] for `proxy_next_upstream_tries`.
    pub fn tries(&self) -> usize {
        self.shared.lists[PRIMARY].tries + self.shared.lists[BACKUP].tries
    }

    /// Starts the peer selection of one request.
    ///
    /// `key` is the evaluated `hash` key (ignored by other methods; `None` counts as empty,
    /// which makes `hash` use round robin). `client` is the client address for `ip_hash`,
    /// as the accepted socket reports it (an IPv4 client on a dual-stack socket arrives as
    /// `::ffff:a.b.c.d` and nginx would hash its 16 bytes; nginx's own `listen [::]` is
    /// IPv6-only by default); `None` (a unix-socket client) hashes nginx's fixed
    /// pseudo-address, three zero bytes.
    pub fn start(&self, key: Option<&[u8]>, client: Option<IpAddr>) -> Attempt<'_> {
        let sh = &self.shared;
        let longest = sh.lists[PRIMARY]
            .members
            .len()
            .max(sh.lists[BACKUP].members.len());
        let mut cur = Cursor {
            list: PRIMARY,
            tried: smallvec::smallvec![false; longest],
            current: None,
            uncounted: false,
            tries: self.tries(),
            key: Vec::new(),
            addr: [0; 16],
            addr_len: 3,
            hash: 0,
            rehash: 0,
            hash_tries: 0,
        };
        match sh.method {
            Method::RoundRobin | Method::LeastConn => {}
            Method::IpHash => {
                match client {
                    Some(IpAddr::V4(v4)) => {
                        cur.addr[..4].copy_from_slice(&v4.octets());
                        cur.addr_len = 3;
                    }
                    Some(IpAddr::V6(v6)) => {
                        cur.addr = v6.octets();
                        cur.addr_len = 16;
                    }
                    None => {
                        // ngx_http_upstream_ip_hash_pseudo_addr: static u_char[3], zeroed.
                        cur.addr_len = 3;
                    }
                }
                cur.hash = 89;
            }
            Method::Hash { consistent } => {
                cur.key = key.unwrap_or_default().to_vec();
                if consistent {
                    let h = crc32(&cur.key);
                    // ngx_http_upstream_find_chash_point: first point >= hash (may be
                    // `points.len()`, which wraps at use).
                    let at = sh.points.partition_point(|p| p.hash < h);
                    cur.hash = u32::try_from(at).unwrap_or(u32::MAX);
                }
            }
        }
        Attempt {
            shared: &self.shared,
            cur,
        }
    }
}

/// The peer selection state of one request: the peers already tried (nginx's `tried`
/// bitmap), the list in use (primary or backup), the remaining tries and the hash state
/// carried between retries.
///
/// Every peer returned by [`Attempt::next`] must be given back with [`Attempt::done`]
/// (that is how `conns` is counted for `least_conn` and `max_conns`); dropping the attempt
/// with a peer outstanding gives it back as not failed, as nginx does when it finalizes a
/// request during a try.
pub struct Attempt<'b> {
    /// The balancer's state (borrowed: no reference count per request).
    shared: &'b Shared,
    cur: Cursor,
}

impl fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("backup", &(self.cur.list == BACKUP))
            .field("current", &self.cur.current)
            .field("tries", &self.cur.tries)
            .finish_non_exhaustive()
    }
}

/// The per-request fields (`ngx_http_upstream_rr_peer_data_t` plus the ip_hash / hash
/// module data and `pc->tries`).
#[derive(Debug)]
struct Cursor {
    /// `rrp->peers`: PRIMARY or BACKUP.
    list: usize,
    /// `rrp->tried`, by position in the current list (inline up to 32 peers, as nginx
    /// keeps one machine word of bits before it allocates).
    tried: smallvec::SmallVec<[bool; 32]>,
    /// `rrp->current` while a peer is outstanding.
    current: Option<usize>,
    /// `current` is a single peer chosen without counting its connection.
    uncounted: bool,
    /// `pc->tries`.
    tries: usize,
    /// `hp->key`.
    key: Vec<u8>,
    /// `iphp->addr` / `iphp->addrlen`.
    addr: [u8; 16],
    addr_len: usize,
    /// `iphp->hash`, `hp->hash` (plain: running sum; consistent: point index).
    hash: u32,
    /// `hp->rehash`.
    rehash: u64,
    /// `iphp->tries` / `hp->tries`: unusable picks so far.
    hash_tries: u32,
}

impl Attempt<'_> {
    /// Chooses the next peer (nginx's `peer.get`), or `None` when none can be chosen:
    /// nginx's "no live upstreams" (502, `$upstream_addr` = the group name).
    ///
    /// `b` must be the balancer that started this attempt. If the previous peer was not
    /// given back with [`Attempt::done`], it is given back first as not failed.
    pub fn next(&mut self, b: &Balancer, now: Instant) -> Option<PeerId> {
        debug_assert!(
            std::ptr::eq(self.shared, &*b.shared),
            "attempt used with another balancer"
        );
        let sh = self.shared;
        // A group of exactly one peer without `max_conns` (the common `upstream` of one
        // `server`): nginx's `peers->single` keeps no failure state and reads `conns`
        // only against `max_conns`, so there is nothing to count and no lock to take.
        if self.cur.current.is_none() && self.cur.list == PRIMARY && sh.lists[PRIMARY].single {
            if let Some(&idx) = sh.lists[PRIMARY].members.first() {
                if sh.peers[idx].max_conns == 0 {
                    if sh.peers[idx].down {
                        return None;
                    }
                    self.cur.current = Some(idx);
                    self.cur.uncounted = true;
                    return Some(PeerId(idx));
                }
            }
        }
        let now = sh.secs(now);
        let mut st = sh.lock();
        if let Some(idx) = self.cur.current {
            self.cur.free(sh, &mut st, idx, false, now);
        }
        let picked = match sh.method {
            Method::RoundRobin => self.cur.get_rr(sh, &mut st, now),
            Method::LeastConn => self.cur.get_least_conn(sh, &mut st, now),
            Method::IpHash => self.cur.get_ip_hash(sh, &mut st, now),
            Method::Hash { consistent: false } => self.cur.get_hash(sh, &mut st, now),
            Method::Hash { consistent: true } => self.cur.get_chash(sh, &mut st, now),
        };
        self.cur.current = picked;
        picked.map(PeerId)
    }

    /// Gives back the peer returned by the last [`Attempt::next`] (nginx's
    /// `ngx_http_upstream_free_round_robin_peer`): `conns` drops by one, and
    /// - `failed` (an unsuccessful attempt, SEMANTICS §8.6): `fails += 1`,
    ///   `accessed = checked = now`, `effective_weight -= weight / max_fails`;
    /// - otherwise, if the peer was being probed after its `fail_timeout`
    ///   (`accessed < checked`), its `fails` are reset.
    ///
    /// The remaining [`Attempt::tries`] drop by one; in a group of exactly one peer (no
    /// backups) nothing is accounted and the tries drop to zero (nginx never retries there).
    ///
    /// Returns true when this failure left the peer at `max_fails`: nginx then logs
    /// `[warn] … upstream server temporarily disabled`. A `peer` that is not the one
    /// outstanding is ignored (returns false).
    pub fn done(&mut self, b: &Balancer, peer: PeerId, failed: bool, now: Instant) -> bool {
        debug_assert!(
            std::ptr::eq(self.shared, &*b.shared),
            "attempt used with another balancer"
        );
        if self.cur.current != Some(peer.0) {
            return false;
        }
        if self.cur.uncounted {
            return self.cur.free_uncounted();
        }
        let sh = self.shared;
        let now = sh.secs(now);
        let mut st = sh.lock();
        self.cur.free(sh, &mut st, peer.0, failed, now)
    }

    /// The tries left (nginx's `u->peer.tries`): once it is zero after a failed
    /// [`Attempt::done`], nginx does not try another peer.
    pub fn tries(&self) -> usize {
        self.cur.tries
    }

    /// Applies `proxy_next_upstream_tries N` (0 = unlimited): nginx lowers the initial
    /// tries to N when they exceed it.
    pub fn limit_tries(&mut self, n: usize) {
        if n != 0 && self.cur.tries > n {
            self.cur.tries = n;
        }
    }

    /// Whether the selection has moved to the backup peers.
    pub fn on_backup(&self) -> bool {
        self.cur.list == BACKUP
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.cur.uncounted {
            self.cur.free_uncounted();
        } else if let Some(idx) = self.cur.current {
            let sh = self.shared;
            // A peer given back unfailed needs no time (`free` reads it on failure only).
            let mut st = sh.lock();
            self.cur.free(sh, &mut st, idx, false, 0);
        }
    }
}

impl Cursor {
    /// `free` of a single peer chosen without counting (see [`Attempt::next`]): nothing
    /// is accounted and no more tries are left, as for nginx's `peers->single`.
    fn free_uncounted(&mut self) -> bool {
        self.current = None;
        self.uncounted = false;
        self.tries = 0;
        false
    }

    /// Moves to the backup list if on the primary one and it exists (the `failed:` label
    /// of `ngx_http_upstream_get_round_robin_peer`/`get_least_conn_peer`).
    fn switch_to_backup(&mut self, sh: &Shared) -> bool {
        if self.list == PRIMARY && !sh.lists[BACKUP].members.is_empty() {
            self.list = BACKUP;
            self.tried.iter_mut().for_each(|t| *t = false);
            true
        } else {
            false
        }
    }

    /// `ngx_http_upstream_get_round_robin_peer`.
    fn get_rr(&mut self, sh: &Shared, st: &mut [PeerState], now: i64) -> Option<usize> {
        loop {
            let list = &sh.lists[self.list];
            let picked = if list.single {
                // No `tried`, `fails` or `checked` handling for a single peer.
                list.members
                    .first()
                    .copied()
                    .filter(|&idx| !sh.peers[idx].down && !sh.is_full(idx, &st[idx]))
            } else {
                self.get_peer(sh, st, now)
            };
            if let Some(idx) = picked {
                st[idx].conns += 1;
                return Some(idx);
            }
            if !self.switch_to_backup(sh) {
                return None;
            }
        }
    }

    /// `ngx_http_upstream_get_peer`: smooth weighted round robin over the usable, untried
    /// peers of the current list.
    fn get_peer(&mut self, sh: &Shared, st: &mut [PeerState], now: i64) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        let mut total: i64 = 0;
        for (i, &idx) in sh.lists[self.list].members.iter().enumerate() {
            if self.tried[i]
                || sh.peers[idx].down
                || sh.is_failed(idx, &st[idx], now)
                || sh.is_full(idx, &st[idx])
            {
                continue;
            }
            let s = &mut st[idx];
            s.current_weight += s.effective_weight;
            total += s.effective_weight;
            if s.effective_weight < sh.peers[idx].weight {
                s.effective_weight += 1;
            }
            let cw = s.current_weight;
            if best.is_none_or(|(_, b)| cw > st[b].current_weight) {
                best = Some((i, idx));
            }
        }
        let (p, idx) = best?;
        self.tried[p] = true;
        let s = &mut st[idx];
        s.current_weight -= total;
        sh.touch_checked(idx, s, now);
        Some(idx)
    }

    /// `ngx_http_upstream_get_least_conn_peer`.
    fn get_least_conn(&mut self, sh: &Shared, st: &mut [PeerState], now: i64) -> Option<usize> {
        if sh.lists[self.list].single {
            return self.get_rr(sh, st, now);
        }
        loop {
            let members = &sh.lists[self.list].members;
            let mut best: Option<(usize, usize)> = None;
            let mut many = false;
            for (i, &idx) in members.iter().enumerate() {
                if self.tried[i]
                    || sh.peers[idx].down
                    || sh.is_failed(idx, &st[idx], now)
                    || sh.is_full(idx, &st[idx])
                {
                    continue;
                }
                match best {
                    None => {
                        best = Some((i, idx));
                        many = false;
                    }
                    Some((_, b)) => {
                        // peer->conns * best->weight  vs  best->conns * peer->weight
                        let mine = sh.load(&st[idx], b);
                        let theirs = sh.load(&st[b], idx);
                        if mine < theirs {
                            best = Some((i, idx));
                            many = false;
                        } else if mine == theirs {
                            many = true;
                        }
                    }
                }
            }

            let Some((mut p, mut b)) = best else {
                if self.switch_to_backup(sh) {
                    // The backup list is never `single`: same algorithm on it.
                    continue;
                }
                return None;
            };

            let mut total: i64 = 0;
            if many {
                for (i, &idx) in members.iter().enumerate().skip(p) {
                    if self.tried[i] || sh.peers[idx].down {
                        continue;
                    }
                    if sh.load(&st[idx], b) != sh.load(&st[b], idx) {
                        continue;
                    }
                    if sh.is_failed(idx, &st[idx], now) || sh.is_full(idx, &st[idx]) {
                        continue;
                    }
                    let s = &mut st[idx];
                    s.current_weight += s.effective_weight;
                    total += s.effective_weight;
                    if s.effective_weight < sh.peers[idx].weight {
                        s.effective_weight += 1;
                    }
                    if st[idx].current_weight > st[b].current_weight {
                        b = idx;
                        p = i;
                    }
                }
            }

            let s = &mut st[b];
            s.current_weight -= total;
            sh.touch_checked(b, s, now);
            s.conns += 1;
            self.tried[p] = true;
            return Some(b);
        }
    }

    /// Whether a peer picked by a hash walk cannot be used (`goto next` in the modules).
    fn unusable(&self, sh: &Shared, st: &[PeerState], p: usize, idx: usize, now: i64) -> bool {
        self.tried[p]
            || sh.peers[idx].down
            || sh.is_failed(idx, &st[idx], now)
            || sh.is_full(idx, &st[idx])
    }

    /// The end of the hash modules' `get` on success.
    fn take(&mut self, sh: &Shared, st: &mut [PeerState], p: usize, idx: usize, now: i64) {
        let s = &mut st[idx];
        s.conns += 1;
        sh.touch_checked(idx, s, now);
        self.tried[p] = true;
    }

    /// `ngx_http_upstream_get_ip_hash_peer`.
    fn get_ip_hash(&mut self, sh: &Shared, st: &mut [PeerState], now: i64) -> Option<usize> {
        if self.hash_tries > HASH_MAX_MISSES || sh.lists[self.list].single {
            return self.get_rr(sh, st, now);
        }
        let mut hash = self.hash;
        loop {
            for &byte in &self.addr[..self.addr_len] {
                hash = (hash * 113 + u32::from(byte)) % 6271;
            }
            let Some((p, idx)) = sh.walk(self.list, u64::from(hash)) else {
                return self.get_rr(sh, st, now);
            };
            if !self.unusable(sh, st, p, idx, now) {
                self.take(sh, st, p, idx, now);
                self.hash = hash;
                return Some(idx);
            }
            self.hash_tries += 1;
            if self.hash_tries > HASH_MAX_MISSES {
                return self.get_rr(sh, st, now);
            }
        }
    }

    /// `ngx_http_upstream_get_hash_peer` (plain `hash KEY`).
    fn get_hash(&mut self, sh: &Shared, st: &mut [PeerState], now: i64) -> Option<usize> {
        if self.hash_tries > HASH_MAX_MISSES || sh.lists[self.list].single || self.key.is_empty() {
            return self.get_rr(sh, st, now);
        }
        loop {
            // ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH, REHASH omitted at first.
            let mut crc = CRC32_INIT;
            if self.rehash > 0 {
                crc = crc32_update(crc, self.rehash.to_string().as_bytes());
            }
            crc = crc32_update(crc, &self.key) ^ CRC32_INIT;
            self.hash = self.hash.wrapping_add((crc >> 16) & 0x7fff);
            self.rehash += 1;

            let Some((p, idx)) = sh.walk(self.list, u64::from(self.hash)) else {
                return self.get_rr(sh, st, now);
            };
            if !self.unusable(sh, st, p, idx, now) {
                self.take(sh, st, p, idx, now);
                return Some(idx);
            }
            self.hash_tries += 1;
            if self.hash_tries > HASH_MAX_MISSES {
                return self.get_rr(sh, st, now);
            }
        }
    }

    /// `ngx_http_upstream_get_chash_peer` (`hash KEY consistent`).
    fn get_chash(&mut self, sh: &Shared, st: &mut [PeerState], now: i64) -> Option<usize> {
        if self.hash_tries > HASH_MAX_MISSES
            || sh.lists[self.list].single
            || self.key.is_empty()
            || sh.points.is_empty()
        {
            return self.get_rr(sh, st, now);
        }
        loop {
            let at = usize::try_from(self.hash).unwrap_or(usize::MAX) % sh.points.len();
            let text_id = sh.points[at].text_id;

            // Smooth weighted round robin among the usable peers with this server text.
            let mut best: Option<(usize, usize)> = None;
            let mut total: i64 = 0;
            for (i, &idx) in sh.lists[self.list].members.iter().enumerate() {
                if self.tried[i]
                    || sh.peers[idx].down
                    || sh.is_failed(idx, &st[idx], now)
                    || sh.is_full(idx, &st[idx])
                    || sh.peers[idx].text_id != text_id
                {
                    continue;
                }
                let s = &mut st[idx];
                s.current_weight += s.effective_weight;
                total += s.effective_weight;
                if s.effective_weight < sh.peers[idx].weight {
                    s.effective_weight += 1;
                }
                let cw = s.current_weight;
                if best.is_none_or(|(_, b)| cw > st[b].current_weight) {
                    best = Some((i, idx));
                }
            }

            if let Some((p, idx)) = best {
                st[idx].current_weight -= total;
                self.take(sh, st, p, idx, now);
                return Some(idx);
            }

            self.hash = self.hash.wrapping_add(1);
            self.hash_tries += 1;
            if self.hash_tries > HASH_MAX_MISSES {
                return self.get_rr(sh, st, now);
            }
        }
    }

    /// `ngx_http_upstream_free_round_robin_peer`. Returns true when nginx would log
    /// "upstream server temporarily disabled".
    fn free(
        &mut self,
        sh: &Shared,
        st: &mut [PeerState],
        idx: usize,
        failed: bool,
        now: i64,
    ) -> bool {
        self.current = None;
        let Some(s) = st.get_mut(idx) else {
            return false;
        };
        if sh.lists[self.list].single {
            s.conns = s.conns.saturating_sub(1);
            self.tries = 0;
            return false;
        }
        let p = &sh.peers[idx];
        let mut disabled = false;
        if failed {
            s.fails += 1;
            s.accessed = now;
            s.checked = now;
            if p.max_fails != 0 {
                s.effective_weight -= p.weight / i64::try_from(p.max_fails).unwrap_or(i64::MAX);
                disabled = s.fails >= p.max_fails;
            }
            if s.effective_weight < 0 {
                s.effective_weight = 0;
            }
        } else if s.accessed < s.checked {
            // Mark the peer live if the check passed.
            s.fails = 0;
        }
        s.conns = s.conns.saturating_sub(1);
        self.tries = self.tries.saturating_sub(1);
        disabled
    }
}

/// `ngx_http_upstream_init_chash`: 160 points per unit of weight for every primary peer
/// (`down` ones included), `crc32(HOST "\0" PORT PREV_HASH)` with the previous point's hash
/// as 4 little-endian bytes (0 for the first), sorted and deduplicated.
fn ketama_points(confs: &[PeerConf], peers: &[Peer], primary: &PeerList) -> Vec<Point> {
    let mut points = Vec::new();
    for &idx in &primary.members {
        let (host, port) = split_server_text(confs[idx].server_text.as_bytes());
        let base = crc32_update(crc32_update(crc32_update(CRC32_INIT, host), b"\0"), port);
        let mut prev: u32 = 0;
        let count = u64::try_from(peers[idx].weight).unwrap_or(1) * 160;
        for _ in 0..count {
            let hash = crc32_update(base, &prev.to_le_bytes()) ^ CRC32_INIT;
            points.push(Point {
                hash,
                text_id: peers[idx].text_id,
            });
            prev = hash;
        }
    }
    // ngx_qsort is glibc's qsort, a merge sort (stable) for arrays this size; equal hashes
    // then keep the first one, as nginx's dedup loop does.
    points.sort_by_key(|p| p.hash);
    points.dedup_by_key(|p| p.hash);
    points
}

/// The host and port ketama hashes: `unix:PATH` gives (PATH, ""); otherwise a trailing
/// `:DIGITS` is the port (scanning back from the end, as nginx does), else no port.
fn split_server_text(text: &[u8]) -> (&[u8], &[u8]) {
    if text.len() >= 5 && text[..5].eq_ignore_ascii_case(b"unix:") {
        return (&text[5..], &[]);
    }
    for (j, &c) in text.iter().rev().enumerate() {
        if c == b':' {
            let colon = text.len() - j - 1;
            return (&text[..colon], &text[colon + 1..]);
        }
        if !c.is_ascii_digit() {
            break;
        }
    }
    (text, &[])
}

/// `ngx_crc32_init` / the value `ngx_crc32_final` xors with.
const CRC32_INIT: u32 = 0xffff_ffff;

/// `ngx_crc32_table256`: the reflected IEEE 802.3 polynomial.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// `ngx_crc32_update`.
fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC32_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// `ngx_crc32_long`.
fn crc32(data: &[u8]) -> u32 {
    crc32_update(CRC32_INIT, data) ^ CRC32_INIT
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: u16 = 19101;
    const B: u16 = 19102;
    const C: u16 = 19103;
    const D: u16 = 19104;
    /// Ports nothing listened on in the nginx runs (connect() refused).
    const X: u16 = 19109;
    const Y: u16 = 19110;

    fn conf(port: u16, f: impl FnOnce(&mut PeerConf)) -> PeerConf {
        let mut c = PeerConf::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            format!("127.0.0.1:{port}"),
        );
        f(&mut c);
        c
    }

    fn plain(port: u16) -> PeerConf {
        conf(port, |_| {})
    }

    fn weighted(port: u16, w: u32) -> PeerConf {
        conf(port, |c| c.weight = w)
    }

    fn letter(port: u16) -> char {
        match port {
            A => 'A',
            B => 'B',
            C => 'C',
            D => 'D',
            X => 'X',
            Y => 'Y',
            _ => '?',
        }
    }

    struct Clock(Instant);

    impl Clock {
        fn at(&self, secs: u64) -> Instant {
            self.0 + Duration::from_secs(secs)
        }
    }

    fn balancer(method: Method, peers: Vec<PeerConf>) -> (Balancer, Clock) {
        let epoch = Instant::now();
        (Balancer::new_at(method, peers, epoch), Clock(epoch))
    }

    /// One request as ngx_http_upstream runs it with `proxy_next_upstream error timeout`:
    /// the peers tried, as letters (`$upstream_addr`); ports in `dead` refuse connections.
    fn request(
        b: &Balancer,
        key: Option<&str>,
        client: Option<IpAddr>,
        now: Instant,
        dead: &[u16],
    ) -> String {
        let mut a = b.start(key.map(str::as_bytes), client);
        let mut chain = String::new();
        while let Some(id) = a.next(b, now) {
            let port = b.peer(id).addr.port();
            chain.push(letter(port));
            let failed = dead.contains(&port);
            a.done(b, id, failed, now);
            if !failed || a.tries() == 0 {
                break;
            }
        }
        chain
    }

    fn requests(b: &Balancer, n: usize, now: Instant, dead: &[u16]) -> Vec<String> {
        (0..n).map(|_| request(b, None, None, now, dead)).collect()
    }

    fn joined(chains: &[String]) -> String {
        chains.concat()
    }

    fn state(b: &Balancer, port: u16) -> PeerState {
        let idx = b
            .peers()
            .iter()
            .position(|p| p.addr.port() == port)
            .unwrap_or(usize::MAX);
        b.shared.lock()[idx].clone()
    }

    const KEYS: [&str; 12] = [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "",
        "hello",
        "/some/uri",
        "user42",
    ];

    const CLIENTS: [&str; 12] = [
        "127.0.0.1",
        "127.0.0.200",
        "10.1.2.3",
        "10.1.2.99",
        "192.168.7.1",
        "8.8.8.8",
        "203.0.113.5",
        "::1",
        "2001:db8::1",
        "2001:db8::2",
        "fe80::1234:5678",
        "::ffff:10.1.2.3",
    ];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    fn by_key(b: &Balancer, now: Instant, dead: &[u16]) -> Vec<String> {
        KEYS.iter()
            .map(|k| request(b, Some(k), None, now, dead))
            .collect()
    }

    fn by_client(b: &Balancer, now: Instant, dead: &[u16]) -> Vec<String> {
        CLIENTS
            .iter()
            .map(|c| request(b, None, Some(ip(c)), now, dead))
            .collect()
    }

    fn split(s: &str) -> Vec<String> {
        s.split(' ')
            .map(|x| {
                if x == "-" {
                    String::new()
                } else {
                    x.to_owned()
                }
            })
            .collect()
    }

    // ---------------------------------------------------------------------------------
    // An independent re-implementation, written from the C code, for cross-checking.
    // ---------------------------------------------------------------------------------

    /// Bitwise CRC-32 (IEEE, reflected), no table.
    fn ref_crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !crc
    }

    /// ngx_http_upstream_init_chash for servers (text, weight): sorted (hash, server).
    fn ref_points(servers: &[(&str, u32)]) -> Vec<(u32, usize)> {
        let mut pts = Vec::new();
        for (n, (text, weight)) in servers.iter().enumerate() {
            let t = text.as_bytes();
            let (host, port): (&[u8], &[u8]) =
                if t.len() >= 5 && t[..5].eq_ignore_ascii_case(b"unix:") {
                    (&t[5..], b"")
                } else {
                    let mut hp: (&[u8], &[u8]) = (t, b"");
                    let mut j = 0;
                    while j < t.len() {
                        let c = t[t.len() - j - 1];
                        if c == b':' {
                            hp = (&t[..t.len() - j - 1], &t[t.len() - j..]);
                            break;
                        }
                        if !c.is_ascii_digit() {
                            break;
                        }
                        j += 1;
                    }
                    hp
                };
            let mut prev = [0u8; 4];
            for _ in 0..weight * 160 {
                let mut buf = Vec::new();
                buf.extend_from_slice(host);
                buf.push(0);
                buf.extend_from_slice(port);
                buf.extend_from_slice(&prev);
                let h = ref_crc32(&buf);
                pts.push((h, n));
                prev = [h as u8, (h >> 8) as u8, (h >> 16) as u8, (h >> 24) as u8];
            }
        }
        pts.sort_by_key(|a| a.0);
        let mut out: Vec<(u32, usize)> = Vec::new();
        for p in pts {
            if out.last().map(|l| l.0) != Some(p.0) {
                out.push(p);
            }
        }
        out
    }

    /// Consistent hash with every peer usable: the server of the first point >= crc32(key).
    fn ref_chash(pts: &[(u32, usize)], key: &str) -> usize {
        let h = ref_crc32(key.as_bytes());
        let mut i = 0;
        while i < pts.len() && pts[i].0 < h {
            i += 1;
        }
        pts[i % pts.len()].1
    }

    /// The weight walk of the hash modules.
    fn ref_walk(weights: &[u32], value: u64) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut w = value % total;
        let mut p = 0;
        while w >= u64::from(weights[p]) {
            w -= u64::from(weights[p]);
            p += 1;
        }
        p
    }

    /// Plain hash: the successive picks (first try, then the rehashes).
    fn ref_hash_picks(weights: &[u32], key: &str, n: usize) -> Vec<usize> {
        let mut sum: u32 = 0;
        (0..n)
            .map(|rehash| {
                let mut input = if rehash > 0 {
                    rehash.to_string()
                } else {
                    String::new()
                };
                input.push_str(key);
                sum = sum.wrapping_add((ref_crc32(input.as_bytes()) >> 16) & 0x7fff);
                ref_walk(weights, u64::from(sum))
            })
            .collect()
    }

    /// ip_hash: the successive picks for a client.
    fn ref_ip_picks(weights: &[u32], client: Option<IpAddr>, n: usize) -> Vec<usize> {
        let bytes: Vec<u8> = match client {
            Some(IpAddr::V4(v4)) => v4.octets()[..3].to_vec(),
            Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
            None => vec![0, 0, 0],
        };
        let mut h: u64 = 89;
        (0..n)
            .map(|_| {
                for &b in &bytes {
                    h = (h * 113 + u64::from(b)) % 6271;
                }
                ref_walk(weights, h)
            })
            .collect()
    }

    fn index_of(_b: &Balancer, id: Option<PeerId>) -> usize {
        id.map_or(usize::MAX, PeerId::index)
    }

    // ---------------------------------------------------------------------------------
    // CRC-32 and server text splitting.
    // ---------------------------------------------------------------------------------

    #[test]
    fn crc32_matches_ieee_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        for s in ["a", "hello", "127.0.0.1\x0019101", "1"] {
            assert_eq!(crc32(s.as_bytes()), ref_crc32(s.as_bytes()), "{s}");
        }
        // Incremental update is the same as one pass.
        let split = crc32_update(crc32_update(CRC32_INIT, b"1234"), b"56789") ^ CRC32_INIT;
        assert_eq!(split, 0xCBF4_3926);
    }

    #[test]
    fn server_text_split_as_ketama_does() {
        let s = |t: &'static str| {
            let (h, p) = split_server_text(t.as_bytes());
            (
                String::from_utf8_lossy(h).into_owned(),
                String::from_utf8_lossy(p).into_owned(),
            )
        };
        assert_eq!(
            s("backend1.test:8080"),
            ("backend1.test".into(), "8080".into())
        );
        assert_eq!(s("backend1.test"), ("backend1.test".into(), "".into()));
        assert_eq!(s("unix:/run/app.sock"), ("/run/app.sock".into(), "".into()));
        assert_eq!(s("UNIX:/x:80"), ("/x:80".into(), "".into()));
        assert_eq!(s("[::1]:8080"), ("[::1]".into(), "8080".into()));
        assert_eq!(s("[::1]"), ("[::1]".into(), "".into()));
        assert_eq!(s("host:"), ("host".into(), "".into()));
        assert_eq!(s("10.0.0.1"), ("10.0.0.1".into(), "".into()));
    }

    // ---------------------------------------------------------------------------------
    // Round robin.
    // ---------------------------------------------------------------------------------

    #[test]
    fn rr_weights_5_1_1() {
        // Observed on nginx 1.22.1 (one worker): A A B A C A A, repeating.
        let (b, t) = balancer(Method::RoundRobin, vec![weighted(A, 5), plain(B), plain(C)]);
        assert_eq!(joined(&requests(&b, 14, t.at(0), &[])), "AABACAAAABACAA");
    }

    #[test]
    fn rr_equal_weights_cycle() {
        let (b, t) = balancer(Method::RoundRobin, vec![plain(A), plain(B), plain(C)]);
        assert_eq!(joined(&requests(&b, 7, t.at(0), &[])), "ABCABCA");
    }

    #[test]
    fn rr_effective_weight_after_failure() {
        // Observed on nginx 1.22.1: upstream { A weight=3; X weight=4 max_fails=2
        // fail_timeout=30s; C weight=2 }, X refusing connections.
        let (b, t) = balancer(
            Method::RoundRobin,
            vec![
                weighted(A, 3),
                conf(X, |c| {
                    c.weight = 4;
                    c.max_fails = 2;
                    c.fail_timeout = Duration::from_secs(30);
                }),
                weighted(C, 2),
            ],
        );
        let got = requests(&b, 12, t.at(0), &[X]);
        assert_eq!(got, split("XA C A XA C A C A A C A C"));

        // The arithmetic: each failure takes weight/max_fails = 2 off effective_weight,
        // every selection round that considers the peer gives 1 back.
        let (b, t) = balancer(
            Method::RoundRobin,
            vec![
                conf(A, |c| {
                    c.weight = 4;
                    c.max_fails = 2;
                }),
                plain(B),
            ],
        );
        let mut a = b.start(None, None);
        let id = a.next(&b, t.at(0));
        assert_eq!(id.map(|i| b.peer(i).addr.port()), Some(A));
        let disabled = id.is_some_and(|id| a.done(&b, id, true, t.at(0)));
        assert!(!disabled, "1 failure of max_fails=2");
        assert_eq!(state(&b, A).effective_weight, 2);
        assert_eq!(state(&b, A).fails, 1);
        request(&b, None, None, t.at(0), &[]);
        assert_eq!(state(&b, A).effective_weight, 3);
        request(&b, None, None, t.at(0), &[]);
        assert_eq!(state(&b, A).effective_weight, 4);
        request(&b, None, None, t.at(0), &[]);
        assert_eq!(state(&b, A).effective_weight, 4, "never above weight");

        // max_fails=1: effective weight drops to 0 (clamped), the peer is disabled.
        let (b, t) = balancer(Method::RoundRobin, vec![weighted(A, 3), plain(B)]);
        let mut a = b.start(None, None);
        let id = a.next(&b, t.at(0));
        assert!(
            id.is_some_and(|id| a.done(&b, id, true, t.at(0))),
            "temporarily disabled"
        );
        assert_eq!(state(&b, A).effective_weight, 0);
    }

    #[test]
    fn rr_failed_peer_skipped_for_fail_timeout_then_probed() {
        // Observed on nginx 1.22.1: upstream { A; X fail_timeout=3s; C }, six requests
        // within one second, then six more 4 s later (X refuses connections).
        let (b, t) = balancer(
            Method::RoundRobin,
            vec![
                plain(A),
                conf(X, |c| c.fail_timeout = Duration::from_secs(3)),
                plain(C),
            ],
        );
        assert_eq!(requests(&b, 6, t.at(0), &[X]), split("A XC C A C A"));
        assert_eq!(requests(&b, 6, t.at(4), &[X]), split("C A C XA C A"));
    }

    #[test]
    fn rr_probe_success_resets_fails_and_probe_failure_disables_again() {
        let (b, t) = balancer(Method::RoundRobin, vec![plain(A), plain(B)]);
        // A fails at t=0 (max_fails=1, fail_timeout=10s).
        assert_eq!(request(&b, None, None, t.at(0), &[A]), "AB");
        assert_eq!(state(&b, A).fails, 1);
        // Skipped while now - checked <= 10.
        assert_eq!(joined(&requests(&b, 3, t.at(10), &[])), "BBB");

        // t=11: A is offered again; while this probe is outstanding (checked = 11) other
        // requests still skip it.
        let mut probe = b.start(None, None);
        let mut id = None;
        for _ in 0..3 {
            // Smooth WRR may need a round or two to come back to A (its effective weight
            // is recovering); give B back meanwhile.
            id = probe.next(&b, t.at(11));
            if id.is_some_and(|i| b.peer(i).addr.port() == A) {
                break;
            }
            if let Some(i) = id {
                probe.done(&b, i, false, t.at(11));
            }
            probe = b.start(None, None);
        }
        assert_eq!(id.map(|i| b.peer(i).addr.port()), Some(A));
        assert_eq!(state(&b, A).checked, b.shared.secs(t.at(11)));
        assert_eq!(joined(&requests(&b, 2, t.at(11), &[])), "BB");
        // The probe succeeds: fails reset, A back in rotation.
        if let Some(i) = id {
            probe.done(&b, i, false, t.at(11));
        }
        assert_eq!(state(&b, A).fails, 0);
        assert!(joined(&requests(&b, 4, t.at(11), &[])).contains('A'));

        // A failing probe disables the peer for another fail_timeout.
        let (b, t) = balancer(Method::RoundRobin, vec![plain(A), plain(B)]);
        assert_eq!(request(&b, None, None, t.at(0), &[A]), "AB");
        let chains = requests(&b, 4, t.at(11), &[A]);
        assert!(chains.contains(&"AB".to_owned()), "{chains:?}");
        assert_eq!(state(&b, A).fails, 2);
        assert_eq!(joined(&requests(&b, 3, t.at(21), &[])), "BBB");
    }

    #[test]
    fn single_peer_never_marked_failed() {
        // Observed on nginx 1.22.1: upstream { X } answered 502 after one connect() to X on
        // every request, never "no live upstreams".
        let (b, t) = balancer(Method::RoundRobin, vec![plain(X)]);
        assert_eq!(b.tries(), 1);
        for s in 0..3 {
            assert_eq!(request(&b, None, None, t.at(s), &[X]), "X");
        }
        let st = state(&b, X);
        assert_eq!((st.fails, st.conns, st.effective_weight), (0, 0, 1));
        // nginx's free sets pc->tries to 0 here: no second try even with more allowed.
        let mut a = b.start(None, None);
        let id = a.next(&b, t.at(3));
        assert!(id.is_some());
        if let Some(id) = id {
            assert!(!a.done(&b, id, true, t.at(3)));
        }
        assert_eq!(a.tries(), 0);
        // The hash methods fall back to round robin on a single peer.
        for m in [
            Method::IpHash,
            Method::Hash { consistent: false },
            Method::Hash { consistent: true },
        ] {
            let (b, t) = balancer(m, vec![plain(X)]);
            for _ in 0..3 {
                assert_eq!(
                    request(&b, Some("k"), Some(ip("10.0.0.1")), t.at(0), &[X]),
                    "X"
                );
            }
        }
    }

    #[test]
    fn single_peer_down_or_full_is_no_live_upstreams() {
        let (b, t) = balancer(Method::RoundRobin, vec![conf(A, |c| c.down = true)]);
        assert_eq!(b.tries(), 0);
        assert_eq!(b.start(None, None).next(&b, t.at(0)), None);

        let (b, t) = balancer(Method::LeastConn, vec![conf(A, |c| c.max_conns = 1)]);
        let mut held = b.start(None, None);
        assert!(held.next(&b, t.at(0)).is_some());
        assert_eq!(b.start(None, None).next(&b, t.at(0)), None);
    }

    #[test]
    fn backup_only_when_no_primary_usable() {
        // Observed on nginx 1.22.1: upstream { X; Y; C backup; D backup } with X and Y
        // refusing connections.
        let backup = |p| conf(p, |c| c.backup = true);
        let peers = vec![plain(X), plain(Y), backup(C), backup(D)];
        let (b, t) = balancer(Method::RoundRobin, peers.clone());
        assert_eq!(b.tries(), 4);
        assert_eq!(requests(&b, 5, t.at(0), &[X, Y]), split("XYC D C D C"));

        // Usable primaries: the backups are never touched.
        let (b, t) = balancer(Method::RoundRobin, peers.clone());
        assert_eq!(joined(&requests(&b, 6, t.at(0), &[])), "XYXYXY");

        // All primaries down: straight to the backups.
        let (b, t) = balancer(
            Method::RoundRobin,
            vec![
                conf(A, |c| c.down = true),
                conf(B, |c| c.down = true),
                backup(C),
                backup(D),
            ],
        );
        assert_eq!(b.tries(), 2);
        let mut a = b.start(None, None);
        let id = a.next(&b, t.at(0));
        assert!(a.on_backup());
        assert_eq!(id.map(|i| b.peer(i).addr.port()), Some(C));

        // least_conn switches the same way.
        let (b, t) = balancer(Method::LeastConn, peers);
        assert_eq!(requests(&b, 3, t.at(0), &[X, Y]), split("XYC D C"));

        // Backups failing too: no live upstreams, until fail_timeout passes.
        let (b, t) = balancer(Method::RoundRobin, vec![plain(X), backup(Y)]);
        assert_eq!(request(&b, None, None, t.at(0), &[X, Y]), "XY");
        assert_eq!(request(&b, None, None, t.at(5), &[X, Y]), "");
        assert_eq!(request(&b, None, None, t.at(11), &[X, Y]), "XY");
    }

    #[test]
    fn down_never_chosen() {
        let (b, t) = balancer(
            Method::RoundRobin,
            vec![plain(A), conf(B, |c| c.down = true), plain(C)],
        );
        assert_eq!(b.tries(), 2);
        assert_eq!(joined(&requests(&b, 6, t.at(0), &[])), "ACACAC");
        for m in [
            Method::LeastConn,
            Method::IpHash,
            Method::Hash { consistent: false },
            Method::Hash { consistent: true },
        ] {
            let (b, t) = balancer(m, vec![plain(A), conf(B, |c| c.down = true), plain(C)]);
            for k in 0..200 {
                let key = k.to_string();
                let client = IpAddr::V4(Ipv4Addr::new(10, k as u8, (k / 7) as u8, 1));
                let chain = request(&b, Some(&key), Some(client), t.at(0), &[]);
                assert!(chain == "A" || chain == "C", "{m:?} {key}: {chain}");
            }
        }
    }

    #[test]
    fn all_peers_failed_is_no_live_upstreams() {
        let (b, t) = balancer(Method::RoundRobin, vec![plain(X), plain(Y)]);
        assert_eq!(request(&b, None, None, t.at(0), &[X, Y]), "XY");
        // 1.22 does not reset the fails of a group found dead (older versions did).
        assert_eq!(request(&b, None, None, t.at(1), &[]), "");
        assert_eq!(state(&b, X).fails, 1);
    }

    #[test]
    fn max_conns_respected() {
        let (b, t) = balancer(
            Method::RoundRobin,
            vec![conf(A, |c| c.max_conns = 1), plain(B)],
        );
        let mut first = b.start(None, None);
        let held = first.next(&b, t.at(0));
        assert_eq!(held.map(|i| b.peer(i).addr.port()), Some(A));
        // While A is busy every other request gets B.
        let mut others: Vec<Attempt> = Vec::new();
        for _ in 0..3 {
            let mut a = b.start(None, None);
            assert_eq!(a.next(&b, t.at(0)).map(|i| b.peer(i).addr.port()), Some(B));
            others.push(a);
        }
        if let Some(id) = held {
            first.done(&b, id, false, t.at(0));
        }
        drop(others);
        assert_eq!(
            state(&b, B).conns,
            0,
            "dropping an attempt gives its peer back"
        );
        assert!(joined(&requests(&b, 4, t.at(0), &[])).contains('A'));

        // Everything full: a backup, else nothing.
        let full = |p| conf(p, |c| c.max_conns = 1);
        let (b, t) = balancer(Method::RoundRobin, vec![full(A), full(B)]);
        let mut a1 = b.start(None, None);
        let mut a2 = b.start(None, None);
        assert!(a1.next(&b, t.at(0)).is_some() && a2.next(&b, t.at(0)).is_some());
        assert_eq!(b.start(None, None).next(&b, t.at(0)), None);
        drop(a1);
        assert!(b.start(None, None).next(&b, t.at(0)).is_some());

        // Hash methods skip a full peer like an unusable one.
        let (b, t) = balancer(
            Method::Hash { consistent: true },
            vec![full(A), full(B), full(C)],
        );
        let mut held = Vec::new();
        for k in ["1", "2", "3"] {
            let mut a = b.start(Some(k.as_bytes()), None);
            assert!(a.next(&b, t.at(0)).is_some());
            held.push(a);
        }
        assert_eq!(b.start(Some(b"4"), None).next(&b, t.at(0)), None);
    }

    #[test]
    fn tries_count_and_limit() {
        let (b, _) = balancer(
            Method::RoundRobin,
            vec![
                plain(A),
                conf(B, |c| c.down = true),
                plain(C),
                conf(D, |c| c.backup = true),
                conf(X, |c| {
                    c.backup = true;
                    c.down = true;
                }),
            ],
        );
        assert_eq!(b.tries(), 3);
        let mut a = b.start(None, None);
        assert_eq!(a.tries(), 3);
        a.limit_tries(0);
        assert_eq!(a.tries(), 3);
        a.limit_tries(2);
        assert_eq!(a.tries(), 2);
        a.limit_tries(5);
        assert_eq!(a.tries(), 2);
    }

    // ---------------------------------------------------------------------------------
    // least_conn.
    // ---------------------------------------------------------------------------------

    #[test]
    fn least_conn_busy_peer_gets_nothing() {
        let (b, t) = balancer(Method::LeastConn, vec![plain(A), plain(B)]);
        let mut slow = b.start(None, None);
        let held = slow.next(&b, t.at(0));
        assert_eq!(held.map(|i| b.peer(i).addr.port()), Some(A));
        assert_eq!(joined(&requests(&b, 4, t.at(0), &[])), "BBBB");
        if let Some(id) = held {
            slow.done(&b, id, false, t.at(0));
        }
        // Round robin would alternate.
        let (b, t) = balancer(Method::RoundRobin, vec![plain(A), plain(B)]);
        let mut slow = b.start(None, None);
        assert!(slow.next(&b, t.at(0)).is_some());
        assert_eq!(joined(&requests(&b, 4, t.at(0), &[])), "BABA");
    }

    #[test]
    fn least_conn_ties_alternate() {
        let (b, t) = balancer(Method::LeastConn, vec![plain(A), plain(B)]);
        assert_eq!(joined(&requests(&b, 4, t.at(0), &[])), "ABAB");
        // Observed on nginx 1.22.1: least_conn with weights 5,1,1 and sequential requests
        // is the smooth weighted round robin.
        let (b, t) = balancer(Method::LeastConn, vec![weighted(A, 5), plain(B), plain(C)]);
        assert_eq!(joined(&requests(&b, 14, t.at(0), &[])), "AABACAAAABACAA");
    }

    #[test]
    fn least_conn_many_tied_among_the_least_loaded_only() {
        // A busy; B and C tie at 0 connections: smooth WRR over B and C only.
        let (b, t) = balancer(Method::LeastConn, vec![plain(A), plain(B), plain(C)]);
        let mut slow = b.start(None, None);
        assert_eq!(
            slow.next(&b, t.at(0)).map(|i| b.peer(i).addr.port()),
            Some(A)
        );
        assert_eq!(joined(&requests(&b, 4, t.at(0), &[])), "BCBC");
        // conns/weight: A (weight 2, 1 conn) beats B (weight 1, 1 conn).
        let (b, t) = balancer(Method::LeastConn, vec![weighted(A, 2), plain(B)]);
        let mut a1 = b.start(None, None);
        let mut a2 = b.start(None, None);
        let p1 = a1.next(&b, t.at(0)).map(|i| b.peer(i).addr.port());
        let p2 = a2.next(&b, t.at(0)).map(|i| b.peer(i).addr.port());
        assert_eq!((p1, p2), (Some(A), Some(B)));
        assert_eq!(request(&b, None, None, t.at(0), &[]), "A");
    }

    #[test]
    fn least_conn_with_a_dead_peer() {
        // Observed on nginx 1.22.1: least_conn { X; B; C } with X refusing connections.
        let (b, t) = balancer(Method::LeastConn, vec![plain(X), plain(B), plain(C)]);
        assert_eq!(requests(&b, 6, t.at(0), &[X]), split("XB C B C B C"));
    }

    // ---------------------------------------------------------------------------------
    // ip_hash.
    // ---------------------------------------------------------------------------------

    #[test]
    fn ip_hash_localhost_goes_to_third_peer() {
        let (b, t) = balancer(Method::IpHash, vec![plain(A), plain(B), plain(C)]);
        for _ in 0..6 {
            assert_eq!(request(&b, None, Some(ip("127.0.0.1")), t.at(0), &[]), "C");
        }
    }

    #[test]
    fn ip_hash_same_slash_24_sticks_together() {
        let (b, t) = balancer(Method::IpHash, vec![plain(A), plain(B), plain(C), plain(D)]);
        for net in [[10, 1, 2], [192, 168, 7], [8, 8, 8], [203, 0, 113]] {
            let first = request(
                &b,
                None,
                Some(IpAddr::from([net[0], net[1], net[2], 0])),
                t.at(0),
                &[],
            );
            for host in 1..=255u8 {
                let c = IpAddr::from([net[0], net[1], net[2], host]);
                assert_eq!(request(&b, None, Some(c), t.at(0), &[]), first, "{c}");
            }
        }
    }

    #[test]
    fn ip_hash_ipv6_uses_all_16_bytes() {
        let weights = [1, 1, 1];
        let (b, t) = balancer(Method::IpHash, vec![plain(A), plain(B), plain(C)]);
        // Differing only in the last byte can change the peer.
        let c1 = ip("2001:db8::1");
        let c2 = ip("2001:db8::2");
        assert_eq!(request(&b, None, Some(c1), t.at(0), &[]), "C");
        assert_eq!(request(&b, None, Some(c2), t.at(0), &[]), "A");
        for c in [
            c1,
            c2,
            ip("::1"),
            ip("fe80::1234:5678"),
            ip("::ffff:10.1.2.3"),
        ] {
            let want = ref_ip_picks(&weights, Some(c), 1)[0];
            let mut a = b.start(None, Some(c));
            assert_eq!(index_of(&b, a.next(&b, t.at(0))), want, "{c}");
        }
        // An IPv4-mapped address is hashed as IPv6 (16 bytes), unlike the plain IPv4 one.
        assert_ne!(
            request(&b, None, Some(ip("::ffff:10.1.2.3")), t.at(0), &[]),
            request(&b, None, Some(ip("10.1.2.3")), t.at(0), &[])
        );
    }

    #[test]
    fn ip_hash_unix_client_uses_pseudo_address() {
        let (b, t) = balancer(Method::IpHash, vec![plain(A), plain(B), plain(C), plain(D)]);
        let unix = request(&b, None, None, t.at(0), &[]);
        assert_eq!(unix, request(&b, None, Some(ip("0.0.0.77")), t.at(0), &[]));
        assert_eq!(
            ref_ip_picks(&[1, 1, 1, 1], None, 1)[0],
            "ABCD".find(&unix).unwrap_or(usize::MAX)
        );
    }

    #[test]
    fn ip_hash_matches_reference_and_nginx() {
        // Observed on nginx 1.22.1 (client addresses set with realip's X-Real-IP):
        // ip_hash over {A, B, C}, {A w=2, B, C w=3, D}, and {X, B, Y, C} with X and Y
        // refusing connections (max_fails=0), clients in CLIENTS order.
        let (b, t) = balancer(Method::IpHash, vec![plain(A), plain(B), plain(C)]);
        assert_eq!(
            by_client(&b, t.at(0), &[]),
            split("C C B B B C A C C A A C")
        );
        let (b, t) = balancer(
            Method::IpHash,
            vec![weighted(A, 2), plain(B), weighted(C, 3), plain(D)],
        );
        assert_eq!(
            by_client(&b, t.at(0), &[]),
            split("A A D D D D B B C C D C")
        );
        let nofail = |p| conf(p, |c| c.max_fails = 0);
        let (b, t) = balancer(
            Method::IpHash,
            vec![nofail(X), plain(B), nofail(Y), plain(C)],
        );
        assert_eq!(
            by_client(&b, t.at(0), &[X, Y]),
            split("XYB XYB XC XC XC C XC B XC B C C")
        );

        // Against the reference: first pick, and the retry continuation.
        let weights = [2, 1, 3, 1];
        let (b, t) = balancer(
            Method::IpHash,
            vec![weighted(A, 2), plain(B), weighted(C, 3), plain(D)],
        );
        for n in 0..300u32 {
            let c = IpAddr::from([(n * 37 % 256) as u8, (n * 11 % 256) as u8, n as u8, 9]);
            let picks = ref_ip_picks(&weights, Some(c), 8);
            let mut a = b.start(None, Some(c));
            let first = a.next(&b, t.at(0));
            assert_eq!(index_of(&b, first), picks[0], "{c}");
            // Retry: the hash loop continues; already tried peers are skipped.
            if let Some(id) = first {
                a.done(&b, id, false, t.at(0));
            }
            let want = picks.iter().copied().find(|&p| p != picks[0]);
            if let Some(want) = want {
                assert_eq!(index_of(&b, a.next(&b, t.at(0))), want, "{c} retry");
            }
        }
    }

    #[test]
    fn ip_hash_twenty_misses_fall_back_to_round_robin() {
        // A huge down peer soaks up most hash values.
        let weights = [1000, 1, 1];
        let peers = || {
            vec![
                conf(A, |c| {
                    c.weight = 1000;
                    c.down = true;
                }),
                plain(B),
                plain(C),
            ]
        };
        let mut saw_fallback = false;
        let mut saw_hash = false;
        for n in 0..200u8 {
            let c = IpAddr::from([n, 1, 2, 3]);
            let (b, t) = balancer(Method::IpHash, peers());
            let picks = ref_ip_picks(&weights, Some(c), 21);
            let mut a = b.start(None, Some(c));
            let got = index_of(&b, a.next(&b, t.at(0)));
            match picks.iter().position(|&p| p != 0) {
                Some(pos) => {
                    saw_hash = true;
                    assert_eq!(got, picks[pos], "{c}");
                    assert_eq!(a.cur.hash_tries as usize, pos);
                }
                None => {
                    // Round robin's first pick among B, C.
                    saw_fallback = true;
                    assert_eq!(got, 1, "{c}");
                    assert_eq!(a.cur.hash_tries, 21);
                }
            }
        }
        assert!(saw_fallback && saw_hash);
    }

    // ---------------------------------------------------------------------------------
    // hash.
    // ---------------------------------------------------------------------------------

    #[test]
    fn hash_plain_matches_reference() {
        for weights in [vec![1, 1, 1], vec![2, 1, 3, 1], vec![5, 1, 1]] {
            let ports = [A, B, C, D];
            let peers = weights
                .iter()
                .zip(ports)
                .map(|(&w, p)| weighted(p, w))
                .collect();
            let (b, t) = balancer(Method::Hash { consistent: false }, peers);
            for k in (1..=8)
                .map(|k| k.to_string())
                .chain((100..400).map(|k| format!("key{k}")))
            {
                let picks = ref_hash_picks(&weights, &k, 21);
                let mut a = b.start(Some(k.as_bytes()), None);
                let first = a.next(&b, t.at(0));
                assert_eq!(index_of(&b, first), picks[0], "{weights:?} {k}");
                // A retry rehashes ("1" KEY, "2" KEY, ...) adding to the previous value.
                // (Given back as not failed so that later keys see every peer usable.)
                if let Some(id) = first {
                    a.done(&b, id, false, t.at(0));
                }
                if let Some(want) = picks.iter().copied().find(|&p| p != picks[0]) {
                    assert_eq!(
                        index_of(&b, a.next(&b, t.at(0))),
                        want,
                        "{weights:?} {k} retry"
                    );
                }
            }
        }
    }

    #[test]
    fn hash_plain_matches_nginx() {
        // Observed on nginx 1.22.1, `hash $arg_k;`, keys in KEYS order ("" = no key:
        // round robin).
        let (b, t) = balancer(
            Method::Hash { consistent: false },
            vec![plain(A), plain(B), plain(C)],
        );
        assert_eq!(by_key(&b, t.at(0), &[]), split("B C B A B A A C A B B A"));
        let (b, t) = balancer(
            Method::Hash { consistent: false },
            vec![weighted(A, 2), plain(B), weighted(C, 3), plain(D)],
        );
        assert_eq!(by_key(&b, t.at(0), &[]), split("A B B C C D D C C A C C"));
        // {X, B, Y, C}, X and Y refusing connections with max_fails=0.
        let nofail = |p| conf(p, |c| c.max_fails = 0);
        let (b, t) = balancer(
            Method::Hash { consistent: false },
            vec![nofail(X), plain(B), nofail(Y), plain(C)],
        );
        assert_eq!(
            by_key(&b, t.at(0), &[X, Y]),
            split("XYB B YC YC B XYB C XYB XB XYB XYC C")
        );
    }

    #[test]
    fn hash_empty_key_is_round_robin() {
        for consistent in [false, true] {
            let (b, t) = balancer(
                Method::Hash { consistent },
                vec![plain(A), plain(B), plain(C)],
            );
            let chains: Vec<String> = (0..4)
                .map(|_| request(&b, Some(""), None, t.at(0), &[]))
                .collect();
            assert_eq!(joined(&chains), "ABCA");
            let chains: Vec<String> = (0..2)
                .map(|_| request(&b, None, None, t.at(0), &[]))
                .collect();
            assert_eq!(joined(&chains), "BC");
        }
    }

    #[test]
    fn hash_twenty_misses_fall_back_to_round_robin() {
        let weights = [1000, 1, 1];
        let peers = || {
            vec![
                conf(A, |c| {
                    c.weight = 1000;
                    c.down = true;
                }),
                plain(B),
                plain(C),
            ]
        };
        let (mut saw_fallback, mut saw_hash) = (false, false);
        for k in 0..300 {
            let key = format!("k{k}");
            let (b, t) = balancer(Method::Hash { consistent: false }, peers());
            let picks = ref_hash_picks(&weights, &key, 21);
            let mut a = b.start(Some(key.as_bytes()), None);
            let got = index_of(&b, a.next(&b, t.at(0)));
            match picks.iter().position(|&p| p != 0) {
                Some(pos) => {
                    saw_hash = true;
                    assert_eq!(got, picks[pos], "{key}");
                }
                None => {
                    saw_fallback = true;
                    assert_eq!(got, 1, "{key}");
                    assert_eq!(a.cur.hash_tries, 21);
                }
            }
        }
        assert!(saw_fallback && saw_hash);
    }

    #[test]
    fn hash_consistent_matches_reference() {
        let sets: [&[(&str, u32)]; 3] = [
            &[
                ("127.0.0.1:19101", 1),
                ("127.0.0.1:19102", 1),
                ("127.0.0.1:19103", 1),
            ],
            &[
                ("backend1.test:8080", 1),
                ("backend2.test:8080", 2),
                ("unix:/run/b3.sock", 1),
                ("10.0.0.9", 3),
            ],
            &[
                ("127.0.0.1:19101", 2),
                ("127.0.0.1:19102", 1),
                ("127.0.0.1:19103", 3),
                ("127.0.0.1:19104", 1),
            ],
        ];
        for servers in sets {
            let pts = ref_points(servers);
            let peers = servers
                .iter()
                .enumerate()
                .map(|(n, &(text, w))| {
                    let mut c = weighted(A + n as u16, w);
                    c.server_text = text.to_owned();
                    c
                })
                .collect();
            let (b, t) = balancer(Method::Hash { consistent: true }, peers);
            let ours: Vec<(u32, usize)> = b
                .shared
                .points
                .iter()
                .map(|p| (p.hash, p.text_id))
                .collect();
            assert_eq!(ours, pts, "{servers:?}");
            for k in (1..=8)
                .map(|k| k.to_string())
                .chain((0..500).map(|k| format!("/u/{k}")))
            {
                let mut a = b.start(Some(k.as_bytes()), None);
                assert_eq!(
                    index_of(&b, a.next(&b, t.at(0))),
                    ref_chash(&pts, &k),
                    "{servers:?} {k}"
                );
            }
        }
    }

    #[test]
    fn hash_consistent_matches_nginx() {
        // Observed on nginx 1.22.1, `hash $arg_k consistent;`, keys in KEYS order.
        let (b, t) = balancer(
            Method::Hash { consistent: true },
            vec![plain(A), plain(B), plain(C)],
        );
        assert_eq!(by_key(&b, t.at(0), &[]), split("C A B B A A B C A A C A"));
        let (b, t) = balancer(
            Method::Hash { consistent: true },
            vec![weighted(A, 2), plain(B), weighted(C, 3), plain(D)],
        );
        assert_eq!(by_key(&b, t.at(0), &[]), split("C C C B A A D C C A C A"));
        // {A, X, C, Y}, X and Y refusing connections with max_fails=0: the next point on
        // the ring after each failure.
        let nofail = |p| conf(p, |c| c.max_fails = 0);
        let (b, t) = balancer(
            Method::Hash { consistent: true },
            vec![plain(A), nofail(X), plain(C), nofail(Y)],
        );
        assert_eq!(
            by_key(&b, t.at(0), &[X, Y]),
            split("YC YA XA XC A A YC C A A XYC XA")
        );
    }

    #[test]
    fn hash_consistent_peers_sharing_server_text_share_points() {
        // A name resolving to two addresses: both peers own the same points, and requests
        // for one key alternate between them by smooth WRR.
        let two = |port| conf(port, |c| c.server_text = "backend.test:80".into());
        let (b, t) = balancer(
            Method::Hash { consistent: true },
            vec![two(A), two(B), plain(C)],
        );
        assert_eq!(
            b.shared.points.iter().filter(|p| p.text_id == 0).count(),
            160
        );
        let key = (0..100)
            .map(|k| k.to_string())
            .find(|k| request(&b, Some(k), None, t.at(0), &[]) != "C")
            .unwrap_or_default();
        let (b, t) = balancer(
            Method::Hash { consistent: true },
            vec![two(A), two(B), plain(C)],
        );
        let chains: Vec<String> = (0..4)
            .map(|_| request(&b, Some(&key), None, t.at(0), &[]))
            .collect();
        assert_eq!(joined(&chains), "ABAB");
    }

    #[test]
    fn hash_consistent_skips_to_next_point_and_wraps() {
        let servers: &[(&str, u32)] = &[
            ("127.0.0.1:19101", 1),
            ("127.0.0.1:19102", 1),
            ("127.0.0.1:19103", 1),
        ];
        let pts = ref_points(servers);
        let (b, t) = balancer(
            Method::Hash { consistent: true },
            vec![plain(A), conf(B, |c| c.down = true), plain(C)],
        );
        for k in (0..300).map(|k| format!("x{k}")) {
            let h = ref_crc32(k.as_bytes());
            let start = pts.iter().position(|p| p.0 >= h).unwrap_or(pts.len());
            let want = (start..start + pts.len())
                .map(|i| pts[i % pts.len()].1)
                .find(|&s| s != 1)
                .unwrap_or(usize::MAX);
            let mut a = b.start(Some(k.as_bytes()), None);
            assert_eq!(index_of(&b, a.next(&b, t.at(0))), want, "{k}");
        }
    }

    #[test]
    fn balancer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Balancer>();
        check::<Attempt<'static>>();
    }
}
