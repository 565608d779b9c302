//! Running one request's syscall on a worker.

use crate::fdguard;
use crate::mem::bytes::Bytes;
use crate::op::Op;
use crate::sys;

/// Runs one request's syscall; returns an fd, 0, or -errno. A stat writes into the op's own
/// buffer (library memory), never the caller's.
pub type Executor = dyn Fn(&mut Op) -> i32 + Send + Sync;

/// The real syscalls, through libc's entry points (so LD_PRELOAD interposers see them).
pub fn run_syscall(op: &mut Op) -> i32 {
    match op {
        Op::Open { path, flags, mode } => sys::open(path, *flags, *mode).unwrap_or_else(|e| -e),
        // (An abandoned call may still be about to use the number: see fdguard.) What the
        // fs room remembers of it goes first: once closed, the number may be another
        // file's (an owed close was never attributed, which forgets it).
        Op::Close { fd } => {
            crate::fs::forget_opened(*fd);
            fdguard::close(*fd).map_or_else(|e| -e, |()| 0)
        }
        Op::Fsync { fd, datasync, .. } => status(sys::fsync(*fd, *datasync)),
        Op::Unlink { path, flags } => status(sys::unlink(path, *flags)),
        Op::Mkdir { path, mode } => status(sys::mkdir(path, *mode)),
        Op::Rename { from, to, flags } => status(sys::rename(from, to, *flags)),
        Op::Ftruncate { fd, length } => status(sys::ftruncate(*fd, *length)),
        Op::Read { fd, offset, buf } => filled(buf, |spare| sys::read_at(*fd, spare, *offset)),
        Op::Write { fd, offset, data } => count(sys::write_at(*fd, data, *offset)),
        Op::Getdents { fd, buf } => {
            let r = filled(buf, |spare| sys::getdents(*fd, spare));
            zero_dirent_padding(buf);
            r
        }
        Op::Stat { path, flags, mask, out } => {
            status(sys::statx(libc::AT_FDCWD, path, *flags, *mask, &mut out.0))
        }
        Op::Fstat { fd, mask, out } => status(sys::statx_fd(*fd, 0, *mask, &mut out.0)),
        Op::Readlink { path, buf } => filled(buf, |room| sys::readlink(path, room)),
        Op::Symlink { target, link } => status(sys::symlink(target, link)),
        Op::Link { from, to, flags } => status(sys::link(from, to, *flags)),
        Op::Access { path, mode, flags } => status(sys::access(path, *mode, *flags)),
        Op::Statfs { path, out } => status(sys::statfs(path, &mut out.0)),
        Op::Fstatfs { fd, out } => status(sys::fstatfs(*fd, &mut out.0)),
        Op::Chmod { path, mode } => status(sys::chmod(path, *mode)),
        Op::Fchmod { fd, mode } => status(sys::fchmod(*fd, *mode)),
        Op::Chown { path, uid, gid, flags } => status(sys::chown(path, *uid, *gid, *flags)),
        Op::Fchown { fd, uid, gid } => status(sys::fchown(*fd, *uid, *gid)),
        Op::Utimens { path, times, flags } => status(sys::utimens(path, times, *flags)),
        Op::Futimens { fd, times } => status(sys::futimens(*fd, times)),
        Op::Fallocate { fd, mode, offset, len } => status(sys::fallocate(*fd, *mode, *offset, *len)),
        Op::CopyFileRange { fd_in, off_in, fd_out, off_out, len, flags } => {
            count(sys::copy_file_range(*fd_in, *off_in, *fd_out, *off_out, *len, *flags))
        }
        Op::Sendfile { out_fd, in_fd, offset, count: n } => {
            count(sys::sendfile(*out_fd, *in_fd, *offset, *n))
        }
        Op::Call { job, .. } => job.run(),
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

/// Zeroes what getdents64 left unwritten in its records: each record's bytes after its
/// name's NUL, up to `d_reclen`. The kernel writes only the header and the name, so those
/// bytes would otherwise carry the library buffer's old contents (another read's data) to
/// the caller.
fn zero_dirent_padding(buf: &mut Bytes) {
    const NAME: usize = 19; // d_ino (8), d_off (8), d_reclen (2), d_type (1)
    let filled = buf.len();
    let room = buf.room();
    let mut at = 0;
    while at + NAME < filled {
        // SAFETY: the kernel wrote every record's header, the two reclen bytes included,
        // and `at + NAME < filled` keeps them inside what it filled.
        let reclen = usize::from(u16::from_ne_bytes(unsafe {
            [room[at + 16].assume_init(), room[at + 17].assume_init()]
        }));
        let end = (at + reclen).min(filled);
        if reclen <= NAME {
            break; // never from the kernel; stop rather than loop
        }
        let mut i = at + NAME;
        // SAFETY: the name and its NUL, which the kernel wrote, come before any padding.
        while i < end && unsafe { room[i].assume_init() } != 0 {
            i += 1;
        }
        room[i..end].iter_mut().for_each(|b| *b = std::mem::MaybeUninit::new(0));
        at = end;
    }
}

/// 0 or -errno.
fn status(r: Result<(), i32>) -> i32 {
    r.map_or_else(|e| -e, |()| 0)
}
