//! `lockdep::stdsync` with the validator on: the std-shaped locks are validated like
//! lockdep's own (a mutex is a sleeping lock; an `RwLock` reader is a non-recursive one), and
//! the condition variable's waits release and retake the mutex as the real lock does. Each
//! check with the nearest legitimate pattern.

use lockdep::stdsync::{Condvar, Mutex, RwLock};
use lockdep::ReportKind::{CircularDependency, InvalidWaitContext, RecursiveLocking, SleepInAtomic};
use lockdep::{ReportKind, SpinLock};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

fn sorted(mut k: Vec<ReportKind>) -> Vec<ReportKind> {
    k.sort_by_key(|k| k.name());
    k
}

#[test]
fn abba_between_std_mutexes_is_reported_one_order_is_not() {
    let _s = serial();
    let (a, b) = (Mutex::new(0), Mutex::new(0));
    for _ in 0..2 {
        let _a = a.lock().unwrap();
        let _b = b.lock().unwrap();
    }
    assert_eq!(kinds(), []);
    let _b = b.lock().unwrap();
    let _a = a.lock().unwrap();
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn relocking_a_held_std_mutex_is_reported_then_panics_instead_of_hanging() {
    let _s = serial();
    let m = Mutex::new(0);
    let g = m.lock().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| drop(m.lock())));
    assert!(r.is_err());
    assert_eq!(kinds(), [RecursiveLocking]);
    drop(g);
    // The refused re-take left nothing held, and did not poison the mutex (it was never taken).
    lockdep::assert_none_held();
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 0);
    // A trylock of the held mutex is refused by the lock itself and not a report.
    let _g = m.lock().unwrap();
    assert!(m.try_lock().is_err());
    assert_eq!(kinds(), []);
}

#[test]
fn a_reader_of_a_read_held_std_rwlock_is_reported_distinct_locks_are_not() {
    let _s = serial();
    let l = RwLock::new(0);
    {
        let _r1 = l.read().unwrap();
        let _r2 = l.read().unwrap(); // a writer queued in between deadlocks this
    }
    assert_eq!(kinds(), [RecursiveLocking]);
    let other = RwLock::new(0);
    let _r1 = l.read().unwrap();
    let _r2 = other.read().unwrap();
    assert_eq!(kinds(), []);
}

#[test]
fn a_cycle_through_std_readers_is_a_deadlock() {
    let _s = serial();
    let (l, m) = (RwLock::new(0), Mutex::new(0));
    {
        let _r = l.read().unwrap();
        let _m = m.lock().unwrap();
    }
    let _m = m.lock().unwrap();
    let _w = l.write().unwrap();
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn downgrade_keeps_the_read_hold_validated() {
    let _s = serial();
    let (l, m) = (RwLock::new(0), Mutex::new(0));
    {
        let w = l.write().unwrap();
        let r = lockdep::stdsync::RwLockWriteGuard::downgrade(w);
        lockdep::assert_held_read(&l);
        let _m = m.lock().unwrap(); // l(read) -> m
        drop(r);
    }
    assert_eq!(kinds(), []);
    let _m = m.lock().unwrap();
    drop(l.read().unwrap()); // m -> l(read): closes the cycle through a non-recursive reader
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn a_std_mutex_under_a_spinlock_is_sleeping_in_atomic_context() {
    let _s = serial();
    let (spin, m, outer) = (SpinLock::new(()), Mutex::new(()), Mutex::new(()));
    {
        let _g = outer.lock().unwrap();
        let _s = spin.lock(); // a spinlock under a mutex is fine
    }
    assert_eq!(kinds(), []);
    let _s = spin.lock();
    drop(m.lock().unwrap());
    assert_eq!(sorted(kinds()), sorted(vec![InvalidWaitContext, SleepInAtomic]));
}

#[test]
fn a_condvar_wait_retakes_the_mutex_over_what_the_thread_holds() {
    let _s = serial();
    let (a, b, cv) = (Mutex::new(()), Mutex::new(()), Condvar::new());
    {
        // The usual shape: nothing else held across the wait.
        let g = a.lock().unwrap();
        let (g, timeout) = cv.wait_timeout(g, Duration::from_millis(1)).unwrap();
        assert!(timeout.timed_out());
        let _b = b.lock().unwrap(); // a -> b
        drop(g);
    }
    assert_eq!(kinds(), []);
    let g = a.lock().unwrap();
    let _b = b.lock().unwrap();
    // Waiting releases a while b stays held, and takes a again over b: b -> a.
    let (_g, _) = cv.wait_timeout(g, Duration::from_millis(1)).unwrap();
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn a_condvar_condition_runs_with_the_mutex_held() {
    let _s = serial();
    let (m, cv) = (Mutex::new(0u32), Condvar::new());
    let g = m.lock().unwrap();
    let mut checks = 0;
    let (g, r) = cv
        .wait_timeout_while(g, Duration::from_millis(2), |_| {
            lockdep::assert_held(&m);
            checks += 1;
            true
        })
        .unwrap();
    assert!(r.timed_out() && checks >= 2);
    let g = cv
        .wait_while(g, |v| {
            lockdep::assert_held(&m);
            *v != 0
        })
        .unwrap();
    drop(g);
    assert_eq!(kinds(), []);
}

#[test]
fn a_poisoned_std_mutex_hands_out_a_validated_guard() {
    let _s = serial();
    let (m, other) = (Mutex::new(1), Mutex::new(0));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let _g = m.lock().unwrap();
        panic!("poison it");
    }));
    assert!(m.is_poisoned());
    lockdep::assert_none_held();
    {
        let g = m.lock().unwrap_err().into_inner();
        lockdep::assert_held(&m);
        let _o = other.lock().unwrap(); // m -> other, though poisoned
        assert_eq!(*g, 1);
    }
    let _o = other.lock().unwrap();
    let e = m.try_lock().unwrap_err();
    assert!(matches!(e, lockdep::stdsync::TryLockError::Poisoned(_)));
    assert_eq!(kinds(), []); // a trylock adds no dependency into m
    drop(e);
    drop(m.lock()); // other -> m closes the cycle
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn destroying_a_held_std_mutex_is_reported() {
    let _s = serial();
    let m = Box::new(Mutex::new(0));
    std::mem::forget(m.lock().unwrap());
    drop(m);
    assert_eq!(kinds(), [ReportKind::HeldLockFreed]);
    let m = Mutex::new(5);
    assert_eq!(m.into_inner().unwrap(), 5);
    assert_eq!(kinds(), []);
}
