//! The checks run on slow paths, and the reports they build.
//!
//! * [`validate_chain`] — a chain of held classes never seen before: recursive locking
//!   (the kernel's `check_deadlock`), then a dependency from each relevant held lock to the new
//!   one (`check_prevs_add`), each new one searched for a cycle first;
//! * lifetime checks: [`bad_unlock`], [`held_lock_freed`], [`held_at_exit`];
//! * capacity checks: [`max_depth`], [`capacity`], [`invalid_subclass`].
//!
//! Every report is de-duplicated by its kind and class signature, then queued with
//! [`sink::defer`]; the caller dispatches it once it has let go of the validator's state.

use super::chain;
use super::graph::{dep_kind, Graph};
use super::held::{Held, HeldStack, READ_RECURSIVE, WRITE};
use super::map::{DepMap, UNTRACKED};
use super::sink;
use super::stack::{capture_ips, TraceId, MAX_FRAMES, NO_TRACE};
use super::state::{self, State};
use super::validate::thread_desc;
use crate::report::{Dependency, HeldLock, LockMode, Report, ReportKind, Stack};
use crate::MAX_LOCK_DEPTH;

fn current_stack() -> Stack {
    let mut buf = [0usize; MAX_FRAMES];
    let n = capture_ips(&mut buf);
    Stack::from_ips(buf[..n].to_vec())
}

fn describe(st: &State, e: &Held) -> HeldLock {
    HeldLock {
        class: st.class_name(e.class).to_string(),
        kind: st
            .classes
            .get(e.class as usize)
            .map(|c| c.kind.name())
            .unwrap_or("lock"),
        instance: e.instance,
        mode: LockMode::from_read(e.read),
        trylock: e.trylock,
        location: e.loc,
    }
}

fn report(st: &State, kind: ReportKind, h: &HeldStack, upto: usize) -> Report {
    let mut r = Report::new(kind, thread_desc(h.tid));
    r.held = h.entries[..upto].iter().map(|e| describe(st, e)).collect();
    r.stack = current_stack();
    r
}

/// Validates the acquisition of `next` over `h.entries[..d]`, a chain not in the cache.
/// Returns a message when the acquisition would deadlock right now (the same lock re-taken by
/// its holder): the caller must not go on to block.
pub(crate) fn validate_chain(h: &HeldStack, d: usize, next: &Held) -> Option<String> {
    let held = &h.entries[..d];
    let mut st = state::lock();
    if chain::contains(next.chain_key) {
        return None; // another thread validated it meanwhile
    }

    // Recursive locking: the same class already held (the kernel's check_deadlock), or the
    // very same lock under another subclass.
    for prev in held {
        if prev.class == UNTRACKED {
            continue;
        }
        let same_lock = prev.instance == next.instance;
        let certain = same_lock && (prev.read == WRITE || next.read == WRITE);
        if prev.class != next.class && !certain {
            continue;
        }
        if !certain && next.read == READ_RECURSIVE && prev.read != WRITE {
            continue; // read-after-read recursion is allowed
        }
        if st.first_time(ReportKind::RecursiveLocking, vec![prev.class, next.class]) {
            let mut r = report(&st, ReportKind::RecursiveLocking, h, d);
            r.acquiring = Some(describe(&st, next));
            r.holding = Some(describe(&st, prev));
            if same_lock {
                r.details.push(String::from(
                    " This is the same lock instance, already held by this thread: acquiring it would deadlock now.",
                ));
            }
            sink::defer(r);
        }
        // Not cached: a later acquisition of the same instance must be caught again.
        return certain.then(|| {
            format!(
                "lockdep: thread {} re-acquired lock {} that it already holds (acquired at {}); this would deadlock now",
                thread_desc(h.tid),
                st.class_name(next.class),
                prev.loc.map(|l| l.to_string()).unwrap_or_default()
            )
        });
    }

    // Dependencies: from every trylock on top of the stack and the first blocking lock below
    // them; the blocking one already has its own dependencies on everything under it.
    let mut trace: Option<TraceId> = None;
    for (i, prev) in held.iter().enumerate().rev() {
        if prev.class == UNTRACKED {
            continue;
        }
        add_dependency(&mut st, h, d, prev, next, &mut trace);
        let _ = i;
        if !prev.trylock {
            break;
        }
    }

    if st.chains >= chain::MAX_CHAINS {
        if !st.exhausted.chains {
            st.exhausted.chains = true;
            capacity(&mut st, ReportKind::ChainsExhausted);
        }
    } else {
        st.chains += 1;
        chain::insert(next.chain_key);
    }
    None
}

