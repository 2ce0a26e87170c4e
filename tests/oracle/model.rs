//! The model: what the kernel's lockdep rules say a program must report, written from the
//! rules (LOCKDEP-REFERENCE §2.7–§3.9), not from the validator's code.
//!
//! State: per thread the held entries (class, mode, trylock, nest lock, the instances merged
//! into it) and the guards in acquisition order; globally the dependency graph (for each pair of
//! classes, the set of dependency kinds `-(SR)->`, `-(ER)->`, `-(SN)->`, `-(EN)->` seen) and
//! each class's irq usage bits. Every rule is applied on every acquisition, whatever was
//! reported before: a report never stops validation and never leaves a dependency out.
//!
//! An acquisition of `next`, in this order:
//! 1. a real lock whose very instance the thread holds in a conflicting mode (either side a
//!    writer) would wait for itself: "possible recursive locking" about the two entries'
//!    classes, and the lock call panics (it must neither hang nor take the lock). Everything
//!    below is still checked and recorded — the thread does wait for the lock while holding the
//!    others — except that it never merges and is never pushed. A trylock of it just fails.
//! 2. a nest lock that is not held: "Nested lock was not taken" (checked on the merge path too,
//!    unlike the kernel, which merges first). If the top entry has `next`'s class and a nest
//!    lock is given, `next` merges into it and nothing else is checked (the kernel's
//!    `references`).
//! 3. unless a trylock: the wait context (`next`'s outer wait type against the strictest inner
//!    wait type of the locks held in this irq context and the context itself; the report names
//!    the innermost of the strictest held locks), and a sleeping lock in atomic context (irq
//!    handler, irqs off, or any spinning lock held).
//! 4. irq usage bits: used in hard/soft irq (not for trylocks), taken with hard/soft irqs on
//!    (not for `sync`); a class used in an irq and taken with that irq on is inconsistent.
//!    In a soft irq hard irqs are on, as in the kernel.
//! 5. trylocks stop here: no recursion check and no dependency into a trylock.
//! 6. the same class held: a recursive reader over any reader is allowed, otherwise
//!    "possible recursive locking" — unless the nest lock is held below it, in which case the
//!    acquisition adds no dependency at all (the kernel's `check_deadlock` returning 2).
//! 7. a dependency `h -> next` from **every** held lock `h` of this irq context (other than
//!    `next`'s class). Each kind that is new closes a cycle when the graph already has a strong
//!    walk `next ~> h` that the new edge closes into a strong cycle: a deadlock — a new one
//!    unless `h` and `next` already lay on one strong cycle. A same-class recursive read
//!    (allowed in 6) adds a self-dependency, kept apart from the graph (no walk goes through
//!    it). Like any dependency it is checked when its kind is new: it closes a cycle when the
//!    graph has a strong walk from the class back into it that it closes, and that is demanded
//!    even though the class then always lies on a strong cycle (such a walk is one), since the
//!    exception would leave nothing to check; a kind seen before is not checked again, as the
//!    validator's cached chains are not.
//! 8. `sync` is not pushed; sections are released at once.
//!
//! A release removes the topmost entry holding the instance (or one merged instance); the
//! entries above it are re-acquired over fewer locks, as the kernel's `reacquire_held_locks`
//! does (steps 2, 3, 6 and 7 again): that can newly break their nest lock rule, end the
//! serialisation a nest lock gave (a recursion, dependencies that were skipped), or change which
//! held lock a wait-context violation names (allowed, not required: the lock was taken under
//! both, and the validator skips re-validating stacks of exclusive locks, whose dependencies
//! are implied). Irq usage and sleeping do not change.
//!
//! Strong walks are computed exhaustively as a closure, not by a search: for every pair of
//! classes the set of (first edge starts shared/exclusive, last edge ends recursive/not) of all
//! strong walks, the least set containing the edges and closed under appending an edge, where
//! appending is forbidden only after an `-(xR)->` edge followed by an `-(Sx)->` one.
//!
//! # Deliberate differences from the kernel (the validator's, allowed by the comparison)
//! * The model has an edge from every held lock. The validator records, as the kernel does, the
//!   dependencies from the top of the stack down to the nearest lock that implies the rest (so
//!   its printed chains are the kernel's), but goes on past recursive readers and past a lock
//!   with a lock of its own class below it, which imply nothing: the kernel's rule loses
//!   `A -> C` in `A; R(r); C` (issue 7, defect 2). Each dependency the validator leaves out is
//!   a path through the nearer locks in its graph, and it still searches the cycle each one
//!   closes, so both find the same strong cycles at the same acquisitions; the cycle a report
//!   names may go through the intermediate held locks, so a circular report is checked by being
//!   a real strong cycle of the model's graph, not by its class set.
//! * A recursive read over a reader of its own class that closes a cycle (a path out of the
//!   class through a writer and back into it) is reported as a circular dependency, the cycle
//!   being that path, as the kernel's `check_noncircular` does.
//! * The kernel reports one bug and turns itself off; reports here are de-duplicated by kind
//!   and class set and validation goes on, with every dependency recorded (defect 3).
//! * Re-taking an instance is reported and then panics instead of deadlocking (defect 1).

