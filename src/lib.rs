//! libaopen: asynchronous file calls (open, close, read, write, stat and the rest) for event
//! loops.
//!
//! Requests go to an elastic worker pool; completions land in a queue whose readiness is an
//! eventfd that any event loop can poll. The C ABI lives in [`ffi`]; everything else is
//! plain Rust, usable and tested without it.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod config;
mod context;
mod fair;
mod fdguard;
pub mod ffi;
mod fork;
mod fs;
mod mem;
mod op;
mod pool;
mod queue;
mod stats;
mod sync;
mod sys;

pub use config::Config;
pub use context::Context;
pub use fair::thresholds::HEALTHY_WAIT_BOUND;
pub use fs::FsId;
pub use op::{Op, OpKind};
pub use pool::parking::{Claim, Doorbell, Parking, Unpark};
pub use pool::IDLE_TIMEOUT;
pub use queue::handoff::{Outbox, Popped};
pub use queue::ids::Id;
pub use queue::inline::Inline;
pub use queue::ready::Readiness;
pub use queue::requests::{Completion, Requests};
