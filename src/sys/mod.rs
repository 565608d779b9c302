//! Thin, errno-returning wrappers over the few syscalls the library makes, one file per job.
//!
//! Every function here returns `Ok(value)` or `Err(errno)` (a positive errno value), and is
//! re-exported here, so callers name it `crate::sys::foo` whatever file holds it (the later
//! file calls' are in `meta.rs`). Outside tests, libc is also called directly by the
//! FFI boundary (`strnlen` of a path argument), the fast path's interposer check
//! (`dlopen`/`dlsym`) and the fork check (`pthread_atfork`).

mod eventfd;
mod fds;
mod io;
mod meta;
mod openat2;
mod paths;
mod procfs;
mod stat;
mod thread;

pub(crate) use eventfd::*;
pub(crate) use fds::*;
pub(crate) use io::*;
pub(crate) use meta::*;
pub(crate) use openat2::*;
pub(crate) use paths::*;
pub(crate) use procfs::*;
pub(crate) use stat::*;
pub(crate) use thread::*;

use std::ffi::CStr;

/// A NUL-terminated byte literal as a `CStr` (for the library's own fixed paths and names).
pub(crate) fn c_str(b: &'static [u8]) -> &'static CStr {
    CStr::from_bytes_with_nul(b).expect("a NUL-terminated literal")
}

/// The calling thread's errno after a failed libc call.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// 0 from a libc call that returns 0 or -1 with errno, as `Ok`, else `Err(errno)`.
pub(crate) fn zero_or_errno(rc: i32) -> Result<(), i32> {
    if rc == 0 {
        Ok(())
    } else {
        Err(errno())
    }
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
