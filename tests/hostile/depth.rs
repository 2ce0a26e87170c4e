//! Held-stack overflow: a thread holding more than [`MAX_LOCK_DEPTH`] locks gets one report;
//! the extra locks lock and unlock for real but are not tracked, their releases are not bad
//! unlocks in any order, and tracking resumes once the thread is back under the limit.

use crate::{fresh_class, still_validates};
use lockdep::{LockClass, Mutex, ReportKind, MAX_LOCK_DEPTH};
use lockdep_suite::{kinds, serial};

/// `n` locks of `n` distinct new classes, so nesting them is no recursion.
fn distinct_locks(n: usize) -> Vec<Mutex<()>> {
    (0..n)
        .map(|_| Mutex::with_class((), fresh_class("deep")))
        .collect()
}

#[test]
fn holding_more_than_max_depth_locks_is_reported_once_and_released_in_lifo_order() {
    let _s = serial();
    let locks = distinct_locks(MAX_LOCK_DEPTH + 4);
    let mut guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
    assert_eq!(kinds(), vec![ReportKind::MaxLockDepth]);
    // The extra locks are really locked.
    assert!(locks.iter().all(|l| l.is_locked()));
    while let Some(g) = guards.pop() {
        drop(g);
    }
    assert!(kinds().is_empty(), "releases of untracked locks were reported");
    assert!(locks.iter().all(|l| !l.is_locked()));
    still_validates();
}

#[test]
fn untracked_extra_locks_released_front_to_back_are_not_bad_unlocks() {
    let _s = serial();
    let locks = distinct_locks(MAX_LOCK_DEPTH + 4);
    let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
    assert_eq!(kinds(), vec![ReportKind::MaxLockDepth]);
    drop(guards); // a Vec drops front to back: the tracked locks go first
    assert!(kinds().is_empty(), "releases of untracked locks were reported");
    still_validates();
}

#[test]
fn tracking_resumes_below_the_limit_and_orders_are_validated_again() {
    let _s = serial();
    let locks = distinct_locks(MAX_LOCK_DEPTH + 1);
    let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
    assert_eq!(kinds(), vec![ReportKind::MaxLockDepth]);
    drop(guards);
    // The first two were tracked and ordered 0 -> 1 while the stack was full: the inverse is
    // still found.
    {
        let _b = locks[1].lock();
        let _a = locks[0].lock();
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    still_validates();
}

#[test]
fn a_second_overflow_is_not_reported_again_but_is_handled() {
    let _s = serial();
    let locks = distinct_locks(MAX_LOCK_DEPTH + 2);
    for _ in 0..2 {
        let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
        drop(guards);
    }
    assert_eq!(kinds(), vec![ReportKind::MaxLockDepth]);
    still_validates();
}

#[test]
fn a_double_unlock_while_the_stack_is_full_is_still_reported() {
    let _s = serial();
    static LONE: LockClass = LockClass::new("lone");
    let lone = Mutex::with_class((), &LONE);
    let locks = distinct_locks(MAX_LOCK_DEPTH + 1);
    let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
    assert_eq!(kinds(), vec![ReportKind::MaxLockDepth]);
    // One untracked lock is held; releasing a lock never taken must not be taken for it.
    // SAFETY: refused by the validator (not held), so the plain lock is never touched.
    unsafe { lone.force_unlock() };
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
    drop(guards);
    assert!(
        kinds().is_empty(),
        "the untracked lock's own release was reported"
    );
    still_validates();
}