use crate::gen::{Acq, Ctx, RECURSIVE, WRITE};
use crate::pool::{self, Class, Kind, WAIT_INV};
use lockdep::ReportKind;
use std::collections::{BTreeMap, BTreeSet};

/// A lock instance: a thread's own instance of a real lock, or a pseudo-lock (one per class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inst {
    Own(usize, u8, u8),
    Map(u8),
}

fn instance(thread: usize, class: u8, inst: u8) -> Inst {
    if pool::kind(class) == Kind::Map {
        Inst::Map(class)
    } else {
        Inst::Own(thread, class, inst)
    }
}

#[derive(Clone, Debug)]
struct Entry {
    class: Class,
    insts: Vec<Inst>,
    read: u8,
    trylock: bool,
    nest: Option<Inst>,
    ctx: Ctx,
    irq_context: u8,
}

#[derive(Default)]
struct Thread {
    entries: Vec<Entry>,
    guards: Vec<Inst>,
}

impl Thread {
    fn holds(&self, i: Inst) -> bool {
        self.entries.iter().any(|e| e.insts.contains(&i))
    }
}

/// `[ BUG: Invalid wait context ]` for taking `class` in `ctx` over `below`: its outer wait
/// type against the strictest inner wait type of the context and of the locks held in this irq
/// context. The report names the innermost of the strictest held locks, if one is stricter than
/// the context.
fn wait_context(below: &[Entry], class: Class, ctx: Ctx) -> Option<Expected> {
    let (outer, inner) = pool::kind(class.0).wait();
    if inner == WAIT_INV {
        return None;
    }
    let next_outer = if outer != WAIT_INV { outer } else { inner };
    let mut curr = match ctx {
        Ctx::HardIrq | Ctx::SoftIrq => 3,
        Ctx::HardIrqNoThread => 2,
        Ctx::Process | Ctx::IrqsOff => 5,
    };
    let mut strictest = None;
    for e in below.iter().rev().filter(|e| e.irq_context == ctx.irq_context()) {
        let w = pool::kind(e.class.0).wait().1;
        if w != WAIT_INV && w < curr {
            curr = w;
            strictest = Some(e.class);
        }
    }
    (next_outer > curr).then(|| {
        let mut cs = vec![class];
        cs.extend(strictest);
        expected(ReportKind::InvalidWaitContext, &cs)
    })
}

/// A report as compared: kind and the names of the classes it is about.
pub type Expected = (ReportKind, BTreeSet<String>);

fn expected(kind: ReportKind, classes: &[Class]) -> Expected {
    (kind, classes.iter().map(|&c| pool::name(c)).collect())
}

/// What one step must do.
#[derive(Debug, Default)]
pub struct Step {
    /// Reports other than cycles (de-duplication is the comparison's business).
    pub reports: Vec<Expected>,
    /// Reports the validator may make here but need not.
    pub allowed: Vec<Expected>,
    /// The new dependencies `h -> next` (held class, acquired class, kind) that close a strong
    /// cycle.
    pub closings: Vec<(Class, Class, u8)>,
    /// The lock call must panic (a re-taken instance).
    pub panics: bool,
    /// The acquisition succeeds (false only for a failing trylock).
    pub acquired: bool,
}

/// Dependency kinds as bits: bit `start_exclusive | end_non_recursive << 1`.
pub fn kind_of(holder_read: u8, acquirer_read: u8) -> u8 {
    1 << ((holder_read == WRITE) as u8 | ((acquirer_read != RECURSIVE) as u8) << 1)
}

