//! Blocked marking: which filesystems count as blocked, from the ages of their running
//! syscalls.
//!
//! A filesystem is blocked while it has a syscall that started before a threshold (the context's
//! blocked threshold, `config::Resolved::blocked`) and that the kernel reports asleep: a syscall
//! merely waiting for a CPU never counts. Marking takes the filesystem's workers off the
//! budget (see [`super::shares`]). The watchdog decides when to look; the request table
//! hands over its running syscalls and applies the answer with [`Scheduler::set_blocked`].

use super::shares::Scheduler;
use super::ReqId;
use crate::fs::FsId;
use std::time::Instant;

/// The filesystems to mark blocked, sorted: those with a syscall (`(filesystem, request,
/// started)`, in any order) running since before `since` for which `asleep(request)` holds.
/// A filesystem already blocked stays so while it has any syscall older than `since`,
/// without asking again; `asleep` is asked at most until one syscall of a filesystem
/// answers yes.
pub fn blocked(
    sched: &Scheduler,
    syscalls: impl Iterator<Item = (FsId, ReqId, Instant)>,
    since: Instant,
    mut asleep: impl FnMut(ReqId) -> bool,
) -> Vec<FsId> {
    let mut old: Vec<(FsId, ReqId)> =
        syscalls.filter(|&(_, _, started)| started <= since).map(|(fs, id, _)| (fs, id)).collect();
    old.sort_unstable();
    let mut blocked: Vec<FsId> = Vec::new();
    for (fs, id) in old {
        if blocked.last() == Some(&fs) {
            continue;
        }
        if sched.is_blocked(fs) || asleep(id) {
            blocked.push(fs);
        }
    }
    blocked
}

/// When the oldest syscall running on a filesystem not marked blocked started: the earliest
/// a further marking could mark one.
pub fn oldest_unblocked(
    sched: &Scheduler,
    syscalls: impl Iterator<Item = (FsId, ReqId, Instant)>,
) -> Option<Instant> {
    syscalls.filter(|&(fs, _, _)| !sched.is_blocked(fs)).map(|(_, _, started)| started).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn old_asleep_syscalls_mark_their_filesystem_once() {
        let mut s = Scheduler::new(4, 1);
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        for (fs, id) in [(1, 10), (1, 11), (2, 20), (3, 30)] {
            s.push(fs, id, id);
            s.start(fs, id, false);
        }
        let running = [(1, 10, t0), (1, 11, t0), (2, 20, t0), (3, 30, later)];
        let mut asked = Vec::new();
        let b = blocked(&s, running.into_iter(), t0, |id| {
            asked.push(id);
            id != 20
        });
        assert_eq!(b, vec![1], "fs 3 is too young, fs 2's syscall is not asleep");
        assert_eq!(asked, vec![10, 20], "one yes per filesystem is enough");
        s.set_blocked(&b);
        assert_eq!(oldest_unblocked(&s, running.into_iter()), Some(t0), "fs 2's");

        let b = blocked(&s, running.into_iter(), t0, |_| false);
        assert_eq!(b, vec![1], "a blocked filesystem stays so without asking");
        let b = blocked(&s, running.into_iter(), t0 - Duration::from_millis(1), |_| true);
        assert!(b.is_empty(), "nothing is that old");
    }
}
