//! The loop's thread never sleeps on the pool lock to hand work on: with the lock held by
//! another thread (a worker preempted inside its lock section, as a seeded simulation once
//! saw stall `aopen_getdents_submit` for 24.6 ms), a submit that must start a worker, wake
//! a parked one, or have the watchdog grow the pool still returns at once, and the work is
//! done once the lock is let go.

use super::*;
use crate::op::Job;
use crate::sync::lock;
use std::sync::mpsc;
use std::time::Instant;

/// Holds the pool lock on another thread until the returned sender is dropped or sent to.
fn hold_lock(ctx: &Context<u64>) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let shared = Arc::clone(&ctx.shared);
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        let _g = lock(&shared.inner);
        held_tx.send(()).unwrap();
        let _ = go_rx.recv_timeout(Duration::from_secs(30));
    });
    held_rx.recv().unwrap();
    (go_tx, h)
}

fn call(f: impl FnOnce() -> i32 + Send + 'static) -> Op {
    Op::Call { job: Job::new(f), fs_path: None, fs_fd: -1 }
}

/// Submits `op` while another thread holds the pool lock (for [`HOLD`] after the submit
/// returned, so that a submit that waited for it takes that long), and returns how long the
/// submit took.
fn submit_behind_held_lock(ctx: &Context<u64>, op: Op, token: u64) -> Duration {
    let (go, h) = hold_lock(ctx);
    let t = Instant::now();
    ctx.submit_op(op, token).map_err(|(e, _)| e).expect("submit");
    let took = t.elapsed();
    std::thread::sleep(HOLD);
    drop(go);
    h.join().unwrap();
    took
}

/// Reaps until `tokens` have all completed (each with its token as the result), or panics
/// after 30 s.
fn reap_all(ctx: &Context<u64>, mut tokens: Vec<u64>) {
    let until = Instant::now() + Duration::from_secs(30);
    while !tokens.is_empty() {
        assert!(Instant::now() < until, "not completed: {tokens:?}");
        ctx.wait(Some(Duration::from_millis(100))).unwrap();
        ctx.reap(64, |c| {
            assert_eq!(c.result as u64, c.token, "request {} result", c.token);
            tokens.retain(|&t| t != c.token);
        })
        .unwrap();
    }
}

/// Waits up to 10 s for `cond`.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < until, "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

const HOLD: Duration = Duration::from_secs(2);
const PROMPT: Duration = Duration::from_millis(500);

#[test]
fn a_submit_never_waits_for_the_pool_lock() {
    let cfg = Config { threads: 2, no_inline: true, ..Config::default() };
    let ctx: Context<u64> = Context::new(&cfg).unwrap();
    let token = |n: u64| move || n as i32;

    // 1. No worker yet: the submit starts one.
    let took = submit_behind_held_lock(&ctx, call(token(1)), 1);
    assert!(took < PROMPT, "a submit that starts a worker waited {took:?} for the lock");
    reap_all(&ctx, vec![1]);

    // 2. Workers parked: the submit wakes one.
    eventually("the worker idles", || {
        let s = ctx.stats().unwrap();
        s.threads > 0 && s.idle == s.threads
    });
    std::thread::sleep(Duration::from_millis(20)); // past the spin: parked
    let took = submit_behind_held_lock(&ctx, call(token(2)), 2);
    assert!(took < PROMPT, "a submit that wakes a parked worker waited {took:?} for the lock");
    reap_all(&ctx, vec![2]);

    // 3. Every worker busy: the submit has the watchdog look sooner (to grow the pool).
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    for n in [3, 4] {
        let rx = Arc::clone(&release_rx);
        ctx.submit_op(
            call(move || {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(30));
                n as i32
            }),
            n,
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    eventually("both workers run", || {
        let s = ctx.stats().unwrap();
        s.running == 2 && s.idle == 0
    });
    let took = submit_behind_held_lock(&ctx, call(token(5)), 5);
    assert!(took < PROMPT, "a submit behind busy workers waited {took:?} for the lock");
    // The pool grows past the two busy workers: 5 completes while they still wait.
    reap_all(&ctx, vec![5]);
    drop(release_tx);
    reap_all(&ctx, vec![3, 4]);
    ctx.shutdown();
}
