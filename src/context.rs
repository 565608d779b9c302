//! A context: one worker pool and one completion queue, as a Rust API. The C layer
//! (`ffi`) wraps exactly this.

use crate::buffers::Buffers;
pub use crate::bytes::Bytes;
use crate::completion::Notifier;
use crate::config::Config;
use crate::fork;
use crate::inline;
use crate::mounts::{self, FsId};
use crate::pool::{Shared, Snapshot};
use crate::request::{Completion, Id, MountReport, Op, Output, StatxBuf};
use crate::sync::Arc;
use crate::syscall::{self, Executor};
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
    /// Which filesystem a request's file is on (see `mounts`).
    attribute: Attributor,
    /// Whether submit may complete a request on the caller's thread (the fast path: see
    /// `inline`): with real syscalls and without `no_inline`.
    inline: bool,
    /// Spare large read buffers, for the next reads (see `buffers`).
    buffers: Buffers,
}

/// Reads smaller than this go inline (when cached) even with work in flight.
const INLINE_READ_ALWAYS: usize = 64 * 1024;

/// Finds the filesystem a request's file is on; runs on the submitting thread, without
/// locks, and never waits on a filesystem.
pub type Attributor = fn(&Op) -> FsId;

/// The real attribution (see `mounts`): a path call by its path (a rename by `from`), a
/// descriptor call by its descriptor.
pub fn attribute(op: &Op) -> FsId {
    match op {
        Op::Open { path, flags, .. } => mounts::of_path(path, flags & libc::O_NOFOLLOW == 0),
        Op::Close { fd } => mounts::of_closing_fd(*fd),
        Op::Fsync { fd, .. }
        | Op::Ftruncate { fd, .. }
        | Op::Read { fd, .. }
        | Op::Write { fd, .. }
        | Op::Getdents { fd, .. } => mounts::of_open_fd(*fd),
        Op::Unlink { path, .. } | Op::Mkdir { path, .. } => mounts::of_path(path, false),
        Op::Rename { from, .. } => mounts::of_path(from, false),
        Op::Stat { path, flags, .. }
        | Op::Access { path, flags, .. }
        | Op::Chown { path, flags, .. }
        | Op::Utimens { path, flags, .. } => mounts::of_path(path, flags & libc::AT_SYMLINK_NOFOLLOW == 0),
        Op::Readlink { path, .. } | Op::Symlink { link: path, .. } | Op::Link { from: path, .. } => {
            mounts::of_path(path, false)
        }
        Op::Statfs { path, .. } | Op::Chmod { path, .. } => mounts::of_path(path, true),
        Op::Fstat { fd, .. }
        | Op::Fstatfs { fd, .. }
        | Op::Fchmod { fd, .. }
        | Op::Fchown { fd, .. }
        | Op::Futimens { fd, .. }
        | Op::Fallocate { fd, .. }
        | Op::CopyFileRange { fd_in: fd, .. }
        | Op::Sendfile { in_fd: fd, .. } => mounts::of_open_fd(*fd),
        Op::Call { fs_path: Some(path), .. } => mounts::of_path(path, true),
        Op::Call { fs_fd, .. } if *fs_fd >= 0 => mounts::of_open_fd(*fs_fd),
        Op::Call { .. } => mounts::UNKNOWN,
    }
}

/// The argument checks of the metadata, link and copy calls (see [`Context::submit_op`]).
fn check_op(op: &Op) -> Result<(), i32> {
    match *op {
        Op::Fstatfs { fd, .. }
        | Op::Fchmod { fd, .. }
        | Op::Fchown { fd, .. }
        | Op::Futimens { fd, .. }
        | Op::Fallocate { fd, .. }
            if fd < 0 =>
        {
            Err(libc::EBADF)
        }
        Op::Fallocate { offset, len, .. } if offset < 0 || len <= 0 => Err(libc::EINVAL),
        Op::CopyFileRange { fd_in, fd_out, .. } | Op::Sendfile { in_fd: fd_in, out_fd: fd_out, .. }
            if fd_in < 0 || fd_out < 0 =>
        {
            Err(libc::EBADF)
        }
        Op::CopyFileRange { off_in, off_out, len, .. }
            if off_in < -1 || off_out < -1 || len > i32::MAX as usize =>
        {
            Err(libc::EINVAL)
        }
        Op::Sendfile { offset, count, .. } if offset < -1 || count > i32::MAX as usize => Err(libc::EINVAL),
        _ => Ok(()),
    }
}

