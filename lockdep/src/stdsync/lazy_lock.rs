//! [`LazyLock`] with `check` on: `std::sync::LazyLock`, its initialisation validated as a
//! lock (see the `init` module of `stdsync`).

use super::init;
use crate::engine::map::{Key, LockKind};
use crate::engine::DepMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

/// A value initialised on first access, with the interface of `std::sync::LazyLock`.
///
/// The first access runs the initialiser, validated as holding a lock of kind `once` (class:
/// the call site of [`new`](Self::new)); a thread that arrives meanwhile waits, validated as
/// waiting for it; later accesses record nothing. If the initialiser panics the `LazyLock` is
/// poisoned and later accesses panic, as std's.
///
/// ```
/// use lockdep::stdsync::LazyLock;
///
/// static TABLE: LazyLock<Vec<u32>> = LazyLock::new(|| (0..4).collect());
/// assert_eq!(TABLE.len(), 4);
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    map: DepMap,
    inner: std::sync::LazyLock<T, F>,
}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A new lazy value initialised by `f`; its class is the call site.
    #[track_caller]
    #[inline]
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            map: DepMap::new(Key::Site(Location::caller()), LockKind::Once),
            inner: std::sync::LazyLock::new(f),
        }
    }

    /// The value, initialising it first if needed.
    ///
    /// # Panics
    /// When the initialiser reaches this same `LazyLock` (std: a deadlock or a panic):
    /// reported as the same lock re-taken, then panics. If the initialiser panicked before.
    #[track_caller]
    pub fn force(this: &LazyLock<T, F>) -> &T {
        if let Some(v) = std::sync::LazyLock::get(&this.inner) {
            return v;
        }
        let _init = init::enter(&this.map);
        std::sync::LazyLock::force(&this.inner)
    }

    /// The value through a unique borrow, initialising it first if needed. No other thread
    /// can be waiting, but the initialiser's own acquisitions are still ordered after the
    /// class, as for every other initialisation of it.
    #[track_caller]
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        let _init = if std::sync::LazyLock::get_mut(&mut this.inner).is_none() {
            Some(init::enter(&this.map))
        } else {
            None
        };
        std::sync::LazyLock::force_mut(&mut this.inner)
    }
}

impl<T, F> LazyLock<T, F> {
    /// The value, if initialised (never initialises or waits).
    #[inline]
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        std::sync::LazyLock::get(&this.inner)
    }

    /// The value through a unique borrow, if initialised.
    #[inline]
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        std::sync::LazyLock::get_mut(&mut this.inner)
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    #[track_caller]
    #[inline]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    #[track_caller]
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    #[track_caller]
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
