//! Recursion: the very lock re-taken by its holder, and a lock nested under a nest lock that
//! is not held. (Recursion of a class through the graph is found with the order checks.)

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack, WRITE};
use crate::engine::sink;
use crate::engine::state::{self, State};
use crate::engine::validate::thread_desc;
use crate::report::ReportKind;

/// The last word of a same-instance self-deadlock's signature. The two-instance "possible
/// recursive locking" report of [`validate_chain`](super::validate_chain) is signed by the same
/// pair of classes, and both are `RecursiveLocking`: without this mark whichever came first in a
/// run would silence the other, though one is a possible deadlock and the other a certain one (a
/// class id is at most `MAX_CLASSES`, so it never equals the mark).
const SAME_INSTANCE: u32 = u32::MAX - 1;

/// The very lock `prev` re-taken by the thread that holds it (under any subclass): reported,
/// and the message the caller panics with instead of hanging.
pub(crate) fn self_deadlock(h: &HeldStack, d: usize, next: &Held, prev: &Held) -> String {
    let mut st = state::lock();
    self_deadlock_report(&mut st, h, d, next, prev);
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

/// Reports (once per pair of classes) the same-instance re-take, wherever it is found: by
/// [`validate_chain`](super::validate_chain) on a new chain, by the contended path on a cached
/// one. Its signature carries [`SAME_INSTANCE`], so it never silences the two-instance report
/// or is silenced by it.
pub(crate) fn self_deadlock_report(st: &mut State, h: &HeldStack, d: usize, next: &Held, prev: &Held) {
    let sig = vec![prev.class, next.class, SAME_INSTANCE];
    if st.first_time(ReportKind::RecursiveLocking, sig) {
        let mut r = report(st, ReportKind::RecursiveLocking, h, d);
        r.acquiring = Some(describe(st, next));
        r.holding = Some(describe(st, prev));
        r.details.push(String::from(
            " This is the same lock instance, already held by this thread: acquiring it would deadlock now.",
        ));
        sink::defer(r);
    }
}
