//! The checks run on slow paths, and the reports they build.
//!
//! * [`validate_chain`] — a chain of held classes never seen before, in the kernel's order:
//!   wait context, sleeping in atomic context, irq usage (`mark_usage`), must-not-nest rules,
//!   recursive locking (`check_deadlock`, nest locks), then a dependency from each relevant
//!   held lock to the new one (`check_prevs_add`), each new one searched for a cycle or else
//!   for an irq-safe → irq-unsafe connection first. Unlike the kernel the walk for
//!   dependencies goes on past recursive readers (a lock taken under one depends on the locks
//!   over it), and no report stops it: every dependency is recorded whatever was reported;
//! * execution contexts: [`panic_op`], [`mark_held_enabled`] (interrupts re-enabled);
//! * lifetime checks: [`bad_unlock`], [`held_lock_freed`], [`held_at_exit`];
//! * capacity checks: [`max_depth`], [`capacity`], [`invalid_subclass`].
//!
//! Every report is de-duplicated by its kind and class signature, then queued with
//! [`sink::defer`]; the caller dispatches it once it has let go of the validator's state.

use super::chain;
use super::graph::{dep_kind, Graph};
use super::held::{Held, HeldStack, CTX_HARDIRQ, CTX_IRQS_OFF, CTX_IRQ_MASK, CTX_SOFTIRQ, CTX_THREADED};
use super::held::{READ_RECURSIVE, WRITE};
use super::map::{DepMap, LockKind, UNTRACKED, WAIT_CONFIG, WAIT_INV, WAIT_MAX, WAIT_SPIN};
use super::sink;
use super::stack::{capture_ips, TraceId, MAX_FRAMES, NO_TRACE};
use super::state::{self, State};
use super::usage;
use super::validate::thread_desc;
use crate::report::{Dependency, HeldLock, LockMode, Report, ReportKind, Stack};
use crate::MAX_LOCK_DEPTH;

fn current_stack() -> Stack {
    let mut buf = [0usize; MAX_FRAMES];
    let n = capture_ips(&mut buf);
    Stack::from_ips(buf[..n].to_vec())
}

