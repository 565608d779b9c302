//! The calls that run on the caller's thread or not at all, without the queue: each does its
//! call if the kernel can answer from its caches on a local filesystem (see `op::inline`),
//! else returns `EAGAIN` at once (then the caller submits it).

use super::*;

impl<T: Send + 'static> Context<T> {
    /// Reads on this thread if `fd` is a regular file on a local filesystem and the data is
    /// cached (see `op::inline::read_nowait`): the bytes read, or `Err(EAGAIN)` (then submit).
    pub fn read_nowait(&self, fd: i32, buf: &mut [MaybeUninit<u8>], offset: i64) -> Result<usize, i32> {
        self.alive()?;
        if self.shared.cfg.no_inline {
            return Err(libc::EAGAIN);
        }
        inline::read_nowait(fd, buf, offset, false)
    }

    /// Opens `path` on this thread if the kernel can finish it from its caches on a local
    /// filesystem (see `op::inline`): `Ok(fd)`, `Err(errno)` for an open that completed with an
    /// error, `Err(EAGAIN)` when it would have to wait (then submit it), `Err(ESHUTDOWN)` in a
    /// forked child.
    pub fn open_nowait(&self, path: &std::ffi::CStr, flags: i32, mode: u32) -> Result<i32, i32> {
        // SAFETY: statx is plain data, all zeroes a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        self.open_nowait_statx(path, flags, mode, &mut st)
    }

    /// [`Context::open_nowait`], leaving in `st`, after `Ok(fd)`, the descriptor's statx
    /// (`STATX_BASIC_STATS`, taken right after the open: what an fstat would return).
    pub fn open_nowait_statx(
        &self,
        path: &std::ffi::CStr,
        flags: i32,
        mode: u32,
        st: &mut libc::statx,
    ) -> Result<i32, i32> {
        self.alive()?;
        if self.shared.cfg.no_inline {
            return Err(libc::EAGAIN);
        }
        inline::open_cached(path, flags, mode, st, |fd| self.close_on_worker(fd))
    }

    /// Closes `fd`, which the fast path opened but may not keep (not a plain file: its close
    /// may block in a driver), on a worker; here if the context takes no more closes.
    pub(super) fn close_on_worker(&self, fd: i32) {
        if self.close_detached(fd).is_err() {
            crate::sys::close_quietly(fd);
        }
    }

    /// Stats `path` on this thread if the kernel can resolve it from its caches to a file on
    /// a local filesystem (see `op::inline::stat_nowait`): `Ok(())` with `out` written,
    /// `Err(errno)` for a stat that completed with an error, `Err(EAGAIN)` when it would have
    /// to wait (then submit it), `Err(ESHUTDOWN)` in a forked child.
    pub fn stat_nowait(
        &self,
        path: &std::ffi::CStr,
        flags: i32,
        mask: u32,
        out: &mut libc::statx,
    ) -> Result<(), i32> {
        self.alive()?;
        if self.shared.cfg.no_inline {
            return Err(libc::EAGAIN);
        }
        inline::stat_nowait(path, flags, mask, out)
    }

    /// Closes `fd` on this thread if it is on a local filesystem (see `op::inline`): `Ok(())`, or
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
}
