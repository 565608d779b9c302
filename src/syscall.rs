//! Running one request's syscall on a worker.

use crate::bytes::Bytes;
use crate::request::Op;
use crate::sys;

/// Runs one request's syscall; returns an fd, 0, or -errno. A stat writes into the op's own
/// buffer (library memory), never the caller's.
pub type Executor = dyn Fn(&mut Op) -> i32 + Send + Sync;

/// The real syscalls, through libc's entry points (so LD_PRELOAD interposers see them).
pub fn run_syscall(op: &mut Op) -> i32 {
    match op {
        Op::Open { path, flags, mode } => sys::open(path, *flags, *mode).unwrap_or_else(|e| -e),
        Op::Close { fd } => sys::close(*fd).map_or_else(|e| -e, |()| 0),
        Op::Fsync { fd, datasync } => status(sys::fsync(*fd, *datasync)),
        Op::Unlink { path, flags } => status(sys::unlink(path, *flags)),
        Op::Mkdir { path, mode } => status(sys::mkdir(path, *mode)),
        Op::Rename { from, to, flags } => status(sys::rename(from, to, *flags)),
        Op::Ftruncate { fd, length } => status(sys::ftruncate(*fd, *length)),
        Op::Read { fd, offset, buf } => filled(buf, |spare| sys::read_at(*fd, spare, *offset)),
        Op::Write { fd, offset, data } => count(sys::write_at(*fd, data, *offset)),
        Op::Getdents { fd, buf } => filled(buf, |spare| sys::getdents(*fd, spare)),
        Op::Stat { path, flags, mask, out } => {
            status(sys::statx(libc::AT_FDCWD, path, *flags, *mask, &mut out.0))
        }
        Op::Fstat { fd, mask, out } => status(sys::statx_fd(*fd, 0, *mask, &mut out.0)),
    }
}

/// Bytes moved (the C API's `int` result; requests are at most `i32::MAX` bytes), or -errno.
fn count(r: Result<usize, i32>) -> i32 {
    r.map_or_else(|e| -e, |n| n.min(i32::MAX as usize) as i32)
}

/// Reads into `buf`'s room (left uninitialized at submit: zeroing a large buffer would cost
/// as much as the read) and marks what `read` filled.
pub(crate) fn filled(
    buf: &mut Bytes,
    read: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> Result<usize, i32>,
) -> i32 {
    buf.clear();
    let r = read(buf.room());
    if let Ok(n) = r {
        // SAFETY: the kernel initialized the first `n` bytes of the room (`n` is at most
        // its length; set_filled clamps to the capacity anyway).
        unsafe { buf.set_filled(n) };
    }
    count(r)
}

/// 0 or -errno.
fn status(r: Result<(), i32>) -> i32 {
    r.map_or_else(|e| -e, |()| 0)
}
