//! Shutdown: the context's free, and its release in a forked child.

use crate::fs::{self, FsId};
use crate::pool::shared::{Inner, Shared};
use crate::sync::atomic::fence;
use crate::sync::Arc;
use crate::sys;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl<T: Send + 'static> Shared<T> {
    /// Empties the hand-off at shutdown (no loop thread pops then: freeing a context is
    /// never concurrent with its other calls): the descriptors of opens nobody will receive,
    /// each with the filesystem its request was charged to (see `Outbox::drain` in `queue::handoff`).
    fn undelivered_fds(&self, g: &Inner<T>) -> Vec<(FsId, i32)> {
        let fds = self.outbox.drain(&g.q);
        self.inline.clear();
        let left = self.admission.undelivered();
        self.admission.delivered(left);
        fds
    }

    /// Releases, in a forked child, the child's copies of the descriptors the pool held:
    /// without waiting for the lock (its holder may not exist here) and without touching
    /// threads (none exist here). If the lock is taken, only the readiness fd is closed.
    pub(crate) fn release_in_forked_child(&self) {
        let mut fds = Vec::new();
        match self.inner.try_lock() {
            Ok(mut g) => {
                // No worker was pushing completions (they push with the lock held); the
                // inbox is left alone (a loop thread of the parent may have been pushing).
                let undelivered = self.undelivered_fds(&g);
                g.q.shutdown(Instant::now());
                fds = g.q.take_queued_owed();
                fds.extend(undelivered.into_iter().map(|(_, fd)| fd));
                self.outbox.readiness().close();
            }
            Err(_) => {
                if self.readiness_fd.1 {
                    fds.push(self.readiness_fd.0);
                }
            }
        }
        fds.into_iter().for_each(|fd| {
            crate::fs::forget_opened(fd); // (the child's next holder of the number is not charged there)
            sys::close_quietly(fd)
        });
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
        // Closed first, then the inbox taken in once more: a submit that pushed after the
        // take-in above reads `closed` after its push and takes its request in itself.
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.refresh(&mut g, 0);
        // No worker takes an output to place from here on; the ones placing finish (a copy
        // each, then a push, or a lock to give a completion back), before the caller's
        // memory is given back with the context.
        if self.placing.load(Ordering::SeqCst) > 0 {
            drop(g);
            self.wait_placed();
            g = self.lock();
        }
        let now = Instant::now();
        // Before the table forgets the handed-off requests: their filesystems.
        let undelivered = self.undelivered_fds(&g);
        g.q.shutdown(now);
        for (fs, fd) in undelivered {
            // A fast-path open's file is plain and local: closed here, as the fast path
            // would; any other is owed, charged to its own filesystem (a close behind a
            // hung one of another filesystem would wait for it).
            if fs != fs::UNKNOWN || crate::op::inline::close_nowait(fd) == Err(libc::EAGAIN) {
                g.q.owe_close(fs, fd, now);
            }
        }
        self.outbox.readiness().close();
        self.publish(&g);
        self.wake_watchdog(&mut g);
        self.doorbell.ring_all();
        self.ready_cv.notify_all();
        if g.q.queued() > 0 {
            // Owed closes wait: wake workers for them (the watchdog grows past hung ones).
            let _ = self.kick(&mut g);
            return;
        }
        // Let threads that are not inside a syscall leave, briefly, so that a context
        // freed while idle leaves no library thread behind.
        let until = Instant::now() + linger;
        while g.q.queued() == 0 && self.alive(&g) + usize::from(g.watchdog_alive) > g.q.running() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            g = self.exit_cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}
