//! The C ABI of the metadata, link and copy calls and of `aopen_call_submit`, each like the
//! file calls in `ffi`: submitted to a worker, charged to its file's filesystem, cancellable,
//! timed out like any request, caller memory written only at delivery.

use super::guard::{aopen_ctx, buf_arg, ctx_ref, guard_errno, path_arg, submitted, Token};
use super::types::aopen_cb;
use crate::op::{Job, Op, OpKind, StatfsBuf};
use std::ffi::{c_char, c_int, c_uint, c_void, CString};

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

/// A function `aopen_call_submit` runs on a worker: it gets `arg` and returns the request's
/// result (by convention >= 0, or -errno).
pub type aopen_call_fn = Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>;

/// A path argument, copied: `Err(EINVAL)` for NULL, `Err(ENAMETOOLONG)` for PATH_MAX or more.
///
/// # Safety
/// `path` is NULL or a readable NUL-terminated string.
unsafe fn owned_path(path: *const c_char) -> Result<CString, i32> {
    // SAFETY: per this function's contract.
    Ok(unsafe { path_arg(path) }?.to_owned())
}

/// Submits `op` on `ctx` with a token that writes no caller memory.
///
/// # Safety
/// `ctx` is NULL or a live context.
unsafe fn submit_plain(
    ctx: *mut aopen_ctx,
    op: Op,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> Result<i64, i32> {
    // SAFETY: per this function's contract.
    let ctx = unsafe { ctx_ref(ctx) }?;
    submitted(ctx.submit_op(op, Token::new(cb, user_data)))
}

/// The `times` argument of utimensat/futimens: NULL for "now", else the two timespecs.
///
/// # Safety
/// `times` is NULL or readable for two timespecs.
unsafe fn times_arg(times: *const libc::timespec) -> Option<[libc::timespec; 2]> {
    // SAFETY: per this function's contract, a non-NULL `times` holds two timespecs.
    (!times.is_null()).then(|| unsafe { [*times, *times.add(1)] })
}

/// Submits an asynchronous `readlinkat(AT_FDCWD, path, buf, len)` and returns at once.
///
/// Runs on a worker into library memory; the link's target is copied into `buf` (without a
/// NUL, truncated to `len` bytes, as readlink(2) does) by the call that delivers the
/// completion, which is the only time the library writes `buf`. The library buffer counts
/// against `buffer_budget_kib` as a read's does.
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
/// Runs on a worker into library memory; `*out` is written only by the call that delivers a
/// successful completion, as for `aopen_stat_submit`.
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

/// Submits an asynchronous `fallocate(fd, mode, offset, len)` and returns at once.
///
/// Runs on a worker. A cancel or timeout is delivered at once; a call already running may
/// still take effect. `fd` stays the caller's; keep it open until the completion is
/// delivered.
///
/// # Parameters
/// - `fd`: a descriptor open for writing.
/// - `mode`: fallocate's (`FALLOC_FL_KEEP_SIZE`, `FALLOC_FL_PUNCH_HOLE`, ...); the kernel
///   checks it.
/// - `offset`, `len`: the range, `offset` >= 0 and `len` > 0.
/// - `cb`, `user_data`: as for `aopen_submit` (result 0 or -errno, `op`
///   `AOPEN_OP_FALLOCATE`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, `offset` < 0, `len` <= 0), -EBADF (`fd` < 0),
/// -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_fallocate_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    mode: c_int,
    offset: i64,
    len: i64,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { submit_plain(ctx, Op::Fallocate { fd, mode, offset, len }, cb, user_data) })
}

/// Submits an asynchronous `copy_file_range(fd_in, off_in, fd_out, off_out, len, flags)` and
/// returns at once.
///
/// Runs on a worker, charged to `fd_in`'s filesystem; the data goes from file to file in the
/// kernel, through no library buffer. A cancel or timeout is delivered at once; a copy
/// already running may still take effect (and move the positions it uses). Both descriptors
/// stay the caller's; keep them open until the completion is delivered.
///
/// # Parameters
/// - `fd_in`, `off_in`: the source and where to read it, or -1 for its file position
///   (advanced by what is copied).
/// - `fd_out`, `off_out`: the destination, likewise.
/// - `len`: the most bytes to copy, at most `INT_MAX`.
/// - `flags`: 0 (the kernel checks it).
/// - `cb`, `user_data`: as for `aopen_submit` (result: the bytes copied, possibly fewer than
///   `len`, 0 at the source's end, or -errno; `op` `AOPEN_OP_COPY_FILE_RANGE`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, an offset < -1, `len` over `INT_MAX`), -EBADF
/// (a descriptor < 0), -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_copy_file_range_submit(
    ctx: *mut aopen_ctx,
    fd_in: c_int,
    off_in: i64,
    fd_out: c_int,
    off_out: i64,
    len: usize,
    flags: c_uint,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    let op = Op::CopyFileRange { fd_in, off_in, fd_out, off_out, len, flags };
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { submit_plain(ctx, op, cb, user_data) })
}

