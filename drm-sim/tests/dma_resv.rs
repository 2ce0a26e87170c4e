//! dma_resv: fences by usage, replacement, reservations, unlocked readers (singleton, waits),
//! the boot-time priming and the lock rules it encodes (R3, R9, R11, R13).

mod buffers;

use buffers::{describe, fence, fence_with, matching, TestOps};
use drm_sim::dma_resv::{dma_resv_lockdep, DmaResv, DmaResvUsage, RESERVATION_WW_CLASS};
use drm_sim::error::Errno;
use drm_sim::mm::{self, MmStruct, GFP_KERNEL};
use drm_sim::testing::{kinds, reports, serial};
use lockdep::{ReportKind, WwAcquireCtx};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use DmaResvUsage::{Bookkeep, Kernel, Read, Write};

#[test]
fn fences_are_returned_by_usage_and_stronger() {
    let _s = serial();
    let resv = DmaResv::new();
    let fs: Vec<_> = (0..4).map(|_| fence()).collect();
    {
        let g = resv.lock(None).unwrap();
        resv.reserve_fences(&g, 4).unwrap();
        for (f, u) in fs.iter().zip([Kernel, Write, Read, Bookkeep]) {
            resv.add_fence(&g, f.clone(), u);
        }
        for (usage, n) in [(Kernel, 1), (Write, 2), (Read, 3), (Bookkeep, 4)] {
            let got = resv.fences(&g, usage);
            assert_eq!(got.len(), n, "{usage:?}");
            assert!(got.iter().all(|(_, u)| *u <= usage));
        }
    }
    assert_eq!(resv.iter_unlocked(Read).len(), 3);
    fs[1].signal().unwrap();
    // Unlocked readers skip signalled fences; the locked iterator still lists them.
    assert_eq!(resv.iter_unlocked(Read).len(), 2);
    assert!(!resv.test_signaled(Write));
    fs[0].signal().unwrap();
    assert!(resv.test_signaled(Write));
    assert!(!resv.test_signaled(Read));
    let g = resv.lock(None).unwrap();
    assert_eq!(resv.fences(&g, Bookkeep).len(), 4);
    drop(g);
    assert!(kinds().is_empty());
}

#[test]
fn add_fence_replaces_same_context_of_same_or_stronger_usage() {
    let _s = serial();
    let resv = DmaResv::new();
    let ops = Arc::new(TestOps::default());
    let ctx = drm_sim::dma_fence::dma_fence_context_alloc(1);
    let mk = |seq| drm_sim::dma_fence::DmaFence::init(ops.clone(), ctx, seq);
    let g = resv.lock(None).unwrap();
    resv.reserve_fences(&g, 4).unwrap();
    resv.add_fence(&g, mk(1), Read);
    resv.add_fence(&g, mk(2), Read);
    let f = resv.fences(&g, Bookkeep);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0.seqno(), 2);
    // The old fence of the context was released when replaced.
    assert_eq!(ops.releases.load(Ordering::SeqCst), 1);
    // A stronger usage replaces a weaker one of the same context...
    resv.add_fence(&g, mk(3), Write);
    assert_eq!(resv.fences(&g, Bookkeep).len(), 1);
    // ...but a weaker one does not replace a stronger one.
    resv.add_fence(&g, mk(4), Read);
    let mut seqs: Vec<_> = resv.fences(&g, Bookkeep).iter().map(|(f, _)| f.seqno()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, vec![3, 4]);
    // A signalled fence's slot is reused by any fence.
    let other = fence();
    let f3 = resv.fences(&g, Write)[0].0.clone();
    f3.signal().unwrap();
    drop(f3);
    resv.add_fence(&g, other.clone(), Bookkeep);
    assert_eq!(resv.fences(&g, Bookkeep).len(), 2);
    drop(g);
    assert!(kinds().is_empty());
}

#[test]
fn adding_needs_a_reservation_made_under_the_same_lock() {
    let _s = serial();
    let resv = DmaResv::new();
    let g = resv.lock(None).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| resv.add_fence(&g, fence(), Write)));
    assert!(r.is_err(), "add_fence without reserve_fences must fail");
    resv.reserve_fences(&g, 1).unwrap();
    resv.add_fence(&g, fence(), Write);
    resv.reserve_fences(&g, 1).unwrap();
    drop(g);
    // Unlocking forgets the unused reservation (CONFIG_DEBUG_MUTEXES behaviour).
    let g = resv.lock(None).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| resv.add_fence(&g, fence(), Read)));
    assert!(r.is_err(), "a reservation must not survive an unlock");
    drop(g);
    assert!(kinds().is_empty());
}

