//! Data on an open descriptor: positioned or sequential reads and writes (retried on
//! `EINTR`), the page-cache-only read, directory entries, sync and truncate.

use super::{count_retrying, zero_or_errno};
use std::mem::MaybeUninit;

/// `pread(fd, buf, offset)`, or `read(fd, buf)` at the file position when `offset` is -1,
/// into memory that need not be initialized: the bytes read (initialized from the start of
/// `buf`), or `Err(errno)`.
pub(crate) fn read_at(fd: i32, buf: &mut [MaybeUninit<u8>], offset: i64) -> Result<usize, i32> {
    let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
    count_retrying(|| {
        // SAFETY: `buf` is writable for `len` bytes for the call.
        unsafe {
            if offset < 0 {
                libc::read(fd, ptr, len)
            } else {
                libc::pread(fd, ptr, len, offset as libc::off_t)
            }
        }
    })
}

/// `pwrite(fd, data, offset)`, or `write(fd, data)` at the file position when `offset` is
/// -1: the bytes written (possibly fewer than `data.len()`), or `Err(errno)`.
pub(crate) fn write_at(fd: i32, data: &[u8], offset: i64) -> Result<usize, i32> {
    let (ptr, len) = (data.as_ptr().cast(), data.len());
    count_retrying(|| {
        // SAFETY: `data` is readable for `len` bytes for the call.
        unsafe {
            if offset < 0 {
                libc::write(fd, ptr, len)
            } else {
                libc::pwrite(fd, ptr, len, offset as libc::off_t)
            }
        }
    })
}

/// `preadv2(fd, buf, offset, RWF_NOWAIT)`: the bytes read from the page cache, or
/// `Err(EAGAIN)` if reading would wait for I/O, `Err(EOPNOTSUPP)` where the file does not
/// support it.
pub(crate) fn pread_nowait(fd: i32, buf: &mut [MaybeUninit<u8>], offset: i64) -> Result<usize, i32> {
    let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: one iovec describing `buf`, writable for its length for the call.
    count_retrying(|| unsafe { libc::preadv2(fd, &iov, 1, offset as libc::off_t, libc::RWF_NOWAIT) })
}

/// `getdents64(fd, buf)`: the bytes of `linux_dirent64` records read, 0 at the end.
pub(crate) fn getdents(fd: i32, buf: &mut [MaybeUninit<u8>]) -> Result<usize, i32> {
    let (ptr, len) = (buf.as_mut_ptr(), buf.len());
    // SAFETY: `buf` is writable for `len` bytes for the call.
    count_retrying(|| unsafe { libc::syscall(libc::SYS_getdents64, fd, ptr, len) as isize })
}

/// `fsync(fd)`, or `fdatasync(fd)` with `datasync`.
pub(crate) fn fsync(fd: i32, datasync: bool) -> Result<(), i32> {
    // SAFETY: syncing an integer descriptor has no memory-safety preconditions.
    zero_or_errno(unsafe {
        if datasync {
            libc::fdatasync(fd)
        } else {
            libc::fsync(fd)
        }
    })
}

/// `ftruncate(fd, length)`.
pub(crate) fn ftruncate(fd: i32, length: i64) -> Result<(), i32> {
    // SAFETY: truncating an integer descriptor has no memory-safety preconditions.
    zero_or_errno(unsafe { libc::ftruncate(fd, length as libc::off_t) })
}
