//! The worker pool: threads that run requests' syscalls, and one watchdog thread per
//! context that enforces timeouts and grows the pool past blocked workers.
//!
//! Growth policy. The pool keeps `threads` workers. It does not grow merely because every
//! worker is busy (more than ~4 threads per core collapses fast-open throughput); it grows
//! when workers are *blocked*: inside one syscall for over [`STUCK_THRESHOLD`], timed
//! around the syscall alone (each worker's [`SyscallClock`]), and asleep there according to
//! the kernel (`/proc/self/task/TID/stat` state `S` or `D`), so that waiting for the lock
//! or for a CPU never counts: on a loaded 2-core machine, runnable workers were seen to go
//! 6 ms without a CPU in a burst of fast opens. Once queued work has waited
//! [`WAIT_THRESHOLD`] with no idle worker, the watchdog tops the unblocked workers back up
//! to `threads`, or, when every worker is blocked, doubles the pool (so 64 hung opens get
//! 64 workers within a few waves); never past `max_threads` nor past the number of queued
//! requests. Workers above `threads` exit after [`IDLE_TIMEOUT`] without work.
//!
//! Dead filesystems. Only work that could start now counts as queued here: a request whose
//! filesystem already has its share of syscalls running, or a blocked filesystem's request
//! while the blocked budget is spent (see `request`), neither wakes a worker nor grows the
//! pool. Two kinds of workers are *off budget*: they no longer count against `threads` or
//! `max_threads`, so the pool grows past them for everyone else:
//! - abandoned workers: their request was cancelled, timed out or shut down while its syscall
//!   runs, or they run an owed close (a descriptor nobody will receive; see `request`);
//! - workers of a *blocked* filesystem: one whose syscall has been asleep in the kernel past
//!   [`BLOCKED_THRESHOLD`], as the watchdog finds on each round.
//!
//! Off-budget workers still hold their filesystem's share. Blocked filesystems together start
//! syscalls only while fewer than `max_threads` of theirs run (the blocked budget), so a
//! context's threads stay below `max_threads` for healthy filesystems, plus `max_threads` for
//! blocked ones, plus one share per filesystem that hung before the watchdog noticed, plus
//! abandoned workers. Abandoned workers of every context are counted process-wide; while that
//! count is at [`abandoned_cap`], blocked filesystems start nothing and each context starts
//! threads only while fewer than `threads` of its workers are outside blocked filesystems'
//! syscalls (`Shared::room`): healthy filesystems are still served, and the count can pass
//! the cap only by workers of a filesystem that hangs at the cap before it is marked (at
//! most `threads` per context at a time).
//!
//! The bound. Marking is what makes room in a pool full of stuck workers, so the watchdog
//! does not wait for growth to need it: while any syscall runs on a filesystem not marked, a
//! round is scheduled for when that syscall could be marked (the worker that starts it
//! schedules one if none comes sooner), whether or not work waits and whether or not the
//! pool is at `max_threads`. A startable request of a filesystem not blocked therefore waits
//! for a worker at most [`HEALTHY_WAIT_BOUND`] while workers are stuck, counted from its
//! submit or from the start of the oldest stuck syscall if later, at any interleaving and
//! with no further submit. Nothing running, nothing queued: no round, and no CPU.
//!
//! No thread of the pool, and no caller, ever closes a descriptor inline: every close goes
//! through the table as a request, because a close can hang in the filesystem's flush.
//!
//! Locking. One mutex guards [`Inner`]: the request table, the readiness fd and the pool
//! counters. The readiness fd is only written or reset with that lock held, so it is
//! readable exactly when the ready queue is non-empty. Syscalls and callbacks never run
//! under it.

