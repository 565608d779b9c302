//! The request state machine: every request from submit to delivery, with no threads and no
//! syscalls in it.
//!
//! ```text
//!   submit ──► Queued ──take_work──► Running ──finish──► Ready ──pop_ready──► (delivered)
//!                │                      │                  ▲
//!                └──cancel/timeout──────┴──(open only)─────┘
//! ```
//!
//! A cancelled (or timed-out) request becomes Ready at once with `-ECANCELED` (`-ETIMEDOUT`).
//! If its open was running, the worker is *abandoned*: when its syscall returns, `finish`
//! finds the request no longer running and hands the new descriptor back for closing. Every
//! method that can leave the library holding a descriptor nobody will receive returns it, so
//! the caller closes it outside the lock.
//!
//! `T` is the caller's per-request token (the C layer's callback and user_data), carried
//! untouched to delivery.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::CString;
use std::time::{Duration, Instant};

/// A request id: positive and unique within one context.
pub type Id = u64;

/// The work a request does.
#[derive(Debug)]
pub enum Op {
    /// `open(path, flags | O_CLOEXEC, mode)`.
    Open { path: CString, flags: i32, mode: u32 },
    /// `close(fd)`: the library owns `fd` from submit on.
    Close { fd: i32 },
}

/// Which operation a completion reports (the C `AOPEN_OP_*` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum OpKind {
    Open = 1,
    Close = 2,
}

impl Op {
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Open { .. } => OpKind::Open,
            Op::Close { .. } => OpKind::Close,
        }
    }
}

/// A delivered request.
#[derive(Debug)]
pub struct Completion<T> {
    pub id: Id,
    pub op: OpKind,
    /// open: the new fd; close: 0; failure: -errno.
    pub result: i32,
    pub token: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Running,
    Ready,
}

#[derive(Debug)]
struct Req<T> {
    kind: OpKind,
    phase: Phase,
    /// Set once the result is final because of a cancel or timeout.
    cancelled: bool,
    result: i32,
    submitted: Instant,
    /// The work, until a worker takes it.
    op: Option<Op>,
    token: T,
}

/// Why `cancel` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelError {
    /// No such undelivered request (`ENOENT`).
    NotFound,
    /// A close already running or done, or a request already cancelled (`EALREADY`).
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

/// What a state change did to the ready queue, and any descriptor now owed a close.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    /// The ready queue went from empty to non-empty: readiness must be signalled.
    pub became_ready: bool,
    /// A descriptor the library must close (an fd nobody can receive any more).
    pub close_fd: Option<i32>,
}

/// Every undelivered request of one context.
#[derive(Debug)]
pub struct Table<T> {
    next_id: Id,
    depth: usize,
    timeout: Option<Duration>,
    reqs: HashMap<Id, Req<T>>,
    /// Queued requests, oldest first.
    pending: VecDeque<Id>,
    /// Ready requests, in completion order.
    ready: VecDeque<Id>,
    /// Requests a timeout may still hit (queued, or a running open). Ids grow with submit
    /// time and the timeout is fixed, so the first is always the next to expire.
    timed: BTreeSet<Id>,
    /// Requests whose syscall is in progress (including abandoned ones).
    running: HashSet<Id>,
}

impl<T> Table<T> {
    /// A table admitting at most `depth` undelivered requests.
    pub fn new(depth: usize, timeout: Option<Duration>) -> Self {
        Table {
            next_id: 1,
            depth,
            timeout,
            reqs: HashMap::new(),
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            timed: BTreeSet::new(),
            running: HashSet::new(),
        }
    }

