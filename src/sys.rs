//! Thin, errno-returning wrappers over the few syscalls the library makes.
//!
//! Every function here returns `Ok(value)` or `Err(errno)` (a positive errno value). The
//! later file calls' wrappers are in `sysmeta`. Outside tests, libc is also called directly
//! by the FFI boundary (`strnlen` of a path argument), the fast path's interposer check
//! (`dlopen`/`dlsym`) and the fork check (`pthread_atfork`).

use std::ffi::CStr;
use std::os::raw::c_int;

/// A NUL-terminated byte literal as a `CStr` (for the library's own fixed paths and names).
pub fn c_str(b: &'static [u8]) -> &'static CStr {
    CStr::from_bytes_with_nul(b).expect("a NUL-terminated literal")
}

/// The calling thread's errno after a failed libc call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// `open(2)` through libc's `open` entry point (so an LD_PRELOAD interposer sees it), always
/// with `O_CLOEXEC` added.
pub fn open(path: &CStr, flags: c_int, mode: libc::mode_t) -> Result<i32, i32> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call; `open` is
    // variadic and takes the mode as an unsigned int, which is what we pass.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// 0 from a libc call that returns 0 or -1 with errno, as `Ok`, else `Err(errno)`.
pub(crate) fn zero_or_errno(rc: i32) -> Result<(), i32> {
    if rc == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `fsync(fd)`, or `fdatasync(fd)` with `datasync`.
pub fn fsync(fd: i32, datasync: bool) -> Result<(), i32> {
    // SAFETY: syncing an integer descriptor has no memory-safety preconditions.
    zero_or_errno(unsafe {
        if datasync {
            libc::fdatasync(fd)
        } else {
            libc::fsync(fd)
        }
    })
}

/// `unlinkat(AT_FDCWD, path, flags)`.
pub fn unlink(path: &CStr, flags: i32) -> Result<(), i32> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    zero_or_errno(unsafe { libc::unlinkat(libc::AT_FDCWD, path.as_ptr(), flags) })
}

/// `mkdirat(AT_FDCWD, path, mode)`.
pub fn mkdir(path: &CStr, mode: u32) -> Result<(), i32> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    zero_or_errno(unsafe { libc::mkdirat(libc::AT_FDCWD, path.as_ptr(), mode as libc::mode_t) })
}

/// `renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)`: through libc's `renameat` when `flags`
/// is 0 (so an interposer sees it), else the raw syscall.
pub fn rename(from: &CStr, to: &CStr, flags: u32) -> Result<(), i32> {
    let rc = if flags == 0 {
        // SAFETY: both paths are NUL-terminated strings that outlive the call.
        unsafe { libc::renameat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr()) }
    } else {
        // SAFETY: as above; renameat2 takes two (dirfd, path) pairs and an unsigned flags word.
        unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                flags,
            ) as i32
        }
    };
    zero_or_errno(rc)
}

/// `statx(dirfd, path, flags, mask, out)`, through libc (so an interposer sees it).
pub fn statx(dirfd: i32, path: &CStr, flags: i32, mask: u32, out: &mut libc::statx) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated and `out` a live, writable statx, both for the call.
    zero_or_errno(unsafe { libc::statx(dirfd, path.as_ptr(), flags, mask, out) })
}

/// `statx(fd, "", AT_EMPTY_PATH | flags, mask, out)`: the open descriptor `fd`'s own.
pub fn statx_fd(fd: i32, flags: i32, mask: u32, out: &mut libc::statx) -> Result<(), i32> {
    statx(fd, c_str(b"\0"), libc::AT_EMPTY_PATH | flags, mask, out)
}

/// Runs `call` (a read or write returning a count or -1 with errno) until it is not
/// interrupted: the count, or `Err(errno)`.
pub(crate) fn count_retrying(mut call: impl FnMut() -> isize) -> Result<usize, i32> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// `pread(fd, buf, offset)`, or `read(fd, buf)` at the file position when `offset` is -1,
/// into memory that need not be initialized: the bytes read (initialized from the start of
/// `buf`), or `Err(errno)`.
pub fn read_at(fd: i32, buf: &mut [std::mem::MaybeUninit<u8>], offset: i64) -> Result<usize, i32> {
    let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
    count_retrying(|| {
        // SAFETY: `buf` is writable for `len` bytes for the call.
        unsafe {
            if offset < 0 {
                libc::read(fd, ptr, len)
            } else {
                libc::pread(fd, ptr, len, offset as libc::off_t)
            }
        }
    })
}

