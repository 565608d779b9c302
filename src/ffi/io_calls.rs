//! The calls that move a file's bytes through the caller's memory, or sync them: fsync, read
//! (and `aopen_read_nowait`, its fast path without the queue), getdents, write.

use super::guard::*;
use super::types::*;
use crate::context::Bytes;
use crate::op::Op;
use std::ffi::{c_int, c_uint, c_void};

/// Submits an asynchronous `fsync(fd)` (or `fdatasync(fd)`) and returns at once.
///
/// The call always runs on a worker: no kernel interface syncs without waiting. `fd` stays
/// the caller's; keep it open until the completion is delivered (closing it meanwhile makes
/// the sync fail with -EBADF, or sync whatever file reuses the number). A cancel or timeout
/// is delivered at once, but a sync already running still completes in the kernel.
///
/// # Parameters
/// - `fd`: an open descriptor.
/// - `flags`: 0, or `AOPEN_FSYNC_DATASYNC` for `fdatasync(2)`, or'd with
///   `AOPEN_FSYNC_WAIT` for a sync that must run even while its filesystem is blocked and
///   the context fails fast (`AOPEN_OPT_FAIL_FAST`): it queues behind the stuck calls as
///   without fail-fast (a final flush before a close, say).
/// - `cb`, `user_data`: as for `aopen_submit` (the completion's result is 0 or -errno, and its
///   `op` is `AOPEN_OP_FSYNC`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, unknown `flags`), -EBADF (`fd` < 0), -EAGAIN
/// (queue full or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_fsync_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    flags: c_uint,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        if flags & !(AOPEN_FSYNC_DATASYNC | AOPEN_FSYNC_WAIT) != 0 {
            return Err(libc::EINVAL);
        }
        let (datasync, wait) = (flags & AOPEN_FSYNC_DATASYNC != 0, flags & AOPEN_FSYNC_WAIT != 0);
        let op = Op::Fsync { fd, datasync, wait };
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { submit_plain(ctx, op, cb, user_data) }
    })
}

/// Submits an asynchronous `pread(fd, buf, len, offset)` and returns at once.
///
/// The read runs on a worker into library memory, or, when it is at an offset on a local
/// regular file whose data is cached, inside this call (`preadv2(RWF_NOWAIT)`, the fast
/// path of `aopen_read_nowait`; for reads under 64 KiB even with other requests in flight,
/// larger ones only while none are) straight into `buf`, its completion ready at once (it
/// is admitted first, so a submit that fails writes nothing); a read the page cache holds
/// only part of still goes to a worker, so that `result` is what a blocking `pread`
/// returns. A worker's bytes are copied into `buf` by the worker as its read returns, while
/// the request is still waiting for them (once the read returned, a cancel gets -EALREADY):
/// either way `buf` holds them before the completion is delivered, and only when the read
/// succeeded. After a cancel or timeout is delivered, and after `aopen_ctx_free` returns,
/// the library never touches `buf`: free it as soon as such a completion is delivered,
/// even while the read still hangs on a worker. A worker's
/// library buffer counts against `buffer_budget_kib` until delivery, and after a cancel or
/// timeout until the syscall returns (the kernel may still write it), so delivering the
/// cancel of a hung read frees no budget; from 512 bytes up it
/// is page-aligned, so an `O_DIRECT` descriptor works whatever `buf`'s alignment. `fd` stays
/// the caller's; keep it open until the completion is delivered.
///
/// # Parameters
/// - `fd`: a descriptor open for reading.
/// - `buf`, `len`: where the bytes go, writable until the completion is delivered (`buf`
///   may be NULL only when `len` is 0). `len` is at most `INT_MAX`.
/// - `offset`: the file offset, or -1 to read at the file position and advance it, as
///   read(2) does. Concurrent such requests on one descriptor run in no set order.
/// - `cb`, `user_data`: as for `aopen_submit` (result: the bytes read, 0 at end of file, or
///   -errno; `op` `AOPEN_OP_READ`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, NULL `buf` with `len` > 0, `offset` < -1,
/// `len` over `INT_MAX` or over the whole buffer budget), -EBADF (`fd` < 0), -EAGAIN (queue
/// full, the buffer budget would be passed, or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `buf` is NULL or writable for `len` bytes until the
/// completion is delivered.
#[no_mangle]
pub unsafe extern "C" fn aopen_read_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    offset: i64,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let dst = buf_arg(buf, len)?;
        let token = Token::with_output(cb, user_data, dst, len);
        if len > i32::MAX as usize {
            return submitted(ctx.submit_read(fd, len, offset, token)); // (its checks answer)
        }
        // SAFETY: `buf` is writable for `len` bytes until the completion is delivered, per
        // the contract; a read made inside this call writes it before returning.
        let dst = unsafe { dst_arg(dst, len) };
        submitted(ctx.submit_read_into(fd, dst, offset, token))
    })
}

