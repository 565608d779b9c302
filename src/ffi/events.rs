//! Mount events: `aopen_mount_event_submit` and the record it fills,
//! `struct aopen_mount_event`.

use super::guard::*;
use super::types::aopen_cb;
use crate::fs::change::MountChange;
use std::ffi::{c_char, c_void};
use std::time::Instant;

/// `aopen_mount_event.kind`: the filesystem is marked blocked: a call on it has been asleep
/// in its syscall for the context's blocked threshold (`aopen_options.blocked_ms`, 200 ms
/// by default). `stuck` and `stuck_since_ns` say how many calls were in their syscalls
/// there and since when.
pub const AOPEN_MOUNT_BLOCKED: u32 = 1u32;

/// `aopen_mount_event.kind`: a filesystem reported blocked is no longer: its stuck calls
/// returned (so the next call on it runs at once). The mark clears when no call on it is
/// asleep past the threshold any more: at once when its last call in progress returns, else
/// at the watchdog's next look (within 50 ms while a mount-event request waits). Each stuck
/// call's return is the filesystem answering, so no further call "finished in time" is
/// awaited: with `AOPEN_OPT_FAIL_FAST` no new call on a blocked filesystem runs, so waiting
/// for one would keep it blocked for ever (only calls already in flight, closes and
/// `AOPEN_FSYNC_WAIT` syncs could answer). A filesystem that answers its stuck calls and
/// hangs again is marked, and reported, blocked again after another threshold.
pub const AOPEN_MOUNT_RECOVERED: u32 = 2u32;

/// `aopen_mount_event.kind`: the filesystem is gone: unmounted or lazily detached (it left
/// the mount table; seen within 50 ms), or its server's connection aborted (a call on it
/// failed with ENOTCONN or ECONNABORTED, as every call on a FUSE filesystem whose daemon
/// died does). Reported once; no blocked or recovered event of it follows (until it is
/// mounted again).
pub const AOPEN_MOUNT_GONE: u32 = 3u32;

/// One change in the state of a filesystem, written by `aopen_mount_event_submit`'s
/// completion. Strings are NUL-terminated, cut to fit, empty when unknown.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct aopen_mount_event {
    /// `AOPEN_MOUNT_BLOCKED`, `AOPEN_MOUNT_RECOVERED` or `AOPEN_MOUNT_GONE`.
    pub kind: u32,
    /// Blocked: the calls in their syscalls on the filesystem when it was marked (abandoned
    /// ones included); otherwise 0.
    pub stuck: u32,
    /// The id of the mount that names the filesystem (mountinfo's first field, as
    /// `statx`'s `stx_mnt_id`), or 0 if no mount table named it.
    pub mount_id: u64,
    /// The filesystem as the library charges requests to it: its device number
    /// (`major << 32 | minor`), or for a network filesystem a hash of its server with the
    /// top bit set. Events of one filesystem carry the same value.
    pub fs_id: u64,
    /// When the change was seen: CLOCK_MONOTONIC, in nanoseconds.
    pub at_ns: u64,
    /// Blocked: when the oldest of the stuck calls entered its syscall (CLOCK_MONOTONIC,
    /// nanoseconds); otherwise 0.
    pub stuck_since_ns: u64,
    /// Changes dropped, because more than 256 waited while no request took them, between
    /// the event delivered before this one and this one (oldest dropped first; each is also
    /// counted in `aopen_stats_snapshot.mount_events_dropped`).
    pub dropped: u64,
    /// Where it is (or, gone, was) mounted.
    pub mount_point: [c_char; 4096],
    /// Its type ("nfs4", "fuse.sshfs", ...).
    pub fstype: [c_char; 64],
    /// What is mounted: the server and export ("srv:/export", "//srv/share"), a device,
    /// or the name a FUSE daemon gave.
    pub source: [c_char; 1024],
}

