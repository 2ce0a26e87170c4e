//! A violation as the rules find it: plain data in the validator's own terms (class ids, the
//! held-lock records involved, the dependency path as edge ids, usage bits, wait types, call
//! sites), with no names resolved and no sentence written. The rules under [`super::check`]
//! return one; [`super::report::report_once`] de-duplicates it by [`Violation::key`] and only
//! then resolves it into a [`Report`](crate::Report), which `report/` renders.
//!
//! Keeping the finding free of names and text means a repeated violation, the common case on
//! a slow path that keeps meeting the same bad order, costs a key comparison and no
//! allocation beyond the key.

use super::held::{Held, CTX_BH_OFF, CTX_HARDIRQ, CTX_IRQS_OFF, CTX_SOFTIRQ};
use super::map::LockKind;
use super::state::{class_set, State};
use crate::report::{Assertion, ReportKind, WwRule};
use std::panic::Location;

/// A call site, as `#[track_caller]` gives it.
pub(crate) type Site = &'static Location<'static>;

/// Why a context is atomic (see [`crate::report::AtomicReason`]), with the spinlock by class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Atomic {
    HardIrq,
    SoftIrq,
    IrqsOff,
    BhOff,
    Spinlock(u32),
    /// In a panic handler (never from [`Atomic::of`]: a lock operation there is its own
    /// rule; only a bare `might_sleep` is judged by it).
    Panic,
}

impl Atomic {
    /// Whether a thread in context `ctx` holding `held` may not sleep: in an interrupt handler,
    /// with interrupts or bottom halves disabled, or holding a spinning lock (the same
    /// predicate as `validate::in_atomic`, which decides without the validator's lock whether
    /// to ask).
    pub(crate) fn of(st: &State, held: &[Held], ctx: u8) -> Option<Atomic> {
        if ctx & CTX_HARDIRQ != 0 {
            return Some(Atomic::HardIrq);
        }
        if ctx & CTX_SOFTIRQ != 0 {
            return Some(Atomic::SoftIrq);
        }
        if ctx & CTX_IRQS_OFF != 0 {
            return Some(Atomic::IrqsOff);
        }
        if ctx & CTX_BH_OFF != 0 {
            return Some(Atomic::BhOff);
        }
        held.iter()
            .find(|e| st.classes.get(e.class as usize).is_some_and(|c| c.kind.spins()))
            .map(|e| Atomic::Spinlock(e.class))
    }
}

/// How a class was found taken over itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recursion {
    /// Two locks of one class, one held while the other is taken.
    Instances,
    /// The very lock re-taken by its holder, exclusively on one side: a certain deadlock.
    SameInstance,
}

