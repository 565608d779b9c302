//! The loop's way in: a request for a worker ([`Shared::submit`]), a completion the fast
//! path made ([`Shared::submit_completed`]), a cancel and a detached close.
//!
//! A submit and an inline completion go through the hand-off (`queue::handoff`) without the
//! pool lock, and so do the wake-up of a parked worker, the start of one and the watchdog's
//! earlier round that a submit may need ([`Shared::kick_unlocked`]): a worker preempted
//! inside its lock section never stalls the loop's thread. The loop takes the lock only for
//! the rare cases: a full inbox, a pool shut down, no idle worker at the abandoned-worker
//! cap, a thread that could not be started, a byte budget that looks spent, a `wait`
//! caller to wake, a cancel, a detached close. A submit pushes, then claims and reads the
//! hints the pool publishes (see `pool::shared`'s module docs for the pairing).

use crate::fair::abandoned::at_abandoned_cap;
use crate::fair::thresholds::WAIT_THRESHOLD;
use crate::fs;
use crate::fs::FsId;
use crate::op::{Op, OpKind, Output};
use crate::pool::shared::Shared;
use crate::queue::handoff::Entry;
use crate::queue::ids::Id;
use crate::queue::requests::Completion;
use crate::sync::atomic::fence;
use crate::sync::{lock, Arc};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl<T: Send + 'static> Shared<T> {
    /// Queues `op`, charged to `fs`, for a worker, without the pool lock but in the rare
    /// cases of the module docs (see [`Self::kick_unlocked`]). `Err`, with nothing queued:
    /// `ESHUTDOWN`, `EAGAIN` (the depth or the byte budget is reached, or no thread at all
    /// could be started), `EINVAL` (a buffer larger than the budget).
    pub(crate) fn submit(self: &Arc<Self>, fs: FsId, op: Op, token: T) -> Result<Id, (i32, T)> {
        if self.closed.load(Ordering::SeqCst) {
            return Err((libc::ESHUTDOWN, token));
        }
        let bytes = op.buffer_bytes();
        let id = match self.admit(bytes, false) {
            Ok(id) => id,
            Err(e) => return Err((e, token)),
        };
        let now = Instant::now();
        let entry = Entry { id, fs, op, token, submitted: now };
        let handed = self.inbox.push(entry);
        fence(Ordering::SeqCst);
        let deadline = self.cfg.timeout.map(|t| now + t);
        if handed.is_ok() && self.kick_unlocked(now, deadline) {
            return Ok(id);
        }
        // Taken in here and handed on once, below.
        let mut g = lock(&self.inner);
        self.take_in_all(&mut g);
        if let Err(entry) = handed {
            self.take_in(&mut g, entry); // the inbox is full: straight into the table
        }
        if g.q.is_closed() {
            self.woke(&mut g);
            return Ok(id); // taken in as shutdown takes queued requests
        }
        if let Err(e) = self.kick(&mut g) {
            if let Some(token) = g.q.unsubmit(id) {
                self.admission.withdraw(0);
                self.publish(&g);
                return Err((e, token));
            }
        }
        if let Some(deadline) = g.q.next_deadline() {
            self.wake_watchdog_by(&mut g, deadline);
        }
        self.woke(&mut g);
        Ok(id)
    }

    /// Admits a request of `bytes` (see [`Admission::admit`]); when the byte budget looks
    /// spent, looks again with the lock (deliveries the table has not taken in yet free
    /// bytes it still counts).
    fn admit(self: &Arc<Self>, bytes: usize, inline: bool) -> Result<Id, i32> {
        match self.admission.admit(bytes, inline) {
            Err(libc::EAGAIN) if bytes > 0 => {
                drop(self.lock());
                self.admission.admit(bytes, inline)
            }
            r => r,
        }
    }

    /// Hands on, without the lock, a request a submit just pushed (the `SeqCst` fence after
    /// its push taken), as [`Self::kick`] would with it: the spinner takes it; else a
    /// parked worker is claimed and rung awake (`Doorbell::claim`); else a worker is
    /// started while fewer than `threads` serve the budget; else the watchdog is asked to
    /// look within [`WAIT_THRESHOLD`] (so that work waiting behind busy or stuck workers
    /// grows the pool). The watchdog is also asked to look by the request's `deadline`.
    /// False when the lock must be taken instead: the pool shut down, no idle worker while
    /// the process is at the abandoned-worker cap, or no thread could be started where none
    /// is.
    fn kick_unlocked(self: &Arc<Self>, now: Instant, deadline: Option<Instant>) -> bool {
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        if let Some(d) = deadline {
            self.ask_watchdog_by(d);
        }
        if self.spinning_hint.load(Ordering::SeqCst) > 0 {
            return true; // it takes the request in, and hands on any others (`refresh`)
        }
        if self.doorbell.claim() {
            return true;
        }
        if at_abandoned_cap() {
            return false; // what may start is decided with the blocked filesystems in view
        }
        let serving = self.workers_hint.load(Ordering::SeqCst) + self.starting.load(Ordering::SeqCst);
        if serving < self.cfg.threads {
            if self.spawn_worker_unlocked().is_ok() {
                return true;
            }
            if serving == 0 {
                return false; // `kick` tells the caller no thread could be started
            }
        }
        self.ask_watchdog_by(now + WAIT_THRESHOLD);
        true
    }

    /// Queues the completion of a request the fast path ran on the caller's thread, with
    /// what it wrote into library memory, without the pool lock. If it cannot be queued
    /// (the depth or the budget is reached, or shut down), an open's descriptor is closed
    /// again (inline: it is a plain file on a local filesystem, else by a worker) and the
    /// error returned.
    pub(crate) fn submit_completed(
        self: &Arc<Self>,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        token: T,
    ) -> Result<Id, (i32, T)> {
        let out = Output::of_result(out, result);
        let bytes = out.as_ref().map_or(0, Output::buffer_bytes);
        let id = match self.admit_completed(bytes) {
            Ok(id) => id,
            Err(e) => {
                if let Some(fd) = kind.opened_fd(result) {
                    self.close_unreceived(fs::UNKNOWN, fd, true); // the inline open's
                }
                return Err((e, token));
            }
        };
        self.hand_completed(id, kind, result, out, bytes, token)
    }

    /// Admits a completion made on the caller's thread whose output holds `bytes` of
    /// library memory: `Err(ESHUTDOWN)` once shut down, else as [`Self::admit`]. A read
    /// straight into the caller's buffer (no output) is admitted before it is made, so that a
    /// refused one writes nothing: hand it over with [`Self::hand_completed`], or take the
    /// admission back with [`Self::unadmit_completed`] if the call goes to the pool instead.
    pub(crate) fn admit_completed(self: &Arc<Self>, bytes: usize) -> Result<Id, i32> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(libc::ESHUTDOWN);
        }
        self.admit(bytes, true)
    }

    /// Takes back an admission of [`Self::admit_completed`] that made no completion.
    pub(crate) fn unadmit_completed(&self, id: Id) {
        self.admission.refuse(id, 0);
    }

    /// Queues the completion of admitted request `id` (its output holding `bytes` of
    /// library memory), made on the caller's thread, for the loop (see
    /// [`Self::submit_completed`]).
    pub(crate) fn hand_completed(
        self: &Arc<Self>,
        id: Id,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        bytes: usize,
        token: T,
    ) -> Result<Id, (i32, T)> {
        // Recorded for a cancel before the loop can pop it; the table never hears of it.
        self.inline.record(id, kind);
        let c = Completion { id, op: kind, result, token, out };
        if let Err(mut c) = self.outbox.push(c) {
            // The hand-off is full: the table keeps it behind the completions it holds,
            // under an id of its own (one the caller has not seen yet).
            self.inline.forget(id);
            let mut g = self.lock();
            let Ok(slot) = g.q.ids().take() else {
                drop(g);
                self.admission.withdraw(bytes);
                if let Some(fd) = kind.opened_fd(result) {
                    self.close_unreceived(fs::UNKNOWN, fd, true); // refused like the first case
                }
                return Err((libc::EAGAIN, c.token));
            };
            c.id = slot;
            g.q.ingest_ready(c, bytes);
            self.admission.taken_in(bytes);
            self.woke(&mut g);
            return Ok(slot);
        }
        fence(Ordering::SeqCst);
        if self.waiters_hint.load(Ordering::SeqCst) > 0 {
            let g = self.lock();
            drop(g);
            self.ready_cv.notify_all();
        }
        Ok(id)
    }

    /// Cancels request `id` (see `Context::cancel`); a finished open's descriptor becomes an
    /// owed close, handed to a worker. A handed-off open is settled with its delivery (see
    /// `queue::handoff`): whichever comes first wins.
    pub(crate) fn cancel(self: &Arc<Self>, id: Id) -> Result<(), i32> {
        if let Some(r) = self.inline.cancel(id) {
            return r; // completed on the submitting thread: settled without the pool lock
        }
        let mut g = self.lock();
        let owed = g.q.owed();
        match self.outbox.cancel(&mut g.q, id, Instant::now()) {
            Ok(false) => {
                self.woke(&mut g);
                if g.q.owed() > owed {
                    let _ = self.kick(&mut g);
                }
                Ok(())
            }
            // Settled with the delivery, or refused: only delivery reports may have been
            // taken in since the lock was taken.
            r => {
                self.publish(&g);
                r.map(drop)
            }
        }
    }

    /// Queues a close of `fd`, charged to `fs`, that nobody receives; `ESHUTDOWN` after
    /// shutdown (then the caller still owns `fd`).
    pub(crate) fn close_detached(self: &Arc<Self>, fs: FsId, fd: i32) -> Result<(), i32> {
        let mut g = self.lock();
        if g.q.is_closed() {
            return Err(libc::ESHUTDOWN);
        }
        g.q.owe_close(fs, fd, Instant::now());
        // With no thread and none startable, the watchdog's growth tick runs it later.
        let _ = self.kick(&mut g);
        Ok(())
    }

    /// Closes `fd`, which nobody will receive, without waiting on its filesystem: at once
    /// if the fast path opened it (`fast`) and may close it (a plain file on a local
    /// filesystem), else on a worker charged to `fs`, else (shut down) here, as its last
    /// owner.
    pub(crate) fn close_unreceived(self: &Arc<Self>, fs: FsId, fd: i32, fast: bool) {
        if fast && crate::op::inline::close_nowait(fd) != Err(libc::EAGAIN) {
            return;
        }
        if self.close_detached(fs, fd).is_err() {
            crate::sys::close_quietly(fd);
        }
    }
}
