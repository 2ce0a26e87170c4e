//! `mem::forget` of a guard: the plain lock stays locked, and the validator keeps it held for
//! the thread — later acquisitions are validated against it, re-taking it is reported (and
//! panics instead of hanging), and destroying the lock reports a held lock freed and forgets it.

use crate::still_validates;
use lockdep::{Mutex, ReportKind, SpinLock};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn a_forgotten_guard_keeps_its_lock_held_and_ordered_before_later_locks() {
    let _s = serial();
    let (a, b) = (Mutex::new(()), Mutex::new(()));
    std::mem::forget(a.lock());
    assert!(a.is_locked() && a.is_held_by_current_thread());
    drop(b.lock()); // records a -> b: a is still held
    assert!(kinds().is_empty());
    // SAFETY: held by this thread through the guard forgotten above.
    unsafe { a.force_unlock() };
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    still_validates();
}

#[test]
fn retaking_a_lock_whose_guard_was_forgotten_is_reported_then_panics_instead_of_hanging() {
    let _s = serial();
    let m = Mutex::new(());
    std::mem::forget(m.lock());
    let err = catch_unwind(AssertUnwindSafe(|| drop(m.lock()))).expect_err("must not hang");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("would deadlock"), "{msg}");
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
    assert!(
        m.is_held_by_current_thread(),
        "the refused acquisition changed the record"
    );
    // SAFETY: held by this thread through the guard forgotten above.
    unsafe { m.force_unlock() };
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn a_trylock_of_a_lock_whose_guard_was_forgotten_fails_quietly() {
    let _s = serial();
    let m = SpinLock::new(());
    std::mem::forget(m.lock());
    assert!(m.try_lock().is_none());
    assert!(kinds().is_empty());
    // SAFETY: held by this thread through the guard forgotten above.
    unsafe { m.force_unlock() };
    still_validates();
}

#[test]
fn destroying_a_lock_whose_guard_was_forgotten_reports_a_held_lock_freed_and_forgets_it() {
    let _s = serial();
    let (outer, inner) = (Mutex::new(()), Box::new(Mutex::new(())));
    let _o = outer.lock();
    std::mem::forget(inner.lock());
    drop(inner);
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::HeldLockFreed);
    assert_eq!(r[0].headline(), "WARNING: held lock freed!");
    // The freed lock is gone from the stack; the lock under it is still held.
    assert!(outer.is_held_by_current_thread());
    drop(_o);
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn consuming_a_lock_whose_guard_was_forgotten_reports_a_held_lock_freed() {
    let _s = serial();
    let m = Mutex::new(7);
    std::mem::forget(m.lock());
    assert_eq!(m.into_inner(), 7);
    assert_eq!(kinds(), vec![ReportKind::HeldLockFreed]);
    still_validates();
}

#[test]
fn dropping_a_moved_lock_whose_guard_was_forgotten_reports_a_held_lock_freed() {
    let _s = serial();
    let outer = Mutex::new(());
    let _o = outer.lock();
    let m = lockdep::RwLock::new(());
    std::mem::forget(m.write());
    let moved = vec![m]; // no guard borrows it any more: it may move
    drop(moved);
    assert_eq!(kinds(), vec![ReportKind::HeldLockFreed]);
    assert!(outer.is_held_by_current_thread());
    drop(_o);
    still_validates();
}

/// The closest legitimate pattern: the forgotten guard's lock released again, then consumed.
#[test]
fn consuming_a_lock_released_after_its_guard_was_forgotten_reports_nothing() {
    let _s = serial();
    let m = Mutex::new(7);
    std::mem::forget(m.lock());
    // SAFETY: held by this thread through the guard forgotten above.
    unsafe { m.force_unlock() };
    assert_eq!(m.into_inner(), 7);
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn synchronizing_srcu_inside_a_forgotten_read_section_is_reported_then_panics_instead_of_hanging() {
    let _s = serial();
    // The domain's forgotten reader never ends, so the domain can never complete a grace period
    // again: it is this test's alone.
    static DOMAIN: lockdep::Srcu = lockdep::Srcu::new("hostile_srcu");
    // On a thread of its own, so a hang fails the test instead of stalling it.
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        std::mem::forget(DOMAIN.read_lock());
        let r = catch_unwind(AssertUnwindSafe(|| DOMAIN.synchronize()));
        let _ = done.send((r.is_err(), lockdep_suite::kinds()));
    });
    let (panicked, k) = wait
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("synchronize() inside a forgotten read section hung");
    assert!(panicked);
    // The report, then the thread exits inside its read section.
    assert_eq!(k, vec![ReportKind::SuspiciousRcuUsage]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut at_exit = Vec::new();
    while at_exit.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
        at_exit = kinds();
    }
    assert_eq!(at_exit, vec![ReportKind::LocksHeldAtExit]);
    still_validates();
}
