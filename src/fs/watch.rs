//! The table is parsed once and kept with /proc/self/mountinfo open (one close-on-exec
//! descriptor while any context exists; [`release`] closes it with the last one); lookups
//! poll it for `POLLPRI`, which the kernel raises when the mount table changes, and re-read
//! it then. A poll costs a syscall (~170 ns here), so lookups poll at most once per
//! [`POLL_INTERVAL`]: a request submitted within that time of a mount or unmount may still be
//! grouped by the old table, which affects only which share it counts against.
//! A process that changes mount namespace (unshare, setns) keeps seeing its first namespace's
//! table until its last context is freed. After fork the child reopens the file rather than
//! share the parent's poll state.

use crate::fs::table::Table;
use crate::sys::{self, c_str};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The process-wide view of the mount table.
struct Watch {
    /// /proc/self/mountinfo, polled for changes (-1 if it could not be opened).
    fd: i32,
    /// The fork generation that opened `fd`.
    generation: u64,
    table: Arc<Table>,
    /// When opening failed last, so that a process without /proc retries only now and then.
    failed_at: Option<Instant>,
}

static WATCH: RwLock<Option<Watch>> = RwLock::new(None);
const RETRY_OPEN: Duration = Duration::from_secs(1);
/// Lookups poll for a changed mount table at most this often (and at most once per clock
/// tick, 1 to 4 ms: the time is the coarse clock's).
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// When a lookup last polled (`CLOCK_MONOTONIC_COARSE` nanoseconds + 1, 0 = never).
static LAST_POLL: AtomicU64 = AtomicU64::new(0);

fn load(fd: i32) -> Option<Table> {
    sys::read_from_start(fd).ok().map(|t| Table::parse(&t))
}

/// The current mount table: polls for a change and re-reads on one.
pub fn current() -> Arc<Table> {
    let generation = crate::fork::generation();
    {
        let w = WATCH.read().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = w.as_ref().filter(|w| w.generation == generation && w.fd >= 0) {
            // The coarse clock: a vDSO read of the last tick, where a precise read costs
            // ~100 ns on this VM, once per submit. The interval is then at least a tick.
            let now = sys::monotonic_coarse_ns() + 1;
            let last = LAST_POLL.load(Ordering::Relaxed);
            if last != 0 && now.saturating_sub(last) < POLL_INTERVAL.as_nanos() as u64 {
                return Arc::clone(&w.table);
            }
            LAST_POLL.store(now, Ordering::Relaxed);
            if sys::poll_pri_now(w.fd) == Ok(false) {
                return Arc::clone(&w.table);
            }
        }
    }
    let mut w = WATCH.write().unwrap_or_else(|e| e.into_inner());
    match w.as_mut() {
        Some(cur) if cur.generation == generation && cur.fd >= 0 => {
            // Changed (the poll above consumed the event): re-read. A change racing this
            // read raises the event again, and the next lookup re-reads once more.
            if let Some(t) = load(cur.fd) {
                cur.table = Arc::new(t.keep_departed(&cur.table));
            }
            Arc::clone(&cur.table)
        }
        Some(cur)
            if cur.generation == generation && cur.failed_at.is_some_and(|t| t.elapsed() < RETRY_OPEN) =>
        {
            Arc::clone(&cur.table)
        }
        _ => {
            if let Some(old) = w.as_ref().filter(|o| o.fd >= 0) {
                // Inherited across fork: the parent's poll state is not ours to consume.
                sys::close_quietly(old.fd);
            }
            let fd = sys::open(c_str(b"/proc/self/mountinfo\0"), libc::O_RDONLY, 0).unwrap_or(-1);
            let table = if fd >= 0 { load(fd) } else { None };
            let failed_at = table.is_none().then(Instant::now);
            let fd = if table.is_none() && fd >= 0 {
                sys::close_quietly(fd);
                -1
            } else {
                fd
            };
            let table = Arc::new(table.unwrap_or_default());
            *w = Some(Watch { fd, generation, table: Arc::clone(&table), failed_at });
            table
        }
    }
}

/// Closes the watch on /proc/self/mountinfo and frees the table (the library calls it when
/// its last context is freed; the next lookup reopens them).
pub(crate) fn release() {
    let mut w = WATCH.write().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = w.take() {
        if old.fd >= 0 && old.generation == crate::fork::generation() {
            sys::close_quietly(old.fd);
        }
    }
}
