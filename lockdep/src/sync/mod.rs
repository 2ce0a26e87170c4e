//! The instrumented lock types.
//!
//! Each type wraps a plain lock (`parking_lot` for the sleeping locks, `spin` for the spinning
//! ones). With the `check` feature it also embeds a small validator record (class key and
//! cached class id) and reports every acquisition and release to the validator; without it the
//! type is a `#[repr(transparent)]` wrapper over the plain lock and its guards *are* the plain
//! guards, so the code compiles to exactly what the plain lock would.
//!
//! Like `parking_lot`, none of the types poison: a panic while holding a lock releases it.

#[macro_use]
mod exclusive;
mod condvar;
mod mutex;
mod rwlock;
mod spin;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use spin::{RawSpinLock, RawSpinLockGuard, SpinLock, SpinLockGuard};