    /// Queues a request. `Err(EAGAIN)` when `depth` requests are undelivered already.
    pub fn submit(&mut self, op: Op, token: T, now: Instant) -> Result<Id, (i32, T)> {
        if self.reqs.len() >= self.depth {
            return Err((libc::EAGAIN, token));
        }
        let id = self.next_id;
        self.next_id += 1;
        let req = Req {
            kind: op.kind(),
            phase: Phase::Queued,
            cancelled: false,
            result: 0,
            submitted: now,
            op: Some(op),
            token,
        };
        self.reqs.insert(id, req);
        self.pending.push_back(id);
        if self.timeout.is_some() {
            self.timed.insert(id);
        }
        Ok(id)
    }

    /// Takes back a request that was just submitted and never became visible to anyone else
    /// (used when no worker could be started for it).
    pub fn unsubmit(&mut self, id: Id) -> Option<T> {
        let req = self.reqs.remove(&id)?;
        self.pending.retain(|&p| p != id);
        self.timed.remove(&id);
        Some(req.token)
    }

    /// The oldest queued request, moved to Running for a worker.
    pub fn take_work(&mut self) -> Option<(Id, Op)> {
        let id = self.pending.pop_front()?;
        let req = self.reqs.get_mut(&id).expect("pending ids are always in the table");
        debug_assert_eq!(req.phase, Phase::Queued);
        req.phase = Phase::Running;
        let op = req.op.take().expect("a queued request still has its op");
        if req.kind == OpKind::Close {
            // A running close cannot be cancelled, so no timeout can reach it.
            self.timed.remove(&id);
        }
        self.running.insert(id);
        Some((id, op))
    }

    /// A worker's `kind` syscall returned `result` (fd, 0, or -errno). If the request was
    /// cancelled meanwhile (or the table shut down), a descriptor it opened is returned for
    /// closing. The worker says which op it ran: after a shutdown the table no longer knows.
    pub fn finish(&mut self, id: Id, kind: OpKind, result: i32) -> Effect {
        self.running.remove(&id);
        if let Some(req) = self.reqs.get_mut(&id) {
            if req.phase == Phase::Running {
                req.result = result;
                req.phase = Phase::Ready;
                self.timed.remove(&id);
                return Effect { became_ready: self.push_ready(id), close_fd: None };
            }
        }
        // Abandoned: delivered already (or queued for delivery) as cancelled or timed out.
        let close_fd = (kind == OpKind::Open && result >= 0).then_some(result);
        Effect { became_ready: false, close_fd }
    }

    fn push_ready(&mut self, id: Id) -> bool {
        self.ready.push_back(id);
        self.ready.len() == 1
    }

    /// Cancels with `-errno` (`ECANCELED`, or `ETIMEDOUT` for a timeout).
    pub fn cancel(&mut self, id: Id, errno: i32) -> Result<Effect, CancelError> {
        let req = self.reqs.get_mut(&id).ok_or(CancelError::NotFound)?;
        if req.cancelled || (req.kind == OpKind::Close && req.phase != Phase::Queued) {
            return Err(CancelError::Already);
        }
        let phase = req.phase;
        let close_fd = match phase {
            Phase::Ready if req.result >= 0 => Some(req.result),
            _ => None,
        };
        req.cancelled = true;
        req.result = -errno;
        req.phase = Phase::Ready;
        req.op = None; // a queued close never runs: its fd stays the caller's
        self.timed.remove(&id);
        let became_ready = match phase {
            Phase::Queued => {
                if let Some(pos) = self.pending.iter().position(|&p| p == id) {
                    self.pending.remove(pos);
                }
                self.push_ready(id)
            }
            Phase::Running => self.push_ready(id),
            Phase::Ready => false, // keeps its place in the ready queue
        };
        Ok(Effect { became_ready, close_fd })
    }

    /// Times out every request whose deadline is at or before `now`; returns what that did,
    /// merged (descriptors to close are collected into `fds`).
    pub fn expire(&mut self, now: Instant, fds: &mut Vec<i32>) -> bool {
        let Some(timeout) = self.timeout else { return false };
        let mut became_ready = false;
        while let Some(&id) = self.timed.first() {
            let due = self.reqs.get(&id).map(|r| r.submitted + timeout);
            match due {
                Some(due) if due > now => break,
                Some(_) => {
                    if let Ok(e) = self.cancel(id, libc::ETIMEDOUT) {
                        became_ready |= e.became_ready;
                        fds.extend(e.close_fd);
                    }
                    self.timed.remove(&id);
                }
                None => {
                    self.timed.remove(&id);
                }
            }
        }
        became_ready
    }

