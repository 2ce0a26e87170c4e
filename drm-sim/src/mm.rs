//! `Gfp`, `kmalloc`, `MmStruct`, shrinkers: memory allocation, reclaim and user memory. No
//! single kernel counterpart: simulates mm/page_alloc.c (`fs_reclaim_acquire`,
//! `might_alloc`), include/linux/sched/mm.h (`memalloc_nofs_save`, `memalloc_noreclaim_save`),
//! mm/shrinker.c with mm/vmscan.c (shrinkers, direct reclaim, kswapd), mm/memory.c
//! (`handle_mm_fault`, `__might_fault`), include/linux/uaccess.h and mm/mmu_notifier.c.
//!
//! # Contract
//! - Every allocation names its [`Gfp`] flags. [`might_alloc`] annotates one as the kernel
//!   does; [`kmalloc`] and [`kvmalloc_array`] annotate and allocate, and under memory
//!   pressure a direct-reclaim allocation first runs the registered shrinkers itself.
//! - Scoped restrictions: [`memalloc_nofs_save`] strips `__GFP_FS` from every allocation of
//!   the thread while its guard lives, [`memalloc_noreclaim_save`] stops the thread from
//!   entering reclaim at all (`PF_MEMALLOC`). Guards restore the previous state, so they nest.
//!
//! - Shrinkers ([`Shrinker`], [`register_shrinker`]) run in reclaim: direct reclaim from an
//!   allocation under pressure ([`set_memory_pressure`]), a forced pass ([`shrink_all`], the
//!   "drop caches" knob), and the [`start_kswapd`] thread, woken when pressure is set or an
//!   allocation under pressure may wake it. [`reclaim_passes`] counts passes.
//! - An [`MmStruct`] is one process's address space: `&mm->mmap_lock`, anonymous user memory
//!   ([`MmStruct::mmap_anon`]), user copies that may fault, a fault path for driver mappings
//!   ([`MmStruct::handle_mm_fault`]) and mmu notifiers run by `munmap`
//!   ([`MmStruct::invalidate_range`]). [`faults`] counts faults.
//!
//! # Locking
//! - `fs_reclaim` ([`FS_RECLAIM`]) and `mmu_notifier_invalidate_range_start`
//!   ([`MMU_NOTIFIER_INVALIDATE_RANGE_START`]): the kernel's pseudo-locks, with its names.
//! - `&mm->mmap_lock` (rwsem): the address space's mappings and notifier list. Faults take it
//!   for reading, `munmap` and notifier registration for writing.
//! - `&mm->page_table_lock` (spinlock): the simulated page contents.
//! - `&mapping->i_mmap_rwsem` ([`I_MMAP_RWSEM`], rwsem): a file mapping's reverse map, taken
//!   by [`AddressSpace::unmap_mapping_range`] (a GEM shrinker zapping mappings).
//! - `shrinker_mutex` (mutex): shrinker registration. Reclaim takes no lock to walk the list:
//!   it reads a published snapshot (the kernel walks an RCU list) and pins each shrinker by
//!   a reference count (`shrinker_try_get`); unregistering waits on the shrinker's `done`
//!   completion for passes still running it, which, as in the kernel, is not annotated.
//! - `&pgdat->kswapd_wait` (wait queue): where kswapd sleeps.
//!
//! # Annotations
//! - A direct-reclaim allocation (`__GFP_DIRECT_RECLAIM` set, thread not `PF_MEMALLOC`) acquires
//!   `fs_reclaim` exclusively if it may enter the filesystem (`__GFP_FS` after the scoped
//!   restrictions), and inside that acquires and releases the mmu-notifier map, exactly as
//!   `fs_reclaim_acquire` does; then it is a `might_sleep()`. `GFP_ATOMIC` and `GFP_NOWAIT`
//!   take neither and do not sleep.
//! - Reclaim (direct, forced or kswapd) runs the shrinkers holding `fs_reclaim`, with
//!   `PF_MEMALLOC` set so that their own allocations do not recurse into reclaim.
//! - `might_fault()` is `might_lock_read(&mm->mmap_lock)` (printed `rlock(&mm->mmap_lock)`);
//!   every user copy is one, whether or not it really faults. A real fault takes `mmap_lock`
//!   for reading and allocates its page with `GFP_KERNEL`.
//! - `invalidate_range` holds `mmap_lock` for writing and the mmu-notifier map around the
//!   notifiers' `invalidate_range_start` (a `might_sleep()`: they may wait on fences).
//!
//! # Rules
//! - R2 (no reclaiming allocation in a signalling section), R9 (no user copy under
//!   `dma_resv`: faults take resv under `mmap_lock`), R10 (no user copy under a lock a
//!   notifier or fault takes), R11 (shrinkers only trylock `dma_resv`, never block on a lock
//!   held around an allocation), R12 (mmu-notifier callbacks' locks must not be held across
//!   direct-reclaim allocations, NOFS included), §3.6 (memory pressure).
//!
//! # Simplified
//! - The allocator is the Rust heap; "pressure" is a knob, not a page count.
//! - Shrinkers run only for allocations that may enter the filesystem (`__GFP_FS`), as if
//!   every registered shrinker bailed out without it; they get no `shrink_control` beyond the
//!   number of objects to scan.
//! - Pressure `p` (0–100) makes every (100/p)-th direct-reclaim allocation reclaim, and each
//!   pass asks every shrinker to scan `p`% of its objects (at least one). Deterministic.
//! - User memory is anonymous pages made on first touch; no swap, no file mappings. The
//!   mmu-notifier "range" is an address range; `invalidate_range_end` is called too.

