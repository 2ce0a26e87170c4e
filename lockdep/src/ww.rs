//! Wound/wait mutexes (the kernel's `ww_mutex`): locks that a transaction takes in any order,
//! with deadlocks between transactions resolved by backing off instead of being prevented by a
//! lock order.
//!
//! Every transaction has an [`WwAcquireCtx`] with a ticket (older = smaller). When it meets a
//! lock held by another transaction:
//! * **wait-die** ([`WwClass::wait_die`]): an older transaction waits, a younger one dies —
//!   `lock` returns [`WwError::Deadlk`];
//! * **wound-wait** ([`WwClass::wound_wait`]): an older transaction wounds the holder (which
//!   dies at its next contended lock, or while it waits) and waits; a younger one waits.
//!
//! A transaction that holds nothing never dies. After `Deadlk` it must release every lock of
//! the context, take the contended lock with [`WwMutex::lock_slow`], and start over.
//!
//! A wounded transaction that is waiting for another lock is woken by the transaction that
//! wounded it (it would otherwise wait for a lock whose holder waits for it): each context
//! publishes the wait queue it sleeps on, and the wounder notifies that queue. Waiters never
//! poll.
//!
//! The back-off paths are rare under real contention, so they are easily left untested;
//! [`WwAcquireCtx::set_deadlock_inject`] makes `lock` return `Deadlk` now and then without any
//! contention (the kernel's `CONFIG_DEBUG_WW_MUTEX_SLOWPATH`).
//!
//! The validator models this exactly as the kernel does: the context is an exclusive lock of
//! class `<name>_acquire` (so two contexts of one class in one thread are recursive locking),
//! and every mutex of the class is class `<name>_mutex`, taken with the context as its nest
//! lock (any number, any order, no recursion report), while ordering against every other class
//! is validated. Protocol misuse is reported: locking after `done()`, locking something else
//! after `Deadlk`, `lock_slow` without a `Deadlk` or with locks held, a context of another class,
//! a context dropped with locks held.

use crate::report::WwRule;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

#[cfg(feature = "check")]
use crate::engine::{
    map::{Key, LockKind},
    validate::{self, Acquire},
    DepMap,
};
#[cfg(feature = "check")]
use std::panic::Location;

/// A class of ww mutexes and their transactions (the kernel's `DEFINE_WD_CLASS` /
/// `DEFINE_WW_CLASS`).
pub struct WwClass {
    name: &'static str,
    wait_die: bool,
    stamp: AtomicU64,
    /// The class ids of `<name>_acquire` and `<name>_mutex` once resolved (0 = not yet): every
    /// transaction and every mutex of the class is a new lock, and this spares each of them a
    /// class look-up under the validator's lock.
    #[cfg(feature = "check")]
    pub(crate) ids: [std::sync::atomic::AtomicU32; 2],
}

impl WwClass {
    /// A wait-die class: a younger transaction dies when it meets an older holder.
    pub const fn wait_die(name: &'static str) -> Self {
        WwClass {
            name,
            wait_die: true,
            stamp: AtomicU64::new(0),
            #[cfg(feature = "check")]
            ids: [const { std::sync::atomic::AtomicU32::new(0) }; 2],
        }
    }

    /// A wound-wait class: an older transaction wounds a younger holder.
    pub const fn wound_wait(name: &'static str) -> Self {
        WwClass {
            name,
            wait_die: false,
            stamp: AtomicU64::new(0),
            #[cfg(feature = "check")]
            ids: [const { std::sync::atomic::AtomicU32::new(0) }; 2],
        }
    }

    /// The class name (lock classes `<name>_acquire` and `<name>_mutex`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the class uses wait-die (else wound-wait).
    pub fn is_wait_die(&self) -> bool {
        self.wait_die
    }
}

/// Why a ww lock was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WwError {
    /// `-EDEADLK`: back off — release every lock of the context, then `lock_slow` this one.
    Deadlk,
    /// `-EALREADY`: this context already holds the lock.
    Already,
}

impl std::fmt::Display for WwError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WwError::Deadlk => "deadlock avoided: back off and retry (EDEADLK)",
            WwError::Already => "lock already held by this acquire context (EALREADY)",
        })
    }
}

impl std::error::Error for WwError {}

/// State shared with other threads: the wound flag, and where the transaction sleeps.
struct CtxShared {
    wounded: AtomicBool,
    /// The address of the [`WaitQueue`] this transaction is blocked on (0: none). Set and
    /// cleared by the waiting thread while it does not hold that queue's lock, so the lock
    /// order is always this, then a queue's `owner`; the queue outlives the registration
    /// (the waiter borrows its mutex until it clears it).
    waiting_on: parking_lot::Mutex<usize>,
}

