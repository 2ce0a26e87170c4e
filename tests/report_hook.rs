//! The report hook: called once per report after the validator let go of its state, so it
//! may take validated locks; a report its own locking causes is recorded but not handed back
//! to it (no recursion), and never turns into a panic inside it.

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::serial;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

static OUTER_A: LockClass = LockClass::new("hook_outer_a");
static OUTER_B: LockClass = LockClass::new("hook_outer_b");
static HOOK_X: LockClass = LockClass::new("hook_x");
static HOOK_Y: LockClass = LockClass::new("hook_y");

/// Takes `first` then `second`.
fn nest<T>(first: &Mutex<T>, second: &Mutex<T>) {
    let _f = first.lock();
    let _s = second.lock();
}

#[test]
fn hook_sees_every_report_once_with_its_content() {
    let _s = serial();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    lockdep::set_report_hook(move |r| s2.lock().push((r.kind(), r.summary())));
    let a = Mutex::with_class((), &OUTER_A);
    let b = Mutex::with_class((), &OUTER_B);
    nest(&a, &b);
    nest(&b, &a);
    nest(&b, &a); // the same violation again: no second report, no second call
    lockdep::clear_report_hook();
    let got = seen.lock().clone();
    assert_eq!(
        got,
        vec![(
            ReportKind::CircularDependency,
            "hook_outer_a -> hook_outer_b -> hook_outer_a".to_string()
        )]
    );
    assert_eq!(lockdep_suite::kinds(), vec![ReportKind::CircularDependency]);
}

#[test]
fn hook_taking_locks_in_a_bad_order_is_reported_without_recursing() {
    let _s = serial();
    let x = Arc::new(Mutex::with_class((), &HOOK_X));
    let y = Arc::new(Mutex::with_class((), &HOOK_Y));
    nest(&y, &x); // y -> x, so the hook's x -> y closes a cycle
    let calls = Arc::new(AtomicUsize::new(0));
    let (c2, x2, y2) = (calls.clone(), x.clone(), y.clone());
    lockdep::set_action(lockdep::Action::Panic); // even so, nothing panics inside the hook
    lockdep::set_report_hook(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        nest(&x2, &y2);
    });
    let a = Mutex::with_class((), &OUTER_A);
    let b = Mutex::with_class((), &OUTER_B);
    nest(&a, &b);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| nest(&b, &a)));
    lockdep::clear_report_hook();
    lockdep::set_action(lockdep::Action::Collect);
    // The outer report panics (the action), after the hook ran once.
    assert!(outcome.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let reports = lockdep::take_reports();
    let summaries: Vec<String> = reports.iter().map(|r| r.summary()).collect();
    assert_eq!(
        summaries,
        vec![
            "hook_outer_a -> hook_outer_b -> hook_outer_a".to_string(),
            "hook_y -> hook_x -> hook_y".to_string(),
        ]
    );
}

#[test]
fn hook_taking_locks_in_a_good_order_reports_nothing_more() {
    let _s = serial();
    let x = Arc::new(Mutex::with_class((), &HOOK_X));
    let y = Arc::new(Mutex::with_class((), &HOOK_Y));
    nest(&x, &y);
    let (x2, y2) = (x.clone(), y.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    lockdep::set_report_hook(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        nest(&x2, &y2);
    });
    let a = Mutex::with_class((), &OUTER_A);
    let b = Mutex::with_class((), &OUTER_B);
    nest(&a, &b);
    nest(&b, &a);
    lockdep::clear_report_hook();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(lockdep_suite::kinds(), vec![ReportKind::CircularDependency]);
}

#[test]
fn a_removed_hook_is_not_called() {
    let _s = serial();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    lockdep::set_report_hook(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
    });
    lockdep::clear_report_hook();
    let a = Mutex::with_class((), &OUTER_A);
    let b = Mutex::with_class((), &OUTER_B);
    nest(&a, &b);
    nest(&b, &a);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(lockdep_suite::kinds(), vec![ReportKind::CircularDependency]);
}
