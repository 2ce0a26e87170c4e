//! `DmaResv`: the reservation object, a ww mutex plus the fences of every operation on a
//! buffer. Mirrors drivers/dma-buf/dma-resv.c.
//!
//! # Contract
//! Every buffer (GEM object, dma-buf) has one [`DmaResv`]. Writers hold its lock
//! ([`DmaResv::lock`]) to reserve slots ([`DmaResv::reserve_fences`]) and publish fences
//! ([`DmaResv::add_fence`]) with a [`DmaResvUsage`]; readers may look at the fences without the
//! lock ([`DmaResv::iter_unlocked`], [`DmaResv::get_singleton`], [`DmaResv::wait_timeout`],
//! [`DmaResv::test_signaled`]), as the kernel's RCU readers do. Taking several resv locks needs
//! one [`WwAcquireCtx`] of [`RESERVATION_WW_CLASS`] for all of them and the `-EDEADLK` back-off
//! (what [`crate::drm_exec::DrmExec`] automates). A fence is added only to reserved slots; as
//! with `CONFIG_DEBUG_MUTEXES`, unlocking forgets the unused reservations, so a missing
//! `reserve_fences` after a re-lock is caught on the next `add_fence`.
//!
//! # Locking
//! - `reservation_ww_class_acquire`: the acquire context of a multi-object transaction.
//! - `reservation_ww_class_mutex`: every resv lock (wait-die, `DEFINE_WD_CLASS`).
//!
//! Taken under `&mm->mmap_lock` (page faults) and around allocations (`fs_reclaim`); never
//! inside a fence signalling section, never around user copies.
//!
//! # Annotations
//! [`dma_resv_lockdep`] replays the kernel's boot-time order once: `&mm->mmap_lock` (read) →
//! `reservation_ww_class_acquire` → `reservation_ww_class_mutex` → `fs_reclaim` →
//! `&mapping->i_mmap_rwsem` → `mmu_notifier_invalidate_range_start` → `dma_fence_map` (the
//! might-wait). [`DmaResv::assert_held`] is `dma_resv_assert_held`; the operations that need
//! the lock carry `#[requires_held(self.lock_ref())]`, as the kernel's begin with
//! `dma_resv_assert_held`, and so do the `_locked` helpers of GEM and dma-buf.
//!
//! # Rules
//! R3 (no resv in a signalling section: primed here), R7 (`reserve_fences` and `add_fence` drop
//! fence references under the lock, so a fence `release` runs under resv), R9 (resv under
//! `mmap_lock`: primed), R11 (allocation under resv is allowed: primed; shrinkers trylock),
//! R13/R14 (one ctx for many resv locks, the ww protocol).
//!
//! # Simplified
//! The RCU-protected fence list is an immutable `Arc` snapshot that writers replace while
//! holding the resv lock; a plain `std` mutex guards only the pointer copy (never held across
//! anything else, invisible to the validator as RCU's read side is). The seqcount retry of the
//! unlocked iterators is therefore not needed: a reader always sees one consistent list.
//! `dma_resv_lock_interruptible` is [`DmaResv::lock`] (the simulation has no signals).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use lockdep::{requires_held, WwAcquireCtx, WwClass, WwError, WwMutex, WwMutexGuard};

use crate::dma_fence::{self, DmaFence};
use crate::dma_fence_array::{dma_fence_array_create, dma_fence_is_array};
use crate::dma_fence_chain::dma_fence_is_chain;
use crate::error::{Errno, KResult};
use crate::mm::{self, GFP_KERNEL};

/// The ww class of every resv lock (`reservation_ww_class`, wait-die). Lockdep prints its
/// context as `reservation_ww_class_acquire` and its locks as `reservation_ww_class_mutex`.
pub static RESERVATION_WW_CLASS: WwClass = WwClass::wait_die("reservation_ww_class");

/// How a fence uses the buffer (`enum dma_resv_usage`). The order matters: asking for fences
/// of usage `U` returns every fence whose usage is `U` or stronger (smaller).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DmaResvUsage {
    /// `DMA_RESV_USAGE_KERNEL`: kernel memory management (moves, clears); everyone waits.
    Kernel,
    /// `DMA_RESV_USAGE_WRITE`: an implicitly synchronised write.
    Write,
    /// `DMA_RESV_USAGE_READ`: an implicitly synchronised read.
    Read,
    /// `DMA_RESV_USAGE_BOOKKEEP`: explicitly synchronised work; only memory management waits.
    Bookkeep,
}

