//! [`Mutex`] with `check` on: `std::sync::Mutex` with std's signatures and poisoning, validated
//! as the kernel's `struct mutex` (a sleeping lock), like [`crate::Mutex`].

use super::take;
use crate::engine::held::WRITE;
use crate::engine::map::{Key, LockKind};
use crate::engine::DepMap;
use crate::sync::not_send::NotSend;
use std::ops::DerefMut;
use std::panic::Location;
use std::sync::{LockResult, TryLockResult};

/// A mutual-exclusion lock with the interface of `std::sync::Mutex`, validated.
///
/// Poisoning is std's own: the plain std mutex underneath is poisoned when a thread panics
/// while holding a guard, and every method reports it as std does. Its class is the call site
/// of [`new`](Self::new) (or a [`LockClass`](crate::LockClass) through [`WithClass`](crate::WithClass)).
///
/// ```
/// use lockdep::stdsync::Mutex;
///
/// let m = Mutex::new(0);
/// *m.lock().unwrap() += 1;
/// assert_eq!(m.into_inner().unwrap(), 1);
/// ```
pub struct Mutex<T: ?Sized> {
    map: DepMap,
    inner: std::sync::Mutex<T>,
}

/// The guard of a held [`Mutex`]; the lock is released when it is dropped, and poisoned if
/// that happens while the thread panics.
///
/// Not `Send` (std's is not either): the thread that took the lock releases it.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    inner: std::sync::MutexGuard<'a, T>,
    map: &'a DepMap,
    _not_send: NotSend,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex; its class is the call site.
    #[track_caller]
    #[inline]
    pub const fn new(t: T) -> Mutex<T> {
        Mutex {
            map: DepMap::new(Key::Site(Location::caller()), LockKind::Mutex),
            inner: std::sync::Mutex::new(t),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, blocking until it is free; `Err` (still holding the guard) if it is
    /// poisoned. The acquisition is validated before it blocks.
    ///
    /// # Panics
    /// When the current thread holds this mutex already: std leaves that unspecified (a
    /// deadlock or a panic); here it is reported as the same lock re-taken, then panics.
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let r = take::blocking(&self.map, WRITE, || self.inner.try_lock(), || self.inner.lock());
        take::map(r, |g| MutexGuard::new(g, &self.map))
    }

    /// Acquires the mutex if it is free. A trylock never waits, so it adds no dependency into
    /// this mutex's class.
    #[track_caller]
    #[inline]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        let r = take::trying(&self.map, WRITE, self.inner.try_lock());
        take::map_try(r, |g| MutexGuard::new(g, &self.map))
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(inner: std::sync::MutexGuard<'a, T>, map: &'a DepMap) -> Self {
        MutexGuard {
            inner,
            map,
            _not_send: NotSend::MARK,
        }
    }

    /// Splits the guard into the plain guard and the lock's record, keeping the lock held
    /// (for a condition-variable wait, which releases it through the plain guard).
    pub(super) fn into_parts(self) -> (std::sync::MutexGuard<'a, T>, &'a DepMap) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the plain guard moves out once.
        (unsafe { std::ptr::read(&this.inner) }, this.map)
    }

    /// The inverse of [`into_parts`](Self::into_parts).
    pub(super) fn from_parts(inner: std::sync::MutexGuard<'a, T>, map: &'a DepMap) -> Self {
        Self::new(inner, map)
    }
}

lock_impls!(Mutex);

guard_impls!(MutexGuard);

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}
