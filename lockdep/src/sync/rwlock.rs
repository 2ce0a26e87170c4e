//! [`RwLock`]: the sleeping reader-writer lock (the kernel's `rw_semaphore`) over
//! `parking_lot::RwLock`.
//!
//! `parking_lot` parks a thread that waits for the lock, so it is validated as a sleeping lock,
//! exactly like [`Mutex`](crate::Mutex): taking it under a spinning lock, in an interrupt
//! handler or with interrupts disabled is reported. Code that must take a reader-writer lock
//! there uses [`RwSpinLock`](crate::RwSpinLock) (the kernel's `rwlock_t`).
//!
//! Readers come in two flavours, and the validator tells them apart exactly as the kernel does:
//! * [`read`](RwLock::read) is a **non-recursive** reader: `parking_lot` queues it behind a
//!   waiting writer, so a thread that holds a read lock and takes it for reading again can
//!   deadlock (another thread's writer slipped in between) — validated like `down_read`;
//! * [`read_recursive`](RwLock::read_recursive) never waits for writers when the lock is
//!   read-held, so read-after-read on it is legitimate — validated as a recursive reader (the
//!   kernel's `rw_semaphore` has none; its `rwlock_t` readers are). A cycle that only goes
//!   through recursive readers is not a deadlock.

#[cfg(feature = "check")]
use crate::engine::{validate, DepMap};
#[cfg(feature = "check")]
use crate::sync::not_send::NotSend;
use crate::LockClass;
#[cfg(feature = "check")]
use std::panic::Location;

/// A reader-writer lock that sleeps while it waits, validated as an `rw_semaphore`.
///
/// # Differences from `parking_lot::RwLock`
///
/// * With `check`, every acquisition is validated before it blocks: an order that could
///   deadlock, a non-recursive read of a class this thread already reads, or taking it where
///   the thread may not sleep (under a [`SpinLock`](crate::SpinLock), in
///   [`irq_context`](crate::irq_context), with interrupts disabled) is reported.
/// * Its class is the creation site (or a [`LockClass`]), as for every lock of this crate.
/// * The guards are `!Send` with `check`, even if `parking_lot`'s `send_guard` feature is on.
/// * Upgradable reads, `Arc` guards and guard mapping are not offered.
/// * Without `check` it is the plain lock, with the plain guards.
///
/// ```
/// let l = lockdep::RwLock::new(5);
/// {
///     let r1 = l.read_recursive();
///     let r2 = l.read_recursive();
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *l.write() += 1;
/// assert_eq!(*l.read(), 6);
/// ```
#[doc(alias = "rw_semaphore")]
pub struct RwLock<T: ?Sized> {
    #[cfg(feature = "check")]
    map: DepMap,
    inner: parking_lot::RwLock<T>,
}

#[cfg(not(feature = "check"))]
mod guards {
    /// A read guard: with the `check` feature off, the plain lock's guard.
    pub type RwLockReadGuard<'a, T> = parking_lot::RwLockReadGuard<'a, T>;
    /// A write guard: with the `check` feature off, the plain lock's guard.
    pub type RwLockWriteGuard<'a, T> = parking_lot::RwLockWriteGuard<'a, T>;
}

#[cfg(feature = "check")]
mod guards {
    use crate::engine::{validate, DepMap};
    use crate::sync::not_send::NotSend;
    use std::panic::Location;

    /// A read guard; the read lock is released when it is dropped. Not `Send`: the thread
    /// that took the lock releases it.
    #[must_use = "if unused the lock is released at once"]
    pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
        pub(crate) inner: parking_lot::RwLockReadGuard<'a, T>,
        pub(crate) map: &'a DepMap,
        pub(crate) _not_send: NotSend,
    }

    /// A write guard; the write lock is released when it is dropped. Not `Send`: the thread
    /// that took the lock releases it.
    #[must_use = "if unused the lock is released at once"]
    pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
        pub(crate) inner: parking_lot::RwLockWriteGuard<'a, T>,
        pub(crate) map: &'a DepMap,
        pub(crate) _not_send: NotSend,
    }

    impl<T: ?Sized> std::ops::Deref for RwLockReadGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T: ?Sized> std::ops::Deref for RwLockWriteGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T: ?Sized> std::ops::DerefMut for RwLockWriteGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            &mut self.inner
        }
    }

    impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(self.map, Location::caller());
        }
    }

    impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(self.map, Location::caller());
        }
    }

    impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
        /// Turns the write lock into a (non-recursive) read lock without letting a writer in
        /// between (the kernel's `downgrade_write`).
        pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
            let this = std::mem::ManuallyDrop::new(this);
            let map = this.map;
            // SAFETY: `this` is never used or dropped again; the plain guard moves out once.
            let inner = unsafe { std::ptr::read(&this.inner) };
            validate::downgrade(map);
            RwLockReadGuard {
                inner: parking_lot::RwLockWriteGuard::downgrade(inner),
                map,
                _not_send: NotSend::MARK,
            }
        }
    }

    impl<T: ?Sized + std::fmt::Display> std::fmt::Display for RwLockReadGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Display> std::fmt::Display for RwLockWriteGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwLockReadGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwLockWriteGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }
}

