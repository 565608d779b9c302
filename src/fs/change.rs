//! A change in the state of a filesystem, as a mount event reports it: what changed, which
//! filesystem, and the mount that names it (see `queue::events` for where changes wait for
//! the caller's request).

use crate::fs::{FsId, Mount};
use std::time::Instant;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ChangeKind {
    /// Marked blocked: a syscall of it has been asleep past the blocked threshold.
    Blocked = 1,
    /// No longer marked blocked: its stuck syscalls returned.
    Recovered = 2,
    /// Gone: unmounted or lazily detached (it left the mount table), or its server's
    /// connection aborted (a call on it failed with `ENOTCONN` or `ECONNABORTED`).
    Gone = 3,
}

/// One change of one filesystem.
#[derive(Debug, Clone)]
pub struct MountChange {
    pub kind: ChangeKind,
    pub fs: FsId,
    /// When the change was seen.
    pub at: Instant,
    /// Blocked: syscalls in progress on it when it was marked, and when the oldest of them
    /// started.
    pub stuck: usize,
    pub since: Option<Instant>,
    /// Changes dropped (the queue was full) between the one delivered before this and this.
    pub dropped: u64,
    /// The mount that names it: the mount table's entry when the change was seen (gone), or
    /// looked up when it is delivered; None if no table ever named it.
    pub mount: Option<Mount>,
}
