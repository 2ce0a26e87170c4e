//! Declared rules: must-not-nest pairs (`forbid_nesting`), must-not-hold operations, protocol
//! misuse reported by the ww mutex and SRCU code, and a class shared by two kinds of lock.

use crate::engine::check::*;
use crate::engine::held::{Held, HeldStack};
use crate::engine::map::LockKind;
use crate::engine::sink;
use crate::engine::state::{self, State};
use crate::report::ReportKind;

/// Declared must-not-nest rules (`lockdep::forbid_nesting`). A rule names classes by their
/// key, so it holds for every subclass of either.
pub(crate) fn forbidden_nesting(st: &mut State, h: &HeldStack, d: usize, next: &Held) {
    if st.rules.is_empty() {
        return;
    }
    let key = |st: &State, c: u32| st.classes.get(c as usize).map(|c| c.key);
    for prev in &h.entries[..d] {
        let (outer_key, inner_key) = (key(st, prev.class), key(st, next.class));
        let hit = st
            .rules
            .iter()
            .find(|(outer, inner, _)| Some(*outer) == outer_key && Some(*inner) == inner_key)
            .copied();
        if let Some((_, _, why)) = hit {
            if st.first_time(ReportKind::ForbiddenWhileHeld, vec![prev.class, next.class]) {
                let mut r = report(st, ReportKind::ForbiddenWhileHeld, h, d);
                r.acquiring = Some(describe(st, next));
                r.holding = Some(describe(st, prev));
                r.details.push(format!(
                    "{} must not be taken while {} is held: {why}",
                    st.class_name(next.class),
                    st.class_name(prev.class)
                ));
                sink::defer(r);
            }
        }
    }
}

/// A declared "must not run while X is held" operation ran with X held.
pub(crate) fn forbidden_op(
    h: &HeldStack,
    class: u32,
    what: &str,
    loc: &'static std::panic::Location<'static>,
) {
    let Some(e) = h.held().iter().rev().find(|e| e.class == class).copied() else {
        return;
    };
    let mut st = state::lock();
    if !st.first_time(
        ReportKind::ForbiddenWhileHeld,
        vec![class, u32::MAX, loc.line(), loc.column()],
    ) {
        return;
    }
    let mut r = report(&st, ReportKind::ForbiddenWhileHeld, h, h.depth);
    r.holding = Some(describe(&st, &e));
    r.details.push(format!(
        "{what} at {loc} must not run while {} is held.",
        st.class_name(class)
    ));
    sink::defer(r);
}

/// A misuse reported with a message, de-duplicated by kind and call site.
pub(crate) fn misuse(
    h: &HeldStack,
    kind: ReportKind,
    what: &str,
    loc: &'static std::panic::Location<'static>,
) {
    let mut st = state::lock();
    let sig = vec![loc.line(), loc.column(), what.len() as u32];
    if !st.first_time(kind, sig) {
        return;
    }
    let mut r = report(&st, kind, h, h.depth);
    r.details.push(format!("{what}, at {loc}."));
    sink::defer(r);
}

/// A named class used by a lock of another kind than the one that registered it (`id`): the
/// class keeps the first kind's wait types, as the kernel's class keeps those of the first
/// `lockdep_map` registered with its key. Reported once per class, the way the kernel warns
/// when it finds one key describing a lock differently (another name).
pub(crate) fn class_kind_mismatch(st: &mut State, h: &HeldStack, id: u32, kind: LockKind) {
    if !st.first_time(ReportKind::ClassKindMismatch, vec![id]) {
        return;
    }
    let first = st.classes.get(id as usize).map_or(LockKind::Mutex, |c| c.kind);
    let mut r = report(st, ReportKind::ClassKindMismatch, h, h.depth);
    r.details.push(format!(
        "class {} was registered by a {} and is now used by a {} as well.",
        st.class_name(id),
        first.name(),
        kind.name()
    ));
    r.details.push(format!(
        "a class has one wait type: every lock of it is validated as a {}. Give the {} its own class.",
        first.name(),
        kind.name()
    ));
    sink::defer(r);
}
