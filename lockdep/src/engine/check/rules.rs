//! Declared rules: must-not-nest pairs (`forbid_nesting`), must-not-hold operations, protocol
//! misuse reported by the ww mutex and SRCU code, and a class shared by two kinds of lock.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack};
use crate::engine::map::LockKind;
use crate::engine::state::{self, State};
use std::panic::Location;

/// Declared must-not-nest rules (`lockdep::forbid_nesting`) that taking `next` over
/// `h.entries[..d]` breaks, one per held lock. A rule names classes by their key, so it holds
/// for every subclass of either.
pub(crate) fn forbidden_nesting(st: &State, h: &HeldStack, d: usize, next: &Held) -> Vec<Violation<'static>> {
    if st.rules.is_empty() {
        return Vec::new();
    }
    let key = |c: u32| st.classes.get(c as usize).map(|c| c.key);
    h.entries[..d]
        .iter()
        .filter_map(|prev| {
            let (outer_key, inner_key) = (key(prev.class), key(next.class));
            st.rules
                .iter()
                .find(|(outer, inner, _)| Some(*outer) == outer_key && Some(*inner) == inner_key)
                .map(|&(_, _, reason)| Violation::ForbiddenNesting {
                    prev: *prev,
                    next: *next,
                    reason,
                })
        })
        .collect()
}

/// A declared "must not run while X is held" operation ran with a lock of `class` held.
pub(crate) fn forbidden_op(h: &HeldStack, class: u32, operation: &str, site: &'static Location<'static>) {
    let Some(held) = h.held().iter().rev().find(|e| e.class == class).copied() else {
        return;
    };
    let mut st = state::lock();
    let v = Violation::ForbiddenOperation {
        held,
        operation,
        site,
    };
    report_once(&mut st, h, h.depth, &v);
}

/// A lock protocol (ww mutex, SRCU) broken at `site`.
pub(crate) fn misuse(h: &HeldStack, protocol: Protocol<'_>, site: &'static Location<'static>) {
    let mut st = state::lock();
    report_once(&mut st, h, h.depth, &Violation::Misuse { protocol, site });
}

/// A named class used by a lock of another kind than the one that registered it (`id`): the
/// class keeps the first kind's wait types, as the kernel's class keeps those of the first
/// `lockdep_map` registered with its key. Reported once per class, the way the kernel warns
/// when it finds one key describing a lock differently (another name).
pub(crate) fn class_kind_mismatch(st: &mut State, h: &HeldStack, id: u32, used: LockKind) {
    let registered = st.classes.get(id as usize).map_or(LockKind::Mutex, |c| c.kind);
    let v = Violation::ClassKindMismatch {
        class: id,
        registered,
        used,
    };
    report_once(st, h, h.depth, &v);
}
