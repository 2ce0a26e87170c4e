//! The checks run on slow paths, one file per rule family, so a rule's code is found from
//! its name: [`wait`] (wait contexts), [`context`] (atomic and panic contexts), [`irq`] (irq
//! safety), [`recursion`], [`order`] (dependencies and cycles), [`rules`] (declared rules and
//! protocol misuse), [`lifetime`] and [`capacity`]. A rule finds a [`Violation`], plain data
//! with no names or text; [`report_once`] de-duplicates and resolves it, and `report/` renders
//! it. This file keeps [`validate_chain`], the kernel's order of checks for a new chain.
//!
//! * [`validate_chain`] — a chain of held classes never seen before, in the kernel's order:
//!   wait context, sleeping in atomic context, irq usage (`mark_usage`), must-not-nest rules,
//!   recursive locking (`check_deadlock`, nest locks), then a dependency from each relevant
//!   held lock to the new one (`check_prevs_add`), each new one searched for a cycle or else
//!   for an irq-safe → irq-unsafe connection first. Unlike the kernel the walk for
//!   dependencies goes on past recursive readers (a lock taken under one depends on the locks
//!   over it), and no report stops it: every dependency is recorded whatever was reported; the
//!   dependencies of the locks below the nearest one, implied through it and not recorded, are
//!   still searched for the cycles they close;
//! * execution contexts: [`panic_op`], [`mark_held_enabled`] (interrupts re-enabled);
//! * lifetime checks: [`bad_unlock`], [`bad_unlock_mode`], [`held_lock_freed`], [`held_at_exit`];
//! * capacity checks: [`max_depth`], [`invalid_subclass`], [`report_capacity_once`].
//!
//! Every violation is de-duplicated by its kind and key ([`Violation::key`]), then queued with
//! `sink::defer`; the caller dispatches it once it has let go of the validator's state.

mod capacity;
mod context;
pub(crate) mod irq;
mod lifetime;
mod order;
mod recursion;
mod rules;
mod wait;

