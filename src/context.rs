//! A context: one worker pool and one completion queue, as a Rust API. The C layer
//! (`ffi`) wraps exactly this.
//!
//! This file: making one; the way in (every call's argument checks, `Op::check` and the rule
//! for a library buffer, then the fast path or attribution, then one call into the pool:
//! `Context::submit`) and the way out (dispatch, reap, wait, and what a delivered completion
//! leaves behind), so that a request's route through the context is this file alone; cancel
//! and shutdown. `nowait.rs`: the calls that run on the caller's thread or not at all,
//! without the queue; `stats.rs`: what the context reports.

use crate::config::Config;
use crate::fork;
use crate::fs;
pub use crate::fs::Mount;
pub use crate::mem::bytes::Bytes;
use crate::op::charge::{attribute, Attributor};
use crate::op::inline;
use crate::op::run::{self, Executor};
use crate::op::{Op, OpKind, Output};
use crate::pool::{Place, Shared};
use crate::queue::ids::Id;
use crate::queue::ready::Notifier;
use crate::queue::requests::Completion;
use crate::sync::Arc;
use crate::sys;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod nowait;
mod reads;
mod stats;
#[cfg(test)]
mod tests;

/// How long shutdown waits for idle threads to leave before returning anyway.
const SHUTDOWN_LINGER: Duration = Duration::from_millis(50);

/// One worker pool and its completion queue. `T` is carried with each request to its
/// delivery. Dropping the context shuts it down (see [`Context::shutdown`]).
///
/// After fork(2), a context inherited by the child is dead there: calls return `ESHUTDOWN`
/// (dispatch and reap deliver nothing) and dropping it releases the child's copies of its
/// descriptors without touching the parent's threads. The parent is unaffected.
pub struct Context<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    /// The fork generation this context was made in.
    born: u64,
    /// Which filesystem a request's file is on (see `op::charge`).
    attribute: Attributor,
    /// Whether submit may complete a request on the caller's thread (the fast path: see
    /// `inline`): with real syscalls and without `no_inline`.
    inline: bool,
}

/// Contexts alive in this process: the last one to go releases the mount table's watch.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A handle for blocking until completions are ready that stays valid if the context is
/// freed meanwhile: its waits then end with `ESHUTDOWN`.
pub struct Waiter<T: Send + 'static> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Waiter<T> {
    /// See [`Context::wait`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<usize, i32> {
        self.shared.wait(timeout)
    }
}

