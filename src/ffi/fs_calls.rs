//! The C ABI of the link and query calls (readlink, symlink, link, access, statfs, fstatfs),
//! and the op kinds of the later file calls (the attribute calls are in `attr_calls`, the
//! data calls and `aopen_call_submit` in `data_calls`). Each
//! is like the file calls in `io_calls` and `meta_calls`: submitted to a worker, charged to
//! its file's filesystem, cancellable, timed out like any request, caller memory written only
//! at delivery.

use super::guard::{aopen_ctx, buf_arg, ctx_ref, guard_errno, owned_path, submit_plain, submitted, Token};
use super::types::aopen_cb;
use crate::op::{Op, OpKind, StatfsBuf};
use std::ffi::{c_char, c_int, c_void};

/// Completion of an `aopen_readlink_submit` request.
pub const AOPEN_OP_READLINK: u32 = 12u32;
/// Completion of an `aopen_symlink_submit` request.
pub const AOPEN_OP_SYMLINK: u32 = 13u32;
/// Completion of an `aopen_link_submit` request.
pub const AOPEN_OP_LINK: u32 = 14u32;
/// Completion of an `aopen_access_submit` request.
pub const AOPEN_OP_ACCESS: u32 = 15u32;
/// Completion of an `aopen_statfs_submit` or `aopen_fstatfs_submit` request.
pub const AOPEN_OP_STATFS: u32 = 16u32;
/// Completion of an `aopen_chmod_submit` or `aopen_fchmod_submit` request.
pub const AOPEN_OP_CHMOD: u32 = 17u32;
/// Completion of an `aopen_chown_submit` or `aopen_fchown_submit` request.
pub const AOPEN_OP_CHOWN: u32 = 18u32;
/// Completion of an `aopen_utimens_submit` or `aopen_futimens_submit` request.
pub const AOPEN_OP_UTIMENS: u32 = 19u32;
/// Completion of an `aopen_fallocate_submit` request.
pub const AOPEN_OP_FALLOCATE: u32 = 20u32;
/// Completion of an `aopen_copy_file_range_submit` request.
pub const AOPEN_OP_COPY_FILE_RANGE: u32 = 21u32;
/// Completion of an `aopen_sendfile_submit` request.
pub const AOPEN_OP_SENDFILE: u32 = 22u32;
/// Completion of an `aopen_call_submit` request.
pub const AOPEN_OP_CALL: u32 = 23u32;

const _: () = {
    assert!(AOPEN_OP_READLINK == OpKind::Readlink as u32 && AOPEN_OP_SYMLINK == OpKind::Symlink as u32);
    assert!(AOPEN_OP_LINK == OpKind::Link as u32 && AOPEN_OP_ACCESS == OpKind::Access as u32);
    assert!(AOPEN_OP_STATFS == OpKind::Statfs as u32 && AOPEN_OP_CHMOD == OpKind::Chmod as u32);
    assert!(AOPEN_OP_CHOWN == OpKind::Chown as u32 && AOPEN_OP_UTIMENS == OpKind::Utimens as u32);
    assert!(AOPEN_OP_FALLOCATE == OpKind::Fallocate as u32);
    assert!(AOPEN_OP_COPY_FILE_RANGE == OpKind::CopyFileRange as u32);
    assert!(AOPEN_OP_SENDFILE == OpKind::Sendfile as u32 && AOPEN_OP_CALL == OpKind::Call as u32);
};

/// Submits an asynchronous `readlinkat(AT_FDCWD, path, buf, len)` and returns at once.
///
/// Runs on a worker into library memory; the link's target is copied into `buf` (without a
/// NUL, truncated to `len` bytes, as readlink(2) does) as a read's bytes are (see
/// `aopen_read_submit`), which is the only time the library writes `buf`. The library
/// buffer counts against `buffer_budget_kib` as a read's does.
///
/// # Parameters
/// - `path`: the symbolic link; copied before this returns.
/// - `buf`, `len`: where the target goes, writable until the completion is delivered (`buf`
///   may be NULL only when `len` is 0).
/// - `cb`, `user_data`: as for `aopen_submit` (result: the bytes placed in `buf`, or -errno;
///   `op` `AOPEN_OP_READLINK`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `path`, NULL `buf` with `len` > 0, `len`
/// over `INT_MAX` or the whole buffer budget), -ENAMETOOLONG, -EAGAIN (queue full, the
/// buffer budget would be passed, or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or NUL-terminated; `buf` is NULL or
/// writable for `len` bytes until the completion is delivered.
#[no_mangle]
pub unsafe extern "C" fn aopen_readlink_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    buf: *mut c_char,
    len: usize,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        let dst = buf_arg(buf.cast(), len)?;
        submitted(ctx.submit_readlink(path, len, Token::with_output(cb, user_data, dst, len)))
    })
}

