//! `LockMap::with_own_holds_released`: a fence wait inside a signalling section whose guard the
//! caller cannot reach (a `#[lockdep::signalling]` function) takes the section's hold of the map
//! off the stack for the wait, as `__dma_fence_might_wait` does, and puts it back in place.

use lockdep::ReportKind::{CircularDependency, RecursiveLocking};
use lockdep::{LockMap, Mutex};
use lockdep_suite::{kinds, serial};

static FENCE: LockMap = LockMap::new("test_dma_fence_map");

#[lockdep::signalling(FENCE)]
fn bare_wait_in_section() {
    FENCE.sync();
}

#[lockdep::signalling(FENCE)]
fn released_wait_in_section() {
    FENCE.with_own_holds_released(|| FENCE.sync());
}

#[lockdep::signalling(FENCE)]
fn released_wait_under_a_lock_taken_in_section(l: &Mutex<()>) {
    let _g = l.lock();
    FENCE.with_own_holds_released(|| FENCE.sync());
}

#[test]
fn a_bare_wait_inside_the_section_is_the_map_taken_recursively() {
    // Why the call exists: without it the wait re-takes the map the section holds.
    let _s = serial();
    bare_wait_in_section();
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn a_wait_with_the_holds_released_is_not_reported() {
    let _s = serial();
    released_wait_in_section();
    released_wait_in_section();
    assert!(kinds().is_empty());
}

#[test]
fn a_wait_under_a_lock_taken_inside_the_section_is_still_the_cycle() {
    // R1: the section orders `l` after the map; waiting under `l` orders the map after it.
    let _s = serial();
    let l = Mutex::new(());
    released_wait_under_a_lock_taken_in_section(&l);
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].kind(), CircularDependency);
}

#[test]
fn the_holds_come_back_in_place_with_their_mode() {
    let _s = serial();
    let a = Mutex::new(());
    let b = Mutex::new(());
    let ga = a.lock();
    let section = FENCE.try_read();
    let gb = b.lock();
    FENCE.with_own_holds_released(|| {
        assert!(!lockdep::is_held(&FENCE));
        lockdep::assert_held(&a);
        lockdep::assert_held(&b);
    });
    lockdep::assert_held_read(&FENCE);
    assert!(kinds().is_empty());
    // Held in the order a, map, b, as before.
    lockdep::assert_none_held();
    let r = lockdep::take_reports();
    let order: Vec<&str> = r[0].held_locks().iter().map(|h| h.class()).collect();
    assert_eq!(order.len(), 3);
    assert_eq!(order[1], "test_dma_fence_map");
    assert!(r[0].held_locks()[1].is_trylock());
    // Released by its guard, out of order: no imbalance.
    drop(section);
    drop(gb);
    drop(ga);
    assert!(kinds().is_empty());
}

#[test]
fn without_a_hold_the_closure_just_runs() {
    let _s = serial();
    let l = Mutex::new(());
    let _g = l.lock();
    assert_eq!(FENCE.with_own_holds_released(|| 7), 7);
    assert!(kinds().is_empty());
}

#[test]
fn a_panic_inside_puts_the_holds_back_for_their_guard() {
    let _s = serial();
    let section = FENCE.try_read();
    let r = std::panic::catch_unwind(|| FENCE.with_own_holds_released(|| panic!("inside")));
    assert!(r.is_err());
    assert!(lockdep::is_held(&FENCE));
    drop(section);
    assert!(kinds().is_empty());
}

#[test]
fn every_hold_of_the_map_goes_and_comes_back() {
    // Two recursive read holds with a lock between them: both are taken off and put back.
    let _s = serial();
    let a = Mutex::new(());
    let outer = FENCE.read_recursive();
    let ga = a.lock();
    let inner = FENCE.read_recursive();
    FENCE.with_own_holds_released(|| {
        assert!(!lockdep::is_held(&FENCE));
        lockdep::assert_held(&a);
    });
    lockdep::assert_none_held();
    let r = lockdep::take_reports();
    let order: Vec<&str> = r[0].held_locks().iter().map(|h| h.class()).collect();
    assert_eq!(order.len(), 3);
    assert_eq!((order[0], order[2]), ("test_dma_fence_map", "test_dma_fence_map"));
    drop(inner);
    drop(ga);
    drop(outer);
    assert!(kinds().is_empty());
}
