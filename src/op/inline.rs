//! The fast path: an open, close, read, stat or fstat the kernel can finish from cached
//! state, on a filesystem whose calls never wait on a server, made on the caller's thread.
//! Everything else is `EAGAIN`, and goes to the pool. A read is `preadv2(RWF_NOWAIT)`, which
//! the kernel fails with `EAGAIN` rather than wait for the disk (and with `EOPNOTSUPP` on a
//! filesystem without `FMODE_NOWAIT`, remembered per mount); an fstat is
//! `statx(AT_STATX_DONT_SYNC)`; a stat by path is an open's walk made with `O_PATH` (which
//! opens nothing), then that descriptor's fstat.
//!
//! The rule is io_uring's (it completes such calls inline and hands the rest to workers):
//! - An absolute path, when the root mount is local, is first opened in one call from "/"
//!   with `RESOLVE_CACHED | RESOLVE_NO_XDEV`: the walk may not leave the root mount, so the
//!   file can only be on it (`EXDEV` otherwise, and then the general way below). A path
//!   whose spelling the mount table puts under another mount skips that call (it would
//!   fail there); under a mount of a filesystem off the local list it goes to the pool at
//!   once, before any walk.
//! - A stat of a path the table puts under another local mount is one cached walk from "/"
//!   that follows no symlink (`RESOLVE_NO_SYMLINKS`), so it reaches what the text names,
//!   and a statx whose answer stands only if the file is on that mount (`stat_under`).
//! - An open resolves its directory with `openat2(O_PATH, RESOLVE_CACHED)`, which fails with
//!   `EAGAIN` instead of asking a filesystem, checks that directory's filesystem type against
//!   [`fs::is_local`] (never nfs*, fuse*, cifs/smb3, ceph, 9p or autofs: their `->open`
//!   can block, a FUSE_OPEN round trip or an NFSv4 OPEN RPC), then opens the last component
//!   from that directory with `RESOLVE_CACHED | RESOLVE_NO_XDEV`: a symlink or `..` that
//!   leaves the directory's mount fails with `EXDEV` rather than reach another filesystem.
//!   `RESOLVE_CACHED` refuses `O_CREAT`, `O_TRUNC` and `O_TMPFILE`. `O_TMPFILE` always goes
//!   to the pool; an open with `O_CREAT` or `O_TRUNC` goes inline only in a directory on
//!   tmpfs or ramfs, whose files live in memory (a create or truncate there reads and writes
//!   no device), opened from it with `RESOLVE_NO_XDEV` alone (see `open_in_memory`).
//! - An open answers what open(2) answers: open(2) ignores flag bits it does not know and,
//!   with `O_PATH`, every flag but `O_DIRECTORY` and `O_NOFOLLOW`, where openat2 fails with
//!   `EINVAL`. So `O_PATH` is opened as open(2) would, flags with a bit unknown here go to
//!   the pool, and so does any open openat2 fails with `EINVAL`.
//! - Only regular files and directories are opened or closed inline, but any file may be
//!   opened `O_PATH` (which runs no open of the file, and whose close runs no flush). What
//!   the path reaches is first looked at through an `O_PATH` descriptor (`probe`), which
//!   opens nothing: a FIFO's peer waiting in its own open is never woken by a probing open
//!   whose close would then cut the pipe, and a device's driver never runs. An absolute path
//!   found plain is not probed again for a second. The open itself is made with
//!   `O_NONBLOCK` (cleared afterwards unless asked for), so if the path changed meanwhile a
//!   FIFO never blocks it, and anything that is not a plain file is handed back (its open is
//!   resubmitted, and this descriptor closed on a worker: a device's close runs its driver).
//! - A close blocks only in the filesystem's flush, so only a descriptor on a local filesystem
//!   is closed inline.
//! - An LD_PRELOAD interposer of open or close (the slow-open shim, a tracer) must keep seeing
//!   every call: where the process resolves `open`, `open64`, `openat`, `openat64` or `close`
//!   to anything but libc's own, nothing goes inline.

use crate::fs;
use crate::fs::pathcache;
use crate::op::{run, Op};
use crate::sys::{self, c_str};
use std::ffi::CStr;
use std::sync::OnceLock;

mod read;
pub use read::{read_nowait, reads_inline, within_a_page};

