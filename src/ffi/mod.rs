//! The C ABI: the only place with `extern "C"`, raw pointers and the panic boundary.
//!
//! Every exported function runs its body through [`guard`], so no panic ever unwinds into
//! C (a caught panic becomes `-EIO`); checks its pointers before use; and returns 0, a
//! count, an id, or a negative errno. Outputs are written only on success.
#![allow(non_camel_case_types)]

mod abi;
mod fs_calls;
pub use abi::*;
pub use fs_calls::*;

use crate::config::Config;
use crate::context::{Bytes, Context};
use crate::request::{Completion, MountReport, OpKind, Output};
use crate::stats::{Histogram, HIST_BUCKETS};
use crate::sys;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Completion of an `aopen_submit` request.
pub const AOPEN_OP_OPEN: u32 = 1u32;
/// Completion of an `aclose_submit` request.
pub const AOPEN_OP_CLOSE: u32 = 2u32;
/// Completion of an `aopen_getdents_submit` request.
pub const AOPEN_OP_GETDENTS: u32 = 11u32;
/// Completion of an `aopen_read_submit` request.
pub const AOPEN_OP_READ: u32 = 3u32;
/// Completion of an `aopen_write_submit` request.
pub const AOPEN_OP_WRITE: u32 = 4u32;
/// Completion of an `aopen_fsync_submit` request.
pub const AOPEN_OP_FSYNC: u32 = 5u32;
/// Completion of an `aopen_stat_submit` or `aopen_fstat_submit` request.
pub const AOPEN_OP_STAT: u32 = 6u32;
/// Completion of an `aopen_unlink_submit` request.
pub const AOPEN_OP_UNLINK: u32 = 7u32;
/// Completion of an `aopen_mkdir_submit` request.
pub const AOPEN_OP_MKDIR: u32 = 8u32;
/// Completion of an `aopen_rename_submit` request.
pub const AOPEN_OP_RENAME: u32 = 9u32;
/// Completion of an `aopen_ftruncate_submit` request.
pub const AOPEN_OP_FTRUNCATE: u32 = 10u32;
/// `aopen_fsync_submit` flags: `fdatasync(2)` instead of `fsync(2)`.
pub const AOPEN_FSYNC_DATASYNC: u32 = 1u32;
/// `aopen_options.flags`: signal `options.eventfd` (the caller's) instead of an own eventfd.
pub const AOPEN_OPT_EVENTFD: u32 = 1u32;
/// `aopen_options.flags`: do not attribute requests to filesystems. Every request then counts
/// against one share (`per_mount_threads`, default: all of `max_threads`), so a hung
/// filesystem can again take the whole pool; in exchange submit makes no syscall (otherwise
/// an `aopen_submit` of a path not seen in the last second makes an `openat2`, a `statx` and
/// a `close`, about 2 us, and an `aclose_submit` one `statx`, about 0.4 us). For programs that
/// only open local files.
pub const AOPEN_OPT_NO_MOUNTS: u32 = 2u32;
/// `aopen_options.flags`: never complete a call on the caller's thread: `aopen_open_nowait`
/// and `aopen_close_nowait` always return -EAGAIN.
pub const AOPEN_OPT_NO_INLINE: u32 = 4u32;

/// Buckets in the `aopen_stats` histograms: bucket 0 counts durations under 2 us, bucket
/// `i` those in [2^i, 2^(i+1)) us, the last everything from 2^31 us on.
pub const AOPEN_HIST_BUCKETS: usize = 32;
const _: () = assert!(AOPEN_HIST_BUCKETS == HIST_BUCKETS);