use crate::abandoned::{self, abandoned_cap, abandoned_in_process, at_abandoned_cap};
use crate::completion::Completions;
use crate::completion::Notifier;
use crate::config::Resolved;
use crate::mounts;
use crate::parking::{Claim, Parking, Unpark};
use crate::request::{Effect, Id, OpKind, Requests};
use crate::stats::Counters;
use crate::sync::{lock, Arc, Condvar, Mutex, MutexGuard};
use crate::sys;
use crate::syscall::Executor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Queued work must have waited this long before the pool considers growing.
pub const WAIT_THRESHOLD: Duration = Duration::from_millis(2);
/// A worker whose current syscall has run this long counts as blocked.
pub const STUCK_THRESHOLD: Duration = Duration::from_millis(5);
/// A filesystem with a syscall asleep this long is marked blocked (see `request`). Far
/// longer than [`STUCK_THRESHOLD`]: marking takes all of a filesystem's workers off the
/// budget, so a fast open that sleeps a moment (a lock, the descriptor table growing, or
/// under valgrind its big lock, seen to hold fast opens past 50 ms) must not do it; a dead
/// server hangs for seconds.
pub const BLOCKED_THRESHOLD: Duration = Duration::from_millis(200);
/// How often the watchdog re-checks growth while startable work is queued and the pool has
/// room to grow.
pub const GROW_TICK: Duration = Duration::from_millis(2);
/// How often it looks again at what it cannot act on yet: a syscall past
/// [`BLOCKED_THRESHOLD`] that the kernel does not report asleep, or a blocked filesystem's
/// work held at the abandoned-worker cap (which another context may lift).
pub const RECHECK_TICK: Duration = Duration::from_millis(20);
/// The longest a startable request of a filesystem not blocked waits for a worker while
/// workers are stuck (from when it is submitted, or from when the oldest stuck syscall
/// started if that is later), besides creating the thread and the scheduler's latency: the
/// watchdog marks that syscall's filesystem blocked once it is [`BLOCKED_THRESHOLD`] old
/// (a [`RECHECK_TICK`] later if the kernel did not yet report it asleep), which takes its
/// workers off the budget, and grows the pool on its next [`GROW_TICK`], the request having
/// waited [`WAIT_THRESHOLD`]. It needs no further submit: the watchdog keeps a round
/// scheduled for every running syscall of a filesystem not marked (see
/// `Shared::next_round`). At the abandoned-worker cap the same holds (see `Shared::room`).
pub const HEALTHY_WAIT_BOUND: Duration =
    BLOCKED_THRESHOLD.saturating_add(RECHECK_TICK).saturating_add(WAIT_THRESHOLD).saturating_add(GROW_TICK);
/// Workers above `threads` exit after idling this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle worker, or a `wait` caller, spins for new work or completions before
/// sleeping: a request arriving within it is taken without a futex wake-up (about 20 us on
/// an idle vCPU here), which is most of a round trip at low concurrency. Bounded, so an idle
/// context parks everything and uses no CPU.
pub const SPIN: Duration = Duration::from_micros(50);
/// Workers and `wait` spin only while at most this many requests per worker are queued or
/// outstanding: past that the pool is saturated and spinning only takes a CPU from it.
const SPIN_MAX_BACKLOG_PER_WORKER: usize = 4;

