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
/// recorded (the dependency table is full).
pub(crate) fn add_dependency(
    st: &mut State,
    h: &HeldStack,
    d: usize,
    prev: &Held,
    next: &Held,
    trace: &mut Option<TraceId>,
) -> bool {
    let kind = dep_kind(prev.read, next.read);
    let existing = st.graph.find(prev.class, next.class);
    if let Some(e) = existing {
        if st.graph.edges[e as usize].dep & kind != 0 {
            return true; // validated when it was recorded
        }
    }
    // Only when the topological order cannot rule a path next -> prev out.
    let mut reported = false;
    if st.graph.may_close_cycle(prev.class, next.class) {
        let path = st.graph.find_cycle(prev.class, prev.read, next.class, next.read);
        if let Some(path) = path {
            let (prev, next) = (*prev, *next);
            let v = if prev.class == next.class {
                // A path from a class back to itself: recursion through other locks.
                Violation::RecursiveLocking {
                    prev,
                    next,
                    how: Recursion::ThroughGraph,
                }
            } else {
                Violation::Circular {
                    prev,
                    next,
                    path: &path,
                }
            };
            report_once(st, h, d, &v);
            // The graph now holds a cycle on purpose: the topological order is gone.
            st.graph.give_up_order();
            reported = true;
        }
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
