//! Timed acquisitions (`try_lock_for`, `try_write_until`, ...): validated as blocking ones.
//!
//! A timed acquisition waits, so it closes a cycle as surely as `lock()` does: the run does not
//! hang for ever, but each time the cycle forms its waiter stalls for the whole timeout and
//! then fails, which callers rarely handle better than a hang. So it is validated before the
//! wait exactly like a blocking acquisition, and its held-stack entry carries a `timed` mark:
//! reports show `timed: the wait is bounded` on it ([`HeldLock::is_timed`]). A timed attempt
//! that gives up leaves nothing held.
//!
//! [`HeldLock::is_timed`]: crate::HeldLock::is_timed

use crate::engine::{validate, DepMap};
use std::panic::Location;

/// Validates a timed acquisition of `map` in mode `read` (`held::WRITE`, `READ`, ...) as
/// blocking, then runs `attempt`, the plain lock's timed try. If it times out, the record just
/// made goes again.
#[inline]
pub(crate) fn lock_timed<G>(
    map: &DepMap,
    read: u8,
    loc: &'static Location<'static>,
    attempt: impl FnOnce() -> Option<G>,
) -> Option<G> {
    acquire_timed(map, read, loc);
    let guard = attempt();
    if guard.is_none() {
        validate::release(map, loc);
    }
    guard
}

/// Records a timed acquisition of `map` in mode `read`, validated as blocking; the caller
/// releases it if the attempt then times out.
#[inline]
pub(crate) fn acquire_timed(map: &DepMap, read: u8, loc: &'static Location<'static>) {
    let mut a = validate::Acquire::of(map, 0, read, false, loc);
    a.timed = true;
    validate::acquire_with(map, a);
}
