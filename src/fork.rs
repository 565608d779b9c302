//! Fork awareness. After fork(2) the child has only the forking thread: a context inherited
//! from the parent has no workers, and its lock may be held forever by a thread that does
//! not exist there. A `pthread_atfork` child handler bumps a process-wide generation; a
//! context made in an earlier generation is dead in the child (calls return `ESHUTDOWN`)
//! and is released there without taking its lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: one atomic increment.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation, installing the handler on first use.
pub fn generation() -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: registers a handler that only increments an atomic; no prepare/parent hooks.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    GENERATION.load(Ordering::Relaxed)
}

/// Whether a context made in generation `born` is an inherited copy in a forked child.
pub fn is_inherited(born: u64) -> bool {
    GENERATION.load(Ordering::Relaxed) != born
}
