//! Ending requests before they finish: cancel, timeout, unsubmit, and shutdown (which turns
//! what the table still holds into owed closes).

use super::*;

/// Why `cancel` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelError {
    /// No such undelivered request (`ENOENT`).
    NotFound,
    /// A close already running, a request other than an open already done, or a request
    /// already cancelled (`EALREADY`).
    Already,
}

impl CancelError {
    pub fn errno(self) -> i32 {
        match self {
            CancelError::NotFound => libc::ENOENT,
            CancelError::Already => libc::EALREADY,
        }
    }
}

impl<T> Requests<T> {
    /// Takes back a request that was just submitted and never became visible to anyone else
    /// (used when no worker could be started for it).
    pub fn unsubmit(&mut self, id: Id) -> Option<T> {
        let Some(Req { state: State::Queued { token: Some(_), .. }, .. }) = self.reqs.get(id) else {
            return None;
        };
        let req = self.remove(id)?;
        self.sched.remove(req.fs, id);
        self.deadlines.untrack(req.seq);
        self.counters.submitted -= 1;
        match req.state {
            State::Queued { token, .. } => token,
            _ => None,
        }
    }

    /// Cancels with `-errno` (`ECANCELED`, or `ETIMEDOUT` for a timeout) at `now`.
    pub fn cancel(&mut self, id: Id, errno: i32, now: Instant) -> Result<(), CancelError> {
        let req = self.reqs.get_mut(id).ok_or(CancelError::NotFound)?;
        let close = req.kind == OpKind::Close;
        let (fs, seq) = (req.fs, req.seq);
        let cancelled =
            |token| State::Ready { result: -errno, cancelled: true, token: Some(token), out: None };
        let late_fd = match std::mem::replace(&mut req.state, State::Abandoned { owed: false }) {
            State::Queued { op: _, token: Some(token) } => {
                // A queued close never runs: its fd stays the caller's.
                req.state = cancelled(token);
                self.sched.remove(fs, id);
                self.push_ready(id);
                None
            }
            State::Waiting { token } => {
                // A mount-event request: the next change goes to the next request.
                req.state = cancelled(token);
                self.events.forget(id);
                self.push_ready(id);
                None
            }
            State::Running { token } if !close => {
                req.state = cancelled(token);
                self.abandoned += 1;
                self.abandoned_bytes += req.bytes;
                self.sched.abandon(fs);
                // Before the cancel can be delivered.
                req.fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| fdguard::hold(fd));
                self.push_ready(id);
                None
            }
            State::Ready { result, cancelled: false, token: Some(token), .. } if req.kind == OpKind::Open => {
                req.state = cancelled(token);
                // Keeps its place in the ready queue; the fd it opened is nobody's now.
                (result >= 0).then_some(result)
            }
            State::Ready { cancelled: false, token: None, out, .. } if req.kind == OpKind::Open => {
                // Handed off: the loop delivers -ECANCELED and has the library close the
                // descriptor (the hand-off settles which of cancel and delivery won).
                req.state = State::Ready { result: -errno, cancelled: true, token: None, out };
                None
            }
            other => {
                let err = match other {
                    State::Queued { token: None, .. } | State::Abandoned { .. } => CancelError::NotFound,
                    _ => CancelError::Already,
                };
                req.state = other;
                return Err(err);
            }
        };
        self.deadlines.untrack(seq);
        if errno == libc::ETIMEDOUT {
            self.counters.timed_out += 1;
        } else {
            self.counters.cancelled += 1;
        }
        if let Some(fd) = late_fd {
            self.owe_close(fs, fd, now);
        }
        Ok(())
    }

    /// Times out every request whose deadline is at or before `now`; returns whether
    /// completions became ready where none were.
    pub fn expire(&mut self, now: Instant) -> bool {
        let none_ready = self.ready.is_empty();
        while let Some(id) = self.deadlines.pop_due(now) {
            let _ = self.cancel(id, libc::ETIMEDOUT, now);
        }
        none_ready && !self.ready.is_empty()
    }

    /// When the next timeout falls due, if any request can still time out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// Ends every caller's request: nothing of theirs queued will run; the descriptors the
    /// library holds for them (queued closes, undelivered opens) become owed closes, which
    /// still run; running syscalls become abandoned. Tokens are dropped undelivered.
    pub fn shutdown(&mut self, now: Instant) {
        self.closed = true;
        let callers = self.reqs.ids_where(|r| {
            matches!(
                r.state,
                State::Queued { token: Some(_), .. }
                    | State::Running { .. }
                    | State::Ready { .. }
                    | State::Waiting { .. }
            )
        });
        let mut owed = Vec::new();
        for id in callers {
            let req = self.reqs.get_mut(id).expect("listed above");
            let fs = req.fs;
            match std::mem::replace(&mut req.state, State::Abandoned { owed: false }) {
                State::Queued { op, .. } => {
                    if let Op::Close { fd } = op {
                        owed.push((fs, fd));
                    }
                    self.remove(id);
                }
                State::Waiting { .. } => {
                    self.events.forget(id);
                    self.remove(id);
                }
                State::Running { .. } => {
                    self.abandoned += 1;
                    self.abandoned_bytes += req.bytes;
                    self.sched.abandon(fs);
                    req.fds.iter().filter(|&&fd| fd >= 0).for_each(|&fd| fdguard::hold(fd));
                }
                State::Ready { result, token, .. } => {
                    // A handed-off completion's descriptor is the hand-off's to close.
                    if req.kind == OpKind::Open && result >= 0 && token.is_some() {
                        owed.push((fs, result));
                    }
                    if req.syscall.is_none() {
                        self.remove(id);
                    }
                }
                State::Abandoned { .. } => unreachable!("not listed"),
            }
        }
        // The caller's queued requests are gone from `reqs`; drop them from their queues in
        // one pass (the owed closes stay).
        let reqs = &self.reqs;
        self.sched.retain(|id| reqs.get(id).is_some());
        self.ready.clear();
        self.deadlines.clear();
        for (fs, fd) in owed {
            self.owe_close(fs, fd, now);
        }
    }

    /// Whether [`Requests::shutdown`] has run.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Removes the owed closes still queued (or waiting for a slot) and returns their
    /// descriptors: for a forked child, where no worker exists to run them.
    pub fn take_queued_owed(&mut self) -> Vec<i32> {
        let mut fds: Vec<i32> = self.owed_spill.drain(..).map(|(_, fd)| fd).collect();
        let queued = self.reqs.ids_where(|r| matches!(r.state, State::Queued { token: None, .. }));
        for id in queued {
            if let Some(Req { state: State::Queued { op: Op::Close { fd }, .. }, fs, .. }) =
                self.reqs.remove(id)
            {
                self.sched.remove(fs, id);
                fds.push(fd);
            }
        }
        self.owed -= fds.len();
        fds
    }
}
