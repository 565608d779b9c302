//! The request state machine: every request from submit to delivery, with no threads and no
//! syscalls in it.
//!
//! ```text
//!   submit ──► Queued ──take_work──► Running ──finish──► Ready ──pop_ready──► (delivered)
//!                │                      │                  ▲
//!                └──cancel/timeout──────┴──(open only)─────┘
//! ```
//!
//! A cancelled (or timed-out) request becomes Ready at once with `-ECANCELED` (`-ETIMEDOUT`).
//! If its open was running, the worker is *abandoned*: when its syscall returns, `finish`
//! finds the request no longer running and hands the new descriptor back for closing. Every
//! method that can leave the library holding a descriptor nobody will receive returns it, so
//! the caller closes it outside the lock.
//!
//! `T` is the caller's per-request token (the C layer's callback and user_data), carried
//! untouched to delivery.
//!
//! Per-mount fairness. Each request names the mount that holds its file. At most `share`
//! requests of one mount run at once, abandoned ones included (a dead mount's stuck
//! syscalls keep holding its share, so it cannot pile up threads); the rest wait in that
//! mount's own queue while other mounts' requests go ahead. Workers take the oldest request
//! among the mounts below their share.

use crate::mounts::MountId;
use crate::stats::Counters;
use std::collections::{BTreeSet, VecDeque};
use std::ffi::CString;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

/// A request id: positive and unique within one context.
pub type Id = u64;

/// Hashes the table's keys (request and mount ids: integers the library hands out or the
/// kernel assigns, never chosen by an attacker) by one multiply, instead of SipHash: every
/// request does several lookups under the context lock, whose hold time bounds throughput.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: the high bits, which hashbrown uses, depend on every input bit.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by ids, hashed with [`IdHasher`].
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The work a request does.
#[derive(Debug)]
pub enum Op {
    /// `open(path, flags | O_CLOEXEC, mode)`.
    Open { path: CString, flags: i32, mode: u32 },
    /// `close(fd)`: the library owns `fd` from submit on.
    Close { fd: i32 },
}

/// Which operation a completion reports (the C `AOPEN_OP_*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum OpKind {
    Open = 1,
    Close = 2,
}

impl Op {
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Open { .. } => OpKind::Open,
            Op::Close { .. } => OpKind::Close,
        }
    }
}

/// A delivered request.
#[derive(Debug)]
pub struct Completion<T> {
    pub id: Id,
    pub op: OpKind,
    /// open: the new fd; close: 0; failure: -errno.
    pub result: i32,
    pub token: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Running,
    Ready,
}

#[derive(Debug)]
struct Req<T> {
    kind: OpKind,
    mount: MountId,
    phase: Phase,
    /// Set once the result is final because of a cancel or timeout.
    cancelled: bool,
    result: i32,
    submitted: Instant,
    /// The work, until a worker takes it.
    op: Option<Op>,
    token: T,
}

/// Why `cancel` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelError {
    /// No such undelivered request (`ENOENT`).
    NotFound,
    /// A close already running or done, or a request already cancelled (`EALREADY`).
    Already,
}

impl CancelError {
    pub fn errno(self) -> i32 {
        match self {
            CancelError::NotFound => libc::ENOENT,
            CancelError::Already => libc::EALREADY,
        }
    }
}

/// What a state change did to the ready queue, and any descriptor now owed a close.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    /// The ready queue went from empty to non-empty: readiness must be signalled.
    pub became_ready: bool,
    /// A descriptor the library must close (an fd nobody can receive any more).
    pub close_fd: Option<i32>,
}

/// One mount's requests that are queued or in a syscall.
#[derive(Debug, Default)]
struct MountQ {
    /// Queued requests, oldest first.
    pending: VecDeque<Id>,
    /// Syscalls in progress, abandoned ones included.
    running: usize,
    /// Its key in `Table::runnable` (its oldest queued id) while it is there.
    runnable_key: Option<Id>,
    /// What it adds to `Table::startable`.
    startable: usize,
}

/// A syscall in progress.
#[derive(Debug, Clone, Copy)]
struct Running {
    mount: MountId,
    started: Instant,
    /// Its request is no longer waiting for it (cancelled, timed out, shut down).
    abandoned: bool,
}

