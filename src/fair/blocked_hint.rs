//! Which filesystems are marked blocked, for readers without the pool lock: a submit that
//! fails fast (see `Context::submit`) asks here. The table writes it, under the pool lock,
//! whenever the scheduler's mark of a filesystem changes (`fair::shares`), so the hint
//! follows the marking exactly, a moment behind.

use crate::fs::FsId;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Most filesystems the hint names at once; past it, a further blocked filesystem is not
/// named (its requests queue as without fail-fast).
pub(crate) const SLOTS: usize = 64;
/// An empty slot (no filesystem has device number 0:0).
const EMPTY: u64 = 0;

/// The blocked filesystems: one writer (whoever holds the pool lock), any readers.
#[derive(Debug)]
pub struct BlockedHint {
    slots: [AtomicU64; SLOTS],
    /// Slots in use: readers skip the scan while none is.
    named: AtomicUsize,
}

impl Default for BlockedHint {
    fn default() -> Self {
        BlockedHint { slots: std::array::from_fn(|_| AtomicU64::new(EMPTY)), named: AtomicUsize::new(0) }
    }
}

impl BlockedHint {
    /// Names `fs` as blocked (the writer; a no-op when full or already named).
    pub fn insert(&self, fs: FsId) {
        if fs == EMPTY || self.contains(fs) {
            return;
        }
        if let Some(s) = self.slots.iter().find(|s| s.load(Ordering::Relaxed) == EMPTY) {
            s.store(fs, Ordering::Release);
            self.named.fetch_add(1, Ordering::Release);
        }
    }

    /// Stops naming `fs` (the writer).
    pub fn remove(&self, fs: FsId) {
        if let Some(s) = self.slots.iter().find(|s| fs != EMPTY && s.load(Ordering::Relaxed) == fs) {
            s.store(EMPTY, Ordering::Release);
            self.named.fetch_sub(1, Ordering::Release);
        }
    }

    /// Whether `fs` is named blocked now (any thread, no lock).
    pub fn contains(&self, fs: FsId) -> bool {
        fs != EMPTY
            && self.named.load(Ordering::Acquire) > 0
            && self.slots.iter().any(|s| s.load(Ordering::Acquire) == fs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_inserted_until_removed() {
        let h = BlockedHint::default();
        assert!(!h.contains(7));
        h.insert(7);
        h.insert(7);
        h.insert(9);
        assert!(h.contains(7) && h.contains(9) && !h.contains(8));
        h.remove(7);
        assert!(!h.contains(7) && h.contains(9));
        for fs in 100..100 + SLOTS as u64 {
            h.insert(fs);
        }
        assert!(h.contains(9), "a full hint keeps what it names");
        h.remove(9);
        h.insert(1000);
        assert!(h.contains(1000), "a freed slot is reused");
    }
}