pub(crate) fn describe(st: &State, e: &Held) -> HeldLock {
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

pub(crate) fn report(st: &State, kind: ReportKind, h: &HeldStack, upto: usize) -> Report {
    let mut r = Report::new(kind, thread_desc(h.tid));
    r.held = h.entries[..upto].iter().map(|e| describe(st, e)).collect();
    r.stack = current_stack();
    r
}

/// Validates the acquisition of `next` over `h.entries[..d]`, a chain not in the cache. (The
/// very lock re-taken by its holder, which would hang, is caught where it would block: see
/// `validate::lock_raw`.)
///
/// Whatever is reported, validation goes on and records every dependency it would have
/// recorded without the report, so the graph never holds less than what was seen; the chain is
/// cached only if all of them are in the graph (a full dependency table drops some).
pub(crate) fn validate_chain(h: &HeldStack, d: usize, next: &Held) {
    let held = &h.entries[..d];
    let mut st = state::lock();
    if chain::contains(next.chain_key) {
        return; // another thread validated it meanwhile
    }
    if !next.trylock {
        // A sleeping lock in atomic context gets both of the kernel's reports, lockdep's own
        // (the wait context) first, then the one `might_sleep()` prints.
        wait_context(&mut st, h, d, next);
        if st.classes[next.class as usize].kind.sleeps() {
            sleep_in_atomic(&mut st, h, d, next);
        }
    }
    usage::mark_acquire(&mut st, h, d, next);
    // A declared rule holds for a trylock too: it is taken while the outer lock is held.
    forbidden_nesting(&mut st, h, d, next);
    if next.trylock {
        // A trylock never waits: no recursion, no dependency into it.
        cache(&mut st, next.chain_key);
        return;
    }

    // Recursive locking: the same class already held (the kernel's check_deadlock).
    let mut nest_held = false;
    let mut recursion = false;
    for prev in held {
        if next.nest != 0 && prev.instance == next.nest {
            nest_held = true;
        }
        if prev.class != next.class {
            continue;
        }
        if next.read == READ_RECURSIVE && prev.read != WRITE {
            continue; // read-after-read recursion is allowed
        }
        if nest_held {
            // Serialised by the nest lock: no recursion, and no new dependency either.
            cache(&mut st, next.chain_key);
            return;
        }
        recursion = true;
        if st.first_time(ReportKind::RecursiveLocking, vec![prev.class, next.class]) {
            let mut r = report(&st, ReportKind::RecursiveLocking, h, d);
            r.acquiring = Some(describe(&st, next));
            r.holding = Some(describe(&st, prev));
            sink::defer(r);
        }
        break;
    }

    // Dependencies, from the top of the stack down (within this irq context): from every lock
    // up to and including the first one that is neither a trylock nor a recursive reader. That
    // one already has its own dependencies on everything under it, so the rest are implied.
    // A trylock or a recursive reader does not imply them: nothing depends on a trylock, and a
    // path through a recursive reader (`A -(xR)-> R -(Sx)-> C`) is not a strong one, so with
    // only `R → C` recorded a later `C → A` would go unnoticed although holding A while
    // waiting for C is a real dependency. (The kernel stops at the first non-trylock and has
    // that gap for `rwlock_t` readers and SRCU; recording the extra edges adds no false
    // report, since each is a lock actually held while another was taken.) A lock of the
    // class being acquired, just reported as recursion, adds no edge to itself: the walk goes
    // on past it, so the acquisition's other dependencies are still recorded.
    let mut trace: Option<TraceId> = None;
    let mut complete = true;
    for prev in held.iter().rev() {
        if (prev.ctx ^ next.ctx) & CTX_IRQ_MASK != 0 {
            break;
        }
        if prev.class == UNTRACKED || (recursion && prev.class == next.class) {
            continue;
        }
        complete &= add_dependency(&mut st, h, d, prev, next, &mut trace);
        if !prev.trylock && prev.read != READ_RECURSIVE {
            break;
        }
    }
    if complete {
        cache(&mut st, next.chain_key);
    }
}

/// Inserts a validated chain in the cache, unless the cache is full (reported once; the chain
/// is then validated again on each acquisition, with the same outcome).
fn cache(st: &mut State, key: u64) {
    if st.chains >= chain::MAX_CHAINS {
        if !st.exhausted.chains {
            st.exhausted.chains = true;
            capacity(st, ReportKind::ChainsExhausted);
        }
    } else {
        st.chains += 1;
        chain::insert(key);
    }
}

/// The strictest wait type the thread's context allows, before any held lock.
fn task_wait_type(ctx: u8) -> u8 {
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
fn wait_context(st: &mut State, h: &HeldStack, d: usize, next: &Held) -> bool {
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

fn info_inner(st: &State, class: u32) -> u8 {
    st.classes.get(class as usize).map_or(0, |c| c.wait_inner)
}

/// Whether a thread in context `ctx` holding `held` may not sleep: in an interrupt handler,
/// with interrupts disabled, or holding a spinning lock.
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
    held.iter()
        .find(|e| st.classes.get(e.class as usize).is_some_and(|c| c.kind.spins()))
        .map(|e| format!("while holding spinlock {}", st.class_name(e.class)))
}

fn sleep_in_atomic(st: &mut State, h: &HeldStack, d: usize, next: &Held) {
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

/// An operation that may sleep (a wait, an allocation that may reclaim) in atomic context.
pub(crate) fn might_sleep(h: &HeldStack, what: &str, loc: &'static std::panic::Location<'static>) {
    let mut st = state::lock();
    let Some(reason) = atomic_reason(&st, h.held(), h.ctx) else {
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

/// Declared must-not-nest rules (`lockdep::forbid_nesting`). A rule names classes by their
/// key, so it holds for every subclass of either.
fn forbidden_nesting(st: &mut State, h: &HeldStack, d: usize, next: &Held) {
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

/// Checks and records the dependency `prev → next`. Returns false if it could not be
/// recorded (the dependency table is full).
fn add_dependency(
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
            if prev.class == next.class {
                // A path from a class back to itself: recursion through other locks.
                if st.first_time(ReportKind::RecursiveLocking, vec![prev.class]) {
                    let mut r = report(st, ReportKind::RecursiveLocking, h, d);
                    r.acquiring = Some(describe(st, next));
                    r.holding = Some(describe(st, prev));
                    sink::defer(r);
                }
            } else {
                circular(st, h, d, prev, next, &path);
            }
            // The graph now holds a cycle on purpose: the topological order is gone.
            st.graph.give_up_order();
            reported = true;
        }
    }
    // An irq-safe class connected to an irq-unsafe one through this edge (checked only when no
    // cycle was reported: one report per new dependency, as in the kernel).
    if !reported {
        usage::check_irq_usage(st, h, d, prev, next);
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
fn record_edge(st: &mut State, h: &HeldStack, prev: &Held, next: &Held, trace: &mut Option<TraceId>) -> bool {
    if st.graph.edge_count() >= super::graph::MAX_EDGES {
        if !st.exhausted.edges {
            st.exhausted.edges = true;
            capacity(st, ReportKind::DependenciesExhausted);
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
    true
}

/// Reports `prev → next` closing the cycle `next → … → prev` (`path`, as edge ids).
fn circular(st: &mut State, h: &HeldStack, d: usize, prev: &Held, next: &Held, path: &[u32]) {
    let mut classes: Vec<u32> = path.iter().map(|&e| st.graph.edges[e as usize].to).collect();
    classes.push(next.class);
    if !st.first_time(ReportKind::CircularDependency, state::class_set(classes)) {
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

/// Releasing the instance `instance` of `class`, which this thread does not hold.
pub(crate) fn bad_unlock(
    h: &HeldStack,
    class: u32,
    instance: usize,
    loc: &'static std::panic::Location<'static>,
) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::BadUnlock, vec![class]) {
        return;
    }
    let mut r = report(&st, ReportKind::BadUnlock, h, h.depth);
    let fake = Held {
        instance,
        loc: Some(loc),
        class,
        ..Held::EMPTY
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
    if !st.first_time(ReportKind::LocksHeldAtExit, state::class_set(classes)) {
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

/// The thread is panicking with locks held (from the panic hook, never inside the validator,
/// so the validator's lock is not this thread's: if another thread has it, it is waited for,
/// not given up on).
pub(crate) fn panic_while_holding(h: &HeldStack, message: &str) {
    let mut st = state::lock();
    let classes = h.held().iter().map(|e| e.class).collect();
    if !st.first_time(ReportKind::PanicWhileHolding, state::class_set(classes)) {
        return;
    }
    let mut r = report(&st, ReportKind::PanicWhileHolding, h, h.depth);
    r.details.push(format!("{} panicked: {message}", r.thread));
    r.details.push(String::from(
        "the locks below are released as the thread unwinds (they do not poison): what they protect may be half-updated.",
    ));
    sink::defer(r);
}

/// A lock taken nested under a lock this thread does not hold.
pub(crate) fn nest_lock_not_held(h: &HeldStack, next: &Held) {
    let mut st = state::lock();
    if !st.first_time(ReportKind::NestLockNotHeld, vec![next.class]) {
        return;
    }
    let mut r = report(&st, ReportKind::NestLockNotHeld, h, h.depth);
    r.acquiring = Some(describe(&st, next));
    r.details.push(String::from(
        "but this thread is not holding the lock it is nested under.",
    ));
    sink::defer(r);
}

/// The very lock `prev` re-taken by the thread that holds it (under any subclass): reported,
/// and the message the caller panics with instead of hanging.
pub(crate) fn self_deadlock(h: &HeldStack, d: usize, next: &Held, prev: &Held) -> String {
    let mut st = state::lock();
    if st.first_time(ReportKind::RecursiveLocking, vec![prev.class, next.class]) {
        let mut r = report(&st, ReportKind::RecursiveLocking, h, d);
        r.acquiring = Some(describe(&st, next));
        r.holding = Some(describe(&st, prev));
        r.details.push(String::from(
            " This is the same lock instance, already held by this thread: acquiring it would deadlock now.",
        ));
        sink::defer(r);
    }
    format!(
        "lockdep: thread {} re-acquired lock {} that it already holds (acquired at {}); this would deadlock now",
        thread_desc(h.tid),
        st.class_name(next.class),
        prev.loc.map(|l| l.to_string()).unwrap_or_default()
    )
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
