//! The completion queue: the request table and its readiness signal, kept in step.
//!
//! The readiness protocol lives here and only here: readiness is signalled when the ready
//! queue goes from empty to non-empty (one eventfd write per transition, not per
//! completion), reset when a delivery drains it, and re-armed after a delivery batch that
//! leaves completions behind (a caller's eventfd may have been read meanwhile). Every method
//! is called with the context lock held, so readiness always matches whether completions
//! are ready. Descriptors a transition leaves unreceivable become owed closes in the table,
//! run by workers: nothing here closes anything. `tests/loom.rs` model-checks this type
//! under loom's mutex.

use crate::mounts::FsId;
use crate::request::{CancelError, Completion, Effect, Id, Op, OpKind, Table};
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

/// Requests and their readiness, under the context lock.
pub struct Queue<T, R: Readiness> {
    pub(crate) table: Table<T>,
    readiness: R,
    closed: bool,
}

impl<T, R: Readiness> Queue<T, R> {
    pub fn new(table: Table<T>, readiness: R) -> Self {
        Queue { table, readiness, closed: false }
    }

    /// The request table, for queries.
    pub fn table(&self) -> &Table<T> {
        &self.table
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

    /// See [`Table::submit_on`].
    pub fn submit(&mut self, fs: FsId, op: Op, token: T, now: Instant) -> Result<Id, (i32, T)> {
        self.table.submit_on(fs, op, token, now)
    }

    /// See [`Table::submit_completed`]; signals readiness if needed.
    pub fn submit_completed(
        &mut self,
        kind: OpKind,
        result: i32,
        token: T,
        now: Instant,
    ) -> Result<Id, (i32, T)> {
        let (id, e) = self.table.submit_completed(kind, result, token, now)?;
        self.apply(e);
        Ok(id)
    }

    /// See [`Table::owe_close`].
    pub fn owe_close(&mut self, fs: FsId, fd: i32, now: Instant) {
        self.table.owe_close(fs, fd, now)
    }

    /// See [`Table::take_work`].
    pub fn take_work(&mut self, now: Instant) -> Option<(Id, Op, FsId)> {
        self.table.take_work(now)
    }

    /// A worker's syscall returned: see [`Table::finish`]; signals readiness if needed.
    pub fn finish(&mut self, id: Id, kind: OpKind, result: i32, now: Instant) -> Effect {
        let e = self.table.finish(id, kind, result, now);
        self.apply(e)
    }

    /// See [`Table::cancel`]; signals readiness if needed.
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

    /// Ends every caller's request (see [`Table::shutdown`]); readiness is never signalled
    /// again. Owed closes still run.
    pub fn shutdown(&mut self, now: Instant) {
        self.closed = true;
        self.table.shutdown(now);
    }
}