#[test]
fn reserve_fences_puts_signalled_fences_under_the_lock() {
    let _s = serial();
    let resv = DmaResv::new();
    let ops = Arc::new(TestOps::default());
    *ops.watch.lock().unwrap() = Some(resv.clone());
    let g = resv.lock(None).unwrap();
    resv.reserve_fences(&g, 4).unwrap();
    let fs: Vec<_> = (0..4).map(|_| fence_with(&ops)).collect();
    for f in &fs {
        resv.add_fence(&g, f.clone(), Read);
    }
    // Signalled after all were added (add_fence would reuse a signalled fence's slot).
    for f in fs {
        f.signal().unwrap();
    }
    assert_eq!(
        ops.releases.load(Ordering::SeqCst),
        0,
        "the resv still holds them"
    );
    // The slots are full: growing the list drops the signalled fences' last references.
    resv.reserve_fences(&g, 1).unwrap();
    assert_eq!(ops.releases.load(Ordering::SeqCst), 4);
    assert_eq!(
        ops.released_under_resv.load(Ordering::SeqCst),
        4,
        "R7: release ran under resv"
    );
    assert!(resv.fences(&g, Bookkeep).is_empty());
    drop(g);
    assert!(kinds().is_empty());
}

#[test]
fn singleton_of_none_one_and_many() {
    let _s = serial();
    let resv = DmaResv::new();
    assert!(resv.get_singleton(Bookkeep).unwrap().is_none());
    let a = fence();
    let b = fence();
    {
        let g = resv.lock(None).unwrap();
        resv.reserve_fences(&g, 2).unwrap();
        resv.add_fence(&g, a.clone(), Write);
    }
    let one = resv.get_singleton(Write).unwrap().unwrap();
    assert!(Arc::ptr_eq(&one, &a), "one fence is returned as itself");
    {
        let g = resv.lock(None).unwrap();
        resv.reserve_fences(&g, 1).unwrap();
        resv.add_fence(&g, b.clone(), Read);
    }
    // Write usage still sees only the writer.
    assert!(Arc::ptr_eq(&resv.get_singleton(Write).unwrap().unwrap(), &a));
    let many = resv.get_singleton(Read).unwrap().unwrap();
    assert!(!Arc::ptr_eq(&many, &a) && !Arc::ptr_eq(&many, &b));
    assert!(!many.is_signaled());
    a.signal().unwrap();
    assert!(!many.is_signaled(), "the array waits for all");
    b.signal().unwrap();
    assert!(many.wait_timeout(false, Duration::from_secs(5)).is_ok());
    assert!(many.is_signaled());
    assert!(resv.get_singleton(Read).unwrap().is_none());
    assert!(kinds().is_empty());
}

#[test]
fn wait_timeout_times_out_then_returns_when_signalled() {
    let _s = serial();
    let resv = DmaResv::new();
    let f = fence();
    {
        let g = resv.lock(None).unwrap();
        resv.reserve_fences(&g, 1).unwrap();
        resv.add_fence(&g, f.clone(), Write);
    }
    assert_eq!(
        resv.wait_timeout(Write, false, Duration::from_millis(20)),
        Err(Errno::Etimedout)
    );
    // Bookkeep-only waiters of Kernel usage see nothing to wait for.
    assert!(resv.wait_timeout(Kernel, false, Duration::from_millis(1)).is_ok());
    let f2 = f.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        f2.signal().unwrap();
    });
    let left = resv.wait_timeout(Read, true, Duration::from_secs(10)).unwrap();
    assert!(left > Duration::ZERO);
    t.join().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn assert_held_reports_only_without_the_lock() {
    let _s = serial();
    let resv = DmaResv::new();
    let g = resv.lock(None).unwrap();
    resv.assert_held();
    drop(g);
    assert!(kinds().is_empty());
    resv.assert_held();
    let r = reports();
    assert_eq!(r.len(), 1, "{:?}", describe(&r));
    assert_eq!(r[0].kind(), ReportKind::AssertionFailed);
    assert!(r[0]
        .details()
        .iter()
        .any(|d| d.contains("reservation_ww_class_mutex")));
}

