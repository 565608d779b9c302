//! The syscalls of the later file calls: the metadata, link and copy calls (readlink,
//! symlink, link, access, statfs, chmod, chown, utimens, fallocate, copy_file_range,
//! sendfile).

use super::{count_retrying, errno, zero_or_errno};
use std::ffi::CStr;
use std::mem::MaybeUninit;

/// `readlinkat(AT_FDCWD, path, buf)`: the bytes of the target placed in `buf` (no NUL;
/// truncated to `buf`'s length, as readlink(2) does).
pub fn readlink(path: &CStr, buf: &mut [MaybeUninit<u8>]) -> Result<usize, i32> {
    let (ptr, len) = (buf.as_mut_ptr(), buf.len());
    // SAFETY: `path` is NUL-terminated and `buf` writable for `len` bytes, for the call.
    count_retrying(|| unsafe { libc::readlinkat(libc::AT_FDCWD, path.as_ptr(), ptr.cast(), len) })
}

/// `symlinkat(target, AT_FDCWD, link)`.
pub fn symlink(target: &CStr, link: &CStr) -> Result<(), i32> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    zero_or_errno(unsafe { libc::symlinkat(target.as_ptr(), libc::AT_FDCWD, link.as_ptr()) })
}

/// `linkat(AT_FDCWD, from, AT_FDCWD, to, flags)`.
pub fn link(from: &CStr, to: &CStr, flags: i32) -> Result<(), i32> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    zero_or_errno(unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), flags) })
}

/// `faccessat2(AT_FDCWD, path, mode, flags)`; on a kernel without faccessat2 (before 5.8),
/// glibc's `faccessat`, which emulates the flags.
pub fn access(path: &CStr, mode: i32, flags: i32) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated and outlives the call; the other arguments are ints.
    let rc = unsafe { libc::syscall(libc::SYS_faccessat2, libc::AT_FDCWD, path.as_ptr(), mode, flags) };
    if rc == 0 {
        return Ok(());
    }
    match errno() {
        // SAFETY: as above.
        libc::ENOSYS => zero_or_errno(unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), mode, flags) }),
        e => Err(e),
    }
}

/// `statfs(path, out)`.
pub fn statfs(path: &CStr, out: &mut libc::statfs) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated and `out` a live, writable statfs, for the call.
    zero_or_errno(unsafe { libc::statfs(path.as_ptr(), out) })
}

/// `fstatfs(fd, out)`.
pub fn fstatfs(fd: i32, out: &mut libc::statfs) -> Result<(), i32> {
    // SAFETY: `out` is a live, writable statfs for the call.
    zero_or_errno(unsafe { libc::fstatfs(fd, out) })
}

/// `fchmodat(AT_FDCWD, path, mode, 0)`.
pub fn chmod(path: &CStr, mode: u32) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    zero_or_errno(unsafe { libc::fchmodat(libc::AT_FDCWD, path.as_ptr(), mode, 0) })
}

/// `fchmod(fd, mode)`.
pub fn fchmod(fd: i32, mode: u32) -> Result<(), i32> {
    // SAFETY: no memory is passed.
    zero_or_errno(unsafe { libc::fchmod(fd, mode) })
}

/// `fchownat(AT_FDCWD, path, uid, gid, flags)`.
pub fn chown(path: &CStr, uid: u32, gid: u32, flags: i32) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    zero_or_errno(unsafe { libc::fchownat(libc::AT_FDCWD, path.as_ptr(), uid, gid, flags) })
}

/// `fchown(fd, uid, gid)`.
pub fn fchown(fd: i32, uid: u32, gid: u32) -> Result<(), i32> {
    // SAFETY: no memory is passed.
    zero_or_errno(unsafe { libc::fchown(fd, uid, gid) })
}

/// The `times` argument of utimensat: a pointer to the pair, or NULL for "now".
fn times_ptr(times: &Option<[libc::timespec; 2]>) -> *const libc::timespec {
    times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr())
}

/// `utimensat(AT_FDCWD, path, times, flags)` (`None`: both now).
pub fn utimens(path: &CStr, times: &Option<[libc::timespec; 2]>, flags: i32) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated; `times` is NULL or two timespecs; both outlive the call.
    zero_or_errno(unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times_ptr(times), flags) })
}

/// `futimens(fd, times)` (`None`: both now).
pub fn futimens(fd: i32, times: &Option<[libc::timespec; 2]>) -> Result<(), i32> {
    // SAFETY: `times` is NULL or two timespecs that outlive the call.
    zero_or_errno(unsafe { libc::futimens(fd, times_ptr(times)) })
}

/// `fallocate(fd, mode, offset, len)`.
pub fn fallocate(fd: i32, mode: i32, offset: i64, len: i64) -> Result<(), i32> {
    // SAFETY: no memory is passed.
    zero_or_errno(unsafe { libc::fallocate(fd, mode, offset, len) })
}

/// `copy_file_range(fd_in, off_in, fd_out, off_out, len, flags)`, an offset of -1 meaning
/// the descriptor's file position (a NULL offset pointer): the bytes copied.
pub fn copy_file_range(
    fd_in: i32,
    off_in: i64,
    fd_out: i32,
    off_out: i64,
    len: usize,
    flags: u32,
) -> Result<usize, i32> {
    let (mut a, mut b) = (off_in, off_out);
    let pa: *mut i64 = if off_in >= 0 { &mut a } else { std::ptr::null_mut() };
    let pb: *mut i64 = if off_out >= 0 { &mut b } else { std::ptr::null_mut() };
    // SAFETY: each offset pointer is NULL or points at a live i64 for the call.
    count_retrying(|| unsafe { libc::copy_file_range(fd_in, pa, fd_out, pb, len, flags as _) as isize })
}

/// `sendfile(out_fd, in_fd, offset, count)`, an offset of -1 meaning `in_fd`'s file
/// position: the bytes sent.
pub fn sendfile(out_fd: i32, in_fd: i32, offset: i64, count: usize) -> Result<usize, i32> {
    let mut off = offset;
    let p: *mut libc::off_t = if offset >= 0 { &mut off } else { std::ptr::null_mut() };
    // SAFETY: the offset pointer is NULL or points at a live off_t for the call.
    count_retrying(|| unsafe { libc::sendfile(out_fd, in_fd, p, count) })
}
