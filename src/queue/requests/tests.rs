//! The request state machine's unit tests.

use super::*;
use crate::mem::bytes::Bytes;
use crate::op::StatxBuf;
use std::ffi::CString;

fn open_op() -> Op {
    Op::Open { path: CString::new("/x").unwrap(), flags: 0, mode: 0 }
}

fn table() -> Requests<&'static str> {
    Requests::new(4, None)
}

/// Submits one open per token and lets workers take them all: they are Running.
fn started<const N: usize>(t: &mut Requests<&'static str>, tokens: [&'static str; N]) -> [Id; N] {
    let now = Instant::now();
    let ids = tokens.map(|tok| t.submit(open_op(), tok, now).unwrap());
    for _ in 0..N {
        t.take_work(Instant::now()).unwrap();
    }
    ids
}

#[test]
fn an_owed_close_that_finds_every_slot_taken_waits_for_the_next_free_one() {
    let mut t: Requests<&str> = Requests::with_slots(2, 10);
    let now = Instant::now();
    let a = t.submit(open_op(), "a", now).unwrap();
    t.take_work(now).unwrap();
    t.submit(open_op(), "b", now).unwrap();
    assert_eq!(t.submit(open_op(), "c", now).unwrap_err(), (libc::EAGAIN, "c"), "no slot left");
    t.cancel(a, libc::ECANCELED, now).unwrap();
    // a's late fd is owed a close, but a (undelivered) and b hold both slots.
    t.finish(a, OpKind::Open, 7, now);
    assert_eq!((t.owed(), t.queued()), (1, 2));
    assert_eq!(t.pop_ready().unwrap().token, "a");
    assert_eq!(t.queued(), 2, "a's slot went to the owed close");
    assert_eq!(t.take_queued_owed(), vec![7]);
    assert_eq!((t.owed(), t.queued(), t.outstanding()), (0, 1, 1));
}

#[test]
fn a_running_call_other_than_open_is_cancelled_at_once_and_a_done_one_is_not() {
    let mut t: Requests<&str> = Requests::new(4, None);
    let now = Instant::now();
    let sync = t.submit(Op::Fsync { fd: 3, datasync: false }, "sync", now).unwrap();
    let (id, op, _) = t.take_work(now).unwrap();
    assert_eq!((id, op.kind()), (sync, OpKind::Fsync));
    assert!(t.cancel(sync, libc::ECANCELED, now).unwrap().became_ready);
    assert_eq!(t.abandoned(), 1);
    let c = t.pop_ready().unwrap();
    assert_eq!((c.op, c.result), (OpKind::Fsync, -libc::ECANCELED));
    // Its syscall returns later: nothing is owed (it opened nothing), nothing delivered.
    t.finish(sync, OpKind::Fsync, 0, now);
    assert_eq!((t.owed(), t.running(), t.abandoned(), t.ready()), (0, 0, 0, 0));

    let path = CString::new("/x").unwrap();
    let unlink = t.submit(Op::Unlink { path, flags: 0 }, "unlink", now).unwrap();
    t.take_work(now).unwrap();
    t.finish(unlink, OpKind::Unlink, 0, now);
    assert_eq!(t.cancel(unlink, libc::ECANCELED, now), Err(CancelError::Already), "it took effect");
    assert_eq!(t.pop_ready().unwrap().result, 0);
}

