//! The request state machine's unit tests, by behaviour: a request's life from submit to
//! delivery (`lifecycle`), requests ended early (`cancel`), owed closes (`owed`), and the
//! per-filesystem shares (`shares`); and the helpers they share, which drive the table as the
//! pool does: a request comes in as the pool takes in a submit, and leaves as the pool hands
//! a completion off and the loop reports its delivery.

use super::cancel::CancelError;
use super::*;
use std::ffi::CString;

mod cancel;
mod lifecycle;
mod owed;
mod shares;

fn open_op() -> Op {
    Op::Open { path: CString::new("/x").unwrap(), flags: 0, mode: 0 }
}

fn table() -> Requests<&'static str> {
    Requests::new(None, usize::MAX, usize::MAX)
}

/// Takes `op` in, charged to `fs`, as the pool takes a submit in: under an id from the
/// table's slots (as the loop's admission gives it), by [`Requests::ingest`].
fn submit_on<T>(t: &mut Requests<T>, fs: FsId, op: Op, token: T, now: Instant) -> Id {
    let id = t.ids().take().unwrap();
    assert!(t.ingest(id, fs, op, token, now).is_ok(), "the table has room");
    id
}

/// [`submit_on`] on no filesystem in particular.
fn submit<T>(t: &mut Requests<T>, op: Op, token: T, now: Instant) -> Id {
    submit_on(t, crate::fs::UNKNOWN, op, token, now)
}

/// Delivers the oldest ready completion as the pool and the loop do: handed off, then
/// reported delivered.
fn deliver<T>(t: &mut Requests<T>) -> Option<Completion<T>> {
    let c = t.flush_ready()?;
    t.delivered(c.id);
    Some(c)
}

/// Submits one open per token and lets workers take them all: they are Running.
fn started<const N: usize>(t: &mut Requests<&'static str>, tokens: [&'static str; N]) -> [Id; N] {
    let now = Instant::now();
    let ids = tokens.map(|tok| submit(t, open_op(), tok, now));
    for _ in 0..N {
        t.take_work(Instant::now()).unwrap();
    }
    ids
}
