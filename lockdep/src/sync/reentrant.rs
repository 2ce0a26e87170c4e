//! [`ReentrantMutex`]: `parking_lot`'s mutex that its owner may lock again.
//!
//! The kernel has no such lock; it is validated as a mutex whose re-entry is no acquisition:
//! the thread's first lock of an instance is validated and recorded like `Mutex::lock` (its
//! order against every other lock is checked), and further locks of that instance by the same
//! thread neither wait nor add a dependency, so they are counted and nothing else. The record
//! goes when the last guard goes, in whatever order the guards are dropped. Re-entering the
//! *instance* is what is allowed: taking a second `ReentrantMutex` of the same class while one
//! is held is still reported as recursive locking (use `lock_nested`-style classes or separate
//! classes for locks nested on purpose).
//!
//! The count lives in the lock (`depth`) and is changed only by the thread that owns the
//! lock, while it owns it.

#[cfg(feature = "check")]
use crate::engine::held::WRITE;
#[cfg(feature = "check")]
use crate::engine::{validate, DepMap};
#[cfg(feature = "check")]
use crate::sync::not_send::NotSend;
use crate::LockClass;
#[cfg(feature = "check")]
use std::panic::Location;
#[cfg(feature = "check")]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A mutex the thread holding it may lock again (`parking_lot::ReentrantMutex`); its guards
/// give shared access only. Validated as described in the module documentation.
///
/// ```
/// let m = lockdep::ReentrantMutex::new(1);
/// let a = m.lock();
/// let b = m.lock(); // the owner re-enters: no wait, no report
/// assert_eq!(*a + *b, 2);
/// ```
#[cfg_attr(not(feature = "check"), repr(transparent))]
pub struct ReentrantMutex<T: ?Sized> {
    #[cfg(feature = "check")]
    pub(crate) map: DepMap,
    /// How many guards the owner has (0: not owned); changed only by the owner.
    #[cfg(feature = "check")]
    depth: AtomicUsize,
    inner: parking_lot::ReentrantMutex<T>,
}

#[cfg(not(feature = "check"))]
mod guards {
    /// A guard: with the `check` feature off, the plain lock's guard.
    pub type ReentrantMutexGuard<'a, T> = parking_lot::ReentrantMutexGuard<'a, T>;
    /// A mapped guard: with the `check` feature off, the plain lock's guard.
    pub type MappedReentrantMutexGuard<'a, T> = parking_lot::MappedReentrantMutexGuard<'a, T>;
}

#[cfg(feature = "check")]
mod guards {
    use super::ReentrantMutex;
    use crate::engine::{validate, DepMap};
    use crate::sync::not_send::NotSend;
    use parking_lot as pl;
    use std::mem::ManuallyDrop;
    use std::panic::Location;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A guard of a held [`ReentrantMutex`]; the last of the owner's guards to go unlocks it.
    /// Not `Send`.
    #[must_use = "if unused the lock is released at once"]
    pub struct ReentrantMutexGuard<'a, T: ?Sized + 'a> {
        pub(super) inner: ManuallyDrop<pl::ReentrantMutexGuard<'a, T>>,
        pub(super) lock: &'a ReentrantMutex<T>,
        pub(super) _not_send: NotSend,
    }

    /// A guard for part of the value of a held [`ReentrantMutex`]. Not `Send`.
    #[must_use = "if unused the lock is released at once"]
    pub struct MappedReentrantMutexGuard<'a, T: ?Sized + 'a> {
        inner: ManuallyDrop<pl::MappedReentrantMutexGuard<'a, T>>,
        map: &'a DepMap,
        depth: &'a AtomicUsize,
        _not_send: NotSend,
    }

    /// One of the owner's guards goes (before its plain unlock): the last takes the record.
    fn leave(map: &DepMap, depth: &AtomicUsize, loc: &'static Location<'static>) {
        if depth.fetch_sub(1, Ordering::Relaxed) == 1 {
            validate::release(map, loc);
        }
    }

