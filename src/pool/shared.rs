//! `Shared`: what a context's handle, workers and watchdog share, and the context's critical
//! sections: each change a call makes under the pool lock is one method on the type that
//! owns the lock (tokio's `LockedImpl`): here, or in `submit.rs` and `deliver.rs` (the loop's
//! side of the hand-off) and `snapshot.rs` (what the pool reports). `context` decides what
//! to do and calls one of these; it never takes the lock itself. The pool's own critical sections (a worker taking
//! and finishing work, the watchdog's rounds, shutdown) stay with the threads: `worker`,
//! `watchdog`, `shutdown`.
//!
//! The loop and the lock. A submit, an inline completion and every delivery go through the
//! hand-off (`queue::handoff`) without the lock: the loop's way in is `submit.rs`, its way
//! out `deliver.rs`. A submit also wakes a parked worker, starts one, or has the watchdog
//! look sooner without the lock (the doorbells, `Shared::starting`, `Shared::watch_by`):
//! the loop's thread never sleeps behind a worker preempted in its lock section. Whoever
//! takes the lock first takes in what the loop handed over (`Shared::refresh`); every lock
//! section that may make completions ready ends by handing them off (`Shared::woke`).
//!
//! A parking worker counts itself idle in the doorbell (`pool::parking`), then, after a
//! `SeqCst` fence, looks at the inbox; a submit pushes, fences, then claims an idle worker
//! there; so either the worker sees the request or the submit claims the worker and rings
//! it awake. Hints published for lock-free readers (the spinner, the watchdog's next round)
//! are stored with `SeqCst` and read after a `SeqCst` fence, and pair the same way. So a
//! lock section publishes ([`Shared::publish`]) before it lets the lock go, sleeps, or
//! looks at the inbox after changing what the hints say; the worker's sections publish
//! once, there, and nowhere before.

use crate::config::Resolved;
use crate::fair::abandoned;
use crate::fair::blocked_hint::BlockedHint;
use crate::mem::buffers::Buffers;
use crate::op::run::Executor;
use crate::op::Op;
use crate::pool::parking::{Doorbell, Parking};
use crate::pool::thread::{spawn_thread, SyscallClock};
use crate::queue::admission::Admission;
use crate::queue::handoff::{Entry, Inbox, Outbox};
use crate::queue::inline::Inline;
use crate::queue::ready::Notifier;
use crate::queue::requests::Requests;
use crate::sync::atomic::{fence, AtomicU64};
use crate::sync::{lock, Arc, Bell, Condvar, Mutex, MutexGuard};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Stores `v` in `hint` if it differs (the caller fences); returns whether it did.
fn set(hint: &AtomicUsize, v: usize) -> bool {
    let changed = hint.load(Ordering::Relaxed) != v;
    if changed {
        hint.store(v, Ordering::Relaxed);
    }
    changed
}

/// Of `threads` workers, those not off budget.
fn on_budget(threads: usize, off_budget: usize) -> usize {
    threads - off_budget.min(threads)
}

/// Copies a finished call's output to the destination its token names; false (nothing
/// written) when the token names none. Called on a worker, with the guarantees of
/// `pool::place`'s module docs: the caller's memory is still the request's.
pub type Place<T> = fn(&T, &crate::op::Output) -> bool;

