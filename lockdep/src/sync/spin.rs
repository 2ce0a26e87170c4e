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
