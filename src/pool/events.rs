//! Mount events, the pool's side (see `queue::events`): a mount-event request's way in
//! ([`Shared::submit_mount_event`], under the lock: it is rare, and may complete at once),
//! and the watchdog's look at the mount table for filesystems that left it
//! ([`Shared::check_mounts`]).

use crate::fair::thresholds::MOUNT_TICK;
use crate::pool::shared::{Inner, Shared};
use crate::queue::ids::Id;
use crate::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl<T: Send + 'static> Shared<T> {
    /// Queues a mount-event request: it completes with the next change of a filesystem's
    /// state (at once if one waits). `Err`, with nothing queued: `ESHUTDOWN`, `EAGAIN` (the
    /// depth is reached), `EBUSY` (another waits).
    pub(crate) fn submit_mount_event(self: &Arc<Self>, token: T) -> Result<Id, (i32, T)> {
        if self.closed.load(Ordering::SeqCst) {
            return Err((libc::ESHUTDOWN, token));
        }
        let id = match self.admission.admit(0, false) {
            Ok(id) => id,
            Err(e) => return Err((e, token)),
        };
        let mut g = self.lock();
        if let Err((e, token)) = g.q.ingest_mount_event(id, token, Instant::now()) {
            self.admission.refuse(id, 0);
            self.publish(&g);
            return Err((e, token));
        }
        self.admission.taken_in(0);
        // From now on the watchdog looks at the mount table every MOUNT_TICK.
        self.wake_watchdog_by(&mut g, Instant::now() + MOUNT_TICK);
        self.woke(&mut g);
        Ok(id)
    }

    /// Hands the current mount table to the table's mount events (lock held), once a
    /// mount-event request asked: filesystems the context saw that left it are gone. The
    /// table is polled for a change at most once a millisecond (see `fs::watch`); a read of
    /// /proc/self/mountinfo never waits on a filesystem.
    pub(super) fn check_mounts(&self, g: &mut Inner<T>) {
        if g.q.watches_mounts() {
            g.q.check_mounts(&crate::fs::current());
        }
    }

    /// When the watchdog must look at the mount table next: every [`MOUNT_TICK`] once a
    /// mount-event request asked.
    pub(super) fn next_mount_check(g: &Inner<T>, now: Instant) -> Option<Instant> {
        g.q.watches_mounts().then_some(now + MOUNT_TICK)
    }
}