/// Whether a walk of type `a` (index) may be followed by an edge of type `b`: not when `a`
/// ends in a recursive reader and `b` starts from a shared holder.
fn joins(a: u8, b: u8) -> bool {
    let a_ends_recursive = a >> 1 == 0;
    let b_starts_shared = b & 1 == 0;
    !(a_ends_recursive && b_starts_shared)
}

fn types(bits: u8) -> impl Iterator<Item = u8> {
    (0..4).filter(move |t| bits & (1 << t) != 0)
}

/// All strong walks: `(from, to)` → the set of walk types, as bits like [`kind_of`].
pub type Walks = BTreeMap<(Class, Class), u8>;

/// The least set of walk types containing every edge and closed under appending an edge.
pub fn closure(edges: &BTreeMap<(Class, Class), u8>) -> Walks {
    let mut walks: Walks = edges.clone();
    loop {
        let mut grown = false;
        let snapshot: Vec<((Class, Class), u8)> = walks.iter().map(|(&k, &v)| (k, v)).collect();
        for ((u, w), wt) in snapshot {
            for (&(w2, v), &et) in edges.range((w, (0, 0))..=(w, (u8::MAX, u8::MAX))) {
                debug_assert_eq!(w2, w);
                let mut add = 0u8;
                for a in types(wt) {
                    for b in types(et) {
                        if joins(a, b) {
                            // Starts as the walk does, ends as the edge does.
                            add |= 1 << ((a & 1) | (b & 2));
                        }
                    }
                }
                let slot = walks.entry((u, v)).or_insert(0);
                if *slot | add != *slot {
                    *slot |= add;
                    grown = true;
                }
            }
        }
        if !grown {
            return walks;
        }
    }
}

/// Whether the new edge `prev -> next` of kind `k` (one bit) closes a strong cycle with a
/// walk `next ~> prev` of `walks`.
pub fn closes(walks: &Walks, prev: Class, next: Class, k: u8) -> bool {
    let k = k.trailing_zeros() as u8;
    let w = walks.get(&(next, prev)).copied().unwrap_or(0);
    types(w).any(|t| joins(k, t) && joins(t, k))
}

/// Steps 6 and 7 of an acquisition of `class` (mode `read`, nest lock `nest`) over `below`:
/// a recursion report unless the nest lock serialises it, then (unless it does) a dependency
/// from every held lock of the irq context into `class`, with the cycles the new ones close.
fn depend(
    deps: &mut Deps,
    below: &[Entry],
    class: Class,
    read: u8,
    nest: Option<Inst>,
    irq_context: u8,
    step: &mut Step,
) {
    let mut nest_seen = false;
    for e in below {
        if nest.is_some_and(|n| e.insts.contains(&n)) {
            nest_seen = true;
        }
        if e.class != class || (read == RECURSIVE && e.read != WRITE) {
            continue;
        }
        if nest_seen {
            return; // serialised by the nest lock: no dependency either
        }
        step.reports
            .push(expected(ReportKind::RecursiveLocking, &[class]));
        break;
    }
    let Deps { edges, selfs } = deps;
    let walks = closure(edges);
    let mut new = Vec::new();
    let mut self_new = Vec::new();
    for e in below.iter().filter(|e| e.irq_context == irq_context) {
        let k = kind_of(e.read, read);
        if e.class == class {
            // Recorded apart from the graph's edges (a walk never goes through it), new once.
            let seen = selfs.get(&class).is_some_and(|&b| b & k != 0);
            if read == RECURSIVE && e.read != WRITE && !seen {
                if closes(&walks, e.class, class, k) {
                    step.closings.push((e.class, class, k));
                }
                self_new.push(k);
            }
            continue;
        }
        if edges.get(&(e.class, class)).is_some_and(|&b| b & k != 0) {
            continue;
        }
        if closes(&walks, e.class, class, k) && !on_one_cycle(&walks, e.class, class) {
            step.closings.push((e.class, class, k));
        }
        new.push(((e.class, class), k));
    }
    for (pair, k) in new {
        *edges.entry(pair).or_insert(0) |= k;
    }
    for k in self_new {
        *selfs.entry(class).or_insert(0) |= k;
    }
}

