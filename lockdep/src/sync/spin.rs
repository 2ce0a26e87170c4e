//! [`SpinLock`] and [`RawSpinLock`]: spinning locks over `spin::mutex::SpinMutex`.
//!
//! The kernel distinguishes `spinlock_t` (which becomes a sleeping lock on real-time kernels)
//! from `raw_spinlock_t` (which always spins); they have different wait types, so a `SpinLock`
//! taken under a `RawSpinLock` is an invalid wait context. Both spin here.

use spin::mutex::SpinMutexGuard as PlainGuard;

exclusive_lock! {
    /// A spinning lock (the kernel's `spinlock_t`): holding it is an atomic section.
    ///
    /// ```
    /// let s = lockdep::SpinLock::new(1);
    /// assert_eq!(*s.lock(), 1);
    /// ```
    SpinLock, SpinLockGuard, spin::mutex::SpinMutex<T>, PlainGuard, SpinLock
}

exclusive_lock! {
    /// A spinning lock that spins on every kernel configuration (the kernel's
    /// `raw_spinlock_t`): the only lock a panic handler may `try_lock`.
    ///
    /// ```
    /// let s = lockdep::RawSpinLock::new(1);
    /// assert!(s.try_lock().is_some());
    /// ```
    RawSpinLock, RawSpinLockGuard, spin::mutex::SpinMutex<T>, PlainGuard, RawSpinLock
}

impl<T: ?Sized> SpinLock<T> {
    irqsave_fn! {
        /// Disables interrupts, then acquires the lock (`spin_lock_irqsave`); the guard
        /// releases the lock, then restores the interrupt state it found (`irqrestore`), so
        /// nested uses are fine. For a lock also taken in an interrupt handler.
        ///
        /// ```
        /// let s = lockdep::SpinLock::new(1);
        /// *s.lock_irqsave() += 1;
        /// assert_eq!(*s.lock(), 2);
        /// ```
        ///
        /// # Panics
        /// As [`lock`](Self::lock); interrupts are restored first.
        lock_irqsave, lock, SpinLockGuard
    }
}

impl<T: ?Sized> RawSpinLock<T> {
    irqsave_fn! {
        /// Disables interrupts, then acquires the lock (`raw_spin_lock_irqsave`); see
        /// [`SpinLock::lock_irqsave`].
        ///
        /// # Panics
        /// As [`lock`](Self::lock); interrupts are restored first.
        lock_irqsave, lock, RawSpinLockGuard
    }
}

/// `leak` on a spinning lock's guard with `check` (with it off the guard is `spin`'s, which
/// has it): the lock stays locked for ever and the validator forgets the hold, as for
/// `MutexGuard::leak`. The thread is not in an atomic section afterwards as far as the
/// validator knows: no thread can take the lock again, so it orders and forbids nothing.
macro_rules! spin_leak {
    ($($guard:ident),*) => {$(
        #[cfg(feature = "check")]
        impl<'a, T: ?Sized> $guard<'a, T> {
            /// Keeps the lock locked for ever and returns the value with the guard's lifetime.
            #[track_caller]
            pub fn leak(this: Self) -> &'a mut T {
                let this = std::mem::ManuallyDrop::new(this);
                crate::engine::validate::release(&this.lock.map, std::panic::Location::caller());
                // SAFETY: `this` is never used or dropped again, so the plain guard moves out
                // once.
                PlainGuard::leak(unsafe { std::ptr::read(&this.inner) })
            }
        }
    )*};
}

spin_leak!(SpinLockGuard, RawSpinLockGuard);
