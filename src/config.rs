//! Validated context configuration and its documented defaults.

use std::time::Duration;

/// Workers kept per CPU by default. Past a couple per core the workers only contend for the
/// context lock (`make bench` sweeps 2 to 16 workers on the pool path); the pool grows past
/// *blocked* workers anyway, so the base count matters only for fast work.
pub const DEFAULT_THREADS_PER_CPU: u32 = 2;
/// Bounds on the default idle worker count (the default is 2 per CPU, clamped to these).
pub const DEFAULT_THREADS_MIN: u32 = 4;
/// See [`DEFAULT_THREADS_MIN`].
pub const DEFAULT_THREADS_MAX: u32 = 64;
/// Default cap on workers while some are blocked in slow syscalls.
pub const DEFAULT_MAX_THREADS: u32 = 128;
/// Default bound on requests submitted and not yet delivered.
pub const DEFAULT_QUEUE_DEPTH: u32 = 1024;
/// Default budget of bytes of caller data (read buffers, write copies) held in library
/// memory at once, per context.
pub const DEFAULT_BUFFER_BUDGET_KIB: u32 = 64 * 1024;
/// Largest accepted `threads` / `max_threads`.
pub const LIMIT_THREADS: u32 = 4096;
/// Largest accepted `queue_depth`.
pub const LIMIT_QUEUE_DEPTH: u32 = 1 << 24;
/// Default blocked threshold: a filesystem with a call asleep in its syscall this long is
/// marked blocked (see `fair::marking`). Far longer than the pool's stuck threshold (5 ms):
/// marking takes all of a filesystem's workers off the budget (and, with fail-fast, refuses
/// its new calls), so a fast open that sleeps a moment (a lock, the descriptor table
/// growing, or under valgrind its big lock, seen to hold fast opens past 50 ms) must not do
/// it; a dead server hangs for seconds.
pub const DEFAULT_BLOCKED_MS: u32 = 200;
/// Accepted blocked thresholds: 10 ms (twice the stuck threshold at which the pool starts to
/// grow past a worker, and below the watchdog's re-check tick) to 10 minutes.
pub const MIN_BLOCKED_MS: u32 = 10;
/// See [`MIN_BLOCKED_MS`].
pub const MAX_BLOCKED_MS: u32 = 600_000;

/// How a context is set up. Build one with [`Config::default`] and adjust, then
/// [`Config::validate`]; zero fields mean "the default", as in the C options struct.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Workers kept alive when idle (0 = default).
    pub threads: u32,
    /// Cap the pool may grow to while workers are blocked (0 = default).
    pub max_threads: u32,
    /// Max requests submitted and not yet delivered (0 = default).
    pub queue_depth: u32,
    /// Requests unfinished this long after submit complete with `ETIMEDOUT` (None = never).
    pub timeout: Option<Duration>,
    /// Signal this caller-owned eventfd instead of an own one.
    pub eventfd: Option<i32>,
    /// Most syscalls of one filesystem in progress at once (0 = default: half of
    /// `max_threads`, or all of it without attribution).
    pub per_mount_threads: u32,
    /// Do not attribute requests to filesystems: they all count against one share.
    pub no_mounts: bool,
    /// Never complete a call on the caller's thread (the `_nowait` calls always `EAGAIN`).
    pub no_inline: bool,
    /// Complete new requests of a filesystem marked blocked at once with `EHOSTDOWN`
    /// (closes and fsyncs asked to wait excepted: see `Op::fails_fast`).
    pub fail_fast: bool,
    /// Most KiB of caller data held in library memory at once (0 = default).
    pub buffer_budget_kib: u32,
    /// A filesystem with a call asleep in its syscall this many ms is marked blocked (0 =
    /// default, [`DEFAULT_BLOCKED_MS`]; else [`MIN_BLOCKED_MS`] to [`MAX_BLOCKED_MS`]).
    pub blocked_ms: u32,
}

/// A configuration with every default filled in and every bound checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub threads: usize,
    pub max_threads: usize,
    pub queue_depth: usize,
    pub timeout: Option<Duration>,
    pub eventfd: Option<i32>,
    pub per_mount_threads: usize,
    pub no_mounts: bool,
    pub no_inline: bool,
    pub fail_fast: bool,
    /// Bytes.
    pub buffer_budget: usize,
    /// The blocked threshold: how long a call sleeps in its syscall before its filesystem is
    /// marked blocked.
    pub blocked: Duration,
}

/// The default per-filesystem share: half the pool's cap (at least 1), so that one dead one
/// leaves at least half of the workers to every other.
pub fn default_per_mount(max_threads: usize) -> usize {
    (max_threads / 2).max(1)
}

/// The default number of idle workers on this machine.
pub fn default_threads() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    (cpus.saturating_mul(DEFAULT_THREADS_PER_CPU)).clamp(DEFAULT_THREADS_MIN, DEFAULT_THREADS_MAX)
}

