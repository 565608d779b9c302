//! Who is woken, and when: a worker for work a submit or a take-in left startable (the
//! spinner, a parked one, or a new one), the watchdog by a time or at once, and how many more
//! workers the pool may start at the abandoned-worker cap.

use crate::fair::abandoned::at_abandoned_cap;
use crate::fair::thresholds::*;
use crate::pool::parking::Claim;
use crate::pool::shared::{Inner, Shared};
use crate::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl<T: Send + 'static> Shared<T> {
    /// After a submit: hands the work to an idle worker, or starts one while below
    /// `threads`, or lets the watchdog decide about growth. `Err` only when the pool has no
    /// thread at all and none could be started.
    pub(crate) fn kick(self: &Arc<Self>, g: &mut Inner<T>) -> Result<(), i32> {
        let r = self.hand_on(g);
        self.publish(g);
        r
    }

    pub(super) fn hand_on(self: &Arc<Self>, g: &mut Inner<T>) -> Result<(), i32> {
        if Self::hold_at_cap(g) {
            self.wake_watchdog_by(g, Instant::now() + RECHECK_TICK);
        }
        if g.q.startable() == 0 {
            return Ok(()); // it waits for its mount's share, held by running workers
        }
        match g.parking.claim(&self.doorbell) {
            Claim::Spinner => return Ok(()), // it takes the work when its spin ends
            Claim::Parked => return Ok(()),  // rung awake
            Claim::Nobody => {}
        }
        if self.active(g) < self.cfg.threads && self.room(g) > 0 && self.spawn_worker(g).is_ok() {
            return Ok(());
        }
        if self.alive(g) == 0 {
            return Err(libc::EAGAIN);
        }
        let by = Instant::now() + WAIT_THRESHOLD;
        self.wake_watchdog_by(g, by);
        Ok(())
    }

    /// Sets when the watchdog looks next by itself, and publishes it (`SeqCst`: see the
    /// module docs).
    pub(super) fn set_watchdog_next(&self, g: &mut Inner<T>, next: Option<Instant>) {
        g.watchdog_next = next;
        self.watchdog_hint.store(next.map_or(u64::MAX, |t| self.since_epoch(t)), Ordering::SeqCst);
    }

    /// Makes sure the watchdog runs no later than `by`.
    pub(crate) fn wake_watchdog_by(&self, g: &mut Inner<T>, by: Instant) {
        if g.watchdog_next.map_or(true, |next| next > by) {
            self.set_watchdog_next(g, Some(by));
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
            let outside_blocked = g.threads - g.q.blocked_running().min(g.threads);
            self.cfg.threads.saturating_sub(outside_blocked)
        } else {
            self.cfg.max_threads.saturating_sub(self.active(g))
        }
    }

    /// Holds blocked filesystems' work back while the process is at the abandoned-worker
    /// cap, and lets it go below (lock held: before anything counts or takes startable
    /// work). Returns whether work is held: then the watchdog must look again within a
    /// [`RECHECK_TICK`], for the cap may lift in another context, which tells nobody here.
    pub(super) fn hold_at_cap(g: &mut Inner<T>) -> bool {
        g.q.hold_blocked(at_abandoned_cap());
        g.q.held() > 0
    }

    /// Has the watchdog look again now (lock held).
    pub(super) fn wake_watchdog(&self, g: &mut Inner<T>) {
        g.watchdog_woken = true;
        self.watchdog_bell.ring(1);
    }

    /// Makes sure the watchdog runs no later than `by`, without the lock (a submit's): an
    /// earlier ask stands, and the watchdog is rung only when this one is earlier than both
    /// it and the round the watchdog published.
    pub(super) fn ask_watchdog_by(&self, by: Instant) {
        let at = self.since_epoch(by);
        if self.watchdog_hint.load(Ordering::SeqCst) <= at {
            return;
        }
        if self.watch_by.fetch_min(at, Ordering::SeqCst) > at {
            self.watchdog_bell.ring(1);
        }
    }

    /// What [`Self::ask_watchdog_by`] asked since the watchdog last took it (lock held, by
    /// the watchdog).
    pub(super) fn take_watch_by(&self) -> Option<Instant> {
        match self.watch_by.swap(u64::MAX, Ordering::SeqCst) {
            u64::MAX => None,
            at => Some(self.epoch + std::time::Duration::from_nanos(at - 1)),
        }
    }
}
