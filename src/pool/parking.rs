//! Which idle worker takes the next piece of work: the spinning one, or a parked one woken
//! for it. The counts are exact (tokio's `num_notify` discipline): a submit *claims* one
//! idle worker for its request, and a claim is consumed exactly once, so no request counts
//! on a worker another request already claimed, and none is left with nobody coming.
//!
//! The counts are guarded by the pool's lock. Parked workers sleep on the [`Doorbell`],
//! which a submit rings without that lock: the loop's thread never sleeps on a lock a
//! worker can hold (a worker preempted inside its lock section would otherwise stall the
//! loop for a scheduler slice, tens of milliseconds on a loaded machine). A ring made
//! without the lock claims nothing here: the worker it wakes finds the inbox non-empty and
//! leaves its wait unclaimed ([`Unpark::Left`]), then takes the inbox in and hands the rest on.
//!
//! Invariants, checked in debug builds: `spin_claims <= spinning <= 1`, and
//! `idle + notified == parked` (a parked worker is either unclaimed, or claimed by a notify
//! that some parked worker will consume).

use crate::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::sync::Bell;
use std::time::Duration;

/// Whom a submit's request was handed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The spinning worker: it takes the work when its spin ends, with no wake-up.
    Spinner,
    /// A parked worker: the caller must notify one waiter.
    Parked,
    /// Nobody idle: a busy worker takes it when it finishes, or the pool starts one.
    Nobody,
}

/// What a parked worker does after its wait returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpark {
    /// It consumed a claim (its own notify or another's): go take the work.
    Claimed,
    /// It stops waiting unclaimed (timed out, or the pool shut down).
    Left,
    /// A spurious wake-up: wait again, still idle.
    Stay,
}

/// The idle workers of one pool.
#[derive(Debug, Default)]
pub struct Parking {
    /// Parked workers no submit has claimed.
    idle: usize,
    /// Claims of parked workers not yet consumed by one waking.
    notified: usize,
    /// Workers waiting on the pool's condition variable.
    parked: usize,
    /// Workers spinning for work before they park (at most one), and whether a submit
    /// claimed it.
    spinning: usize,
    spin_claims: usize,
}

impl Parking {
    fn check(&self) {
        debug_assert!(self.spin_claims <= self.spinning && self.spinning <= 1, "{self:?}");
        debug_assert_eq!(self.idle + self.notified, self.parked, "{self:?}");
    }

    /// Hands a new request to an idle worker, if one is unclaimed: the spinner first (no
    /// wake-up needed), then a parked one.
    pub fn claim(&mut self) -> Claim {
        let claim = if self.spinning > self.spin_claims {
            self.spin_claims += 1;
            Claim::Spinner
        } else if self.idle > 0 {
            self.idle -= 1;
            self.notified += 1;
            Claim::Parked
        } else {
            Claim::Nobody
        };
        self.check();
        claim
    }

    /// A worker with nothing to do asks to spin; only one spins at a time.
    pub fn start_spin(&mut self) -> bool {
        // Counters here and in `queue::requests`/`fair::shares` move by explicit branches, never by
        // `n += usize::from(flag)`: rustc 1.95 at opt-level 2 compiled this function written
        // that way to code that never stored the increment (rust-lang/rust#158206).
        if self.spinning > 0 {
            return false;
        }
        self.spinning = 1;
        self.check();
        true
    }

    /// The spinner stops (the lock held again): a claim on it is used up, since it looks for
    /// work next.
    pub fn end_spin(&mut self) {
        debug_assert_eq!(self.spinning, 1);
        if self.spin_claims > 0 {
            self.spin_claims -= 1;
        }
        self.spinning -= 1;
        self.check();
    }

    /// A worker is about to wait for work.
    pub fn park(&mut self) {
        self.idle += 1;
        self.parked += 1;
        self.check();
    }

    /// A parked worker's wait returned; `leave` if it would stop waiting unclaimed (timed
    /// out, or shut down). A pending claim is consumed first, whichever worker it woke.
    pub fn unpark(&mut self, leave: bool) -> Unpark {
        let r = if self.notified > 0 {
            self.notified -= 1;
            self.parked -= 1;
            Unpark::Claimed
        } else if leave {
            self.idle -= 1;
            self.parked -= 1;
            Unpark::Left
        } else {
            Unpark::Stay
        };
        self.check();
        r
    }

