//! A lock dropped while another thread waits on it is ruled out by the types: a waiting thread
//! is inside `lock(&self)`, so it borrows the lock, and a borrowed value can be neither dropped
//! nor moved (`tests/ui/hostile/`, a compile-fail case each). Sharing across threads is done by
//! `Arc` or scoped borrows, which keep the lock alive until the last waiter is gone, so the
//! run-time case is only ever "the last owner drops a lock nobody waits on".

use crate::still_validates;
use lockdep::{Mutex, ReportKind};
use lockdep_suite::{kinds, serial};
use std::sync::{mpsc, Arc};
use std::time::Duration;

#[test]
fn dropping_or_moving_a_lock_another_thread_waits_on_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/hostile/*.rs");
}

#[test]
fn a_lock_shared_with_a_waiting_thread_lives_until_the_waiter_is_done() {
    let _s = serial();
    let m = Arc::new(Mutex::new(0));
    let g = m.lock();
    let (started, wait_started) = mpsc::channel();
    let waiter = {
        let m = m.clone();
        std::thread::spawn(move || {
            started.send(()).unwrap();
            *m.lock() += 1; // waits for the guard below
            drop(m); // the last owner: the lock is freed here, unheld
        })
    };
    wait_started.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20)); // let it block (not needed for soundness)
    let weak = Arc::downgrade(&m);
    drop(g);
    drop(m); // not the last owner: the waiter keeps the lock alive
    waiter.join().unwrap();
    assert!(weak.upgrade().is_none(), "the waiter did not free the lock");
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn a_lock_freed_unheld_after_scoped_waiters_is_silent() {
    let _s = serial();
    let m = Mutex::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| *m.lock() += 1);
        }
    });
    assert_eq!(m.into_inner(), 4);
    assert_eq!(kinds(), Vec::<ReportKind>::new());
    still_validates();
}
