//! The loop's way out: completions popped from the hand-off without the pool lock
//! ([`Shared::reap`], [`Shared::pop_for_dispatch`]), what each pop owes the pool (the count,
//! a report that did not fit, a cancel that won over an open's delivery), and
//! [`Shared::wait`], which spins, then sleeps until a completion is ready.

use crate::pool::shared::Shared;
use crate::pool::thread::{spin_until, SPIN, SPIN_MAX_BACKLOG_PER_WORKER};
use crate::queue::handoff::{output_bytes, Popped};
use crate::queue::requests::Completion;
use crate::sync::atomic::fence;
use crate::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Hand-off entries the loop lets pile up before it takes them in itself, if it can
/// without waiting (see [`Shared::settle_some`]).
const SETTLE_BATCH: usize = 32;
/// How often (in pops, per thread) the loop looks whether it should (see
/// [`Shared::settle_some`]).
const SETTLE_EVERY: usize = 8;

std::thread_local! {
    /// Pops made on this thread (a count for [`SETTLE_EVERY`], no more).
    static POPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl<T: Send + 'static> Shared<T> {
    /// Completions the loop can take now: in the hand-off, or ready in the table behind a
    /// full hand-off.
    fn deliverable(&self) -> usize {
        self.outbox.ready() + self.overflow_hint.load(Ordering::SeqCst)
    }

    /// Blocks until a completion is ready or `timeout` (None: forever) passes. Returns how
    /// many are ready (0 on timeout); `Err(ESHUTDOWN)` once the pool shuts down, which wakes
    /// every waiter.
    pub(crate) fn wait(self: &Arc<Self>, timeout: Option<Duration>) -> Result<usize, i32> {
        let start = Instant::now();
        let until = timeout.map(|t| start + t);
        // Spin briefly first, unless the pool is saturated: a completion within SPIN then
        // costs no futex wake-up. With a backlog of many requests per worker, each wake-up
        // delivers a large batch anyway, and a spinning caller would only take a CPU from
        // the workers.
        let backlog = self.startable_hint.load(Ordering::Relaxed);
        let spin =
            if backlog <= SPIN_MAX_BACKLOG_PER_WORKER * self.cfg.threads { SPIN } else { Duration::ZERO };
        let spin_deadline = start + timeout.map_or(spin, |t| t.min(spin));
        spin_until(spin_deadline, || self.deliverable() > 0);
        // Ready already (the usual case while requests are in flight): no lock. With a
        // backlog of many requests per worker, give the CPU to a worker once first: on a
        // machine with as many workers as CPUs or more, a caller that returns for every
        // completion or two only takes CPU from the workers that make them.
        if backlog > SPIN_MAX_BACKLOG_PER_WORKER * self.cfg.threads && self.deliverable() < self.cfg.threads {
            std::thread::yield_now();
        }
        let ready = self.deliverable();
        if ready > 0 && !self.closed.load(Ordering::SeqCst) {
            return Ok(ready);
        }
        let mut g = self.lock();
        loop {
            if g.q.is_closed() {
                return Err(libc::ESHUTDOWN);
            }
            // Registered as a waiter before looking (a push without the lock reads the
            // hint after its own count: see `pool::shared`'s module docs).
            g.waiters += 1;
            self.waiters_hint.store(g.waiters, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let ready = self.deliverable();
            let left = until.map(|u| u.saturating_duration_since(Instant::now()));
            if ready > 0 || left == Some(Duration::ZERO) {
                g.waiters -= 1;
                self.waiters_hint.store(g.waiters, Ordering::SeqCst);
                return Ok(ready);
            }
            g = match left {
                None => self.ready_cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(left) => self.ready_cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0,
            };
            g.waiters -= 1;
            self.refresh(&mut g, 0);
        }
    }

    /// The next completion for `dispatch`, which has delivered `delivered` so far: at most
    /// `max` in all (0: as many as were ready at its start, counted on the first call).
    pub(crate) fn pop_for_dispatch(
        self: &Arc<Self>,
        delivered: usize,
        max: &mut usize,
    ) -> Option<Completion<T>> {
        if delivered == 0 && *max == 0 {
            *max = self.deliverable();
        }
        if delivered >= *max {
            return None;
        }
        self.pop(delivered + 1 == *max)
    }

    /// Hands up to `max` ready completions to `out`, one at a time, without the pool lock
    /// (copying a read's bytes out never holds up the workers). Returns how many.
    pub(crate) fn reap(self: &Arc<Self>, max: usize, mut out: impl FnMut(Completion<T>)) -> usize {
        let mut n = 0;
        while n < max {
            let Some(c) = self.pop(n + 1 == max) else { break };
            out(c);
            n += 1;
        }
        n
    }

    /// The oldest completion, taken from the hand-off; when it is empty but completions wait
    /// behind it in the table, the lock hands them off first.
    fn pop(self: &Arc<Self>, last_of_batch: bool) -> Option<Completion<T>> {
        let popped = match self.outbox.pop(last_of_batch, &self.inline) {
            Some(p) => p,
            None if self.overflow_hint.load(Ordering::SeqCst) > 0 => {
                drop(self.lock());
                self.outbox.pop(last_of_batch, &self.inline)?
            }
            None => return None,
        };
        Some(self.settle(popped))
    }

    /// Once the loop has handed over [`SETTLE_BATCH`] entries nobody took in (inline
    /// completions and delivery reports, while every worker is idle), takes them in now if
    /// the lock is free: a few at a time, never a long take-in at once, and never a wait.
    /// The queues' lengths are looked at once per [`SETTLE_EVERY`] pops of this thread (each
    /// look reads indices the workers write).
    fn settle_some(self: &Arc<Self>) {
        let due = POPS.with(|n| {
            n.set(n.get().wrapping_add(1));
            n.get() % SETTLE_EVERY == 0
        });
        if !due || self.inbox.len() + self.outbox.reports() < SETTLE_BATCH {
            return;
        }
        if let Ok(mut g) = self.inner.try_lock() {
            self.refresh(&mut g, 0);
        }
    }

    /// What a pop owes the pool: the count, a report that did not fit, and a cancel that
    /// won over the delivery of an open (the descriptor goes to a worker to close).
    fn settle(self: &Arc<Self>, p: Popped<T>) -> Completion<T> {
        let Popped { mut c, unreported, cancelled, inline } = p;
        self.admission.delivered(1);
        if inline {
            self.admission.taken_in(output_bytes(&c)); // counted from its admission to here
        }
        if unreported {
            let mut g = self.lock();
            g.q.delivered(c.id);
            self.publish(&g);
        } else {
            self.settle_some();
        }
        if let Some(fs) = cancelled {
            if let Some(fd) = c.op.opened_fd(c.result) {
                self.close_unreceived(fs, fd, inline);
            }
            c.result = -libc::ECANCELED;
            c.out = None;
        }
        c
    }

    /// The descriptor that polls readable while a completion is ready.
    pub(crate) fn readiness_fd(&self) -> i32 {
        self.outbox.readiness().fd()
    }
}
