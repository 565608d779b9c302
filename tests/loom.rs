//! Model checks (loom) of the structures the pool drives, driven as the pool drives them:
//! the request table (`Requests`, with its per-mount shares) under the pool lock, and the
//! lock-free hand-off to the loop beside it (`Outbox`: its readiness counter, the flush of
//! ready completions, a cancel settled with the delivery of a handed-off open; `Inline`: the
//! same for an open completed on the submitting thread). Each lock section is shaped as the
//! pool's (`section`: delivery reports taken in first, ready completions handed off last);
//! what a section does is one call into the live code (`take_work`, `finish`,
//! `Outbox::cancel`, `expire`, `Outbox::drain` and `shutdown`). The worker loop itself
//! (`Shared::worker`) spawns threads and makes syscalls (the executor, `gettid`, `/proc`), so
//! the last models, of the hand-off of submits to idle workers, drive the live `Parking`
//! through a model of that loop. Run with `make check-loom`.
//!
//! The eventfd and the process descriptor table are modelled, so every interleaving loom
//! explores is checked for: each request delivered exactly once (at most once after a
//! free), every descriptor closed exactly once, readiness readable iff completions are
//! ready whenever the queue is quiescent, no signal after the queue is closed, and never
//! more syscalls of one mount than its share, even while a cancelled one still runs.
#![cfg(loom)]

use aopen::{Completion, FsId, Id, Op, Requests};
use aopen::{Inline, Outbox, Popped, Readiness};
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

/// The mount every model request is charged to.
const MOUNT: FsId = 7;

/// A context as the pool holds it: the table under the pool lock, the hand-off beside it.
struct World {
    table: Mutex<Requests<u32>>,
    out: Outbox<u32, Fd>,
    inline: Inline,
    fd: Arc<ModelFd>,
    fds: Fds,
    ids: Vec<Id>,
    t0: Instant,
}

type W = Arc<World>;

/// A table of `requests` opens of [`MOUNT`], taken in as the pool takes a submit in (an id
/// from the table's slots, then `ingest`).
fn world_with(mut table: Requests<u32>, requests: u32) -> W {
    let fd = Arc::new(ModelFd::default());
    let t0 = Instant::now();
    let ids = (0..requests)
        .map(|i| {
            let id = table.ids().take().unwrap();
            let op = Op::Open { path: CString::new("/m").unwrap(), flags: 0, mode: 0 };
            table.ingest(id, MOUNT, op, i, t0).unwrap();
            id
        })
        .collect();
    let out = Outbox::new(8, Fd(fd.clone()));
    let (inline, fds) = (Inline::default(), Fds::default());
    Arc::new(World { table: Mutex::new(table), out, inline, fd, fds, ids, t0 })
}

fn world(requests: u32, timeout: Option<Duration>) -> W {
    world_with(Requests::new(timeout, usize::MAX, usize::MAX), requests)
}

/// One section under the pool lock, as the pool's are: the loop's delivery reports taken in
/// when the lock is taken (`Shared::lock`), the table's ready completions handed off before
/// it is let go (`Shared::woke`).
fn section<R>(w: &World, f: impl FnOnce(&mut Requests<u32>) -> R) -> R {
    let mut t = w.table.lock().unwrap();
    w.out.take_reports(|id| t.delivered(id));
    let r = f(&mut t);
    w.out.flush_from(&mut t);
    r
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

/// A worker: takes one request, runs it outside the lock and finishes it (`in_syscall`,
/// if given, counts the syscalls running and asserts a share of 1). A descriptor nobody
/// will receive (an abandoned open's) becomes an owed close in the table. Returns whether
/// it found work.
fn worker_counting(w: &World, in_syscall: Option<&AtomicUsize>) -> bool {
    let Some((id, op, _)) = section(w, |t| t.take_work(Instant::now())) else { return false };
    if let Some(n) = in_syscall {
        assert!(n.fetch_add(1, SeqCst) < 1, "two syscalls of one mount with a share of 1");
    }
    let result = run(&op, &w.fds);
    if let Some(n) = in_syscall {
        n.fetch_sub(1, SeqCst);
    }
    section(w, |t| t.finish(id, op.kind(), result, None, Instant::now()));
    true
}

fn worker(w: &World) {
    worker_counting(w, None);
}

/// The pool's workers after the race: they run what is left (owed closes) until nothing is.
fn run_owed(w: &World) {
    while worker_counting(w, None) {}
}

/// Starts `n` workers (each takes one request).
fn spawn_workers(w: &W, n: usize) -> Vec<thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let w = w.clone();
            thread::spawn(move || worker(&w))
        })
        .collect()
}

