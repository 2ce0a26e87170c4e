//! `RwSpinLock` is the kernel's `rwlock_t`: it spins, so it may be taken wherever a spinlock
//! may (interrupt handlers, interrupts off, under a spinlock) but not under a raw spinlock, and
//! holding it is atomic; its readers are recursive, as lockdep takes the kernel's `read_lock`
//! to be, and it follows the irq-safety rules of any spinning lock.

use lockdep::ReportKind::{
    CircularDependency as Circ, InconsistentLockState as Incons, InvalidWaitContext as WaitCtx,
    RecursiveLocking as Rec, SleepInAtomic,
};
use lockdep::{Mutex, RawSpinLock, RwLock, RwSpinLock, SpinLock};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn readers_and_writers_in_atomic_contexts_are_fine() {
    let _s = serial();
    let (irq, softirq, off, nested) = (
        RwSpinLock::new(0),
        RwSpinLock::new(0),
        RwSpinLock::new(0),
        RwSpinLock::new(0),
    );
    let s = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        assert_eq!(*irq.read(), 0);
        *irq.write() += 1;
    }
    {
        let _softirq = lockdep::softirq_context();
        assert_eq!(*softirq.read(), 0);
        *softirq.write() += 1;
    }
    {
        let _off = lockdep::irqs_disabled();
        *off.write() += 1;
        assert_eq!(*off.read(), 1);
    }
    {
        // Under a spinlock, and a raw spinlock under it.
        let _g = s.lock();
        let _w = nested.write();
        drop(RawSpinLock::new(()).lock());
    }
    assert!(kinds().is_empty());
}

#[test]
fn under_a_raw_spinlock_or_in_a_non_threaded_irq_it_is_an_invalid_wait_context() {
    let _s = serial();
    let (raw, under_raw, no_thread) = (RawSpinLock::new(()), RwSpinLock::new(()), RwSpinLock::new(()));
    {
        let _r = raw.lock();
        drop(under_raw.read());
    }
    assert_eq!(kinds(), [WaitCtx]);
    {
        let _irq = lockdep::irq_context_no_thread();
        drop(no_thread.write());
    }
    assert_eq!(kinds(), [WaitCtx]);
}

#[test]
fn a_sleeping_lock_taken_while_it_is_held_is_reported() {
    let _s = serial();
    let (l, m, sem) = (RwSpinLock::new(()), Mutex::new(()), RwLock::new(()));
    {
        let _r = l.read();
        drop(m.lock());
    }
    assert_eq!(kinds(), [WaitCtx, SleepInAtomic]);
    {
        let _w = l.write();
        drop(sem.read());
    }
    let r = lockdep::take_reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        [WaitCtx, SleepInAtomic]
    );
    assert_eq!(r[0].holding().map(|h| h.lock_kind()), Some("rwlock"));
}

#[test]
fn read_in_an_irq_and_read_with_irqs_on_is_consistent() {
    let _s = serial();
    let l = RwSpinLock::new(0);
    {
        let _irq = lockdep::irq_context();
        assert_eq!(*l.read(), 0);
    }
    assert_eq!(*l.read(), 0);
    {
        // A writer with interrupts off cannot be interrupted by the reader.
        let _off = lockdep::irqs_disabled();
        *l.write() += 1;
    }
    assert!(kinds().is_empty());
}

#[test]
fn write_with_irqs_on_after_a_read_in_an_irq_is_inconsistent() {
    let _s = serial();
    let l = RwSpinLock::new(0);
    {
        let _irq = lockdep::irq_context();
        assert_eq!(*l.read(), 0);
    }
    // The irq's reader can interrupt this writer on its own CPU and spin forever.
    *l.write() += 1;
    assert_eq!(kinds(), [Incons]);
}

#[test]
fn a_cycle_through_a_reader_is_no_deadlock() {
    let _s = serial();
    let (l, s) = (RwSpinLock::new(()), SpinLock::new(()));
    {
        let _r = l.read();
        drop(s.lock());
    }
    {
        // A reader never waits for another reader, whatever writer is waiting.
        let _g = s.lock();
        drop(l.read());
    }
    assert!(kinds().is_empty());
}

#[test]
fn a_cycle_through_a_writer_or_a_queued_reader_is_a_deadlock() {
    let _s = serial();
    let (l, s) = (RwSpinLock::new(()), SpinLock::new(()));
    {
        let _r = l.read();
        drop(s.lock());
    }
    {
        let _g = s.lock();
        drop(l.write());
    }
    assert_eq!(kinds(), [Circ]);
    lockdep::reset();
    {
        let _r = l.read_queued();
        drop(s.lock());
    }
    {
        let _g = s.lock();
        drop(l.read_queued());
    }
    assert_eq!(kinds(), [Circ]);
}

#[test]
fn reading_twice_is_fine_but_not_as_a_queued_reader_outside_interrupts() {
    let _s = serial();
    let l = RwSpinLock::new(());
    {
        let _a = l.read();
        let _b = l.read();
        let _c = l.try_read().expect("readers share");
    }
    assert!(kinds().is_empty());
    {
        let _a = l.read_queued();
        let _b = l.read_queued();
    }
    assert_eq!(kinds(), [Rec]);
    // Interrupt handlers and bottom-half-disabled sections skip the kernel's reader queue.
    let (in_irq, bh_off) = (RwSpinLock::new(()), RwSpinLock::new(()));
    {
        let _irq = lockdep::irq_context();
        let _a = in_irq.read_queued();
        let _b = in_irq.read_queued();
    }
    {
        let _bh = lockdep::bh_disabled();
        let _a = bh_off.read_queued();
        let _b = bh_off.read_queued();
    }
    assert!(kinds().is_empty());
}

#[test]
fn a_recursive_read_with_a_writer_waiting_in_between_neither_hangs_nor_is_reported() {
    let _s = serial();
    let l = RwSpinLock::new(0);
    let writer_waits = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let first = l.read();
        let writer = sc.spawn(|| {
            writer_waits.store(true, Ordering::SeqCst);
            *l.write() += 1;
        });
        while !writer_waits.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // Give the writer time to start spinning on the read-held lock.
        std::thread::sleep(Duration::from_millis(20));
        assert!(!writer.is_finished(), "the writer waits for the reader");
        let second = l.read();
        assert_eq!(*first + *second, 0);
        drop((second, first));
        writer.join().unwrap();
    });
    assert_eq!(*l.read(), 1);
    assert!(kinds().is_empty());
}

#[test]
fn writing_a_lock_this_thread_reads_is_reported_then_panics_instead_of_spinning_forever() {
    let _s = serial();
    let l = RwSpinLock::new(());
    let r = l.read();
    assert!(
        catch_unwind(AssertUnwindSafe(|| drop(l.write()))).is_err(),
        "must not spin"
    );
    assert_eq!(kinds(), [Rec]);
    drop(r);
    // Reading it again while reading it is no self-deadlock.
    let r = l.read();
    drop(l.read());
    drop(r);
    assert!(kinds().is_empty());
}