    /// Idle workers no request has claimed (parked or spinning).
    pub fn unclaimed(&self) -> usize {
        self.idle + (self.spinning - self.spin_claims)
    }

    /// Parked workers no request has claimed.
    pub fn parked_unclaimed(&self) -> usize {
        self.idle
    }

    /// The spinning worker, if no request has claimed it (0 or 1).
    pub fn spinning_unclaimed(&self) -> usize {
        self.spinning - self.spin_claims
    }

    /// [`Self::parked_unclaimed`] and [`Self::spinning_unclaimed`] in one call (the pool's
    /// hints).
    pub fn unclaimed_parked_spinning(&self) -> (usize, usize) {
        (self.parked_unclaimed(), self.spinning_unclaimed())
    }

    /// Idle workers, claimed or not (parked or spinning).
    pub fn idle(&self) -> usize {
        self.parked + self.spinning
    }
}

/// What parked workers sleep on, and the rings made without the pool lock that no worker
/// has answered yet (so a burst of submits wakes one worker per parked one, not one each).
#[derive(Debug, Default)]
pub struct Doorbell {
    bell: Bell,
    unanswered: AtomicUsize,
}

impl Doorbell {
    /// A submit, without the lock, after its push and a `SeqCst` fence: wakes a parked
    /// worker if `parked` (the published count of parked unclaimed workers) is more than
    /// the rings not yet answered. Returns whether it rang; if not, a worker already on
    /// its way takes the push in with the others.
    pub fn ring_unlocked(&self, parked: usize) -> bool {
        if parked <= self.unanswered.load(SeqCst) {
            return false;
        }
        self.unanswered.fetch_add(1, SeqCst);
        self.bell.ring(1);
        true
    }

    /// Wakes the parked worker a [`Claim::Parked`] chose (lock held).
    pub fn ring_claimed(&self) {
        self.bell.ring(1);
    }

    /// Wakes every parked worker (shutdown; a safety net).
    pub fn ring_all(&self) {
        self.bell.ring(i32::MAX);
    }

    /// What a worker about to sleep reads while it still holds the lock (after
    /// [`Parking::park`] and its last look at the inbox), for [`Self::sleep`].
    pub fn count(&self) -> u32 {
        self.bell.count()
    }

    /// Sleeps, the lock released, until rung after `count` was read or `timeout` runs out
    /// (false); may return early. Answers one ring made without the lock, whichever woke it.
    pub fn sleep(&self, count: u32, timeout: Option<Duration>) -> bool {
        let woke = self.bell.sleep(count, timeout);
        let _ = self.unanswered.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        woke
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_claim_is_consumed_once_by_whichever_worker_wakes() {
        let mut p = Parking::default();
        p.park();
        p.park();
        assert_eq!(p.claim(), Claim::Parked);
        // The other worker wakes spuriously first and takes the claim; the notified one
        // then finds none and keeps waiting.
        assert_eq!(p.unpark(false), Unpark::Claimed);
        assert_eq!(p.unpark(false), Unpark::Stay);
        assert_eq!(p.claim(), Claim::Parked);
        assert_eq!(p.claim(), Claim::Nobody, "one parked worker, already claimed");
        assert_eq!(p.unpark(true), Unpark::Claimed, "a timeout after a notify still takes it");
        assert_eq!((p.unclaimed(), p.idle()), (0, 0));
    }

    #[test]
    fn the_spinner_is_claimed_before_any_parked_worker_and_only_once() {
        let mut p = Parking::default();
        p.park();
        assert!(p.start_spin());
        assert!(!p.start_spin(), "one spinner at a time");
        assert_eq!(p.unclaimed(), 2);
        assert_eq!(p.claim(), Claim::Spinner);
        assert_eq!(p.claim(), Claim::Parked);
        assert_eq!(p.claim(), Claim::Nobody);
        p.end_spin();
        assert_eq!(p.unpark(true), Unpark::Claimed);
        assert_eq!(p.idle(), 0);
        p.park();
        assert_eq!(p.unpark(true), Unpark::Left);
    }
}
