//! [`IrqSaveGuard`]: a spinning lock taken with interrupts disabled, as one guard
//! (`spin_lock_irqsave` / `spin_unlock_irqrestore`).
//!
//! Written as two scopes, `let _irqs = irqs_disabled(); let g = lock.lock();`, the pair is easy
//! to get wrong: a guard that outlives the interrupt scope (a temporary kept by a `match`, a
//! guard returned from a helper) is released with interrupts already back on, and the
//! validator then sees the lock held while interrupts were enabled — an irq-unsafe use of an
//! irq-safe lock. One guard orders both: interrupts go off before the lock is taken, and on
//! drop the lock is released first, then interrupts are restored to what they were before
//! (nesting-safe, as `irqrestore` with its saved flags).
//!
//! With the `check` feature off the interrupt state is not modelled, and the guard is the
//! plain guard in a `#[repr(transparent)]` wrapper: same size, same code.

use std::ops::{Deref, DerefMut};

/// A held spinning lock taken with interrupts disabled; dropping it releases the lock, then
/// restores the interrupt state saved when it was taken. Returned by `SpinLock::lock_irqsave`,
/// `RawSpinLock::lock_irqsave`, `RwSpinLock::read_irqsave` and `RwSpinLock::write_irqsave`.
#[must_use = "if unused the lock is released at once"]
#[repr(transparent)]
pub struct IrqSaveGuard<G> {
    // Fields drop in declaration order: the lock first, with interrupts still off.
    guard: G,
    _irqs: IrqRestore,
}

impl<G> IrqSaveGuard<G> {
    /// Wraps `guard`, taken after `irqs` disabled interrupts.
    pub(crate) fn new(guard: G, irqs: IrqRestore) -> Self {
        IrqSaveGuard { guard, _irqs: irqs }
    }
}

/// Interrupts disabled by [`IrqRestore::save`], restored when dropped. Zero-sized: it lives in
/// [`IrqSaveGuard`] beside the plain guard without growing it.
pub(crate) struct IrqRestore {
    #[cfg(feature = "check")]
    _not_send: crate::sync::not_send::NotSend,
}

impl IrqRestore {
    /// `local_irq_save()`: disables interrupts, remembering whether they were on. Created
    /// before the lock is taken, so a panic while taking it (a re-take reported by the
    /// validator) still restores them.
    #[inline]
    pub(crate) fn save() -> Self {
        #[cfg(feature = "check")]
        crate::context::irq_save();
        IrqRestore {
            #[cfg(feature = "check")]
            _not_send: crate::sync::not_send::NotSend::MARK,
        }
    }
}

#[cfg(feature = "check")]
impl Drop for IrqRestore {
    #[inline]
    fn drop(&mut self) {
        crate::context::irq_restore();
    }
}

impl<G: Deref> Deref for IrqSaveGuard<G> {
    type Target = G::Target;
    #[inline]
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: DerefMut> DerefMut for IrqSaveGuard<G> {
    #[inline]
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

impl<G: std::fmt::Debug> std::fmt::Debug for IrqSaveGuard<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.guard.fmt(f)
    }
}

/// Defines `$method` on a spinning lock: `$plain` (the guard-returning method) with
/// interrupts saved around it.
macro_rules! irqsave_fn {
    ($(#[$doc:meta])* $method:ident, $plain:ident, $guard:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $method(&self) -> crate::sync::IrqSaveGuard<$guard<'_, T>> {
            let irqs = crate::sync::irqsave::IrqRestore::save();
            let guard = self.$plain();
            crate::sync::IrqSaveGuard::new(guard, irqs)
        }
    };
}