use crate::error::{Errno, KResult};
use crate::wait::Completion;
use crate::wait::WaitQueueHead;
use lockdep::{LockClass, LockMap, LockMapGuard, Mutex, RwLock, SpinLock};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock as RcuPointer};
use std::thread::JoinHandle;

/// `__fs_reclaim_map`: held (exclusively) while a task is in memory reclaim.
pub static FS_RECLAIM: LockMap = LockMap::new("fs_reclaim");

/// `__mmu_notifier_invalidate_range_start_map`: held while mmu notifiers' `invalidate_range_start`
/// run; every direct-reclaim allocation acquires and releases it, since reclaim may invalidate.
pub static MMU_NOTIFIER_INVALIDATE_RANGE_START: LockMap = LockMap::new("mmu_notifier_invalidate_range_start");

/// Allocation flags (`gfp_t`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gfp(u32);

impl Gfp {
    /// `__GFP_IO`: may start physical I/O.
    pub const IO: Gfp = Gfp(1 << 0);
    /// `__GFP_FS`: may call into the filesystem (and so take `fs_reclaim`).
    pub const FS: Gfp = Gfp(1 << 1);
    /// `__GFP_DIRECT_RECLAIM`: may enter direct reclaim, i.e. sleep.
    pub const DIRECT_RECLAIM: Gfp = Gfp(1 << 2);
    /// `__GFP_KSWAPD_RECLAIM`: may wake kswapd (never blocks).
    pub const KSWAPD_RECLAIM: Gfp = Gfp(1 << 3);
    /// `__GFP_HIGH`: may use emergency reserves.
    pub const HIGH: Gfp = Gfp(1 << 4);
    /// `__GFP_NOWARN`: no failure warning.
    pub const NOWARN: Gfp = Gfp(1 << 5);
    /// `__GFP_ZERO`: zeroed memory.
    pub const ZERO: Gfp = Gfp(1 << 6);
    /// `__GFP_NOLOCKDEP`: exempt from the reclaim annotation.
    pub const NOLOCKDEP: Gfp = Gfp(1 << 7);
    /// `__GFP_RECLAIM`: both reclaim kinds.
    pub const RECLAIM: Gfp = Gfp(Self::DIRECT_RECLAIM.0 | Self::KSWAPD_RECLAIM.0);

    /// The empty set.
    pub const fn empty() -> Gfp {
        Gfp(0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Gfp) -> bool {
        self.0 & other.0 == other.0
    }

    /// This set plus `other`.
    pub const fn union(self, other: Gfp) -> Gfp {
        Gfp(self.0 | other.0)
    }

    /// This set without `other`.
    pub const fn without(self, other: Gfp) -> Gfp {
        Gfp(self.0 & !other.0)
    }

    /// Whether an allocation with these flags may sleep (`gfpflags_allow_blocking`).
    pub const fn allows_blocking(self) -> bool {
        self.contains(Gfp::DIRECT_RECLAIM)
    }
}

impl std::ops::BitOr for Gfp {
    type Output = Gfp;
    fn bitor(self, rhs: Gfp) -> Gfp {
        self.union(rhs)
    }
}

impl std::fmt::Debug for Gfp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [(Gfp, &str); 8] = [
            (Gfp::IO, "__GFP_IO"),
            (Gfp::FS, "__GFP_FS"),
            (Gfp::DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
            (Gfp::KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
            (Gfp::HIGH, "__GFP_HIGH"),
            (Gfp::NOWARN, "__GFP_NOWARN"),
            (Gfp::ZERO, "__GFP_ZERO"),
            (Gfp::NOLOCKDEP, "__GFP_NOLOCKDEP"),
        ];
        let set: Vec<&str> = NAMES
            .iter()
            .filter(|(g, _)| self.contains(*g))
            .map(|(_, n)| *n)
            .collect();
        if set.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&set.join("|"))
        }
    }
}

