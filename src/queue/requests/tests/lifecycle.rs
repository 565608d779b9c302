//! A request from submit to delivery: ids, the depth, completion order and readiness, a
//! stat's output, the counters.

use super::*;
use crate::op::StatxBuf;

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
