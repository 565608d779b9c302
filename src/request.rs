//! The request state machine: every request from submit to delivery, with no threads and no
//! syscalls in it.
//!
//! ```text
//!   submit ──► Queued ──take_work──► Running ──finish──► Ready ──pop_ready──► (delivered)
//!                │                      │                  ▲
//!                └──cancel/timeout──────┴──(open only)─────┘
//! ```
//!
//! A cancelled (or timed-out) request becomes Ready at once with `-ECANCELED` (`-ETIMEDOUT`).
//! If its open was running, the worker is *abandoned*: the request keeps its slot, and when
//! the syscall returns, `finish` finds nobody waiting for it.
//!
//! Owed closes. A descriptor the library holds that nobody can receive any more (the late fd
//! of an abandoned open, the fd of a finished open that is cancelled or dropped, a queued
//! close or an undelivered open at shutdown) becomes an *owed close*: a close request of the
//! library's own, queued on the descriptor's filesystem like any other, run by a worker
//! (never on the caller's thread: a close can hang in the filesystem's flush), counted in
//! `running` and `abandoned` while it runs, and never delivered. Owed closes do not count
//! against `depth`: each one stands for a descriptor, so they are bounded by the process's
//! descriptor limit, and refusing one would leak it.
//!
//! Requests live in a [`Slab`]: an id names its slot, so every lookup is an index, and a
//! stale id (of a delivered request) finds nothing. Ids say nothing of age; each request
//! also has a submit sequence number, which orders the scheduler's queues and the deadlines.
//!
//! `T` is the caller's per-request token (the C layer's callback and user_data), carried
//! untouched to delivery.
//!
//! Per-filesystem fairness and blocked filesystems are the scheduler's (see `scheduler`):
//! the table tells it what is queued, started, abandoned and ended; it says what runs next.
//! The table marks filesystems blocked from the ages of their running syscalls
//! ([`Requests::mark_blocked`]).

use crate::bytes::Bytes;
use crate::deadlines::Deadlines;
use crate::fdguard;
use crate::mounts::FsId;
use crate::scheduler::Scheduler;
use crate::slab::Slab;
use crate::stats::Counters;
use std::collections::VecDeque;
use std::ffi::CString;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

/// A request id: positive, and not reused before at least 2^37 later requests of the same
/// context (see `slab`).
pub type Id = u64;

/// Hashes mount ids (integers the kernel assigns, never chosen by an attacker) by one
/// multiply, instead of SipHash: the scheduler looks one up for each request, under the
/// context lock, whose hold time bounds throughput.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: the high bits, which hashbrown uses, depend on every input bit.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by ids, hashed with [`IdHasher`].
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A `statx` result in library memory: filled on a worker, copied to the caller's buffer
/// only by the call that delivers it.
pub struct StatxBuf(pub Box<libc::statx>);

impl StatxBuf {
    pub fn new() -> Self {
        // SAFETY: statx is plain integers; all-zero is a valid value.
        StatxBuf(Box::new(unsafe { std::mem::zeroed() }))
    }
}

impl Default for StatxBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StatxBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatxBuf")
    }
}

/// A `statfs` result in library memory, delivered like [`StatxBuf`].
pub struct StatfsBuf(pub Box<libc::statfs>);

impl Default for StatfsBuf {
    fn default() -> Self {
        // SAFETY: statfs is plain integers; all-zero is a valid value.
        StatfsBuf(Box::new(unsafe { std::mem::zeroed() }))
    }
}

impl std::fmt::Debug for StatfsBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatfsBuf")
    }
}

/// A caller's function for a worker to run (`aopen_call_submit`): it runs at most once,
/// and its return value is the request's result.
pub struct Job(Option<Box<dyn FnOnce() -> i32 + Send>>);

impl Job {
    pub fn new(f: impl FnOnce() -> i32 + Send + 'static) -> Self {
        Job(Some(Box::new(f)))
    }

