//! Wait contexts: a lock that may wait longer than where it is taken allows (the kernel's
//! `check_wait_context`), `[ BUG: Invalid wait context ]`.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack, CTX_HARDIRQ, CTX_IRQ_MASK, CTX_SOFTIRQ, CTX_THREADED};
use crate::engine::map::{WAIT_CONFIG, WAIT_INV, WAIT_MAX, WAIT_SPIN};
use crate::engine::state::State;

/// The strictest wait type the thread's context allows, before any held lock.
pub(crate) fn task_wait_type(ctx: u8) -> u8 {
    if ctx & CTX_HARDIRQ != 0 {
        if ctx & CTX_THREADED != 0 {
            WAIT_CONFIG
        } else {
            WAIT_SPIN
        }
    } else if ctx & CTX_SOFTIRQ != 0 {
        WAIT_CONFIG
    } else {
        WAIT_MAX
    }
}

/// `[ BUG: Invalid wait context ]`: taking a lock that may wait longer than the context
/// allows (a mutex under a spinlock, a spinlock under a raw spinlock or in a hard irq).
pub(crate) fn wait_context(st: &State, h: &HeldStack, d: usize, next: &Held) -> Option<Violation<'static>> {
    let info = &st.classes[next.class as usize];
    if info.wait_inner == WAIT_INV {
        return None;
    }
    let outer = if info.wait_outer != WAIT_INV {
        info.wait_outer
    } else {
        info.wait_inner
    };
    let context = task_wait_type(next.ctx);
    let mut allowed = context;
    let mut strictest: Option<Held> = None;
    for e in h.entries[..d].iter().rev() {
        if (e.ctx ^ next.ctx) & CTX_IRQ_MASK != 0 {
            break;
        }
        let w = st
            .classes
            .get(e.class as usize)
            .map_or(WAIT_INV, |c| c.wait_inner);
        if w != WAIT_INV && w < allowed {
            allowed = w;
            strictest = Some(*e);
        }
    }
    (outer > allowed).then_some(Violation::InvalidWaitContext {
        next: *next,
        strictest,
        outer,
        inner: info.wait_inner,
        context,
        allowed,
    })
}