/// Copies `src` into `dst`, cut to leave room for the NUL, and NUL-terminates it.
fn fill(dst: &mut [c_char], src: &[u8]) {
    let n = src.len().min(dst.len() - 1);
    for (d, &s) in dst.iter_mut().zip(&src[..n]) {
        *d = s as c_char;
    }
    dst[n] = 0;
}

/// The C record of a change (its mount looked up already; see `Context::describe_change`).
pub(super) fn to_c(c: &MountChange) -> aopen_mount_event {
    let (now, mono) = (Instant::now(), crate::sys::monotonic_ns());
    let ns = |t: Instant| mono.saturating_sub(now.saturating_duration_since(t).as_nanos() as u64);
    let mut ev = aopen_mount_event {
        kind: c.kind as u32,
        stuck: c.stuck.min(u32::MAX as usize) as u32,
        mount_id: c.mount.as_ref().map_or(0, |m| m.id),
        fs_id: c.fs,
        at_ns: ns(c.at),
        stuck_since_ns: c.since.map_or(0, ns),
        dropped: c.dropped,
        mount_point: [0; 4096],
        fstype: [0; 64],
        source: [0; 1024],
    };
    if let Some(m) = &c.mount {
        fill(&mut ev.mount_point, &m.point);
        fill(&mut ev.fstype, m.fstype.as_bytes());
        fill(&mut ev.source, &m.source);
    }
    ev
}

/// Submits a request for the next change in the state of a filesystem and returns at once.
///
/// The request completes when a filesystem this context has charged a request to changes
/// state: blocked, recovered or gone (see `AOPEN_MOUNT_*`); `*out` is written with the
/// change when the completion is delivered, before the callback runs. Changes that happen
/// while no such request waits are kept in the context, oldest first, up to 256 (past that
/// the oldest are dropped and counted in the next event's `dropped`), so a loop that
/// submits the next request from its callback misses none. Per filesystem, blocked and
/// recovered alternate, and gone comes once, last. One request may wait at a time.
///
/// Like every request it has an id, is cancelled by `aopen_cancel` (delivered at once with
/// -ECANCELED; the next change goes to the next request), counts against `queue_depth`,
/// and is dropped undelivered by `aopen_ctx_free`; the context's timeout does not apply to
/// it. Once one has been submitted, the context's watchdog looks at the mount table every
/// 50 ms (one `poll(2)` of /proc/self/mountinfo; a read of it when mounts changed).
///
/// # Parameters
/// - `out`: where the change is written; must stay valid until the completion is delivered
///   (or the request is cancelled and that delivered).
/// - `cb`, `user_data`: as for `aopen_submit` (result 0, or -ECANCELED; `op`
///   `AOPEN_OP_MOUNT_EVENT`).
///
/// # Returns
/// A request id > 0, or -EINVAL (NULL `ctx` or `out`), -EBUSY (another mount-event request
/// waits), -EAGAIN (queue full), -ESHUTDOWN (in a forked child).
///
/// # Memory and lifetimes
/// `*out` is written only by the call that delivers the completion (`aopen_dispatch` or
/// `aopen_reap`), on its thread; a cancelled request's `*out` is never written.
///
/// # Thread safety
/// Any thread, any time, including from a callback.
///
/// # Safety
/// `ctx` is NULL or a live context; `out` is NULL or writable for one
/// `struct aopen_mount_event` until the completion is delivered.
#[no_mangle]
pub unsafe extern "C" fn aopen_mount_event_submit(
    ctx: *mut aopen_ctx,
    out: *mut aopen_mount_event,
    cb: aopen_cb,
    user_data: *mut c_void,
) -> i64 {
    guard_errno(|| {
        // SAFETY: the caller guarantees `ctx` is NULL or live.
        let ctx = unsafe { ctx_ref(ctx) }?;
        let token = Token::with_struct(cb, user_data, out)?;
        submitted(ctx.submit_mount_event(token))
    })
}