/// State shared by the context handle, its workers and its watchdog.
pub struct Shared<T> {
    pub(crate) inner: Mutex<Inner<T>>,
    /// Parked workers sleep here for queued work; a submit rings it without the lock.
    pub(crate) doorbell: Doorbell,
    /// `wait` callers wait here for a completion.
    pub(crate) ready_cv: Condvar,
    /// Shutdown waits here for threads to leave.
    pub(crate) exit_cv: Condvar,
    /// The watchdog sleeps here between its rounds; a submit rings it without the lock.
    pub(super) watchdog_bell: Bell,
    pub(crate) cfg: Resolved,
    pub(super) exec: Box<Executor>,
    /// Time origin of the workers' syscall clocks.
    pub(super) epoch: Instant,
    /// What the loop hands in and takes out without the lock (see `queue::handoff`).
    pub(crate) inbox: Inbox<T>,
    pub(crate) admission: Admission,
    pub(crate) outbox: Outbox<T, Notifier>,
    pub(crate) inline: Inline,
    /// Published under the lock for threads that do not hold it: startable work (for the
    /// spinner), ready completions the hand-off could not take yet, the unclaimed spinner,
    /// workers on the budget, when the watchdog looks next (nanoseconds
    /// since `epoch`, `u64::MAX`: not by itself), threads in `wait`, and whether the pool
    /// has shut down.
    pub(super) startable_hint: AtomicUsize,
    pub(super) overflow_hint: AtomicUsize,
    pub(super) spinning_hint: AtomicUsize,
    pub(super) workers_hint: AtomicUsize,
    pub(super) watchdog_hint: AtomicU64,
    pub(super) waiters_hint: AtomicUsize,
    pub(crate) closed: AtomicBool,
    /// Workers a submit started without the lock that have not yet counted themselves in
    /// `Inner::threads` (they do in their first lock section).
    pub(super) starting: AtomicUsize,
    /// The earliest time a submit, without the lock, asked the watchdog to look by
    /// (nanoseconds since `epoch`, `u64::MAX`: none); the watchdog takes it in as its next
    /// round's time.
    pub(super) watch_by: AtomicU64,
    /// A copy of the readiness fd and whether it is ours, readable without the lock (a
    /// forked child must release it without locking).
    pub(super) readiness_fd: (i32, bool),
    /// Where workers copy outputs to (see `pool::place`), and how many copy now.
    pub(super) place: Option<Place<T>>,
    pub(super) placing: AtomicUsize,
    /// Spare large read buffers, for the next reads (see `mem::buffers`).
    pub(crate) buffers: Buffers,
    /// The filesystems marked blocked, as the table publishes them for readers without the
    /// lock (a submit that fails fast).
    pub(crate) blocked: Arc<BlockedHint>,
}

/// Everything guarded by `Shared::inner`.
pub struct Inner<T> {
    /// The requests (their completions go to the loop through `Shared::outbox`, which keeps
    /// the readiness fd).
    pub(crate) q: Requests<T>,
    /// Live worker threads (idle, running or stuck).
    pub(crate) threads: usize,
    /// Idle workers (parked on `Shared::doorbell`, or spinning) and which of them submits
    /// claimed.
    pub(super) parking: Parking,
    /// Threads blocked in `wait`.
    pub(crate) waiters: usize,
    /// Whether the watchdog thread is running.
    pub(crate) watchdog_alive: bool,
    /// Set (with `Shared::watchdog_bell` rung) to have the watchdog look again now.
    pub(crate) watchdog_woken: bool,
    /// When the watchdog will next wake by itself (None: only when woken).
    pub(crate) watchdog_next: Option<Instant>,
    /// Most worker threads alive at once.
    pub(crate) peak_threads: usize,
    /// Every live worker's syscall clock.
    pub(super) clocks: Vec<Arc<SyscallClock>>,
    /// This context's part of the process-wide abandoned count.
    pub(super) abandoned_reported: abandoned::Reported,
}

