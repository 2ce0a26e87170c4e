//! Execution contexts: sleeping in atomic context (`might_sleep`), lock operations in a panic
//! handler, interrupts re-enabled with locks held.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack, CTX_PANIC};
use crate::engine::map::{LockKind, UNTRACKED};
use crate::engine::state::{self, State};
use crate::engine::usage;
use crate::engine::violation::Atomic;

/// A sleeping lock `next` taken over `h.entries[..d]` in atomic context.
pub(crate) fn sleep_in_atomic(
    st: &State,
    h: &HeldStack,
    d: usize,
    next: &Held,
) -> Option<Violation<'static>> {
    let reason = Atomic::of(st, &h.entries[..d], next.ctx)?;
    Some(Violation::SleepInAtomic { next: *next, reason })
}

/// An operation that may sleep (a wait, an allocation that may reclaim) in atomic context,
/// or in a panic handler: the kernel's `panic()` disables interrupts first, so any sleep there
/// is "sleeping function called from invalid context". (A lock operation in a panic handler is
/// its own report, `panic_op`; only the bare `might_sleep` of a wait needs this.)
pub(crate) fn might_sleep(h: &HeldStack, operation: &str, site: &'static std::panic::Location<'static>) {
    let mut st = state::lock();
    let reason =
        Atomic::of(&st, h.held(), h.ctx).or_else(|| (h.ctx & CTX_PANIC != 0).then_some(Atomic::Panic));
    let Some(reason) = reason else {
        return;
    };
    let v = Violation::MightSleep {
        operation,
        site,
        reason,
    };
    report_once(&mut st, h, h.depth, &v);
}

/// A lock operation inside a panic handler: only `RawSpinLock::try_lock` is allowed.
pub(crate) fn panic_op(h: &HeldStack, next: &Held) {
    let mut st = state::lock();
    let kind = st.classes.get(next.class as usize).map(|c| c.kind);
    if next.trylock && kind == Some(LockKind::RawSpinLock) {
        return;
    }
    report_once(&mut st, h, h.depth, &Violation::PanicContext { next: *next });
}

/// Interrupts were re-enabled with locks held: they become irq-unsafe.
pub(crate) fn mark_held_enabled(h: &HeldStack, hard: bool, soft: bool) {
    if h.depth == 0 {
        return;
    }
    let mut st = state::lock();
    for (enabled, bit) in [(hard, usage::ENABLED_HARDIRQ), (soft, usage::ENABLED_SOFTIRQ)] {
        if !enabled {
            continue;
        }
        for i in 0..h.depth {
            let e = h.entries[i];
            if e.class != UNTRACKED {
                usage::mark(&mut st, h, h.depth, &e, bit + (e.read != 0) as u8);
            }
        }
    }
}
