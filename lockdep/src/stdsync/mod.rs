//! `std::sync`, validated: the module a std user imports instead of `std::sync`.
//!
//! ```
//! use lockdep::stdsync as sync; // was: use std::sync;
//!
//! let data = sync::Arc::new(sync::Mutex::new(0));
//! let d2 = sync::Arc::clone(&data);
//! std::thread::spawn(move || *d2.lock().unwrap() += 1).join().unwrap();
//! assert_eq!(*data.lock().unwrap(), 1);
//! ```
//!
//! Every item of stable `std::sync` is here under its std name, with std's signatures, so
//! changing the one `use` line is the whole migration. With the `check` feature off they *are*
//! the std items (re-exports: same types, same size, same code). With it on:
//!
//! | item | with `check` | validated as |
//! |---|---|---|
//! | [`Mutex`], [`MutexGuard`] | a wrapper over `std::sync::Mutex` | a sleeping lock (the kernel's `struct mutex`), as [`crate::Mutex`] |
//! | [`RwLock`], [`RwLockReadGuard`], [`RwLockWriteGuard`] | over `std::sync::RwLock` | an `rw_semaphore`; `read` a non-recursive reader (see "Which reader") |
//! | [`Condvar`] | over `std::sync::Condvar`, for this module's `Mutex` | waits release the mutex and re-acquire it, validated |
//! | [`Once`], [`OnceLock`], [`LazyLock`] | over the std ones | the initialisation as a lock (see "Initialisation") |
//! | `LockResult`, `PoisonError`, `TryLockError`, `TryLockResult`, `WaitTimeoutResult`, `OnceState` | std's own | — |
//! | `Arc`, `Weak`, `Barrier`, `BarrierWaitResult`, `atomic`, `mpsc` | std's own | not validated |
//!
//! Poisoning is std's: the plain std lock underneath records it, so `is_poisoned`,
//! `clear_poison`, `PoisonError::into_inner` and `TryLockError::Poisoned` behave exactly as
//! with std. Guards are `!Send` and `Sync` when the data is, as std's; the locks are `Send`,
//! `Sync`, `UnwindSafe` and `RefUnwindSafe` as std's are. `Debug` prints std's format.
//!
//! The types have std's methods and nothing more, because without `check` they are std's and
//! cannot have more: an extra method would compile only with the feature on. Two lockdep
//! traits are implemented both ways: [`WithClass`](crate::WithClass) (a named class:
//! `<Mutex<T> as WithClass>::with_class(v, &CLASS)`) and [`Lockable`](crate::Lockable), so
//! [`assert_held`](crate::assert_held) and the other annotations accept these locks. (With
//! `check` off that makes the std types themselves `Lockable`, the only place the two builds
//! differ: an annotation given a lock that does not come through this module is a no-op
//! without the feature and a compile error with it, rather than a silent one.)
//!
//! # Which reader
//!
//! std's `RwLock` promises no policy ("dependent on the underlying operating system's
//! implementation"); on Linux a reader waits behind a waiting writer. [`RwLock::read`] is
//! therefore validated as a **non-recursive** reader: reading a lock this thread already reads
//! is reported (a writer queued in between deadlocks it), and a cycle through readers is a
//! deadlock. That model is right on every platform; a platform whose lock lets such readers
//! through only makes a reported pattern lucky there.
//!
//! # Initialisation
//!
//! A `Once`, `OnceLock` or `LazyLock` is a lock while it is being initialised, and only then:
//! the thread running the initialiser holds it (kind `once`; class: the call site of `new`, or
//! a `LockClass` through `WithClass`), and a thread that reaches it meanwhile waits for it.
//! So an initialiser that takes a lock `L` while elsewhere `L` is held around the same class's
//! `get_or_init` is reported as the cycle it is (`L` held, waiting for the initialisation,
//! which waits for `L`), and an initialiser that reaches its own cell — which std leaves to
//! deadlock or panic — is reported as the lock re-taken and then panics. An initialised cell
//! is read without waiting, so reading one under a lock records nothing. Cells of one class
//! initialised inside each other (per-object cells made at one site, one initialiser reaching
//! another object's cell) are nested locks of one class, reported as possible recursive
//! locking as for any lock: give the roles classes of their own (`WithClass`).
//!
//! That last rule is what a run can see: a static cell initialised once, first by a path that
//! holds no lock, then read under `L` by another, records no `L → cell`, though a different
//! interleaving (the reader arriving during the initialisation) would wait. The validator
//! reports the inversion when both orders happen while cells of the class are uninitialised:
//! per-object cells made at one site (one class), or an initialisation reached under `L`.
//!
//! # Not validated
//!
//! `Barrier::wait` waits for other threads, not for a lock, so it is not a dependency the
//! validator records (a barrier reached while holding a lock the other parties need is a
//! deadlock it does not see; model one with a [`LockMap`](crate::LockMap) if it matters).
//! `mpsc` receives likewise. Unstable std items (`MutexGuard::map`, `Mutex::set`,
//! `OnceLock::get_or_try_init`, `ReentrantLock`, `Exclusive`, `mpmc`, `nonpoison`) are not
//! offered: a stable build cannot name them either.

