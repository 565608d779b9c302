//! Every lock and condition variable the crate uses comes through here, so that the pool can
//! later be model-checked by swapping these for loom's.

pub use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: no code in this crate panics while holding a lock on
/// purpose, and if one ever did, the protected state is still consistent enough to shut down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
