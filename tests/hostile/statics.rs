//! Locks taken during `static` initialisation: a `LazyLock` or `OnceLock` initialiser runs under
//! std's own (unvalidated) once-lock, on whichever thread gets there first. The locks it takes
//! are validated like any other — ordered after what that thread holds — and racing threads,
//! an initialiser that panics, and lockdep locks that are themselves statics all work.

use crate::still_validates;
use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Barrier, LazyLock, OnceLock};

static OUTER_CLASS: LockClass = LockClass::new("static-outer");
static INNER_CLASS: LockClass = LockClass::new("static-inner");
/// A lockdep lock in a `static`, constructed at compile time.
static OUTER: Mutex<()> = Mutex::with_class((), &OUTER_CLASS);
static INNER: Mutex<u32> = Mutex::with_class(41, &INNER_CLASS);
/// Initialised from `INNER`, under whatever the first user holds.
static DERIVED: LazyLock<u32> = LazyLock::new(|| *INNER.lock() + 1);

#[test]
fn a_lazy_static_initialiser_taking_a_lock_is_ordered_after_the_locks_its_caller_holds() {
    let _s = serial();
    {
        let _o = OUTER.lock();
        assert_eq!(*DERIVED, 42); // runs the initialiser: records static-outer -> static-inner
    }
    assert!(kinds().is_empty());
    {
        let _i = INNER.lock();
        let _o = OUTER.lock();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::CircularDependency);
    let mut classes = r[0].classes();
    classes.sort_unstable();
    assert_eq!(classes, ["static-inner", "static-outer"]);
    still_validates();
}

#[test]
fn threads_racing_to_initialise_a_once_lock_that_takes_locks_report_nothing() {
    let _s = serial();
    static SOURCE: Mutex<u32> = Mutex::new(7);
    static CELL: OnceLock<u32> = OnceLock::new();
    let start = Barrier::new(8);
    let values: Vec<u32> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let local = Mutex::new(());
                    let _l = local.lock();
                    start.wait();
                    *CELL.get_or_init(|| {
                        let v = SOURCE.lock();
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        *v * 6
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(values.iter().all(|&v| v == 42), "{values:?}");
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn a_lazy_static_initialiser_panicking_with_a_lock_held_releases_it() {
    let _s = serial();
    static GUARDED: Mutex<()> = Mutex::new(());
    static BROKEN: LazyLock<u32> = LazyLock::new(|| {
        let _g = GUARDED.lock();
        panic!("initialiser fails");
    });
    let r = catch_unwind(AssertUnwindSafe(|| *BROKEN));
    assert!(r.is_err());
    // The lock is free and no longer on this thread's stack; the LazyLock is poisoned, which
    // is std's business.
    assert!(!GUARDED.is_locked() && !GUARDED.is_held_by_current_thread());
    assert!(catch_unwind(AssertUnwindSafe(|| *BROKEN)).is_err());
    assert!(kinds().is_empty());
    still_validates();
}
