//! [`RwLock`]: the sleeping reader-writer lock (the kernel's `rw_semaphore`) over
//! `parking_lot::RwLock`, with `parking_lot`'s whole surface (its guards are in `rwlock_guards`).
//!
//! `parking_lot` parks a thread that waits for the lock, so it is validated as a sleeping lock,
//! exactly like [`Mutex`](crate::Mutex): taking it under a spinning lock, in an interrupt
//! handler or with interrupts disabled is reported. Code that must take a reader-writer lock
//! there uses [`RwSpinLock`](crate::RwSpinLock) (the kernel's `rwlock_t`).
//!
//! Readers come in two flavours, and the validator tells them apart exactly as the kernel does:
//! * [`read`](RwLock::read) is a **non-recursive** reader: `parking_lot` queues it behind a
//!   waiting writer, so a thread that holds a read lock and takes it for reading again can
//!   deadlock (another thread's writer slipped in between) — validated like `down_read`;
//! * [`read_recursive`](RwLock::read_recursive) never waits for writers when the lock is
//!   read-held, so read-after-read on it is legitimate — validated as a recursive reader (the
//!   kernel's `rw_semaphore` has none; its `rwlock_t` readers are). A cycle that only goes
//!   through recursive readers is not a deadlock.
//!
//! Upgradable reads are modelled as the type's documentation describes.

#[cfg(feature = "check")]
use crate::engine::held::{READ, READ_RECURSIVE, WRITE};
#[cfg(feature = "check")]
use crate::engine::{validate, DepMap};
use crate::LockClass;
#[cfg(feature = "check")]
use std::panic::Location;
#[cfg(feature = "check")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use super::rwlock_guards::{
    MappedRwLockReadGuard, MappedRwLockWriteGuard, RwLockReadGuard, RwLockUpgradableReadGuard,
    RwLockWriteGuard,
};

/// A reader-writer lock that sleeps while it waits, validated as an `rw_semaphore`.
///
/// # Differences from `parking_lot::RwLock`
///
/// * With `check`, every acquisition is validated before it blocks: an order that could
///   deadlock, a non-recursive read of a class this thread already reads, or taking it where
///   the thread may not sleep (under a [`SpinLock`](crate::SpinLock), in
///   [`irq_context`](crate::irq_context), with interrupts disabled) is reported.
/// * Its class is the creation site (or a [`LockClass`]), as for every lock of this crate.
/// * The guards are `!Send` with `check`, even if `parking_lot`'s `send_guard` feature is on.
/// * Without `check` it is the plain lock, with the plain guards.
///
/// # Upgradable reads
///
/// With `check` (without it they are `parking_lot`'s, unvalidated). The kernel has no
/// upgradable reader, so it is modelled with what the kernel has. An
/// [`upgradable_read`](RwLock::upgradable_read) excludes writers and other upgradable readers
/// but not readers; and while one is held `parking_lot` lets no writer queue ahead of readers
/// (a writer waits without blocking new readers), so a held upgradable read never makes a
/// reader wait. Each lock therefore has a companion class, `<class>:upgradable`, for its single
/// upgradable slot:
/// * an upgradable read is an exclusive hold of the companion only. It is *not* a hold of the
///   lock: readers (on this thread or another) never wait for it, so `upgradable_read` then
///   `read` on one thread, or a cycle through a reader and an upgradable reader, is not reported;
/// * taking it is first checked as a non-recursive read of the lock that is not kept (as
///   `LockMap::sync` checks a wait): it waits behind a writer, held or queued, like `read`;
/// * once a lock has had an upgradable reader, each writer holds the companion too (taken
///   before the lock), so a writer waits for a held upgradable read and vice versa. Until then
///   writers skip it: a lock that is never read upgradably pays nothing, and one that is pays
///   one extra acquisition per write. Writes made before the lock's first upgradable read order
///   nothing against the companion;
/// * [`upgrade`](RwLockUpgradableReadGuard::upgrade) waits for the readers to leave: a
///   blocking write acquisition of the lock on top of what the thread holds, so a lock taken
///   between `upgradable_read` and `upgrade` is ordered before a write of the lock (and a
///   reader that then wants that lock closes a cycle). `try_upgrade` is a trylock of it;
///   `downgrade` gives up the companion and holds a read (taken without waiting);
///   `downgrade_to_upgradable` gives up the write and keeps (or takes, without waiting) the
///   companion;
/// * since an upgradable read is no hold of the lock itself, [`assert_held`](crate::assert_held)
///   and [`assert_held_read`](crate::assert_held_read) on the lock do not count it;
///   [`is_held_by_current_thread`](RwLock::is_held_by_current_thread) does.
///
/// ```
/// let l = lockdep::RwLock::new(5);
/// {
///     let r1 = l.read_recursive();
///     let r2 = l.read_recursive();
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *l.write() += 1;
/// assert_eq!(*l.read(), 6);
/// ```
#[doc(alias = "rw_semaphore")]
#[cfg_attr(not(feature = "check"), repr(transparent))]
pub struct RwLock<T: ?Sized> {
    #[cfg(feature = "check")]
    pub(crate) map: DepMap,
    /// The companion class of the upgradable-read slot (see the module documentation).
    #[cfg(feature = "check")]
    pub(crate) up: DepMap,
    /// Whether the lock has had an upgradable reader: from then on writers hold `up` too.
    #[cfg(feature = "check")]
    pub(crate) upgradable_used: AtomicBool,
    pub(crate) inner: parking_lot::RwLock<T>,
}

