//! With `check` off this module's locks are the std types: the lockdep traits the validated
//! types implement are implemented for them here, doing what every lockdep item does without
//! the feature (nothing), so code written against [`stdsync`](super) compiles both ways.

use crate::lockable::LockRef;
use crate::{LockClass, Lockable, WithClass};
use std::sync::{Mutex, Once, OnceLock, RwLock};

impl<T: ?Sized> Lockable for Mutex<T> {
    fn lock_ref(&self) -> LockRef<'_> {
        LockRef::none()
    }
}

impl<T: ?Sized> Lockable for RwLock<T> {
    fn lock_ref(&self) -> LockRef<'_> {
        LockRef::none()
    }
}

impl<T> WithClass for Mutex<T> {
    type Value = T;
    fn with_class(value: T, _: &'static LockClass) -> Self {
        Mutex::new(value)
    }
}

impl<T> WithClass for RwLock<T> {
    type Value = T;
    fn with_class(value: T, _: &'static LockClass) -> Self {
        RwLock::new(value)
    }
}

impl WithClass for Once {
    type Value = ();
    fn with_class((): (), _: &'static LockClass) -> Self {
        Once::new()
    }
}

impl<T> WithClass for OnceLock<T> {
    type Value = ();
    fn with_class((): (), _: &'static LockClass) -> Self {
        OnceLock::new()
    }
}