/// Context options. An all-zero struct means every default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct aopen_options {
    /// Workers kept alive when idle; 0 = default (2 per CPU, at least 4, at most 64).
    pub threads: u32,
    /// Cap the pool may grow to while workers are blocked in slow syscalls; 0 = default
    /// (128, or `threads` if larger). Must not be below a non-zero `threads`.
    pub max_threads: u32,
    /// Max requests submitted and not yet delivered; 0 = default (1024). Submitting past it
    /// returns -EAGAIN. This bounds how many descriptors the library holds for the caller.
    pub queue_depth: u32,
    /// A request unfinished this long after submit completes with -ETIMEDOUT, exactly as if
    /// `aopen_cancel` had been called at that moment; 0 = no timeout.
    pub timeout_ms: u32,
    /// `AOPEN_OPT_*` bits; unknown bits are rejected with -EINVAL.
    pub flags: u32,
    /// With `AOPEN_OPT_EVENTFD`: the caller's eventfd, written (8 bytes) when completions
    /// become ready, never read or closed. Ignored without that flag.
    pub eventfd: i32,
    /// Most requests of one filesystem whose syscalls may run at once (abandoned ones and
    /// owed closes included: see `aopen_stats`); 0 = default (half of `max_threads`, at least
    /// 1; all of it with `AOPEN_OPT_NO_MOUNTS`). Requests past it wait in that filesystem's
    /// own queue while other filesystems' requests go ahead, so one hung filesystem can never
    /// hold more of the pool. A filesystem is its superblock (bind mounts share it) or, for
    /// network filesystems, its server (see README). Must not exceed `max_threads`.
    pub per_mount_threads: u32,
    /// Most KiB of caller data the context holds in library memory at once: read buffers
    /// until their completion is delivered, write copies until then, and for a call
    /// cancelled or timed out in its syscall until that returns (see
    /// `aopen_stats_snapshot.abandoned_buffer_bytes`); 0 = default (65536, that is 64 MiB). A read or write that would pass it gets -EAGAIN at submit (deliver
    /// completions to make room); one larger than the whole budget gets -EINVAL. The context
    /// also keeps delivered reads' buffers (4 KiB and up) for its next reads, only while they
    /// and the bytes requests hold stay within the budget (and 64 MiB); freed with the
    /// context.
    pub buffer_budget_kib: u32,
    /// Must be zero.
    pub reserved: [u32; 4],
}

/// One delivered request.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct aopen_completion {
    /// The id that submit returned.
    pub id: u64,
    /// As given to submit; never dereferenced by the library.
    pub user_data: *mut c_void,
    /// open: the new descriptor (>= 0, owned by the caller); close: 0; failure: -errno
    /// (-ECANCELED after `aopen_cancel`, -ETIMEDOUT after a timeout).
    pub result: i32,
    /// Which call: an `AOPEN_OP_*` value.
    pub op: u32,
}

/// A completion callback. It runs on the thread that calls `aopen_dispatch`, never on a
/// worker; `completion` is valid only during the call. It may call `aopen_submit`,
/// `aclose_submit`, `aopen_cancel` and `aopen_dispatch`, but not `aopen_ctx_free`.
pub type aopen_cb = Option<unsafe extern "C" fn(completion: *const aopen_completion)>;