/// The loop's cancel (`Shared::cancel`): in the table, or settled with the delivery of a
/// handed-off open.
fn cancel(w: &World, id: Id) -> Result<bool, i32> {
    section(w, |t| w.out.cancel(t, id, Instant::now()))
}

/// A delivering thread (reap, one at a time), as `Shared::pop` and `Shared::settle`: a
/// report that did not fit is made under the lock; a cancel that won over an open's
/// delivery hands the descriptor to a worker to close (`Shared::close_detached`), or closes
/// it after shutdown; otherwise the caller owns a delivered descriptor.
fn deliver(w: &World, out: &mut Vec<Completion<u32>>) {
    while let Some(p) = w.out.pop(true, &w.inline) {
        out.push(settle(w, p));
    }
}

/// What one pop owes (see [`deliver`]).
fn settle(w: &World, p: Popped<u32>) -> Completion<u32> {
    let mut c = p.c;
    if p.unreported {
        section(w, |t| t.delivered(c.id));
    }
    if let Some(fs) = p.cancelled {
        let fd = c.result;
        let shut = section(w, |t| {
            if t.is_closed() {
                return true;
            }
            t.owe_close(fs, fd, Instant::now());
            false
        });
        if shut {
            w.fds.close(fd);
        }
        c.result = -libc::ECANCELED;
    } else if c.result >= 0 {
        w.fds.close(c.result);
    }
    c
}

/// At a quiescent point: every ready completion was handed off, and the eventfd is
/// readable iff the hand-off holds one.
fn assert_readiness(w: &World) {
    let in_table = w.table.lock().unwrap().ready();
    assert_eq!(in_table, 0, "ready completions left in the table");
    let ready = w.out.ready();
    let readable = w.fd.count.load(SeqCst) > 0;
    assert_eq!(readable, ready > 0, "readiness out of step: readable={readable}, ready={ready}");
}

/// Delivers what is left and checks each request arrived exactly once.
fn drain_and_check(w: &World, mut seen: Vec<Completion<u32>>) -> Vec<Completion<u32>> {
    run_owed(w);
    deliver(w, &mut seen);
    run_owed(w); // the closes a late cancel handed over
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
        let worker_t = spawn_workers(&w, 1);
        // Before the worker finished, or after: then settled with the delivery.
        cancel(&w, id).expect("undelivered, so cancellable");
        worker_t.into_iter().for_each(|t| t.join().unwrap());
        assert_readiness(&w);
        let seen = drain_and_check(&w, Vec::new());
        assert_eq!(seen[0].result, -libc::ECANCELED);
    });
}

#[test]
fn timeout_vs_complete() {
    loom::model(|| {
        let w = world(1, Some(Duration::from_millis(1)));
        let worker_t = spawn_workers(&w, 1);
        // The watchdog, well past the deadline.
        section(&w, |t| t.expire(w.t0 + Duration::from_secs(3600)));
        worker_t.into_iter().for_each(|t| t.join().unwrap());
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
        // aopen_ctx_free (`Shared::shutdown`): the hand-off emptied, the table shut, the
        // descriptors nobody will receive owed, the eventfd closed; the workers close them.
        section(&w, |t| {
            let undelivered = w.out.drain(t);
            t.shutdown(Instant::now());
            for (fs, fd) in undelivered {
                t.owe_close(fs, fd, Instant::now());
            }
            w.fd.closed.store(true, SeqCst);
        });
        for t in workers {
            t.join().unwrap();
        }
        run_owed(&w);
        // Nothing is delivered after a free, and nothing stays open.
        assert!(w.out.pop(true, &w.inline).is_none());
        assert_eq!(w.table.lock().unwrap().ready(), 0);
        w.fds.assert_none_open();
    });
}

/// loom's search with at most `preemptions` per execution, as tokio's pool models run:
/// lost wake-ups and races of this kind show within a few, and the models with the most
/// threads and hand-offs do not finish in reasonable time unbounded.
fn bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(f);
}

