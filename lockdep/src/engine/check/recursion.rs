//! Recursion: the very lock re-taken by its holder, and a lock nested under a nest lock that
//! is not held. (Two locks of one class are found by [`validate_chain`](super::validate_chain),
//! recursion of a class through the graph with the order checks.)

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack, WRITE};
use crate::engine::state::{self, State};
use crate::engine::validate::thread_desc;

/// The very lock `prev` re-taken by the thread that holds it (under any subclass): reported,
/// and the message the caller panics with instead of hanging.
pub(crate) fn self_deadlock(h: &HeldStack, d: usize, next: &Held, prev: &Held) -> String {
    let mut st = state::lock();
    let v = Violation::RecursiveLocking {
        prev: *prev,
        next: *next,
        how: Recursion::SameInstance,
    };
    report_once(&mut st, h, d, &v);
    format!(
        "lockdep: thread {} re-acquired lock {} that it already holds (acquired at {}); this would deadlock now",
        thread_desc(h.tid),
        st.class_name(next.class),
        prev.loc.map(|l| l.to_string()).unwrap_or_default()
    )
}

/// A lock taken nested under a lock this thread does not hold.
pub(crate) fn nest_lock_not_held(h: &HeldStack, next: &Held) {
    let mut st = state::lock();
    report_once(&mut st, h, h.depth, &Violation::NestLockNotHeld { next: *next });
}

/// Whether taking `next` over `prev` is the very lock re-taken in a way that waits for itself:
/// the same instance of a real lock, exclusively on either side (a reader over its own read
/// hold waits only behind a queued writer, so that stays a possible deadlock).
pub(crate) fn is_self_deadlock(st: &State, prev: &Held, next: &Held) -> bool {
    prev.instance == next.instance
        && (prev.read == WRITE || next.read == WRITE)
        && st
            .classes
            .get(next.class as usize)
            .is_some_and(|c| c.kind.blocks())
}
