//! Request ids.

/// A request id: positive, and not reused before at least 2^37 later requests of the same
/// context (see `slab`).
pub type Id = u64;
