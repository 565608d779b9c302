//! Per-filesystem fairness as the table applies it: shares, abandoned syscalls holding
//! theirs, the blocked budget, held blocked filesystems, finished ones forgotten.

use super::*;

#[test]
fn a_mount_at_its_share_waits_while_others_go_ahead() {
    let mut t: Requests<u32> = Requests::new(None, 3, usize::MAX);
    let now = Instant::now();
    let dead: Vec<Id> = (0..5).map(|i| submit_on(&mut t, 1, open_op(), i, now)).collect();
    let ok: Vec<Id> = (0..3).map(|i| submit_on(&mut t, 2, open_op(), 10 + i, now)).collect();
    assert_eq!((t.queued(), t.startable()), (8, 6), "mount 1 can start 3 of its 5");
    let order: Vec<Id> = std::iter::from_fn(|| t.take_work(now).map(|(id, _, _)| id)).collect();
    assert_eq!(order, vec![dead[0], dead[1], dead[2], ok[0], ok[1], ok[2]], "oldest first, within shares");
    assert_eq!((t.queued(), t.startable(), t.oldest_startable_wait(now)), (2, 0, None));
    // One of mount 1's syscalls returns: its next request may start.
    t.finish(dead[0], OpKind::Open, -libc::ENOENT, None, Instant::now());
    assert_eq!(t.startable(), 1);
    assert_eq!(t.take_work(now).unwrap().0, dead[3]);
    // A cancelled queued request leaves its mount's queue.
    t.cancel(dead[4], libc::ECANCELED, Instant::now()).unwrap();
    assert_eq!((t.queued(), t.startable(), t.mounts()), (0, 0, 2));
    assert_eq!(t.counters().cancelled, 1);
}

#[test]
fn abandoned_syscalls_hold_their_mount_share_until_they_return() {
    let mut t: Requests<u32> = Requests::new(Some(Duration::from_millis(10)), 1, usize::MAX);
    let t0 = Instant::now();
    let a = submit_on(&mut t, 1, open_op(), 0, t0);
    let b = submit_on(&mut t, 1, open_op(), 1, t0 + Duration::from_millis(20));
    assert_eq!(t.take_work(t0).unwrap().0, a);
    t.expire(t0 + Duration::from_millis(10));
    assert_eq!((t.abandoned(), t.running(), t.counters().timed_out), (1, 1, 1));
    assert_eq!(t.startable(), 0, "the abandoned syscall still holds mount 1's share");
    let r = t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_millis(5));
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].fs, r[0].queued, r[0].running, r[0].abandoned, r[0].blocked), (1, 1, 1, 1, 2));
    assert_eq!(r[0].oldest, Duration::from_millis(25));
    assert!(t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_secs(1)).is_empty());
    t.finish(a, OpKind::Open, 40, None, Instant::now());
    assert_eq!(t.ready(), 1, "only the timed-out completion");
    assert_eq!((t.abandoned(), t.startable(), t.owed()), (0, 1, 1), "the late fd is owed a close");
    assert_eq!(t.take_work(t0).unwrap().0, b, "oldest first: the owed close waits for the share");
    assert_eq!(t.take_queued_owed(), vec![40]);
    // Shutdown abandons what still runs, and it is counted until it returns.
    t.shutdown(Instant::now());
    assert_eq!((t.abandoned(), t.mounts()), (1, 1));
    t.finish(b, OpKind::Open, -1, None, Instant::now());
    assert_eq!((t.abandoned(), t.mounts(), t.running()), (0, 0, 0));
}

#[test]
fn blocked_filesystems_share_one_budget_and_leave_healthy_ones_startable() {
    let mut t: Requests<u32> = Requests::new(None, 4, 6);
    let t0 = Instant::now();
    for fs in 1..=3 {
        for i in 0..10 {
            submit_on(&mut t, fs, open_op(), i, t0);
        }
    }
    let running: Vec<Id> = (0..12).map(|_| t.take_work(t0).unwrap().0).collect();
    assert_eq!(t.startable(), 0, "each filesystem holds its share");
    let later = t0 + Duration::from_millis(10);
    assert_eq!(t.mark_blocked(later, |_| true), 3);
    assert_eq!((t.blocked_running(), t.off_budget()), (12, 12));
    let healthy = submit_on(&mut t, 9, open_op(), 99, later);
    assert_eq!(t.startable(), 1, "a healthy filesystem still starts");
    // A blocked syscall returns: its filesystem may start one more by its share, but the
    // budget (6) is spent by the 11 still running.
    t.finish(running[0], OpKind::Open, -libc::EIO, None, later);
    assert_eq!((t.startable(), t.take_work(later).unwrap().0), (1, healthy));
    assert!(t.take_work(later).is_none());
    // A filesystem stays blocked while a syscall of it is older than the threshold, and
    // is unmarked when none is: then its queue starts again, on the budget.
    assert_eq!(t.mark_blocked(t0 - Duration::from_millis(1), |_| true), 0);
    assert_eq!((t.blocked_running(), t.off_budget()), (0, 0));
    assert_eq!(t.startable(), 1);
    // Asked again with every syscall old and asleep: marked again.
    assert_eq!(t.mark_blocked(later - Duration::from_millis(1), |_| true), 3);
    assert_eq!(t.off_budget(), 11, "the healthy syscall is not off budget");
}

#[test]
fn held_blocked_filesystems_start_nothing_and_healthy_ones_still_start() {
    let mut t: Requests<u32> = Requests::new(None, 2, 8);
    let t0 = Instant::now();
    for i in 0..4 {
        submit_on(&mut t, 1, open_op(), i, t0);
    }
    let first = t.take_work(t0).unwrap().0;
    let later = t0 + Duration::from_millis(10);
    assert_eq!(t.oldest_unblocked_syscall(), Some(t0));
    assert_eq!(t.mark_blocked(later, |_| true), 1);
    assert_eq!(t.oldest_unblocked_syscall(), None, "nothing left to mark");
    assert_eq!((t.startable(), t.held()), (1, 0));
    // At the cap: the blocked filesystem's startable request is held, a healthy one not.
    t.hold_blocked(true);
    assert_eq!((t.startable(), t.held()), (0, 1));
    let healthy = submit_on(&mut t, 2, open_op(), 9, later);
    assert_eq!(t.take_work(later).unwrap().0, healthy, "the older blocked request waits");
    assert!(t.take_work(later).is_none());
    assert_eq!(t.oldest_unblocked_syscall(), Some(later));
    t.hold_blocked(false);
    assert_eq!((t.startable(), t.held()), (1, 0));
    assert_ne!(t.take_work(later).unwrap().0, first);
}

#[test]
fn finished_mounts_are_forgotten_past_a_few() {
    let mut t: Requests<()> = Requests::new(None, 2, usize::MAX);
    let now = Instant::now();
    for m in 0..200 {
        let id = submit_on(&mut t, m, open_op(), (), now);
        assert_eq!(t.take_work(now).unwrap().0, id);
        t.finish(id, OpKind::Open, -1, None, Instant::now());
        deliver(&mut t).unwrap();
    }
    assert_eq!(t.mounts(), 0, "none has work");
    assert!(t.sched.kept() <= 65, "{} entries kept", t.sched.kept());
    assert!(!t.sched.has_runnable());
}
