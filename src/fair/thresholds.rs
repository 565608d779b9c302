//! When the pool grows past stuck workers and when a filesystem is marked blocked: the
//! timing side of fairness (see the pool docs).

use std::time::Duration;

/// Queued work must have waited this long before the pool considers growing.
pub const WAIT_THRESHOLD: Duration = Duration::from_millis(2);
/// A worker whose current syscall has run this long counts as blocked.
pub const STUCK_THRESHOLD: Duration = Duration::from_millis(5);
/// A filesystem with a syscall asleep this long is marked blocked (see `fair::marking`). Far
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
/// How often the watchdog looks at the mount table for filesystems that left it, once a
/// mount-event request asked (see `queue::events`): a gone event comes at most this long
/// after the unmount.
pub const MOUNT_TICK: Duration = Duration::from_millis(50);
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