impl Config {
    /// Fills in defaults and checks bounds; `Err(EINVAL)` for an inconsistent or
    /// out-of-range configuration.
    pub fn validate(&self) -> Result<Resolved, i32> {
        if self.threads > LIMIT_THREADS
            || self.max_threads > LIMIT_THREADS
            || self.queue_depth > LIMIT_QUEUE_DEPTH
            || (self.blocked_ms != 0 && !(MIN_BLOCKED_MS..=MAX_BLOCKED_MS).contains(&self.blocked_ms))
        {
            return Err(libc::EINVAL);
        }
        if self.threads != 0 && self.max_threads != 0 && self.max_threads < self.threads {
            return Err(libc::EINVAL);
        }
        let max_threads = match self.max_threads {
            0 => DEFAULT_MAX_THREADS.max(self.threads),
            m => m,
        };
        if self.per_mount_threads > max_threads {
            return Err(libc::EINVAL);
        }
        // A defaulted thread count never exceeds an explicit, smaller cap.
        let threads = match self.threads {
            0 => default_threads().min(max_threads),
            t => t,
        };
        Ok(Resolved {
            threads: threads as usize,
            max_threads: max_threads as usize,
            queue_depth: match self.queue_depth {
                0 => DEFAULT_QUEUE_DEPTH as usize,
                d => d as usize,
            },
            timeout: self.timeout,
            eventfd: self.eventfd,
            per_mount_threads: match self.per_mount_threads {
                0 if self.no_mounts => max_threads as usize,
                0 => default_per_mount(max_threads as usize),
                n => n as usize,
            },
            no_mounts: self.no_mounts,
            no_inline: self.no_inline,
            fail_fast: self.fail_fast,
            buffer_budget: match self.buffer_budget_kib {
                0 => DEFAULT_BUFFER_BUDGET_KIB as usize,
                k => k as usize,
            } * 1024,
            blocked: Duration::from_millis(u64::from(match self.blocked_ms {
                0 => DEFAULT_BLOCKED_MS,
                b => b,
            })),
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_defaults() {
        let r = Config::default().validate().unwrap();
        assert_eq!(r.threads as u32, default_threads());
        assert!(r.max_threads >= r.threads && r.max_threads >= DEFAULT_MAX_THREADS as usize);
        assert_eq!(r.queue_depth, DEFAULT_QUEUE_DEPTH as usize);
        assert_eq!(r.timeout, None);
        assert_eq!(r.per_mount_threads, r.max_threads / 2);
        assert_eq!(r.blocked, Duration::from_millis(DEFAULT_BLOCKED_MS.into()));
    }

    #[test]
    fn blocked_threshold_within_its_range() {
        for ms in [MIN_BLOCKED_MS, 25, MAX_BLOCKED_MS] {
            let r = Config { blocked_ms: ms, ..Default::default() }.validate().unwrap();
            assert_eq!(r.blocked, Duration::from_millis(ms.into()));
        }
        for ms in [1, MIN_BLOCKED_MS - 1, MAX_BLOCKED_MS + 1, u32::MAX] {
            assert_eq!(Config { blocked_ms: ms, ..Default::default() }.validate(), Err(libc::EINVAL), "{ms}");
        }
    }

    #[test]
    fn per_mount_share_within_the_cap() {
        let c = Config { max_threads: 8, per_mount_threads: 9, ..Default::default() };
        assert_eq!(c.validate(), Err(libc::EINVAL));
        let r = Config { max_threads: 8, per_mount_threads: 8, ..Default::default() }.validate().unwrap();
        assert_eq!(r.per_mount_threads, 8);
        let r = Config { max_threads: 1, ..Default::default() }.validate().unwrap();
        assert_eq!(r.per_mount_threads, 1, "never a share of zero");
        let r = Config { max_threads: 8, no_mounts: true, ..Default::default() }.validate().unwrap();
        assert_eq!(r.per_mount_threads, 8, "one share for everything: the whole pool");
    }

    #[test]
    fn rejects_inconsistent() {
        let c = Config { threads: 8, max_threads: 4, ..Default::default() };
        assert_eq!(c.validate(), Err(libc::EINVAL));
        let c = Config { queue_depth: LIMIT_QUEUE_DEPTH + 1, ..Default::default() };
        assert_eq!(c.validate(), Err(libc::EINVAL));
        let c = Config { threads: LIMIT_THREADS + 1, ..Default::default() };
        assert_eq!(c.validate(), Err(libc::EINVAL));
    }

    #[test]
    fn explicit_small_cap_wins_over_default_threads() {
        let r = Config { max_threads: 1, ..Default::default() }.validate().unwrap();
        assert_eq!((r.threads, r.max_threads), (1, 1));
        let r = Config { threads: 2, max_threads: 2, ..Default::default() }.validate().unwrap();
        assert_eq!((r.threads, r.max_threads), (2, 2));
    }
}
