//! Irq-safety: which classes are used inside (simulated) interrupt handlers and which are
//! taken with interrupts enabled, and the three rules the kernel derives from that:
//!
//! * one class both used in an irq handler and taken with that irq enabled can deadlock on
//!   itself — "inconsistent lock state";
//! * a class that becomes irq-safe (or -unsafe) while the graph already connects it to an
//!   irq-unsafe (or -safe) class — "possible irq lock inversion dependency detected";
//! * a new dependency that connects an irq-safe class to an irq-unsafe one — "HARDIRQ-safe ->
//!   HARDIRQ-unsafe lock order detected".
//!
//! Usage bits use the kernel's layout: bit 0 read, bit 1 direction (0: used in the irq, 1: taken
//! with it enabled), bits 2.. the irq (0 hard, 1 soft).

use crate::engine::held::{Held, HeldStack, CTX_BH_OFF, CTX_HARDIRQ, CTX_IRQS_OFF, CTX_SOFTIRQ};
use crate::engine::report::{describe, report};
use crate::engine::sink;
use crate::engine::state::State;
use crate::report::ReportKind;

pub(crate) const USED_IN_HARDIRQ: u8 = 0;
pub(crate) const ENABLED_HARDIRQ: u8 = 2;
pub(crate) const USED_IN_SOFTIRQ: u8 = 4;
pub(crate) const ENABLED_SOFTIRQ: u8 = 6;
const READ: u8 = 1;
const DIR: u8 = 2;
/// Every used-in-irq bit.
const USED_IN_ALL: u16 = 0b0011_0011;

fn usage_name(bit: u8) -> &'static str {
    [
        "IN-HARDIRQ-W",
        "IN-HARDIRQ-R",
        "HARDIRQ-ON-W",
        "HARDIRQ-ON-R",
        "IN-SOFTIRQ-W",
        "IN-SOFTIRQ-R",
        "SOFTIRQ-ON-W",
        "SOFTIRQ-ON-R",
    ][bit as usize]
}

/// `HARDIRQ`, `HARDIRQ-READ`, `SOFTIRQ` or `SOFTIRQ-READ` for a usage bit.
fn state_name(bit: u8) -> &'static str {
    ["HARDIRQ", "HARDIRQ-READ", "SOFTIRQ", "SOFTIRQ-READ"][((bit >> 2) * 2 + (bit & READ)) as usize]
}

/// Marks the usage of an acquisition (the kernel's `mark_usage`).
pub(crate) fn mark_acquire(st: &mut State, h: &HeldStack, d: usize, next: &Held) {
    let r = (next.read != 0) as u8;
    // Every bit is marked even after one was reported, so later conflicts are still found.
    if !next.trylock {
        if next.ctx & CTX_HARDIRQ != 0 {
            mark(st, h, d, next, USED_IN_HARDIRQ + r);
        }
        if next.ctx & CTX_SOFTIRQ != 0 {
            mark(st, h, d, next, USED_IN_SOFTIRQ + r);
        }
    }
    // A sync() creates no critical section: nothing can interrupt it while "held".
    if next.ctx & CTX_IRQS_OFF == 0 && !next.sync {
        mark(st, h, d, next, ENABLED_HARDIRQ + r);
        if next.ctx & CTX_BH_OFF == 0 {
            mark(st, h, d, next, ENABLED_SOFTIRQ + r);
        }
    }
}

/// Sets one usage bit on `e`'s class and checks it. Returns false when it was reported.
pub(crate) fn mark(st: &mut State, h: &HeldStack, d: usize, e: &Held, bit: u8) -> bool {
    let class = e.class as usize;
    let Some(&old) = st.usage.get(class) else {
        return true;
    };
    if old & (1 << bit) != 0 {
        return true;
    }
    st.usage[class] = old | 1 << bit;
    crate::engine::class_bits::set_usage(e.class, old | 1 << bit);
    if bit & DIR == 0 && old & USED_IN_ALL == 0 {
        st.irq_safe_classes += 1;
    }
    // The opposite direction, same irq: write usage conflicts with both, read with write only.
    let excl = bit ^ DIR;
    let conflict = if old & (1 << (excl & !READ)) != 0 {
        Some(excl & !READ)
    } else if bit & READ == 0 && old & (1 << (excl | READ)) != 0 {
        Some(excl | READ)
    } else {
        None
    };
    if let Some(prev_bit) = conflict {
        inconsistent(st, h, d, e, prev_bit, bit);
        return false;
    }
    // The rest of the graph: a new used-in-irq bit looks forwards for classes taken with that
    // irq enabled, a new enabled bit looks backwards for classes used in that irq.
    let irq = bit & !(READ | DIR);
    let enabled = bit & DIR != 0;
    if enabled && st.irq_safe_classes == 0 {
        return true; // nothing is irq-safe: nothing to invert with
    }
    let want = if enabled {
        1 << irq | 1 << (irq | READ)
    } else {
        1 << (irq | DIR) | 1 << (irq | DIR | READ)
    };
    let (forward, root_weak) = if enabled {
        (false, e.read != 0)
    } else {
        (true, e.read == 2)
    };
    let found = st
        .graph
        .search_usage(e.class, forward, root_weak, &st.usage, want);
    if let Some((other, bits)) = found {
        let matched = if bits & (1 << (want.trailing_zeros() as u8)) != 0 {
            want.trailing_zeros() as u8
        } else {
            15 - (want.leading_zeros() as u8)
        };
        inversion(st, h, d, e, other, matched, enabled);
        return false;
    }
    true
}