/// `GFP_KERNEL`: may sleep, reclaim, do I/O and enter the filesystem.
pub const GFP_KERNEL: Gfp = Gfp(Gfp::RECLAIM.0 | Gfp::IO.0 | Gfp::FS.0);
/// `GFP_NOFS`: may reclaim and do I/O, but not enter the filesystem.
pub const GFP_NOFS: Gfp = Gfp(Gfp::RECLAIM.0 | Gfp::IO.0);
/// `GFP_NOIO`: may reclaim, no I/O.
pub const GFP_NOIO: Gfp = Gfp::RECLAIM;
/// `GFP_ATOMIC`: never sleeps; may use reserves and wake kswapd.
pub const GFP_ATOMIC: Gfp = Gfp(Gfp::HIGH.0 | Gfp::KSWAPD_RECLAIM.0);
/// `GFP_NOWAIT`: never sleeps; may wake kswapd.
pub const GFP_NOWAIT: Gfp = Gfp::KSWAPD_RECLAIM;

/// `PF_MEMALLOC`: the task is reclaiming (or asked not to): no direct reclaim.
const PF_MEMALLOC: u32 = 1 << 0;
/// `PF_MEMALLOC_NOFS`: allocations behave as `GFP_NOFS`.
const PF_MEMALLOC_NOFS: u32 = 1 << 1;
/// `PF_MEMALLOC_NOIO`: allocations behave as `GFP_NOIO`.
const PF_MEMALLOC_NOIO: u32 = 1 << 2;

thread_local! {
    /// The current task's memalloc flags.
    static TASK_FLAGS: Cell<u32> = const { Cell::new(0) };
}

fn task_flags() -> u32 {
    TASK_FLAGS.with(Cell::get)
}

/// A scoped memalloc restriction; dropping it restores the flags it found
/// (`memalloc_*_restore`). Not `Send`: the flags belong to the thread.
#[must_use = "the restriction ends when the guard is dropped"]
pub struct MemallocGuard {
    flag: u32,
    was_set: bool,
    _not_send: PhantomData<*const ()>,
}

impl MemallocGuard {
    fn save(flag: u32) -> MemallocGuard {
        let old = task_flags();
        TASK_FLAGS.with(|f| f.set(old | flag));
        MemallocGuard {
            flag,
            was_set: old & flag != 0,
            _not_send: PhantomData,
        }
    }
}

impl Drop for MemallocGuard {
    fn drop(&mut self) {
        if !self.was_set {
            TASK_FLAGS.with(|f| f.set(f.get() & !self.flag));
        }
    }
}

impl std::fmt::Debug for MemallocGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemallocGuard").field("flag", &self.flag).finish()
    }
}

/// Until the guard drops, this thread's allocations do not enter the filesystem
/// (`memalloc_nofs_save`): they stop taking `fs_reclaim` but still take the mmu-notifier map.
pub fn memalloc_nofs_save() -> MemallocGuard {
    MemallocGuard::save(PF_MEMALLOC_NOFS)
}

/// Until the guard drops, this thread's allocations do no I/O (`memalloc_noio_save`).
pub fn memalloc_noio_save() -> MemallocGuard {
    MemallocGuard::save(PF_MEMALLOC_NOIO)
}

/// Until the guard drops, this thread never enters reclaim (`memalloc_noreclaim_save`,
/// `PF_MEMALLOC`): its allocations take neither `fs_reclaim` nor the mmu-notifier map.
pub fn memalloc_noreclaim_save() -> MemallocGuard {
    MemallocGuard::save(PF_MEMALLOC)
}

/// `gfp` as restricted by the thread's scoped flags (`current_gfp_context`).
pub fn current_gfp_context(gfp: Gfp) -> Gfp {
    let f = task_flags();
    if f & PF_MEMALLOC_NOIO != 0 {
        gfp.without(Gfp::IO.union(Gfp::FS))
    } else if f & PF_MEMALLOC_NOFS != 0 {
        gfp.without(Gfp::FS)
    } else {
        gfp
    }
}

/// Whether an allocation with `gfp` (already restricted) may enter direct reclaim
/// (`__need_reclaim`).
fn need_reclaim(gfp: Gfp) -> bool {
    gfp.contains(Gfp::DIRECT_RECLAIM) && task_flags() & PF_MEMALLOC == 0 && !gfp.contains(Gfp::NOLOCKDEP)
}

/// Held `fs_reclaim` (if the allocation takes it); released when dropped
/// (`fs_reclaim_release`).
#[must_use = "fs_reclaim is released when the guard is dropped"]
pub struct FsReclaimGuard {
    _map: Option<LockMapGuard<'static>>,
}

