//! [`Condvar`] with `check` on: `std::sync::Condvar` with std's signatures (the guard goes in
//! by value and comes back in a `LockResult`), for the validated [`Mutex`](super::Mutex).
//!
//! A wait releases the mutex and takes it again, and the validator's held stack follows the
//! real lock: the mutex leaves it for the wait and is re-acquired, validated on top of what the
//! thread holds then, when the wait returns. The `_while` forms check their condition with the
//! mutex held, as std does, so a lock the condition takes is ordered after the mutex.

use super::take;
use super::MutexGuard;
use crate::engine::validate;
use std::fmt;
use std::panic::Location;
use std::sync::{LockResult, WaitTimeoutResult};
use std::time::{Duration, Instant};

/// A condition variable with the interface of `std::sync::Condvar`.
///
/// ```
/// use lockdep::stdsync::{Arc, Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p2 = Arc::clone(&pair);
/// let t = std::thread::spawn(move || {
///     *p2.0.lock().unwrap() = true;
///     p2.1.notify_one();
/// });
/// let ready = pair.1.wait_while(pair.0.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*ready);
/// # drop(ready);
/// t.join().unwrap();
/// ```
#[derive(Default)]
pub struct Condvar {
    inner: std::sync::Condvar,
}

impl Condvar {
    /// A new condition variable.
    #[inline]
    pub const fn new() -> Condvar {
        Condvar {
            inner: std::sync::Condvar::new(),
        }
    }

    /// Releases the guard's mutex, waits for a notification (or a spurious wake-up) and takes
    /// the mutex again; `Err` (with the guard) if the mutex is poisoned when it is retaken.
    #[track_caller]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (plain, map) = guard.into_parts();
        let token = validate::release_for_wait(map);
        let r = self.inner.wait(plain);
        validate::reacquire_after_wait(map, token, Location::caller());
        take::map(r, |g| MutexGuard::from_parts(g, map))
    }

    /// Waits while `condition` returns true, checking it (with the mutex held) before each
    /// wait.
    #[track_caller]
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Self::wait), giving up after `dur`; the result says whether it timed out.
    #[track_caller]
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (plain, map) = guard.into_parts();
        let token = validate::release_for_wait(map);
        let r = self.inner.wait_timeout(plain, dur);
        validate::reacquire_after_wait(map, token, Location::caller());
        take::map(r, |(g, t)| (MutexGuard::from_parts(g, map), t))
    }

    /// Like [`wait_timeout`](Self::wait_timeout) with the timeout in milliseconds; whether it
    /// returned because the time was up.
    #[deprecated(note = "replaced by `std::sync::Condvar::wait_timeout`")]
    #[track_caller]
    pub fn wait_timeout_ms<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u32,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        take::map(
            self.wait_timeout(guard, Duration::from_millis(ms.into())),
            |(g, t)| (g, t.timed_out()),
        )
    }

    /// Waits while `condition` returns true, for at most `dur` in all; timed out means the
    /// time ran out with the condition still true.
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, timeout_result(false)));
            }
            let Some(left) = dur.checked_sub(start.elapsed()) else {
                return Ok((guard, timeout_result(true)));
            };
            guard = self.wait_timeout(guard, left)?.0;
        }
    }

    /// Wakes one waiter.
    #[inline]
    pub fn notify_one(&self) {
        self.inner.notify_one()
    }

    /// Wakes every waiter.
    #[inline]
    pub fn notify_all(&self) {
        self.inner.notify_all()
    }
}

/// A `WaitTimeoutResult` saying `timed_out`. std gives the type no constructor, so the two
/// values are made once by std's own `wait_timeout_while` on a private, never-shared mutex,
/// whose documented results are exactly these: `false` when the condition is already false
/// (no wait), `true` when a zero timeout runs out with it true. Neither call can block.
fn timeout_result(timed_out: bool) -> WaitTimeoutResult {
    static RESULTS: std::sync::OnceLock<[WaitTimeoutResult; 2]> = std::sync::OnceLock::new();
    let r = RESULTS.get_or_init(|| {
        let m = std::sync::Mutex::new(());
        let cv = std::sync::Condvar::new();
        let g = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (g, done) = cv
            .wait_timeout_while(g, Duration::ZERO, |()| false)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (g, ran_out) = cv
            .wait_timeout_while(g, Duration::ZERO, |()| true)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(g);
        [done, ran_out]
    });
    r[usize::from(timed_out)]
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
