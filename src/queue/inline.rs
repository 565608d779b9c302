//! The ledger of completions the fast path made on the submitting thread (see [`Inline`]):
//! kept by the loop's threads between the hand-off and delivery, so a cancel finds them
//! without the pool lock. `Outbox::pop` (`queue::handoff`) settles each delivery here.

use crate::op::OpKind;
use crate::queue::ids::{Id, INLINE};
use crate::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crate::sync::{lock, Mutex};

/// The requests the fast path completed on the submitting thread, from their hand-off to
/// their delivery: a record the loop's threads keep among themselves (no worker touches it),
/// so that a cancel still finds them while the table never hears of them. Their ids carry
/// [`INLINE`]. A cancel and the delivery meet under its lock: a cancel of an open before
/// its delivery makes the delivery `-ECANCELED` (the descriptor goes to the library to
/// close); of anything else, `EALREADY` (it took effect); after it, `ENOENT`.
#[derive(Default)]
pub struct Inline {
    pending: Mutex<InlinePending>,
    submitted: AtomicU64,
    delivered: AtomicU64,
    cancelled: AtomicU64,
}

#[derive(Default)]
struct InlinePending {
    /// Undelivered, in hand-off order.
    ids: std::collections::VecDeque<(Id, OpKind)>,
    /// Of those, the opens a cancel claimed.
    claimed: Vec<Id>,
}

impl Inline {
    /// Records request `id` (its completion is about to be handed off).
    pub fn record(&self, id: Id, kind: OpKind) {
        lock(&self.pending).ids.push_back((id, kind));
        self.submitted.fetch_add(1, Relaxed);
    }

    /// Forgets `id`, whose completion could not be handed off (it goes to the table).
    pub fn forget(&self, id: Id) {
        let mut p = lock(&self.pending);
        if let Some(at) = p.ids.iter().rposition(|&(i, _)| i == id) {
            p.ids.remove(at);
            self.submitted.fetch_sub(1, Relaxed);
        }
    }

    /// Request `id` is being delivered: None if it is not recorded here (a worker's
    /// completion), else whether a cancel claimed it.
    pub(super) fn delivered(&self, id: Id) -> Option<bool> {
        if id & INLINE == 0 {
            return None;
        }
        let mut p = lock(&self.pending);
        let at = p.ids.iter().position(|&(i, _)| i == id)?;
        p.ids.remove(at);
        self.delivered.fetch_add(1, Relaxed);
        let claimed = p.claimed.iter().position(|&c| c == id).map(|at| p.claimed.swap_remove(at));
        Some(claimed.is_some())
    }

    /// Cancels request `id` if it is recorded here (None otherwise): see the type's docs.
    pub fn cancel(&self, id: Id) -> Option<Result<(), i32>> {
        if id & INLINE == 0 {
            return None;
        }
        let mut p = lock(&self.pending);
        let &(_, kind) = p.ids.iter().find(|&&(i, _)| i == id)?;
        if kind != OpKind::Open || p.claimed.contains(&id) {
            return Some(Err(libc::EALREADY));
        }
        p.claimed.push(id);
        self.cancelled.fetch_add(1, Relaxed);
        Some(Ok(()))
    }

    /// Forgets every record (shutdown).
    pub fn clear(&self) {
        let mut p = lock(&self.pending);
        p.ids.clear();
        p.claimed.clear();
    }

    /// Requests recorded, delivered, and cancelled so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.submitted.load(Relaxed), self.delivered.load(Relaxed), self.cancelled.load(Relaxed))
    }
}
