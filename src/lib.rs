//! libaopen: asynchronous open(2) and close(2) for event loops.
//!
//! Requests go to an elastic worker pool; completions land in a queue whose readiness is an
//! eventfd that any event loop can poll. The C ABI lives in [`ffi`]; everything else is
//! plain Rust, usable and tested without it.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod abandoned;
mod buffers;
mod bytes;
pub mod completion;
pub mod config;
pub mod context;
mod deadlines;
mod fdguard;
pub mod ffi;
mod fork;
pub mod inline;
mod locked;
pub mod mounts;
pub mod parking;
mod pathcache;
pub mod pool;
pub mod request;
mod scheduler;
mod slab;
pub mod stats;
mod sync;
mod sys;
pub mod syscall;
mod sysmeta;

pub use config::Config;
pub use context::Context;
pub use request::{Completion, Id, Op, OpKind};
