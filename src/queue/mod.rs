//! One context's requests and their delivery: the request state machine ([`requests`]),
//! readiness and the eventfd ([`ready`]), timeouts ([`deadlines`]) where requests live
//! ([`idmap`]) and the lock-free hand-off between the loop and the workers ([`handoff`]).

pub(crate) mod deadlines;
pub mod handoff;
pub(crate) mod idmap;
pub mod ids;
pub mod ready;
pub mod requests;
