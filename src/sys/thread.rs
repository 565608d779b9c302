//! Threads: spawning with signals blocked, the kernel thread id, and whether a thread is
//! asleep in a syscall (from /proc), which blocked marking asks of a stuck worker.

/// Runs `f` with every signal blocked in the calling thread, so that threads spawned inside
/// inherit a full mask and the application's handlers never run on library threads.
pub(crate) fn with_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: sigset_t is plain data; sigfillset initialises it fully before use.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, for the saved mask, which pthread_sigmask fills in.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned sigset_t values.
    let blocked = unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) == 0
    };
    let r = f();
    if blocked {
        // SAFETY: `old` holds the mask pthread_sigmask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    r
}

/// Schedules the calling thread `SCHED_BATCH` (its wake-ups do not preempt running
/// threads; any user may choose it). Where the kernel or a seccomp filter refuses, the
/// thread stays as it was.
pub(crate) fn schedule_as_batch() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a live sched_param; pid 0 is the calling thread. Failure changes
    // nothing and is ignored.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
}

/// The calling thread's kernel id.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Whether thread `tid` of this process is asleep in the kernel (state `S` or `D`: blocked
/// in a syscall), as opposed to running or waiting for a CPU (`R`). `None` if unknown (no
/// /proc, or the thread is gone).
pub(crate) fn thread_is_blocked(tid: i32) -> Option<bool> {
    use std::io::Read;
    let mut buf = [0u8; 512];
    let mut f = std::fs::File::open(format!("/proc/self/task/{tid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    // "tid (comm) S ...": the state follows the last ')', as comm may contain one.
    let close = buf[..n].iter().rposition(|&b| b == b')')?;
    let state = *buf.get(close + 2)?;
    Some(matches!(state, b'S' | b'D'))
}

/// Sleeps while `*word == expected` (`FUTEX_WAIT_PRIVATE`), at most `timeout` (None:
/// until woken). Returns false when the timeout ran out, true otherwise (woken, the word
/// had already moved, a signal, or a spurious return: the caller looks again).
pub(crate) fn futex_wait(
    word: &std::sync::atomic::AtomicU32,
    expected: u32,
    timeout: Option<std::time::Duration>,
) -> bool {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic for the whole call; `tsp` is null or
    // points to `ts`, which outlives the call. FUTEX_WAIT only reads both.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        )
    };
    !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT))
}

/// Wakes up to `n` threads sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake(word: &std::sync::atomic::AtomicU32, n: i32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE reads no user memory.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, n) };
}

/// CLOCK_MONOTONIC now, in nanoseconds (the clock `Instant` reads on Linux).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CLOCK_MONOTONIC_COARSE now, in nanoseconds: the time of the last clock tick (1 to 4 ms
/// behind at most), read from the vDSO without touching the clock hardware.
pub fn monotonic_coarse_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC_COARSE)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a live, writable timespec; both monotonic clocks exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_state_tells_blocked_from_running() {
        assert_eq!(thread_is_blocked(gettid()), Some(false), "this thread is running");
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            tx.send(gettid()).unwrap();
            let _ = done_rx.recv(); // asleep in the kernel until told to end
        });
        let tid = rx.recv().unwrap();
        // It goes to sleep a moment after sending (later on a loaded machine): wait for that
        // state rather than for a fixed time.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while thread_is_blocked(tid) != Some(true) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(thread_is_blocked(tid), Some(true), "a sleeping thread is blocked");
        done_tx.send(()).unwrap();
        h.join().unwrap();
        // join returns when the thread clears its tid, a moment before the kernel releases
        // its task (a zombie's /proc entry lingers on a loaded machine): wait for that too.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while thread_is_blocked(tid).is_some() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(thread_is_blocked(tid), None, "a finished thread is unknown");
    }
}