impl std::fmt::Debug for FsReclaimGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsReclaimGuard")
            .field("held", &self._map.is_some())
            .finish()
    }
}

/// Enters the reclaim annotation of an allocation with `gfp` (`fs_reclaim_acquire`): acquires
/// `fs_reclaim` if the allocation may reclaim and enter the filesystem, and acquires and
/// releases the mmu-notifier map if it may reclaim at all.
#[track_caller]
pub fn fs_reclaim_acquire(gfp: Gfp) -> FsReclaimGuard {
    let gfp = current_gfp_context(gfp);
    let mut map = None;
    if need_reclaim(gfp) {
        if gfp.contains(Gfp::FS) {
            map = Some(FS_RECLAIM.lock());
        }
        MMU_NOTIFIER_INVALIDATE_RANGE_START.sync();
    }
    FsReclaimGuard { _map: map }
}

/// Annotates an allocation with `gfp` without making it (`might_alloc`): the reclaim
/// annotation, then `might_sleep()` if `gfp` may block.
#[track_caller]
pub fn might_alloc(gfp: Gfp) {
    drop(fs_reclaim_acquire(gfp));
    if gfp.allows_blocking() {
        lockdep::might_sleep();
    }
}

/// Allocates `size` bytes (zeroed) with `gfp` (`kmalloc`): annotated as [`might_alloc`];
/// under memory pressure a direct-reclaim allocation runs the shrinkers first, and any
/// allocation that may wake kswapd wakes it.
///
/// # Errors
/// `Enomem` if the size cannot be allocated.
#[track_caller]
pub fn kmalloc(size: usize, gfp: Gfp) -> KResult<Vec<u8>> {
    alloc_pages_slowpath(gfp);
    let mut v = Vec::new();
    v.try_reserve_exact(size).map_err(|_| Errno::Enomem)?;
    v.resize(size, 0);
    Ok(v)
}

/// Allocates `n` default values with `gfp` (`kvmalloc_array`), as [`kmalloc`].
///
/// # Errors
/// `Enomem` if `n` elements cannot be allocated.
#[track_caller]
pub fn kvmalloc_array<T: Default>(n: usize, gfp: Gfp) -> KResult<Vec<T>> {
    alloc_pages_slowpath(gfp);
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::Enomem)?;
    v.resize_with(n, T::default);
    Ok(v)
}

/// `&mapping->i_mmap_rwsem`: a file mapping's reverse-map lock.
pub static I_MMAP_RWSEM: LockClass = LockClass::new("&mapping->i_mmap_rwsem");
static MMAP_LOCK: LockClass = LockClass::new("&mm->mmap_lock");
static PAGE_TABLE_LOCK: LockClass = LockClass::new("&mm->page_table_lock");
static SHRINKER_MUTEX: LockClass = LockClass::new("shrinker_mutex");
static KSWAPD_WAIT_CLASS: LockClass = LockClass::new("&pgdat->kswapd_wait");

/// Replays the boot-time orders of the allocator: a reclaiming allocation takes the
/// mmu-notifier map inside `fs_reclaim` (what the first `GFP_KERNEL` allocation would record),
/// so an inversion is caught before any allocation ran.
pub fn prime() {
    drop(fs_reclaim_acquire(GFP_KERNEL));
}

// ---------------------------------------------------------------------------------------
// Shrinkers and reclaim
// ---------------------------------------------------------------------------------------

/// What `scan_objects` returns to stop the pass (`SHRINK_STOP`).
pub const SHRINK_STOP: usize = usize::MAX;

/// A cache that gives memory back under pressure (`struct shrinker`). Both callbacks run in
/// reclaim, holding `fs_reclaim`: they must not block on a lock held around an allocation
/// (trylock instead) and their allocations do not reclaim.
pub trait Shrinker: Send + Sync {
    /// A name for reports and statistics.
    fn name(&self) -> &str;
    /// How many objects could be freed now (`count_objects`).
    fn count_objects(&self) -> usize;
    /// Frees up to `nr_to_scan` objects; returns how many were freed, or [`SHRINK_STOP`]
    /// (`scan_objects`).
    fn scan_objects(&self, nr_to_scan: usize) -> usize;
}

/// A registered shrinker: its users (the registration plus each pass running it) and the
/// completion its unregistration waits on (`shrinker->refcount`, `shrinker->done`).
struct Registered {
    shrinker: Arc<dyn Shrinker>,
    refs: AtomicU64,
    done: Completion,
}

