//! What every export shares: the context handle, the caller's token, the panic guard, the
//! checks of pointer arguments (context, path, buffer), and the submit of a call that writes
//! no caller memory.

use super::types::*;
use crate::context::Context;
use crate::op::Op;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// An opaque context: one worker pool and one completion queue.
pub struct aopen_ctx {
    pub(super) ctx: Context<Token>,
}

/// What the C caller attached to a request.
pub(super) struct Token {
    pub(super) cb: aopen_cb,
    pub(super) user_data: *mut c_void,
    /// A stat's or read's destination in the caller's memory and its size, written by the
    /// worker that ran the call or by the call that delivers it; NULL for other calls.
    pub(super) out: *mut u8,
    pub(super) out_len: usize,
}

impl Token {
    /// The token of a call that writes no caller memory.
    pub(super) fn new(cb: aopen_cb, user_data: *mut c_void) -> Self {
        Token { cb, user_data, out: std::ptr::null_mut(), out_len: 0 }
    }

    /// The token of a call whose result goes into `out` (`len` bytes).
    pub(super) fn with_output(cb: aopen_cb, user_data: *mut c_void, out: *mut u8, len: usize) -> Self {
        Token { cb, user_data, out, out_len: len }
    }

    /// The token of a call whose result is one `T` (a statx, a statfs), copied into `*out`:
    /// `Err(EINVAL)` for a NULL `out`.
    pub(super) fn with_struct<S>(cb: aopen_cb, user_data: *mut c_void, out: *mut S) -> Result<Self, i32> {
        if out.is_null() {
            return Err(libc::EINVAL);
        }
        Ok(Self::with_output(cb, user_data, out.cast(), std::mem::size_of::<S>()))
    }
}

// SAFETY: the library never dereferences `user_data`, calls `cb` only on the thread that
// dispatches, and writes `out` only on the thread that delivers; moving the pointers
// between threads is what the C API promises its caller.
unsafe impl Send for Token {}

/// Runs an export's body, turning a panic into `on_panic` so it never unwinds into C.
pub(super) fn guard<R>(on_panic: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// `guard` for the int-returning exports: `Err(errno)` becomes `-errno`.
pub(super) fn guard_errno<R: From<i32>>(body: impl FnOnce() -> Result<R, i32>) -> R {
    guard(Err(libc::EIO), body).unwrap_or_else(|e| R::from(-e))
}

/// The context behind a caller's pointer, or `EINVAL` for NULL.
///
/// # Safety
/// `ctx` is NULL or a live pointer from `aopen_ctx_new` not yet passed to `aopen_ctx_free`.
pub(super) unsafe fn ctx_ref<'a>(ctx: *const aopen_ctx) -> Result<&'a Context<Token>, i32> {
    // SAFETY: per this function's contract, a non-NULL `ctx` points to a live aopen_ctx.
    unsafe { ctx.as_ref() }.map(|c| &c.ctx).ok_or(libc::EINVAL)
}

/// A caller's data buffer as a byte pointer: `Err(EINVAL)` for NULL with `len` > 0.
pub(super) fn buf_arg(buf: *mut c_void, len: usize) -> Result<*mut u8, i32> {
    if buf.is_null() && len > 0 {
        Err(libc::EINVAL)
    } else {
        Ok(buf.cast())
    }
}

/// The caller's `len` bytes at `buf` (non-NULL when `len` > 0: see [`buf_arg`]) as a
/// destination the kernel may write, nothing assumed of what they hold.
///
/// # Safety
/// `buf` is writable for `len` bytes (`len` <= `isize::MAX`) for as long as the slice is used.
pub(super) unsafe fn dst_arg<'a>(buf: *mut u8, len: usize) -> &'a mut [std::mem::MaybeUninit<u8>] {
    if len == 0 {
        return &mut [];
    }
    // SAFETY: non-NULL (len > 0, checked by buf_arg) and writable for `len` bytes, per this
    // function's contract; as MaybeUninit nothing is assumed of what it holds.
    unsafe { std::slice::from_raw_parts_mut(buf.cast(), len) }
}

/// A submit's return: the request id, or -errno (the token is dropped).
pub(super) fn submitted(r: Result<crate::queue::ids::Id, (i32, Token)>) -> Result<i64, i32> {
    r.map(|id| id as i64).map_err(|(e, _)| e)
}

/// The path argument of an export: NUL-terminated and shorter than PATH_MAX.
///
/// # Safety
/// `path` is NULL or a readable NUL-terminated string.
pub(super) unsafe fn path_arg<'a>(path: *const c_char) -> Result<&'a CStr, i32> {
    if path.is_null() {
        return Err(libc::EINVAL);
    }
    let max = libc::PATH_MAX as usize;
    // SAFETY: `path` is non-NULL and NUL-terminated; strnlen reads at most `max` bytes.
    if unsafe { libc::strnlen(path, max) } >= max {
        return Err(libc::ENAMETOOLONG);
    }
    // SAFETY: the string is NUL-terminated within `max` bytes (checked above).
    Ok(unsafe { CStr::from_ptr(path) })
}

/// A path argument, copied: `Err(EINVAL)` for NULL, `Err(ENAMETOOLONG)` for PATH_MAX or more.
///
/// # Safety
/// `path` is NULL or a readable NUL-terminated string.
pub(super) unsafe fn owned_path(path: *const c_char) -> Result<CString, i32> {
    // SAFETY: per this function's contract.
    Ok(unsafe { path_arg(path) }?.to_owned())
}

/// Submits `op` on `ctx` with a token that writes no caller memory.
///
/// # Safety
/// `ctx` is NULL or a live context.
pub(super) unsafe fn submit_plain(
    ctx: *mut aopen_ctx,
    op: Op,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> Result<i64, i32> {
    // SAFETY: per this function's contract.
    let ctx = unsafe { ctx_ref(ctx) }?;
    submitted(ctx.submit_op(op, Token::new(cb, user_data)))
}
