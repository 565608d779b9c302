//! The table's side of mount events: a mount-event request taken in
//! ([`Requests::ingest_mount_event`]), and the changes the table learns of recorded in
//! [`MountEvents`] (the scheduler's marks, a connection found dead, the mount table), each
//! completing the waiting request when there is one.

use super::*;
use crate::fs::change::MountChange;
use crate::fs::table::Table;

impl<T> Requests<T> {
    /// Takes in mount-event request `id` (admitted already) at `now`: completed at once with
    /// a change that waits, else Waiting for the next. `Err(EBUSY)` while another waits;
    /// `Err(ESHUTDOWN)` once shut down.
    pub fn ingest_mount_event(&mut self, id: Id, token: T, now: Instant) -> Result<(), (i32, T)> {
        if self.closed {
            return Err((libc::ESHUTDOWN, token));
        }
        let change = match self.events.ask(id) {
            Ok(c) => c,
            Err(e) => return Err((e, token)),
        };
        let state = State::Waiting { token };
        if let Err(state) = self.insert(id, OpKind::MountEvent, crate::fs::UNKNOWN, now, state) {
            self.events.forget(id);
            let State::Waiting { token } = state else { unreachable!("given back as it was given") };
            return Err((libc::EAGAIN, token));
        }
        self.counters.submitted += 1;
        if let Some(c) = change {
            self.complete_mount_event(id, c);
        }
        Ok(())
    }

    /// Whether a mount-event request ever asked (then the watchdog hands in the mount table).
    pub fn watches_mounts(&self) -> bool {
        self.events.watching()
    }

    /// The filesystems marked blocked, published for readers without the lock.
    pub fn blocked_hint(&self) -> std::sync::Arc<BlockedHint> {
        std::sync::Arc::clone(&self.blocked_hint)
    }

    /// Records the scheduler's changes of marks since the last call as blocked and
    /// recovered changes (blocked ones with the syscalls in progress there and when the
    /// oldest started), publishes them in the blocked hint, and completes a waiting request.
    pub(super) fn note_flips(&mut self) {
        let flips: Vec<(FsId, bool)> = self.sched.take_flips().collect();
        if flips.is_empty() {
            return;
        }
        let now = Instant::now();
        for (fs, blocked) in flips {
            let (mut stuck, mut since) = (0, None::<Instant>);
            if blocked {
                self.blocked_hint.insert(fs);
                for started in self.reqs.iter().filter(|(_, r)| r.fs == fs).filter_map(|(_, r)| r.syscall) {
                    stuck += 1;
                    since = Some(since.map_or(started, |s| s.min(started)));
                }
            } else {
                self.blocked_hint.remove(fs);
            }
            self.events.marked(fs, blocked, now, stuck, since);
        }
        self.deliver_mount_event();
    }

    /// A call on `fs` returned `result`: a dead connection (`ENOTCONN`, `ECONNABORTED`)
    /// makes `fs` gone.
    pub(super) fn note_result(&mut self, fs: FsId, result: i32) {
        if result == -libc::ENOTCONN || result == -libc::ECONNABORTED {
            self.events.aborted(fs, Instant::now());
            self.deliver_mount_event();
        }
    }

    /// Looks at the mount table (see [`MountEvents::check_table`]): filesystems seen that
    /// left it are gone.
    pub fn check_mounts(&mut self, table: &Table) {
        self.events.check_table(table, Instant::now());
        self.deliver_mount_event();
    }

    /// Completes the waiting request with the next change, if both exist.
    fn deliver_mount_event(&mut self) {
        self.counters.mount_events_dropped = self.events.dropped_total();
        if let Some((id, c)) = self.events.ready() {
            self.complete_mount_event(id, c);
        }
    }

    fn complete_mount_event(&mut self, id: Id, c: MountChange) {
        let Some(req) = self.reqs.get_mut(id) else { return };
        let State::Waiting { token } = std::mem::replace(&mut req.state, State::Abandoned { owed: false })
        else {
            debug_assert!(false, "the pending mount-event request waits");
            return;
        };
        let out = Some(Output::MountEvent(Box::new(c)));
        req.state = State::Ready { result: 0, cancelled: false, token: Some(token), out };
        self.push_ready(id);
    }
}
