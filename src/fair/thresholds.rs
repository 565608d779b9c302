//! When the pool grows past stuck workers and when a filesystem is marked blocked: the
//! timing side of fairness (see the pool docs).

use std::time::Duration;

/// Queued work must have waited this long before the pool considers growing.
pub const WAIT_THRESHOLD: Duration = Duration::from_millis(2);
/// A worker whose current syscall has run this long counts as blocked.
pub const STUCK_THRESHOLD: Duration = Duration::from_millis(5);
// A filesystem with a syscall asleep for the context's blocked threshold is marked blocked
// (see `fair::marking`): `Resolved::blocked`, the `blocked_ms` option, by default
// `config::DEFAULT_BLOCKED_MS`. The ticks below do not follow it: they are about the pool's
// growth and its re-checks, not about when a filesystem counts as blocked.
/// How often the watchdog re-checks growth while startable work is queued and the pool has
/// room to grow.
pub const GROW_TICK: Duration = Duration::from_millis(2);
/// How often it looks again at what it cannot act on yet: a syscall past the blocked
/// threshold that the kernel does not report asleep, or a blocked filesystem's
/// work held at the abandoned-worker cap (which another context may lift).
pub const RECHECK_TICK: Duration = Duration::from_millis(20);
/// How often the watchdog looks at the mount table for filesystems that left it, once a
/// mount-event request asked (see `queue::events`): a gone event comes at most this long
/// after the unmount.
pub const MOUNT_TICK: Duration = Duration::from_millis(50);
/// The longest a startable request of a filesystem not blocked waits for a worker while
/// workers are stuck (from when it is submitted, or from when the oldest stuck syscall
/// started if that is later), besides creating the thread and the scheduler's latency, in a
/// context whose blocked threshold is `blocked`: the watchdog marks that syscall's
/// filesystem blocked once it is `blocked` old (a [`RECHECK_TICK`] later if the kernel did
/// not yet report it asleep), which takes its workers off the budget, and grows the pool on
/// its next [`GROW_TICK`], the request having waited [`WAIT_THRESHOLD`]. It needs no further
/// submit: the watchdog keeps a round scheduled for every running syscall of a filesystem not
/// marked (see `Shared::next_round`). At the abandoned-worker cap the same holds (see
/// `Shared::room`).
pub const fn healthy_wait_bound(blocked: Duration) -> Duration {
    blocked.saturating_add(RECHECK_TICK).saturating_add(WAIT_THRESHOLD).saturating_add(GROW_TICK)
}
/// [`healthy_wait_bound`] with the default blocked threshold (225 ms).
pub const HEALTHY_WAIT_BOUND: Duration =
    healthy_wait_bound(Duration::from_millis(crate::config::DEFAULT_BLOCKED_MS as u64));
