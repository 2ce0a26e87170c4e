//! [`Mutex`] and [`FairMutex`]: sleeping locks (the kernel's `struct mutex`) over
//! `parking_lot::Mutex` and `parking_lot::FairMutex`, with `parking_lot`'s whole surface.

use parking_lot::{FairMutexGuard as PlainFairGuard, MutexGuard as PlainGuard};
use parking_lot::{MappedFairMutexGuard as PlainMappedFair, MappedMutexGuard as PlainMapped};

exclusive_lock! {
    /// A mutual-exclusion lock that sleeps while it waits, validated as a mutex.
    ///
    /// ```
    /// let m = lockdep::Mutex::new(0);
    /// *m.lock() += 1;
    /// assert_eq!(*m.lock(), 1);
    /// ```
    Mutex, MutexGuard, parking_lot::Mutex<T>, PlainGuard, Mutex
}

parking_lot_mutex_api!(Mutex, MutexGuard, PlainGuard, MappedMutexGuard, PlainMapped);

exclusive_lock! {
    /// A mutex that is always fair (`parking_lot::FairMutex`): every unlock hands the lock to
    /// the next waiter. Validated as a mutex, exactly like [`Mutex`]: fairness changes who gets
    /// the lock, never which orders can deadlock.
    ///
    /// ```
    /// let m = lockdep::FairMutex::new(vec![1]);
    /// m.lock().push(2);
    /// assert_eq!(m.lock().len(), 2);
    /// ```
    FairMutex, FairMutexGuard, parking_lot::FairMutex<T>, PlainFairGuard, Mutex
}

parking_lot_mutex_api!(
    FairMutex,
    FairMutexGuard,
    PlainFairGuard,
    MappedFairMutexGuard,
    PlainMappedFair
);

/// A new [`Mutex`] (`parking_lot::const_mutex`); `Mutex::new` is `const` too. Its class is the
/// call site.
#[cfg_attr(feature = "check", track_caller)]
#[inline]
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::new(value)
}

/// A new [`FairMutex`] (`parking_lot::const_fair_mutex`). Its class is the call site.
#[cfg_attr(feature = "check", track_caller)]
#[inline]
pub const fn const_fair_mutex<T>(value: T) -> FairMutex<T> {
    FairMutex::new(value)
}
