//! Capacities: the held-lock stack and subclasses out of range. Each is reported once;
//! validation goes on with what fits. (A full class, dependency, chain or stack table is found
//! where the table is filled, and reported with [`report_capacity_once`].)

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack};
use crate::engine::state;

/// The thread tried to hold more than [`MAX_LOCK_DEPTH`](crate::MAX_LOCK_DEPTH) locks.
pub(crate) fn max_depth(h: &HeldStack, next: &Held) {
    let mut st = state::lock();
    report_once(&mut st, h, h.depth, &Violation::MaxLockDepth { next: *next });
}

/// A subclass out of range.
pub(crate) fn invalid_subclass(h: &HeldStack, subclass: u32) {
    let mut st = state::lock();
    report_once(&mut st, h, h.depth, &Violation::InvalidSubclass { subclass });
}
