//! The `parking_lot` surface compiles and behaves the same with `check` on and off: every
//! function and type of it is used here once, written as `parking_lot` code writes it, and the
//! file is run both ways (`cargo test -p lockdep` and `--features check`, plus `arc_lock` and
//! `serde`). With `check` off the guards must be the plain `parking_lot` guards (zero cost).

use lockdep::{
    const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, Condvar, FairMutex, FairMutexGuard,
    MappedFairMutexGuard, MappedMutexGuard, MappedReentrantMutexGuard, MappedRwLockReadGuard,
    MappedRwLockWriteGuard, Mutex, MutexGuard, Once, OnceState, ReentrantMutex, ReentrantMutexGuard, RwLock,
    RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use std::time::{Duration, Instant};

static M: Mutex<i32> = const_mutex(0);
static F: FairMutex<i32> = const_fair_mutex(0);
static L: RwLock<i32> = const_rwlock(0);
static R: ReentrantMutex<i32> = const_reentrant_mutex(0);

const T: Duration = Duration::from_millis(1);

/// Whether `a` and `b` are the same lock. With `check` off a guard's `mutex()`/`rwlock()`/
/// `remutex()` is `parking_lot`'s and returns the plain lock inside ours (same address, other
/// type), so portable code compares addresses.
fn same_lock<A: ?Sized, B: ?Sized>(a: &A, b: &B) -> bool {
    std::ptr::eq(a as *const A as *const u8, b as *const B as *const u8)
}

fn soon() -> Instant {
    Instant::now() + T
}

#[test]
fn mutex_and_fair_mutex_guard_functions() {
    let m = Mutex::new((1, 2));
    let g: MutexGuard<'_, (i32, i32)> = m.lock();
    assert!(same_lock(MutexGuard::mutex(&g), &m));
    let mut mapped: MappedMutexGuard<'_, i32> = MutexGuard::map(g, |p| &mut p.0);
    *mapped += 1;
    let mapped = MappedMutexGuard::map(mapped, |v| v);
    let mapped = MappedMutexGuard::try_map(mapped, |v| Some(v)).ok().unwrap();
    let mapped = MappedMutexGuard::try_map_or_err(mapped, |v| Ok::<_, ()>(v))
        .ok()
        .unwrap();
    MappedMutexGuard::unlock_fair(mapped);
    let g = MutexGuard::try_map(m.lock(), |p| Some(&mut p.1)).ok().unwrap();
    drop(g);
    let g = MutexGuard::try_map_or_err(m.lock(), |_| Err::<&mut i32, _>(7))
        .err()
        .unwrap();
    let (mut g, e) = g;
    assert_eq!(e, 7);
    MutexGuard::unlocked(&mut g, || assert!(!m.is_locked()));
    MutexGuard::unlocked_fair(&mut g, || ());
    MutexGuard::bump(&mut g);
    MutexGuard::unlock_fair(g);
    assert_eq!(*m.try_lock_for(T).unwrap(), (2, 2));
    assert!(m.try_lock_until(soon()).is_some());
    assert!(!m.data_ptr().is_null());
    std::mem::forget(m.lock());
    // SAFETY: the guard was forgotten just above, on this thread.
    unsafe { m.force_unlock_fair() };
    let leaked: &mut i32 = MutexGuard::leak(M.lock());
    *leaked += 1;

    let g: FairMutexGuard<'_, i32> = F.lock();
    let mapped: MappedFairMutexGuard<'_, i32> = FairMutexGuard::map(g, |v| v);
    drop(mapped);
    assert!(F.try_lock_for(T).is_some());
    assert_eq!(
        format!("{:?}", FairMutex::from(1)),
        format!("{:?}", parking_lot::FairMutex::new(1))
    );
    let _d: FairMutex<u8> = FairMutex::default();
}

#[test]
fn rwlock_guard_functions() {
    let l = RwLock::from([1, 2]);
    let r: RwLockReadGuard<'_, [i32; 2]> = l.read();
    assert!(same_lock(RwLockReadGuard::rwlock(&r), &l));
    let mr: MappedRwLockReadGuard<'_, i32> = RwLockReadGuard::map(r, |a| &a[0]);
    let mr = MappedRwLockReadGuard::map(mr, |v| v);
    let mr = MappedRwLockReadGuard::try_map(mr, |v| Some(v)).ok().unwrap();
    let mr = MappedRwLockReadGuard::try_map_or_else(mr, |v| Ok::<_, ()>(v))
        .ok()
        .unwrap();
    MappedRwLockReadGuard::unlock_fair(mr);
    let mut r = RwLockReadGuard::try_map(l.read(), |a| a.get(5)).err().unwrap();
    RwLockReadGuard::unlocked(&mut r, || ());
    RwLockReadGuard::unlocked_fair(&mut r, || ());
    RwLockReadGuard::bump(&mut r);
    let r = RwLockReadGuard::try_map_or_err(r, |_| Err::<&i32, _>(()))
        .err()
        .unwrap()
        .0;
    RwLockReadGuard::unlock_fair(r);

    let mut w: RwLockWriteGuard<'_, [i32; 2]> = l.write();
    assert!(l.is_locked_exclusive());
    RwLockWriteGuard::unlocked(&mut w, || ());
    RwLockWriteGuard::unlocked_fair(&mut w, || ());
    RwLockWriteGuard::bump(&mut w);
    assert!(same_lock(RwLockWriteGuard::rwlock(&w), &l));
    let mw: MappedRwLockWriteGuard<'_, i32> = RwLockWriteGuard::map(w, |a| &mut a[1]);
    let mut mw = MappedRwLockWriteGuard::map(mw, |v| v);
    *mw = 5;
    let mw = MappedRwLockWriteGuard::try_map(mw, |v| Some(v)).ok().unwrap();
    let mw = MappedRwLockWriteGuard::try_map_or_err(mw, |v| Ok::<_, ()>(v))
        .ok()
        .unwrap();
    MappedRwLockWriteGuard::unlock_fair(mw);
    let w = RwLockWriteGuard::try_map(l.write(), |a| a.get_mut(9))
        .err()
        .unwrap();
    let w = RwLockWriteGuard::try_map_or_err(w, |_| Err::<&mut i32, _>(()))
        .err()
        .unwrap()
        .0;
    RwLockWriteGuard::unlock_fair(w);

    let u: RwLockUpgradableReadGuard<'_, [i32; 2]> = l.upgradable_read();
    assert!(same_lock(RwLockUpgradableReadGuard::rwlock(&u), &l));
    let u = RwLockUpgradableReadGuard::try_upgrade(u).map(RwLockWriteGuard::downgrade_to_upgradable);
    let mut u = u.ok().unwrap();
    u.with_upgraded(|a| a[0] = 3);
    assert_eq!(u.try_with_upgraded(|a| a[0]), Some(3));
    assert_eq!(u.try_with_upgraded_for(T, |a| a[0]), Some(3));
    assert_eq!(u.try_with_upgraded_until(soon(), |a| a[0]), Some(3));
    RwLockUpgradableReadGuard::unlocked(&mut u, || ());
    RwLockUpgradableReadGuard::unlocked_fair(&mut u, || ());
    RwLockUpgradableReadGuard::bump(&mut u);
    let w = RwLockUpgradableReadGuard::try_upgrade_for(u, T).ok().unwrap();
    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
    let w = RwLockUpgradableReadGuard::try_upgrade_until(u, soon())
        .ok()
        .unwrap();
    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
    let w = RwLockUpgradableReadGuard::upgrade(u);
    let r = RwLockWriteGuard::downgrade(w);
    drop(r);
    let r = RwLockUpgradableReadGuard::downgrade(l.upgradable_read());
    drop(r);
    RwLockUpgradableReadGuard::unlock_fair(l.try_upgradable_read().unwrap());
    assert!(l.try_upgradable_read_for(T).is_some());
    assert!(l.try_upgradable_read_until(soon()).is_some());
    assert!(l.try_read_for(T).is_some() && l.try_read_until(soon()).is_some());
    assert!(l.try_read_recursive_for(T).is_some() && l.try_read_recursive_until(soon()).is_some());
    assert!(l.try_write_for(T).is_some() && l.try_write_until(soon()).is_some());
    assert!(!l.data_ptr().is_null());
    std::mem::forget(l.read());
    // SAFETY: a read guard was forgotten just above, on this thread.
    unsafe { l.force_unlock_read_fair() };
    std::mem::forget(l.write());
    // SAFETY: the write guard was forgotten just above, on this thread.
    unsafe { l.force_unlock_write_fair() };
    assert_eq!(*L.read(), 0);
    assert_eq!(l.into_inner(), [3, 5]);
}

#[test]
fn reentrant_mutex_functions() {
    let g: ReentrantMutexGuard<'_, i32> = R.lock();
    let again = R.try_lock().unwrap();
    assert!(R.is_owned_by_current_thread());
    assert!(same_lock(ReentrantMutexGuard::remutex(&again), &R));
    let mapped: MappedReentrantMutexGuard<'_, i32> = ReentrantMutexGuard::map(again, |v| v);
    let mapped = MappedReentrantMutexGuard::map(mapped, |v| v);
    let mapped = MappedReentrantMutexGuard::try_map(mapped, |v| Some(v))
        .ok()
        .unwrap();
    let mapped = MappedReentrantMutexGuard::try_map_or_err(mapped, |v| Ok::<_, ()>(v))
        .ok()
        .unwrap();
    MappedReentrantMutexGuard::unlock_fair(mapped);
    let mut g = ReentrantMutexGuard::try_map(g, |_| None::<&i32>).err().unwrap();
    ReentrantMutexGuard::unlocked(&mut g, || assert!(!R.is_owned_by_current_thread()));
    ReentrantMutexGuard::unlocked_fair(&mut g, || ());
    ReentrantMutexGuard::bump(&mut g);
    let g = ReentrantMutexGuard::try_map_or_err(g, |_| Err::<&i32, _>(()))
        .err()
        .unwrap()
        .0;
    ReentrantMutexGuard::unlock_fair(g);
    assert!(R.try_lock_for(T).is_some() && R.try_lock_until(soon()).is_some());
    let mut owned = ReentrantMutex::from(1);
    *owned.get_mut() += 1;
    std::mem::forget(owned.lock());
    // SAFETY: the guard was forgotten just above, on this thread.
    unsafe { owned.force_unlock_fair() };
    assert!(!owned.is_locked() && !owned.data_ptr().is_null());
    assert_eq!(
        format!("{owned:?}"),
        format!("{:?}", parking_lot::ReentrantMutex::new(2))
    );
    assert_eq!(owned.into_inner(), 2);
    let _d: ReentrantMutex<u8> = ReentrantMutex::default();
}

#[test]
fn condvar_timed_waits_while() {
    let (m, cv) = (Mutex::new(0), Condvar::new());
    let mut g = m.lock();
    assert!(cv.wait_while_for(&mut g, |v| *v == 0, T).timed_out());
    assert!(cv.wait_while_until(&mut g, |v| *v == 0, soon()).timed_out());
    assert!(!cv.wait_while_for(&mut g, |_| false, T).timed_out());
}

#[cfg(feature = "arc_lock")]
#[test]
fn arc_guards() {
    use lockdep::{
        ArcMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard, RawMutex,
        RawRwLock,
    };
    use std::sync::Arc;
    let m = Arc::new(Mutex::new(1));
    let mut g: ArcMutexGuard<RawMutex, i32> = m.lock_arc();
    *g += 1;
    ArcMutexGuard::unlocked(&mut g, || ());
    ArcMutexGuard::unlocked_fair(&mut g, || ());
    ArcMutexGuard::bump(&mut g);
    let _: &Arc<_> = ArcMutexGuard::mutex(&g);
    let back = ArcMutexGuard::into_arc(g);
    assert!(!back.is_locked());
    ArcMutexGuard::unlock_fair(m.try_lock_arc().unwrap());
    drop(ArcMutexGuard::into_arc_fair(m.try_lock_arc_for(T).unwrap()));
    assert!(m.try_lock_arc_until(soon()).is_some());

    let l = Arc::new(RwLock::new(1));
    let mut r: ArcRwLockReadGuard<RawRwLock, i32> = l.read_arc();
    ArcRwLockReadGuard::unlocked(&mut r, || ());
    ArcRwLockReadGuard::bump(&mut r);
    drop(ArcRwLockReadGuard::into_arc(r));
    assert!(
        l.try_read_arc().is_some()
            && l.try_read_arc_for(T).is_some()
            && l.try_read_arc_until(soon()).is_some()
    );
    assert!(l.try_read_recursive_arc().is_some());
    drop(l.read_arc_recursive());
    let mut w: ArcRwLockWriteGuard<RawRwLock, i32> = l.write_arc();
    *w += 1;
    ArcRwLockWriteGuard::unlocked(&mut w, || ());
    let r = ArcRwLockWriteGuard::downgrade(w);
    drop(r);
    let w = l.try_write_arc().unwrap();
    let u: ArcRwLockUpgradableReadGuard<RawRwLock, i32> = ArcRwLockWriteGuard::downgrade_to_upgradable(w);
    let w = ArcRwLockUpgradableReadGuard::try_upgrade(u).ok().unwrap();
    drop(w);
    assert!(l.try_write_arc_for(T).is_some() && l.try_write_arc_until(soon()).is_some());
    let u = l.upgradable_read_arc();
    let w = ArcRwLockUpgradableReadGuard::upgrade(u);
    drop(ArcRwLockWriteGuard::into_arc_fair(w));
    let r = ArcRwLockUpgradableReadGuard::downgrade(l.try_upgradable_read_arc().unwrap());
    drop(r);
    assert!(l.try_upgradable_read_arc_for(T).is_some() && l.try_upgradable_read_arc_until(soon()).is_some());
    assert_eq!(*l.read(), 2);
}

#[cfg(feature = "serde")]
#[test]
fn serde_impls_exist_both_ways() {
    fn both<T: serde::Serialize + for<'de> serde::Deserialize<'de>>() {}
    both::<Mutex<i32>>();
    both::<FairMutex<i32>>();
    both::<RwLock<i32>>();
    both::<ReentrantMutex<i32>>();
}

/// With `check` off, the guards are the plain ones (no wrapper, no cost).
#[cfg(not(feature = "check"))]
#[test]
fn check_off_guards_are_parking_lots() {
    fn same<A: 'static, B: 'static>() -> bool {
        std::any::TypeId::of::<A>() == std::any::TypeId::of::<B>()
    }
    assert!(same::<
        MappedMutexGuard<'static, i32>,
        parking_lot::MappedMutexGuard<'static, i32>,
    >());
    assert!(same::<
        FairMutexGuard<'static, i32>,
        parking_lot::FairMutexGuard<'static, i32>,
    >());
    assert!(same::<
        RwLockUpgradableReadGuard<'static, i32>,
        parking_lot::RwLockUpgradableReadGuard<'static, i32>,
    >());
    assert!(same::<
        MappedRwLockWriteGuard<'static, i32>,
        parking_lot::MappedRwLockWriteGuard<'static, i32>,
    >());
    assert!(same::<
        ReentrantMutexGuard<'static, i32>,
        parking_lot::ReentrantMutexGuard<'static, i32>,
    >());
    assert_eq!(
        std::mem::size_of::<RwLock<u64>>(),
        std::mem::size_of::<parking_lot::RwLock<u64>>()
    );
    assert_eq!(
        std::mem::size_of::<ReentrantMutex<u64>>(),
        std::mem::size_of::<parking_lot::ReentrantMutex<u64>>()
    );
    assert_eq!(
        std::mem::size_of::<FairMutex<u64>>(),
        std::mem::size_of::<parking_lot::FairMutex<u64>>()
    );
}

#[test]
fn spin_guards_leak_both_ways() {
    let s: &'static lockdep::SpinLock<i32> = Box::leak(Box::new(lockdep::SpinLock::new(1)));
    *lockdep::SpinLockGuard::leak(s.lock()) += 1;
    assert!(s.is_locked());
    let r: &'static lockdep::RawSpinLock<i32> = Box::leak(Box::new(lockdep::RawSpinLock::new(1)));
    *lockdep::RawSpinLockGuard::leak(r.lock()) += 1;
    let rw: &'static lockdep::RwSpinLock<i32> = Box::leak(Box::new(lockdep::RwSpinLock::new(1)));
    assert_eq!(*lockdep::RwSpinLockReadGuard::leak(rw.read()), 1);
    let rw2: &'static lockdep::RwSpinLock<i32> = Box::leak(Box::new(lockdep::RwSpinLock::new(1)));
    *lockdep::RwSpinLockWriteGuard::leak(rw2.write()) += 1;
    assert!(
        !lockdep::in_atomic(),
        "leaked spinning locks are forgotten by the validator"
    );
}

#[test]
fn once_states_and_calls() {
    static O: Once = Once::new();
    assert_eq!(O.state(), OnceState::New);
    let mut runs = 0;
    O.call_once(|| runs += 1);
    O.call_once(|| runs += 1);
    assert_eq!(runs, 1);
    assert!(O.state().done() && !O.state().poisoned());
    let poisoned = Once::default();
    let r = std::panic::catch_unwind(|| poisoned.call_once(|| panic!("first call fails")));
    assert!(r.is_err());
    assert!(poisoned.state().poisoned());
    let mut saw = None;
    poisoned.call_once_force(|s| saw = Some(s.poisoned()));
    assert_eq!(saw, Some(true));
    assert!(poisoned.state().done());
    assert!(format!("{O:?}").contains("Once"));
}