/// `pwrite(fd, data, offset)`, or `write(fd, data)` at the file position when `offset` is
/// -1: the bytes written (possibly fewer than `data.len()`), or `Err(errno)`.
pub fn write_at(fd: i32, data: &[u8], offset: i64) -> Result<usize, i32> {
    let (ptr, len) = (data.as_ptr().cast(), data.len());
    count_retrying(|| {
        // SAFETY: `data` is readable for `len` bytes for the call.
        unsafe {
            if offset < 0 {
                libc::write(fd, ptr, len)
            } else {
                libc::pwrite(fd, ptr, len, offset as libc::off_t)
            }
        }
    })
}

/// `preadv2(fd, buf, offset, RWF_NOWAIT)`: the bytes read from the page cache, or
/// `Err(EAGAIN)` if reading would wait for I/O, `Err(EOPNOTSUPP)` where the file does not
/// support it.
pub fn pread_nowait(fd: i32, buf: &mut [std::mem::MaybeUninit<u8>], offset: i64) -> Result<usize, i32> {
    let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: one iovec describing `buf`, writable for its length for the call.
    count_retrying(|| unsafe { libc::preadv2(fd, &iov, 1, offset as libc::off_t, libc::RWF_NOWAIT) })
}

/// `getdents64(fd, buf)`: the bytes of `linux_dirent64` records read, 0 at the end.
pub fn getdents(fd: i32, buf: &mut [std::mem::MaybeUninit<u8>]) -> Result<usize, i32> {
    let (ptr, len) = (buf.as_mut_ptr(), buf.len());
    // SAFETY: `buf` is writable for `len` bytes for the call.
    count_retrying(|| unsafe { libc::syscall(libc::SYS_getdents64, fd, ptr, len) as isize })
}

/// `ftruncate(fd, length)`.
pub fn ftruncate(fd: i32, length: i64) -> Result<(), i32> {
    // SAFETY: truncating an integer descriptor has no memory-safety preconditions.
    zero_or_errno(unsafe { libc::ftruncate(fd, length as libc::off_t) })
}

