//! Unlock balance: releasing a lock this thread does not hold — never taken, already released,
//! or held by another thread — is reported as a bad unlock balance, and the lock is left as it
//! was: the plain lock is not unlocked under its owner, and the owner's record is untouched.

use crate::still_validates;
use lockdep::{Mutex, RawSpinLock, ReportKind, RwLock, RwSpinLock, SpinLock};
use lockdep_suite::{kinds, serial};
use std::sync::{mpsc, Arc};

#[test]
fn unlocking_a_lock_never_taken_is_reported_and_leaves_it_alone() {
    let _s = serial();
    let m = Mutex::new(());
    // SAFETY: violates force_unlock's contract on purpose; with `check` the validator refuses
    // the release (documented on force_unlock), so the plain lock is never touched.
    unsafe { m.force_unlock() };
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::BadUnlock);
    assert_eq!(
        r[0].headline(),
        "WARNING: bad unlock balance detected!",
        "{}",
        r[0]
    );
    assert!(!m.is_locked());
    // The lock works normally afterwards.
    drop(m.lock());
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn unlocking_each_kind_of_lock_never_taken_is_reported() {
    let _s = serial();
    let (s, rw, rs) = (SpinLock::new(()), RwLock::new(()), RwSpinLock::new(()));
    let raw = RawSpinLock::new(());
    // SAFETY: as above: refused by the validator, the plain locks are never touched.
    unsafe {
        s.force_unlock();
        raw.force_unlock();
        rw.force_unlock_write();
        rw.force_unlock_read();
        rs.force_unlock_write();
        rs.force_unlock_read();
    }
    // One report per class (the two RwLock releases are one class, likewise RwSpinLock).
    assert_eq!(kinds(), vec![ReportKind::BadUnlock; 4]);
    drop(s.lock());
    drop(raw.lock());
    drop(rw.write());
    drop(rs.write());
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn releasing_a_forgotten_guard_with_force_unlock_is_silent() {
    let _s = serial();
    let m = Mutex::new(());
    std::mem::forget(m.lock());
    assert!(m.is_held_by_current_thread());
    // SAFETY: held by this thread through the guard forgotten above.
    unsafe { m.force_unlock() };
    assert!(!m.is_locked() && !m.is_held_by_current_thread());
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn unlocking_twice_is_reported_and_the_lock_stays_usable() {
    let _s = serial();
    let m = Arc::new(Mutex::new(0));
    std::mem::forget(m.lock());
    // SAFETY: the first release is legitimate (forgotten guard); the second violates the
    // contract and is refused by the validator.
    unsafe {
        m.force_unlock();
        m.force_unlock();
    }
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
    // The plain lock was unlocked once, not twice: it is free, and it excludes as before.
    assert!(!m.is_locked());
    let g = m.lock();
    let m2 = m.clone();
    let other = std::thread::spawn(move || m2.try_lock().is_none());
    assert!(other.join().unwrap(), "a held lock was free for another thread");
    drop(g);
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn unlocking_twice_while_other_locks_are_held_keeps_their_record() {
    let _s = serial();
    let (outer, m, inner) = (Mutex::new(()), Mutex::new(()), Mutex::new(()));
    let _o = outer.lock();
    std::mem::forget(m.lock());
    let _i = inner.lock();
    // SAFETY: one legitimate release of the forgotten guard, then one refused.
    unsafe {
        m.force_unlock();
        m.force_unlock();
    }
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
    assert!(outer.is_held_by_current_thread() && inner.is_held_by_current_thread());
    assert!(!m.is_held_by_current_thread());
    drop(_i);
    drop(_o);
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn unlocking_from_another_thread_is_reported_and_the_owner_keeps_the_lock() {
    let _s = serial();
    let m = Arc::new(Mutex::new(()));
    let (to_main, from_owner) = mpsc::channel();
    let (to_owner, from_main) = mpsc::channel::<()>();
    let m1 = m.clone();
    let owner = std::thread::spawn(move || {
        std::mem::forget(m1.lock());
        to_main.send(()).unwrap();
        from_main.recv().unwrap();
        // The owner's record survived the other thread's attempt: releasing is balanced.
        assert!(m1.is_held_by_current_thread());
        // SAFETY: held by this thread through the guard forgotten above.
        unsafe { m1.force_unlock() };
    });
    from_owner.recv().unwrap();
    // SAFETY: held by another thread: the validator refuses to release it here.
    unsafe { m.force_unlock() };
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
    assert!(m.is_locked(), "the lock was released under its owner");
    to_owner.send(()).unwrap();
    owner.join().unwrap();
    assert!(!m.is_locked());
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn releasing_a_write_lock_as_a_reader_is_reported_and_refused() {
    let _s = serial();
    let rw = RwLock::new(());
    std::mem::forget(rw.write());
    // SAFETY: violates the contract (held for writing, released as a reader); the validator
    // knows how the lock is held and must refuse.
    unsafe { rw.force_unlock_read() };
    assert_eq!(kinds(), vec![ReportKind::BadUnlock]);
    assert!(rw.is_held_by_current_thread());
    // SAFETY: held for writing through the guard forgotten above.
    unsafe { rw.force_unlock_write() };
    assert!(rw.try_write().is_some(), "the plain lock was corrupted");
    assert!(kinds().is_empty());
    still_validates();
}

#[test]
fn releasing_a_read_lock_as_the_writer_is_reported_and_refused() {
    let _s = serial();
    let rs = RwSpinLock::new(());
    std::mem::forget(rs.read());
    // SAFETY: violates the contract (held for reading, released as the writer); the validator
    // knows how the lock is held and refuses.
    unsafe { rs.force_unlock_write() };
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::BadUnlock);
    assert!(
        r[0].to_string()
            .contains("released as a writer but held for reading"),
        "{}",
        r[0]
    );
    assert!(rs.is_held_by_current_thread() && rs.is_locked());
    // The closest legitimate release: in the mode it is held in, silently.
    // SAFETY: held for reading through the guard forgotten above.
    unsafe { rs.force_unlock_read() };
    assert!(!rs.is_locked() && !rs.is_held_by_current_thread());
    assert!(rs.try_write().is_some(), "the plain lock was corrupted");
    assert!(kinds().is_empty());
    still_validates();
}
