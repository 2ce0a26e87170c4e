//! Wait contexts: a lock that may wait longer than where it is taken allows (the kernel's
//! `check_wait_context`), `[ BUG: Invalid wait context ]`.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack, CTX_HARDIRQ, CTX_IRQ_MASK, CTX_SOFTIRQ, CTX_THREADED};
use crate::engine::map::{WAIT_CONFIG, WAIT_INV, WAIT_MAX, WAIT_SPIN};
use crate::engine::sink;
use crate::engine::state::State;
use crate::report::ReportKind;

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
/// Returns whether it fired.
pub(crate) fn wait_context(st: &mut State, h: &HeldStack, d: usize, next: &Held) -> bool {
    let info = &st.classes[next.class as usize];
    if info.wait_inner == WAIT_INV {
        return false;
    }
    let next_outer = if info.wait_outer != WAIT_INV {
        info.wait_outer
    } else {
        info.wait_inner
    };
    let task = task_wait_type(next.ctx);
    let mut curr = task;
    let mut strictest: Option<&Held> = None;
    for e in h.entries[..d].iter().rev() {
        if (e.ctx ^ next.ctx) & CTX_IRQ_MASK != 0 {
            break;
        }
        let w = st
            .classes
            .get(e.class as usize)
            .map_or(WAIT_INV, |c| c.wait_inner);
        if w != WAIT_INV && w < curr {
            curr = w;
            strictest = Some(e);
        }
    }
    if next_outer <= curr {
        return false;
    }
    let sig = vec![next.class, strictest.map_or(u32::MAX - task as u32, |e| e.class)];
    if st.first_time(ReportKind::InvalidWaitContext, sig) {
        let mut r = report(st, ReportKind::InvalidWaitContext, h, d);
        r.acquiring = Some(describe(st, next));
        r.holding = strictest.map(|e| describe(st, e));
        r.details.push(format!("{} is trying to lock:", r.thread));
        r.details.push(format!(
            " {}{{{}:{}}}",
            describe(st, next),
            next_outer,
            info_inner(st, next.class)
        ));
        r.details.push(format!(
            "other info that might help us debug this:
context-{{{task}:{task}}}"
        ));
        match strictest {
            Some(e) => r.details.push(format!(
                "but holding {} ({}), in which nothing waiting longer than wait type {curr} may be taken.",
                st.class_name(e.class),
                st.classes[e.class as usize].kind.name()
            )),
            None => {
                r.details.push(format!(
                "but the thread is in {} context, which allows nothing waiting longer than wait type {curr}.",
                if next.ctx & CTX_HARDIRQ != 0 { "hard interrupt" } else { "soft interrupt" }
            ))
            }
        }
        sink::defer(r);
    }
    true
}

pub(crate) fn info_inner(st: &State, class: u32) -> u8 {
    st.classes.get(class as usize).map_or(0, |c| c.wait_inner)
}
