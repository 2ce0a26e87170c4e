//! `RwLock::upgradable_read` and its guard's `upgrade`/`downgrade`, as the validator sees them:
//! an upgradable read excludes writers and other upgradable readers but never makes a reader
//! wait; taking one waits behind a writer like `read`; upgrading waits for the readers while
//! holding whatever was taken since. Each deadlock is reported, and the closest pattern that
//! cannot deadlock is not.

use lockdep::ReportKind::{CircularDependency, RecursiveLocking};
use lockdep::{Mutex, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn a_read_under_an_upgradable_read_of_the_same_lock_is_not_reported() {
    // A held upgradable read keeps writers from queuing ahead of readers, so the read cannot
    // wait: parking_lot allows it, and so must the validator.
    let _s = serial();
    let l = RwLock::new(0);
    let u = l.upgradable_read();
    let r = l.read();
    assert_eq!(*u + *r, 0);
    drop(r);
    drop(u);
    assert_eq!(kinds(), vec![]);
}

#[test]
fn an_upgradable_read_under_a_read_of_the_same_lock_is_reported() {
    // Held read, then a writer queues (waiting for the read), then the upgradable read waits
    // behind the writer: the thread waits for itself.
    let _s = serial();
    let l = RwLock::new(0);
    let r = l.read();
    let u = l.upgradable_read();
    drop(u);
    drop(r);
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn a_reader_against_an_upgradable_reader_is_no_cycle() {
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let _u = l.upgradable_read();
        let _x = x.lock();
    }
    {
        let _x = x.lock();
        let _r = l.read();
    }
    assert_eq!(kinds(), vec![]);
}

#[test]
fn a_writer_against_an_upgradable_reader_is_a_cycle() {
    // T1 holds the upgradable read and wants x; T2 holds x and wants to write, which waits for
    // the upgradable read.
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let _u = l.upgradable_read();
        let _x = x.lock();
    }
    {
        let _x = x.lock();
        let _w = l.write();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn a_writer_taken_before_x_against_an_upgradable_reader_is_no_cycle() {
    // The same two locks in one order everywhere.
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let _u = l.upgradable_read();
        let _x = x.lock();
    }
    {
        let _w = l.write();
        let _x = x.lock();
    }
    assert_eq!(kinds(), vec![]);
}

#[test]
fn an_upgradable_reader_against_a_reader_waits_behind_a_queued_writer() {
    // T1 reads l and wants x; T2 holds x and wants the upgradable read, which waits behind a
    // writer that queued for T1's read.
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let _r = l.read();
        let _x = x.lock();
    }
    {
        let _x = x.lock();
        let _u = l.upgradable_read();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn a_recursive_reader_against_an_upgradable_reader_is_no_cycle() {
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let _r = l.read_recursive();
        let _x = x.lock();
    }
    {
        let _x = x.lock();
        let _u = l.upgradable_read();
        let _r = l.read_recursive();
    }
    // The upgradable read waits behind a queued writer as `read` does, and the recursive read
    // held by T1 lets a writer queue: the same cycle as with a plain reader.
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn upgrading_with_a_lock_taken_since_orders_that_lock_before_a_write() {
    // T1: upgradable read, x, upgrade (waits for readers while holding x). T2: read, x.
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let u = l.upgradable_read();
        let _x = x.lock();
        let mut w = RwLockUpgradableReadGuard::upgrade(u);
        *w += 1;
    }
    {
        let _r = l.read();
        let _x = x.lock();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn upgrading_before_taking_the_other_lock_is_no_cycle() {
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let u = l.upgradable_read();
        let mut w = RwLockUpgradableReadGuard::upgrade(u);
        *w += 1;
        let _x = x.lock();
    }
    {
        let _r = l.read();
        let _x = x.lock();
    }
    assert_eq!(kinds(), vec![]);
}

#[test]
fn a_second_upgradable_read_on_one_thread_is_reported_and_panics_instead_of_hanging() {
    let _s = serial();
    let l = RwLock::new(0);
    let u = l.upgradable_read();
    let second = catch_unwind(AssertUnwindSafe(|| drop(l.upgradable_read())));
    assert!(second.is_err(), "re-taking a held upgradable read must not hang");
    assert!(l.try_upgradable_read().is_none(), "the first one is still held");
    drop(u);
    let got = kinds();
    assert!(got.contains(&RecursiveLocking), "{got:?}");
    // Held nothing afterwards: a fresh upgradable read is clean.
    drop(l.upgradable_read());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn writing_under_ones_own_upgradable_read_is_reported_and_panics() {
    let _s = serial();
    let l = RwLock::new(0);
    let u = l.upgradable_read();
    let w = catch_unwind(AssertUnwindSafe(|| drop(l.write())));
    assert!(w.is_err());
    drop(u);
    assert!(kinds().contains(&RecursiveLocking));
    *l.write() += 1;
    assert_eq!(kinds(), vec![]);
}

#[test]
fn upgrading_while_also_reading_is_reported_and_panics() {
    let _s = serial();
    let l = RwLock::new(0);
    let u = l.upgradable_read();
    let r = l.read();
    let up = catch_unwind(AssertUnwindSafe(|| drop(RwLockUpgradableReadGuard::upgrade(u))));
    assert!(up.is_err(), "the upgrade would wait for this thread's own read");
    drop(r);
    assert!(!kinds().is_empty());
    assert!(!l.is_locked(), "the upgradable read was released by the unwind");
    assert!(!l.is_held_by_current_thread());
}

#[test]
fn downgrades_keep_the_books_straight() {
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    let w = l.write();
    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
    assert!(l.try_read().is_some(), "an upgradable read shares with readers");
    let w = RwLockUpgradableReadGuard::upgrade(u);
    let r = RwLockWriteGuard::downgrade(w);
    assert!(
        l.try_upgradable_read().is_some(),
        "a read shares with an upgradable read"
    );
    drop(r);
    let u = l.upgradable_read();
    let r = RwLockUpgradableReadGuard::downgrade(u);
    let _x = x.lock();
    drop(r);
    assert!(!l.is_held_by_current_thread());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn try_upgrade_is_a_trylock_and_waits_for_nobody() {
    // As `upgrading_with_a_lock_taken_since_orders_that_lock_before_a_write`, but the upgrade
    // only tries: it never waits for the reader, so there is no cycle.
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let u = l.upgradable_read();
        let _x = x.lock();
        let mut w = RwLockUpgradableReadGuard::try_upgrade(u).expect("no reader");
        *w += 1;
    }
    {
        let _r = l.read();
        let _x = x.lock();
    }
    assert_eq!(kinds(), vec![]);
    let u = l.upgradable_read();
    let _r = l.read();
    let u = RwLockUpgradableReadGuard::try_upgrade(u).expect_err("a reader holds the lock");
    drop(u);
}

#[test]
fn with_upgraded_writes_for_the_span_of_the_closure() {
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(0));
    {
        let mut u = l.upgradable_read();
        let _x = x.lock();
        u.with_upgraded(|v| *v += 1);
    }
    {
        let _r = l.read();
        let _x = x.lock();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
    assert_eq!(*l.read(), 1);
}
