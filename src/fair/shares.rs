//! Per-filesystem queues and shares: which queued request runs next.
//!
//! Each request names the filesystem that holds its file (see `fs`). At most `share`
//! requests of one filesystem run at once, abandoned ones and owed closes included (a dead
//! filesystem's stuck syscalls keep holding its share, so it cannot pile up threads); the
//! rest wait in that filesystem's own queue while others' requests go ahead. The next
//! request to run is the oldest (lowest submit sequence number) among the filesystems below
//! their share.
//!
//! Blocked filesystems. The pool marks a filesystem *blocked* while one of its syscalls has
//! been asleep in the kernel for a while ([`Scheduler::set_blocked`]). Together, blocked
//! filesystems may hold at most `budget` syscalls: their requests start only while fewer
//! than `budget` of their syscalls run. So any number of dead filesystems can never take
//! the workers that healthy ones need. While the process is at the abandoned-worker cap the
//! pool holds them back altogether ([`Scheduler::hold_blocked`]): a blocked filesystem's
//! syscall is the kind that would strand one more thread for nobody.
//!
//! The scheduler knows ids and counts only; the requests themselves live in `queue::requests`.

use super::ReqId;
use crate::fs::FsId;
use crate::fs::IdHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

/// A queued request: its submit sequence number (which orders requests by age) and its id.
pub type Ticket = (u64, ReqId);

/// One filesystem's requests that are queued or in a syscall.
#[derive(Debug, Default)]
struct FsQ {
    /// Queued requests, oldest first.
    pending: VecDeque<Ticket>,
    /// Syscalls in progress, abandoned ones included.
    running: usize,
    /// Of those, the abandoned ones (owed closes included).
    abandoned: usize,
    /// Marked blocked by [`Scheduler::set_blocked`].
    blocked: bool,
    /// Its key in `Scheduler::runnable` (its oldest queued request) while it is there.
    runnable_key: Option<Ticket>,
    /// What it adds to `Sums::startable_free` (or `startable_blocked` while blocked).
    startable: usize,
}

/// The sums kept in step with every filesystem's queue.
#[derive(Debug, Default)]
struct Sums {
    /// Queued requests that could start now, of filesystems not blocked...
    startable_free: usize,
    /// ...and of blocked ones (before the budget).
    startable_blocked: usize,
    /// Syscalls running on blocked filesystems, and of those the abandoned ones.
    blocked_running: usize,
    blocked_abandoned: usize,
}

/// One filesystem's counts, for introspection.
#[derive(Debug, Clone, Copy)]
pub struct FsCounts {
    pub queued: usize,
    pub running: usize,
    pub abandoned: usize,
}

/// The per-filesystem queues of one context.
#[derive(Debug)]
pub struct Scheduler {
    /// Most syscalls of one filesystem in progress at once.
    share: usize,
    /// Most syscalls of blocked filesystems, together, that may be started.
    budget: usize,
    /// Filesystems with queued or running requests, and (until `prune`) some that had them.
    fss: HashMap<FsId, FsQ, BuildHasherDefault<IdHasher>>,
    /// The oldest queued request of each filesystem below its share, and its filesystem,
    /// sorted: the first startable entry is the next request to run. A sorted Vec rather than
    /// a BTreeMap: it holds one entry per filesystem with startable work (a handful), and
    /// never frees its buffer when it empties.
    runnable: Vec<(Ticket, FsId)>,
    sums: Sums,
    /// Queued requests, every filesystem together.
    queued: usize,
    /// Blocked filesystems start nothing (the process is at the abandoned-worker cap).
    hold: bool,
    /// Each change of a filesystem's mark since [`Scheduler::take_flips`] last took them, in
    /// order: `(fs, blocked)`. The table turns them into mount events (`queue::events`).
    flips: Vec<(FsId, bool)>,
}

impl Scheduler {
    /// At most `share` (at least 1) syscalls of one filesystem at once; syscalls of blocked
    /// filesystems start only while fewer than `budget` of them run.
    pub fn new(share: usize, budget: usize) -> Self {
        Scheduler {
            share: share.max(1),
            budget,
            fss: HashMap::default(),
            runnable: Vec::new(),
            sums: Sums::default(),
            queued: 0,
            hold: false,
            flips: Vec::new(),
        }
    }

    /// Re-files filesystem `f` after a change to its queue or running count: its place in
    /// `runnable` and its part of the startable sums. A filesystem left with nothing stays
    /// in `fss` (reusing its queue's buffer) until [`Scheduler::prune`].
    fn refresh(&mut self, f: FsId) {
        let Some(q) = self.fss.get_mut(&f) else { return };
        Self::refile(q, f, self.share, &mut self.runnable, &mut self.sums);
    }

