//! The table's side of the hand-off (see `queue::handoff`): handing ready completions off
//! and taking them back, and the loop's delivery reports. (Taking in what the loop handed
//! over, [`Requests::ingest`] and [`Requests::ingest_ready`], is with the other ways in, in
//! `requests.rs`.)
//!
//! Handed off. A ready request's completion (token, result, output) may leave the table
//! before it is delivered ([`Requests::flush_ready`]): the pool moves it to the lock-free
//! queue the loop pops, and the request stays here, Ready without its token, until the loop
//! reports it delivered ([`Requests::delivered`]). So a cancel still finds it (`EALREADY`,
//! or for a handed-off open, a cancel the hand-off settles with the loop).

use super::*;

impl<T> Requests<T> {
    /// Hands off the oldest ready request's completion: it stays here, Ready without its
    /// token, until [`Requests::delivered`].
    pub fn flush_ready(&mut self) -> Option<Completion<T>> {
        let id = self.ready.pop_front()?;
        Some(self.hand_off(id))
    }

    /// Hands off request `id`'s completion, if it is the newest ready one (a worker's own,
    /// just finished), as [`Requests::flush_ready`] hands off the oldest.
    pub fn flush_newest(&mut self, id: Id) -> Option<Completion<T>> {
        if self.ready.back() != Some(&id) {
            return None;
        }
        self.ready.pop_back();
        Some(self.hand_off(id))
    }

    /// Takes ready request `id`'s completion out, leaving it Ready without its token.
    fn hand_off(&mut self, id: Id) -> Completion<T> {
        let req = self.reqs.get_mut(id).expect("ready ids are always in the table");
        let State::Ready { result, token, out, .. } = &mut req.state else {
            unreachable!("the ready queue holds ready requests only")
        };
        let (result, kind) = (*result, req.kind);
        let token = token.take().expect("a queued completion has its token");
        let out = out.take();
        debug_assert!(
            result <= req.most,
            "{kind:?} reports {result}, more than the {} it may (asked for)",
            req.most
        );
        Completion { id, op: kind, result, token, out }
    }

    /// Takes back a completion [`Requests::flush_ready`] gave that could not be handed off
    /// (the loop's queue was full): it is the oldest ready again.
    pub fn unflush(&mut self, c: Completion<T>) {
        let req = self.reqs.get_mut(c.id).expect("a handed-off request stays until delivered");
        let State::Ready { token, out, .. } = &mut req.state else { unreachable!("flushed from Ready") };
        *token = Some(c.token);
        *out = c.out;
        self.ready.push_front(c.id);
    }

    /// The filesystem request `id` is charged to.
    pub fn fs_of(&self, id: Id) -> FsId {
        self.reqs.get(id).map_or(crate::fs::UNKNOWN, |r| r.fs)
    }

    /// The loop delivered request `id`, handed off before: its place is freed (or, while its
    /// abandoned syscall runs, kept until `finish`).
    pub fn delivered(&mut self, id: Id) {
        let Some(req) = self.reqs.get_mut(id) else {
            debug_assert!(false, "a handed-off request stays until delivered");
            return;
        };
        debug_assert!(matches!(req.state, State::Ready { token: None, .. }), "{id} delivered twice");
        req.state = State::Abandoned { owed: false };
        if req.syscall.is_none() {
            self.remove(id);
        } // else its abandoned syscall still runs: `finish` frees the slot
        self.counters.delivered += 1;
    }

    /// Whether request `id` is an open whose completion was handed off, not cancelled and
    /// not yet reported delivered: a cancel of it must be settled with the loop (see
    /// `queue::handoff`), since its result (a descriptor) is in the loop's queue.
    pub fn handed_off_open(&self, id: Id) -> bool {
        self.reqs.get(id).is_some_and(|r| {
            r.kind == OpKind::Open && matches!(r.state, State::Ready { cancelled: false, token: None, .. })
        })
    }
}
