//! Guards that own an `Arc` of their lock (the `arc_lock` feature): `Mutex::lock_arc`,
//! `RwLock::read_arc`/`write_arc`/`upgradable_read_arc` and their `try_`/timed variants, with
//! the guard types `ArcMutexGuard<RawMutex, T>`, `ArcRwLockReadGuard<RawRwLock, T>`,
//! `ArcRwLockWriteGuard<RawRwLock, T>` and `ArcRwLockUpgradableReadGuard<RawRwLock, T>`, named
//! as in `parking_lot` (the raw type parameter is [`RawMutex`](crate::RawMutex) or
//! [`RawRwLock`](crate::RawRwLock)).
//!
//! With `check` off they are `lock_api`'s guards over the plain lock inside ours (our locks
//! are `repr(transparent)` over it then, so the `Arc` is reinterpreted, not copied), and
//! `ArcMutexGuard::mutex` returns that plain lock's `Arc`. With `check` on an acquisition is
//! the borrowed one (validated alike, recorded alike), and the guard then owns the `Arc`: each
//! of its functions rebuilds the borrowed guard for the span of the call, so they behave and
//! validate exactly as the borrowed guards' do. Like every guard here they are `!Send` with
//! `check`, so an `Arc` guard cannot be moved into another thread or a spawned task.
//!
//! Not offered: `Arc` guards of [`FairMutex`](crate::FairMutex) and
//! [`ReentrantMutex`](crate::ReentrantMutex), and `with_upgraded` and the timed upgrades on
//! `ArcRwLockUpgradableReadGuard` (absent with `check` on and off alike).

use super::{Mutex, RwLock};
#[cfg(feature = "check")]
use super::{MutexGuard, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
#[cfg(feature = "check")]
use crate::engine::validate;
#[cfg(feature = "check")]
use crate::sync::not_send::NotSend;
use crate::{RawMutex, RawRwLock};
#[cfg(feature = "check")]
use std::marker::PhantomData;
#[cfg(feature = "check")]
use std::mem::ManuallyDrop;
#[cfg(feature = "check")]
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(not(feature = "check"))]
mod plain {
    /// A guard owning an `Arc` of its mutex: with `check` off, `lock_api`'s.
    pub type ArcMutexGuard<R, T> = lock_api::ArcMutexGuard<R, T>;
    /// A read guard owning an `Arc` of its lock: with `check` off, `lock_api`'s.
    pub type ArcRwLockReadGuard<R, T> = lock_api::ArcRwLockReadGuard<R, T>;
    /// A write guard owning an `Arc` of its lock: with `check` off, `lock_api`'s.
    pub type ArcRwLockWriteGuard<R, T> = lock_api::ArcRwLockWriteGuard<R, T>;
    /// An upgradable read guard owning an `Arc` of its lock: with `check` off, `lock_api`'s.
    pub type ArcRwLockUpgradableReadGuard<R, T> = lock_api::ArcRwLockUpgradableReadGuard<R, T>;
}
#[cfg(not(feature = "check"))]
pub use plain::*;

/// The plain lock inside `lock`, in the same allocation.
#[cfg(not(feature = "check"))]
fn plain_arc<L: ?Sized, P: ?Sized>(lock: &Arc<L>, cast: impl FnOnce(*const L) -> *const P) -> Arc<P> {
    // SAFETY: `L` is `repr(transparent)` over `P` with `check` off (size, alignment and
    // metadata the same), which is what `Arc::from_raw` requires of a pointer from
    // `Arc::into_raw` of another type; the clone's count moves to the new `Arc`.
    unsafe { Arc::from_raw(cast(Arc::into_raw(lock.clone()))) }
}