/// The checks common to reads and writes.
fn check_io(fd: i32, len: usize, offset: i64) -> Result<(), i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    if offset < -1 || len > i32::MAX as usize {
        return Err(libc::EINVAL);
    }
    Ok(())
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
    /// A context running real syscalls.
    pub fn new(cfg: &Config) -> Result<Self, i32> {
        let mut ctx = Self::with_executor(cfg, Box::new(syscall::run_syscall))?;
        ctx.inline = !cfg.no_inline;
        Ok(ctx)
    }

    /// A context whose workers run `exec` instead of the real syscalls (for tests).
    pub fn with_executor(cfg: &Config, exec: Box<Executor>) -> Result<Self, i32> {
        Self::with_parts(cfg, exec, if cfg.no_mounts { |_| mounts::UNKNOWN } else { attribute })
    }

    /// A context with its own executor and filesystem attribution (for tests).
    pub fn with_parts(cfg: &Config, exec: Box<Executor>, attribute: Attributor) -> Result<Self, i32> {
        let cfg = cfg.validate()?;
        let notifier = match cfg.eventfd {
            Some(fd) => Notifier::borrowed(fd)?,
            None => Notifier::own()?,
        };
        let born = fork::generation();
        let buffers = Buffers::default();
        let shared = Shared::start(cfg, notifier, exec)?;
        LIVE.fetch_add(1, Ordering::SeqCst);
        Ok(Context { shared, born, attribute, inline: false, buffers })
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

    /// A handle for `wait` that outlives the context (see [`Waiter`]).
    pub fn waiter(&self) -> Waiter<T> {
        Waiter { shared: Arc::clone(&self.shared) }
    }

    /// The descriptor that polls readable while a completion is ready.
    pub fn fd(&self) -> Result<i32, i32> {
        self.alive()?;
        Ok(self.shared.readiness_fd())
    }

    /// Queues an open of `path` (`O_CLOEXEC` is always added). `Err((errno, token))`:
    /// `ENAMETOOLONG`, `EAGAIN` (queue full, or no worker could be started), `ESHUTDOWN`.
    pub fn submit_open(&self, path: CString, flags: i32, mode: u32, token: T) -> Result<Id, (i32, T)> {
        if path.as_bytes().len() >= libc::PATH_MAX as usize {
            return Err((libc::ENAMETOOLONG, token));
        }
        self.submit(Op::Open { path, flags, mode }, token)
    }

    /// Queues a close of `fd`, which the library owns from now on, unless the request is
    /// cancelled or times out before it runs (then the caller still owns `fd`).
    pub fn submit_close(&self, fd: i32, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        self.submit(Op::Close { fd }, token)
    }

    /// Queues `fsync(fd)`, or `fdatasync(fd)` with `datasync`. `Err(EBADF)` for `fd` < 0.
    pub fn submit_fsync(&self, fd: i32, datasync: bool, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        self.submit(Op::Fsync { fd, datasync }, token)
    }

    /// Queues `unlinkat(AT_FDCWD, path, flags)`; `flags` is 0 or `AT_REMOVEDIR` (else
    /// `Err(EINVAL)`).
    pub fn submit_unlink(&self, path: CString, flags: i32, token: T) -> Result<Id, (i32, T)> {
        if flags & !libc::AT_REMOVEDIR != 0 {
            return Err((libc::EINVAL, token));
        }
        self.submit(Op::Unlink { path, flags }, token)
    }

    /// Queues `mkdirat(AT_FDCWD, path, mode)`.
    pub fn submit_mkdir(&self, path: CString, mode: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit(Op::Mkdir { path, mode }, token)
    }

    /// Queues `renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)` (the kernel checks `flags`).
    pub fn submit_rename(&self, from: CString, to: CString, flags: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit(Op::Rename { from, to, flags }, token)
    }

    /// Queues `ftruncate(fd, length)`. `Err(EBADF)` for `fd` < 0, `Err(EINVAL)` for a
    /// negative `length`.
    pub fn submit_ftruncate(&self, fd: i32, length: i64, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        if length < 0 {
            return Err((libc::EINVAL, token));
        }
        self.submit(Op::Ftruncate { fd, length }, token)
    }

    /// Queues a read of `len` bytes at `offset` (-1: at the file position) into a library
    /// buffer, delivered in the completion's `out`. `Err(EBADF)` for `fd` < 0, `Err(EINVAL)`
    /// for `offset` < -1 or `len` over `i32::MAX`, or a buffer over the whole budget.
    pub fn submit_read(&self, fd: i32, len: usize, offset: i64, token: T) -> Result<Id, (i32, T)> {
        match self.read_buffer(fd, len, offset) {
            Ok(buf) => self.submit(Op::Read { fd, offset, buf }, token),
            Err(e) => Err((e, token)),
        }
    }

    /// A library buffer for a read of `len` bytes, after the checks of
    /// [`Context::submit_read`] (the budget's before allocating it).
    fn read_buffer(&self, fd: i32, len: usize, offset: i64) -> Result<Bytes, i32> {
        check_io(fd, len, offset)?;
        if len > self.buffer_budget() {
            return Err(libc::EINVAL);
        }
        Ok(self.buffers.take(len))
    }

    /// Queues `getdents64(fd)` of up to `len` bytes of records into a library buffer,
    /// delivered like a read's. `Err(EBADF)` for `fd` < 0, `Err(EINVAL)` for `len` over
    /// `i32::MAX` or the whole budget.
    pub fn submit_getdents(&self, fd: i32, len: usize, token: T) -> Result<Id, (i32, T)> {
        match self.read_buffer(fd, len, 0) {
            Ok(buf) => self.submit(Op::Getdents { fd, buf }, token),
            Err(e) => Err((e, token)),
        }
    }

    /// Reads on this thread if `fd` is a regular file on a local filesystem and the data is
    /// cached (see `inline::read_nowait`): the bytes read, or `Err(EAGAIN)` (then submit).
    pub fn read_nowait(&self, fd: i32, buf: &mut [MaybeUninit<u8>], offset: i64) -> Result<usize, i32> {
        self.alive()?;
        if self.shared.cfg.no_inline {
            return Err(libc::EAGAIN);
        }
        inline::read_nowait(fd, buf, offset, false)
    }

    /// Takes back the library memory of a delivered completion's output (after its bytes
    /// were copied out), for later reads to reuse.
    pub fn recycle(&self, out: Output) {
        if let Output::Bytes(buf) = out {
            self.buffers.put(buf, self.buffer_budget().saturating_sub(self.shared.held_bytes_hint()));
        }
    }

    /// The context's buffer budget in bytes.
    pub fn buffer_budget(&self) -> usize {
        self.shared.cfg.buffer_budget
    }

    /// Queues a write of `data` (the library's copy) at `offset` (-1: at the file position),
    /// with the checks of [`Context::submit_read`].
    pub fn submit_write(&self, fd: i32, data: Bytes, offset: i64, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = check_io(fd, data.len(), offset) {
            return Err((e, token));
        }
        self.submit(Op::Write { fd, offset, data }, token)
    }

    /// Queues `statx(AT_FDCWD, path, flags, mask)` into a library buffer, delivered in the
    /// completion's `out` (see [`Completion`]): the kernel checks `flags` and `mask`.
    pub fn submit_stat(&self, path: CString, flags: i32, mask: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit(Op::Stat { path, flags, mask, out: StatxBuf::new() }, token)
    }

    /// Queues `statx(fd, "", AT_EMPTY_PATH, mask)` like [`Context::submit_stat`].
    /// `Err(EBADF)` for `fd` < 0.
    pub fn submit_fstat(&self, fd: i32, mask: u32, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        self.submit(Op::Fstat { fd, mask, out: StatxBuf::new() }, token)
    }

    /// Queues a metadata, link or copy call, or a caller's function (`Op::Symlink` through
    /// `Op::Call`; a readlink goes through [`Context::submit_readlink`] for its buffer), after
    /// the checks the calls share: `Err(EBADF)` for a negative descriptor, `Err(EINVAL)` for
    /// an offset below -1, a non-positive fallocate range, or a copy over `i32::MAX` bytes.
    /// Flags and modes are the kernel's to check, as for the synchronous call.
    pub fn submit_op(&self, op: Op, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = check_op(&op) {
            return Err((e, token));
        }
        self.submit(op, token)
    }

    /// Queues `readlinkat(AT_FDCWD, path)` of up to `len` bytes into a library buffer,
    /// delivered like a read's (same budget checks).
    pub fn submit_readlink(&self, path: CString, len: usize, token: T) -> Result<Id, (i32, T)> {
        match self.read_buffer(0, len, 0) {
            Ok(buf) => self.submit(Op::Readlink { path, buf }, token),
            Err(e) => Err((e, token)),
        }
    }

    fn submit(&self, mut op: Op, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = self.alive() {
            return Err((e, token));
        }
        if self.inline {
            if let Some(result) = self.run_inline(&mut op) {
                let kind = op.kind();
                return self.shared.submit_completed(kind, result, op.into_output(), token);
            }
        }
        let fs = (self.attribute)(&op);
        self.shared.submit(fs, op, token)
    }

    /// Runs `op` on this thread if the fast path can (see `inline`): its result (with any
    /// output in `op`'s own buffer), or None when it must go to the pool.
    ///
    /// An open or close goes inline only while nothing is in flight: with work in flight the
    /// pool's threads, in parallel with the caller, are the faster way. So does a large read
    /// (the pool's worker makes the first of its two copies while the caller makes the
    /// other's). A small cached read and an fstat always do: their syscall costs less than
    /// handing them to a worker. Only reads at an offset go inline, as the pool may redo them:
    /// a completion refused as over the depth or the buffer budget is dropped, and a read at
    /// the file position would have moved it.
    fn run_inline(&self, op: &mut Op) -> Option<i32> {
        let done = |r: Result<i32, i32>| match r {
            Err(libc::EAGAIN) => None,
            r => Some(r.unwrap_or_else(|e| -e)),
        };
        match op {
            Op::Open { path, flags, mode } if self.shared.is_quiet() => {
                done(self.open_nowait(path, *flags, *mode))
            }
            Op::Close { fd } if self.shared.is_quiet() => done(inline::close_nowait(*fd).map(|()| 0)),
            Op::Read { fd, offset, buf }
                if *offset >= 0 && (buf.room_len() < INLINE_READ_ALWAYS || self.shared.is_quiet()) =>
            {
                let r = syscall::filled(buf, |spare| inline::read_nowait(*fd, spare, *offset, true));
                (r != -libc::EAGAIN).then_some(r)
            }
            Op::Fstat { fd, mask, out } => done(inline::fstat_nowait(*fd, *mask, &mut out.0).map(|()| 0)),
            // No non-blocking form in the kernel (io_uring hands these to its workers too).
            _ => None,
        }
    }

    /// Opens `path` on this thread if the kernel can finish it from its caches on a local
    /// filesystem (see `inline`): `Ok(fd)`, `Err(errno)` for an open that completed with an
    /// error, `Err(EAGAIN)` when it would have to wait (then submit it), `Err(ESHUTDOWN)` in a
    /// forked child.
    pub fn open_nowait(&self, path: &std::ffi::CStr, flags: i32, mode: u32) -> Result<i32, i32> {
        self.alive()?;
        if self.shared.cfg.no_inline {
            return Err(libc::EAGAIN);
        }
        match inline::open_nowait(path, flags, mode) {
            inline::OpenNowait::Done(r) if r >= 0 => Ok(r),
            inline::OpenNowait::Done(r) => Err(-r),
            inline::OpenNowait::Wait => Err(libc::EAGAIN),
            inline::OpenNowait::WaitAndClose(fd) => {
                // Not a plain file: its close may block (a device's driver), so a worker
                // closes it, and the caller submits the open.
                if self.close_detached(fd).is_err() {
                    crate::sys::close_quietly(fd);
                }
                Err(libc::EAGAIN)
            }
        }
    }

    /// Closes `fd` on this thread if it is on a local filesystem (see `inline`): `Ok(())`, or
    /// `Err(EAGAIN)` with `fd` still the caller's (then submit the close).
    pub fn close_nowait(&self, fd: i32) -> Result<(), i32> {
        self.alive()?;
        if fd < 0 {
            return Err(libc::EBADF);
        }
        if self.shared.cfg.no_inline {
            return Err(libc::EAGAIN);
        }
        inline::close_nowait(fd)
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

    /// A snapshot of the pool's size, for tests and introspection.
    pub fn threads(&self) -> (usize, usize) {
        self.shared.threads()
    }

    /// Counters, histograms and the pool's state now. Takes the context lock once, briefly.
    pub fn stats(&self) -> Result<Snapshot, i32> {
        self.alive()?;
        Ok(self.shared.snapshot())
    }

    /// The filesystems with a request queued, or a syscall running, for at least `min_age`,
    /// oldest first (abandoned syscalls and owed closes included: they show a filesystem
    /// that is still stuck).
    pub fn blocked_mounts(&self, min_age: Duration) -> Result<Vec<MountReport>, i32> {
        self.alive()?;
        Ok(self.shared.blocked_mounts(min_age))
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
            mounts::release();
            inline::release();
        }
    }
}