#[test]
fn reap_vs_signal() {
    // Two workers' sections and flushes against two delivery loops: unbounded, more than
    // ten minutes; 5 preemptions, seconds.
    bounded(5, || {
        let w = world(2, None);
        let workers = spawn_workers(&w, 2);
        let mut seen = Vec::new();
        deliver(&w, &mut seen);
        deliver(&w, &mut seen);
        for t in workers {
            t.join().unwrap();
        }
        assert_readiness(&w);
        drain_and_check(&w, seen);
        assert_eq!(w.fd.count.load(SeqCst), 0, "readable after everything was delivered");
    });
}

#[test]
fn share_holds_while_a_cancelled_syscall_runs() {
    loom::model(|| {
        let w = world_with(Requests::new(None, 1, usize::MAX), 2);
        let in_syscall = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (w, n) = (w.clone(), in_syscall.clone());
                thread::spawn(move || {
                    worker_counting(&w, Some(&n));
                })
            })
            .collect();
        // Cancel the first request, racing its syscall: an abandoned syscall keeps the share.
        cancel(&w, w.ids[0]).expect("undelivered");
        for t in workers {
            t.join().unwrap();
        }
        // A worker that found the share held took nothing: the second request runs now, and
        // so does the owed close of the cancelled open's late descriptor (within the share).
        worker_counting(&w, Some(&in_syscall));
        worker_counting(&w, Some(&in_syscall));
        {
            let t = w.table.lock().unwrap();
            assert_eq!((t.abandoned(), t.running(), t.queued()), (0, 0, 0));
        }
        let seen = drain_and_check(&w, Vec::new());
        assert_eq!(seen.iter().filter(|c| c.result == -libc::ECANCELED).count(), 1);
    });
}

// The hand-off of work to idle workers (`parking`): the live `Parking` (which idle worker
// a submit claims), driven by a model of the pool's worker loop and `kick`, not by the pool
// itself: `Shared::worker` spawns threads and runs syscalls (the executor, `gettid`, the
// spin's clock, the watchdog's `/proc` reads), which loom cannot run, so its idle path is
// restated here (a worker takes work, else spins once, one spinner at a time, else parks
// until a claim or shutdown; a submit queues work and claims the spinner or a parked
// worker). A change to that path in `pool/worker.rs` or `pool/wake.rs` must be made here
// too. The checks: no work is ever left with every worker parked (loom reports the
// deadlock), and the claim counts stay exact (Parking's debug_asserts; `make check-loom`
// builds with debug assertions).

use aopen::{Doorbell, Parking, Unpark};
use loom::sync::Condvar;

#[derive(Default)]
struct Pool {
    work: usize,
    done: usize,
    closed: bool,
    parking: Parking,
}

/// The pool as `pool::shared` drives it, on the live [`Parking`] and [`Doorbell`]: submits
/// push to a lock-free inbox and, unless a spinner is unclaimed, claim a parked worker and
/// ring it without the lock; a worker takes the inbox in whenever it holds the lock and
/// hands on by a claim what no claimed worker comes for; a parking worker counts as idle
/// before its last look at the inbox and sleeps on the count read with that look.
#[derive(Default)]
struct PoolShared {
    m: Mutex<Pool>,
    bell: Doorbell,
    done_cv: Condvar,
    /// Requests pushed and not yet taken in (the inbox's length).
    inbox: AtomicUsize,
    /// The unclaimed spinner, as last published.
    spinning_hint: AtomicUsize,
}

fn publish(s: &PoolShared, g: &Pool) {
    s.spinning_hint.store(g.parking.spinning_unclaimed(), SeqCst);
}

/// Takes the inbox in (lock held), and hands on what this worker, taking one, leaves and
/// no claimed worker comes for (`Shared::refresh_unpublished`).
fn take_in(s: &PoolShared, g: &mut Pool) {
    let n = s.inbox.swap(0, SeqCst);
    g.work += n;
    if n > 0 && g.work > 1 + s.bell.on_their_way() {
        g.parking.claim(&s.bell);
    }
}