impl Registered {
    /// Pins it for a pass, unless it is being unregistered (`shrinker_try_get`).
    fn try_get(&self) -> bool {
        let mut n = self.refs.load(Ordering::Acquire);
        loop {
            if n == 0 {
                return false;
            }
            match self
                .refs
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    /// Drops a pin (`shrinker_put`); the last one completes `done`.
    fn put(&self) {
        if self.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.complete();
        }
    }
}

type ShrinkerList = Arc<Vec<Arc<Registered>>>;

/// Registration (under `shrinker_mutex`) and the published list that reclaim reads.
struct Shrinkers {
    registry: Mutex<()>,
    list: RcuPointer<ShrinkerList>,
}

fn shrinkers() -> &'static Shrinkers {
    static S: std::sync::OnceLock<Shrinkers> = std::sync::OnceLock::new();
    S.get_or_init(|| Shrinkers {
        registry: Mutex::with_class((), &SHRINKER_MUTEX),
        list: RcuPointer::new(Arc::new(Vec::new())),
    })
}

fn shrinker_snapshot() -> ShrinkerList {
    shrinkers().list.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A registered shrinker; unregisters it when dropped (`shrinker_free`), waiting for passes
/// that are running it (so do not drop it from inside its own callbacks).
#[must_use = "the shrinker is unregistered when the handle is dropped"]
pub struct ShrinkerHandle {
    entry: Arc<Registered>,
}

impl std::fmt::Debug for ShrinkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShrinkerHandle")
            .field("name", &self.entry.shrinker.name())
            .finish()
    }
}

/// Registers `shrinker` (`shrinker_alloc` + `shrinker_register`).
pub fn register_shrinker(shrinker: Arc<dyn Shrinker>) -> ShrinkerHandle {
    let entry = Arc::new(Registered {
        shrinker,
        refs: AtomicU64::new(1),
        done: Completion::new("shrinker->done"),
    });
    let s = shrinkers();
    let _g = s.registry.lock();
    let mut list = s.list.write().unwrap_or_else(|e| e.into_inner());
    let mut next: Vec<_> = list.iter().cloned().collect();
    next.push(entry.clone());
    *list = Arc::new(next);
    ShrinkerHandle { entry }
}

impl Drop for ShrinkerHandle {
    #[track_caller]
    fn drop(&mut self) {
        let s = shrinkers();
        {
            let _g = s.registry.lock();
            let mut list = s.list.write().unwrap_or_else(|e| e.into_inner());
            let next: Vec<_> = list
                .iter()
                .filter(|e| !Arc::ptr_eq(e, &self.entry))
                .cloned()
                .collect();
            *list = Arc::new(next);
        }
        // Drop the registration's reference; passes still running it finish first.
        if self.entry.refs.fetch_sub(1, Ordering::AcqRel) != 1 {
            self.entry.done.wait_for_completion();
        }
    }
}

/// Memory pressure, 0 (none) to 100.
static PRESSURE: AtomicU32 = AtomicU32::new(0);
/// Accumulates pressure per direct-reclaim allocation; reclaim runs each time it passes 100.
static PRESSURE_CREDIT: AtomicU32 = AtomicU32::new(0);
static RECLAIM_PASSES: AtomicU64 = AtomicU64::new(0);

/// Sets the memory-pressure knob (clamped to 0..=100) and wakes kswapd if it is positive.
pub fn set_memory_pressure(percent: u32) {
    let p = percent.min(100);
    PRESSURE.store(p, Ordering::Relaxed);
    if p > 0 {
        wakeup_kswapd();
    }
}

/// The memory-pressure knob.
pub fn memory_pressure() -> u32 {
    PRESSURE.load(Ordering::Relaxed)
}

/// How many reclaim passes ran (direct, forced and kswapd).
pub fn reclaim_passes() -> u64 {
    RECLAIM_PASSES.load(Ordering::Relaxed)
}

/// One pass over the shrinkers, asking each for `percent`% of its objects (all of them at
/// 100, repeatedly until it frees nothing when `drain`). Runs as `PF_MEMALLOC`; the caller
/// holds `fs_reclaim` (`shrink_slab`).
fn shrink_slab(percent: u32, drain: bool) -> usize {
    let _noreclaim = memalloc_noreclaim_save();
    let mut freed = 0;
    for entry in shrinker_snapshot().iter() {
        if !entry.try_get() {
            continue;
        }
        let s = &entry.shrinker;
        loop {
            let n = s.count_objects();
            if n == 0 {
                break;
            }
            let nr = (n * percent as usize / 100).max(1);
            let got = s.scan_objects(nr);
            if got == SHRINK_STOP || got == 0 {
                break;
            }
            freed += got;
            if !drain {
                break;
            }
        }
        entry.put();
    }
    RECLAIM_PASSES.fetch_add(1, Ordering::Relaxed);
    freed
}

