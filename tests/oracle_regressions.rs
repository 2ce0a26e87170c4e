//! Minimal programs on which the oracle (`tests/oracle/`) found the validator wrong, each as a
//! plain test of the behaviour the kernel's rules require. A case the validator still gets wrong
//! is ignored with the bug named, for whoever fixes it to un-ignore.

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::serial;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The (kind, class set) of every report recorded so far.
fn reports() -> Vec<(ReportKind, BTreeSet<String>)> {
    lockdep::take_reports()
        .iter()
        .map(|r| (r.kind(), r.classes().into_iter().map(str::to_string).collect()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

static RETAKE_A: LockClass = LockClass::new("retake_a");

/// `a0` is held as subclass 1; taking it again as subclass 0 under a nest lock merges the
/// acquisition into the top entry (`a1`, subclass 0) before the re-take is caught. The report
/// must name the held lock's class and the class being acquired, `retake_a/1` and `retake_a`.
#[test]
#[ignore = "engine bug: a re-take merged into a nest-lock entry is reported as retake_a/1 twice, not retake_a/1 -> retake_a"]
fn retake_merged_under_a_nest_lock_names_both_subclasses() {
    let _s = serial();
    let a0 = Mutex::with_class((), &RETAKE_A);
    let a1 = Mutex::with_class((), &RETAKE_A);
    let _g0 = a0.lock_nested(1);
    let _g1 = a1.lock();
    let retake = catch_unwind(AssertUnwindSafe(|| drop(a0.lock_nest_lock(&a0))));
    assert!(retake.is_err(), "re-taking a held lock must panic");
    assert_eq!(
        reports(),
        vec![(ReportKind::RecursiveLocking, set(&["retake_a", "retake_a/1"]))]
    );
}

static RETAKE_B: LockClass = LockClass::new("retake_b");
static RETAKE_NEST: LockClass = LockClass::new("retake_nest");

/// `b0` is held only as a lock merged into `b1`'s entry; taking it again as subclass 1 must
/// name the entry it is merged into (`retake_b`) as the held lock, not the acquisition itself.
#[test]
#[ignore = "engine bug: a re-take of a lock merged into another entry names the acquisition itself as the held lock"]
fn retake_of_a_merged_lock_names_the_entry_it_is_merged_into() {
    let _s = serial();
    let n = Mutex::with_class((), &RETAKE_NEST);
    let b0 = Mutex::with_class((), &RETAKE_B);
    let b1 = Mutex::with_class((), &RETAKE_B);
    let _gn = n.lock();
    let _g1 = b1.lock();
    let _g0 = b0.lock_nest_lock(&n);
    let retake = catch_unwind(AssertUnwindSafe(|| drop(b0.lock_nested(1))));
    assert!(retake.is_err(), "re-taking a held lock must panic");
    let got = reports();
    assert!(
        got.contains(&(ReportKind::RecursiveLocking, set(&["retake_b", "retake_b/1"]))),
        "{got:?}"
    );
    assert!(
        !got.contains(&(ReportKind::RecursiveLocking, set(&["retake_b/1"]))),
        "{got:?}"
    );
}

/// The closest legitimate pattern: the same locks without the re-take report nothing.
#[test]
fn merged_nest_locks_without_a_retake_report_nothing() {
    let _s = serial();
    let n = Mutex::with_class((), &RETAKE_NEST);
    let b0 = Mutex::with_class((), &RETAKE_B);
    let b1 = Mutex::with_class((), &RETAKE_B);
    let _gn = n.lock();
    let _g1 = b1.lock_nest_lock(&n);
    let _g0 = b0.lock_nest_lock(&n);
    assert_eq!(reports(), vec![]);
}
