//! Model checks (loom) of the completion queue: the request state machine (with its per-mount
//! shares) and the readiness protocol, exactly as the pool and context drive them (each
//! transition under the context lock, descriptors closed after unlocking); the lock-free
//! hand-off to the loop (`Outbox`: its readiness counter, and a cancel racing the delivery of
//! a handed-off open); and the hand-off of submits to idle workers without the lock. Run
//! with `make check-loom`.
//!
//! The eventfd and the process descriptor table are modelled, so every interleaving loom
//! explores is checked for: each request delivered exactly once (at most once after a
//! free), every descriptor closed exactly once, readiness readable iff completions are
//! ready whenever the queue is quiescent, no signal after the queue is closed, and never
//! more syscalls of one mount than its share, even while a cancelled one still runs.
#![cfg(loom)]

use aopen::{Completion, Id, Op, Requests};
use aopen::{Completions, Inline, Outbox, Readiness};
use loom::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::ffi::CString;
use std::time::{Duration, Instant};

/// The eventfd: a counter, readable while non-zero (an own eventfd's semantics).
#[derive(Default)]
struct ModelFd {
    count: AtomicUsize,
    closed: AtomicBool,
}

struct Fd(Arc<ModelFd>);

impl Readiness for Fd {
    fn signal(&self) {
        assert!(!self.0.closed.load(SeqCst), "signalled after the queue closed");
        self.0.count.fetch_add(1, SeqCst);
    }
    fn clear(&self) {
        self.0.count.store(0, SeqCst);
    }
    fn rearm(&self) {}
}

/// The process's descriptor table: which descriptors are open.
#[derive(Default)]
struct Fds {
    next: AtomicI32,
    open: Mutex<Vec<i32>>,
}

impl Fds {
    /// What a worker's successful open returns.
    fn open(&self) -> i32 {
        let fd = 100 + self.next.fetch_add(1, SeqCst);
        self.open.lock().unwrap().push(fd);
        fd
    }
    fn close(&self, fd: i32) {
        let mut open = self.open.lock().unwrap();
        let at = open
            .iter()
            .position(|&f| f == fd)
            .unwrap_or_else(|| panic!("fd {fd} closed twice or never opened"));
        open.remove(at);
    }
    fn assert_none_open(&self) {
        assert!(self.open.lock().unwrap().is_empty(), "descriptors leaked: {:?}", self.open.lock().unwrap());
    }
}

type Q = Arc<Mutex<Completions<u32, Fd>>>;

struct World {
    q: Q,
    fd: Arc<ModelFd>,
    fds: Arc<Fds>,
    ids: Vec<Id>,
    t0: Instant,
}

fn world(requests: u32, timeout: Option<Duration>) -> World {
    let fd = Arc::new(ModelFd::default());
    let t0 = Instant::now();
    let mut q = Completions::new(Requests::new(8, timeout), Fd(fd.clone()));
    let ids = (0..requests)
        .map(|i| {
            q.submit(7, Op::Open { path: CString::new("/m").unwrap(), flags: 0, mode: 0 }, i, t0).unwrap()
        })
        .collect();
    World { q: Arc::new(Mutex::new(q)), fd, fds: Arc::new(Fds::default()), ids, t0 }
}

/// A "syscall": an open makes a descriptor, a close (the library's owed closes) ends one.
fn run(op: &Op, fds: &Fds) -> i32 {
    match op {
        Op::Open { .. } => fds.open(),
        Op::Close { fd } => {
            fds.close(*fd);
            0
        }
        _ => 0,
    }
}

/// A worker: takes one request, runs it outside the lock and finishes it. A descriptor
/// nobody will receive (an abandoned open's) becomes an owed close in the queue.
fn worker(q: &Q, fds: &Fds) {
    let work = q.lock().unwrap().take_work(Instant::now());
    if let Some((id, op, _)) = work {
        let result = run(&op, fds);
        q.lock().unwrap().finish(id, op.kind(), result, Instant::now());
    }
}