impl CtxShared {
    /// Wakes the transaction if it is waiting, so that it sees it was wounded. Called with no
    /// queue lock held. Taking the queue's lock before notifying closes the race with a waiter
    /// between its check of the wound flag and its sleep: it checks under that lock.
    fn wake(&self) {
        let waiting_on = self.waiting_on.lock();
        if *waiting_on != 0 {
            // SAFETY: a registered queue is alive: its waiter clears the registration (under
            // this lock, which we hold) before it stops borrowing the queue's mutex.
            let q = unsafe { &*(*waiting_on as *const WaitQueue) };
            drop(q.owner.lock());
            q.cond.notify_all();
        }
    }

    /// Registers (or, with `None`, clears) the queue this transaction is about to sleep on.
    fn wait_on(&self, q: Option<&WaitQueue>) {
        *self.waiting_on.lock() = q.map_or(0, |q| q as *const WaitQueue as usize);
    }
}

/// Clears a transaction's wait registration when its acquisition ends, however it ends.
struct Registered<'a>(&'a CtxShared);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.wait_on(None);
    }
}

/// An acquire context: one transaction locking a set of ww mutexes. Dropping it is
/// `ww_acquire_fini` (the borrow checker already makes every guard go first).
pub struct WwAcquireCtx {
    class: &'static WwClass,
    stamp: u64,
    shared: Arc<CtxShared>,
    acquired: Cell<u32>,
    done: Cell<bool>,
    /// The lock that returned `Deadlk`, until it is taken with `lock_slow` (0: none).
    contending: Cell<usize>,
    /// Deadlock injection: the current interval (0: off) and the locks left until the next.
    inject_interval: Cell<u32>,
    inject_countdown: Cell<u32>,
    /// How many `Deadlk` were injected (a `u32` like the other counters: saturates).
    injected: Cell<u32>,
    #[cfg(feature = "check")]
    map: DepMap,
    _not_send: PhantomData<*const ()>,
}

impl WwAcquireCtx {
    /// Starts a transaction of `class` (`ww_acquire_init`).
    #[cfg_attr(feature = "check", track_caller)]
    pub fn new(class: &'static WwClass) -> Self {
        let ctx = WwAcquireCtx {
            class,
            stamp: class.stamp.fetch_add(1, Ordering::Relaxed) + 1,
            shared: Arc::new(CtxShared {
                wounded: AtomicBool::new(false),
                waiting_on: parking_lot::Mutex::new(0),
            }),
            acquired: Cell::new(0),
            done: Cell::new(false),
            contending: Cell::new(0),
            inject_interval: Cell::new(0),
            inject_countdown: Cell::new(0),
            injected: Cell::new(0),
            #[cfg(feature = "check")]
            map: DepMap::new(Key::WwAcquire(class), LockKind::WwAcquire),
            _not_send: PhantomData,
        };
        #[cfg(feature = "check")]
        validate::acquire_with(
            &ctx.map,
            Acquire {
                instance: ctx.id(),
                subclass: 0,
                read: 0,
                trylock: false,
                timed: false,
                nest: 0,
                loc: Location::caller(),
                sync: false,
            },
        );
        ctx
    }

    /// The context's identity (stable while it moves).
    fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// The transaction's ticket: smaller is older.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// How many locks the transaction holds.
    pub fn acquired(&self) -> u32 {
        self.acquired.get()
    }

    /// Makes [`WwMutex::lock`] return [`WwError::Deadlk`] without contention: the
    /// `interval`-th lock taken while the transaction already holds another is released again
    /// and reported as contended, as the kernel's `ctx->deadlock_inject_interval`
    /// (`CONFIG_DEBUG_WW_MUTEX_SLOWPATH`) does, so the back-off path (release all, `lock_slow`,
    /// start over) runs in tests that never contend. 0 turns it off.
    ///
    /// After each injection the interval grows (by 3.5 times, as in the kernel): with a fixed
    /// interval a transaction needing more locks than the interval would back off forever.
    /// Works with or without the `check` feature.
    #[doc(alias = "deadlock_inject_interval")]
    pub fn set_deadlock_inject(&self, interval: u32) {
        self.inject_interval.set(interval);
        self.inject_countdown.set(interval);
    }

    /// How many `Deadlk` [`set_deadlock_inject`](Self::set_deadlock_inject) injected so far.
    pub fn deadlocks_injected(&self) -> u32 {
        self.injected.get()
    }

