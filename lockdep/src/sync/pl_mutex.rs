//! The `parking_lot` part of the sleeping mutexes' surface ([`Mutex`](crate::Mutex),
//! [`FairMutex`](crate::FairMutex)): timed acquisitions, fair unlocking, and the guard's
//! associated functions (`map`, `try_map`, `unlocked`, `bump`, `leak`, `mutex`, ...) with
//! their mapped guards.
//!
//! With `check` off the guards are the plain `parking_lot` guards, which have all of these; with
//! it on they are this crate's, and this file gives them the same names and signatures, so code
//! written against `parking_lot` builds either way. How the validator sees each one:
//!
//! * `map`/`try_map`: the mapped guard keeps the hold; it is released when the mapped guard is
//!   dropped;
//! * `unlocked`/`unlocked_fair`/`bump`: the lock is released and taken again (see `retake`);
//! * `leak`: the lock stays locked for ever, and the validator forgets the hold at once — no
//!   thread can take it again, so it orders nothing, and a thread that leaks a guard is not
//!   "holding a lock at exit". Taking a leaked lock blocks for ever without a report (the
//!   holder is gone from every stack);
//! * `try_lock_for`/`try_lock_until`: validated as blocking acquisitions (see `timed`).

/// Adds the `parking_lot` surface to the exclusive sleeping lock `$name` (defined by
/// `exclusive_lock!`) with guard `$guard`, whose plain guard is `$plain_guard`; `$mapped` is the
/// mapped guard, over the plain mapped guard `$plain_mapped`.
macro_rules! parking_lot_mutex_api {
    ($name:ident, $guard:ident, $plain_guard:ident, $mapped:ident, $plain_mapped:ident) => {
        /// A guard for part of a locked value, made by `map`/`try_map` on a guard: with the
        /// `check` feature off, the plain lock's mapped guard.
        #[cfg(not(feature = "check"))]
        pub type $mapped<'a, T> = $plain_mapped<'a, T>;

        /// A guard for part of a locked value, made by `map`/`try_map` on a guard. It keeps the
        /// lock held (and the validator's record of it) until it is dropped. Not `Send`.
        #[cfg(feature = "check")]
        #[must_use = "if unused the lock is released at once"]
        pub struct $mapped<'a, T: ?Sized + 'a> {
            inner: $plain_mapped<'a, T>,
            map: &'a crate::engine::DepMap,
            _not_send: crate::sync::not_send::NotSend,
        }

        impl<T: ?Sized> $name<T> {
            /// Acquires the lock, waiting at most `timeout`; `None` if it timed out. With
            /// `check` it is validated as a blocking acquisition before the wait (a cycle
            /// through it stalls each time for the whole timeout); its report says the wait
            /// was bounded.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub fn try_lock_for(&self, timeout: std::time::Duration) -> Option<$guard<'_, T>> {
                #[cfg(feature = "check")]
                {
                    self.timed(std::panic::Location::caller(), || self.inner.try_lock_for(timeout))
                }
                #[cfg(not(feature = "check"))]
                {
                    self.inner.try_lock_for(timeout)
                }
            }

            /// Acquires the lock, waiting until `deadline` at most; validated as
            /// [`try_lock_for`](Self::try_lock_for) is.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub fn try_lock_until(&self, deadline: std::time::Instant) -> Option<$guard<'_, T>> {
                #[cfg(feature = "check")]
                {
                    self.timed(std::panic::Location::caller(), || self.inner.try_lock_until(deadline))
                }
                #[cfg(not(feature = "check"))]
                {
                    self.inner.try_lock_until(deadline)
                }
            }

            /// A timed acquisition through `attempt`, the plain lock's (see `timed`).
            #[cfg(feature = "check")]
            #[inline]
            fn timed<'a>(
                &'a self,
                loc: &'static std::panic::Location<'static>,
                attempt: impl FnOnce() -> Option<$plain_guard<'a, T>>,
            ) -> Option<$guard<'a, T>> {
                let inner = crate::sync::timed::lock_timed(&self.map, crate::engine::held::WRITE, loc, attempt)?;
                Some($guard {
                    inner,
                    lock: self,
                    _not_send: crate::sync::not_send::NotSend::MARK,
                })
            }

            /// A raw pointer to the value. Using it is up to the caller: the lock is not taken,
            /// so the validator sees nothing.
            #[inline]
            pub fn data_ptr(&self) -> *mut T {
                self.inner.data_ptr()
            }

            /// Releases the lock without a guard, handing it to a waiting thread if there is
            /// one (the fair variant of `force_unlock`). With `check`, releasing a lock this
            /// thread does not hold is reported and the lock is left alone.
            ///
            /// # Safety
            /// The lock must be held by the current thread through a forgotten guard.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub unsafe fn force_unlock_fair(&self) {
                #[cfg(feature = "check")]
                if !crate::engine::validate::release(&self.map, std::panic::Location::caller()) {
                    return;
                }
                // SAFETY: forwarded to the caller.
                unsafe { self.inner.force_unlock_fair() }
            }
        }

        #[cfg(feature = "check")]
        impl<'a, T: ?Sized + 'a> $guard<'a, T> {
            /// Takes the guard apart without releasing anything.
            #[inline]
            fn into_parts(s: Self) -> ($plain_guard<'a, T>, &'a $name<T>) {
                let s = std::mem::ManuallyDrop::new(s);
                // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
                (unsafe { std::ptr::read(&s.inner) }, s.lock)
            }

            /// The lock this guard holds. With `check` off the guard is
            /// `parking_lot`'s, whose function returns the plain lock inside this one: the same address
            /// and every `parking_lot` method, but another type (so compare addresses, not references).
            #[inline]
            pub fn mutex(s: &Self) -> &'a $name<T> {
                s.lock
            }

            #[inline]
            fn from_parts(inner: $plain_guard<'a, T>, lock: &'a $name<T>) -> Self {
                $guard {
                    inner,
                    lock,
                    _not_send: crate::sync::not_send::NotSend::MARK,
                }
            }

            #[inline]
            fn to_mapped(lock: &'a $name<T>) -> &'a crate::engine::DepMap {
                &lock.map
            }

            map_fns!($plain_guard, $mapped, [mut], try_map_or_err);

            retake_fns!($plain_guard, map, "lock");

            /// Keeps the lock locked for ever and returns the value with the guard's lifetime.
            /// The validator forgets the hold (see the module documentation).
            #[track_caller]
            #[inline]
            pub fn leak(s: Self) -> &'a mut T {
                let (inner, lock) = Self::into_parts(s);
                crate::engine::validate::release(&lock.map, std::panic::Location::caller());
                $plain_guard::leak(inner)
            }
        }

        #[cfg(feature = "check")]
        impl<'a, T: ?Sized + 'a> $mapped<'a, T> {
            /// Takes the guard apart without releasing anything.
            #[inline]
            fn into_parts(s: Self) -> ($plain_mapped<'a, T>, &'a crate::engine::DepMap) {
                let s = std::mem::ManuallyDrop::new(s);
                // SAFETY: `s` is never used or dropped again, so the plain guard moves out once.
                (unsafe { std::ptr::read(&s.inner) }, s.map)
            }

            #[inline]
            fn from_parts(inner: $plain_mapped<'a, T>, map: &'a crate::engine::DepMap) -> Self {
                $mapped {
                    inner,
                    map,
                    _not_send: crate::sync::not_send::NotSend::MARK,
                }
            }

            #[inline]
            fn to_mapped(map: &'a crate::engine::DepMap) -> &'a crate::engine::DepMap {
                map
            }

            map_fns!($plain_mapped, $mapped, [mut], try_map_or_err);

            /// Releases the lock, handing it to a waiting thread if there is one.
            #[track_caller]
            #[inline]
            pub fn unlock_fair(s: Self) {
                let (inner, map) = Self::into_parts(s);
                crate::engine::validate::release(map, std::panic::Location::caller());
                $plain_mapped::unlock_fair(inner);
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized> std::ops::Deref for $mapped<'_, T> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                &self.inner
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized> std::ops::DerefMut for $mapped<'_, T> {
            #[inline]
            fn deref_mut(&mut self) -> &mut T {
                &mut self.inner
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized> Drop for $mapped<'_, T> {
            #[inline]
            fn drop(&mut self) {
                crate::engine::validate::release(self.map, std::panic::Location::caller());
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $mapped<'_, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                (**self).fmt(f)
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized + std::fmt::Display> std::fmt::Display for $mapped<'_, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                (**self).fmt(f)
            }
        }
    };
}
