//! Timeouts: which requests a timeout may still hit, and when the next one falls due.
//!
//! Every request has the same timeout, so the deadlines are in submit order: kept by the
//! request's submit sequence number, the first one tracked is always the next to expire.

use crate::queue::ids::Id;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The requests a timeout may still hit (queued ones, and running opens), by submit
/// sequence number.
#[derive(Debug)]
pub struct Deadlines {
    timeout: Option<Duration>,
    due: BTreeMap<u64, (Id, Instant)>,
}

impl Deadlines {
    /// Deadlines `timeout` after submit; None: nothing ever times out.
    pub fn new(timeout: Option<Duration>) -> Self {
        Deadlines { timeout, due: BTreeMap::new() }
    }

    /// Starts the clock of request `id`, the `seq`th submitted, at `submitted`.
    pub fn track(&mut self, seq: u64, id: Id, submitted: Instant) {
        if let Some(t) = self.timeout {
            self.due.insert(seq, (id, submitted + t));
        }
    }

    /// The `seq`th request can no longer time out (it completed, was cancelled, or is a
    /// running close).
    pub fn untrack(&mut self, seq: u64) {
        if self.timeout.is_some() {
            self.due.remove(&seq);
        }
    }

    /// Forgets every deadline.
    pub fn clear(&mut self) {
        self.due.clear();
    }

    /// When the next timeout falls due, if any request can still time out.
    pub fn next(&self) -> Option<Instant> {
        self.due.first_key_value().map(|(_, &(_, at))| at)
    }

    /// The next request whose deadline is at or before `now`, no longer tracked.
    pub fn pop_due(&mut self, now: Instant) -> Option<Id> {
        let (&seq, &(id, at)) = self.due.first_key_value()?;
        if at > now {
            return None;
        }
        self.due.remove(&seq);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_in_submit_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Deadlines::new(Some(ms(10)));
        d.track(1, 30, t0);
        d.track(2, 20, t0 + ms(5));
        d.track(3, 10, t0 + ms(6));
        d.untrack(2);
        assert_eq!(d.next(), Some(t0 + ms(10)));
        assert_eq!(d.pop_due(t0 + ms(9)), None);
        assert_eq!(d.pop_due(t0 + ms(20)), Some(30));
        assert_eq!(d.pop_due(t0 + ms(20)), Some(10));
        assert_eq!((d.pop_due(t0 + ms(20)), d.next()), (None, None));
        let mut never = Deadlines::new(None);
        never.track(1, 1, t0);
        assert_eq!(never.next(), None);
    }
}
