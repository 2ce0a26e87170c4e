//! Lock order: a new dependency from a held lock to the one being taken (the kernel's
//! `check_prev_add`) and the cycle search before it is recorded.

use crate::engine::check::*;
use crate::engine::graph::{dep_kind, Graph};
use crate::engine::held::{Held, HeldStack};
use crate::engine::stack::{capture_ips, TraceId, MAX_FRAMES, NO_TRACE};
use crate::engine::state::State;
use crate::engine::usage;
use crate::engine::validate::thread_desc;

/// Checks and records the dependency `prev → next`. Returns false if it could not be
/// recorded (the dependency table is full). The classes of a cycle it closes are added to
/// `on_cycle` (see [`check_implied`]).
pub(crate) fn add_dependency(
    st: &mut State,
    h: &HeldStack,
    d: usize,
    prev: &Held,
    next: &Held,
    trace: &mut Option<TraceId>,
    on_cycle: &mut Vec<u32>,
) -> bool {
    let kind = dep_kind(prev.read, next.read);
    let existing = st.graph.find(prev.class, next.class);
    if let Some(e) = existing {
        if st.graph.edges[e as usize].dep & kind != 0 {
            return true; // validated when it was recorded
        }
    }
    // Only when the topological order cannot rule a path next -> prev out.
    // Also when `prev` is of `next`'s class (a recursive read over a reader of it): the path
    // out of the class and back is a cycle through other locks, which the kernel reports as
    // circular too.
    let reported =
        st.graph.may_close_cycle(prev.class, next.class) && report_cycle(st, h, d, prev, next, on_cycle);
    if reported {
        // The graph is about to hold a cycle on purpose: the topological order is gone.
        st.graph.give_up_order();
    }
    // An irq-safe class connected to an irq-unsafe one through this edge (checked only when no
    // cycle was reported: one report per new dependency, as in the kernel).
    if !reported {
        if let Some(v) = usage::check_irq_usage(st, prev, next) {
            report_once(st, h, d, &v);
        }
    }
    // Recorded whatever was reported, so validation goes on with the complete picture: later
    // cycles and irq inversions through this dependency are still found (the kernel stops
    // after one report).
    match existing {
        Some(e) => {
            st.graph.add_kind(e, kind);
            true
        }
        None => record_edge(st, h, prev, next, trace),
    }
}

/// Searches for the cycle that the dependency `prev → next` would close, where `prev` is held
/// below the nearest lock whose own dependency on `next` implies it (the kernel's
/// `check_prevs_add` stops at that lock and never looks further). The dependency is not
/// recorded — the graph has it as a path through the nearer lock — but a cycle through it is a
/// deadlock of its own: with `r` read, `x`, `s` held, a writer of `r` closes `r → s → r` through
/// `s` and `r → x → r` through `x`, two deadlocks, and a search from the nearest lock alone
/// names only the first. Searched only when the nearer lock's dependency is new: through one
/// recorded before, `prev ⇝ next` was there before too, and a cycle it closes was no new
/// deadlock, reported when it formed (the kernel's single report then stays the only one).
/// While the graph keeps its topological order the search costs nothing: the path
/// `prev ⇝ next` through the nearer lock puts `prev` before `next`.
///
/// `on_cycle` holds the classes of the cycles this acquisition closed so far: a lock of one of
/// them is on a cycle already named, and the cycle through its implied dependency (in the graph
/// a path through the nearer lock) is that same cycle or a part of it, not another deadlock.
pub(crate) fn check_implied(
    st: &mut State,
    h: &HeldStack,
    d: usize,
    prev: &Held,
    next: &Held,
    on_cycle: &mut Vec<u32>,
) {
    // On a cycle already found; recorded directly, so searched then; or, while the graph
    // keeps its order, no path leads back.
    if on_cycle.contains(&prev.class)
        || st
            .graph
            .has(prev.class, next.class, dep_kind(prev.read, next.read))
        || !st.graph.may_close_cycle(prev.class, next.class)
    {
        return;
    }
    report_cycle(st, h, d, prev, next, on_cycle);
}

/// Searches for a strong path `next ⇝ prev` that the dependency `prev → next` closes into a
/// cycle; if there is one, reports it (once per signature) and adds the classes on it to
/// `on_cycle`. Returns whether a cycle was found. Records nothing: the caller decides whether
/// the dependency itself is recorded.
fn report_cycle(
    st: &mut State,
    h: &HeldStack,
    d: usize,
    prev: &Held,
    next: &Held,
    on_cycle: &mut Vec<u32>,
) -> bool {
    let Some(path) = st.graph.find_cycle(prev.class, prev.read, next.class, next.read) else {
        return false;
    };
    let v = Violation::Circular {
        prev: *prev,
        next: *next,
        path: &path,
    };
    report_once(st, h, d, &v);
    for &e in &path {
        let edge = &st.graph.edges[e as usize];
        on_cycle.extend([edge.from, edge.to]);
    }
    true
}

/// Inserts the new dependency `prev → next` with the current stack (captured once per
/// acquisition), unless the dependency table is full (reported once). Returns whether it was
/// inserted.
pub(crate) fn record_edge(
    st: &mut State,
    h: &HeldStack,
    prev: &Held,
    next: &Held,
    trace: &mut Option<TraceId>,
) -> bool {
    if st.graph.edge_count() >= crate::engine::graph::MAX_EDGES {
        if !st.exhausted.edges {
            st.exhausted.edges = true;
            report_capacity_once(st, ReportKind::DependenciesExhausted);
        }
        return false;
    }
    let trace = *trace.get_or_insert_with(|| {
        let mut buf = [0usize; MAX_FRAMES];
        let n = capture_ips(&mut buf);
        match st.stacks.intern(&buf[..n]) {
            Some(id) => id,
            None => {
                if !st.exhausted.stacks {
                    st.exhausted.stacks = true;
                    report_capacity_once(st, ReportKind::StackTracesExhausted);
                }
                NO_TRACE
            }
        }
    });
    st.thread_names.entry(h.tid).or_insert_with(|| thread_desc(h.tid));
    let edge = Graph::edge(
        prev.class, next.class, prev.read, next.read, prev.loc, next.loc, trace, h.tid,
    );
    st.graph.insert(edge);
    true
}
