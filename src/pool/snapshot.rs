//! What a context reports of its pool (`Context::stats`, `Context::blocked_mounts`): a
//! [`Snapshot`] of the pool and its counters, the thread counts, the blocked filesystems.
//! Each is read under the pool lock, as one critical section.

use crate::fair::abandoned::{abandoned_cap, abandoned_in_process};
use crate::pool::shared::Shared;
use crate::queue::requests::MountReport;
use crate::stats::Counters;
use crate::sync::Arc;
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

impl<T: Send + 'static> Shared<T> {
    /// The pool and its counters now.
    pub(crate) fn snapshot(self: &Arc<Self>) -> Snapshot {
        let g = self.lock();
        let t = &g.q;
        let mut counters = *t.counters();
        let (submitted, delivered, cancelled) = self.inline.counts();
        counters.submitted += submitted;
        counters.inline += submitted;
        counters.delivered += delivered;
        counters.cancelled += cancelled;
        Snapshot {
            counters,
            queued: t.queued(),
            queued_over_share: t.queued() - t.startable(),
            running: t.running(),
            threads: self.alive(&g),
            idle: g.parking.idle(),
            abandoned: t.abandoned(),
            peak_threads: g.peak_threads.max(self.alive(&g)),
            mounts: t.mounts(),
            per_mount_threads: t.share(),
            process_abandoned: abandoned_in_process(),
            abandoned_cap: abandoned_cap(),
            blocked_running: t.blocked_running(),
            buffer_bytes: t.held_bytes() + self.admission.pending_bytes(),
            abandoned_buffer_bytes: t.abandoned_bytes(),
        }
    }

    /// Worker threads alive now, and the most ever alive.
    pub(crate) fn threads(self: &Arc<Self>) -> (usize, usize) {
        let g = self.lock();
        (self.alive(&g), g.peak_threads.max(self.alive(&g)))
    }

    /// See `Context::blocked_mounts`.
    pub(crate) fn blocked_mounts(self: &Arc<Self>, min_age: Duration) -> Vec<MountReport> {
        self.lock().q.blocked_mounts(Instant::now(), min_age)
    }
}