/// Submits an asynchronous `sendfile(out_fd, in_fd, offset, count)` and returns at once.
///
/// Runs on a worker, charged to `in_fd`'s filesystem; the data goes from the file to
/// `out_fd` (a socket, a pipe or a file) in the kernel, through no library buffer. A cancel
/// or timeout is delivered at once; a transfer already running may still take effect. Both
/// descriptors stay the caller's; keep them open until the completion is delivered.
///
/// # Parameters
/// - `out_fd`: where the data goes.
/// - `in_fd`: a file to read from.
/// - `offset`: where to read `in_fd`, or -1 for its file position (advanced by what is sent).
/// - `count`: the most bytes to send, at most `INT_MAX`.
/// - `cb`, `user_data`: as for `aopen_submit` (result: the bytes sent, possibly fewer than
///   `count`, or -errno; `op` `AOPEN_OP_SENDFILE`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, `offset` < -1, `count` over `INT_MAX`), -EBADF
/// (a descriptor < 0), -EAGAIN (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_sendfile_submit(
    ctx: *mut aopen_ctx,
    out_fd: c_int,
    in_fd: c_int,
    offset: i64,
    count: usize,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { submit_plain(ctx, Op::Sendfile { out_fd, in_fd, offset, count }, cb, user_data) })
}

/// The caller's function and argument, moved to a worker.
struct CallArg(unsafe extern "C" fn(*mut c_void) -> c_int, *mut c_void);

// SAFETY: the caller of `aopen_call_submit` promises `func` may run on another thread with
// `arg`; the library only hands the pair to one worker.
unsafe impl Send for CallArg {}

impl CallArg {
    fn call(self) -> i32 {
        // SAFETY: per `aopen_call_submit`'s contract, `func(arg)` may be called once, on a
        // worker.
        unsafe { (self.0)(self.1) }
    }
}

/// Submits a function of the caller's to run on a worker and returns at once: the escape
/// hatch for any blocking call the library has no submit for (libuv's `uv_queue_work`,
/// libeio's `eio_custom`), but fair between filesystems.
///
/// `func(arg)` runs on one of the context's workers, charged to the filesystem of `path`
/// (or of `fd` when `path` is NULL; to no filesystem when both are absent), so a function
/// stuck on a dead server holds that filesystem's share, not the pool, and the pool grows
/// past it as past any stuck syscall. Its return value is the completion's result.
///
/// A cancel or timeout is delivered at once. A queued function never runs; a running one
/// still runs to its end on its worker, and its result is dropped: `arg` must stay valid
/// until it returns, which the caller must learn by itself (e.g. from the function).
///
/// # Parameters
/// - `func`: the function; called once, on a worker thread, with `arg`.
/// - `arg`: handed to `func`; never dereferenced by the library.
/// - `path`: a file on the filesystem to charge (copied before this returns), or NULL.
/// - `fd`: with `path` NULL, a descriptor on the filesystem to charge, or -1 for none.
/// - `cb`, `user_data`: as for `aopen_submit` (result: `func`'s return value, by convention
///   >= 0 or -errno; `op` `AOPEN_OP_CALL`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `func`), -ENAMETOOLONG, -EAGAIN (queue full or
/// no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or NUL-terminated; `func(arg)` must be
/// safe to call once on another thread.
#[no_mangle]
pub unsafe extern "C" fn aopen_call_submit(
    ctx: *mut aopen_ctx,
    func: aopen_call_fn,
    arg: *mut c_void,
    path: *const c_char,
    fd: c_int,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        let f = func.ok_or(libc::EINVAL)?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let fs_path = if path.is_null() { None } else { Some(unsafe { owned_path(path) }?) };
        let call = CallArg(f, arg);
        let op = Op::Call { job: Job::new(move || call.call()), fs_path, fs_fd: fd.max(-1) };
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, op, cb, user_data) }
    })
}
