//! Mount events: the changes in the state of the filesystems a context has seen (blocked,
//! recovered, gone), kept until the caller's mount-event request takes them. This type holds
//! both halves, the one pending request and the bounded queue of changes, so that a change
//! is delivered exactly once or counted as dropped, never both.
//!
//! A change is recorded where the library decides it: the scheduler's mark of a filesystem
//! (`fair::shares`, via `Requests::note_flips`: blocked, recovered), the mount table (the
//! watchdog's look at it, `Requests::check_mounts`: gone), and a call's return with
//! `ENOTCONN` or `ECONNABORTED` (gone). Each filesystem reports a change only when its state
//! differs from the last one it reported: blocked and recovered alternate, and gone is
//! reported once (until the filesystem is mounted again).
//!
//! At most [`QUEUE_BOUND`] changes wait; past it the oldest is dropped and counted, in the
//! next change delivered (`MountChange::dropped`) and in the context's total.

use crate::fs::change::{ChangeKind, MountChange};
use crate::fs::table::Table;
use crate::fs::{FsId, IdHasher, Mount, UNKNOWN};
use crate::queue::ids::Id;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::time::Instant;

/// Most changes kept while no request takes them.
pub(crate) const QUEUE_BOUND: usize = 256;

type Hasher = BuildHasherDefault<IdHasher>;

/// How a filesystem went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Went {
    /// Left the mount table: reported again only after it is mounted again.
    Unmounted,
    /// Its connection aborted while still mounted: it becomes `Unmounted` when it leaves.
    Aborted,
}

/// One context's mount events: the pending request and the changes waiting for one.
#[derive(Debug, Default)]
pub struct MountEvents {
    /// The request waiting for the next change (at most one).
    pending: Option<Id>,
    /// Changes waiting for a request, oldest first, at most `QUEUE_BOUND`.
    queue: VecDeque<MountChange>,
    /// Changes dropped since the last one taken, and in all.
    dropped: u64,
    dropped_total: u64,
    /// Whether a request ever asked: only then is the mount table watched for departures.
    watching: bool,
    /// Filesystems requests were charged to.
    seen: HashSet<FsId, Hasher>,
    /// Those whose last reported change was Blocked.
    blocked: HashSet<FsId, Hasher>,
    /// Those reported gone.
    gone: HashMap<FsId, Went, Hasher>,
    /// The mount table generation last looked at.
    table_generation: Option<u64>,
}

impl MountEvents {
    /// A request was charged to `fs`.
    pub fn see(&mut self, fs: FsId) {
        if fs != UNKNOWN {
            self.seen.insert(fs);
        }
    }

    /// Request `id` asks for the next change: `Ok(Some(change))` if one waits (the request
    /// completes with it now), `Ok(None)` if it is pending now, `Err(EBUSY)` while another is
    /// pending.
    pub fn ask(&mut self, id: Id) -> Result<Option<MountChange>, i32> {
        if self.pending.is_some() {
            return Err(libc::EBUSY);
        }
        self.watching = true;
        match self.take() {
            Some(c) => Ok(Some(c)),
            None => {
                self.pending = Some(id);
                Ok(None)
            }
        }
    }

    /// Whether the mount table is watched for departures (a request ever asked).
    pub fn watching(&self) -> bool {
        self.watching
    }

    /// Forgets pending request `id` (cancelled, or shut down); whether it was pending.
    pub fn forget(&mut self, id: Id) -> bool {
        let was = self.pending == Some(id);
        if was {
            self.pending = None;
        }
        was
    }

    /// The pending request and the change it completes with, if both exist.
    pub fn ready(&mut self) -> Option<(Id, MountChange)> {
        let id = self.pending?;
        let c = self.take()?;
        self.pending = None;
        Some((id, c))
    }

    /// Changes dropped in all.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// `fs`'s mark changed to `blocked` at `at`, with `stuck` syscalls in progress there, the
    /// oldest since `since`.
    pub fn marked(&mut self, fs: FsId, blocked: bool, at: Instant, stuck: usize, since: Option<Instant>) {
        if self.gone.contains_key(&fs) || !self.seen.contains(&fs) {
            return;
        }
        let changed = if blocked { self.blocked.insert(fs) } else { self.blocked.remove(&fs) };
        if !changed {
            return;
        }
        let (kind, stuck, since) =
            if blocked { (ChangeKind::Blocked, stuck, since) } else { (ChangeKind::Recovered, 0, None) };
        self.push(MountChange { kind, fs, at, stuck, since, dropped: 0, mount: None });
    }

