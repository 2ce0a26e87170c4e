//! Execution contexts: sleeping in atomic context (`might_sleep`), lock operations in a panic
//! handler, interrupts re-enabled with locks held.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack, CTX_BH_OFF, CTX_HARDIRQ, CTX_IRQS_OFF, CTX_PANIC, CTX_SOFTIRQ};
use crate::engine::map::{LockKind, UNTRACKED};
use crate::engine::sink;
use crate::engine::state::{self, State};
use crate::engine::usage;
use crate::report::ReportKind;

/// Whether a thread in context `ctx` holding `held` may not sleep: in an interrupt handler,
/// with interrupts or bottom halves disabled, or holding a spinning lock (the same predicate as
/// `validate::in_atomic`, which decides without the validator's lock whether to come here).
pub(crate) fn atomic_reason(st: &State, held: &[Held], ctx: u8) -> Option<String> {
    if ctx & CTX_HARDIRQ != 0 {
        return Some(String::from("in hard interrupt context"));
    }
    if ctx & CTX_SOFTIRQ != 0 {
        return Some(String::from("in soft interrupt context"));
    }
    if ctx & CTX_IRQS_OFF != 0 {
        return Some(String::from("with interrupts disabled"));
    }
    if ctx & CTX_BH_OFF != 0 {
        return Some(String::from("with bottom halves disabled"));
    }
    held.iter()
        .find(|e| st.classes.get(e.class as usize).is_some_and(|c| c.kind.spins()))
        .map(|e| format!("while holding spinlock {}", st.class_name(e.class)))
}

pub(crate) fn sleep_in_atomic(st: &mut State, h: &HeldStack, d: usize, next: &Held) {
    let Some(reason) = atomic_reason(st, &h.entries[..d], next.ctx) else {
        return;
    };
    if !st.first_time(ReportKind::SleepInAtomic, vec![next.class]) {
        return;
    }
    let mut r = report(st, ReportKind::SleepInAtomic, h, d);
    r.acquiring = Some(describe(st, next));
    r.details.push(format!(
        "{} may sleep: taking {} ({}) {reason}.",
        r.thread,
        st.class_name(next.class),
        st.classes[next.class as usize].kind.name()
    ));
    sink::defer(r);
}

/// An operation that may sleep (a wait, an allocation that may reclaim) in atomic context,
/// or in a panic handler: the kernel's `panic()` disables interrupts first, so any sleep there
/// is "sleeping function called from invalid context". (A lock operation in a panic handler is
/// its own report, `panic_op`; only the bare `might_sleep` of a wait needs this.)
pub(crate) fn might_sleep(h: &HeldStack, what: &str, loc: &'static std::panic::Location<'static>) {
    let mut st = state::lock();
    let reason = atomic_reason(&st, h.held(), h.ctx)
        .or_else(|| (h.ctx & CTX_PANIC != 0).then(|| String::from("in a panic handler")));
    let Some(reason) = reason else {
        return;
    };
    if !st.first_time(
        ReportKind::SleepInAtomic,
        vec![u32::MAX, loc.line(), loc.column()],
    ) {
        return;
    }
    let mut r = report(&st, ReportKind::SleepInAtomic, h, h.depth);
    r.details
        .push(format!("in_atomic(): {what} at {loc} may sleep, {reason}."));
    sink::defer(r);
}

/// A lock operation inside a panic handler: only `RawSpinLock::try_lock` is allowed.
pub(crate) fn panic_op(h: &HeldStack, next: &Held) {
    let mut st = state::lock();
    let kind = st.classes.get(next.class as usize).map(|c| c.kind);
    if next.trylock && kind == Some(LockKind::RawSpinLock) {
        return;
    }
    let loc = next.loc.map_or((0, 0), |l| (l.line(), l.column()));
    if !st.first_time(ReportKind::PanicContext, vec![next.class, loc.0, loc.1]) {
        return;
    }
    let mut r = report(&st, ReportKind::PanicContext, h, h.depth);
    r.acquiring = Some(describe(&st, next));
    r.details.push(format!(
        "{} {} {} ({}) inside a panic handler: only a try-lock of a raw spinlock is allowed there, \
         and the handler must give up when it fails.",
        r.thread,
        if next.trylock { "try-locks" } else { "blocks on" },
        st.class_name(next.class),
        kind.map_or("lock", |k| k.name())
    ));
    sink::defer(r);
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
