//! Counters and latency histograms, kept under the context lock by the code that already
//! holds it at each event, so they cost a few increments and no atomics on the hot path.

use std::time::Duration;

/// Buckets in each histogram: bucket 0 counts durations under 2 us, bucket `i` (1..=30)
/// those in [2^i, 2^(i+1)) us, bucket 31 everything from 2^31 us (about 36 minutes) on.
pub const HIST_BUCKETS: usize = 32;

/// A histogram of durations in log2 microsecond buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram(pub [u64; HIST_BUCKETS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; HIST_BUCKETS])
    }
}

impl Histogram {
    /// The bucket for `d`.
    pub fn bucket(d: Duration) -> usize {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        (63 - (us | 1).leading_zeros() as usize).min(HIST_BUCKETS - 1)
    }

    pub fn record(&mut self, d: Duration) {
        self.0[Self::bucket(d)] += 1;
    }

    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Lifetime counters of one context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests accepted by submit.
    pub submitted: u64,
    /// Completions handed to the caller (by dispatch or reap).
    pub delivered: u64,
    /// Requests completed with `ECANCELED` by a cancel.
    pub cancelled: u64,
    /// Requests completed with `ETIMEDOUT` by the timeout.
    pub timed_out: u64,
    /// Closes the library queued for descriptors nobody could receive any more (see
    /// `queue::requests`): late descriptors of abandoned opens, dropped completions, and what a
    /// shutdown left.
    pub owed_closes: u64,
    /// Requests that completed on the submitting thread (the fast path; see `op::inline`).
    pub inline: u64,
    /// Mount events dropped because the queue of changes was full (see `queue::events`).
    pub mount_events_dropped: u64,
    /// How long requests waited between submit and a worker taking them.
    pub queue_wait: Histogram,
    /// How long their syscalls ran.
    pub service: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2_microseconds() {
        let b = |us| Histogram::bucket(Duration::from_micros(us));
        assert_eq!((b(0), b(1), b(2), b(3), b(4)), (0, 0, 1, 1, 2));
        assert_eq!((b(1023), b(1024)), (9, 10));
        assert_eq!(Histogram::bucket(Duration::from_nanos(900)), 0);
        assert_eq!(b(1 << 31), 31);
        assert_eq!(Histogram::bucket(Duration::from_secs(1 << 40)), 31);
        let mut h = Histogram::default();
        h.record(Duration::from_millis(3));
        h.record(Duration::from_millis(3));
        assert_eq!((h.0[11], h.count()), (2, 2));
    }
}
