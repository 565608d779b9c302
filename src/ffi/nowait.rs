//! The calls that return at once instead of queueing: `aopen_open_nowait` (and
//! `aopen_open_nowait_statx`), `aopen_stat_nowait`, `aopen_close_nowait`, and `aclose_detach`
//! (a close handed to the library).

use super::guard::*;
use std::ffi::{c_char, c_int, c_uint};

/// Opens a file on this thread if the kernel can do it from its caches on a local
/// filesystem, else returns -EAGAIN at once: the primitive for a loop that skips the queue
/// in the common case and submits only what must wait.
///
/// The rule is io_uring's. The directory is resolved with `openat2(O_PATH, RESOLVE_CACHED)`,
/// which fails rather than ask a filesystem; its filesystem must be of a local type (ext4,
/// xfs, btrfs, tmpfs, f2fs, vfat, ...; never nfs, fuse, cifs/smb3, ceph, 9p or autofs, whose
/// open can wait on a server); the last component is then opened from it with
/// `RESOLVE_CACHED | RESOLVE_NO_XDEV`, so a symlink or `..` that leaves that mount returns
/// -EAGAIN instead of reaching another filesystem. `O_CLOEXEC` is always added.
///
/// # Parameters
/// - `path`, `flags`, `mode`: as for `aopen_submit`. `O_TMPFILE` always gets -EAGAIN, as do
///   `O_ASYNC` and flags with a bit open(2) does not know (it ignores them). `O_CREAT` and
///   `O_TRUNC` (which the kernel cannot do from cache) get -EAGAIN but in a directory on
///   tmpfs or ramfs, whose files live in memory: there the name is opened from the cached
///   directory with `RESOLVE_NO_XDEV` alone (a create or truncate reads and writes no
///   device). With `O_PATH` a file of any type
///   may be opened here (such an open runs no open of the file), the other flags ignored
///   but for `O_DIRECTORY` and `O_NOFOLLOW`, as open(2) ignores them.
///
/// # Returns
/// A descriptor (>= 0, the caller's), or -EAGAIN when the open would have to wait or could
/// reach a filesystem that might (submit it with `aopen_submit` instead), or another -errno
/// for an open that completed with an error (-ENOENT from a cached negative lookup, -EACCES,
/// ...), or -EINVAL (NULL `ctx` or `path`), -ENAMETOOLONG, -ESHUTDOWN (forked child). A
/// descriptor or an open's -errno is what open(2) answers, with the same file status flags
/// (F_GETFL) and descriptor flags (F_GETFD: always `FD_CLOEXEC`).
/// Always -EAGAIN with `AOPEN_OPT_NO_INLINE`, and while an LD_PRELOAD interposer of
/// open/openat/close is loaded (it must keep seeing every call).
///
/// # Thread safety
/// Any thread, any time. Never waits on a filesystem.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn aopen_open_nowait(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    flags: c_int,
    mode: libc::mode_t,
) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { path_arg(path) }?;
        ctx.open_nowait(path, flags, mode)
    })
}

/// `aopen_open_nowait`, which also writes the opened descriptor's statx to `*out`: the
/// fast path looks at what it opened with one statx anyway, so a caller that needs the
/// file's type, size or block size (as an fstat after the open would give them) is spared
/// that second syscall.
///
/// # Parameters
/// - `path`, `flags`, `mode`: as for `aopen_open_nowait`.
/// - `out`: written only when a descriptor is returned: the descriptor's statx
///   (`STATX_BASIC_STATS` and `STATX_MNT_ID`, taken right after the open, with
///   `AT_STATX_DONT_SYNC` on a local filesystem: what fstat would return).
///
/// # Returns
/// As `aopen_open_nowait`; also -EINVAL for a NULL `out`.
///
/// # Thread safety
/// Any thread, any time. Never waits on a filesystem.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aopen_open_nowait_statx(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    flags: c_int,
    mode: libc::mode_t,
    out: *mut libc::statx,
) -> c_int {
    // SAFETY: the caller guarantees the pointers' contract, which is with_statx's.
    unsafe { with_statx(ctx, path, out, |ctx, path, st| ctx.open_nowait_statx(path, flags, mode, st)) }
}

/// The body of a nowait call on a path that writes one statx: checks `ctx`, `path` and
/// `out` (-EINVAL for a NULL one), runs `call` into a statx of its own, and copies that to
/// `*out` only when `call` succeeds; a panic is -EIO, as everywhere.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string;
/// `out` is NULL or writable.
unsafe fn with_statx(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    out: *mut libc::statx,
    call: impl FnOnce(&crate::context::Context<Token>, &std::ffi::CStr, &mut libc::statx) -> Result<c_int, i32>,
) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { path_arg(path) }?;
        if out.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: statx is plain data, all zeroes a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        let r = call(ctx, path, &mut st)?;
        // SAFETY: `out` is non-NULL and writable, per the contract.
        unsafe { out.write_unaligned(st) };
        Ok(r)
    })
}

