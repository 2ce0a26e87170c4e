//! [`LockMap`]: a pseudo-lock (the kernel's `struct lockdep_map`) — a named class with no data,
//! acquired and released to annotate an ordering that is not a lock: waiting for a fence
//! (`dma_fence_map`), entering reclaim (`fs_reclaim`), flushing a work item.

#[cfg(feature = "check")]
use crate::engine::{
    map::{Key, LockKind},
    validate, DepMap,
};
use crate::Lockable;
use std::marker::PhantomData;
#[cfg(feature = "check")]
use std::panic::Location;

/// The wait type a pseudo-lock imposes while held (only relevant to the wait-context check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitType {
    /// Not checked (the default for pseudo-locks).
    Unchecked,
    /// Never waits (like `rcu_read_lock`'s outer type).
    Free,
    /// Spins, even on real-time kernels (`raw_spinlock_t`).
    Spin,
    /// Spins, or sleeps on real-time kernels (`spinlock_t`, `rcu_read_lock`'s inner type).
    Config,
    /// May sleep (`mutex`).
    Sleep,
}

impl WaitType {
    #[cfg_attr(not(feature = "check"), allow(dead_code))]
    const fn code(self) -> u8 {
        match self {
            WaitType::Unchecked => 0,
            WaitType::Free => 1,
            WaitType::Spin => 2,
            WaitType::Config => 3,
            WaitType::Sleep => 4,
        }
    }
}

/// A pseudo-lock: a named class with no data.
///
/// ```
/// use lockdep::LockMap;
///
/// static FENCE_MAP: LockMap = LockMap::new("dma_fence_map");
///
/// let cookie = FENCE_MAP.try_read(); // begin a fence-signalling section
/// // ... only what may run while signalling a fence ...
/// drop(cookie); // end it
/// FENCE_MAP.sync(); // a fence wait: must not happen under locks taken while signalling
/// ```
pub struct LockMap {
    #[cfg(feature = "check")]
    map: DepMap,
    #[cfg(not(feature = "check"))]
    _name: &'static str,
}

/// A held pseudo-lock; released when dropped.
#[must_use = "if unused the pseudo-lock is released at once"]
pub struct LockMapGuard<'a> {
    #[cfg(feature = "check")]
    map: &'a DepMap,
    _p: PhantomData<(&'a LockMap, *const ())>,
}

impl LockMap {
    /// A pseudo-lock that is its own class, called `name`. Make it a `static` (a pseudo-lock
    /// created per object would make one class per object; per-object maps share a class with
    /// [`with_class`](Self::with_class)).
    pub const fn new(name: &'static str) -> Self {
        Self::with_wait_type(name, WaitType::Unchecked, WaitType::Unchecked)
    }

    /// A pseudo-lock with wait types: `outer` is what taking it needs, `inner` what may be
    /// taken while it is held (e.g. `Free`/`Config` for an `rcu_read_lock`-like section).
    pub const fn with_wait_type(name: &'static str, outer: WaitType, inner: WaitType) -> Self {
        #[cfg(feature = "check")]
        {
            LockMap {
                map: DepMap::with_wait(Key::Own(name), LockKind::Map, outer.code(), inner.code()),
            }
        }
        #[cfg(not(feature = "check"))]
        {
            let _ = (outer, inner);
            LockMap { _name: name }
        }
    }

    /// A pseudo-lock of the named class `class`, shared with every other map made with it:
    /// one map per object, one class for all of them, as the kernel's `INIT_WORK` gives every
    /// work item its own `lockdep_map` under one static key. Each map is its own instance, so
    /// holding two of the class at once is recursive locking (unless nested), and an order
    /// learned through one object holds for all.
    ///
    /// ```
    /// use lockdep::{LockClass, LockMap};
    ///
    /// static WORK: LockClass = LockClass::new("(work_completion)(&dev->reset_work)");
    /// struct Device {
    ///     reset_work: LockMap,
    /// }
    /// let a = Device { reset_work: LockMap::with_class(&WORK) };
    /// let b = Device { reset_work: LockMap::with_class(&WORK) };
    /// drop(a.reset_work.lock()); // the work item runs
    /// b.reset_work.sync(); // flush_work() on another device
    /// assert_eq!(a.reset_work.name(), b.reset_work.name());
    /// ```
    pub const fn with_class(class: &'static crate::LockClass) -> Self {
        #[cfg(feature = "check")]
        {
            LockMap {
                map: DepMap::new(Key::Class(class), LockKind::Map),
            }
        }
        #[cfg(not(feature = "check"))]
        {
            LockMap { _name: class.name() }
        }
    }