    /// Runs the function (once; a second run returns -EINVAL).
    pub fn run(&mut self) -> i32 {
        self.0.take().map_or(-libc::EINVAL, |f| f())
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// What a call wrote into library memory, for the delivering call to copy to the caller.
#[derive(Debug)]
pub enum Output {
    Statx(StatxBuf),
    Statfs(StatfsBuf),
    /// The bytes a read returned.
    Bytes(Bytes),
}

impl Output {
    /// What a call with `result` delivers of its output `out`: nothing for an error (the
    /// caller's buffer is left alone), a read's bytes up to the count it returned.
    pub fn of_result(out: Option<Output>, result: i32) -> Option<Output> {
        match out {
            _ if result < 0 => None,
            Some(Output::Bytes(mut b)) => {
                b.truncate(result as usize);
                Some(Output::Bytes(b))
            }
            out => out,
        }
    }

    /// Bytes of library memory it holds (counted against the buffer budget).
    pub fn buffer_bytes(&self) -> usize {
        match self {
            Output::Bytes(v) => v.capacity(),
            Output::Statx(_) | Output::Statfs(_) => 0,
        }
    }
}

/// The largest result a call of `kind` may report: an open's descriptor, the bytes a call
/// that moves bytes asked for (`asked`), 0 for the rest. Delivery asserts it (debug builds).
fn most_result(kind: OpKind, asked: usize) -> i32 {
    match kind {
        OpKind::Open | OpKind::Call => i32::MAX,
        OpKind::Read
        | OpKind::Write
        | OpKind::Getdents
        | OpKind::Readlink
        | OpKind::CopyFileRange
        | OpKind::Sendfile => asked.min(i32::MAX as usize) as i32,
        _ => 0,
    }
}

/// The work a request does.
#[derive(Debug)]
pub enum Op {
    /// `open(path, flags | O_CLOEXEC, mode)`.
    Open { path: CString, flags: i32, mode: u32 },
    /// `close(fd)`: the library owns `fd` from submit on.
    Close { fd: i32 },
    /// `fsync(fd)`, or `fdatasync(fd)` with `datasync`.
    Fsync { fd: i32, datasync: bool },
    /// `unlinkat(AT_FDCWD, path, flags)` (`flags`: 0 or `AT_REMOVEDIR`).
    Unlink { path: CString, flags: i32 },
    /// `mkdirat(AT_FDCWD, path, mode)`.
    Mkdir { path: CString, mode: u32 },
    /// `renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)`.
    Rename { from: CString, to: CString, flags: u32 },
    /// `ftruncate(fd, length)`.
    Ftruncate { fd: i32, length: i64 },
    /// `pread(fd, buf, buf.room_len(), offset)` into `buf` (library memory, empty until the
    /// read fills it), or `read` at the file position when `offset` is -1.
    Read { fd: i32, offset: i64, buf: Bytes },
    /// `pwrite(fd, data, data.len(), offset)` of a copy of the caller's data, or `write` at
    /// the file position when `offset` is -1.
    Write { fd: i32, offset: i64, data: Bytes },
    /// `getdents64(fd, buf)` into `buf`'s room (library memory).
    Getdents { fd: i32, buf: Bytes },
    /// `statx(AT_FDCWD, path, flags, mask)` into `out`.
    Stat { path: CString, flags: i32, mask: u32, out: StatxBuf },
    /// `statx(fd, "", AT_EMPTY_PATH, mask)` into `out`.
    Fstat { fd: i32, mask: u32, out: StatxBuf },
    /// `readlinkat(AT_FDCWD, path, buf)` into `buf`'s room (library memory).
    Readlink { path: CString, buf: Bytes },
    /// `symlinkat(target, AT_FDCWD, link)`.
    Symlink { target: CString, link: CString },
    /// `linkat(AT_FDCWD, from, AT_FDCWD, to, flags)`.
    Link { from: CString, to: CString, flags: i32 },
    /// `faccessat2(AT_FDCWD, path, mode, flags)`.
    Access { path: CString, mode: i32, flags: i32 },
    /// `statfs(path)` into `out`.
    Statfs { path: CString, out: StatfsBuf },
    /// `fstatfs(fd)` into `out`.
    Fstatfs { fd: i32, out: StatfsBuf },
    /// `fchmodat(AT_FDCWD, path, mode, 0)`.
    Chmod { path: CString, mode: u32 },
    /// `fchmod(fd, mode)`.
    Fchmod { fd: i32, mode: u32 },
    /// `fchownat(AT_FDCWD, path, uid, gid, flags)`.
    Chown { path: CString, uid: u32, gid: u32, flags: i32 },
    /// `fchown(fd, uid, gid)`.
    Fchown { fd: i32, uid: u32, gid: u32 },
    /// `utimensat(AT_FDCWD, path, times, flags)` (`None`: now).
    Utimens { path: CString, times: Option<[libc::timespec; 2]>, flags: i32 },
    /// `futimens(fd, times)` (`None`: now).
    Futimens { fd: i32, times: Option<[libc::timespec; 2]> },
    /// `fallocate(fd, mode, offset, len)`.
    Fallocate { fd: i32, mode: i32, offset: i64, len: i64 },
    /// `copy_file_range(fd_in, off_in, fd_out, off_out, len, flags)` (-1: file position).
    CopyFileRange { fd_in: i32, off_in: i64, fd_out: i32, off_out: i64, len: usize, flags: u32 },
    /// `sendfile(out_fd, in_fd, offset, count)` (-1: `in_fd`'s file position).
    Sendfile { out_fd: i32, in_fd: i32, offset: i64, count: usize },
    /// A caller's function, charged to `fs_path` or `fs_fd`'s filesystem.
    Call { job: Job, fs_path: Option<CString>, fs_fd: i32 },
}

/// Which operation a completion reports (the C `AOPEN_OP_*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum OpKind {
    Open = 1,
    Close = 2,
    Read = 3,
    Write = 4,
    Fsync = 5,
    /// `Op::Stat` and `Op::Fstat`.
    Stat = 6,
    Unlink = 7,
    Mkdir = 8,
    Rename = 9,
    Ftruncate = 10,
    Getdents = 11,
    Readlink = 12,
    Symlink = 13,
    Link = 14,
    Access = 15,
    /// `Op::Statfs` and `Op::Fstatfs`.
    Statfs = 16,
    /// `Op::Chmod` and `Op::Fchmod`.
    Chmod = 17,
    /// `Op::Chown` and `Op::Fchown`.
    Chown = 18,
    /// `Op::Utimens` and `Op::Futimens`.
    Utimens = 19,
    Fallocate = 20,
    CopyFileRange = 21,
    Sendfile = 22,
    Call = 23,
}

impl Op {
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Open { .. } => OpKind::Open,
            Op::Close { .. } => OpKind::Close,
            Op::Fsync { .. } => OpKind::Fsync,
            Op::Unlink { .. } => OpKind::Unlink,
            Op::Mkdir { .. } => OpKind::Mkdir,
            Op::Rename { .. } => OpKind::Rename,
            Op::Ftruncate { .. } => OpKind::Ftruncate,
            Op::Stat { .. } | Op::Fstat { .. } => OpKind::Stat,
            Op::Read { .. } => OpKind::Read,
            Op::Write { .. } => OpKind::Write,
            Op::Getdents { .. } => OpKind::Getdents,
            Op::Readlink { .. } => OpKind::Readlink,
            Op::Symlink { .. } => OpKind::Symlink,
            Op::Link { .. } => OpKind::Link,
            Op::Access { .. } => OpKind::Access,
            Op::Statfs { .. } | Op::Fstatfs { .. } => OpKind::Statfs,
            Op::Chmod { .. } | Op::Fchmod { .. } => OpKind::Chmod,
            Op::Chown { .. } | Op::Fchown { .. } => OpKind::Chown,
            Op::Utimens { .. } | Op::Futimens { .. } => OpKind::Utimens,
            Op::Fallocate { .. } => OpKind::Fallocate,
            Op::CopyFileRange { .. } => OpKind::CopyFileRange,
            Op::Sendfile { .. } => OpKind::Sendfile,
            Op::Call { .. } => OpKind::Call,
        }
    }

    /// Bytes of library memory the request holds for the caller's data (counted against
    /// the context's buffer budget).
    pub fn buffer_bytes(&self) -> usize {
        match self {
            Op::Read { buf, .. } | Op::Getdents { buf, .. } | Op::Readlink { buf, .. } => buf.capacity(),
            Op::Write { data, .. } => data.len(),
            _ => 0,
        }
    }

    /// The caller's descriptors it works on (-1: none), for a call an abandoned syscall
    /// could still be about to make on them (see `fdguard`): not a close, which owns its
    /// descriptor, nor a caller's function, whose use of `fs_fd` is its own.
    fn caller_fds(&self) -> [i32; 2] {
        match self {
            Op::Read { fd, .. }
            | Op::Write { fd, .. }
            | Op::Fsync { fd, .. }
            | Op::Ftruncate { fd, .. }
            | Op::Getdents { fd, .. }
            | Op::Fstat { fd, .. }
            | Op::Fstatfs { fd, .. }
            | Op::Fchmod { fd, .. }
            | Op::Fchown { fd, .. }
            | Op::Futimens { fd, .. }
            | Op::Fallocate { fd, .. } => [*fd, -1],
            Op::CopyFileRange { fd_in, fd_out, .. } => [*fd_in, *fd_out],
            Op::Sendfile { out_fd, in_fd, .. } => [*in_fd, *out_fd],
            _ => [-1, -1],
        }
    }

    /// The largest result it may report (see [`most_result`]).
    fn most_result(&self) -> i32 {
        let asked = match self {
            Op::Read { buf, .. } | Op::Getdents { buf, .. } | Op::Readlink { buf, .. } => buf.room_len(),
            Op::Write { data, .. } => data.len(),
            Op::CopyFileRange { len, .. } => *len,
            Op::Sendfile { count, .. } => *count,
            _ => 0,
        };
        most_result(self.kind(), asked)
    }

    /// What the call wrote into library memory, for delivery.
    pub fn into_output(self) -> Option<Output> {
        match self {
            Op::Stat { out, .. } | Op::Fstat { out, .. } => Some(Output::Statx(out)),
            Op::Read { buf, .. } | Op::Getdents { buf, .. } | Op::Readlink { buf, .. } => {
                Some(Output::Bytes(buf))
            }
            Op::Statfs { out, .. } | Op::Fstatfs { out, .. } => Some(Output::Statfs(out)),
            _ => None,
        }
    }
}

/// A delivered request.
#[derive(Debug)]
pub struct Completion<T> {
    pub id: Id,
    pub op: OpKind,
    /// open: the new fd; other calls: 0; failure: -errno.
    pub result: i32,
    pub token: T,
    /// A successful stat's or read's result, for the delivering call to copy to the caller.
    pub out: Option<Output>,
}

/// Where a request is, with what it holds there.
#[derive(Debug)]
enum State<T> {
    /// In its filesystem's queue, waiting for a worker. `token` is None for an owed close.
    Queued { op: Op, token: Option<T> },
    /// Its syscall runs on a worker, for the caller.
    Running { token: T },
    /// In the ready queue, waiting for delivery. `cancelled`: the result is final because
    /// of a cancel or timeout (a syscall of its that still runs is abandoned).
    Ready { result: i32, cancelled: bool, token: T, out: Option<Output> },
    /// Nobody waits for it and its syscall runs (abandoned): an owed close (`owed`), or a
    /// request delivered or shut down before its syscall returned.
    Abandoned { owed: bool },
}

#[derive(Debug)]
struct Req<T> {
    /// Submit sequence number: orders requests by age.
    seq: u64,
    kind: OpKind,
    fs: FsId,
    submitted: Instant,
    /// When its syscall started, while one runs (abandoned or not).
    syscall: Option<Instant>,
    state: State<T>,
    /// Bytes of caller data it holds in library memory, released with its slot.
    bytes: usize,
    /// The largest result it may report: delivery asserts it (debug builds).
    most: i32,
    /// The caller's descriptors its call uses (-1: none), held in `fdguard` while its
    /// syscall runs abandoned.
    fds: [i32; 2],
}

impl<T> Req<T> {
    /// Whether a syscall of it runs that nobody waits for.
    fn runs_abandoned(&self) -> bool {
        self.syscall.is_some() && !matches!(self.state, State::Running { .. })
    }
}

