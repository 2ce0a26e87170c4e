//! With the `check` feature off the lock types are the plain locks: same size, and the
//! guards are the plain guards. With it on, the same code compiles and validates.

#[cfg(not(feature = "check"))]
use lockdep::Condvar;
use lockdep::{LockClass, Mutex, RawSpinLock, RwLock, SpinLock};
use std::mem::size_of;

static NAMED: LockClass = LockClass::new("named");
static STATIC_LOCK: Mutex<u32> = Mutex::new(7);
static STATIC_NAMED: SpinLock<u32> = SpinLock::with_class(1, &NAMED);

#[cfg(not(feature = "check"))]
#[test]
fn feature_off_types_are_the_plain_locks() {
    assert_eq!(size_of::<Mutex<u64>>(), size_of::<parking_lot::Mutex<u64>>());
    assert_eq!(size_of::<RwLock<u64>>(), size_of::<parking_lot::RwLock<u64>>());
    assert_eq!(
        size_of::<SpinLock<u64>>(),
        size_of::<spin::mutex::SpinMutex<u64>>()
    );
    assert_eq!(
        size_of::<RawSpinLock<u64>>(),
        size_of::<spin::mutex::SpinMutex<u64>>()
    );
    assert_eq!(size_of::<Condvar>(), size_of::<parking_lot::Condvar>());
    // The guards are the plain guards, not wrappers.
    let m = Mutex::new(1u64);
    let g: parking_lot::MutexGuard<'_, u64> = m.lock();
    drop(g);
    let r = RwLock::new(1u64);
    let g: parking_lot::RwLockReadGuard<'_, u64> = r.read();
    drop(g);
    const { assert!(!lockdep::ENABLED) };
    assert!(lockdep::take_reports().is_empty());
}

#[cfg(feature = "check")]
#[test]
fn feature_on_adds_only_a_small_record() {
    // The validator record: class key (up to three words), wait types and two cached class
    // ids — the size of the kernel's `lockdep_map`.
    assert!(size_of::<Mutex<u64>>() <= size_of::<parking_lot::Mutex<u64>>() + 40);
    const { assert!(lockdep::ENABLED) };
}

#[test]
fn the_api_is_the_same_in_both_builds() {
    assert_eq!(*STATIC_LOCK.lock(), 7);
    assert_eq!(*STATIC_NAMED.lock(), 1);
    let m = Mutex::new(0);
    *m.lock() += 1;
    assert!(m.try_lock().is_some());
    *m.lock_nested(1) += 1;
    assert_eq!(m.into_inner(), 2);
    let l = RwLock::with_class(0, &NAMED);
    {
        let _a = l.read();
    }
    {
        let _a = l.read_recursive();
        let _b = l.try_read_recursive().expect("recursive readers share");
    }
    *l.write() += 1;
    assert!(l.try_write().is_some());
    assert_eq!(*l.read(), 1);
    let s = RawSpinLock::new(3);
    assert_eq!(*s.try_lock().unwrap(), 3);
    let mut g = m_default().lock();
    *g += 1;
}

fn m_default() -> &'static Mutex<u8> {
    static D: std::sync::OnceLock<Mutex<u8>> = std::sync::OnceLock::new();
    D.get_or_init(Mutex::default)
}