fn inconsistent(st: &mut State, h: &HeldStack, d: usize, e: &Held, old: u8, new: u8) {
    if !st.first_time(
        ReportKind::InconsistentLockState,
        vec![e.class, old as u32, new as u32],
    ) {
        return;
    }
    let mut r = report(st, ReportKind::InconsistentLockState, h, d);
    r.acquiring = Some(describe(st, e));
    r.details.push(format!(
        "inconsistent {{{}}} -> {{{}}} usage.",
        usage_name(old),
        usage_name(new)
    ));
    r.details.push(format!(
        "{} [HC{}:SC{}:HE{}:SE{}] takes:",
        r.thread,
        (h.ctx & CTX_HARDIRQ != 0) as u8,
        (h.ctx & CTX_SOFTIRQ != 0) as u8,
        (h.ctx & CTX_IRQS_OFF == 0) as u8,
        (h.ctx & CTX_BH_OFF == 0) as u8
    ));
    r.details.push(format!(" {}", describe(st, e)));
    let name = st.class_name(e.class).to_string();
    r.details.push(String::new());
    r.details
        .push(String::from("other info that might help us debug this:"));
    r.details.push(String::from(" Possible unsafe locking scenario:"));
    r.details.push(String::new());
    r.details.push(String::from("       T0"));
    r.details.push(String::from("       ----"));
    r.details.push(format!("  lock({name});"));
    r.details.push(String::from("  <Interrupt>"));
    r.details.push(format!("    lock({name});"));
    r.details.push(String::new());
    r.details.push(String::from(" *** DEADLOCK ***"));
    sink::defer(r);
}

fn inversion(st: &mut State, h: &HeldStack, d: usize, e: &Held, other: u32, bit: u8, became_unsafe: bool) {
    if !st.first_time(ReportKind::IrqLockInversion, vec![e.class, other]) {
        return;
    }
    let mut r = report(st, ReportKind::IrqLockInversion, h, d);
    r.acquiring = Some(describe(st, e));
    r.details
        .push(format!("{} just changed the state of lock:", r.thread));
    r.details.push(format!(" {}", describe(st, e)));
    if became_unsafe {
        r.details.push(format!(
            "but this lock was taken by another, {}-safe lock in the past:",
            state_name(bit)
        ));
    } else {
        r.details.push(format!(
            "but this lock took another, {}-unsafe lock in the past:",
            state_name(bit)
        ));
    }
    r.details.push(format!(" ({})", st.class_name(other)));
    r.details.push(String::new());
    r.details.push(String::from(
        "and interrupts could create inverse lock ordering between them.",
    ));
    r.cycle = vec![
        st.class_name(e.class).to_string(),
        st.class_name(other).to_string(),
    ];
    sink::defer(r);
}

/// A new dependency `prev → next` must not connect an irq-safe class (at or before `prev`) to
/// an irq-unsafe one (at or after `next`). Returns false when it was reported.
pub(crate) fn check_irq_usage(st: &mut State, h: &HeldStack, d: usize, prev: &Held, next: &Held) -> bool {
    if st.irq_safe_classes == 0 {
        return true;
    }
    let safe = st
        .graph
        .accumulate_usage(prev.class, false, prev.read != 0, &st.usage, USED_IN_ALL);
    if safe == 0 {
        return true;
    }
    // The enabled bits (read and write) of the same irqs.
    let mut want = 0u16;
    for irq in [0u8, 4] {
        if safe & (0b11 << irq) != 0 {
            want |= 0b11 << (irq | DIR);
        }
    }
    let Some((unsafe_class, unsafe_bits)) =
        st.graph
            .search_usage(next.class, true, next.read == 2, &st.usage, want)
    else {
        return true;
    };
    // The concrete safe class, for the irq that matched.
    let mut orig = 0u16;
    for irq in [0u8, 4] {
        if unsafe_bits & (0b11 << (irq | DIR)) != 0 {
            orig |= 0b11 << irq;
        }
    }
    let found = st
        .graph
        .search_usage(prev.class, false, prev.read != 0, &st.usage, orig & safe);
    let Some((safe_class, safe_bits)) = found else {
        return true;
    };
    let bit = safe_bits.trailing_zeros() as u8;
    let name = state_name(bit);
    if !st.first_time(
        ReportKind::IrqSafeToUnsafe,
        vec![safe_class, unsafe_class, prev.class, next.class],
    ) {
        return false;
    }
    let mut r = report(st, ReportKind::IrqSafeToUnsafe, h, d);
    r.headline = format!("WARNING: {name}-safe -> {name}-unsafe lock order detected");
    r.acquiring = Some(describe(st, next));
    r.holding = Some(describe(st, prev));
    r.details.push(format!("{} is trying to acquire:", r.thread));
    r.details.push(format!(" {}", describe(st, next)));
    r.details
        .push(String::from("and this thread is already holding:"));
    r.details.push(format!(" {}", describe(st, prev)));
    r.details
        .push(String::from("which would create a new lock dependency:"));
    r.details.push(format!(
        " ({}) -> ({})",
        st.class_name(prev.class),
        st.class_name(next.class)
    ));
    r.details.push(String::new());
    r.details.push(format!(
        "but this new dependency connects a {name}-irq-safe lock:"
    ));
    r.details.push(format!(" ({})", st.class_name(safe_class)));
    r.details.push(String::new());
    r.details.push(format!("to a {name}-irq-unsafe lock:"));
    r.details.push(format!(" ({})", st.class_name(unsafe_class)));
    r.cycle = vec![
        st.class_name(safe_class).to_string(),
        st.class_name(unsafe_class).to_string(),
    ];
    sink::defer(r);
    false
}
