//! `lockdep::Once` (parking_lot's `Once`): its initialisation takes part in the graph as the
//! `stdsync` cells do, and only while it runs. Each case comes with the nearest legitimate
//! pattern.

use lockdep::ReportKind::{CircularDependency, RecursiveLocking};
use lockdep::{Mutex, Once};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};

static L: Mutex<u32> = Mutex::new(0);

/// Per-object `Once`s made in one place: one class.
fn once_obj() -> Once {
    Once::new()
}

#[test]
fn an_initialiser_taking_a_lock_held_around_call_once_elsewhere_is_a_cycle() {
    let _s = serial();
    let (a, b) = (once_obj(), once_obj());
    a.call_once(|| drop(L.lock())); // once -> L
    {
        let _l = L.lock();
        b.call_once(|| ()); // L -> once
    }
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn a_finished_once_reached_under_the_lock_is_no_dependency() {
    let _s = serial();
    let a = once_obj();
    a.call_once(|| drop(L.lock())); // once -> L
    {
        let _l = L.lock();
        a.call_once(|| unreachable!()); // done: no wait, no dependency
        assert!(a.state().done());
    }
    assert_eq!(kinds(), []);
}

#[test]
fn a_once_reached_from_its_own_initialiser_is_reported_and_panics_instead_of_hanging() {
    let _s = serial();
    let o = once_obj();
    let r = catch_unwind(AssertUnwindSafe(|| o.call_once(|| o.call_once(|| ()))));
    assert!(r.is_err());
    assert_eq!(kinds(), [RecursiveLocking]);
    // The panic left the `Once` poisoned, as parking_lot's own would be after a panicking
    // initialiser, and nothing of it is still held.
    assert!(o.state().poisoned());
    o.call_once_force(|s| assert!(s.poisoned()));
    assert!(o.state().done());
    assert_eq!(kinds(), []);
}
