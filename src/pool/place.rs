//! Outputs placed by workers: a worker whose call wrote into library memory (a read's bytes,
//! a stat's result) copies that output to the caller's destination itself, outside the pool
//! lock, before it hands the completion to the loop. The loop then delivers it with nothing
//! left to copy, and the copies of many reads run on every CPU instead of on the one loop
//! thread (a 1 MiB read's copy costs about as much as the read).
//!
//! When. Only a completion that is still the caller's (not cancelled, not timed out), taken
//! out of the table under the lock as it finishes: from then on a cancel answers `EALREADY`,
//! as for any call that took effect, so nothing can give the caller's memory back while the
//! copy runs. The worker copies right after it lets go of the lock (before it runs its next
//! call), then pushes the completion onto the hand-off; only a full hand-off takes the lock
//! again, to give the completion back to the table.
//!
//! Shutdown. A worker takes a completion to place only while the pool is open, and counts
//! it in `placing` under the lock; shutdown, once it has closed the pool, waits for that
//! count to fall to 0 without the lock (each copy is one `memcpy`, never a syscall), so no
//! caller memory is written after the context is freed.
//!
//! Where the destination is, the pool does not know: the caller's token does. The context's
//! creator gives the pool a `Place` function (the C layer's copies into the `buf` of
//! `aopen_read_submit`); without one, outputs are copied by the delivering call as before.

use crate::op::Output;
use crate::pool::shared::{Inner, Shared};
use crate::queue::ids::Id;
use crate::queue::requests::Completion;
use crate::sync::atomic::fence;
use crate::sync::{lock, Arc};
use std::sync::atomic::Ordering;

impl<T: Send + 'static> Shared<T> {
    /// After request `id` finished (lock held) with an output in library memory: its
    /// completion, taken out of the table for this worker to place the output, if the pool
    /// has a `Place` and is open and the completion is the newest ready one. (A request a
    /// cancel or timeout made ready earlier is that one only if nothing became ready since:
    /// its completion has no output, and is handed off as it is.) Counted in `placing`
    /// until [`Self::place`] is done with it.
    pub(super) fn take_to_place(&self, g: &mut Inner<T>, id: Id) -> Option<Completion<T>> {
        // `closed` is set under the lock: after shutdown set it, nothing is taken here.
        if self.place.is_none() || self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let c = g.q.flush_newest(id)?;
        self.placing.fetch_add(1, Ordering::SeqCst);
        Some(c)
    }

    /// Copies `c`'s output to the caller (lock not held), recycles its library buffer, and
    /// hands `c` off to the loop (through the table, under the lock, when the hand-off is
    /// full).
    pub(super) fn place(self: &Arc<Self>, mut c: Completion<T>) {
        if let (Some(place), Some(out)) = (self.place, c.out.take()) {
            if place(&c.token, &out) {
                self.recycle(out);
            } else {
                c.out = Some(out);
            }
        }
        if let Err(c) = self.outbox.push(c) {
            let mut g = lock(&self.inner);
            g.q.unflush(c);
            self.woke(&mut g);
        } else {
            // As for an inline completion: a `wait` caller asleep is woken under the lock.
            fence(Ordering::SeqCst);
            if self.waiters_hint.load(Ordering::SeqCst) > 0 {
                drop(lock(&self.inner));
                self.ready_cv.notify_all();
            }
        }
        self.placing.fetch_sub(1, Ordering::SeqCst);
    }

    /// Waits (lock not held, pool closed) until no worker is placing an output.
    pub(super) fn wait_placed(&self) {
        while self.placing.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
    }

    /// Takes back the library memory of an output whose bytes were copied out, for later
    /// reads to reuse, within the buffer budget beside what requests hold.
    pub(crate) fn recycle(&self, out: Output) {
        if let Output::Bytes(buf) = out {
            let room = self.cfg.buffer_budget.saturating_sub(self.held_bytes_hint());
            self.buffers.put(buf, room);
        }
    }
}
