//! `openat2` and the lookups the kernel finishes from its caches alone (`RESOLVE_CACHED`
//! `O_PATH` descriptors, and reading a link through one): how attribution names a file
//! without waiting on its filesystem.

use super::errno;
use std::ffi::CStr;

/// `openat2(dirfd, path, {flags, mode, resolve})`: `Ok(fd)` or `Err(errno)`; `Err(ENOSYS)`
/// before Linux 5.12 (or under a seccomp filter, or valgrind, that refuses openat2). Straight
/// through the syscall: libc has no wrapper an interposer could see.
pub(crate) fn openat2(dirfd: i32, path: &CStr, flags: i32, mode: u32, resolve: u64) -> Result<i32, i32> {
    /// The kernel's `struct open_how` (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let needs_mode = flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE;
    let how =
        OpenHow { flags: flags as u32 as u64, mode: if needs_mode { u64::from(mode) } else { 0 }, resolve };
    let size = std::mem::size_of::<OpenHow>();
    // SAFETY: `path` is NUL-terminated and `how` a live open_how of the size passed.
    let rc = unsafe { libc::syscall(libc::SYS_openat2, dirfd, path.as_ptr(), &how as *const OpenHow, size) };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc as i32)
    }
}

/// `openat2(dirfd, path, O_PATH | O_CLOEXEC [| O_NOFOLLOW], RESOLVE_CACHED)`: a descriptor
/// naming the file without opening it (O_PATH never calls the filesystem's open), from a
/// lookup the kernel finishes from its caches alone, or `Err(EAGAIN)` where the lookup would
/// have to ask the filesystem. `Err(ENOSYS)` without openat2 (see [`openat2`]). Closing the
/// descriptor never calls the filesystem's flush.
pub(crate) fn open_path_cached(dirfd: i32, path: &CStr, follow: bool) -> Result<i32, i32> {
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    openat2(dirfd, path, libc::O_PATH | libc::O_CLOEXEC | nofollow, 0, libc::RESOLVE_CACHED)
}

/// The target of the symbolic link `fd` (an `O_PATH | O_NOFOLLOW` descriptor of it).
/// Reads the link's inode: call it only for filesystems that keep links in memory or on a
/// local disk.
pub(crate) fn read_link_fd(fd: i32) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its whole length across the call.
    let n = unsafe { libc::readlinkat(fd, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    if n as usize >= buf.len() {
        return Err(libc::ENAMETOOLONG);
    }
    buf.truncate(n as usize);
    Ok(buf)
}
