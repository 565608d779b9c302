//! The Rust API's one method per call: each checks its arguments, builds its `Op` (with its
//! library buffer, within the budget) and hands it to `Context::submit`.

use super::*;

/// The argument checks of the metadata, link and copy calls (see [`Context::submit_op`]).
fn check_op(op: &Op) -> Result<(), i32> {
    match *op {
        Op::Fstatfs { fd, .. }
        | Op::Fchmod { fd, .. }
        | Op::Fchown { fd, .. }
        | Op::Futimens { fd, .. }
        | Op::Fallocate { fd, .. }
            if fd < 0 =>
        {
            Err(libc::EBADF)
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
    /// Queues an open of `path` (`O_CLOEXEC` is always added). `Err((errno, token))`:
    /// `ENAMETOOLONG`, `EAGAIN` (queue full, or no worker could be started), `ESHUTDOWN`.
    pub fn submit_open(&self, path: CString, flags: i32, mode: u32, token: T) -> Result<Id, (i32, T)> {
        if path.as_bytes().len() >= libc::PATH_MAX as usize {
            return Err((libc::ENAMETOOLONG, token));
        }
        self.submit(Op::Open { path, flags, mode }, token)
    }

    /// Queues a close of `fd`, which the library owns from now on, unless the request is
    /// cancelled or times out before it runs (then the caller still owns `fd`).
    pub fn submit_close(&self, fd: i32, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        self.submit(Op::Close { fd }, token)
    }

    /// Queues `fsync(fd)`, or `fdatasync(fd)` with `datasync`. `Err(EBADF)` for `fd` < 0.
    pub fn submit_fsync(&self, fd: i32, datasync: bool, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        self.submit(Op::Fsync { fd, datasync }, token)
    }

    /// Queues `unlinkat(AT_FDCWD, path, flags)`; `flags` is 0 or `AT_REMOVEDIR` (else
    /// `Err(EINVAL)`).
    pub fn submit_unlink(&self, path: CString, flags: i32, token: T) -> Result<Id, (i32, T)> {
        if flags & !libc::AT_REMOVEDIR != 0 {
            return Err((libc::EINVAL, token));
        }
        self.submit(Op::Unlink { path, flags }, token)
    }

    /// Queues `mkdirat(AT_FDCWD, path, mode)`.
    pub fn submit_mkdir(&self, path: CString, mode: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit(Op::Mkdir { path, mode }, token)
    }

    /// Queues `renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)` (the kernel checks `flags`).
    pub fn submit_rename(&self, from: CString, to: CString, flags: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit(Op::Rename { from, to, flags }, token)
    }

    /// Queues `ftruncate(fd, length)`. `Err(EBADF)` for `fd` < 0, `Err(EINVAL)` for a
    /// negative `length`.
    pub fn submit_ftruncate(&self, fd: i32, length: i64, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        if length < 0 {
            return Err((libc::EINVAL, token));
        }
        self.submit(Op::Ftruncate { fd, length }, token)
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
        Ok(self.shared.buffers.take(len))
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

    /// Queues a write of `data` (the library's copy) at `offset` (-1: at the file position),
    /// with the checks of [`Context::submit_read`].
    pub fn submit_write(&self, fd: i32, data: Bytes, offset: i64, token: T) -> Result<Id, (i32, T)> {
        if let Err(e) = check_io(fd, data.len(), offset) {
            return Err((e, token));
        }
        self.submit(Op::Write { fd, offset, data }, token)
    }

    /// Queues `statx(AT_FDCWD, path, flags, mask)` into a library buffer, delivered in the
    /// completion's `out` (see [`Completion`]): the kernel checks `flags` and `mask`.
    pub fn submit_stat(&self, path: CString, flags: i32, mask: u32, token: T) -> Result<Id, (i32, T)> {
        self.submit(Op::Stat { path, flags, mask, out: StatxBuf::new() }, token)
    }

    /// Queues `statx(fd, "", AT_EMPTY_PATH, mask)` like [`Context::submit_stat`].
    /// `Err(EBADF)` for `fd` < 0.
    pub fn submit_fstat(&self, fd: i32, mask: u32, token: T) -> Result<Id, (i32, T)> {
        if fd < 0 {
            return Err((libc::EBADF, token));
        }
        self.submit(Op::Fstat { fd, mask, out: StatxBuf::new() }, token)
    }

    /// Queues a metadata, link or copy call, or a caller's function (`Op::Symlink` through
    /// `Op::Call`; a readlink goes through [`Context::submit_readlink`] for its buffer), after
    /// the checks the calls share: `Err(EBADF)` for a negative descriptor, `Err(EINVAL)` for
    /// an offset below -1, a non-positive fallocate range, or a copy over `i32::MAX` bytes.
    /// Flags and modes are the kernel's to check, as for the synchronous call.
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
