//! `dma_fence_array`: signalling on all or any member, error propagation, and R8 — the
//! member-signal path never takes the array's lock (the injected bug does, and is reported).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use drm_sim::dma_fence::{
    dma_fence_array_create, dma_fence_array_create_with_bugs, dma_fence_context_alloc, dma_fence_is_array,
    dma_fence_unwrap, to_dma_fence_array, DmaFenceLock, FenceStatus,
};
use drm_sim::irq_work::irq_work_sync;
use drm_sim::{Bug, Bugs, Errno};
use lockdep::{LockClass, ReportKind};

mod common;
use common::{fence, fences, fences_with_lock, kinds, names, reports, serial};

const LONG: Duration = Duration::from_secs(10);

#[test]
fn an_array_signals_when_all_members_have() {
    let _s = serial();
    let members = fences(3);
    let ctx = dma_fence_context_alloc(1);
    let array = dma_fence_array_create(members.clone(), ctx, 7, false);
    assert!(dma_fence_is_array(&array));
    assert_eq!((array.context(), array.seqno()), (ctx, 7));
    assert_eq!(to_dma_fence_array(&array).unwrap().num_fences(), 3);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    array
        .add_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    members[0].signal().unwrap();
    members[2].signal().unwrap();
    irq_work_sync();
    assert!(!array.is_signaled(), "one member is still pending");
    members[1].signal().unwrap();
    array.wait_timeout(false, LONG).unwrap();
    irq_work_sync();
    assert_eq!(array.get_status(), FenceStatus::Signaled);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(kinds().is_empty());
}

#[test]
fn signal_on_any_signals_on_the_first_member() {
    let _s = serial();
    let members = fences(3);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, true);
    array.enable_signaling();
    members[1].signal().unwrap();
    array.wait_timeout(false, LONG).unwrap();
    members[0].signal().unwrap();
    members[2].signal().unwrap();
    irq_work_sync();
    assert_eq!(array.get_status(), FenceStatus::Signaled);
    assert!(kinds().is_empty());
}

#[test]
fn the_first_member_error_is_the_arrays() {
    let _s = serial();
    let members = fences(3);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    array.enable_signaling();
    members[0].signal().unwrap();
    members[2].set_error(Errno::Eio);
    members[2].signal().unwrap();
    members[1].set_error(Errno::Etimedout);
    members[1].signal().unwrap();
    array.wait_timeout(false, LONG).unwrap();
    assert_eq!(array.error(), Some(Errno::Eio));
    assert_eq!(array.get_status(), FenceStatus::Error(Errno::Eio));
}

#[test]
fn members_signalled_before_enabling_count_at_once() {
    let _s = serial();
    let members = fences(2);
    members[0].set_error(Errno::Ecanceled);
    for m in &members {
        m.signal().unwrap();
    }
    let array = dma_fence_array_create(members, dma_fence_context_alloc(1), 1, false);
    assert_eq!(
        array.add_callback(|_| panic!("signalled at enable")),
        Err(Errno::Enoent),
        "enable_signaling found nothing pending and signalled it"
    );
    assert_eq!(array.error(), Some(Errno::Ecanceled));
    assert!(kinds().is_empty());
}

#[test]
fn is_signaled_before_enabling_counts_the_members() {
    let _s = serial();
    let members = fences(2);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    members[0].signal().unwrap();
    assert!(!array.is_signaled());
    members[1].set_error(Errno::Eio);
    members[1].signal().unwrap();
    assert!(array.is_signaled(), "all members done: the provider says so");
    assert_eq!(array.error(), Some(Errno::Eio));
}