/// Why `cancel` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelError {
    /// No such undelivered request (`ENOENT`).
    NotFound,
    /// A close already running, a request other than an open already done, or a request
    /// already cancelled (`EALREADY`).
    Already,
}

impl CancelError {
    pub fn errno(self) -> i32 {
        match self {
            CancelError::NotFound => libc::ENOENT,
            CancelError::Already => libc::EALREADY,
        }
    }
}

/// What a state change did to the ready queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    /// The ready queue went from empty to non-empty: readiness must be signalled.
    pub became_ready: bool,
}

/// One filesystem's part of the table, for introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountReport {
    pub fs: FsId,
    /// Requests waiting for a worker.
    pub queued: usize,
    /// Syscalls in progress, abandoned ones included.
    pub running: usize,
    pub abandoned: usize,
    /// Queued requests submitted, and syscalls started, at least the threshold ago.
    pub blocked: usize,
    /// How long the oldest of those has been waiting or running.
    pub oldest: Duration,
}

/// Every undelivered request of one context, and the owed closes.
#[derive(Debug)]
pub struct Requests<T> {
    depth: usize,
    /// Every request with a state (see [`State`]).
    reqs: Slab<Req<T>>,
    /// The next submit sequence number.
    next_seq: u64,
    /// The caller's requests not yet delivered (queued, running or ready): what `depth` bounds.
    outstanding: usize,
    /// Owed closes queued or running (not counted against `depth`).
    owed: usize,
    /// Most bytes of caller data the requests may hold in library memory, and how many
    /// they hold now.
    byte_budget: usize,
    held_bytes: usize,
    /// Of `held_bytes`, those of abandoned syscalls still running: a cancelled read's
    /// buffer stays counted until its syscall returns, since the kernel may still write it.
    abandoned_bytes: usize,
    /// Owed closes that found the slab full, queued as soon as a slot frees.
    owed_spill: Vec<(FsId, i32)>,
    /// The per-filesystem queues: which queued request runs next.
    sched: Scheduler,
    /// Ready requests, in completion order.
    ready: VecDeque<Id>,
    /// Requests a timeout may still hit (queued, or a running open).
    deadlines: Deadlines,
    /// Syscalls in progress (including abandoned ones), and of those the abandoned ones.
    running: usize,
    abandoned: usize,
    counters: Counters,
}

impl<T> Requests<T> {
    /// A table admitting at most `depth` undelivered requests, with no per-filesystem share.
    pub fn new(depth: usize, timeout: Option<Duration>) -> Self {
        Self::with_share(depth, timeout, usize::MAX, usize::MAX)
    }

    /// A table admitting at most `depth` undelivered requests, running at most `share` (at
    /// least 1) syscalls of one filesystem at once, and starting syscalls of blocked
    /// filesystems only while fewer than `budget` of them run.
    pub fn with_share(depth: usize, timeout: Option<Duration>, share: usize, budget: usize) -> Self {
        Self::with_slab(Slab::new(), depth, timeout, share, budget)
    }

    /// A table of at most `slots` requests (owed closes included), for tests.
    #[cfg(test)]
    fn with_slots(slots: usize, depth: usize) -> Self {
        Self::with_slab(Slab::with_limit(slots), depth, None, usize::MAX, usize::MAX)
    }

    fn with_slab(
        reqs: Slab<Req<T>>,
        depth: usize,
        timeout: Option<Duration>,
        share: usize,
        budget: usize,
    ) -> Self {
        Requests {
            depth,
            reqs,
            next_seq: 1,
            outstanding: 0,
            byte_budget: usize::MAX,
            held_bytes: 0,
            abandoned_bytes: 0,
            owed: 0,
            owed_spill: Vec::new(),
            sched: Scheduler::new(share, budget),
            ready: VecDeque::new(),
            deadlines: Deadlines::new(timeout),
            running: 0,
            abandoned: 0,
            counters: Counters::default(),
        }
    }

    /// Bounds the bytes of caller data requests may hold in library memory.
    pub fn with_byte_budget(mut self, bytes: usize) -> Self {
        self.byte_budget = bytes;
        self
    }

    /// Queues a request on an anonymous filesystem (for tests and models; see
    /// [`Requests::submit_on`]).
    pub fn submit(&mut self, op: Op, token: T, now: Instant) -> Result<Id, (i32, T)> {
        self.submit_on(crate::mounts::UNKNOWN, op, token, now)
    }

    /// Queues a request for a file on filesystem `fs`. `Err(EAGAIN)` when `depth` requests
    /// are undelivered already, or its buffer would take the bytes held past the budget;
    /// `Err(EINVAL)` for a buffer larger than the whole budget.
    pub fn submit_on(&mut self, fs: FsId, op: Op, token: T, now: Instant) -> Result<Id, (i32, T)> {
        let bytes = op.buffer_bytes();
        if bytes > self.byte_budget {
            return Err((libc::EINVAL, token));
        }
        if self.outstanding >= self.depth || bytes > self.byte_budget - self.held_bytes {
            return Err((libc::EAGAIN, token));
        }
        let kind = op.kind();
        let (id, seq) = self.insert(kind, fs, now, State::Queued { op, token: Some(token) }).map_err(
            |state| match state {
                State::Queued { token: Some(t), .. } => (libc::EAGAIN, t),
                _ => unreachable!("given back as it was given"),
            },
        )?;
        self.sched.push(fs, seq, id);
        self.deadlines.track(seq, id, now);
        self.outstanding += 1;
        self.counters.submitted += 1;
        Ok(id)
    }

    /// Records a request that already completed on the submitting thread (the fast path)
    /// with `result`: it is Ready at once, delivered like any other. `Err(EAGAIN)` when
    /// `depth` requests are undelivered already.
    pub fn submit_completed(
        &mut self,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        token: T,
        now: Instant,
    ) -> Result<(Id, Effect), (i32, T)> {
        let out = Output::of_result(out, result);
        let bytes = out.as_ref().map_or(0, Output::buffer_bytes);
        if self.outstanding >= self.depth || bytes > self.byte_budget - self.held_bytes {
            return Err((libc::EAGAIN, token));
        }
        let state = State::Ready { result, cancelled: false, token, out };
        let (id, _) = self.insert(kind, crate::mounts::UNKNOWN, now, state).map_err(|state| match state {
            State::Ready { token, .. } => (libc::EAGAIN, token),
            _ => unreachable!("given back as it was given"),
        })?;
        self.outstanding += 1;
        self.counters.submitted += 1;
        self.counters.inline += 1;
        Ok((id, Effect { became_ready: self.push_ready(id) }))
    }

    /// Queues a close of `fd`, which the library owns and nobody will receive, on `fs`: an
    /// owed close (see the module docs). Never refused: with every slot taken, it waits for
    /// the next one to free.
    pub fn owe_close(&mut self, fs: FsId, fd: i32, now: Instant) {
        let state = State::Queued { op: Op::Close { fd }, token: None };
        match self.insert(OpKind::Close, fs, now, state) {
            Ok((id, seq)) => self.sched.push(fs, seq, id),
            Err(_) => self.owed_spill.push((fs, fd)),
        }
        self.owed += 1;
        self.counters.owed_closes += 1;
    }

    /// Gives a new request the next id and sequence number and keeps it; gives its state
    /// back when the slab is full.
    fn insert(
        &mut self,
        kind: OpKind,
        fs: FsId,
        now: Instant,
        state: State<T>,
    ) -> Result<(Id, u64), State<T>> {
        let seq = self.next_seq;
        let fds = match &state {
            State::Queued { op, .. } => op.caller_fds(),
            _ => [-1, -1],
        };
        let (bytes, most) = match &state {
            State::Queued { op, .. } => (op.buffer_bytes(), op.most_result()),
            // Completed inline: a read's bytes are already cut to its result.
            State::Ready { out: Some(out @ Output::Bytes(b)), .. } => {
                (out.buffer_bytes(), most_result(kind, b.room_len()))
            }
            State::Ready { out: Some(out), .. } => (out.buffer_bytes(), most_result(kind, 0)),
            _ => (0, most_result(kind, 0)),
        };
        let req = Req { seq, kind, fs, submitted: now, syscall: None, state, bytes, most, fds };
        let id = self.reqs.insert(req).map_err(|r| r.state)?;
        self.next_seq += 1;
        self.held_bytes += bytes;
        Ok((id, seq))
    }

