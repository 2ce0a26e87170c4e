//! [`Once`] with `check` on: `std::sync::Once`, its initialisation validated as a lock (see
//! the `init` module of `stdsync`).

use super::init;
use crate::engine::map::{Key, LockKind};
use crate::engine::DepMap;
use crate::{LockClass, WithClass};
use std::fmt;
use std::panic::Location;
use std::sync::OnceState;

/// A one-time initialisation with the interface of `std::sync::Once`. While its closure runs,
/// the thread running it holds the `Once` (a lock of kind `once`, class: the call site of
/// [`new`](Self::new)), and threads that arrive meanwhile wait for it, validated as waiting
/// for a lock; once it has completed, calls record nothing.
///
/// ```
/// use lockdep::stdsync::Once;
///
/// static INIT: Once = Once::new();
/// let mut runs = 0;
/// INIT.call_once(|| runs += 1);
/// INIT.call_once(|| runs += 1);
/// assert_eq!(runs, 1);
/// assert!(INIT.is_completed());
/// ```
pub struct Once {
    map: DepMap,
    inner: std::sync::Once,
}

impl Once {
    /// A new `Once`; its class is the call site. (std's `Once` has no `Default`, so neither
    /// has this one.)
    #[allow(clippy::new_without_default)]
    #[track_caller]
    #[inline]
    pub const fn new() -> Once {
        Once {
            map: DepMap::new(Key::Site(Location::caller()), LockKind::Once),
            inner: std::sync::Once::new(),
        }
    }

    /// Runs `f` if no call has completed yet, exactly once across threads; other callers wait
    /// for it. If `f` panics the `Once` is poisoned and later calls panic, as std's do.
    ///
    /// # Panics
    /// When `f` reaches this same `Once` again (std: unspecified, a deadlock or a panic):
    /// reported as the same lock re-taken, then panics. And as std, on a poisoned `Once`.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.inner.is_completed() {
            return;
        }
        let _init = init::enter(&self.map);
        self.inner.call_once(f);
    }

    /// Like [`call_once`](Self::call_once), also running on a poisoned `Once`; `f` learns from
    /// the [`OnceState`] whether it is.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.inner.is_completed() {
            return;
        }
        let _init = init::enter(&self.map);
        self.inner.call_once_force(f);
    }

    /// Whether a call has completed (the initialisation is done).
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.inner.is_completed()
    }

    /// Blocks until a call has completed; panics if the `Once` is poisoned, as std. Validated
    /// as waiting for the lock (nothing is held after).
    #[track_caller]
    pub fn wait(&self) {
        if !self.inner.is_completed() {
            init::wait(&self.map);
        }
        self.inner.wait();
    }

    /// Like [`wait`](Self::wait), also returning on a poisoned `Once`.
    #[track_caller]
    pub fn wait_force(&self) {
        if !self.inner.is_completed() {
            init::wait(&self.map);
        }
        self.inner.wait_force();
    }
}

/// A `Once` of the named class: `Value` is `()`.
impl WithClass for Once {
    type Value = ();
    fn with_class((): (), class: &'static LockClass) -> Self {
        Once {
            map: DepMap::new(Key::Class(class), LockKind::Once),
            inner: std::sync::Once::new(),
        }
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// std's deprecated initialiser for a static `Once` (all `Once`s made from it share its class).
#[deprecated(note = "the `Once::new()` function is now preferred")]
#[allow(clippy::declare_interior_mutable_const)] // std's own item is this `const`
pub const ONCE_INIT: Once = Once::new();
