//! `Shared`: what a context's handle, workers and watchdog share, and the context's critical sections: each change a caller's call makes under the context lock
//! is one method here, on the type that owns the lock (tokio's `LockedImpl`). `context`
//! decides what to do and calls one of these; it never takes the lock itself. The pool's own
//! critical sections (a worker taking and finishing work, the watchdog's rounds, shutdown)
//! stay with the threads: `worker`, `watchdog`, `shutdown`.
//!
//! Each method takes the lock once, changes the queue, then publishes the counts spinners
//! watch and wakes whom the change concerns (`Shared::woke`, `Shared::kick`).

use crate::config::Resolved;
use crate::fair::abandoned::{self, abandoned_cap, abandoned_in_process, at_abandoned_cap};
use crate::fair::thresholds::*;
use crate::fs;
use crate::fs::FsId;
use crate::op::run::Executor;
use crate::op::Op;
use crate::op::OpKind;
use crate::op::Output;
use crate::pool::parking::{Claim, Parking};
use crate::pool::thread::{spawn_thread, spin_until, SyscallClock, SPIN, SPIN_MAX_BACKLOG_PER_WORKER};
use crate::queue::ids::Id;
use crate::queue::ready::Completions;
use crate::queue::ready::Notifier;
use crate::queue::requests::{Completion, MountReport};
use crate::queue::requests::{Effect, Requests};
use crate::stats::Counters;
use crate::sync::{lock, Arc, Condvar, Mutex, MutexGuard};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A context's pool and counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub counters: Counters,
    /// Requests waiting for a worker, and how many of those wait only for their mount's share.
    pub queued: usize,
    pub queued_over_share: usize,
    /// Syscalls in progress (abandoned ones included).
    pub running: usize,
    /// Worker threads alive, idle (waiting for work), abandoned, and the most ever alive.
    pub threads: usize,
    pub idle: usize,
    pub abandoned: usize,
    pub peak_threads: usize,
    /// Mounts with queued or running requests.
    pub mounts: usize,
    /// The per-mount share.
    pub per_mount_threads: usize,
    /// Abandoned workers in the whole process, and the cap on them.
    pub process_abandoned: usize,
    pub abandoned_cap: usize,
    /// Syscalls in progress on blocked filesystems.
    pub blocked_running: usize,
    /// Bytes of caller data held in library memory, and of those the ones held by
    /// abandoned syscalls until they return.
    pub buffer_bytes: usize,
    pub abandoned_buffer_bytes: usize,
}

/// State shared by the context handle, its workers and its watchdog.
pub struct Shared<T> {
    pub(crate) inner: Mutex<Inner<T>>,
    /// Idle workers wait here for queued work.
    pub(crate) work_cv: Condvar,
    /// `wait` callers wait here for a completion.
    pub(crate) ready_cv: Condvar,
    /// Shutdown waits here for threads to leave.
    pub(crate) exit_cv: Condvar,
    /// The watchdog sleeps here between its rounds.
    pub(super) watchdog_cv: Condvar,
    pub(crate) cfg: Resolved,
    pub(super) exec: Box<Executor>,
    /// Time origin of the workers' syscall clocks.
    pub(super) epoch: Instant,
    /// Queued and ready counts, published under the lock for spinners to watch without it.
    pub(super) startable_hint: AtomicUsize,
    pub(super) ready_hint: AtomicUsize,
    /// Undelivered requests (queued, running or ready; not owed closes, nor abandoned
    /// syscalls whose request was delivered), published likewise: the fast path runs in
    /// submit only while this is 0, so that after a batch of completions one inline
    /// completion sends the rest of the batch's submits to the pool.
    pub(super) active_hint: AtomicUsize,
    /// `held_bytes` at the last publish.
    pub(super) held_hint: AtomicUsize,
    /// A copy of the readiness fd and whether it is ours, readable without the lock (a
    /// forked child must release it without locking).
    pub(super) readiness_fd: (i32, bool),
}

