//! The hand-off between the loop's threads and the pool, with no lock the loop shares with
//! the workers: what a submit hands in ([`Inbox`]) and what the loop takes out ([`Outbox`]),
//! each a `crossbeam-channel` bounded queue (`try_send` / `try_recv` never park or allocate)
//! with atomics beside it. What a submit may admit is `queue::admission`'s; the completions
//! made on the submitting thread are recorded in `queue::inline`'s ledger.
//!
//! ```text
//!   loop: admit ─► Inbox ──(taken in by whoever holds the pool lock)──► Requests
//!   loop: pop ◄─ Outbox ◄──(flushed under the pool lock)──────────────── Requests
//!   loop: report delivered ─► Outbox::reports ──(taken in under the lock)──► Requests
//! ```
//!
//! Readiness. `ready` counts completions pushed less those popped. Only the push that takes
//! it from 0 to 1 and the pop that takes it from 1 to 0 touch the eventfd, each under a small
//! lock of its own (`transition`), setting it from the count as it is then: the last of them
//! sees the last count (a later change is itself a transition), so at every quiescent point
//! the eventfd is readable exactly while a completion is in the queue, with one write per
//! empty-to-non-empty transition. (A push's count may come after its pop: the count then
//! dips below 0, no transition happens, and the eventfd stays as it was.)
//!
//! A cancel of a handed-off open. Its descriptor is in the queue, so the cancel and the
//! delivery must agree on who won, with no lock the delivery takes in the usual case. The
//! cancel (pool lock held) raises `late_count`, then takes in the delivery reports, then,
//! if the request is still undelivered, adds its id to `late`; a pop reports its delivery,
//! then (after a `SeqCst` fence) looks at `late_count`, and only if it is raised locks
//! `late` to look for its id. Either the cancel sees the report (the open was delivered:
//! `ENOENT`) or the pop sees the raised count and finds the id under the lock (it delivers
//! `-ECANCELED`, and the descriptor goes to the library to close). `tests/loom.rs` checks
//! both protocols.
//!
//! The pool's lock sections step across the table and the hand-off in three places, kept
//! here so that the loom models run the same code: handing ready completions off
//! ([`Outbox::flush_from`]), a cancel ([`Outbox::cancel`]) and emptying the queue at
//! shutdown ([`Outbox::drain`]).

use crate::fs::FsId;
use crate::op::Op;
use crate::op::{OpKind, Output};
use crate::queue::ids::Id;
use crate::queue::inline::Inline;
use crate::queue::ready::Readiness;
use crate::queue::requests::{Completion, Requests};
use crate::sync::atomic::{fence, AtomicIsize, AtomicUsize, Ordering::SeqCst};
use crate::sync::chan::{bounded, Receiver, Sender};
use crate::sync::{lock, Mutex, MutexGuard};
use std::time::Instant;

/// Most entries a hand-off queue holds before the side that fills it takes the pool lock
/// and hands over directly (a bounded queue allocates all its places at once).
pub(crate) const MOST_QUEUED: usize = 4096;

/// What a submit hands to the pool: a request for a worker, `op` on a file of `fs`.
pub struct Entry<T> {
    pub id: Id,
    pub fs: FsId,
    pub op: Op,
    pub token: T,
    pub submitted: Instant,
}

/// Submitted requests not yet taken into the table.
pub struct Inbox<T> {
    tx: Sender<Entry<T>>,
    rx: Receiver<Entry<T>>,
}

impl<T> Inbox<T> {
    pub fn new(depth: usize) -> Self {
        let (tx, rx) = bounded(depth.clamp(1, MOST_QUEUED));
        Inbox { tx, rx }
    }

    /// Hands `e` in; gives it back when the inbox is full (then take the lock and hand it
    /// to the table directly).
    pub fn push(&self, e: Entry<T>) -> Result<(), Entry<T>> {
        self.tx.try_send(e).map_err(|e| e.into_inner())
    }

