//! `dma_fence`: signalling, callbacks, waits, errors, release, and the lockdep annotations
//! (signalling sections vs. waits, irq-safe fence locks, callbacks in atomic context).
//!
//! Lockdep's reports are process-wide, so every test takes `serial()` (this file is its own
//! process). Tests that expect a report check `lockdep::ENABLED` first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use drm_sim::dma_fence::{
    dma_fence_allocate_private_stub, dma_fence_begin_signalling, dma_fence_context_alloc,
    dma_fence_end_signalling, dma_fence_get_stub, might_wait, signalling, DmaFence, DmaFenceLock,
    DmaFenceOps, FenceStatus, DMA_FENCE_MAP, DRM_UNPLUG_SRCU,
};
use drm_sim::Errno;
use lockdep::{LockClass, ReportKind};

mod common;
use common::{fence, kinds, reports, serial, Probe};

#[test]
fn a_fence_signals_exactly_once() {
    let _s = serial();
    let (_p, f) = fence();
    assert!(!f.is_signaled());
    assert_eq!(f.get_status(), FenceStatus::Pending);
    assert_eq!(f.signal(), Ok(()));
    assert_eq!(f.signal(), Err(Errno::Einval));
    assert!(f.is_signaled());
    assert_eq!(f.get_status(), FenceStatus::Signaled);
    assert_eq!(f.get_status().code(), 1);
    assert!(f.timestamp().is_some());
    assert!(kinds().is_empty());
}

#[test]
fn an_error_set_before_the_signal_is_its_status() {
    let _s = serial();
    let (_p, f) = fence();
    f.set_error(Errno::Eio);
    assert_eq!(
        f.get_status(),
        FenceStatus::Pending,
        "an error alone does not signal"
    );
    f.signal().unwrap();
    assert_eq!(f.error(), Some(Errno::Eio));
    assert_eq!(f.get_status(), FenceStatus::Error(Errno::Eio));
    assert_eq!(f.get_status().code(), -5);
}

#[test]
#[should_panic(expected = "signalled fence")]
fn setting_an_error_after_the_signal_panics() {
    let _s = serial();
    let (_p, f) = fence();
    f.signal().unwrap();
    f.set_error(Errno::Eio);
}

#[test]
fn signal_timestamp_records_the_given_time() {
    let _s = serial();
    let (_p, f) = fence();
    let t = Instant::now() - Duration::from_millis(5);
    f.signal_timestamp(t).unwrap();
    assert_eq!(f.timestamp(), Some(t));
}

#[test]
fn callbacks_run_once_in_order_and_not_after_the_signal() {
    let _s = serial();
    let (_p, f) = fence();
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let log = log.clone();
        f.add_callback(move |fence| {
            assert!(fence.test_signaled_flag(), "the flag is set before callbacks run");
            log.lock().unwrap().push(i)
        })
        .unwrap();
    }
    assert_eq!(f.pending_callbacks(), 3);
    f.signal().unwrap();
    assert_eq!(*log.lock().unwrap(), vec![0, 1, 2]);
    let _ = f.signal();
    assert_eq!(log.lock().unwrap().len(), 3, "a second signal runs nothing");
    let late = f.add_callback(|_| panic!("must not run"));
    assert_eq!(late, Err(Errno::Enoent));
    assert!(f.try_add_callback(|_| ()).is_err(), "the closure comes back");
    assert!(kinds().is_empty());
}

#[test]
fn a_removed_callback_never_runs() {
    let _s = serial();
    let (_p, f) = fence();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let cb = f
        .add_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let r = ran.clone();
    let kept = f
        .add_callback(move |_| {
            r.fetch_add(10, Ordering::SeqCst);
        })
        .unwrap();
    assert!(f.remove_callback(&cb));
    assert!(!f.remove_callback(&cb), "removed once only");
    f.signal().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert!(!f.remove_callback(&kept), "already ran");
}