/// The fast path's policy: runs `op` on the caller's thread if it can, and returns its result
/// (with any output in `op`'s own buffer), or None when it must go to the pool. `quiet`
/// says whether nothing is in flight (the pool, asked without its lock); `close_elsewhere`
/// takes a descriptor an open made but may not keep (see [`open_cached`]).
///
/// An open, close or stat by path goes inline only while nothing is in flight: with work in flight the
/// pool's threads, in parallel with the caller, are the faster way. So does a large read
/// (the pool's worker makes the first of its two copies while the caller makes the
/// other's). A small cached read and an fstat always do: their syscall costs less than
/// handing them to a worker. Only reads at an offset go inline, as the pool may redo them:
/// a completion refused as over the depth or the buffer budget is dropped, and a read at
/// the file position would have moved it.
pub fn try_run(op: &mut Op, quiet: impl Fn() -> bool, close_elsewhere: impl FnOnce(i32)) -> Option<i32> {
    let done = |r: Result<i32, i32>| match r {
        Err(libc::EAGAIN) => None,
        r => Some(r.unwrap_or_else(|e| -e)),
    };
    match op {
        Op::Open { path, flags, mode } if quiet() => {
            // SAFETY: statx is plain data, all zeroes a valid value.
            let mut st: libc::statx = unsafe { std::mem::zeroed() };
            done(open_cached(path, *flags, *mode, &mut st, close_elsewhere))
        }
        Op::Close { fd } if quiet() => done(close_nowait(*fd).map(|()| 0)),
        Op::Read { fd, offset, buf } if reads_inline(buf.room_len(), *offset, &quiet) => {
            let r = run::filled(buf, |spare| read_nowait(*fd, spare, *offset, true));
            (r != -libc::EAGAIN).then_some(r)
        }
        Op::Fstat { fd, mask, out } => done(fstat_nowait(*fd, *mask, &mut out.0).map(|()| 0)),
        Op::Stat { path, flags, mask, out } if quiet() => {
            done(stat_nowait(path, *flags, *mask, &mut out.0).map(|()| 0))
        }
        // An open, close or stat while work is in flight, a large read: the pool (see above).
        Op::Open { .. } | Op::Close { .. } | Op::Read { .. } | Op::Stat { .. } => None,
        // No non-blocking form in the kernel (io_uring hands these to its workers too).
        Op::Fsync { .. }
        | Op::Unlink { .. }
        | Op::Mkdir { .. }
        | Op::Rename { .. }
        | Op::Ftruncate { .. }
        | Op::Write { .. }
        | Op::Getdents { .. }
        | Op::Readlink { .. }
        | Op::Symlink { .. }
        | Op::Link { .. }
        | Op::Access { .. }
        | Op::Statfs { .. }
        | Op::Fstatfs { .. }
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

/// Whether [`try_run`] may change a file when it runs `op` (an open that creates or
/// truncates, in a directory whose files live in memory): such a call is admitted to the
/// queue before it runs, so that one the queue refuses never happens.
pub fn changes_a_file(op: &Op) -> bool {
    matches!(op, Op::Open { flags, .. } if flags & (libc::O_CREAT | libc::O_TRUNC) != 0)
}

/// [`open_nowait`] as a result: `Ok(fd)`, `Err(errno)` for an open that completed with an
/// error, `Err(EAGAIN)` when it would have to wait (then submit it). A descriptor it opened
/// that is not a plain file goes to `close_elsewhere` (a worker: its close may block in a
/// driver), and the open is `Err(EAGAIN)` too.
pub fn open_cached(
    path: &CStr,
    flags: i32,
    mode: u32,
    st: &mut libc::statx,
    close_elsewhere: impl FnOnce(i32),
) -> Result<i32, i32> {
    match open_nowait(path, flags, mode, st) {
        OpenNowait::Done(r) if r >= 0 => Ok(r),
        OpenNowait::Done(r) => Err(-r),
        OpenNowait::Wait => Err(libc::EAGAIN),
        OpenNowait::WaitAndClose(fd) => {
            close_elsewhere(fd);
            Err(libc::EAGAIN)
        }
    }
}

/// Whether the process's `open`, `open64`, `openat`, `openat64` or `close` is not libc's
/// (an LD_PRELOAD interposer), or that cannot be told. Decided once.
pub fn interposed() -> bool {
    static INTERPOSED: OnceLock<bool> = OnceLock::new();
    *INTERPOSED.get_or_init(|| {
        // SAFETY: dlopen with RTLD_NOLOAD only looks up the already loaded libc; the name is a
        // NUL-terminated literal.
        let libc_handle =
            unsafe { libc::dlopen(c_str(b"libc.so.6\0").as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
        if libc_handle.is_null() {
            return true;
        }
        let names: [&[u8]; 5] = [b"open\0", b"open64\0", b"openat\0", b"openat64\0", b"close\0"];
        let differs = names.iter().any(|name| {
            let name = c_str(name).as_ptr();
            // SAFETY: both handles are valid (RTLD_DEFAULT, and a handle from dlopen above) and
            // `name` is NUL-terminated; dlsym only looks symbols up.
            let (seen, own) =
                unsafe { (libc::dlsym(libc::RTLD_DEFAULT, name), libc::dlsym(libc_handle, name)) };
            seen.is_null() || seen != own
        });
        // SAFETY: balances the dlopen above; libc stays loaded (RTLD_NOLOAD took a reference
        // to an object the process already holds).
        unsafe { libc::dlclose(libc_handle) };
        differs
    })
}

/// Whether the mount `id` (from statx) is of a filesystem type on the local list.
fn mount_is_local(id: Option<crate::fs::MountId>) -> bool {
    local_mount(id).is_some()
}

/// For the mount `id` (from statx) of a filesystem type on the local list, whether its
/// files' data lives in memory ([`fs::in_memory`]); None for any other mount.
fn local_mount(id: Option<crate::fs::MountId>) -> Option<bool> {
    let table = fs::current();
    let m = table.get(id?)?;
    fs::is_local(&m.fstype).then(|| fs::in_memory(&m.fstype))
}

/// What [`open_nowait`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenNowait {
    /// The open completed: a descriptor, or `-errno` (`ENOENT` from a cached negative
    /// lookup, `EACCES`, ...).
    Done(i32),
    /// It would have to wait, or could reach a filesystem that might: submit it.
    Wait,
    /// It reached something that is not a regular file or directory (a FIFO, a device),
    /// opened without blocking; its open and close may block, so submit the open, and close
    /// this descriptor on a worker.
    WaitAndClose(i32),
}

/// Whether `mode` is a regular file's or a directory's: the only files whose open and
/// close the fast path makes (a FIFO's open waits for its peer; a device's open and close
/// run its driver, a tty's close may wait to drain).
fn plain(mode: u32) -> bool {
    matches!(mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFDIR)
}

/// Finishes an inline open that returned `fd`: a regular file or directory is the caller's
/// (with `O_NONBLOCK` cleared unless asked for), as is any `O_PATH` descriptor (it opened
/// nothing, and its close calls no flush); anything else is handed back to close.
/// `st` is left holding the descriptor's statx.
///
/// The number is this open's now, so what the fs room remembers of an earlier holder of it
/// (one closed by other means than the library's) is stale: it is forgotten, and calls on
/// the descriptor are charged by a `statx` of it. (Not remembered on its own filesystem: the
/// caller may close an inline open's descriptor with close(2), which the library never
/// hears of, and the next holder of the number would be charged here.)
fn settle(fd: i32, flags: i32, st: &mut libc::statx) -> OpenNowait {
    fs::forget_opened(fd);
    match sys::fd_statx(fd, st) {
        Ok(_) if flags & libc::O_PATH != 0 => OpenNowait::Done(fd),
        Ok(info) if plain(info.mode) => {
            // What open set from `flags`, less the O_NONBLOCK added here (O_ASYNC never
            // gets here: see open_nowait).
            let status = flags & (libc::O_APPEND | libc::O_DIRECT | libc::O_NOATIME | libc::O_NONBLOCK);
            if flags & libc::O_NONBLOCK == 0 && sys::set_status_flags(fd, status).is_err() {
                return OpenNowait::WaitAndClose(fd);
            }
            OpenNowait::Done(fd)
        }
        _ => OpenNowait::WaitAndClose(fd),
    }
}

/// The open flags this module knows: every one libc names (the kernel's `VALID_OPEN_FLAGS`,
/// but for `O_LARGEFILE`, which libc names 0 on 64-bit targets, where the kernel adds it
/// to every open anyway).
const OPEN_FLAGS: i32 = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_SYNC
    | libc::O_ASYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_PATH
    | libc::O_TMPFILE;

/// What open(2) opens for `flags` (of [`OPEN_FLAGS`]): with `O_PATH` only `O_DIRECTORY` and
/// `O_NOFOLLOW` count beside it ("O_PATH beats everything else", in the kernel's words),
/// where openat2 fails with `EINVAL`.
fn as_open_would(flags: i32) -> i32 {
    if flags & libc::O_PATH != 0 {
        flags & (libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
    } else {
        flags
    }
}

/// `open(path, flags | O_CLOEXEC, mode)` on the caller's thread if the kernel can do it from
/// its caches on a local filesystem and it is a regular file or directory, or any file with
/// `O_PATH` (see the module docs), answering what open(2) would. The open is made with
/// `O_NONBLOCK` (but for `O_PATH`, which opens nothing), so a FIFO met on the way never
/// blocks it. After a `Done(fd)` with `fd` >= 0, `st` holds the descriptor's statx
/// (`STATX_BASIC_STATS | STATX_MNT_ID`, taken right after the open, as fstat would see it).
pub fn open_nowait(path: &CStr, flags: i32, mode: u32, st: &mut libc::statx) -> OpenNowait {
    // A bit it does not know open(2) ignores and openat2 refuses: the pool's open(2) answers.
    if flags & !OPEN_FLAGS != 0 || interposed() {
        return OpenNowait::Wait;
    }
    let flags = as_open_would(flags);
    // O_CREAT, O_TRUNC, O_TMPFILE: RESOLVE_CACHED refuses them; any O_TMPFILE bit, as its
    // half without O_DIRECTORY is open's EINVAL, where the probe would answer the walk's
    // ENOENT. O_ASYNC: open records it without arming it, and F_SETFL (which clears the
    // added O_NONBLOCK) would arm it. The pool's plain open makes them all.
    let tmpfile = libc::O_TMPFILE & !libc::O_DIRECTORY;
    if flags & (libc::O_ASYNC | tmpfile) != 0 {
        return OpenNowait::Wait;
    }
    let path_only = flags & libc::O_PATH != 0;
    let how = flags | libc::O_CLOEXEC | if path_only { 0 } else { libc::O_NONBLOCK };
    let p = path.to_bytes();
    let resolve = libc::RESOLVE_CACHED | libc::RESOLVE_NO_XDEV;
    // A path that was a plain file a moment ago skips the probe (settle still checks what
    // the open reached); an O_PATH open needs none, as it opens nothing either.
    let known = path_only || recently_plain(p, flags);
    let probed = |dirfd: i32, name: &CStr| if known { Ok(()) } else { probe(dirfd, name, flags, resolve) };
    if flags & (libc::O_CREAT | libc::O_TRUNC) != 0 {
        return remember_plain(open_in_memory(p, flags, how, mode, known, st), p, flags);
    }
    let place = if p.starts_with(b"/") { by_text(p) } else { ByText::Unknown };
    if let ByText::Elsewhere = place {
        return OpenNowait::Wait;
    }
    if let ByText::Root = place {
        match probed(libc::AT_FDCWD, path)
            .and_then(|()| sys::openat2(libc::AT_FDCWD, path, how, mode, resolve))
        {
            Ok(fd) => return remember_plain(settle(fd, flags, st), p, flags),
            // On another mount (EXDEV, or EAGAIN: a cached walk cannot say which), or not
            // cached: the general way tells.
            Err(libc::EXDEV) | Err(libc::EAGAIN) => {}
            Err(e) if hand_on(e) => return OpenNowait::Wait,
            Err(e) => return OpenNowait::Done(-e),
        }
    }
    let Some((dirfd, name, _)) = local_parent(p) else { return OpenNowait::Wait };
    match probed(dirfd.0, &name).and_then(|()| sys::openat2(dirfd.0, &name, how, mode, resolve)) {
        Ok(fd) => remember_plain(settle(fd, flags, st), p, flags),
        Err(e) if e == libc::EXDEV || e == libc::EAGAIN || hand_on(e) => OpenNowait::Wait,
        Err(e) => OpenNowait::Done(-e),
    }
}

/// An open that may create or truncate the file (`O_CREAT`, `O_TRUNC`, which
/// `RESOLVE_CACHED` refuses), made on the caller's thread only in a directory the caches
/// resolve on a filesystem whose files live in memory (tmpfs, ramfs: [`fs::in_memory`]).
/// There a lookup, a create and a truncate read and write no device (the rule the plain
/// reads of such files follow, with their caveat: a lock another thread holds on the
/// directory or file, or a swapped-out page, is still waited for). The name is first probed
/// through an `O_PATH` descriptor (unless `known`: found plain lately), walked from that
/// directory with `RESOLVE_NO_XDEV` alone: the walk cannot leave the mount, which has no
/// device to read, and a name that exists is always found (a cached walk may answer
/// `EAGAIN` for one, a symlink whose access time is due, and that must not be taken for a
/// missing name: a FIFO behind it would be opened). A missing name (`ENOENT`) is what a
/// create makes; anything but a plain file, or any other error, goes to the pool (open(2)
/// checks an `O_CREAT`'s flags, `O_DIRECTORY` with it for one, before it walks). Then the
/// name is opened with `RESOLVE_NO_XDEV`, `O_NONBLOCK` and `settle` guarding it as any
/// inline open. `O_DIRECT` goes to the pool first: a filesystem without it fails the open
/// with `EINVAL` after the create, where handing it on would make the pool's open answer
/// `EEXIST` or run on a file created here.
fn open_in_memory(
    p: &[u8],
    flags: i32,
    how: i32,
    mode: u32,
    known: bool,
    st: &mut libc::statx,
) -> OpenNowait {
    if flags & libc::O_DIRECT != 0 {
        return OpenNowait::Wait;
    }
    let Some((dirfd, name, true)) = local_parent(p) else { return OpenNowait::Wait };
    match if known { Ok(()) } else { probe(dirfd.0, &name, flags, libc::RESOLVE_NO_XDEV) } {
        Ok(()) | Err(libc::ENOENT) => {}
        Err(_) => return OpenNowait::Wait,
    }
    match sys::openat2(dirfd.0, &name, how, mode, libc::RESOLVE_NO_XDEV) {
        Ok(fd) => settle(fd, flags, st),
        Err(e) if e == libc::EXDEV || e == libc::EAGAIN || hand_on(e) => OpenNowait::Wait,
        Err(e) => OpenNowait::Done(-e),
    }
}

/// Whether an inline open's error `e` is not open(2)'s answer, so the pool's open decides:
/// ENOSYS (no openat2); ENXIO, the added O_NONBLOCK's answer for a FIFO with no reader (or a
/// device that is not there), where a blocking open waits for the reader; NOT_PLAIN;
/// EINVAL, as openat2 refuses more than open(2) does; and EMFILE, ENFILE and ENOMEM, which
/// the fast path's own O_PATH descriptors (the parent's, the probe's) may have caused where
/// open(2) alone would have found room.
fn hand_on(e: i32) -> bool {
    matches!(
        e,
        libc::ENOSYS | libc::ENXIO | NOT_PLAIN | libc::EINVAL | libc::EMFILE | libc::ENFILE | libc::ENOMEM
    )
}

/// The directory holding `path`'s last component, opened `O_PATH` from the caches alone and
/// on a filesystem of the local list, that component's name, and whether that filesystem's
/// files live in memory ([`fs::in_memory`]); None where it is not (or for "dir/", whose last
/// component the pool names).
fn local_parent(p: &[u8]) -> Option<(fs::PathFd, std::ffi::CString, bool)> {
    let (dir, name): (&[u8], &[u8]) = match p.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &p[1..]),
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (b".", p),
    };
    let name = std::ffi::CString::new(name).ok().filter(|n| !n.as_bytes().is_empty())?;
    let dirfd = fs::open_cached(libc::AT_FDCWD, dir, true).ok()?;
    let in_memory = local_mount(sys::fd_info(dirfd.0).ok()?.mount_id)?;
    Some((dirfd, name, in_memory))
}

/// Absolute paths an inline open found to be a regular file or directory lately (keyed by
/// the flags that change what they reach): their next opens within [`pathcache::TTL`] skip
/// [`probe`] (2 µs here, as much as the open itself). A path replaced by a FIFO or device
/// within that time meets the probing open of old: opened with `O_NONBLOCK`, found out by
/// `settle` and handed back, never blocking.
static PLAIN_PATHS: pathcache::Shared<()> = pathcache::Shared::new();

/// The flags that change what a path resolves to.
fn walk_flags(flags: i32) -> i32 {
    flags & (libc::O_NOFOLLOW | libc::O_DIRECTORY)
}

/// Forgets the paths found plain (the library calls it when its last context is freed).
pub fn release() {
    PLAIN_PATHS.clear();
}

/// Whether `path` (absolute) was found plain lately.
fn recently_plain(path: &[u8], flags: i32) -> bool {
    PLAIN_PATHS.get(path, walk_flags(flags) as u64, 0).is_some()
}

/// Records an absolute `path` whose open completed (`r`) as plain, unless the open was
/// `O_PATH` (which completes on any file); returns `r`.
fn remember_plain(r: OpenNowait, path: &[u8], flags: i32) -> OpenNowait {
    if matches!(r, OpenNowait::Done(fd) if fd >= 0) && path.starts_with(b"/") && flags & libc::O_PATH == 0 {
        PLAIN_PATHS.put(path, walk_flags(flags) as u64, 0, ());
    }
    r
}

/// [`probe`]'s error for a file that is not a regular file or directory (no errno: it is
/// never returned to a caller).
const NOT_PLAIN: i32 = -1;

/// Finds what `path` (under `dirfd`) resolves to, from cached state, without opening it:
/// an `O_PATH` descriptor runs no open of the file itself, so a FIFO's peer waiting in its
/// own open never sees one (a probing open, even with `O_NONBLOCK`, would wake it, and its
/// close would then cut the pipe), and a device's driver never runs. `Ok(())` for a regular
/// file or directory, `Err(NOT_PLAIN)` for anything else, or the walk's errno.
fn probe(dirfd: i32, path: &CStr, flags: i32, resolve: u64) -> Result<(), i32> {
    let how = libc::O_PATH | libc::O_CLOEXEC | walk_flags(flags);
    let fd = sys::openat2(dirfd, path, how, 0, resolve)?;
    let info = sys::fd_info(fd);
    sys::close_quietly(fd);
    match info {
        Ok(info) if plain(info.mode) => Ok(()),
        Ok(_) => Err(NOT_PLAIN),
        Err(e) => Err(e),
    }
}

/// `close(fd)` on the caller's thread if `fd` is a regular file or directory on a local
/// filesystem: `Ok(())` (or the close's error; the descriptor is released either way), or
/// `Err(EAGAIN)` with `fd` still open and the caller's.
pub fn close_nowait(fd: i32) -> Result<(), i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    if interposed() || crate::fdguard::is_held(fd) {
        return Err(libc::EAGAIN); // (held: a worker closes it once the abandoned call returns)
    }
    let info = sys::fd_info(fd)?;
    if !plain(info.mode) || !mount_is_local(info.mount_id) {
        return Err(libc::EAGAIN);
    }
    fs::forget_opened(fd);
    sys::close(fd)
}

/// `statx(fd, "", AT_EMPTY_PATH, mask)` into `out` on the caller's thread if `fd` is on a
/// local filesystem, whose inode in memory is the truth (one `statx` with
/// `AT_STATX_DONT_SYNC`, which never asks a file server, both tells and answers); else
/// `Err(EAGAIN)` (then submit it: a network filesystem's fstat may revalidate with its
/// server). `out` may hold `STATX_MNT_ID` beyond `mask`, as statx may return more than asked.
pub fn fstat_nowait(fd: i32, mask: u32, out: &mut libc::statx) -> Result<(), i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    sys::statx_fd(fd, libc::AT_STATX_DONT_SYNC, mask | libc::STATX_MNT_ID, out)?;
    let mount = (out.stx_mask & libc::STATX_MNT_ID != 0).then_some(out.stx_mnt_id);
    if mount_is_local(mount) {
        Ok(())
    } else {
        Err(libc::EAGAIN)
    }
}

