//! The descriptors the library opened, and the filesystem each was charged to.

use crate::fs::ids::{FsId, UNKNOWN};
use crate::fs::resolve::of_fd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Descriptors the library opened, and the filesystem each open was charged to, so that
/// their close is charged without a statx: fd `n` is slot `n % CHUNK` of chunk `n / CHUNK`,
/// allocated on first use (0: nothing remembered). Process-wide, lock-free.
const CHUNK: usize = 4096;
static OPENED: [OnceLock<Box<[AtomicU64]>>; 256] = [const { OnceLock::new() }; 256];

fn opened_slot(fd: i32, create: bool) -> Option<&'static AtomicU64> {
    let fd = usize::try_from(fd).ok()?;
    let chunk = OPENED.get(fd / CHUNK)?;
    let slots = match chunk.get() {
        Some(s) => s,
        None if create => chunk.get_or_init(|| (0..CHUNK).map(|_| AtomicU64::new(0)).collect()),
        None => return None,
    };
    Some(&slots[fd % CHUNK])
}

/// Remembers that the library's open of a file on `fs` returned `fd` (see [`of_closing_fd`]).
pub fn remember_opened(fd: i32, fs: FsId) {
    if let Some(slot) = opened_slot(fd, true) {
        slot.store(fs.wrapping_add(1), Ordering::Relaxed);
    }
}

/// Forgets what [`remember_opened`] said of `fd` (it is being closed).
pub fn forget_opened(fd: i32) {
    if let Some(slot) = opened_slot(fd, false) {
        slot.store(0, Ordering::Relaxed);
    }
}

/// The filesystem a close of `fd` is charged to: the one its open was charged to if the
/// library opened it (no syscall), else [`of_fd`]'s answer. Either way the memory of `fd`
/// is dropped. A caller that closed a descriptor of the library's by other means and got the
/// number back from another open sees that close charged to the old file's filesystem: this
/// decides only which share the close counts against.
pub fn of_closing_fd(fd: i32) -> FsId {
    match opened_slot(fd, false).map(|s| s.swap(0, Ordering::Relaxed)) {
        Some(v) if v != 0 => v.wrapping_sub(1),
        _ => of_fd(fd).unwrap_or(UNKNOWN),
    }
}

/// The filesystem a call on the open descriptor `fd` is charged to: the one its open was
/// charged to if the library opened it (no syscall), else [`of_fd`]'s answer.
pub fn of_open_fd(fd: i32) -> FsId {
    match opened_slot(fd, false).map(|s| s.load(Ordering::Relaxed)) {
        Some(v) if v != 0 => v.wrapping_sub(1),
        _ => of_fd(fd).unwrap_or(UNKNOWN),
    }
}
