//! Readiness: how the loop learns that completions are ready. [`Readiness`] is what the
//! hand-off (`queue::handoff`'s `Outbox`) signals through, keeping it in step with the
//! completions it holds; [`Notifier`] is the eventfd behind it in the library, and
//! `tests/loom.rs` puts a model eventfd in its place.
//!
//! The library either owns an eventfd (made non-blocking and close-on-exec, as mio does) or
//! writes to one the caller passed in (`AOPEN_OPT_EVENTFD`), which it never reads or closes.

use crate::sys;
use std::sync::atomic::{AtomicI32, Ordering};

/// Where readiness is signalled (the eventfd; a model in loom tests).
pub trait Readiness {
    /// The completions went from none to some.
    fn signal(&self);
    /// A delivery took the last completion.
    fn clear(&self);
    /// A delivery batch ended with completions left.
    fn rearm(&self);
}

/// The eventfd an event loop polls. The descriptor is closed through a shared reference (the
/// hand-off that holds it is shared by the loop and the workers), once, at shutdown, when no
/// thread signals any more.
#[derive(Debug)]
pub struct Notifier {
    fd: AtomicI32,
    owned: bool,
}

impl Notifier {
    /// An eventfd of the library's own.
    pub fn own() -> Result<Self, i32> {
        Ok(Notifier { fd: AtomicI32::new(sys::eventfd()?), owned: true })
    }

    /// The caller's descriptor: it must be open (else `EBADF`); it is written, never read
    /// or closed.
    pub fn borrowed(fd: i32) -> Result<Self, i32> {
        if fd < 0 || !sys::fd_is_open(fd) {
            return Err(libc::EBADF);
        }
        Ok(Notifier { fd: AtomicI32::new(fd), owned: false })
    }

    /// The descriptor to poll (-1 once closed).
    pub fn fd(&self) -> i32 {
        self.fd.load(Ordering::Relaxed)
    }

    /// Whether the descriptor is the library's own (closed with the context).
    pub fn is_owned(&self) -> bool {
        self.owned
    }

    /// Releases the descriptor if it is ours, and stops signalling either way. Idempotent.
    pub fn close(&self) {
        let fd = self.fd.swap(-1, Ordering::Relaxed);
        if self.owned && fd >= 0 {
            sys::close_quietly(fd);
        }
    }
}

impl Readiness for Notifier {
    /// Makes the fd readable: one 8-byte write. If the counter would overflow (a caller's
    /// eventfd that is never read), reset it and write again, as mio does.
    fn signal(&self) {
        let fd = self.fd();
        if fd >= 0 && sys::eventfd_write(fd, 1) == Err(libc::EAGAIN) {
            let _ = sys::eventfd_read(fd);
            let _ = sys::eventfd_write(fd, 1);
        }
    }

    /// Called when the queue has been drained empty: an own eventfd is reset so it stops
    /// polling readable; a caller's is left alone (the caller reads it).
    fn clear(&self) {
        if self.owned && self.fd() >= 0 {
            let _ = sys::eventfd_read(self.fd());
        }
    }

    /// Called after a delivery that left completions queued: an own eventfd is still
    /// readable (it was never reset); a caller's may have been read by the caller since the
    /// last signal, so it is written again.
    fn rearm(&self) {
        if !self.owned {
            self.signal();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: i32) -> bool {
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn own_eventfd_signal_and_clear() {
        let n = Notifier::own().unwrap();
        assert!(!readable(n.fd()));
        n.signal();
        n.signal();
        assert!(readable(n.fd()));
        n.rearm();
        assert!(readable(n.fd()));
        n.clear();
        assert!(!readable(n.fd()));
    }

    #[test]
    fn borrowed_rejects_closed_fd_and_is_never_closed() {
        assert_eq!(Notifier::borrowed(-1).unwrap_err(), libc::EBADF);
        let fd = sys::eventfd().unwrap();
        let n = Notifier::borrowed(fd).unwrap();
        n.signal();
        n.clear(); // must not read a caller's fd
        assert!(readable(fd));
        n.close();
        drop(n);
        assert!(sys::fd_is_open(fd));
        sys::close_quietly(fd);
        assert_eq!(Notifier::borrowed(fd).unwrap_err(), libc::EBADF);
    }
}
