//! `owning_ref::StableAddress` for the guards (the `owning_ref` feature), as `lock_api` has it
//! for the plain guards: a guard dereferences to the locked value inside the lock, which does
//! not move while the guard lives. With `check` off the guards are the plain ones and get
//! `lock_api`'s impls; this file gives this crate's guards the same.

use super::*;
use owning_ref::StableAddress;

/// `StableAddress` for each guard type `$guard<'a, T>`.
macro_rules! stable_address {
    ($($guard:ident),*) => {$(
        // SAFETY: the guard dereferences to the value inside the lock (or a part of it for a
        // mapped guard), whose address stays the same for as long as the guard borrows the lock,
        // however the guard itself is moved.
        unsafe impl<T: ?Sized> StableAddress for $guard<'_, T> {}
    )*};
}

stable_address!(
    MutexGuard,
    MappedMutexGuard,
    FairMutexGuard,
    MappedFairMutexGuard,
    RwLockReadGuard,
    RwLockWriteGuard,
    RwLockUpgradableReadGuard,
    MappedRwLockReadGuard,
    MappedRwLockWriteGuard,
    ReentrantMutexGuard,
    MappedReentrantMutexGuard
);