/// A context's counters and its pool's state at one moment (see `aopen_stats`). Named
/// `_snapshot` because a C typedef cannot share the function's name.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct aopen_stats_snapshot {
    /// Requests accepted by `aopen_submit` and `aclose_submit`.
    pub submitted: u64,
    /// Completions handed over by `aopen_dispatch` or `aopen_reap`.
    pub delivered: u64,
    /// Requests completed with -ECANCELED by `aopen_cancel`.
    pub cancelled: u64,
    /// Requests completed with -ETIMEDOUT by the context's timeout.
    pub timed_out: u64,
    /// Requests waiting for a worker now...
    pub queued: u32,
    /// ...of which this many wait only because their filesystem has its share of syscalls
    /// running, or because it is blocked and the blocked budget is spent or the process is
    /// at the abandoned-worker cap.
    pub queued_over_share: u32,
    /// Syscalls in progress now, abandoned ones included.
    pub running: u32,
    /// Worker threads alive now (idle, running or abandoned).
    pub threads: u32,
    /// Workers waiting for work now.
    pub idle_threads: u32,
    /// Workers stuck in a syscall whose request was cancelled, timed out or freed, or running
    /// an owed close (`owed_closes`). They hold their filesystem's share until the syscall
    /// returns, but not the pool's `max_threads`.
    pub abandoned_threads: u32,
    /// Most worker threads alive at once so far.
    pub peak_threads: u32,
    /// Filesystems with requests queued or running now.
    pub mounts: u32,
    /// The per-filesystem share in force (`aopen_options.per_mount_threads` or its default).
    pub per_mount_threads: u32,
    /// Abandoned workers of every context in the process now, and the cap on them (the
    /// `AOPEN_MAX_ABANDONED` environment variable, default 1024): at the cap blocked
    /// filesystems start nothing until abandoned syscalls return, while the others are
    /// still served (each context keeping up to `threads` workers for them).
    pub process_abandoned_threads: u32,
    pub process_abandoned_cap: u32,
    /// Syscalls in progress now on *blocked* filesystems: those with a syscall asleep in the
    /// kernel for over 200 ms. They do not count against `max_threads`; together they may
    /// start only while fewer than `max_threads` of them run.
    pub blocked_running: u32,
    /// How long requests waited between submit and a worker taking them, in log2
    /// microsecond buckets (see `AOPEN_HIST_BUCKETS`); one count per request started.
    pub queue_wait_us: [u64; AOPEN_HIST_BUCKETS],
    /// How long their syscalls took, in the same buckets; one count per syscall returned.
    pub service_us: [u64; AOPEN_HIST_BUCKETS],
    /// Closes the library queued on its own for descriptors nobody could receive any more
    /// (a cancelled or timed-out open's, a dropped completion's, what a free left, and
    /// `aclose_detach`'s). They run on workers, never on the caller's thread.
    pub owed_closes: u64,
    /// Of `submitted`, the requests that completed inside `aopen_submit` / `aclose_submit`
    /// on the fast path (a cached open, a close on a local filesystem, a cached read at an
    /// offset, an fstat on a local filesystem; see `aopen_open_nowait`). They are delivered
    /// like any other.
    pub inline_completions: u64,
    /// Bytes of caller data held in library memory now (see `buffer_budget_kib`)...
    pub buffer_bytes: u64,
    /// ...of which this many are held by abandoned calls still in their syscall: a cancelled
    /// or timed-out read's buffer, which the kernel may still write, and a write's copy stay
    /// counted until the syscall returns, not only until the cancel is delivered.
    pub abandoned_buffer_bytes: u64,
    /// Zero; room for more counters without changing the struct's size.
    pub reserved: [u64; 4],
}

/// One filesystem with blocked requests (see `aopen_stats_mounts`). Requests are charged to
/// filesystems, not mounts: a bind mount is its filesystem, and the mounts of one network
/// server (nfs, cifs, ceph, sshfs) are one entry. The entry is named by one mount of it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct aopen_mount_stats {
    /// Where it is mounted (its first mount in /proc/self/mountinfo); for a filesystem no
    /// longer mounted (detached by `umount -l` while calls hang in it), where it was; "" if
    /// that could not be determined. Valid only during the callback.
    pub mount_point: *const c_char,
    /// Its filesystem type ("nfs4", "tmpfs", ...), or "". Valid only during the callback.
    pub fstype: *const c_char,
    /// That mount's id (the first field of /proc/self/mountinfo); UINT64_MAX if unknown.
    pub mount_id: u64,
    /// How long the oldest of its blocked requests has been waiting or in its syscall.
    pub oldest_ms: u64,
    /// Its requests waiting for a worker.
    pub queued: u32,
    /// Its syscalls in progress, abandoned ones included.
    pub running: u32,
    /// Of those, the abandoned ones.
    pub abandoned: u32,
    /// Its queued requests submitted, and syscalls started, at least the threshold ago.
    pub blocked: u32,
}

/// Receives one mount from `aopen_stats_mounts`; `m` is valid only during the call.
pub type aopen_mount_cb = Option<unsafe extern "C" fn(m: *const aopen_mount_stats, user_data: *mut c_void)>;