    /// [`Scheduler::refresh`] for a filesystem already looked up (the hot paths), as a
    /// function of the fields it touches.
    fn refile(q: &mut FsQ, f: FsId, share: usize, runnable: &mut Vec<(Ticket, FsId)>, sums: &mut Sums) {
        let sum = if q.blocked { &mut sums.startable_blocked } else { &mut sums.startable_free };
        *sum -= q.startable;
        q.startable = q.pending.len().min(share.saturating_sub(q.running));
        *sum += q.startable;
        let key = (q.startable > 0).then(|| q.pending[0]);
        if key != q.runnable_key {
            if let Some(old) = q.runnable_key {
                if let Ok(i) = runnable.binary_search(&(old, f)) {
                    runnable.remove(i);
                }
            }
            if let Some(new) = key {
                let i = runnable.binary_search(&(new, f)).unwrap_or_else(|i| i);
                runnable.insert(i, (new, f));
            }
            q.runnable_key = key;
        }
    }

    /// Forgets filesystems with nothing queued or running, once there are more than a few:
    /// each entry keeps a queue buffer.
    fn prune(&mut self) {
        const KEEP: usize = 64;
        if self.fss.len() > KEEP {
            self.fss.retain(|_, q| !q.pending.is_empty() || q.running > 0);
        }
    }

    /// Queues request `id`, the newest yet (`seq` above every other), on filesystem `fs`.
    pub fn push(&mut self, fs: FsId, seq: u64, id: ReqId) {
        if !self.fss.contains_key(&fs) {
            self.prune();
        }
        let q = self.fss.entry(fs).or_default();
        debug_assert!(q.pending.back().map_or(true, |&(s, _)| s < seq));
        q.pending.push_back((seq, id));
        self.queued += 1;
        Self::refile(q, fs, self.share, &mut self.runnable, &mut self.sums);
    }

    /// Takes queued request `id` out of `fs`'s queue (cancelled, or taken back).
    pub fn remove(&mut self, fs: FsId, id: ReqId) {
        if let Some(q) = self.fss.get_mut(&fs) {
            if let Some(pos) = q.pending.iter().position(|&(_, p)| p == id) {
                q.pending.remove(pos);
                self.queued -= 1;
            }
        }
        self.refresh(fs);
    }