#[test]
fn a_stat_result_is_kept_for_delivery_only_while_someone_waits_for_it() {
    let mut t: Requests<&str> = Requests::new(4, None);
    let now = Instant::now();
    let stat = |t: &mut Requests<&str>, tok| {
        let op = Op::Stat { path: CString::new("/x").unwrap(), flags: 0, mask: 0, out: StatxBuf::new() };
        let id = t.submit(op, tok, now).unwrap();
        let (_, op, _) = t.take_work(now).unwrap();
        (id, op.into_output())
    };
    let (ok, out) = stat(&mut t, "ok");
    t.finish_with(ok, OpKind::Stat, 0, out, now);
    let c = t.pop_ready().unwrap();
    assert!(c.out.is_some() && c.op == OpKind::Stat);
    let (failed, out) = stat(&mut t, "failed");
    t.finish_with(failed, OpKind::Stat, -libc::ENOENT, out, now);
    assert!(t.pop_ready().unwrap().out.is_none(), "a failed stat has nothing to copy");
    let (cancelled, out) = stat(&mut t, "cancelled");
    t.cancel(cancelled, libc::ECANCELED, now).unwrap();
    assert!(t.pop_ready().unwrap().out.is_none());
    t.finish_with(cancelled, OpKind::Stat, 0, out, now); // the late result is dropped
    assert_eq!((t.running(), t.ready(), t.outstanding()), (0, 0, 0));
}

#[test]
fn ids_are_positive_and_unique() {
    let mut t = Requests::new(100, None);
    let now = Instant::now();
    let ids: Vec<_> = (0..50).map(|_| t.submit(open_op(), (), now).unwrap()).collect();
    assert!(ids.iter().all(|&i| i > 0));
    let set: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(set.len(), ids.len());
}

#[test]
fn depth_bounds_undelivered_and_delivery_makes_room() {
    let mut t = table();
    let now = Instant::now();
    for _ in 0..4 {
        t.submit(open_op(), "a", now).unwrap();
    }
    assert_eq!(t.submit(open_op(), "b", now).unwrap_err(), (libc::EAGAIN, "b"));
    assert_eq!(t.queued(), 4);
    let (id, _, _) = t.take_work(Instant::now()).unwrap();
    // Finished but not delivered still counts against the depth.
    assert!(t.finish(id, OpKind::Open, 7, Instant::now()).became_ready);
    assert!(t.submit(open_op(), "b", now).is_err());
    let c = t.pop_ready().unwrap();
    assert_eq!((c.id, c.result, c.op), (id, 7, OpKind::Open));
    assert!(t.submit(open_op(), "b", now).is_ok());
}

#[test]
fn completion_order_and_coalesced_readiness() {
    let mut t = table();
    let [a, b] = started(&mut t, ["a", "b"]);
    assert!(t.finish(b, OpKind::Open, 4, Instant::now()).became_ready);
    assert!(
        !t.finish(a, OpKind::Open, 3, Instant::now()).became_ready,
        "second completion must not signal again"
    );
    assert_eq!(t.pop_ready().unwrap().token, "b");
    assert_eq!(t.pop_ready().unwrap().token, "a");
    assert!(t.pop_ready().is_none());
}

#[test]
fn cancel_queued_never_runs() {
    let mut t = table();
    let now = Instant::now();
    let a = t.submit(open_op(), "a", now).unwrap();
    let e = t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
    assert_eq!(e, Effect { became_ready: true });
    assert_eq!(t.owed(), 0);
    assert!(t.take_work(Instant::now()).is_none(), "a cancelled request must not run");
    let c = t.pop_ready().unwrap();
    assert_eq!(c.result, -libc::ECANCELED);
    assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::NotFound));
}

#[test]
fn cancel_running_open_then_complete_returns_fd_for_closing() {
    let mut t = table();
    let [a] = started(&mut t, ["a"]);
    assert!(t.cancel(a, libc::ECANCELED, Instant::now()).unwrap().became_ready);
    // Delivered before the syscall returns.
    assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
    assert_eq!(t.running(), 1, "the abandoned syscall is still counted");
    assert_eq!(t.finish(a, OpKind::Open, 9, Instant::now()), Effect { became_ready: false });
    assert_eq!(t.take_queued_owed(), vec![9], "the late fd is owed a close");
    assert_eq!(t.running(), 0);
    assert!(t.pop_ready().is_none(), "delivered exactly once");
}

#[test]
fn cancel_running_open_then_complete_before_delivery() {
    let mut t = table();
    let [a] = started(&mut t, ["a"]);
    t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
    // The worker returns while the cancelled completion is still queued.
    t.finish(a, OpKind::Open, 9, Instant::now());
    assert_eq!(t.take_queued_owed(), vec![9]);
    assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
    assert!(t.pop_ready().is_none());
}

