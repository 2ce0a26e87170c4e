//! From a rule's finding to a report: [`report_once`] de-duplicates a [`Violation`] and, the
//! first time, resolves it (class names, the thread, the locks it holds, the dependencies'
//! stored stacks, the current stack) into a [`Report`] whose [`Detail`] carries the rest as
//! data, then queues it for dispatch. Every sentence of a report is written in `report/`.

use super::held::{Held, HeldStack, CTX_BH_OFF, CTX_HARDIRQ, CTX_IRQS_OFF, CTX_SOFTIRQ};
use super::sink;
use super::stack::{capture_ips, MAX_FRAMES};
use super::state::State;
use super::validate::thread_desc;
use super::violation::{Atomic, Protocol, Recursion, Violation};
use crate::report::Irq;
use crate::report::{
    AtomicReason, Dependency, Detail, HeldLock, IrqState, LockMode, Report, ReportKind, Stack, Usage,
    WaitLimit,
};

pub(crate) fn current_stack() -> Stack {
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
        timed: e.timed,
        location: e.loc,
    }
}

/// Reports `v`, found by thread `h` holding `h.entries[..upto]`, unless a violation with the
/// same kind and key was reported before in this process. Returns whether it was new.
pub(crate) fn report_once(st: &mut State, h: &HeldStack, upto: usize, v: &Violation<'_>) -> bool {
    if !st.first_time(v.kind(), v.key(st, &h.entries[..upto])) {
        return false;
    }
    sink::defer(resolve(st, Some((h, upto)), v));
    true
}

/// Reports a table running out, found where no thread's held stack is at hand (the reporting
/// thread is named, but none of its locks). Returns whether it was new.
pub(crate) fn report_capacity_once(st: &mut State, kind: ReportKind) -> bool {
    let v = Violation::Capacity(kind);
    if !st.first_time(kind, v.key(st, &[])) {
        return false;
    }
    sink::defer(resolve(st, None, &v));
    true
}

fn reason(st: &State, a: Atomic) -> AtomicReason {
    match a {
        Atomic::HardIrq => AtomicReason::HardIrq,
        Atomic::SoftIrq => AtomicReason::SoftIrq,
        Atomic::IrqsOff => AtomicReason::IrqsDisabled,
        Atomic::BhOff => AtomicReason::BhDisabled,
        Atomic::Panic => AtomicReason::PanicHandler,
        Atomic::Spinlock(c) => AtomicReason::Spinlock(st.class_name(c).to_string()),
    }
}

