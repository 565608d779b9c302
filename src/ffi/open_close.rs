//! Submitting an open or a close: `aopen_submit`, `aclose_submit`.

use super::guard::*;
use super::types::*;
use crate::op::Op;
use std::ffi::{c_char, c_int, c_void};

/// Submits an asynchronous `open(path, flags | O_CLOEXEC, mode)` and returns at once.
///
/// The syscall runs on a worker through libc's `open` entry point (so LD_PRELOAD interposers
/// see it). `O_CLOEXEC` is always added, because workers run while other threads may fork
/// and exec; clear it with fcntl if a descriptor must be inherited. A relative path is
/// resolved against the working directory when the worker runs.
///
/// The fast path: while the context has no undelivered request, an open that
/// `aopen_open_nowait` could make (cached, on a local filesystem, a regular file or
/// directory or any file with `O_PATH`, no interposer, no `AOPEN_OPT_NO_INLINE`) is made
/// inside this call instead, and its completion queued at once
/// (`aopen_stats.inline_completions`). It is delivered like any other: the callback never
/// runs inside submit. With work in flight, the workers are the faster way and everything
/// goes to them. Either way the completion is what open(2) answers, with the same F_GETFL
/// and F_GETFD flags.
///
/// # Parameters
/// - `path`: NUL-terminated; copied before this returns.
/// - `flags`, `mode`: as for open(2).
/// - `cb`: called by `aopen_dispatch` with the completion; NULL means dispatch drops the
///   completion and closes a descriptor it opened (`aopen_reap` still returns it).
/// - `user_data`: handed back untouched in the completion.
///
/// # Returns
/// A request id > 0 (not reused before 2^35 later requests of the context), or -EINVAL
/// (NULL `ctx` or `path`), -ENAMETOOLONG (path of PATH_MAX bytes or more), -EAGAIN
/// (`queue_depth` requests are undelivered, or no worker thread could be started;
/// nothing was queued).
///
/// # Memory and lifetimes
/// The descriptor in a successful completion belongs to the caller.
///
/// # Thread safety
/// Any thread, any time, including from a callback. Never blocks on a syscall.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aopen_submit(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    flags: c_int,
    mode: libc::mode_t,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { owned_path(path) }?;
        submitted(ctx.submit_op(Op::Open { path, flags, mode }, Token::new(cb, user_data)))
    })
}

/// Submits an asynchronous `close(fd)` and returns at once.
///
/// From a successful submit on, the library owns `fd`: do not use or close it. If the request
/// is cancelled or times out before it runs (completion -ECANCELED / -ETIMEDOUT), the close
/// did not happen and `fd` is the caller's again. A close that is running cannot be
/// cancelled. `EINTR` from close(2) counts as success: Linux releases the descriptor anyway.
///
/// As with `aopen_submit`, on a quiet context a close that `aopen_close_nowait` could make (a
/// regular file or directory on a local filesystem) is made inside this call, and its
/// completion queued at once.
///
/// After a call on `fd` was cancelled or timed out while running (see `aopen_cancel`), this
/// close still closes the file at once, but keeps the number allocated (a placeholder on
/// which the call, should it not have entered its syscall yet, fails with `EBADF`) until that
/// call's syscall has returned: the number is never free for reuse while the call may use it.
///
/// # Parameters
/// - `fd`: the descriptor to close; the library owns it once this returns an id.
/// - `cb`, `user_data`: as for `aopen_submit` (the completion's result is 0 or -errno).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`), -EBADF (`fd` < 0), -EAGAIN (queue full or no
/// worker thread; nothing queued and `fd` is still the caller's).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aclose_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { submit_plain(ctx, Op::Close { fd }, cb, user_data) })
}