/// Reads on the calling thread if the kernel can from its page cache: `fd` is a regular
/// file on a local filesystem and `preadv2(RWF_NOWAIT)` finds the data cached. Otherwise
/// returns -EAGAIN at once, having waited for nothing: then use `aopen_read_submit`.
///
/// This is the fast path `aopen_read_submit` tries first for a read at an offset, without
/// the queue: the bytes go straight into `buf` and no completion is made. A filesystem whose
/// files refuse `RWF_NOWAIT` is remembered and not asked again. On tmpfs and ramfs, whose
/// files' data lives in memory (tmpfs refuses `RWF_NOWAIT`), it is a plain `pread`. Under
/// `AOPEN_OPT_NO_INLINE` it always returns -EAGAIN.
///
/// # Parameters
/// - `fd`: a descriptor open for reading.
/// - `buf`, `len`: where the bytes go (`buf` may be NULL only when `len` is 0); `len` at
///   most `INT_MAX`.
/// - `offset`: the file offset, or -1 for the file position (advanced by what is read).
///
/// # Returns
/// The bytes read (possibly fewer than `len` where only part is cached; 0 at end of file),
/// -EAGAIN (it would wait, or not a local regular file, or opened `O_DIRECT`, whose reads
/// bypass the page cache and wait for the disk), or -EINVAL (NULL `ctx`, NULL `buf`
/// with `len` > 0, `offset` < -1, `len` over `INT_MAX`), -EBADF, or the read's own -errno.
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `buf` is NULL or writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn aopen_read_nowait(
    ctx: *mut aopen_ctx,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    offset: i64,
) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let buf = buf_arg(buf, len)?;
        if len > i32::MAX as usize {
            return Err(libc::EINVAL);
        }
        // SAFETY: `buf` is writable for `len` bytes, per the contract.
        let dst = unsafe { dst_arg(buf, len) };
        Ok(ctx.read_nowait(fd, dst, offset)? as c_int)
    })
}

/// Submits an asynchronous `getdents64(dirfd, buf, len)` and returns at once.
///
/// Reads `linux_dirent64` records from the directory's current position on a worker into
/// library memory; they are copied into `buf` as for `aopen_read_submit` (same buffer rules
/// and budget). Concurrent requests on one
/// descriptor run in no set order.
///
/// # Parameters
/// - `dirfd`: a directory opened for reading (`O_RDONLY | O_DIRECTORY`).
/// - `buf`, `len`: where the records go, writable until the completion is delivered.
/// - `cb`, `user_data`: as for `aopen_submit` (result: bytes of records, 0 at the end, or
///   -errno; `op` `AOPEN_OP_GETDENTS`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, NULL `buf` with `len` > 0, `len` over
/// `INT_MAX` or the whole buffer budget), -EBADF (`dirfd` < 0), -EAGAIN (queue full, the
/// buffer budget would be passed, or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `buf` is NULL or writable for `len` bytes until the
/// completion is delivered.
#[no_mangle]
pub unsafe extern "C" fn aopen_getdents_submit(
    ctx: *mut aopen_ctx,
    dirfd: c_int,
    buf: *mut c_void,
    len: usize,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let token = Token::with_output(cb, user_data, buf_arg(buf, len)?, len);
        submitted(ctx.submit_getdents(dirfd, len, token))
    })
}

/// Submits an asynchronous `pwrite(fd, buf, len, offset)` and returns at once.
///
/// The data is copied before this returns: `buf` is free for reuse at once. The copy counts
/// against `buffer_budget_kib` until the completion is delivered, and after a cancel or
/// timeout until the syscall returns. `fd` stays the caller's;
/// keep it open until the completion is delivered. A cancel or timeout is delivered at once,
/// but a write already running may still take effect when its syscall returns.
///
/// # Parameters
/// - `fd`: a descriptor open for writing.
/// - `buf`, `len`: the data (`buf` may be NULL only when `len` is 0); `len` at most
///   `INT_MAX`.
/// - `offset`: the file offset, or -1 to write at the file position (or the end, with
///   `O_APPEND`) and advance it, as write(2) does. Concurrent such requests on one descriptor
///   run in no set order.
/// - `cb`, `user_data`: as for `aopen_submit` (result: the bytes written, which may be fewer
///   than `len`, or -errno; `op` `AOPEN_OP_WRITE`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx`, NULL `buf` with `len` > 0, `offset` < -1,
/// `len` over `INT_MAX` or over the whole buffer budget), -EBADF (`fd` < 0), -EAGAIN (queue
/// full, the buffer budget would be passed, or no worker thread; nothing queued).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `buf` is NULL or readable for `len` bytes during the
/// call.
#[no_mangle]
pub unsafe extern "C" fn aopen_write_submit(
    ctx: *mut aopen_ctx,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    offset: i64,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        buf_arg(buf.cast_mut(), len)?;
        ctx.check_buffer_len(len)?; // before copying it
        let data = if len == 0 {
            Bytes::with_capacity(0)
        } else {
            // SAFETY: `buf` is non-NULL and readable for `len` bytes, per the contract.
            Bytes::copy_of(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) })
        };
        submitted(ctx.submit_op(Op::Write { fd, offset, data }, Token::new(cb, user_data)))
    })
}