/// One mount's share of the table, for introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountReport {
    pub mount: MountId,
    /// Requests waiting for a worker.
    pub queued: usize,
    /// Syscalls in progress, abandoned ones included.
    pub running: usize,
    pub abandoned: usize,
    /// Queued requests submitted, and syscalls started, at least the threshold ago.
    pub blocked: usize,
    /// How long the oldest of those has been waiting or running.
    pub oldest: Duration,
}

/// Every undelivered request of one context.
#[derive(Debug)]
pub struct Table<T> {
    next_id: Id,
    depth: usize,
    timeout: Option<Duration>,
    /// Most syscalls of one mount in progress at once.
    share: usize,
    reqs: HashMap<Id, Req<T>>,
    /// Mounts with queued or running requests, and (until `prune`) some that had them.
    mounts: HashMap<MountId, MountQ>,
    /// The oldest queued request of each mount below its share, and its mount, sorted: the
    /// first entry is the next request to run. A sorted Vec rather than a BTreeMap: it
    /// holds one entry per mount with startable work (a handful), and never frees its
    /// buffer when it empties, which a BTreeMap does on every request at low concurrency.
    runnable: Vec<(Id, MountId)>,
    /// Queued requests, and how many of them could start now (within their mount's share).
    queued: usize,
    startable: usize,
    /// Ready requests, in completion order.
    ready: VecDeque<Id>,
    /// Requests a timeout may still hit (queued, or a running open). Ids grow with submit
    /// time and the timeout is fixed, so the first is always the next to expire.
    timed: BTreeSet<Id>,
    /// Syscalls in progress (including abandoned ones).
    running: HashMap<Id, Running>,
    /// Abandoned syscalls in progress.
    abandoned: usize,
    counters: Counters,
}

impl<T> Table<T> {
    /// A table admitting at most `depth` undelivered requests, with no per-mount share.
    pub fn new(depth: usize, timeout: Option<Duration>) -> Self {
        Self::with_share(depth, timeout, usize::MAX)
    }

    /// A table admitting at most `depth` undelivered requests, running at most `share` (at
    /// least 1) syscalls of one mount at once.
    pub fn with_share(depth: usize, timeout: Option<Duration>, share: usize) -> Self {
        Table {
            next_id: 1,
            depth,
            timeout,
            share: share.max(1),
            reqs: HashMap::default(),
            mounts: HashMap::default(),
            runnable: Vec::new(),
            queued: 0,
            startable: 0,
            ready: VecDeque::new(),
            timed: BTreeSet::new(),
            running: HashMap::default(),
            abandoned: 0,
            counters: Counters::default(),
        }
    }

    /// Re-files mount `m` after a change to its queue or running count: its place in
    /// `runnable` and its part of `startable`. A mount left with nothing stays in `mounts`
    /// (reusing its queue's buffer) until [`Table::prune`].
    fn refresh(&mut self, m: MountId) {
        let Some(q) = self.mounts.get_mut(&m) else { return };
        Self::refile(q, m, self.share, &mut self.runnable, &mut self.startable);
    }

    /// [`Table::refresh`] for a mount already looked up (the hot paths), as a function of
    /// the fields it touches.
    fn refile(
        q: &mut MountQ,
        m: MountId,
        share: usize,
        runnable: &mut Vec<(Id, MountId)>,
        startable: &mut usize,
    ) {
        *startable -= q.startable;
        q.startable = q.pending.len().min(share.saturating_sub(q.running));
        *startable += q.startable;
        let key = (q.startable > 0).then(|| q.pending[0]);
        if key != q.runnable_key {
            if let Some(old) = q.runnable_key {
                if let Ok(i) = runnable.binary_search(&(old, m)) {
                    runnable.remove(i);
                }
            }
            if let Some(new) = key {
                let i = runnable.binary_search(&(new, m)).unwrap_or_else(|i| i);
                runnable.insert(i, (new, m));
            }
            q.runnable_key = key;
        }
    }

    /// Forgets mounts with nothing queued or running, once there are more than a few: mount
    /// ids come and go (automounts), and each entry keeps a queue buffer.
    fn prune(&mut self) {
        const KEEP: usize = 64;
        if self.mounts.len() > KEEP {
            self.mounts.retain(|_, q| !q.pending.is_empty() || q.running > 0);
        }
    }

