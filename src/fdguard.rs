//! Descriptors of the caller's that an abandoned syscall may still be about to use.
//!
//! A call on a caller's descriptor (read, write, fsync, ftruncate, getdents, fstat, ...)
//! that is running when it is cancelled, times out or its context is freed is delivered at
//! once, but its worker may not have entered the syscall yet: it holds the descriptor's
//! *number*, and the kernel looks the number up only inside the syscall. Were the number
//! closed and reused by another open meanwhile, the call would read, write, sync or truncate
//! that other file.
//!
//! So the table marks such a descriptor *held* when the call is abandoned (under the
//! context's lock, before the cancel can be delivered), until its syscall returns. A close the
//! library makes of a held descriptor (`aclose_submit`, `aclose_detach`, on a worker) closes
//! the caller's file at once but keeps the number: it puts a placeholder there (an `O_PATH`
//! descriptor, on which every such call fails with `EBADF`) with one `dup3`, and the number
//! itself is released when the last call holding it returns. The fast path leaves such a
//! close to a worker. A caller's own close(2) cannot be held back: the header tells callers
//! to close through the library after a cancel.
//!
//! Process-wide, because the caller may close through another context than the one whose
//! call was abandoned. Lock order: a context's lock, then this one; never the reverse. Its
//! statics are std's (loom's locks cannot be statics); the loom models do not reach it.

use crate::sys;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One held descriptor.
#[derive(Debug)]
struct Held {
    fd: i32,
    /// Abandoned calls that may still use the number.
    holds: usize,
    /// Library closes putting a placeholder in its place right now.
    closing: usize,
    /// The number holds a placeholder, to close with the last hold.
    placeholder: bool,
}

/// Held descriptors. Guarded by its mutex.
static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());
/// Holds in [`HELD`], readable without the lock: 0 spares every close the lock.
static HOLDS: AtomicUsize = AtomicUsize::new(0);

fn lock() -> MutexGuard<'static, Vec<Held>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner()) // no panics under it: the list stays whole
}

/// Marks `fd` held by one more abandoned call.
pub(crate) fn hold(fd: i32) {
    let mut held = lock();
    match held.iter_mut().find(|h| h.fd == fd) {
        Some(h) => h.holds += 1,
        None => held.push(Held { fd, holds: 1, closing: 0, placeholder: false }),
    }
    HOLDS.fetch_add(1, Ordering::Release);
}

/// Ends one hold of `fd` (its abandoned call's syscall returned); the last one releases a
/// placeholder in its place.
pub(crate) fn release(fd: i32) {
    let mut held = lock();
    let Some(i) = held.iter().position(|h| h.fd == fd) else {
        debug_assert!(false, "fd {fd} released more often than held");
        return;
    };
    held[i].holds -= 1;
    HOLDS.fetch_sub(1, Ordering::Release);
    forget_if_done(&mut held, i);
}

/// Drops entry `i` once nothing holds or is closing it, closing its placeholder (an
/// `O_PATH` descriptor: its close never waits on anything).
fn forget_if_done(held: &mut Vec<Held>, i: usize) {
    if held[i].holds == 0 && held[i].closing == 0 {
        let h = held.swap_remove(i);
        if h.placeholder {
            sys::close_quietly(h.fd);
        }
    }
}

/// Whether an abandoned call may still use `fd`.
pub(crate) fn is_held(fd: i32) -> bool {
    HOLDS.load(Ordering::Acquire) > 0 && lock().iter().any(|h| h.fd == fd && h.holds > 0)
}

/// Closes `fd` for the library, on a worker: close(2), or for a held descriptor the
/// placeholder swap (see the module docs). Like close(2), it may wait on the file's
/// filesystem (a flush); 0 or `Err(errno)`.
pub(crate) fn close(fd: i32) -> Result<(), i32> {
    if HOLDS.load(Ordering::Acquire) == 0 {
        return sys::close(fd);
    }
    {
        let mut held = lock();
        match held.iter_mut().find(|h| h.fd == fd && h.holds > 0) {
            Some(h) => h.closing += 1,
            None => {
                drop(held);
                return sys::close(fd);
            }
        }
    }
    // Outside the lock: replacing the file closes it, which may flush (and wait on a server).
    let r = sys::replace_with_placeholder(fd);
    let mut held = lock();
    let i = held.iter().position(|h| h.fd == fd).expect("a closing entry stays listed");
    held[i].closing -= 1;
    held[i].placeholder |= r.is_ok();
    forget_if_done(&mut held, i);
    r
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_held_descriptor_keeps_its_number_until_the_last_hold_is_released() {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for pipe2's two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let p = fds[0];
        hold(p);
        hold(p);
        assert!(is_held(p));
        close(p).unwrap();
        assert!(sys::fd_is_open(p), "the number was freed while a call may still use it");
        // SAFETY: F_GETFL on an int descriptor.
        let flags = unsafe { libc::fcntl(p, libc::F_GETFL) };
        assert_ne!(flags & libc::O_PATH, 0, "the caller's file is still there, not a placeholder");
        release(p);
        assert!(sys::fd_is_open(p));
        release(p);
        assert!(!sys::fd_is_open(p), "the placeholder outlived the last hold");
        assert!(!is_held(p));
        sys::close_quietly(fds[1]);
    }
}
