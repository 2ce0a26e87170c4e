//! Taking a plain std lock, validated, with std's poisoning carried through: the plain lock
//! decides whether it is poisoned, and [`map`] re-wraps its guard in ours on both the `Ok` and
//! the `Err` side, so a poisoned lock still hands out a validated guard
//! (`PoisonError::into_inner`).

use crate::engine::{validate, DepMap};
use std::panic::Location;
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

/// A blocking acquisition in mode `read`: validated before it blocks, then taken the way the
/// engine's `lock_raw` takes every lock (a try first; a thread that would wait for a lock it
/// holds itself is reported and panics instead).
#[track_caller]
#[inline]
pub(super) fn blocking<G>(
    map: &DepMap,
    read: u8,
    try_plain: impl FnOnce() -> TryLockResult<G>,
    lock: impl FnOnce() -> LockResult<G>,
) -> LockResult<G> {
    validate::acquire(map, 0, read, false, Location::caller());
    validate::lock_raw(
        map,
        read,
        || match try_plain() {
            Ok(g) => Some(Ok(g)),
            Err(TryLockError::Poisoned(p)) => Some(Err(p)),
            Err(TryLockError::WouldBlock) => None,
        },
        lock,
    )
}

/// A trylock in mode `read` that returned `r`: recorded if it took the lock (poisoned or
/// not). It never waits, so it adds no dependency into the lock's class.
#[track_caller]
#[inline]
pub(super) fn trying<G>(
    map: &DepMap,
    read: u8,
    r: TryLockResult<G>,
) -> Result<LockResult<G>, TryLockError<G>> {
    let r = match r {
        Ok(g) => Ok(g),
        Err(TryLockError::Poisoned(p)) => Err(p),
        Err(TryLockError::WouldBlock) => return Err(TryLockError::WouldBlock),
    };
    validate::acquire(map, 0, read, true, Location::caller());
    Ok(r)
}

/// `r` with its guard (poisoned or not) turned into `f(guard)`.
#[inline]
pub(super) fn map<G, U>(r: LockResult<G>, f: impl FnOnce(G) -> U) -> LockResult<U> {
    match r {
        Ok(g) => Ok(f(g)),
        Err(p) => Err(PoisonError::new(f(p.into_inner()))),
    }
}

/// A trylock's outcome with its guard turned into `f(guard)`.
#[inline]
pub(super) fn map_try<G, U>(
    r: Result<LockResult<G>, TryLockError<G>>,
    f: impl FnOnce(G) -> U,
) -> TryLockResult<U> {
    match r {
        Ok(r) => map(r, f).map_err(TryLockError::Poisoned),
        Err(TryLockError::WouldBlock) => Err(TryLockError::WouldBlock),
        Err(TryLockError::Poisoned(p)) => Err(TryLockError::Poisoned(PoisonError::new(f(p.into_inner())))),
    }
}