/// The allocator's slow path: the reclaim annotation, then direct reclaim under pressure
/// (`__perform_reclaim`: shrinkers under `fs_reclaim`), and a kswapd wake-up.
#[track_caller]
fn alloc_pages_slowpath(gfp: Gfp) {
    might_alloc(gfp);
    let p = memory_pressure();
    if p == 0 {
        return;
    }
    if gfp.contains(Gfp::KSWAPD_RECLAIM) {
        wakeup_kswapd();
    }
    let ctx = current_gfp_context(gfp);
    if !need_reclaim(ctx) || !ctx.contains(Gfp::FS) {
        return;
    }
    // One reclaim pass per 100 credits of pressure. The credit is taken in one atomic update
    // so that two allocators racing past the threshold cannot both take the same 100 (which
    // wrapped the counter below zero).
    let prev = PRESSURE_CREDIT
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
            let n = c.saturating_add(p);
            Some(if n >= 100 { n - 100 } else { n })
        })
        .unwrap_or_else(|c| c);
    if prev.saturating_add(p) < 100 {
        return;
    }
    let _fs = fs_reclaim_acquire(gfp);
    shrink_slab(p, false);
}

/// Forces a reclaim pass that drains every shrinker (`echo 2 > /proc/sys/vm/drop_caches`),
/// under `fs_reclaim`. `reason` says why (for logs). Returns how many objects were freed. A
/// `might_sleep()`.
#[track_caller]
pub fn shrink_all(reason: &str) -> usize {
    let _ = reason;
    lockdep::might_sleep();
    let _fs = fs_reclaim_acquire(GFP_KERNEL);
    shrink_slab(100, true)
}

struct Kswapd {
    wait: WaitQueueHead,
    wanted: AtomicBool,
    stop: AtomicBool,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

fn kswapd() -> &'static Kswapd {
    static K: Kswapd = Kswapd {
        wait: WaitQueueHead::new(&KSWAPD_WAIT_CLASS),
        wanted: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        thread: std::sync::Mutex::new(None),
    };
    &K
}

/// Asks kswapd for a pass (`wakeup_kswapd`). Callable from any context.
pub fn wakeup_kswapd() {
    let k = kswapd();
    k.wanted.store(true, Ordering::Release);
    k.wait.wake_up_all();
}

/// Starts the kswapd thread (idempotent): each wake-up under pressure runs one pass over the
/// shrinkers under `fs_reclaim`.
pub fn start_kswapd() {
    let k = kswapd();
    let mut t = k.thread.lock().unwrap_or_else(|e| e.into_inner());
    if t.is_some() {
        return;
    }
    k.stop.store(false, Ordering::Release);
    *t = Some(
        std::thread::Builder::new()
            .name("kswapd0".into())
            .spawn(|| {
                let k = kswapd();
                loop {
                    k.wait
                        .wait_event(|| k.stop.load(Ordering::Acquire) || k.wanted.load(Ordering::Acquire));
                    if k.stop.load(Ordering::Acquire) {
                        return;
                    }
                    k.wanted.store(false, Ordering::Release);
                    let p = memory_pressure();
                    if p > 0 {
                        let _fs = fs_reclaim_acquire(GFP_KERNEL);
                        shrink_slab(p, false);
                    }
                }
            })
            .expect("spawn kswapd"),
    );
}

/// Stops the kswapd thread and waits for it.
pub fn stop_kswapd() {
    let k = kswapd();
    let t = k.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(t) = t {
        k.stop.store(true, Ordering::Release);
        k.wait.wake_up_all();
        let _ = t.join();
    }
}

// ---------------------------------------------------------------------------------------
// Address spaces, user memory, faults and mmu notifiers
// ---------------------------------------------------------------------------------------

/// The simulated page size.
pub const PAGE_SIZE: u64 = 4096;

static FAULTS: AtomicU64 = AtomicU64::new(0);

/// Page faults handled (`handle_mm_fault` calls, user-copy faults included).
pub fn faults() -> u64 {
    FAULTS.load(Ordering::Relaxed)
}

/// An address range an mmu notifier is told about (`struct mmu_notifier_range`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmuNotifierRange {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
}

/// A subscriber to an address space's invalidations (`struct mmu_notifier_ops`), e.g. a
/// userptr BO that must stop the GPU using pages that are going away.
pub trait MmuNotifierOps: Send + Sync {
    /// Called before `range` is unmapped, holding `mmap_lock` for writing and the
    /// mmu-notifier map; may sleep and wait on fences, must not allocate with reclaim under a
    /// lock it takes.
    ///
    /// # Errors
    /// `Eagain` when it cannot block (not used by the simulation's munmap, which may block).
    fn invalidate_range_start(&self, range: &MmuNotifierRange) -> KResult;
    /// Called after `range` was unmapped.
    fn invalidate_range_end(&self, range: &MmuNotifierRange) {
        let _ = range;
    }
}