/// The pool's workers after the race: they run what is left (owed closes) until nothing is.
fn run_owed(q: &Q, fds: &Fds) {
    loop {
        let work = q.lock().unwrap().take_work(Instant::now());
        let Some((id, op, _)) = work else { break };
        let result = run(&op, fds);
        q.lock().unwrap().finish(id, op.kind(), result, Instant::now());
    }
}

/// Starts `n` workers (each takes one request).
fn spawn_workers(w: &World, n: usize) -> Vec<thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (q, fds) = (w.q.clone(), w.fds.clone());
            thread::spawn(move || worker(&q, &fds))
        })
        .collect()
}

/// A delivering thread (reap, one at a time): the caller owns delivered descriptors.
fn deliver(q: &Q, fds: &Fds, out: &mut Vec<Completion<u32>>) {
    loop {
        let c = q.lock().unwrap().pop(true);
        let Some(c) = c else { break };
        if c.result >= 0 {
            fds.close(c.result);
        }
        out.push(c);
    }
}

/// At a quiescent point: the eventfd is readable iff completions are ready.
fn assert_readiness(w: &World) {
    let ready = w.q.lock().unwrap().table().ready();
    let readable = w.fd.count.load(SeqCst) > 0;
    assert_eq!(readable, ready > 0, "readiness out of step: readable={readable}, ready={ready}");
}

/// Delivers what is left and checks each request arrived exactly once.
fn drain_and_check(w: &World, mut seen: Vec<Completion<u32>>) -> Vec<Completion<u32>> {
    run_owed(&w.q, &w.fds);
    deliver(&w.q, &w.fds, &mut seen);
    assert_readiness(w);
    let mut ids: Vec<Id> = seen.iter().map(|c| c.id).collect();
    ids.sort();
    assert_eq!(ids, w.ids, "not every request delivered exactly once");
    w.fds.assert_none_open();
    seen
}

#[test]
fn cancel_vs_complete() {
    loom::model(|| {
        let w = world(1, None);
        let id = w.ids[0];
        let (q, fds) = (w.q.clone(), w.fds.clone());
        let worker_t = thread::spawn(move || worker(&q, &fds));
        w.q.lock().unwrap().cancel(id, libc::ECANCELED, Instant::now()).expect("undelivered, so cancellable");
        worker_t.join().unwrap();
        assert_readiness(&w);
        let seen = drain_and_check(&w, Vec::new());
        assert_eq!(seen[0].result, -libc::ECANCELED);
    });
}

#[test]
fn timeout_vs_complete() {
    loom::model(|| {
        let w = world(1, Some(Duration::from_millis(1)));
        let (q, fds) = (w.q.clone(), w.fds.clone());
        let worker_t = thread::spawn(move || worker(&q, &fds));
        // The watchdog, well past the deadline.
        w.q.lock().unwrap().expire(w.t0 + Duration::from_secs(3600));
        worker_t.join().unwrap();
        assert_readiness(&w);
        let seen = drain_and_check(&w, Vec::new());
        // Either the open finished before the deadline was processed, or it timed out.
        assert!(seen[0].result >= 0 || seen[0].result == -libc::ETIMEDOUT, "result {}", seen[0].result);
    });
}

#[test]
fn free_vs_complete() {
    loom::model(|| {
        let w = world(2, None);
        let workers = spawn_workers(&w, 2);
        // aopen_ctx_free: shut the queue and close the eventfd; what is owed, the workers close.
        {
            let mut g = w.q.lock().unwrap();
            g.shutdown(Instant::now());
            w.fd.closed.store(true, SeqCst);
        }
        for t in workers {
            t.join().unwrap();
        }
        run_owed(&w.q, &w.fds);
        // Nothing is delivered after a free, and nothing stays open.
        assert!(w.q.lock().unwrap().pop(true).is_none());
        w.fds.assert_none_open();
    });
}

