//! The calls whose results fill a buffer (read, getdents, readlink): their checks, their
//! library buffers, and a read the fast path makes straight into the caller's buffer.

use super::*;

impl<T: Send + 'static> Context<T> {
    /// Queues a read of `len` bytes at `offset` (-1: at the file position) into a library
    /// buffer, delivered in the completion's `out`. `Err(EBADF)` for `fd` < 0, `Err(EINVAL)`
    /// for `offset` < -1 or `len` over `i32::MAX`, or a buffer over the whole budget.
    pub fn submit_read(&self, fd: i32, len: usize, offset: i64, token: T) -> Result<Id, (i32, T)> {
        match self.read_buffer(fd, len, offset) {
            Ok(buf) => self.submit(Op::Read { fd, offset, buf }, token),
            Err(e) => Err((e, token)),
        }
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

    /// Queues `readlinkat(AT_FDCWD, path)` of up to `len` bytes into a library buffer,
    /// delivered like a read's (same budget checks).
    pub fn submit_readlink(&self, path: CString, len: usize, token: T) -> Result<Id, (i32, T)> {
        match self.read_buffer(0, len, 0) {
            Ok(buf) => self.submit(Op::Readlink { path, buf }, token),
            Err(e) => Err((e, token)),
        }
    }

    /// A library buffer for a read of `len` bytes, after the checks of
    /// [`Context::submit_read`] (the budget's before allocating it).
    fn read_buffer(&self, fd: i32, len: usize, offset: i64) -> Result<Bytes, i32> {
        self.check_read(fd, len, offset)?;
        Ok(self.shared.buffers.take(len))
    }

    /// The checks of a read of `len` bytes of `fd` at `offset`: `Err(EBADF)` for `fd` < 0,
    /// `Err(EINVAL)` for `offset` < -1 or `len` past the buffer limit.
    fn check_read(&self, fd: i32, len: usize, offset: i64) -> Result<(), i32> {
        if fd < 0 {
            return Err(libc::EBADF);
        }
        if offset < -1 || len > i32::MAX as usize {
            return Err(libc::EINVAL);
        }
        self.check_buffer_len(len)
    }

    /// [`Context::submit_read`] for a caller whose destination `dst` may be written at once:
    /// a read the fast path makes (see [`inline::reads_inline`]) within one page goes
    /// straight into `dst`, with no library buffer and nothing to copy at delivery (else to
    /// a worker, without trying the fast path again); any other is submitted as
    /// `submit_read` submits it.
    ///
    /// Within one page, because `RWF_NOWAIT` finds such a range cached or not as a whole: it
    /// never reads part of it and leaves the rest to a worker, whose read (of a file shrunk
    /// meanwhile) could then return fewer bytes than the fast path had written.
    pub fn submit_read_into(
        &self,
        fd: i32,
        dst: &mut [MaybeUninit<u8>],
        offset: i64,
        token: T,
    ) -> Result<Id, (i32, T)> {
        let len = dst.len();
        if !inline::within_a_page(len, offset) {
            return self.submit_read(fd, len, offset, token); // the fast path into library memory
        }
        if let Err(e) = self.alive().and_then(|()| self.check_read(fd, len, offset)) {
            return Err((e, token));
        }
        if self.inline && inline::reads_inline(len, offset, || self.shared.is_quiet()) {
            // Admitted first, so that a refused read never writes `dst`.
            let id = match self.shared.admit_completed(0) {
                Ok(id) => id,
                Err(e) => return Err((e, token)),
            };
            // (Within one page a short read is always the end of the file: not `whole`.)
            match inline::read_nowait(fd, dst, offset, false) {
                Err(libc::EAGAIN) => self.shared.unadmit_completed(id),
                r => {
                    let result = r.map_or_else(|e| -e, |n| n as i32); // n <= len <= i32::MAX
                    return self.shared.hand_completed(id, OpKind::Read, result, None, 0, token);
                }
            }
        }
        let buf = self.shared.buffers.take(len);
        self.submit_pooled(Op::Read { fd, offset, buf }, token)
    }

    /// The rule for one call's library buffer, checked before it is allocated or filled:
    /// `Err(EINVAL)` past `i32::MAX` bytes or past the whole buffer budget. (What is free of
    /// the budget is the table's to check, at submit: `EAGAIN`.)
    pub fn check_buffer_len(&self, len: usize) -> Result<(), i32> {
        if len > i32::MAX as usize || len > self.buffer_budget() {
            return Err(libc::EINVAL);
        }
        Ok(())
    }
}