#[test]
fn cancel_running_open_that_fails_closes_nothing() {
    let mut t = table();
    let [a] = started(&mut t, ["a"]);
    t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
    assert_eq!(t.finish(a, OpKind::Open, -libc::ENOENT, Instant::now()), Effect::default());
}

#[test]
fn cancel_done_open_closes_fd_and_keeps_position() {
    let mut t = table();
    let [a, b] = started(&mut t, ["a", "b"]);
    t.finish(a, OpKind::Open, 5, Instant::now());
    t.finish(b, OpKind::Open, 6, Instant::now());
    assert_eq!(t.cancel(b, libc::ECANCELED, Instant::now()).unwrap(), Effect { became_ready: false });
    assert_eq!(t.take_queued_owed(), vec![6]);
    assert_eq!(t.cancel(b, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    assert_eq!(t.pop_ready().unwrap().result, 5);
    assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
}

#[test]
fn close_cancel_rules() {
    let mut t = table();
    let now = Instant::now();
    let a = t.submit(Op::Close { fd: 10 }, "a", now).unwrap();
    let b = t.submit(Op::Close { fd: 11 }, "b", now).unwrap();
    t.take_work(Instant::now()).unwrap();
    assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    assert!(t.cancel(b, libc::ECANCELED, Instant::now()).is_ok(), "a queued close can be cancelled");
    assert!(t.take_work(Instant::now()).is_none());
    t.finish(a, OpKind::Close, 0, Instant::now());
    assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    let c = t.pop_ready().unwrap();
    assert_eq!((c.id, c.result, c.op), (b, -libc::ECANCELED, OpKind::Close));
    assert_eq!(t.pop_ready().unwrap().result, 0);
}

#[test]
fn timeout_is_a_cancel_at_the_deadline() {
    let mut t: Requests<()> = Requests::new(16, Some(Duration::from_millis(100)));
    let t0 = Instant::now();
    let q = t.submit(open_op(), (), t0).unwrap();
    let r = t.submit(open_op(), (), t0).unwrap();
    let c = t.submit(Op::Close { fd: 3 }, (), t0).unwrap();
    let late = t.submit(open_op(), (), t0 + Duration::from_millis(50)).unwrap();
    // r and c start running; q is cancelled-by-order below.
    let (first, _, _) = t.take_work(Instant::now()).unwrap();
    assert_eq!(first, q);
    t.finish(q, OpKind::Open, 20, Instant::now());
    t.take_work(Instant::now()).unwrap(); // r running
    t.take_work(Instant::now()).unwrap(); // c (close) running: no timeout can reach it
    assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(100)));
    assert!(!t.expire(t0 + Duration::from_millis(99)));
    t.expire(t0 + Duration::from_millis(100));
    assert_eq!(t.owed(), 0);
    assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(150)));
    let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
    assert_eq!(got, vec![(q, 20), (r, -libc::ETIMEDOUT)]);
    t.finish(r, OpKind::Open, 21, Instant::now());
    assert_eq!(t.take_queued_owed(), vec![21], "late fd of a timed-out open is owed a close");
    assert!(t.finish(c, OpKind::Close, 0, Instant::now()).became_ready, "the close still completes normally");
    t.expire(t0 + Duration::from_millis(150));
    let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
    assert_eq!(got, vec![(c, 0), (late, -libc::ETIMEDOUT)]);
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn timeout_vs_cancel_and_complete_races() {
    let t0 = Instant::now();
    let to = Some(Duration::from_millis(10));
    // complete, then deadline passes before delivery: the completion stands.
    let mut t: Requests<()> = Requests::new(8, to);
    let a = t.submit(open_op(), (), t0).unwrap();
    t.take_work(Instant::now());
    t.finish(a, OpKind::Open, 4, Instant::now());
    t.expire(t0 + Duration::from_secs(1));
    assert_eq!(t.owed(), 0);
    assert_eq!(t.pop_ready().unwrap().result, 4);
    // cancel, then deadline: cancel stands, the timeout does nothing.
    let b = t.submit(open_op(), (), t0).unwrap();
    t.cancel(b, libc::ECANCELED, Instant::now()).unwrap();
    t.expire(t0 + Duration::from_secs(1));
    assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
    assert!(t.pop_ready().is_none());
    // deadline, then cancel: EALREADY.
    let c = t.submit(open_op(), (), t0).unwrap();
    t.expire(t0 + Duration::from_secs(1));
    assert_eq!(t.cancel(c, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    assert_eq!(t.pop_ready().unwrap().result, -libc::ETIMEDOUT);
}

#[test]
fn shutdown_returns_every_owned_descriptor() {
    let mut t = Requests::new(16, None);
    let now = Instant::now();
    let done = t.submit(open_op(), (), now).unwrap();
    let running = t.submit(open_op(), (), now).unwrap();
    let _queued_open = t.submit(open_op(), (), now).unwrap();
    let _queued_close = t.submit(Op::Close { fd: 33 }, (), now).unwrap();
    t.take_work(Instant::now());
    t.take_work(Instant::now());
    t.finish(done, OpKind::Open, 30, Instant::now());
    t.shutdown(Instant::now());
    assert_eq!(t.outstanding(), 0);
    // What the caller can no longer receive is owed a close, which still runs.
    let mut closes = vec![];
    while let Some((id, op, _)) = t.take_work(Instant::now()) {
        let Op::Close { fd } = op else { panic!("only closes run after shutdown") };
        closes.push(fd);
        t.finish(id, OpKind::Close, 0, Instant::now());
    }
    closes.sort();
    assert_eq!(closes, vec![30, 33]);
    assert_eq!((t.owed(), t.abandoned(), t.running()), (0, 1, 1));
    assert!(t.pop_ready().is_none(), "owed closes are never delivered");
    // The running open returns after shutdown: its fd is owed a close.
    t.finish(running, OpKind::Open, 31, Instant::now());
    assert_eq!(t.take_queued_owed(), vec![31]);
}

#[test]
fn unsubmit_removes_all_trace() {
    let mut t: Requests<u8> = Requests::new(2, Some(Duration::from_secs(1)));
    let now = Instant::now();
    let a = t.submit(open_op(), 1, now).unwrap();
    assert_eq!(t.unsubmit(a), Some(1));
    assert_eq!((t.outstanding(), t.queued(), t.next_deadline()), (0, 0, None));
}

#[test]
fn a_mount_at_its_share_waits_while_others_go_ahead() {
    let mut t: Requests<u32> = Requests::with_share(64, None, 3, usize::MAX);
    let now = Instant::now();
    let dead: Vec<Id> = (0..5).map(|i| t.submit_on(1, open_op(), i, now).unwrap()).collect();
    let ok: Vec<Id> = (0..3).map(|i| t.submit_on(2, open_op(), 10 + i, now).unwrap()).collect();
    assert_eq!((t.queued(), t.startable()), (8, 6), "mount 1 can start 3 of its 5");
    let order: Vec<Id> = std::iter::from_fn(|| t.take_work(now).map(|(id, _, _)| id)).collect();
    assert_eq!(order, vec![dead[0], dead[1], dead[2], ok[0], ok[1], ok[2]], "oldest first, within shares");
    assert_eq!((t.queued(), t.startable(), t.oldest_startable_wait(now)), (2, 0, None));
    // One of mount 1's syscalls returns: its next request may start.
    t.finish(dead[0], OpKind::Open, -libc::ENOENT, Instant::now());
    assert_eq!(t.startable(), 1);
    assert_eq!(t.take_work(now).unwrap().0, dead[3]);
    // A cancelled queued request leaves its mount's queue.
    t.cancel(dead[4], libc::ECANCELED, Instant::now()).unwrap();
    assert_eq!((t.queued(), t.startable(), t.mounts()), (0, 0, 2));
    assert_eq!(t.counters().cancelled, 1);
}

#[test]
fn abandoned_syscalls_hold_their_mount_share_until_they_return() {
    let mut t: Requests<u32> = Requests::with_share(64, Some(Duration::from_millis(10)), 1, usize::MAX);
    let t0 = Instant::now();
    let a = t.submit_on(1, open_op(), 0, t0).unwrap();
    let b = t.submit_on(1, open_op(), 1, t0 + Duration::from_millis(20)).unwrap();
    assert_eq!(t.take_work(t0).unwrap().0, a);
    t.expire(t0 + Duration::from_millis(10));
    assert_eq!((t.abandoned(), t.running(), t.counters().timed_out), (1, 1, 1));
    assert_eq!(t.startable(), 0, "the abandoned syscall still holds mount 1's share");
    let r = t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_millis(5));
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].fs, r[0].queued, r[0].running, r[0].abandoned, r[0].blocked), (1, 1, 1, 1, 2));
    assert_eq!(r[0].oldest, Duration::from_millis(25));
    assert!(t.blocked_mounts(t0 + Duration::from_millis(25), Duration::from_secs(1)).is_empty());
    assert!(!t.finish(a, OpKind::Open, 40, Instant::now()).became_ready);
    assert_eq!((t.abandoned(), t.startable(), t.owed()), (0, 1, 1), "the late fd is owed a close");
    assert_eq!(t.take_work(t0).unwrap().0, b, "oldest first: the owed close waits for the share");
    assert_eq!(t.take_queued_owed(), vec![40]);
    // Shutdown abandons what still runs, and it is counted until it returns.
    t.shutdown(Instant::now());
    assert_eq!((t.abandoned(), t.mounts()), (1, 1));
    t.finish(b, OpKind::Open, -1, Instant::now());
    assert_eq!((t.abandoned(), t.mounts(), t.running()), (0, 0, 0));
}

