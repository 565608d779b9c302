//! Which idle worker takes the next piece of work: the spinning one, or a parked one woken
//! for it. The counts are exact (tokio's `num_notify` discipline): a submit *claims* one
//! idle worker for its request, and a claim is consumed exactly once, so no request counts
//! on a worker another request already claimed, and none is left with nobody coming.
//!
//! A parked worker is claimed without the pool lock ([`Doorbell::claim`]: one atomic for
//! the unclaimed and the claimed-but-not-woken counts), and sleeps on the doorbell's bell,
//! which the claim rings: the loop's thread never sleeps on a lock a worker can hold (a
//! worker preempted inside its lock section would otherwise stall the loop for a scheduler
//! slice, tens of milliseconds on a loaded machine). Parking and unparking, and the
//! spinner's counts, happen under the lock ([`Parking`]).
//!
//! Invariants, checked in debug builds: `spin_claims <= spinning <= 1`, and
//! `idle + notified == parked` (a parked worker is either unclaimed, or claimed by a ring
//! that some parked worker will consume; a claim moves one from `idle` to `notified` in
//! one atomic step, so the sum holds at every moment).

use crate::sync::atomic::{AtomicU64, Ordering::SeqCst};
use crate::sync::Bell;
use std::time::Duration;

/// Whom a submit's request was handed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The spinning worker: it takes the work when its spin ends, with no wake-up.
    Spinner,
    /// A parked worker, rung awake.
    Parked,
    /// Nobody idle: a busy worker takes it when it finishes, or the pool starts one.
    Nobody,
}

/// What a parked worker does after its wait returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpark {
    /// It consumed a claim (its own ring or another's): go take the work.
    Claimed,
    /// It stops waiting unclaimed (timed out, or the pool shut down).
    Left,
    /// A spurious wake-up: wait again, still idle.
    Stay,
}

/// Parked workers' claims, and the bell they sleep on: shared with submits, which claim
/// and ring without the pool lock.
#[derive(Debug, Default)]
pub struct Doorbell {
    bell: Bell,
    /// `idle` (parked workers no submit has claimed) in the low 32 bits, `notified`
    /// (claims not yet consumed by a worker waking) in the high 32.
    claims: AtomicU64,
}

const NOTIFIED: u64 = 1 << 32;
const IDLE: u64 = 1;

fn idle_of(c: u64) -> usize {
    (c & (NOTIFIED - 1)) as usize
}

fn notified_of(c: u64) -> usize {
    (c >> 32) as usize
}

impl Doorbell {
    /// Claims a parked unclaimed worker, if there is one, and rings it awake: with or
    /// without the pool lock (a submit calls it after its push and a `SeqCst` fence).
    pub fn claim(&self) -> bool {
        let claimed = self
            .claims
            .fetch_update(SeqCst, SeqCst, |c| (idle_of(c) > 0).then(|| c - IDLE + NOTIFIED))
            .is_ok();
        if claimed {
            self.bell.ring(1);
        }
        claimed
    }

    /// Parked workers no submit has claimed.
    pub fn parked_unclaimed(&self) -> usize {
        idle_of(self.claims.load(SeqCst))
    }

    /// Claimed parked workers not yet woken: each is on its way to take one request.
    pub fn on_their_way(&self) -> usize {
        notified_of(self.claims.load(SeqCst))
    }

    /// Wakes every parked worker, claiming none (shutdown; a stray wake-up in the models).
    pub fn ring_all(&self) {
        self.bell.ring(i32::MAX);
    }

    /// Sleeps, the lock released, until rung after `count` ([`Parking::unpark`]'s) or
    /// `timeout` runs out (false); may return early.
    pub fn sleep(&self, count: u32, timeout: Option<Duration>) -> bool {
        self.bell.sleep(count, timeout)
    }
}

/// The idle workers of one pool, as the pool lock guards them.
#[derive(Debug, Default)]
pub struct Parking {
    /// Workers parked on the doorbell (claimed or not).
    parked: usize,
    /// Workers spinning for work before they park (at most one), and whether a submit
    /// claimed it.
    spinning: usize,
    spin_claims: usize,
}

impl Parking {
    fn check(&self, bell: &Doorbell) {
        debug_assert!(self.spin_claims <= self.spinning && self.spinning <= 1, "{self:?}");
        let c = bell.claims.load(SeqCst);
        debug_assert_eq!(idle_of(c) + notified_of(c), self.parked, "{self:?}");
    }

