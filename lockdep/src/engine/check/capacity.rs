//! Capacities: the held-lock stack, the class, dependency, chain and stack tables, and
//! subclasses out of range. Each is reported once; validation goes on with what fits.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack};
use crate::engine::report::current_stack;
use crate::engine::sink;
use crate::engine::state::{self, State};
use crate::engine::validate::thread_desc;
use crate::report::{Report, ReportKind};
use crate::MAX_LOCK_DEPTH;

/// The thread tried to hold more than [`MAX_LOCK_DEPTH`] locks.
pub(crate) fn max_depth(h: &HeldStack, next: &Held) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::MaxLockDepth, Vec::new()) {
        return;
    }
    let mut r = report(&st, ReportKind::MaxLockDepth, h, h.depth);
    r.acquiring = Some(describe(&st, next));
    r.details
        .push(format!("depth: {}  max: {MAX_LOCK_DEPTH}!", h.depth + 1));
    r.details.push(String::from(
        "further locks taken by this thread while the stack is full are not tracked.",
    ));
    sink::defer(r);
}

/// A capacity ran out: report it once (the caller marked it exhausted).
pub(crate) fn capacity(st: &mut State, kind: ReportKind) {
    if !st.first_time(kind, Vec::new()) {
        return;
    }
    let mut r = Report::new(kind, thread_desc(0));
    r.details.push(String::from(match kind {
        ReportKind::ClassesExhausted => "the class table is full: locks of new classes are not tracked.",
        ReportKind::DependenciesExhausted => {
            "the dependency table is full: new dependencies are not recorded."
        }
        ReportKind::ChainsExhausted => {
            "the chain cache is full: new lock chains are validated on every acquisition."
        }
        _ => "the stack-trace store is full: new dependencies are recorded without their stack.",
    }));
    r.details.push(String::from(
        "validation continues with what is already recorded.",
    ));
    r.stack = current_stack();
    sink::defer(r);
}

/// A subclass out of range.
pub(crate) fn invalid_subclass(h: &HeldStack, subclass: u32) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::InvalidSubclass, vec![subclass]) {
        return;
    }
    let mut r = report(&st, ReportKind::InvalidSubclass, h, h.depth);
    r.headline = format!("BUG: looking up invalid subclass: {subclass}");
    r.details.push(format!(
        "subclasses run from 0 to {}; the lock is validated as subclass {}.",
        crate::MAX_SUBCLASSES - 1,
        crate::MAX_SUBCLASSES - 1
    ));
    sink::defer(r);
}