/// Whether `a` and `b` already lie on one strong closed walk: then a new cycle between them is
/// no new deadlock, and the report of the cycle that first joined them covers it (a validator
/// that records only the nearest dependency sees no new edge there at all).
fn on_one_cycle(walks: &Walks, a: Class, b: Class) -> bool {
    let there = walks.get(&(a, b)).copied().unwrap_or(0);
    let back = walks.get(&(b, a)).copied().unwrap_or(0);
    types(there).any(|x| types(back).any(|y| joins(x, y) && joins(y, x)))
}

/// The dependencies recorded: the graph's edges and, apart from them, the kinds of the
/// self-dependencies seen (a recursive read over a reader of its class).
#[derive(Default)]
struct Deps {
    edges: BTreeMap<(Class, Class), u8>,
    selfs: BTreeMap<Class, u8>,
}

pub struct Model {
    deps: Deps,
    usage: BTreeMap<Class, u8>,
    threads: Vec<Thread>,
}

// Usage bits, the kernel's layout: bit 0 read, bit 1 "enabled" (else "used in"), bit 2 soft.
const USED_IN_HARD: u8 = 0;
const ENABLED_HARD: u8 = 2;
const USED_IN_SOFT: u8 = 4;
const ENABLED_SOFT: u8 = 6;

impl Model {
    pub fn new(threads: usize) -> Model {
        Model {
            deps: Deps::default(),
            usage: BTreeMap::new(),
            threads: (0..threads).map(|_| Thread::default()).collect(),
        }
    }

    /// How many guards thread `t` holds.
    pub fn guards(&self, t: usize) -> usize {
        self.threads[t].guards.len()
    }

    /// Whether `cycle` (classes, first = last) is a strong closed walk of the graph.
    pub fn is_strong_cycle(&self, cycle: &[Class]) -> bool {
        if cycle.len() < 2 || cycle.first() != cycle.last() {
            return false;
        }
        // States: (type of the first edge, type of the walk so far).
        let mut states: BTreeSet<(u8, u8)> = BTreeSet::new();
        for (i, pair) in cycle.windows(2).enumerate() {
            let Some(&bits) = self.deps.edges.get(&(pair[0], pair[1])) else {
                return false;
            };
            let mut nextset = BTreeSet::new();
            for b in types(bits) {
                if i == 0 {
                    nextset.insert((b, b));
                }
                for &(first, walk) in &states {
                    if joins(walk, b) {
                        nextset.insert((first, (walk & 1) | (b & 2)));
                    }
                }
            }
            states = nextset;
        }
        states.iter().any(|&(first, walk)| joins(walk, first))
    }

    /// Whether the graph restricted to `classes` has a strong cycle through `prev -> next` of
    /// kind `k`.
    pub fn closes_within(&self, classes: &BTreeSet<Class>, prev: Class, next: Class, k: u8) -> bool {
        let sub: BTreeMap<(Class, Class), u8> = self
            .deps
            .edges
            .iter()
            .filter(|((a, b), _)| classes.contains(a) && classes.contains(b))
            .map(|(&k, &v)| (k, v))
            .collect();
        closes(&closure(&sub), prev, next, k)
    }

    pub fn release(&mut self, t: usize, pick: u8) -> Step {
        let mut step = Step {
            acquired: true,
            ..Step::default()
        };
        let th = &mut self.threads[t];
        if th.guards.is_empty() {
            return step;
        }
        let inst = th.guards.remove(pick as usize % th.guards.len());
        let Some(i) = th.entries.iter().rposition(|e| e.insts.contains(&inst)) else {
            unreachable!("a guard without an entry");
        };
        let e = &mut th.entries[i];
        if e.insts.len() > 1 {
            let j = e.insts.iter().position(|&x| x == inst).unwrap();
            e.insts.remove(j);
            return step;
        }
        th.entries.remove(i);
        // The entries above are re-acquired over what is left below them.
        let th = &self.threads[t];
        for j in i..th.entries.len() {
            let e = &th.entries[j];
            if let Some(n) = e.nest {
                if !th.holds(n) {
                    step.reports
                        .push(expected(ReportKind::NestLockNotHeld, &[e.class]));
                }
            }
            if !e.trylock {
                let below = &th.entries[..j];
                step.allowed.extend(wait_context(below, e.class, e.ctx));
                depend(
                    &mut self.deps,
                    below,
                    e.class,
                    e.read,
                    e.nest,
                    e.irq_context,
                    &mut step,
                );
            }
        }
        step
    }