/// The report of `v`, seen by `at` (the thread's held stack and how much of it was held), or
/// by no thread in particular.
fn resolve(st: &State, at: Option<(&HeldStack, usize)>, v: &Violation<'_>) -> Report {
    let kind = v.kind();
    let name = |c: u32| st.class_name(c).to_string();
    let (thread, held) = match at {
        Some((h, upto)) => {
            let thread = match v {
                Violation::LocksHeldAtExit { thread } => thread.to_string(),
                _ => thread_desc(h.tid),
            };
            (
                thread,
                h.entries[..upto].iter().map(|e| describe(st, e)).collect(),
            )
        }
        None => (thread_desc(0), Vec::new()),
    };
    let mut r = Parts::default();
    let pair = |r: &mut Parts, prev: &Held, next: &Held| {
        r.acquiring = Some(describe(st, next));
        r.holding = Some(describe(st, prev));
    };
    let detail = match *v {
        Violation::Circular { prev, next, path } => {
            pair(&mut r, &prev, &next);
            r.cycle.push(name(next.class));
            r.cycle
                .extend(path.iter().map(|&e| name(st.graph.edges[e as usize].to)));
            // A path from `next`'s class back to itself is the whole cycle: the closing step
            // from `prev` (of the same class) adds no class to it.
            if prev.class != next.class {
                r.cycle.push(name(next.class));
            }
            // Kernel order: the dependency into the held lock first (#N), down to the one out
            // of the lock being acquired (#1).
            r.dependencies = path.iter().rev().map(|&e| dependency(st, e)).collect();
            Detail::CircularDependency
        }
        Violation::RecursiveLocking { prev, next, how } => {
            pair(&mut r, &prev, &next);
            Detail::RecursiveLocking {
                same_instance: how == Recursion::SameInstance,
            }
        }
        Violation::BadUnlock {
            class,
            instance,
            read,
            held_in_other_mode,
            site,
        } => {
            let fake = Held {
                instance,
                loc: Some(site),
                class,
                read,
                ..Held::EMPTY
            };
            r.acquiring = Some(describe(st, &fake));
            Detail::BadUnlock { held_in_other_mode }
        }
        Violation::HeldLockFreed { held, instance } => {
            r.holding = Some(describe(st, &held));
            Detail::HeldLockFreed { instance }
        }
        Violation::LocksHeldAtExit { .. } => Detail::LocksHeldAtExit,
        Violation::PanicWhileHolding { message } => Detail::PanicWhileHolding {
            message: message.to_string(),
        },
        Violation::MaxLockDepth { next } => {
            r.acquiring = Some(describe(st, &next));
            Detail::MaxLockDepth {
                depth: held.len() + 1,
                max: crate::MAX_LOCK_DEPTH,
            }
        }
        Violation::Capacity(_) => Detail::CapacityExhausted,
        Violation::InvalidSubclass { subclass } => Detail::InvalidSubclass {
            subclass,
            max: crate::MAX_SUBCLASSES as u32 - 1,
        },
        Violation::InvalidWaitContext {
            next,
            strictest,
            outer,
            inner,
            context,
            allowed,
        } => {
            r.acquiring = Some(describe(st, &next));
            r.holding = strictest.map(|e| describe(st, &e));
            let limit = match strictest {
                Some(_) => WaitLimit::Held,
                None if next.ctx & CTX_HARDIRQ != 0 => WaitLimit::Irq(Irq::Hard),
                None => WaitLimit::Irq(Irq::Soft),
            };
            Detail::InvalidWaitContext {
                outer,
                inner,
                context,
                allowed,
                limit,
            }
        }
        Violation::SleepInAtomic { next, reason: a } => {
            r.acquiring = Some(describe(st, &next));
            Detail::SleepInAtomic {
                reason: reason(st, a),
            }
        }
        Violation::MightSleep {
            operation,
            site,
            reason: a,
        } => Detail::MightSleep {
            operation: operation.to_string(),
            site,
            reason: reason(st, a),
        },
        Violation::Inconsistent { held, old, new, ctx } => {
            r.acquiring = Some(describe(st, &held));
            Detail::InconsistentLockState {
                previous: Usage::from_bit(old),
                new: Usage::from_bit(new),
                state: IrqState {
                    in_hardirq: ctx & CTX_HARDIRQ != 0,
                    in_softirq: ctx & CTX_SOFTIRQ != 0,
                    hardirqs_enabled: ctx & CTX_IRQS_OFF == 0,
                    softirqs_enabled: ctx & CTX_BH_OFF == 0,
                },
            }
        }
        Violation::IrqInversion {
            held,
            other,
            bit,
            became_unsafe,
        } => {
            r.acquiring = Some(describe(st, &held));
            r.cycle = vec![name(held.class), name(other)];
            Detail::IrqLockInversion {
                other: name(other),
                usage: Usage::from_bit(bit),
                became_unsafe,
            }
        }
        Violation::IrqSafeToUnsafe {
            prev,
            next,
            safe,
            unsafe_class,
            bit,
        } => {
            pair(&mut r, &prev, &next);
            r.cycle = vec![name(safe), name(unsafe_class)];
            Detail::IrqSafeToUnsafe {
                safe: name(safe),
                unsafe_class: name(unsafe_class),
                usage: Usage::from_bit(bit),
            }
        }
        Violation::NestLockNotHeld { next } => {
            r.acquiring = Some(describe(st, &next));
            Detail::NestLockNotHeld
        }
        Violation::PanicContext { next } => {
            r.acquiring = Some(describe(st, &next));
            Detail::PanicContext
        }
        Violation::AssertionFailed {
            assertion,
            lock,
            site,
        } => Detail::AssertionFailed {
            assertion,
            lock: lock.map(|(instance, class)| (instance, name(class))),
            site,
        },
        Violation::ForbiddenNesting { prev, next, reason } => {
            pair(&mut r, &prev, &next);
            Detail::ForbiddenNesting {
                reason: reason.to_string(),
            }
        }
        Violation::ForbiddenOperation {
            held,
            operation,
            site,
        } => {
            r.holding = Some(describe(st, &held));
            Detail::ForbiddenOperation {
                operation: operation.to_string(),
                site,
            }
        }
        Violation::HeldOnReturnToUser { site } => Detail::HeldOnReturnToUser { site },
        Violation::Misuse {
            protocol: Protocol::Ww(rule),
            site,
        } => Detail::WwMisuse { rule, site },
        Violation::Misuse {
            protocol: Protocol::SrcuSyncInReader { domain },
            site,
        } => Detail::SuspiciousRcuUsage {
            domain: domain.to_string(),
            site,
        },
        Violation::ClassKindMismatch {
            class,
            registered,
            used,
        } => Detail::ClassKindMismatch {
            class: name(class),
            registered: registered.name(),
            used: used.name(),
        },
    };
    let mut report = Report::new(kind, thread, detail);
    report.held = held;
    report.acquiring = r.acquiring;
    report.holding = r.holding;
    report.cycle = r.cycle;
    report.dependencies = r.dependencies;
    // No stack at a thread's exit: it is being torn down (and the unwinder's own
    // thread-locals may be gone); the held locks' acquisition sites say where they were taken.
    if !matches!(v, Violation::LocksHeldAtExit { .. }) {
        report.stack = current_stack();
    }
    report
}

/// What a violation adds to every report's thread, held locks and stack.
#[derive(Default)]
struct Parts {
    acquiring: Option<HeldLock>,
    holding: Option<HeldLock>,
    cycle: Vec<String>,
    dependencies: Vec<Dependency>,
}

/// Edge `e` of the graph as a report's dependency, with the stack stored when it was first
/// recorded and the name of the thread that recorded it.
fn dependency(st: &State, e: u32) -> Dependency {
    let edge = &st.graph.edges[e as usize];
    let thread = st
        .thread_names
        .get(&edge.tid)
        .cloned()
        .unwrap_or_else(|| format!("?/{}", edge.tid));
    Dependency {
        from: st.class_name(edge.from).to_string(),
        to: st.class_name(edge.to).to_string(),
        from_mode: LockMode::from_read(edge.from_read),
        to_mode: LockMode::from_read(edge.to_read),
        from_location: edge.from_loc,
        to_location: edge.to_loc,
        thread,
        stack: Stack::from_ips(st.stacks.get(edge.trace).to_vec()),
    }
}