#[test]
fn two_resv_locks_need_one_acquire_context() {
    let _s = serial();
    let a = DmaResv::new();
    let b = DmaResv::new();
    {
        let ctx = WwAcquireCtx::new(&RESERVATION_WW_CLASS);
        let ga = a.lock(Some(&ctx)).unwrap();
        let gb = b.lock(Some(&ctx)).unwrap();
        assert_eq!(a.lock(Some(&ctx)).err(), Some(Errno::Ealready));
        drop((ga, gb));
    }
    assert!(kinds().is_empty());
    let ga = a.lock(None).unwrap();
    let gb = b.lock(None).unwrap();
    drop((gb, ga));
    let r = reports();
    let hits = matching(&r, ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]);
    assert_eq!(hits.len(), 1, "{:?}", describe(&r));
}

#[test]
fn priming_is_silent_and_orders_resv_between_mmap_lock_and_reclaim() {
    let _s = serial();
    dma_resv_lockdep();
    // The legitimate orders: fault (mmap_lock then resv), allocation under resv.
    let mm = MmStruct::new();
    let resv = DmaResv::new();
    mm.handle_mm_fault(0x1000, || {
        let g = resv.lock(None)?;
        mm::kmalloc(64, GFP_KERNEL)?;
        drop(g);
        Ok(())
    })
    .unwrap();
    assert!(kinds().is_empty());

    // R9: a user copy under resv inverts the primed order.
    let user = mm.mmap_anon(8);
    let g = resv.lock(None).unwrap();
    mm.put_user(user, 1).unwrap();
    drop(g);
    let r = reports();
    let hits = matching(
        &r,
        ReportKind::CircularDependency,
        &["&mm->mmap_lock", "reservation_ww_class_mutex"],
    );
    assert_eq!(hits.len(), 1, "{:?}", describe(&r));

    // R11: a blocking resv lock under reclaim inverts it too.
    let reclaim = mm::fs_reclaim_acquire(GFP_KERNEL);
    let g = resv.lock(None).unwrap();
    drop(g);
    drop(reclaim);
    let r = reports();
    let hits = matching(
        &r,
        ReportKind::CircularDependency,
        &["fs_reclaim", "reservation_ww_class_mutex"],
    );
    assert_eq!(hits.len(), 1, "{:?}", describe(&r));

    // R3: a resv lock inside a signalling section.
    {
        let _sig = drm_sim::dma_fence::signalling();
        let g = resv.lock(None).unwrap();
        drop(g);
    }
    let r = reports();
    let hits = matching(
        &r,
        ReportKind::CircularDependency,
        &["dma_fence_map", "reservation_ww_class_mutex"],
    );
    assert_eq!(hits.len(), 1, "{:?}", describe(&r));
}

#[test]
fn without_priming_one_direction_alone_is_silent() {
    let _s = serial();
    let resv = DmaResv::new();
    let reclaim = mm::fs_reclaim_acquire(GFP_KERNEL);
    let g = resv.lock(None).unwrap();
    drop(g);
    drop(reclaim);
    assert!(
        kinds().is_empty(),
        "the priming is what makes the shrinker rule checkable"
    );
    // Priming after the fact closes the cycle.
    dma_resv_lockdep();
    let r = reports();
    assert!(
        !matching(
            &r,
            ReportKind::CircularDependency,
            &["fs_reclaim", "reservation_ww_class_mutex"]
        )
        .is_empty(),
        "{:?}",
        describe(&r)
    );
}

#[test]
fn the_owner_is_known_without_the_validator() {
    let _s = serial();
    let resv = DmaResv::new();
    assert!(!resv.is_locked_by_current_thread());
    let g = resv.lock(None).unwrap();
    assert!(resv.is_locked_by_current_thread());
    drop(g);
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let r2 = resv.clone();
    let t = thread::spawn(move || {
        let g = r2.trylock().unwrap();
        held_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        drop(g);
    });
    held_rx.recv().unwrap();
    assert!(resv.is_locked() && !resv.is_locked_by_current_thread());
    assert!(resv.trylock().is_none());
    go_tx.send(()).unwrap();
    t.join().unwrap();
    assert!(!resv.is_locked());
    assert!(kinds().is_empty());
}