/// Everything guarded by `Shared::inner`.
pub struct Inner<T> {
    /// The requests and the readiness eventfd (closed once the pool shuts down).
    pub(crate) q: Completions<T, Notifier>,
    /// Live worker threads (idle, running or stuck).
    pub(crate) threads: usize,
    /// Idle workers (parked on `work_cv`, or spinning) and which of them submits claimed.
    pub(super) parking: Parking,
    /// Threads blocked in `wait`.
    pub(crate) waiters: usize,
    /// Whether the watchdog thread is running.
    pub(crate) watchdog_alive: bool,
    /// Set (with `Shared::watchdog_cv` notified) to have the watchdog look again now.
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
    pub fn start(cfg: Resolved, notifier: Notifier, exec: Box<Executor>) -> Result<Arc<Self>, i32> {
        let readiness_fd = (notifier.fd(), notifier.is_owned());
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                q: Completions::new(
                    Requests::with_share(
                        cfg.queue_depth,
                        cfg.timeout,
                        cfg.per_mount_threads,
                        cfg.max_threads,
                    )
                    .with_byte_budget(cfg.buffer_budget),
                    notifier,
                ),
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
            work_cv: Condvar::new(),
            ready_cv: Condvar::new(),
            exit_cv: Condvar::new(),
            watchdog_cv: Condvar::new(),
            cfg,
            exec,
            epoch: Instant::now(),
            startable_hint: AtomicUsize::new(0),
            ready_hint: AtomicUsize::new(0),
            active_hint: AtomicUsize::new(0),
            held_hint: AtomicUsize::new(0),
            readiness_fd,
        });
        let s = Arc::clone(&shared);
        spawn_thread("aopen-watchdog", move || s.watchdog()).map_err(|_| libc::EAGAIN)?;
        Ok(shared)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        lock(&self.inner)
    }

    /// After a queue transition (lock held: `g`): publishes the counts for spinners and
    /// wakes sleeping `wait` callers if completions became ready (the queue has signalled the
    /// eventfd already).
    pub(crate) fn woke(&self, g: &Inner<T>, e: Effect) {
        self.publish(g);
        if e.became_ready && g.waiters > 0 {
            self.ready_cv.notify_all();
        }
    }

    /// Times out what is due at `now` (lock held) and wakes `wait` callers if that made
    /// completions ready: what a worker does before it takes work and before it records a
    /// call's end, so a deadline holds even while the watchdog is late.
    pub(crate) fn expire_due(&self, g: &mut Inner<T>, now: Instant) {
        let expired = Effect { became_ready: g.q.expire(now) };
        if expired.became_ready {
            self.woke(g, expired);
        }
    }

    /// Publishes the startable and ready counts (lock held) for spinners, and settles this
    /// context's part of the process-wide abandoned count.
    pub(crate) fn publish(&self, g: &Inner<T>) {
        self.startable_hint.store(g.q.table().startable(), Ordering::Relaxed);
        self.ready_hint.store(g.q.table().ready(), Ordering::Relaxed);
        self.active_hint.store(g.q.table().outstanding(), Ordering::Relaxed);
        self.held_hint.store(g.q.table().held_bytes(), Ordering::Relaxed);
        g.abandoned_reported.settle(g.q.table().abandoned());
    }

    /// Whether no request is undelivered (a hint, read without the lock):
    /// then a request the kernel can finish from its caches costs less done at once than a
    /// worker's wake-up; with work in flight, the pool's threads are the faster way.
    pub(crate) fn is_quiet(&self) -> bool {
        self.active_hint.load(Ordering::Relaxed) == 0
    }

    /// Bytes of caller data requests held at the last publish (a hint, read without the
    /// lock), for the spare-buffer cache to stay within the budget beside them.
    pub(crate) fn held_bytes_hint(&self) -> usize {
        self.held_hint.load(Ordering::Relaxed)
    }

    /// Workers that serve this context's budget: alive and not off budget (abandoned, or in
    /// a syscall of a blocked filesystem).
    pub(super) fn active(g: &Inner<T>) -> usize {
        g.threads - g.q.table().off_budget().min(g.threads)
    }

    /// The pool and its counters now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let g = self.lock();
        let t = g.q.table();
        Snapshot {
            counters: *t.counters(),
            queued: t.queued(),
            queued_over_share: t.queued() - t.startable(),
            running: t.running(),
            threads: g.threads,
            idle: g.parking.idle(),
            abandoned: t.abandoned(),
            peak_threads: g.peak_threads,
            mounts: t.mounts(),
            per_mount_threads: t.share(),
            process_abandoned: abandoned_in_process(),
            abandoned_cap: abandoned_cap(),
            blocked_running: t.blocked_running(),
            buffer_bytes: t.held_bytes(),
            abandoned_buffer_bytes: t.abandoned_bytes(),
        }
    }

    /// After a submit: hands the work to an idle worker, or starts one while below
    /// `threads`, or lets the watchdog decide about growth. `Err` only when the pool has no
    /// thread at all and none could be started.
    pub(crate) fn kick(self: &Arc<Self>, g: &mut Inner<T>) -> Result<(), i32> {
        if Self::hold_at_cap(g) {
            self.wake_watchdog_by(g, Instant::now() + RECHECK_TICK);
        }
        self.publish(g);
        if g.q.table().startable() == 0 {
            return Ok(()); // it waits for its mount's share, held by running workers
        }
        match g.parking.claim() {
            Claim::Spinner => return Ok(()), // it takes the work when its spin ends
            Claim::Parked => {
                self.work_cv.notify_one();
                return Ok(());
            }
            Claim::Nobody => {}
        }
        if Self::active(g) < self.cfg.threads && self.room(g) > 0 && self.spawn_worker(g).is_ok() {
            return Ok(());
        }
        if g.threads == 0 {
            return Err(libc::EAGAIN);
        }
        let by = Instant::now() + WAIT_THRESHOLD;
        self.wake_watchdog_by(g, by);
        Ok(())
    }

    /// Makes sure the watchdog runs no later than `by`.
    pub(crate) fn wake_watchdog_by(&self, g: &mut Inner<T>, by: Instant) {
        if g.watchdog_next.map_or(true, |next| next > by) {
            g.watchdog_next = Some(by);
            self.wake_watchdog(g);
        }
    }

    pub(super) fn since_epoch(&self, t: Instant) -> u64 {
        // Never 0, which means "between syscalls".
        t.saturating_duration_since(self.epoch).as_nanos() as u64 + 1
    }

    /// How many more workers the pool may start now. Below the abandoned-worker cap: up to
    /// `max_threads` on the budget. At the cap: up to `threads` outside blocked filesystems'
    /// syscalls (abandoned ones on other filesystems included, so that owed closes cannot
    /// start threads without end), and blocked filesystems start nothing
    /// ([`Self::hold_at_cap`]): healthy filesystems are still served, and only a filesystem
    /// that hangs while not yet marked can strand a thread past the cap.
    pub(super) fn room(&self, g: &Inner<T>) -> usize {
        if at_abandoned_cap() {
            let outside_blocked = g.threads - g.q.table().blocked_running().min(g.threads);
            self.cfg.threads.saturating_sub(outside_blocked)
        } else {
            self.cfg.max_threads.saturating_sub(Self::active(g))
        }
    }

    /// Holds blocked filesystems' work back while the process is at the abandoned-worker
    /// cap, and lets it go below (lock held: before anything counts or takes startable
    /// work). Returns whether work is held: then the watchdog must look again within a
    /// [`RECHECK_TICK`], for the cap may lift in another context, which tells nobody here.
    pub(super) fn hold_at_cap(g: &mut Inner<T>) -> bool {
        g.q.hold_blocked(at_abandoned_cap());
        g.q.table().held() > 0
    }

    /// Has the watchdog look again now (lock held).
    pub(super) fn wake_watchdog(&self, g: &mut Inner<T>) {
        g.watchdog_woken = true;
        self.watchdog_cv.notify_one();
    }

    /// Blocks until a completion is ready or `timeout` (None: forever) passes. Returns how
    /// many are ready (0 on timeout); `Err(ESHUTDOWN)` once the pool shuts down, which wakes
    /// every waiter.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<usize, i32> {
        let start = Instant::now();
        let until = timeout.map(|t| start + t);
        // Spin briefly first, unless the pool is saturated: a completion within SPIN then
        // costs no futex wake-up. With a backlog of many requests per worker, each wake-up
        // delivers a large batch anyway, and a spinning caller would only take a CPU from
        // the workers (measured at 256 in flight on 2 vCPUs: 295k pairs/s spinning, 540k not).
        let backlog = self.startable_hint.load(Ordering::Relaxed);
        let spin =
            if backlog <= SPIN_MAX_BACKLOG_PER_WORKER * self.cfg.threads { SPIN } else { Duration::ZERO };
        let spin_deadline = start + timeout.map_or(spin, |t| t.min(spin));
        spin_until(spin_deadline, || self.ready_hint.load(Ordering::Relaxed) > 0);
        let mut g = self.lock();
        while g.q.table().ready() == 0 && !g.q.is_closed() {
            let left = until.map(|u| u.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                break;
            }
            g.waiters += 1;
            g = match left {
                None => self.ready_cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(left) => self.ready_cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0,
            };
            g.waiters -= 1;
        }
        if g.q.is_closed() {
            return Err(libc::ESHUTDOWN);
        }
        Ok(g.q.table().ready())
    }

    /// Queues `op`, charged to `fs`, and hands it to a worker (or has one started). Nothing
    /// stays queued on an error: `ESHUTDOWN`, `EAGAIN` (queue full, or no thread at all).
    pub(crate) fn submit(self: &Arc<Self>, fs: FsId, op: Op, token: T) -> Result<Id, (i32, T)> {
        let now = Instant::now();
        let mut g = self.lock();
        if g.q.is_closed() {
            return Err((libc::ESHUTDOWN, token));
        }
        let id = g.q.submit(fs, op, token, now)?;
        if let Err(e) = self.kick(&mut g) {
            let token = g.q.unsubmit(id).expect("the request was just queued");
            return Err((e, token));
        }
        if let Some(deadline) = g.q.table().next_deadline() {
            self.wake_watchdog_by(&mut g, deadline);
        }
        Ok(id)
    }

    /// Queues the completion of a request the fast path ran on the caller's thread, with
    /// what it wrote into library memory. If it cannot be queued (full, over the buffer
    /// budget, or shut down), an open's descriptor is closed again (inline: it is a plain
    /// file on a local filesystem, else by a worker) and the error returned.
    pub(crate) fn submit_completed(
        self: &Arc<Self>,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        token: T,
    ) -> Result<Id, (i32, T)> {
        let mut g = self.lock();
        let r = if g.q.is_closed() {
            Err((libc::ESHUTDOWN, token))
        } else {
            g.q.submit_completed(kind, result, out, token, Instant::now())
        };
        match &r {
            Ok((_, e)) => self.woke(&g, *e),
            Err(_) if kind.opened_fd(result).is_some() => {
                // Nobody will receive the descriptor the inline open made.
                if crate::op::inline::close_nowait(result) == Err(libc::EAGAIN) {
                    g.q.owe_close(fs::UNKNOWN, result, Instant::now());
                    let _ = self.kick(&mut g);
                }
            }
            Err(_) => {}
        }
        r.map(|(id, _)| id)
    }

    /// Cancels request `id` (see `Context::cancel`); a finished open's descriptor becomes an
    /// owed close, handed to a worker.
    pub(crate) fn cancel(self: &Arc<Self>, id: Id) -> Result<(), i32> {
        let mut g = self.lock();
        let owed = g.q.table().owed();
        let e = g.q.cancel(id, libc::ECANCELED, Instant::now()).map_err(|e| e.errno())?;
        self.woke(&g, e);
        if g.q.table().owed() > owed {
            let _ = self.kick(&mut g);
        }
        Ok(())
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

    /// The next completion for `dispatch`, which has delivered `delivered` so far: at most
    /// `max` in all (0: as many as were ready at its start, counted on the first call).
    pub(crate) fn pop_for_dispatch(&self, delivered: usize, max: &mut usize) -> Option<Completion<T>> {
        let mut g = self.lock();
        if delivered == 0 && *max == 0 {
            *max = g.q.table().ready();
        }
        if delivered >= *max {
            return None;
        }
        let c = g.q.pop(delivered + 1 == *max)?;
        self.publish(&g);
        Some(c)
    }

    /// Takes up to `max` ready completions under one lock, then hands them to `out` with the
    /// lock released (copying a read's bytes out must not hold up the workers). Returns how
    /// many.
    pub(crate) fn reap(&self, max: usize, out: impl FnMut(Completion<T>)) -> usize {
        let batch: Vec<Completion<T>> = {
            let mut g = self.lock();
            let mut batch = Vec::with_capacity(max.min(g.q.table().ready()));
            while batch.len() < max {
                let Some(c) = g.q.pop(batch.len() + 1 == max) else { break };
                batch.push(c);
            }
            self.publish(&g);
            batch
        };
        let n = batch.len();
        batch.into_iter().for_each(out);
        n
    }

    /// The descriptor that polls readable while a completion is ready.
    pub(crate) fn readiness_fd(&self) -> i32 {
        self.lock().q.readiness().fd()
    }

    /// Worker threads alive now, and the most ever alive.
    pub(crate) fn threads(&self) -> (usize, usize) {
        let g = self.lock();
        (g.threads, g.peak_threads)
    }

    /// See `Context::blocked_mounts`.
    pub(crate) fn blocked_mounts(&self, min_age: Duration) -> Vec<MountReport> {
        self.lock().q.table().blocked_mounts(Instant::now(), min_age)
    }
}
