//! A request from submit to delivery: ids, the hand-off and the delivery report, completion
//! order, a stat's output, the counters.

use super::*;
use crate::op::StatxBuf;

#[test]
fn ids_are_positive_and_unique() {
    let mut t = Requests::new(None, usize::MAX, usize::MAX);
    let now = Instant::now();
    let ids: Vec<_> = (0..50).map(|_| submit(&mut t, open_op(), (), now)).collect();
    assert!(ids.iter().all(|&i| i > 0));
    let set: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(set.len(), ids.len());
}

#[test]
fn a_request_stays_until_its_delivery_is_reported() {
    let mut t = table();
    let now = Instant::now();
    let id = submit(&mut t, open_op(), "a", now);
    assert_eq!(t.queued(), 1);
    let (taken, _, _) = t.take_work(now).unwrap();
    assert_eq!(taken, id);
    t.finish(id, OpKind::Open, 7, None, now);
    assert_eq!(t.ready(), 1);
    let c = t.flush_ready().unwrap();
    assert_eq!((c.id, c.result, c.op), (id, 7, OpKind::Open));
    // Handed off, not yet delivered: a cancel still finds it (and settles with the loop).
    assert!(t.handed_off_open(id));
    t.delivered(id);
    assert!(!t.handed_off_open(id));
    assert_eq!(t.cancel(id, libc::ECANCELED, now), Err(CancelError::NotFound));
    assert_eq!((t.queued(), t.running(), t.ready()), (0, 0, 0));
}

#[test]
fn completions_are_delivered_in_completion_order() {
    let mut t = table();
    let [a, b] = started(&mut t, ["a", "b"]);
    t.finish(b, OpKind::Open, 4, None, Instant::now());
    t.finish(a, OpKind::Open, 3, None, Instant::now());
    assert_eq!(deliver(&mut t).unwrap().token, "b");
    assert_eq!(deliver(&mut t).unwrap().token, "a");
    assert!(deliver(&mut t).is_none());
}

#[test]
fn a_stat_result_is_kept_for_delivery_only_while_someone_waits_for_it() {
    let mut t: Requests<&str> = Requests::new(None, usize::MAX, usize::MAX);
    let now = Instant::now();
    let stat = |t: &mut Requests<&str>, tok| {
        let op = Op::Stat { path: CString::new("/x").unwrap(), flags: 0, mask: 0, out: StatxBuf::new() };
        let id = submit(t, op, tok, now);
        let (_, op, _) = t.take_work(now).unwrap();
        (id, op.into_output())
    };
    let (ok, out) = stat(&mut t, "ok");
    t.finish(ok, OpKind::Stat, 0, out, now);
    let c = deliver(&mut t).unwrap();
    assert!(c.out.is_some() && c.op == OpKind::Stat);
    let (failed, out) = stat(&mut t, "failed");
    t.finish(failed, OpKind::Stat, -libc::ENOENT, out, now);
    assert!(deliver(&mut t).unwrap().out.is_none(), "a failed stat has nothing to copy");
    let (cancelled, out) = stat(&mut t, "cancelled");
    t.cancel(cancelled, libc::ECANCELED, now).unwrap();
    assert!(deliver(&mut t).unwrap().out.is_none());
    t.finish(cancelled, OpKind::Stat, 0, out, now); // the late result is dropped
    assert_eq!((t.running(), t.ready(), t.held_bytes()), (0, 0, 0));
}

#[test]
fn counters_follow_each_request() {
    let mut t: Requests<()> = Requests::new(None, usize::MAX, usize::MAX);
    let t0 = Instant::now();
    let a = submit(&mut t, open_op(), (), t0);
    let b = submit(&mut t, open_op(), (), t0);
    assert!(t.unsubmit(b).is_some());
    t.take_work(t0 + Duration::from_micros(300)).unwrap();
    t.finish(a, OpKind::Open, 3, None, Instant::now());
    deliver(&mut t).unwrap();
    let c = t.counters();
    assert_eq!((c.submitted, c.delivered, c.cancelled, c.timed_out), (1, 1, 0, 0));
    assert_eq!(c.queue_wait.0[8], 1, "300 us lands in [256, 512)");
}
