//! [`WithClass`]: building a lock in a named class through one trait, so that generated code
//! (`#[lock_class]`'s `Default`, the class macros) and the std-shaped types of
//! [`stdsync`](crate::stdsync) can do it without knowing the lock type.
//!
//! The lock types of this crate have an inherent `with_class`; the trait calls it. The
//! [`stdsync`](crate::stdsync) types have no inherent one on purpose: with `check` off they are
//! the std types themselves, which cannot grow methods, so an inherent method would compile
//! only with `check` on. Through the trait, `stdsync::Mutex::with_class(v, &C)` compiles both
//! ways (with `check` off the class is ignored, as everywhere).

use crate::LockClass;

/// A lock (or pseudo-lock, or initialisation cell) that can be created in a named
/// [`LockClass`].
///
/// ```
/// use lockdep::{stdsync, LockClass, WithClass};
///
/// static QUEUE: LockClass = LockClass::new("&queue->lock");
/// let a: stdsync::Mutex<u32> = WithClass::with_class(0, &QUEUE);
/// let b = lockdep::Mutex::<u32>::with_class(0, &QUEUE); // the inherent one
/// # drop((a, b));
/// ```
pub trait WithClass: Sized {
    /// What the constructor takes besides the class: the protected value (`()` for a
    /// pseudo-lock or a cell).
    type Value;

    /// A new, unlocked `Self` holding `value`, validated as a lock of `class`.
    fn with_class(value: Self::Value, class: &'static LockClass) -> Self;
}

/// Implements [`WithClass`] for a lock type with an inherent `const fn with_class(T, class)`.
macro_rules! with_class_via_inherent {
    ($($ty:ident),*) => {$(
        impl<T> WithClass for crate::$ty<T> {
            type Value = T;
            #[inline]
            fn with_class(value: T, class: &'static LockClass) -> Self {
                crate::$ty::with_class(value, class)
            }
        }
    )*};
}

with_class_via_inherent!(
    Mutex,
    FairMutex,
    ReentrantMutex,
    RwLock,
    SpinLock,
    RawSpinLock,
    RwSpinLock
);

impl WithClass for crate::LockMap {
    type Value = ();
    #[inline]
    fn with_class((): (), class: &'static LockClass) -> Self {
        crate::LockMap::with_class(class)
    }
}
