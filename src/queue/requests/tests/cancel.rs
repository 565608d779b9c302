//! Requests ended before they finish: cancel, timeout, shutdown, unsubmit, and what each
//! leaves running (an abandoned syscall, its buffer, a late descriptor owed a close).

use super::*;
use crate::mem::bytes::Bytes;

#[test]
fn a_running_call_other_than_open_is_cancelled_at_once_and_a_done_one_is_not() {
    let mut t: Requests<&str> = Requests::new(None, usize::MAX, usize::MAX);
    let now = Instant::now();
    let sync = submit(&mut t, Op::Fsync { fd: 3, datasync: false, wait: false }, "sync", now);
    let (id, op, _) = t.take_work(now).unwrap();
    assert_eq!((id, op.kind()), (sync, OpKind::Fsync));
    t.cancel(sync, libc::ECANCELED, now).unwrap();
    assert_eq!(t.ready(), 1);
    assert_eq!(t.abandoned(), 1);
    let c = deliver(&mut t).unwrap();
    assert_eq!((c.op, c.result), (OpKind::Fsync, -libc::ECANCELED));
    // Its syscall returns later: nothing is owed (it opened nothing), nothing delivered.
    t.finish(sync, OpKind::Fsync, 0, None, now);
    assert_eq!((t.owed(), t.running(), t.abandoned(), t.ready()), (0, 0, 0, 0));

    let path = CString::new("/x").unwrap();
    let unlink = submit(&mut t, Op::Unlink { path, flags: 0 }, "unlink", now);
    t.take_work(now).unwrap();
    t.finish(unlink, OpKind::Unlink, 0, None, now);
    assert_eq!(t.cancel(unlink, libc::ECANCELED, now), Err(CancelError::Already), "it took effect");
    assert_eq!(deliver(&mut t).unwrap().result, 0);
}

#[test]
fn cancel_queued_never_runs() {
    let mut t = table();
    let now = Instant::now();
    let a = submit(&mut t, open_op(), "a", now);
    t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
    assert_eq!(t.ready(), 1);
    assert_eq!(t.owed(), 0);
    assert!(t.take_work(Instant::now()).is_none(), "a cancelled request must not run");
    let c = deliver(&mut t).unwrap();
    assert_eq!(c.result, -libc::ECANCELED);
    assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::NotFound));
}

#[test]
fn cancel_running_open_then_complete_returns_fd_for_closing() {
    let mut t = table();
    let [a] = started(&mut t, ["a"]);
    t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
    assert_eq!(t.ready(), 1);
    // Delivered before the syscall returns.
    assert_eq!(deliver(&mut t).unwrap().result, -libc::ECANCELED);
    assert_eq!(t.running(), 1, "the abandoned syscall is still counted");
    t.finish(a, OpKind::Open, 9, None, Instant::now());
    assert_eq!(t.ready(), 0, "nothing more to deliver");
    assert_eq!(t.take_queued_owed(), vec![9], "the late fd is owed a close");
    assert_eq!(t.running(), 0);
    assert!(deliver(&mut t).is_none(), "delivered exactly once");
}

#[test]
fn cancel_running_open_then_complete_before_delivery() {
    let mut t = table();
    let [a] = started(&mut t, ["a"]);
    t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
    // The worker returns while the cancelled completion is still queued.
    t.finish(a, OpKind::Open, 9, None, Instant::now());
    assert_eq!(t.take_queued_owed(), vec![9]);
    assert_eq!(deliver(&mut t).unwrap().result, -libc::ECANCELED);
    assert!(deliver(&mut t).is_none());
}

#[test]
fn cancel_running_open_that_fails_closes_nothing() {
    let mut t = table();
    let [a] = started(&mut t, ["a"]);
    t.cancel(a, libc::ECANCELED, Instant::now()).unwrap();
    t.finish(a, OpKind::Open, -libc::ENOENT, None, Instant::now());
    assert_eq!((t.ready(), t.owed()), (1, 0), "the cancel alone, no descriptor owed");
}

