//! Paths that find nothing to report take no global lock: `might_sleep()` under sleeping
//! locks, the held-lock assertions that hold, `might_lock` on a validated chain, interrupts
//! restored under a lock already marked, and a new lock (or transaction) of a named class or
//! ww class already resolved. Counted with `Stats::slow_paths`, not clocked, and each count is
//! paired with the pattern that must still go slow (and report), so the counter is not vacuous.

use lockdep::{LockClass, Mutex, SpinLock, WwAcquireCtx, WwClass, WwMutex};
use lockdep_suite::{kinds, serial};

fn slow_paths() -> u64 {
    lockdep::stats().slow_paths
}

#[test]
fn might_sleep_under_sleeping_locks_takes_no_global_lock() {
    let _s = serial();
    let a = Mutex::new(());
    let b = Mutex::new(());
    let _ga = a.lock();
    let _gb = b.lock();
    lockdep::might_sleep();
    let before = slow_paths();
    for _ in 0..1000 {
        lockdep::might_sleep(); // a GFP_KERNEL allocation under two mutexes
    }
    assert_eq!(slow_paths() - before, 0);
    assert!(kinds().is_empty());
}

#[test]
fn might_sleep_under_a_spinlock_still_reports() {
    let _s = serial();
    let m = Mutex::new(());
    let s = SpinLock::new(());
    let _gm = m.lock();
    let _gs = s.lock();
    let before = slow_paths();
    lockdep::might_sleep();
    assert!(slow_paths() > before);
    assert_eq!(kinds(), vec![lockdep::ReportKind::SleepInAtomic]);
}

#[test]
fn assertions_that_hold_take_no_global_lock() {
    let _s = serial();
    let a = Mutex::new(());
    let b = Mutex::new(());
    drop(b.lock()); // resolves b's class (once per lock, like its first acquisition)
    let _ga = a.lock();
    let before = slow_paths();
    for _ in 0..1000 {
        lockdep::assert_held(&a);
        lockdep::assert_held_write(&a);
        lockdep::assert_not_held(&b);
        lockdep::must_not_hold(&b, "an operation forbidden under b");
        assert!(lockdep::is_held(&a));
    }
    assert_eq!(slow_paths() - before, 0);
    assert!(kinds().is_empty());
    lockdep::assert_held(&b);
    assert_eq!(kinds(), vec![lockdep::ReportKind::AssertionFailed]);
}

#[test]
fn might_lock_on_a_validated_chain_takes_no_global_lock() {
    let _s = serial();
    let a = Mutex::new(());
    let b = Mutex::new(());
    let _ga = a.lock();
    lockdep::might_lock(&b);
    let before = slow_paths();
    for _ in 0..1000 {
        lockdep::might_lock(&b);
    }
    assert_eq!(slow_paths() - before, 0);
    assert!(kinds().is_empty());
}

#[test]
fn interrupts_restored_under_a_marked_lock_take_no_global_lock() {
    let _s = serial();
    let outer = Mutex::new(());
    let inner = SpinLock::new(());
    let _g = outer.lock();
    // The first restore marks `outer` as taken with interrupts enabled; later ones find it
    // marked.
    drop(inner.lock_irqsave());
    let before = slow_paths();
    for _ in 0..1000 {
        drop(inner.lock_irqsave());
    }
    assert_eq!(slow_paths() - before, 0);
    assert!(kinds().is_empty());
}

#[test]
fn interrupts_restored_under_an_unmarked_lock_do_mark_it() {
    // The mark is still made: a lock held while interrupts come back on becomes
    // hardirq-unsafe, and using it in an irq handler later is inconsistent.
    let _s = serial();
    use lockdep::context::irq::{local_irq_disable, local_irq_enable};
    let l = SpinLock::new(());
    {
        // Taken with interrupts off, so not yet marked as taken with them enabled.
        local_irq_disable();
        let _g = l.lock();
        let before = slow_paths();
        local_irq_enable();
        assert!(slow_paths() > before);
    }
    {
        let _irq = lockdep::irq_context();
        drop(l.lock());
    }
    assert_eq!(kinds(), vec![lockdep::ReportKind::InconsistentLockState]);
}

#[test]
fn new_locks_of_a_resolved_named_class_take_no_global_lock() {
    let _s = serial();
    static OBJ: LockClass = LockClass::new("lock_free_paths_obj");
    let outer = Mutex::new(());
    // The first object resolves the class and validates both chains.
    let first = Mutex::with_class(0u32, &OBJ);
    drop(first.lock());
    {
        let _o = outer.lock();
        drop(first.lock());
    }
    let before = slow_paths();
    for i in 0..200u32 {
        let obj = Mutex::with_class(i, &OBJ); // one lock per object, as `mutex_init` in a loop
        drop(obj.lock());
        let _o = outer.lock();
        drop(obj.lock());
    }
    assert_eq!(slow_paths() - before, 0);
    assert!(kinds().is_empty());
}

/// One creation site for every object: all its locks are one class.
fn new_object(i: u32) -> Mutex<u32> {
    Mutex::new(i)
}

#[test]
fn new_locks_of_a_resolved_creation_site_take_no_global_lock() {
    let _s = serial();
    let outer = Mutex::new(0u32);
    let first = new_object(0);
    drop(first.lock());
    {
        let _o = outer.lock();
        drop(first.lock());
    }
    let before = slow_paths();
    for i in 0..200 {
        let obj = new_object(i);
        drop(obj.lock());
        let _o = outer.lock();
        drop(obj.lock());
    }
    assert_eq!(slow_paths() - before, 0);
    assert!(kinds().is_empty());
}

#[test]
fn a_lock_from_a_new_creation_site_does_take_the_global_lock() {
    let _s = serial();
    let before = slow_paths();
    drop(Mutex::new(()).lock());
    assert!(slow_paths() > before);
}

#[test]
fn a_named_class_used_by_another_kind_of_lock_is_still_reported() {
    // The cached class id is not handed to a lock of another kind: that one goes slow and is
    // reported.
    let _s = serial();
    static SHARED: LockClass = LockClass::new("lock_free_paths_shared");
    drop(Mutex::with_class((), &SHARED).lock());
    let before = slow_paths();
    drop(SpinLock::with_class((), &SHARED).lock());
    assert!(slow_paths() > before);
    assert_eq!(kinds(), vec![lockdep::ReportKind::ClassKindMismatch]);
}

#[test]
fn new_transactions_and_ww_mutexes_of_a_resolved_class_take_no_global_lock() {
    let _s = serial();
    static CLASS: WwClass = WwClass::wait_die("lock_free_paths_ww");
    let run = |n: u32| {
        let a = WwMutex::new(n, &CLASS);
        let b = WwMutex::new(n, &CLASS);
        let ctx = WwAcquireCtx::new(&CLASS);
        let ga = a.lock(&ctx).unwrap();
        let gb = b.lock(&ctx).unwrap();
        ctx.done();
        drop((gb, ga));
    };
    run(0);
    let before = slow_paths();
    for n in 0..200 {
        run(n);
    }
    assert_eq!(slow_paths() - before, 0);
    assert!(kinds().is_empty());
}

#[test]
fn the_first_lock_of_a_new_class_does_take_the_global_lock() {
    let _s = serial();
    let before = slow_paths();
    let class = LockClass::register("lock_free_paths_fresh");
    drop(Mutex::with_class((), class).lock());
    assert!(slow_paths() > before);
}