/// An opaque context: one worker pool and one completion queue.
pub struct aopen_ctx {
    ctx: Context<Token>,
}

/// What the C caller attached to a request.
pub(super) struct Token {
    cb: aopen_cb,
    user_data: *mut c_void,
    /// A stat's or read's destination in the caller's memory and its size, written only by
    /// the call that delivers the completion; NULL for other calls.
    out: *mut u8,
    out_len: usize,
}

impl Token {
    /// The token of a call that writes no caller memory.
    pub(super) fn new(cb: aopen_cb, user_data: *mut c_void) -> Self {
        Token { cb, user_data, out: std::ptr::null_mut(), out_len: 0 }
    }

    /// The token of a call whose result the delivering call copies into `out` (`len` bytes).
    pub(super) fn with_output(cb: aopen_cb, user_data: *mut c_void, out: *mut u8, len: usize) -> Self {
        Token { cb, user_data, out, out_len: len }
    }
}

// SAFETY: the library never dereferences `user_data`, calls `cb` only on the thread that
// dispatches, and writes `out` only on the thread that delivers; moving the pointers
// between threads is what the C API promises its caller.
unsafe impl Send for Token {}

/// Runs an export's body, turning a panic into `on_panic` so it never unwinds into C.
fn guard<R>(on_panic: R, body: impl FnOnce() -> R) -> R {
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

/// Copies a completion's output (a read's bytes, a stat's result) into the caller's buffer:
/// done by the call that delivers it, on its thread, and by nothing else. The library memory
/// goes back to `ctx` for later reads.
fn deliver_output(ctx: &Context<Token>, c: &mut Completion<Token>) {
    let Some(out) = c.out.take() else { return };
    let (dst, room) = (c.token.out, c.token.out_len);
    if !dst.is_null() {
        copy_out(&out, dst, room);
    }
    ctx.recycle(out);
}

/// Copies up to `room` bytes of `out` to `dst`.
fn copy_out(out: &Output, dst: *mut u8, room: usize) {
    let src: &[u8] = match out {
        // SAFETY: statx is plain data; its bytes are readable for its size.
        Output::Statx(b) => unsafe {
            std::slice::from_raw_parts(
                (&*b.0 as *const libc::statx).cast(),
                std::mem::size_of::<libc::statx>(),
            )
        },
        // SAFETY: statfs is plain data; its bytes are readable for its size.
        Output::Statfs(b) => unsafe {
            std::slice::from_raw_parts(
                (&*b.0 as *const libc::statfs).cast(),
                std::mem::size_of::<libc::statfs>(),
            )
        },
        Output::Bytes(b) => b,
    };
    let n = src.len().min(room);
    // SAFETY: the caller promised (aopen_stat_submit, aopen_read_submit) that `dst` is
    // writable for `room` bytes until the completion is delivered, which is now; `src` is
    // library memory, so the two never overlap.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n) };
}

/// A caller's data buffer as a byte pointer: `Err(EINVAL)` for NULL with `len` > 0.
pub(super) fn buf_arg(buf: *mut c_void, len: usize) -> Result<*mut u8, i32> {
    if buf.is_null() && len > 0 {
        Err(libc::EINVAL)
    } else {
        Ok(buf.cast())
    }
}

/// A submit's return: the request id, or -errno (the token is dropped).
pub(super) fn submitted(r: Result<crate::request::Id, (i32, Token)>) -> Result<i64, i32> {
    r.map(|id| id as i64).map_err(|(e, _)| e)
}

fn to_c(c: &Completion<Token>) -> aopen_completion {
    aopen_completion { id: c.id, user_data: c.token.user_data, result: c.result, op: c.op as u32 }
}

fn config_from(opts: &aopen_options) -> Result<Config, i32> {
    if opts.flags & !(AOPEN_OPT_EVENTFD | AOPEN_OPT_NO_MOUNTS | AOPEN_OPT_NO_INLINE) != 0
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
        buffer_budget_kib: opts.buffer_budget_kib,
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
/// limit), -EBADF (`AOPEN_OPT_EVENTFD` with a descriptor
/// that is not open), -EMFILE/-ENFILE (no descriptor for the eventfd), -EAGAIN (no thread).
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
        let ctx = Box::new(aopen_ctx { ctx: Context::new(&cfg)? });
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

/// Submits an asynchronous `open(path, flags | O_CLOEXEC, mode)` and returns at once.
///
/// The syscall runs on a worker through libc's `open` entry point (so LD_PRELOAD interposers
/// see it). `O_CLOEXEC` is always added, because workers run while other threads may fork
/// and exec; clear it with fcntl if a descriptor must be inherited. A relative path is
/// resolved against the working directory when the worker runs.
///
/// The fast path: while the context has no undelivered request, an open that
/// `aopen_open_nowait` could make (cached, on a local filesystem, a regular file or
/// directory, no interposer, no `AOPEN_OPT_NO_INLINE`) is made inside this call instead, and
/// its completion queued at once (`aopen_stats.inline_completions`). It is delivered like any
/// other: the callback never runs inside submit. With work in flight, the workers are the
/// faster way and everything goes to them.
///
/// # Parameters
/// - `path`: NUL-terminated; copied before this returns.
/// - `flags`, `mode`: as for open(2).
/// - `cb`: called by `aopen_dispatch` with the completion; NULL means dispatch drops the
///   completion and closes a descriptor it opened (`aopen_reap` still returns it).
/// - `user_data`: handed back untouched in the completion.
///
/// # Returns
/// A request id > 0 (not reused before 2^37 later requests of the context), or -EINVAL
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
        let path = unsafe { path_arg(path) }?.to_owned();
        submitted(ctx.submit_open(path, flags, mode, Token::new(cb, user_data)))
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
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        submitted(ctx.submit_close(fd, Token::new(cb, user_data)))
    })
}

