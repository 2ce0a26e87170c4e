//! [`OnceLock`] with `check` on: `std::sync::OnceLock`, its initialisation validated as a lock
//! (see the `init` module of `stdsync`).

use super::init;
use crate::engine::map::{Key, LockKind};
use crate::engine::DepMap;
use crate::{LockClass, WithClass};
use std::fmt;
use std::panic::Location;

/// A cell written once, with the interface of `std::sync::OnceLock`.
///
/// Initialising it ([`get_or_init`](Self::get_or_init), [`set`](Self::set)) is validated as
/// holding a lock of kind `once` (class: the call site of [`new`](Self::new)) for as long as
/// the initialiser runs; a thread that finds it being initialised waits for it, validated as
/// waiting for that lock. Reading it initialised records nothing.
///
/// ```
/// use lockdep::stdsync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// assert_eq!(CONFIG.get_or_init(|| "fast".into()), "fast");
/// assert_eq!(CONFIG.set("slow".into()), Err("slow".into()));
/// ```
pub struct OnceLock<T> {
    map: DepMap,
    inner: std::sync::OnceLock<T>,
}

impl<T> OnceLock<T> {
    /// A new empty cell; its class is the call site.
    #[track_caller]
    #[inline]
    pub const fn new() -> OnceLock<T> {
        Self::of(Key::Site(Location::caller()), std::sync::OnceLock::new())
    }

    const fn of(key: Key, inner: std::sync::OnceLock<T>) -> Self {
        OnceLock {
            map: DepMap::new(key, LockKind::Once),
            inner,
        }
    }

    /// The value, if initialised (never waits).
    #[inline]
    pub fn get(&self) -> Option<&T> {
        self.inner.get()
    }

    /// The value, through a unique borrow.
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// Blocks until the cell is initialised, validated as waiting for its initialisation.
    ///
    /// # Panics
    /// When called from the cell's own initialiser (which would wait forever): reported first.
    #[track_caller]
    pub fn wait(&self) -> &T {
        if let Some(v) = self.inner.get() {
            return v;
        }
        init::wait(&self.map);
        self.inner.wait()
    }

    /// Initialises the cell with `value`: `Err(value)` if it was initialised already. A set
    /// while another thread initialises waits for it, so it is validated as an initialisation.
    ///
    /// # Panics
    /// When called from the cell's own initialiser: reported first.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        if self.inner.get().is_some() {
            return Err(value);
        }
        let _init = init::enter(&self.map);
        self.inner.set(value)
    }

    /// The value, initialising it with `f` first if the cell is empty; a thread that finds it
    /// being initialised waits. If `f` panics the cell stays empty (as std's).
    ///
    /// # Panics
    /// When `f` reaches this same cell again (std: unspecified, today a deadlock): reported as
    /// the same lock re-taken, then panics.
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.inner.get() {
            return v;
        }
        let _init = init::enter(&self.map);
        self.inner.get_or_init(f)
    }

    /// Consumes the cell and returns its value, if any.
    #[inline]
    pub fn into_inner(self) -> Option<T> {
        self.inner.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    #[inline]
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }
}

/// An empty cell of the named class: `Value` is `()`.
impl<T> WithClass for OnceLock<T> {
    type Value = ();
    fn with_class((): (), class: &'static LockClass) -> Self {
        Self::of(Key::Class(class), std::sync::OnceLock::new())
    }
}

impl<T> Default for OnceLock<T> {
    #[track_caller]
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

/// An initialised cell; its class is the call site.
impl<T> From<T> for OnceLock<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Self::of(Key::Site(Location::caller()), std::sync::OnceLock::from(value))
    }
}

/// A new cell of the same class, holding a clone of the value if there is one.
impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> OnceLock<T> {
        Self::of(self.map.key, self.inner.clone())
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.inner == other.inner
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