impl DmaResvUsage {
    /// The usage implicit synchronisation waits for before an access (`dma_resv_usage_rw`): a
    /// writer waits for readers and writers, a reader for writers only.
    #[doc(alias = "dma_resv_usage_rw")]
    pub fn rw(write: bool) -> DmaResvUsage {
        if write {
            DmaResvUsage::Read
        } else {
            DmaResvUsage::Write
        }
    }

    /// The usage the fence of a new access is published with (what `dma_resv_add_fence`
    /// callers and `DMA_BUF_IOCTL_IMPORT_SYNC_FILE` pass): a writer's fence is WRITE, a
    /// reader's READ — the other way round from [`rw`](Self::rw), which says what to wait for.
    pub fn of_access(write: bool) -> DmaResvUsage {
        if write {
            DmaResvUsage::Write
        } else {
            DmaResvUsage::Read
        }
    }
}

/// One slot of the fence list.
#[derive(Clone)]
struct Slot {
    fence: Arc<DmaFence>,
    usage: DmaResvUsage,
}

/// The published fence list (`struct dma_resv_list`). Replaced, never changed in place, so a
/// reader's snapshot stays valid as an RCU reader's list does.
#[derive(Clone, Default)]
struct FenceList {
    slots: Vec<Slot>,
    /// Slots reserved by `reserve_fences` (`max_fences`).
    max_fences: usize,
}

/// A reservation object (`struct dma_resv`).
pub struct DmaResv {
    lock: WwMutex<()>,
    fences: StdMutex<Arc<FenceList>>,
    /// The holding thread's [`thread_tag`] (0: unlocked), kept without the validator too, so
    /// paths that would re-take a held resv can refuse instead of hanging when nothing
    /// catches the self-deadlock.
    owner: AtomicU64,
}

/// A process-unique tag of the current thread (never 0).
fn thread_tag() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static TAG: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    TAG.with(|t| *t)
}

impl std::fmt::Debug for DmaResv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaResv")
            .field("locked", &self.lock.is_locked())
            .field("fences", &self.snapshot().slots.len())
            .finish()
    }
}

/// A held resv lock (`dma_resv_lock` … `dma_resv_unlock`); dropping it unlocks.
#[must_use = "if unused the resv is unlocked at once"]
pub struct DmaResvGuard<'a> {
    resv: &'a DmaResv,
    _lock: WwMutexGuard<'a, ()>,
}

impl<'a> DmaResvGuard<'a> {
    /// The reservation object this guard holds.
    pub fn resv(&self) -> &'a DmaResv {
        self.resv
    }

    /// The fences of `usage` or stronger, signalled or not ([`DmaResv::fences`]).
    pub fn fences(&self, usage: DmaResvUsage) -> Vec<(Arc<DmaFence>, DmaResvUsage)> {
        self.resv.fences(self, usage)
    }
}

impl Drop for DmaResvGuard<'_> {
    fn drop(&mut self) {
        self.resv.owner.store(0, Ordering::Release);
        // `dma_resv_reset_max_fences` (CONFIG_DEBUG_MUTEXES): slots reserved but not used do
        // not survive an unlock, so a caller that forgets to re-reserve is caught.
        let mut cur = self.resv.fences.lock().unwrap_or_else(|e| e.into_inner());
        if cur.max_fences != cur.slots.len() {
            let mut next = FenceList::clone(&cur);
            next.max_fences = next.slots.len();
            // Every fence of the old list is still in the new one: no put happens here.
            let old = std::mem::replace(&mut *cur, Arc::new(next));
            drop(cur);
            drop(old);
        }
    }
}

fn ww_errno(e: WwError) -> Errno {
    match e {
        WwError::Deadlk => Errno::Edeadlk,
        WwError::Already => Errno::Ealready,
    }
}

impl Default for DmaResv {
    fn default() -> Self {
        DmaResv {
            lock: WwMutex::new((), &RESERVATION_WW_CLASS),
            fences: StdMutex::new(Arc::new(FenceList::default())),
            owner: AtomicU64::new(0),
        }
    }
}

impl DmaResv {
    /// A new, unlocked reservation object with no fences (`dma_resv_init`).
    #[doc(alias = "dma_resv_init")]
    pub fn new() -> Arc<DmaResv> {
        Arc::new(DmaResv::default())
    }

