//! Descriptors: opening through libc, closing (the three ways the library closes), the
//! placeholder that keeps a number allocated, status flags, and whether a number is open.

use super::{c_str, errno};
use std::ffi::CStr;
use std::os::raw::c_int;

/// `open(2)` through libc's `open` entry point (so an LD_PRELOAD interposer sees it), always
/// with `O_CLOEXEC` added.
pub(crate) fn open(path: &CStr, flags: c_int, mode: libc::mode_t) -> Result<i32, i32> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call; `open` is
    // variadic and takes the mode as an unsigned int, which is what we pass.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// `close(2)`. On Linux the descriptor is released even when close reports `EINTR` or
/// `EINPROGRESS`, so those count as success (as libuv does); retrying would close a
/// descriptor that another thread may already have been handed.
pub(crate) fn close(fd: i32) -> Result<(), i32> {
    // SAFETY: closing an integer descriptor has no memory-safety preconditions; ownership of
    // `fd` was handed to us by the caller (or opened by us).
    let rc = unsafe { libc::close(fd) };
    if rc == 0 {
        return Ok(());
    }
    match errno() {
        libc::EINTR | libc::EINPROGRESS => Ok(()),
        e => Err(e),
    }
}

/// Closes an `O_PATH` descriptor the library made for itself, straight through the syscall:
/// it never reaches a filesystem's flush, and an LD_PRELOAD interposer of close(2) has no
/// business with a descriptor the application never saw.
pub(crate) fn close_path_fd(fd: i32) {
    // SAFETY: closing a descriptor this library opened and still owns.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// Closes a descriptor the library owns and nobody can receive any more; errors are moot.
pub(crate) fn close_quietly(fd: i32) {
    let _ = close(fd);
}

/// Closes the file at `fd` by putting an `O_PATH` descriptor of "/" in its place with one
/// `dup3`, so that the number stays allocated (see `fdguard`). `Err(EBADF)` if `fd` is not
/// open (a dup3 would allocate it). Replacing closes the old file, which may flush.
pub(crate) fn replace_with_placeholder(fd: i32) -> Result<(), i32> {
    if !fd_is_open(fd) {
        return Err(libc::EBADF);
    }
    // SAFETY: a NUL-terminated literal path; O_PATH opens nothing for I/O.
    let p = unsafe { libc::open(c_str(b"/\0").as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if p < 0 {
        return Err(errno());
    }
    // SAFETY: duplicating one integer descriptor onto another has no memory preconditions.
    let r = unsafe { libc::dup3(p, fd, libc::O_CLOEXEC) };
    let e = errno();
    close_quietly(p);
    if r < 0 {
        Err(e)
    } else {
        Ok(())
    }
}

/// Sets `fd`'s status flags to `flags` (`F_SETFL`: only `O_APPEND`, `O_ASYNC`, `O_DIRECT`,
/// `O_NOATIME` and `O_NONBLOCK` are changed), without reading them first.
pub(crate) fn set_status_flags(fd: i32, flags: i32) -> Result<(), i32> {
    // SAFETY: F_SETFL on an integer descriptor only sets its status flags.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// `fd`'s status flags (`F_GETFL`: the access mode, `O_APPEND`, `O_DIRECT`, ...).
pub(crate) fn status_flags(fd: i32) -> Result<i32, i32> {
    // SAFETY: F_GETFL on an integer descriptor only reads its status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(errno());
    }
    Ok(flags)
}

/// Whether `fd` is an open descriptor.
pub(crate) fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD on any integer is harmless; it only reads the descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}