/// Closes the file at `fd` by putting an `O_PATH` descriptor of "/" in its place with one
/// `dup3`, so that the number stays allocated (see `fdguard`). `Err(EBADF)` if `fd` is not
/// open (a dup3 would allocate it). Replacing closes the old file, which may flush.
pub fn replace_with_placeholder(fd: i32) -> Result<(), i32> {
    if !fd_is_open(fd) {
        return Err(libc::EBADF);
    }
    // SAFETY: a NUL-terminated literal path; O_PATH opens nothing for I/O.
    let p = unsafe { libc::open(c_str(b"/\0").as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if p < 0 {
        return Err(errno());
    }
    // SAFETY: duplicating one integer descriptor onto another has no memory preconditions.
    let r = unsafe { libc::dup3(p, fd, libc::O_CLOEXEC) };
    let e = errno();
    close_quietly(p);
    if r < 0 {
        Err(e)
    } else {
        Ok(())
    }
}

/// `close(2)`. On Linux the descriptor is released even when close reports `EINTR` or
/// `EINPROGRESS`, so those count as success (as libuv does); retrying would close a
/// descriptor that another thread may already have been handed.
pub fn close(fd: i32) -> Result<(), i32> {
    // SAFETY: closing an integer descriptor has no memory-safety preconditions; ownership of
    // `fd` was handed to us by the caller (or opened by us).
    let rc = unsafe { libc::close(fd) };
    if rc == 0 {
        return Ok(());
    }
    match errno() {
        libc::EINTR | libc::EINPROGRESS => Ok(()),
        e => Err(e),
    }
}

/// Closes an `O_PATH` descriptor the library made for itself, straight through the syscall:
/// it never reaches a filesystem's flush, and an LD_PRELOAD interposer of close(2) has no
/// business with a descriptor the application never saw.
pub fn close_path_fd(fd: i32) {
    // SAFETY: closing a descriptor this library opened and still owns.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// Closes a descriptor the library owns and nobody can receive any more; errors are moot.
pub fn close_quietly(fd: i32) {
    let _ = close(fd);
}

/// Sets `fd`'s status flags to `flags` (`F_SETFL`: only `O_APPEND`, `O_ASYNC`, `O_DIRECT`,
/// `O_NOATIME` and `O_NONBLOCK` are changed), without reading them first.
pub fn set_status_flags(fd: i32, flags: i32) -> Result<(), i32> {
    // SAFETY: F_SETFL on an integer descriptor only sets its status flags.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// Whether `fd` is an open descriptor.
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD on any integer is harmless; it only reads the descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// A new non-blocking, close-on-exec eventfd with a zero counter.
pub fn eventfd() -> Result<i32, i32> {
    // SAFETY: eventfd takes plain integers and returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// Adds `n` to an eventfd counter (one 8-byte write).
pub fn eventfd_write(fd: i32, n: u64) -> Result<(), i32> {
    let buf = n.to_ne_bytes();
    // SAFETY: `buf` is 8 readable bytes that live across the call.
    let rc = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if rc == 8 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// Reads (and so resets) an eventfd counter; `Err(EAGAIN)` if it was already zero.
pub fn eventfd_read(fd: i32) -> Result<u64, i32> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is 8 writable bytes that live across the call.
    let rc = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 8 {
        Ok(u64::from_ne_bytes(buf))
    } else {
        Err(errno())
    }
}

/// Runs `f` with every signal blocked in the calling thread, so that threads spawned inside
/// inherit a full mask and the application's handlers never run on library threads.
pub fn with_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: sigset_t is plain data; sigfillset initialises it fully before use.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, for the saved mask, which pthread_sigmask fills in.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned sigset_t values.
    let blocked = unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) == 0
    };
    let r = f();
    if blocked {
        // SAFETY: `old` holds the mask pthread_sigmask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    r
}

/// The calling thread's kernel id.
pub fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Whether thread `tid` of this process is asleep in the kernel (state `S` or `D`: blocked
/// in a syscall), as opposed to running or waiting for a CPU (`R`). `None` if unknown (no
/// /proc, or the thread is gone).
pub fn thread_is_blocked(tid: i32) -> Option<bool> {
    use std::io::Read;
    let mut buf = [0u8; 512];
    let mut f = std::fs::File::open(format!("/proc/self/task/{tid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    // "tid (comm) S ...": the state follows the last ')', as comm may contain one.
    let close = buf[..n].iter().rposition(|&b| b == b')')?;
    let state = *buf.get(close + 2)?;
    Some(matches!(state, b'S' | b'D'))
}

/// Whether `fd` reports `POLLPRI` (or `POLLERR`) right now, without waiting. For
/// /proc/self/mountinfo this means "the mount table changed since the last poll", and the
/// poll itself consumes the event.
pub fn poll_pri_now(fd: i32) -> Result<bool, i32> {
    let mut p = libc::pollfd { fd, events: libc::POLLPRI, revents: 0 };
    // SAFETY: `p` is one live pollfd for the duration of the call; a zero timeout never blocks.
    let rc = unsafe { libc::poll(&mut p, 1, 0) };
    if rc < 0 {
        return Err(errno());
    }
    Ok(p.revents & (libc::POLLPRI | libc::POLLERR) != 0)
}

/// The whole content of `fd` from offset 0 (for /proc files, which must be read from the
/// start to be consistent).
pub fn read_from_start(fd: i32) -> Result<Vec<u8>, i32> {
    // SAFETY: lseek on an integer descriptor has no memory-safety preconditions.
    if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } < 0 {
        return Err(errno());
    }
    let mut out = Vec::with_capacity(8192);
    let mut buf = [0u8; 8192];
    loop {
        // SAFETY: `buf` is writable for its whole length across the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => return Ok(out),
            n if n > 0 => out.extend_from_slice(&buf[..n as usize]),
            _ if errno() == libc::EINTR => {}
            _ => return Err(errno()),
        }
    }
}

/// The current working directory, as bytes.
pub fn getcwd() -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: `buf` is writable for its whole length; getcwd NUL-terminates within it.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return Err(errno());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(len);
    Ok(buf)
}

/// What `statx` says of an open descriptor, from cached attributes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdInfo {
    /// The id of its mount (the first field of its line in /proc/self/mountinfo), if the
    /// kernel reports it (5.8 and later).
    pub mount_id: Option<u64>,
    /// Its filesystem's device number, as (major, minor).
    pub dev: (u32, u32),
    /// Its file type and mode bits.
    pub mode: u32,
    /// Its size in bytes, as cached.
    pub size: u64,
}

/// `statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID | STATX_TYPE | STATX_SIZE)`: only
/// cached attributes are asked for, so this never waits for a (possibly dead) file server.
/// Works on `O_PATH` descriptors.
pub fn fd_info(fd: i32) -> Result<FdInfo, i32> {
    // SAFETY: statx is plain data; the kernel fills in what stx_mask says.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    fd_statx(fd, &mut st)
}

/// [`fd_info`], with the whole `statx` (`STATX_BASIC_STATS | STATX_MNT_ID`, which costs the
/// kernel no more) left in `st`.
pub fn fd_statx(fd: i32, st: &mut libc::statx) -> Result<FdInfo, i32> {
    statx_fd(fd, libc::AT_STATX_DONT_SYNC, libc::STATX_BASIC_STATS | libc::STATX_MNT_ID, st)?;
    Ok(FdInfo {
        mount_id: (st.stx_mask & libc::STATX_MNT_ID != 0).then_some(st.stx_mnt_id),
        dev: (st.stx_dev_major, st.stx_dev_minor),
        mode: u32::from(st.stx_mode),
        size: st.stx_size,
    })
}

/// `openat2(dirfd, path, {flags, mode, resolve})`: `Ok(fd)` or `Err(errno)`; `Err(ENOSYS)`
/// before Linux 5.12 (or under a seccomp filter, or valgrind, that refuses openat2). Straight
/// through the syscall: libc has no wrapper an interposer could see.
pub fn openat2(dirfd: i32, path: &CStr, flags: i32, mode: u32, resolve: u64) -> Result<i32, i32> {
    /// The kernel's `struct open_how` (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let needs_mode = flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE;
    let how =
        OpenHow { flags: flags as u32 as u64, mode: if needs_mode { u64::from(mode) } else { 0 }, resolve };
    let size = std::mem::size_of::<OpenHow>();
    // SAFETY: `path` is NUL-terminated and `how` a live open_how of the size passed.
    let rc = unsafe { libc::syscall(libc::SYS_openat2, dirfd, path.as_ptr(), &how as *const OpenHow, size) };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc as i32)
    }
}

