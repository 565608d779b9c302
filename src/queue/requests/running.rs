//! A worker's side of the table: the oldest startable request moves to Running for it
//! ([`Requests::take_work`]), and its syscall's return makes it Ready, or, when nobody waits
//! for it any more, frees it and owes a close for a descriptor it opened
//! ([`Requests::finish`]); the call's service time is counted ([`Requests::record_service`]).

use super::*;

impl<T> Requests<T> {
    /// The oldest queued request that could start now (see [`Scheduler::next`]), moved to
    /// Running for a worker at `now`, with the filesystem it is charged to.
    pub fn take_work(&mut self, now: Instant) -> Option<(Id, Op, FsId)> {
        let (id, fs) = self.sched.next()?;
        let req = self.reqs.get_mut(id).expect("queued ids are always in the table");
        let (op, state) = match std::mem::replace(&mut req.state, State::Abandoned { owed: true }) {
            State::Queued { op, token: Some(token) } => (op, State::Running { token }),
            State::Queued { op, token: None } => (op, State::Abandoned { owed: true }),
            _ => unreachable!("the scheduler holds queued requests only"),
        };
        let owed = matches!(state, State::Abandoned { .. });
        req.state = state;
        req.syscall = Some(now);
        self.counters.queue_wait.record(now.saturating_duration_since(req.submitted));
        if req.kind == OpKind::Close {
            // A running close cannot be cancelled, so no timeout can reach it.
            self.deadlines.untrack(req.seq);
        }
        let bytes = req.bytes;
        self.sched.start(fs, id, owed);
        self.running += 1;
        if owed {
            self.abandoned += 1;
            self.abandoned_bytes += bytes;
        }
        Some((id, op, fs))
    }

    /// A worker's syscall took `took` (its service time).
    pub fn record_service(&mut self, took: Duration) {
        self.counters.service.record(took);
    }

    /// A worker's `kind` syscall for request `id` returned `result` (fd, 0, or -errno),
    /// having written `out` into library memory (a stat's result, a read's bytes), kept for
    /// delivery if the request still waits and succeeded, else dropped. If nobody waits for
    /// it any more (cancelled, timed out, shut down), a descriptor it opened becomes an owed
    /// close on the same filesystem. A dead connection, or the filesystem's last stuck
    /// syscall returning, is a mount event (see `requests/events.rs`).
    pub fn finish(&mut self, id: Id, kind: OpKind, result: i32, out: Option<Output>, now: Instant) {
        let fs = self.reqs.get(id).map(|r| r.fs);
        if let Some(fs) = fs {
            self.note_result(fs, result);
        }
        self.finish_call(id, kind, result, out, now);
        self.note_flips();
    }

    fn finish_call(&mut self, id: Id, kind: OpKind, result: i32, out: Option<Output>, now: Instant) {
        let Some(req) = self.reqs.get_mut(id).filter(|r| r.syscall.is_some()) else {
            debug_assert!(false, "a running request keeps its slot until its syscall returns");
            return;
        };
        let abandoned = req.runs_abandoned();
        req.syscall = None;
        let (fs, seq) = (req.fs, req.seq);
        self.running -= 1;
        if abandoned {
            self.abandoned -= 1;
            self.abandoned_bytes -= req.bytes;
            req.fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| fdguard::release(fd));
        }
        self.sched.end(fs, abandoned);
        let late_fd = kind.opened_fd(result);
        match std::mem::replace(&mut req.state, State::Abandoned { owed: false }) {
            State::Running { token } => {
                let out = Output::of_result(out, result);
                req.state = State::Ready { result, cancelled: false, token: Some(token), out };
                self.deadlines.untrack(seq);
                self.push_ready(id);
                return;
            }
            // Cancelled or timed out, and not yet delivered: delivery frees the slot.
            ready @ State::Ready { .. } => req.state = ready,
            State::Abandoned { owed } => {
                self.remove(id);
                if owed {
                    self.owed -= 1;
                    return; // its result is nobody's
                }
            }
            State::Queued { .. } | State::Waiting { .. } => unreachable!("it has no syscall"),
        }
        if let Some(fd) = late_fd {
            self.owe_close(fs, fd, now);
        }
    }
}
