//! Recursion: the very lock re-taken by its holder, and a lock nested under a nest lock that
//! is not held. (Recursion of a class through the graph is found with the order checks.)

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack};
use crate::engine::sink;
use crate::engine::state::{self};
use crate::engine::validate::thread_desc;
use crate::report::ReportKind;

/// The very lock `prev` re-taken by the thread that holds it (under any subclass): reported,
/// and the message the caller panics with instead of hanging.
pub(crate) fn self_deadlock(h: &HeldStack, d: usize, next: &Held, prev: &Held) -> String {
    let mut st = state::lock();
    if st.first_time(ReportKind::RecursiveLocking, vec![prev.class, next.class]) {
        let mut r = report(&st, ReportKind::RecursiveLocking, h, d);
        r.acquiring = Some(describe(&st, next));
        r.holding = Some(describe(&st, prev));
        r.details.push(String::from(
            " This is the same lock instance, already held by this thread: acquiring it would deadlock now.",
        ));
        sink::defer(r);
    }
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
    if !st.first_time(ReportKind::NestLockNotHeld, vec![next.class]) {
        return;
    }
    let mut r = report(&st, ReportKind::NestLockNotHeld, h, h.depth);
    r.acquiring = Some(describe(&st, next));
    r.details.push(String::from(
        "but this thread is not holding the lock it is nested under.",
    ));
    sink::defer(r);
}
