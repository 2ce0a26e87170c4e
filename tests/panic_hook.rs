//! The opt-in panic hook. A panic hook is process-wide, so this is its own test binary.

use lockdep::{Mutex, ReportKind};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

#[test]
fn panicking_while_holding_locks_is_reported_with_the_hook() {
    let _s = serial();
    lockdep::install_panic_hook();
    let m = Arc::new(Mutex::new(0));
    let m2 = m.clone();
    let r = std::thread::Builder::new()
        .name("panicker".into())
        .spawn(move || {
            let mut g = m2.lock();
            *g += 1;
            panic!("half-way through an update");
        })
        .unwrap()
        .join();
    assert!(r.is_err());
    let reports = lockdep::take_reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind(), ReportKind::PanicWhileHolding);
    assert!(reports[0].to_string().contains("half-way through an update"));
    assert_eq!(reports[0].held_locks().len(), 1);
    // The lock was released by unwinding; a panic with nothing held is not reported.
    assert_eq!(*m.lock(), 1);
    let _ = std::thread::spawn(|| panic!("nothing held")).join();
    assert!(kinds().is_empty());
}

#[test]
fn the_validators_own_panics_are_not_reported_again() {
    let _s = serial();
    lockdep::install_panic_hook();
    let m = Mutex::new(());
    let _g = m.lock();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(m.lock()))).is_err());
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
}

#[test]
fn panic_while_holding_golden() {
    let _s = serial();
    lockdep::install_panic_hook();
    let m = Arc::new(Mutex::new(0));
    let m2 = m.clone();
    let r = std::thread::Builder::new()
        .name("golden".into())
        .spawn(move || {
            let _g = m2.lock();
            panic!("golden panic");
        })
        .unwrap()
        .join();
    assert!(r.is_err());
    let reports = lockdep::take_reports();
    lockdep_suite::check_report(&reports[0]);
}