    #[cfg_attr(not(feature = "check"), allow(unused_variables))]
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    fn acquire(&self, read: u8, trylock: bool) -> LockMapGuard<'_> {
        #[cfg(feature = "check")]
        validate::acquire(&self.map, 0, read, trylock, Location::caller());
        self.guard()
    }

    /// The guard of an acquisition already recorded.
    #[inline]
    fn guard(&self) -> LockMapGuard<'_> {
        LockMapGuard {
            #[cfg(feature = "check")]
            map: &self.map,
            _p: PhantomData,
        }
    }

    /// Acquires it exclusively (`lock_map_acquire`).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn lock(&self) -> LockMapGuard<'_> {
        self.acquire(0, false)
    }

    /// Acquires it as a non-recursive reader (`lock_acquire_shared`).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn read(&self) -> LockMapGuard<'_> {
        self.acquire(1, false)
    }

    /// Acquires it as a recursive reader (`lock_map_acquire_read`).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn read_recursive(&self) -> LockMapGuard<'_> {
        self.acquire(2, false)
    }

    /// Try-acquires it as a reader (always succeeds): no dependency into it is recorded, but
    /// everything taken while it is held depends on it. This is how a fence-signalling section
    /// begins (`dma_fence_begin_signalling`).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_read(&self) -> Option<LockMapGuard<'_>> {
        Some(self.acquire(1, true))
    }

    /// Try-acquires it as a recursive reader (always succeeds; `lock_map_acquire_tryread`).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_read_recursive(&self) -> Option<LockMapGuard<'_>> {
        Some(self.acquire(2, true))
    }

    /// Try-acquires it exclusively (always succeeds; `lock_map_acquire_try`).
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn try_lock(&self) -> Option<LockMapGuard<'_>> {
        Some(self.acquire(0, true))
    }

    /// Acquires and releases it at once, exclusively (`lock_map_sync`): records "this could
    /// wait for whoever holds it" without holding anything afterwards.
    #[cfg_attr(feature = "check", track_caller)]
    #[inline]
    pub fn sync(&self) {
        #[cfg(feature = "check")]
        {
            let mut a = validate::Acquire::of(&self.map, 0, 0, false, Location::caller());
            a.sync = true;
            validate::acquire_with(&self.map, a);
        }
        drop(self.guard());
    }

    /// Runs `f` with this thread's holds of this map taken off its held stack, then puts them
    /// back where they were, in the same modes: the kernel's `lock_is_held_type` +
    /// `lock_release` … `lock_acquire` around a nested use of the map, as
    /// `__dma_fence_might_wait` does when it finds `dma_fence_map` held for read.
    ///
    /// This is for holds whose guard the caller cannot reach — a section opened by
    /// [`#[lockdep::signalling(MAP)]`](macro@crate::signalling) on an enclosing function — so a
    /// fence wait inside the section is not the map taken recursively. Only the map's own
    /// holds go: a lock taken inside the section and held now is still held while `f` runs, so
    /// waiting under it still closes the cycle through the map (the map's hold ordered that
    /// lock after the map; the wait orders the map after the lock).
    ///
    /// ```
    /// use lockdep::LockMap;
    ///
    /// static FENCE: LockMap = LockMap::new("dma_fence_map");
    ///
    /// #[lockdep::signalling(FENCE)]
    /// fn run_job() {
    ///     // A wait for another fence from the signalling path (the kernel's
    ///     // `dma_fence_wait` → `__dma_fence_might_wait`): no lock of ours is held.
    ///     FENCE.with_own_holds_released(|| FENCE.sync());
    /// }
    /// run_job();
    /// # #[cfg(feature = "check")]
    /// # assert!(lockdep::take_reports().is_empty());
    /// ```
    ///
    /// If `f` panics the holds are put back as it unwinds, so the guards still release them.
    #[doc(alias = "lock_is_held_type")]
    #[inline]
    pub fn with_own_holds_released<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "check")]
        {
            struct Restore(Option<validate::ReleasedHolds>);
            impl Drop for Restore {
                fn drop(&mut self) {
                    if let Some(r) = self.0.take() {
                        validate::restore_own_holds(r);
                    }
                }
            }
            let _restore = Restore(Some(validate::release_own_holds(&self.map)));
            f()
        }
        #[cfg(not(feature = "check"))]
        {
            f()
        }
    }

    /// The class name.
    pub fn name(&self) -> &'static str {
        #[cfg(feature = "check")]
        match self.map.key {
            Key::Own(n) => n,
            Key::Class(c) => c.name(),
            _ => "",
        }
        #[cfg(not(feature = "check"))]
        self._name
    }
}

impl Lockable for LockMap {
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

impl Drop for LockMapGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "check")]
        validate::release(self.map, Location::caller());
    }
}

impl std::fmt::Debug for LockMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LockMap").field(&self.name()).finish()
    }
}
