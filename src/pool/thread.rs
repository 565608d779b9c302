//! The library's threads: how they are spawned, how long an idle one spins or stays, and each
//! worker's syscall clock.

use crate::sys;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Workers above `threads` exit after idling this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle worker, or a `wait` caller, spins for new work or completions before
/// sleeping: a request arriving within it is taken without a futex wake-up (about 20 us on
/// an idle vCPU here), which is most of a round trip at low concurrency. Bounded, so an idle
/// context parks everything and uses no CPU.
pub const SPIN: Duration = Duration::from_micros(50);
/// Workers and `wait` spin only while at most this many requests per worker are queued or
/// outstanding: past that the pool is saturated and spinning only takes a CPU from it.
pub(super) const SPIN_MAX_BACKLOG_PER_WORKER: usize = 4;

/// Spins until `done()` or `deadline`, reading the clock only every 32 rounds.
pub(super) fn spin_until(deadline: Instant, done: impl Fn() -> bool) {
    loop {
        for _ in 0..32 {
            if done() {
                return;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= deadline {
            return;
        }
    }
}

/// Stack size of library threads: they only make a syscall and bookkeeping.
const STACK_SIZE: usize = 256 * 1024;

/// One worker's syscall clock, written by its worker and read by the watchdog to tell
/// workers asleep in a syscall from busy ones.
#[derive(Default)]
pub(super) struct SyscallClock {
    /// The request whose syscall the worker runs (set under the lock when it takes it).
    pub(super) request: AtomicU64,
    /// Nanoseconds since `Shared::epoch` at which the current syscall started; 0 between.
    pub(super) started: AtomicU64,
    /// The worker's kernel thread id (0 until it runs).
    pub(super) tid: AtomicI32,
}

impl SyscallClock {
    /// Whether the kernel has the worker asleep (not merely waiting for a CPU). Without
    /// /proc, yes.
    pub(super) fn asleep(&self) -> bool {
        sys::thread_is_blocked(self.tid.load(Ordering::Relaxed)).unwrap_or(true)
    }

    /// Whether the worker has been inside one syscall since before `since` (epoch nanos).
    pub(super) fn old(&self, since: u64) -> bool {
        let t = self.started.load(Ordering::Relaxed);
        t != 0 && t <= since
    }
}

/// Spawns a library thread with every signal blocked, so the application's signal handlers
/// never run on it and its syscalls are not interrupted by them, and scheduled
/// `SCHED_BATCH`, so that its wake-ups never preempt the application's threads: a worker a
/// submit wakes runs on an idle CPU, or when the loop's thread sleeps or its slice ends,
/// instead of taking the CPU from the loop in the middle of its burst of submits (on two
/// CPUs that halved the pool's throughput at 16 in flight). Its share of the CPU is
/// unchanged.
pub(super) fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let b = std::thread::Builder::new().name(name.into()).stack_size(STACK_SIZE);
    let f = move || {
        sys::schedule_as_batch();
        f()
    };
    sys::with_signals_blocked(|| b.spawn(f)).map(drop)
}
