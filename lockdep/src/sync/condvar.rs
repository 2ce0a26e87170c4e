//! [`Condvar`]: a condition variable for [`Mutex`](crate::Mutex), over `parking_lot::Condvar`.
//!
//! Waiting releases the mutex and takes it again; the validator's held-lock stack follows the
//! real lock exactly: the mutex leaves the stack for the wait and is re-acquired — and
//! re-validated, on top of whatever else the thread holds — when the wait returns.

use crate::MutexGuard;
use std::time::{Duration, Instant};

pub use parking_lot::WaitTimeoutResult;

/// A condition variable.
///
/// ```
/// use lockdep::{Condvar, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p2 = pair.clone();
/// let t = std::thread::spawn(move || {
///     *p2.0.lock() = true;
///     p2.1.notify_one();
/// });
/// let mut ready = pair.0.lock();
/// while !*ready {
///     pair.1.wait(&mut ready);
/// }
/// t.join().unwrap();
/// ```
#[derive(Default)]
pub struct Condvar {
    inner: parking_lot::Condvar,
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Self {
        Condvar {
            inner: parking_lot::Condvar::new(),
        }
    }

    /// Wakes one waiter. Returns whether one was woken.
    #[inline]
    pub fn notify_one(&self) -> bool {
        self.inner.notify_one()
    }

    /// Wakes every waiter. Returns how many were woken.
    #[inline]
    pub fn notify_all(&self) -> usize {
        self.inner.notify_all()
    }

    /// Releases the guard's mutex, waits for a notification, and takes the mutex again.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        #[cfg(feature = "check")]
        {
            let token = crate::engine::validate::release_for_wait(&guard.lock.map);
            self.inner.wait(&mut guard.inner);
            crate::engine::validate::reacquire_after_wait(
                &guard.lock.map,
                token,
                std::panic::Location::caller(),
            );
        }
        #[cfg(not(feature = "check"))]
        self.inner.wait(guard)
    }

    /// Like [`wait`](Self::wait), giving up at `deadline`.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        #[cfg(feature = "check")]
        {
            let token = crate::engine::validate::release_for_wait(&guard.lock.map);
            let r = self.inner.wait_until(&mut guard.inner, deadline);
            crate::engine::validate::reacquire_after_wait(
                &guard.lock.map,
                token,
                std::panic::Location::caller(),
            );
            r
        }
        #[cfg(not(feature = "check"))]
        self.inner.wait_until(guard, deadline)
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn wait_for<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> WaitTimeoutResult {
        // A timeout too large for an `Instant` is as good as none.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        self.wait_until(guard, deadline)
    }

    /// Waits while `condition` holds.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn wait_while<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
    ) {
        while condition(&mut **guard) {
            self.wait(guard);
        }
    }

    /// Waits while `condition` holds, giving up at `deadline`; the result says whether it
    /// timed out (the condition may still hold then). `condition` runs with the mutex held,
    /// and with `check` each wait releases and re-takes it as [`wait`](Self::wait) does.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn wait_while_until<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        #[cfg(feature = "check")]
        {
            // The plain loop evaluates the condition with the mutex held and waits while it
            // holds: the validator's record follows, going before each wait and coming back
            // when the mutex does (before the next evaluation, or when the loop ends).
            let loc = std::panic::Location::caller();
            let map = &guard.lock.map;
            let released = std::cell::Cell::new(None);
            let r = self.inner.wait_while_until(
                &mut guard.inner,
                |data| {
                    if let Some(token) = released.take() {
                        crate::engine::validate::reacquire_after_wait(map, token, loc);
                    }
                    let wait = condition(data);
                    if wait {
                        released.set(Some(crate::engine::validate::release_for_wait(map)));
                    }
                    wait
                },
                deadline,
            );
            if let Some(token) = released.take() {
                crate::engine::validate::reacquire_after_wait(map, token, loc);
            }
            r
        }
        #[cfg(not(feature = "check"))]
        self.inner.wait_while_until(guard, &mut condition, deadline)
    }

    /// Like [`wait_while_until`](Self::wait_while_until), giving up after `timeout`.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn wait_while_for<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        // A timeout too large for an `Instant` is as good as none.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        self.wait_while_until(guard, condition, deadline)
    }
}

impl std::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condvar { .. }")
    }
}
