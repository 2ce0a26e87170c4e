//! Guards that own an `Arc` of their lock (`lock_arc`, `read_arc`, `write_arc`,
//! `upgradable_read_arc`, ...) are validated exactly as the borrowed guards: ordered, released
//! when dropped, and their functions (`unlocked`, `upgrade`, `downgrade`, `into_arc`) behave
//! and validate as the borrowed guards' do. And `serde`: a lock serializes as its value.

use lockdep::ReportKind::CircularDependency;
use lockdep::{
    ArcMutexGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard, Mutex, RawMutex, RawRwLock, RwLock,
};
use lockdep_suite::{kinds, serial};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn an_arc_guard_is_ordered_like_a_borrowed_one() {
    let _s = serial();
    let (a, b) = (Arc::new(Mutex::new(0)), Arc::new(RwLock::new(0)));
    {
        let mut ga: ArcMutexGuard<RawMutex, i32> = a.lock_arc();
        *ga += 1;
        let _gb = b.read_arc();
    }
    assert_eq!(kinds(), vec![]);
    assert!(!a.is_locked() && !b.is_locked());
    {
        let _gb = b.write_arc();
        let _ga = a.try_lock_arc_for(Duration::from_millis(1)).expect("free");
    }
    assert_eq!(kinds(), vec![CircularDependency]);
    assert_eq!(*a.lock(), 1);
}

#[test]
fn an_arc_guard_outlives_the_arc_it_came_from() {
    let _s = serial();
    let guard = {
        let m = Arc::new(Mutex::new(vec![1]));
        m.lock_arc()
    };
    assert_eq!(guard.len(), 1);
    let m = ArcMutexGuard::into_arc(guard);
    assert!(!m.is_locked());
    assert!(m.try_lock_arc().is_some());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn an_arc_upgradable_read_upgrades_and_downgrades_as_the_borrowed_one() {
    let _s = serial();
    let (l, x) = (Arc::new(RwLock::new(0)), Mutex::new(()));
    {
        let u = l.upgradable_read_arc();
        assert!(l.try_read().is_some(), "shared with readers");
        assert!(l.try_upgradable_read().is_none());
        let _x = x.lock();
        let mut w: ArcRwLockWriteGuard<RawRwLock, i32> = ArcRwLockUpgradableReadGuard::upgrade(u);
        *w += 1;
        let u = ArcRwLockWriteGuard::downgrade_to_upgradable(w);
        let r = ArcRwLockUpgradableReadGuard::downgrade(u);
        assert_eq!(*r, 1);
    }
    assert!(!l.is_locked());
    assert_eq!(kinds(), vec![]);
    // x was taken between the upgradable read and the upgrade: a reader that then wants x
    // closes the cycle, as with borrowed guards.
    {
        let _r = l.read_arc();
        let _x = x.lock();
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn arc_guard_unlocked_releases_the_lock_meanwhile() {
    let _s = serial();
    let m = Arc::new(Mutex::new(0));
    let mut g = m.lock_arc();
    let m2 = m.clone();
    ArcMutexGuard::unlocked(&mut g, || {
        std::thread::spawn(move || *m2.lock() += 1).join().unwrap()
    });
    assert_eq!(*g, 1);
    ArcMutexGuard::bump(&mut g);
    ArcMutexGuard::unlock_fair(g);
    assert!(!m.is_locked());
    assert_eq!(kinds(), vec![]);
}

#[test]
fn locks_serialize_as_their_value_and_deserialize_unlocked() {
    let _s = serial();
    let m = Mutex::new(vec![1, 2]);
    let l = RwLock::new("x".to_string());
    assert_eq!(serde_json::to_string(&m).unwrap(), "[1,2]");
    assert_eq!(serde_json::to_string(&l).unwrap(), "\"x\"");
    let back: Mutex<Vec<i32>> = serde_json::from_str("[3]").unwrap();
    assert!(!back.is_locked());
    assert_eq!(*back.lock(), vec![3]);
    let back: lockdep::ReentrantMutex<u8> = serde_json::from_str("7").unwrap();
    assert_eq!(*back.lock(), 7);
    assert_eq!(kinds(), vec![]);
}
