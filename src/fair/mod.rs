//! Fairness between filesystems: per-filesystem shares and the blocked budget ([`shares`]),
//! the process-wide cap on abandoned workers ([`abandoned`]).

pub mod abandoned;
pub mod shares;
