//! The request state machine: every request from submit to delivery, with no threads and no
//! syscalls in it.
//!
//! ```text
//!   ingest ──► Queued ──take_work──► Running ──finish──► Ready ──flush_ready──► (handed off) ──delivered──► (gone)
//!                │                      │                  ▲
//!                └──cancel/timeout──────┴──────────────────┘
//! ```
//!
//! A cancelled (or timed-out) request becomes Ready at once with `-ECANCELED` (`-ETIMEDOUT`).
//! If its call was running, the worker is *abandoned*: the request keeps its slot, and when
//! the syscall returns, `finish` finds nobody waiting for it.
//!
//! Owed closes. A descriptor the library holds that nobody can receive any more (the late fd
//! of an abandoned open, the fd of a finished open that is cancelled or dropped, a queued
//! close or an undelivered open at shutdown) becomes an *owed close*: a close request of the
//! library's own, queued on the descriptor's filesystem like any other, run by a worker
//! (never on the caller's thread: a close can hang in the filesystem's flush), counted in
//! `running` and `abandoned` while it runs, and never delivered. Owed closes do not count
//! against the queue depth: each one stands for a descriptor, so they are bounded by the
//! process's descriptor limit, and refusing one would leak it.
//!
//! The table bounds neither the depth nor the bytes held: the loop admits requests before
//! the table sees them (`queue::admission`). Requests live in an [`IdMap`], a slab whose
//! slots the admission hands out as ids when the loop submits, before any worker has seen
//! the request; the table takes ids from it too, for owed closes. An id of a delivered
//! request finds nothing. Each request also has a sequence number, given when the table
//! takes it in, which orders the scheduler's queues and the deadlines.
//!
//! Handed off. A ready request's completion may leave the table before it is delivered; the
//! request stays here until the loop reports it delivered (see `requests/handoff.rs`, with
//! the rest of the table's side of the hand-off).
//!
//! A worker's side (a request taken to run, its syscall's return) is in `requests/running.rs`;
//! cancels, timeouts and shutdown in `requests/cancel.rs`; what the table reports without
//! changing, in `requests/gauges.rs`.
//!
//! `T` is the caller's per-request token (the C layer's callback and user_data), carried
//! untouched to delivery.
//!
//! Per-filesystem fairness and blocked filesystems are the scheduler's (see `fair::shares`):
//! the table tells it what is queued, started, abandoned and ended; it says what runs next.
//! The table marks filesystems blocked from the ages of their running syscalls
//! ([`Requests::mark_blocked`]).
//!
//! Mount events. A mount-event request waits in the table (`Waiting`), not in a queue: the
//! changes it waits for are recorded where the table learns of them (the scheduler's marks,
//! a call failing with a dead connection, the mount table the watchdog hands in) into
//! [`MountEvents`], which completes it with the next one (`requests/events.rs`).

use crate::fair::blocked_hint::BlockedHint;
use crate::fair::shares::Scheduler;
use crate::fdguard;
use crate::fs::FsId;
use crate::fs::IdHasher;
use crate::op::{most_result, Op, OpKind, Output};
use crate::queue::deadlines::Deadlines;
use crate::queue::events::MountEvents;
use crate::queue::idmap::IdMap;
use crate::queue::ids::Id;
use crate::stats::Counters;
use std::collections::VecDeque;
use std::hash::BuildHasherDefault;
use std::time::{Duration, Instant};

/// A map keyed by ids, hashed with [`IdHasher`].
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A delivered request.
#[derive(Debug)]
pub struct Completion<T> {
    pub id: Id,
    pub op: OpKind,
    /// open: the new fd; read, write, getdents, readlink, copy_file_range, sendfile: the byte
    /// count; a call through `aopen_call_submit`: what it returned; other calls: 0; failure:
    /// -errno.
    pub result: i32,
    pub token: T,
    /// A successful stat's or read's result, for the caller (None once placed: see
    /// `pool::place`).
    pub out: Option<Output>,
}

