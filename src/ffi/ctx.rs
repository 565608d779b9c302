//! The context object: `aopen_ctx_new`, `aopen_ctx_free`, `aopen_ctx_fd`.

use super::guard::*;
use super::types::*;
use crate::config::Config;
use crate::context::Context;
use std::ffi::c_int;
use std::time::Duration;

pub(super) fn config_from(opts: &aopen_options) -> Result<Config, i32> {
    if opts.flags & !(AOPEN_OPT_EVENTFD | AOPEN_OPT_NO_MOUNTS | AOPEN_OPT_NO_INLINE | AOPEN_OPT_FAIL_FAST)
        != 0
        || opts.reserved.iter().any(|&r| r != 0)
    {
        return Err(libc::EINVAL);
    }
    Ok(Config {
        threads: opts.threads,
        max_threads: opts.max_threads,
        queue_depth: opts.queue_depth,
        timeout: (opts.timeout_ms != 0).then(|| Duration::from_millis(opts.timeout_ms.into())),
        eventfd: (opts.flags & AOPEN_OPT_EVENTFD != 0).then_some(opts.eventfd),
        per_mount_threads: opts.per_mount_threads,
        no_mounts: opts.flags & AOPEN_OPT_NO_MOUNTS != 0,
        no_inline: opts.flags & AOPEN_OPT_NO_INLINE != 0,
        fail_fast: opts.flags & AOPEN_OPT_FAIL_FAST != 0,
        buffer_budget_kib: opts.buffer_budget_kib,
        blocked_ms: opts.blocked_ms,
    })
}

/// Creates a context: a worker pool (threads start on demand) and a completion queue.
///
/// # Parameters
/// - `opts`: options, or NULL for every default. Not retained after the call.
/// - `out`: receives the new context on success; untouched on failure.
///
/// # Returns
/// 0, or -EINVAL (NULL `out`; `max_threads` < `threads`; `per_mount_threads` >
/// `max_threads`; unknown `flags` bits; a non-zero `reserved` word; a value over its
/// limit; `blocked_ms` other than 0 or 10 to 600000), -EBADF (`AOPEN_OPT_EVENTFD` with a
/// descriptor that is not open), -EMFILE/-ENFILE (no descriptor for the eventfd), -EAGAIN
/// (no thread).
///
/// # Memory and lifetimes
/// The context belongs to the caller until passed to `aopen_ctx_free`. Worker threads start
/// on demand; the watchdog thread starts here.
///
/// # Thread safety
/// Any thread; contexts are independent of each other.
///
/// # Safety
/// `opts` is NULL or points to a readable `aopen_options`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aopen_ctx_new(opts: *const aopen_options, out: *mut *mut aopen_ctx) -> c_int {
    guard_errno(|| {
        if out.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: the caller guarantees a non-NULL `opts` points to a readable options struct.
        let cfg = match unsafe { opts.as_ref() } {
            Some(o) => config_from(o)?,
            None => Config::default(),
        };
        let ctx = Box::new(aopen_ctx { ctx: Context::with_place(&cfg, Some(super::deliver::place))? });
        // SAFETY: `out` is non-NULL and the caller guarantees it is writable.
        unsafe { out.write(Box::into_raw(ctx)) };
        Ok(0)
    })
}

/// Frees a context. NULL is a no-op.
///
/// # Parameters
/// - `ctx`: the context; invalid after the call.
///
/// # Memory and lifetimes
/// Returns promptly, even with workers stuck in a hung syscall and closes hanging in a
/// filesystem's flush: it closes nothing itself. No callback runs; queued requests never run,
/// except that the descriptor of a queued close is closed (the library owns it);
/// descriptors opened for requests not yet delivered are closed too, and those of opens still
/// in a syscall when it returns. All of these closes run on the context's workers, which
/// stay until they are done (so a close hung on a dead server keeps its worker until the
/// server answers). The library's own eventfd is closed; a caller's (`AOPEN_OPT_EVENTFD`) is
/// left open and no longer written. Once the last context is freed and its workers are
/// done, the library holds no descriptor and no thread.
///
/// # Thread safety
/// The one call that is not free-threaded: no other thread may be using `ctx`, and it must
/// not be called from one of the context's own callbacks.
///
/// # Safety
/// `ctx` is NULL or a live context; no other thread may use it during or after the call.
/// Must not be called from a completion callback of the same context.
#[no_mangle]
pub unsafe extern "C" fn aopen_ctx_free(ctx: *mut aopen_ctx) {
    guard((), || {
        if !ctx.is_null() {
            // SAFETY: the caller hands back the Box made by aopen_ctx_new, used by nobody else.
            drop(unsafe { Box::from_raw(ctx) });
        }
    })
}

/// The descriptor to poll for readability: readable exactly while a completion is ready.
/// Poll it (epoll, poll, an event loop's reader watch); do not read from it.
///
/// # Parameters
/// - `ctx`: the context.
///
/// # Returns
/// The descriptor (the library's eventfd, or the caller's with `AOPEN_OPT_EVENTFD`), or
/// -EINVAL for NULL `ctx`. It stays valid until `aopen_ctx_free`.
///
/// # Thread safety
/// Any thread, any time.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_ctx_fd(ctx: *const aopen_ctx) -> c_int {
    // SAFETY: the caller guarantees `ctx` is NULL or live.
    guard_errno(|| unsafe { ctx_ref(ctx) }?.fd())
}
