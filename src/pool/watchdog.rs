//! The watchdog: one thread per context that enforces deadlines, marks blocked filesystems
//! and grows the pool past blocked workers (see the pool docs).

use crate::fair::thresholds::*;
use crate::pool::shared::{Inner, Shared};
use crate::queue::ids::Id;
use crate::sync::atomic::fence;
use crate::sync::{lock, Arc};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl<T: Send + 'static> Shared<T> {
    pub(super) fn watchdog(self: Arc<Self>) {
        let mut g = self.lock();
        loop {
            if g.q.is_closed() && g.q.queued() == 0 {
                // Shut down, and no owed close waits: the workers finish what runs.
                break;
            }
            let now = Instant::now();
            g.q.expire(now);
            self.woke_unpublished(&mut g); // published once, below, before it looks at the inbox
            Self::hold_at_cap(&mut g);
            self.mark_blocked(&mut g, now);
            self.check_mounts(&mut g);
            self.woke_unpublished(&mut g); // mount events the marking or the table completed
            self.grow(&mut g, now);
            let next = self.next_round(&g, now);
            self.set_watchdog_next(&mut g, next);
            g.watchdog_woken = false;
            self.publish(&g);
            // Published before looking: a submit that read the old hint (and so took no lock)
            // is seen here (see `shared`).
            fence(Ordering::SeqCst);
            if !self.inbox.is_empty() {
                self.refresh(&mut g, 0);
                continue;
            }
            // Sleep, with the lock released, until woken, the next deadline, or the time a
            // submit asked for without the lock.
            let mut next = next;
            while !g.watchdog_woken {
                // Read before the submits' ask is taken: an ask after it rings past it.
                let count = self.watchdog_bell.count();
                if let Some(asked) = self.take_watch_by() {
                    if next.map_or(true, |n| n > asked) {
                        next = Some(asked);
                        self.set_watchdog_next(&mut g, next);
                    }
                }
                let left = next.map(|t| t.saturating_duration_since(Instant::now()));
                if left.is_some_and(|l| l.is_zero()) {
                    break;
                }
                drop(g);
                self.watchdog_bell.sleep(count, left);
                g = lock(&self.inner);
            }
            self.refresh(&mut g, 0);
        }
        g.watchdog_alive = false;
        self.exit_cv.notify_all();
    }

    /// When the watchdog must look again by itself (None: only when woken). Besides
    /// timeouts: while startable work waits and the pool has room, every [`GROW_TICK`];
    /// while a syscall runs on a filesystem not marked blocked, once it could be marked
    /// (every [`RECHECK_TICK`] once it is old enough but not asleep), whether or not work
    /// waits, since marking is what makes room in a pool full of stuck workers; while the
    /// abandoned-worker cap holds work back, every [`RECHECK_TICK`]; once a mount-event
    /// request asked, every [`MOUNT_TICK`] (the mount table). So an idle context that never
    /// asked for mount events, or one whose only syscalls are stuck on filesystems already
    /// marked, never ticks.
    pub(super) fn next_round(&self, g: &Inner<T>, now: Instant) -> Option<Instant> {
        let t = &g.q;
        let grow = (t.startable() > 0 && self.room(g) > 0).then_some(now + GROW_TICK);
        let mark = t.oldest_unblocked_syscall().map(|s| match s + self.cfg.blocked {
            due if due > now => due,
            _ => now + RECHECK_TICK,
        });
        let held = (t.held() > 0).then_some(now + RECHECK_TICK);
        let mounts = Self::next_mount_check(g, now);
        [t.next_deadline(), grow, mark, held, mounts].into_iter().flatten().min()
    }

    /// Marks the filesystems whose syscalls are asleep in the kernel past the context's
    /// blocked threshold (`cfg.blocked`) as blocked (see `queue::requests`): their workers go off budget.
    pub(super) fn mark_blocked(&self, g: &mut Inner<T>, now: Instant) {
        let Some(since) = now.checked_sub(self.cfg.blocked) else { return };
        let clocks = &g.clocks;
        let asleep = |id: Id| {
            clocks.iter().find(|c| c.request.load(Ordering::Relaxed) == id).map_or(true, |c| c.asleep())
        };
        g.q.mark_blocked(since, asleep);
    }

    /// The growth policy (see the module docs).
    pub(super) fn grow(self: &Arc<Self>, g: &mut Inner<T>, now: Instant) {
        let waited = g.q.oldest_startable_wait(now);
        if waited.map_or(true, |w| w < WAIT_THRESHOLD) {
            return;
        }
        if g.parking.unclaimed(&self.doorbell) > 0 {
            // Work waits while a worker idles: every path that makes work startable hands
            // it to a worker, so this is a safety net, not a way work is meant to start.
            g.parking.claim(&self.doorbell);
            return;
        }
        let active = self.active(g);
        let room = self.room(g);
        if room == 0 {
            return;
        }
        // Workers on the budget stuck past STUCK_THRESHOLD and asleep there: off-budget ones
        // are not asked about (no /proc read for a dead filesystem's hundreds of workers).
        let since = self.since_epoch(now).saturating_sub(STUCK_THRESHOLD.as_nanos() as u64);
        let table = &g.q;
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
        for _ in 0..want.min(room).min(g.q.startable()) {
            if self.spawn_worker(g).is_err() {
                break;
            }
        }
    }
}