    /// Whether the lock just taken is to be given back with an injected `Deadlk`.
    fn inject_due(&self) -> bool {
        let interval = self.inject_interval.get();
        if interval == 0 || self.acquired.get() <= 1 {
            return false;
        }
        let left = self.inject_countdown.get().saturating_sub(1);
        if left > 0 {
            self.inject_countdown.set(left);
            return false;
        }
        let next = if interval > u32::MAX / 4 {
            u32::MAX
        } else {
            interval * 3 + interval / 2
        };
        self.inject_interval.set(next);
        self.inject_countdown.set(next);
        self.injected.set(self.injected.get().saturating_add(1));
        true
    }

    /// Ends the locking phase (`ww_acquire_done`): locking more is then misuse.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn done(&self) {
        if self.done.replace(true) {
            misuse(WwRule::DoneTwice);
        }
    }
}

impl Drop for WwAcquireCtx {
    fn drop(&mut self) {
        if self.acquired.get() > 0 {
            misuse(WwRule::FiniWithLocksHeld);
        }
        #[cfg(feature = "check")]
        validate::release_instance(&self.map, self.id(), Location::caller());
    }
}

impl std::fmt::Debug for WwAcquireCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WwAcquireCtx")
            .field("class", &self.class.name)
            .field("stamp", &self.stamp)
            .field("acquired", &self.acquired.get())
            .finish()
    }
}

#[cfg_attr(feature = "check", track_caller)]
fn misuse(rule: WwRule) {
    #[cfg(feature = "check")]
    validate::misuse(crate::engine::check::Protocol::Ww(rule), Location::caller());
    #[cfg(not(feature = "check"))]
    let _ = rule;
}

/// Who holds a ww mutex.
#[derive(Default)]
struct Owner {
    held: bool,
    /// The holding context (0: none, a plain `lock_noctx`).
    ctx: usize,
    stamp: u64,
    shared: Option<Arc<CtxShared>>,
}

/// A wound/wait mutex of a [`WwClass`].
///
/// ```
/// use lockdep::{WwAcquireCtx, WwClass, WwError, WwMutex};
///
/// static RESV: WwClass = WwClass::wait_die("reservation_ww_class");
/// let a = WwMutex::new(1, &RESV);
/// let b = WwMutex::new(2, &RESV);
///
/// let ctx = WwAcquireCtx::new(&RESV);
/// let ga = a.lock(&ctx).unwrap();
/// let gb = match b.lock(&ctx) {
///     Ok(g) => g,
///     Err(WwError::Deadlk) => unreachable!("no other transaction here"),
///     Err(WwError::Already) => unreachable!(),
/// };
/// ctx.done();
/// assert_eq!(*ga + *gb, 3);
/// ```
pub struct WwMutex<T: ?Sized> {
    class: &'static WwClass,
    queue: WaitQueue,
    #[cfg(feature = "check")]
    map: DepMap,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, and a guard exists only while this thread
// owns the lock (`owner.held`), as for any mutex.
unsafe impl<T: ?Sized + Send> Send for WwMutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for WwMutex<T> {}

/// Who holds a ww mutex, and where its waiters sleep (not generic, so a transaction can name
/// the queue it waits on whatever the mutex's data).
struct WaitQueue {
    owner: parking_lot::Mutex<Owner>,
    cond: parking_lot::Condvar,
}

/// A held ww mutex; released when dropped.
#[must_use = "if unused the lock is released at once"]
pub struct WwMutexGuard<'a, T: ?Sized> {
    lock: &'a WwMutex<T>,
    ctx: Option<&'a WwAcquireCtx>,
    _not_send: PhantomData<*const ()>,
}

/// How a blocking acquisition treats contention.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// With a context: may die.
    Ctx,
    /// `lock_slow`: waits, never dies.
    Slow,
    /// No context.
    Plain,
}

