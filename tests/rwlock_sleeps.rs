//! `RwLock` is the kernel's `rw_semaphore`: `parking_lot` parks the thread that waits for it,
//! so taking it where the thread may not sleep — under a spinning lock, in an interrupt
//! handler, with interrupts disabled — is reported exactly as for a `Mutex`, for readers and
//! writers alike. Where a sleeping lock is allowed (process context, under a mutex) it is fine.

use lockdep::ReportKind::{InvalidWaitContext as WaitCtx, SleepInAtomic};
use lockdep::{Mutex, RawSpinLock, ReportKind, RwLock, RwSpinLock, SpinLock};
use lockdep_suite::{kinds, serial};

/// The contexts in which the thread may not sleep.
#[derive(Clone, Copy, Debug)]
enum Atomic {
    SpinLock,
    RawSpinLock,
    RwSpinLockRead,
    RwSpinLockWrite,
    Irq,
    Softirq,
    IrqsOff,
}

const ATOMIC: [Atomic; 7] = [
    Atomic::SpinLock,
    Atomic::RawSpinLock,
    Atomic::RwSpinLockRead,
    Atomic::RwSpinLockWrite,
    Atomic::Irq,
    Atomic::Softirq,
    Atomic::IrqsOff,
];

/// What `take` reports when run in `ctx`, starting from a clean validator.
fn reported_in(ctx: Atomic, take: impl FnOnce()) -> Vec<ReportKind> {
    lockdep::reset();
    let (spin, raw, rw_spin) = (SpinLock::new(()), RawSpinLock::new(()), RwSpinLock::new(()));
    match ctx {
        Atomic::SpinLock => {
            let _g = spin.lock();
            take();
        }
        Atomic::RawSpinLock => {
            let _g = raw.lock();
            take();
        }
        Atomic::RwSpinLockRead => {
            let _g = rw_spin.read();
            take();
        }
        Atomic::RwSpinLockWrite => {
            let _g = rw_spin.write();
            take();
        }
        Atomic::Irq => {
            let _c = lockdep::irq_context();
            take();
        }
        Atomic::Softirq => {
            let _c = lockdep::softirq_context();
            take();
        }
        Atomic::IrqsOff => {
            let _c = lockdep::irqs_disabled();
            take();
        }
    }
    kinds()
}

#[test]
fn every_acquisition_where_sleeping_is_forbidden_is_reported_as_for_a_mutex() {
    let _s = serial();
    let (m, l) = (Mutex::new(()), RwLock::new(()));
    for ctx in ATOMIC {
        let mutex = reported_in(ctx, || drop(m.lock()));
        assert!(mutex.contains(&SleepInAtomic), "a mutex in {ctx:?}: {mutex:?}");
        assert_eq!(reported_in(ctx, || drop(l.write())), mutex, "write in {ctx:?}");
        assert_eq!(reported_in(ctx, || drop(l.read())), mutex, "read in {ctx:?}");
        let recursive = reported_in(ctx, || drop(l.read_recursive()));
        assert_eq!(recursive, mutex, "read_recursive in {ctx:?}");
    }
}

#[test]
fn write_under_a_spinlock_is_an_invalid_wait_context_and_sleeping_in_atomic() {
    let _s = serial();
    let (s, l) = (SpinLock::new(()), RwLock::new(0));
    {
        let _g = s.lock();
        *l.write() += 1;
    }
    let r = lockdep::take_reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        [WaitCtx, SleepInAtomic]
    );
    let text = r[1].to_string();
    assert!(text.contains("(rw_semaphore) while holding spinlock"), "{text}");
    assert_eq!(r[0].acquiring().map(|a| a.lock_kind()), Some("rw_semaphore"));
}

#[test]
fn read_inside_an_interrupt_handler_is_reported() {
    let _s = serial();
    let l = RwLock::new(0);
    {
        let _irq = lockdep::irq_context();
        assert_eq!(*l.read(), 0);
    }
    assert_eq!(kinds(), [WaitCtx, SleepInAtomic]);
}

#[test]
fn under_a_mutex_and_around_other_locks_in_process_context_it_is_fine() {
    let _s = serial();
    let (outer, inner) = (Mutex::new(()), Mutex::new(()));
    let (l, s) = (RwLock::new(0), SpinLock::new(()));
    {
        let _m = outer.lock();
        *l.write() += 1;
        assert_eq!(*l.read(), 1);
    }
    {
        // A mutex may be taken while it is held, and so may a spinlock.
        let _r = l.read();
        drop(inner.lock());
        drop(s.lock());
    }
    assert!(kinds().is_empty());
}
