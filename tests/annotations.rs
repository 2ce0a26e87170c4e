//! The annotation mechanisms, each with the pattern that must be reported and the nearest
//! legitimate one that must not.

use lockdep::ReportKind::*;
use lockdep::{LockMap, LockMode, Mutex, RawSpinLock, RwLock, SpinLock, Srcu};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

static FENCE: LockMap = LockMap::new("dma_fence_map");
static RECLAIM: LockMap = LockMap::new("fs_reclaim");

#[test]
fn pseudo_lock_wait_inside_signalling_section_lock_is_a_cycle() {
    let _s = serial();
    let a = Mutex::new(());
    {
        // Signalling section: read-trylock of the map, then a lock inside it.
        let _sig = FENCE.try_read();
        let _a = a.lock();
    }
    assert!(kinds().is_empty());
    {
        // A wait (sync) with the same lock held closes a -> dma_fence_map -> a.
        let _a = a.lock();
        FENCE.sync();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), CircularDependency);
    assert!(r[0].classes().contains(&"dma_fence_map"));
}

#[test]
fn pseudo_lock_wait_without_the_lock_is_fine() {
    let _s = serial();
    let a = Mutex::new(());
    {
        let _sig = FENCE.try_read();
        let _a = a.lock();
    }
    FENCE.sync();
    assert!(kinds().is_empty());
    // At this level a wait inside the section is the map re-taken for writing over its own
    // read: lockdep reports it. (The dma-fence layer releases its read hold around a wait,
    // which is why a bare wait inside a signalling section passes in the kernel.)
    {
        let _sig = FENCE.try_read();
        FENCE.sync();
    }
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn pseudo_lock_read_modes() {
    let _s = serial();
    {
        let _r1 = RECLAIM.read_recursive();
        let _r2 = RECLAIM.read_recursive();
    }
    assert!(kinds().is_empty());
    {
        let _r1 = RECLAIM.read();
        let _r2 = RECLAIM.read();
    }
    assert_eq!(kinds(), vec![RecursiveLocking]);
    lockdep::reset(); // the same classes again: reported once per reset
    {
        let _w = RECLAIM.lock();
        RECLAIM.sync();
    }
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn assert_held_and_not_held() {
    let _s = serial();
    let m = Mutex::new(());
    let r = RwLock::new(());
    {
        let _g = m.lock();
        lockdep::assert_held(&m);
        lockdep::assert_held_write(&m);
        let _rg = r.read();
        lockdep::assert_held_read(&r);
    }
    lockdep::assert_not_held(&m);
    lockdep::assert_none_held();
    assert!(kinds().is_empty());
    lockdep::assert_held(&m);
    assert_eq!(kinds(), vec![AssertionFailed]);
    {
        let _g = m.lock();
        lockdep::assert_not_held(&m);
        lockdep::assert_none_held();
        lockdep::assert_held_read(&m);
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(r.iter().all(|r| r.kind() == AssertionFailed));
    assert!(r[0].headline().contains("lockdep_assert_not_held"));
}

#[test]
fn assert_held_is_per_thread_and_per_instance() {
    let _s = serial();
    let m = Arc::new(Mutex::new(()));
    let other = Mutex::new(());
    let _g = m.lock();
    lockdep::assert_not_held(&other);
    let m2 = m.clone();
    std::thread::spawn(move || lockdep::assert_held(&*m2))
        .join()
        .unwrap();
    assert_eq!(kinds(), vec![AssertionFailed]);
    assert!(lockdep::is_held(&*m));
}

#[test]
fn might_lock_records_the_dependency_without_locking() {
    let _s = serial();
    let a = Mutex::new(());
    let b = Mutex::new(());
    {
        let _a = a.lock();
        lockdep::might_lock(&b);
        assert!(!b.is_locked());
    }
    assert!(kinds().is_empty());
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
    let mm = RwLock::new(());
    {
        let _a = a.lock();
        lockdep::might_lock_read(&mm);
    }
    assert!(kinds().is_empty());
}

#[test]
fn srcu_synchronize_inside_own_read_section_is_reported_and_panics() {
    let _s = serial();
    static DOM: Srcu = Srcu::new("test_srcu");
    let _r = DOM.read_lock();
    let err = catch_unwind(AssertUnwindSafe(|| DOM.synchronize())).expect_err("must not hang");
    assert!(err.downcast_ref::<String>().unwrap().contains("never return"));
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), SuspiciousRcuUsage);
    assert!(r[0]
        .to_string()
        .contains("Illegal synchronize_srcu() in same-type SRCU"));
}

#[test]
fn srcu_cycle_through_a_lock_and_nested_readers_are_fine() {
    let _s = serial();
    static DOM: Srcu = Srcu::new("test_srcu2");
    let m = Mutex::new(());
    {
        let _r1 = DOM.read_lock();
        let _r2 = DOM.read_lock();
        let _m = m.lock();
    }
    DOM.synchronize();
    assert!(kinds().is_empty());
    {
        let _m = m.lock();
        DOM.synchronize();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), CircularDependency);
}

