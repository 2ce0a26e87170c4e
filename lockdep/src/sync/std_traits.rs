//! The standard traits every lock type has, as `parking_lot`'s: `Default` and `From<T>` (both
//! `#[track_caller]` with `check`, so the new lock's class is the caller's line, not this
//! file's) and `Debug` (the plain lock's format).

/// `Default`, `From<T>` and `Debug` for the lock type `$lock<T>`, which has `new` and a plain
/// lock in `inner`.
macro_rules! lock_std_traits {
    ($lock:ident) => {
        impl<T: Default> Default for $lock<T> {
            #[cfg_attr(feature = "check", track_caller)]
            fn default() -> Self {
                Self::new(T::default())
            }
        }

        impl<T> From<T> for $lock<T> {
            #[cfg_attr(feature = "check", track_caller)]
            fn from(value: T) -> Self {
                Self::new(value)
            }
        }

        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $lock<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }
    };
}
