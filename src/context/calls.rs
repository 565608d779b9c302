//! How a call reaches `Context::submit`, after its argument checks, all of them here:
//! [`Context::submit_op`] for every call that takes no library buffer from the context (the
//! checks in one match, `check_op`), and one method for each call that does (read,
//! getdents, readlink), with the rule for that buffer; `submit_open` and `submit_close` for
//! Rust callers.

use super::*;

/// The argument checks of every call that takes no library buffer from the context (see
/// [`Context::submit_op`]), each in the order the call makes them: a negative descriptor
/// first, then the rest.
fn check_op(op: &Op) -> Result<(), i32> {
    match *op {
        Op::Open { ref path, .. } if path.as_bytes().len() >= libc::PATH_MAX as usize => {
            Err(libc::ENAMETOOLONG)
        }
        Op::Close { fd }
        | Op::Fsync { fd, .. }
        | Op::Ftruncate { fd, .. }
        | Op::Fstat { fd, .. }
        | Op::Write { fd, .. }
        | Op::Fstatfs { fd, .. }
        | Op::Fchmod { fd, .. }
        | Op::Fchown { fd, .. }
        | Op::Futimens { fd, .. }
        | Op::Fallocate { fd, .. }
            if fd < 0 =>
        {
            Err(libc::EBADF)
        }
        Op::Unlink { flags, .. } if flags & !libc::AT_REMOVEDIR != 0 => Err(libc::EINVAL),
        Op::Ftruncate { length, .. } if length < 0 => Err(libc::EINVAL),
        Op::Write { offset, ref data, .. } if offset < -1 || data.len() > i32::MAX as usize => {
            Err(libc::EINVAL)
        }
        Op::Fallocate { offset, len, .. } if offset < 0 || len <= 0 => Err(libc::EINVAL),
        Op::CopyFileRange { fd_in, fd_out, .. } | Op::Sendfile { in_fd: fd_in, out_fd: fd_out, .. }
            if fd_in < 0 || fd_out < 0 =>
        {
            Err(libc::EBADF)
        }
        Op::CopyFileRange { off_in, off_out, len, .. }
            if off_in < -1 || off_out < -1 || len > i32::MAX as usize =>
        {
            Err(libc::EINVAL)
        }
        Op::Sendfile { offset, count, .. } if offset < -1 || count > i32::MAX as usize => Err(libc::EINVAL),
        _ => Ok(()),
    }
}

/// The checks common to reads and writes.
fn check_io(fd: i32, len: usize, offset: i64) -> Result<(), i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    if offset < -1 || len > i32::MAX as usize {
        return Err(libc::EINVAL);
    }
    Ok(())
}

impl<T: Send + 'static> Context<T> {
    /// Queues an open of `path` (`O_CLOEXEC` is always added): an `Op::Open` through
    /// [`Context::submit_op`].
    pub fn submit_open(&self, path: CString, flags: i32, mode: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit_op(Op::Open { path, flags, mode }, token)
    }

    /// Queues a close of `fd`, which the library owns from now on, unless the request is
    /// cancelled or times out before it runs (then the caller still owns `fd`): an
    /// `Op::Close` through [`Context::submit_op`].
    pub fn submit_close(&self, fd: i32, token: T) -> Result<Id, (i32, T)> {
        self.submit_op(Op::Close { fd }, token)
    }

    /// Queues a read of `len` bytes at `offset` (-1: at the file position) into a library
    /// buffer, delivered in the completion's `out`. `Err(EBADF)` for `fd` < 0, `Err(EINVAL)`
    /// for `offset` < -1 or `len` over `i32::MAX`, or a buffer over the whole budget.
    pub fn submit_read(&self, fd: i32, len: usize, offset: i64, token: T) -> Result<Id, (i32, T)> {
        match self.read_buffer(fd, len, offset) {
            Ok(buf) => self.submit(Op::Read { fd, offset, buf }, token),
            Err(e) => Err((e, token)),
        }
    }

    /// A library buffer for a read of `len` bytes, after the checks of
    /// [`Context::submit_read`] (the budget's before allocating it).
    pub(super) fn read_buffer(&self, fd: i32, len: usize, offset: i64) -> Result<Bytes, i32> {
        check_io(fd, len, offset)?;
        self.check_buffer_len(len)?;
        Ok(self.buffers.take(len))
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

    /// The rule for one call's library buffer, checked before it is allocated or filled:
    /// `Err(EINVAL)` past `i32::MAX` bytes or past the whole buffer budget. (What is free of
    /// the budget is the table's to check, at submit: `EAGAIN`.)
    pub fn check_buffer_len(&self, len: usize) -> Result<(), i32> {
        if len > i32::MAX as usize || len > self.buffer_budget() {
            return Err(libc::EINVAL);
        }
        Ok(())
    }

    /// Queues any call that takes no library buffer from the context (all but read, getdents
    /// and readlink: see [`Context::submit_read`]; a write brings its own copy), after its
    /// argument checks: `Err(EBADF)` for a negative descriptor; `Err(EINVAL)` for unlink
    /// flags other than `AT_REMOVEDIR`, a negative truncate length, an offset below -1, a
    /// non-positive fallocate range, or a write or copy over `i32::MAX` bytes;
    /// `Err(ENAMETOOLONG)` for an open's path of `PATH_MAX` bytes or more. Other flags and
    /// modes are the kernel's to check, as for the synchronous call. Then, as any submit:
    /// `EAGAIN` (queue full, or no worker could be started), `ESHUTDOWN`.
    pub fn submit_op(&self, op: Op, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = check_op(&op) {
            return Err((e, token));
        }
        self.submit(op, token)
    }

    /// Queues `readlinkat(AT_FDCWD, path)` of up to `len` bytes into a library buffer,
    /// delivered like a read's (same budget checks).
    pub fn submit_readlink(&self, path: CString, len: usize, token: T) -> Result<Id, (i32, T)> {
        match self.read_buffer(0, len, 0) {
            Ok(buf) => self.submit(Op::Readlink { path, buf }, token),
            Err(e) => Err((e, token)),
        }
    }
}
