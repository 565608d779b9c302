//! Calls on the namespace by path, relative to the working directory: unlink, mkdir,
//! rename; and the working directory itself.

use super::{errno, zero_or_errno};
use std::ffi::CStr;

/// `unlinkat(AT_FDCWD, path, flags)`.
pub(crate) fn unlink(path: &CStr, flags: i32) -> Result<(), i32> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    zero_or_errno(unsafe { libc::unlinkat(libc::AT_FDCWD, path.as_ptr(), flags) })
}

/// `mkdirat(AT_FDCWD, path, mode)`.
pub(crate) fn mkdir(path: &CStr, mode: u32) -> Result<(), i32> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    zero_or_errno(unsafe { libc::mkdirat(libc::AT_FDCWD, path.as_ptr(), mode as libc::mode_t) })
}

/// `renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)`: through libc's `renameat` when `flags`
/// is 0 (so an interposer sees it), else the raw syscall.
pub(crate) fn rename(from: &CStr, to: &CStr, flags: u32) -> Result<(), i32> {
    let rc = if flags == 0 {
        // SAFETY: both paths are NUL-terminated strings that outlive the call.
        unsafe { libc::renameat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr()) }
    } else {
        // SAFETY: as above; renameat2 takes two (dirfd, path) pairs and an unsigned flags word.
        unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                flags,
            ) as i32
        }
    };
    zero_or_errno(rc)
}

/// The current working directory, as bytes.
pub(crate) fn getcwd() -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: `buf` is writable for its whole length; getcwd NUL-terminates within it.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return Err(errno());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(len);
    Ok(buf)
}
