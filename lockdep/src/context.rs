//! Execution contexts, entered by scopes: a panic handler, a (simulated) hard or soft
//! interrupt handler, a section with interrupts or bottom halves disabled.
//!
//! What they change:
//! * **panic**: the only permitted lock operation is `RawSpinLock::try_lock`; anything else —
//!   any blocking acquisition, a trylock of any other lock type, a pseudo-lock — is reported
//!   ("invalid lock operation in panic context"). Panics may nest.
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
pub fn irqs_disabled() -> ContextScope {
    fn enter() {
        #[cfg(feature = "check")]
        crate::engine::held::with(|h| h.irq_save.push_bit(h.irqs_off > 0));
        irq::local_irq_disable();
    }
    fn exit() {
        #[cfg(feature = "check")]
        let was_off = crate::engine::held::with(|h| h.irq_save.pop_bit());
        #[cfg(not(feature = "check"))]
        let was_off = false;
        if !was_off {
            irq::local_irq_enable();
        }
    }
    ContextScope::new(enter, exit)
}

/// Disables bottom halves (soft interrupts) for the scope.
pub fn bh_disabled() -> ContextScope {
    ContextScope::new(irq::local_bh_disable, irq::local_bh_enable)
}
