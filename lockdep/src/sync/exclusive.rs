//! One definition for the three exclusive locks (`Mutex`, `SpinLock`, `RawSpinLock`), which
//! differ only in the plain lock underneath and in their kind (which decides their wait type).

/// Defines an exclusive lock type `$name` with guard `$guard` over the plain lock `$plain`
/// (guard `$plain_guard`), validated as `$kind`.
macro_rules! exclusive_lock {
    (
        $(#[$doc:meta])*
        $name:ident, $guard:ident, $plain:ty, $plain_guard:ident, $kind:ident
    ) => {
        #[cfg(feature = "check")]
        $(#[$doc])*
        pub struct $name<T: ?Sized> {
            pub(crate) map: crate::engine::DepMap,
            pub(crate) inner: $plain,
        }

        #[cfg(not(feature = "check"))]
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<T: ?Sized> {
            pub(crate) inner: $plain,
        }

        /// The guard of a held lock; the lock is released when it is dropped.
        ///
        /// Not `Send`: the lock is released by the thread that took it (see the crate's
        /// "Guards stay on their thread").
        #[cfg(feature = "check")]
        #[must_use = "if unused the lock is released at once"]
        pub struct $guard<'a, T: ?Sized + 'a> {
            pub(crate) inner: $plain_guard<'a, T>,
            /// The lock (for `mutex()`), and through it its validator record: an offset from this
            /// reference, no extra load on release.
            pub(crate) lock: &'a $name<T>,
            pub(crate) _not_send: crate::sync::not_send::NotSend,
        }

        /// The guard of a held lock: with the `check` feature off, the plain lock's guard,
        /// with the plain guard's `Send`-ness.
        #[cfg(not(feature = "check"))]
        pub type $guard<'a, T> = $plain_guard<'a, T>;

        impl<T> $name<T> {
            /// A new unlocked lock. Its class is the call site: every lock created here is
            /// validated as one class.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub const fn new(value: T) -> Self {
                $name {
                    #[cfg(feature = "check")]
                    map: crate::engine::DepMap::new(
                        crate::engine::map::Key::Site(std::panic::Location::caller()),
                        crate::engine::map::LockKind::$kind,
                    ),
                    inner: <$plain>::new(value),
                }
            }

            /// A new unlocked lock in the named class `class`.
            #[inline]
            pub const fn with_class(value: T, class: &'static crate::LockClass) -> Self {
                #[cfg(not(feature = "check"))]
                let _ = class;
                $name {
                    #[cfg(feature = "check")]
                    map: crate::engine::DepMap::new(
                        crate::engine::map::Key::Class(class),
                        crate::engine::map::LockKind::$kind,
                    ),
                    inner: <$plain>::new(value),
                }
            }

            /// Consumes the lock and returns the value.
            #[inline]
            pub fn into_inner(self) -> T {
                #[cfg(feature = "check")]
                {
                    let this = std::mem::ManuallyDrop::new(self);
                    crate::engine::validate::check_consumed(&this.map, this.is_locked());
                    // SAFETY: `this` is never used or dropped again, so the lock is moved out
                    // exactly once; the validator record has no drop glue.
                    unsafe { std::ptr::read(&this.inner) }.into_inner()
                }
                #[cfg(not(feature = "check"))]
                {
                    self.inner.into_inner()
                }
            }
        }

        impl<T: ?Sized> $name<T> {
            /// Acquires the lock, blocking until it is free. With `check`, the acquisition is
            /// validated first: an order that could deadlock is reported before blocking.
            ///
            /// # Panics
            /// With `check`, when the current thread already holds this very lock (under any
            /// subclass): that would wait forever, so it is reported, then panics instead.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub fn lock(&self) -> $guard<'_, T> {
                self.lock_nested(0)
            }

            /// Acquires the lock as nesting level `subclass` (0 to 7) of its class: the kernel's
            /// `*_lock_nested`. Locks of one class taken inside each other with different
            /// subclasses are validated as distinct classes, ordered by their subclass.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub fn lock_nested(&self, subclass: u32) -> $guard<'_, T> {
                #[cfg(feature = "check")]
                {
                    let loc = std::panic::Location::caller();
                    crate::engine::validate::acquire(&self.map, subclass, 0, false, loc);
                    let inner = crate::engine::validate::lock_raw(&self.map, 0, || self.inner.try_lock(), || self.inner.lock());
                    $guard {
                        inner,
                        lock: self,
                        _not_send: crate::sync::not_send::NotSend::MARK,
                    }
                }
                #[cfg(not(feature = "check"))]
                {
                    let _ = subclass;
                    self.inner.lock()
                }
            }

            /// Acquires the lock nested under `nest`, which the thread must hold and which
            /// serialises every nesting of this lock's class (the kernel's
            /// `*_lock_nest_lock`): any number of locks of this class may then be held, in any
            /// order, without a recursion report; their ordering against other classes is still
            /// validated.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub fn lock_nest_lock(&self, nest: &impl crate::Lockable) -> $guard<'_, T> {
                #[cfg(feature = "check")]
                {
                    let loc = std::panic::Location::caller();
                    let mut a = crate::engine::validate::Acquire::of(&self.map, 0, 0, false, loc);
                    a.nest = nest.lock_ref().instance;
                    crate::engine::validate::acquire_with(&self.map, a);
                    let inner = crate::engine::validate::lock_raw(&self.map, 0, || self.inner.try_lock(), || self.inner.lock());
                    $guard {
                        inner,
                        lock: self,
                        _not_send: crate::sync::not_send::NotSend::MARK,
                    }
                }
                #[cfg(not(feature = "check"))]
                {
                    let _ = nest;
                    self.inner.lock()
                }
            }

            /// Acquires the lock if it is free. A trylock never waits, so it adds no
            /// dependency into this lock's class; while held, it is ordered before the locks
            /// taken after it.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub fn try_lock(&self) -> Option<$guard<'_, T>> {
                #[cfg(feature = "check")]
                {
                    let inner = self.inner.try_lock()?;
                    let loc = std::panic::Location::caller();
                    crate::engine::validate::acquire(&self.map, 0, 0, true, loc);
                    Some($guard {
                        inner,
                        lock: self,
                        _not_send: crate::sync::not_send::NotSend::MARK,
                    })
                }
                #[cfg(not(feature = "check"))]
                {
                    self.inner.try_lock()
                }
            }

            /// Whether the lock is held by anyone right now.
            #[inline]
            pub fn is_locked(&self) -> bool {
                self.inner.is_locked()
            }

            /// The value, through a unique borrow (no locking needed).
            #[inline]
            pub fn get_mut(&mut self) -> &mut T {
                self.inner.get_mut()
            }

            /// Releases the lock without a guard (after `std::mem::forget` of one).
            ///
            /// With `check`, releasing a lock this thread does not hold is reported as a bad
            /// unlock balance and the lock is left alone.
            ///
            /// # Safety
            /// The lock must be held by the current thread through a forgotten guard.
            #[cfg_attr(feature = "check", track_caller)]
            #[inline]
            pub unsafe fn force_unlock(&self) {
                #[cfg(feature = "check")]
                if !crate::engine::validate::release(&self.map, std::panic::Location::caller()) {
                    return;
                }
                // SAFETY: forwarded to the caller.
                unsafe { self.inner.force_unlock() }
            }

            /// Whether the current thread holds this lock according to the validator (always
            /// `false` with `check` off).
            #[inline]
            pub fn is_held_by_current_thread(&self) -> bool {
                #[cfg(feature = "check")]
                {
                    crate::engine::validate::is_held(&self.map)
                }
                #[cfg(not(feature = "check"))]
                {
                    false
                }
            }
        }

        crate::lockable::lockable_via_map!($name);

        #[cfg(feature = "check")]
        impl<T: ?Sized> Drop for $name<T> {
            fn drop(&mut self) {
                crate::engine::validate::check_consumed(&self.map, self.is_locked());
            }
        }

        lock_std_traits!($name);

        #[cfg(feature = "check")]
        impl<T: ?Sized> std::ops::Deref for $guard<'_, T> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                &self.inner
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized> std::ops::DerefMut for $guard<'_, T> {
            #[inline]
            fn deref_mut(&mut self) -> &mut T {
                &mut self.inner
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized> Drop for $guard<'_, T> {
            #[inline]
            fn drop(&mut self) {
                crate::engine::validate::release(&self.lock.map, std::panic::Location::caller());
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                (**self).fmt(f)
            }
        }

        #[cfg(feature = "check")]
        impl<T: ?Sized + std::fmt::Display> std::fmt::Display for $guard<'_, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                (**self).fmt(f)
            }
        }
    };
}