/// Where a request is, with what it holds there.
#[derive(Debug)]
enum State<T> {
    /// In its filesystem's queue, waiting for a worker. `token` is None for an owed close.
    Queued { op: Op, token: Option<T> },
    /// Its syscall runs on a worker, for the caller.
    Running { token: T },
    /// In the ready queue, waiting for delivery. `cancelled`: the result is final because
    /// of a cancel or timeout (a syscall of its that still runs is abandoned). `token` is
    /// None once the completion was handed off (see the module docs).
    Ready { result: i32, cancelled: bool, token: Option<T>, out: Option<Output> },
    /// Nobody waits for it and its syscall runs (abandoned): an owed close (`owed`), or a
    /// request delivered or shut down before its syscall returned.
    Abandoned { owed: bool },
    /// A mount-event request waiting for the next change (see `queue::events`); it has no
    /// syscall and no queue place.
    Waiting { token: T },
}

#[derive(Debug)]
struct Req<T> {
    /// Submit sequence number: orders requests by age.
    seq: u64,
    kind: OpKind,
    fs: FsId,
    submitted: Instant,
    /// When its syscall started, while one runs (abandoned or not).
    syscall: Option<Instant>,
    state: State<T>,
    /// Bytes of caller data it holds in library memory, released with its slot.
    bytes: usize,
    /// The largest result it may report: delivery asserts it (debug builds).
    most: i32,
    /// The caller's descriptors its call uses (-1: none), held in `fdguard` while its
    /// syscall runs abandoned.
    fds: [i32; 2],
}

impl<T> Req<T> {
    /// Whether a syscall of it runs that nobody waits for.
    fn runs_abandoned(&self) -> bool {
        self.syscall.is_some() && !matches!(self.state, State::Running { .. })
    }
}

/// Every undelivered request of one context, and the owed closes.
#[derive(Debug)]
pub struct Requests<T> {
    /// Every request with a state (see [`State`]).
    reqs: IdMap<Req<T>>,
    /// The next sequence number.
    next_seq: u64,
    /// Owed closes queued or running.
    owed: usize,
    /// Bytes of caller data the requests hold in library memory.
    held_bytes: usize,
    /// Of `held_bytes`, those of abandoned syscalls still running: a cancelled read's
    /// buffer stays counted until its syscall returns, since the kernel may still write it.
    abandoned_bytes: usize,
    /// Owed closes that found the table full, queued as soon as a place frees.
    owed_spill: Vec<(FsId, i32)>,
    /// The per-filesystem queues: which queued request runs next.
    sched: Scheduler,
    /// Ready requests, in completion order.
    ready: VecDeque<Id>,
    /// Requests a timeout may still hit (queued, or a running open).
    deadlines: Deadlines,
    /// Syscalls in progress (including abandoned ones), and of those the abandoned ones.
    running: usize,
    abandoned: usize,
    counters: Counters,
    /// Whether [`Requests::shutdown`] has run.
    closed: bool,
    /// Changes of the filesystems' states, and the request waiting for the next one.
    events: MountEvents,
    /// The filesystems the scheduler marks blocked, for readers without the lock.
    blocked_hint: std::sync::Arc<BlockedHint>,
}

impl<T> Requests<T> {
    /// A table running at most `share` (at least 1) syscalls of one filesystem at once,
    /// and starting syscalls of blocked filesystems only while fewer than `budget` of them
    /// run; requests time out `timeout` after their submit.
    pub fn new(timeout: Option<Duration>, share: usize, budget: usize) -> Self {
        Self::with_map(IdMap::new(), timeout, share, budget)
    }

    /// A table of at most `slots` requests (owed closes included), for tests: in a pool
    /// the table has room for every request the admission lets in.
    #[cfg(test)]
    fn with_slots(slots: usize) -> Self {
        Self::with_map(IdMap::with_limit(slots), None, usize::MAX, usize::MAX)
    }

