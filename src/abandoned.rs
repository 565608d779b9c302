//! Workers stuck for nobody, counted across every context in the process, and the cap on
//! them.
//!
//! A worker is *abandoned* while its syscall runs for a request nobody waits for any more
//! (cancelled, timed out, shut down, or an owed close; see `request`). Each context reports
//! its own count here after every change, under its lock ([`Reported::settle`]); while the
//! process is at [`abandoned_cap`] the pool starts no syscall of a blocked filesystem, and
//! keeps only `threads` workers per context for the others (see `pool`).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Default for [`abandoned_cap`].
pub const DEFAULT_MAX_ABANDONED: usize = 1024;

/// Abandoned workers alive in this process, across every context.
static ABANDONED: AtomicUsize = AtomicUsize::new(0);

/// Abandoned workers in the process right now.
pub fn abandoned_in_process() -> usize {
    ABANDONED.load(Ordering::Relaxed)
}

/// Whether the process is at [`abandoned_cap`]: blocked filesystems start nothing.
pub fn at_abandoned_cap() -> bool {
    abandoned_in_process() >= abandoned_cap()
}

/// The process-wide cap on abandoned workers: `AOPEN_MAX_ABANDONED` from the environment
/// when the first context is made (a positive integer), else [`DEFAULT_MAX_ABANDONED`].
/// Like libuv's `UV_THREADPOOL_SIZE`, it is an environment variable because it is a
/// property of the process, not of one context.
///
/// The cap bounds threads stuck for nobody, not healthy work. At the cap, a blocked
/// filesystem's requests wait in their queues (and time out if a timeout is set); every
/// other filesystem is still served, each context starting threads while fewer than
/// `threads` of its workers are outside blocked filesystems' syscalls. Each abandoned
/// syscall that returns lowers the count (its thread exits or rejoins its pool), and
/// blocked filesystems start again below the cap.
pub fn abandoned_cap() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var("AOPEN_MAX_ABANDONED")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_ABANDONED)
    })
}

/// One context's part of the process-wide count, as last reported. A `Cell`, so that it
/// settles through a shared reference; only ever touched under the context's lock.
#[derive(Debug, Default)]
pub struct Reported(Cell<usize>);

impl Reported {
    /// Brings the process-wide count in step with this context's `now` abandoned workers.
    pub fn settle(&self, now: usize) {
        let was = self.0.get();
        if now > was {
            ABANDONED.fetch_add(now - was, Ordering::Relaxed);
        } else if now < was {
            ABANDONED.fetch_sub(was - now, Ordering::Relaxed);
        }
        self.0.set(now);
    }
}
