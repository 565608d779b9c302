//! The C ABI of the data calls that move or reserve bytes without passing them through the
//! caller (fallocate, copy_file_range, sendfile), and of `aopen_call_submit`, which runs a
//! function of the caller's on a worker. Like the other later file calls (see `fs_calls`).

use super::guard::{aopen_ctx, guard_errno, owned_path, submit_plain};
use super::types::aopen_cb;
use crate::op::{Job, Op};
use std::ffi::{c_char, c_int, c_uint, c_void};

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

/// A function `aopen_call_submit` runs on a worker: it gets `arg` and returns the request's
/// result (by convention >= 0, or -errno).
pub type aopen_call_fn = Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>;

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
