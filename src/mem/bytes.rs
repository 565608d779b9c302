//! The library's buffers for caller data (a read's bytes, a write's copy): fixed capacity,
//! and aligned to a page from 512 bytes up, so that a descriptor opened with `O_DIRECT`,
//! which needs its buffer aligned to the device's block size, reads and writes through them
//! as it would through an aligned buffer of the caller's.
//!
//! The alignment comes from a plain allocation a page larger, not an aligned one: glibc
//! serves large plain allocations again from memory it already has (its mmap threshold
//! rises after the first is freed), while each large aligned one is a fresh `mmap` whose
//! pages all fault in (64 reads of 1 MiB in flight ran at less than half the speed).

use std::alloc::{self, Layout};
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// `O_DIRECT`'s strictest common alignment (a 4 KiB logical block).
const DIRECT_ALIGN: usize = 4096;
/// Buffers this large or larger get [`DIRECT_ALIGN`] (O_DIRECT transfers are whole blocks
/// of at least 512 bytes; smaller buffers are never used with it).
const DIRECT_MIN: usize = 512;

/// A byte buffer of fixed capacity whose first `len` bytes are initialized. Its room (what
/// a syscall may fill) is the first `want` bytes: all of it, or what one request asked for
/// when a larger recycled buffer serves it (see [`Bytes::limit_room`]).
pub struct Bytes {
    /// The allocation (`Self::layout(cap)`), and the aligned start of the buffer in it.
    base: NonNull<u8>,
    ptr: NonNull<u8>,
    len: usize,
    /// `len <= want <= cap`.
    want: usize,
    cap: usize,
}

// SAFETY: `Bytes` owns its allocation outright (like `Vec<u8>`), with no interior sharing.
unsafe impl Send for Bytes {}
// SAFETY: shared references only read the initialized bytes.
unsafe impl Sync for Bytes {}

impl Bytes {
    /// The allocation behind a buffer of `cap` bytes: room to align its start.
    fn layout(cap: usize) -> Layout {
        let pad = if cap >= DIRECT_MIN { DIRECT_ALIGN - 1 } else { 0 };
        Layout::from_size_align(cap + pad, 1).expect("a buffer's size is checked against i32::MAX first")
    }

    /// An empty buffer with room for `cap` bytes (uninitialized: zeroing a large buffer
    /// would cost as much as the read that fills it).
    pub fn with_capacity(cap: usize) -> Self {
        if cap == 0 {
            return Bytes { base: NonNull::dangling(), ptr: NonNull::dangling(), len: 0, want: 0, cap };
        }
        let layout = Self::layout(cap);
        // SAFETY: `layout` has a non-zero size.
        let base = NonNull::new(unsafe { alloc::alloc(layout) })
            .unwrap_or_else(|| alloc::handle_alloc_error(layout));
        let skip = if cap >= DIRECT_MIN { base.as_ptr().align_offset(DIRECT_ALIGN) } else { 0 };
        // SAFETY: `skip` < DIRECT_ALIGN, and the allocation is `DIRECT_ALIGN - 1` bytes longer
        // than `cap` when aligning, so `[ptr, ptr + cap)` lies inside it.
        let ptr = unsafe { NonNull::new_unchecked(base.as_ptr().add(skip)) };
        Bytes { base, ptr, len: 0, want: cap, cap }
    }

    /// A copy of `data`.
    pub fn copy_of(data: &[u8]) -> Self {
        let mut b = Self::with_capacity(data.len());
        // SAFETY: `b` has room for `data.len()` bytes, and a fresh allocation never
        // overlaps `data`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), b.ptr.as_ptr(), data.len()) };
        b.len = data.len();
        b
    }

    /// The allocation's size: what the buffer costs against the budget, and what decides
    /// whether it is recycled. A request's own size is [`Bytes::room_len`].
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// How many bytes a syscall may put in it: what the request it serves asked for.
    pub fn room_len(&self) -> usize {
        self.want
    }

    /// Empties the buffer and limits its room to its first `n` bytes (at most the capacity),
    /// so that a read of `n` bytes served by a larger recycled buffer reads `n` bytes, never
    /// the buffer's capacity.
    pub fn limit_room(&mut self, n: usize) {
        debug_assert!(n <= self.cap, "a buffer of {} bytes cannot serve {n}", self.cap);
        self.len = 0;
        self.want = n.min(self.cap);
    }

    /// Forgets the contents, keeping the room.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `n` bytes (no-op if there are fewer).
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// The room ([`Bytes::room_len`] bytes), for a syscall to fill; then
    /// [`Bytes::set_filled`].
    pub fn room(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: the allocation holds `cap` >= `want` bytes (or `cap` is 0 with a dangling,
        // aligned pointer), and MaybeUninit assumes nothing of them.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast(), self.want) }
    }

    /// Marks the first `n` bytes of the room as filled.
    ///
    /// # Safety
    /// The first `n` bytes (at most the room) were initialized, by the kernel or a copy.
    pub unsafe fn set_filled(&mut self, n: usize) {
        debug_assert!(n <= self.want, "{n} bytes filled in a room of {}", self.want);
        self.len = n.min(self.want);
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialized (see `set_filled`, `copy_of`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: allocated in `with_capacity` with this very layout.
            unsafe { alloc::dealloc(self.base.as_ptr(), Self::layout(self.cap)) };
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} of {})", self.len, self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_of_a_block_or_more_are_page_aligned_and_keep_what_was_filled() {
        let b = Bytes::with_capacity(4096);
        assert_eq!((b.as_ptr() as usize % DIRECT_ALIGN, b.len(), b.capacity()), (0, 0, 4096));
        let c = Bytes::copy_of(&[7u8; 1000]);
        assert_eq!((c.as_ptr() as usize % DIRECT_ALIGN, &c[..3], c.len()), (0, &[7u8, 7, 7][..], 1000));
        let mut d = Bytes::with_capacity(10);
        d.room()[..3].iter_mut().for_each(|x| *x = MaybeUninit::new(1));
        // SAFETY: three bytes were just written.
        unsafe { d.set_filled(3) };
        d.truncate(2);
        assert_eq!(&d[..], &[1, 1]);
        assert_eq!(Bytes::copy_of(&[]).len(), 0);
    }

    #[test]
    fn a_limited_room_is_all_a_syscall_sees() {
        let mut b = Bytes::with_capacity(8192);
        b.limit_room(5000);
        assert_eq!((b.room().len(), b.room_len(), b.capacity()), (5000, 5000, 8192));
        b.room().iter_mut().for_each(|x| *x = MaybeUninit::new(3));
        // SAFETY: the whole room was just written.
        unsafe { b.set_filled(5000) };
        assert_eq!(b.len(), 5000);
        b.limit_room(8192);
        assert_eq!((b.len(), b.room().len()), (0, 8192));
    }
}