    /// Whether the owner has only this one guard (a release then really unlocks).
    fn sole(depth: &AtomicUsize) -> bool {
        depth.load(Ordering::Relaxed) == 1
    }

    impl<'a, T: ?Sized + 'a> ReentrantMutexGuard<'a, T> {
        #[inline]
        fn into_parts(s: Self) -> (pl::ReentrantMutexGuard<'a, T>, &'a ReentrantMutex<T>) {
            let mut s = ManuallyDrop::new(s);
            // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
            (unsafe { ManuallyDrop::take(&mut s.inner) }, s.lock)
        }

        /// The lock this guard holds. With `check` off the guard is
        /// `parking_lot`'s, whose function returns the plain lock inside this one: the same address
        /// and every `parking_lot` method, but another type (so compare addresses, not references).
        #[inline]
        pub fn remutex(s: &Self) -> &'a ReentrantMutex<T> {
            s.lock
        }

        #[inline]
        fn from_parts(inner: pl::ReentrantMutexGuard<'a, T>, lock: &'a ReentrantMutex<T>) -> Self {
            ReentrantMutexGuard {
                inner: ManuallyDrop::new(inner),
                lock,
                _not_send: NotSend::MARK,
            }
        }

        #[inline]
        fn to_mapped(lock: &'a ReentrantMutex<T>) -> (&'a DepMap, &'a AtomicUsize) {
            (&lock.map, &lock.depth)
        }

        map_fns!(
            pl::ReentrantMutexGuard,
            MappedReentrantMutexGuard,
            [],
            try_map_or_err
        );

        /// Releases this guard's level of the lock while `f` runs and takes it again after.
        /// Only when it is the owner's sole guard is the lock really released, and only then
        /// is its record taken off and the re-acquisition validated.
        #[track_caller]
        pub fn unlocked<F, U>(s: &mut Self, f: F) -> U
        where
            F: FnOnce() -> U,
        {
            let (lock, loc) = (s.lock, Location::caller());
            pl::ReentrantMutexGuard::unlocked(&mut s.inner, || {
                let _retake = sole(&lock.depth).then(|| crate::sync::retake::Retake::release(&lock.map, loc));
                f()
            })
        }

        /// Like [`unlocked`](Self::unlocked), handing the lock to a waiting thread first.
        #[track_caller]
        pub fn unlocked_fair<F, U>(s: &mut Self, f: F) -> U
        where
            F: FnOnce() -> U,
        {
            let (lock, loc) = (s.lock, Location::caller());
            pl::ReentrantMutexGuard::unlocked_fair(&mut s.inner, || {
                let _retake = sole(&lock.depth).then(|| crate::sync::retake::Retake::release(&lock.map, loc));
                f()
            })
        }

        /// Drops this guard, handing the lock to a waiting thread if it was the last.
        #[track_caller]
        pub fn unlock_fair(s: Self) {
            let (inner, lock) = Self::into_parts(s);
            leave(&lock.map, &lock.depth, Location::caller());
            pl::ReentrantMutexGuard::unlock_fair(inner);
        }

        /// Lets a waiting thread have the lock, then takes it again, when this is the owner's
        /// sole guard (otherwise `parking_lot` does nothing, and neither does the validator).
        #[track_caller]
        pub fn bump(s: &mut Self) {
            if sole(&s.lock.depth) {
                drop(crate::sync::retake::Retake::release(
                    &s.lock.map,
                    Location::caller(),
                ));
            }
            pl::ReentrantMutexGuard::bump(&mut s.inner);
        }
    }

    impl<'a, T: ?Sized + 'a> MappedReentrantMutexGuard<'a, T> {
        #[inline]
        fn into_parts(
            s: Self,
        ) -> (
            pl::MappedReentrantMutexGuard<'a, T>,
            (&'a DepMap, &'a AtomicUsize),
        ) {
            let mut s = ManuallyDrop::new(s);
            // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
            (unsafe { ManuallyDrop::take(&mut s.inner) }, (s.map, s.depth))
        }

        #[inline]
        fn from_parts(
            inner: pl::MappedReentrantMutexGuard<'a, T>,
            (map, depth): (&'a DepMap, &'a AtomicUsize),
        ) -> Self {
            MappedReentrantMutexGuard {
                inner: ManuallyDrop::new(inner),
                map,
                depth,
                _not_send: NotSend::MARK,
            }
        }

        #[inline]
        fn to_mapped(parts: (&'a DepMap, &'a AtomicUsize)) -> (&'a DepMap, &'a AtomicUsize) {
            parts
        }

        map_fns!(
            pl::MappedReentrantMutexGuard,
            MappedReentrantMutexGuard,
            [],
            try_map_or_err
        );

        /// Drops this guard, handing the lock to a waiting thread if it was the last.
        #[track_caller]
        pub fn unlock_fair(s: Self) {
            let (inner, (map, depth)) = Self::into_parts(s);
            leave(map, depth, Location::caller());
            pl::MappedReentrantMutexGuard::unlock_fair(inner);
        }
    }

    impl<T: ?Sized> std::ops::Deref for ReentrantMutexGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T: ?Sized> std::ops::Deref for MappedReentrantMutexGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T: ?Sized> Drop for ReentrantMutexGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            leave(&self.lock.map, &self.lock.depth, Location::caller());
            // SAFETY: dropped once, here; the field is never used again.
            unsafe { ManuallyDrop::drop(&mut self.inner) }
        }
    }

    impl<T: ?Sized> Drop for MappedReentrantMutexGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            leave(self.map, self.depth, Location::caller());
            // SAFETY: dropped once, here; the field is never used again.
            unsafe { ManuallyDrop::drop(&mut self.inner) }
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for ReentrantMutexGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Display> std::fmt::Display for ReentrantMutexGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for MappedReentrantMutexGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Display> std::fmt::Display for MappedReentrantMutexGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }
}

