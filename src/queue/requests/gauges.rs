//! What the table reports without changing (counts, bytes held, blocked filesystems), and
//! its running syscalls handed to the blocked marking in `fair::marking`.

use super::*;
use crate::fair::marking;

/// One filesystem's part of the table, for introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountReport {
    pub fs: FsId,
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

/// The counts the pool publishes for threads without its lock (see `pool::shared`), read
/// in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// See [`Requests::startable`].
    pub startable: usize,
    /// See [`Requests::ready`].
    pub ready: usize,
    /// See [`Requests::off_budget`].
    pub off_budget: usize,
    /// See [`Requests::held_bytes`].
    pub held_bytes: usize,
    /// See [`Requests::abandoned`].
    pub abandoned: usize,
}

impl<T> Requests<T> {
    /// The counts the pool publishes after a lock section.
    pub fn hints(&self) -> Hints {
        let (startable, blocked_unabandoned) = self.sched.startable_and_blocked_unabandoned();
        Hints {
            startable,
            ready: self.ready.len(),
            off_budget: self.abandoned + blocked_unabandoned,
            held_bytes: self.held_bytes,
            abandoned: self.abandoned,
        }
    }

    /// Re-marks which filesystems are blocked, by the policy in `fair::marking`: those with a
    /// syscall running since before `since` for which `asleep(id)` holds (the pool asks the
    /// kernel whether the worker is asleep). Returns how many filesystems are blocked. Each
    /// change of a mark is a mount event (see `requests/events.rs`).
    pub fn mark_blocked(&mut self, since: Instant, asleep: impl FnMut(Id) -> bool) -> usize {
        let blocked = marking::blocked(&self.sched, self.syscalls(), since, asleep);
        self.sched.set_blocked(&blocked);
        self.note_flips();
        blocked.len()
    }

    /// When the oldest syscall running on a filesystem not marked blocked started: the
    /// earliest a further [`Requests::mark_blocked`] could mark one.
    pub fn oldest_unblocked_syscall(&self) -> Option<Instant> {
        marking::oldest_unblocked(&self.sched, self.syscalls())
    }

    /// Every running syscall: its filesystem, its request, and when it started.
    fn syscalls(&self) -> impl Iterator<Item = (FsId, Id, Instant)> + '_ {
        self.reqs.iter().filter_map(|(id, r)| r.syscall.map(|started| (r.fs, id, started)))
    }

    /// While `hold`, blocked filesystems start nothing (see [`Scheduler::hold_blocked`]).
    pub fn hold_blocked(&mut self, hold: bool) {
        self.sched.hold_blocked(hold);
    }

    /// Bytes of caller data held in library memory (read buffers until delivered, write
    /// copies until delivered).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Of those, the bytes of abandoned syscalls still running (a cancelled or timed-out
    /// read's buffer, a write's copy): freed when the syscall returns, not when the cancel is
    /// delivered.
    pub fn abandoned_bytes(&self) -> usize {
        self.abandoned_bytes
    }

    /// Owed closes not yet done.
    pub fn owed(&self) -> usize {
        self.owed
    }

    /// Requests waiting for a worker (owed closes included).
    pub fn queued(&self) -> usize {
        self.sched.queued() + self.owed_spill.len()
    }

    /// Queued requests that could start now: within their filesystem's share, and for
    /// blocked filesystems within the budget.
    pub fn startable(&self) -> usize {
        self.sched.startable()
    }

    /// Queued requests of blocked filesystems that could start but for the hold.
    pub fn held(&self) -> usize {
        self.sched.held()
    }

    /// Completions ready for delivery.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// How long the oldest request that could start now has waited.
    pub fn oldest_startable_wait(&self, now: Instant) -> Option<Duration> {
        let (id, _) = self.sched.next()?;
        self.reqs.get(id).map(|r| now.saturating_duration_since(r.submitted))
    }

    /// Syscalls in progress (including abandoned ones).
    pub fn running(&self) -> usize {
        self.running
    }

    /// Abandoned syscalls in progress (owed closes included).
    pub fn abandoned(&self) -> usize {
        self.abandoned
    }

    /// Syscalls in progress that do not count against the pool's `max_threads`: abandoned
    /// ones, and those of blocked filesystems.
    pub fn off_budget(&self) -> usize {
        self.abandoned + self.sched.blocked_unabandoned()
    }

    /// Whether request `id` runs off budget: abandoned, an owed close, or on a blocked
    /// filesystem.
    pub fn is_off_budget(&self, id: Id) -> bool {
        self.reqs
            .get(id)
            .is_some_and(|r| r.runs_abandoned() || (r.syscall.is_some() && self.sched.is_blocked(r.fs)))
    }

    /// Syscalls in progress on blocked filesystems.
    pub fn blocked_running(&self) -> usize {
        self.sched.blocked_running()
    }

    /// The per-filesystem share.
    pub fn share(&self) -> usize {
        self.sched.share()
    }

    /// Filesystems with queued or running requests.
    pub fn mounts(&self) -> usize {
        self.sched.busy()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The filesystems that have a request queued, or a syscall running, for at least
    /// `min_age` at `now`, oldest first. Costs a pass over the requests.
    pub fn blocked_mounts(&self, now: Instant, min_age: Duration) -> Vec<MountReport> {
        let mut out: HashMap<FsId, MountReport> = HashMap::default();
        let mut note = |fs: FsId, age: Duration| {
            let q = self.sched.counts(fs);
            let r = out.entry(fs).or_insert(MountReport {
                fs,
                queued: q.queued,
                running: q.running,
                abandoned: q.abandoned,
                blocked: 0,
                oldest: Duration::ZERO,
            });
            r.blocked += 1;
            r.oldest = r.oldest.max(age);
        };
        for (_, r) in self.reqs.iter() {
            if let Some(started) = r.syscall {
                let age = now.saturating_duration_since(started);
                if age >= min_age {
                    note(r.fs, age);
                }
            }
        }
        for (fs, pending) in self.sched.queues() {
            for id in pending {
                let Some(r) = self.reqs.get(id) else { continue };
                let age = now.saturating_duration_since(r.submitted);
                if age < min_age {
                    break; // the rest are younger
                }
                note(fs, age);
            }
        }
        let mut v: Vec<MountReport> = out.into_values().collect();
        v.sort_by(|a, b| b.oldest.cmp(&a.oldest).then(a.fs.cmp(&b.fs)));
        v
    }
}
