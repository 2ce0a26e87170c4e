//! The guards of [`RwLock`](crate::RwLock): read, write, upgradable read, and the mapped read
//! and write guards, with `parking_lot`'s associated functions on each.
//!
//! With `check` off they are the plain `parking_lot` guards. With it on they are this crate's,
//! with the same names and signatures; each keeps the validator's record of its hold, and the
//! write guard also knows whether its writer holds the lock's companion class (see "Upgradable
//! reads" in `rwlock`). `unlocked`/`bump` release and re-take as `retake` describes;
//! `map`/`try_map` move the hold into the mapped guard.

#[cfg(not(feature = "check"))]
mod plain {
    /// A read guard: with the `check` feature off, the plain lock's guard.
    pub type RwLockReadGuard<'a, T> = parking_lot::RwLockReadGuard<'a, T>;
    /// A write guard: with the `check` feature off, the plain lock's guard.
    pub type RwLockWriteGuard<'a, T> = parking_lot::RwLockWriteGuard<'a, T>;
    /// An upgradable read guard: with the `check` feature off, the plain lock's guard.
    pub type RwLockUpgradableReadGuard<'a, T> = parking_lot::RwLockUpgradableReadGuard<'a, T>;
    /// A mapped read guard: with the `check` feature off, the plain lock's guard.
    pub type MappedRwLockReadGuard<'a, T> = parking_lot::MappedRwLockReadGuard<'a, T>;
    /// A mapped write guard: with the `check` feature off, the plain lock's guard.
    pub type MappedRwLockWriteGuard<'a, T> = parking_lot::MappedRwLockWriteGuard<'a, T>;
}

#[cfg(not(feature = "check"))]
pub use plain::*;

#[cfg(feature = "check")]
pub use checked::*;

#[cfg(feature = "check")]
mod checked {
    use crate::engine::held::{READ, WRITE};
    use crate::engine::{validate, DepMap};
    use crate::sync::not_send::NotSend;
    use crate::sync::retake::Retake;
    use crate::RwLock;
    use parking_lot as pl;
    use std::mem::ManuallyDrop;
    use std::panic::Location;
    use std::time::{Duration, Instant};

