//! Locks in thread-local destructors: at thread exit, a `thread_local!` value's `Drop` may take
//! lockdep locks while the thread's own thread-locals are being torn down. The held-lock stack
//! is a thread-local too (one without a destructor, so it is never torn down), the report queue
//! has a destructor, and the exit check is one: none of it may panic with "cannot access a
//! Thread Local Storage value during or after destruction", and every report made there is
//! recorded.

use crate::{fresh_class, in_child, still_validates, test_name};
use lockdep::{Action, LockClass, Mutex, ReportKind, MAX_LOCK_DEPTH};
use lockdep_suite::{kinds, serial};
use std::cell::Cell;

static A_CLASS: LockClass = LockClass::new("tls-a");
static B_CLASS: LockClass = LockClass::new("tls-b");
static A: Mutex<()> = Mutex::with_class((), &A_CLASS);
static B: Mutex<()> = Mutex::with_class((), &B_CLASS);

/// What a thread-local's destructor does at thread exit.
#[derive(Clone, Copy)]
enum AtExit {
    /// Takes A, then B, and releases both.
    TakeInOrder,
    /// Takes B, then A (the inverse of what the test thread did first).
    TakeInverted,
    /// Takes the lock and leaks the guard (the lock stays locked for good).
    Leak(&'static Mutex<()>),
    /// Holds all of these at once (more than the held stack takes), then releases them.
    Overflow(&'static [Mutex<()>]),
    /// Takes the first lock, then the others (one class) under it as their nest lock, so that
    /// they merge into one entry, then releases them, the nest lock last.
    Merge(&'static [Mutex<()>]),
}

/// What [`AtExit::Merge`] does, also used to create the validator's thread-locals first.
fn merge_under_nest_lock(locks: &'static [Mutex<()>]) {
    let (nest, rest) = locks.split_first().expect("a nest lock");
    let n = nest.lock();
    let merged: Vec<_> = rest.iter().map(|l| l.lock_nest_lock(nest)).collect();
    drop(merged);
    drop(n);
}

struct OnExit(Cell<Option<AtExit>>);

impl Drop for OnExit {
    fn drop(&mut self) {
        match self.0.get() {
            Some(AtExit::TakeInOrder) => drop((A.lock(), B.lock())),
            Some(AtExit::TakeInverted) => drop((B.lock(), A.lock())),
            Some(AtExit::Leak(m)) => std::mem::forget(m.lock()),
            Some(AtExit::Overflow(locks)) => drop(locks.iter().map(|l| l.lock()).collect::<Vec<_>>()),
            Some(AtExit::Merge(locks)) => merge_under_nest_lock(locks),
            None => {}
        }
    }
}

thread_local! {
    static ON_EXIT: OnExit = const { OnExit(Cell::new(None)) };
}

/// Runs a thread that arms `ON_EXIT` with `what` — after a first lock operation when
/// `locked_first`, so the validator's own thread-locals exist before the destructor is
/// registered — and exits. Returns whether the thread ended without a panic.
fn run_thread(what: AtExit, locked_first: bool) -> bool {
    std::thread::spawn(move || {
        if locked_first {
            drop(Mutex::new(()).lock());
        }
        ON_EXIT.with(|e| e.0.set(Some(what)));
    })
    .join()
    .is_ok()
}

#[test]
fn a_thread_local_destructor_taking_locks_at_thread_exit_is_silent() {
    let _s = serial();
    assert!(run_thread(AtExit::TakeInOrder, true));
    assert!(run_thread(AtExit::TakeInOrder, false));
    assert!(kinds().is_empty());
    assert!(!A.is_locked() && !B.is_locked());
    still_validates();
}

#[test]
fn an_inversion_in_a_thread_local_destructor_is_reported() {
    let _s = serial();
    drop((A.lock(), B.lock()));
    assert!(run_thread(AtExit::TakeInverted, false));
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    lockdep::reset();
    drop((A.lock(), B.lock()));
    assert!(run_thread(AtExit::TakeInverted, true));
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    still_validates();
}

#[test]
fn an_inversion_in_a_thread_local_destructor_under_the_panic_action_does_not_abort() {
    // A panic out of a thread-local destructor aborts the process.
    if in_child(test_name!(
        "an_inversion_in_a_thread_local_destructor_under_the_panic_action_does_not_abort"
    )) {
        return;
    }
    let _s = serial();
    drop((A.lock(), B.lock()));
    lockdep::set_action(Action::Panic);
    let clean = run_thread(AtExit::TakeInverted, true);
    lockdep::set_action(Action::Collect);
    assert!(clean);
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    still_validates();
}

#[test]
fn a_lock_leaked_by_a_thread_local_destructor_is_reported_at_exit() {
    let _s = serial();
    // Destructors run in reverse order of registration: armed after the exit check, the
    // destructor runs before it and its leak is seen.
    let leaked: [&'static Mutex<()>; 2] = [
        Box::leak(Box::new(Mutex::new(()))),
        Box::leak(Box::new(Mutex::new(()))),
    ];
    assert!(run_thread(AtExit::Leak(leaked[0]), true));
    let first = kinds();
    // Armed before the thread's first lock: the destructor's lock registers the thread (and
    // the exit check) during teardown.
    lockdep::reset();
    assert!(run_thread(AtExit::Leak(leaked[1]), false));
    let second = kinds();
    assert_eq!(first, vec![ReportKind::LocksHeldAtExit]);
    assert_eq!(second, vec![ReportKind::LocksHeldAtExit]);
    assert!(leaked.iter().all(|m| m.is_locked()), "a leaked lock was released");
    // Releasing one from this thread is refused.
    // SAFETY: refused by the validator (this thread does not hold it).
    unsafe { leaked[0].force_unlock() };
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
    still_validates();
}

#[test]
fn overflowing_the_held_stack_in_a_thread_local_destructor_reports_no_bad_unlock() {
    let _s = serial();
    let locks: &'static [Mutex<()>] = Vec::leak(
        (0..MAX_LOCK_DEPTH + 2)
            .map(|_| Mutex::with_class((), fresh_class("tls-deep")))
            .collect(),
    );
    // Armed first, so its destructor runs last, after the validator's own thread-locals that
    // the overflow below created.
    let clean = std::thread::spawn(move || {
        ON_EXIT.with(|e| e.0.set(Some(AtExit::Overflow(locks))));
        drop(locks.iter().map(|l| l.lock()).collect::<Vec<_>>());
    })
    .join()
    .is_ok();
    assert!(clean);
    assert_eq!(kinds(), vec![ReportKind::MaxLockDepth]);
    assert!(locks.iter().all(|l| !l.is_locked()));
    still_validates();
}

#[test]
fn locks_merged_under_a_nest_lock_in_a_thread_local_destructor_are_released_cleanly() {
    let _s = serial();
    let nest = fresh_class("tls-nest");
    let merged = fresh_class("tls-merged");
    let locks: &'static [Mutex<()>] = Vec::leak(
        std::iter::once(Mutex::with_class((), nest))
            .chain((0..3).map(|_| Mutex::with_class((), merged)))
            .collect(),
    );
    // Armed first, so its destructor runs after the validator's own thread-locals that the
    // merge below created.
    let clean = std::thread::spawn(move || {
        ON_EXIT.with(|e| e.0.set(Some(AtExit::Merge(locks))));
        merge_under_nest_lock(locks);
    })
    .join()
    .is_ok();
    assert!(clean);
    assert!(kinds().is_empty());
    assert!(locks.iter().all(|l| !l.is_locked()));
    still_validates();
}

#[test]
fn a_thread_local_initialiser_taking_a_lock_is_ordered_after_the_locks_its_caller_holds() {
    let _s = serial();
    static OUTER: LockClass = LockClass::new("tls-init-outer");
    static INNER: LockClass = LockClass::new("tls-init-inner");
    static SOURCE: Mutex<u32> = Mutex::with_class(5, &INNER);
    thread_local! {
        // Lazily initialised on first use, on the using thread, from a lockdep lock.
        static COPY: u32 = *SOURCE.lock();
    }
    let outer = std::sync::Arc::new(Mutex::with_class((), &OUTER));
    let o = outer.clone();
    std::thread::spawn(move || {
        let _o = o.lock();
        assert_eq!(COPY.with(|c| *c), 5); // records tls-init-outer -> tls-init-inner
    })
    .join()
    .unwrap();
    assert!(kinds().is_empty());
    {
        let _i = SOURCE.lock();
        let _o = outer.lock();
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    still_validates();
}
