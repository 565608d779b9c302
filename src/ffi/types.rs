//! The constants and structs of the C API that every object shares: op kinds, options,
//! the completion and its callback.

use std::ffi::c_void;

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

/// Completion of an `aopen_mount_event_submit` request.
pub const AOPEN_OP_MOUNT_EVENT: u32 = 24u32;

/// `aopen_fsync_submit` flags: `fdatasync(2)` instead of `fsync(2)`.
pub const AOPEN_FSYNC_DATASYNC: u32 = 1u32;

/// `aopen_fsync_submit` flags: run even while the file's filesystem is blocked and the
/// context fails fast (`AOPEN_OPT_FAIL_FAST`): the sync queues behind the stuck calls, as
/// every call does without fail-fast. For a call that must wait, like a final flush.
pub const AOPEN_FSYNC_WAIT: u32 = 2u32;

/// `aopen_options.flags`: signal `options.eventfd` (the caller's) instead of an own eventfd.
pub const AOPEN_OPT_EVENTFD: u32 = 1u32;

/// `aopen_options.flags`: do not attribute requests to filesystems. Every request then counts
/// against one share (`per_mount_threads`, default: all of `max_threads`), so a hung
/// filesystem can again take the whole pool; in exchange submit makes no syscall (otherwise
/// an `aopen_submit` of a path not seen in the last second makes an `openat2`, a `statx` and
/// a `close`, about 2 us, and an `aclose_submit` one `statx`, about 0.4 us). For programs that
/// only open local files.
pub const AOPEN_OPT_NO_MOUNTS: u32 = 2u32;

/// `aopen_options.flags`: never complete a call on the caller's thread: `aopen_open_nowait`,
/// `aopen_close_nowait`, `aopen_read_nowait` and `aopen_stat_nowait` always return -EAGAIN,
/// and every submit queues its call for a worker.
pub const AOPEN_OPT_NO_INLINE: u32 = 4u32;

/// `aopen_options.flags`: fail fast on blocked filesystems. While the watchdog marks a
/// filesystem blocked (a call on it asleep in the kernel past `blocked_ms`, 200 ms by
/// default; see `aopen_mount_event_submit`), each new request charged to it completes at
/// once with -EHOSTDOWN instead of queueing behind its stuck calls; requests of every other
/// filesystem are untouched, and once it recovers its requests run again. -EHOSTDOWN
/// ("host is down") because no local file call returns it, so a caller can tell "refused,
/// its filesystem is blocked" from the call's own error: -ENOTCONN is what a FUSE
/// filesystem whose daemon died returns, -ETIMEDOUT is this library's timeout and an NFS
/// soft mount's, -EIO and -EAGAIN are the file's or the queue's. Two calls never fail fast:
/// a close (`aclose_submit`: the library owns the descriptor and closes it behind the
/// stuck calls) and an fsync with `AOPEN_FSYNC_WAIT` (the per-request opt-out). The check
/// costs a submit a few loads of memory the pool publishes, no lock and no syscall; a
/// request submitted within a moment of the marking may still queue.
pub const AOPEN_OPT_FAIL_FAST: u32 = 8u32;

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
    /// The blocked threshold: a filesystem with a call asleep in its syscall this many ms is
    /// marked blocked; 0 = default (200). Accepted: 10 to 600000 (10 minutes); anything else
    /// is -EINVAL. Marking takes the filesystem's workers off the budget so that the pool
    /// grows past them (a healthy filesystem's request waits for a worker at most about
    /// `blocked_ms` + 25 ms while others hang), reports it with an `AOPEN_MOUNT_BLOCKED`
    /// event, and with `AOPEN_OPT_FAIL_FAST` refuses its new calls. Lower it to hear of a
    /// hang sooner; below about 50 ms a healthy filesystem's momentary sleep (a lock, a
    /// loaded machine, a slow disk) can mark it too, which fail-fast turns into refused
    /// calls. Raise it for filesystems whose calls are slow by nature. It does not change
    /// `timeout_ms` or how the pool grows past a worker stuck a few ms.
    pub blocked_ms: u32,
    /// Must be zero.
    pub reserved: [u32; 3],
}

/// One delivered request.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct aopen_completion {
    /// The id that submit returned.
    pub id: u64,
    /// As given to submit; never dereferenced by the library.
    pub user_data: *mut c_void,
    /// open: the new descriptor (>= 0, owned by the caller); read, write, getdents, readlink,
    /// copy_file_range, sendfile: the byte count; `aopen_call_submit`: what the function
    /// returned; any other call: 0; failure: -errno (-ECANCELED after `aopen_cancel`,
    /// -ETIMEDOUT after a timeout).
    pub result: i32,
    /// Which call: an `AOPEN_OP_*` value.
    pub op: u32,
}

/// A completion callback. It runs on the thread that calls `aopen_dispatch`, never on a
/// worker; `completion` is valid only during the call. It may call `aopen_submit`,
/// `aclose_submit`, `aopen_cancel` and `aopen_dispatch`, but not `aopen_ctx_free`.
pub type aopen_cb = Option<unsafe extern "C" fn(completion: *const aopen_completion)>;
