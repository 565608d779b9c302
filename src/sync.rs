//! Every lock, condition variable and shared pointer the crate uses comes through here, so
//! that under `--cfg loom` they are loom's (see tests/loom.rs and `make check-loom`).

#[cfg(loom)]
pub use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::sync::{Condvar, Mutex, MutexGuard};
// Always std's: the pool takes `self: Arc<Self>`, which loom's Arc cannot be on stable, and
// what the models check is the locking, not reference counting.
pub use std::sync::Arc;

/// Locks `m`, ignoring poisoning: no code in this crate panics while holding a lock on
/// purpose, and if one ever did, the protected state is still consistent enough to shut down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
