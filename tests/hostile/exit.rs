//! A thread exiting with locks held: reported once at exit with every lock it still holds,
//! under any action (a panic there would abort the process, so it is printed instead), and the
//! locks it leaked stay locked rather than being released behind anyone's back.

use crate::{in_child, still_validates, test_name};
use lockdep::{Action, Mutex, ReportKind, SpinLock};
use lockdep_suite::{kinds, serial};
use std::sync::Arc;

#[test]
fn a_thread_exiting_with_locks_held_is_reported_once_with_all_of_them() {
    let _s = serial();
    let (a, b) = (Arc::new(Mutex::new(())), Arc::new(SpinLock::new(())));
    let (a2, b2) = (a.clone(), b.clone());
    std::thread::Builder::new()
        .name("exits-holding".into())
        .spawn(move || {
            std::mem::forget(a2.lock());
            std::mem::forget(b2.lock());
        })
        .unwrap()
        .join()
        .unwrap();
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::LocksHeldAtExit);
    assert!(r[0].headline().starts_with("WARNING: exits-holding/"), "{}", r[0]);
    assert_eq!(r[0].held_locks().len(), 2);
    // The leaked locks stay locked; this thread cannot release them (it never took them).
    assert!(a.is_locked() && b.is_locked());
    // SAFETY: refused by the validator (this thread does not hold it).
    unsafe { a.force_unlock() };
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
    assert!(a.is_locked());
    still_validates();
}

#[test]
fn a_thread_exiting_with_nothing_held_is_silent() {
    let _s = serial();
    let m = Arc::new(Mutex::new(()));
    let m2 = m.clone();
    std::thread::spawn(move || drop(m2.lock())).join().unwrap();
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn a_thread_exiting_with_locks_held_under_the_panic_action_does_not_abort() {
    if in_child(test_name!(
        "a_thread_exiting_with_locks_held_under_the_panic_action_does_not_abort"
    )) {
        return;
    }
    let _s = serial();
    lockdep::set_action(Action::Panic);
    let m = Arc::new(Mutex::new(()));
    let m2 = m.clone();
    std::thread::spawn(move || std::mem::forget(m2.lock()))
        .join()
        .expect("the exit check must not panic the thread");
    lockdep::set_action(Action::Collect);
    assert_eq!(kinds(), vec![ReportKind::LocksHeldAtExit]);
    still_validates();
}
