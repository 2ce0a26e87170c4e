//! Initialisation as a lock: how `Once`, `OnceLock` and `LazyLock` take part in the graph.
//!
//! While a cell is being initialised, the thread running the initialiser holds a lock (the
//! cell's class, kind `once`) and every other thread that reaches the cell waits for it, as
//! for a mutex. So the initialiser's own acquisitions are ordered after the cell, and a thread
//! that holds a lock while it reaches an uninitialised cell orders that lock before the cell:
//! an initialiser that takes a lock held around `get_or_init` elsewhere closes a cycle, and is
//! reported as one.
//!
//! Only the initialisation is a lock. A cell found initialised is read without waiting and
//! records nothing, so reading one under any lock adds no dependency.
//!
//! A thread that reaches a cell it is initialising itself (from inside the initialiser) would
//! wait for itself: std's `Once` then hangs or panics, unspecified. Here it is reported as the
//! same lock instance re-taken, then the thread panics, as for any re-taken lock.

use crate::engine::held::WRITE;
use crate::engine::{validate, DepMap};
use crate::sync::not_send::NotSend;
use std::panic::Location;

/// The initialisation of one cell, held by this thread until dropped (also when the
/// initialiser panics).
pub(crate) struct InitSection<'a> {
    map: &'a DepMap,
    _not_send: NotSend,
}

/// Enters the initialisation of the cell behind `map` (or starts waiting for another thread's):
/// validated as a blocking exclusive acquisition.
///
/// # Panics
/// When this thread is initialising the same cell already (reported first).
#[track_caller]
pub(crate) fn enter(map: &DepMap) -> InitSection<'_> {
    let loc = Location::caller();
    validate::acquire(map, 0, WRITE, false, loc);
    refuse_own(map, loc);
    InitSection {
        map,
        _not_send: NotSend::MARK,
    }
}

/// Waits for the cell behind `map` to be initialised without initialising it (`Once::wait`,
/// `OnceLock::wait`): validated as an acquisition released at once, like a `LockMap::sync`.
///
/// # Panics
/// When this thread is the one initialising the cell (reported first).
#[track_caller]
pub(super) fn wait(map: &DepMap) {
    let loc = Location::caller();
    let mut a = validate::Acquire::of(map, 0, WRITE, false, loc);
    a.sync = true;
    validate::acquire_with(map, a);
    refuse_own(map, loc);
    validate::release(map, loc);
}

/// The cell has no plain lock to try first, so the re-take the lock types find when their
/// try fails is looked for here, on every entry: this is the cold path of an uninitialised
/// cell, never the read of an initialised one.
fn refuse_own(map: &DepMap, loc: &'static Location<'static>) {
    validate::contended(map, map.instance(), WRITE, loc);
}

impl Drop for InitSection<'_> {
    fn drop(&mut self) {
        validate::release(self.map, Location::caller());
    }
}