#[test]
fn enable_signaling_runs_once_under_the_lock_on_the_first_callback_or_wait() {
    let _s = serial();
    let (p, f) = fence();
    assert_eq!(p.enabled.load(Ordering::SeqCst), 0, "not at init");
    f.add_callback(|_| ()).unwrap();
    f.add_callback(|_| ()).unwrap();
    assert_eq!(f.wait_timeout(false, Duration::ZERO), Err(Errno::Etimedout));
    f.enable_signaling();
    assert_eq!(p.enabled.load(Ordering::SeqCst), 1);
    f.signal().unwrap();
    assert!(kinds().is_empty(), "the assert_held in enable_signaling passed");
}

#[test]
fn enable_signaling_returning_false_signals_at_once() {
    let _s = serial();
    let p = Arc::new(Probe {
        refuse: true,
        ..Probe::default()
    });
    let f = DmaFence::init(p.clone(), dma_fence_context_alloc(1), 1);
    assert_eq!(f.add_callback(|_| panic!("already done")), Err(Errno::Enoent));
    assert!(f.test_signaled_flag());
    assert_eq!(f.wait(false), Ok(()));
    assert_eq!(p.enabled.load(Ordering::SeqCst), 1);
}

#[test]
fn the_provider_signaled_hook_signals_the_fence() {
    struct Done(std::sync::atomic::AtomicBool);
    impl DmaFenceOps for Done {
        fn get_driver_name(&self) -> &'static str {
            "done"
        }
        fn get_timeline_name(&self) -> &'static str {
            "done"
        }
        fn signaled(&self, _f: &DmaFence) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }
    let _s = serial();
    let ops = Arc::new(Done(false.into()));
    let f = DmaFence::init(ops.clone(), dma_fence_context_alloc(1), 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    f.add_callback(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert!(!f.is_signaled());
    ops.0.store(true, Ordering::SeqCst);
    assert!(f.is_signaled());
    assert!(f.test_signaled_flag());
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn set_deadline_reaches_the_provider_only_while_pending() {
    let _s = serial();
    let (p, f) = fence();
    f.set_deadline(Instant::now());
    assert_eq!(p.deadlines.load(Ordering::SeqCst), 1);
    f.signal().unwrap();
    f.set_deadline(Instant::now());
    assert_eq!(p.deadlines.load(Ordering::SeqCst), 1);
}

#[test]
fn release_runs_on_the_last_drop_only() {
    let _s = serial();
    let (p, f) = fence();
    let f2 = f.clone();
    let f3 = f.get();
    drop(f);
    drop(f2);
    assert_eq!(p.released.load(Ordering::SeqCst), 0);
    drop(f3);
    assert_eq!(p.released.load(Ordering::SeqCst), 1);
}

#[test]
fn a_fence_dropped_with_callbacks_pending_signals_them_with_edeadlk() {
    let _s = serial();
    let (p, f) = fence();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    f.add_callback(move |fence| *s.lock().unwrap() = Some(fence.error()))
        .unwrap();
    drop(f);
    assert_eq!(*seen.lock().unwrap(), Some(Some(Errno::Edeadlk)));
    assert_eq!(p.released.load(Ordering::SeqCst), 1);
}

#[test]
fn a_wait_wakes_when_another_thread_signals() {
    let _s = serial();
    let (_p, f) = fence();
    let g = f.clone();
    let signaller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        g.signal().unwrap();
    });
    let t = Instant::now();
    let left = f.wait_timeout(true, Duration::from_secs(10)).unwrap();
    assert!(f.test_signaled_flag());
    assert!(t.elapsed() >= Duration::from_millis(25));
    assert!(left > Duration::from_secs(5));
    signaller.join().unwrap();
    assert_eq!(f.pending_callbacks(), 0);
    assert!(kinds().is_empty(), "a wait with nothing held is clean");
}

#[test]
fn an_unbounded_wait_wakes_too() {
    let _s = serial();
    let (_p, f) = fence();
    let g = f.clone();
    let signaller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        g.signal().unwrap();
    });
    assert_eq!(f.wait(false), Ok(()));
    signaller.join().unwrap();
}