/// Defines a guard `$name<R, T>` owning an `Arc<$lock<T>>` (with `check`), its `Deref`,
/// `Debug` and `Display`, and `$accessor` / `into_arc`.
#[cfg(feature = "check")]
macro_rules! arc_guard {
    ($(#[$doc:meta])* $name:ident, $lock:ident, $raw:ident, $accessor:ident { $($field:ident: $ty:ty),* }) => {
        $(#[$doc])*
        #[must_use = "if unused the lock is released at once"]
        pub struct $name<R, T: ?Sized> {
            lock: Arc<$lock<T>>,
            $($field: $ty,)*
            _raw: PhantomData<fn() -> R>,
            _not_send: NotSend,
        }

        impl<T: ?Sized> $name<$raw, T> {
            /// The lock this guard holds. With `check` off the guard is
            /// `parking_lot`'s, whose function returns the plain lock inside this one: the same address
            /// and every `parking_lot` method, but another type (so compare addresses, not references).
            #[inline]
            pub fn $accessor(s: &Self) -> &Arc<$lock<T>> {
                &s.lock
            }

            /// Takes the guard apart without releasing anything.
            #[inline]
            fn into_parts(s: Self) -> (Arc<$lock<T>>, $($ty,)*) {
                let s = ManuallyDrop::new(s);
                // SAFETY: `s` is never used or dropped again, so the `Arc` moves out once.
                (unsafe { std::ptr::read(&s.lock) }, $(s.$field,)*)
            }
        }

        impl<T: ?Sized> std::ops::Deref for $name<$raw, T> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                // SAFETY: the guard holds the lock, in a mode that allows shared access.
                unsafe { &*self.lock.data_ptr() }
            }
        }

        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $name<$raw, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                (**self).fmt(f)
            }
        }

        impl<T: ?Sized + std::fmt::Display> std::fmt::Display for $name<$raw, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                (**self).fmt(f)
            }
        }
    };
}

/// Forwards the release-for-a-while functions of an `Arc` guard to the borrowed guard
/// `$borrowed` rebuilt by `borrowed()`, kept in a `ManuallyDrop` so that an unwind out of `f`
/// leaves the release to the `Arc` guard's own drop.
#[cfg(feature = "check")]
macro_rules! arc_retake_fns {
    ($borrowed:ident) => {
        /// Releases the lock while `f` runs and takes it again afterwards, validated as the
        /// borrowed guard's `unlocked` is.
        #[track_caller]
        pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
            $borrowed::unlocked(&mut s.borrowed(), f)
        }

        /// Like [`unlocked`](Self::unlocked), handing the lock to a waiting thread first.
        #[track_caller]
        pub fn unlocked_fair<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
            $borrowed::unlocked_fair(&mut s.borrowed(), f)
        }

        /// Lets a waiting thread have the lock, then takes it again (validated as the
        /// borrowed guard's `bump`).
        #[track_caller]
        pub fn bump(s: &mut Self) {
            $borrowed::bump(&mut s.borrowed());
        }

        /// Releases the lock, handing it to a waiting thread if there is one.
        #[track_caller]
        pub fn unlock_fair(s: Self) {
            drop(Self::into_arc_fair(s));
        }
    };
}

#[cfg(feature = "check")]
arc_guard! {
    /// A guard owning an `Arc` of its [`Mutex`] (`Mutex::lock_arc`); `R` is [`RawMutex`].
    /// Validated as [`MutexGuard`]. Not `Send`.
    ArcMutexGuard, Mutex, RawMutex, mutex {}
}

#[cfg(feature = "check")]
arc_guard! {
    /// A read guard owning an `Arc` of its [`RwLock`]; `R` is [`RawRwLock`]. Not `Send`.
    ArcRwLockReadGuard, RwLock, RawRwLock, rwlock {}
}

#[cfg(feature = "check")]
arc_guard! {
    /// A write guard owning an `Arc` of its [`RwLock`]; `R` is [`RawRwLock`]. Not `Send`.
    ArcRwLockWriteGuard, RwLock, RawRwLock, rwlock { up: bool }
}

#[cfg(feature = "check")]
arc_guard! {
    /// An upgradable read guard owning an `Arc` of its [`RwLock`]; `R` is [`RawRwLock`]. Not
    /// `Send`.
    ArcRwLockUpgradableReadGuard, RwLock, RawRwLock, rwlock {}
}

/// Wraps a borrowed guard just taken through `$arc_self` (an `&Arc` of its lock) into the `Arc`
/// guard `$guard` (with `check`), or takes the plain `Arc` guard with `$plain` (without).
macro_rules! arc_acquire {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $guard:ident<$raw:ident>, $borrowed:ident, $plain:ident, $plain_lock:ty) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(self: &Arc<Self>, $($arg: $ty),*) -> $guard<$raw, T> {
            #[cfg(feature = "check")]
            {
                let held = self.$borrowed($($arg),*);
                $guard::held(self.clone(), held)
            }
            #[cfg(not(feature = "check"))]
            {
                plain_arc(self, |p| p as *const $plain_lock).$plain($($arg),*)
            }
        }
    };
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> Option<$guard:ident<$raw:ident>>, $borrowed:ident, $plain:ident, $plain_lock:ty) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(self: &Arc<Self>, $($arg: $ty),*) -> Option<$guard<$raw, T>> {
            #[cfg(feature = "check")]
            {
                let held = self.$borrowed($($arg),*)?;
                Some($guard::held(self.clone(), held))
            }
            #[cfg(not(feature = "check"))]
            {
                plain_arc(self, |p| p as *const $plain_lock).$plain($($arg),*)
            }
        }
    };
}