    /// Frees request `id`'s slot, and queues an owed close that was waiting for one.
    fn remove(&mut self, id: Id) -> Option<Req<T>> {
        let req = self.reqs.remove(id)?;
        self.held_bytes -= req.bytes;
        if let Some((fs, fd)) = self.owed_spill.pop() {
            let state = State::Queued { op: Op::Close { fd }, token: None };
            match self.insert(OpKind::Close, fs, Instant::now(), state) {
                Ok((id, seq)) => self.sched.push(fs, seq, id),
                Err(_) => self.owed_spill.push((fs, fd)),
            }
        }
        Some(req)
    }

    /// Takes back a request that was just submitted and never became visible to anyone else
    /// (used when no worker could be started for it).
    pub fn unsubmit(&mut self, id: Id) -> Option<T> {
        let Some(Req { state: State::Queued { token: Some(_), .. }, .. }) = self.reqs.get(id) else {
            return None;
        };
        let req = self.remove(id)?;
        self.sched.remove(req.fs, id);
        self.deadlines.untrack(req.seq);
        self.outstanding -= 1;
        self.counters.submitted -= 1;
        match req.state {
            State::Queued { token, .. } => token,
            _ => None,
        }
    }

    /// The oldest queued request that could start now (see [`Scheduler::next`]), moved to
    /// Running for a worker at `now`, with the filesystem it is charged to.
    pub fn take_work(&mut self, now: Instant) -> Option<(Id, Op, FsId)> {
        let (id, fs) = self.sched.next()?;
        let req = self.reqs.get_mut(id).expect("queued ids are always in the table");
        let (op, state) = match std::mem::replace(&mut req.state, State::Abandoned { owed: true }) {
            State::Queued { op, token: Some(token) } => (op, State::Running { token }),
            State::Queued { op, token: None } => (op, State::Abandoned { owed: true }),
            _ => unreachable!("the scheduler holds queued requests only"),
        };
        let owed = matches!(state, State::Abandoned { .. });
        req.state = state;
        req.syscall = Some(now);
        self.counters.queue_wait.record(now.saturating_duration_since(req.submitted));
        if req.kind == OpKind::Close {
            // A running close cannot be cancelled, so no timeout can reach it.
            self.deadlines.untrack(req.seq);
        }
        let bytes = req.bytes;
        self.sched.start(fs, id, owed);
        self.running += 1;
        if owed {
            self.abandoned += 1;
            self.abandoned_bytes += bytes;
        }
        Some((id, op, fs))
    }

    /// A worker's `kind` syscall for request `id` returned `result` (fd, 0, or -errno). If
    /// nobody waits for it any more (cancelled, timed out, shut down), a descriptor it opened
    /// becomes an owed close on the same filesystem.
    pub fn finish(&mut self, id: Id, kind: OpKind, result: i32, now: Instant) -> Effect {
        self.finish_with(id, kind, result, None, now)
    }

