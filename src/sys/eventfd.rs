//! The completion queue's eventfd: made non-blocking and close-on-exec, a wake is one
//! 8-byte write, a read takes (and resets) the counter.

use super::errno;

/// A new non-blocking, close-on-exec eventfd with a zero counter.
pub(crate) fn eventfd() -> Result<i32, i32> {
    // SAFETY: eventfd takes plain integers and returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// Adds `n` to an eventfd counter (one 8-byte write).
pub(crate) fn eventfd_write(fd: i32, n: u64) -> Result<(), i32> {
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
pub(crate) fn eventfd_read(fd: i32) -> Result<u64, i32> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is 8 writable bytes that live across the call.
    let rc = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 8 {
        Ok(u64::from_ne_bytes(buf))
    } else {
        Err(errno())
    }
}
