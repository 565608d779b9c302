//! The C ABI: the only place with `extern "C"`, raw pointers and the panic boundary.
//!
//! Every exported function runs its body through `guard::guard`, so no panic ever unwinds into
//! C (a caught panic becomes `-EIO`); checks its pointers before use; and returns 0, a
//! count, an id, or a negative errno. Outputs are written only on success.
#![allow(non_camel_case_types)]

// The modules are declared in the header's order, not sorted: cbindgen writes each one's
// items in turn, so this order is include/aopen.h's.

/// Shared constants and structs: op kinds, options, the completion and its callback.
mod types;

/// The context handle, the caller's token, the panic guard and the pointer checks.
mod guard;

/// `aopen_ctx_new`, `aopen_ctx_free`, `aopen_ctx_fd`.
mod ctx;

/// `aopen_submit`, `aclose_submit`.
mod open_close;

/// fsync, read, read_nowait, getdents, write: a file's bytes.
mod io_calls;

/// stat, fstat, unlink, mkdir, rename, ftruncate: what a file is and where it stands.
mod meta_calls;

/// `aopen_open_nowait`, `aopen_stat_nowait`, `aopen_close_nowait`, `aclose_detach`.
mod nowait;

/// `aopen_dispatch`, `aopen_reap`, `aopen_wait`, `aopen_cancel`.
mod deliver;

/// `aopen_version`, `aopen_stats`, `aopen_stats_mounts`.
mod stats;

/// `aopen_mount_event_submit`: changes in the state of filesystems, through the queue.
mod events;

/// `aopen_struct_layout`.
mod abi;

/// The later file calls: readlink, symlink, link, access, statfs, fstatfs...
mod fs_calls;

/// ...chmod, fchmod, chown, fchown, utimens, futimens...
mod attr_calls;

/// ...fallocate, copy_file_range, sendfile, and `aopen_call_submit`.
mod data_calls;

#[cfg(test)]
mod tests;

pub use abi::*;
pub use attr_calls::*;
pub use ctx::*;
pub use data_calls::*;
pub use deliver::*;
pub use events::*;
pub use fs_calls::*;
pub use guard::aopen_ctx;
pub use io_calls::*;
pub use meta_calls::*;
pub use nowait::*;
pub use open_close::*;
pub use stats::*;
pub use types::*;
