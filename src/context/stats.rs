//! What the context reports: its pool's threads, counters and histograms, and the
//! filesystems where requests are stuck (see `pool::snapshot`).

use super::*;
use crate::pool::Snapshot;
use crate::queue::requests::MountReport;

impl<T: Send + 'static> Context<T> {
    /// A snapshot of the pool's size, for tests and introspection.
    pub fn threads(&self) -> (usize, usize) {
        self.shared.threads()
    }

    /// Counters, histograms and the pool's state now. Takes the context lock once, briefly.
    pub fn stats(&self) -> Result<Snapshot, i32> {
        self.alive()?;
        Ok(self.shared.snapshot())
    }

    /// The filesystems with a request queued, or a syscall running, for at least `min_age`,
    /// oldest first (abandoned syscalls and owed closes included: they show a filesystem
    /// that is still stuck).
    pub fn blocked_mounts(&self, min_age: Duration) -> Result<Vec<MountReport>, i32> {
        self.alive()?;
        Ok(self.shared.blocked_mounts(min_age))
    }

    /// [`Context::blocked_mounts`], each with its mount in the current mount table (looked
    /// up once for the whole list; None for a filesystem no longer mounted).
    pub fn blocked_mounts_described(
        &self,
        min_age: Duration,
    ) -> Result<Vec<(MountReport, Option<Mount>)>, i32> {
        let reports = self.blocked_mounts(min_age)?;
        let table = fs::current();
        Ok(reports
            .into_iter()
            .map(|m| {
                let mount = table.mount_of_fs(m.fs).cloned();
                (m, mount)
            })
            .collect())
    }

    /// Names a delivered mount event's filesystem by its mount in the current mount table
    /// (which keeps departed filesystems' names), unless the change named it already.
    pub fn describe_change(&self, c: &mut crate::fs::change::MountChange) {
        if c.mount.is_none() {
            c.mount = fs::current().mount_of_fs(c.fs).cloned();
        }
    }
}
