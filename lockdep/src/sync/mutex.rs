//! [`Mutex`]: a sleeping lock (the kernel's `struct mutex`) over `parking_lot::Mutex`.

use parking_lot::MutexGuard as PlainGuard;

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