impl<T: ?Sized> Mutex<T> {
    arc_acquire! {
        /// [`lock`](Self::lock), with a guard that owns an `Arc` of the lock.
        lock_arc() -> ArcMutexGuard<RawMutex>, lock, lock_arc, parking_lot::Mutex<T>
    }
    arc_acquire! {
        /// [`try_lock`](Self::try_lock), with a guard that owns an `Arc` of the lock.
        try_lock_arc() -> Option<ArcMutexGuard<RawMutex>>, try_lock, try_lock_arc, parking_lot::Mutex<T>
    }
    arc_acquire! {
        /// [`try_lock_for`](Self::try_lock_for), with a guard that owns an `Arc` of the lock.
        try_lock_arc_for(timeout: Duration) -> Option<ArcMutexGuard<RawMutex>>, try_lock_for, try_lock_arc_for, parking_lot::Mutex<T>
    }
    arc_acquire! {
        /// [`try_lock_until`](Self::try_lock_until), with a guard that owns an `Arc` of the lock.
        try_lock_arc_until(deadline: Instant) -> Option<ArcMutexGuard<RawMutex>>, try_lock_until, try_lock_arc_until, parking_lot::Mutex<T>
    }
}

impl<T: ?Sized> RwLock<T> {
    arc_acquire! {
        /// [`read`](Self::read), with a guard that owns an `Arc` of the lock.
        read_arc() -> ArcRwLockReadGuard<RawRwLock>, read, read_arc, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_read`](Self::try_read), with a guard that owns an `Arc` of the lock.
        try_read_arc() -> Option<ArcRwLockReadGuard<RawRwLock>>, try_read, try_read_arc, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_read_for`](Self::try_read_for), with a guard that owns an `Arc` of the lock.
        try_read_arc_for(timeout: Duration) -> Option<ArcRwLockReadGuard<RawRwLock>>, try_read_for, try_read_arc_for, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_read_until`](Self::try_read_until), with a guard that owns an `Arc` of the lock.
        try_read_arc_until(deadline: Instant) -> Option<ArcRwLockReadGuard<RawRwLock>>, try_read_until, try_read_arc_until, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`read_recursive`](Self::read_recursive), with a guard that owns an `Arc` of the lock.
        read_arc_recursive() -> ArcRwLockReadGuard<RawRwLock>, read_recursive, read_arc_recursive, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_read_recursive`](Self::try_read_recursive), with a guard that owns an `Arc` of
        /// the lock.
        try_read_recursive_arc() -> Option<ArcRwLockReadGuard<RawRwLock>>, try_read_recursive, try_read_recursive_arc, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`write`](Self::write), with a guard that owns an `Arc` of the lock.
        write_arc() -> ArcRwLockWriteGuard<RawRwLock>, write, write_arc, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_write`](Self::try_write), with a guard that owns an `Arc` of the lock.
        try_write_arc() -> Option<ArcRwLockWriteGuard<RawRwLock>>, try_write, try_write_arc, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_write_for`](Self::try_write_for), with a guard that owns an `Arc` of the lock.
        try_write_arc_for(timeout: Duration) -> Option<ArcRwLockWriteGuard<RawRwLock>>, try_write_for, try_write_arc_for, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_write_until`](Self::try_write_until), with a guard that owns an `Arc` of the
        /// lock.
        try_write_arc_until(deadline: Instant) -> Option<ArcRwLockWriteGuard<RawRwLock>>, try_write_until, try_write_arc_until, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`upgradable_read`](Self::upgradable_read), with a guard that owns an `Arc` of the
        /// lock.
        upgradable_read_arc() -> ArcRwLockUpgradableReadGuard<RawRwLock>, upgradable_read, upgradable_read_arc, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_upgradable_read`](Self::try_upgradable_read), with a guard that owns an `Arc` of
        /// the lock.
        try_upgradable_read_arc() -> Option<ArcRwLockUpgradableReadGuard<RawRwLock>>, try_upgradable_read, try_upgradable_read_arc, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_upgradable_read_for`](Self::try_upgradable_read_for), with a guard that owns an
        /// `Arc` of the lock.
        try_upgradable_read_arc_for(timeout: Duration) -> Option<ArcRwLockUpgradableReadGuard<RawRwLock>>, try_upgradable_read_for, try_upgradable_read_arc_for, parking_lot::RwLock<T>
    }
    arc_acquire! {
        /// [`try_upgradable_read_until`](Self::try_upgradable_read_until), with a guard that owns
        /// an `Arc` of the lock.
        try_upgradable_read_arc_until(deadline: Instant) -> Option<ArcRwLockUpgradableReadGuard<RawRwLock>>, try_upgradable_read_until, try_upgradable_read_arc_until, parking_lot::RwLock<T>
    }
}

#[cfg(feature = "check")]
impl<T: ?Sized> ArcMutexGuard<RawMutex, T> {
    /// Takes over the hold of `held`, a guard of `lock`.
    fn held(lock: Arc<Mutex<T>>, held: MutexGuard<'_, T>) -> Self {
        std::mem::forget(held);
        ArcMutexGuard {
            lock,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }

    /// The borrowed guard of this hold, for the span of one call.
    fn borrowed(&self) -> ManuallyDrop<MutexGuard<'_, T>> {
        ManuallyDrop::new(MutexGuard {
            // SAFETY: this guard holds the lock.
            inner: unsafe { self.lock.inner.make_guard_unchecked() },
            lock: &self.lock,
            _not_send: NotSend::MARK,
        })
    }

    arc_retake_fns!(MutexGuard);

    /// Releases the lock and returns the `Arc` it was held through.
    #[track_caller]
    pub fn into_arc(s: Self) -> Arc<Mutex<T>> {
        let (lock,) = Self::into_parts(s);
        validate::release(&lock.map, Location::caller());
        // SAFETY: the guard held the lock; it is gone.
        unsafe { lock.inner.force_unlock() };
        lock
    }

    /// [`into_arc`](Self::into_arc), handing the lock to a waiting thread if there is one.
    #[track_caller]
    pub fn into_arc_fair(s: Self) -> Arc<Mutex<T>> {
        let (lock,) = Self::into_parts(s);
        validate::release(&lock.map, Location::caller());
        // SAFETY: the guard held the lock; it is gone.
        unsafe { lock.inner.force_unlock_fair() };
        lock
    }
}

#[cfg(feature = "check")]
impl<T: ?Sized> std::ops::DerefMut for ArcMutexGuard<RawMutex, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively.
        unsafe { &mut *self.lock.data_ptr() }
    }
}

#[cfg(feature = "check")]
impl<R, T: ?Sized> Drop for ArcMutexGuard<R, T> {
    fn drop(&mut self) {
        validate::release(&self.lock.map, Location::caller());
        // SAFETY: the guard holds the lock and is going.
        unsafe { self.lock.inner.force_unlock() }
    }
}

#[cfg(feature = "check")]
impl<T: ?Sized> ArcRwLockReadGuard<RawRwLock, T> {
    /// Takes over the hold of `held`, a guard of `lock`.
    fn held(lock: Arc<RwLock<T>>, held: RwLockReadGuard<'_, T>) -> Self {
        std::mem::forget(held);
        ArcRwLockReadGuard {
            lock,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }

    /// The borrowed guard of this hold, for the span of one call.
    fn borrowed(&self) -> ManuallyDrop<RwLockReadGuard<'_, T>> {
        // SAFETY: this guard holds a read lock.
        ManuallyDrop::new(RwLockReadGuard::new(
            unsafe { self.lock.inner.make_read_guard_unchecked() },
            &self.lock,
        ))
    }

    arc_retake_fns!(RwLockReadGuard);

    /// Releases the lock and returns the `Arc` it was held through.
    #[track_caller]
    pub fn into_arc(s: Self) -> Arc<RwLock<T>> {
        let (lock,) = Self::into_parts(s);
        validate::release(&lock.map, Location::caller());
        // SAFETY: the guard held a read lock; it is gone.
        unsafe { lock.inner.force_unlock_read() };
        lock
    }

    /// [`into_arc`](Self::into_arc), handing the lock to a waiting thread if there is one.
    #[track_caller]
    pub fn into_arc_fair(s: Self) -> Arc<RwLock<T>> {
        let (lock,) = Self::into_parts(s);
        validate::release(&lock.map, Location::caller());
        // SAFETY: the guard held a read lock; it is gone.
        unsafe { lock.inner.force_unlock_read_fair() };
        lock
    }
}

#[cfg(feature = "check")]
impl<R, T: ?Sized> Drop for ArcRwLockReadGuard<R, T> {
    fn drop(&mut self) {
        validate::release(&self.lock.map, Location::caller());
        // SAFETY: the guard holds a read lock and is going.
        unsafe { self.lock.inner.force_unlock_read() }
    }
}

/// A borrowed write guard of `lock`, which the caller holds for writing (`up`: with the
/// companion class).
#[cfg(feature = "check")]
fn write_guard<T: ?Sized>(lock: &RwLock<T>, up: bool) -> ManuallyDrop<RwLockWriteGuard<'_, T>> {
    // SAFETY: the caller holds the write lock.
    ManuallyDrop::new(RwLockWriteGuard::new(
        unsafe { lock.inner.make_write_guard_unchecked() },
        lock,
        up,
    ))
}

/// A borrowed upgradable read guard of `lock`, which the caller holds so.
#[cfg(feature = "check")]
fn upgradable_guard<T: ?Sized>(lock: &RwLock<T>) -> ManuallyDrop<RwLockUpgradableReadGuard<'_, T>> {
    // SAFETY: the caller holds the upgradable read.
    ManuallyDrop::new(RwLockUpgradableReadGuard::new(
        unsafe { lock.inner.make_upgradable_guard_unchecked() },
        lock,
    ))
}

#[cfg(feature = "check")]
impl<T: ?Sized> ArcRwLockWriteGuard<RawRwLock, T> {
    /// Takes over the hold of `held`, a guard of `lock`.
    fn held(lock: Arc<RwLock<T>>, held: RwLockWriteGuard<'_, T>) -> Self {
        let up = RwLockWriteGuard::into_held(held);
        ArcRwLockWriteGuard {
            lock,
            up,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }

    /// The borrowed guard of this hold, for the span of one call.
    fn borrowed(&self) -> ManuallyDrop<RwLockWriteGuard<'_, T>> {
        write_guard(&self.lock, self.up)
    }

    arc_retake_fns!(RwLockWriteGuard);

    /// Releases the lock and returns the `Arc` it was held through.
    #[track_caller]
    pub fn into_arc(s: Self) -> Arc<RwLock<T>> {
        let (lock, up) = Self::into_parts(s);
        drop(ManuallyDrop::into_inner(write_guard(&lock, up)));
        lock
    }

    /// [`into_arc`](Self::into_arc), handing the lock to a waiting thread if there is one.
    #[track_caller]
    pub fn into_arc_fair(s: Self) -> Arc<RwLock<T>> {
        let (lock, up) = Self::into_parts(s);
        RwLockWriteGuard::unlock_fair(ManuallyDrop::into_inner(write_guard(&lock, up)));
        lock
    }

    /// Turns the write lock into a read lock without letting a writer in between (validated
    /// as [`RwLockWriteGuard::downgrade`]).
    #[track_caller]
    pub fn downgrade(s: Self) -> ArcRwLockReadGuard<RawRwLock, T> {
        let (lock, up) = Self::into_parts(s);
        let read = RwLockWriteGuard::downgrade(ManuallyDrop::into_inner(write_guard(&lock, up)));
        std::mem::forget(read);
        ArcRwLockReadGuard {
            lock,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }

    /// Turns the write lock into an upgradable read without letting a writer in between
    /// (validated as [`RwLockWriteGuard::downgrade_to_upgradable`]).
    #[track_caller]
    pub fn downgrade_to_upgradable(s: Self) -> ArcRwLockUpgradableReadGuard<RawRwLock, T> {
        let (lock, up) = Self::into_parts(s);
        let upgradable =
            RwLockWriteGuard::downgrade_to_upgradable(ManuallyDrop::into_inner(write_guard(&lock, up)));
        std::mem::forget(upgradable);
        ArcRwLockUpgradableReadGuard {
            lock,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }
}

#[cfg(feature = "check")]
impl<T: ?Sized> std::ops::DerefMut for ArcRwLockWriteGuard<RawRwLock, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the write lock.
        unsafe { &mut *self.lock.data_ptr() }
    }
}

#[cfg(feature = "check")]
impl<R, T: ?Sized> Drop for ArcRwLockWriteGuard<R, T> {
    fn drop(&mut self) {
        drop(ManuallyDrop::into_inner(write_guard(&self.lock, self.up)));
    }
}

#[cfg(feature = "check")]
impl<T: ?Sized> ArcRwLockUpgradableReadGuard<RawRwLock, T> {
    /// Takes over the hold of `held`, a guard of `lock`.
    fn held(lock: Arc<RwLock<T>>, held: RwLockUpgradableReadGuard<'_, T>) -> Self {
        std::mem::forget(held);
        ArcRwLockUpgradableReadGuard {
            lock,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }

    /// The borrowed guard of this hold, for the span of one call.
    fn borrowed(&self) -> ManuallyDrop<RwLockUpgradableReadGuard<'_, T>> {
        upgradable_guard(&self.lock)
    }

    arc_retake_fns!(RwLockUpgradableReadGuard);

    /// Releases the lock and returns the `Arc` it was held through.
    #[track_caller]
    pub fn into_arc(s: Self) -> Arc<RwLock<T>> {
        let (lock,) = Self::into_parts(s);
        drop(ManuallyDrop::into_inner(upgradable_guard(&lock)));
        lock
    }

    /// [`into_arc`](Self::into_arc), handing the lock to a waiting thread if there is one.
    #[track_caller]
    pub fn into_arc_fair(s: Self) -> Arc<RwLock<T>> {
        let (lock,) = Self::into_parts(s);
        RwLockUpgradableReadGuard::unlock_fair(ManuallyDrop::into_inner(upgradable_guard(&lock)));
        lock
    }

    /// Waits for the readers to leave and takes the write lock (validated as
    /// [`RwLockUpgradableReadGuard::upgrade`]).
    #[track_caller]
    pub fn upgrade(s: Self) -> ArcRwLockWriteGuard<RawRwLock, T> {
        let (lock,) = Self::into_parts(s);
        let write = RwLockUpgradableReadGuard::upgrade(ManuallyDrop::into_inner(upgradable_guard(&lock)));
        let up = RwLockWriteGuard::into_held(write);
        ArcRwLockWriteGuard {
            lock,
            up,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }

    /// Takes the write lock if no reader holds the lock; otherwise the guard comes back.
    #[track_caller]
    pub fn try_upgrade(s: Self) -> Result<ArcRwLockWriteGuard<RawRwLock, T>, Self> {
        let (lock,) = Self::into_parts(s);
        // `Some(up)` if upgraded; the borrowed guards are forgotten before `lock` moves on.
        let upgraded =
            match RwLockUpgradableReadGuard::try_upgrade(ManuallyDrop::into_inner(upgradable_guard(&lock))) {
                Ok(write) => Some(RwLockWriteGuard::into_held(write)),
                Err(upgradable) => {
                    std::mem::forget(upgradable);
                    None
                }
            };
        match upgraded {
            Some(up) => Ok(ArcRwLockWriteGuard {
                lock,
                up,
                _raw: PhantomData,
                _not_send: NotSend::MARK,
            }),
            None => Err(ArcRwLockUpgradableReadGuard {
                lock,
                _raw: PhantomData,
                _not_send: NotSend::MARK,
            }),
        }
    }

    /// Turns the upgradable read into a read without letting a writer in between (validated
    /// as [`RwLockUpgradableReadGuard::downgrade`]).
    #[track_caller]
    pub fn downgrade(s: Self) -> ArcRwLockReadGuard<RawRwLock, T> {
        let (lock,) = Self::into_parts(s);
        let read = RwLockUpgradableReadGuard::downgrade(ManuallyDrop::into_inner(upgradable_guard(&lock)));
        std::mem::forget(read);
        ArcRwLockReadGuard {
            lock,
            _raw: PhantomData,
            _not_send: NotSend::MARK,
        }
    }
}

#[cfg(feature = "check")]
impl<R, T: ?Sized> Drop for ArcRwLockUpgradableReadGuard<R, T> {
    fn drop(&mut self) {
        drop(ManuallyDrop::into_inner(upgradable_guard(&self.lock)));
    }
}
