//! Fairness between filesystems: per-filesystem shares and the blocked budget ([`shares`]),
//! which filesystems count as blocked ([`marking`]), the process-wide cap on abandoned
//! workers ([`abandoned`]), the thresholds of growth and blocked marking ([`thresholds`]), and
//! the blocked filesystems published for readers without the pool lock ([`blocked_hint`]).

pub mod abandoned;
pub mod blocked_hint;
pub mod marking;
pub mod shares;
pub mod thresholds;

/// A request id as the scheduler keeps it: the queue's `Id` (a `u64`), named here so that
/// fair/ stores and compares ids without depending on the queue that issues them.
pub type ReqId = u64;