/// `openat2(dirfd, path, O_PATH | O_CLOEXEC [| O_NOFOLLOW], RESOLVE_CACHED)`: a descriptor
/// naming the file without opening it (O_PATH never calls the filesystem's open), from a
/// lookup the kernel finishes from its caches alone, or `Err(EAGAIN)` where the lookup would
/// have to ask the filesystem. `Err(ENOSYS)` without openat2 (see [`openat2`]). Closing the
/// descriptor never calls the filesystem's flush.
pub fn open_path_cached(dirfd: i32, path: &CStr, follow: bool) -> Result<i32, i32> {
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    openat2(dirfd, path, libc::O_PATH | libc::O_CLOEXEC | nofollow, 0, libc::RESOLVE_CACHED)
}

/// The target of the symbolic link `fd` (an `O_PATH | O_NOFOLLOW` descriptor of it).
/// Reads the link's inode: call it only for filesystems that keep links in memory or on a
/// local disk.
pub fn read_link_fd(fd: i32) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its whole length across the call.
    let n = unsafe { libc::readlinkat(fd, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    if n as usize >= buf.len() {
        return Err(libc::ENAMETOOLONG);
    }
    buf.truncate(n as usize);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_state_tells_blocked_from_running() {
        assert_eq!(thread_is_blocked(gettid()), Some(false), "this thread is running");
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            tx.send(gettid()).unwrap();
            let _ = done_rx.recv(); // asleep in the kernel until told to end
        });
        let tid = rx.recv().unwrap();
        // It goes to sleep a moment after sending (later on a loaded machine): wait for that
        // state rather than for a fixed time.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while thread_is_blocked(tid) != Some(true) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(thread_is_blocked(tid), Some(true), "a sleeping thread is blocked");
        done_tx.send(()).unwrap();
        h.join().unwrap();
        assert_eq!(thread_is_blocked(tid), None, "a finished thread is unknown");
    }
}
