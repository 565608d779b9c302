//! One context's requests and their delivery: the request state machine ([`requests`]),
//! readiness and the eventfd ([`ready`]), timeouts ([`deadlines`]) and where requests live
//! ([`slab`]).

pub(crate) mod deadlines;
pub mod ids;
pub mod ready;
pub mod requests;
pub(crate) mod slab;
