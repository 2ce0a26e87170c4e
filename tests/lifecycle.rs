//! Bad input and lifetime checks: a lock re-taken by its holder, held-stack overflow,
//! capacity limits, threads exiting with locks held, condvar waits, the configured action.

use lockdep::{Action, Condvar, LockClass, Mutex, ReportKind, RwLock, SpinLock, MAX_LOCK_DEPTH};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

#[test]
fn same_instance_reacquired_is_reported_then_panics_instead_of_hanging() {
    let _s = serial();
    let m = Mutex::new(());
    let _g = m.lock();
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _again = m.lock();
    }))
    .expect_err("re-locking a held mutex must panic rather than hang");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("would deadlock now"), "{msg}");
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
    // The held stack is intact: the first guard is still tracked.
    assert!(m.is_held_by_current_thread());
}

#[test]
fn same_instance_under_another_subclass_panics_too() {
    let _s = serial();
    let m = Mutex::new(());
    let _g = m.lock();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(m.lock_nested(1)))).is_err());
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
}

#[test]
fn rwlock_write_after_read_of_same_lock_panics_but_read_recursive_is_fine() {
    let _s = serial();
    let l = RwLock::new(());
    {
        let _r = l.read_recursive();
        let _r2 = l.read_recursive();
    }
    assert!(kinds().is_empty());
    let _r = l.read();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(l.write()))).is_err());
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
}

#[test]
fn nested_subclasses_are_ordered_not_recursive() {
    let _s = serial();
    static NODE: LockClass = LockClass::new("node");
    let parent = Mutex::with_class((), &NODE);
    let child = Mutex::with_class((), &NODE);
    {
        let _p = parent.lock();
        let _c = child.lock_nested(1);
    }
    assert!(kinds().is_empty());
    // The inverse nesting order is a cycle between the two subclasses.
    {
        let _c = child.lock_nested(1);
        let _p = parent.lock();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), ReportKind::CircularDependency);
    assert!(r[0].classes().contains(&"node/1"), "{:?}", r[0].classes());
}

#[test]
fn invalid_subclass_is_reported() {
    let _s = serial();
    let m = Mutex::new(());
    drop(m.lock_nested(9));
    assert_eq!(kinds(), vec![ReportKind::InvalidSubclass]);
}

#[test]
fn exceeding_the_held_depth_is_reported_once_and_degrades() {
    let _s = serial();
    let locks: Vec<Mutex<()>> = (0..MAX_LOCK_DEPTH + 4).map(|_| Mutex::new(())).collect();
    {
        let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
        drop(guards);
    }
    let r = lockdep::take_reports();
    // One class for all (one call site) taken 52 times: one recursion report and one depth
    // report; the releases of the untracked extra locks are not bad unlocks.
    let k: Vec<_> = r.iter().map(|r| r.kind()).collect();
    assert!(k.contains(&ReportKind::MaxLockDepth), "{k:?}");
    assert_eq!(k.iter().filter(|k| **k == ReportKind::MaxLockDepth).count(), 1);
    assert!(!k.contains(&ReportKind::BadUnlock), "{k:?}");
    assert_eq!(k, vec![ReportKind::RecursiveLocking, ReportKind::MaxLockDepth]);
    // Afterwards the thread is tracked normally again.
    let a = Mutex::new(());
    let b = Mutex::new(());
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
}

#[test]
fn depth_exactly_at_the_limit_is_fine() {
    let _s = serial();
    static C: [LockClass; MAX_LOCK_DEPTH] = [const { LockClass::new("level") }; MAX_LOCK_DEPTH];
    let locks: Vec<Mutex<()>> = C.iter().map(|c| Mutex::with_class((), c)).collect();
    let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
    drop(guards);
    assert!(kinds().is_empty());
}

#[test]
fn thread_exiting_with_a_lock_held_is_reported() {
    let _s = serial();
    let m = Arc::new(Mutex::new(()));
    let m2 = m.clone();
    std::thread::Builder::new()
        .name("leaky".into())
        .spawn(move || std::mem::forget(m2.lock()))
        .unwrap()
        .join()
        .unwrap();
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::LocksHeldAtExit);
    assert!(r[0].headline().starts_with("WARNING: leaky/"), "{}", r[0]);
    assert_eq!(r[0].held_locks().len(), 1);
    // A thread that released everything is silent.
    let m3 = m.clone();
    std::thread::spawn(move || {
        // SAFETY: the leaked guard belongs to a thread that is gone; release it here. The
        // validator reports the unbalanced release (this thread never held it).
        unsafe { m3.force_unlock() };
    })
    .join()
    .unwrap();
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
}

#[test]
fn freeing_a_held_lock_is_reported() {
    let _s = serial();
    let m = Box::new(SpinLock::new(()));
    std::mem::forget(m.lock());
    drop(m);
    assert_eq!(kinds(), vec![ReportKind::HeldLockFreed]);
}

#[test]
fn condvar_wait_releases_and_retakes_the_mutex_in_the_held_stack() {
    let _s = serial();
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let other = Mutex::new(());
    let p2 = pair.clone();
    let t = std::thread::spawn(move || {
        let (m, cv) = &*p2;
        // While the waiter sleeps the mutex is free for this thread.
        let mut g = m.lock();
        *g = true;
        cv.notify_all();
    });
    {
        let (m, cv) = &*pair;
        let mut g = m.lock();
        while !*g {
            cv.wait(&mut g);
        }
        assert!(m.is_held_by_current_thread());
        // Taken after the wait: `other` depends on the mutex, as for any acquisition.
        let _o = other.lock();
    }
    t.join().unwrap();
    assert!(kinds().is_empty());
    // The inverse order now closes a cycle.
    let _o = other.lock();
    let _m = pair.0.lock();
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
}

#[test]
fn panic_action_turns_a_report_into_a_panic() {
    let _s = serial();
    lockdep::set_action(Action::Panic);
    let a = Mutex::new(());
    let b = Mutex::new(());
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _b = b.lock();
        let _a = a.lock();
    }))
    .expect_err("the inversion must panic");
    lockdep::set_action(Action::Collect);
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    eprintln!("{msg}");
    assert!(
        msg.starts_with("WARNING: possible circular locking dependency detected"),
        "{msg}"
    );
    // Recorded as well; the panic left nothing held.
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    assert!(!a.is_held_by_current_thread() && !b.is_held_by_current_thread());
}

#[test]
fn action_parses_the_environment_spellings() {
    assert_eq!(Action::parse("warn"), Some(Action::Warn));
    assert_eq!(Action::parse(" PANIC "), Some(Action::Panic));
    assert_eq!(Action::parse("collect"), Some(Action::Collect));
    assert_eq!(Action::parse("loud"), None);
}