#[test]
fn reap_vs_signal() {
    loom::model(|| {
        let w = world(2, None);
        let workers = spawn_workers(&w, 2);
        let mut seen = Vec::new();
        deliver(&w.q, &w.fds, &mut seen);
        deliver(&w.q, &w.fds, &mut seen);
        for t in workers {
            t.join().unwrap();
        }
        assert_readiness(&w);
        drain_and_check(&w, seen);
        assert_eq!(w.fd.count.load(SeqCst), 0, "readable after everything was delivered");
    });
}

/// A worker that counts its "syscall" in `in_syscall` and asserts the mount's share (1) is
/// never exceeded.
fn share_worker(q: &Q, fds: &Fds, in_syscall: &AtomicUsize) {
    let work = q.lock().unwrap().take_work(Instant::now());
    if let Some((id, op, _)) = work {
        assert!(in_syscall.fetch_add(1, SeqCst) < 1, "two syscalls of one mount with a share of 1");
        let result = run(&op, fds);
        in_syscall.fetch_sub(1, SeqCst);
        q.lock().unwrap().finish(id, op.kind(), result, Instant::now());
    }
}

#[test]
fn share_holds_while_a_cancelled_syscall_runs() {
    loom::model(|| {
        let fd = Arc::new(ModelFd::default());
        let t0 = Instant::now();
        let mut q = Completions::new(Requests::with_share(8, None, 1, usize::MAX), Fd(fd.clone()));
        let ids = (0..2)
            .map(|i| {
                q.submit(7, Op::Open { path: CString::new("/m").unwrap(), flags: 0, mode: 0 }, i, t0).unwrap()
            })
            .collect();
        let w = World { q: Arc::new(Mutex::new(q)), fd, fds: Arc::new(Fds::default()), ids, t0 };
        let in_syscall = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (q, fds, n) = (w.q.clone(), w.fds.clone(), in_syscall.clone());
                thread::spawn(move || share_worker(&q, &fds, &n))
            })
            .collect();
        // Cancel the first request, racing its syscall: an abandoned syscall keeps the share.
        w.q.lock().unwrap().cancel(w.ids[0], libc::ECANCELED, Instant::now()).expect("undelivered");
        for t in workers {
            t.join().unwrap();
        }
        // A worker that found the share held took nothing: the second request runs now, and
        // so does the owed close of the cancelled open's late descriptor (within the share).
        share_worker(&w.q, &w.fds, &in_syscall);
        share_worker(&w.q, &w.fds, &in_syscall);
        {
            let g = w.q.lock().unwrap();
            assert_eq!((g.table().abandoned(), g.table().running(), g.table().queued()), (0, 0, 0));
        }
        let seen = drain_and_check(&w, Vec::new());
        assert_eq!(seen.iter().filter(|c| c.result == -libc::ECANCELED).count(), 1);
    });
}

// The hand-off of work to idle workers (`parking`), in the shape of the pool's worker loop
// and `kick`: a worker takes work, else spins once (one spinner at a time), else parks until
// a claim or shutdown; a submit queues work and claims the spinner or a parked worker. The
// checks: no work is ever left with every worker parked (loom reports the deadlock), and
// the claim counts stay exact (Parking's debug_asserts; `make check-loom` builds with
// debug assertions).

use aopen::{Claim, Parking, Unpark};
use loom::sync::Condvar;

#[derive(Default)]
struct Pool {
    work: usize,
    done: usize,
    closed: bool,
    parking: Parking,
}

/// The pool as `pool::shared` drives it: submits push to a lock-free inbox and take the lock
/// only when the idle hint says a parked worker must be woken (no unclaimed spinner); a
/// worker takes the inbox in whenever it holds the lock, and publishes its idle hint before
/// it looks at the inbox one last time and parks.
#[derive(Default)]
struct PoolShared {
    m: Mutex<Pool>,
    work_cv: Condvar,
    done_cv: Condvar,
    /// Requests pushed and not yet taken in (the inbox's length).
    inbox: AtomicUsize,
    /// Parked unclaimed workers, and the unclaimed spinner, as last published.
    idle_hint: AtomicUsize,
    spinning_hint: AtomicUsize,
}

