//! A call: what it is ([`Op`], [`OpKind`]) and what it leaves in library memory ([`Output`]),
//! in this file; running it on a worker ([`run`]); which filesystem it is charged to
//! ([`charge`]); and the fast path, on the caller's thread when the kernel can finish it from
//! its caches ([`inline`]).

pub mod charge;
pub mod inline;
pub mod run;

use crate::mem::bytes::Bytes;
use std::ffi::CString;

/// A `statx` result in library memory: filled on a worker, copied to the caller's buffer
/// by that worker or by the call that delivers it (see `pool::place`).
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

/// What a call wrote into library memory, for its worker or the delivering call to copy to
/// the caller (see `pool::place`).
#[derive(Debug)]
pub enum Output {
    Statx(StatxBuf),
    Statfs(StatfsBuf),
    /// The bytes a read returned.
    Bytes(Bytes),
    /// A mount event's change (see `queue::events`).
    MountEvent(Box<crate::fs::change::MountChange>),
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
            Output::Statx(_) | Output::Statfs(_) | Output::MountEvent(_) => 0,
        }
    }
}

/// The largest result a call of `kind` may report: an open's descriptor, the bytes a call
/// that moves bytes asked for (`asked`), 0 for the rest. Delivery asserts it (debug builds).
pub(crate) fn most_result(kind: OpKind, asked: usize) -> i32 {
    match kind {
        OpKind::Open | OpKind::Call => i32::MAX,
        OpKind::Read
        | OpKind::Write
        | OpKind::Getdents
        | OpKind::Readlink
        | OpKind::CopyFileRange
        | OpKind::Sendfile => asked.min(i32::MAX as usize) as i32,
        OpKind::Close
        | OpKind::Fsync
        | OpKind::Stat
        | OpKind::Unlink
        | OpKind::Mkdir
        | OpKind::Rename
        | OpKind::Ftruncate
        | OpKind::Symlink
        | OpKind::Link
        | OpKind::Access
        | OpKind::Statfs
        | OpKind::Chmod
        | OpKind::Chown
        | OpKind::Utimens
        | OpKind::Fallocate
        | OpKind::MountEvent => 0,
    }
}

/// The work a request does.
#[derive(Debug)]
pub enum Op {
    /// `open(path, flags | O_CLOEXEC, mode)`.
    Open { path: CString, flags: i32, mode: u32 },
    /// `close(fd)`: the library owns `fd` from submit on.
    Close { fd: i32 },
    /// `fsync(fd)`, or `fdatasync(fd)` with `datasync`; `wait`: queued on a blocked
    /// filesystem even when the context fails fast (see [`Op::fails_fast`]).
    Fsync { fd: i32, datasync: bool, wait: bool },
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
    /// A mount-event request (no `Op`: it waits in `queue::events`, not for a worker).
    MountEvent = 24,
}

impl OpKind {
    /// The descriptor a call of this kind leaves open for whoever receives `result`: an
    /// open's new fd; None for every other call and for a failure.
    pub fn opened_fd(self, result: i32) -> Option<i32> {
        (self == OpKind::Open && result >= 0).then_some(result)
    }
}

/// What a call holds and touches, beside its kind ([`Op::shape`]).
struct Shape {
    /// The caller's descriptors it works on (-1: none).
    fds: [i32; 2],
    /// Bytes of library memory it holds for the caller's data.
    held: usize,
    /// Bytes it asks to move (its result is at most that).
    asked: usize,
}

impl Shape {
    const NONE: Shape = Shape { fds: [-1, -1], held: 0, asked: 0 };
}

impl Op {
    /// Whether a context that fails fast completes this call at once while its filesystem
    /// is marked blocked: every call but a close (the library owns its descriptor from
    /// submit on, and a close refused would leave it open) and an fsync submitted to wait.
    pub fn fails_fast(&self) -> bool {
        !matches!(self, Op::Close { .. } | Op::Fsync { wait: true, .. })
    }

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

    /// What the call holds and touches (see [`Shape`]): one exhaustive match, so a new call
    /// cannot go without saying.
    fn shape(&self) -> Shape {
        let fd = |fd: &i32| Shape { fds: [*fd, -1], ..Shape::NONE };
        match self {
            Op::Read { fd, buf, .. } | Op::Getdents { fd, buf } => {
                Shape { fds: [*fd, -1], held: buf.capacity(), asked: buf.room_len() }
            }
            Op::Readlink { buf, .. } => Shape { held: buf.capacity(), asked: buf.room_len(), ..Shape::NONE },
            Op::Write { fd, data, .. } => Shape { fds: [*fd, -1], held: data.len(), asked: data.len() },
            Op::CopyFileRange { fd_in, fd_out, len, .. } => {
                Shape { fds: [*fd_in, *fd_out], held: 0, asked: *len }
            }
            Op::Sendfile { out_fd, in_fd, count, .. } => {
                Shape { fds: [*in_fd, *out_fd], held: 0, asked: *count }
            }
            Op::Fsync { fd: f, .. }
            | Op::Ftruncate { fd: f, .. }
            | Op::Fstat { fd: f, .. }
            | Op::Fstatfs { fd: f, .. }
            | Op::Fchmod { fd: f, .. }
            | Op::Fchown { fd: f, .. }
            | Op::Futimens { fd: f, .. }
            | Op::Fallocate { fd: f, .. } => fd(f),
            // A close owns its descriptor, and a caller's function's use of `fs_fd` is its own.
            Op::Open { .. }
            | Op::Close { .. }
            | Op::Unlink { .. }
            | Op::Mkdir { .. }
            | Op::Rename { .. }
            | Op::Stat { .. }
            | Op::Symlink { .. }
            | Op::Link { .. }
            | Op::Access { .. }
            | Op::Statfs { .. }
            | Op::Chmod { .. }
            | Op::Chown { .. }
            | Op::Utimens { .. }
            | Op::Call { .. } => Shape::NONE,
        }
    }

