//! Delivering completions and cancelling: `aopen_dispatch`, `aopen_reap`, `aopen_wait`,
//! `aopen_cancel`. Outputs are copied into the caller's memory here: by the delivering call,
//! or, for a call that ran on a worker, by that worker with [`place`] before it hands the
//! completion off (see `pool::place`).

use super::guard::*;
use super::types::*;
use crate::context::Context;
use crate::op::Output;
use crate::queue::requests::Completion;
use std::ffi::{c_int, c_uint};
use std::time::Duration;

/// Copies a completion's output (a read's bytes, a stat's result) into the caller's buffer,
/// unless its worker placed it there already (see [`place`]). The library memory goes back
/// to `ctx` for later reads.
pub(super) fn deliver_output(ctx: &Context<Token>, c: &mut Completion<Token>) {
    let Some(mut out) = c.out.take() else { return };
    if let Output::MountEvent(change) = &mut out {
        ctx.describe_change(change);
    }
    place(&c.token, &out);
    ctx.recycle(out);
}

/// The bytes of a kernel result struct held in library memory.
///
/// # Safety
/// `S` is plain data whose every byte is initialized (a zeroed box the kernel filled).
unsafe fn plain_bytes<S>(v: &S) -> &[u8] {
    // SAFETY: per this function's contract, `v` is readable as `size_of::<S>()` bytes.
    unsafe { std::slice::from_raw_parts((v as *const S).cast(), std::mem::size_of::<S>()) }
}

/// Copies a call's output to its caller's destination: by the worker that made it (see
/// `pool::place`), or by the delivering call for one the fast path made. False when the
/// call has none (then nothing is written).
pub(super) fn place(t: &Token, out: &Output) -> bool {
    if t.out.is_null() {
        return false;
    }
    copy_out(out, t.out, t.out_len);
    true
}

/// Copies up to `room` bytes of `out` to `dst`.
fn copy_out(out: &Output, dst: *mut u8, room: usize) {
    let event;
    let src: &[u8] = match out {
        Output::MountEvent(c) => {
            event = super::events::to_c(c);
            // SAFETY: aopen_mount_event is integers and byte arrays, every byte written by
            // `to_c`, with no padding (its fields' sizes are multiples of 8 bytes in order).
            unsafe { plain_bytes(&event) }
        }
        // SAFETY: statx is plain integers, with no padding the kernel left unwritten in a
        // zeroed box.
        Output::Statx(b) => unsafe { plain_bytes(&*b.0) },
        // SAFETY: as statx.
        Output::Statfs(b) => unsafe { plain_bytes(&*b.0) },
        Output::Bytes(b) => b,
    };
    let n = src.len().min(room);
    // SAFETY: the caller promised (aopen_stat_submit, aopen_read_submit) that `dst` is
    // writable for `room` bytes until the completion is delivered, which is now or later
    // (a worker places an output before it hands the completion off, only while no cancel,
    // timeout or free can have given `dst` back: see `pool::place`); `src` is library
    // memory, so the two never overlap.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n) };
}

pub(super) fn to_c(c: &Completion<Token>) -> aopen_completion {
    aopen_completion { id: c.id, user_data: c.token.user_data, result: c.result, op: c.op as u32 }
}

/// Delivers ready completions by calling their callbacks on this thread, oldest first.
/// Non-blocking. A completion whose request had no callback is dropped, and a descriptor it
/// opened is closed by the library, on a worker (as `aclose_detach`).
///
/// # Parameters
/// - `max`: the most to deliver; 0 = every completion ready when the call starts.
///
/// # Returns
/// How many were delivered (callbacks run plus completions dropped), or -EINVAL (NULL `ctx`).
/// Afterwards the context fd is readable iff completions remain.
///
/// # Thread safety
/// Any thread; callbacks run without library locks held and may re-enter the library
/// (but not free the context).
///
/// # Safety
/// `ctx` is NULL or a live context; each callback must be safe to call with its completion.
#[no_mangle]
pub unsafe extern "C" fn aopen_dispatch(ctx: *mut aopen_ctx, max: c_uint) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let n = ctx.dispatch(max as usize, |mut c| match c.token.cb {
            Some(cb) => {
                deliver_output(ctx, &mut c);
                let cc = to_c(&c);
                // SAFETY: the caller supplied `cb` for exactly this call; `cc` outlives it.
                unsafe { cb(&cc) }
            }
            None => ctx.discard(&c),
        })?;
        Ok(n.min(c_int::MAX as usize) as c_int)
    })
}