    /// Queues a request on an anonymous mount (for tests and models; see [`Table::submit_on`]).
    pub fn submit(&mut self, op: Op, token: T, now: Instant) -> Result<Id, (i32, T)> {
        self.submit_on(crate::mounts::UNKNOWN, op, token, now)
    }

    /// Queues a request for a file on `mount`. `Err(EAGAIN)` when `depth` requests are
    /// undelivered already.
    pub fn submit_on(&mut self, mount: MountId, op: Op, token: T, now: Instant) -> Result<Id, (i32, T)> {
        if self.reqs.len() >= self.depth {
            return Err((libc::EAGAIN, token));
        }
        let id = self.next_id;
        self.next_id += 1;
        let req = Req {
            kind: op.kind(),
            mount,
            phase: Phase::Queued,
            cancelled: false,
            result: 0,
            submitted: now,
            op: Some(op),
            token,
        };
        self.reqs.insert(id, req);
        if !self.mounts.contains_key(&mount) {
            self.prune();
        }
        let q = self.mounts.entry(mount).or_default();
        q.pending.push_back(id);
        self.queued += 1;
        Self::refile(q, mount, self.share, &mut self.runnable, &mut self.startable);
        if self.timeout.is_some() {
            self.timed.insert(id);
        }
        self.counters.submitted += 1;
        Ok(id)
    }

    /// Takes queued request `id` (on `mount`) out of its mount's queue.
    fn dequeue(&mut self, id: Id, mount: MountId) {
        if let Some(q) = self.mounts.get_mut(&mount) {
            if let Some(pos) = q.pending.iter().position(|&p| p == id) {
                q.pending.remove(pos);
                self.queued -= 1;
            }
        }
        self.refresh(mount);
    }

    /// Takes back a request that was just submitted and never became visible to anyone else
    /// (used when no worker could be started for it).
    pub fn unsubmit(&mut self, id: Id) -> Option<T> {
        let req = self.reqs.remove(&id)?;
        self.dequeue(id, req.mount);
        self.timed.remove(&id);
        self.counters.submitted -= 1;
        Some(req.token)
    }

    /// The oldest queued request whose mount is below its share, moved to Running for a
    /// worker at `now`.
    pub fn take_work(&mut self, now: Instant) -> Option<(Id, Op)> {
        let &(id, mount) = self.runnable.first()?;
        let q = self.mounts.get_mut(&mount).expect("runnable mounts are always in the table");
        debug_assert_eq!(q.pending.front(), Some(&id));
        q.pending.pop_front();
        q.running += 1;
        self.queued -= 1;
        Self::refile(q, mount, self.share, &mut self.runnable, &mut self.startable);
        let req = self.reqs.get_mut(&id).expect("queued ids are always in the table");
        debug_assert_eq!(req.phase, Phase::Queued);
        req.phase = Phase::Running;
        let op = req.op.take().expect("a queued request still has its op");
        if req.kind == OpKind::Close {
            // A running close cannot be cancelled, so no timeout can reach it.
            self.timed.remove(&id);
        }
        self.counters.queue_wait.record(now.saturating_duration_since(req.submitted));
        self.running.insert(id, Running { mount, started: now, abandoned: false });
        Some((id, op))
    }

    /// Marks a running syscall abandoned: nobody waits for it any more.
    fn abandon(&mut self, id: Id) {
        if let Some(r) = self.running.get_mut(&id).filter(|r| !r.abandoned) {
            r.abandoned = true;
            self.abandoned += 1;
        }
    }

    /// A worker's `kind` syscall returned `result` (fd, 0, or -errno). If the request was
    /// cancelled meanwhile (or the table shut down), a descriptor it opened is returned for
    /// closing. The worker says which op it ran: after a shutdown the table no longer knows.
    pub fn finish(&mut self, id: Id, kind: OpKind, result: i32) -> Effect {
        if let Some(r) = self.running.remove(&id) {
            let q = self.mounts.get_mut(&r.mount).expect("running mounts are always in the table");
            q.running -= 1;
            if r.abandoned {
                self.abandoned -= 1;
            }
            Self::refile(q, r.mount, self.share, &mut self.runnable, &mut self.startable);
        }
        if let Some(req) = self.reqs.get_mut(&id) {
            if req.phase == Phase::Running {
                req.result = result;
                req.phase = Phase::Ready;
                self.timed.remove(&id);
                return Effect { became_ready: self.push_ready(id), close_fd: None };
            }
        }
        // Abandoned: delivered already (or queued for delivery) as cancelled or timed out.
        let close_fd = (kind == OpKind::Open && result >= 0).then_some(result);
        Effect { became_ready: false, close_fd }
    }

