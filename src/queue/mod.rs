//! One context's requests and their delivery: the request state machine ([`requests`]),
//! which the pool calls directly under its lock, with timeouts ([`deadlines`]) and where
//! requests live ([`idmap`]), and the mount events waiting for the caller ([`events`]); the lock-free hand-off between the loop and the workers
//! ([`handoff`]), with what a submit may admit ([`admission`]), the ledger of completions
//! made on the submitting thread ([`inline`]), and readiness and the eventfd ([`ready`]).

pub(crate) mod admission;
pub(crate) mod deadlines;
pub mod events;
pub mod handoff;
pub(crate) mod idmap;
pub mod ids;
pub(crate) mod inline;
pub mod ready;
pub mod requests;
