//! The worker pool: threads that run requests' syscalls, and one watchdog thread per
//! context that enforces timeouts and grows the pool past blocked workers.
//!
//! Growth policy. The pool keeps `threads` workers. It does not grow merely because every
//! worker is busy (more than ~4 threads per core collapses fast-open throughput); it grows
//! when workers are *blocked*: inside one syscall for over [`STUCK_THRESHOLD`](crate::fair::thresholds::STUCK_THRESHOLD), timed
//! around the syscall alone (each worker's [`SyscallClock`](thread::SyscallClock)), and asleep there according to
//! the kernel (`/proc/self/task/TID/stat` state `S` or `D`), so that waiting for the lock
//! or for a CPU never counts: on a loaded 2-core machine, runnable workers were seen to go
//! 6 ms without a CPU in a burst of fast opens. Once queued work has waited
//! [`WAIT_THRESHOLD`](crate::fair::thresholds::WAIT_THRESHOLD) with no idle worker, the watchdog tops the unblocked workers back up
//! to `threads`, or, when every worker is blocked, doubles the pool (so 64 hung opens get
//! 64 workers within a few waves); never past `max_threads` nor past the number of queued
//! requests. Workers above `threads` exit after [`IDLE_TIMEOUT`](thread::IDLE_TIMEOUT) without work.
//!
//! Dead filesystems. Only work that could start now counts as queued here: a request whose
//! filesystem already has its share of syscalls running, or a blocked filesystem's request
//! while the blocked budget is spent (see `queue::requests`), neither wakes a worker nor grows the
//! pool. Two kinds of workers are *off budget*: they no longer count against `threads` or
//! `max_threads`, so the pool grows past them for everyone else:
//! - abandoned workers: their request was cancelled, timed out or shut down while its syscall
//!   runs, or they run an owed close (a descriptor nobody will receive; see `queue::requests`);
//! - workers of a *blocked* filesystem: one whose syscall has been asleep in the kernel past
//!   the context's blocked threshold (the `blocked_ms` option, 200 ms by default), as the watchdog finds on each round.
//!
//! Off-budget workers still hold their filesystem's share. Blocked filesystems together start
//! syscalls only while fewer than `max_threads` of theirs run (the blocked budget), so a
//! context's threads stay below `max_threads` for healthy filesystems, plus `max_threads` for
//! blocked ones, plus one share per filesystem that hung before the watchdog noticed, plus
//! abandoned workers. Abandoned workers of every context are counted process-wide; while that
//! count is at [`abandoned_cap`], blocked filesystems start nothing and each context starts
//! threads only while fewer than `threads` of its workers are outside blocked filesystems'
//! syscalls (`Shared::room`): healthy filesystems are still served, and the count can pass
//! the cap only by workers of a filesystem that hangs at the cap before it is marked (at
//! most `threads` per context at a time).
//!
//! The bound. Marking is what makes room in a pool full of stuck workers, so the watchdog
//! does not wait for growth to need it: while any syscall runs on a filesystem not marked, a
//! round is scheduled for when that syscall could be marked (the worker that starts it
//! schedules one if none comes sooner), whether or not work waits and whether or not the
//! pool is at `max_threads`. A startable request of a filesystem not blocked therefore waits
//! for a worker at most [`healthy_wait_bound`](crate::fair::thresholds::healthy_wait_bound) of its blocked threshold (225 ms by default) while workers are stuck, counted from its
//! submit or from the start of the oldest stuck syscall if later, at any interleaving and
//! with no further submit. Nothing running, nothing queued: no round, and no CPU.
//!
//! Closes. A close can hang in the filesystem's flush, so one that may wait never runs under
//! the lock nor on the caller's thread: it goes through the table as a request (the caller's
//! close, or an owed close of a descriptor nobody will receive: see `queue::requests`), run
//! by a worker. Only a descriptor known to be a regular file or directory on a local
//! filesystem is closed on the caller's thread (`op::inline::close_nowait`): the fast path's
//! close, and the descriptor of a fast-path open nobody will receive (refused, cancelled,
//! or left undelivered at shutdown).
//!
//! Locking. One mutex guards [`Inner`]: the request table (`queue::requests::Requests`,
//! which the pool calls directly) and the pool's counters. The loop's threads do not take
//! it to submit or to deliver: they go through the lock-free hand-off (`queue::handoff`),
//! taken in and filled under the lock (see `shared`). The readiness fd is the hand-off's:
//! its `Outbox` writes it when its queue of completions goes from empty to non-empty and
//! resets it when a pop empties it, under a small lock of its own, so at every quiescent
//! point it is readable exactly while a completion waits there. Syscalls and callbacks
//! never run under the pool lock.

mod deliver;
mod events;
pub mod parking;
mod place;
mod shared;
mod shutdown;
mod snapshot;
mod submit;
mod thread;
mod wake;
mod watchdog;
mod worker;

pub use shared::{Place, Shared};

pub use snapshot::Snapshot;
pub use thread::IDLE_TIMEOUT;