use super::chain;
use super::graph::dep_kind;
use super::held::{Held, HeldStack, CTX_HARDIRQ, CTX_IRQ_MASK, CTX_SOFTIRQ};
use super::held::{READ_RECURSIVE, WRITE};
use super::map::UNTRACKED;
use super::offstack;
pub(crate) use super::report::{report_capacity_once, report_once};
use super::stack::TraceId;
use super::state::{self, CachedChain, State};
use super::usage;
use super::validate::stands_for_merged;
pub(crate) use super::violation::{Protocol, Recursion, Violation};
use crate::report::ReportKind;
pub(crate) use capacity::{invalid_subclass, max_depth};
use context::sleep_in_atomic;
pub(crate) use context::{mark_held_enabled, might_sleep, panic_op};
pub(crate) use lifetime::{bad_unlock, bad_unlock_mode, held_at_exit, held_lock_freed, panic_while_holding};
use order::{add_dependency, check_implied};
use recursion::is_self_deadlock;
pub(crate) use recursion::{nest_lock_not_held, self_deadlock};
use rules::forbidden_nesting;
pub(crate) use rules::{class_kind_mismatch, forbidden_op, misuse};
use wait::wait_context;

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
        // A trylock never waits, so neither check applies to it: the kernel's
        // `check_wait_context` returns at once for `next->trylock`, and `mutex_trylock` has no
        // `might_sleep()`.
        // A sleeping lock in atomic context gets both of the kernel's reports, lockdep's own
        // (the wait context) first, then the one `might_sleep()` prints.
        if let Some(v) = wait_context(&st, h, d, next) {
            report_once(&mut st, h, d, &v);
        }
        if st.classes[next.class as usize].kind.sleeps() {
            if let Some(v) = sleep_in_atomic(&st, h, d, next) {
                report_once(&mut st, h, d, &v);
            }
        }
    }
    usage::mark_acquire(&mut st, h, d, next);
    // A declared rule holds for a trylock too: it is taken while the outer lock is held.
    for v in forbidden_nesting(&st, h, d, next) {
        report_once(&mut st, h, d, &v);
    }
    if next.trylock {
        // A trylock never waits: no recursion, no dependency into it.
        cache(&mut st, held, next);
        return;
    }

    // Recursive locking: the same class already held (the kernel's check_deadlock).
    let mut nest_held = false;
    let mut recursion = false;
    let mut cacheable = true;
    // A nest lock merged into the entry of its class is held there (see `validate::nest_held`).
    let nest_merged_into = if next.nest != 0 && held.iter().any(stands_for_merged) {
        offstack::merged_class(next.nest)
    } else {
        None
    };
    for prev in held {
        if next.nest != 0
            && (prev.instance == next.nest || nest_merged_into == Some(prev.class) && stands_for_merged(prev))
        {
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
            cache(&mut st, held, next);
            return;
        }
        recursion = true;
        let how = if is_self_deadlock(&st, prev, next) {
            // Not cached: a later acquisition of another lock of this class over this one is
            // a different report (two instances), which a cached chain would skip.
            cacheable = false;
            Recursion::SameInstance
        } else {
            Recursion::Instances
        };
        let v = Violation::RecursiveLocking {
            prev: *prev,
            next: *next,
            how,
        };
        report_once(&mut st, h, d, &v);
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
    // on past it, so the acquisition's other dependencies are still recorded. Nor does a lock
    // with a lock of its own class below it imply the dependencies of those below: that
    // same-class step was a recursion (reported, or serialised by a nest lock), never recorded
    // as a dependency, so `S(w); S(r); B` with only `S -(SN)-> B` recorded would lose the
    // writer's `S -(EN)-> B`. The walk goes on past such a lock, and each lock below adds its
    // own dependency in its own mode.
    // Once the rest is implied, a reader of the class being taken recursively still adds its
    // own self-dependency: no path through another lock implies that one.
    // An implied dependency is not recorded (the printed chains stay the kernel's), but when
    // the dependency implying it is new it is searched for the cycle it closes
    // (`check_implied`): the one found from the nearest lock may be another, shorter cycle, and
    // the one through a lock further down is a deadlock of its own that the kernel, stopping at
    // the first report, never names.
    let mut trace: Option<TraceId> = None;
    let mut complete = true;
    let mut implied = false;
    // Whether the dependency that implies the rest is new with this acquisition (see
    // `check_implied`), and the (held class, kind) of the dependencies it added.
    let mut implied_by_new = false;
    let mut added: Vec<(u32, u8)> = Vec::new();
    // The classes of the cycles this acquisition closed (see `check_implied`).
    let mut on_cycle: Vec<u32> = Vec::new();
    for (i, prev) in held.iter().enumerate().rev() {
        if (prev.ctx ^ next.ctx) & CTX_IRQ_MASK != 0 {
            break;
        }
        // A recursive reader over a reader of its own class is allowed, but still closes a
        // cycle through other classes (`C(r) B C(rr)` with `B -(ER)-> C` and `C -(SN)-> B`),
        // whether or not a writer of the class held elsewhere was just reported as recursion.
        let allowed_recursion = prev.class == next.class && next.read == READ_RECURSIVE && prev.read != WRITE;
        if prev.class == UNTRACKED || recursion && prev.class == next.class && !allowed_recursion {
            continue;
        }
        if implied && !allowed_recursion {
            if implied_by_new {
                check_implied(&mut st, h, d, prev, next, &mut on_cycle);
            }
            continue;
        }
        // New to the graph, or added by this very walk (from a lock of the same class above).
        let dep = (prev.class, dep_kind(prev.read, next.read));
        let new = added.contains(&dep) || !st.graph.has(prev.class, next.class, dep.1);
        if new {
            added.push(dep);
        }
        complete &= add_dependency(&mut st, h, d, prev, next, &mut trace, &mut on_cycle);
        let implies_below = !held[..i]
            .iter()
            .any(|e| e.class == prev.class && (e.ctx ^ prev.ctx) & CTX_IRQ_MASK == 0);
        if !prev.trylock && prev.read != READ_RECURSIVE && implies_below {
            implied = true;
            implied_by_new = new;
        }
    }
    if complete && cacheable {
        cache(&mut st, held, next);
    }
}

/// Inserts a validated chain, `next` over `held`, in the cache, unless the cache is full
/// (reported once; the chain is then validated again on each acquisition, with the same
/// outcome). Its classes are kept for graph dumps: those of `next`'s irq context, from where
/// the thread entered it (as the kernel's chain starts at an irq context change).
pub(crate) fn cache(st: &mut State, held: &[Held], next: &Held) {
    if st.chains.len() >= chain::MAX_CHAINS {
        if !st.exhausted.chains {
            st.exhausted.chains = true;
            report_capacity_once(st, ReportKind::ChainsExhausted);
        }
    } else {
        let start = held
            .iter()
            .rposition(|e| (e.ctx ^ next.ctx) & CTX_IRQ_MASK != 0)
            .map_or(0, |i| i + 1);
        let classes = held[start..]
            .iter()
            .chain(std::iter::once(next))
            .map(|e| e.class)
            .filter(|&c| c != UNTRACKED)
            .collect();
        st.chains.push(CachedChain {
            irq_context: (next.ctx & CTX_HARDIRQ != 0) as u8 | ((next.ctx & CTX_SOFTIRQ != 0) as u8) << 1,
            classes,
        });
        chain::insert(next.chain_key);
    }
}