pub use std::sync::{
    atomic, mpsc, Arc, Barrier, BarrierWaitResult, LockResult, OnceState, PoisonError, TryLockError,
    TryLockResult, WaitTimeoutResult, Weak,
};

#[cfg(not(feature = "check"))]
#[allow(deprecated)]
pub use std::sync::{
    Condvar, LazyLock, Mutex, MutexGuard, Once, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
    ONCE_INIT,
};

/// Deref, Drop, Debug and Display of a guard whose fields are `inner` (the plain std guard)
/// and `map`. Drop releases the validator's record first; the plain guard, a field, drops
/// after it: it poisons the lock if the thread is panicking, then unlocks.
#[cfg(feature = "check")]
macro_rules! guard_impls {
    ($guard:ident) => {
        impl<T: ?Sized> std::ops::Deref for $guard<'_, T> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                &self.inner
            }
        }

        impl<T: ?Sized> Drop for $guard<'_, T> {
            #[inline]
            fn drop(&mut self) {
                crate::engine::validate::release(self.map, std::panic::Location::caller());
            }
        }

        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + std::fmt::Display> std::fmt::Display for $guard<'_, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&**self, f)
            }
        }
    };
}

/// What the validated `Mutex` and `RwLock` (fields `map`, `inner`: the std lock of the same
/// name; `new` a `#[track_caller]` constructor) share: `into_inner`, `is_poisoned`, `clear_poison`, `get_mut`; `Lockable`; `Drop`, which reports the
/// lock destroyed while this thread holds it; `WithClass`; `Default` and `From`, whose class is
/// their caller's site; and std's `Debug` (read with the std lock's unvalidated trylock, which
/// never waits and keeps nothing held).
#[cfg(feature = "check")]
macro_rules! lock_impls {
    ($ty:ident) => {
        impl<T> $ty<T> {
            /// Consumes the lock and returns the value, `Err` (with the value) if it is
            /// poisoned.
            pub fn into_inner(self) -> std::sync::LockResult<T> {
                let this = std::mem::ManuallyDrop::new(self);
                crate::engine::validate::check_freed(&this.map);
                // SAFETY: `this` is never used or dropped again, so the plain lock moves out
                // once; the validator record has no drop glue.
                unsafe { std::ptr::read(&this.inner) }.into_inner()
            }
        }

        impl<T: ?Sized> $ty<T> {
            /// Whether a thread panicked while holding the lock (for writing).
            #[inline]
            pub fn is_poisoned(&self) -> bool {
                self.inner.is_poisoned()
            }

            /// Clears the poisoned state.
            #[inline]
            pub fn clear_poison(&self) {
                self.inner.clear_poison()
            }

            /// The value, through a unique borrow (no locking); `Err` if poisoned.
            #[inline]
            pub fn get_mut(&mut self) -> std::sync::LockResult<&mut T> {
                self.inner.get_mut()
            }
        }

        crate::lockable::lockable_via_map!($ty);

        impl<T: ?Sized> Drop for $ty<T> {
            fn drop(&mut self) {
                crate::engine::validate::check_freed(&self.map);
            }
        }

        impl<T> crate::WithClass for $ty<T> {
            type Value = T;
            fn with_class(value: T, class: &'static crate::LockClass) -> Self {
                $ty {
                    map: crate::engine::DepMap::new(
                        crate::engine::map::Key::Class(class),
                        crate::engine::map::LockKind::$ty,
                    ),
                    inner: std::sync::$ty::new(value),
                }
            }
        }

        impl<T: Default> Default for $ty<T> {
            #[track_caller]
            fn default() -> $ty<T> {
                $ty::new(T::default())
            }
        }

        impl<T> From<T> for $ty<T> {
            #[track_caller]
            fn from(t: T) -> Self {
                $ty::new(t)
            }
        }

        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }
    };
}

#[cfg(feature = "check")]
mod condvar;
#[cfg(feature = "check")]
pub(crate) mod init;
#[cfg(feature = "check")]
mod lazy_lock;
#[cfg(feature = "check")]
mod mutex;
#[cfg(feature = "check")]
mod once;
#[cfg(feature = "check")]
mod once_lock;
#[cfg(feature = "check")]
mod rwlock;
#[cfg(not(feature = "check"))]
mod std_types;
#[cfg(feature = "check")]
mod take;

#[cfg(feature = "check")]
pub use condvar::Condvar;
#[cfg(feature = "check")]
pub use lazy_lock::LazyLock;
#[cfg(feature = "check")]
pub use mutex::{Mutex, MutexGuard};
#[cfg(feature = "check")]
#[allow(deprecated)]
pub use once::{Once, ONCE_INIT};
#[cfg(feature = "check")]
pub use once_lock::OnceLock;
#[cfg(feature = "check")]
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