#[test]
fn members_signalled_from_many_threads_signal_the_array_once() {
    let _s = serial();
    for _ in 0..20 {
        let members = fences(8);
        let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        array
            .add_callback(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        let ts: Vec<_> = members
            .into_iter()
            .map(|m| thread::spawn(move || m.signal().unwrap()))
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        array.wait_timeout(false, LONG).unwrap();
        irq_work_sync();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
    assert!(kinds().is_empty());
}

#[test]
fn unwrap_returns_the_members() {
    let _s = serial();
    let members = fences(3);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    let got = dma_fence_unwrap(&array);
    assert_eq!(got.len(), 3);
    for (a, b) in got.iter().zip(&members) {
        assert!(Arc::ptr_eq(a, b));
    }
    let (_p, plain) = fence();
    assert!(Arc::ptr_eq(&dma_fence_unwrap(&plain)[0], &plain));
}

#[test]
fn the_array_is_released_once_its_members_have_signalled() {
    let _s = serial();
    let members = fences(2);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    array.enable_signaling();
    let weak = Arc::downgrade(&array);
    drop(array);
    assert!(
        weak.upgrade().is_some(),
        "pending member callbacks hold the array"
    );
    for m in &members {
        m.signal().unwrap();
    }
    irq_work_sync();
    assert!(weak.upgrade().is_none());
}

// ---- R8 ----

/// Arms the array (enable_signaling: the array's lock, then each member's), then signals the
/// members (a member's lock, then whatever its callback takes).
fn exercise(array: &Arc<drm_sim::dma_fence::DmaFence>, members: &[Arc<drm_sim::dma_fence::DmaFence>]) {
    array.enable_signaling();
    for m in members {
        m.signal().unwrap();
    }
    array.wait_timeout(false, LONG).unwrap();
    irq_work_sync();
}

#[test]
fn r8_the_fixed_array_keeps_fence_lock_nesting_one_directional() {
    let _s = serial();
    let members = fences(2);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    exercise(&array, &members);
    static HW_LOCK: LockClass = LockClass::new("&ring->fence_lock");
    let lock = DmaFenceLock::new(&HW_LOCK);
    let members = fences_with_lock(2, &lock);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    exercise(&array, &members);
    assert!(kinds().is_empty());
}

#[test]
fn r8_signalling_the_array_under_an_inline_member_lock_is_a_cycle() {
    let _s = serial();
    let members = fences(2);
    let bugs = Bugs::NONE.with(Bug::FenceArrayLockInversion);
    let array = dma_fence_array_create_with_bugs(members.clone(), dma_fence_context_alloc(1), 1, false, bugs);
    exercise(&array, &members);
    if lockdep::ENABLED {
        let r = reports();
        let c = r
            .iter()
            .find(|r| r.kind() == ReportKind::CircularDependency)
            .unwrap_or_else(|| panic!("{r:#?}"));
        assert!(
            names(c, "&fence->inline_lock") && names(c, "&dma_fence_array_lock_key"),
            "{c:#?}"
        );
    }
}

#[test]
fn r8_signalling_the_array_under_a_provider_member_lock_is_a_cycle() {
    let _s = serial();
    static HW_LOCK: LockClass = LockClass::new("&ring->fence_lock");
    let lock = DmaFenceLock::new(&HW_LOCK);
    let members = fences_with_lock(2, &lock);
    let bugs = Bugs::NONE.with(Bug::FenceArrayLockInversion);
    let array = dma_fence_array_create_with_bugs(members.clone(), dma_fence_context_alloc(1), 1, false, bugs);
    exercise(&array, &members);
    if lockdep::ENABLED {
        let r = reports();
        let c = r
            .iter()
            .find(|r| r.kind() == ReportKind::CircularDependency)
            .unwrap_or_else(|| panic!("{r:#?}"));
        assert!(
            names(c, "&dma_fence_array_lock_key") && names(c, "&ring->fence_lock"),
            "{c:#?}"
        );
    }
}

#[test]
fn the_array_lock_has_its_own_class() {
    let _s = serial();
    let members = fences(1);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    assert!(array.has_inline_lock());
    {
        // Holding the array's lock while taking a member's is the legitimate order: no
        // recursion on one class.
        let _a = array.lock_irqsave();
        let _m = members[0].lock_irqsave();
    }
    assert!(kinds().is_empty());
}

#[test]
fn array_callbacks_run_in_irq_context_so_their_locks_must_be_irq_safe() {
    let _s = serial();
    static WQ: LockClass = LockClass::new("&sync_file->wq");
    let wq = Arc::new(lockdep::SpinLock::with_class((), &WQ));
    let members = fences(1);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    let w = wq.clone();
    array.add_callback(move |_| drop(w.lock())).unwrap();
    members[0].signal().unwrap();
    array.wait_timeout(false, LONG).unwrap();
    irq_work_sync();
    {
        let _irq = lockdep::irqs_disabled();
        drop(wq.lock());
    }
    assert!(kinds().is_empty(), "taken with irqs off: consistent");
    drop(wq.lock());
    if lockdep::ENABLED {
        assert!(kinds().contains(&ReportKind::InconsistentLockState));
    }
}
