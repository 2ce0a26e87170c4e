//! Memory: the reclaim annotations of allocations (`fs_reclaim`, the mmu-notifier map, scoped
//! NOFS/NORECLAIM), shrinkers under pressure, kswapd, user copies, faults and mmu notifiers.

use drm_sim::mm::*;
use drm_sim::testing::{expect, kinds, reports, serial};
use lockdep::{LockClass, Mutex, ReportKind, SpinLock};

static DRIVER_LOCK: LockClass = LockClass::new("&drv->lock");

/// A driver lock that reclaim takes: acquired once inside `fs_reclaim`, as a shrinker would.
fn lock_taken_in_reclaim() -> Mutex<()> {
    let l = Mutex::with_class((), &DRIVER_LOCK);
    {
        let _r = FS_RECLAIM.lock();
        drop(l.lock());
    }
    l
}

/// A lock that an mmu notifier's invalidate_range_start takes.
fn lock_taken_in_notifier() -> Mutex<()> {
    static NOTIFIER_LOCK: LockClass = LockClass::new("&drv->notifier_lock");
    let l = Mutex::with_class((), &NOTIFIER_LOCK);
    {
        let _n = MMU_NOTIFIER_INVALIDATE_RANGE_START.lock();
        drop(l.lock());
    }
    l
}

#[test]
fn gfp_kernel_under_a_lock_reclaim_takes_is_reported() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    {
        let _g = l.lock();
        kmalloc(16, GFP_ATOMIC).unwrap(); // no reclaim: fine
        kmalloc(16, GFP_NOWAIT).unwrap();
    }
    assert!(kinds().is_empty());
    {
        let _g = l.lock();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::CircularDependency])
    );
    assert!(r.is_empty() || r[0].classes().contains(&"fs_reclaim"));
}

#[test]
fn noreclaim_scope_takes_neither_map() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    let n = lock_taken_in_notifier();
    {
        let _scope = memalloc_noreclaim_save();
        let _g = l.lock();
        let _h = n.lock();
        kmalloc(16, GFP_KERNEL).unwrap();
        might_alloc(GFP_NOFS);
    }
    assert!(kinds().is_empty());
    // The scope ended: the same allocation is reported again.
    {
        let _g = l.lock();
        might_alloc(GFP_KERNEL);
    }
    assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
}

#[test]
fn nofs_drops_fs_reclaim_but_keeps_the_notifier_map() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    {
        let _scope = memalloc_nofs_save();
        let _g = l.lock();
        kmalloc(16, GFP_KERNEL).unwrap(); // behaves as GFP_NOFS: no fs_reclaim
    }
    assert!(kinds().is_empty());
    let n = lock_taken_in_notifier();
    {
        let _scope = memalloc_nofs_save();
        let _h = n.lock();
        kmalloc(16, GFP_KERNEL).unwrap(); // still direct reclaim: the notifier map
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::CircularDependency])
    );
    assert!(r.is_empty() || r[0].classes().contains(&"mmu_notifier_invalidate_range_start"));
}

#[test]
fn gfp_nofs_and_noio_take_the_notifier_map_only() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    {
        let _g = l.lock();
        might_alloc(GFP_NOFS);
        might_alloc(GFP_NOIO);
    }
    assert!(kinds().is_empty());
    let n = lock_taken_in_notifier();
    {
        let _h = n.lock();
        might_alloc(GFP_NOIO);
    }
    assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
}

#[test]
fn scopes_nest_and_restore() {
    let _s = serial();
    assert_eq!(current_gfp_context(GFP_KERNEL), GFP_KERNEL);
    let outer = memalloc_nofs_save();
    {
        let _inner = memalloc_nofs_save();
        assert_eq!(current_gfp_context(GFP_KERNEL), GFP_NOFS);
    }
    assert_eq!(
        current_gfp_context(GFP_KERNEL),
        GFP_NOFS,
        "the inner guard restores, not clears"
    );
    drop(outer);
    assert_eq!(current_gfp_context(GFP_KERNEL), GFP_KERNEL);
    let _io = memalloc_noio_save();
    assert_eq!(current_gfp_context(GFP_KERNEL), GFP_NOIO);
}

#[test]
fn a_blocking_allocation_in_atomic_context_is_reported_an_atomic_one_is_not() {
    let _s = serial();
    let s = SpinLock::new(());
    {
        let _g = s.lock();
        kmalloc(16, GFP_ATOMIC).unwrap();
        kvmalloc_array::<u32>(4, GFP_NOWAIT).unwrap();
    }
    assert!(kinds().is_empty());
    {
        let _g = s.lock();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    assert_eq!(kinds(), expect(&[ReportKind::SleepInAtomic]));
}