impl<T: Send + 'static> Context<T> {
    /// A context running real syscalls; outputs are copied to the caller by the delivering
    /// call.
    pub fn new(cfg: &Config) -> Result<Self, i32> {
        Self::with_place(cfg, None)
    }

    /// A context running real syscalls, whose workers copy outputs to the caller with
    /// `place` (see `pool::place`; None: the delivering call copies them).
    pub fn with_place(cfg: &Config, place: Option<Place<T>>) -> Result<Self, i32> {
        let mut ctx = Self::build(cfg, Box::new(run::run_syscall), Self::attributor(cfg), place)?;
        ctx.inline = !cfg.no_inline;
        Ok(ctx)
    }

    /// The attribution `cfg` asks for.
    fn attributor(cfg: &Config) -> Attributor {
        if cfg.no_mounts {
            |_| fs::UNKNOWN
        } else {
            attribute
        }
    }

    /// A context whose workers run `exec` instead of the real syscalls (for tests).
    pub fn with_executor(cfg: &Config, exec: Box<Executor>) -> Result<Self, i32> {
        Self::with_parts(cfg, exec, Self::attributor(cfg))
    }

    /// A context with its own executor and filesystem attribution (for tests).
    pub fn with_parts(cfg: &Config, exec: Box<Executor>, attribute: Attributor) -> Result<Self, i32> {
        Self::build(cfg, exec, attribute, None)
    }

    fn build(
        cfg: &Config,
        exec: Box<Executor>,
        attribute: Attributor,
        place: Option<Place<T>>,
    ) -> Result<Self, i32> {
        let cfg = cfg.validate()?;
        let notifier = match cfg.eventfd {
            Some(fd) => Notifier::borrowed(fd)?,
            None => Notifier::own()?,
        };
        let born = fork::generation();
        let shared = Shared::start(cfg, notifier, exec, place)?;
        LIVE.fetch_add(1, Ordering::SeqCst);
        Ok(Context { shared, born, attribute, inline: false })
    }

    /// Whether this is a copy inherited by a forked child (then it is dead here).
    pub fn is_inherited(&self) -> bool {
        fork::is_inherited(self.born)
    }

    /// `Err(ESHUTDOWN)` in a forked child: nothing there may take the context's lock.
    fn alive(&self) -> Result<(), i32> {
        if self.is_inherited() {
            Err(libc::ESHUTDOWN)
        } else {
            Ok(())
        }
    }

    /// The context's buffer budget in bytes.
    pub fn buffer_budget(&self) -> usize {
        self.shared.cfg.buffer_budget
    }

    /// Queues any call that takes no library buffer from the context (all but read, getdents
    /// and readlink: see [`Context::submit_read`]; a write brings its own copy), after its
    /// argument checks: `Err(EBADF)` for a negative descriptor; `Err(EINVAL)` for unlink
    /// flags other than `AT_REMOVEDIR`, a negative truncate length, an offset below -1, a
    /// non-positive fallocate range, or a write or copy over `i32::MAX` bytes;
    /// `Err(ENAMETOOLONG)` for an open's path of `PATH_MAX` bytes or more. Other flags and
    /// modes are the kernel's to check, as for the synchronous call. Then, as any submit:
    /// `EAGAIN` (queue full, or no worker could be started), `ESHUTDOWN`.
    pub fn submit_op(&self, op: Op, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = op.check() {
            return Err((e, token));
        }
        self.submit(op, token)
    }

    /// Queues an open of `path` (`O_CLOEXEC` is always added): an `Op::Open` through
    /// [`Context::submit_op`].
    pub fn submit_open(&self, path: CString, flags: i32, mode: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit_op(Op::Open { path, flags, mode }, token)
    }

    /// Queues a close of `fd`, which the library owns from now on, unless the request is
    /// cancelled or times out before it runs (then the caller still owns `fd`): an
    /// `Op::Close` through [`Context::submit_op`].
    pub fn submit_close(&self, fd: i32, token: T) -> Result<Id, (i32, T)> {
        self.submit_op(Op::Close { fd }, token)
    }

    fn submit(&self, mut op: Op, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = self.alive() {
            return Err((e, token));
        }
        if self.inline {
            // A call that changes a file when it runs inline (an open that creates or
            // truncates) is admitted first, so that one the queue refuses never runs.
            let admitted = if inline::changes_a_file(&op) {
                match self.shared.admit_completed(0) {
                    Ok(id) => Some(id),
                    Err(e) => return Err((e, token)),
                }
            } else {
                None
            };
            // (Quiet: nothing in flight but this call's own admission.)
            let own = usize::from(admitted.is_some());
            let quiet = || self.shared.undelivered() <= own;
            if let Some(result) = inline::try_run(&mut op, quiet, |fd| self.close_on_worker(fd)) {
                let kind = op.kind();
                return match admitted {
                    Some(id) => self.shared.hand_completed(id, kind, result, op.into_output(), 0, token),
                    None => self.shared.submit_completed(kind, result, op.into_output(), token),
                };
            }
            if let Some(id) = admitted {
                self.shared.unadmit_completed(id);
            }
        }
        self.submit_pooled(op, token)
    }

    /// Queues `op` for a worker, charged to its file's filesystem; or, when the context
    /// fails fast and that filesystem is marked blocked (read without the lock), completes
    /// it at once with `EHOSTDOWN` (see `Op::fails_fast` for the calls that never do).
    fn submit_pooled(&self, op: Op, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = self.alive() {
            return Err((e, token));
        }
        let fs = (self.attribute)(&op);
        if self.shared.cfg.fail_fast && op.fails_fast() && self.shared.blocked.contains(fs) {
            return self.shared.submit_completed(op.kind(), -libc::EHOSTDOWN, None, token);
        }
        self.shared.submit(fs, op, token)
    }

    /// Queues a mount-event request: it completes with the next change in the state of a
    /// filesystem this context has charged a request to (blocked, recovered, gone), its
    /// output an `Output::MountEvent` (see `queue::events`). Changes while none waits are
    /// kept (bounded). `Err(EBUSY)` while another waits; else as any submit.
    pub fn submit_mount_event(&self, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = self.alive() {
            return Err((e, token));
        }
        self.shared.submit_mount_event(token)
    }

    /// Cancels a request: it will be delivered with `-ECANCELED`. `Err(ENOENT)`: no such
    /// undelivered request; `Err(EALREADY)`: a close already running or done, or a request
    /// already cancelled or timed out.
    pub fn cancel(&self, id: Id) -> Result<(), i32> {
        self.alive()?;
        self.shared.cancel(id)
    }

    /// Hands `fd` to the library to close on a worker, with no completion: for a descriptor
    /// the caller owes a close to but cannot wait for (a dropped completion, an error path).
    /// The close is charged to `fd`'s filesystem and shows in the stats like any other, but
    /// is never delivered and never refused for lack of queue room. `Err(EBADF)` for a
    /// negative `fd`, `Err(ESHUTDOWN)` after shutdown or in a forked child (the caller still
    /// owns `fd` then).
    pub fn close_detached(&self, fd: i32) -> Result<(), i32> {
        self.alive()?;
        if fd < 0 {
            return Err(libc::EBADF);
        }
        let fs = (self.attribute)(&Op::Close { fd });
        self.shared.close_detached(fs, fd)
    }

    /// A handle for `wait` that outlives the context (see [`Waiter`]).
    pub fn waiter(&self) -> Waiter<T> {
        Waiter { shared: Arc::clone(&self.shared) }
    }

    /// The descriptor that polls readable while a completion is ready.
    pub fn fd(&self) -> Result<i32, i32> {
        self.alive()?;
        Ok(self.shared.readiness_fd())
    }

    /// Delivers up to `max` ready completions (0: every one ready now), oldest first, one at
    /// a time to `f`, which runs without any library lock held and may call back into the
    /// context. Returns how many were delivered.
    pub fn dispatch(&self, max: usize, mut f: impl FnMut(Completion<T>)) -> Result<usize, i32> {
        self.alive()?;
        // One completion per lock: `f` runs unlocked and may dispatch again itself, and
        // completions must still come out in order.
        let mut limit = max;
        let mut n = 0;
        while let Some(c) = self.shared.pop_for_dispatch(n, &mut limit) {
            n += 1;
            f(c);
        }
        Ok(n)
    }

    /// Moves up to `max` ready completions into `out` (no callbacks). Returns how many.
    pub fn reap(&self, max: usize, out: impl FnMut(Completion<T>)) -> Result<usize, i32> {
        self.alive()?;
        Ok(self.shared.reap(max, out))
    }

    /// Blocks until a completion is ready or `timeout` (None: forever) passes. Returns how
    /// many are ready (0 on timeout); `Err(ESHUTDOWN)` if the context shuts down meanwhile.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<usize, i32> {
        self.alive()?;
        self.shared.wait(timeout)
    }

    /// Takes back the library memory of a delivered completion's output (after its bytes
    /// were copied out), for later reads to reuse.
    pub fn recycle(&self, out: Output) {
        self.shared.recycle(out);
    }

    /// Lets go of a completion that nobody receives (dispatched without a callback): the
    /// descriptor of an open becomes an owed close, run by a worker (a close can hang in the
    /// filesystem's flush), or is closed here only when the context is gone and nobody else
    /// can close it.
    pub fn discard(&self, c: &Completion<T>) {
        if let Some(fd) = c.op.opened_fd(c.result) {
            if self.close_detached(fd).is_err() {
                sys::close_quietly(fd);
            }
        }
    }

    /// Shuts down (also done on drop): no callbacks run, queued requests never run; the
    /// descriptors the library holds (a queued close's, an undelivered open's, and a running
    /// open's when it returns) are closed by the workers, which stay until those closes are
    /// done; an own eventfd is closed, a caller's is not. Returns promptly even with workers
    /// or closes stuck in syscalls.
    pub fn shutdown(&self) {
        self.shared.shutdown(SHUTDOWN_LINGER);
    }
}

impl<T: Send + 'static> Drop for Context<T> {
    fn drop(&mut self) {
        if self.is_inherited() {
            self.shared.release_in_forked_child();
            // Never run the shared state's destructors here: they belong to the parent's
            // threads, which do not exist in this process. The memory stays (once, small).
            std::mem::forget(Arc::clone(&self.shared));
            return;
        }
        self.shutdown();
        if LIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
            fs::release();
            inline::release();
        }
    }
}