#[test]
fn cancel_done_open_closes_fd_and_keeps_position() {
    let mut t = table();
    let [a, b] = started(&mut t, ["a", "b"]);
    t.finish(a, OpKind::Open, 5, None, Instant::now());
    t.finish(b, OpKind::Open, 6, None, Instant::now());
    t.cancel(b, libc::ECANCELED, Instant::now()).unwrap();
    assert_eq!(t.ready(), 2, "b keeps its place");
    assert_eq!(t.take_queued_owed(), vec![6]);
    assert_eq!(t.cancel(b, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    assert_eq!(deliver(&mut t).unwrap().result, 5);
    assert_eq!(deliver(&mut t).unwrap().result, -libc::ECANCELED);
}

#[test]
fn close_cancel_rules() {
    let mut t = table();
    let now = Instant::now();
    let a = submit(&mut t, Op::Close { fd: 10 }, "a", now);
    let b = submit(&mut t, Op::Close { fd: 11 }, "b", now);
    t.take_work(Instant::now()).unwrap();
    assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    assert!(t.cancel(b, libc::ECANCELED, Instant::now()).is_ok(), "a queued close can be cancelled");
    assert!(t.take_work(Instant::now()).is_none());
    t.finish(a, OpKind::Close, 0, None, Instant::now());
    assert_eq!(t.cancel(a, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    let c = deliver(&mut t).unwrap();
    assert_eq!((c.id, c.result, c.op), (b, -libc::ECANCELED, OpKind::Close));
    assert_eq!(deliver(&mut t).unwrap().result, 0);
}

#[test]
fn timeout_is_a_cancel_at_the_deadline() {
    let mut t: Requests<()> = Requests::new(Some(Duration::from_millis(100)), usize::MAX, usize::MAX);
    let t0 = Instant::now();
    let q = submit(&mut t, open_op(), (), t0);
    let r = submit(&mut t, open_op(), (), t0);
    let c = submit(&mut t, Op::Close { fd: 3 }, (), t0);
    let late = submit(&mut t, open_op(), (), t0 + Duration::from_millis(50));
    // r and c start running; q is cancelled-by-order below.
    let (first, _, _) = t.take_work(Instant::now()).unwrap();
    assert_eq!(first, q);
    t.finish(q, OpKind::Open, 20, None, Instant::now());
    t.take_work(Instant::now()).unwrap(); // r running
    t.take_work(Instant::now()).unwrap(); // c (close) running: no timeout can reach it
    assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(100)));
    assert!(!t.expire(t0 + Duration::from_millis(99)));
    assert!(!t.expire(t0 + Duration::from_millis(100)), "q's completion was ready already");
    assert_eq!(t.owed(), 0);
    assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(150)));
    let got: Vec<_> = std::iter::from_fn(|| deliver(&mut t)).map(|c| (c.id, c.result)).collect();
    assert_eq!(got, vec![(q, 20), (r, -libc::ETIMEDOUT)]);
    t.finish(r, OpKind::Open, 21, None, Instant::now());
    assert_eq!(t.take_queued_owed(), vec![21], "late fd of a timed-out open is owed a close");
    assert!(t.expire(t0 + Duration::from_millis(150)), "late's timeout is the first ready");
    t.finish(c, OpKind::Close, 0, None, Instant::now());
    assert_eq!(t.ready(), 2, "the close still completes normally");
    let got: Vec<_> = std::iter::from_fn(|| deliver(&mut t)).map(|c| (c.id, c.result)).collect();
    assert_eq!(got, vec![(late, -libc::ETIMEDOUT), (c, 0)]);
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn timeout_vs_cancel_and_complete_races() {
    let t0 = Instant::now();
    let to = Some(Duration::from_millis(10));
    // complete, then deadline passes before delivery: the completion stands.
    let mut t: Requests<()> = Requests::new(to, usize::MAX, usize::MAX);
    let a = submit(&mut t, open_op(), (), t0);
    t.take_work(Instant::now());
    t.finish(a, OpKind::Open, 4, None, Instant::now());
    t.expire(t0 + Duration::from_secs(1));
    assert_eq!(t.owed(), 0);
    assert_eq!(deliver(&mut t).unwrap().result, 4);
    // cancel, then deadline: cancel stands, the timeout does nothing.
    let b = submit(&mut t, open_op(), (), t0);
    t.cancel(b, libc::ECANCELED, Instant::now()).unwrap();
    t.expire(t0 + Duration::from_secs(1));
    assert_eq!(deliver(&mut t).unwrap().result, -libc::ECANCELED);
    assert!(deliver(&mut t).is_none());
    // deadline, then cancel: EALREADY.
    let c = submit(&mut t, open_op(), (), t0);
    t.expire(t0 + Duration::from_secs(1));
    assert_eq!(t.cancel(c, libc::ECANCELED, Instant::now()), Err(CancelError::Already));
    assert_eq!(deliver(&mut t).unwrap().result, -libc::ETIMEDOUT);
}

#[test]
fn shutdown_returns_every_owned_descriptor() {
    let mut t = Requests::new(None, usize::MAX, usize::MAX);
    let now = Instant::now();
    let done = submit(&mut t, open_op(), (), now);
    let running = submit(&mut t, open_op(), (), now);
    let _queued_open = submit(&mut t, open_op(), (), now);
    let _queued_close = submit(&mut t, Op::Close { fd: 33 }, (), now);
    t.take_work(Instant::now());
    t.take_work(Instant::now());
    t.finish(done, OpKind::Open, 30, None, Instant::now());
    t.shutdown(Instant::now());
    assert_eq!((t.ready(), t.queued()), (0, 2), "the queued open is gone, two closes owed");
    // What the caller can no longer receive is owed a close, which still runs.
    let mut closes = vec![];
    while let Some((id, op, _)) = t.take_work(Instant::now()) {
        let Op::Close { fd } = op else { panic!("only closes run after shutdown") };
        closes.push(fd);
        t.finish(id, OpKind::Close, 0, None, Instant::now());
    }
    closes.sort();
    assert_eq!(closes, vec![30, 33]);
    assert_eq!((t.owed(), t.abandoned(), t.running()), (0, 1, 1));
    assert!(deliver(&mut t).is_none(), "owed closes are never delivered");
    // The running open returns after shutdown: its fd is owed a close.
    t.finish(running, OpKind::Open, 31, None, Instant::now());
    assert_eq!(t.take_queued_owed(), vec![31]);
}

#[test]
fn unsubmit_removes_all_trace() {
    let mut t: Requests<u8> = Requests::new(Some(Duration::from_secs(1)), usize::MAX, usize::MAX);
    let now = Instant::now();
    let a = submit(&mut t, open_op(), 1, now);
    assert_eq!(t.unsubmit(a), Some(1));
    assert_eq!((t.queued(), t.held_bytes(), t.next_deadline()), (0, 0, None));
}

#[test]
fn a_cancelled_calls_buffer_stays_counted_until_its_syscall_returns() {
    let mut t: Requests<u32> = Requests::new(None, usize::MAX, usize::MAX);
    let now = Instant::now();
    let write = Op::Write { fd: 3, offset: 0, data: Bytes::copy_of(b"data") };
    let read = submit(&mut t, Op::Read { fd: 3, offset: 0, buf: Bytes::with_capacity(100) }, 1, now);
    let w = submit(&mut t, write, 2, now);
    let held = t.held_bytes();
    assert!(held >= 104);
    assert_eq!(t.take_work(now).unwrap().0, read);
    assert_eq!(t.take_work(now).unwrap().0, w);
    t.cancel(read, libc::ECANCELED, now).unwrap();
    assert_eq!((t.abandoned(), t.abandoned_bytes(), t.held_bytes()), (1, held - 4, held));
    // Delivering the cancel frees no budget: the kernel may still write the buffer.
    assert_eq!(deliver(&mut t).unwrap().token, 1);
    assert_eq!((t.abandoned_bytes(), t.held_bytes()), (held - 4, held));
    t.shutdown(now);
    assert_eq!((t.abandoned(), t.abandoned_bytes()), (2, held));
    t.finish(read, OpKind::Read, -libc::EIO, None, now);
    assert_eq!((t.abandoned_bytes(), t.held_bytes()), (4, 4));
    t.finish(w, OpKind::Write, 4, None, now);
    assert_eq!((t.abandoned(), t.abandoned_bytes(), t.held_bytes()), (0, 0, 0));
}