    /// Hands a new request to an idle worker, if one is unclaimed (lock held): the spinner
    /// first (no wake-up needed), then a parked one, rung awake.
    pub fn claim(&mut self, bell: &Doorbell) -> Claim {
        let claim = if self.spinning > self.spin_claims {
            self.spin_claims += 1;
            Claim::Spinner
        } else if bell.claim() {
            Claim::Parked
        } else {
            Claim::Nobody
        };
        self.check(bell);
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
    }

    /// A worker is about to sleep for work (lock held): it counts as idle from here, so a
    /// submit that pushes after the worker's next look at the inbox (after a `SeqCst`
    /// fence) claims it. Then [`Self::unpark`] says whether to sleep.
    pub fn park(&mut self, bell: &Doorbell) {
        self.parked += 1;
        bell.claims.fetch_add(IDLE, SeqCst);
        self.check(bell);
    }

    /// A parked worker looks (lock held), before its first sleep and after each; `leave`
    /// if it would stop waiting unclaimed (timed out, shut down, or work in the inbox). A
    /// pending claim is consumed first, whichever worker it woke. On [`Unpark::Stay`],
    /// sleep on the count returned with it: read before the claims were, so a claim made
    /// after this look rings past it.
    pub fn unpark(&mut self, bell: &Doorbell, leave: bool) -> (Unpark, u32) {
        let count = bell.bell.count();
        let r = match bell.claims.fetch_update(SeqCst, SeqCst, |c| {
            if notified_of(c) > 0 {
                Some(c - NOTIFIED)
            } else if leave && idle_of(c) > 0 {
                Some(c - IDLE)
            } else {
                None
            }
        }) {
            Ok(c) if notified_of(c) > 0 => Unpark::Claimed,
            Ok(_) => Unpark::Left,
            Err(_) => Unpark::Stay,
        };
        if r != Unpark::Stay {
            self.parked -= 1;
        }
        self.check(bell);
        (r, count)
    }

    /// Idle workers no request has claimed (parked or spinning).
    pub fn unclaimed(&self, bell: &Doorbell) -> usize {
        bell.parked_unclaimed() + (self.spinning - self.spin_claims)
    }

    /// The spinning worker, if no request has claimed it (0 or 1).
    pub fn spinning_unclaimed(&self) -> usize {
        self.spinning - self.spin_claims
    }

    /// Idle workers, claimed or not (parked or spinning).
    pub fn idle(&self) -> usize {
        self.parked + self.spinning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_claim_is_consumed_once_by_whichever_worker_wakes() {
        let (mut p, b) = (Parking::default(), Doorbell::default());
        p.park(&b);
        p.park(&b);
        assert_eq!(p.claim(&b), Claim::Parked);
        // The other worker wakes spuriously first and takes the claim; the rung one then
        // finds none and keeps waiting.
        assert_eq!(p.unpark(&b, false).0, Unpark::Claimed);
        assert_eq!(p.unpark(&b, false).0, Unpark::Stay);
        assert!(b.claim(), "a claim without the lock");
        assert!(!b.claim(), "one parked worker, already claimed");
        assert_eq!(p.claim(&b), Claim::Nobody);
        assert_eq!(p.unpark(&b, true).0, Unpark::Claimed, "a timeout after a ring still takes it");
        assert_eq!((p.unclaimed(&b), p.idle()), (0, 0));
    }

    #[test]
    fn the_spinner_is_claimed_before_any_parked_worker_and_only_once() {
        let (mut p, b) = (Parking::default(), Doorbell::default());
        p.park(&b);
        assert!(p.start_spin());
        assert!(!p.start_spin(), "one spinner at a time");
        assert_eq!(p.unclaimed(&b), 2);
        assert_eq!(p.claim(&b), Claim::Spinner);
        assert_eq!(p.claim(&b), Claim::Parked);
        assert_eq!(p.claim(&b), Claim::Nobody);
        p.end_spin();
        assert_eq!(p.unpark(&b, true).0, Unpark::Claimed);
        assert_eq!(p.idle(), 0);
        p.park(&b);
        assert_eq!(p.unpark(&b, true).0, Unpark::Left);
    }

    #[test]
    fn a_claim_after_the_look_ends_the_sleep() {
        let (mut p, b) = (Parking::default(), Doorbell::default());
        p.park(&b);
        let (r, count) = p.unpark(&b, false);
        assert_eq!(r, Unpark::Stay);
        assert!(b.claim());
        assert!(b.sleep(count, Some(Duration::from_secs(30))), "rung past the count: no sleep");
        assert_eq!(p.unpark(&b, false).0, Unpark::Claimed);
    }
}
