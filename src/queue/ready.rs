//! Completions and their readiness: the requests of one context with the eventfd that says
//! whether a completion is ready, kept in step.
//!
//! The readiness protocol lives here and only here: readiness is signalled when the ready
//! queue goes from empty to non-empty (one eventfd write per transition, not per
//! completion), reset when a delivery drains it, and re-armed after a delivery batch that
//! leaves completions behind (a caller's eventfd may have been read meanwhile). Every method
//! is called with the context lock held, so readiness always matches whether completions
//! are ready. Descriptors a transition leaves unreceivable become owed closes in the table,
//! run by workers: nothing here closes anything. `tests/loom.rs` model-checks this type
//! under loom's mutex.
//!
//! [`Notifier`] is the eventfd an event loop polls. The library either owns an eventfd (made
//! non-blocking and close-on-exec, as mio does) or writes to one the caller passed in
//! (`AOPEN_OPT_EVENTFD`), which it never reads or closes.

use crate::fs::FsId;
use crate::op::{Op, OpKind, Output};
use crate::queue::ids::Id;
use crate::queue::requests::{CancelError, Completion, Effect, Requests};
use crate::sys;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

/// Where readiness is signalled (the eventfd; a model in loom tests).
pub trait Readiness {
    /// Completions became ready.
    fn signal(&self);
    /// A delivery drained every ready completion.
    fn clear(&self);
    /// A delivery batch ended with completions still ready.
    fn rearm(&self);
}

/// A context's requests and their readiness, under the context lock.
pub struct Completions<T, R: Readiness> {
    table: Requests<T>,
    readiness: R,
    closed: bool,
}

impl<T, R: Readiness> Completions<T, R> {
    pub fn new(table: Requests<T>, readiness: R) -> Self {
        Completions { table, readiness, closed: false }
    }

    /// The request table, for queries.
    pub fn table(&self) -> &Requests<T> {
        &self.table
    }

    /// The changes to the table that cannot make a completion ready, so need no readiness
    /// step: a call's service time, blocked marks, holding blocked filesystems' work, and
    /// the owed closes still queued at shutdown.
    pub fn record_service(&mut self, took: std::time::Duration) {
        self.table.counters_mut().service.record(took);
    }

    /// See [`Requests::mark_blocked`].
    pub fn mark_blocked(&mut self, since: Instant, asleep: impl FnMut(Id) -> bool) -> usize {
        self.table.mark_blocked(since, asleep)
    }

    /// See [`Requests::hold_blocked`].
    pub fn hold_blocked(&mut self, hold: bool) {
        self.table.hold_blocked(hold);
    }

    /// See [`Requests::take_queued_owed`].
    pub fn take_queued_owed(&mut self) -> Vec<i32> {
        self.table.take_queued_owed()
    }

    /// Takes back request `id`, just submitted and seen by nobody else, and returns its token.
    pub fn unsubmit(&mut self, id: Id) -> Option<T> {
        self.table.unsubmit(id)
    }

    pub fn readiness(&self) -> &R {
        &self.readiness
    }

    pub fn readiness_mut(&mut self) -> &mut R {
        &mut self.readiness
    }

    /// Whether `shutdown` has run.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn apply(&mut self, e: Effect) -> Effect {
        if e.became_ready && !self.closed {
            self.readiness.signal();
        }
        e
    }

    /// See [`Requests::submit_on`].
    pub fn submit(&mut self, fs: FsId, op: Op, token: T, now: Instant) -> Result<Id, (i32, T)> {
        self.table.submit_on(fs, op, token, now)
    }

    /// See [`Requests::submit_completed`]; signals readiness if needed.
    pub fn submit_completed(
        &mut self,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        token: T,
        now: Instant,
    ) -> Result<(Id, Effect), (i32, T)> {
        let (id, e) = self.table.submit_completed(kind, result, out, token, now)?;
        Ok((id, self.apply(e)))
    }

    /// See [`Requests::owe_close`].
    pub fn owe_close(&mut self, fs: FsId, fd: i32, now: Instant) {
        self.table.owe_close(fs, fd, now)
    }

    /// See [`Requests::take_work`].
    pub fn take_work(&mut self, now: Instant) -> Option<(Id, Op, FsId)> {
        self.table.take_work(now)
    }

    /// A worker's syscall returned: see [`Requests::finish`]; signals readiness if needed.
    pub fn finish(&mut self, id: Id, kind: OpKind, result: i32, now: Instant) -> Effect {
        self.finish_with(id, kind, result, None, now)
    }

    /// [`Completions::finish`] with what the call wrote into library memory.
    pub fn finish_with(
        &mut self,
        id: Id,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        now: Instant,
    ) -> Effect {
        let e = self.table.finish_with(id, kind, result, out, now);
        self.apply(e)
    }

    /// See [`Requests::cancel`]; signals readiness if needed.
    pub fn cancel(&mut self, id: Id, errno: i32, now: Instant) -> Result<Effect, CancelError> {
        let e = self.table.cancel(id, errno, now)?;
        Ok(self.apply(e))
    }

    /// Times out what is due at `now`; returns whether completions became ready.
    pub fn expire(&mut self, now: Instant) -> bool {
        let became_ready = self.table.expire(now);
        self.apply(Effect { became_ready }).became_ready
    }

    /// Delivers the oldest ready completion, keeping readiness in step: reset when this
    /// drains the queue, re-armed when `last_of_batch` leaves completions behind.
    pub fn pop(&mut self, last_of_batch: bool) -> Option<Completion<T>> {
        let c = self.table.pop_ready()?;
        if self.table.ready() == 0 {
            self.readiness.clear();
        } else if last_of_batch {
            self.readiness.rearm();
        }
        Some(c)
    }

    /// See [`Requests::ingest`].
    pub fn ingest(&mut self, id: Id, fs: FsId, op: Op, token: T, submitted: Instant) -> Result<(), (i32, T)> {
        self.table.ingest(id, fs, op, token, submitted)
    }

    /// See [`Requests::ingest_ready`].
    pub fn ingest_ready(&mut self, c: Completion<T>, bytes: usize) {
        self.table.ingest_ready(c, bytes)
    }

    /// Hands off the oldest ready completion (see [`Requests::flush_ready`]); the caller
    /// keeps readiness (the hand-off does).
    pub fn flush_one(&mut self) -> Option<Completion<T>> {
        self.table.flush_ready()
    }

    /// Hands off request `id`'s completion if it is the newest ready one (see
    /// [`Requests::flush_newest`]); the caller keeps readiness, as for [`Self::flush_one`].
    pub fn flush_newest(&mut self, id: Id) -> Option<Completion<T>> {
        self.table.flush_newest(id)
    }

    /// See [`Requests::unflush`].
    pub fn unflush(&mut self, c: Completion<T>) {
        self.table.unflush(c)
    }

    /// See [`Requests::delivered`].
    pub fn delivered(&mut self, id: Id) {
        self.table.delivered(id)
    }

    /// See [`Requests::handed_off_open`] and [`Requests::cancel`].
    pub fn handed_off_open(&self, id: Id) -> bool {
        self.table.handed_off_open(id)
    }

    /// Ends every caller's request (see [`Requests::shutdown`]); readiness is never signalled
    /// again. Owed closes still run.
    pub fn shutdown(&mut self, now: Instant) {
        self.closed = true;
        self.table.shutdown(now);
    }
}

/// Where readiness is signalled. The descriptor is closed through a shared reference (the
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