#[test]
fn blocked_filesystems_share_one_budget_and_leave_healthy_ones_startable() {
    let mut t: Requests<u32> = Requests::with_share(64, None, 4, 6);
    let t0 = Instant::now();
    for fs in 1..=3 {
        for i in 0..10 {
            t.submit_on(fs, open_op(), i, t0).unwrap();
        }
    }
    let running: Vec<Id> = (0..12).map(|_| t.take_work(t0).unwrap().0).collect();
    assert_eq!(t.startable(), 0, "each filesystem holds its share");
    let later = t0 + Duration::from_millis(10);
    assert_eq!(t.mark_blocked(later, |_| true), 3);
    assert_eq!((t.blocked_running(), t.off_budget()), (12, 12));
    let healthy = t.submit_on(9, open_op(), 99, later).unwrap();
    assert_eq!(t.startable(), 1, "a healthy filesystem still starts");
    // A blocked syscall returns: its filesystem may start one more by its share, but the
    // budget (6) is spent by the 11 still running.
    t.finish(running[0], OpKind::Open, -libc::EIO, later);
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
    let mut t: Requests<u32> = Requests::with_share(64, None, 2, 8);
    let t0 = Instant::now();
    for i in 0..4 {
        t.submit_on(1, open_op(), i, t0).unwrap();
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
    let healthy = t.submit_on(2, open_op(), 9, later).unwrap();
    assert_eq!(t.take_work(later).unwrap().0, healthy, "the older blocked request waits");
    assert!(t.take_work(later).is_none());
    assert_eq!(t.oldest_unblocked_syscall(), Some(later));
    t.hold_blocked(false);
    assert_eq!((t.startable(), t.held()), (1, 0));
    assert_ne!(t.take_work(later).unwrap().0, first);
}

#[test]
fn a_cancelled_calls_buffer_stays_counted_until_its_syscall_returns() {
    let mut t: Requests<u32> = Requests::new(8, None);
    let now = Instant::now();
    let write = Op::Write { fd: 3, offset: 0, data: Bytes::copy_of(b"data") };
    let read = t.submit(Op::Read { fd: 3, offset: 0, buf: Bytes::with_capacity(100) }, 1, now).unwrap();
    let w = t.submit(write, 2, now).unwrap();
    let held = t.held_bytes();
    assert!(held >= 104);
    assert_eq!(t.take_work(now).unwrap().0, read);
    assert_eq!(t.take_work(now).unwrap().0, w);
    t.cancel(read, libc::ECANCELED, now).unwrap();
    assert_eq!((t.abandoned(), t.abandoned_bytes(), t.held_bytes()), (1, held - 4, held));
    // Delivering the cancel frees no budget: the kernel may still write the buffer.
    assert_eq!(t.pop_ready().unwrap().token, 1);
    assert_eq!((t.abandoned_bytes(), t.held_bytes()), (held - 4, held));
    t.shutdown(now);
    assert_eq!((t.abandoned(), t.abandoned_bytes()), (2, held));
    t.finish(read, OpKind::Read, -libc::EIO, now);
    assert_eq!((t.abandoned_bytes(), t.held_bytes()), (4, 4));
    t.finish(w, OpKind::Write, 4, now);
    assert_eq!((t.abandoned(), t.abandoned_bytes(), t.held_bytes()), (0, 0, 0));
}

#[test]
fn owed_closes_run_but_are_never_delivered_nor_refused() {
    let mut t: Requests<u32> = Requests::new(1, None);
    let now = Instant::now();
    let a = t.submit(open_op(), 1, now).unwrap();
    assert!(t.submit(open_op(), 2, now).is_err(), "depth 1");
    t.owe_close(7, 40, now);
    t.owe_close(7, 41, now);
    assert_eq!((t.owed(), t.outstanding(), t.queued()), (2, 1, 3));
    assert_eq!(
        t.cancel(a + 1, libc::ECANCELED, now),
        Err(CancelError::NotFound),
        "owed closes are not the caller's"
    );
    let mut ran = vec![];
    while let Some((id, op, _)) = t.take_work(now) {
        ran.push(id);
        if let Op::Close { .. } = op {
            assert_eq!(t.abandoned(), 1, "a running owed close is abandoned: nobody waits for it");
        }
        t.finish(id, op.kind(), 0, now);
    }
    assert_eq!(ran.len(), 3);
    assert_eq!(t.pop_ready().unwrap().id, a);
    assert!(t.pop_ready().is_none());
    assert_eq!((t.owed(), t.counters().owed_closes, t.abandoned()), (0, 2, 0));
}

#[test]
fn counters_follow_each_request() {
    let mut t: Requests<()> = Requests::new(8, None);
    let t0 = Instant::now();
    let a = t.submit(open_op(), (), t0).unwrap();
    let b = t.submit(open_op(), (), t0).unwrap();
    assert!(t.unsubmit(b).is_some());
    t.take_work(t0 + Duration::from_micros(300)).unwrap();
    t.finish(a, OpKind::Open, 3, Instant::now());
    t.pop_ready().unwrap();
    let c = t.counters();
    assert_eq!((c.submitted, c.delivered, c.cancelled, c.timed_out), (1, 1, 0, 0));
    assert_eq!(c.queue_wait.0[8], 1, "300 us lands in [256, 512)");
}

#[test]
fn finished_mounts_are_forgotten_past_a_few() {
    let mut t: Requests<()> = Requests::with_share(1000, None, 2, usize::MAX);
    let now = Instant::now();
    for m in 0..200 {
        let id = t.submit_on(m, open_op(), (), now).unwrap();
        assert_eq!(t.take_work(now).unwrap().0, id);
        t.finish(id, OpKind::Open, -1, Instant::now());
        t.pop_ready().unwrap();
    }
    assert_eq!(t.mounts(), 0, "none has work");
    assert!(t.sched.kept() <= 65, "{} entries kept", t.sched.kept());
    assert!(!t.sched.has_runnable());
}
