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
    lockdep_suite::check_report(
        r.iter()
            .find(|r| r.kind() == ReportKind::ClassesExhausted)
            .unwrap(),
    );
    // Untracked locks still lock, and nest without false reports.
    let x = Mutex::with_class((), classes[16_499]);
    let y = Mutex::with_class((), classes[16_498]);
    let _x = x.lock();
    let _y = y.lock();
    assert!(kinds().is_empty());
}
