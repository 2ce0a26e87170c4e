//! The guards' associated functions from `parking_lot` (`map`, `try_map`, `unlocked`, `bump`,
//! `unlock_fair`, `leak`, `mutex`/`rwlock`/`remutex`) as the validator sees them: a mapped
//! guard keeps the hold; `unlocked` takes it off the stack while the closure runs; `bump` and
//! the end of `unlocked` re-take the lock on top of what the thread holds, which orders the
//! locks taken since before it; `leak` forgets the hold. And `ReentrantMutex`: re-entering an
//! instance is allowed, its ordering against other locks is validated.

use lockdep::ReportKind::{CircularDependency, RecursiveLocking};
use lockdep::{
    FairMutex, FairMutexGuard, MappedMutexGuard, MappedRwLockWriteGuard, Mutex, MutexGuard, ReentrantMutex,
    ReentrantMutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use lockdep_suite::{kinds, serial};

#[test]
fn a_mapped_guard_keeps_the_hold_until_it_is_dropped() {
    let _s = serial();
    let (m, x) = (Mutex::new((1, 2)), Mutex::new(()));
    let g = MutexGuard::map(m.lock(), |p| &mut p.1);
    assert!(m.is_held_by_current_thread());
    let mut g = MappedMutexGuard::map(g, |v| v);
    *g += 1;
    // Still held: x is ordered after m.
    let _x = x.lock();
    drop(g);
    assert!(!m.is_held_by_current_thread());
    drop(_x);
    {
        let _x = x.lock();
        let _m = m.lock();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
    assert_eq!(*m.lock(), (1, 3));
}

#[test]
fn a_failed_try_map_gives_the_guard_back_still_held() {
    let _s = serial();
    let m = Mutex::new(vec![1]);
    let g = MutexGuard::try_map(m.lock(), |v| v.get_mut(5)).expect_err("no element 5");
    assert!(m.is_held_by_current_thread());
    let (g, e) = MutexGuard::try_map_or_err(g, |_| Err::<&mut i32, _>("none")).expect_err("an error");
    assert_eq!(e, "none");
    let g = MutexGuard::try_map(g, |v| v.get_mut(0)).expect("element 0");
    drop(g);
    assert!(!m.is_held_by_current_thread());
    let l = RwLock::new([1, 2]);
    let r = RwLockReadGuard::try_map(l.read(), |a| a.get(7)).expect_err("no element 7");
    let r = RwLockReadGuard::map(r, |a| &a[1]);
    assert_eq!(*r, 2);
    drop(r);
    let w = RwLockWriteGuard::map(l.write(), |a| &mut a[0]);
    let mut w = MappedRwLockWriteGuard::map(w, |v| v);
    *w = 7;
    drop(w);
    assert!(!l.is_locked());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn unlocked_takes_the_lock_off_the_stack_while_the_closure_runs() {
    let _s = serial();
    let (m, x) = (Mutex::new(0), Mutex::new(()));
    {
        let _x = x.lock();
        drop(m.lock());
    }
    let mut g = m.lock();
    // x under "m" would invert x -> m, but m is released meanwhile.
    MutexGuard::unlocked(&mut g, || {
        assert!(!m.is_held_by_current_thread());
        drop(x.lock());
    });
    assert!(m.is_held_by_current_thread());
    *g += 1;
    drop(g);
    assert_eq!(kinds(), vec![]);
}

#[test]
fn leaving_unlocked_with_a_lock_taken_inside_still_held_retakes_on_top() {
    let _s = serial();
    let (m, x) = (Mutex::new(0), Mutex::new(()));
    {
        let _m = m.lock();
        drop(x.lock());
    }
    let mut g = m.lock();
    let kept = MutexGuard::unlocked(&mut g, || x.lock());
    // m was taken again while x was held: x -> m, against m -> x.
    drop(g);
    drop(kept);
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn bump_under_a_later_lock_is_an_inversion() {
    // T1 holds m then x and bumps m: it hands m to a waiter and waits for m again while
    // holding x; the waiter, having m, wants x.
    let _s = serial();
    let (m, x) = (Mutex::new(0), Mutex::new(()));
    let mut g = m.lock();
    let _x = x.lock();
    MutexGuard::bump(&mut g);
    drop(_x);
    drop(g);
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn bump_with_nothing_taken_since_is_fine() {
    let _s = serial();
    let (m, x) = (Mutex::new(0), Mutex::new(()));
    let _x = x.lock();
    let mut g = m.lock();
    MutexGuard::bump(&mut g);
    MutexGuard::unlocked_fair(&mut g, || ());
    let mut r = RwLock::new(0);
    {
        let mut rg = r.read();
        RwLockReadGuard::bump(&mut rg);
        let mut wg = {
            drop(rg);
            r.write()
        };
        RwLockWriteGuard::bump(&mut wg);
        RwLockWriteGuard::unlocked(&mut wg, || ());
        RwLockWriteGuard::unlock_fair(wg);
    }
    *r.get_mut() += 1;
    MutexGuard::unlock_fair(g);
    assert_eq!(kinds(), vec![]);
}

#[test]
fn a_leaked_guard_is_forgotten_by_the_validator() {
    let _s = serial();
    let m: &'static Mutex<i32> = Box::leak(Box::new(Mutex::new(1)));
    let v: &'static mut i32 = MutexGuard::leak(m.lock());
    *v += 1;
    assert!(m.is_locked(), "a leaked guard keeps the lock locked");
    assert!(!m.is_held_by_current_thread());
    // The thread may exit without a "held at exit" report, and take other locks freely.
    let x = Mutex::new(());
    drop(x.lock());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn the_guard_names_its_lock() {
    let _s = serial();
    let m = Mutex::new(0);
    let g = m.lock();
    assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
    let f = FairMutex::new(0);
    let fg = f.lock();
    assert!(std::ptr::eq(FairMutexGuard::mutex(&fg), &f));
    let l = RwLock::new(0);
    let r = l.read();
    assert!(std::ptr::eq(RwLockReadGuard::rwlock(&r), &l));
    let rm = ReentrantMutex::new(0);
    let rg = rm.lock();
    assert!(std::ptr::eq(ReentrantMutexGuard::remutex(&rg), &rm));
}

#[test]
fn re_entering_a_reentrant_mutex_is_not_reported() {
    let _s = serial();
    let m = ReentrantMutex::new(0);
    let a = m.lock();
    let b = m.lock();
    let c = m.try_lock().expect("the owner re-enters");
    // Dropped out of order: the record goes with the last guard.
    drop(a);
    assert!(m.is_held_by_current_thread());
    drop(c);
    drop(b);
    assert!(!m.is_held_by_current_thread());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn a_reentrant_mutex_is_ordered_against_other_locks() {
    let _s = serial();
    let (m, x) = (ReentrantMutex::new(0), Mutex::new(()));
    {
        let _m = m.lock();
        let _x = x.lock();
        // Re-entering under x adds nothing: it never waits.
        let _again = m.lock();
    }
    assert_eq!(kinds(), vec![]);
    {
        let _x = x.lock();
        let _m = m.lock();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn two_reentrant_mutexes_of_one_class_are_still_recursive_locking() {
    let _s = serial();
    let pair: Vec<ReentrantMutex<i32>> = (0..2).map(ReentrantMutex::new).collect();
    let _a = pair[0].lock();
    let _b = pair[1].lock();
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn a_reentrant_guard_unlocked_as_the_sole_guard_releases_the_record() {
    let _s = serial();
    let (m, x) = (ReentrantMutex::new(0), Mutex::new(()));
    {
        let _x = x.lock();
        drop(m.lock());
    }
    let mut g = m.lock();
    ReentrantMutexGuard::unlocked(&mut g, || {
        assert!(!m.is_held_by_current_thread());
        drop(x.lock());
    });
    let nested = m.lock();
    ReentrantMutexGuard::bump(&mut g);
    drop(nested);
    drop(g);
    assert_eq!(kinds(), vec![]);
}