pub use guards::{MappedReentrantMutexGuard, ReentrantMutexGuard};

impl<T> ReentrantMutex<T> {
    /// A new unlocked lock; its class is the call site.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub const fn new(value: T) -> Self {
        ReentrantMutex {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Site(Location::caller()),
                crate::engine::map::LockKind::Mutex,
            ),
            #[cfg(feature = "check")]
            depth: AtomicUsize::new(0),
            inner: parking_lot::ReentrantMutex::new(value),
        }
    }

    /// A new unlocked lock in the named class `class`.
    #[inline]
    pub const fn with_class(value: T, class: &'static LockClass) -> Self {
        #[cfg(not(feature = "check"))]
        let _ = class;
        ReentrantMutex {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Class(class),
                crate::engine::map::LockKind::Mutex,
            ),
            #[cfg(feature = "check")]
            depth: AtomicUsize::new(0),
            inner: parking_lot::ReentrantMutex::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        #[cfg(feature = "check")]
        {
            let this = std::mem::ManuallyDrop::new(self);
            validate::check_freed(&this.map);
            // SAFETY: `this` is never used or dropped again.
            unsafe { std::ptr::read(&this.inner) }.into_inner()
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.into_inner()
        }
    }
}

impl<T: ?Sized> ReentrantMutex<T> {
    /// Wraps a plain guard just taken, counting it among the owner's guards.
    #[cfg(feature = "check")]
    #[inline]
    fn guard<'a>(&'a self, inner: parking_lot::ReentrantMutexGuard<'a, T>) -> ReentrantMutexGuard<'a, T> {
        self.depth.fetch_add(1, Ordering::Relaxed);
        ReentrantMutexGuard {
            inner: std::mem::ManuallyDrop::new(inner),
            lock: self,
            _not_send: NotSend::MARK,
        }
    }

    /// Whether this thread owns the lock already (a lock then is a re-entry).
    #[cfg(feature = "check")]
    #[inline]
    fn reenters(&self) -> bool {
        self.inner.is_owned_by_current_thread()
    }