pub use guards::{RwLockReadGuard, RwLockWriteGuard};

// The validator's `read` argument for each acquisition flavour (unused with `check` off).
#[cfg(feature = "check")]
use crate::engine::held::{READ, READ_RECURSIVE, WRITE};

impl<T> RwLock<T> {
    /// A new unlocked lock; its class is the call site.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub const fn new(value: T) -> Self {
        RwLock {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Site(Location::caller()),
                crate::engine::map::LockKind::RwLock,
            ),
            inner: parking_lot::RwLock::new(value),
        }
    }

    /// A new unlocked lock in the named class `class`.
    #[inline]
    pub const fn with_class(value: T, class: &'static LockClass) -> Self {
        #[cfg(not(feature = "check"))]
        let _ = class;
        RwLock {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Class(class),
                crate::engine::map::LockKind::RwLock,
            ),
            inner: parking_lot::RwLock::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        #[cfg(feature = "check")]
        {
            let this = std::mem::ManuallyDrop::new(self);
            validate::check_consumed(&this.map, this.is_locked());
            // SAFETY: `this` is never used or dropped again.
            unsafe { std::ptr::read(&this.inner) }.into_inner()
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.into_inner()
        }
    }
}

/// Generates a blocking acquisition method and its `_nested` variant.
macro_rules! acquire_fn {
    ($(#[$doc:meta])* $name:ident, $nested:ident, $read:expr, $guard:ident, $plain:ident, $try_plain:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(&self) -> $guard<'_, T> {
            self.$nested(0)
        }

        /// The same, as nesting level `subclass` of the lock's class.
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $nested(&self, subclass: u32) -> $guard<'_, T> {
            #[cfg(feature = "check")]
            {
                validate::acquire(&self.map, subclass, $read, false, Location::caller());
                let inner = validate::lock_raw(&self.map, $read, || self.inner.$try_plain(), || self.inner.$plain());
                $guard {
                    inner,
                    map: &self.map,
                    _not_send: NotSend::MARK,
                }
            }
            #[cfg(not(feature = "check"))]
            {
                let _ = subclass;
                self.inner.$plain()
            }
        }
    };
}

/// Generates a trylock method.
macro_rules! try_fn {
    ($(#[$doc:meta])* $name:ident, $read:expr, $guard:ident, $plain:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(&self) -> Option<$guard<'_, T>> {
            #[cfg(feature = "check")]
            {
                let inner = self.inner.$plain()?;
                validate::acquire(&self.map, 0, $read, true, Location::caller());
                Some($guard {
                    inner,
                    map: &self.map,
                    _not_send: NotSend::MARK,
                })
            }
            #[cfg(not(feature = "check"))]
            {
                self.inner.$plain()
            }
        }
    };
}

impl<T: ?Sized> RwLock<T> {
    acquire_fn! {
        /// Takes the lock for reading as a non-recursive reader (it waits behind a queued
        /// writer, like `down_read`).
        read, read_nested, READ, RwLockReadGuard, read, try_read
    }
    acquire_fn! {
        /// Takes the lock for reading as a recursive reader: it never waits for a writer while
        /// the lock is read-held, so the same thread may take it again for reading.
        read_recursive, read_recursive_nested, READ_RECURSIVE, RwLockReadGuard, read_recursive, try_read_recursive
    }
    acquire_fn! {
        /// Takes the lock for writing.
        write, write_nested, WRITE, RwLockWriteGuard, write, try_write
    }
    try_fn! {
        /// Takes the lock for reading if that needs no waiting.
        try_read, READ, RwLockReadGuard, try_read
    }
    try_fn! {
        /// Takes the lock for reading, recursively, if that needs no waiting.
        try_read_recursive, READ_RECURSIVE, RwLockReadGuard, try_read_recursive
    }
    try_fn! {
        /// Takes the lock for writing if it is free.
        try_write, WRITE, RwLockWriteGuard, try_write
    }

    /// Whether anyone holds the lock right now.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// The value, through a unique borrow.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Releases a read lock without a guard. With `check`, releasing a lock this thread does
    /// not hold, or holds only for writing, is reported and the lock is left alone.
    ///
    /// # Safety
    /// The current thread must hold a read lock through a forgotten guard.
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_read(&self) {
        #[cfg(feature = "check")]
        if !validate::release_as(&self.map, READ, Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock_read() }
    }

    /// Releases a write lock without a guard. With `check`, releasing a lock this thread does
    /// not hold, or holds only for reading, is reported and the lock is left alone.
    ///
    /// # Safety
    /// The current thread must hold the write lock through a forgotten guard.
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_write(&self) {
        #[cfg(feature = "check")]
        if !validate::release_as(&self.map, WRITE, Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock_write() }
    }

    /// Whether the current thread holds this lock (in any mode) according to the validator.
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

crate::lockable::lockable_via_map!(RwLock);

#[cfg(feature = "check")]
impl<T: ?Sized> Drop for RwLock<T> {
    fn drop(&mut self) {
        validate::check_consumed(&self.map, self.is_locked());
    }
}

impl<T: Default> Default for RwLock<T> {
    #[cfg_attr(feature = "check", track_caller)]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}
