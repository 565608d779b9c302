//! Recycled read buffers: a context keeps the large library buffers its delivered reads
//! leave behind and hands them to its next reads. A fresh large allocation is an `mmap`
//! whose every page faults and is zeroed on the read's first touch, and is unmapped again on
//! free: for a 1 MiB read that costs more than the copy itself.
//!
//! Small buffers are left to the allocator, which recycles them cheaply. Spare buffers are
//! kept by size class (a power of two), newest on top; a read takes one of its own class, so
//! it is never more than twice its size. They count against the context's buffer budget:
//! a delivered buffer is kept only while the bytes requests hold plus the spare ones stay
//! within it (and within [`MAX_SPARE`]).

use crate::mem::bytes::Bytes;
use std::sync::Mutex;

/// Buffers smaller than this come from the allocator and go back to it.
pub(crate) const MIN_RECYCLED: usize = 4096;

/// Most bytes kept in spare buffers, whatever the budget.
pub(crate) const MAX_SPARE: usize = 64 << 20;

/// One context's spare read buffers (empty, with capacity).
#[derive(Debug, Default)]
pub struct Buffers {
    spare: Mutex<Spare>,
}

#[derive(Debug, Default)]
struct Spare {
    /// By size class: `classes[c]` holds buffers of `2^c` to `2^(c+1) - 1` bytes.
    classes: Vec<Vec<Bytes>>,
    bytes: usize,
}

/// The size class of `n` (> 0) bytes: the power of two at or below it.
fn class(n: usize) -> usize {
    n.ilog2() as usize
}

impl Buffers {
    /// An empty buffer whose room is exactly `len` bytes: the newest spare one of `len`'s
    /// size class that is large enough (its capacity may be larger; its room is limited to
    /// `len`, so a read into it never returns more than was asked), else a new one.
    pub fn take(&self, len: usize) -> Bytes {
        if len >= MIN_RECYCLED {
            let mut s = self.lock();
            let c = class(len);
            // The newest first: its bytes are likeliest still in the CPU cache.
            let found = s.classes.get(c).and_then(|stack| stack.iter().rposition(|b| b.capacity() >= len));
            if let Some(i) = found {
                let mut b = s.classes[c].swap_remove(i);
                s.bytes -= b.capacity();
                b.limit_room(len);
                return b;
            }
        }
        Bytes::with_capacity(len)
    }

    /// Keeps `buf` for a later read if it is large enough and the spare buffers, it
    /// included, fit in `room` bytes (what the budget leaves beside the bytes requests hold)
    /// and [`MAX_SPARE`]; frees it otherwise.
    pub fn put(&self, mut buf: Bytes, room: usize) {
        let cap = buf.capacity();
        if cap < MIN_RECYCLED {
            return;
        }
        buf.clear();
        let mut s = self.lock();
        if s.bytes + cap <= room.min(MAX_SPARE) {
            let c = class(cap);
            if s.classes.len() <= c {
                s.classes.resize_with(c + 1, Vec::new);
            }
            s.bytes += cap;
            s.classes[c].push(buf);
        }
    }

    /// Bytes kept in spare buffers now.
    #[cfg(test)]
    pub fn spare_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spare> {
        // Poisoning cannot leave `Spare` inconsistent: no call panics between its updates.
        self.spare.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_reused_within_their_size_class_and_small_ones_never_kept() {
        let b = Buffers::default();
        let big = b.take(1 << 20);
        let ptr = big.as_ptr();
        b.put(big, 4 << 20);
        assert_eq!(b.spare_bytes(), 1 << 20);
        assert!(b.take(512 << 10).capacity() < 1 << 20, "a read took a buffer twice its size class");
        assert_eq!(b.spare_bytes(), 1 << 20);
        let again = b.take(1 << 20);
        assert_eq!((again.as_ptr(), b.spare_bytes()), (ptr, 0));
        b.put(Bytes::with_capacity(700 << 10), 4 << 20);
        assert_eq!(b.take(800 << 10).capacity(), 800 << 10, "a spare buffer too small was handed out");
        let reused = b.take(600 << 10);
        assert_eq!(
            (reused.capacity(), reused.room_len()),
            (700 << 10, 600 << 10),
            "a reused buffer's room is the read's size"
        );
        b.put(Bytes::copy_of(&[0; 100]), 4 << 20);
        assert_eq!(b.spare_bytes(), 0);
    }

    #[test]
    fn the_cache_stays_under_its_limit() {
        let b = Buffers::default();
        for _ in 0..5 {
            b.put(Bytes::with_capacity(1 << 20), 3 << 20);
        }
        assert_eq!(b.spare_bytes(), 3 << 20);
        for _ in 0..3 {
            assert_eq!(b.take(1 << 20).capacity(), 1 << 20);
        }
        assert_eq!(b.spare_bytes(), 0);
        b.put(Bytes::with_capacity(1 << 20), 512 << 10); // the budget leaves too little room
        b.put(Bytes::with_capacity(1 << 20), usize::MAX);
        assert_eq!(b.spare_bytes(), 1 << 20);
    }
}
