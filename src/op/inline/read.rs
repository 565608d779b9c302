//! The fast path's reads: `preadv2(RWF_NOWAIT)` on a local regular file, which the kernel
//! fails with `EAGAIN` rather than wait for the disk (and with `EOPNOTSUPP` on a filesystem
//! without `FMODE_NOWAIT`, remembered per mount), a plain `pread` where the file's data lives
//! in memory (tmpfs, ramfs), and the rule for which reads try it.

use super::local_mount;
use crate::sys;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reads smaller than this go inline (when cached) even with work in flight.
const READ_ALWAYS: usize = 64 * 1024;

/// Whether a read of `len` bytes at `offset` may go inline (when cached; `quiet` as for
/// [`try_run`]): only at an offset; a small one always, a large one only while nothing is in
/// flight (see [`try_run`]).
pub fn reads_inline(len: usize, offset: i64, quiet: impl Fn() -> bool) -> bool {
    offset >= 0 && (len < READ_ALWAYS || quiet())
}

/// Whether a read of `len` bytes at `offset` is at an offset and stays within one 4 KiB
/// page: then `RWF_NOWAIT` finds the range cached or not as a whole, and a short read is
/// always the end of the file (see `Context::submit_read_into`).
pub fn within_a_page(len: usize, offset: i64) -> bool {
    offset >= 0 && (offset as u64 % 4096) as usize + len <= 4096
}

/// Filesystems (by mount id) whose files refused `RWF_NOWAIT` (no `FMODE_NOWAIT`): their
/// reads always go to the pool, without asking again. `ANY_REFUSED` spares every read the
/// lock while the list is empty (the usual case: every local filesystem supports it).
static NOWAIT_UNSUPPORTED: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());
static ANY_REFUSED: AtomicBool = AtomicBool::new(false);

/// Whether reads on mount `id` were refused `RWF_NOWAIT` before.
fn nowait_refused(id: Option<u64>) -> bool {
    ANY_REFUSED.load(Ordering::Acquire)
        && id.is_some_and(|m| NOWAIT_UNSUPPORTED.lock().unwrap_or_else(|e| e.into_inner()).contains(&m))
}

/// Remembers that mount `id` refused `RWF_NOWAIT`.
fn refuse_nowait(id: Option<u64>) {
    if let Some(m) = id {
        NOWAIT_UNSUPPORTED.lock().unwrap_or_else(|e| e.into_inner()).push(m);
        ANY_REFUSED.store(true, Ordering::Release);
    }
}

/// `pread(fd, buf, offset)` (offset -1: at the file position) on the caller's thread if `fd`
/// is a regular file on a local filesystem, not opened `O_DIRECT`, and the data is in the page cache
/// (`preadv2(RWF_NOWAIT)`; on tmpfs and ramfs, whose data is in memory, a plain `pread`): the bytes read (possibly fewer than asked, where only part is
/// cached), or `Err(EAGAIN)` when it would wait (then submit it). With `whole`, a read that
/// stops short of both `buf`'s end and the end of the file (only part of it was cached) is
/// `Err(EAGAIN)` too, so that a submitted read returns what a blocking `pread` would. `buf`
/// may be uninitialized: the kernel writes what it reads and nothing else.
pub fn read_nowait(fd: i32, buf: &mut [MaybeUninit<u8>], offset: i64, whole: bool) -> Result<usize, i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    if offset < -1 {
        return Err(libc::EINVAL);
    }
    let info = sys::fd_info(fd)?;
    let in_memory = match local_mount(info.mount_id) {
        Some(in_memory) if info.mode & libc::S_IFMT == libc::S_IFREG => in_memory,
        _ => return Err(libc::EAGAIN),
    };
    if in_memory {
        // tmpfs, ramfs: the data is in memory (see fs::in_memory), and tmpfs refuses
        // RWF_NOWAIT: a plain read.
        return sys::read_at(fd, buf, offset);
    }
    // O_DIRECT bypasses the page cache: RWF_NOWAIT then only spares it the locks, and the
    // read waits for the disk (and transfers whole blocks, past the end of the file too).
    if nowait_refused(info.mount_id) || sys::status_flags(fd)? & libc::O_DIRECT != 0 {
        return Err(libc::EAGAIN);
    }
    match sys::pread_nowait(fd, buf, offset) {
        Err(libc::EOPNOTSUPP) => {
            refuse_nowait(info.mount_id);
            Err(libc::EAGAIN)
        }
        // Short, and not at the end of the file (as it was a moment ago: if it grew since,
        // the pool's read only returns more).
        Ok(n) if whole && n < buf.len() && (offset as u64).saturating_add(n as u64) < info.size => {
            Err(libc::EAGAIN)
        }
        r => r,
    }
}
