//! [`RwSpinLock`]: the spinning reader-writer lock (the kernel's `rwlock_t`) over
//! `spin::RwLock`.
//!
//! It never sleeps, so it is validated as a spinning lock with a spinlock's wait types: it may
//! be taken wherever a [`SpinLock`](crate::SpinLock) may — in an interrupt handler, with
//! interrupts disabled, under another spinlock — and holding it is an atomic section, in which
//! a sleeping lock ([`Mutex`](crate::Mutex), [`RwLock`](crate::RwLock)) may not be taken.
//!
//! Its readers are **recursive**: `spin`'s writers hold no new reader back (a writer waits
//! until the lock is free), so a thread that reads the lock may read it again even while a
//! writer of another thread waits in between. That is the reader the kernel's lockdep assumes
//! for `read_lock` (always so in interrupt context). Outside interrupts the kernel's default
//! queued rwlock makes `read_lock` wait behind a queued writer, and lockdep validates it as a
//! non-recursive reader there: [`read_queued`](RwSpinLock::read_queued) validates that reader
//! for code that must also be correct on such a lock.

#[cfg(feature = "check")]
use crate::engine::held::{READ, READ_RECURSIVE, WRITE};
#[cfg(feature = "check")]
use crate::engine::{validate, DepMap};
#[cfg(feature = "check")]
use crate::sync::not_send::NotSend;
use crate::LockClass;
#[cfg(feature = "check")]
use std::panic::Location;

/// A reader-writer lock that spins while it waits, validated as the kernel's `rwlock_t`.
///
/// ```
/// let l = lockdep::RwSpinLock::new(5);
/// {
///     let r1 = l.read();
///     let r2 = l.read(); // readers are recursive
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *l.write() += 1;
/// assert_eq!(*l.try_read().unwrap(), 6);
/// ```
///
/// # Differences from `spin::RwLock`
///
/// * With `check`, every acquisition is validated before it spins, with a spinlock's wait
///   types: allowed in [`irq_context`](crate::irq_context) and with interrupts off, reported
///   under a [`RawSpinLock`](crate::RawSpinLock); a sleeping lock taken while it is held is
///   reported. Its class follows the irq-safety rules of any spinning lock: a class also taken
///   in an interrupt handler must not be write-locked with interrupts enabled.
/// * [`read`](Self::read) and [`try_read`](Self::try_read) are validated as recursive readers
///   (the kernel's `read_lock`/`read_trylock`); [`read_queued`](Self::read_queued) as the
///   non-recursive reader of the kernel's queued rwlock outside interrupts.
/// * Its class is the creation site (or a [`LockClass`]), as for every lock of this crate.
/// * With `check`, taking an instance this thread holds where that would spin forever (writing
///   it while holding it in any mode, reading it while writing it) is reported and then
///   panics instead of hanging; reading it again while reading it is fine.
/// * The guards are `!Send` with `check` (`spin`'s are `Send`).
/// * Upgradable reads and downgrading are not offered (the kernel's `rwlock_t` has neither).
/// * Without `check` it is the plain `spin::RwLock`, with the plain guards. Like it, it lets
///   readers starve a writer: keep read sections short.
#[doc(alias = "rwlock_t")]
#[cfg_attr(not(feature = "check"), repr(transparent))]
pub struct RwSpinLock<T: ?Sized> {
    #[cfg(feature = "check")]
    map: DepMap,
    inner: spin::RwLock<T>,
}

#[cfg(not(feature = "check"))]
mod guards {
    /// A read guard: with the `check` feature off, the plain lock's guard (`Send`).
    pub type RwSpinLockReadGuard<'a, T> = spin::rwlock::RwLockReadGuard<'a, T>;
    /// A write guard: with the `check` feature off, the plain lock's guard (`Send`).
    pub type RwSpinLockWriteGuard<'a, T> = spin::rwlock::RwLockWriteGuard<'a, T>;
}

#[cfg(feature = "check")]
mod guards {
    use crate::engine::{validate, DepMap};
    use crate::sync::not_send::NotSend;
    use std::panic::Location;

    /// A read guard; the read lock is released when it is dropped. Not `Send`: the thread
    /// that took the lock releases it.
    #[must_use = "if unused the lock is released at once"]
    pub struct RwSpinLockReadGuard<'a, T: ?Sized + 'a> {
        pub(crate) inner: spin::rwlock::RwLockReadGuard<'a, T>,
        pub(crate) map: &'a DepMap,
        pub(crate) _not_send: NotSend,
    }

    /// A write guard; the write lock is released when it is dropped. Not `Send`: the thread
    /// that took the lock releases it.
    #[must_use = "if unused the lock is released at once"]
    pub struct RwSpinLockWriteGuard<'a, T: ?Sized + 'a> {
        pub(crate) inner: spin::rwlock::RwLockWriteGuard<'a, T>,
        pub(crate) map: &'a DepMap,
        pub(crate) _not_send: NotSend,
    }