    fn push_ready(&mut self, id: Id) -> bool {
        self.ready.push_back(id);
        self.ready.len() == 1
    }

    /// Cancels with `-errno` (`ECANCELED`, or `ETIMEDOUT` for a timeout).
    pub fn cancel(&mut self, id: Id, errno: i32) -> Result<Effect, CancelError> {
        let req = self.reqs.get_mut(&id).ok_or(CancelError::NotFound)?;
        if req.cancelled || (req.kind == OpKind::Close && req.phase != Phase::Queued) {
            return Err(CancelError::Already);
        }
        let (phase, mount) = (req.phase, req.mount);
        let close_fd = match phase {
            Phase::Ready if req.result >= 0 => Some(req.result),
            _ => None,
        };
        req.cancelled = true;
        req.result = -errno;
        req.phase = Phase::Ready;
        req.op = None; // a queued close never runs: its fd stays the caller's
        self.timed.remove(&id);
        if errno == libc::ETIMEDOUT {
            self.counters.timed_out += 1;
        } else {
            self.counters.cancelled += 1;
        }
        let became_ready = match phase {
            Phase::Queued => {
                self.dequeue(id, mount);
                self.push_ready(id)
            }
            Phase::Running => {
                self.abandon(id);
                self.push_ready(id)
            }
            Phase::Ready => false, // keeps its place in the ready queue
        };
        Ok(Effect { became_ready, close_fd })
    }

    /// Times out every request whose deadline is at or before `now`; returns what that did,
    /// merged (descriptors to close are collected into `fds`).
    pub fn expire(&mut self, now: Instant, fds: &mut Vec<i32>) -> bool {
        let Some(timeout) = self.timeout else { return false };
        let mut became_ready = false;
        while let Some(&id) = self.timed.first() {
            let due = self.reqs.get(&id).map(|r| r.submitted + timeout);
            match due {
                Some(due) if due > now => break,
                Some(_) => {
                    if let Ok(e) = self.cancel(id, libc::ETIMEDOUT) {
                        became_ready |= e.became_ready;
                        fds.extend(e.close_fd);
                    }
                    self.timed.remove(&id);
                }
                None => {
                    self.timed.remove(&id);
                }
            }
        }
        became_ready
    }