impl<T> RwLock<T> {
    /// A new unlocked lock; its class is the call site.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub const fn new(value: T) -> Self {
        RwLock {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Site(Location::caller()),
                crate::engine::map::LockKind::RwLock,
            ),
            #[cfg(feature = "check")]
            up: DepMap::new(
                crate::engine::map::Key::UpgradeSite(Location::caller()),
                crate::engine::map::LockKind::RwLock,
            ),
            #[cfg(feature = "check")]
            upgradable_used: AtomicBool::new(false),
            inner: parking_lot::RwLock::new(value),
        }
    }

    /// A new unlocked lock in the named class `class`.
    #[inline]
    pub const fn with_class(value: T, class: &'static LockClass) -> Self {
        #[cfg(not(feature = "check"))]
        let _ = class;
        RwLock {
            #[cfg(feature = "check")]
            map: DepMap::new(
                crate::engine::map::Key::Class(class),
                crate::engine::map::LockKind::RwLock,
            ),
            #[cfg(feature = "check")]
            up: DepMap::new(
                crate::engine::map::Key::UpgradeClass(class),
                crate::engine::map::LockKind::RwLock,
            ),
            #[cfg(feature = "check")]
            upgradable_used: AtomicBool::new(false),
            inner: parking_lot::RwLock::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        #[cfg(feature = "check")]
        {
            let this = std::mem::ManuallyDrop::new(self);
            validate::check_consumed(&this.map, this.is_locked());
            validate::check_freed(&this.up);
            // SAFETY: `this` is never used or dropped again.
            unsafe { std::ptr::read(&this.inner) }.into_inner()
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.into_inner()
        }
    }
}

/// Generates a blocking read method and its `_nested` variant.
macro_rules! read_fn {
    ($(#[$doc:meta])* $name:ident, $nested:ident, $read:expr, $plain:ident, $try_plain:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(&self) -> RwLockReadGuard<'_, T> {
            self.$nested(0)
        }

        /// The same, as nesting level `subclass` of the lock's class.
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $nested(&self, subclass: u32) -> RwLockReadGuard<'_, T> {
            #[cfg(feature = "check")]
            {
                validate::acquire(&self.map, subclass, $read, false, Location::caller());
                let inner = validate::lock_raw(&self.map, $read, || self.inner.$try_plain(), || self.inner.$plain());
                RwLockReadGuard::new(inner, self)
            }
            #[cfg(not(feature = "check"))]
            {
                let _ = subclass;
                self.inner.$plain()
            }
        }
    };
}

