//! `statx` by path or descriptor, and [`FdInfo`]: what a descriptor's cached attributes say
//! of its filesystem (mount id, device), type and size.

use super::{c_str, zero_or_errno};
use std::ffi::CStr;

/// `statx(dirfd, path, flags, mask, out)`, through libc (so an interposer sees it).
pub(crate) fn statx(
    dirfd: i32,
    path: &CStr,
    flags: i32,
    mask: u32,
    out: &mut libc::statx,
) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated and `out` a live, writable statx, both for the call.
    zero_or_errno(unsafe { libc::statx(dirfd, path.as_ptr(), flags, mask, out) })
}

/// `statx(fd, "", AT_EMPTY_PATH | flags, mask, out)`: the open descriptor `fd`'s own.
pub(crate) fn statx_fd(fd: i32, flags: i32, mask: u32, out: &mut libc::statx) -> Result<(), i32> {
    statx(fd, c_str(b"\0"), libc::AT_EMPTY_PATH | flags, mask, out)
}

/// What `statx` says of an open descriptor, from cached attributes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdInfo {
    /// The id of its mount (the first field of its line in /proc/self/mountinfo), if the
    /// kernel reports it (5.8 and later).
    pub(crate) mount_id: Option<u64>,
    /// Its filesystem's device number, as (major, minor).
    pub(crate) dev: (u32, u32),
    /// Its file type and mode bits.
    pub(crate) mode: u32,
    /// Its size in bytes, as cached.
    pub(crate) size: u64,
}

/// `statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID | STATX_TYPE | STATX_SIZE)`: only
/// cached attributes are asked for, so this never waits for a (possibly dead) file server.
/// Works on `O_PATH` descriptors.
pub(crate) fn fd_info(fd: i32) -> Result<FdInfo, i32> {
    // SAFETY: statx is plain data; the kernel fills in what stx_mask says.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    fd_statx(fd, &mut st)
}

/// [`fd_info`], with the whole `statx` (`STATX_BASIC_STATS | STATX_MNT_ID`, which costs the
/// kernel no more) left in `st`.
pub(crate) fn fd_statx(fd: i32, st: &mut libc::statx) -> Result<FdInfo, i32> {
    statx_fd(fd, libc::AT_STATX_DONT_SYNC, libc::STATX_BASIC_STATS | libc::STATX_MNT_ID, st)?;
    Ok(FdInfo {
        mount_id: (st.stx_mask & libc::STATX_MNT_ID != 0).then_some(st.stx_mnt_id),
        dev: (st.stx_dev_major, st.stx_dev_minor),
        mode: u32::from(st.stx_mode),
        size: st.stx_size,
    })
}
