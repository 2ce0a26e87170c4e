//! A trylock never waits, so the wait-context check skips it, as the kernel's
//! `check_wait_context` does (`if (!next_inner || next->trylock) return 0;`): a `Mutex`
//! try-locked under a spinlock or in an irq handler is fine, while the blocking `lock` there
//! is reported.

use lockdep::ReportKind::{InvalidWaitContext, SleepInAtomic};
use lockdep::{Mutex, RawSpinLock, SpinLock};
use lockdep_suite::{kinds, serial};

#[test]
fn a_blocking_mutex_under_a_spinlock_is_an_invalid_wait_context() {
    let _s = serial();
    let s = SpinLock::new(());
    let m = Mutex::new(());
    let _g = s.lock();
    drop(m.lock());
    assert_eq!(kinds(), vec![InvalidWaitContext, SleepInAtomic]);
}

#[test]
fn trylocks_are_not_checked_for_wait_context() {
    let _s = serial();
    let s = SpinLock::new(());
    let raw = RawSpinLock::new(());
    let m = Mutex::new(());
    let inner = SpinLock::new(());
    {
        let _g = s.lock();
        drop(m.try_lock());
    }
    {
        let _g = raw.lock();
        drop(inner.try_lock());
    }
    {
        let _irq = lockdep::irq_context_no_thread();
        drop(inner.try_lock());
    }
    assert!(kinds().is_empty());
}