/// Copies ready completions into `out`, oldest first, calling no callbacks. Non-blocking.
///
/// # Parameters
/// - `out`: room for `max` completions; may be NULL only when `max` is 0.
/// - `max`: the most to copy.
///
/// # Returns
/// How many were copied, or -EINVAL (NULL `ctx`, or NULL `out` with `max` > 0).
///
/// # Memory and lifetimes
/// Descriptors in copied open completions belong to the caller.
///
/// # Thread safety
/// Any thread, any time.
///
/// # Safety
/// `ctx` is NULL or a live context; `out` has room for `max` completions.
#[no_mangle]
pub unsafe extern "C" fn aopen_reap(ctx: *mut aopen_ctx, out: *mut aopen_completion, max: c_uint) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        if out.is_null() && max > 0 {
            return Err(libc::EINVAL);
        }
        let mut i = 0usize;
        let n = ctx.reap(max as usize, |mut c| {
            deliver_output(ctx, &mut c);
            // SAFETY: `i` < `max` (reap yields at most `max` items) and `out` has room for
            // `max` completions per the caller's contract.
            unsafe { out.add(i).write(to_c(&c)) };
            i += 1;
        })?;
        Ok(n.min(c_int::MAX as usize) as c_int)
    })
}

/// Blocks until a completion is ready, or `timeout_ms` passes.
///
/// # Parameters
/// - `timeout_ms`: milliseconds to wait; -1 = forever; 0 = just check.
///
/// # Returns
/// How many completions are ready (> 0), 0 on timeout, -EINVAL (NULL `ctx`, or
/// `timeout_ms` < -1), or -ESHUTDOWN if another thread freed the context meanwhile (or in a
/// forked child). Delivers nothing: follow with `aopen_dispatch` or `aopen_reap`.
///
/// # Thread safety
/// Any thread, any time. The one call that may be blocked while another thread frees the
/// context: it then returns -ESHUTDOWN promptly and touches nothing of the freed handle.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_wait(ctx: *mut aopen_ctx, timeout_ms: c_int) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live when the call starts.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let timeout = match timeout_ms {
            -1 => None,
            t if t < -1 => return Err(libc::EINVAL),
            t => Some(Duration::from_millis(t as u64)),
        };
        if ctx.is_inherited() {
            return Err(libc::ESHUTDOWN);
        }
        // From here on only the waiter is used, so `aopen_ctx_free` on another thread may
        // release the handle while this call blocks: the wait then ends with -ESHUTDOWN.
        let waiter = ctx.waiter();
        Ok(waiter.wait(timeout)?.min(c_int::MAX as usize) as c_int)
    })
}

/// Cancels a request.
///
/// # Parameters
/// - `id`: an id returned by a submit call on this context.
///
/// # Returns
/// - 0: it will be delivered with -ECANCELED. A queued request never runs; a running open
///   is delivered at once, and any descriptor it opens is closed by the library when its
///   syscall returns; an open done but not yet delivered is delivered with -ECANCELED in its
///   place, and its descriptor is closed by the library when that delivery is made. A
///   cancelled close did not close its fd.
///   Any other running call (read, write, fsync, unlink, mkdir, rename, ftruncate, getdents,
///   stat) is delivered at once too, but may still take effect when its syscall returns, as
///   with io_uring and libuv; a read at the file position may still move it.
///
///   A running call on a descriptor of the caller's may not have entered its syscall yet
///   when its cancel is delivered. Close that descriptor through the library
///   (`aclose_submit` or `aclose_detach`): the file is closed at once, but the number stays
///   allocated until the call's syscall has returned. A close(2) of the caller's own must
///   wait until the worker is done (`aopen_stats`'s `abandoned_threads` falls to 0): closed
///   sooner, the number may be reused by the caller's next open, and the call would then
///   read, write, sync or truncate that file.
/// - -EALREADY: a close already running, a call other than an open already done (it took
///   effect), or a request already cancelled/timed out.
/// - -ENOENT: no such undelivered request.
/// - -EINVAL: NULL `ctx`.
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_cancel(ctx: *mut aopen_ctx, id: u64) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { ctx_ref(ctx) }?.cancel(id)?;
        Ok(0)
    })
}