/// One finding of a rule. `prev` is the held lock an acquisition conflicts with, `next` the
/// lock being acquired; a variant names its other data after the kernel's report.
#[derive(Clone)]
pub(crate) enum Violation<'a> {
    /// `prev → next` closes the cycle `next → … → prev` (`path`: edge ids).
    Circular {
        prev: Held,
        next: Held,
        path: &'a [u32],
    },
    RecursiveLocking {
        prev: Held,
        next: Held,
        how: Recursion,
    },
    /// `read`: the mode of the release; `held_in_other_mode`: the thread holds the lock, but
    /// only in the other mode (the release is refused).
    BadUnlock {
        class: u32,
        instance: usize,
        read: u8,
        held_in_other_mode: bool,
        site: Site,
    },
    /// The held entry `held` is in the lock at `instance` being freed.
    HeldLockFreed {
        held: Held,
        instance: usize,
    },
    /// `thread` (`name/id`, named by the exit hook: the thread is being torn down).
    LocksHeldAtExit {
        thread: &'a str,
    },
    PanicWhileHolding {
        message: &'a str,
    },
    MaxLockDepth {
        next: Held,
    },
    /// One of the capacity kinds (other than the held-lock stack's).
    Capacity(ReportKind),
    InvalidSubclass {
        subclass: u32,
    },
    /// `next`'s outer wait type over the `allowed` one, limited by `strictest` (or, when none,
    /// by the thread's `context`).
    InvalidWaitContext {
        next: Held,
        strictest: Option<Held>,
        outer: u8,
        inner: u8,
        context: u8,
        allowed: u8,
    },
    SleepInAtomic {
        next: Held,
        reason: Atomic,
    },
    MightSleep {
        operation: &'a str,
        site: Site,
        reason: Atomic,
    },
    /// Usage bit `new` of `held`'s class conflicts with its bit `old`, in context `ctx`.
    Inconsistent {
        held: Held,
        old: u8,
        new: u8,
        ctx: u8,
    },
    /// `held`'s class changed state (usage `bit`) while connected to `other`.
    IrqInversion {
        held: Held,
        other: u32,
        bit: u8,
        became_unsafe: bool,
    },
    /// `prev → next` connects `safe` (usage `bit`) to `unsafe_class`.
    IrqSafeToUnsafe {
        prev: Held,
        next: Held,
        safe: u32,
        unsafe_class: u32,
        bit: u8,
    },
    NestLockNotHeld {
        next: Held,
    },
    PanicContext {
        next: Held,
    },
    /// `lock`: the asserted lock's address and class.
    AssertionFailed {
        assertion: Assertion,
        lock: Option<(usize, u32)>,
        site: Site,
    },
    ForbiddenNesting {
        prev: Held,
        next: Held,
        reason: &'static str,
    },
    ForbiddenOperation {
        held: Held,
        operation: &'a str,
        site: Site,
    },
    HeldOnReturnToUser {
        site: Site,
    },
    /// A lock protocol broken where `site` says.
    Misuse {
        protocol: Protocol<'a>,
        site: Site,
    },
    ClassKindMismatch {
        class: u32,
        registered: LockKind,
        used: LockKind,
    },
}

/// A lock protocol the lock types check themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol<'a> {
    /// The wound/wait protocol of ww mutexes.
    Ww(WwRule),
    /// `synchronize()` of the SRCU domain `domain` inside its own read section.
    SrcuSyncInReader { domain: &'a str },
}

/// The last word of a same-instance self-deadlock's key. The two-instance "possible recursive
/// locking" report is keyed by the same pair of classes, and both are `RecursiveLocking`:
/// without this mark whichever came first in a run would silence the other, though one is a
/// possible deadlock and the other a certain one (a class id is at most `MAX_CLASSES`, so it
/// never equals the mark).
const SAME_INSTANCE: u32 = u32::MAX - 1;

/// Stands for "no class" in a key whose other part is a call site or a context.
const NO_CLASS: u32 = u32::MAX;

fn site_key(site: Site) -> [u32; 2] {
    [site.line(), site.column()]
}