/// `statx(AT_FDCWD, path, flags, mask)` into `out` on the caller's thread if the kernel can
/// resolve `path` from its caches to a file on a local filesystem: the walk is open_nowait's
/// (see the module docs), made with `O_PATH`, which runs no open of the file (a FIFO's peer
/// never sees it, a device's driver never runs) and whose close calls no flush; the stat is
/// one `statx(AT_EMPTY_PATH | AT_STATX_DONT_SYNC)` of that descriptor. `Err(errno)` for a
/// walk that failed on a local filesystem (`ENOENT` from a cached negative lookup,
/// `ENOTDIR`, `ELOOP`, `EACCES`, `ENAMETOOLONG`), else `Err(EAGAIN)` (then submit it): an
/// error of the descriptor the walk makes (`EMFILE`, `ENFILE`, `ENOMEM`), or openat2's
/// `EINVAL` where the kernel predates `RESOLVE_CACHED`, is no answer of statx's. `flags`
/// other than `AT_SYMLINK_NOFOLLOW`, `AT_NO_AUTOMOUNT` (automount points are never on a
/// local filesystem) and `AT_STATX_DONT_SYNC` are left to the pool. `out` is written only on
/// success, and may hold more fields than `mask` asks for, as statx's may.
pub fn stat_nowait(path: &CStr, flags: i32, mask: u32, out: &mut libc::statx) -> Result<(), i32> {
    match stat_walk(path, flags, mask, out) {
        Err(e)
            if !matches!(
                e,
                libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EACCES | libc::ENAMETOOLONG
            ) =>
        {
            Err(libc::EAGAIN)
        }
        r => r,
    }
}

