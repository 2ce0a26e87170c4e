//! The context queries (`in_atomic`, `in_hardirq`, `in_softirq`, `in_serving_softirq`,
//! `in_interrupt`, `irqs_are_disabled`) answer from the thread's own state, and sleeping with
//! bottom halves disabled is sleeping in atomic context, as in the kernel (its preempt count
//! includes the softirq-disable count).

use lockdep::context::{
    in_atomic, in_hardirq, in_interrupt, in_serving_softirq, in_softirq, irqs_are_disabled,
};
use lockdep::ReportKind::SleepInAtomic;
use lockdep::{Mutex, RawSpinLock, RwSpinLock, SpinLock};
use lockdep_suite::{kinds, serial};

fn all() -> [bool; 6] {
    [
        in_atomic(),
        in_hardirq(),
        in_softirq(),
        in_serving_softirq(),
        in_interrupt(),
        irqs_are_disabled(),
    ]
}

#[test]
fn process_context_with_sleeping_locks_is_none_of_them() {
    let _s = serial();
    let m = Mutex::new(());
    let _g = m.lock();
    assert_eq!(all(), [false; 6]);
}

#[test]
fn each_spinning_lock_makes_the_thread_atomic_and_only_that() {
    let _s = serial();
    let s = SpinLock::new(());
    let r = RawSpinLock::new(());
    let rw = RwSpinLock::new(());
    {
        let _g = s.lock();
        assert_eq!(all(), [true, false, false, false, false, false]);
    }
    {
        let _g = r.lock();
        assert!(in_atomic());
    }
    {
        let _g = rw.read();
        assert!(in_atomic());
    }
    assert!(!in_atomic(), "released: atomic no more");
}

#[test]
fn irq_contexts_and_disabled_sections() {
    let _s = serial();
    {
        let _irq = lockdep::irq_context();
        assert_eq!(all(), [true, true, false, false, true, true]);
    }
    {
        let _soft = lockdep::softirq_context();
        assert_eq!(all(), [true, false, true, true, true, false]);
    }
    {
        let _bh = lockdep::bh_disabled();
        assert_eq!(all(), [true, false, true, false, true, false]);
    }
    {
        let _irqs = lockdep::irqs_disabled();
        assert_eq!(all(), [true, false, false, false, false, true]);
    }
    assert_eq!(all(), [false; 6]);
}

#[test]
fn sleeping_with_bottom_halves_disabled_is_reported() {
    let _s = serial();
    let m = Mutex::new(());
    {
        let _bh = lockdep::bh_disabled();
        lockdep::might_sleep();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].kind(), SleepInAtomic);
    assert!(
        r[0].details()
            .iter()
            .any(|d| d.contains("bottom halves disabled")),
        "{r:?}"
    );
    {
        let _bh = lockdep::bh_disabled();
        drop(m.lock()); // a mutex may sleep too
    }
    assert_eq!(kinds(), vec![SleepInAtomic]);
}

#[test]
fn sleeping_after_bottom_halves_are_enabled_again_is_not() {
    // The closest legitimate pattern: the sleep right after the section, and a spinlock (which
    // does not sleep) inside it.
    let _s = serial();
    let m = Mutex::new(());
    let s = SpinLock::new(());
    {
        let _bh = lockdep::bh_disabled();
        drop(s.lock());
    }
    lockdep::might_sleep();
    drop(m.lock());
    assert!(kinds().is_empty());
}