    fn snapshot(&self) -> Arc<FenceList> {
        self.fences.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the published list and returns the old one, which the caller drops *after*
    /// the pointer lock is released: that drop is where fence references are put.
    fn publish(&self, next: FenceList) -> Arc<FenceList> {
        let mut cur = self.fences.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *cur, Arc::new(next))
    }

    /// Locks the object (`dma_resv_lock`), inside the transaction `ctx` if given.
    ///
    /// # Errors
    /// With a context: `Edeadlk` — an older transaction holds it: drop every lock of `ctx`,
    /// then [`lock_slow`](Self::lock_slow) this one; `Ealready` — `ctx` holds it already.
    /// Without a context it never fails; holding another resv then is "possible recursive
    /// locking" (R13), and re-taking this one is a self-deadlock: reported, then the validator
    /// panics instead of hanging.
    #[doc(alias = "dma_resv_lock", alias = "dma_resv_lock_interruptible")]
    #[track_caller]
    pub fn lock<'a>(&'a self, ctx: Option<&'a WwAcquireCtx>) -> KResult<DmaResvGuard<'a>> {
        let lock = match ctx {
            Some(c) => self.lock.lock(c).map_err(ww_errno)?,
            None => self.lock.lock_noctx(),
        };
        Ok(self.guard(lock))
    }

    fn guard<'a>(&'a self, lock: WwMutexGuard<'a, ()>) -> DmaResvGuard<'a> {
        self.owner.store(thread_tag(), Ordering::Release);
        DmaResvGuard {
            resv: self,
            _lock: lock,
        }
    }

    /// Takes the contended lock after backing off (`dma_resv_lock_slow`): waits, never dies.
    #[doc(alias = "dma_resv_lock_slow", alias = "dma_resv_lock_slow_interruptible")]
    #[track_caller]
    pub fn lock_slow<'a>(&'a self, ctx: &'a WwAcquireCtx) -> DmaResvGuard<'a> {
        self.guard(self.lock.lock_slow(ctx))
    }