/// [`stat_nowait`], with every error the walk meets (those that are no answer of statx's,
/// `ENOSYS` and `EXDEV` among them, the caller turns into `EAGAIN`).
fn stat_walk(path: &CStr, flags: i32, mask: u32, out: &mut libc::statx) -> Result<(), i32> {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT | libc::AT_STATX_DONT_SYNC) != 0 {
        return Err(libc::EAGAIN);
    }
    let nofollow = if flags & libc::AT_SYMLINK_NOFOLLOW != 0 { libc::O_NOFOLLOW } else { 0 };
    let how = libc::O_PATH | libc::O_CLOEXEC | nofollow;
    let resolve = libc::RESOLVE_CACHED | libc::RESOLVE_NO_XDEV;
    let p = path.to_bytes();
    // The descriptor's own statx (which writes `out` only on success); the O_PATH
    // descriptor is closed by PathFd's drop, a raw close no interposer delays.
    let stat =
        |fd: fs::PathFd, out: &mut libc::statx| sys::statx_fd(fd.0, libc::AT_STATX_DONT_SYNC, mask, out);
    if p.starts_with(b"/") {
        match by_text(p) {
            // Resolved without leaving the root mount, which is local.
            ByText::Root => match sys::openat2(libc::AT_FDCWD, path, how, 0, resolve) {
                Ok(fd) => return stat(fs::PathFd(fd), out),
                Err(libc::EXDEV) | Err(libc::EAGAIN) => {}
                Err(e) => return Err(e),
            },
            ByText::Local(mount) => match stat_under(path, how, mount, mask, out) {
                // A symlink on the way (or a loop): the general way follows it. Not cached:
                // the general way's walk to the parent may still answer (a name under a
                // file is ENOTDIR there).
                Err(libc::ELOOP) | Err(libc::EAGAIN) => {}
                r => return r,
            },
            ByText::Elsewhere => return Err(libc::EAGAIN),
            ByText::Unknown => {}
        }
    }
    let (dirfd, name, _) = local_parent(p).ok_or(libc::EAGAIN)?;
    stat(fs::PathFd(sys::openat2(dirfd.0, &name, how, 0, resolve)?), out)
}