/// A worker; one that `spins` spins once before its first park, as the pool's first idle
/// worker does (one that does not is a worker that already spun since its last work).
fn pool_worker(s: &PoolShared, spins: bool) {
    let mut g = s.m.lock().unwrap();
    let mut spun = !spins;
    loop {
        take_in(s, &mut g);
        publish(s, &g);
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
        g.parking.park(&s.bell);
        publish(s, &g);
        loop {
            // Counted as idle, then the fence, then the look (`pool::worker`).
            loom::sync::atomic::fence(SeqCst);
            let leave = g.closed || s.inbox.load(SeqCst) > 0;
            match g.parking.unpark(&s.bell, leave) {
                (Unpark::Stay, count) => {
                    drop(g);
                    s.bell.sleep(count, None);
                    g = s.m.lock().unwrap();
                }
                _ => break,
            }
        }
        publish(s, &g);
    }
}

fn pool_submit(s: &PoolShared) {
    s.inbox.fetch_add(1, SeqCst);
    // The push, then the fence, then the hints and the claim (`Shared::submit`).
    loom::sync::atomic::fence(SeqCst);
    if s.spinning_hint.load(SeqCst) > 0 {
        return; // the spinner takes it in
    }
    // A parked worker claimed and rung takes it in; with none parked, a busy worker when
    // it next takes the lock.
    s.bell.claim();
}

/// Runs `workers` workers (spinning once before they park if `spin`); the model's main
/// thread submits `submits` times, while another thread (if `stray`) wakes every parked
/// worker claiming nothing, as a spurious wake-up would; waits for all work to be done,
/// then shuts the pool down.
fn hand_off(workers: usize, submits: usize, stray: bool, spin: bool) {
    bounded(3, move || {
        let s = Arc::new(PoolShared::default());
        let ws: Vec<_> = (0..workers)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || pool_worker(&s, spin))
            })
            .collect();
        let stray = stray.then(|| {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.m.lock().unwrap();
                s.bell.ring_all();
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
        s.bell.ring_all();
        drop(g);
        ws.into_iter().for_each(|t| t.join().unwrap());
        let g = s.m.lock().unwrap();
        assert_eq!(
            (g.work, s.inbox.load(SeqCst), g.parking.idle(), g.parking.unclaimed(&s.bell)),
            (0, 0, 0, 0)
        );
    });
}

#[test]
fn hand_off_two_submits_two_workers() {
    hand_off(2, 2, false, true);
}

#[test]
fn hand_off_one_submit_two_workers() {
    hand_off(2, 1, false, true);
}

#[test]
fn hand_off_with_a_stray_wake_up() {
    hand_off(1, 1, true, true);
}

/// A submit whose claim finds no idle worker, because the only one is between its last
/// take-in and its park: the worker's look at the inbox after it counts as idle finds it.
#[test]
fn hand_off_to_a_worker_about_to_park() {
    hand_off(1, 1, false, false);
}

/// A completion as a worker's flush (`Outbox::flush_from`) or the fast path hands it off.
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

/// A cancel of a handed-off open (`Outbox::cancel` under the pool lock, as
/// `Shared::cancel`) races the loop's pop of it: exactly one wins. The cancel succeeds only
/// if the pop delivers -ECANCELED (and the descriptor goes to the library); otherwise the
/// cancel finds it delivered (ENOENT) and the loop receives the descriptor. No claim is
/// left behind: the next open handed off is delivered as it is.
#[test]
fn late_cancel_vs_delivery() {
    loom::model(|| {
        let w = world(2, None);
        // Both opens run and are handed off before the race.
        worker(&w);
        worker(&w);
        let (first, second) = (w.ids[0], w.ids[1]);
        let cancel_t = {
            let w = w.clone();
            thread::spawn(move || cancel(&w, first))
        };
        let p = w.out.pop(true, &w.inline).expect("handed off before");
        assert_eq!(p.c.id, first);
        let won = p.cancelled.is_some();
        let c = settle(&w, p);
        let rc = cancel_t.join().unwrap();
        assert!(matches!(rc, Ok(true) | Err(libc::ENOENT)), "cancel returned {rc:?}");
        assert_eq!(won, rc.is_ok(), "cancel returned {rc:?}, delivery cancelled: {won}");
        let seen = drain_and_check(&w, vec![c]);
        assert!(seen.iter().any(|c| c.id == second && c.result >= 0), "a stale claim on the next open");
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