fn publish(s: &PoolShared, g: &Pool) {
    s.idle_hint.store(g.parking.parked_unclaimed(), SeqCst);
    s.spinning_hint.store(g.parking.spinning_unclaimed(), SeqCst);
}

/// Takes the inbox in (lock held).
fn take_in(s: &PoolShared, g: &mut Pool) {
    let n = s.inbox.swap(0, SeqCst);
    g.work += n;
}

fn pool_worker(s: &PoolShared) {
    let mut g = s.m.lock().unwrap();
    let mut spun = false;
    loop {
        take_in(s, &mut g);
        if g.work > 0 {
            g.work -= 1;
            spun = false;
            drop(g); // the syscall
            g = s.m.lock().unwrap();
            g.done += 1;
            s.done_cv.notify_all();
            continue;
        }
        if g.closed {
            break;
        }
        if !spun && g.parking.start_spin() {
            publish(s, &g);
            drop(g);
            if s.inbox.load(SeqCst) == 0 {
                thread::yield_now();
            }
            g = s.m.lock().unwrap();
            g.parking.end_spin();
            publish(s, &g);
            spun = true;
            continue;
        }
        g.parking.park();
        publish(s, &g);
        if s.inbox.load(SeqCst) > 0 {
            g.parking.unpark(true);
            publish(s, &g);
            continue;
        }
        loop {
            g = s.work_cv.wait(g).unwrap();
            let leave = g.closed || s.inbox.load(SeqCst) > 0;
            if g.parking.unpark(leave) != Unpark::Stay {
                break;
            }
        }
        publish(s, &g);
    }
}

fn pool_submit(s: &PoolShared) {
    s.inbox.fetch_add(1, SeqCst);
    if s.spinning_hint.load(SeqCst) > 0 || s.idle_hint.load(SeqCst) == 0 {
        return; // the spinner, or a busy worker when it next takes the lock, takes it in
    }
    let mut g = s.m.lock().unwrap();
    take_in(s, &mut g);
    if g.work > 0 && g.parking.claim() == Claim::Parked {
        s.work_cv.notify_one();
    }
    publish(s, &g);
}

/// Runs `workers` workers; the model's main thread submits `submits` times, while another
/// thread (if `stray`) wakes every parked worker claiming nothing, as a spurious wake-up
/// would; waits for all work to be done, then shuts the pool down.
fn hand_off(workers: usize, submits: usize, stray: bool) {
    // Bounded preemptions, as tokio's pool models do: lost wake-ups show within a few.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(move || {
        let s = Arc::new(PoolShared::default());
        let ws: Vec<_> = (0..workers)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || pool_worker(&s))
            })
            .collect();
        let stray = stray.then(|| {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.m.lock().unwrap();
                s.work_cv.notify_all();
            })
        });
        for _ in 0..submits {
            pool_submit(&s);
        }
        stray.into_iter().for_each(|t| t.join().unwrap());
        let mut g = s.m.lock().unwrap();
        while g.done < submits {
            // Not every path takes the submit in at once: a worker busy when it came does
            // when it next holds the lock (in the pool, also the watchdog's next round).
            g = s.done_cv.wait(g).unwrap();
        }
        g.closed = true;
        s.work_cv.notify_all();
        drop(g);
        ws.into_iter().for_each(|t| t.join().unwrap());
        let g = s.m.lock().unwrap();
        assert_eq!((g.work, s.inbox.load(SeqCst), g.parking.idle(), g.parking.unclaimed()), (0, 0, 0, 0));
    });
}

#[test]
fn hand_off_two_submits_two_workers() {
    hand_off(2, 2, false);
}

#[test]
fn hand_off_one_submit_two_workers() {
    hand_off(2, 1, false);
}

#[test]
fn hand_off_with_a_stray_wake_up() {
    hand_off(1, 1, true);
}

fn handed(id: Id, result: i32) -> Completion<u32> {
    Completion { id, op: aopen::OpKind::Open, result, token: id as u32, out: None }
}

