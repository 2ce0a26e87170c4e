//! A wounded transaction that is waiting for another lock is woken by its wounder, not by a
//! timer: in wound-wait, an older transaction wanting a lock held by a younger one wounds it;
//! if the younger one is asleep waiting for a lock the older one holds, nothing else would
//! ever wake it (the older one waits for it, and it for the older one). Completion is awaited
//! through channels with a generous bound, so a missing wake-up fails instead of hanging.

use lockdep::{WwAcquireCtx, WwClass, WwError, WwMutex};
use lockdep_suite::serial;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Long enough for any machine; a missing wake-up never completes at all.
const BOUND: Duration = Duration::from_secs(20);

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

#[test]
fn a_wounded_waiter_wakes_and_backs_off() {
    let _s = serial();
    static CLASS: WwClass = WwClass::wound_wait("test_wound_wakes");
    let a: &'static WwMutex<u32> = leak(WwMutex::new(0, &CLASS));
    let b: &'static WwMutex<u32> = leak(WwMutex::new(0, &CLASS));
    let (to_old, old_rx) = mpsc::channel::<()>();
    let (to_young, young_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<&'static str>();

    // The older transaction: created first.
    let old_ctx_made = mpsc::channel::<()>();
    let done_old = done_tx.clone();
    let old = thread::spawn(move || {
        let ctx = WwAcquireCtx::new(&CLASS);
        old_ctx_made.0.send(()).unwrap();
        let gb = b.lock(&ctx).unwrap();
        to_young.send(()).unwrap(); // b is held: the young one may now wait for it
        old_rx.recv().unwrap(); // the young one holds a and is about to wait for b
                                // Setup only, not the bound: give the young one time to fall asleep on b, so the
                                // wound finds it waiting (were it not yet, it would find itself wounded on its check).
        thread::sleep(Duration::from_millis(50));
        // Wounds the young holder of a, then waits for it to back off.
        let ga = a.lock(&ctx).unwrap();
        ctx.done();
        drop((ga, gb));
        done_old.send("old").unwrap();
    });
    old_ctx_made.1.recv().unwrap();

    let young = thread::spawn(move || {
        let ctx = WwAcquireCtx::new(&CLASS);
        let ga = a.lock(&ctx).unwrap();
        young_rx.recv().unwrap();
        to_old.send(()).unwrap();
        // b is held by the older transaction: wait (wound-wait never dies on its own) until
        // wounded, then back off.
        let r = b.lock(&ctx);
        assert_eq!(r.err(), Some(WwError::Deadlk));
        drop(ga);
        let gb = b.lock_slow(&ctx);
        let ga = a.lock(&ctx).unwrap();
        ctx.done();
        drop((ga, gb));
        done_tx.send("young").unwrap();
    });

    let mut finished = Vec::new();
    for _ in 0..2 {
        finished.push(done_rx.recv_timeout(BOUND).expect("a transaction never woke up"));
    }
    old.join().unwrap();
    young.join().unwrap();
    finished.sort_unstable();
    assert_eq!(finished, ["old", "young"]);
    assert!(lockdep::take_reports().is_empty());
}

#[test]
fn a_waiter_that_is_not_wounded_waits_for_the_release() {
    // The nearest legitimate pattern: the younger transaction waits for an older holder and
    // gets the lock when it is released, without backing off.
    let _s = serial();
    static CLASS: WwClass = WwClass::wound_wait("test_wound_not_wounded");
    let a: &'static WwMutex<u32> = leak(WwMutex::new(0, &CLASS));
    let b: &'static WwMutex<u32> = leak(WwMutex::new(0, &CLASS));
    let old_ctx = WwAcquireCtx::new(&CLASS);
    let gb = b.lock(&old_ctx).unwrap();
    let (tx, rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let young = thread::spawn(move || {
        let ctx = WwAcquireCtx::new(&CLASS);
        let ga = a.lock(&ctx).unwrap();
        started_tx.send(()).unwrap();
        let r = b.lock(&ctx).map(|g| *g);
        drop(ga);
        tx.send(r).unwrap();
    });
    started_rx.recv().unwrap();
    drop(gb);
    drop(old_ctx);
    assert_eq!(rx.recv_timeout(BOUND).expect("the waiter never woke up"), Ok(0));
    young.join().unwrap();
    assert!(lockdep::take_reports().is_empty());
}