impl<T> WwMutex<T> {
    /// A new unlocked mutex of `class`.
    pub const fn new(value: T, class: &'static WwClass) -> Self {
        WwMutex {
            class,
            queue: WaitQueue {
                owner: parking_lot::Mutex::new(Owner {
                    held: false,
                    ctx: 0,
                    stamp: 0,
                    shared: None,
                }),
                cond: parking_lot::Condvar::new(),
            },
            #[cfg(feature = "check")]
            map: DepMap::new(Key::WwMutex(class), LockKind::WwMutex),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> WwMutex<T> {
    fn addr(&self) -> usize {
        self as *const Self as *const u8 as usize
    }

    /// Locks as part of the transaction `ctx` (`ww_mutex_lock(lock, ctx)`).
    ///
    /// # Errors
    /// * [`WwError::Deadlk`]: an older transaction holds it (wait-die) or wounded this one
    ///   (wound-wait), or one was injected ([`WwAcquireCtx::set_deadlock_inject`]) — release
    ///   every lock of `ctx`, then [`lock_slow`](Self::lock_slow) this one.
    /// * [`WwError::Already`]: `ctx` holds it already.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn lock<'a>(&'a self, ctx: &'a WwAcquireCtx) -> Result<WwMutexGuard<'a, T>, WwError> {
        self.check_ctx(ctx, false);
        if self.queue.owner.lock().ctx == ctx.id() {
            return Err(WwError::Already);
        }
        let guard = self.acquire(Some(ctx), Mode::Ctx)?;
        if ctx.inject_due() {
            drop(guard);
            ctx.contending.set(self.addr());
            return Err(WwError::Deadlk);
        }
        Ok(guard)
    }

    /// Locks the contended lock after backing off (`ww_mutex_lock_slow`): waits, never dies.
    /// Only valid right after this lock returned `Deadlk` and every other lock of `ctx` was
    /// released.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn lock_slow<'a>(&'a self, ctx: &'a WwAcquireCtx) -> WwMutexGuard<'a, T> {
        self.check_ctx(ctx, true);
        match self.acquire(Some(ctx), Mode::Slow) {
            Ok(g) => g,
            Err(_) => unreachable!("lock_slow never backs off"),
        }
    }

    /// Locks without a transaction (`ww_mutex_lock(lock, NULL)`): a plain mutex. Holding two
    /// of one class this way is recursive locking.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn lock_noctx(&self) -> WwMutexGuard<'_, T> {
        match self.acquire(None, Mode::Plain) {
            Ok(g) => g,
            Err(_) => unreachable!("a plain lock never backs off"),
        }
    }

