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

use crate::engine::check::{report_once, Violation};
use crate::engine::held::{Held, HeldStack, CTX_BH_OFF, CTX_HARDIRQ, CTX_IRQS_OFF, CTX_SOFTIRQ};
use crate::engine::state::State;

pub(crate) const USED_IN_HARDIRQ: u8 = 0;
pub(crate) const ENABLED_HARDIRQ: u8 = 2;
pub(crate) const USED_IN_SOFTIRQ: u8 = 4;
pub(crate) const ENABLED_SOFTIRQ: u8 = 6;
const READ: u8 = 1;
const DIR: u8 = 2;
/// Every used-in-irq bit.
const USED_IN_ALL: u16 = 0b0011_0011;

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

/// Sets one usage bit on `e`'s class and checks it, reporting what it breaks. Returns false
/// when it broke a rule.
pub(crate) fn mark(st: &mut State, h: &HeldStack, d: usize, e: &Held, bit: u8) -> bool {
    match mark_usage(st, h.ctx, e, bit) {
        Some(v) => {
            report_once(st, h, d, &v);
            false
        }
        None => true,
    }
}

/// Sets usage bit `bit` on `e`'s class, set by a thread in context `ctx`, and returns the rule
/// the new usage breaks: the class's own opposite usage, or a class connected to it in the
/// graph with the opposite one.
fn mark_usage(st: &mut State, ctx: u8, e: &Held, bit: u8) -> Option<Violation<'static>> {
    let class = e.class as usize;
    let &old = st.usage.get(class)?;
    if old & (1 << bit) != 0 {
        return None;
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
        return Some(Violation::Inconsistent {
            held: *e,
            old: prev_bit,
            new: bit,
            ctx,
        });
    }
    // The rest of the graph: a new used-in-irq bit looks forwards for classes taken with that
    // irq enabled, a new enabled bit looks backwards for classes used in that irq.
    let irq = bit & !(READ | DIR);
    let enabled = bit & DIR != 0;
    if enabled && st.irq_safe_classes == 0 {
        return None; // nothing is irq-safe: nothing to invert with
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
    let (other, bits) = st
        .graph
        .search_usage(e.class, forward, root_weak, &st.usage, want)?;
    let matched = if bits & (1 << (want.trailing_zeros() as u8)) != 0 {
        want.trailing_zeros() as u8
    } else {
        15 - (want.leading_zeros() as u8)
    };
    Some(Violation::IrqInversion {
        held: *e,
        other,
        bit: matched,
        became_unsafe: enabled,
    })
}

/// A new dependency `prev → next` must not connect an irq-safe class (at or before `prev`) to
/// an irq-unsafe one (at or after `next`).
pub(crate) fn check_irq_usage(st: &mut State, prev: &Held, next: &Held) -> Option<Violation<'static>> {
    if st.irq_safe_classes == 0 {
        return None;
    }
    let safe = st
        .graph
        .accumulate_usage(prev.class, false, prev.read != 0, &st.usage, USED_IN_ALL);
    if safe == 0 {
        return None;
    }
    // The enabled bits (read and write) of the same irqs.
    let mut want = 0u16;
    for irq in [0u8, 4] {
        if safe & (0b11 << irq) != 0 {
            want |= 0b11 << (irq | DIR);
        }
    }
    let (unsafe_class, unsafe_bits) =
        st.graph
            .search_usage(next.class, true, next.read == 2, &st.usage, want)?;
    // The concrete safe class, for the irq that matched.
    let mut orig = 0u16;
    for irq in [0u8, 4] {
        if unsafe_bits & (0b11 << (irq | DIR)) != 0 {
            orig |= 0b11 << irq;
        }
    }
    let (safe_class, safe_bits) =
        st.graph
            .search_usage(prev.class, false, prev.read != 0, &st.usage, orig & safe)?;
    Some(Violation::IrqSafeToUnsafe {
        prev: *prev,
        next: *next,
        safe: safe_class,
        unsafe_class,
        bit: safe_bits.trailing_zeros() as u8,
    })
}