/// Stats a path on this thread if the kernel can resolve it from its caches to a file on a
/// local filesystem, else returns -EAGAIN at once: `aopen_stat_submit`'s fast path, without
/// the queue or a completion.
///
/// The walk is `aopen_open_nowait`'s, made with `O_PATH` (which opens nothing: no FIFO peer
/// is woken, no driver runs, and its close calls no flush): an absolute path is first
/// resolved from "/" with `RESOLVE_CACHED | RESOLVE_NO_XDEV` when the root filesystem is
/// local; otherwise the directory is resolved with `RESOLVE_CACHED`, must be on a local
/// filesystem (never nfs, fuse, cifs/smb3, ceph, 9p or autofs), and the last component is
/// resolved from it with `RESOLVE_CACHED | RESOLVE_NO_XDEV`. The stat is then
/// `statx(AT_EMPTY_PATH | AT_STATX_DONT_SYNC)` of that descriptor: on a local filesystem
/// the inode in memory is the truth, and the result is what `statx(path, flags, mask)`
/// returns.
///
/// # Parameters
/// - `path`: the path (relative ones to the working directory).
/// - `flags`: 0, or `AT_SYMLINK_NOFOLLOW` (the link itself, as lstat), `AT_NO_AUTOMOUNT`,
///   `AT_STATX_DONT_SYNC`; any other flag gets -EAGAIN (submit it: the kernel checks it).
/// - `mask`: the `STATX_*` fields wanted.
/// - `out`: written on success only (0 returned); it may hold more fields than `mask` asks
///   for, as statx's may.
///
/// # Returns
/// 0, or -EAGAIN when the stat would have to wait or could reach a filesystem that might
/// (submit it with `aopen_stat_submit` instead), or another -errno for a stat that completed
/// with an error (-ENOENT from a cached negative lookup, -ENOTDIR, -ELOOP, -EACCES, ...),
/// or -EINVAL (NULL `ctx`, `path` or `out`), -ENAMETOOLONG, -ESHUTDOWN (forked child).
/// Always -EAGAIN with `AOPEN_OPT_NO_INLINE`.
///
/// # Thread safety
/// Any thread, any time, including from a callback. Never waits on a filesystem.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a readable NUL-terminated string;
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aopen_stat_nowait(
    ctx: *mut aopen_ctx,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    out: *mut libc::statx,
) -> c_int {
    // SAFETY: the caller guarantees the pointers' contract, which is with_statx's.
    unsafe { with_statx(ctx, path, out, |ctx, path, st| ctx.stat_nowait(path, flags, mask, st).map(|()| 0)) }
}

/// Closes a descriptor on this thread if it is on a local filesystem (whose close never waits
/// on a server), else returns -EAGAIN at once and leaves `fd` open.
///
/// # Parameters
/// - `fd`: the descriptor.
///
/// # Returns
/// 0 (closed), or -EAGAIN (not closed: `fd` is still the caller's; submit the close with
/// `aclose_submit`), or -EBADF (`fd` < 0 or not open), -EINVAL (NULL `ctx`), -ESHUTDOWN
/// (forked child), or the close's own -errno (the descriptor is released anyway). Always
/// -EAGAIN with `AOPEN_OPT_NO_INLINE` or an LD_PRELOAD interposer of close, and while a
/// cancelled or timed-out call on `fd` may still be about to use it (see `aopen_cancel`;
/// `aclose_submit` then closes it safely).
///
/// # Thread safety
/// Any thread, any time. Never waits on a filesystem.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aopen_close_nowait(ctx: *mut aopen_ctx, fd: c_int) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { ctx_ref(ctx) }?.close_nowait(fd)?;
        Ok(0)
    })
}

/// Hands a descriptor to the library to close on a worker, with no completion.
///
/// For a descriptor the caller owes a close to but does not want to wait for: an open whose
/// result nobody will use, an error path. close(2) can block for as long as the file's
/// filesystem takes to flush (forever on a hung NFS or FUSE server), so an event loop should
/// never call it itself on a file of a network filesystem. The close is charged to the
/// descriptor's filesystem and counted in `aopen_stats` (`owed_closes`, and `running` /
/// `abandoned_threads` while it runs) like the library's own owed closes, but it is never
/// delivered and never refused for lack of queue room (each one holds a descriptor, so the
/// process's descriptor limit bounds them).
///
/// # Parameters
/// - `ctx`: the context.
/// - `fd`: the descriptor; the library owns it once this returns 0.
///
/// # Returns
/// 0, or -EINVAL (NULL `ctx`), -EBADF (`fd` < 0), -ESHUTDOWN (a context inherited across
/// fork). On failure `fd` is still the caller's.
///
/// # Memory and lifetimes
/// If the context is freed before the close runs, the close still runs (see
/// `aopen_ctx_free`).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn aclose_detach(ctx: *mut aopen_ctx, fd: c_int) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        unsafe { ctx_ref(ctx) }?.close_detached(fd)?;
        Ok(0)
    })
}
