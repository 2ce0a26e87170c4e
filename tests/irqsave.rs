//! `lock_irqsave()` and its reader-writer variants: one guard that disables interrupts, takes
//! the lock, and on drop releases the lock and then restores the interrupt state it found.

use lockdep::context::irqs_are_disabled;
use lockdep::ReportKind::InconsistentLockState;
use lockdep::{RawSpinLock, RwSpinLock, SpinLock};
use lockdep_suite::{kinds, serial};

#[test]
fn the_guard_disables_interrupts_while_held_and_restores_them() {
    let _s = serial();
    let s = SpinLock::new(1);
    {
        let mut g = s.lock_irqsave();
        *g += 1;
        assert!(irqs_are_disabled());
    }
    assert!(!irqs_are_disabled());
    assert_eq!(*s.lock(), 2);
}

#[test]
fn nested_irqsave_guards_restore_the_state_they_found() {
    let _s = serial();
    let a = SpinLock::new(());
    let rw = RwSpinLock::new(());
    let raw = RawSpinLock::new(());
    let outer = a.lock_irqsave();
    {
        let _r = rw.read_irqsave();
        assert!(irqs_are_disabled());
    }
    assert!(
        irqs_are_disabled(),
        "the inner guard found interrupts off and left them off"
    );
    {
        let _w = rw.write_irqsave();
        drop(raw.lock_irqsave()); // a raw spinlock may be taken under anything
    }
    drop(outer);
    assert!(!irqs_are_disabled());
    {
        let _off = lockdep::irqs_disabled();
        drop(a.lock_irqsave());
        assert!(
            irqs_are_disabled(),
            "inside an irqs_disabled() scope they stay off"
        );
    }
    assert!(kinds().is_empty());
}

#[test]
fn an_irq_safe_lock_taken_with_irqsave_is_consistent() {
    let _s = serial();
    let l = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(l.lock());
    }
    // A guard kept past its statement (here bound to a name) releases before interrupts come
    // back on.
    let g = l.lock_irqsave();
    drop(g);
    assert!(kinds().is_empty());
}

#[test]
fn a_temporary_guard_outliving_its_irq_scope_is_the_inconsistency_irqsave_avoids() {
    // The two-scope spelling gone wrong: the guard lives on after interrupts were restored.
    let _s = serial();
    let l = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(l.lock());
    }
    let irqs = lockdep::irqs_disabled();
    let g = l.lock();
    drop(irqs);
    drop(g);
    assert_eq!(kinds(), vec![InconsistentLockState]);
}

#[test]
fn a_panicking_re_take_still_restores_interrupts() {
    let _s = serial();
    let l = SpinLock::new(());
    let _g = l.lock();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(l.lock_irqsave())));
    assert!(r.is_err());
    assert!(!irqs_are_disabled());
    let _ = lockdep::take_reports();
}