    fn with_map(reqs: IdMap<Req<T>>, timeout: Option<Duration>, share: usize, budget: usize) -> Self {
        Requests {
            reqs,
            next_seq: 1,
            held_bytes: 0,
            abandoned_bytes: 0,
            owed: 0,
            owed_spill: Vec::new(),
            sched: Scheduler::new(share, budget),
            ready: VecDeque::new(),
            deadlines: Deadlines::new(timeout),
            running: 0,
            abandoned: 0,
            counters: Counters::default(),
            closed: false,
            events: MountEvents::default(),
            blocked_hint: Default::default(),
        }
    }

    /// Takes in request `id` for a file on `fs`, submitted at `submitted` and admitted
    /// already (`queue::admission` bounds the depth and the bytes before the table sees it).
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
        self.counters.submitted += 1;
        self.events.see(fs);
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
        self.counters.submitted += 1;
        self.counters.inline += 1;
        self.push_ready(id);
    }

    /// Queues a close of `fd`, which the library owns and nobody will receive, on `fs`: an
    /// owed close (see the module docs). Never refused: with every slot taken, it waits for
    /// the next one to free.
    pub fn owe_close(&mut self, fs: FsId, fd: i32, now: Instant) {
        self.queue_owed(fs, fd, now);
        self.owed += 1;
        self.counters.owed_closes += 1;
    }

    /// Queues an owed close of `fd` under an id of its own, or keeps it for the next free
    /// place when the table is full.
    fn queue_owed(&mut self, fs: FsId, fd: i32, now: Instant) {
        let state = State::Queued { op: Op::Close { fd }, token: None };
        let Ok(id) = self.reqs.take_id() else { return self.owed_spill.push((fs, fd)) };
        match self.insert(id, OpKind::Close, fs, now, state) {
            Ok(seq) => self.sched.push(fs, seq, id),
            Err(_) => {
                self.reqs.release_id(id);
                self.owed_spill.push((fs, fd));
            }
        }
    }

    /// The allocator of this table's ids, for whoever numbers requests before the table
    /// takes them in (the loop's admission).
    pub fn ids(&self) -> std::sync::Arc<crate::queue::idmap::Slots> {
        self.reqs.ids()
    }

    /// Keeps a new request under `id` with the next sequence number; gives its state back
    /// when the table is full.
    fn insert(
        &mut self,
        id: Id,
        kind: OpKind,
        fs: FsId,
        now: Instant,
        state: State<T>,
    ) -> Result<u64, State<T>> {
        let seq = self.next_seq;
        let fds = match &state {
            State::Queued { op, .. } => op.caller_fds(),
            _ => [-1, -1],
        };
        let (bytes, most) = match &state {
            State::Queued { op, .. } => (op.buffer_bytes(), op.most_result()),
            // Completed inline: a read's bytes are already cut to its result.
            State::Ready { out: Some(out @ Output::Bytes(b)), .. } => {
                (out.buffer_bytes(), most_result(kind, b.room_len()))
            }
            State::Ready { out: Some(out), .. } => (out.buffer_bytes(), most_result(kind, 0)),
            _ => (0, most_result(kind, 0)),
        };
        let req = Req { seq, kind, fs, submitted: now, syscall: None, state, bytes, most, fds };
        self.reqs.insert(id, req).map_err(|r| r.state)?;
        self.next_seq += 1;
        self.held_bytes += bytes;
        Ok(seq)
    }

    /// Frees request `id`'s slot, and queues an owed close that was waiting for one.
    fn remove(&mut self, id: Id) -> Option<Req<T>> {
        let req = self.reqs.remove(id)?;
        self.held_bytes -= req.bytes;
        if let Some((fs, fd)) = self.owed_spill.pop() {
            self.queue_owed(fs, fd, Instant::now());
        }
        Some(req)
    }

    fn push_ready(&mut self, id: Id) {
        self.ready.push_back(id);
    }
}

mod cancel;
mod events;
mod gauges;
mod handoff;
mod running;
pub use gauges::MountReport;
#[cfg(test)]
mod tests;
