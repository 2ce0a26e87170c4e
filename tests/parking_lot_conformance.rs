//! Behaviour, with the validator on, of the `parking_lot` surface: each test exercises what a
//! `parking_lot` user relies on (exclusion, upgradable reads, timeouts, re-entry, condition
//! variables, mapped guards) across threads, and the correct pattern yields no report.

use lockdep::{
    const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, Condvar, FairMutex, Mutex,
    MutexGuard, ReentrantMutex, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use lockdep_suite::{kinds, serial};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_millis(30);

/// Runs `f` on another thread while `hold` keeps a lock taken on a third: `hold` gets a
/// "taken" sender and a "release" receiver.
fn while_held_elsewhere<H, F, R>(hold: H, f: F) -> R
where
    H: FnOnce(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>) + Send + 'static,
    F: FnOnce() -> R,
{
    let (taken_tx, taken_rx) = channel();
    let (release_tx, release_rx) = channel();
    let holder = thread::spawn(move || hold(taken_tx, release_rx));
    taken_rx.recv().unwrap();
    let r = f();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    r
}

#[test]
fn mutexes_exclude_across_threads() {
    let _s = serial();
    static M: Mutex<u64> = const_mutex(0);
    static F: FairMutex<u64> = const_fair_mutex(0);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(|| {
                for _ in 0..1000 {
                    *M.lock() += 1;
                    *F.lock() += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!((*M.lock(), *F.lock()), (4000, 4000));
    assert_eq!(kinds(), vec![]);
}

#[test]
fn try_lock_for_times_out_while_another_thread_holds_the_lock() {
    let _s = serial();
    let m = Arc::new(Mutex::new(()));
    let m2 = m.clone();
    let waited = while_held_elsewhere(
        move |taken, release| {
            let _g = m2.lock();
            taken.send(()).unwrap();
            release.recv().unwrap();
        },
        || {
            let start = Instant::now();
            assert!(m.try_lock_for(TIMEOUT).is_none());
            assert!(
                m.try_lock_until(Instant::now()).is_none(),
                "a past deadline fails at once"
            );
            assert!(m.is_locked());
            start.elapsed()
        },
    );
    assert!(waited >= TIMEOUT, "{waited:?}");
    assert!(m.try_lock_for(TIMEOUT).is_some(), "free again");
    assert_eq!(kinds(), vec![]);
}

#[test]
fn an_upgradable_read_excludes_writers_and_upgradable_readers_but_not_readers() {
    let _s = serial();
    let l = Arc::new(RwLock::new(0));
    let l2 = l.clone();
    while_held_elsewhere(
        move |taken, release| {
            let _u = l2.upgradable_read();
            taken.send(()).unwrap();
            release.recv().unwrap();
        },
        || {
            assert!(l.try_read().is_some());
            assert!(l.try_read_recursive().is_some());
            assert!(l.try_write().is_none());
            assert!(l.try_upgradable_read().is_none());
            assert!(l.try_write_for(TIMEOUT).is_none());
            assert!(l.try_upgradable_read_for(TIMEOUT).is_none());
            assert!(!l.is_locked_exclusive());
        },
    );
    assert!(l.try_upgradable_read().is_some());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn an_upgrade_waits_for_the_readers_to_leave() {
    let _s = serial();
    let l = Arc::new(RwLock::new(0));
    let l2 = l.clone();
    let (reading_tx, reading_rx) = channel();
    let (leave_tx, leave_rx) = channel::<()>();
    let reader = thread::spawn(move || {
        let r = l2.read();
        reading_tx.send(()).unwrap();
        leave_rx.recv().unwrap();
        thread::sleep(TIMEOUT);
        drop(r);
    });
    reading_rx.recv().unwrap();
    let u = l.upgradable_read();
    let u = RwLockUpgradableReadGuard::try_upgrade(u).expect_err("a reader is in");
    let u = RwLockUpgradableReadGuard::try_upgrade_for(u, TIMEOUT).expect_err("the reader stays");
    leave_tx.send(()).unwrap();
    let start = Instant::now();
    let mut w = RwLockUpgradableReadGuard::upgrade(u);
    assert!(start.elapsed() >= TIMEOUT / 2, "it waited for the reader");
    *w += 1;
    assert!(l.is_locked_exclusive());
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 1);
    drop(r);
    reader.join().unwrap();
    assert_eq!(kinds(), vec![]);
}

#[test]
fn downgrading_lets_readers_in_without_a_writer_between() {
    let _s = serial();
    static L: RwLock<i32> = const_rwlock(0);
    let mut w = L.write();
    *w = 5;
    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
    let seen = thread::spawn(|| *L.read()).join().unwrap();
    assert_eq!(seen, 5);
    let r = RwLockUpgradableReadGuard::downgrade(u);
    assert!(thread::spawn(|| L.try_upgradable_read().is_some())
        .join()
        .unwrap());
    drop(r);
    assert_eq!(kinds(), vec![]);
}

#[test]
fn a_reentrant_mutex_lets_its_owner_in_and_keeps_others_out() {
    let _s = serial();
    static R: ReentrantMutex<i32> = const_reentrant_mutex(3);
    let a = R.lock();
    let b = R.lock();
    let c = R.try_lock_for(TIMEOUT).expect("the owner never waits");
    assert!(R.is_owned_by_current_thread());
    assert_eq!(*a + *b + *c, 9);
    assert!(
        thread::spawn(|| R.try_lock().is_none() && !R.is_owned_by_current_thread())
            .join()
            .unwrap()
    );
    drop((a, b));
    assert!(
        thread::spawn(|| R.try_lock().is_none()).join().unwrap(),
        "one level still held"
    );
    drop(c);
    assert!(thread::spawn(|| R.try_lock().is_some()).join().unwrap());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn condvar_wait_while_for_times_out_while_the_condition_holds() {
    let _s = serial();
    let (m, cv) = (Mutex::new(0), Condvar::new());
    let mut g = m.lock();
    let start = Instant::now();
    let r = cv.wait_while_for(&mut g, |v| *v == 0, TIMEOUT);
    assert!(r.timed_out());
    assert!(start.elapsed() >= TIMEOUT);
    assert!(m.is_held_by_current_thread(), "the mutex is held again");
    assert!(cv.wait_for(&mut g, Duration::from_millis(1)).timed_out());
    drop(g);
    assert_eq!(kinds(), vec![]);
}

#[test]
fn condvar_wait_while_until_returns_when_the_condition_is_met() {
    let _s = serial();
    let pair = Arc::new((Mutex::new(0), Condvar::new()));
    let p2 = pair.clone();
    let setter = thread::spawn(move || {
        for _ in 0..3 {
            thread::sleep(Duration::from_millis(2));
            *p2.0.lock() += 1;
            p2.1.notify_all();
        }
    });
    let mut g = pair.0.lock();
    let r = pair
        .1
        .wait_while_until(&mut g, |v| *v < 3, Instant::now() + Duration::from_secs(10));
    assert!(!r.timed_out());
    assert_eq!(*g, 3);
    drop(g);
    setter.join().unwrap();
    // With the condition already false it returns at once, not timed out.
    let mut g = pair.0.lock();
    assert!(!pair.1.wait_while_for(&mut g, |_| false, TIMEOUT).timed_out());
    drop(g);
    assert_eq!(kinds(), vec![]);
}

#[test]
fn a_waiter_inside_wait_while_is_ordered_like_any_mutex_holder() {
    // A lock taken in the condition is taken with the mutex held, as in parking_lot: x after
    // m, every time the condition is evaluated.
    let _s = serial();
    let (m, cv, x) = (Mutex::new(0), Condvar::new(), Mutex::new(()));
    let mut g = m.lock();
    cv.wait_while_for(
        &mut g,
        |_| {
            drop(x.lock());
            true
        },
        Duration::from_millis(2),
    );
    drop(g);
    assert_eq!(kinds(), vec![]);
    {
        let _x = x.lock();
        let _m = m.lock();
    }
    assert_eq!(kinds(), vec![lockdep::ReportKind::CircularDependency]);
}

#[test]
fn mapped_guards_and_unlocked_behave_as_in_parking_lot() {
    let _s = serial();
    let m = Arc::new(Mutex::new((0, String::new())));
    let mut s = MutexGuard::map(m.lock(), |p| &mut p.1);
    s.push_str("mapped");
    drop(s);
    let mut g = m.lock();
    let m2 = m.clone();
    // While unlocked another thread can take the lock.
    MutexGuard::unlocked(&mut g, || thread::spawn(move || m2.lock().0 += 1).join().unwrap());
    assert_eq!(*g, (1, "mapped".to_string()));
    MutexGuard::bump(&mut g);
    drop(g);
    assert_eq!(
        format!("{:?}", Mutex::new(1)),
        format!("{:?}", parking_lot::Mutex::new(1))
    );
    assert_eq!(
        format!("{:?}", RwLock::new(1)),
        format!("{:?}", parking_lot::RwLock::new(1))
    );
    let mut o = Mutex::from(4);
    *o.get_mut() += 1;
    assert_eq!(o.into_inner(), 5);
    assert_eq!(
        RwLock::from(2).into_inner() + FairMutex::<i32>::default().into_inner(),
        2
    );
    assert_eq!(kinds(), vec![]);
}