/// Generates a read trylock method.
macro_rules! try_read_fn {
    ($(#[$doc:meta])* $name:ident, $read:expr, $plain:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(&self) -> Option<RwLockReadGuard<'_, T>> {
            #[cfg(feature = "check")]
            {
                let inner = self.inner.$plain()?;
                validate::acquire(&self.map, 0, $read, true, Location::caller());
                Some(RwLockReadGuard::new(inner, self))
            }
            #[cfg(not(feature = "check"))]
            {
                self.inner.$plain()
            }
        }
    };
}

/// Generates a timed read method (`$arg` a `Duration` or an `Instant`).
macro_rules! timed_read_fn {
    ($(#[$doc:meta])* $name:ident, $read:expr, $arg:ty, $plain:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "check", track_caller)]
        #[inline]
        pub fn $name(&self, timeout: $arg) -> Option<RwLockReadGuard<'_, T>> {
            #[cfg(feature = "check")]
            {
                let inner = crate::sync::timed::lock_timed(&self.map, $read, Location::caller(), || {
                    self.inner.$plain(timeout)
                })?;
                Some(RwLockReadGuard::new(inner, self))
            }
            #[cfg(not(feature = "check"))]
            {
                self.inner.$plain(timeout)
            }
        }
    };
}

impl<T: ?Sized> RwLock<T> {
    read_fn! {
        /// Takes the lock for reading as a non-recursive reader (it waits behind a queued
        /// writer, like `down_read`).
        read, read_nested, READ, read, try_read
    }
    read_fn! {
        /// Takes the lock for reading as a recursive reader: it never waits for a writer while
        /// the lock is read-held, so the same thread may take it again for reading.
        read_recursive, read_recursive_nested, READ_RECURSIVE, read_recursive, try_read_recursive
    }
    try_read_fn! {
        /// Takes the lock for reading if that needs no waiting.
        try_read, READ, try_read
    }
    try_read_fn! {
        /// Takes the lock for reading, recursively, if that needs no waiting.
        try_read_recursive, READ_RECURSIVE, try_read_recursive
    }
    timed_read_fn! {
        /// Takes the lock for reading, waiting at most `timeout`. With `check` it is validated
        /// as [`read`](Self::read) is, before the wait; its report says the wait was bounded.
        try_read_for, READ, Duration, try_read_for
    }
    timed_read_fn! {
        /// Takes the lock for reading, waiting until `deadline` at most (validated as
        /// [`try_read_for`](Self::try_read_for)).
        try_read_until, READ, Instant, try_read_until
    }
    timed_read_fn! {
        /// Takes the lock for reading recursively, waiting at most `timeout` (validated as
        /// [`read_recursive`](Self::read_recursive), with a bounded wait).
        try_read_recursive_for, READ_RECURSIVE, Duration, try_read_recursive_for
    }
    timed_read_fn! {
        /// Takes the lock for reading recursively, waiting until `deadline` at most.
        try_read_recursive_until, READ_RECURSIVE, Instant, try_read_recursive_until
    }

