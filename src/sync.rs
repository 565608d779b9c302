//! Every lock, condition variable, atomic, queue and shared pointer the crate's concurrent
//! structures use comes through here, so that under `--cfg loom` they are loom's (see
//! tests/loom.rs and `make check-loom`).

#[cfg(loom)]
pub use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::sync::{Condvar, Mutex, MutexGuard};
// Always std's: the pool takes `self: Arc<Self>`, which loom's Arc cannot be on stable, and
// what the models check is the locking, not reference counting.
pub use std::sync::Arc;

/// The atomics of the hand-off (`queue::handoff`).
pub mod atomic {
    #[cfg(loom)]
    pub use loom::sync::atomic::{fence, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
    #[cfg(not(loom))]
    pub use std::sync::atomic::{fence, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
}

/// Bounded multi-producer multi-consumer queues with non-blocking `try_send` / `try_recv`:
/// `crossbeam-channel`'s array flavour, or under loom a model with the same interface (a
/// deque under a loom mutex: loom explores the interleavings of its users, trusting
/// crossbeam's own tests for the queue itself).
pub mod chan {
    #[cfg(not(loom))]
    pub use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

    #[cfg(loom)]
    pub use model::{bounded, unbounded, Receiver, Sender};

    #[cfg(loom)]
    mod model {
        use loom::sync::{Arc, Mutex};
        use std::collections::VecDeque;

        struct Chan<T> {
            q: Mutex<VecDeque<T>>,
            cap: usize,
        }

        pub struct Sender<T>(Arc<Chan<T>>);
        pub struct Receiver<T>(Arc<Chan<T>>);

        /// Why `try_send` gave the value back (always: full).
        pub struct Full<T>(T);

        impl<T> Full<T> {
            pub fn into_inner(self) -> T {
                self.0
            }
        }

        pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
            bounded(usize::MAX)
        }

        pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
            let c = Arc::new(Chan { q: Mutex::new(VecDeque::new()), cap });
            (Sender(c.clone()), Receiver(c))
        }

        impl<T> Sender<T> {
            pub fn try_send(&self, v: T) -> Result<(), Full<T>> {
                let mut q = self.0.q.lock().unwrap();
                if q.len() >= self.0.cap {
                    return Err(Full(v));
                }
                q.push_back(v);
                Ok(())
            }
        }

        impl<T> Receiver<T> {
            pub fn try_recv(&self) -> Result<T, ()> {
                self.0.q.lock().unwrap().pop_front().ok_or(())
            }
            pub fn is_empty(&self) -> bool {
                self.0.q.lock().unwrap().is_empty()
            }
            pub fn len(&self) -> usize {
                self.0.q.lock().unwrap().len()
            }
        }
    }
}

/// A doorbell threads sleep on without holding a lock: a count that each ring moves.
/// A sleeper reads [`Bell::count`] while the state it checked cannot change unseen (under
/// the lock that guards it, or before a `SeqCst` look at a lock-free hint), then sleeps
/// only while the count is still that: a ring between the look and the sleep is never
/// lost, and a ringer needs no lock (a futex; under loom a model with the same contract).
pub use bell::Bell;

#[cfg(not(loom))]
mod bell {
    use crate::sys;
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use std::time::Duration;

    #[derive(Debug, Default)]
    pub struct Bell {
        count: AtomicU32,
        /// Threads inside [`Bell::sleep`]: a ring with none makes no syscall.
        sleepers: AtomicU32,
    }

    impl Bell {
        /// The count to pass to [`Bell::sleep`].
        pub fn count(&self) -> u32 {
            self.count.load(SeqCst)
        }

        /// Moves the count and wakes up to `n` sleepers.
        pub fn ring(&self, n: i32) {
            self.count.fetch_add(1, SeqCst);
            // Paired with the sleeper's increment before its futex look at the count: either
            // this sees the sleeper, or the sleeper's futex sees the moved count.
            if self.sleepers.load(SeqCst) > 0 {
                sys::futex_wake(&self.count, n);
            }
        }

        /// Sleeps until the count moves past `count`, at most `timeout` (None: no limit);
        /// may return early. Returns false only when the timeout ran out.
        pub fn sleep(&self, count: u32, timeout: Option<Duration>) -> bool {
            self.sleepers.fetch_add(1, SeqCst);
            let woke = self.count.load(SeqCst) != count || sys::futex_wait(&self.count, count, timeout);
            self.sleepers.fetch_sub(1, SeqCst);
            woke
        }
    }
}

#[cfg(loom)]
mod bell {
    use std::time::Duration;

    #[derive(Debug, Default)]
    pub struct Bell {
        count: loom::sync::Mutex<u32>,
        cv: loom::sync::Condvar,
    }

    impl Bell {
        pub fn count(&self) -> u32 {
            *self.count.lock().unwrap()
        }

        pub fn ring(&self, _n: i32) {
            let mut c = self.count.lock().unwrap();
            *c = c.wrapping_add(1);
            self.cv.notify_all();
        }

        /// As the futex's, but never times out (loom has no time): a timeout's caller in a
        /// model must be rung.
        pub fn sleep(&self, count: u32, _timeout: Option<Duration>) -> bool {
            let mut c = self.count.lock().unwrap();
            while *c == count {
                c = self.cv.wait(c).unwrap();
            }
            true
        }
    }
}

/// Locks `m`, ignoring poisoning: no code in this crate panics while holding a lock on
/// purpose, and if one ever did, the protected state is still consistent enough to shut down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
