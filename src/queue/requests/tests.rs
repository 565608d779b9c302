//! The request state machine's unit tests, by behaviour: a request's life from submit to
//! delivery (`lifecycle`), requests ended early (`cancel`), owed closes (`owed`), and the
//! per-filesystem shares (`shares`); and the helpers they share.

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
