//! The instrumented lock types.
//!
//! Each type wraps a plain lock (`parking_lot` for the sleeping locks, `spin` for the spinning
//! ones). With the `check` feature it also embeds a small validator record (class key and
//! cached class id) and reports every acquisition and release to the validator; without it the
//! type is a `#[repr(transparent)]` wrapper over the plain lock and its guards *are* the plain
//! guards, so the code compiles to exactly what the plain lock would.
//!
//! Like `parking_lot`, none of the types poison: a panic while holding a lock releases it.
//!
//! # Which lock
//!
//! Each type is validated as the kernel lock it behaves like, so pick by how it waits and
//! where it must be taken:
//!
//! | type | kernel lock | waits by | may be taken |
//! |---|---|---|---|
//! | [`Mutex`] | `struct mutex` | parking the thread | in process context, with no spinning lock held |
//! | [`RwLock`] | `rw_semaphore` | parking the thread | as a `Mutex` |
//! | [`FairMutex`] | `struct mutex` | parking the thread (handed over fairly) | as a `Mutex` |
//! | [`ReentrantMutex`] | `struct mutex`, re-entered by its owner | parking the thread | as a `Mutex` |
//! | [`SpinLock`] | `spinlock_t` | spinning | anywhere but under a `RawSpinLock` |
//! | [`RwSpinLock`] | `rwlock_t` | spinning | as a `SpinLock` |
//! | [`RawSpinLock`] | `raw_spinlock_t` | spinning | anywhere, and `try_lock` in a panic handler |
//!
//! A sleeping lock taken where the thread may not sleep (in [`irq_context`](crate::irq_context),
//! with interrupts off, under a spinning lock) is reported twice, as the kernel reports it: an
//! invalid wait context and sleeping in atomic context.
//!
//! # Guards stay on their thread
//!
//! With `check`, every guard is `!Send` (and `Sync` when the data is): the validator records
//! held locks per thread, so a lock must be released by the thread that took it. Without
//! `check` the guards are the plain guards with the plain guards' auto traits (`spin`'s are
//! `Send`; `parking_lot`'s are `Send` only with its `send_guard` feature): code that moves a
//! guard to another thread builds only with `check` off.

#[cfg(feature = "check")]
#[macro_use]
mod retake;
#[cfg(feature = "check")]
#[macro_use]
mod map_fns;
#[macro_use]
mod std_traits;
#[macro_use]
mod exclusive;
#[macro_use]
mod pl_mutex;
#[macro_use]
mod irqsave;
#[cfg(feature = "arc_lock")]
mod arc_guards;
mod condvar;
mod mutex;
#[cfg(feature = "check")]
pub(crate) mod not_send;
mod once;
mod reentrant;
mod rw_spin;
mod rwlock;
mod rwlock_guards;
#[cfg(feature = "serde")]
mod serde_impls;
mod spin;
#[cfg(all(feature = "check", feature = "owning_ref"))]
mod stable_address;
#[cfg(feature = "check")]
mod timed;

#[cfg(feature = "arc_lock")]
pub use arc_guards::{ArcMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use irqsave::IrqSaveGuard;
pub use mutex::{
    const_fair_mutex, const_mutex, FairMutex, FairMutexGuard, MappedFairMutexGuard, MappedMutexGuard, Mutex,
    MutexGuard,
};
pub use once::{Once, OnceState};
pub use reentrant::{const_reentrant_mutex, MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};
pub use rw_spin::{RwSpinLock, RwSpinLockReadGuard, RwSpinLockWriteGuard};
pub use rwlock::{
    const_rwlock, MappedRwLockReadGuard, MappedRwLockWriteGuard, RwLock, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard,
};
pub use spin::{RawSpinLock, RawSpinLockGuard, SpinLock, SpinLockGuard};