fn add_dependency(
    st: &mut State,
    h: &HeldStack,
    d: usize,
    prev: &Held,
    next: &Held,
    trace: &mut Option<TraceId>,
) {
    let kind = dep_kind(prev.read, next.read);
    let existing = st.graph.find(prev.class, next.class);
    if let Some(e) = existing {
        if st.graph.edges[e as usize].dep & kind != 0 {
            return; // validated when it was recorded; the graph never holds a strong cycle
        }
    }
    // Only when the topological order cannot rule a path next -> prev out.
    if st.graph.may_close_cycle(prev.class, next.class) {
        let path = st.graph.find_cycle(prev.class, prev.read, next.class, next.read);
        if let Some(path) = path {
            circular(st, h, d, prev, next, &path);
            return;
        }
    }
    if let Some(e) = existing {
        st.graph.add_kind(e, kind);
        return;
    }
    if st.graph.edge_count() >= super::graph::MAX_EDGES {
        if !st.exhausted.edges {
            st.exhausted.edges = true;
            capacity(st, ReportKind::DependenciesExhausted);
        }
        return;
    }
    let trace = *trace.get_or_insert_with(|| {
        let mut buf = [0usize; MAX_FRAMES];
        let n = capture_ips(&mut buf);
        match st.stacks.intern(&buf[..n]) {
            Some(id) => id,
            None => {
                if !st.exhausted.stacks {
                    st.exhausted.stacks = true;
                    capacity(st, ReportKind::StackTracesExhausted);
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
}

/// Reports `prev → next` closing the cycle `next → … → prev` (`path`, as edge ids).
fn circular(st: &mut State, h: &HeldStack, d: usize, prev: &Held, next: &Held, path: &[u32]) {
    let mut classes: Vec<u32> = path.iter().map(|&e| st.graph.edges[e as usize].to).collect();
    classes.push(next.class);
    if !st.first_time(ReportKind::CircularDependency, classes) {
        return;
    }
    let mut r = report(st, ReportKind::CircularDependency, h, d);
    r.acquiring = Some(describe(st, next));
    r.holding = Some(describe(st, prev));
    r.cycle.push(st.class_name(next.class).to_string());
    for &e in path {
        r.cycle
            .push(st.class_name(st.graph.edges[e as usize].to).to_string());
    }
    r.cycle.push(st.class_name(next.class).to_string());
    // Kernel order: the dependency into the held lock first (#N), down to the one out of the
    // lock being acquired (#1).
    for &e in path.iter().rev() {
        let edge = &st.graph.edges[e as usize];
        let thread = st
            .thread_names
            .get(&edge.tid)
            .cloned()
            .unwrap_or_else(|| format!("?/{}", edge.tid));
        r.dependencies.push(Dependency {
            from: st.class_name(edge.from).to_string(),
            to: st.class_name(edge.to).to_string(),
            from_mode: LockMode::from_read(edge.from_read),
            to_mode: LockMode::from_read(edge.to_read),
            from_location: edge.from_loc,
            to_location: edge.to_loc,
            thread,
            stack: Stack::from_ips(st.stacks.get(edge.trace).to_vec()),
        });
    }
    sink::defer(r);
}

/// The thread tried to hold more than [`MAX_LOCK_DEPTH`] locks.
pub(crate) fn max_depth(h: &HeldStack, next: &Held) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::MaxLockDepth, Vec::new()) {
        return;
    }
    let mut r = report(&st, ReportKind::MaxLockDepth, h, h.depth);
    r.acquiring = Some(describe(&st, next));
    r.details
        .push(format!("depth: {}  max: {MAX_LOCK_DEPTH}!", h.depth + 1));
    r.details.push(String::from(
        "further locks taken by this thread while the stack is full are not tracked.",
    ));
    sink::defer(r);
}

/// A capacity ran out: report it once (the caller marked it exhausted).
pub(crate) fn capacity(st: &mut State, kind: ReportKind) {
    if !st.first_time(kind, Vec::new()) {
        return;
    }
    let mut r = Report::new(kind, thread_desc(0));
    r.details.push(String::from(match kind {
        ReportKind::ClassesExhausted => "the class table is full: locks of new classes are not tracked.",
        ReportKind::DependenciesExhausted => {
            "the dependency table is full: new dependencies are not recorded."
        }
        ReportKind::ChainsExhausted => {
            "the chain cache is full: new lock chains are validated on every acquisition."
        }
        _ => "the stack-trace store is full: new dependencies are recorded without their stack.",
    }));
    r.details.push(String::from(
        "validation continues with what is already recorded.",
    ));
    r.stack = current_stack();
    sink::defer(r);
}

/// Releasing `map`, which this thread does not hold.
pub(crate) fn bad_unlock(
    h: &HeldStack,
    map: &DepMap,
    class: u32,
    loc: &'static std::panic::Location<'static>,
) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::BadUnlock, vec![class]) {
        return;
    }
    let mut r = report(&st, ReportKind::BadUnlock, h, h.depth);
    let fake = Held {
        instance: map.instance(),
        chain_key: 0,
        loc: Some(loc),
        class,
        read: WRITE,
        trylock: false,
        subclass: 0,
    };
    r.acquiring = Some(describe(&st, &fake));
    sink::defer(r);
}

/// A lock destroyed while this thread holds it (entry `i`).
pub(crate) fn held_lock_freed(h: &HeldStack, map: &DepMap, i: usize) {
    let mut st = state::lock();
    let e = h.entries[i];
    if !st.first_time(ReportKind::HeldLockFreed, vec![e.class]) {
        return;
    }
    let mut r = report(&st, ReportKind::HeldLockFreed, h, h.depth);
    r.holding = Some(describe(&st, &e));
    r.details.push(format!(
        "{} is freeing lock {:#x} ({}), with the lock still held!",
        r.thread,
        map.instance(),
        st.class_name(e.class)
    ));
    sink::defer(r);
}

/// The thread is exiting with locks on its stack.
pub(crate) fn held_at_exit(h: &HeldStack, thread: &str) {
    let mut st = state::lock();
    let classes = h.held().iter().map(|e| e.class).collect();
    if !st.first_time(ReportKind::LocksHeldAtExit, classes) {
        return;
    }
    let mut r = Report::new(ReportKind::LocksHeldAtExit, thread.to_string());
    r.headline = format!("WARNING: {thread} still has locks held!");
    r.held = h.held().iter().map(|e| describe(&st, e)).collect();
    // No stack: the thread is being torn down (and the unwinder's own thread-locals may be
    // gone); the held locks' acquisition sites say where they were taken.
    sink::defer(r);
}

/// A subclass out of range.
pub(crate) fn invalid_subclass(h: &HeldStack, subclass: u32) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::InvalidSubclass, vec![subclass]) {
        return;
    }
    let mut r = report(&st, ReportKind::InvalidSubclass, h, h.depth);
    r.headline = format!("BUG: looking up invalid subclass: {subclass}");
    r.details.push(format!(
        "subclasses run from 0 to {}; the lock is validated as subclass {}.",
        crate::MAX_SUBCLASSES - 1,
        crate::MAX_SUBCLASSES - 1
    ));
    sink::defer(r);
}
