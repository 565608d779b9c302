//! What the loop admits without the pool lock (see `queue::handoff`): at most `depth`
//! undelivered requests and `budget` bytes of caller data held, checked with atomics as a
//! submit (or an inline completion) comes in, and the ids the admitted requests get.

use crate::queue::idmap::Slots;
use crate::queue::ids::{Id, INLINE};
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use crate::sync::Arc;

/// What the loop admits without the pool lock: at most `depth` undelivered requests and
/// `budget` bytes of caller data held, and the ids.
pub struct Admission {
    depth: usize,
    budget: usize,
    /// Admitted and not yet delivered (nor refused).
    undelivered: AtomicUsize,
    /// Bytes of admitted requests not yet taken into the table, and of the outputs of
    /// inline completions until delivered.
    inbox_bytes: AtomicUsize,
    /// The bytes the table held when the pool last published.
    held_hint: AtomicUsize,
    /// The table's slots, whose ids the requests for workers get.
    slots: Arc<Slots>,
    /// The next number of a request completed on the submitting thread (its id is this
    /// with [`INLINE`] set: it never enters the table).
    next_inline: AtomicU64,
}

impl Admission {
    pub fn new(depth: usize, budget: usize, slots: Arc<Slots>) -> Self {
        Admission {
            depth,
            budget,
            undelivered: AtomicUsize::new(0),
            inbox_bytes: AtomicUsize::new(0),
            held_hint: AtomicUsize::new(0),
            slots,
            next_inline: AtomicU64::new(1),
        }
    }

    /// Admits a request holding `bytes` of caller data and gives it its id: a slot of the
    /// table's, or for one completed on the submitting thread (`inline`) a number with
    /// [`INLINE`] set. `Err(EINVAL)`: more than the whole budget; `Err(EAGAIN)`: `depth`
    /// undelivered already, or its bytes would pass the budget (as the pool last published
    /// it: try again with the lock), or no slot is left.
    pub fn admit(&self, bytes: usize, inline: bool) -> Result<Id, i32> {
        if bytes > self.budget {
            return Err(libc::EINVAL);
        }
        let depth = self.depth;
        self.undelivered
            .fetch_update(SeqCst, SeqCst, |n| (n < depth).then_some(n + 1))
            .map_err(|_| libc::EAGAIN)?;
        if bytes > 0 {
            let (budget, held) = (self.budget, self.held_hint.load(SeqCst));
            let room = |ib: usize| (ib + held + bytes <= budget).then_some(ib + bytes);
            if self.inbox_bytes.fetch_update(SeqCst, SeqCst, room).is_err() {
                self.undelivered.fetch_sub(1, SeqCst);
                return Err(libc::EAGAIN);
            }
        }
        if inline {
            return Ok(self.next_inline.fetch_add(1, Relaxed) | INLINE);
        }
        self.slots.take().inspect_err(|_| {
            self.inbox_bytes.fetch_sub(bytes, SeqCst);
            self.undelivered.fetch_sub(1, SeqCst);
        })
    }

    /// Takes back the admission of request `id`, which never reached the table (`bytes`
    /// as admitted): its slot is free again.
    pub fn refuse(&self, id: Id, bytes: usize) {
        if id & INLINE == 0 {
            self.slots.give_back(id);
        }
        self.withdraw(bytes);
    }

    /// Takes back an admission of `bytes` whose request the table took in and gave back
    /// (its slot freed there).
    pub fn withdraw(&self, bytes: usize) {
        self.inbox_bytes.fetch_sub(bytes, SeqCst);
        self.undelivered.fetch_sub(1, SeqCst);
    }

    /// The table took in a request of `bytes` (after the pool published the table's bytes,
    /// so the two never miss them both).
    pub fn taken_in(&self, bytes: usize) {
        self.inbox_bytes.fetch_sub(bytes, SeqCst);
    }

    /// Publishes the bytes the table holds (pool lock held).
    pub fn publish_held(&self, held: usize) {
        if self.held_hint.load(Relaxed) != held {
            self.held_hint.store(held, SeqCst);
        }
    }

    /// Bytes of admitted requests the table does not hold: handed in and not yet taken in,
    /// or the outputs of completions made on the submitting thread, until delivered.
    pub fn pending_bytes(&self) -> usize {
        self.inbox_bytes.load(SeqCst)
    }

    /// The bytes the table held at the last publish.
    pub fn held_hint(&self) -> usize {
        self.held_hint.load(SeqCst)
    }

    /// A request was delivered (or shut down undelivered).
    pub fn delivered(&self, n: usize) {
        self.undelivered.fetch_sub(n, SeqCst);
    }

    /// Admitted requests not yet delivered: queued, running or ready.
    pub fn undelivered(&self) -> usize {
        self.undelivered.load(SeqCst)
    }
}
