//! Running one request's syscall on a worker.

use crate::request::Op;
use crate::sys;

/// Runs one request's syscall; returns an fd, 0, or -errno.
pub type Executor = dyn Fn(&Op) -> i32 + Send + Sync;

/// The real syscalls, through libc's entry points (so LD_PRELOAD interposers see them).
pub fn run_syscall(op: &Op) -> i32 {
    match op {
        Op::Open { path, flags, mode } => sys::open(path, *flags, *mode).unwrap_or_else(|e| -e),
        Op::Close { fd } => sys::close(*fd).map_or_else(|e| -e, |()| 0),
    }
}