/// Submits an asynchronous `fsync(fd)` (or `fdatasync(fd)`) and returns at once.
///
/// The call always runs on a worker: no kernel interface syncs without waiting. `fd` stays
/// the caller's; keep it open until the completion is delivered (closing it meanwhile makes
/// the sync fail with -EBADF, or sync whatever file reuses the number). A cancel or timeout
/// is delivered at once, but a sync already running still completes in the kernel.
///
/// # Parameters
/// - `fd`: an open descriptor.
/// - `flags`: 0, or `AOPEN_FSYNC_DATASYNC` for `fdatasync(2)`.
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
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        if flags & !AOPEN_FSYNC_DATASYNC != 0 {
            return Err(libc::EINVAL);
        }
        let datasync = flags & AOPEN_FSYNC_DATASYNC != 0;
        submitted(ctx.submit_fsync(fd, datasync, Token::new(cb, user_data)))
    })
}

/// Submits an asynchronous `pread(fd, buf, len, offset)` and returns at once.
///
/// The read runs on a worker into library memory, or, when it is at an offset on a local
/// regular file whose data is cached, inside this call (`preadv2(RWF_NOWAIT)`, the fast
/// path of `aopen_read_nowait`; for reads under 64 KiB even with other requests in flight,
/// larger ones only while none are) into library memory too, its completion ready at once;
/// a read the page cache holds only part of still goes to a worker, so that `result` is
/// what a blocking `pread` returns.
/// Either way the bytes are copied into `buf` by the `aopen_dispatch` or `aopen_reap` call
/// that delivers the completion, on its thread, before the callback runs. Before that, and
/// after a cancel or timeout is delivered, the library never touches `buf`: free it as soon
/// as such a completion is delivered, even while the read still hangs on a worker. The
/// library's buffer counts against `buffer_budget_kib` until delivery, and after a cancel or
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
        let token = Token::with_output(cb, user_data, buf_arg(buf, len)?, len);
        submitted(ctx.submit_read(fd, len, offset, token))
    })
}