    /// Bytes of library memory the request holds for the caller's data (counted against
    /// the context's buffer budget).
    pub fn buffer_bytes(&self) -> usize {
        self.shape().held
    }

    /// The caller's descriptors it works on (-1: none), for a call an abandoned syscall
    /// could still be about to make on them (see `fdguard`): not a close, which owns its
    /// descriptor, nor a caller's function, whose use of `fs_fd` is its own.
    pub(crate) fn caller_fds(&self) -> [i32; 2] {
        self.shape().fds
    }

    /// The largest result it may report (see [`most_result`]).
    pub(crate) fn most_result(&self) -> i32 {
        most_result(self.kind(), self.shape().asked)
    }

    /// What the call wrote into library memory, for delivery.
    pub fn into_output(self) -> Option<Output> {
        match self {
            Op::Stat { out, .. } | Op::Fstat { out, .. } => Some(Output::Statx(out)),
            Op::Read { buf, .. } | Op::Getdents { buf, .. } | Op::Readlink { buf, .. } => {
                Some(Output::Bytes(buf))
            }
            Op::Statfs { out, .. } | Op::Fstatfs { out, .. } => Some(Output::Statfs(out)),
            Op::Open { .. }
            | Op::Close { .. }
            | Op::Fsync { .. }
            | Op::Unlink { .. }
            | Op::Mkdir { .. }
            | Op::Rename { .. }
            | Op::Ftruncate { .. }
            | Op::Write { .. }
            | Op::Symlink { .. }
            | Op::Link { .. }
            | Op::Access { .. }
            | Op::Chmod { .. }
            | Op::Fchmod { .. }
            | Op::Chown { .. }
            | Op::Fchown { .. }
            | Op::Utimens { .. }
            | Op::Futimens { .. }
            | Op::Fallocate { .. }
            | Op::CopyFileRange { .. }
            | Op::Sendfile { .. }
            | Op::Call { .. } => None,
        }
    }

    /// The argument checks of a call that takes no library buffer from the context (the
    /// context applies them at submit: `Context::submit_op`; the calls that do are checked
    /// where that buffer is made, in `context::reads`), each in the order the call makes
    /// them: a negative descriptor first (`EBADF`), then the rest (`EINVAL`,
    /// `ENAMETOOLONG`).
    pub fn check(&self) -> Result<(), i32> {
        let fd = |fd: i32| if fd < 0 { Err(libc::EBADF) } else { Ok(()) };
        let valid = |ok: bool| if ok { Ok(()) } else { Err(libc::EINVAL) };
        let max = i32::MAX as usize;
        match *self {
            Op::Open { ref path, .. } if path.as_bytes().len() >= libc::PATH_MAX as usize => {
                Err(libc::ENAMETOOLONG)
            }
            Op::Close { fd: f }
            | Op::Fsync { fd: f, .. }
            | Op::Fstat { fd: f, .. }
            | Op::Fstatfs { fd: f, .. }
            | Op::Fchmod { fd: f, .. }
            | Op::Fchown { fd: f, .. }
            | Op::Futimens { fd: f, .. } => fd(f),
            Op::Ftruncate { fd: f, length } => fd(f).and(valid(length >= 0)),
            Op::Write { fd: f, offset, ref data } => fd(f).and(valid(offset >= -1 && data.len() <= max)),
            Op::Fallocate { fd: f, offset, len, .. } => fd(f).and(valid(offset >= 0 && len > 0)),
            Op::Unlink { flags, .. } => valid(flags & !libc::AT_REMOVEDIR == 0),
            Op::CopyFileRange { fd_in, fd_out, off_in, off_out, len, .. } => {
                fd(fd_in).and(fd(fd_out)).and(valid(off_in >= -1 && off_out >= -1 && len <= max))
            }
            Op::Sendfile { in_fd, out_fd, offset, count } => {
                fd(in_fd).and(fd(out_fd)).and(valid(offset >= -1 && count <= max))
            }
            Op::Open { .. }
            | Op::Read { .. }
            | Op::Getdents { .. }
            | Op::Readlink { .. }
            | Op::Mkdir { .. }
            | Op::Rename { .. }
            | Op::Stat { .. }
            | Op::Symlink { .. }
            | Op::Link { .. }
            | Op::Access { .. }
            | Op::Statfs { .. }
            | Op::Chmod { .. }
            | Op::Chown { .. }
            | Op::Utimens { .. }
            | Op::Call { .. } => Ok(()),
        }
    }
}
