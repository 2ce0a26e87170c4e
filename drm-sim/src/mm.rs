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
//! # Locking
//! - `fs_reclaim` ([`FS_RECLAIM`]) and `mmu_notifier_invalidate_range_start`
//!   ([`MMU_NOTIFIER_INVALIDATE_RANGE_START`]): the kernel's pseudo-locks, with its names.
//!
//! # Annotations
//! - A direct-reclaim allocation (`__GFP_DIRECT_RECLAIM` set, thread not `PF_MEMALLOC`) acquires
//!   `fs_reclaim` exclusively if it may enter the filesystem (`__GFP_FS` after the scoped
//!   restrictions), and inside that acquires and releases the mmu-notifier map, exactly as
//!   `fs_reclaim_acquire` does; then it is a `might_sleep()`. `GFP_ATOMIC` and `GFP_NOWAIT`
//!   take neither and do not sleep.
//! - Reclaim (direct, forced or kswapd) runs the shrinkers holding `fs_reclaim`, with
//!   `PF_MEMALLOC` set so that their own allocations do not recurse into reclaim.
//!
//! # Rules
//! - R2 (no reclaiming allocation in a signalling section), R11 (shrinkers only trylock
//!   `dma_resv`, never block on a lock held around an allocation), R12 (mmu-notifier
//!   callbacks' locks must not be held across direct-reclaim allocations, NOFS included).
//!
//! # Simplified
//! - The allocator is the Rust heap; "pressure" is a knob, not a page count.
//! - Shrinkers run only for allocations that may enter the filesystem (`__GFP_FS`), as if
//!   every registered shrinker bailed out without it; they get no `shrink_control` beyond the
//!   number of objects to scan.

use crate::error::{Errno, KResult};
use lockdep::{LockMap, LockMapGuard};
use std::cell::Cell;
use std::marker::PhantomData;

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

/// Allocates `size` bytes (zeroed) with `gfp` (`kmalloc`): annotated as [`might_alloc`].
///
/// # Errors
/// `Enomem` if the size cannot be allocated.
#[track_caller]
pub fn kmalloc(size: usize, gfp: Gfp) -> KResult<Vec<u8>> {
    might_alloc(gfp);
    let mut v = Vec::new();
    v.try_reserve_exact(size).map_err(|_| Errno::Enomem)?;
    v.resize(size, 0);
    Ok(v)
}

/// Allocates `n` default values with `gfp` (`kvmalloc_array`), annotated as [`might_alloc`].
///
/// # Errors
/// `Enomem` if `n` elements cannot be allocated.
#[track_caller]
pub fn kvmalloc_array<T: Default>(n: usize, gfp: Gfp) -> KResult<Vec<T>> {
    might_alloc(gfp);
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::Enomem)?;
    v.resize_with(n, T::default);
    Ok(v)
}
