//! Descriptors of the caller's that an abandoned syscall may still be about to use.
//!
//! A call on a caller's descriptor (read, write, fsync, ftruncate, getdents, fstat) that is
//! running when it is cancelled, times out or its context is freed is delivered at once, but
//! its worker may not have entered the syscall yet: it holds the descriptor's *number*, and
//! the kernel looks the number up only inside the syscall. Were the number closed and reused
//! by another open meanwhile, the call would read, write, sync or truncate that other file.
//!
//! So the table marks such a descriptor *held* when the call is abandoned (under the
//! context's lock, before the cancel can be delivered), until its syscall returns. Every close
//! the library makes of a held descriptor (`aclose_submit`, `aclose_detach`) waits on its
//! worker until the descriptor is released, and the fast path leaves such a close to a
//! worker. A caller's own close(2) cannot be held back: the header tells callers to close
//! through the library after a cancel.
//!
//! Process-wide, because the caller may close through another context than the one whose
//! call was abandoned. Lock order: a context's lock, then this one; never the reverse. Its
//! statics are std's (loom's locks cannot be statics); the loom models do not reach it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner()) // no panics under it: the list stays whole
}

/// Held descriptors with how many abandoned calls hold each. Guarded by its mutex.
static HELD: Mutex<Vec<(i32, usize)>> = Mutex::new(Vec::new());
/// Signalled whenever a descriptor's last hold is released.
static RELEASED: Condvar = Condvar::new();
/// Holds in [`HELD`], readable without the lock: 0 spares every close the lock.
static HOLDS: AtomicUsize = AtomicUsize::new(0);

/// Marks `fd` held by one more abandoned call.
pub(crate) fn hold(fd: i32) {
    let mut held = lock(&HELD);
    match held.iter_mut().find(|(f, _)| *f == fd) {
        Some((_, n)) => *n += 1,
        None => held.push((fd, 1)),
    }
    HOLDS.fetch_add(1, Ordering::Release);
}

/// Ends one hold of `fd` (its abandoned call's syscall returned).
pub(crate) fn release(fd: i32) {
    let mut held = lock(&HELD);
    let Some(i) = held.iter().position(|(f, _)| *f == fd) else {
        debug_assert!(false, "fd {fd} released more often than held");
        return;
    };
    held[i].1 -= 1;
    if held[i].1 == 0 {
        held.swap_remove(i);
        RELEASED.notify_all();
    }
    HOLDS.fetch_sub(1, Ordering::Release);
}

/// Whether an abandoned call may still use `fd`.
pub(crate) fn is_held(fd: i32) -> bool {
    HOLDS.load(Ordering::Acquire) > 0 && lock(&HELD).iter().any(|(f, _)| *f == fd)
}

/// Waits until no abandoned call holds `fd`: only on a worker, before it closes `fd`.
pub(crate) fn wait_released(fd: i32) {
    if HOLDS.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut held = lock(&HELD);
    while held.iter().any(|(f, _)| *f == fd) {
        held = RELEASED.wait(held).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_close_waits_until_every_hold_is_released() {
        let fd = -7; // no real descriptor: nothing else in the process holds it
        hold(fd);
        hold(fd);
        assert!(is_held(fd) && !is_held(-8));
        let (tx, rx) = mpsc::channel();
        let closer = std::thread::spawn(move || {
            wait_released(fd);
            tx.send(()).unwrap();
        });
        release(fd);
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "a close went ahead of a hold");
        release(fd);
        rx.recv_timeout(Duration::from_secs(10)).expect("the close never went ahead");
        closer.join().unwrap();
        assert!(!is_held(fd));
    }
}
