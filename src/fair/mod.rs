//! Fairness between filesystems: per-filesystem shares and the blocked budget ([`shares`]),
//! the process-wide cap on abandoned workers ([`abandoned`]), and the thresholds
//! of growth and blocked marking ([`thresholds`]).

pub mod abandoned;
pub mod shares;
pub mod thresholds;