    /// Takes the lock for writing.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.write_nested(0)
    }

    /// The same, as nesting level `subclass` of the lock's class.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn write_nested(&self, subclass: u32) -> RwLockWriteGuard<'_, T> {
        #[cfg(feature = "check")]
        {
            let loc = Location::caller();
            let up = self.upgradable_used.load(Ordering::Relaxed);
            if up {
                validate::acquire(&self.up, 0, WRITE, false, loc);
            }
            validate::acquire(&self.map, subclass, WRITE, false, loc);
            let inner = validate::lock_raw(
                &self.map,
                WRITE,
                || self.inner.try_write(),
                || {
                    if up {
                        // Blocked by this thread's own upgradable read? That waits for ever:
                        // `contended` reports it and panics, with the lock's record gone
                        // first (it forgets only the companion's). Otherwise the record comes
                        // back, on this slow path only.
                        validate::release(&self.map, loc);
                        validate::contended(&self.up, self.up.instance(), WRITE, loc);
                        validate::acquire(&self.map, subclass, WRITE, false, loc);
                    }
                    self.inner.write()
                },
            );
            RwLockWriteGuard::new(inner, self, up)
        }
        #[cfg(not(feature = "check"))]
        {
            let _ = subclass;
            self.inner.write()
        }
    }

    /// Takes the lock for writing if it is free.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            let inner = self.inner.try_write()?;
            let loc = Location::caller();
            let up = self.upgradable_used.load(Ordering::Relaxed);
            if up {
                validate::acquire(&self.up, 0, WRITE, true, loc);
            }
            validate::acquire(&self.map, 0, WRITE, true, loc);
            Some(RwLockWriteGuard::new(inner, self, up))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_write()
        }
    }

    /// Takes the lock for writing, waiting at most `timeout`. With `check` it is validated as
    /// [`write`](Self::write) is, before the wait; its report says the wait was bounded.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_write_for(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            self.write_timed(Location::caller(), || self.inner.try_write_for(timeout))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_write_for(timeout)
        }
    }

    /// Takes the lock for writing, waiting until `deadline` at most (validated as
    /// [`try_write_for`](Self::try_write_for)).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_write_until(&self, deadline: Instant) -> Option<RwLockWriteGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            self.write_timed(Location::caller(), || self.inner.try_write_until(deadline))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_write_until(deadline)
        }
    }

    /// A timed write: the companion (once upgradable reads were seen) and the lock, validated
    /// as blocking, both given up again if `attempt` times out.
    #[cfg(feature = "check")]
    fn write_timed<'a>(
        &'a self,
        loc: &'static Location<'static>,
        attempt: impl FnOnce() -> Option<parking_lot::RwLockWriteGuard<'a, T>>,
    ) -> Option<RwLockWriteGuard<'a, T>> {
        let up = self.upgradable_used.load(Ordering::Relaxed);
        if up {
            let mut a = validate::Acquire::of(&self.up, 0, WRITE, false, loc);
            a.timed = true;
            validate::acquire_with(&self.up, a);
        }
        match crate::sync::timed::lock_timed(&self.map, WRITE, loc, attempt) {
            Some(inner) => Some(RwLockWriteGuard::new(inner, self, up)),
            None => {
                if up {
                    validate::release(&self.up, loc);
                }
                None
            }
        }
    }

    /// Takes an upgradable read: shared with readers, exclusive against writers and other
    /// upgradable readers; [`RwLockUpgradableReadGuard::upgrade`] turns it into a write lock
    /// without letting a writer in between. Validated as the module documentation describes.
    ///
    /// # Panics
    /// With `check`, when this thread already holds the lock's upgradable read, or a write lock
    /// taken since the lock's first upgradable read: that would wait for ever, so it is
    /// reported, then panics instead. (Under an older write lock it is reported and waits.)
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, T> {
        #[cfg(feature = "check")]
        {
            let loc = Location::caller();
            self.note_upgradable();
            // Waits behind a writer, held or queued, as a non-recursive reader does.
            let mut a = validate::Acquire::of(&self.map, 0, READ, false, loc);
            a.sync = true;
            validate::acquire_with(&self.map, a);
            validate::release(&self.map, loc);
            validate::acquire(&self.up, 0, WRITE, false, loc);
            let inner = validate::lock_raw(
                &self.up,
                WRITE,
                || self.inner.try_upgradable_read(),
                || self.inner.upgradable_read(),
            );
            RwLockUpgradableReadGuard::new(inner, self)
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.upgradable_read()
        }
    }

    /// Takes an upgradable read if that needs no waiting.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            let inner = self.inner.try_upgradable_read()?;
            self.note_upgradable();
            validate::acquire(&self.up, 0, WRITE, true, Location::caller());
            Some(RwLockUpgradableReadGuard::new(inner, self))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_upgradable_read()
        }
    }

    /// Takes an upgradable read, waiting at most `timeout`: validated as
    /// [`upgradable_read`](Self::upgradable_read) is, with a bounded wait.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_upgradable_read_for(&self, timeout: Duration) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            self.upgradable_timed(Location::caller(), || self.inner.try_upgradable_read_for(timeout))
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_upgradable_read_for(timeout)
        }
    }

    /// Takes an upgradable read, waiting until `deadline` at most.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_upgradable_read_until(&self, deadline: Instant) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        #[cfg(feature = "check")]
        {
            self.upgradable_timed(Location::caller(), || {
                self.inner.try_upgradable_read_until(deadline)
            })
        }
        #[cfg(not(feature = "check"))]
        {
            self.inner.try_upgradable_read_until(deadline)
        }
    }

    #[cfg(feature = "check")]
    fn upgradable_timed<'a>(
        &'a self,
        loc: &'static Location<'static>,
        attempt: impl FnOnce() -> Option<parking_lot::RwLockUpgradableReadGuard<'a, T>>,
    ) -> Option<RwLockUpgradableReadGuard<'a, T>> {
        self.note_upgradable();
        let mut a = validate::Acquire::of(&self.map, 0, READ, false, loc);
        a.sync = true;
        a.timed = true;
        validate::acquire_with(&self.map, a);
        validate::release(&self.map, loc);
        let inner = crate::sync::timed::lock_timed(&self.up, WRITE, loc, attempt)?;
        Some(RwLockUpgradableReadGuard::new(inner, self))
    }

    /// From now on writers of this lock hold its companion class too.
    #[cfg(feature = "check")]
    #[inline]
    pub(crate) fn note_upgradable(&self) {
        if !self.upgradable_used.load(Ordering::Relaxed) {
            self.upgradable_used.store(true, Ordering::Relaxed);
        }
    }

    /// Whether anyone holds the lock right now.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether a writer holds the lock right now.
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }

    /// The value, through a unique borrow.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// A raw pointer to the value. Using it is up to the caller: the lock is not taken, so the
    /// validator sees nothing.
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
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
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock_read() }
    }

    /// Releases a write lock without a guard. With `check`, releasing a lock this thread does
    /// not hold, or holds only for reading, is reported and the lock is left alone; the
    /// companion class, if the writer held it, is released too.
    ///
    /// # Safety
    /// The current thread must hold the write lock through a forgotten guard.
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_write(&self) {
        #[cfg(feature = "check")]
        if !self.release_write(Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock_write() }
    }

    /// [`force_unlock_read`](Self::force_unlock_read), handing the lock to a waiting thread.
    ///
    /// # Safety
    /// As [`force_unlock_read`](Self::force_unlock_read).
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_read_fair(&self) {
        #[cfg(feature = "check")]
        if !validate::release_as(&self.map, READ, Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock_read_fair() }
    }

    /// [`force_unlock_write`](Self::force_unlock_write), handing the lock to a waiting thread.
    ///
    /// # Safety
    /// As [`force_unlock_write`](Self::force_unlock_write).
    #[cfg_attr(feature = "check", track_caller)]
    pub unsafe fn force_unlock_write_fair(&self) {
        #[cfg(feature = "check")]
        if !self.release_write(Location::caller()) {
            return;
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.inner.force_unlock_write_fair() }
    }

    /// Releases a write hold of a forgotten guard (and the companion, if this thread holds it
    /// with no upgradable guard: the writer took it). Returns false if the lock was not held
    /// for writing by this thread (a read hold is reported and left alone).
    #[cfg(feature = "check")]
    fn release_write(&self, loc: &'static Location<'static>) -> bool {
        if !validate::release_as(&self.map, WRITE, loc) {
            return false;
        }
        if validate::is_held(&self.up) {
            validate::release(&self.up, loc);
        }
        true
    }

    /// Whether the current thread holds this lock (in any mode, an upgradable read included)
    /// according to the validator.
    #[inline]
    pub fn is_held_by_current_thread(&self) -> bool {
        #[cfg(feature = "check")]
        {
            validate::is_held(&self.map) || validate::is_held(&self.up)
        }
        #[cfg(not(feature = "check"))]
        {
            false
        }
    }
}

crate::lockable::lockable_via_map!(RwLock);

#[cfg(feature = "check")]
impl<T: ?Sized> Drop for RwLock<T> {
    fn drop(&mut self) {
        validate::check_consumed(&self.map, self.is_locked());
        validate::check_freed(&self.up);
    }
}

lock_std_traits!(RwLock);

/// A new [`RwLock`] (`parking_lot::const_rwlock`); `RwLock::new` is `const` too. Its class is
/// the call site.
#[cfg_attr(feature = "check", track_caller)]
#[inline]
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::new(value)
}