#[test]
fn srcu_synchronize_waits_for_earlier_readers() {
    let _s = serial();
    static DOM: Srcu = Srcu::new("test_srcu3");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let d = done.clone();
    let reader = std::thread::spawn(move || {
        let _r = DOM.read_lock();
        tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        d.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    rx.recv().unwrap();
    DOM.synchronize();
    assert!(
        done.load(std::sync::atomic::Ordering::SeqCst),
        "synchronize returned before the reader ended"
    );
    reader.join().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn panic_context_allows_only_raw_spin_trylock() {
    let _s = serial();
    let raw = RawSpinLock::new(());
    let spin = SpinLock::new(());
    let m = Mutex::new(());
    {
        let _p = lockdep::panic_context();
        drop(raw.try_lock());
        let _nested = lockdep::panic_context();
        drop(raw.try_lock());
    }
    assert!(kinds().is_empty());
    {
        let _p = lockdep::panic_context();
        drop(spin.try_lock());
        drop(m.lock());
        drop(raw.lock());
    }
    assert_eq!(kinds(), vec![PanicContext, PanicContext, PanicContext]);
    // Outside the handler everything is allowed again.
    drop(m.lock());
    assert!(kinds().is_empty());
}

/// The kernel's `panic()` disables interrupts before the handlers run, so a wait there is
/// "sleeping function called from invalid context" even with no lock held; outside the
/// handler the same wait is fine.
#[test]
fn a_wait_in_a_panic_handler_is_sleeping_in_atomic() {
    let _s = serial();
    lockdep::might_sleep();
    assert!(kinds().is_empty());
    {
        let _p = lockdep::panic_context();
        lockdep::might_sleep();
    }
    assert_eq!(kinds(), vec![SleepInAtomic]);
    lockdep::might_sleep();
    assert!(kinds().is_empty());
}

#[test]
fn sleeping_in_irq_or_with_irqs_off() {
    let _s = serial();
    let (m1, m2, m3) = (Mutex::new(()), Mutex::new(()), Mutex::new(()));
    let s = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(s.try_lock());
        lockdep::might_sleep();
    }
    assert_eq!(kinds(), vec![SleepInAtomic]);
    {
        let _irq = lockdep::irq_context();
        drop(m1.lock());
    }
    assert_eq!(kinds(), vec![InvalidWaitContext, SleepInAtomic]);
    {
        let _off = lockdep::irqs_disabled();
        drop(m2.lock());
    }
    assert_eq!(kinds(), vec![SleepInAtomic]);
    {
        let _s = s.lock();
        drop(m3.lock());
    }
    assert_eq!(kinds(), vec![InvalidWaitContext, SleepInAtomic]);
    // Process context, nothing spinning held: fine; a spinlock in a device irq handler: fine.
    drop(m3.lock());
    lockdep::might_sleep();
    let s2 = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(s2.lock());
    }
    assert!(kinds().is_empty());
}

#[test]
fn spinlock_in_non_threaded_irq_and_under_raw_spinlock() {
    let _s = serial();
    let (raw1, raw2) = (RawSpinLock::new(()), RawSpinLock::new(()));
    let (s1, s2) = (SpinLock::new(()), SpinLock::new(()));
    {
        let _irq = lockdep::irq_context_no_thread();
        drop(raw1.lock());
    }
    assert!(kinds().is_empty());
    {
        let _irq = lockdep::irq_context_no_thread();
        drop(s1.lock());
    }
    assert_eq!(kinds(), vec![InvalidWaitContext]);
    {
        let _r = raw2.lock();
        drop(s2.lock());
    }
    assert_eq!(kinds(), vec![InvalidWaitContext]);
}

#[test]
fn irq_safe_lock_taken_with_irqs_on() {
    let _s = serial();
    let l = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(l.lock());
    }
    {
        let _off = lockdep::irqs_disabled();
        drop(l.lock());
    }
    assert!(kinds().is_empty());
    drop(l.lock());
    assert_eq!(kinds(), vec![InconsistentLockState]);
}

#[test]
fn must_not_hold_and_forbidden_nesting() {
    let _s = serial();
    static UNPLUG: Srcu = Srcu::new("drm_unplug_srcu_test");
    let outer = Mutex::new(());
    let inner = Mutex::new(());
    let other = Mutex::new(());
    lockdep::forbid_nesting(&outer, &inner, "inner is taken by the reclaim path");
    {
        let _o = outer.lock();
        let _x = other.lock();
    }
    drop(inner.lock());
    assert!(kinds().is_empty());
    {
        let _o = outer.lock();
        let _i = inner.lock();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), ForbiddenWhileHeld);
    assert!(r[0].to_string().contains("inner is taken by the reclaim path"));
    lockdep::must_not_hold(&UNPLUG, "dma_fence_wait");
    assert!(kinds().is_empty());
    {
        let _r = UNPLUG.read_lock();
        lockdep::must_not_hold(&UNPLUG, "dma_fence_wait");
    }
    assert_eq!(kinds(), vec![ForbiddenWhileHeld]);
}

#[test]
fn priming_catches_an_inversion_seen_only_one_way() {
    let _s = serial();
    static MMAP: LockMap = LockMap::new("&mm->mmap_lock");
    static RESV: LockMap = LockMap::new("reservation_ww_class_mutex");
    lockdep::prime(&[
        (&MMAP, LockMode::Read),
        (&RESV, LockMode::Write),
        (&RECLAIM, LockMode::Write),
    ]);
    assert!(kinds().is_empty());
    {
        let _r = RESV.lock();
        lockdep::might_lock_read(&MMAP);
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn locks_held_when_returning_to_user() {
    let _s = serial();
    static UNPLUG: Srcu = Srcu::new("drm_unplug_srcu_ret");
    {
        let _sys = lockdep::syscall();
        let _r = UNPLUG.read_lock();
    }
    assert!(kinds().is_empty());
    {
        // The read section outlives the system call (it ends after the scope does).
        let _r = UNPLUG.read_lock();
        let _sys = lockdep::syscall();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), HeldOnReturnToUser);
    assert_eq!(
        r[0].headline(),
        "WARNING: lock held when returning to user space!"
    );
}