/// Submits an asynchronous `symlinkat(target, AT_FDCWD, linkpath)` and returns at once.
///
/// Runs on a worker, charged to the filesystem of `linkpath`'s directory. A cancel or
/// timeout is delivered at once; a symlink already running may still take effect.
///
/// # Parameters
/// - `target`: what the link points to (need not exist); copied before this returns.
/// - `linkpath`: the link to create; copied before this returns.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_SYMLINK`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, `target` or `linkpath`), -ENAMETOOLONG,
/// -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; each path is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aopen_symlink_submit(
    ctx: *mut aopen_ctx,
    target: *const c_char,
    linkpath: *const c_char,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees both paths are NULL or NUL-terminated.
        let (target, link) = unsafe { (owned_path(target)?, owned_path(linkpath)?) };
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, Op::Symlink { target, link }, cb, user_data) }
    })
}

/// Submits an asynchronous `linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, flags)` and returns
/// at once.
///
/// Runs on a worker, charged to `oldpath`'s filesystem. A cancel or timeout is delivered at
/// once; a link already running may still take effect.
///
/// # Parameters
/// - `oldpath`, `newpath`: copied before this returns.
/// - `flags`: linkat's (`AT_SYMLINK_FOLLOW`); the kernel checks them.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_LINK`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or path), -ENAMETOOLONG, -EAGAIN (queue full or
/// no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; each path is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn aopen_link_submit(
    ctx: *mut aopen_ctx,
    oldpath: *const c_char,
    newpath: *const c_char,
    flags: c_int,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees both paths are NULL or NUL-terminated.
        let (from, to) = unsafe { (owned_path(oldpath)?, owned_path(newpath)?) };
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, Op::Link { from, to, flags }, cb, user_data) }
    })
}

/// Submits an asynchronous `faccessat2(AT_FDCWD, path, mode, flags)` and returns at once.
///
/// Runs on a worker (on kernels before 5.8, glibc's `faccessat`, which emulates the flags).
///
/// # Parameters
/// - `path`: copied before this returns.
/// - `mode`: `F_OK`, or any of `R_OK`, `W_OK`, `X_OK`.
/// - `flags`: `AT_EACCESS`, `AT_SYMLINK_NOFOLLOW`; the kernel checks them.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno such as -EACCES or
///   -ENOENT, `op` `AOPEN_OP_ACCESS`).
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
pub unsafe extern "C" fn aopen_access_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    mode: c_int,
    flags: c_int,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, Op::Access { path, mode, flags }, cb, user_data) }
    })
}

/// Submits an asynchronous `statfs(path, out)` and returns at once.
///
/// Runs on a worker into library memory; `*out` is written only for a successful call,
/// before its completion is delivered, as for `aopen_stat_submit`.
///
/// # Parameters
/// - `path`: any file on the filesystem; copied before this returns.
/// - `out`: where the result goes, writable until the completion is delivered.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_STATFS`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, `path` or `out`), -ENAMETOOLONG, -EAGAIN
/// (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or NUL-terminated; `out` is NULL or
/// writable until the completion is delivered.
#[no_mangle]
pub unsafe extern "C" fn aopen_statfs_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    out: *mut libc::statfs,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        let token = Token::with_struct(cb, user_data, out)?;
        submitted(ctx.submit_op(Op::Statfs { path, out: StatfsBuf::default() }, token))
    })
}

/// Submits an asynchronous `fstatfs(fd, out)` and returns at once.
///
/// As `aopen_statfs_submit`, on an open descriptor, which stays the caller's: keep it open
/// until the completion is delivered.
///
/// # Parameters
/// - `fd`: an open descriptor.
/// - `out`: where the result goes, writable until the completion is delivered.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op` `AOPEN_OP_STATFS`).
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
pub unsafe extern "C" fn aopen_fstatfs_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    out: *mut libc::statfs,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let token = Token::with_struct(cb, user_data, out)?;
        submitted(ctx.submit_op(Op::Fstatfs { fd, out: StatfsBuf::default() }, token))
    })
}