/// What `&mm->mmap_lock` protects: the mappings (start address to length) and the mmu
/// notifiers. Opaque; lock it to order against faults (`mm.mmap_lock.read()`).
pub struct Mappings {
    vmas: BTreeMap<u64, u64>,
    next_addr: u64,
    notifiers: Vec<Arc<dyn MmuNotifierOps>>,
}

impl Mappings {
    fn mapped(&self, addr: u64, len: u64) -> bool {
        let end = addr.saturating_add(len);
        self.vmas
            .range(..=addr)
            .next_back()
            .is_some_and(|(s, l)| addr >= *s && end <= s + l)
    }
}

impl std::fmt::Debug for Mappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mappings")
            .field("vmas", &self.vmas.len())
            .field("notifiers", &self.notifiers.len())
            .finish()
    }
}

/// A process's address space (`struct mm_struct`).
pub struct MmStruct {
    /// `&mm->mmap_lock`.
    pub mmap_lock: RwLock<Mappings>,
    pages: SpinLock<HashMap<u64, Box<[u8]>>>,
}

impl MmStruct {
    /// An empty address space (`mm_alloc`).
    pub fn new() -> Arc<MmStruct> {
        Arc::new(MmStruct {
            mmap_lock: RwLock::with_class(
                Mappings {
                    vmas: BTreeMap::new(),
                    next_addr: 0x1000_0000,
                    notifiers: Vec::new(),
                },
                &MMAP_LOCK,
            ),
            pages: SpinLock::with_class(HashMap::new(), &PAGE_TABLE_LOCK),
        })
    }

    /// Maps `len` bytes of anonymous memory (rounded up to pages) and returns the address
    /// (`mmap(MAP_ANONYMOUS)`). Pages appear on first touch. Takes `mmap_lock` for writing.
    pub fn mmap_anon(&self, len: u64) -> u64 {
        let len = len.max(1).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let mut m = self.mmap_lock.write();
        let addr = m.next_addr;
        m.next_addr += len + PAGE_SIZE; // a guard page between mappings
        m.vmas.insert(addr, len);
        addr
    }

    /// Unmaps the mapping starting at `addr` (`munmap`): under `mmap_lock` for writing, the
    /// notifiers are told first ([`invalidate_range`](Self::invalidate_range)), then the pages
    /// go.
    ///
    /// # Errors
    /// `Einval` if no mapping starts at `addr`; a notifier's error.
    pub fn munmap(&self, addr: u64) -> KResult {
        let mut m = self.mmap_lock.write();
        let len = *m.vmas.get(&addr).ok_or(Errno::Einval)?;
        let range = MmuNotifierRange {
            start: addr,
            end: addr + len,
        };
        Self::notify(&m, &range)?;
        m.vmas.remove(&addr);
        let _irq = lockdep::irqs_disabled();
        self.pages
            .lock()
            .retain(|p, _| !(range.start..range.end).contains(&(p * PAGE_SIZE)));
        Ok(())
    }

    /// Subscribes `ops` to this address space's invalidations (`mmu_notifier_register`,
    /// which takes `mmap_lock` for writing).
    pub fn register_notifier(&self, ops: Arc<dyn MmuNotifierOps>) {
        self.mmap_lock.write().notifiers.push(ops);
    }

    /// Runs the notifiers for `range` as an unmap does: `mmap_lock` for writing, then the
    /// mmu-notifier map held around every `invalidate_range_start`, then `invalidate_range_end`.
    ///
    /// # Errors
    /// The first notifier error.
    #[track_caller]
    pub fn invalidate_range(&self, range: MmuNotifierRange) -> KResult {
        let m = self.mmap_lock.write();
        Self::notify(&m, &range)
    }

    #[track_caller]
    fn notify(m: &Mappings, range: &MmuNotifierRange) -> KResult {
        lockdep::might_sleep();
        {
            let _map = MMU_NOTIFIER_INVALIDATE_RANGE_START.lock();
            for n in &m.notifiers {
                n.invalidate_range_start(range)?;
            }
        }
        for n in &m.notifiers {
            n.invalidate_range_end(range);
        }
        Ok(())
    }

    /// Annotates a user access that may fault (`might_fault`): `might_lock_read(&mm->mmap_lock)`
    /// and a `might_sleep()`.
    #[track_caller]
    pub fn might_fault(&self) {
        lockdep::might_sleep();
        lockdep::might_lock_read(&self.mmap_lock);
    }