/// Reads on the calling thread if the kernel can from its page cache: `fd` is a regular
/// file on a local filesystem and `preadv2(RWF_NOWAIT)` finds the data cached. Otherwise
/// returns -EAGAIN at once, having waited for nothing: then use `aopen_read_submit`.
///
/// This is the fast path `aopen_read_submit` tries first for a read at an offset, without
/// the queue: the bytes go straight into `buf` and no completion is made. A filesystem whose
/// files refuse `RWF_NOWAIT` is remembered and not asked again. Under `AOPEN_OPT_NO_INLINE`
/// it always returns -EAGAIN.
///
/// # Parameters
/// - `fd`: a descriptor open for reading.
/// - `buf`, `len`: where the bytes go (`buf` may be NULL only when `len` is 0); `len` at
///   most `INT_MAX`.
/// - `offset`: the file offset, or -1 for the file position (advanced by what is read).
///
/// # Returns
/// The bytes read (possibly fewer than `len` where only part is cached; 0 at end of file),
/// -EAGAIN (it would wait, or not a local regular file), or -EINVAL (NULL `ctx`, NULL `buf`
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
        buf_arg(buf, len)?;
        if len > i32::MAX as usize {
            return Err(libc::EINVAL);
        }
        let dst: &mut [std::mem::MaybeUninit<u8>] = if len == 0 {
            &mut []
        } else {
            // SAFETY: `buf` is non-NULL and writable for `len` bytes, per the contract; as
            // MaybeUninit nothing is assumed of what it holds.
            unsafe { std::slice::from_raw_parts_mut(buf.cast(), len) }
        };
        Ok(ctx.read_nowait(fd, dst, offset)? as c_int)
    })
}

/// Submits an asynchronous `getdents64(dirfd, buf, len)` and returns at once.
///
/// Reads `linux_dirent64` records from the directory's current position on a worker into
/// library memory; they are copied into `buf` by the call that delivers the completion, as
/// for `aopen_read_submit` (same buffer rules and budget). Concurrent requests on one
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
        if len > i32::MAX as usize || len > ctx.buffer_budget() {
            return Err(libc::EINVAL); // before copying it
        }
        let data = if len == 0 {
            Bytes::with_capacity(0)
        } else {
            // SAFETY: `buf` is non-NULL and readable for `len` bytes, per the contract.
            Bytes::copy_of(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) })
        };
        submitted(ctx.submit_write(fd, data, offset, Token::new(cb, user_data)))
    })
}

/// Submits an asynchronous `statx(AT_FDCWD, path, flags, mask, out)` and returns at once.
///
/// Runs on a worker (io_uring too hands a stat by path to its workers), into library
/// memory. The result is copied into `*out` by the `aopen_dispatch` or `aopen_reap` call that
/// delivers the completion, on its thread, before the callback runs; only a successful stat
/// writes it. Before that, and after a cancel or timeout is delivered, the library never
/// touches `*out`: free it as soon as such a completion is delivered.
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
        let path = unsafe { path_arg(path) }?.to_owned();
        if out.is_null() {
            return Err(libc::EINVAL);
        }
        let token = Token::with_output(cb, user_data, out.cast(), std::mem::size_of::<libc::statx>());
        submitted(ctx.submit_stat(path, flags, mask, token))
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
        if out.is_null() {
            return Err(libc::EINVAL);
        }
        let token = Token::with_output(cb, user_data, out.cast(), std::mem::size_of::<libc::statx>());
        submitted(ctx.submit_fstat(fd, mask, token))
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
        let path = unsafe { path_arg(path) }?.to_owned();
        submitted(ctx.submit_unlink(path, flags, Token::new(cb, user_data)))
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
        let path = unsafe { path_arg(path) }?.to_owned();
        submitted(ctx.submit_mkdir(path, mode, Token::new(cb, user_data)))
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
        let (from, to) = unsafe { (path_arg(from)?.to_owned(), path_arg(to)?.to_owned()) };
        submitted(ctx.submit_rename(from, to, flags, Token::new(cb, user_data)))
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
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        submitted(ctx.submit_ftruncate(fd, length, Token::new(cb, user_data)))
    })
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
/// - `path`, `flags`, `mode`: as for `aopen_submit`. `O_CREAT`, `O_TRUNC` and `O_TMPFILE`
///   always get -EAGAIN (the kernel cannot do them from cache).
///
/// # Returns
/// A descriptor (>= 0, the caller's), or -EAGAIN when the open would have to wait or could
/// reach a filesystem that might (submit it with `aopen_submit` instead), or another -errno
/// for an open that completed with an error (-ENOENT from a cached negative lookup, -EACCES,
/// ...), or -EINVAL (NULL `ctx` or `path`), -ENAMETOOLONG, -ESHUTDOWN (forked child).
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
            // On a worker: a close can hang in the filesystem's flush. (Only a context that
            // is gone refuses, and then nobody else can close it.)
            None if c.op == OpKind::Open && c.result >= 0 && ctx.close_detached(c.result).is_err() => {
                sys::close_quietly(c.result)
            }
            None => {}
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
/// - 0: it will be delivered with -ECANCELED. A queued request never runs; a running open,
///   or one done but not yet delivered, is delivered at once, and any descriptor it opens is
///   closed by the library when its syscall returns. A cancelled close did not close its fd.
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

