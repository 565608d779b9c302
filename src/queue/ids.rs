//! Request ids.
//!
//! A request for a worker is numbered by its slot in the request table
//! (`queue::idmap`: `generation << 26 | slot`, handed out without a lock as the loop
//! submits); a request the fast path completed on the submitting thread never enters the
//! table, and is numbered from a counter with [`INLINE`] set. So an id is positive, fits the
//! C API's `int64_t`, and comes back only after its slot was reused 2^35 times.

/// A request id.
pub type Id = u64;

/// The bit that marks the id of a request completed on the submitting thread (the fast
/// path; see `queue::inline::Inline`). Table ids stay below it.
pub(crate) const INLINE: Id = 1 << 61;