    /// Takes the lock if it is free (`ww_mutex_trylock`), in `ctx` if given.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn try_lock<'a>(&'a self, ctx: Option<&'a WwAcquireCtx>) -> Option<WwMutexGuard<'a, T>> {
        if let Some(c) = ctx {
            if c.acquired.get() == 0 {
                c.shared.wounded.store(false, Ordering::Relaxed);
            }
        }
        let mut o = self.queue.owner.lock();
        if o.held {
            return None;
        }
        self.take(&mut o, ctx);
        drop(o);
        #[cfg(feature = "check")]
        validate::acquire_with(&self.map, self.acq(ctx, true));
        Some(WwMutexGuard {
            lock: self,
            ctx,
            _not_send: PhantomData,
        })
    }

    /// Whether anyone holds it.
    pub fn is_locked(&self) -> bool {
        self.queue.owner.lock().held
    }

    /// The value, through a unique borrow.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cfg(feature = "check")]
    #[track_caller]
    fn acq(&self, ctx: Option<&WwAcquireCtx>, trylock: bool) -> Acquire {
        Acquire {
            instance: self.map.instance(),
            subclass: 0,
            read: 0,
            trylock,
            timed: false,
            nest: ctx.map_or(0, |c| c.id()),
            loc: Location::caller(),
            sync: false,
        }
    }

    /// The protocol checks of `lock`/`lock_slow`.
    #[cfg_attr(feature = "check", track_caller)]
    fn check_ctx(&self, ctx: &WwAcquireCtx, slow: bool) {
        if !std::ptr::eq(ctx.class, self.class) {
            misuse(WwRule::ContextOfOtherClass);
        }
        if ctx.done.get() {
            misuse(WwRule::LockedAfterDone);
        }
        let contending = ctx.contending.get();
        if slow {
            if contending == 0 {
                misuse(WwRule::SlowWithoutDeadlk);
            } else if contending != self.addr() {
                misuse(WwRule::SlowOnOtherLock);
            }
            if ctx.acquired.get() > 0 {
                misuse(WwRule::SlowWithLocksHeld);
            }
        } else if contending != 0 {
            if contending != self.addr() {
                misuse(WwRule::DeadlkIgnoredOtherLock);
            } else if ctx.acquired.get() > 0 {
                misuse(WwRule::DeadlkIgnoredRetake);
            }
        }
    }

    fn take(&self, o: &mut Owner, ctx: Option<&WwAcquireCtx>) {
        o.held = true;
        match ctx {
            Some(c) => {
                o.ctx = c.id();
                o.stamp = c.stamp;
                o.shared = Some(c.shared.clone());
                c.acquired.set(c.acquired.get() + 1);
                c.contending.set(0);
            }
            None => {
                o.ctx = 0;
                o.shared = None;
            }
        }
    }

    #[cfg_attr(feature = "check", track_caller)]
    fn acquire<'a>(
        &'a self,
        ctx: Option<&'a WwAcquireCtx>,
        mode: Mode,
    ) -> Result<WwMutexGuard<'a, T>, WwError> {
        // Validated before blocking, with the context as nest lock.
        #[cfg(feature = "check")]
        validate::acquire_with(&self.map, self.acq(ctx, false));
        if let Some(c) = ctx {
            if c.acquired.get() == 0 {
                c.shared.wounded.store(false, Ordering::Relaxed);
            }
        }
        let mut registered: Option<Registered<'_>> = None;
        let mut o = self.queue.owner.lock();
        // A lock this thread holds under its context, taken again without one: the held
        // stack cannot always tell (see `refuse_owned_by_ctx`), the owner can.
        #[cfg(feature = "check")]
        if o.held && o.ctx != 0 && ctx.is_none() {
            let owner = o.ctx;
            drop(o);
            validate::refuse_owned_by_ctx(&self.map, owner, Location::caller());
            o = self.queue.owner.lock();
        }
        #[cfg(feature = "check")]
        let mut first_wait = true;
        loop {
            if !o.held {
                self.take(&mut o, ctx);
                return Ok(WwMutexGuard {
                    lock: self,
                    ctx,
                    _not_send: PhantomData,
                });
            }
            if let (Mode::Ctx, Some(c)) = (mode, ctx) {
                let dies = c.acquired.get() > 0
                    && if self.class.wait_die {
                        // Younger than the holder: die. (A plain holder has no age: wait.)
                        o.ctx != 0 && c.stamp > o.stamp
                    } else {
                        c.shared.wounded.load(Ordering::Relaxed)
                    };
                if dies {
                    drop(o);
                    c.contending.set(self.addr());
                    #[cfg(feature = "check")]
                    validate::release_instance(&self.map, self.map.instance(), Location::caller());
                    return Err(WwError::Deadlk);
                }
                if !self.class.wait_die && c.acquired.get() > 0 && o.ctx != 0 && c.stamp < o.stamp {
                    // Older: wound the younger holder, which backs off at its next contention,
                    // or now if it is waiting. Woken with this queue's lock let go: its queue
                    // is another one, and queue locks are never held two at a time.
                    let victim = o
                        .shared
                        .clone()
                        .filter(|s| !s.wounded.swap(true, Ordering::Relaxed));
                    if let Some(victim) = victim {
                        drop(o);
                        victim.wake();
                        o = self.queue.owner.lock();
                        continue;
                    }
                }
                if registered.is_none() && !self.class.wait_die {
                    // About to sleep: say where, so a wounder can wake this transaction. Not
                    // under the queue's lock (the wounder takes the registration first).
                    drop(o);
                    c.shared.wait_on(Some(&self.queue));
                    registered = Some(Registered(&c.shared));
                    o = self.queue.owner.lock();
                    continue;
                }
            }
            // About to wait: if this thread is the holder (a plain lock taken twice), that
            // would be forever, so it is reported and panics instead.
            #[cfg(feature = "check")]
            if std::mem::replace(&mut first_wait, false) {
                drop(o);
                validate::contended(&self.map, self.map.instance(), 0, Location::caller());
                o = self.queue.owner.lock();
                continue;
            }
            // Woken by a release, or by the transaction that wounded this one.
            self.queue.cond.wait(&mut o);
        }
    }
}

impl<T: ?Sized> crate::Lockable for WwMutex<T> {
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

impl<T: ?Sized> std::ops::Deref for WwMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread owns the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> std::ops::DerefMut for WwMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed uniquely.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for WwMutexGuard<'_, T> {
    fn drop(&mut self) {
        #[cfg(feature = "check")]
        validate::release_instance(&self.lock.map, self.lock.map.instance(), Location::caller());
        let mut o = self.lock.queue.owner.lock();
        o.held = false;
        o.ctx = 0;
        o.shared = None;
        drop(o);
        if let Some(c) = self.ctx {
            c.acquired.set(c.acquired.get().saturating_sub(1));
        }
        self.lock.queue.cond.notify_all();
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for WwMutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized> std::fmt::Debug for WwMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WwMutex")
            .field("class", &self.class.name)
            .field("locked", &self.is_locked())
            .finish()
    }
}
