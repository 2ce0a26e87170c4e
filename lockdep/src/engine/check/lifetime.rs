//! Lock lifetimes: releasing a lock not held, freeing a held one, a thread exiting or
//! panicking with locks held.

use crate::engine::check::*;
use crate::engine::held::{HeldStack, WRITE};
use crate::engine::map::DepMap;
use crate::engine::state;

/// Releasing the instance `instance` of `class`, which this thread does not hold.
pub(crate) fn bad_unlock(
    h: &HeldStack,
    class: u32,
    instance: usize,
    site: &'static std::panic::Location<'static>,
) {
    unlock_imbalance(h, class, instance, WRITE, false, site);
}

/// Releasing the instance `instance` of `class` in mode `read` (0 write, else read) while
/// this thread holds it only in the other mode: the release is refused, which is a bad unlock
/// balance too, said with the mode it is held in.
pub(crate) fn bad_unlock_mode(
    h: &HeldStack,
    class: u32,
    instance: usize,
    read: u8,
    site: &'static std::panic::Location<'static>,
) {
    unlock_imbalance(h, class, instance, read, true, site);
}

fn unlock_imbalance(
    h: &HeldStack,
    class: u32,
    instance: usize,
    read: u8,
    held_in_other_mode: bool,
    site: &'static std::panic::Location<'static>,
) {
    let mut st = state::lock();
    let v = Violation::BadUnlock {
        class,
        instance,
        read,
        held_in_other_mode,
        site,
    };
    report_once(&mut st, h, h.depth, &v);
}

/// A lock destroyed while this thread holds it (entry `i`).
pub(crate) fn held_lock_freed(h: &HeldStack, map: &DepMap, i: usize) {
    let mut st = state::lock();
    let v = Violation::HeldLockFreed {
        held: h.entries[i],
        instance: map.instance(),
    };
    report_once(&mut st, h, h.depth, &v);
}

/// The thread (`name/id`) is exiting with locks on its stack.
pub(crate) fn held_at_exit(h: &HeldStack, thread: &str) {
    let mut st = state::lock();
    report_once(&mut st, h, h.depth, &Violation::LocksHeldAtExit { thread });
}

/// The thread is panicking with locks held (from the panic hook, never inside the validator,
/// so the validator's lock is not this thread's: if another thread has it, it is waited for,
/// not given up on).
pub(crate) fn panic_while_holding(h: &HeldStack, message: &str) {
    let mut st = state::lock();
    report_once(&mut st, h, h.depth, &Violation::PanicWhileHolding { message });
}
