//! The table's side of the hand-off (see `queue::handoff`): taking in what the loop handed
//! over (requests admitted already, completions the fast path made that could not be handed
//! off), handing ready completions off and taking them back, and the loop's delivery reports.
//!
//! Handed off. A ready request's completion (token, result, output) may leave the table
//! before it is delivered ([`Requests::flush_ready`]): the pool moves it to the lock-free
//! queue the loop pops, and the request stays here, Ready without its token, until the loop
//! reports it delivered ([`Requests::delivered`]). So a cancel still finds it (`EALREADY`,
//! or for a handed-off open, a cancel the hand-off settles with the loop).

use super::*;

impl<T> Requests<T> {
    /// Takes in request `id` for a file on `fs`, submitted at `submitted` and admitted
    /// already (the hand-off bounds the depth and the bytes before the table sees it).
    /// `Err(EAGAIN)` only when the table is full.
    pub fn ingest(&mut self, id: Id, fs: FsId, op: Op, token: T, submitted: Instant) -> Result<(), (i32, T)> {
        let kind = op.kind();
        let seq = self.insert(id, kind, fs, submitted, State::Queued { op, token: Some(token) }).map_err(
            |state| match state {
                State::Queued { token: Some(t), .. } => (libc::EAGAIN, t),
                _ => unreachable!("given back as it was given"),
            },
        )?;
        self.sched.push(fs, seq, id);
        self.deadlines.track(seq, id, submitted);
        self.outstanding += 1;
        self.counters.submitted += 1;
        Ok(())
    }

    /// Takes in the completion of a request the submitting thread completed (the fast
    /// path) that could not be handed off: Ready, behind the ones the table holds. `bytes`:
    /// library memory its output holds.
    pub fn ingest_ready(&mut self, c: Completion<T>, bytes: usize) {
        let Completion { id, op: kind, result, token, out } = c;
        let state = State::Ready { result, cancelled: false, token: Some(token), out };
        let most = most_result(kind, bytes);
        let req = Req {
            seq: 0,
            kind,
            fs: crate::fs::UNKNOWN,
            submitted: Instant::now(),
            syscall: None,
            state,
            bytes,
            most,
            fds: [-1, -1],
        };
        if self.reqs.insert(id, req).is_err() {
            debug_assert!(false, "the table has no limit in a pool");
            return;
        }
        self.held_bytes += bytes;
        self.outstanding += 1;
        self.counters.submitted += 1;
        self.counters.inline += 1;
        self.push_ready(id);
    }

    /// Delivers the oldest ready request.
    pub fn pop_ready(&mut self) -> Option<Completion<T>> {
        let c = self.flush_ready()?;
        self.delivered(c.id);
        Some(c)
    }

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
        self.outstanding -= 1;
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
