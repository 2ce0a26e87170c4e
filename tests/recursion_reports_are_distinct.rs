//! The two recursive-locking reports of one class are distinct violations: re-taking the very
//! lock this thread holds (certain to hang, reported and then a panic) and taking a second lock
//! of the class held (a possible deadlock). Both are `RecursiveLocking` over the same pair of
//! classes, so they must not share a de-duplication signature, nor may a chain cached by one
//! hide the other: each is reported in a run that has both, in either order.

use lockdep::ReportKind::RecursiveLocking;
use lockdep::{LockClass, Mutex, Report};
use lockdep_suite::serial;
use std::panic::{catch_unwind, AssertUnwindSafe};

fn same_instance(r: &Report) -> bool {
    r.details().iter().any(|d| d.contains("same lock instance"))
}

/// Re-takes `a` while holding it: reported, then a panic instead of a hang.
fn retake(a: &Mutex<()>) {
    let _g = a.lock();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(a.lock()))).is_err());
}

/// Takes `b` while holding `a` (two instances of one class).
fn two_instances(a: &Mutex<()>, b: &Mutex<()>) {
    let _ga = a.lock();
    let _gb = b.lock();
}

#[test]
fn same_instance_first_then_two_instances_are_both_reported() {
    let _s = serial();
    static C: LockClass = LockClass::new("distinct_recursion_1");
    let (a, b) = (Mutex::with_class((), &C), Mutex::with_class((), &C));
    retake(&a);
    let first = lockdep::take_reports();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].kind(), RecursiveLocking);
    assert!(same_instance(&first[0]), "{first:?}");
    two_instances(&a, &b);
    let second = lockdep::take_reports();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].kind(), RecursiveLocking);
    assert!(!same_instance(&second[0]), "{second:?}");
}

#[test]
fn two_instances_first_then_same_instance_are_both_reported() {
    let _s = serial();
    static C: LockClass = LockClass::new("distinct_recursion_2");
    let (a, b) = (Mutex::with_class((), &C), Mutex::with_class((), &C));
    two_instances(&a, &b);
    let first = lockdep::take_reports();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(!same_instance(&first[0]), "{first:?}");
    // The chain of two locks of this class is cached now: the re-take is found where it would
    // block, and still reported.
    retake(&a);
    let second = lockdep::take_reports();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].kind(), RecursiveLocking);
    assert!(same_instance(&second[0]), "{second:?}");
}

#[test]
fn each_pattern_repeated_is_still_reported_once() {
    let _s = serial();
    static C: LockClass = LockClass::new("distinct_recursion_3");
    let (a, b) = (Mutex::with_class((), &C), Mutex::with_class((), &C));
    for _ in 0..3 {
        retake(&a);
        two_instances(&a, &b);
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r.iter().filter(|r| same_instance(r)).count(), 1);
}

#[test]
fn locks_of_one_class_under_distinct_subclasses_are_neither() {
    // The closest legitimate pattern: two locks of the class, ordered by nesting level.
    let _s = serial();
    static C: LockClass = LockClass::new("distinct_recursion_4");
    let (a, b) = (Mutex::with_class((), &C), Mutex::with_class((), &C));
    for _ in 0..2 {
        let _ga = a.lock();
        let _gb = b.lock_nested(1);
    }
    drop(a.lock());
    assert!(lockdep::take_reports().is_empty());
}
