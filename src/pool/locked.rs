//! The context's critical sections: each change a caller's call makes under the context lock
//! is one method here, on the type that owns the lock (tokio's `LockedImpl`). `context`
//! decides what to do and calls one of these; it never takes the lock itself. The pool's own
//! critical sections (a worker taking and finishing work, the watchdog's rounds, shutdown)
//! stay with the threads in `pool`.
//!
//! Each method takes the lock once, changes the queue, then publishes the counts spinners
//! watch and wakes whom the change concerns (`Shared::woke`, `Shared::kick`).

use crate::fs;
use crate::fs::FsId;
use crate::op::{Op, OpKind, Output};
use crate::pool::Shared;
use crate::queue::ids::Id;
use crate::queue::requests::{Completion, MountReport};
use crate::sync::Arc;
use std::time::{Duration, Instant};

impl<T: Send + 'static> Shared<T> {
    /// Queues `op`, charged to `fs`, and hands it to a worker (or has one started). Nothing
    /// stays queued on an error: `ESHUTDOWN`, `EAGAIN` (queue full, or no thread at all).
    pub(crate) fn submit(self: &Arc<Self>, fs: FsId, op: Op, token: T) -> Result<Id, (i32, T)> {
        let now = Instant::now();
        let mut g = self.lock();
        if g.q.is_closed() {
            return Err((libc::ESHUTDOWN, token));
        }
        let id = g.q.submit(fs, op, token, now)?;
        if let Err(e) = self.kick(&mut g) {
            let token = g.q.unsubmit(id).expect("the request was just queued");
            return Err((e, token));
        }
        if let Some(deadline) = g.q.table().next_deadline() {
            self.wake_watchdog_by(&mut g, deadline);
        }
        Ok(id)
    }

    /// Queues the completion of a request the fast path ran on the caller's thread, with
    /// what it wrote into library memory. If it cannot be queued (full, over the buffer
    /// budget, or shut down), an open's descriptor is closed again (inline: it is a plain
    /// file on a local filesystem, else by a worker) and the error returned.
    pub(crate) fn submit_completed(
        self: &Arc<Self>,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        token: T,
    ) -> Result<Id, (i32, T)> {
        let mut g = self.lock();
        let r = if g.q.is_closed() {
            Err((libc::ESHUTDOWN, token))
        } else {
            g.q.submit_completed(kind, result, out, token, Instant::now())
        };
        match &r {
            Ok((_, e)) => self.woke(&g, *e),
            Err(_) if kind == OpKind::Open && result >= 0 => {
                if crate::op::inline::close_nowait(result) == Err(libc::EAGAIN) {
                    g.q.owe_close(fs::UNKNOWN, result, Instant::now());
                    let _ = self.kick(&mut g);
                }
            }
            Err(_) => {}
        }
        r.map(|(id, _)| id)
    }

    /// Cancels request `id` (see `Context::cancel`); a finished open's descriptor becomes an
    /// owed close, handed to a worker.
    pub(crate) fn cancel(self: &Arc<Self>, id: Id) -> Result<(), i32> {
        let mut g = self.lock();
        let owed = g.q.table().owed();
        let e = g.q.cancel(id, libc::ECANCELED, Instant::now()).map_err(|e| e.errno())?;
        self.woke(&g, e);
        if g.q.table().owed() > owed {
            let _ = self.kick(&mut g);
        }
        Ok(())
    }

    /// Queues a close of `fd`, charged to `fs`, that nobody receives; `ESHUTDOWN` after
    /// shutdown (then the caller still owns `fd`).
    pub(crate) fn close_detached(self: &Arc<Self>, fs: FsId, fd: i32) -> Result<(), i32> {
        let mut g = self.lock();
        if g.q.is_closed() {
            return Err(libc::ESHUTDOWN);
        }
        g.q.owe_close(fs, fd, Instant::now());
        // With no thread and none startable, the watchdog's growth tick runs it later.
        let _ = self.kick(&mut g);
        Ok(())
    }

    /// The next completion for `dispatch`, which has delivered `delivered` so far: at most
    /// `max` in all (0: as many as were ready at its start, counted on the first call).
    pub(crate) fn pop_for_dispatch(&self, delivered: usize, max: &mut usize) -> Option<Completion<T>> {
        let mut g = self.lock();
        if delivered == 0 && *max == 0 {
            *max = g.q.table().ready();
        }
        if delivered >= *max {
            return None;
        }
        let c = g.q.pop(delivered + 1 == *max)?;
        self.publish(&g);
        Some(c)
    }

    /// Takes up to `max` ready completions under one lock, then hands them to `out` with the
    /// lock released (copying a read's bytes out must not hold up the workers). Returns how
    /// many.
    pub(crate) fn reap(&self, max: usize, out: impl FnMut(Completion<T>)) -> usize {
        let batch: Vec<Completion<T>> = {
            let mut g = self.lock();
            let mut batch = Vec::with_capacity(max.min(g.q.table().ready()));
            while batch.len() < max {
                let Some(c) = g.q.pop(batch.len() + 1 == max) else { break };
                batch.push(c);
            }
            self.publish(&g);
            batch
        };
        let n = batch.len();
        batch.into_iter().for_each(out);
        n
    }

    /// The descriptor that polls readable while a completion is ready.
    pub(crate) fn readiness_fd(&self) -> i32 {
        self.lock().q.readiness().fd()
    }

    /// Worker threads alive now, and the most ever alive.
    pub(crate) fn threads(&self) -> (usize, usize) {
        let g = self.lock();
        (g.threads, g.peak_threads)
    }

    /// See `Context::blocked_mounts`.
    pub(crate) fn blocked_mounts(&self, min_age: Duration) -> Vec<MountReport> {
        self.lock().q.table().blocked_mounts(Instant::now(), min_age)
    }
}