    /// Handles a fault at `addr` (`handle_mm_fault`): takes `mmap_lock` for reading, then runs
    /// the mapping's fault handler `fault` (e.g. a GEM fault taking the object's resv).
    /// Counted in [`faults`].
    ///
    /// # Errors
    /// The handler's error.
    #[track_caller]
    pub fn handle_mm_fault(&self, addr: u64, fault: impl FnOnce() -> KResult) -> KResult {
        let _ = addr;
        lockdep::might_sleep();
        FAULTS.fetch_add(1, Ordering::Relaxed);
        let _m = self.mmap_lock.read();
        fault()
    }

    /// Makes the anonymous page at `page` present: the fault path of user memory (checks the
    /// mapping under `mmap_lock`, allocates the page with `GFP_KERNEL`).
    #[track_caller]
    fn fault_in(&self, page: u64) -> KResult {
        FAULTS.fetch_add(1, Ordering::Relaxed);
        let m = self.mmap_lock.read();
        if !m.mapped(page * PAGE_SIZE, PAGE_SIZE) {
            return Err(Errno::Efault);
        }
        let fresh = kmalloc(PAGE_SIZE as usize, GFP_KERNEL)?;
        let _irq = lockdep::irqs_disabled();
        self.pages
            .lock()
            .entry(page)
            .or_insert_with(|| fresh.into_boxed_slice());
        drop(m);
        Ok(())
    }

    /// Copies between user memory at `addr` and `buf` page by page, faulting pages in.
    #[track_caller]
    fn access(&self, addr: u64, len: usize, mut copy: impl FnMut(&mut [u8], usize)) -> KResult {
        self.might_fault();
        let mut done = 0usize;
        while done < len {
            let a = addr.checked_add(done as u64).ok_or(Errno::Efault)?;
            let (page, off) = (a / PAGE_SIZE, (a % PAGE_SIZE) as usize);
            let n = (PAGE_SIZE as usize - off).min(len - done);
            let present = {
                let _irq = lockdep::irqs_disabled();
                let mut pages = self.pages.lock();
                match pages.get_mut(&page) {
                    Some(p) => {
                        copy(&mut p[off..off + n], done);
                        true
                    }
                    None => false,
                }
            };
            if present {
                done += n;
            } else {
                self.fault_in(page)?;
            }
        }
        Ok(())
    }

    /// Copies `src` to user memory at `dst` (`copy_to_user`): a `might_fault()`, and a real
    /// fault for each page not yet present.
    ///
    /// # Errors
    /// `Efault` if the range is not mapped.
    #[track_caller]
    pub fn copy_to_user(&self, dst: u64, src: &[u8]) -> KResult {
        self.access(dst, src.len(), |page, at| {
            page.copy_from_slice(&src[at..at + page.len()])
        })
    }

    /// Copies user memory at `src` into `dst` (`copy_from_user`), as
    /// [`copy_to_user`](Self::copy_to_user).
    ///
    /// # Errors
    /// `Efault` if the range is not mapped.
    #[track_caller]
    pub fn copy_from_user(&self, dst: &mut [u8], src: u64) -> KResult {
        let len = dst.len();
        self.access(src, len, |page, at| {
            dst[at..at + page.len()].copy_from_slice(page)
        })
    }

    /// Writes `value` to user memory at `dst` (`put_user`).
    ///
    /// # Errors
    /// `Efault` if the address is not mapped.
    #[track_caller]
    pub fn put_user(&self, dst: u64, value: u64) -> KResult {
        self.copy_to_user(dst, &value.to_ne_bytes())
    }

    /// Reads a value from user memory at `src` (`get_user`).
    ///
    /// # Errors
    /// `Efault` if the address is not mapped.
    #[track_caller]
    pub fn get_user(&self, src: u64) -> KResult<u64> {
        let mut b = [0u8; 8];
        self.copy_from_user(&mut b, src)?;
        Ok(u64::from_ne_bytes(b))
    }
}

impl std::fmt::Debug for MmStruct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MmStruct")
    }
}

/// A file's page-cache mapping (`struct address_space`), here only its `i_mmap_rwsem`: the
/// GEM objects of a device share one, whose mappings the shrinker and unplug zap.
pub struct AddressSpace {
    /// `&mapping->i_mmap_rwsem`.
    pub i_mmap_rwsem: RwLock<()>,
}

impl AddressSpace {
    /// A mapping with no users.
    pub fn new() -> AddressSpace {
        AddressSpace {
            i_mmap_rwsem: RwLock::with_class((), &I_MMAP_RWSEM),
        }
    }

    /// Zaps every CPU mapping of the file (`unmap_mapping_range`): walks the reverse map under
    /// `i_mmap_rwsem` (read).
    pub fn unmap_mapping_range(&self) {
        lockdep::might_sleep();
        drop(self.i_mmap_rwsem.read());
    }
}

impl Default for AddressSpace {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressSpace")
    }
}
