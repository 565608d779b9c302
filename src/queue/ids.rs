//! Request ids.
//!
//! The caller's requests are numbered by the context from 1 up, when submitted (see
//! `queue::admission::Admission`), below [`OWN`], with [`INLINE`] set for those the fast path
//! completed; the table numbers the closes it owes from [`OWN`] up. So an id is positive, fits the C API's `int64_t`, and is never reused within
//! a context.

/// A request id.
pub type Id = u64;

/// The first id of the library's own requests (owed closes), never given to a caller.
pub(crate) const OWN: Id = 1 << 62;

/// The bit that marks the id of a request completed on the submitting thread (the fast
/// path; see `queue::inline::Inline`).
pub(crate) const INLINE: Id = 1 << 61;