    impl<T: ?Sized> std::ops::Deref for RwSpinLockReadGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T: ?Sized> std::ops::Deref for RwSpinLockWriteGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.inner
        }
    }

    impl<T: ?Sized> std::ops::DerefMut for RwSpinLockWriteGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            &mut self.inner
        }
    }

    impl<T: ?Sized> Drop for RwSpinLockReadGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(self.map, Location::caller());
        }
    }

    impl<T: ?Sized> Drop for RwSpinLockWriteGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            validate::release(self.map, Location::caller());
        }
    }

    impl<'a, T: ?Sized> RwSpinLockReadGuard<'a, T> {
        /// Keeps the read lock held for ever and returns the value with the guard's lifetime
        /// (`spin`'s `leak`); the validator forgets the hold.
        #[track_caller]
        pub fn leak(this: Self) -> &'a T {
            let this = std::mem::ManuallyDrop::new(this);
            validate::release(this.map, Location::caller());
            // SAFETY: `this` is never used or dropped again, so the plain guard moves out once.
            spin::rwlock::RwLockReadGuard::leak(unsafe { std::ptr::read(&this.inner) })
        }
    }

    impl<'a, T: ?Sized> RwSpinLockWriteGuard<'a, T> {
        /// Keeps the write lock held for ever and returns the value with the guard's lifetime
        /// (`spin`'s `leak`); the validator forgets the hold.
        #[track_caller]
        pub fn leak(this: Self) -> &'a mut T {
            let this = std::mem::ManuallyDrop::new(this);
            validate::release(this.map, Location::caller());
            // SAFETY: `this` is never used or dropped again, so the plain guard moves out once.
            spin::rwlock::RwLockWriteGuard::leak(unsafe { std::ptr::read(&this.inner) })
        }
    }

    impl<T: ?Sized + std::fmt::Display> std::fmt::Display for RwSpinLockReadGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Display> std::fmt::Display for RwSpinLockWriteGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwSpinLockReadGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwSpinLockWriteGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }
}

pub use guards::{RwSpinLockReadGuard, RwSpinLockWriteGuard};

impl<T> RwSpinLock<T> {
    /// A new unlocked lock; its class is the call site.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub const fn new(value: T) -> Self {
        RwSpinLock {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Site(Location::caller()),
                crate::engine::map::LockKind::RwSpinLock,
            ),
            inner: spin::RwLock::new(value),
        }
    }

    /// A new unlocked lock in the named class `class`.
    #[inline]
    pub const fn with_class(value: T, class: &'static LockClass) -> Self {
        #[cfg(not(feature = "check"))]
        let _ = class;
        RwSpinLock {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Class(class),
                crate::engine::map::LockKind::RwSpinLock,
            ),
            inner: spin::RwLock::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        #[cfg(feature = "check")]
        {
            let this = std::mem::ManuallyDrop::new(self);
            validate::check_consumed(&this.map, this.is_locked());
            // SAFETY: `this` is never used or dropped again, so the lock is moved out exactly
            // once; the validator record has no drop glue.
            unsafe { std::ptr::read(&this.inner) }.into_inner()
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.into_inner()
        }
    }
}

/// Generates a spinning acquisition method and its `_nested` variant.
macro_rules! spin_fn {
    ($(#[$doc:meta])* $name:ident, $nested:ident, $read:expr, $guard:ident, $plain:ident, $try_plain:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(&self) -> $guard<'_, T> {
            self.$nested(0)
        }

        /// The same, as nesting level `subclass` of the lock's class.
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $nested(&self, subclass: u32) -> $guard<'_, T> {
            #[cfg(feature = "check")]
            {
                let read = $read;
                validate::acquire(&self.map, subclass, read, false, Location::caller());
                // Spin only after the try failed, so a re-take by the holder is reported
                // (then panics) instead of spinning forever.
                let inner = validate::lock_raw(&self.map, read, || self.inner.$try_plain(), || self.inner.$plain());
                $guard {
                    inner,
                    map: &self.map,
                    _not_send: NotSend::MARK,
                }
            }
            #[cfg(not(feature = "check"))]
            {
                let _ = subclass;
                self.inner.$plain()
            }
        }
    };
}

/// Generates a trylock method.
macro_rules! try_spin_fn {
    ($(#[$doc:meta])* $name:ident, $read:expr, $guard:ident, $plain:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(&self) -> Option<$guard<'_, T>> {
            #[cfg(feature = "check")]
            {
                let inner = self.inner.$plain()?;
                validate::acquire(&self.map, 0, $read, true, Location::caller());
                Some($guard {
                    inner,
                    map: &self.map,
                    _not_send: NotSend::MARK,
                })
            }
            #[cfg(not(feature = "check"))]
            {
                self.inner.$plain()
            }
        }
    };
}