/// The library version.
///
/// # Returns
/// A static NUL-terminated string, "MAJOR.MINOR.PATCH"; never NULL, never to be freed.
///
/// # Thread safety
/// Any thread, any time.
#[no_mangle]
pub extern "C" fn aopen_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

fn u32_of(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

fn hist(h: &Histogram) -> [u64; AOPEN_HIST_BUCKETS] {
    h.0
}

/// Takes a snapshot of a context's counters and pool: cheap enough to call every second
/// from an event loop (one brief lock, no syscall, no allocation).
///
/// # Parameters
/// - `ctx`: the context.
/// - `out`: receives the snapshot on success; untouched on failure.
///
/// # Returns
/// 0, or -EINVAL (NULL `ctx` or `out`), -ESHUTDOWN (a context inherited across fork).
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn aopen_stats(ctx: *const aopen_ctx, out: *mut aopen_stats_snapshot) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        if out.is_null() {
            return Err(libc::EINVAL);
        }
        let s = ctx.stats()?;
        let c = &s.counters;
        let v = aopen_stats_snapshot {
            submitted: c.submitted,
            delivered: c.delivered,
            cancelled: c.cancelled,
            timed_out: c.timed_out,
            queued: u32_of(s.queued),
            queued_over_share: u32_of(s.queued_over_share),
            running: u32_of(s.running),
            threads: u32_of(s.threads),
            idle_threads: u32_of(s.idle),
            abandoned_threads: u32_of(s.abandoned),
            peak_threads: u32_of(s.peak_threads),
            mounts: u32_of(s.mounts),
            per_mount_threads: u32_of(s.per_mount_threads),
            process_abandoned_threads: u32_of(s.process_abandoned),
            process_abandoned_cap: u32_of(s.abandoned_cap),
            blocked_running: u32_of(s.blocked_running),
            queue_wait_us: hist(&c.queue_wait),
            service_us: hist(&c.service),
            owed_closes: c.owed_closes,
            inline_completions: c.inline,
            buffer_bytes: s.buffer_bytes as u64,
            abandoned_buffer_bytes: s.abandoned_buffer_bytes as u64,
            reserved: [0; 4],
        };
        // SAFETY: `out` is non-NULL and, per the contract, writable.
        unsafe { out.write(v) };
        Ok(0)
    })
}