    /// The oldest entry not yet taken in. (An empty queue is told by its two indices alone:
    /// `try_recv` on an empty queue pays a fence.)
    pub fn pop(&self) -> Option<Entry<T>> {
        if self.rx.is_empty() {
            return None;
        }
        self.rx.try_recv().ok()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Entries not yet taken in.
    pub fn len(&self) -> usize {
        self.rx.len()
    }
}

/// What [`Outbox::pop`] hands the loop.
pub struct Popped<T> {
    pub c: Completion<T>,
    /// The delivery report did not fit: the caller must report it under the pool lock.
    pub unreported: bool,
    /// A cancel won over this delivery of an open: deliver `-ECANCELED`, and have the
    /// library close the descriptor (`c.result` is it), charged to this filesystem.
    pub cancelled: Option<FsId>,
    /// Made on the submitting thread and settled by [`Inline`]: its output's bytes were
    /// counted by the admission alone.
    pub inline: bool,
}

/// Completions for the loop, with the readiness fd kept in step (see the module docs).
pub struct Outbox<T, R: Readiness> {
    tx: Sender<Completion<T>>,
    rx: Receiver<Completion<T>>,
    ready: AtomicIsize,
    transition: Mutex<()>,
    readiness: R,
    report_tx: Sender<Id>,
    report_rx: Receiver<Id>,
    late: Mutex<Vec<(Id, FsId)>>,
    late_count: AtomicUsize,
}

impl<T, R: Readiness> Outbox<T, R> {
    pub fn new(depth: usize, readiness: R) -> Self {
        let (tx, rx) = bounded(depth.clamp(1, MOST_QUEUED));
        let (report_tx, report_rx) = bounded(depth.clamp(1, MOST_QUEUED));
        Outbox {
            tx,
            rx,
            ready: AtomicIsize::new(0),
            transition: Mutex::new(()),
            readiness,
            report_tx,
            report_rx,
            late: Mutex::new(Vec::new()),
            late_count: AtomicUsize::new(0),
        }
    }

    pub fn readiness(&self) -> &R {
        &self.readiness
    }

    /// Completions in the queue (at a quiescent point; a racing push may not count yet).
    pub fn ready(&self) -> usize {
        self.ready.load(SeqCst).max(0) as usize
    }

    /// Queues `c` for the loop, signalling readiness if the queue was empty; gives it back
    /// when the queue is full (it then stays in the table until the loop makes room).
    pub fn push(&self, c: Completion<T>) -> Result<(), Completion<T>> {
        self.tx.try_send(c).map_err(|e| e.into_inner())?;
        if self.ready.fetch_add(1, SeqCst) == 0 {
            let _t = lock(&self.transition);
            if self.ready.load(SeqCst) > 0 {
                self.readiness.signal();
            }
        }
        Ok(())
    }

    /// The oldest completion, reported delivered and checked against a racing cancel;
    /// `last_of_batch` re-arms a caller's eventfd if completions remain. None when empty.
    /// A completion `inline` knows (made on the submitting thread: see [`Inline`]) is
    /// settled there instead, and never reported.
    pub fn pop(&self, last_of_batch: bool, inline: &Inline) -> Option<Popped<T>> {
        let c = self.rx.try_recv().ok()?;
        let (unreported, cancelled, inline) = match inline.delivered(c.id) {
            Some(claimed) => (false, claimed.then_some(crate::fs::UNKNOWN), true),
            None => {
                let unreported = self.report_tx.try_send(c.id).is_err();
                fence(SeqCst);
                let late = self.late_count.load(SeqCst) > 0 && c.op == OpKind::Open;
                (unreported, if late { self.settle_late(c.id) } else { None }, false)
            }
        };
        if self.ready.fetch_sub(1, SeqCst) == 1 {
            let _t = lock(&self.transition);
            if self.ready.load(SeqCst) <= 0 {
                self.readiness.clear();
            }
        } else if last_of_batch && self.ready.load(SeqCst) > 0 {
            self.readiness.rearm();
        }
        Some(Popped { c, unreported, cancelled, inline })
    }

    /// Hands `table`'s ready completions off (pool lock held), oldest first, until the
    /// queue is full (the rest stay in the table until the loop makes room); returns
    /// whether it handed any.
    pub fn flush_from(&self, table: &mut Requests<T>) -> bool {
        let mut handed = false;
        while table.ready() > 0 {
            let Some(c) = table.flush_ready() else { break };
            if let Err(c) = self.push(c) {
                table.unflush(c);
                break;
            }
            handed = true;
        }
        handed
    }