    /// Whether `a` re-takes an instance thread `t` holds (a blocking acquisition that would
    /// wait for itself).
    pub fn retakes(&self, t: usize, a: &Acq) -> bool {
        let inst = instance(t, a.class, a.inst);
        !a.trylock
            && pool::kind(a.class).blocks()
            && self.threads[t]
                .entries
                .iter()
                .any(|e| e.insts.contains(&inst) && (e.read == WRITE || a.read == WRITE))
    }

    pub fn acquire(&mut self, t: usize, a: &Acq) -> Step {
        let class: Class = (a.class, a.sub);
        let kind = pool::kind(a.class);
        let inst = instance(t, a.class, a.inst);
        let mut step = Step {
            acquired: true,
            ..Step::default()
        };
        let th = &self.threads[t];
        let conflicts = |e: &Entry| e.insts.contains(&inst) && (e.read == WRITE || a.read == WRITE);

        // 1. The very instance again.
        let retaken = if kind.blocks() {
            th.entries.iter().find(|e| conflicts(e)).map(|e| e.class)
        } else {
            None
        };
        if let Some(held) = retaken {
            if a.trylock {
                step.acquired = false;
                return step;
            }
            step.reports
                .push(expected(ReportKind::RecursiveLocking, &[held, class]));
            step.panics = true;
        }

        // 2. Nest lock.
        if let Some((nc, ni)) = a.nest {
            let nest = instance(t, nc, ni);
            if !th.holds(nest) {
                step.reports.push(expected(ReportKind::NestLockNotHeld, &[class]));
            }
            if retaken.is_none() && th.entries.last().is_some_and(|top| top.class == class) {
                let th = &mut self.threads[t];
                th.entries.last_mut().unwrap().insts.push(inst);
                th.guards.push(inst);
                return step;
            }
        }
        let irq_context = a.ctx.irq_context();

        // 3. Wait context and sleeping in atomic context.
        if !a.trylock {
            step.reports.extend(wait_context(&th.entries, class, a.ctx));
        }
        if !a.trylock && kind.sleeps() {
            let atomic = a.ctx != Ctx::Process || th.entries.iter().any(|e| pool::kind(e.class.0).spins());
            if atomic {
                step.reports.push(expected(ReportKind::SleepInAtomic, &[class]));
            }
        }

        // 4. Irq usage.
        let r = (a.read != WRITE) as u8;
        let mut bits = 0u8;
        if !a.trylock {
            if a.ctx.in_hardirq() {
                bits |= 1 << (USED_IN_HARD + r);
            }
            if a.ctx == Ctx::SoftIrq {
                bits |= 1 << (USED_IN_SOFT + r);
            }
        }
        if !a.sync && !a.ctx.hardirqs_off() {
            bits |= 1 << (ENABLED_HARD + r);
            if !a.ctx.softirqs_off() {
                bits |= 1 << (ENABLED_SOFT + r);
            }
        }
        let u = self.usage.entry(class).or_insert(0);
        *u |= bits;
        let u = *u;
        for irq in [0u8, 4] {
            let has = |b: u8| u & (1 << (irq + b)) != 0;
            // used-in write against enabled anything; used-in read against enabled write.
            if (has(0) && (has(2) || has(3))) || (has(1) && has(2)) {
                step.reports
                    .push(expected(ReportKind::InconsistentLockState, &[class]));
            }
        }

        let push = |model: &mut Model| {
            let th = &mut model.threads[t];
            if !a.sync && !a.section && retaken.is_none() {
                th.entries.push(Entry {
                    class,
                    insts: vec![inst],
                    read: a.read,
                    trylock: a.trylock,
                    nest: a.nest.map(|(c, i)| instance(t, c, i)),
                    ctx: a.ctx,
                    irq_context,
                });
                th.guards.push(inst);
            }
        };

        // 5. Trylocks add nothing into themselves.
        if a.trylock {
            push(self);
            return step;
        }

        // 6 and 7. The same class held, then the dependencies.
        let nest = a.nest.map(|(c, i)| instance(t, c, i));
        let (deps, th) = (&mut self.deps, &self.threads[t]);
        depend(deps, &th.entries, class, a.read, nest, irq_context, &mut step);
        push(self);
        step
    }
}
