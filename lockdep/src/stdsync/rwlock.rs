//! [`RwLock`] with `check` on: `std::sync::RwLock` with std's signatures and poisoning,
//! validated as the kernel's `rw_semaphore` (a sleeping lock), like [`crate::RwLock`].
//!
//! # Which reader
//!
//! std does not promise a policy: "The priority policy of the lock is dependent on the
//! underlying operating system's implementation", and on Linux (the futex lock) a reader waits
//! behind a waiting writer. So [`read`](RwLock::read) is validated as the **non-recursive**
//! reader (`down_read`): a thread that holds a read lock and reads again can deadlock with a
//! writer queued in between, and is reported; a cycle through readers is a deadlock. That is
//! the model that is right on every platform: a program it accepts cannot deadlock through a
//! writer-preferring lock, and a lock that happens to let readers through only makes some
//! reported patterns lucky, never a silent pattern wrong. (`crate::RwLock::read_recursive`
//! has the recursive reader, for locks that promise one; std's does not.)

use super::take;
use crate::engine::held::{READ, WRITE};
use crate::engine::map::{Key, LockKind};
use crate::engine::{validate, DepMap};
use crate::sync::not_send::NotSend;
use std::ops::DerefMut;
use std::panic::Location;
use std::sync::{LockResult, TryLockResult};

/// A reader-writer lock with the interface of `std::sync::RwLock`, validated (readers as
/// non-recursive readers: see the module's "Which reader").
///
/// ```
/// use lockdep::stdsync::RwLock;
///
/// let l = RwLock::new(5);
/// assert_eq!(*l.read().unwrap(), 5);
/// *l.write().unwrap() += 1;
/// assert_eq!(l.into_inner().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    map: DepMap,
    inner: std::sync::RwLock<T>,
}

/// A read guard of an [`RwLock`]; not `Send`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    inner: std::sync::RwLockReadGuard<'a, T>,
    map: &'a DepMap,
    _not_send: NotSend,
}

/// A write guard of an [`RwLock`]; not `Send`. Dropped while the thread panics, it poisons the
/// lock.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    inner: std::sync::RwLockWriteGuard<'a, T>,
    map: &'a DepMap,
    _not_send: NotSend,
}

impl<T> RwLock<T> {
    /// A new unlocked lock; its class is the call site.
    #[track_caller]
    #[inline]
    pub const fn new(t: T) -> RwLock<T> {
        RwLock {
            map: DepMap::new(Key::Site(Location::caller()), LockKind::RwLock),
            inner: std::sync::RwLock::new(t),
        }
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes the lock for reading, blocking while a writer holds it (or, on Linux, waits for
    /// it); validated as a non-recursive reader before it blocks.
    ///
    /// # Panics
    /// When the current thread holds the lock for writing, or for reading and the read would
    /// wait (a writer is queued): reported as the same lock re-taken, then panics.
    #[track_caller]
    #[inline]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let r = take::blocking(&self.map, READ, || self.inner.try_read(), || self.inner.read());
        take::map(r, |inner| RwLockReadGuard {
            inner,
            map: &self.map,
            _not_send: NotSend::MARK,
        })
    }

    /// Takes the lock for writing, blocking until it is free; validated before it blocks.
    ///
    /// # Panics
    /// When the current thread holds the lock in any mode: reported, then panics.
    #[track_caller]
    #[inline]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let r = take::blocking(&self.map, WRITE, || self.inner.try_write(), || self.inner.write());
        take::map(r, |inner| RwLockWriteGuard {
            inner,
            map: &self.map,
            _not_send: NotSend::MARK,
        })
    }

    /// Takes the lock for reading if that needs no waiting.
    #[track_caller]
    #[inline]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        let r = take::trying(&self.map, READ, self.inner.try_read());
        take::map_try(r, |inner| RwLockReadGuard {
            inner,
            map: &self.map,
            _not_send: NotSend::MARK,
        })
    }

    /// Takes the lock for writing if it is free.
    #[track_caller]
    #[inline]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        let r = take::trying(&self.map, WRITE, self.inner.try_write());
        take::map_try(r, |inner| RwLockWriteGuard {
            inner,
            map: &self.map,
            _not_send: NotSend::MARK,
        })
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write lock into a read lock without letting a writer in between (the
    /// kernel's `downgrade_write`); the read is a non-recursive one, as [`RwLock::read`].
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let this = std::mem::ManuallyDrop::new(s);
        let map = this.map;
        // SAFETY: `this` is never used or dropped again, so the plain guard moves out once.
        let inner = unsafe { std::ptr::read(&this.inner) };
        validate::downgrade(map);
        RwLockReadGuard {
            inner: std::sync::RwLockWriteGuard::downgrade(inner),
            map,
            _not_send: NotSend::MARK,
        }
    }
}

lock_impls!(RwLock);

guard_impls!(RwLockReadGuard);
guard_impls!(RwLockWriteGuard);

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}
