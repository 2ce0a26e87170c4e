//! Execution contexts, entered by scopes: a panic handler, a (simulated) hard or soft
//! interrupt handler, a section with interrupts or bottom halves disabled.
//!
//! What they change:
//! * **panic**: the only permitted lock operation is `RawSpinLock::try_lock`; anything else —
//!   any blocking acquisition, a trylock of any other lock type, a pseudo-lock — is reported
//!   ("invalid lock operation in panic context"), and a wait or other `might_sleep` is
//!   "sleeping function called from invalid context" (the kernel's `panic()` disables
//!   interrupts first). Panics may nest.
//! * **hard / soft irq**: nothing that sleeps (a sleeping lock is an invalid wait context; a
//!   wait or allocation is "sleeping function called from invalid context"); a spinlock inside
//!   a non-threaded hard irq is an invalid wait context too (it sleeps on real-time kernels).
//!   Locks used in an irq become irq-safe, locks taken with that irq enabled irq-unsafe, and
//!   the kernel's irq-safety rules apply ("inconsistent lock state", "possible irq lock
//!   inversion dependency detected", "…-safe -> …-unsafe lock order detected").
//! * **interrupts / bottom halves disabled**: locks taken inside are not irq-unsafe; nothing
//!   may sleep. When interrupts come back on, the locks still held become irq-unsafe.
//!
//! With the `check` feature off every scope is an empty value.

use std::marker::PhantomData;

#[cfg(feature = "check")]
use crate::engine::validate::change_context;

/// Applies `f` to the thread's context (no-op with the feature off).
#[inline]
fn change(f: impl FnOnce(&mut Ctx)) {
    #[cfg(feature = "check")]
    change_context(|h| {
        let mut c = Ctx {
            hardirq: h.hardirq,
            softirq: h.softirq,
            irqs_off: h.irqs_off,
            bh_off: h.bh_off,
            panic: h.panic,
            threaded: h.hardirq_threaded,
        };
        f(&mut c);
        h.hardirq = c.hardirq;
        h.softirq = c.softirq;
        h.irqs_off = c.irqs_off;
        h.bh_off = c.bh_off;
        h.panic = c.panic;
        h.hardirq_threaded = c.threaded;
    });
    #[cfg(not(feature = "check"))]
    let _ = f;
}

/// The context counters a scope changes.
struct Ctx {
    hardirq: u32,
    softirq: u32,
    /// 0 or 1: interrupts disabled (not a nesting count, as `local_irq_disable`).
    irqs_off: u32,
    bh_off: u32,
    panic: u32,
    threaded: bool,
}

/// Low-level context switches, one kernel primitive each, for code (and tests) that models
/// the kernel's irq state step by step. Prefer the scopes.
pub mod irq {
    use super::change;

    /// `local_irq_disable()`.
    pub fn local_irq_disable() {
        change(|c| c.irqs_off = 1);
    }

    /// `local_irq_enable()`: held locks become hardirq-unsafe (and softirq-unsafe when bottom
    /// halves are enabled).
    pub fn local_irq_enable() {
        change(|c| c.irqs_off = 0);
    }

    /// `local_bh_disable()` (nests).
    pub fn local_bh_disable() {
        change(|c| c.bh_off += 1);
    }

    /// `local_bh_enable()`: when the last disable ends, held locks become softirq-unsafe.
    pub fn local_bh_enable() {
        change(|c| c.bh_off = c.bh_off.saturating_sub(1));
    }

    /// Enters a hard interrupt handler (interrupts off). `threaded`: the handler would run in
    /// a thread on a real-time kernel, so spinlocks (not raw ones) are allowed in it.
    pub fn hardirq_enter(threaded: bool) {
        change(|c| {
            c.irqs_off = 1;
            c.hardirq += 1;
            c.threaded = threaded;
        });
    }

    /// Leaves a hard interrupt handler and enables interrupts.
    pub fn hardirq_exit() {
        change(|c| {
            c.hardirq = c.hardirq.saturating_sub(1);
            c.irqs_off = 0;
        });
    }

