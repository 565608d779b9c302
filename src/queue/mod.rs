//! One context's requests and their delivery: the request state machine ([`requests`]),
//! readiness and the eventfd ([`ready`]), timeouts ([`deadlines`]) where requests live
//! ([`idmap`]) and the lock-free hand-off between the loop and the workers ([`handoff`]),
//! with what a submit may admit ([`admission`]) and the ledger of completions made on the
//! submitting thread ([`inline`]).

pub(crate) mod admission;
pub(crate) mod deadlines;
pub mod handoff;
pub(crate) mod idmap;
pub mod ids;
pub(crate) mod inline;
pub mod ready;
pub mod requests;