impl<T: Send + 'static> Shared<T> {
    /// A pool with no threads yet and the watchdog started.
    pub fn start(
        cfg: Resolved,
        notifier: Notifier,
        exec: Box<Executor>,
        place: Option<Place<T>>,
    ) -> Result<Arc<Self>, i32> {
        let readiness_fd = (notifier.fd(), notifier.is_owned());
        let (depth, budget) = (cfg.queue_depth, cfg.buffer_budget);
        let table = Requests::new(cfg.timeout, cfg.per_mount_threads, cfg.max_threads);
        let ids = table.ids();
        let blocked = table.blocked_hint();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                q: table,
                threads: 0,
                parking: Parking::default(),
                waiters: 0,
                watchdog_alive: true,
                watchdog_woken: false,
                watchdog_next: None,
                peak_threads: 0,
                clocks: Vec::new(),
                abandoned_reported: abandoned::Reported::default(),
            }),
            doorbell: Doorbell::default(),
            ready_cv: Condvar::new(),
            exit_cv: Condvar::new(),
            watchdog_bell: Bell::default(),
            cfg,
            exec,
            epoch: Instant::now(),
            inbox: Inbox::new(depth),
            admission: Admission::new(depth, budget, ids),
            outbox: Outbox::new(depth, notifier),
            inline: Inline::default(),
            startable_hint: AtomicUsize::new(0),
            overflow_hint: AtomicUsize::new(0),
            spinning_hint: AtomicUsize::new(0),
            workers_hint: AtomicUsize::new(0),
            watchdog_hint: AtomicU64::new(u64::MAX),
            waiters_hint: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            starting: AtomicUsize::new(0),
            watch_by: AtomicU64::new(u64::MAX),
            readiness_fd,
            place,
            placing: AtomicUsize::new(0),
            buffers: Buffers::default(),
            blocked,
        });
        let s = Arc::clone(&shared);
        spawn_thread("aopen-watchdog", move || s.watchdog()).map_err(|_| libc::EAGAIN)?;
        Ok(shared)
    }

    /// Takes the pool lock and takes in what the loop handed over (see [`Self::refresh`]).
    pub(crate) fn lock(self: &Arc<Self>) -> MutexGuard<'_, Inner<T>> {
        let mut g = lock(&self.inner);
        self.refresh(&mut g, 0);
        g
    }

    /// Takes in (lock held) the requests the loop submitted, then the deliveries it
    /// reported; whoever takes requests in hands them on as a submit with the lock would
    /// (see [`Self::kick`]: a worker for what startable work the caller, taking `taking`
    /// itself, leaves; the watchdog by the first deadline); then hands ready completions off
    /// and publishes. Called on every lock taken, and by the watchdog or a waiter when it
    /// takes the lock back after a sleep (a worker, which publishes once per lock section,
    /// calls [`Self::refresh_unpublished`]).
    pub(crate) fn refresh(self: &Arc<Self>, g: &mut Inner<T>, taking: usize) {
        self.refresh_unpublished(g, taking);
        self.publish(g);
    }

    /// [`Self::refresh`] without the publish, for a lock section that publishes once before
    /// it lets the lock go, waits, or looks at the inbox again (a worker's).
    pub(super) fn refresh_unpublished(self: &Arc<Self>, g: &mut Inner<T>, taking: usize) {
        if self.take_in_all(g) {
            if let Some(deadline) = g.q.next_deadline() {
                self.wake_watchdog_by(g, deadline);
            }
            // What the submits pushed they claimed parked workers for, or started workers
            // for, as far as they could (`Shared::kick_unlocked`): hand on only what nobody
            // comes for.
            let coming = self.doorbell.on_their_way() + self.starting.load(Ordering::SeqCst);
            if g.q.startable() > taking + coming {
                let _ = self.hand_on(g);
            }
        }
        self.woke_unpublished(g);
    }

    /// Takes in (lock held) what the loop handed in, then the deliveries it reported;
    /// returns whether any request came in.
    pub(super) fn take_in_all(&self, g: &mut Inner<T>) -> bool {
        let mut took = false;
        while let Some(e) = self.inbox.pop() {
            self.take_in(g, e);
            took = true;
        }
        self.outbox.take_reports(|id| g.q.delivered(id));
        took
    }

    /// Takes one handed-in request into the table (lock held). After shutdown a request
    /// is taken as shutdown takes the queued ones: a close's descriptor becomes an owed
    /// close, the rest never run.
    pub(super) fn take_in(&self, g: &mut Inner<T>, e: Entry<T>) {
        let Entry { id, fs, op, token, submitted } = e;
        let bytes = op.buffer_bytes();
        if g.q.is_closed() {
            if let Op::Close { fd } = op {
                g.q.owe_close(fs, fd, Instant::now());
            }
            self.admission.refuse(id, bytes);
            return;
        }
        if g.q.ingest(id, fs, op, token, submitted).is_err() {
            debug_assert!(false, "the table has no limit in a pool");
            self.admission.refuse(id, bytes);
            return;
        }
        self.admission.publish_held(g.q.held_bytes());
        self.admission.taken_in(bytes);
    }

    /// After a queue transition (lock held: `g`): hands ready completions off to the loop
    /// (signalling readiness if they were the first), wakes sleeping `wait` callers if
    /// completions were handed off, and publishes the hints. What became ready is read from
    /// the table.
    pub(crate) fn woke(&self, g: &mut Inner<T>) {
        self.woke_unpublished(g);
        self.publish(g);
    }

    /// [`Self::woke`] without the publish, for a lock section that publishes once before it
    /// lets the lock go, waits, or looks at the inbox again (a worker's). The `wait` callers
    /// it wakes need the lock to look, so they see the hints the section ends with.
    pub(super) fn woke_unpublished(&self, g: &mut Inner<T>) {
        let handed = self.outbox.flush_from(&mut g.q);
        if handed && g.waiters > 0 {
            self.ready_cv.notify_all();
        }
    }

    /// Times out what is due at `now` (lock held) and hands off what that made ready, waking
    /// `wait` callers: what a worker does before it takes work and before it records a
    /// call's end, so a deadline holds even while the watchdog is late. Publishes nothing:
    /// the worker publishes before it lets the lock go.
    pub(super) fn expire_due(&self, g: &mut Inner<T>, now: Instant) {
        if g.q.expire(now) {
            self.woke_unpublished(g);
        }
    }

    /// Publishes the hints (lock held) for threads that do not hold it, and settles this
    /// context's part of the process-wide abandoned count. Stores a changed hint, and ends
    /// with a `SeqCst` fence when one changed (the publishing side of the pairings in the
    /// module docs: what the publisher reads next, the inbox, is read after the hint is
    /// visible). Every lock section publishes before it lets the lock go, sleeps, or looks
    /// at the inbox after changing what the hints say; once each is enough, so the worker's
    /// sections publish once, at their end.
    pub(crate) fn publish(&self, g: &Inner<T>) {
        let h = g.q.hints();
        let spinning = g.parking.spinning_unclaimed();
        let changed = set(&self.startable_hint, h.startable)
            | set(&self.overflow_hint, h.ready)
            | set(&self.spinning_hint, spinning)
            | set(&self.workers_hint, on_budget(g.threads, h.off_budget))
            | set(&self.waiters_hint, g.waiters);
        if changed {
            fence(Ordering::SeqCst);
        }
        self.admission.publish_held(h.held_bytes);
        g.abandoned_reported.settle(h.abandoned);
    }

    /// Whether no request is undelivered (read without the lock): then a request the
    /// kernel can finish from its caches costs less done at once than a worker's wake-up;
    /// with work in flight, the pool's threads are the faster way (so after a batch of
    /// completions one inline completion sends the rest of the batch's submits to the pool).
    pub(crate) fn is_quiet(&self) -> bool {
        self.admission.undelivered() == 0
    }

    /// Undelivered requests (queued, running or ready), read without the lock.
    pub(crate) fn undelivered(&self) -> usize {
        self.admission.undelivered()
    }

    /// Bytes of caller data requests held at the last publish (a hint, read without the
    /// lock), for the spare-buffer cache to stay within the budget beside them.
    pub(crate) fn held_bytes_hint(&self) -> usize {
        self.admission.held_hint()
    }

    /// Worker threads alive: counted in `Inner::threads`, or started by a submit and not
    /// yet counted (`Shared::starting`).
    pub(super) fn alive(&self, g: &Inner<T>) -> usize {
        g.threads + self.starting.load(Ordering::SeqCst)
    }

    /// Workers that serve this context's budget: alive (see [`Self::alive`]) and not off
    /// budget (abandoned, or in a syscall of a blocked filesystem).
    pub(super) fn active(&self, g: &Inner<T>) -> usize {
        on_budget(self.alive(g), g.q.off_budget())
    }
}