    /// Cancels `table`'s request `id` with `-ECANCELED` at `now` (pool lock held, delivery
    /// reports taken in): in the table (`Ok(false)`), or, for an open whose completion was
    /// handed off, settled with its delivery (`Ok(true)`: the pop delivers `-ECANCELED` and
    /// has the library close the descriptor; `Err(ENOENT)` when it was delivered
    /// meanwhile). Else the errno of [`Requests::cancel`].
    pub fn cancel(&self, table: &mut Requests<T>, id: Id, now: Instant) -> Result<bool, i32> {
        if !table.handed_off_open(id) {
            table.cancel(id, libc::ECANCELED, now).map_err(|e| e.errno())?;
            return Ok(false);
        }
        let late = self.begin_late_cancel();
        self.take_reports(|d| table.delivered(d));
        if !table.handed_off_open(id) {
            return Err(libc::ENOENT); // delivered meanwhile
        }
        table.cancel(id, libc::ECANCELED, now).map_err(|e| e.errno())?;
        late.claim(id, table.fs_of(id));
        Ok(true)
    }

    /// Whether a cancel claimed `id` (and takes the claim): the filesystem it is charged to.
    fn settle_late(&self, id: Id) -> Option<FsId> {
        let mut late = lock(&self.late);
        let at = late.iter().position(|&(l, _)| l == id)?;
        let (_, fs) = late.swap_remove(at);
        self.late_count.fetch_sub(1, SeqCst);
        Some(fs)
    }

    /// Delivery reports not yet taken in.
    pub fn reports(&self) -> usize {
        self.report_rx.len()
    }

    /// Takes every delivery report, oldest first (pool lock held).
    pub fn take_reports(&self, mut delivered: impl FnMut(Id)) {
        while !self.report_rx.is_empty() {
            let Ok(id) = self.report_rx.try_recv() else { break };
            delivered(id);
        }
    }

    /// Starts cancelling a handed-off open against its delivery (pool lock held): while
    /// the returned guard lives, pops look for claims. Then take the delivery reports in,
    /// and if the request is still undelivered, [`LateCancel::claim`] it: its pop will
    /// deliver `-ECANCELED`. Dropping the guard unclaimed lets the pops go by.
    pub fn begin_late_cancel(&self) -> LateCancel<'_> {
        let late = lock(&self.late);
        self.late_count.fetch_add(1, SeqCst);
        LateCancel { late, count: &self.late_count, claimed: false }
    }

    /// Empties the queue at shutdown (pool lock held, no loop thread popping, no cancel in
    /// progress, `table` not yet shut down): the descriptors of the opens never delivered,
    /// each with the filesystem its request was charged to (taken from `table`, which still
    /// holds a handed-off request; a fast-path open's is none: `fs::UNKNOWN`). Every claim
    /// of a late cancel goes with them: the caller owes a close to each, claimed or not.
    pub fn drain(&self, table: &Requests<T>) -> Vec<(FsId, i32)> {
        let out = std::iter::from_fn(|| self.rx.try_recv().ok())
            .filter_map(|c| c.op.opened_fd(c.result).map(|fd| (table.fs_of(c.id), fd)))
            .collect();
        while self.report_rx.try_recv().is_ok() {}
        lock(&self.late).clear();
        self.late_count.store(0, SeqCst);
        self.ready.store(0, SeqCst);
        out
    }
}

/// A cancel of a handed-off open in progress (see [`Outbox::begin_late_cancel`]).
pub struct LateCancel<'a> {
    late: MutexGuard<'a, Vec<(Id, FsId)>>,
    count: &'a AtomicUsize,
    claimed: bool,
}

impl LateCancel<'_> {
    /// Claims request `id`, charged to `fs`, for the cancel: its pop delivers `-ECANCELED`.
    pub fn claim(mut self, id: Id, fs: FsId) {
        self.late.push((id, fs));
        self.claimed = true;
    }
}

impl Drop for LateCancel<'_> {
    fn drop(&mut self) {
        if !self.claimed {
            self.count.fetch_sub(1, SeqCst);
        }
    }
}

/// The bytes of library memory a completion's output holds.
pub fn output_bytes<T>(c: &Completion<T>) -> usize {
    c.out.as_ref().map_or(0, Output::buffer_bytes)
}
