//! [`Lockable`]: anything the validator tracks — every lock type and every pseudo-lock — so
//! the assertions and rules can take any of them.

use std::marker::PhantomData;

/// A lock or pseudo-lock known to the validator. Implemented by every lock type of this crate
/// and by [`LockMap`](crate::LockMap) and [`Srcu`](crate::Srcu).
pub trait Lockable {
    /// The validator's record of this lock (opaque).
    #[doc(hidden)]
    fn lock_ref(&self) -> LockRef<'_>;
}

/// An opaque reference to a lock's validator record.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct LockRef<'a> {
    #[cfg(feature = "check")]
    pub(crate) map: &'a crate::engine::DepMap,
    #[cfg(feature = "check")]
    pub(crate) instance: usize,
    _p: PhantomData<&'a ()>,
}

impl<'a> LockRef<'a> {
    #[cfg(feature = "check")]
    pub(crate) fn new(map: &'a crate::engine::DepMap) -> Self {
        LockRef {
            map,
            instance: map.instance(),
            _p: PhantomData,
        }
    }

    #[cfg(not(feature = "check"))]
    pub(crate) fn none() -> Self {
        LockRef { _p: PhantomData }
    }
}

impl<L: Lockable + ?Sized> Lockable for &L {
    fn lock_ref(&self) -> LockRef<'_> {
        (**self).lock_ref()
    }
}

/// Implements [`Lockable`] for a lock type whose validator record is the field `map`.
macro_rules! lockable_via_map {
    ($ty:ident) => {
        impl<T: ?Sized> crate::Lockable for $ty<T> {
            fn lock_ref(&self) -> crate::lockable::LockRef<'_> {
                #[cfg(feature = "check")]
                {
                    crate::lockable::LockRef::new(&self.map)
                }
                #[cfg(not(feature = "check"))]
                {
                    crate::lockable::LockRef::none()
                }
            }
        }
    };
}
pub(crate) use lockable_via_map;