/// Spins until `done()` or `deadline`, reading the clock only every 32 rounds.
fn spin_until(deadline: Instant, done: impl Fn() -> bool) {
    loop {
        for _ in 0..32 {
            if done() {
                return;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= deadline {
            return;
        }
    }
}
/// Stack size of library threads: they only make a syscall and bookkeeping.
const STACK_SIZE: usize = 256 * 1024;

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
    watchdog_cv: Condvar,
    pub(crate) cfg: Resolved,
    exec: Box<Executor>,
    /// Time origin of the workers' syscall clocks.
    epoch: Instant,
    /// Queued and ready counts, published under the lock for spinners to watch without it.
    startable_hint: AtomicUsize,
    ready_hint: AtomicUsize,
    /// Undelivered requests (queued, running or ready; not owed closes, nor abandoned
    /// syscalls whose request was delivered), published likewise: the fast path runs in
    /// submit only while this is 0, so that after a batch of completions one inline
    /// completion sends the rest of the batch's submits to the pool.
    active_hint: AtomicUsize,
    /// `held_bytes` at the last publish.
    held_hint: AtomicUsize,
    /// A copy of the readiness fd and whether it is ours, readable without the lock (a
    /// forked child must release it without locking).
    readiness_fd: (i32, bool),
}

/// One worker's syscall clock, written by its worker and read by the watchdog to tell
/// workers asleep in a syscall from busy ones.
#[derive(Default)]
struct SyscallClock {
    /// The request whose syscall the worker runs (set under the lock when it takes it).
    request: AtomicU64,
    /// Nanoseconds since `Shared::epoch` at which the current syscall started; 0 between.
    started: AtomicU64,
    /// The worker's kernel thread id (0 until it runs).
    tid: AtomicI32,
}

impl SyscallClock {
    /// Whether the kernel has the worker asleep (not merely waiting for a CPU). Without
    /// /proc, yes.
    fn asleep(&self) -> bool {
        sys::thread_is_blocked(self.tid.load(Ordering::Relaxed)).unwrap_or(true)
    }

    /// Whether the worker has been inside one syscall since before `since` (epoch nanos).
    fn old(&self, since: u64) -> bool {
        let t = self.started.load(Ordering::Relaxed);
        t != 0 && t <= since
    }
}

/// Everything guarded by `Shared::inner`.
pub struct Inner<T> {
    /// The requests and the readiness eventfd (closed once the pool shuts down).
    pub(crate) q: Completions<T, Notifier>,
    /// Live worker threads (idle, running or stuck).
    pub(crate) threads: usize,
    /// Idle workers (parked on `work_cv`, or spinning) and which of them submits claimed.
    parking: Parking,
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
    clocks: Vec<Arc<SyscallClock>>,
    /// This context's part of the process-wide abandoned count.
    abandoned_reported: abandoned::Reported,
}

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
    fn active(g: &Inner<T>) -> usize {
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

    fn since_epoch(&self, t: Instant) -> u64 {
        // Never 0, which means "between syscalls".
        t.saturating_duration_since(self.epoch).as_nanos() as u64 + 1
    }

    /// How many more workers the pool may start now. Below the abandoned-worker cap: up to
    /// `max_threads` on the budget. At the cap: up to `threads` outside blocked filesystems'
    /// syscalls (abandoned ones on other filesystems included, so that owed closes cannot
    /// start threads without end), and blocked filesystems start nothing
    /// ([`Self::hold_at_cap`]): healthy filesystems are still served, and only a filesystem
    /// that hangs while not yet marked can strand a thread past the cap.
    fn room(&self, g: &Inner<T>) -> usize {
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
    fn hold_at_cap(g: &mut Inner<T>) -> bool {
        g.q.table_mut().hold_blocked(at_abandoned_cap());
        g.q.table().held() > 0
    }

    fn spawn_worker(self: &Arc<Self>, g: &mut Inner<T>) -> Result<(), ()> {
        let s = Arc::clone(self);
        let clock = Arc::new(SyscallClock::default());
        let mine = Arc::clone(&clock);
        spawn_thread("aopen-worker", move || s.worker(mine)).map_err(|_| ())?;
        g.clocks.push(clock);
        g.threads += 1;
        g.peak_threads = g.peak_threads.max(g.threads);
        Ok(())
    }

    fn worker(self: Arc<Self>, clock: Arc<SyscallClock>) {
        clock.tid.store(sys::gettid(), Ordering::Relaxed);
        let mut g = self.lock();
        // Whether this worker has spun since it last had work (it spins once, then parks).
        let mut spun_since_work = false;
        loop {
            let start = Instant::now();
            // A request whose deadline has passed times out here rather than run, even when
            // the watchdog (late on a loaded machine) has not expired it yet.
            let expired = Effect { became_ready: g.q.expire(start) };
            if expired.became_ready {
                self.woke(&g, expired);
            }
            if Self::hold_at_cap(&mut g) {
                self.wake_watchdog_by(&mut g, start + RECHECK_TICK);
            }
            if let Some((id, mut op, fs)) = g.q.take_work(start) {
                spun_since_work = false;
                clock.request.store(id, Ordering::Relaxed);
                self.publish(&g);
                // The watchdog looks at this syscall once it could be marked blocked (it
                // wakes only if it had nothing to look at before then).
                self.wake_watchdog_by(&mut g, start + BLOCKED_THRESHOLD);
                drop(g);
                let kind = op.kind();
                clock.started.store(self.since_epoch(start), Ordering::Relaxed);
                let result = catch_unwind(AssertUnwindSafe(|| (self.exec)(&mut op))).unwrap_or(-libc::EIO);
                clock.started.store(0, Ordering::Relaxed);
                let end = Instant::now();
                if kind == OpKind::Open && result >= 0 && !self.cfg.no_mounts {
                    // Its close is charged to the same filesystem, without a statx.
                    mounts::remember_opened(result, fs);
                }
                // What the call wrote into library memory (a stat's result), for delivery;
                // the rest of the op (a path copy) is freed here, outside the lock.
                let out = op.into_output();
                g = self.lock();
                clock.request.store(0, Ordering::Relaxed);
                g.q.table_mut().counters_mut().service.record(end - start);
                let e = g.q.finish_with(id, kind, result, out, end);
                self.woke(&g, e);
                if g.q.is_closed() {
                    // After shutdown the watchdog only waits for owed closes: let it look.
                    self.wake_watchdog(&mut g);
                }
                continue;
            }
            if g.q.is_closed() {
                break;
            }
            let unsaturated = g.q.table().outstanding() <= SPIN_MAX_BACKLOG_PER_WORKER * self.cfg.threads;
            if !spun_since_work && unsaturated && g.parking.start_spin() {
                // One worker at a time spins briefly before parking (more would only take
                // CPU from the threads submitting and delivering); re-check under the lock
                // either way, so a request a submit left to this spinner is never missed.
                drop(g);
                spin_until(Instant::now() + SPIN, || self.startable_hint.load(Ordering::Relaxed) > 0);
                g = self.lock();
                g.parking.end_spin();
                spun_since_work = true;
                continue;
            }
            g.parking.park();
            let timed_out = loop {
                let (g2, waited) =
                    self.work_cv.wait_timeout(g, IDLE_TIMEOUT).unwrap_or_else(|e| e.into_inner());
                g = g2;
                let leave = waited.timed_out() || g.q.is_closed();
                match g.parking.unpark(leave) {
                    Unpark::Stay => continue,
                    Unpark::Claimed => break false,
                    Unpark::Left => break waited.timed_out(),
                }
            };
            if timed_out && g.q.table().startable() == 0 && Self::active(&g) > self.cfg.threads {
                break;
            }
        }
        g.clocks.retain(|c| !Arc::ptr_eq(c, &clock));
        g.threads -= 1;
        self.exit_cv.notify_all();
    }

    /// Has the watchdog look again now (lock held).
    fn wake_watchdog(&self, g: &mut Inner<T>) {
        g.watchdog_woken = true;
        self.watchdog_cv.notify_one();
    }

    fn watchdog(self: Arc<Self>) {
        let mut g = self.lock();
        loop {
            if g.q.is_closed() && g.q.table().queued() == 0 {
                // Shut down, and no owed close waits: the workers finish what runs.
                break;
            }
            let now = Instant::now();
            let became_ready = g.q.expire(now);
            self.woke(&g, Effect { became_ready });
            Self::hold_at_cap(&mut g);
            self.mark_blocked(&mut g, now);
            self.grow(&mut g, now);
            let next = self.next_round(&g, now);
            g.watchdog_next = next;
            g.watchdog_woken = false;
            // Sleep, with the lock released, until woken or the next deadline.
            while !g.watchdog_woken {
                g = match next {
                    None => self.watchdog_cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                    Some(t) => {
                        let left = t.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        self.watchdog_cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0
                    }
                };
            }
        }
        g.watchdog_alive = false;
        self.exit_cv.notify_all();
    }

    /// When the watchdog must look again by itself (None: only when woken). Besides
    /// timeouts: while startable work waits and the pool has room, every [`GROW_TICK`];
    /// while a syscall runs on a filesystem not marked blocked, once it could be marked
    /// (every [`RECHECK_TICK`] once it is old enough but not asleep), whether or not work
    /// waits, since marking is what makes room in a pool full of stuck workers; while the
    /// abandoned-worker cap holds work back, every [`RECHECK_TICK`]. So an idle context, or
    /// one whose only syscalls are stuck on filesystems already marked, never ticks.
    fn next_round(&self, g: &Inner<T>, now: Instant) -> Option<Instant> {
        let t = g.q.table();
        let grow = (t.startable() > 0 && self.room(g) > 0).then_some(now + GROW_TICK);
        let mark = t.oldest_unblocked_syscall().map(|s| match s + BLOCKED_THRESHOLD {
            due if due > now => due,
            _ => now + RECHECK_TICK,
        });
        let held = (t.held() > 0).then_some(now + RECHECK_TICK);
        [t.next_deadline(), grow, mark, held].into_iter().flatten().min()
    }

    /// Marks the filesystems whose syscalls are asleep in the kernel past
    /// [`BLOCKED_THRESHOLD`] as blocked (see `request`): their workers go off budget.
    fn mark_blocked(&self, g: &mut Inner<T>, now: Instant) {
        let Some(since) = now.checked_sub(BLOCKED_THRESHOLD) else { return };
        let clocks = &g.clocks;
        let asleep = |id: Id| {
            clocks.iter().find(|c| c.request.load(Ordering::Relaxed) == id).map_or(true, |c| c.asleep())
        };
        g.q.table_mut().mark_blocked(since, asleep);
    }

    /// The growth policy (see the module docs).
    fn grow(self: &Arc<Self>, g: &mut Inner<T>, now: Instant) {
        let waited = g.q.table().oldest_startable_wait(now);
        if waited.map_or(true, |w| w < WAIT_THRESHOLD) {
            return;
        }
        if g.parking.unclaimed() > 0 {
            // Work waits while a worker idles: every path that makes work startable hands
            // it to a worker, so this is a safety net, not a way work is meant to start.
            if g.parking.claim() == Claim::Parked {
                self.work_cv.notify_one();
            }
            return;
        }
        let active = Self::active(g);
        let room = self.room(g);
        if room == 0 {
            return;
        }
        // Workers on the budget stuck past STUCK_THRESHOLD and asleep there: off-budget ones
        // are not asked about (no /proc read for a dead filesystem's hundreds of workers).
        let since = self.since_epoch(now).saturating_sub(STUCK_THRESHOLD.as_nanos() as u64);
        let table = g.q.table();
        let stuck = g
            .clocks
            .iter()
            .filter(|c| c.old(since) && !table.is_off_budget(c.request.load(Ordering::Relaxed)) && c.asleep())
            .count()
            .min(active);
        // Every worker on the budget stuck: double; else top the unstuck ones up to
        // `threads` (so 64 hung opens get 64 workers within a few waves, and busy workers
        // alone never grow the pool).
        let want = if stuck >= active {
            active.max(self.cfg.threads)
        } else {
            self.cfg.threads.saturating_sub(active - stuck)
        };
        for _ in 0..want.min(room).min(g.q.table().startable()) {
            if self.spawn_worker(g).is_err() {
                break;
            }
        }
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

    /// Releases, in a forked child, the child's copies of the descriptors the pool held:
    /// without waiting for the lock (its holder may not exist here) and without touching
    /// threads (none exist here). If the lock is taken, only the readiness fd is closed.
    pub(crate) fn release_in_forked_child(&self) {
        let mut fds = Vec::new();
        match self.inner.try_lock() {
            Ok(mut g) => {
                g.q.shutdown(Instant::now());
                fds = g.q.table_mut().take_queued_owed();
                g.q.readiness_mut().close();
            }
            Err(_) => {
                if self.readiness_fd.1 {
                    fds.push(self.readiness_fd.0);
                }
            }
        }
        fds.into_iter().for_each(sys::close_quietly);
    }

    /// Ends the pool: nothing of the caller's queued runs, the descriptors held for the
    /// caller become owed closes (run by the workers, which stay until none is left), the
    /// readiness fd is released, idle threads leave. Returns promptly, even with closes or
    /// other syscalls hung: workers stuck in a syscall are abandoned and finish after
    /// themselves when it returns (they hold their own `Arc`).
    pub(crate) fn shutdown(self: &Arc<Self>, linger: Duration) {
        let mut g = self.lock();
        if g.q.is_closed() {
            return;
        }
        g.q.shutdown(Instant::now());
        g.q.readiness_mut().close();
        self.publish(&g);
        self.wake_watchdog(&mut g);
        self.work_cv.notify_all();
        self.ready_cv.notify_all();
        if g.q.table().queued() > 0 {
            // Owed closes wait: wake workers for them (the watchdog grows past hung ones).
            let _ = self.kick(&mut g);
            return;
        }
        // Let threads that are not inside a syscall leave, briefly, so that a context
        // freed while idle leaves no library thread behind.
        let until = Instant::now() + linger;
        while g.q.table().queued() == 0 && g.threads + usize::from(g.watchdog_alive) > g.q.table().running() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            g = self.exit_cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// Spawns a library thread with every signal blocked, so the application's signal handlers
/// never run on it and its syscalls are not interrupted by them.
fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let b = std::thread::Builder::new().name(name.into()).stack_size(STACK_SIZE);
    sys::with_signals_blocked(|| b.spawn(f)).map(drop)
}