    /// Keeps only the queued requests for which `keep` holds, in every queue; returns how
    /// many were dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(ReqId) -> bool) -> usize {
        let mut dropped = 0;
        for q in self.fss.values_mut() {
            let before = q.pending.len();
            q.pending.retain(|&(_, id)| keep(id));
            dropped += before - q.pending.len();
        }
        self.queued -= dropped;
        let fss: Vec<FsId> = self.fss.keys().copied().collect();
        fss.into_iter().for_each(|f| self.refresh(f));
        dropped
    }

    /// Syscalls of blocked filesystems the budget leaves room for...
    fn budget_room(&self) -> usize {
        self.budget.saturating_sub(self.sums.blocked_running)
    }
    /// ...and that may start now: none while held.
    fn budget_left(&self) -> usize {
        if self.hold {
            return 0;
        }
        self.budget_room()
    }

    /// While `hold`, blocked filesystems start nothing, whatever the budget (the pool sets
    /// it while the process is at the abandoned-worker cap).
    pub fn hold_blocked(&mut self, hold: bool) {
        self.hold = hold;
    }

    /// The oldest queued request that could start now, and its filesystem: below its share
    /// and, for a blocked filesystem, within the budget and not held.
    pub fn next(&self) -> Option<(ReqId, FsId)> {
        let budget_left = self.budget_left() > 0;
        self.runnable.iter().find(|(_, f)| budget_left || !self.fss[f].blocked).map(|&((_, id), f)| (id, f))
    }

    /// Starts `id`, which [`Scheduler::next`] just returned, on `fs`; `abandoned` for an owed
    /// close (nobody waits for it).
    pub fn start(&mut self, fs: FsId, id: ReqId, abandoned: bool) {
        let q = self.fss.get_mut(&fs).expect("runnable filesystems are always in the table");
        debug_assert_eq!(q.pending.front().map(|t| t.1), Some(id));
        q.pending.pop_front();
        q.running += 1;
        self.queued -= 1;
        if abandoned {
            q.abandoned += 1;
        }
        if q.blocked {
            self.sums.blocked_running += 1;
            if abandoned {
                self.sums.blocked_abandoned += 1;
            }
        }
        Self::refile(q, fs, self.share, &mut self.runnable, &mut self.sums);
    }

    /// A running syscall on `fs` is abandoned: nobody waits for it any more.
    pub fn abandon(&mut self, fs: FsId) {
        if let Some(q) = self.fss.get_mut(&fs) {
            q.abandoned += 1;
            if q.blocked {
                self.sums.blocked_abandoned += 1;
            }
        }
    }

    /// A syscall on `fs` returned (`abandoned`: as it was). A blocked filesystem with no
    /// syscall left running is blocked no more.
    pub fn end(&mut self, fs: FsId, abandoned: bool) {
        let q = self.fss.get_mut(&fs).expect("running filesystems are always in the table");
        debug_assert!(q.running > 0 && q.abandoned >= usize::from(abandoned));
        q.running -= 1;
        if abandoned {
            q.abandoned -= 1;
        }
        if q.blocked {
            self.sums.blocked_running -= 1;
            if abandoned {
                self.sums.blocked_abandoned -= 1;
            }
            if q.running == 0 {
                Self::mark(q, false, &mut self.sums);
                self.flips.push((fs, false));
            }
        }
        Self::refile(q, fs, self.share, &mut self.runnable, &mut self.sums);
    }

    fn mark(q: &mut FsQ, blocked: bool, sums: &mut Sums) {
        if q.blocked == blocked {
            return;
        }
        let (running, abandoned, startable) = (q.running, q.abandoned, q.startable);
        if blocked {
            sums.blocked_running += running;
            sums.blocked_abandoned += abandoned;
            sums.startable_free -= startable;
            sums.startable_blocked += startable;
        } else {
            sums.blocked_running -= running;
            sums.blocked_abandoned -= abandoned;
            sums.startable_blocked -= startable;
            sums.startable_free += startable;
        }
        q.blocked = blocked;
    }

    /// Marks exactly the filesystems in `blocked` (sorted) as blocked.
    pub fn set_blocked(&mut self, blocked: &[FsId]) {
        for (f, q) in self.fss.iter_mut() {
            let mark = blocked.binary_search(f).is_ok();
            if q.blocked != mark {
                self.flips.push((*f, mark));
            }
            Self::mark(q, mark, &mut self.sums);
        }
    }

    /// The changes of marks since the last call, oldest first (see `flips`).
    pub fn take_flips(&mut self) -> std::vec::Drain<'_, (FsId, bool)> {
        self.flips.drain(..)
    }

    /// Whether `fs` is marked blocked.
    pub fn is_blocked(&self, fs: FsId) -> bool {
        self.fss.get(&fs).is_some_and(|q| q.blocked)
    }

    /// Requests waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queued
    }
    /// Queued requests that could start now: within their filesystem's share, and for
    /// blocked filesystems within the budget and not held.
    pub fn startable(&self) -> usize {
        self.sums.startable_free + self.sums.startable_blocked.min(self.budget_left())
    }
    /// Queued requests of blocked filesystems that could start but for the hold.
    pub fn held(&self) -> usize {
        if !self.hold {
            return 0;
        }
        self.sums.startable_blocked.min(self.budget_room())
    }
    /// Syscalls in progress on blocked filesystems, and of those the ones not abandoned.
    pub fn blocked_running(&self) -> usize {
        self.sums.blocked_running
    }
    pub fn blocked_unabandoned(&self) -> usize {
        self.sums.blocked_running - self.sums.blocked_abandoned
    }
    /// [`Self::startable`] and [`Self::blocked_unabandoned`] in one call (the pool's hints).
    pub fn startable_and_blocked_unabandoned(&self) -> (usize, usize) {
        (self.startable(), self.blocked_unabandoned())
    }
    /// The per-filesystem share.
    pub fn share(&self) -> usize {
        self.share
    }
    /// Filesystems with queued or running requests.
    pub fn busy(&self) -> usize {
        self.fss.values().filter(|q| !q.pending.is_empty() || q.running > 0).count()
    }
    /// Filesystems kept (busy ones, and up to a few idle ones).
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.fss.len()
    }
    /// Whether any filesystem has startable work.
    #[cfg(test)]
    pub fn has_runnable(&self) -> bool {
        !self.runnable.is_empty()
    }
    /// One filesystem's counts.
    pub fn counts(&self, fs: FsId) -> FsCounts {
        let q = &self.fss[&fs];
        FsCounts { queued: q.pending.len(), running: q.running, abandoned: q.abandoned }
    }
    /// Every filesystem's queued ids, oldest first.
    pub fn queues(&self) -> impl Iterator<Item = (FsId, impl Iterator<Item = ReqId> + '_)> {
        self.fss.iter().map(|(&f, q)| (f, q.pending.iter().map(|t| t.1)))
    }
}