    /// Acquires the lock, blocking until it is free, or at once if this thread owns it. The
    /// thread's first acquisition is validated like `Mutex::lock`; a re-entry is not an
    /// acquisition.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        #[cfg(feature = "check")]
        {
            if self.reenters() {
                return self.guard(self.inner.lock());
            }
            validate::acquire(&self.map, 0, WRITE, false, Location::caller());
            let inner = validate::lock_raw(&self.map, WRITE, || self.inner.try_lock(), || self.inner.lock());
            self.guard(inner)
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.lock()
        }
    }

    /// Acquires the lock if it is free or this thread owns it.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            let reentry = self.reenters();
            let inner = self.inner.try_lock()?;
            if !reentry {
                validate::acquire(&self.map, 0, WRITE, true, Location::caller());
            }
            Some(self.guard(inner))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_lock()
        }
    }

    /// Acquires the lock, waiting at most `timeout` (a re-entry never waits). Validated as a
    /// blocking acquisition; its report says the wait was bounded.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            if self.reenters() {
                return self.inner.try_lock_for(timeout).map(|g| self.guard(g));
            }
            let inner = crate::sync::timed::lock_timed(&self.map, WRITE, Location::caller(), || {
                self.inner.try_lock_for(timeout)
            })?;
            Some(self.guard(inner))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_lock_for(timeout)
        }
    }

    /// Acquires the lock, waiting until `deadline` at most (validated as
    /// [`try_lock_for`](Self::try_lock_for)).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<ReentrantMutexGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            if self.reenters() {
                return self.inner.try_lock_until(deadline).map(|g| self.guard(g));
            }
            let inner = crate::sync::timed::lock_timed(&self.map, WRITE, Location::caller(), || {
                self.inner.try_lock_until(deadline)
            })?;
            Some(self.guard(inner))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_lock_until(deadline)
        }
    }

    /// Whether anyone holds the lock right now.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the current thread owns the lock (from the lock itself, so right with `check`
    /// off too).
    #[inline]
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.inner.is_owned_by_current_thread()
    }

    /// The value, through a unique borrow.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// A raw pointer to the value; the lock is not taken.
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// Undoes one level of a forgotten guard. With `check`, a lock this thread does not own is
    /// reported as a bad unlock balance and left alone.
    ///
    /// # Safety
    /// The current thread must own the lock through a forgotten guard.
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock(&self) {
        #[cfg(feature = "check")]
        if !self.force_leave(Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock() }
    }

    /// [`force_unlock`](Self::force_unlock), handing the lock to a waiting thread if this was
    /// the last level.
    ///
    /// # Safety
    /// As [`force_unlock`](Self::force_unlock).
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_fair(&self) {
        #[cfg(feature = "check")]
        if !self.force_leave(Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock_fair() }
    }

    /// One level of a forgotten guard goes; false (after a report) if this thread owns none.
    #[cfg(feature = "check")]
    fn force_leave(&self, loc: &'static Location<'static>) -> bool {
        if !self.reenters() {
            return validate::release(&self.map, loc);
        }
        if self.depth.fetch_sub(1, Ordering::Relaxed) == 1 {
            validate::release(&self.map, loc);
        }
        true
    }

    /// Whether the current thread holds this lock according to the validator (always `false`
    /// with `check` off; see [`is_owned_by_current_thread`](Self::is_owned_by_current_thread)).
    #[inline]
    pub fn is_held_by_current_thread(&self) -> bool {
        #[cfg(feature = "check")]
        {
            validate::is_held(&self.map)
        }
        #[cfg(not(feature = "check"))]
        {
            false
        }
    }
}

crate::lockable::lockable_via_map!(ReentrantMutex);

#[cfg(feature = "check")]
impl<T: ?Sized> Drop for ReentrantMutex<T> {
    fn drop(&mut self) {
        validate::check_freed(&self.map);
    }
}

lock_std_traits!(ReentrantMutex);

/// A new [`ReentrantMutex`] (`parking_lot::const_reentrant_mutex`). Its class is the call site.
#[cfg_attr(feature = "check", track_caller)]
#[inline]
pub const fn const_reentrant_mutex<T>(value: T) -> ReentrantMutex<T> {
    ReentrantMutex::new(value)
}