    /// When the next timeout falls due, if any request can still time out.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeout = self.timeout?;
        let id = self.timed.first()?;
        self.reqs.get(id).map(|r| r.submitted + timeout)
    }

    /// Delivers the oldest ready request.
    pub fn pop_ready(&mut self) -> Option<Completion<T>> {
        let id = self.ready.pop_front()?;
        let req = self.reqs.remove(&id).expect("ready ids are always in the table");
        Some(Completion { id, op: req.kind, result: req.result, token: req.token })
    }

    /// Ends every request: nothing queued will run (queued closes are returned, since the
    /// library owns their descriptors), descriptors of undelivered opens are returned for
    /// closing, and running syscalls become abandoned. Tokens are dropped undelivered.
    pub fn shutdown(&mut self, fds: &mut Vec<i32>) {
        for (_, req) in self.reqs.drain() {
            match (req.op, req.phase) {
                (Some(Op::Close { fd }), Phase::Queued) => fds.push(fd),
                (_, Phase::Ready) if req.kind == OpKind::Open && req.result >= 0 => fds.push(req.result),
                _ => {}
            }
        }
        self.pending.clear();
        self.ready.clear();
        self.timed.clear();
    }

    /// Undelivered requests (what `queue_depth` bounds).
    pub fn outstanding(&self) -> usize {
        self.reqs.len()
    }
    /// Requests waiting for a worker.
    pub fn queued(&self) -> usize {
        self.pending.len()
    }
    /// Completions ready for delivery.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }
    /// How long the oldest queued request has waited.
    pub fn oldest_wait(&self, now: Instant) -> Option<Duration> {
        let id = self.pending.front()?;
        self.reqs.get(id).map(|r| now.saturating_duration_since(r.submitted))
    }
    /// Syscalls in progress (including abandoned ones).
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_op() -> Op {
        Op::Open { path: CString::new("/x").unwrap(), flags: 0, mode: 0 }
    }

    fn table() -> Table<&'static str> {
        Table::new(4, None)
    }

    /// Submits one open per token and lets workers take them all: they are Running.
    fn started<const N: usize>(t: &mut Table<&'static str>, tokens: [&'static str; N]) -> [Id; N] {
        let now = Instant::now();
        let ids = tokens.map(|tok| t.submit(open_op(), tok, now).unwrap());
        for _ in 0..N {
            t.take_work().unwrap();
        }
        ids
    }

    #[test]
    fn ids_are_positive_and_unique() {
        let mut t = Table::new(100, None);
        let now = Instant::now();
        let ids: Vec<_> = (0..50).map(|_| t.submit(open_op(), (), now).unwrap()).collect();
        assert!(ids.iter().all(|&i| i > 0));
        let set: BTreeSet<_> = ids.iter().collect();
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
        let (id, _) = t.take_work().unwrap();
        // Finished but not delivered still counts against the depth.
        assert!(t.finish(id, OpKind::Open, 7).became_ready);
        assert!(t.submit(open_op(), "b", now).is_err());
        let c = t.pop_ready().unwrap();
        assert_eq!((c.id, c.result, c.op), (id, 7, OpKind::Open));
        assert!(t.submit(open_op(), "b", now).is_ok());
    }

    #[test]
    fn completion_order_and_coalesced_readiness() {
        let mut t = table();
        let [a, b] = started(&mut t, ["a", "b"]);
        assert!(t.finish(b, OpKind::Open, 4).became_ready);
        assert!(!t.finish(a, OpKind::Open, 3).became_ready, "second completion must not signal again");
        assert_eq!(t.pop_ready().unwrap().token, "b");
        assert_eq!(t.pop_ready().unwrap().token, "a");
        assert!(t.pop_ready().is_none());
    }

    #[test]
    fn cancel_queued_never_runs() {
        let mut t = table();
        let now = Instant::now();
        let a = t.submit(open_op(), "a", now).unwrap();
        let e = t.cancel(a, libc::ECANCELED).unwrap();
        assert_eq!(e, Effect { became_ready: true, close_fd: None });
        assert!(t.take_work().is_none(), "a cancelled request must not run");
        let c = t.pop_ready().unwrap();
        assert_eq!(c.result, -libc::ECANCELED);
        assert_eq!(t.cancel(a, libc::ECANCELED), Err(CancelError::NotFound));
    }

    #[test]
    fn cancel_running_open_then_complete_returns_fd_for_closing() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        assert!(t.cancel(a, libc::ECANCELED).unwrap().became_ready);
        // Delivered before the syscall returns.
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert_eq!(t.running(), 1, "the abandoned syscall is still counted");
        assert_eq!(t.finish(a, OpKind::Open, 9), Effect { became_ready: false, close_fd: Some(9) });
        assert_eq!(t.running(), 0);
        assert!(t.pop_ready().is_none(), "delivered exactly once");
    }

    #[test]
    fn cancel_running_open_then_complete_before_delivery() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        t.cancel(a, libc::ECANCELED).unwrap();
        // The worker returns while the cancelled completion is still queued.
        assert_eq!(t.finish(a, OpKind::Open, 9).close_fd, Some(9));
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert!(t.pop_ready().is_none());
    }

    #[test]
    fn cancel_running_open_that_fails_closes_nothing() {
        let mut t = table();
        let [a] = started(&mut t, ["a"]);
        t.cancel(a, libc::ECANCELED).unwrap();
        assert_eq!(t.finish(a, OpKind::Open, -libc::ENOENT), Effect::default());
    }

    #[test]
    fn cancel_done_open_closes_fd_and_keeps_position() {
        let mut t = table();
        let [a, b] = started(&mut t, ["a", "b"]);
        t.finish(a, OpKind::Open, 5);
        t.finish(b, OpKind::Open, 6);
        assert_eq!(t.cancel(b, libc::ECANCELED).unwrap(), Effect { became_ready: false, close_fd: Some(6) });
        assert_eq!(t.cancel(b, libc::ECANCELED), Err(CancelError::Already));
        assert_eq!(t.pop_ready().unwrap().result, 5);
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
    }

    #[test]
    fn close_cancel_rules() {
        let mut t = table();
        let now = Instant::now();
        let a = t.submit(Op::Close { fd: 10 }, "a", now).unwrap();
        let b = t.submit(Op::Close { fd: 11 }, "b", now).unwrap();
        t.take_work().unwrap();
        assert_eq!(t.cancel(a, libc::ECANCELED), Err(CancelError::Already));
        assert!(t.cancel(b, libc::ECANCELED).is_ok(), "a queued close can be cancelled");
        assert!(t.take_work().is_none());
        t.finish(a, OpKind::Close, 0);
        assert_eq!(t.cancel(a, libc::ECANCELED), Err(CancelError::Already));
        let c = t.pop_ready().unwrap();
        assert_eq!((c.id, c.result, c.op), (b, -libc::ECANCELED, OpKind::Close));
        assert_eq!(t.pop_ready().unwrap().result, 0);
    }

    #[test]
    fn timeout_is_a_cancel_at_the_deadline() {
        let mut t: Table<()> = Table::new(16, Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        let q = t.submit(open_op(), (), t0).unwrap();
        let r = t.submit(open_op(), (), t0).unwrap();
        let c = t.submit(Op::Close { fd: 3 }, (), t0).unwrap();
        let late = t.submit(open_op(), (), t0 + Duration::from_millis(50)).unwrap();
        // r and c start running; q is cancelled-by-order below.
        let (first, _) = t.take_work().unwrap();
        assert_eq!(first, q);
        t.finish(q, OpKind::Open, 20);
        t.take_work().unwrap(); // r running
        t.take_work().unwrap(); // c (close) running: no timeout can reach it
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(100)));
        let mut fds = vec![];
        assert!(!t.expire(t0 + Duration::from_millis(99), &mut fds));
        t.expire(t0 + Duration::from_millis(100), &mut fds);
        assert!(fds.is_empty());
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(150)));
        let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
        assert_eq!(got, vec![(q, 20), (r, -libc::ETIMEDOUT)]);
        assert_eq!(t.finish(r, OpKind::Open, 21).close_fd, Some(21), "late fd of a timed-out open is closed");
        assert!(t.finish(c, OpKind::Close, 0).became_ready, "the close still completes normally");
        t.expire(t0 + Duration::from_millis(150), &mut fds);
        let got: Vec<_> = std::iter::from_fn(|| t.pop_ready()).map(|c| (c.id, c.result)).collect();
        assert_eq!(got, vec![(c, 0), (late, -libc::ETIMEDOUT)]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn timeout_vs_cancel_and_complete_races() {
        let t0 = Instant::now();
        let to = Some(Duration::from_millis(10));
        // complete, then deadline passes before delivery: the completion stands.
        let mut t: Table<()> = Table::new(8, to);
        let a = t.submit(open_op(), (), t0).unwrap();
        t.take_work();
        t.finish(a, OpKind::Open, 4);
        let mut fds = vec![];
        t.expire(t0 + Duration::from_secs(1), &mut fds);
        assert!(fds.is_empty());
        assert_eq!(t.pop_ready().unwrap().result, 4);
        // cancel, then deadline: cancel stands, the timeout does nothing.
        let b = t.submit(open_op(), (), t0).unwrap();
        t.cancel(b, libc::ECANCELED).unwrap();
        t.expire(t0 + Duration::from_secs(1), &mut fds);
        assert_eq!(t.pop_ready().unwrap().result, -libc::ECANCELED);
        assert!(t.pop_ready().is_none());
        // deadline, then cancel: EALREADY.
        let c = t.submit(open_op(), (), t0).unwrap();
        t.expire(t0 + Duration::from_secs(1), &mut fds);
        assert_eq!(t.cancel(c, libc::ECANCELED), Err(CancelError::Already));
        assert_eq!(t.pop_ready().unwrap().result, -libc::ETIMEDOUT);
    }

    #[test]
    fn shutdown_returns_every_owned_descriptor() {
        let mut t = Table::new(16, None);
        let now = Instant::now();
        let done = t.submit(open_op(), (), now).unwrap();
        let running = t.submit(open_op(), (), now).unwrap();
        let _queued_open = t.submit(open_op(), (), now).unwrap();
        let _queued_close = t.submit(Op::Close { fd: 33 }, (), now).unwrap();
        t.take_work();
        t.take_work();
        t.finish(done, OpKind::Open, 30);
        let mut fds = vec![];
        t.shutdown(&mut fds);
        fds.sort();
        assert_eq!(fds, vec![30, 33]);
        assert_eq!(t.outstanding(), 0);
        assert!(t.take_work().is_none());
        // The running open returns after shutdown: its fd is handed back for closing.
        assert_eq!(t.finish(running, OpKind::Open, 31).close_fd, Some(31));
    }

    #[test]
    fn unsubmit_removes_all_trace() {
        let mut t: Table<u8> = Table::new(2, Some(Duration::from_secs(1)));
        let now = Instant::now();
        let a = t.submit(open_op(), 1, now).unwrap();
        assert_eq!(t.unsubmit(a), Some(1));
        assert_eq!((t.outstanding(), t.queued(), t.next_deadline()), (0, 0, None));
    }
}
