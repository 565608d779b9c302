//! A worker: takes startable requests, runs their syscalls outside the lock, hands back the
//! results; parks or spins when idle and exits when surplus.

use crate::fair::thresholds::*;
use crate::op::charge;
use crate::pool::parking::Unpark;
use crate::pool::shared::{Inner, Shared};
use crate::pool::thread::{
    spawn_thread, spin_until, SyscallClock, IDLE_TIMEOUT, SPIN, SPIN_MAX_BACKLOG_PER_WORKER,
};
use crate::sync::atomic::fence;
use crate::sync::{lock, Arc};
use crate::sys;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl<T: Send + 'static> Shared<T> {
    /// Starts a worker, counted at once (lock held).
    pub(super) fn spawn_worker(self: &Arc<Self>, g: &mut Inner<T>) -> Result<(), ()> {
        let s = Arc::clone(self);
        let clock = Arc::new(SyscallClock::default());
        let mine = Arc::clone(&clock);
        spawn_thread("aopen-worker", move || s.worker(mine, false)).map_err(|_| ())?;
        Self::count_in(g, clock);
        Ok(())
    }

    /// Starts a worker without the lock (a submit's): it counts itself among the threads in
    /// its first lock section, and until then among [`Shared::starting`], which
    /// [`Shared::active`] counts too.
    pub(super) fn spawn_worker_unlocked(self: &Arc<Self>) -> Result<(), ()> {
        self.starting.fetch_add(1, Ordering::SeqCst);
        let s = Arc::clone(self);
        let clock = Arc::new(SyscallClock::default());
        spawn_thread("aopen-worker", move || s.worker(clock, true)).map_err(|_| {
            self.starting.fetch_sub(1, Ordering::SeqCst);
        })
    }

    fn count_in(g: &mut Inner<T>, clock: Arc<SyscallClock>) {
        g.clocks.push(clock);
        g.threads += 1;
        g.peak_threads = g.peak_threads.max(g.threads);
    }

    /// A worker's life; `uncounted` if it was started without the lock.
    pub(super) fn worker(self: Arc<Self>, clock: Arc<SyscallClock>, uncounted: bool) {
        clock.tid.store(sys::gettid(), Ordering::Relaxed);
        let mut g = lock(&self.inner);
        if uncounted {
            // Published before it stops counting as starting, so that a submit never sees
            // it as neither and starts another in its place.
            Self::count_in(&mut g, Arc::clone(&clock));
            self.publish(&g);
            self.starting.fetch_sub(1, Ordering::SeqCst);
        }
        // Whether this worker has spun since it last had work (it spins once, then parks).
        let mut spun_since_work = false;
        // Its last completion, whose output it places once it lets go of the lock.
        let mut to_place = None;
        // When this worker finished its last call, if it has held the lock since (then the
        // take-in and the expiry below were made as it finished, and that time serves as
        // the next call's start: a clock read less per request, a few percent of the
        // pool's CPU on this VM's clock).
        let mut just_finished: Option<Instant> = None;
        // Each of its lock sections publishes the hints once, before it lets the lock go,
        // waits, or looks at the inbox after changing what they say (see
        // `Shared::publish`); what the section does before then publishes nothing.
        loop {
            let finished = just_finished.take();
            let start = finished.unwrap_or_else(Instant::now);
            if finished.is_none() {
                // What the loop handed in, less the one request this worker takes itself.
                self.refresh_unpublished(&mut g, 1);
                // A request whose deadline has passed times out here rather than run, even
                // when the watchdog (late on a loaded machine) has not expired it yet.
                self.expire_due(&mut g, start);
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
                self.wake_watchdog_by(&mut g, start + self.cfg.blocked);
                drop(g);
                if let Some(c) = to_place.take() {
                    self.place(c);
                }
                let kind = op.kind();
                clock.started.store(self.since_epoch(start), Ordering::Relaxed);
                let result = catch_unwind(AssertUnwindSafe(|| (self.exec)(&mut op))).unwrap_or(-libc::EIO);
                clock.started.store(0, Ordering::Relaxed);
                let end = Instant::now();
                if !self.cfg.no_mounts {
                    charge::remember(kind, result, fs);
                }
                // What the call wrote into library memory (a stat's result), for delivery;
                // the rest of the op (a path copy) is freed here, outside the lock.
                let out = op.into_output();
                let placeable = out.is_some() && result >= 0;
                g = lock(&self.inner);
                self.refresh_unpublished(&mut g, 1);
                clock.request.store(0, Ordering::Relaxed);
                g.q.record_service(end - start);
                // A call that returned after its deadline was unfinished then: it times out
                // (as the watchdog, late on a loaded machine, would have made it), and its
                // result is dropped like a cancelled one's.
                self.expire_due(&mut g, end);
                g.q.finish(id, kind, result, out, end);
                if placeable {
                    to_place = self.take_to_place(&mut g, id);
                }
                self.woke_unpublished(&mut g);
                if g.q.is_closed() {
                    // After shutdown the watchdog only waits for owed closes: let it look.
                    self.wake_watchdog(&mut g);
                }
                just_finished = Some(end);
                continue;
            }
            if let Some(c) = to_place.take() {
                self.publish(&g);
                drop(g);
                self.place(c);
                g = lock(&self.inner);
                continue;
            }
            if g.q.is_closed() {
                break;
            }
            let unsaturated = self.undelivered() <= SPIN_MAX_BACKLOG_PER_WORKER * self.cfg.threads;
            if !spun_since_work && unsaturated && g.parking.start_spin() {
                // One worker at a time spins briefly before parking (more would only take
                // CPU from the threads submitting and delivering); re-check under the lock
                // either way, so a request a submit left to this spinner is never missed.
                self.publish(&g);
                drop(g);
                spin_until(Instant::now() + SPIN, || {
                    self.startable_hint.load(Ordering::Relaxed) > 0 || !self.inbox.is_empty()
                });
                g = lock(&self.inner);
                g.parking.end_spin();
                self.publish(&g);
                spun_since_work = true;
                continue;
            }
            g.parking.park(&self.doorbell);
            self.publish(&g);
            let mut woke = true;
            let timed_out = loop {
                // Idle (and published) before looking at the inbox: a submit that pushed
                // after this look claims this worker, or another parked one, and rings.
                fence(Ordering::SeqCst);
                let leave = !woke || g.q.is_closed() || !self.inbox.is_empty();
                let count = match g.parking.unpark(&self.doorbell, leave) {
                    (Unpark::Stay, count) => count,
                    (Unpark::Claimed, _) => break false,
                    (Unpark::Left, _) => break !woke,
                };
                drop(g);
                woke = self.doorbell.sleep(count, Some(IDLE_TIMEOUT));
                g = lock(&self.inner);
            };
            self.publish(&g);
            if timed_out
                && g.q.startable() == 0
                && self.inbox.is_empty()
                && self.active(&g) > self.cfg.threads
            {
                break;
            }
        }
        g.clocks.retain(|c| !Arc::ptr_eq(c, &clock));
        g.threads -= 1;
        self.publish(&g);
        self.exit_cv.notify_all();
    }
}