#[test]
fn a_wait_times_out_and_leaves_no_waker_behind() {
    let _s = serial();
    let (_p, f) = fence();
    let t = Instant::now();
    assert_eq!(
        f.wait_timeout(false, Duration::from_millis(40)),
        Err(Errno::Etimedout)
    );
    assert!(t.elapsed() >= Duration::from_millis(40));
    assert_eq!(f.pending_callbacks(), 0);
    assert_eq!(f.wait_timeout(false, Duration::ZERO), Err(Errno::Etimedout));
    f.signal().unwrap();
    assert_eq!(f.wait_timeout(false, Duration::ZERO), Ok(Duration::ZERO));
}

#[test]
fn many_waiters_all_wake() {
    let _s = serial();
    let (_p, f) = fence();
    let waiters: Vec<_> = (0..6)
        .map(|_| {
            let f = f.clone();
            thread::spawn(move || f.wait_timeout(false, Duration::from_secs(10)))
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    f.signal().unwrap();
    for w in waiters {
        assert!(w.join().unwrap().is_ok());
    }
}

#[test]
fn racing_signal_and_add_callback_runs_each_callback_exactly_once() {
    let _s = serial();
    for round in 0..50 {
        let (_p, f) = fence();
        let ran = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let adders: Vec<_> = (0..3)
            .map(|_| {
                let (f, ran, refused) = (f.clone(), ran.clone(), refused.clone());
                thread::spawn(move || {
                    for _ in 0..20 {
                        let r = ran.clone();
                        if f.add_callback(move |_| {
                            r.fetch_add(1, Ordering::SeqCst);
                        })
                        .is_err()
                        {
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        let signallers: Vec<_> = (0..2)
            .map(|_| {
                let f = f.clone();
                thread::spawn(move || f.signal().is_ok())
            })
            .collect();
        for a in adders {
            a.join().unwrap();
        }
        let won: usize = signallers.into_iter().map(|s| s.join().unwrap() as usize).sum();
        assert_eq!(won, 1, "round {round}: exactly one signal succeeds");
        assert_eq!(
            ran.load(Ordering::SeqCst) + refused.load(Ordering::SeqCst),
            60,
            "round {round}: every callback either ran once or was refused"
        );
    }
    assert!(kinds().is_empty());
}

#[test]
fn an_external_lock_is_shared_and_has_the_providers_class() {
    static SCHED_FENCE_LOCK: LockClass = LockClass::new("&fence->lock");
    let _s = serial();
    let lock = DmaFenceLock::new(&SCHED_FENCE_LOCK);
    let p = Arc::new(Probe::default());
    let ctx = dma_fence_context_alloc(2);
    let scheduled = DmaFence::init_with_lock(p.clone(), &lock, ctx, 1);
    let finished = DmaFence::init_with_lock(p, &lock, ctx + 1, 1);
    {
        let _g = scheduled.lock_irqsave();
        lockdep::assert_held(finished.lock_ref());
    }
    scheduled.signal().unwrap();
    finished.signal().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn stubs_are_signalled() {
    let _s = serial();
    let stub = dma_fence_get_stub();
    assert!(stub.is_signaled());
    assert!(Arc::ptr_eq(&stub, &dma_fence_get_stub()));
    assert_eq!(stub.context(), 0);
    let t = Instant::now();
    let private = dma_fence_allocate_private_stub(t);
    assert!(private.is_signaled());
    assert_eq!(private.timestamp(), Some(t));
    assert!(!Arc::ptr_eq(&stub, &private));
    assert_eq!(stub.wait(false), Ok(()));
    assert!(kinds().is_empty());
}

#[test]
fn is_later_compares_seqnos_on_one_timeline() {
    let p = Arc::new(Probe::default());
    let ctx = dma_fence_context_alloc(1);
    let a = DmaFence::init(p.clone(), ctx, 1);
    let b = DmaFence::init(p, ctx, 2);
    assert!(b.is_later(&a));
    assert!(!a.is_later(&b));
}

#[test]
fn context_alloc_hands_out_disjoint_ranges() {
    let a = dma_fence_context_alloc(4);
    let b = dma_fence_context_alloc(1);
    assert!(b >= a + 4);
    assert_ne!(a, 0);
}

// ---- lockdep annotations ----

#[test]
fn signal_from_an_irq_handler_is_clean() {
    let _s = serial();
    let (_p, f) = fence();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    f.add_callback(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let g = f.clone();
    thread::spawn(move || {
        let _irq = lockdep::irq_context();
        g.signal().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    // Process context takes the same lock with interrupts off: consistent.
    let (_p2, f2) = fence();
    f2.add_callback(|_| ()).unwrap();
    f2.signal().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn a_fence_lock_taken_with_irqs_on_after_irq_use_is_inconsistent() {
    let _s = serial();
    let (_p, f) = fence();
    let g = f.clone();
    thread::spawn(move || {
        let _irq = lockdep::irq_context();
        g.signal().unwrap();
    })
    .join()
    .unwrap();
    drop(f.lock_irq_unsafe());
    if lockdep::ENABLED {
        let r = reports();
        assert!(
            r.iter().any(|r| r.kind() == ReportKind::InconsistentLockState
                && r.classes().iter().any(|c| c.contains("&fence->inline_lock"))),
            "{r:#?}"
        );
    }
}

#[test]
fn a_mutex_in_a_callback_is_sleeping_in_atomic() {
    let _s = serial();
    let (_p, f) = fence();
    let m = Arc::new(lockdep::Mutex::new(0));
    let m2 = m.clone();
    f.add_callback(move |_| *m2.lock() += 1).unwrap();
    f.signal().unwrap();
    assert_eq!(*m.lock(), 1);
    if lockdep::ENABLED {
        let k = kinds();
        assert!(
            k.contains(&ReportKind::SleepInAtomic) || k.contains(&ReportKind::InvalidWaitContext),
            "{k:?}"
        );
    }
}

#[test]
fn a_spinlock_in_a_callback_is_fine() {
    let _s = serial();
    let (_p, f) = fence();
    static WQ_LOCK: LockClass = LockClass::new("&wq->lock");
    let s = Arc::new(lockdep::SpinLock::with_class(0, &WQ_LOCK));
    let s2 = s.clone();
    f.add_callback(move |_| *s2.lock() += 1).unwrap();
    f.signal().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn r1_waiting_under_a_lock_that_a_signalling_section_takes_is_reported() {
    let _s = serial();
    static DRIVER_LOCK: LockClass = LockClass::new("&gpu->lock");
    let lock = lockdep::Mutex::with_class((), &DRIVER_LOCK);
    {
        let _section = signalling();
        drop(lock.lock()); // run_job takes the driver lock
    }
    let (_p, f) = fence();
    f.signal().unwrap();
    {
        let _g = lock.lock();
        f.wait(false).unwrap(); // signalled already: the annotation still runs
    }
    if lockdep::ENABLED {
        let r = reports();
        let c = r
            .iter()
            .find(|r| r.kind() == ReportKind::CircularDependency)
            .unwrap_or_else(|| panic!("{r:#?}"));
        let classes = c.classes();
        assert!(classes.contains(&"dma_fence_map"), "{classes:?}");
        assert!(classes.contains(&"&gpu->lock"), "{classes:?}");
    }
}

#[test]
fn r1_the_same_lock_outside_any_section_is_fine() {
    let _s = serial();
    static DRIVER_LOCK: LockClass = LockClass::new("&gpu->other_lock");
    let lock = lockdep::Mutex::with_class((), &DRIVER_LOCK);
    drop(lock.lock());
    let (_p, f) = fence();
    f.signal().unwrap();
    {
        let _g = lock.lock();
        f.wait(false).unwrap();
    }
    assert!(kinds().is_empty());
}

#[test]
fn r1_a_bare_wait_inside_a_section_is_not_reported() {
    let _s = serial();
    let (_p, f) = fence();
    f.signal().unwrap();
    let cookie = dma_fence_begin_signalling();
    assert_eq!(cookie, !lockdep::ENABLED);
    f.wait(false).unwrap(); // drm_sched_stop waits on s_fence->finished in the TDR
    might_wait();
    assert_eq!(
        lockdep::is_held(&DMA_FENCE_MAP),
        lockdep::ENABLED,
        "the section's hold is back after the wait"
    );
    dma_fence_end_signalling(cookie);
    assert!(!lockdep::is_held(&DMA_FENCE_MAP));
    assert!(kinds().is_empty());
}

#[test]
fn begin_signalling_nests_and_is_a_no_op_under_a_fence_lock() {
    let _s = serial();
    let outer = dma_fence_begin_signalling();
    let inner = dma_fence_begin_signalling();
    assert_eq!(outer, !lockdep::ENABLED);
    assert!(inner, "already inside: the kernel's cookie");
    dma_fence_end_signalling(inner);
    assert_eq!(lockdep::is_held(&DMA_FENCE_MAP), lockdep::ENABLED);
    dma_fence_end_signalling(outer);
    assert!(!lockdep::is_held(&DMA_FENCE_MAP));

    let (_p, f) = fence();
    let g = f.lock_irqsave();
    assert!(dma_fence_begin_signalling(), "in atomic: no-op");
    drop(g);
    {
        let s = signalling();
        assert_eq!(lockdep::is_held(&DMA_FENCE_MAP), lockdep::ENABLED);
        drop(s);
    }
    assert!(!lockdep::is_held(&DMA_FENCE_MAP));
    assert!(kinds().is_empty());
}

#[test]
fn r28_a_wait_inside_drm_dev_enter_is_reported() {
    let _s = serial();
    let (_p, f) = fence();
    f.signal().unwrap();
    {
        let _enter = DRM_UNPLUG_SRCU.read_lock();
        f.wait(false).unwrap();
    }
    if lockdep::ENABLED {
        let r = reports();
        assert!(
            r.iter()
                .any(|r| r.kind() == ReportKind::ForbiddenWhileHeld
                    && r.classes().contains(&"drm_unplug_srcu")),
            "{r:#?}"
        );
    }
    f.wait(false).unwrap();
    assert!(kinds().is_empty(), "outside the section it is fine");
}

#[test]
fn a_wait_under_a_spinlock_is_sleeping_in_atomic() {
    let _s = serial();
    let (_p, f) = fence();
    f.signal().unwrap();
    let s = lockdep::SpinLock::new(());
    {
        let _g = s.lock();
        f.wait(false).unwrap();
    }
    if lockdep::ENABLED {
        assert!(kinds().contains(&ReportKind::SleepInAtomic));
    }
}

#[test]
fn r33_a_wait_in_an_irq_handler_is_sleeping_in_atomic() {
    let _s = serial();
    let (_p, f) = fence();
    f.signal().unwrap();
    thread::spawn(move || {
        let _irq = lockdep::irq_context();
        f.wait(false).unwrap();
    })
    .join()
    .unwrap();
    if lockdep::ENABLED {
        assert!(kinds().contains(&ReportKind::SleepInAtomic));
    }
}

#[test]
fn r6_a_wait_inside_a_fence_callback_is_sleeping_in_atomic() {
    let _s = serial();
    let (_p, f) = fence();
    let (_p2, other) = fence();
    other.signal().unwrap();
    f.add_callback(move |_| other.wait(false).unwrap()).unwrap();
    f.signal().unwrap();
    if lockdep::ENABLED {
        let r = reports();
        assert!(r.iter().any(|r| r.kind() == ReportKind::SleepInAtomic), "{r:#?}");
    }
}

#[test]
fn callbacks_may_read_the_fence_without_its_lock() {
    let _s = serial();
    let (_p, f) = fence();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    f.set_error(Errno::Ecanceled);
    f.add_callback(move |fence| {
        *s.lock().unwrap() = Some((fence.timestamp().is_some(), fence.error(), fence.is_signaled()));
    })
    .unwrap();
    f.signal().unwrap();
    assert_eq!(*seen.lock().unwrap(), Some((true, Some(Errno::Ecanceled), true)));
}

#[test]
fn waiters_with_short_timeouts_racing_the_signal_all_return_and_clean_up() {
    let _s = serial();
    for _ in 0..10 {
        let (_p, f) = fence();
        let waiters: Vec<_> = (0..4u64)
            .map(|i| {
                let f = f.clone();
                thread::spawn(move || {
                    // Short timed waits until one succeeds: each either times out or sees
                    // the signal, and the signal comes, so the loop ends.
                    let mut timeouts = 0u32;
                    loop {
                        match f.wait_timeout(false, Duration::from_micros(50 * (i + 1))) {
                            Ok(_) => return timeouts,
                            Err(e) => {
                                assert_eq!(e, Errno::Etimedout);
                                timeouts += 1;
                            }
                        }
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(1));
        f.signal().unwrap();
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(f.pending_callbacks(), 0, "no waker left behind");
    }
    assert!(kinds().is_empty());
}

/// A section held by a `LockMap` guard that `dma_fence` does not own (the `#[signalling]`
/// attribute's) is dropped around the wait as the kernel's `__dma_fence_might_wait` does, so a
/// bare wait in it is no recursion; a lock taken inside such a section and held across a wait
/// is still the R1 cycle.
#[test]
fn a_wait_inside_a_section_not_opened_by_dma_fence_is_silent_unless_a_lock_is_held() {
    let _s = serial();
    let (_p, f) = fence();
    f.signal().unwrap();
    {
        let _foreign = DMA_FENCE_MAP.try_read();
        f.wait(false).unwrap();
        assert!(
            lockdep::is_held(&DMA_FENCE_MAP) || !lockdep::ENABLED,
            "the hold is back"
        );
    }
    assert!(kinds().is_empty());

    static DRIVER: lockdep::LockClass = lockdep::LockClass::new("&drv->foreign_section_lock");
    let driver = lockdep::Mutex::with_class((), &DRIVER);
    {
        let _foreign = DMA_FENCE_MAP.try_read();
        let _g = driver.lock();
        f.wait(false).unwrap();
    }
    if lockdep::ENABLED {
        assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    }
}

#[test]
fn a_signal_inside_a_signalling_section_runs_in_it() {
    let _s = serial();
    let (_p, f) = fence();
    let held = Arc::new(Mutex::new(None));
    let h = held.clone();
    f.add_callback(move |_| *h.lock().unwrap() = Some(lockdep::is_held(&DMA_FENCE_MAP)))
        .unwrap();
    f.signal().unwrap();
    assert_eq!(
        *held.lock().unwrap(),
        Some(lockdep::ENABLED),
        "dma_fence_signal is itself a signalling section"
    );
    assert!(!lockdep::is_held(&DMA_FENCE_MAP));
}

#[test]
fn assert_held_checks_this_fences_lock() {
    let _s = serial();
    let (_p, f) = fence();
    let (_p2, other) = fence();
    {
        let _g = f.lock_irqsave();
        f.assert_held();
    }
    assert!(kinds().is_empty());
    {
        let _g = other.lock_irqsave();
        f.assert_held();
    }
    if lockdep::ENABLED {
        assert_eq!(kinds(), vec![ReportKind::AssertionFailed]);
    }
}

#[test]
fn try_set_error_lands_before_the_signal_or_not_at_all() {
    let _s = serial();
    let (_p, f) = fence();
    assert!(f.try_set_error(Errno::Etimedout));
    f.signal().unwrap();
    assert!(!f.try_set_error(Errno::Eio), "after the signal nothing changes");
    assert_eq!(f.error(), Some(Errno::Etimedout));
    // Racing a signaller: the fence ends either clean or with the error, never changed later.
    for _ in 0..100 {
        let (_p, f) = fence();
        let g = f.clone();
        let irq = thread::spawn(move || g.signal().is_ok());
        let set = f.try_set_error(Errno::Ecanceled);
        assert!(irq.join().unwrap());
        assert_eq!(f.error().is_some(), set);
    }
    assert!(kinds().is_empty());
}

#[test]
fn a_fence_may_be_signalled_under_the_guard_of_a_fence_sharing_its_lock() {
    static SCHED_LOCK: LockClass = LockClass::new("&fence->lock");
    let _s = serial();
    let lock = DmaFenceLock::new(&SCHED_LOCK);
    let p = Arc::new(Probe::default());
    let ctx = dma_fence_context_alloc(2);
    let scheduled = DmaFence::init_with_lock(p.clone(), &lock, ctx, 1);
    let finished = DmaFence::init_with_lock(p, &lock, ctx + 1, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    finished
        .add_callback(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    {
        let mut g = scheduled.lock_irqsave();
        scheduled.signal_locked(&mut g).unwrap();
        finished.signal_locked(&mut g).unwrap();
        assert_eq!(finished.get_status_locked(&mut g), FenceStatus::Signaled);
    }
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the callbacks of the fence signalled ran"
    );
    assert_eq!(scheduled.pending_callbacks(), 0);
    assert!(kinds().is_empty());
}

#[test]
#[should_panic(expected = "guard of another lock")]
fn a_guard_of_an_unrelated_lock_is_refused() {
    let _s = serial();
    let (_p, a) = fence();
    let (_p, b) = fence();
    let mut g = a.lock_irqsave();
    let _ = b.signal_locked(&mut g);
}

#[test]
fn two_inline_fence_locks_are_one_class_and_nest_only_with_a_subclass() {
    let _s = serial();
    let (_p, a) = fence();
    let (_p, b) = fence();
    {
        let _a = a.lock_irqsave();
        let _b = b.lock_irqsave_nested(drm_sim::dma_fence::SINGLE_DEPTH_NESTING);
    }
    assert!(kinds().is_empty());
    {
        let _a = a.lock_irqsave();
        let _b = b.lock_irqsave();
    }
    if lockdep::ENABLED {
        let r = reports();
        assert!(
            r.iter().any(|r| r.kind() == ReportKind::RecursiveLocking
                && r.classes().iter().all(|c| c.contains("&fence->inline_lock"))),
            "{r:#?}"
        );
    }
}

/// R7: the last `drop` runs the provider's release right there, under whatever the dropper
/// holds — here a lock that is elsewhere taken inside the one release takes.
#[test]
fn r7_release_runs_under_the_droppers_locks() {
    struct TakesLock(Arc<lockdep::Mutex<()>>);
    impl DmaFenceOps for TakesLock {
        fn get_driver_name(&self) -> &'static str {
            "deferred"
        }
        fn get_timeline_name(&self) -> &'static str {
            "deferred"
        }
        fn release(&self, _f: &DmaFence) {
            drop(self.0.lock());
        }
    }
    static DRIVER: LockClass = LockClass::new("&drv->fence_list_lock");
    static RESV: LockClass = LockClass::new("reservation_like");
    let _s = serial();
    let driver = Arc::new(lockdep::Mutex::with_class((), &DRIVER));
    let resv = lockdep::Mutex::with_class((), &RESV);
    {
        let _d = driver.lock();
        drop(resv.lock()); // the driver takes resv under its list lock
    }
    let f = DmaFence::init(Arc::new(TakesLock(driver.clone())), dma_fence_context_alloc(1), 1);
    f.signal().unwrap();
    let keep = f.clone();
    {
        let _r = resv.lock();
        drop(f); // not the last reference: nothing runs
    }
    assert!(kinds().is_empty());
    {
        let _r = resv.lock();
        drop(keep); // the final put: release takes the driver lock under resv
    }
    if lockdep::ENABLED {
        let r = reports();
        assert!(
            r.iter().any(|r| r.kind() == ReportKind::CircularDependency
                && r.classes().contains(&"reservation_like")
                && r.classes().contains(&"&drv->fence_list_lock")),
            "{r:#?}"
        );
    }
}

#[test]
fn r28_drm_drv_and_dma_fence_share_one_unplug_domain() {
    let _s = serial();
    assert!(std::ptr::eq(&drm_sim::drm_drv::DRM_UNPLUG_SRCU, &DRM_UNPLUG_SRCU));
    let dev = drm_sim::drm_drv::DrmDevice::new("card0", drm_sim::Bugs::NONE);
    let (_p, f) = fence();
    f.signal().unwrap();
    {
        let _enter = dev.enter().expect("plugged");
        f.wait(false).unwrap();
    }
    if lockdep::ENABLED {
        let r = reports();
        assert!(
            r.iter()
                .any(|r| r.kind() == ReportKind::ForbiddenWhileHeld
                    && r.classes().contains(&"drm_unplug_srcu")),
            "{r:#?}"
        );
    }
}
