//! /proc files read by descriptor: change events of the mount table (`POLLPRI`) and a
//! whole file's content from its start.

use super::errno;

/// Whether `fd` reports `POLLPRI` (or `POLLERR`) right now, without waiting. For
/// /proc/self/mountinfo this means "the mount table changed since the last poll", and the
/// poll itself consumes the event.
pub(crate) fn poll_pri_now(fd: i32) -> Result<bool, i32> {
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
pub(crate) fn read_from_start(fd: i32) -> Result<Vec<u8>, i32> {
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
