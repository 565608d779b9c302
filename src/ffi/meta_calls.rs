//! The calls on what a file is and where it stands in the tree: stat, fstat, unlink, mkdir,
//! rename, ftruncate (the later ones, links and queries, are in `fs_calls`).

use super::guard::*;
use super::types::*;
use crate::op::{Op, StatxBuf};
use std::ffi::{c_char, c_int, c_uint, c_void};

/// Submits an asynchronous `statx(AT_FDCWD, path, flags, mask, out)` and returns at once.
///
/// Runs on a worker, into library memory. The fast path: while the context has no
/// undelivered request, a stat that `aopen_stat_nowait` could make (the path resolved from
/// the kernel's caches to a local filesystem, flags of `AT_SYMLINK_NOFOLLOW`,
/// `AT_NO_AUTOMOUNT` and `AT_STATX_DONT_SYNC` only, no `AOPEN_OPT_NO_INLINE`) is made inside
/// this call instead, as for `aopen_submit`, and its completion queued at once. The result is copied into `*out` as a read's bytes are into its buffer (see
/// `aopen_read_submit`): by the worker as the stat returns, or by the delivering call for one
/// made inside this call; only a successful stat writes it, always before its completion is
/// delivered. After a cancel or timeout is delivered, the library never touches `*out`: free
/// it as soon as such a completion is delivered.
///
/// # Parameters
/// - `path`: copied before this returns.
/// - `flags`: statx's (`AT_SYMLINK_NOFOLLOW`, `AT_NO_AUTOMOUNT`, `AT_STATX_*`); the kernel
///   checks them.
/// - `mask`: the `STATX_*` fields wanted.
/// - `out`: where the result goes, writable until the completion is delivered.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_STAT`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, `path` or `out`), -ENAMETOOLONG (path of
/// PATH_MAX bytes or more), -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string;
/// `out` is NULL or writable until the completion is delivered.
#[no_mangle]
pub unsafe extern "C" fn aopen_stat_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    out: *mut libc::statx,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        let token = Token::with_struct(cb, user_data, out)?;
        submitted(ctx.submit_op(Op::Stat { path, flags, mask, out: StatxBuf::new() }, token))
    })
}

/// Submits an asynchronous `statx(fd, "", AT_EMPTY_PATH, mask, out)` and returns at once.
///
/// As `aopen_stat_submit`, on an open descriptor, which stays the caller's: keep it open
/// until the completion is delivered. Runs on a worker, except on a local filesystem, whose
/// inode in memory is the truth: there it runs inside this call (with
/// `AT_STATX_DONT_SYNC`, so it never asks a server), its completion ready at once and its
/// result still copied to `out` only on delivery.
///
/// # Parameters
/// - `fd`: an open descriptor.
/// - `mask`: the `STATX_*` fields wanted.
/// - `out`: where the result goes, writable until the completion is delivered.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_STAT`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `out`), -EBADF (`fd` < 0), -EAGAIN (queue
/// full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `out` is NULL or writable until the completion is
/// delivered.
#[no_mangle]
pub unsafe extern "C" fn aopen_fstat_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    mask: c_uint,
    out: *mut libc::statx,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let token = Token::with_struct(cb, user_data, out)?;
        submitted(ctx.submit_op(Op::Fstat { fd, mask, out: StatxBuf::new() }, token))
    })
}

/// Submits an asynchronous `unlinkat(AT_FDCWD, path, flags)` and returns at once.
///
/// Runs on a worker (io_uring too hands unlinks to its workers). A cancel or timeout is
/// delivered at once; an unlink already running may still take effect when its syscall
/// returns, as with io_uring and libuv.
///
/// # Parameters
/// - `path`: copied before this returns; relative paths resolve against the current
///   directory when the worker runs the call.
/// - `flags`: 0 (a file), or `AT_REMOVEDIR` (an empty directory).
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_UNLINK`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `path`, other `flags`), -ENAMETOOLONG (path
/// of PATH_MAX bytes or more), -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aopen_unlink_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    flags: c_int,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        submitted(ctx.submit_op(Op::Unlink { path, flags }, Token::new(cb, user_data)))
    })
}

/// Submits an asynchronous `mkdirat(AT_FDCWD, path, mode)` and returns at once.
///
/// Runs on a worker. A cancel or timeout is delivered at once; a mkdir already running may
/// still take effect when its syscall returns.
///
/// # Parameters
/// - `path`: copied before this returns.
/// - `mode`: the new directory's permissions (before the umask).
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_MKDIR`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `path`), -ENAMETOOLONG (path of PATH_MAX
/// bytes or more), -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aopen_mkdir_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    mode: libc::mode_t,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        submitted(ctx.submit_op(Op::Mkdir { path, mode }, Token::new(cb, user_data)))
    })
}

/// Submits an asynchronous `renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)` and returns at
/// once.
///
/// Runs on a worker, charged to `from`'s filesystem. A cancel or timeout is delivered at
/// once; a rename already running may still take effect when its syscall returns.
///
/// # Parameters
/// - `from`, `to`: copied before this returns.
/// - `flags`: renameat2's (`RENAME_NOREPLACE`, `RENAME_EXCHANGE`, ...; 0 for rename(2)); the
///   kernel checks them, and reports what it refuses in the completion.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_RENAME`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, `from` or `to`), -ENAMETOOLONG (a path of
/// PATH_MAX bytes or more), -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `from` and `to` are NULL or readable NUL-terminated
/// strings.
#[no_mangle]
pub unsafe extern "C" fn aopen_rename_submit(
    ctx: *mut aopen_ctx,
    from: *const c_char,
    to: *const c_char,
    flags: c_uint,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `from` and `to` are NULL or NUL-terminated.
        let (from, to) = unsafe { (owned_path(from)?, owned_path(to)?) };
        submitted(ctx.submit_op(Op::Rename { from, to, flags }, Token::new(cb, user_data)))
    })
}

/// Submits an asynchronous `ftruncate(fd, length)` and returns at once.
///
/// Runs on a worker. `fd` stays the caller's; keep it open until the completion is
/// delivered. A cancel or timeout is delivered at once; a truncate already running may
/// still take effect when its syscall returns.
///
/// # Parameters
/// - `fd`: a descriptor open for writing.
/// - `length`: the new size in bytes, >= 0.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op`
///   `AOPEN_OP_FTRUNCATE`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, negative `length`), -EBADF (`fd` < 0), -EAGAIN
/// (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_ftruncate_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    length: i64,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { submit_plain(ctx, Op::Ftruncate { fd, length }, cb, user_data) })
}
