//! Panics: one unwinding through held guards releases each of them (in any order), a report
//! turned into a panic leaves the lock untaken, and a report made while a thread is already
//! unwinding is printed, never a second panic (which would abort the process).

use crate::{in_child, still_validates, test_name};
use lockdep::{Action, Mutex, ReportKind, RwLock, SpinLock};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn a_panic_unwinding_through_held_guards_releases_them_all() {
    let _s = serial();
    let (a, b, c) = (Mutex::new(()), RwLock::new(()), SpinLock::new(()));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _a = a.lock();
        let _b = b.read();
        let _c = c.lock();
        panic!("boom");
    }));
    assert!(r.is_err());
    assert!(!a.is_locked() && !c.is_locked() && b.try_write().is_some());
    assert!(kinds().is_empty());
    // Nothing is left on the stack: taking the same locks again in a new order is judged on
    // the recorded order alone (b -> a inverts a -> b).
    {
        let _b = b.read();
        let _a = a.lock();
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    still_validates();
}

#[test]
fn a_panic_unwinding_through_guards_dropped_out_of_order_releases_them_all() {
    let _s = serial();
    let locks: Vec<Mutex<()>> = (0..6).map(|_| Mutex::new(())).collect();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut guards = Vec::new();
        for (i, l) in locks.iter().enumerate() {
            guards.push(l.lock_nested(i as u32));
        }
        panic!("boom"); // the Vec drops its guards front to back
    }));
    assert!(r.is_err());
    assert!(locks
        .iter()
        .all(|l| !l.is_locked() && !l.is_held_by_current_thread()));
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn a_report_turned_into_a_panic_leaves_the_lock_untaken_and_the_stack_intact() {
    let _s = serial();
    let (a, b) = (Mutex::new(()), Mutex::new(()));
    drop((a.lock(), b.lock()));
    lockdep::set_action(Action::Panic);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _b = b.lock();
        let _a = a.lock(); // reported, and the report panics before the lock is taken
    }));
    lockdep::set_action(Action::Collect);
    assert!(r.is_err());
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    assert!(!a.is_locked() && !b.is_locked());
    assert!(!a.is_held_by_current_thread() && !b.is_held_by_current_thread());
    still_validates();
}

#[test]
fn a_report_while_unwinding_is_printed_not_a_second_panic() {
    // A second panic during unwinding aborts the process: run where that cannot take the
    // other tests with it.
    if in_child(test_name!(
        "a_report_while_unwinding_is_printed_not_a_second_panic"
    )) {
        return;
    }
    let _s = serial();
    lockdep::set_action(Action::Panic);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let m = Box::new(Mutex::new(()));
        std::mem::forget(m.lock());
        let (x, y) = (Mutex::new(()), Mutex::new(()));
        drop((x.lock(), y.lock()));
        struct OnUnwind<'a>(&'a Mutex<()>, &'a Mutex<()>);
        impl Drop for OnUnwind<'_> {
            fn drop(&mut self) {
                // An inversion, found while the thread unwinds.
                let _y = self.1.lock();
                let _x = self.0.lock();
            }
        }
        let _inv = OnUnwind(&x, &y);
        let _freed = m; // dropped during unwinding while held: a held lock freed
        panic!("boom");
    }));
    lockdep::set_action(Action::Collect);
    assert!(r.is_err());
    assert_eq!(
        kinds(),
        vec![ReportKind::HeldLockFreed, ReportKind::CircularDependency]
    );
    still_validates();
}

#[test]
fn a_thread_panicking_with_locks_held_releases_them_and_exits_cleanly() {
    let _s = serial();
    let m = std::sync::Arc::new(Mutex::new(()));
    let m2 = m.clone();
    let r = std::thread::spawn(move || {
        let _g = m2.lock();
        panic!("boom");
    })
    .join();
    assert!(r.is_err());
    // The guard was released by unwinding: no "still has locks held" at exit.
    assert!(kinds().is_empty());
    assert!(!m.is_locked());
    still_validates();
}