    /// When the next timeout falls due, if any request can still time out.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeout = self.timeout?;
        let id = self.timed.first()?;
        self.reqs.get(id).map(|r| r.submitted + timeout)
    }

    /// Delivers the oldest ready request.
    pub fn pop_ready(&mut self) -> Option<Completion<T>> {
        let id = self.ready.pop_front()?;
        let req = self.reqs.remove(&id).expect("ready ids are always in the table");
        self.counters.delivered += 1;
        Some(Completion { id, op: req.kind, result: req.result, token: req.token })
    }

    /// Ends every request: nothing queued will run (queued closes are returned, since the
    /// library owns their descriptors), descriptors of undelivered opens are returned for
    /// closing, and running syscalls become abandoned. Tokens are dropped undelivered.
    pub fn shutdown(&mut self, fds: &mut Vec<i32>) {
        for (_, req) in self.reqs.drain() {
            match (req.op, req.phase) {
                (Some(Op::Close { fd }), Phase::Queued) => fds.push(fd),
                (_, Phase::Ready) if req.kind == OpKind::Open && req.result >= 0 => fds.push(req.result),
                _ => {}
            }
        }
        let running: Vec<Id> = self.running.keys().copied().collect();
        running.into_iter().for_each(|id| self.abandon(id));
        for q in self.mounts.values_mut() {
            q.pending.clear();
            q.runnable_key = None;
            q.startable = 0;
        }
        self.mounts.retain(|_, q| q.running > 0);
        self.runnable.clear();
        self.queued = 0;
        self.startable = 0;
        self.ready.clear();
        self.timed.clear();
    }

    /// Undelivered requests (what `queue_depth` bounds).
    pub fn outstanding(&self) -> usize {
        self.reqs.len()
    }
    /// Requests waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queued
    }
    /// Queued requests that could start now: within their mount's share.
    pub fn startable(&self) -> usize {
        self.startable
    }
    /// Completions ready for delivery.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }
    /// How long the oldest request that could start now has waited.
    pub fn oldest_startable_wait(&self, now: Instant) -> Option<Duration> {
        let (id, _) = self.runnable.first()?;
        self.reqs.get(id).map(|r| now.saturating_duration_since(r.submitted))
    }
    /// Syscalls in progress (including abandoned ones).
    pub fn running(&self) -> usize {
        self.running.len()
    }
    /// Abandoned syscalls in progress.
    pub fn abandoned(&self) -> usize {
        self.abandoned
    }
    /// The per-mount share.
    pub fn share(&self) -> usize {
        self.share
    }
    /// Mounts with queued or running requests.
    pub fn mounts(&self) -> usize {
        self.mounts.values().filter(|q| !q.pending.is_empty() || q.running > 0).count()
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The mounts that have a request queued, or a syscall running, for at least `min_age`
    /// at `now`, oldest first. Costs a pass over running syscalls and blocked queues.
    pub fn blocked_mounts(&self, now: Instant, min_age: Duration) -> Vec<MountReport> {
        let mut out: HashMap<MountId, MountReport> = HashMap::default();
        let mut note = |mount: MountId, age: Duration| {
            let q = &self.mounts[&mount];
            let r = out.entry(mount).or_insert(MountReport {
                mount,
                queued: q.pending.len(),
                running: q.running,
                abandoned: 0, // counted below
                blocked: 0,
                oldest: Duration::ZERO,
            });
            r.blocked += 1;
            r.oldest = r.oldest.max(age);
        };
        for r in self.running.values() {
            let age = now.saturating_duration_since(r.started);
            if age >= min_age {
                note(r.mount, age);
            }
        }
        for (&mount, q) in &self.mounts {
            for id in &q.pending {
                let age = now.saturating_duration_since(self.reqs[id].submitted);
                if age < min_age {
                    break; // the rest are younger
                }
                note(mount, age);
            }
        }
        for r in self.running.values().filter(|r| r.abandoned) {
            if let Some(report) = out.get_mut(&r.mount) {
                report.abandoned += 1;
            }
        }
        let mut v: Vec<MountReport> = out.into_values().collect();
        v.sort_by(|a, b| b.oldest.cmp(&a.oldest).then(a.mount.cmp(&b.mount)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_op() -> Op {
        Op::Open { path: CString::new("/x").unwrap(), flags: 0, mode: 0 }
    }

    fn table() -> Table<&'static str> {
        Table::new(4, None)
    }

    /// Submits one open per token and lets workers take them all: they are Running.
    fn started<const N: usize>(t: &mut Table<&'static str>, tokens: [&'static str; N]) -> [Id; N] {
        let now = Instant::now();
        let ids = tokens.map(|tok| t.submit(open_op(), tok, now).unwrap());
        for _ in 0..N {
            t.take_work(Instant::now()).unwrap();
        }
        ids
    }

    #[test]
    fn ids_are_positive_and_unique() {
        let mut t = Table::new(100, None);
        let now = Instant::now();
        let ids: Vec<_> = (0..50).map(|_| t.submit(open_op(), (), now).unwrap()).collect();
        assert!(ids.iter().all(|&i| i > 0));
        let set: BTreeSet<_> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
    }

    #[test]
    fn depth_bounds_undelivered_and_delivery_makes_room() {
        let mut t = table();
        let now = Instant::now();
        for _ in 0..4 {
            t.submit(open_op(), "a", now).unwrap();
        }
        assert_eq!(t.submit(open_op(), "b", now).unwrap_err(), (libc::EAGAIN, "b"));
        assert_eq!(t.queued(), 4);
        let (id, _) = t.take_work(Instant::now()).unwrap();
        // Finished but not delivered still counts against the depth.
        assert!(t.finish(id, OpKind::Open, 7).became_ready);
        assert!(t.submit(open_op(), "b", now).is_err());
        let c = t.pop_ready().unwrap();
        assert_eq!((c.id, c.result, c.op), (id, 7, OpKind::Open));
        assert!(t.submit(open_op(), "b", now).is_ok());
    }

    #[test]
    fn completion_order_and_coalesced_readiness() {
        let mut t = table();
        let [a, b] = started(&mut t, ["a", "b"]);
        assert!(t.finish(b, OpKind::Open, 4).became_ready);
        assert!(!t.finish(a, OpKind::Open, 3).became_ready, "second completion must not signal again");
        assert_eq!(t.pop_ready().unwrap().token, "b");
        assert_eq!(t.pop_ready().unwrap().token, "a");
        assert!(t.pop_ready().is_none());
    }

    #[test]
    fn cancel_queued_never_runs() {
        let mut t = table();
        let now = Instant::now();
        let a = t.submit(open_op(), "a", now).unwrap();
        let e = t.cancel(a, libc::ECANCELED).unwrap();
        assert_eq!(e, Effect { became_ready: true, close_fd: None });
        assert!(t.take_work(Instant::now()).is_none(), "a cancelled request must not run");
        let c = t.pop_ready().unwrap();
        assert_eq!(c.result, -libc::ECANCELED);
        assert_eq!(t.cancel(a, libc::ECANCELED), Err(CancelError::NotFound));
    }

    #[test]
    fn cancel_running_open_then_complete_returns_fd_for_closing() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        assert!(t.cancel(a, libc::ECANCELED).unwrap().became_ready);
        // Delivered before the syscall returns.
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert_eq!(t.running(), 1, "the abandoned syscall is still counted");
        assert_eq!(t.finish(a, OpKind::Open, 9), Effect { became_ready: false, close_fd: Some(9) });
        assert_eq!(t.running(), 0);
        assert!(t.pop_ready().is_none(), "delivered exactly once");
    }

    #[test]
    fn cancel_running_open_then_complete_before_delivery() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        t.cancel(a, libc::ECANCELED).unwrap();
        // The worker returns while the cancelled completion is still queued.
        assert_eq!(t.finish(a, OpKind::Open, 9).close_fd, Some(9));
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert!(t.pop_ready().is_none());
    }

    #[test]
    fn cancel_running_open_that_fails_closes_nothing() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        t.cancel(a, libc::ECANCELED).unwrap();
        assert_eq!(t.finish(a, OpKind::Open, -libc::ENOENT), Effect::default());
    }

    #[test]
    fn cancel_done_open_closes_fd_and_keeps_position() {
        let mut t = table();
        let [a, b] = started(&mut t, ["a", "b"]);
        t.finish(a, OpKind::Open, 5);
        t.finish(b, OpKind::Open, 6);
        assert_eq!(t.cancel(b, libc::ECANCELED).unwrap(), Effect { became_ready: false, close_fd: Some(6) });
        assert_eq!(t.cancel(b, libc::ECANCELED), Err(CancelError::Already));
        assert_eq!(t.pop_ready().unwrap().result, 5);
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
    }

    #[test]
    fn close_cancel_rules() {
        let mut t = table();
        let now = Instant::now();
        let a = t.submit(Op::Close { fd: 10 }, "a", now).unwrap();
        let b = t.submit(Op::Close { fd: 11 }, "b", now).unwrap();
        t.take_work(Instant::now()).unwrap();
        assert_eq!(t.cancel(a, libc::ECANCELED), Err(CancelError::Already));
        assert!(t.cancel(b, libc::ECANCELED).is_ok(), "a queued close can be cancelled");
        assert!(t.take_work(Instant::now()).is_none());
        t.finish(a, OpKind::Close, 0);
        assert_eq!(t.cancel(a, libc::ECANCELED), Err(CancelError::Already));
        let c = t.pop_ready().unwrap();
        assert_eq!((c.id, c.result, c.op), (b, -libc::ECANCELED, OpKind::Close));
        assert_eq!(t.pop_ready().unwrap().result, 0);
    }

    #[test]
    fn timeout_is_a_cancel_at_the_deadline() {
        let mut t: Table<()> = Table::new(16, Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        let q = t.submit(open_op(), (), t0).unwrap();
        let r = t.submit(open_op(), (), t0).unwrap();
        let c = t.submit(Op::Close { fd: 3 }, (), t0).unwrap();
        let late = t.submit(open_op(), (), t0 + Duration::from_millis(50)).unwrap();
        // r and c start running; q is cancelled-by-order below.
        let (first, _) = t.take_work(Instant::now()).unwrap();
        assert_eq!(first, q);
        t.finish(q, OpKind::Open, 20);
        t.take_work(Instant::now()).unwrap(); // r running
        t.take_work(Instant::now()).unwrap(); // c (close) running: no timeout can reach it
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(100)));
        let mut fds = vec![];
        assert!(!t.expire(t0 + Duration::from_millis(99), &mut fds));
        t.expire(t0 + Duration::from_millis(100), &mut fds);
        assert!(fds.is_empty());
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(150)));
        let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
        assert_eq!(got, vec![(q, 20), (r, -libc::ETIMEDOUT)]);
        assert_eq!(t.finish(r, OpKind::Open, 21).close_fd, Some(21), "late fd of a timed-out open is closed");
        assert!(t.finish(c, OpKind::Close, 0).became_ready, "the close still completes normally");
        t.expire(t0 + Duration::from_millis(150), &mut fds);
        let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
        assert_eq!(got, vec![(c, 0), (late, -libc::ETIMEDOUT)]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn timeout_vs_cancel_and_complete_races() {
        let t0 = Instant::now();
        let to = Some(Duration::from_millis(10));
        // complete, then deadline passes before delivery: the completion stands.
        let mut t: Table<()> = Table::new(8, to);
        let a = t.submit(open_op(), (), t0).unwrap();
        t.take_work(Instant::now());
        t.finish(a, OpKind::Open, 4);
        let mut fds = vec![];
        t.expire(t0 + Duration::from_secs(1), &mut fds);
        assert!(fds.is_empty());
        assert_eq!(t.pop_ready().unwrap().result, 4);
        // cancel, then deadline: cancel stands, the timeout does nothing.
        let b = t.submit(open_op(), (), t0).unwrap();
        t.cancel(b, libc::ECANCELED).unwrap();
        t.expire(t0 + Duration::from_secs(1), &mut fds);
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert!(t.pop_ready().is_none());
        // deadline, then cancel: EALREADY.
        let c = t.submit(open_op(), (), t0).unwrap();
        t.expire(t0 + Duration::from_secs(1), &mut fds);
        assert_eq!(t.cancel(c, libc::ECANCELED), Err(CancelError::Already));
        assert_eq!(t.pop_ready().unwrap().result, -libc::ETIMEDOUT);
    }

    #[test]
    fn shutdown_returns_every_owned_descriptor() {
        let mut t = Table::new(16, None);
        let now = Instant::now();
        let done = t.submit(open_op(), (), now).unwrap();
        let running = t.submit(open_op(), (), now).unwrap();
        let _queued_open = t.submit(open_op(), (), now).unwrap();
        let _queued_close = t.submit(Op::Close { fd: 33 }, (), now).unwrap();
        t.take_work(Instant::now());
        t.take_work(Instant::now());
        t.finish(done, OpKind::Open, 30);
        let mut fds = vec![];
        t.shutdown(&mut fds);
        fds.sort();
        assert_eq!(fds, vec![30, 33]);
        assert_eq!(t.outstanding(), 0);
        assert!(t.take_work(Instant::now()).is_none());
        // The running open returns after shutdown: its fd is handed back for closing.
        assert_eq!(t.finish(running, OpKind::Open, 31).close_fd, Some(31));
    }

    #[test]
    fn unsubmit_removes_all_trace() {
        let mut t: Table<u8> = Table::new(2, Some(Duration::from_secs(1)));
        let now = Instant::now();
        let a = t.submit(open_op(), 1, now).unwrap();
        assert_eq!(t.unsubmit(a), Some(1));
        assert_eq!((t.outstanding(), t.queued(), t.next_deadline()), (0, 0, None));
    }

    #[test]
    fn a_mount_at_its_share_waits_while_others_go_ahead() {
        let mut t: Table<u32> = Table::with_share(64, None, 3);
        let now = Instant::now();
        let dead: Vec<Id> = (0..5).map(|i| t.submit_on(1, open_op(), i, now).unwrap()).collect();
        let ok: Vec<Id> = (0..3).map(|i| t.submit_on(2, open_op(), 10 + i, now).unwrap()).collect();
        assert_eq!((t.queued(), t.startable()), (8, 6), "mount 1 can start 3 of its 5");
        let order: Vec<Id> = std::iter::from_fn(|| t.take_work(now).map(|(id, _)| id)).collect();
        assert_eq!(
            order,
            vec![dead[0], dead[1], dead[2], ok[0], ok[1], ok[2]],
            "oldest first, within shares"
        );
        assert_eq!((t.queued(), t.startable(), t.oldest_startable_wait(now)), (2, 0, None));
        // One of mount 1's syscalls returns: its next request may start.
        t.finish(dead[0], OpKind::Open, -libc::ENOENT);
        assert_eq!(t.startable(), 1);
        assert_eq!(t.take_work(now).unwrap().0, dead[3]);
        // A cancelled queued request leaves its mount's queue.
        t.cancel(dead[4], libc::ECANCELED).unwrap();
        assert_eq!((t.queued(), t.startable(), t.mounts()), (0, 0, 2));
        assert_eq!(t.counters().cancelled, 1);
    }

    #[test]
    fn abandoned_syscalls_hold_their_mount_share_until_they_return() {
        let mut t: Table<u32> = Table::with_share(64, Some(Duration::from_millis(10)), 1);
        let t0 = Instant::now();
        let a = t.submit_on(1, open_op(), 0, t0).unwrap();
        let b = t.submit_on(1, open_op(), 1, t0 + Duration::from_millis(20)).unwrap();
        assert_eq!(t.take_work(t0).unwrap().0, a);
        let mut fds = vec![];
        t.expire(t0 + Duration::from_millis(10), &mut fds);
        assert_eq!((t.abandoned(), t.running(), t.counters().timed_out), (1, 1, 1));
        assert_eq!(t.startable(), 0, "the abandoned syscall still holds mount 1's share");
        let r = t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_millis(5));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].mount, r[0].queued, r[0].running, r[0].abandoned, r[0].blocked), (1, 1, 1, 1, 2));
        assert_eq!(r[0].oldest, Duration::from_millis(25));
        assert!(t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_secs(1)).is_empty());
        assert_eq!(t.finish(a, OpKind::Open, 40).close_fd, Some(40));
        assert_eq!((t.abandoned(), t.startable()), (0, 1));
        assert_eq!(t.take_work(t0).unwrap().0, b);
        // Shutdown abandons what still runs, and it is counted until it returns.
        t.shutdown(&mut fds);
        assert_eq!((t.abandoned(), t.mounts()), (1, 1));
        t.finish(b, OpKind::Open, -1);
        assert_eq!((t.abandoned(), t.mounts(), t.running()), (0, 0, 0));
    }

    #[test]
    fn counters_follow_each_request() {
        let mut t: Table<()> = Table::new(8, None);
        let t0 = Instant::now();
        let a = t.submit(open_op(), (), t0).unwrap();
        let b = t.submit(open_op(), (), t0).unwrap();
        assert!(t.unsubmit(b).is_some());
        t.take_work(t0 + Duration::from_micros(300)).unwrap();
        t.finish(a, OpKind::Open, 3);
        t.pop_ready().unwrap();
        let c = t.counters();
        assert_eq!((c.submitted, c.delivered, c.cancelled, c.timed_out), (1, 1, 0, 0));
        assert_eq!(c.queue_wait.0[8], 1, "300 us lands in [256, 512)");
    }

    #[test]
    fn finished_mounts_are_forgotten_past_a_few() {
        let mut t: Table<()> = Table::with_share(1000, None, 2);
        let now = Instant::now();
        for m in 0..200 {
            let id = t.submit_on(m, open_op(), (), now).unwrap();
            assert_eq!(t.take_work(now).unwrap().0, id);
            t.finish(id, OpKind::Open, -1);
            t.pop_ready().unwrap();
        }
        assert_eq!(t.mounts(), 0, "none has work");
        assert!(t.mounts.len() <= 65, "{} entries kept", t.mounts.len());
        assert!(t.runnable.is_empty());
    }
}
