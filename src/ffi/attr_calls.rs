//! The C ABI of the attribute calls: chmod, chown and utimens, by path and by descriptor.
//! Like the other later file calls (see `fs_calls`): submitted to a worker, charged to the
//! file's filesystem, cancellable, timed out like any request.

use super::guard::{aopen_ctx, guard_errno, owned_path, submit_plain};
use super::types::aopen_cb;
use crate::op::Op;
use std::ffi::{c_char, c_int, c_void};

/// The `times` argument of utimensat/futimens: NULL for "now", else the two timespecs.
///
/// # Safety
/// `times` is NULL or readable for two timespecs.
unsafe fn times_arg(times: *const libc::timespec) -> Option<[libc::timespec; 2]> {
    // SAFETY: per this function's contract, a non-NULL `times` holds two timespecs.
    (!times.is_null()).then(|| unsafe { [*times, *times.add(1)] })
}

/// Submits an asynchronous `fchmodat(AT_FDCWD, path, mode, 0)` and returns at once.
///
/// Runs on a worker. A cancel or timeout is delivered at once; a chmod already running may
/// still take effect.
///
/// # Parameters
/// - `path`: copied before this returns; a symbolic link is followed.
/// - `mode`: the new permission bits.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_CHMOD`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `path`), -ENAMETOOLONG, -EAGAIN (queue full
/// or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aopen_chmod_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    mode: libc::mode_t,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, Op::Chmod { path, mode }, cb, user_data) }
    })
}

/// Submits an asynchronous `fchmod(fd, mode)` and returns at once.
///
/// As `aopen_chmod_submit`, on an open descriptor, which stays the caller's until the
/// completion is delivered.
///
/// # Parameters
/// - `fd`: an open descriptor.
/// - `mode`: the new permission bits.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_CHMOD`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`), -EBADF (`fd` < 0), -EAGAIN (queue full or no
/// worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_fchmod_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    mode: libc::mode_t,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { submit_plain(ctx, Op::Fchmod { fd, mode }, cb, user_data) })
}

/// Submits an asynchronous `fchownat(AT_FDCWD, path, uid, gid, flags)` and returns at once.
///
/// Runs on a worker. A cancel or timeout is delivered at once; a chown already running may
/// still take effect.
///
/// # Parameters
/// - `path`: copied before this returns.
/// - `uid`, `gid`: the new owner and group; `(uid_t)-1` / `(gid_t)-1` leave one unchanged.
/// - `flags`: `AT_SYMLINK_NOFOLLOW` (change the link itself), `AT_EMPTY_PATH`; the kernel
///   checks them.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_CHOWN`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `path`), -ENAMETOOLONG, -EAGAIN (queue full
/// or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aopen_chown_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    uid: libc::uid_t,
    gid: libc::gid_t,
    flags: c_int,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, Op::Chown { path, uid, gid, flags }, cb, user_data) }
    })
}

/// Submits an asynchronous `fchown(fd, uid, gid)` and returns at once.
///
/// As `aopen_chown_submit`, on an open descriptor, which stays the caller's until the
/// completion is delivered.
///
/// # Parameters
/// - `fd`: an open descriptor.
/// - `uid`, `gid`: the new owner and group; `(uid_t)-1` / `(gid_t)-1` leave one unchanged.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_CHOWN`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`), -EBADF (`fd` < 0), -EAGAIN (queue full or no
/// worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_fchown_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    uid: libc::uid_t,
    gid: libc::gid_t,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { submit_plain(ctx, Op::Fchown { fd, uid, gid }, cb, user_data) })
}

/// Submits an asynchronous `utimensat(AT_FDCWD, path, times, flags)` and returns at once.
///
/// Runs on a worker. The times are copied before this returns. A cancel or timeout is
/// delivered at once; a call already running may still take effect.
///
/// # Parameters
/// - `path`: copied before this returns.
/// - `times`: the access and modification times (`UTIME_NOW` / `UTIME_OMIT` as for
///   utimensat), or NULL for both now.
/// - `flags`: `AT_SYMLINK_NOFOLLOW`; the kernel checks them.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_UTIMENS`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `path`), -ENAMETOOLONG, -EAGAIN (queue full
/// or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or NUL-terminated; `times` is NULL or
/// readable for two timespecs during the call.
#[no_mangle]
pub unsafe extern "C" fn aopen_utimens_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    times: *const libc::timespec,
    flags: c_int,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated and `times` NULL or
        // two timespecs.
        let (path, times) = unsafe { (owned_path(path)?, times_arg(times)) };
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, Op::Utimens { path, times, flags }, cb, user_data) }
    })
}

/// Submits an asynchronous `futimens(fd, times)` and returns at once.
///
/// As `aopen_utimens_submit`, on an open descriptor, which stays the caller's until the
/// completion is delivered.
///
/// # Parameters
/// - `fd`: an open descriptor.
/// - `times`: the two times, or NULL for both now; copied before this returns.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_UTIMENS`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`), -EBADF (`fd` < 0), -EAGAIN (queue full or no
/// worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `times` is NULL or readable for two timespecs during
/// the call.
#[no_mangle]
pub unsafe extern "C" fn aopen_futimens_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    times: *const libc::timespec,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `times` is NULL or two timespecs.
        let times = unsafe { times_arg(times) };
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, Op::Futimens { fd, times }, cb, user_data) }
    })
}
