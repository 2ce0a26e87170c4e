//! Lock lifetimes: releasing a lock not held, freeing a held one, a thread exiting or
//! panicking with locks held.

use crate::engine::check::*;
use crate::engine::held::HeldStack;
use crate::engine::map::DepMap;
use crate::engine::state;

/// Releasing the instance `instance` of `class`, which this thread does not hold.
pub(crate) fn bad_unlock(
    h: &HeldStack,
    class: u32,
    instance: usize,
    site: &'static std::panic::Location<'static>,
) {
    let mut st = state::lock();
    let v = Violation::BadUnlock {
        class,
        instance,
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