/// Two workers hand completions off while the loop pops (and clears the eventfd when it
/// empties the queue): at the end, and after the loop takes the rest, the eventfd is
/// readable exactly while a completion is in the queue, and each is delivered once.
#[test]
fn outbox_readiness_under_racing_pushes_and_pops() {
    loom::model(|| {
        let fd = Arc::new(ModelFd::default());
        let out = Arc::new(Outbox::new(8, Fd(fd.clone())));
        let pushers: Vec<_> = [1, 2]
            .into_iter()
            .map(|id| {
                let out = out.clone();
                thread::spawn(move || assert!(out.push(handed(id, -1)).is_ok()))
            })
            .collect();
        let mut got: Vec<Id> = out.pop(true, &Inline::default()).map(|p| p.c.id).into_iter().collect();
        pushers.into_iter().for_each(|t| t.join().unwrap());
        let readable = fd.count.load(SeqCst) > 0;
        assert_eq!(readable, out.ready() > 0, "readiness out of step after the race");
        while let Some(p) = out.pop(true, &Inline::default()) {
            got.push(p.c.id);
        }
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_eq!(fd.count.load(SeqCst), 0, "readable with nothing queued");
    });
}

/// A cancel of a handed-off open (under the pool lock, as `Shared::cancel`) races the loop's
/// pop of it: exactly one wins. The cancel returns 0 only if the pop delivers -ECANCELED
/// (and the descriptor goes to the library); otherwise the cancel finds it delivered
/// (ENOENT) and the loop receives the descriptor. No claim is left behind.
#[test]
fn late_cancel_vs_delivery() {
    loom::model(|| {
        let fd = Arc::new(ModelFd::default());
        let out = Arc::new(Outbox::new(8, Fd(fd.clone())));
        assert!(out.push(handed(7, 100)).is_ok());
        // The pool's table, as far as this request goes: reported delivered or not.
        let table = Arc::new(Mutex::new(false));
        let cancel = {
            let (out, table) = (out.clone(), table.clone());
            thread::spawn(move || {
                let mut delivered = table.lock().unwrap();
                out.take_reports(|id| {
                    assert_eq!(id, 7);
                    *delivered = true;
                });
                if *delivered {
                    return -libc::ENOENT;
                }
                let late = out.begin_late_cancel();
                out.take_reports(|_| *delivered = true);
                if *delivered {
                    return -libc::ENOENT;
                }
                late.claim(7, 1);
                0
            })
        };
        let p = out.pop(true, &Inline::default()).expect("pushed before");
        let rc = cancel.join().unwrap();
        assert_eq!(
            p.cancelled.is_some(),
            rc == 0,
            "cancel returned {rc}, delivery cancelled: {:?}",
            p.cancelled
        );
        // A later pop of another open never sees a stale claim.
        assert!(out.push(handed(8, 101)).is_ok());
        assert!(out.pop(true, &Inline::default()).unwrap().cancelled.is_none());
    });
}

/// The same race for an open completed on the submitting thread (the `Inline` ledger, which
/// no worker touches): exactly one of the cancel and the delivery wins.
#[test]
fn inline_cancel_vs_delivery() {
    loom::model(|| {
        let fd = Arc::new(ModelFd::default());
        let out = Arc::new(Outbox::new(8, Fd(fd.clone())));
        let inline = Arc::new(Inline::default());
        let id = 9 | 1 << 61;
        inline.record(id, aopen::OpKind::Open);
        assert!(out.push(handed(id, 100)).is_ok());
        let cancel = {
            let inline = inline.clone();
            thread::spawn(move || inline.cancel(id).unwrap_or(Err(libc::ENOENT)))
        };
        let p = out.pop(true, &inline).expect("pushed before");
        let rc = cancel.join().unwrap();
        assert!(p.inline);
        assert_eq!(p.cancelled.is_some(), rc.is_ok(), "cancel {rc:?}, delivery cancelled: {:?}", p.cancelled);
        assert_eq!(inline.cancel(id), None, "delivered: nothing left to cancel");
    });
}
