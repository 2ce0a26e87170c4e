//! Lock lifetimes: releasing a lock not held, freeing a held one, a thread exiting or
//! panicking with locks held.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack, WRITE};
use crate::engine::map::DepMap;
use crate::engine::sink;
use crate::engine::state::{self};
use crate::report::{Report, ReportKind};

/// Releasing the instance `instance` of `class`, which this thread does not hold.
pub(crate) fn bad_unlock(
    h: &HeldStack,
    class: u32,
    instance: usize,
    loc: &'static std::panic::Location<'static>,
) {
    unlock_imbalance(h, class, instance, WRITE, None, loc);
}

/// Releasing the instance `instance` of `class` in mode `read` (0 write, else read) while
/// this thread holds it only in the other mode: the release is refused, which is a bad unlock
/// balance too, said with the mode it is held in.
pub(crate) fn bad_unlock_mode(
    h: &HeldStack,
    class: u32,
    instance: usize,
    read: u8,
    loc: &'static std::panic::Location<'static>,
) {
    let (as_, held) = if read == WRITE {
        ("writer", "reading")
    } else {
        ("reader", "writing")
    };
    let detail = format!("it is released as a {as_} but held for {held}; the lock is left held");
    unlock_imbalance(h, class, instance, read, Some(detail), loc);
}

fn unlock_imbalance(
    h: &HeldStack,
    class: u32,
    instance: usize,
    read: u8,
    detail: Option<String>,
    loc: &'static std::panic::Location<'static>,
) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::BadUnlock, vec![class]) {
        return;
    }
    let mut r = report(&st, ReportKind::BadUnlock, h, h.depth);
    let fake = Held {
        instance,
        loc: Some(loc),
        class,
        read,
        ..Held::EMPTY
    };
    r.acquiring = Some(describe(&st, &fake));
    r.details.extend(detail);
    sink::defer(r);
}

/// A lock destroyed while this thread holds it (entry `i`).
pub(crate) fn held_lock_freed(h: &HeldStack, map: &DepMap, i: usize) {
    let mut st = state::lock();
    let e = h.entries[i];
    if !st.first_time(ReportKind::HeldLockFreed, vec![e.class]) {
        return;
    }
    let mut r = report(&st, ReportKind::HeldLockFreed, h, h.depth);
    r.holding = Some(describe(&st, &e));
    r.details.push(format!(
        "{} is freeing lock {:#x} ({}), with the lock still held!",
        r.thread,
        map.instance(),
        st.class_name(e.class)
    ));
    sink::defer(r);
}

/// The thread is exiting with locks on its stack.
pub(crate) fn held_at_exit(h: &HeldStack, thread: &str) {
    let mut st = state::lock();
    let classes = h.held().iter().map(|e| e.class).collect();
    if !st.first_time(ReportKind::LocksHeldAtExit, state::class_set(classes)) {
        return;
    }
    let mut r = Report::new(ReportKind::LocksHeldAtExit, thread.to_string());
    r.headline = format!("WARNING: {thread} still has locks held!");
    r.held = h.held().iter().map(|e| describe(&st, e)).collect();
    // No stack: the thread is being torn down (and the unwinder's own thread-locals may be
    // gone); the held locks' acquisition sites say where they were taken.
    sink::defer(r);
}

/// The thread is panicking with locks held (from the panic hook, never inside the validator,
/// so the validator's lock is not this thread's: if another thread has it, it is waited for,
/// not given up on).
pub(crate) fn panic_while_holding(h: &HeldStack, message: &str) {
    let mut st = state::lock();
    let classes = h.held().iter().map(|e| e.class).collect();
    if !st.first_time(ReportKind::PanicWhileHolding, state::class_set(classes)) {
        return;
    }
    let mut r = report(&st, ReportKind::PanicWhileHolding, h, h.depth);
    r.details.push(format!("{} panicked: {message}", r.thread));
    r.details.push(String::from(
        "the locks below are released as the thread unwinds (they do not poison): what they protect may be half-updated.",
    ));
    sink::defer(r);
}