    /// Releases the validator's record of a hold when dropped (a write taken for the span of a
    /// closure, or a companion to give up if an upgrade unwinds).
    struct ReleaseOnDrop<'a>(&'a DepMap, &'static Location<'static>);

    impl Drop for ReleaseOnDrop<'_> {
        fn drop(&mut self) {
            validate::release(self.0, self.1);
        }
    }

    /// A read guard; the read lock is released when it is dropped. Not `Send`: the thread
    /// that took the lock releases it.
    #[must_use = "if unused the lock is released at once"]
    pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
        inner: pl::RwLockReadGuard<'a, T>,
        lock: &'a RwLock<T>,
        _not_send: NotSend,
    }

    /// A write guard; the write lock is released when it is dropped. Not `Send`: the thread
    /// that took the lock releases it.
    #[must_use = "if unused the lock is released at once"]
    pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
        inner: pl::RwLockWriteGuard<'a, T>,
        lock: &'a RwLock<T>,
        /// The writer holds the lock's companion (upgradable-slot) class too.
        up: bool,
        _not_send: NotSend,
    }

    /// An upgradable read guard: shared with readers, exclusive against writers and other
    /// upgradable readers; released when dropped. Not `Send`.
    #[must_use = "if unused the lock is released at once"]
    pub struct RwLockUpgradableReadGuard<'a, T: ?Sized + 'a> {
        inner: pl::RwLockUpgradableReadGuard<'a, T>,
        lock: &'a RwLock<T>,
        _not_send: NotSend,
    }

    /// A read guard for part of the value (`RwLockReadGuard::map`). Not `Send`.
    #[must_use = "if unused the lock is released at once"]
    pub struct MappedRwLockReadGuard<'a, T: ?Sized + 'a> {
        inner: pl::MappedRwLockReadGuard<'a, T>,
        map: &'a DepMap,
        _not_send: NotSend,
    }

    /// A write guard for part of the value (`RwLockWriteGuard::map`). Not `Send`.
    #[must_use = "if unused the lock is released at once"]
    pub struct MappedRwLockWriteGuard<'a, T: ?Sized + 'a> {
        inner: pl::MappedRwLockWriteGuard<'a, T>,
        map: &'a DepMap,
        /// The companion class the writer holds, if it does.
        up: Option<&'a DepMap>,
        _not_send: NotSend,
    }

    impl<'a, T: ?Sized + 'a> RwLockReadGuard<'a, T> {
        #[inline]
        pub(crate) fn new(inner: pl::RwLockReadGuard<'a, T>, lock: &'a RwLock<T>) -> Self {
            RwLockReadGuard {
                inner,
                lock,
                _not_send: NotSend::MARK,
            }
        }

        #[inline]
        fn into_parts(s: Self) -> (pl::RwLockReadGuard<'a, T>, &'a RwLock<T>) {
            let s = ManuallyDrop::new(s);
            // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
            (unsafe { std::ptr::read(&s.inner) }, s.lock)
        }

        /// The lock this guard holds. With `check` off the guard is
        /// `parking_lot`'s, whose function returns the plain lock inside this one: the same address
        /// and every `parking_lot` method, but another type (so compare addresses, not references).
        #[inline]
        pub fn rwlock(s: &Self) -> &'a RwLock<T> {
            s.lock
        }

        #[inline]
        fn from_parts(inner: pl::RwLockReadGuard<'a, T>, lock: &'a RwLock<T>) -> Self {
            Self::new(inner, lock)
        }

        #[inline]
        fn to_mapped(lock: &'a RwLock<T>) -> &'a DepMap {
            &lock.map
        }

        map_fns!(pl::RwLockReadGuard, MappedRwLockReadGuard, [], try_map_or_err);

        retake_fns!(pl::RwLockReadGuard, map, "read lock");
    }

    impl<'a, T: ?Sized + 'a> RwLockWriteGuard<'a, T> {
        #[inline]
        pub(crate) fn new(inner: pl::RwLockWriteGuard<'a, T>, lock: &'a RwLock<T>, up: bool) -> Self {
            RwLockWriteGuard {
                inner,
                lock,
                up,
                _not_send: NotSend::MARK,
            }
        }

        #[inline]
        fn into_parts(s: Self) -> (pl::RwLockWriteGuard<'a, T>, (&'a RwLock<T>, bool)) {
            let s = ManuallyDrop::new(s);
            // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
            (unsafe { std::ptr::read(&s.inner) }, (s.lock, s.up))
        }

        /// The lock this guard holds. With `check` off the guard is
        /// `parking_lot`'s, whose function returns the plain lock inside this one: the same address
        /// and every `parking_lot` method, but another type (so compare addresses, not references).
        #[inline]
        pub fn rwlock(s: &Self) -> &'a RwLock<T> {
            s.lock
        }

        /// Forgets the guard, keeping the lock and its records held (for an `Arc` guard to
        /// take over); returns whether the writer holds the companion class.
        #[cfg(feature = "arc_lock")]
        #[inline]
        pub(crate) fn into_held(s: Self) -> bool {
            let s = ManuallyDrop::new(s);
            s.up
        }

        #[inline]
        fn from_parts(inner: pl::RwLockWriteGuard<'a, T>, (lock, up): (&'a RwLock<T>, bool)) -> Self {
            Self::new(inner, lock, up)
        }

        #[inline]
        fn to_mapped((lock, up): (&'a RwLock<T>, bool)) -> (&'a DepMap, Option<&'a DepMap>) {
            (&lock.map, up.then_some(&lock.up))
        }

        map_fns!(pl::RwLockWriteGuard, MappedRwLockWriteGuard, [mut], try_map_or_err);

        /// Releases the write lock while `f` runs and takes it again afterwards (also if `f`
        /// panics); the re-acquisition is validated on top of what the thread then holds.
        #[track_caller]
        pub fn unlocked<F, U>(s: &mut Self, f: F) -> U
        where
            F: FnOnce() -> U,
        {
            let loc = Location::caller();
            let this: &Self = s;
            let held = this.retake_parts();
            pl::RwLockWriteGuard::unlocked(&mut s.inner, || {
                let _retake = held.release(loc);
                f()
            })
        }

        /// Like [`unlocked`](Self::unlocked), handing the lock to a waiting thread first.
        #[track_caller]
        pub fn unlocked_fair<F, U>(s: &mut Self, f: F) -> U
        where
            F: FnOnce() -> U,
        {
            let loc = Location::caller();
            let this: &Self = s;
            let held = this.retake_parts();
            pl::RwLockWriteGuard::unlocked_fair(&mut s.inner, || {
                let _retake = held.release(loc);
                f()
            })
        }

        /// The holds to release and re-take, without borrowing the guard.
        fn retake_parts(&self) -> WriteHolds<'a> {
            WriteHolds {
                map: &self.lock.map,
                up: self.up.then_some(&self.lock.up),
            }
        }

        /// Releases the write lock, handing it to a waiting thread if there is one.
        #[track_caller]
        #[inline]
        pub fn unlock_fair(s: Self) {
            let (inner, (lock, up)) = Self::into_parts(s);
            let loc = Location::caller();
            validate::release(&lock.map, loc);
            if up {
                validate::release(&lock.up, loc);
            }
            pl::RwLockWriteGuard::unlock_fair(inner);
        }

        /// Lets a waiting thread have the lock, then takes it again: validated as a release
        /// and a blocking re-acquisition on top of what the thread holds.
        #[track_caller]
        pub fn bump(s: &mut Self) {
            drop(s.retake_parts().release(Location::caller()));
            pl::RwLockWriteGuard::bump(&mut s.inner);
        }

        /// Turns the write lock into a (non-recursive) read lock without letting a writer in
        /// between (the kernel's `downgrade_write`); a companion the writer held is released.
        #[track_caller]
        pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
            let (inner, (lock, up)) = Self::into_parts(s);
            validate::downgrade(&lock.map);
            if up {
                validate::release(&lock.up, Location::caller());
            }
            RwLockReadGuard::new(pl::RwLockWriteGuard::downgrade(inner), lock)
        }

        /// Turns the write lock into an upgradable read without letting a writer in between:
        /// the write hold goes, the companion class stays (or is taken, without waiting: the
        /// writer excluded every other holder of it).
        #[track_caller]
        pub fn downgrade_to_upgradable(s: Self) -> RwLockUpgradableReadGuard<'a, T> {
            let (inner, (lock, up)) = Self::into_parts(s);
            let loc = Location::caller();
            validate::release(&lock.map, loc);
            if !up {
                lock.note_upgradable();
                validate::acquire(&lock.up, 0, WRITE, true, loc);
            }
            RwLockUpgradableReadGuard::new(pl::RwLockWriteGuard::downgrade_to_upgradable(inner), lock)
        }
    }

    /// The holds of a write guard, to release and re-take around `unlocked`.
    #[derive(Clone, Copy)]
    struct WriteHolds<'a> {
        map: &'a DepMap,
        up: Option<&'a DepMap>,
    }

    impl<'a> WriteHolds<'a> {
        /// Releases them; dropping the result re-takes them.
        fn release(self, loc: &'static Location<'static>) -> WriteRetake<'a> {
            let write = Retake::release(self.map, loc);
            let up = self.up.map(|up| Retake::release(up, loc));
            WriteRetake {
                _up: up,
                _write: write,
            }
        }
    }

    /// Released write holds; dropped, they are taken again in a writer's order: the companion
    /// first (fields drop in declaration order), so a re-take orders nothing the other way.
    struct WriteRetake<'a> {
        _up: Option<Retake<'a>>,
        _write: Retake<'a>,
    }

    impl<'a, T: ?Sized + 'a> RwLockUpgradableReadGuard<'a, T> {
        #[inline]
        pub(crate) fn new(inner: pl::RwLockUpgradableReadGuard<'a, T>, lock: &'a RwLock<T>) -> Self {
            RwLockUpgradableReadGuard {
                inner,
                lock,
                _not_send: NotSend::MARK,
            }
        }

        #[inline]
        fn into_parts(s: Self) -> (pl::RwLockUpgradableReadGuard<'a, T>, &'a RwLock<T>) {
            let s = ManuallyDrop::new(s);
            // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
            (unsafe { std::ptr::read(&s.inner) }, s.lock)
        }

        /// The lock this guard holds. With `check` off the guard is
        /// `parking_lot`'s, whose function returns the plain lock inside this one: the same address
        /// and every `parking_lot` method, but another type (so compare addresses, not references).
        #[inline]
        pub fn rwlock(s: &Self) -> &'a RwLock<T> {
            s.lock
        }

        retake_fns!(pl::RwLockUpgradableReadGuard, up, "upgradable read");

        /// Waits for the readers to leave and turns the upgradable read into a write lock:
        /// validated as a blocking write acquisition of the lock on top of what the thread
        /// holds (the companion class stays held, as for any writer).
        ///
        /// # Panics
        /// With `check`, when this thread also holds a read of the lock: the upgrade would
        /// wait for itself, so it is reported, then panics instead.
        #[track_caller]
        pub fn upgrade(s: Self) -> RwLockWriteGuard<'a, T> {
            let (inner, lock) = Self::into_parts(s);
            let loc = Location::caller();
            // Should the self-deadlock check panic, the upgradable read (plain and recorded)
            // is released as the guard's drop would.
            let companion = ReleaseOnDrop(&lock.up, loc);
            validate::acquire(&lock.map, 0, WRITE, false, loc);
            let write = match pl::RwLockUpgradableReadGuard::try_upgrade(inner) {
                Ok(write) => write,
                Err(inner) => {
                    validate::contended(&lock.map, lock.map.instance(), WRITE, loc);
                    pl::RwLockUpgradableReadGuard::upgrade(inner)
                }
            };
            std::mem::forget(companion);
            RwLockWriteGuard::new(write, lock, true)
        }

        /// Turns the upgradable read into a write lock if no reader holds the lock; otherwise
        /// the guard comes back. A trylock: it waits for nobody.
        #[track_caller]
        pub fn try_upgrade(s: Self) -> Result<RwLockWriteGuard<'a, T>, Self> {
            let (inner, lock) = Self::into_parts(s);
            match pl::RwLockUpgradableReadGuard::try_upgrade(inner) {
                Ok(write) => {
                    validate::acquire(&lock.map, 0, WRITE, true, Location::caller());
                    Ok(RwLockWriteGuard::new(write, lock, true))
                }
                Err(inner) => Err(Self::new(inner, lock)),
            }
        }

        /// Like [`upgrade`](Self::upgrade), waiting at most `timeout`: validated as the upgrade
        /// is, with a bounded wait; on timeout the guard comes back.
        #[track_caller]
        pub fn try_upgrade_for(s: Self, timeout: Duration) -> Result<RwLockWriteGuard<'a, T>, Self> {
            let (inner, lock) = Self::into_parts(s);
            let loc = Location::caller();
            crate::sync::timed::acquire_timed(&lock.map, WRITE, loc);
            match pl::RwLockUpgradableReadGuard::try_upgrade_for(inner, timeout) {
                Ok(write) => Ok(RwLockWriteGuard::new(write, lock, true)),
                Err(inner) => {
                    validate::release(&lock.map, loc);
                    Err(Self::new(inner, lock))
                }
            }
        }

        /// Like [`upgrade`](Self::upgrade), waiting until `deadline` at most.
        #[track_caller]
        pub fn try_upgrade_until(s: Self, deadline: Instant) -> Result<RwLockWriteGuard<'a, T>, Self> {
            let (inner, lock) = Self::into_parts(s);
            let loc = Location::caller();
            crate::sync::timed::acquire_timed(&lock.map, WRITE, loc);
            match pl::RwLockUpgradableReadGuard::try_upgrade_until(inner, deadline) {
                Ok(write) => Ok(RwLockWriteGuard::new(write, lock, true)),
                Err(inner) => {
                    validate::release(&lock.map, loc);
                    Err(Self::new(inner, lock))
                }
            }
        }

        /// Turns the upgradable read into a plain (non-recursive) read without letting a writer
        /// in between: the companion class goes, and a read is held, taken without waiting.
        #[track_caller]
        pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
            let (inner, lock) = Self::into_parts(s);
            let loc = Location::caller();
            validate::release(&lock.up, loc);
            validate::acquire(&lock.map, 0, READ, true, loc);
            RwLockReadGuard::new(pl::RwLockUpgradableReadGuard::downgrade(inner), lock)
        }

        /// Upgrades for the span of `f` and downgrades back: validated as
        /// [`upgrade`](Self::upgrade), the write hold lasting while `f` runs.
        #[track_caller]
        pub fn with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Ret {
            let (map, loc) = (&self.lock.map, Location::caller());
            validate::acquire(map, 0, WRITE, false, loc);
            self.inner.with_upgraded(|data| {
                let _write = ReleaseOnDrop(map, loc);
                f(data)
            })
        }

        /// Like [`with_upgraded`](Self::with_upgraded) if no reader holds the lock (`None`
        /// otherwise, without running `f`); a trylock.
        #[track_caller]
        pub fn try_with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Option<Ret> {
            let (map, loc) = (&self.lock.map, Location::caller());
            self.inner.try_with_upgraded(|data| {
                validate::acquire(map, 0, WRITE, true, loc);
                let _write = ReleaseOnDrop(map, loc);
                f(data)
            })
        }

        /// Like [`with_upgraded`](Self::with_upgraded), waiting at most `timeout` for the
        /// readers (`None` if it timed out); a bounded wait.
        #[track_caller]
        pub fn try_with_upgraded_for<Ret, F: FnOnce(&mut T) -> Ret>(
            &mut self,
            timeout: Duration,
            f: F,
        ) -> Option<Ret> {
            let (map, loc) = (&self.lock.map, Location::caller());
            crate::sync::timed::acquire_timed(map, WRITE, loc);
            let r = self.inner.try_with_upgraded_for(timeout, |data| {
                let _write = ReleaseOnDrop(map, loc);
                f(data)
            });
            if r.is_none() {
                validate::release(map, loc);
            }
            r
        }

        /// Like [`with_upgraded`](Self::with_upgraded), waiting until `deadline` at most.
        #[track_caller]
        pub fn try_with_upgraded_until<Ret, F: FnOnce(&mut T) -> Ret>(
            &mut self,
            deadline: Instant,
            f: F,
        ) -> Option<Ret> {
            let (map, loc) = (&self.lock.map, Location::caller());
            crate::sync::timed::acquire_timed(map, WRITE, loc);
            let r = self.inner.try_with_upgraded_until(deadline, |data| {
                let _write = ReleaseOnDrop(map, loc);
                f(data)
            });
            if r.is_none() {
                validate::release(map, loc);
            }
            r
        }
    }

    impl<'a, T: ?Sized + 'a> MappedRwLockReadGuard<'a, T> {
        #[inline]
        fn into_parts(s: Self) -> (pl::MappedRwLockReadGuard<'a, T>, &'a DepMap) {
            let s = ManuallyDrop::new(s);
            // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
            (unsafe { std::ptr::read(&s.inner) }, s.map)
        }

        #[inline]
        fn from_parts(inner: pl::MappedRwLockReadGuard<'a, T>, map: &'a DepMap) -> Self {
            MappedRwLockReadGuard {
                inner,
                map,
                _not_send: NotSend::MARK,
            }
        }

        #[inline]
        fn to_mapped(map: &'a DepMap) -> &'a DepMap {
            map
        }

        map_fns!(
            pl::MappedRwLockReadGuard,
            MappedRwLockReadGuard,
            [],
            try_map_or_else
        );

        /// Releases the read lock, handing it to a waiting thread if there is one.
        #[track_caller]
        #[inline]
        pub fn unlock_fair(s: Self) {
            let (inner, map) = Self::into_parts(s);
            validate::release(map, Location::caller());
            pl::MappedRwLockReadGuard::unlock_fair(inner);
        }
    }

    impl<'a, T: ?Sized + 'a> MappedRwLockWriteGuard<'a, T> {
        #[inline]
        fn into_parts(
            s: Self,
        ) -> (
            pl::MappedRwLockWriteGuard<'a, T>,
            (&'a DepMap, Option<&'a DepMap>),
        ) {
            let s = ManuallyDrop::new(s);
            // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
            (unsafe { std::ptr::read(&s.inner) }, (s.map, s.up))
        }

        #[inline]
        fn from_parts(
            inner: pl::MappedRwLockWriteGuard<'a, T>,
            (map, up): (&'a DepMap, Option<&'a DepMap>),
        ) -> Self {
            MappedRwLockWriteGuard {
                inner,
                map,
                up,
                _not_send: NotSend::MARK,
            }
        }

        #[inline]
        fn to_mapped(parts: (&'a DepMap, Option<&'a DepMap>)) -> (&'a DepMap, Option<&'a DepMap>) {
            parts
        }

        map_fns!(pl::MappedRwLockWriteGuard, MappedRwLockWriteGuard, [mut], try_map_or_err);

        /// Releases the write lock, handing it to a waiting thread if there is one.
        #[track_caller]
        #[inline]
        pub fn unlock_fair(s: Self) {
            let (inner, (map, up)) = Self::into_parts(s);
            let loc = Location::caller();
            validate::release(map, loc);
            if let Some(up) = up {
                validate::release(up, loc);
            }
            pl::MappedRwLockWriteGuard::unlock_fair(inner);
        }
    }

    /// `Deref`, `Debug` and `Display` through the plain guard, for each guard type.
    macro_rules! guard_traits {
        ($($guard:ident),*) => {$(
            impl<T: ?Sized> std::ops::Deref for $guard<'_, T> {
                type Target = T;
                #[inline]
                fn deref(&self) -> &T {
                    &self.inner
                }
            }

            impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $guard<'_, T> {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    (**self).fmt(f)
                }
            }

            impl<T: ?Sized + std::fmt::Display> std::fmt::Display for $guard<'_, T> {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    (**self).fmt(f)
                }
            }
        )*};
    }

    guard_traits!(
        RwLockReadGuard,
        RwLockWriteGuard,
        RwLockUpgradableReadGuard,
        MappedRwLockReadGuard,
        MappedRwLockWriteGuard
    );

    impl<T: ?Sized> std::ops::DerefMut for RwLockWriteGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            &mut self.inner
        }
    }

    impl<T: ?Sized> std::ops::DerefMut for MappedRwLockWriteGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            &mut self.inner
        }
    }

    impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(&self.lock.map, Location::caller());
        }
    }

    impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(&self.lock.map, Location::caller());
            if self.up {
                validate::release(&self.lock.up, Location::caller());
            }
        }
    }

    impl<T: ?Sized> Drop for RwLockUpgradableReadGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(&self.lock.up, Location::caller());
        }
    }

    impl<T: ?Sized> Drop for MappedRwLockReadGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(self.map, Location::caller());
        }
    }

    impl<T: ?Sized> Drop for MappedRwLockWriteGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(self.map, Location::caller());
            if let Some(up) = self.up {
                validate::release(up, Location::caller());
            }
        }
    }
}