impl Violation<'_> {
    pub(crate) fn kind(&self) -> ReportKind {
        match self {
            Violation::Circular { .. } => ReportKind::CircularDependency,
            Violation::RecursiveLocking { .. } => ReportKind::RecursiveLocking,
            Violation::BadUnlock { .. } => ReportKind::BadUnlock,
            Violation::HeldLockFreed { .. } => ReportKind::HeldLockFreed,
            Violation::LocksHeldAtExit { .. } => ReportKind::LocksHeldAtExit,
            Violation::PanicWhileHolding { .. } => ReportKind::PanicWhileHolding,
            Violation::MaxLockDepth { .. } => ReportKind::MaxLockDepth,
            Violation::Capacity(kind) => *kind,
            Violation::Misuse {
                protocol: Protocol::Ww(_),
                ..
            } => ReportKind::WwMisuse,
            Violation::Misuse {
                protocol: Protocol::SrcuSyncInReader { .. },
                ..
            } => ReportKind::SuspiciousRcuUsage,
            Violation::InvalidSubclass { .. } => ReportKind::InvalidSubclass,
            Violation::InvalidWaitContext { .. } => ReportKind::InvalidWaitContext,
            Violation::SleepInAtomic { .. } | Violation::MightSleep { .. } => ReportKind::SleepInAtomic,
            Violation::Inconsistent { .. } => ReportKind::InconsistentLockState,
            Violation::IrqInversion { .. } => ReportKind::IrqLockInversion,
            Violation::IrqSafeToUnsafe { .. } => ReportKind::IrqSafeToUnsafe,
            Violation::NestLockNotHeld { .. } => ReportKind::NestLockNotHeld,
            Violation::PanicContext { .. } => ReportKind::PanicContext,
            Violation::AssertionFailed { .. } => ReportKind::AssertionFailed,
            Violation::ForbiddenNesting { .. } | Violation::ForbiddenOperation { .. } => {
                ReportKind::ForbiddenWhileHeld
            }
            Violation::HeldOnReturnToUser { .. } => ReportKind::HeldOnReturnToUser,
            Violation::ClassKindMismatch { .. } => ReportKind::ClassKindMismatch,
        }
    }

    /// What the validator de-duplicates a violation on within a process, with its kind: the
    /// classes involved (a set where order does not matter), and for findings outside any
    /// acquisition the call site. `held` is the thread's held stack, for the kinds about
    /// everything it holds.
    pub(crate) fn key(&self, st: &State, held: &[Held]) -> Vec<u32> {
        let held_set = || class_set(held.iter().map(|e| e.class).collect());
        match *self {
            Violation::Circular { next, path, .. } => {
                let mut classes: Vec<u32> = path.iter().map(|&e| st.graph.edges[e as usize].to).collect();
                classes.push(next.class);
                class_set(classes)
            }
            Violation::RecursiveLocking { prev, next, how } => match how {
                Recursion::Instances => vec![prev.class, next.class],
                Recursion::SameInstance => vec![prev.class, next.class, SAME_INSTANCE],
            },
            Violation::BadUnlock { class, .. } => vec![class],
            Violation::HeldLockFreed { held, .. } => vec![held.class],
            Violation::LocksHeldAtExit { .. }
            | Violation::PanicWhileHolding { .. }
            | Violation::HeldOnReturnToUser { .. } => held_set(),
            Violation::MaxLockDepth { .. } | Violation::Capacity(_) => Vec::new(),
            Violation::InvalidSubclass { subclass } => vec![subclass],
            Violation::InvalidWaitContext {
                next,
                strictest,
                context,
                ..
            } => vec![
                next.class,
                strictest.map_or(NO_CLASS - context as u32, |e| e.class),
            ],
            Violation::SleepInAtomic { next, .. } => vec![next.class],
            Violation::MightSleep { site, .. } => {
                let [l, c] = site_key(site);
                vec![NO_CLASS, l, c]
            }
            Violation::Inconsistent { held, old, new, .. } => vec![held.class, old as u32, new as u32],
            Violation::IrqInversion { held, other, .. } => vec![held.class, other],
            Violation::IrqSafeToUnsafe {
                prev,
                next,
                safe,
                unsafe_class,
                ..
            } => vec![safe, unsafe_class, prev.class, next.class],
            Violation::NestLockNotHeld { next } => vec![next.class],
            Violation::PanicContext { next } => {
                let (l, c) = next.loc.map_or((0, 0), |l| (l.line(), l.column()));
                vec![next.class, l, c]
            }
            Violation::AssertionFailed { lock, site, .. } => {
                let [l, c] = site_key(site);
                vec![lock.map_or(NO_CLASS, |(_, class)| class), l, c]
            }
            Violation::ForbiddenNesting { prev, next, .. } => vec![prev.class, next.class],
            Violation::ForbiddenOperation { held, site, .. } => {
                let [l, c] = site_key(site);
                vec![held.class, NO_CLASS, l, c]
            }
            // The rule tells apart two rules broken at one site (a ww lock call checks several),
            // the domain two domains synchronised from one (generic) site.
            Violation::Misuse { protocol, site } => {
                let [l, c] = site_key(site);
                match protocol {
                    Protocol::Ww(rule) => vec![l, c, rule as u32],
                    Protocol::SrcuSyncInReader { domain } => {
                        let h = crate::report::fnv1a(domain.as_bytes());
                        vec![l, c, h as u32, (h >> 32) as u32]
                    }
                }
            }
            Violation::ClassKindMismatch { class, .. } => vec![class],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(class: u32, instance: usize) -> Held {
        Held {
            class,
            instance,
            ..Held::EMPTY
        }
    }

    /// One of two distinct call sites (`which` 0 or 1): each arm is a line of its own.
    fn site(which: u8) -> Site {
        #[track_caller]
        fn here() -> Site {
            Location::caller()
        }
        match which {
            0 => here(),
            _ => here(),
        }
    }

    /// Two locks of one class and the very lock re-taken are two violations of one pair of
    /// classes: neither may silence the other.
    #[test]
    fn recursions_of_one_pair_have_distinct_keys() {
        let st = State::new();
        let (prev, next) = (held(3, 0x10), held(3, 0x20));
        let key = |how| Violation::RecursiveLocking { prev, next, how }.key(&st, &[]);
        assert_ne!(key(Recursion::Instances), key(Recursion::SameInstance));
    }

    /// Locks held where none may be are one violation per set of classes, whatever the order
    /// they were taken in.
    #[test]
    fn held_at_exit_is_keyed_by_the_set_of_held_classes() {
        let st = State::new();
        let v = Violation::LocksHeldAtExit { thread: "t/1" };
        let ab = v.key(&st, &[held(1, 0x10), held(2, 0x20)]);
        let ba = v.key(&st, &[held(2, 0x30), held(1, 0x40), held(2, 0x50)]);
        assert_eq!(ab, ba);
        assert_ne!(ab, v.key(&st, &[held(1, 0x10)]));
    }

    /// A wait context broken by a held lock and one broken by the thread's own irq context
    /// are different violations, even for the same acquired class.
    #[test]
    fn wait_context_keys_tell_the_limit_apart() {
        let st = State::new();
        let next = held(5, 0x10);
        let v = |strictest: Option<Held>, context: u8| Violation::InvalidWaitContext {
            next,
            strictest,
            outer: 4,
            inner: 4,
            context,
            allowed: 2,
        };
        let by_lock = v(Some(held(6, 0x20)), 5).key(&st, &[]);
        let by_hardirq = v(None, 2).key(&st, &[]);
        let by_softirq = v(None, 3).key(&st, &[]);
        assert_ne!(by_lock, by_hardirq);
        assert_ne!(by_hardirq, by_softirq);
    }

    /// Two protocol rules broken at one call site are two reports; the same rule at another
    /// site is another one too, and so is one site synchronising two SRCU domains.
    #[test]
    fn misuse_is_keyed_by_site_and_rule() {
        let st = State::new();
        let (here, there) = (site(0), site(1));
        assert_ne!(here.line(), there.line());
        let v = |protocol, site| Violation::Misuse { protocol, site }.key(&st, &[]);
        let done = Protocol::Ww(WwRule::LockedAfterDone);
        let ignored = Protocol::Ww(WwRule::DeadlkIgnoredRetake);
        assert_ne!(v(done, here), v(ignored, here));
        assert_ne!(v(ignored, here), v(ignored, there));
        assert_eq!(v(ignored, here), v(ignored, here));
        let srcu = |domain| Protocol::SrcuSyncInReader { domain };
        assert_ne!(v(srcu("a"), here), v(srcu("b"), here));
        let distinct: std::collections::HashSet<Vec<u32>> =
            WwRule::ALL.iter().map(|&r| v(Protocol::Ww(r), here)).collect();
        assert_eq!(distinct.len(), WwRule::ALL.len());
    }

    #[test]
    fn both_sleeping_findings_are_sleep_in_atomic_reports() {
        let next = held(1, 0x10);
        let lock = Violation::SleepInAtomic {
            next,
            reason: Atomic::IrqsOff,
        };
        let op = Violation::MightSleep {
            operation: "might_sleep()",
            site: site(0),
            reason: Atomic::Spinlock(2),
        };
        assert_eq!(lock.kind(), ReportKind::SleepInAtomic);
        assert_eq!(op.kind(), ReportKind::SleepInAtomic);
        let st = State::new();
        assert_ne!(lock.key(&st, &[]), op.key(&st, &[]));
    }
}