    /// Takes the lock only if it is free (`dma_resv_trylock`): what shrinkers and other
    /// reclaim paths must use (R11).
    #[doc(alias = "dma_resv_trylock")]
    #[track_caller]
    pub fn trylock(&self) -> Option<DmaResvGuard<'_>> {
        self.lock.try_lock(None).map(|l| self.guard(l))
    }

    /// Whether the current thread holds the lock, known without the validator (unlike
    /// [`held`](Self::held), which is per class while ww locks share a nest entry).
    pub fn is_locked_by_current_thread(&self) -> bool {
        self.owner.load(Ordering::Acquire) == thread_tag()
    }

    /// Whether anyone holds the lock (`dma_resv_is_locked`).
    #[doc(alias = "dma_resv_is_locked")]
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// Reports unless the current thread holds this resv (`dma_resv_assert_held`).
    #[doc(alias = "dma_resv_assert_held")]
    #[track_caller]
    pub fn assert_held(&self) {
        lockdep::assert_held(&self.lock);
    }

    /// Reports if the current thread holds this resv (R16's "not held" conventions).
    #[track_caller]
    pub fn assert_not_held(&self) {
        lockdep::assert_not_held(&self.lock);
    }

    /// Whether the current thread holds this resv (`dma_resv_held`; always false with the
    /// validator off).
    #[doc(alias = "dma_resv_held")]
    pub fn held(&self) -> bool {
        lockdep::is_held(&self.lock)
    }

    /// The lock as the validator knows it (`&obj->lock.base`), for `lockdep` assertions and
    /// attributes such as `#[requires_held(obj.resv().lock_ref())]`.
    pub fn lock_ref(&self) -> &impl lockdep::Lockable {
        &self.lock
    }

    /// The guard must be this object's: a guard is proof of *a* held resv, not of this one.
    fn check_guard(&self, guard: &DmaResvGuard<'_>) {
        assert!(
            std::ptr::eq(guard.resv, self),
            "a guard of another dma_resv passed to a locked operation"
        );
    }

    /// Makes room for `num_fences` more fences (`dma_resv_reserve_fences`). Allocates with
    /// `GFP_KERNEL` (allowed under resv, R11) when the reserved slots do not suffice, and then
    /// drops the references to fences that have signalled, so their last `dma_fence_put` — and
    /// a `release` callback — may run right here, under the resv lock (R7, S5).
    ///
    /// # Errors
    /// `Enomem` if the allocation fails.
    ///
    /// # Panics
    /// If `guard` holds another reservation object.
    #[requires_held(self.lock_ref())]
    #[doc(alias = "dma_resv_reserve_fences")]
    pub fn reserve_fences(&self, guard: &DmaResvGuard<'_>, num_fences: usize) -> KResult {
        self.check_guard(guard);
        let old = self.snapshot();
        let num = old.slots.len();
        let max = if old.max_fences > 0 {
            if num + num_fences <= old.max_fences {
                return Ok(());
            }
            (num + num_fences).max(old.max_fences * 2)
        } else {
            num_fences.next_power_of_two().max(4)
        };
        // `dma_resv_list_alloc`: one pointer and usage per slot.
        mm::kmalloc(max * 2 * std::mem::size_of::<usize>(), GFP_KERNEL)?;
        let slots = old
            .slots
            .iter()
            .filter(|s| !s.fence.is_signaled())
            .cloned()
            .collect();
        drop(old);
        let replaced = self.publish(FenceList {
            slots,
            max_fences: max,
        });
        // The old list carried the only references of the signalled fences that a reader's
        // snapshot does not also hold: dropping it is their final put, under the resv lock.
        drop(replaced);
        Ok(())
    }

    /// Publishes `fence` with `usage` (`dma_resv_add_fence`). A fence of the same context with
    /// the same or a stronger usage is replaced (a context's fences signal in order), and so
    /// is any fence that has signalled; otherwise a reserved slot is used. The reference to a
    /// replaced fence is dropped here, under the lock (R7).
    ///
    /// From here on the fence is visible to every other thread: the caller's signalling
    /// section has begun (R3).
    ///
    /// # Panics
    /// If no slot was reserved (the kernel's `BUG_ON`), or `guard` holds another object.
    #[requires_held(self.lock_ref())]
    #[doc(alias = "dma_resv_add_fence")]
    pub fn add_fence(&self, guard: &DmaResvGuard<'_>, fence: Arc<DmaFence>, usage: DmaResvUsage) {
        self.check_guard(guard);
        debug_assert!(
            !dma_fence_is_array(&fence) && !dma_fence_is_chain(&fence),
            "containers are added member by member (dma_fence_unwrap)"
        );
        let mut next = FenceList::clone(&self.snapshot());
        let ctx = fence.context();
        let slot = Slot { fence, usage };
        let pos = next
            .slots
            .iter()
            .position(|s| (s.fence.context() == ctx && s.usage >= usage) || s.fence.is_signaled());
        let old = match pos {
            Some(i) => Some(std::mem::replace(&mut next.slots[i], slot)),
            None => {
                assert!(
                    next.slots.len() < next.max_fences,
                    "dma_resv_add_fence() without a reserved slot (call reserve_fences first)"
                );
                next.slots.push(slot);
                None
            }
        };
        let replaced = self.publish(next);
        drop(replaced);
        drop(old);
    }

    /// The fences of `usage` or stronger, signalled or not, with their usage
    /// (`dma_resv_for_each_fence`, the locked iterator).
    ///
    /// # Panics
    /// If `guard` holds another reservation object.
    #[requires_held(self.lock_ref())]
    #[doc(alias = "dma_resv_for_each_fence", alias = "dma_resv_iter_first")]
    pub fn fences(
        &self,
        guard: &DmaResvGuard<'_>,
        usage: DmaResvUsage,
    ) -> Vec<(Arc<DmaFence>, DmaResvUsage)> {
        self.check_guard(guard);
        self.snapshot()
            .slots
            .iter()
            .filter(|s| s.usage <= usage)
            .map(|s| (s.fence.clone(), s.usage))
            .collect()
    }

    /// The unsignalled fences of `usage` or stronger, without the lock
    /// (`dma_resv_for_each_fence_unlocked`): a consistent snapshot, each fence referenced.
    #[doc(
        alias = "dma_resv_for_each_fence_unlocked",
        alias = "dma_resv_iter_first_unlocked"
    )]
    pub fn iter_unlocked(&self, usage: DmaResvUsage) -> Vec<(Arc<DmaFence>, DmaResvUsage)> {
        self.snapshot()
            .slots
            .iter()
            .filter(|s| s.usage <= usage && !s.fence.is_signaled())
            .map(|s| (s.fence.clone(), s.usage))
            .collect()
    }

    /// The unsignalled fences of `usage` or stronger, without the lock, in an array allocated
    /// with `GFP_KERNEL` (`dma_resv_get_fences`).
    ///
    /// # Errors
    /// `Enomem` if the array cannot be allocated.
    #[doc(alias = "dma_resv_get_fences")]
    pub fn get_fences(&self, usage: DmaResvUsage) -> KResult<Vec<Arc<DmaFence>>> {
        let fences: Vec<_> = self.iter_unlocked(usage).into_iter().map(|(f, _)| f).collect();
        // `krealloc_array(count + 1, sizeof(void *), GFP_KERNEL)`.
        mm::kmalloc((fences.len() + 1) * std::mem::size_of::<usize>(), GFP_KERNEL)?;
        Ok(fences)
    }

    /// One fence standing for every unsignalled fence of `usage` or stronger, taken without
    /// the lock (`dma_resv_get_singleton`): `None` if there is none, the fence itself if there
    /// is one, else a new `dma_fence_array` (own context, seqno 1) signalling when all have.
    ///
    /// # Errors
    /// `Enomem` if an allocation fails.
    #[doc(alias = "dma_resv_get_singleton")]
    pub fn get_singleton(&self, usage: DmaResvUsage) -> KResult<Option<Arc<DmaFence>>> {
        let mut fences = self.get_fences(usage)?;
        Ok(match fences.len() {
            0 => None,
            1 => fences.pop(),
            _ => Some(dma_fence_array_create(
                fences,
                dma_fence::dma_fence_context_alloc(1),
                1,
                false,
            )),
        })
    }

    /// Waits for every unsignalled fence of `usage` or stronger, with no lock required
    /// (`dma_resv_wait_timeout`; callers may hold the resv). Returns the time left.
    ///
    /// # Errors
    /// `Etimedout` when `timeout` passes first; `Eintr` if an interruptible wait is
    /// interrupted.
    #[doc(alias = "dma_resv_wait_timeout")]
    pub fn wait_timeout(&self, usage: DmaResvUsage, intr: bool, timeout: Duration) -> KResult<Duration> {
        let mut left = timeout;
        for (f, _) in self.iter_unlocked(usage) {
            left = f.wait_timeout(intr, left)?;
        }
        Ok(left)
    }

    /// Whether every fence of `usage` or stronger has signalled (`dma_resv_test_signaled`).
    #[doc(alias = "dma_resv_test_signaled")]
    pub fn test_signaled(&self, usage: DmaResvUsage) -> bool {
        self.iter_unlocked(usage).is_empty()
    }
}