/// The reader flavour of [`RwSpinLock::read_queued`] in the current context (the kernel's
/// `read_lock_is_recursive()`, whose `in_interrupt()` counts bottom-half-disabled sections).
#[cfg(feature = "check")]
fn queued_reader() -> u8 {
    crate::engine::held::with(|h| {
        if h.hardirq > 0 || h.softirq > 0 || h.bh_off > 0 {
            READ_RECURSIVE
        } else {
            READ
        }
    })
}

impl<T: ?Sized> RwSpinLock<T> {
    spin_fn! {
        /// Takes the lock for reading (the kernel's `read_lock`), spinning while a writer
        /// holds it. A recursive reader: a waiting writer never holds it back, so the same
        /// thread may read the lock again, and a cycle through it as a reader is no deadlock.
        #[doc(alias = "read_lock")]
        read, read_nested, READ_RECURSIVE, RwSpinLockReadGuard, read, try_read
    }
    spin_fn! {
        /// Takes the lock for reading, validated as the kernel's `read_lock` on a queued
        /// rwlock: outside interrupt context a non-recursive reader (it would wait behind a
        /// queued writer), inside an interrupt handler or with bottom halves disabled a
        /// recursive one (the kernel lets those readers skip the queue). This lock itself lets
        /// the reader in as [`read`](Self::read) does; use it for code that must not rely on
        /// read recursion where the kernel forbids it.
        read_queued, read_queued_nested, queued_reader(), RwSpinLockReadGuard, read, try_read
    }
    spin_fn! {
        /// Takes the lock for writing (the kernel's `write_lock`), spinning until no reader or
        /// writer holds it.
        #[doc(alias = "write_lock")]
        write, write_nested, WRITE, RwSpinLockWriteGuard, write, try_write
    }
    try_spin_fn! {
        /// Takes the lock for reading if no writer holds it (`read_trylock`).
        #[doc(alias = "read_trylock")]
        try_read, READ_RECURSIVE, RwSpinLockReadGuard, try_read
    }
    try_spin_fn! {
        /// Takes the lock for writing if it is free (`write_trylock`).
        #[doc(alias = "write_trylock")]
        try_write, WRITE, RwSpinLockWriteGuard, try_write
    }

    /// Whether anyone holds the lock right now (a snapshot, for diagnostics only).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.writer_count() != 0 || self.inner.reader_count() != 0
    }

    /// The value, through a unique borrow.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Releases a read lock without a guard. With `check`, releasing a lock this thread does
    /// not hold, or holds only for writing, is reported and the lock is left alone.
    ///
    /// # Safety
    /// The current thread must hold a read lock through a forgotten guard.
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_read(&self) {
        #[cfg(feature = "check")]
        if !validate::release_as(&self.map, READ, Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller: a read lock is held, so one reader may go.
        unsafe { self.inner.force_read_decrement() }
    }

    /// Releases the write lock without a guard. With `check`, releasing a lock this thread
    /// does not hold, or holds only for reading, is reported and the lock is left alone.
    ///
    /// # Safety
    /// The current thread must hold the write lock through a forgotten guard.
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_write(&self) {
        #[cfg(feature = "check")]
        if !validate::release_as(&self.map, WRITE, Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller: the write lock is held and no guard will unlock it.
        unsafe { self.inner.force_write_unlock() }
    }

    /// Whether the current thread holds this lock (in any mode) according to the validator
    /// (always `false` with `check` off).
    #[inline]
    pub fn is_held_by_current_thread(&self) -> bool {
        #[cfg(feature = "check")]
        {
            validate::is_held(&self.map)
        }
        #[cfg(not(feature = "check"))]
        {
            false
        }
    }
}

crate::lockable::lockable_via_map!(RwSpinLock);

impl<T: ?Sized> RwSpinLock<T> {
    irqsave_fn! {
        /// Disables interrupts, then takes a (recursive) read lock (`read_lock_irqsave`); the
        /// guard releases it, then restores the interrupt state it found.
        ///
        /// # Panics
        /// As [`read`](Self::read); interrupts are restored first.
        read_irqsave, read, RwSpinLockReadGuard
    }

    irqsave_fn! {
        /// Disables interrupts, then takes the write lock (`write_lock_irqsave`); the guard
        /// releases it, then restores the interrupt state it found.
        ///
        /// # Panics
        /// As [`write`](Self::write); interrupts are restored first.
        write_irqsave, write, RwSpinLockWriteGuard
    }
}

#[cfg(feature = "check")]
impl<T: ?Sized> Drop for RwSpinLock<T> {
    fn drop(&mut self) {
        validate::check_consumed(&self.map, self.is_locked());
    }
}

lock_std_traits!(RwSpinLock);
