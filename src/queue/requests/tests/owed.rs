//! Owed closes: the library's own closes of descriptors nobody will receive, never refused
//! and never delivered.

use super::*;

#[test]
fn an_owed_close_that_finds_every_slot_taken_waits_for_the_next_free_one() {
    let mut t: Requests<&str> = Requests::with_slots(2);
    let now = Instant::now();
    let a = submit(&mut t, open_op(), "a", now);
    t.take_work(now).unwrap();
    submit(&mut t, open_op(), "b", now);
    let c = t.ids().take().unwrap();
    assert_eq!(
        t.ingest(c, crate::fs::UNKNOWN, open_op(), "c", now).unwrap_err(),
        (libc::EAGAIN, "c"),
        "no slot left"
    );
    t.ids().give_back(c); // as the admission takes back a refused request's id
    t.cancel(a, libc::ECANCELED, now).unwrap();
    // a's late fd is owed a close, but a (undelivered) and b hold both slots.
    t.finish(a, OpKind::Open, 7, None, now);
    assert_eq!((t.owed(), t.queued()), (1, 2));
    assert_eq!(deliver(&mut t).unwrap().token, "a");
    assert_eq!(t.queued(), 2, "a's slot went to the owed close");
    assert_eq!(t.take_queued_owed(), vec![7]);
    assert_eq!((t.owed(), t.queued()), (0, 1));
}

#[test]
fn owed_closes_run_but_are_never_delivered_nor_refused() {
    let mut t: Requests<u32> = Requests::new(None, usize::MAX, usize::MAX);
    let now = Instant::now();
    let a = submit(&mut t, open_op(), 1, now);
    t.owe_close(7, 40, now);
    t.owe_close(7, 41, now);
    assert_eq!((t.owed(), t.queued()), (2, 3));
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
        t.finish(id, op.kind(), 0, None, now);
    }
    assert_eq!(ran.len(), 3);
    assert_eq!(deliver(&mut t).unwrap().id, a);
    assert!(deliver(&mut t).is_none());
    assert_eq!((t.owed(), t.counters().owed_closes, t.abandoned()), (0, 2, 0));
}
