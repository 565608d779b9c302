//! The library's version and its statistics: `aopen_version`, `aopen_stats`,
//! `aopen_stats_mounts`.

use super::guard::*;
use crate::context::Mount;
use crate::queue::requests::MountReport;
use crate::stats::{Histogram, HIST_BUCKETS};
use std::ffi::{c_char, c_int, c_void, CString};
use std::time::Duration;

/// Buckets in the `aopen_stats` histograms: bucket 0 counts durations under 2 us, bucket
/// `i` those in [2^i, 2^(i+1)) us, the last everything from 2^31 us on.
pub const AOPEN_HIST_BUCKETS: usize = 32;

const _: () = assert!(AOPEN_HIST_BUCKETS == HIST_BUCKETS);

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
    /// kernel for over the blocked threshold (`blocked_ms`, 200 ms by default). They do not
    /// count against `max_threads`; together they may start only while fewer than
    /// `max_threads` of them run.
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
    /// Mount events dropped because more than 256 changes waited while no
    /// `aopen_mount_event_submit` request took them (see `aopen_mount_event.dropped`).
    pub mount_events_dropped: u64,
    /// Zero; room for more counters without changing the struct's size.
    pub reserved: [u64; 3],
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

pub(super) fn u32_of(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

pub(super) fn hist(h: &Histogram) -> [u64; AOPEN_HIST_BUCKETS] {
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
            mount_events_dropped: c.mount_events_dropped,
            reserved: [0; 3],
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
        let min_age = Duration::from_millis(min_blocked_ms.into());
        let n = match cb {
            None => ctx.blocked_mounts(min_age)?.len(),
            Some(cb) => {
                let mounts = ctx.blocked_mounts_described(min_age)?;
                for (m, mount) in &mounts {
                    report_mount(m, mount.as_ref(), cb, user_data);
                }
                mounts.len()
            }
        };
        Ok(n.min(c_int::MAX as usize) as c_int)
    })
}

pub(super) fn report_mount(
    m: &MountReport,
    mount: Option<&Mount>,
    cb: unsafe extern "C" fn(*const aopen_mount_stats, *mut c_void),
    user_data: *mut c_void,
) {
    let cstr = |b: &[u8]| CString::new(b).unwrap_or_default();
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