/// Lists the filesystems that have requests blocked: queued, or in their syscall (abandoned
/// ones and owed closes included), for at least `min_blocked_ms`. A hung network mount shows
/// up here with its queue and its stuck syscalls while every other filesystem's requests
/// keep completing.
///
/// # Parameters
/// - `ctx`: the context.
/// - `min_blocked_ms`: the threshold; 0 lists every filesystem with a request queued or
///   running.
/// - `cb`: called once per such filesystem, oldest blocked first, on this thread, with no
///   library lock held; NULL only counts them.
/// - `user_data`: passed to `cb` untouched.
///
/// # Returns
/// The number of filesystems listed (>= 0), or -EINVAL (NULL `ctx`), -ESHUTDOWN (a context
/// inherited across fork).
///
/// # Memory and lifetimes
/// Each `aopen_mount_stats` and its strings are valid only during its `cb` call.
///
/// # Thread safety
/// Any thread, any time, including from a completion callback. `cb` may call any function
/// on the context except `aopen_ctx_free`.
///
/// # Safety
/// `ctx` is NULL or a live context; `cb` is NULL or a function safe to call with these
/// arguments.
#[no_mangle]
pub unsafe extern "C" fn aopen_stats_mounts(
    ctx: *const aopen_ctx,
    min_blocked_ms: u32,
    cb: aopen_mount_cb,
    user_data: *mut c_void,
) -> c_int {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let mounts = ctx.blocked_mounts(Duration::from_millis(min_blocked_ms.into()))?;
        if let Some(cb) = cb {
            let table = crate::mounts::current(); // once for the whole listing
            for m in &mounts {
                report_mount(m, &table, cb, user_data);
            }
        }
        Ok(mounts.len().min(c_int::MAX as usize) as c_int)
    })
}

fn report_mount(
    m: &MountReport,
    table: &crate::mounts::Table,
    cb: unsafe extern "C" fn(*const aopen_mount_stats, *mut c_void),
    user_data: *mut c_void,
) {
    let cstr = |b: &[u8]| CString::new(b).unwrap_or_default();
    let mount = table.mount_of_fs(m.fs);
    let (point, fstype) = match mount {
        Some(mount) => (cstr(&mount.point), cstr(mount.fstype.as_bytes())),
        None => (CString::default(), CString::default()),
    };
    let v = aopen_mount_stats {
        mount_point: point.as_ptr(),
        fstype: fstype.as_ptr(),
        mount_id: mount.map_or(u64::MAX, |m| m.id),
        oldest_ms: m.oldest.as_millis().min(u64::MAX as u128) as u64,
        queued: u32_of(m.queued),
        running: u32_of(m.running),
        abandoned: u32_of(m.abandoned),
        blocked: u32_of(m.blocked),
    };
    // SAFETY: `v` and the strings it points to live across the call; the caller of
    // aopen_stats_mounts vouched for `cb`.
    unsafe { cb(&v, user_data) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_stops_panics() {
        let r: i64 = guard_errno(|| -> Result<i64, i32> { panic!("boom") });
        assert_eq!(r, -(libc::EIO as i64));
        let r: c_int = guard_errno(|| Err(libc::ENOENT));
        assert_eq!(r, -libc::ENOENT);
    }

    #[test]
    fn options_validation() {
        let zero = aopen_options {
            threads: 0,
            max_threads: 0,
            queue_depth: 0,
            timeout_ms: 0,
            flags: 0,
            eventfd: 0,
            per_mount_threads: 0,
            buffer_budget_kib: 0,
            reserved: [0; 4],
        };
        assert_eq!(config_from(&zero).unwrap(), Config::default());
        assert_eq!(config_from(&aopen_options { flags: 8, ..zero }).unwrap_err(), libc::EINVAL);
        assert!(config_from(&aopen_options { flags: AOPEN_OPT_NO_INLINE, ..zero }).unwrap().no_inline);
        assert!(config_from(&aopen_options { flags: AOPEN_OPT_NO_MOUNTS, ..zero }).unwrap().no_mounts);
        let mut r = zero;
        r.reserved[3] = 1;
        assert_eq!(config_from(&r).unwrap_err(), libc::EINVAL);
        let e = config_from(&aopen_options { flags: AOPEN_OPT_EVENTFD, eventfd: 7, ..zero }).unwrap();
        assert_eq!(e.eventfd, Some(7));
    }
}
