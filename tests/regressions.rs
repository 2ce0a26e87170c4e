//! Cases found in review, each pinned by a test: the cached fast path must not hide what
//! depends on instances or contexts, merged nest-lock entries must release cleanly, report
//! de-duplication must not merge distinct violations, and validation goes on after a report.

use lockdep::ReportKind::*;
use lockdep::{Condvar, LockClass, LockMap, Mutex, RwLock, SpinLock, Srcu, WwAcquireCtx, WwClass, WwMutex};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};

static RESV: WwClass = WwClass::wait_die("regression_ww_class");

#[test]
fn merged_nest_entries_release_in_any_order() {
    let _s = serial();
    let (w0, w2, w3) = (
        WwMutex::new((), &RESV),
        WwMutex::new((), &RESV),
        WwMutex::new((), &RESV),
    );
    let y = Mutex::new(());
    let ctx = WwAcquireCtx::new(&RESV);
    let g0 = w0.lock(&ctx).unwrap();
    let gy = y.lock();
    let g2 = w2.lock(&ctx).unwrap();
    let g3 = w3.lock(&ctx).unwrap(); // merged into w2's entry
    drop(gy);
    drop(g0);
    drop(g2);
    drop(g3);
    lockdep::assert_not_held(&w0);
    lockdep::assert_not_held(&w3);
    drop(ctx);
    lockdep::assert_none_held();
    assert!(kinds().is_empty());
}

#[test]
fn threaded_and_non_threaded_irqs_are_different_chains() {
    let _s = serial();
    let s = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(s.lock());
    }
    assert!(kinds().is_empty());
    {
        let _irq = lockdep::irq_context_no_thread();
        drop(s.lock());
    }
    assert_eq!(kinds(), vec![InvalidWaitContext]);
}

#[test]
fn revalidation_after_release_judges_each_entry_by_what_was_below_it() {
    let _s = serial();
    let rw = RwLock::new(());
    let m = Mutex::new(());
    let s = SpinLock::new(());
    let r = rw.read();
    let g = m.lock();
    let sg = s.lock();
    drop(r); // re-validates m and s over nothing: m was not taken under s
    drop(sg);
    drop(g);
    assert!(kinds().is_empty());
}

#[test]
fn synchronize_marks_no_irq_enabled_usage() {
    let _s = serial();
    static DOM: Srcu = Srcu::new("regression_srcu");
    static MAP: LockMap = LockMap::new("regression_map");
    {
        let _irq = lockdep::irq_context();
        drop(DOM.read_lock());
        drop(MAP.read_recursive());
    }
    DOM.synchronize();
    MAP.sync();
    assert!(kinds().is_empty());
}

#[test]
fn distinct_violations_with_similar_numbers_are_all_reported() {
    let _s = serial();
    // Two different classes with the same kind of conflict: both reported.
    let (a, b) = (SpinLock::new(()), SpinLock::new(()));
    for l in [&a, &b] {
        {
            let _irq = lockdep::irq_context();
            drop(l.lock());
        }
        drop(l.lock());
    }
    assert_eq!(kinds(), vec![InconsistentLockState, InconsistentLockState]);
}

#[test]
fn same_lock_under_another_subclass_panics_even_when_the_chain_is_cached() {
    let _s = serial();
    static C: LockClass = LockClass::new("regression_nested");
    let (a1, a2) = (Mutex::with_class((), &C), Mutex::with_class((), &C));
    {
        let _x = a1.lock();
        let _y = a2.lock_nested(1);
    }
    assert!(kinds().is_empty());
    let _x = a1.lock();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(a1.lock_nested(1)))).is_err());
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn nest_lock_not_held_is_caught_on_a_cached_chain() {
    let _s = serial();
    let mk = || SpinLock::new(());
    let (x1, x2) = (mk(), mk());
    let (n1, n2) = (SpinLock::new(()), SpinLock::new(()));
    {
        let _n = n1.lock();
        let _x = x1.lock_nest_lock(&n1);
    }
    assert!(kinds().is_empty());
    {
        let _n = n1.lock();
        let _x = x2.lock_nest_lock(&n2); // n2 is not held
    }
    assert_eq!(kinds(), vec![NestLockNotHeld]);
}

#[test]
fn condvar_wait_keeps_the_nest_annotation() {
    let _s = serial();
    let mk = || Mutex::new(false);
    let (x1, x2) = (mk(), mk());
    let n = Mutex::new(());
    let cv = Condvar::new();
    let _n = n.lock();
    let _g1 = x1.lock_nest_lock(&n);
    let mut g2 = x2.lock_nest_lock(&n);
    let _ = cv.wait_for(&mut g2, std::time::Duration::from_millis(1));
    let r = lockdep::take_reports();
    assert!(r.is_empty(), "{}", r[0]);
}

#[test]
fn releasing_the_nest_lock_under_nested_locks_is_reported() {
    let _s = serial();
    let mk = || Mutex::new(());
    let (x1, x2) = (mk(), mk());
    let n = Mutex::new(());
    let gn = n.lock();
    let g1 = x1.lock_nest_lock(&n);
    let g2 = x2.lock_nest_lock(&n);
    drop(gn);
    drop((g2, g1));
    assert_eq!(kinds(), vec![NestLockNotHeld]);
}

#[test]
fn validation_goes_on_after_a_cycle_is_reported() {
    let _s = serial();
    let (a, b, x) = (Mutex::new(()), Mutex::new(()), Mutex::new(()));
    drop((a.lock(), b.lock())); // a -> b
    {
        let _b = b.lock();
        let _a = a.lock(); // b -> a: reported, and still recorded
    }
    assert_eq!(kinds(), vec![CircularDependency]);
    drop((x.lock(), b.lock())); // x -> b
    {
        let _a = a.lock();
        let _x = x.lock(); // a -> x closes x -> b -> a
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}
