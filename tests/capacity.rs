//! Capacity exhaustion. Classes are never forgotten, so filling the class table affects every
//! later test in the process: this file is its own test binary and holds only this.

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::{kinds, serial};

#[test]
fn class_table_exhaustion_is_reported_once_and_never_crashes() {
    let _s = serial();
    // Register more classes than the table holds (earlier tests used some already).
    let classes: Vec<&'static LockClass> = (0..16_500)
        .map(|i| LockClass::register(format!("many-{i}")))
        .collect();
    for c in &classes {
        let m = Mutex::with_class((), c);
        drop(m.lock());
    }
    let r = lockdep::take_reports();
    let k: Vec<_> = r.iter().map(|r| r.kind()).collect();
    assert_eq!(
        k.iter().filter(|k| **k == ReportKind::ClassesExhausted).count(),
        1,
        "{k:?}"
    );
    // Untracked locks still lock, and nest without false reports.
    let x = Mutex::with_class((), classes[16_499]);
    let y = Mutex::with_class((), classes[16_498]);
    let _x = x.lock();
    let _y = y.lock();
    assert!(kinds().is_empty());
}

#[test]
fn retaking_a_held_lock_of_an_untracked_class_panics_instead_of_hanging() {
    let _s = serial();
    // Fill the class table (if another test did not already), so this class goes untracked.
    for i in 0..16_500 {
        drop(Mutex::with_class((), LockClass::register(format!("fill-{i}"))).lock());
    }
    let _ = lockdep::take_reports();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let m = Box::leak(Box::new(Mutex::with_class((), LockClass::register("untracked"))));
        let _g = m.lock();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(m.lock())));
        let _ = tx.send(r.is_err());
    });
    let panicked = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("re-taking the lock hung instead of being reported");
    assert!(panicked);
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
}