    /// A call on `fs` failed with `ENOTCONN` or `ECONNABORTED` at `at`: its connection is gone.
    pub fn aborted(&mut self, fs: FsId, at: Instant) {
        self.went(fs, Went::Aborted, None, at);
    }

    /// Looks at `table` (if it is not the one looked at last): every filesystem seen that it
    /// no longer has is gone, named by the mount that named it (the table keeps departed
    /// ones); one gone that it has again was mounted again.
    pub fn check_table(&mut self, table: &Table, at: Instant) {
        if self.table_generation == Some(table.generation) || table.is_empty() {
            return;
        }
        self.table_generation = Some(table.generation);
        self.gone.retain(|&fs, went| {
            let live = table.has_live(fs);
            if !live {
                *went = Went::Unmounted;
            }
            !(live && *went == Went::Unmounted)
        });
        let departed: Vec<FsId> = self
            .seen
            .iter()
            .copied()
            .filter(|&fs| !self.gone.contains_key(&fs) && !table.has_live(fs))
            .collect();
        for fs in departed {
            self.went(fs, Went::Unmounted, table.mount_of_fs(fs).cloned(), at);
        }
    }

    fn went(&mut self, fs: FsId, how: Went, mount: Option<Mount>, at: Instant) {
        if !self.seen.contains(&fs) || self.gone.contains_key(&fs) {
            return;
        }
        self.gone.insert(fs, how);
        self.blocked.remove(&fs);
        self.push(MountChange { kind: ChangeKind::Gone, fs, at, stuck: 0, since: None, dropped: 0, mount });
    }

    fn push(&mut self, c: MountChange) {
        if self.queue.len() >= QUEUE_BOUND {
            self.queue.pop_front();
            self.dropped += 1;
            self.dropped_total += 1;
        }
        self.queue.push_back(c);
    }

    fn take(&mut self) -> Option<MountChange> {
        let mut c = self.queue.pop_front()?;
        c.dropped = std::mem::take(&mut self.dropped);
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_alternate_and_wait_for_a_request() {
        let mut e = MountEvents::default();
        let t = Instant::now();
        e.marked(1, true, t, 1, Some(t));
        assert!(e.ready().is_none(), "an unseen filesystem reports nothing");
        e.see(1);
        e.marked(1, true, t, 2, Some(t));
        e.marked(1, true, t, 2, Some(t));
        assert_eq!(e.ask(10).unwrap().map(|c| (c.kind, c.stuck)), Some((ChangeKind::Blocked, 2)));
        assert_eq!(e.ask(11).unwrap().map(|c| c.kind), None, "pending");
        assert_eq!(e.ask(12).err(), Some(libc::EBUSY));
        e.marked(1, false, t, 0, None);
        let (id, c) = e.ready().unwrap();
        assert_eq!((id, c.kind), (11, ChangeKind::Recovered));
        e.aborted(1, t);
        e.aborted(1, t);
        e.marked(1, true, t, 1, None);
        assert_eq!(e.ask(13).unwrap().map(|c| c.kind), Some(ChangeKind::Gone));
        assert_eq!(e.ask(14).unwrap().map(|c| c.kind), None, "gone once, nothing after");
        assert!(e.forget(14) && !e.forget(14));
    }

    #[test]
    fn past_the_bound_the_oldest_are_dropped_and_counted_once() {
        let mut e = MountEvents::default();
        let t = Instant::now();
        e.see(1);
        for i in 0..QUEUE_BOUND + 3 {
            e.marked(1, i % 2 == 0, t, 1, None);
        }
        let first = e.ask(1).unwrap().unwrap();
        assert_eq!((first.dropped, first.kind), (3, ChangeKind::Recovered), "changes 0..3 dropped");
        assert_eq!(e.ask(2).unwrap().unwrap().dropped, 0);
        assert_eq!(e.dropped_total(), 3);
    }
}