    /// [`Requests::finish`] for a call that wrote into library memory (`out`): kept for
    /// delivery if the request still waits and succeeded, else dropped.
    pub fn finish_with(
        &mut self,
        id: Id,
        kind: OpKind,
        result: i32,
        out: Option<Output>,
        now: Instant,
    ) -> Effect {
        let Some(req) = self.reqs.get_mut(id).filter(|r| r.syscall.is_some()) else {
            debug_assert!(false, "a running request keeps its slot until its syscall returns");
            return Effect::default();
        };
        let abandoned = req.runs_abandoned();
        req.syscall = None;
        let (fs, seq) = (req.fs, req.seq);
        self.running -= 1;
        if abandoned {
            self.abandoned -= 1;
            self.abandoned_bytes -= req.bytes;
            req.fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| fdguard::release(fd));
        }
        self.sched.end(fs, abandoned);
        let late_fd = (kind == OpKind::Open && result >= 0).then_some(result);
        match std::mem::replace(&mut req.state, State::Abandoned { owed: false }) {
            State::Running { token } => {
                let out = Output::of_result(out, result);
                req.state = State::Ready { result, cancelled: false, token, out };
                self.deadlines.untrack(seq);
                return Effect { became_ready: self.push_ready(id) };
            }
            // Cancelled or timed out, and not yet delivered: delivery frees the slot.
            ready @ State::Ready { .. } => req.state = ready,
            State::Abandoned { owed } => {
                self.remove(id);
                if owed {
                    self.owed -= 1;
                    return Effect::default(); // its result is nobody's
                }
            }
            State::Queued { .. } => unreachable!("a queued request has no syscall"),
        }
        if let Some(fd) = late_fd {
            self.owe_close(fs, fd, now);
        }
        Effect::default()
    }

    fn push_ready(&mut self, id: Id) -> bool {
        self.ready.push_back(id);
        self.ready.len() == 1
    }

    /// Cancels with `-errno` (`ECANCELED`, or `ETIMEDOUT` for a timeout) at `now`.
    pub fn cancel(&mut self, id: Id, errno: i32, now: Instant) -> Result<Effect, CancelError> {
        let req = self.reqs.get_mut(id).ok_or(CancelError::NotFound)?;
        let close = req.kind == OpKind::Close;
        let (fs, seq) = (req.fs, req.seq);
        let cancelled = |token| State::Ready { result: -errno, cancelled: true, token, out: None };
        let (became_ready, late_fd) =
            match std::mem::replace(&mut req.state, State::Abandoned { owed: false }) {
                State::Queued { op: _, token: Some(token) } => {
                    // A queued close never runs: its fd stays the caller's.
                    req.state = cancelled(token);
                    self.sched.remove(fs, id);
                    (self.push_ready(id), None)
                }
                State::Running { token } if !close => {
                    req.state = cancelled(token);
                    self.abandoned += 1;
                    self.abandoned_bytes += req.bytes;
                    self.sched.abandon(fs);
                    // Before the cancel can be delivered.
                    req.fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| fdguard::hold(fd));
                    (self.push_ready(id), None)
                }
                State::Ready { result, cancelled: false, token, .. } if req.kind == OpKind::Open => {
                    req.state = cancelled(token);
                    // Keeps its place in the ready queue; the fd it opened is nobody's now.
                    (false, (result >= 0).then_some(result))
                }
                other => {
                    let err = match other {
                        State::Queued { token: None, .. } | State::Abandoned { .. } => CancelError::NotFound,
                        _ => CancelError::Already,
                    };
                    req.state = other;
                    return Err(err);
                }
            };
        self.deadlines.untrack(seq);
        if errno == libc::ETIMEDOUT {
            self.counters.timed_out += 1;
        } else {
            self.counters.cancelled += 1;
        }
        if let Some(fd) = late_fd {
            self.owe_close(fs, fd, now);
        }
        Ok(Effect { became_ready })
    }

    /// Times out every request whose deadline is at or before `now`; returns whether
    /// completions became ready.
    pub fn expire(&mut self, now: Instant) -> bool {
        let mut became_ready = false;
        while let Some(id) = self.deadlines.pop_due(now) {
            if let Ok(e) = self.cancel(id, libc::ETIMEDOUT, now) {
                became_ready |= e.became_ready;
            }
        }
        became_ready
    }

    /// When the next timeout falls due, if any request can still time out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// Delivers the oldest ready request.
    pub fn pop_ready(&mut self) -> Option<Completion<T>> {
        let id = self.ready.pop_front()?;
        let req = self.reqs.get_mut(id).expect("ready ids are always in the table");
        let State::Ready { result, token, out, .. } =
            std::mem::replace(&mut req.state, State::Abandoned { owed: false })
        else {
            unreachable!("the ready queue holds ready requests only")
        };
        let kind = req.kind;
        debug_assert!(
            result <= req.most,
            "{kind:?} reports {result}, more than the {} it may (asked for)",
            req.most
        );
        if req.syscall.is_none() {
            self.remove(id);
        } // else its abandoned syscall still runs: `finish` frees the slot
        self.outstanding -= 1;
        self.counters.delivered += 1;
        Some(Completion { id, op: kind, result, token, out })
    }

    /// Ends every caller's request: nothing of theirs queued will run; the descriptors the
    /// library holds for them (queued closes, undelivered opens) become owed closes, which
    /// still run; running syscalls become abandoned. Tokens are dropped undelivered.
    pub fn shutdown(&mut self, now: Instant) {
        let callers = self.reqs.ids_where(|r| {
            matches!(
                r.state,
                State::Queued { token: Some(_), .. } | State::Running { .. } | State::Ready { .. }
            )
        });
        let mut owed = Vec::new();
        for id in callers {
            let req = self.reqs.get_mut(id).expect("listed above");
            let fs = req.fs;
            match std::mem::replace(&mut req.state, State::Abandoned { owed: false }) {
                State::Queued { op, .. } => {
                    if let Op::Close { fd } = op {
                        owed.push((fs, fd));
                    }
                    self.remove(id);
                }
                State::Running { .. } => {
                    self.abandoned += 1;
                    self.abandoned_bytes += req.bytes;
                    self.sched.abandon(fs);
                    req.fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| fdguard::hold(fd));
                }
                State::Ready { result, .. } => {
                    if req.kind == OpKind::Open && result >= 0 {
                        owed.push((fs, result));
                    }
                    if req.syscall.is_none() {
                        self.remove(id);
                    }
                }
                State::Abandoned { .. } => unreachable!("not listed"),
            }
        }
        // The caller's queued requests are gone from `reqs`; drop them from their queues in
        // one pass (the owed closes stay).
        let reqs = &self.reqs;
        self.sched.retain(|id| reqs.get(id).is_some());
        self.ready.clear();
        self.deadlines.clear();
        self.outstanding = 0;
        for (fs, fd) in owed {
            self.owe_close(fs, fd, now);
        }
    }

    /// Removes the owed closes still queued (or waiting for a slot) and returns their
    /// descriptors: for a forked child, where no worker exists to run them.
    pub fn take_queued_owed(&mut self) -> Vec<i32> {
        let mut fds: Vec<i32> = self.owed_spill.drain(..).map(|(_, fd)| fd).collect();
        let queued = self.reqs.ids_where(|r| matches!(r.state, State::Queued { token: None, .. }));
        for id in queued {
            if let Some(Req { state: State::Queued { op: Op::Close { fd }, .. }, fs, .. }) =
                self.reqs.remove(id)
            {
                self.sched.remove(fs, id);
                fds.push(fd);
            }
        }
        self.owed -= fds.len();
        fds
    }

    /// Re-marks which filesystems are blocked: those with a syscall running since before
    /// `since` for which `asleep(id)` holds (the pool asks the kernel whether the worker is
    /// asleep, so that a syscall merely waiting for a CPU never counts). A filesystem already
    /// blocked stays so while it has any syscall older than `since`, without asking again.
    /// Returns how many filesystems are blocked.
    pub fn mark_blocked(&mut self, since: Instant, mut asleep: impl FnMut(Id) -> bool) -> usize {
        let mut old: Vec<(FsId, Id)> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.syscall.is_some_and(|started| started <= since))
            .map(|(id, r)| (r.fs, id))
            .collect();
        old.sort_unstable();
        let mut blocked: Vec<FsId> = Vec::new();
        for (fs, id) in old {
            if blocked.last() == Some(&fs) {
                continue;
            }
            if self.sched.is_blocked(fs) || asleep(id) {
                blocked.push(fs);
            }
        }
        self.sched.set_blocked(&blocked);
        blocked.len()
    }

    /// When the oldest syscall running on a filesystem not marked blocked started: the
    /// earliest a further [`Requests::mark_blocked`] could mark one.
    pub fn oldest_unblocked_syscall(&self) -> Option<Instant> {
        self.reqs.iter().filter_map(|(_, r)| r.syscall.filter(|_| !self.sched.is_blocked(r.fs))).min()
    }

    /// While `hold`, blocked filesystems start nothing (see [`Scheduler::hold_blocked`]).
    pub fn hold_blocked(&mut self, hold: bool) {
        self.sched.hold_blocked(hold);
    }

    /// Undelivered requests (what `queue_depth` bounds).
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }
    /// Bytes of caller data held in library memory (read buffers until delivered, write
    /// copies until delivered).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }
    /// Of those, the bytes of abandoned syscalls still running (a cancelled or timed-out
    /// read's buffer, a write's copy): freed when the syscall returns, not when the cancel is
    /// delivered.
    pub fn abandoned_bytes(&self) -> usize {
        self.abandoned_bytes
    }
    /// Owed closes not yet done.
    pub fn owed(&self) -> usize {
        self.owed
    }
    /// Requests waiting for a worker (owed closes included).
    pub fn queued(&self) -> usize {
        self.sched.queued() + self.owed_spill.len()
    }
    /// Queued requests that could start now: within their filesystem's share, and for
    /// blocked filesystems within the budget.
    pub fn startable(&self) -> usize {
        self.sched.startable()
    }
    /// Queued requests of blocked filesystems that could start but for the hold.
    pub fn held(&self) -> usize {
        self.sched.held()
    }
    /// Completions ready for delivery.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }
    /// How long the oldest request that could start now has waited.
    pub fn oldest_startable_wait(&self, now: Instant) -> Option<Duration> {
        let (id, _) = self.sched.next()?;
        self.reqs.get(id).map(|r| now.saturating_duration_since(r.submitted))
    }
    /// Syscalls in progress (including abandoned ones).
    pub fn running(&self) -> usize {
        self.running
    }
    /// Abandoned syscalls in progress (owed closes included).
    pub fn abandoned(&self) -> usize {
        self.abandoned
    }
    /// Syscalls in progress that do not count against the pool's `max_threads`: abandoned
    /// ones, and those of blocked filesystems.
    pub fn off_budget(&self) -> usize {
        self.abandoned + self.sched.blocked_unabandoned()
    }
    /// Whether request `id` runs off budget: abandoned, an owed close, or on a blocked
    /// filesystem.
    pub fn is_off_budget(&self, id: Id) -> bool {
        self.reqs
            .get(id)
            .is_some_and(|r| r.runs_abandoned() || (r.syscall.is_some() && self.sched.is_blocked(r.fs)))
    }
    /// Syscalls in progress on blocked filesystems.
    pub fn blocked_running(&self) -> usize {
        self.sched.blocked_running()
    }
    /// The per-filesystem share.
    pub fn share(&self) -> usize {
        self.sched.share()
    }
    /// Filesystems with queued or running requests.
    pub fn mounts(&self) -> usize {
        self.sched.busy()
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The filesystems that have a request queued, or a syscall running, for at least
    /// `min_age` at `now`, oldest first. Costs a pass over the requests.
    pub fn blocked_mounts(&self, now: Instant, min_age: Duration) -> Vec<MountReport> {
        let mut out: HashMap<FsId, MountReport> = HashMap::default();
        let mut note = |fs: FsId, age: Duration| {
            let q = self.sched.counts(fs);
            let r = out.entry(fs).or_insert(MountReport {
                fs,
                queued: q.queued,
                running: q.running,
                abandoned: q.abandoned,
                blocked: 0,
                oldest: Duration::ZERO,
            });
            r.blocked += 1;
            r.oldest = r.oldest.max(age);
        };
        for (_, r) in self.reqs.iter() {
            if let Some(started) = r.syscall {
                let age = now.saturating_duration_since(started);
                if age >= min_age {
                    note(r.fs, age);
                }
            }
        }
        for (fs, pending) in self.sched.queues() {
            for id in pending {
                let Some(r) = self.reqs.get(id) else { continue };
                let age = now.saturating_duration_since(r.submitted);
                if age < min_age {
                    break; // the rest are younger
                }
                note(fs, age);
            }
        }
        let mut v: Vec<MountReport> = out.into_values().collect();
        v.sort_by(|a, b| b.oldest.cmp(&a.oldest).then(a.fs.cmp(&b.fs)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_op() -> Op {
        Op::Open { path: CString::new("/x").unwrap(), flags: 0, mode: 0 }
    }

    fn table() -> Requests<&'static str> {
        Requests::new(4, None)
    }

    /// Submits one open per token and lets workers take them all: they are Running.
    fn started<const N: usize>(t: &mut Requests<&'static str>, tokens: [&'static str; N]) -> [Id; N] {
        let now = Instant::now();
        let ids = tokens.map(|tok| t.submit(open_op(), tok, now).unwrap());
        for _ in 0..N {
            t.take_work(Instant::now()).unwrap();
        }
        ids
    }

    #[test]
    fn an_owed_close_that_finds_every_slot_taken_waits_for_the_next_free_one() {
        let mut t: Requests<&str> = Requests::with_slots(2, 10);
        let now = Instant::now();
        let a = t.submit(open_op(), "a", now).unwrap();
        t.take_work(now).unwrap();
        t.submit(open_op(), "b", now).unwrap();
        assert_eq!(t.submit(open_op(), "c", now).unwrap_err(), (libc::EAGAIN, "c"), "no slot left");
        t.cancel(a, libc::ECANCELED, now).unwrap();
        // a's late fd is owed a close, but a (undelivered) and b hold both slots.
        t.finish(a, OpKind::Open, 7, now);
        assert_eq!((t.owed(), t.queued()), (1, 2));
        assert_eq!(t.pop_ready().unwrap().token, "a");
        assert_eq!(t.queued(), 2, "a's slot went to the owed close");
        assert_eq!(t.take_queued_owed(), vec![7]);
        assert_eq!((t.owed(), t.queued(), t.outstanding()), (0, 1, 1));
    }

    #[test]
    fn a_running_call_other_than_open_is_cancelled_at_once_and_a_done_one_is_not() {
        let mut t: Requests<&str> = Requests::new(4, None);
        let now = Instant::now();
        let sync = t.submit(Op::Fsync { fd: 3, datasync: false }, "sync", now).unwrap();
        let (id, op, _) = t.take_work(now).unwrap();
        assert_eq!((id, op.kind()), (sync, OpKind::Fsync));
        assert!(t.cancel(sync, libc::ECANCELED, now).unwrap().became_ready);
        assert_eq!(t.abandoned(), 1);
        let c = t.pop_ready().unwrap();
        assert_eq!((c.op, c.result), (OpKind::Fsync, -libc::ECANCELED));
        // Its syscall returns later: nothing is owed (it opened nothing), nothing delivered.
        t.finish(sync, OpKind::Fsync, 0, now);
        assert_eq!((t.owed(), t.running(), t.abandoned(), t.ready()), (0, 0, 0, 0));

        let path = CString::new("/x").unwrap();
        let unlink = t.submit(Op::Unlink { path, flags: 0 }, "unlink", now).unwrap();
        t.take_work(now).unwrap();
        t.finish(unlink, OpKind::Unlink, 0, now);
        assert_eq!(t.cancel(unlink, libc::ECANCELED, now), Err(CancelError::Already), "it took effect");
        assert_eq!(t.pop_ready().unwrap().result, 0);
    }

    #[test]
    fn a_stat_result_is_kept_for_delivery_only_while_someone_waits_for_it() {
        let mut t: Requests<&str> = Requests::new(4, None);
        let now = Instant::now();
        let stat = |t: &mut Requests<&str>, tok| {
            let op = Op::Stat { path: CString::new("/x").unwrap(), flags: 0, mask: 0, out: StatxBuf::new() };
            let id = t.submit(op, tok, now).unwrap();
            let (_, op, _) = t.take_work(now).unwrap();
            (id, op.into_output())
        };
        let (ok, out) = stat(&mut t, "ok");
        t.finish_with(ok, OpKind::Stat, 0, out, now);
        let c = t.pop_ready().unwrap();
        assert!(c.out.is_some() && c.op == OpKind::Stat);
        let (failed, out) = stat(&mut t, "failed");
        t.finish_with(failed, OpKind::Stat, -libc::ENOENT, out, now);
        assert!(t.pop_ready().unwrap().out.is_none(), "a failed stat has nothing to copy");
        let (cancelled, out) = stat(&mut t, "cancelled");
        t.cancel(cancelled, libc::ECANCELED, now).unwrap();
        assert!(t.pop_ready().unwrap().out.is_none());
        t.finish_with(cancelled, OpKind::Stat, 0, out, now); // the late result is dropped
        assert_eq!((t.running(), t.ready(), t.outstanding()), (0, 0, 0));
    }

    #[test]
    fn ids_are_positive_and_unique() {
        let mut t = Requests::new(100, None);
        let now = Instant::now();
        let ids: Vec<_> = (0..50).map(|_| t.submit(open_op(), (), now).unwrap()).collect();
        assert!(ids.iter().all(|&i| i > 0));
        let set: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
    }

    #[test]
    fn depth_bounds_undelivered_and_delivery_makes_room() {
        let mut t = table();
        let now = Instant::now();
        for _ in 0..4 {
            t.submit(open_op(), "a", now).unwrap();
        }
        assert_eq!(t.submit(open_op(), "b", now).unwrap_err(), (libc::EAGAIN, "b"));
        assert_eq!(t.queued(), 4);
        let (id, _, _) = t.take_work(Instant::now()).unwrap();
        // Finished but not delivered still counts against the depth.
        assert!(t.finish(id, OpKind::Open, 7, Instant::now()).became_ready);
        assert!(t.submit(open_op(), "b", now).is_err());
        let c = t.pop_ready().unwrap();
        assert_eq!((c.id, c.result, c.op), (id, 7, OpKind::Open));
        assert!(t.submit(open_op(), "b", now).is_ok());
    }

    #[test]
    fn completion_order_and_coalesced_readiness() {
        let mut t = table();
        let [a, b] = started(&mut t, ["a", "b"]);
        assert!(t.finish(b, OpKind::Open, 4, Instant::now()).became_ready);
        assert!(
            !t.finish(a, OpKind::Open, 3, Instant::now()).became_ready,
            "second completion must not signal again"
        );
        assert_eq!(t.pop_ready().unwrap().token, "b");
        assert_eq!(t.pop_ready().unwrap().token, "a");
        assert!(t.pop_ready().is_none());
    }

    #[test]
    fn cancel_queued_never_runs() {
        let mut t = table();
        let now = Instant::now();
        let a = t.submit(open_op(), "a", now).unwrap();
        let e = t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
        assert_eq!(e, Effect { became_ready: true });
        assert_eq!(t.owed(), 0);
        assert!(t.take_work(Instant::now()).is_none(), "a cancelled request must not run");
        let c = t.pop_ready().unwrap();
        assert_eq!(c.result, -libc::ECANCELED);
        assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::NotFound));
    }

    #[test]
    fn cancel_running_open_then_complete_returns_fd_for_closing() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        assert!(t.cancel(a, libc::ECANCELED, Instant::now()).unwrap().became_ready);
        // Delivered before the syscall returns.
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert_eq!(t.running(), 1, "the abandoned syscall is still counted");
        assert_eq!(t.finish(a, OpKind::Open, 9, Instant::now()), Effect { became_ready: false });
        assert_eq!(t.take_queued_owed(), vec![9], "the late fd is owed a close");
        assert_eq!(t.running(), 0);
        assert!(t.pop_ready().is_none(), "delivered exactly once");
    }

    #[test]
    fn cancel_running_open_then_complete_before_delivery() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
        // The worker returns while the cancelled completion is still queued.
        t.finish(a, OpKind::Open, 9, Instant::now());
        assert_eq!(t.take_queued_owed(), vec![9]);
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert!(t.pop_ready().is_none());
    }

    #[test]
    fn cancel_running_open_that_fails_closes_nothing() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
        assert_eq!(t.finish(a, OpKind::Open, -libc::ENOENT, Instant::now()), Effect::default());
    }

    #[test]
    fn cancel_done_open_closes_fd_and_keeps_position() {
        let mut t = table();
        let [a, b] = started(&mut t, ["a", "b"]);
        t.finish(a, OpKind::Open, 5, Instant::now());
        t.finish(b, OpKind::Open, 6, Instant::now());
        assert_eq!(t.cancel(b, libc::ECANCELED, Instant::now()).unwrap(), Effect { became_ready: false });
        assert_eq!(t.take_queued_owed(), vec![6]);
        assert_eq!(t.cancel(b, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
        assert_eq!(t.pop_ready().unwrap().result, 5);
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
    }

    #[test]
    fn close_cancel_rules() {
        let mut t = table();
        let now = Instant::now();
        let a = t.submit(Op::Close { fd: 10 }, "a", now).unwrap();
        let b = t.submit(Op::Close { fd: 11 }, "b", now).unwrap();
        t.take_work(Instant::now()).unwrap();
        assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
        assert!(t.cancel(b, libc::ECANCELED, Instant::now()).is_ok(), "a queued close can be cancelled");
        assert!(t.take_work(Instant::now()).is_none());
        t.finish(a, OpKind::Close, 0, Instant::now());
        assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
        let c = t.pop_ready().unwrap();
        assert_eq!((c.id, c.result, c.op), (b, -libc::ECANCELED, OpKind::Close));
        assert_eq!(t.pop_ready().unwrap().result, 0);
    }

    #[test]
    fn timeout_is_a_cancel_at_the_deadline() {
        let mut t: Requests<()> = Requests::new(16, Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        let q = t.submit(open_op(), (), t0).unwrap();
        let r = t.submit(open_op(), (), t0).unwrap();
        let c = t.submit(Op::Close { fd: 3 }, (), t0).unwrap();
        let late = t.submit(open_op(), (), t0 + Duration::from_millis(50)).unwrap();
        // r and c start running; q is cancelled-by-order below.
        let (first, _, _) = t.take_work(Instant::now()).unwrap();
        assert_eq!(first, q);
        t.finish(q, OpKind::Open, 20, Instant::now());
        t.take_work(Instant::now()).unwrap(); // r running
        t.take_work(Instant::now()).unwrap(); // c (close) running: no timeout can reach it
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(100)));
        assert!(!t.expire(t0 + Duration::from_millis(99)));
        t.expire(t0 + Duration::from_millis(100));
        assert_eq!(t.owed(), 0);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(150)));
        let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
        assert_eq!(got, vec![(q, 20), (r, -libc::ETIMEDOUT)]);
        t.finish(r, OpKind::Open, 21, Instant::now());
        assert_eq!(t.take_queued_owed(), vec![21], "late fd of a timed-out open is owed a close");
        assert!(
            t.finish(c, OpKind::Close, 0, Instant::now()).became_ready,
            "the close still completes normally"
        );
        t.expire(t0 + Duration::from_millis(150));
        let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
        assert_eq!(got, vec![(c, 0), (late, -libc::ETIMEDOUT)]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn timeout_vs_cancel_and_complete_races() {
        let t0 = Instant::now();
        let to = Some(Duration::from_millis(10));
        // complete, then deadline passes before delivery: the completion stands.
        let mut t: Requests<()> = Requests::new(8, to);
        let a = t.submit(open_op(), (), t0).unwrap();
        t.take_work(Instant::now());
        t.finish(a, OpKind::Open, 4, Instant::now());
        t.expire(t0 + Duration::from_secs(1));
        assert_eq!(t.owed(), 0);
        assert_eq!(t.pop_ready().unwrap().result, 4);
        // cancel, then deadline: cancel stands, the timeout does nothing.
        let b = t.submit(open_op(), (), t0).unwrap();
        t.cancel(b, libc::ECANCELED, Instant::now()).unwrap();
        t.expire(t0 + Duration::from_secs(1));
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert!(t.pop_ready().is_none());
        // deadline, then cancel: EALREADY.
        let c = t.submit(open_op(), (), t0).unwrap();
        t.expire(t0 + Duration::from_secs(1));
        assert_eq!(t.cancel(c, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
        assert_eq!(t.pop_ready().unwrap().result, -libc::ETIMEDOUT);
    }

    #[test]
    fn shutdown_returns_every_owned_descriptor() {
        let mut t = Requests::new(16, None);
        let now = Instant::now();
        let done = t.submit(open_op(), (), now).unwrap();
        let running = t.submit(open_op(), (), now).unwrap();
        let _queued_open = t.submit(open_op(), (), now).unwrap();
        let _queued_close = t.submit(Op::Close { fd: 33 }, (), now).unwrap();
        t.take_work(Instant::now());
        t.take_work(Instant::now());
        t.finish(done, OpKind::Open, 30, Instant::now());
        t.shutdown(Instant::now());
        assert_eq!(t.outstanding(), 0);
        // What the caller can no longer receive is owed a close, which still runs.
        let mut closes = vec![];
        while let Some((id, op, _)) = t.take_work(Instant::now()) {
            let Op::Close { fd } = op else { panic!("only closes run after shutdown") };
            closes.push(fd);
            t.finish(id, OpKind::Close, 0, Instant::now());
        }
        closes.sort();
        assert_eq!(closes, vec![30, 33]);
        assert_eq!((t.owed(), t.abandoned(), t.running()), (0, 1, 1));
        assert!(t.pop_ready().is_none(), "owed closes are never delivered");
        // The running open returns after shutdown: its fd is owed a close.
        t.finish(running, OpKind::Open, 31, Instant::now());
        assert_eq!(t.take_queued_owed(), vec![31]);
    }

    #[test]
    fn unsubmit_removes_all_trace() {
        let mut t: Requests<u8> = Requests::new(2, Some(Duration::from_secs(1)));
        let now = Instant::now();
        let a = t.submit(open_op(), 1, now).unwrap();
        assert_eq!(t.unsubmit(a), Some(1));
        assert_eq!((t.outstanding(), t.queued(), t.next_deadline()), (0, 0, None));
    }

    #[test]
    fn a_mount_at_its_share_waits_while_others_go_ahead() {
        let mut t: Requests<u32> = Requests::with_share(64, None, 3, usize::MAX);
        let now = Instant::now();
        let dead: Vec<Id> = (0..5).map(|i| t.submit_on(1, open_op(), i, now).unwrap()).collect();
        let ok: Vec<Id> = (0..3).map(|i| t.submit_on(2, open_op(), 10 + i, now).unwrap()).collect();
        assert_eq!((t.queued(), t.startable()), (8, 6), "mount 1 can start 3 of its 5");
        let order: Vec<Id> = std::iter::from_fn(|| t.take_work(now).map(|(id, _, _)| id)).collect();
        assert_eq!(
            order,
            vec![dead[0], dead[1], dead[2], ok[0], ok[1], ok[2]],
            "oldest first, within shares"
        );
        assert_eq!((t.queued(), t.startable(), t.oldest_startable_wait(now)), (2, 0, None));
        // One of mount 1's syscalls returns: its next request may start.
        t.finish(dead[0], OpKind::Open, -libc::ENOENT, Instant::now());
        assert_eq!(t.startable(), 1);
        assert_eq!(t.take_work(now).unwrap().0, dead[3]);
        // A cancelled queued request leaves its mount's queue.
        t.cancel(dead[4], libc::ECANCELED, Instant::now()).unwrap();
        assert_eq!((t.queued(), t.startable(), t.mounts()), (0, 0, 2));
        assert_eq!(t.counters().cancelled, 1);
    }

    #[test]
    fn abandoned_syscalls_hold_their_mount_share_until_they_return() {
        let mut t: Requests<u32> = Requests::with_share(64, Some(Duration::from_millis(10)), 1, usize::MAX);
        let t0 = Instant::now();
        let a = t.submit_on(1, open_op(), 0, t0).unwrap();
        let b = t.submit_on(1, open_op(), 1, t0 + Duration::from_millis(20)).unwrap();
        assert_eq!(t.take_work(t0).unwrap().0, a);
        t.expire(t0 + Duration::from_millis(10));
        assert_eq!((t.abandoned(), t.running(), t.counters().timed_out), (1, 1, 1));
        assert_eq!(t.startable(), 0, "the abandoned syscall still holds mount 1's share");
        let r = t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_millis(5));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].fs, r[0].queued, r[0].running, r[0].abandoned, r[0].blocked), (1, 1, 1, 1, 2));
        assert_eq!(r[0].oldest, Duration::from_millis(25));
        assert!(t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_secs(1)).is_empty());
        assert!(!t.finish(a, OpKind::Open, 40, Instant::now()).became_ready);
        assert_eq!((t.abandoned(), t.startable(), t.owed()), (0, 1, 1), "the late fd is owed a close");
        assert_eq!(t.take_work(t0).unwrap().0, b, "oldest first: the owed close waits for the share");
        assert_eq!(t.take_queued_owed(), vec![40]);
        // Shutdown abandons what still runs, and it is counted until it returns.
        t.shutdown(Instant::now());
        assert_eq!((t.abandoned(), t.mounts()), (1, 1));
        t.finish(b, OpKind::Open, -1, Instant::now());
        assert_eq!((t.abandoned(), t.mounts(), t.running()), (0, 0, 0));
    }

    #[test]
    fn blocked_filesystems_share_one_budget_and_leave_healthy_ones_startable() {
        let mut t: Requests<u32> = Requests::with_share(64, None, 4, 6);
        let t0 = Instant::now();
        for fs in 1..=3 {
            for i in 0..10 {
                t.submit_on(fs, open_op(), i, t0).unwrap();
            }
        }
        let running: Vec<Id> = (0..12).map(|_| t.take_work(t0).unwrap().0).collect();
        assert_eq!(t.startable(), 0, "each filesystem holds its share");
        let later = t0 + Duration::from_millis(10);
        assert_eq!(t.mark_blocked(later, |_| true), 3);
        assert_eq!((t.blocked_running(), t.off_budget()), (12, 12));
        let healthy = t.submit_on(9, open_op(), 99, later).unwrap();
        assert_eq!(t.startable(), 1, "a healthy filesystem still starts");
        // A blocked syscall returns: its filesystem may start one more by its share, but the
        // budget (6) is spent by the 11 still running.
        t.finish(running[0], OpKind::Open, -libc::EIO, later);
        assert_eq!((t.startable(), t.take_work(later).unwrap().0), (1, healthy));
        assert!(t.take_work(later).is_none());
        // A filesystem stays blocked while a syscall of it is older than the threshold, and
        // is unmarked when none is: then its queue starts again, on the budget.
        assert_eq!(t.mark_blocked(t0 - Duration::from_millis(1), |_| true), 0);
        assert_eq!((t.blocked_running(), t.off_budget()), (0, 0));
        assert_eq!(t.startable(), 1);
        // Asked again with every syscall old and asleep: marked again.
        assert_eq!(t.mark_blocked(later - Duration::from_millis(1), |_| true), 3);
        assert_eq!(t.off_budget(), 11, "the healthy syscall is not off budget");
    }

    #[test]
    fn held_blocked_filesystems_start_nothing_and_healthy_ones_still_start() {
        let mut t: Requests<u32> = Requests::with_share(64, None, 2, 8);
        let t0 = Instant::now();
        for i in 0..4 {
            t.submit_on(1, open_op(), i, t0).unwrap();
        }
        let first = t.take_work(t0).unwrap().0;
        let later = t0 + Duration::from_millis(10);
        assert_eq!(t.oldest_unblocked_syscall(), Some(t0));
        assert_eq!(t.mark_blocked(later, |_| true), 1);
        assert_eq!(t.oldest_unblocked_syscall(), None, "nothing left to mark");
        assert_eq!((t.startable(), t.held()), (1, 0));
        // At the cap: the blocked filesystem's startable request is held, a healthy one not.
        t.hold_blocked(true);
        assert_eq!((t.startable(), t.held()), (0, 1));
        let healthy = t.submit_on(2, open_op(), 9, later).unwrap();
        assert_eq!(t.take_work(later).unwrap().0, healthy, "the older blocked request waits");
        assert!(t.take_work(later).is_none());
        assert_eq!(t.oldest_unblocked_syscall(), Some(later));
        t.hold_blocked(false);
        assert_eq!((t.startable(), t.held()), (1, 0));
        assert_ne!(t.take_work(later).unwrap().0, first);
    }

    #[test]
    fn a_cancelled_calls_buffer_stays_counted_until_its_syscall_returns() {
        let mut t: Requests<u32> = Requests::new(8, None);
        let now = Instant::now();
        let write = Op::Write { fd: 3, offset: 0, data: Bytes::copy_of(b"data") };
        let read = t.submit(Op::Read { fd: 3, offset: 0, buf: Bytes::with_capacity(100) }, 1, now).unwrap();
        let w = t.submit(write, 2, now).unwrap();
        let held = t.held_bytes();
        assert!(held >= 104);
        assert_eq!(t.take_work(now).unwrap().0, read);
        assert_eq!(t.take_work(now).unwrap().0, w);
        t.cancel(read, libc::ECANCELED, now).unwrap();
        assert_eq!((t.abandoned(), t.abandoned_bytes(), t.held_bytes()), (1, held - 4, held));
        // Delivering the cancel frees no budget: the kernel may still write the buffer.
        assert_eq!(t.pop_ready().unwrap().token, 1);
        assert_eq!((t.abandoned_bytes(), t.held_bytes()), (held - 4, held));
        t.shutdown(now);
        assert_eq!((t.abandoned(), t.abandoned_bytes()), (2, held));
        t.finish(read, OpKind::Read, -libc::EIO, now);
        assert_eq!((t.abandoned_bytes(), t.held_bytes()), (4, 4));
        t.finish(w, OpKind::Write, 4, now);
        assert_eq!((t.abandoned(), t.abandoned_bytes(), t.held_bytes()), (0, 0, 0));
    }

    #[test]
    fn owed_closes_run_but_are_never_delivered_nor_refused() {
        let mut t: Requests<u32> = Requests::new(1, None);
        let now = Instant::now();
        let a = t.submit(open_op(), 1, now).unwrap();
        assert!(t.submit(open_op(), 2, now).is_err(), "depth 1");
        t.owe_close(7, 40, now);
        t.owe_close(7, 41, now);
        assert_eq!((t.owed(), t.outstanding(), t.queued()), (2, 1, 3));
        assert_eq!(
            t.cancel(a + 1, libc::ECANCELED, now),
            Err(CancelError::NotFound),
            "owed closes are not the caller's"
        );
        let mut ran = vec![];
        while let Some((id, op, _)) = t.take_work(now) {
            ran.push(id);
            if let Op::Close { .. } = op {
                assert_eq!(t.abandoned(), 1, "a running owed close is abandoned: nobody waits for it");
            }
            t.finish(id, op.kind(), 0, now);
        }
        assert_eq!(ran.len(), 3);
        assert_eq!(t.pop_ready().unwrap().id, a);
        assert!(t.pop_ready().is_none());
        assert_eq!((t.owed(), t.counters().owed_closes, t.abandoned()), (0, 2, 0));
    }

    #[test]
    fn counters_follow_each_request() {
        let mut t: Requests<()> = Requests::new(8, None);
        let t0 = Instant::now();
        let a = t.submit(open_op(), (), t0).unwrap();
        let b = t.submit(open_op(), (), t0).unwrap();
        assert!(t.unsubmit(b).is_some());
        t.take_work(t0 + Duration::from_micros(300)).unwrap();
        t.finish(a, OpKind::Open, 3, Instant::now());
        t.pop_ready().unwrap();
        let c = t.counters();
        assert_eq!((c.submitted, c.delivered, c.cancelled, c.timed_out), (1, 1, 0, 0));
        assert_eq!(c.queue_wait.0[8], 1, "300 us lands in [256, 512)");
    }

    #[test]
    fn finished_mounts_are_forgotten_past_a_few() {
        let mut t: Requests<()> = Requests::with_share(1000, None, 2, usize::MAX);
        let now = Instant::now();
        for m in 0..200 {
            let id = t.submit_on(m, open_op(), (), now).unwrap();
            assert_eq!(t.take_work(now).unwrap().0, id);
            t.finish(id, OpKind::Open, -1, Instant::now());
            t.pop_ready().unwrap();
        }
        assert_eq!(t.mounts(), 0, "none has work");
        assert!(t.sched.kept() <= 65, "{} entries kept", t.sched.kept());
        assert!(!t.sched.has_runnable());
    }
}