    /// Enters a soft interrupt handler (bottom halves and interrupts off, as the kernel's
    /// self-tests model it).
    pub fn softirq_enter() {
        change(|c| {
            c.bh_off += 1;
            c.irqs_off = 1;
            c.softirq += 1;
        });
    }

    /// Returns the thread to process context with interrupts and bottom halves enabled and no
    /// panic handler, whatever it entered before (for test harnesses that run many cases on
    /// one thread).
    pub fn reset() {
        change(|c| {
            c.hardirq = 0;
            c.softirq = 0;
            c.irqs_off = 0;
            c.bh_off = 0;
            c.panic = 0;
            c.threaded = false;
        });
    }

    /// Leaves a soft interrupt handler: interrupts, then bottom halves, back on.
    pub fn softirq_exit() {
        change(|c| c.softirq = c.softirq.saturating_sub(1));
        change(|c| c.irqs_off = 0);
        change(|c| c.bh_off = c.bh_off.saturating_sub(1));
    }
}

/// A scope; the context it entered ends when it is dropped. Not `Send`: contexts belong to a
/// thread.
#[must_use = "the context ends when this is dropped"]
pub struct ContextScope {
    exit: fn(),
    _not_send: PhantomData<*const ()>,
}

impl ContextScope {
    fn new(enter: impl FnOnce(), exit: fn()) -> Self {
        enter();
        ContextScope {
            exit,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ContextScope {
    fn drop(&mut self) {
        (self.exit)();
    }
}

impl std::fmt::Debug for ContextScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextScope")
    }
}

/// Enters a panic handler: until the scope ends only `RawSpinLock::try_lock` may be used.
///
/// ```
/// let panic_lock = lockdep::RawSpinLock::new(());
/// let _panic = lockdep::panic_context();
/// if let Some(_g) = panic_lock.try_lock() {
///     // draw the panic screen
/// };
/// ```
pub fn panic_context() -> ContextScope {
    ContextScope::new(
        || change(|c| c.panic += 1),
        || change(|c| c.panic = c.panic.saturating_sub(1)),
    )
}

/// Enters a simulated hard interrupt handler of a device: spinlocks may be taken in it (the
/// kernel marks such handlers "threaded" for lockdep, as they run in threads on real-time
/// kernels), raw spinlocks too; nothing that sleeps.
pub fn irq_context() -> ContextScope {
    ContextScope::new(|| irq::hardirq_enter(true), irq::hardirq_exit)
}

/// Enters a simulated hard interrupt handler that never runs threaded (`IRQF_NO_THREAD`,
/// timer callbacks): only raw spinlocks may be taken in it.
pub fn irq_context_no_thread() -> ContextScope {
    ContextScope::new(|| irq::hardirq_enter(false), irq::hardirq_exit)
}

/// Enters a simulated soft interrupt handler. As a real softirq, it runs with bottom halves
/// disabled but hard interrupts *on*: a hardirq-safe lock taken in it needs `irqs_disabled()`
/// (`spin_lock_irqsave`), or it is reported. (The step-by-step [`irq::softirq_enter`] models
/// the kernel self-tests' `SOFTIRQ_ENTER()`, which also disables interrupts.)
pub fn softirq_context() -> ContextScope {
    fn enter() {
        change(|c| {
            c.bh_off += 1;
            c.softirq += 1;
        });
    }
    fn exit() {
        change(|c| c.softirq = c.softirq.saturating_sub(1));
        change(|c| c.bh_off = c.bh_off.saturating_sub(1));
    }
    ContextScope::new(enter, exit)
}

/// Disables interrupts for the scope (`local_irq_save`/`restore`: nested scopes are fine).
///
/// For a spinning lock taken with interrupts off, prefer the lock's `lock_irqsave()`: one guard
/// that cannot outlive the interrupt scope.
pub fn irqs_disabled() -> ContextScope {
    ContextScope::new(irq_save, irq_restore)
}

/// `local_irq_save()`: pushes whether interrupts were off, then disables them.
pub(crate) fn irq_save() {
    #[cfg(feature = "check")]
    crate::engine::held::with(|h| h.irq_save.push_bit(h.irqs_off > 0));
    irq::local_irq_disable();
}

/// `local_irq_restore()`: enables interrupts again unless the matching [`irq_save`] found them
/// off.
pub(crate) fn irq_restore() {
    #[cfg(feature = "check")]
    let was_off = crate::engine::held::with(|h| h.irq_save.pop_bit());
    #[cfg(not(feature = "check"))]
    let was_off = false;
    if !was_off {
        irq::local_irq_enable();
    }
}

/// Disables bottom halves (soft interrupts) for the scope.
pub fn bh_disabled() -> ContextScope {
    ContextScope::new(irq::local_bh_disable, irq::local_bh_enable)
}

/// Whether the current thread may not sleep (`in_atomic()`): it is in a (simulated) hard or
/// soft interrupt handler, has interrupts or bottom halves disabled, or holds a spinning lock
/// (`SpinLock`, `RwSpinLock`, `RawSpinLock`). Exactly where [`might_sleep`](crate::might_sleep)
/// reports, so code can choose a non-sleeping path (`GFP_ATOMIC` rather than `GFP_KERNEL`).
///
/// The kernel's `in_atomic()` reads the preempt count, which `local_irq_disable()` does not
/// raise; its `might_sleep()` checks `irqs_disabled()` besides. Here one query answers "may
/// this thread sleep?", interrupts included. Decided from the thread's own state, without the
/// validator's lock. Always `false` with the feature off.
pub fn in_atomic() -> bool {
    #[cfg(feature = "check")]
    {
        crate::engine::validate::in_atomic()
    }
    #[cfg(not(feature = "check"))]
    {
        false
    }
}

/// Whether any of the context bits `mask` is set on the current thread (never with the
/// feature off).
#[cfg(feature = "check")]
fn any(mask: u8) -> bool {
    crate::engine::validate::context_bits() & mask != 0
}

#[cfg(not(feature = "check"))]
fn any(_mask: u8) -> bool {
    false
}

#[cfg(feature = "check")]
use crate::engine::held::{CTX_BH_OFF, CTX_HARDIRQ, CTX_IRQS_OFF, CTX_SOFTIRQ};
#[cfg(not(feature = "check"))]
const CTX_SOFTIRQ: u8 = 0;
#[cfg(not(feature = "check"))]
const CTX_HARDIRQ: u8 = 0;
#[cfg(not(feature = "check"))]
const CTX_IRQS_OFF: u8 = 0;
#[cfg(not(feature = "check"))]
const CTX_BH_OFF: u8 = 0;

/// Whether the current thread is in a (simulated) hard interrupt handler (`in_hardirq()`).
/// Always `false` with the feature off.
pub fn in_hardirq() -> bool {
    any(CTX_HARDIRQ)
}

/// Whether the current thread is running a (simulated) soft interrupt handler
/// (`in_serving_softirq()`). Always `false` with the feature off.
pub fn in_serving_softirq() -> bool {
    any(CTX_SOFTIRQ)
}

/// Whether soft interrupts cannot run on the current thread right now: it is serving one or
/// has bottom halves disabled. The kernel's `in_softirq()` means this too (it reads the
/// softirq count, which `local_bh_disable()` raises); [`in_serving_softirq`] is the handler
/// alone. Always `false` with the feature off.
pub fn in_softirq() -> bool {
    any(CTX_SOFTIRQ | CTX_BH_OFF)
}

/// `in_interrupt()`: [`in_hardirq`] or [`in_softirq`] (bottom halves disabled included, as in
/// the kernel). Always `false` with the feature off.
pub fn in_interrupt() -> bool {
    in_hardirq() || in_softirq()
}

/// Whether interrupts are disabled on the current thread (`irqs_disabled()`; the scope that
/// disables them is [`irqs_disabled`]): an `irqs_disabled()` scope, a
/// hard interrupt handler, or `local_irq_disable()`. Always `false` with the feature off.
#[doc(alias = "irqs_disabled")]
pub fn irqs_are_disabled() -> bool {
    any(CTX_IRQS_OFF)
}