/// Where an absolute path is, by its text and the mount table (a hint: a symlink on the way
/// may lead anywhere; a mount made since the table was last read is not in it).
enum ByText {
    /// On the root mount, which is local (or a path not in normal form, while the root is
    /// local): a walk from "/" with `RESOLVE_NO_XDEV` stays on it or fails.
    Root,
    /// Under this mount (not the root's) of a filesystem on the local list.
    Local(crate::fs::MountId),
    /// Under a mount of a filesystem off the local list (a network or FUSE one).
    Elsewhere,
    /// The table cannot tell (no table, a root off the local list).
    Unknown,
}

fn by_text(path: &[u8]) -> ByText {
    let table = fs::current();
    // (A trailing slash names the same mount: the kernel's walk makes what it asks.)
    let end = path.iter().rposition(|&b| b != b'/').map_or(1, |i| i + 1);
    let path = &path[..end];
    match (fs::resolve::is_normal(path), table.lookup(path)) {
        (true, Some(m)) if m.point != b"/" => {
            if fs::is_local(&m.fstype) {
                ByText::Local(m.id)
            } else {
                ByText::Elsewhere
            }
        }
        _ if table.root_is_local() => ByText::Root,
        _ => ByText::Unknown,
    }
}

/// [`stat_nowait`] of an absolute path in normal form that the mount table puts under
/// `mount`, of a local filesystem: one cached walk from "/" that follows no symlink, so it
/// reaches what the path's text names (`ELOOP` where a symlink is on the way, `EAGAIN`
/// where a step is not cached: the caller then takes the general way), and one statx of
/// what it reached, whose answer counts only if that is on `mount` (else `EAGAIN`: a mount
/// made since the table was read, which the general way also finds). Three
/// syscalls, where the general way's walk to the parent, its check and its close make six.
fn stat_under(
    path: &CStr,
    how: i32,
    mount: crate::fs::MountId,
    mask: u32,
    out: &mut libc::statx,
) -> Result<(), i32> {
    let resolve = libc::RESOLVE_CACHED | libc::RESOLVE_NO_SYMLINKS;
    let fd = fs::PathFd(sys::openat2(libc::AT_FDCWD, path, how, 0, resolve)?);
    // SAFETY: statx is plain data; the kernel fills in what stx_mask says.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    sys::statx_fd(fd.0, libc::AT_STATX_DONT_SYNC, mask | libc::STATX_MNT_ID, &mut st)?;
    if st.stx_mask & libc::STATX_MNT_ID != 0 && st.stx_mnt_id == mount {
        *out = st;
        Ok(())
    } else {
        Err(libc::EAGAIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `path`'s filesystem is tmpfs (statfs).
    fn on_tmpfs(path: &CStr) -> bool {
        // SAFETY: statfs is plain data, all zeroes a valid value; `path` is NUL-terminated
        // and `sf` a valid out-pointer.
        let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::statfs(path.as_ptr(), &mut sf) == 0 && sf.f_type == libc::TMPFS_MAGIC }
    }

    #[test]
    fn a_stat_under_another_local_mount_is_the_walk_from_the_root() {
        // /dev/shm, where it is a tmpfs of its own: the table puts it under that mount, and
        // stat_under answers as statx does, in its three syscalls.
        let dir = std::ffi::CString::new("/dev/shm").unwrap();
        if !on_tmpfs(&dir) {
            return; // (no tmpfs there: nothing to walk across)
        }
        let name = format!("/dev/shm/aopen-stat-under-{}", std::process::id());
        std::fs::write(&name, b"four").unwrap();
        let path = std::ffi::CString::new(name.clone()).unwrap();
        let ByText::Local(mount) = by_text(path.as_bytes()) else {
            let _ = std::fs::remove_file(&name);
            panic!("/dev/shm is not a local mount of its own by the table");
        };
        // SAFETY: statx is plain data; all zeroes is a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        let r = stat_under(&path, libc::O_PATH | libc::O_CLOEXEC, mount, libc::STATX_BASIC_STATS, &mut st);
        let _ = std::fs::remove_file(&name);
        assert_eq!(r, Ok(()));
        assert_eq!((st.stx_size, st.stx_mode as u32 & libc::S_IFMT), (4, libc::S_IFREG));
        // Under any other mount id the answer does not stand.
        std::fs::write(&name, b"four").unwrap();
        let r =
            stat_under(&path, libc::O_PATH | libc::O_CLOEXEC, mount + 1, libc::STATX_BASIC_STATS, &mut st);
        let _ = std::fs::remove_file(&name);
        assert_eq!(r, Err(libc::EAGAIN));
    }

    #[test]
    fn creating_and_truncating_opens_wait_outside_memory_filesystems() {
        // SAFETY: statx is plain data, all zeroes a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        let tmpfile = libc::O_TMPFILE | libc::O_RDWR;
        assert_eq!(open_nowait(c_str(b"/tmp\0"), tmpfile, 0o600, &mut st), OpenNowait::Wait);
        if !on_tmpfs(c_str(b"/\0")) {
            for flags in [libc::O_CREAT, libc::O_TRUNC | libc::O_WRONLY] {
                assert_eq!(open_nowait(c_str(b"/tmp\0"), flags, 0o600, &mut st), OpenNowait::Wait);
            }
        }
        assert_eq!(close_nowait(-1), Err(libc::EBADF));
    }

    #[test]
    fn creating_and_truncating_opens_in_a_memory_filesystem_go_inline() {
        if !on_tmpfs(c_str(b"/dev/shm\0")) || interposed() {
            return; // (no tmpfs at /dev/shm here, or a sanitizer's runtime interposes open)
        }
        let name = format!("/dev/shm/aopen-inline-create-{}", std::process::id());
        let path = std::ffi::CString::new(name.clone()).unwrap();
        let fifo = std::ffi::CString::new(format!("{name}.fifo")).unwrap();
        // SAFETY: statx is plain data, all zeroes a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        let opened = |r: OpenNowait| match r {
            OpenNowait::Done(fd) if fd >= 0 => fd,
            other => panic!("not opened inline: {other:?}"),
        };
        let create = libc::O_CREAT | libc::O_WRONLY;
        // O_DIRECT goes to the pool (a filesystem without it fails after the create).
        assert_eq!(open_nowait(&path, create | libc::O_DIRECT, 0o600, &mut st), OpenNowait::Wait);
        let fd = opened(open_nowait(&path, create | libc::O_EXCL, 0o600, &mut st));
        assert_eq!(st.stx_mode as u32 & libc::S_IFMT, libc::S_IFREG);
        assert_eq!(sys::status_flags(fd).map(|f| f & libc::O_NONBLOCK), Ok(0));
        // SAFETY: fd is open; the buffer is 3 readable bytes.
        assert_eq!(unsafe { libc::write(fd, b"abc".as_ptr().cast(), 3) }, 3);
        sys::close_quietly(fd);
        assert_eq!(
            open_nowait(&path, create | libc::O_EXCL, 0o600, &mut st),
            OpenNowait::Done(-libc::EEXIST)
        );
        let fd = opened(open_nowait(&path, libc::O_TRUNC | libc::O_RDWR, 0, &mut st));
        assert_eq!(st.stx_size, 0, "truncated");
        sys::close_quietly(fd);
        // A FIFO is never opened for writing inline (it would have no reader, or one woken).
        // SAFETY: `fifo` is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(open_nowait(&fifo, create, 0o600, &mut st), OpenNowait::Wait);
        // SAFETY: both paths are NUL-terminated.
        unsafe {
            libc::unlink(path.as_ptr());
            libc::unlink(fifo.as_ptr());
        }
    }

    #[test]
    fn a_number_settled_inline_or_closed_on_a_worker_is_not_charged_to_its_last_holder() {
        let path = std::ffi::CString::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        // SAFETY: statx is plain data, all zeroes a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        // A number the library remembered on a filesystem (an id no other test uses),
        // closed by other means and opened again: an inline open forgets it.
        let elsewhere = 0x5e77_1e00_0000_0001;
        let fd = sys::open(&path, libc::O_RDONLY | libc::O_CLOEXEC, 0).unwrap();
        fs::remember_opened(fd, elsewhere);
        assert_eq!(settle(fd, libc::O_RDONLY, &mut st), OpenNowait::Done(fd));
        assert_eq!(fs::of_open_fd(fd), fs::resolve::of_fd(fd).unwrap(), "charged to its own filesystem");
        // A worker's close (an owed one is never attributed) forgets the number.
        fs::remember_opened(fd, elsewhere);
        assert_eq!(run::run_syscall(&mut Op::Close { fd }), 0);
        assert_ne!(
            fs::of_closing_fd(fd),
            elsewhere,
            "closed: whatever holds the number now is charged elsewhere"
        );
    }

    #[test]
    fn flags_open_ignores_are_never_openat2s_einval() {
        // SAFETY: statx is plain data, all zeroes a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        let unknown = 0x0080_0000; // (not in VALID_OPEN_FLAGS)
        assert_eq!(open_nowait(c_str(b"/tmp\0"), libc::O_RDONLY | unknown, 0, &mut st), OpenNowait::Wait);
        let path = libc::O_PATH | libc::O_RDWR | libc::O_NONBLOCK | libc::O_APPEND;
        assert_eq!(as_open_would(path | libc::O_NOFOLLOW), libc::O_PATH | libc::O_NOFOLLOW);
        match open_nowait(c_str(b"/tmp\0"), path, 0, &mut st) {
            OpenNowait::Done(fd) => {
                assert!(fd >= 0, "O_PATH answered {fd}");
                assert_eq!(sys::status_flags(fd).map(|f| f & libc::O_PATH), Ok(libc::O_PATH));
                sys::close_quietly(fd);
            }
            other => assert_eq!(other, OpenNowait::Wait), // (no openat2, or not cached)
        }
    }
}