/// Replays the kernel's boot-time resv order (`dma_resv_lockdep`, a `subsys_initcall`) on a
/// scratch mm, mapping and object, so any inversion of it is reported the first time one
/// direction is seen, even in a run that never exercises the other:
/// `&mm->mmap_lock` (read) → `reservation_ww_class_acquire` → `reservation_ww_class_mutex` →
/// `fs_reclaim` → `&mapping->i_mmap_rwsem` (write, released at once) →
/// `mmu_notifier_invalidate_range_start` → `dma_fence_map` (the might-wait).
///
/// Call it once at start-up, and again after `lockdep::reset()` (which forgets it).
pub fn dma_resv_lockdep() {
    let mm = mm::MmStruct::new();
    let mapping = mm::AddressSpace::new();
    let obj = DmaResv::default();

    let mmap = mm.mmap_lock.read();
    let ctx = WwAcquireCtx::new(&RESERVATION_WW_CLASS);
    let resv = match obj.lock(Some(&ctx)) {
        Ok(g) => g,
        Err(_) => obj.lock_slow(&ctx),
    };
    let reclaim = mm::fs_reclaim_acquire(GFP_KERNEL);
    // For unmap_mapping_range on trylocked buffer objects in shrinkers.
    drop(mapping.i_mmap_rwsem.write());
    let notifier = mm::MMU_NOTIFIER_INVALIDATE_RANGE_START.lock();
    dma_fence::might_wait();
    drop(notifier);
    drop(reclaim);
    drop(resv);
    drop(ctx);
    drop(mmap);
}
