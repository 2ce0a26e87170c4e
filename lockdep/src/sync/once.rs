//! [`Once`]: `parking_lot::Once`, whose initialisation takes part in the graph with `check`
//! on, as the `stdsync` cells do (see the `init` module of `stdsync`).
//!
//! parking_lot's `Once` differs from std's in its surface, not its meaning: `call_once_force`
//! hands the closure an [`OnceState`] by value, `state()` answers "new, in progress, poisoned or
//! done", and it has a `Default`. A crate that renamed `parking_lot` to `lockdep` writes
//! `lockdep::Once` and gets exactly that surface, with or without `check`.

#[cfg(not(feature = "check"))]
pub use parking_lot::{Once, OnceState};

#[cfg(feature = "check")]
pub use checked::Once;
#[cfg(feature = "check")]
pub use parking_lot::OnceState;

#[cfg(feature = "check")]
mod checked {
    use crate::engine::map::{Key, LockKind};
    use crate::engine::DepMap;
    use crate::stdsync::init;
    use crate::{LockClass, WithClass};
    use parking_lot::OnceState;
    use std::fmt;
    use std::panic::Location;

    /// A one-time initialisation with the interface of `parking_lot::Once`. While its closure
    /// runs, the thread running it holds the `Once` (a lock of kind `once`, class: the call site
    /// of [`new`](Self::new)), and threads that arrive meanwhile wait for it, validated as
    /// waiting for a lock; once it is done, calls record nothing (reading a finished `Once`
    /// under a lock is no dependency).
    ///
    /// ```
    /// use lockdep::{Once, OnceState};
    ///
    /// static INIT: Once = Once::new();
    /// assert_eq!(INIT.state(), OnceState::New);
    /// let mut runs = 0;
    /// INIT.call_once(|| runs += 1);
    /// INIT.call_once(|| runs += 1);
    /// assert_eq!(runs, 1);
    /// assert!(INIT.state().done());
    /// ```
    pub struct Once {
        map: DepMap,
        inner: parking_lot::Once,
    }

    impl Once {
        /// A new `Once`; its class is the call site.
        #[track_caller]
        #[inline]
        pub const fn new() -> Once {
            Once {
                map: DepMap::new(Key::Site(Location::caller()), LockKind::Once),
                inner: parking_lot::Once::new(),
            }
        }

        /// The state: new, in progress, poisoned (a closure panicked) or done.
        #[inline]
        pub fn state(&self) -> OnceState {
            self.inner.state()
        }

        /// Runs `f` if no call has completed yet, exactly once across threads; other callers
        /// wait for it. If `f` panics the `Once` is poisoned and later calls panic, as
        /// parking_lot's do.
        ///
        /// # Panics
        /// When `f` reaches this same `Once` again (parking_lot: a deadlock): reported as the
        /// same lock re-taken, then panics. And as parking_lot, on a poisoned `Once`.
        #[track_caller]
        pub fn call_once<F: FnOnce()>(&self, f: F) {
            if self.inner.state().done() {
                return;
            }
            let _init = init::enter(&self.map);
            self.inner.call_once(f);
        }

        /// Like [`call_once`](Self::call_once), also running on a poisoned `Once`; `f` learns
        /// from the [`OnceState`] whether it is.
        #[track_caller]
        pub fn call_once_force<F: FnOnce(OnceState)>(&self, f: F) {
            if self.inner.state().done() {
                return;
            }
            let _init = init::enter(&self.map);
            self.inner.call_once_force(f);
        }
    }

    impl Default for Once {
        /// [`Once::new`]: the class is the caller of `default`.
        #[track_caller]
        #[inline]
        fn default() -> Once {
            Once::new()
        }
    }

    /// A `Once` of the named class: `Value` is `()`.
    impl WithClass for Once {
        type Value = ();
        fn with_class((): (), class: &'static LockClass) -> Self {
            Once {
                map: DepMap::new(Key::Class(class), LockKind::Once),
                inner: parking_lot::Once::new(),
            }
        }
    }

    impl fmt::Debug for Once {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }
}
