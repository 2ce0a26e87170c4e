//! With the `check` feature off the lock types are the plain locks: same size, and the
//! guards are the plain guards, with the plain guards' auto traits. With it on, the same code
//! compiles and validates, and every guard is `!Send` (the thread that took a lock releases it).

#[cfg(not(feature = "check"))]
use lockdep::Condvar;
use lockdep::{LockClass, Mutex, RawSpinLock, RwLock, RwSpinLock, SpinLock};
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
    assert_eq!(size_of::<RwSpinLock<u64>>(), size_of::<spin::RwLock<u64>>());
    assert_eq!(size_of::<Condvar>(), size_of::<parking_lot::Condvar>());
    // The guards are the plain guards, not wrappers.
    let m = Mutex::new(1u64);
    let g: parking_lot::MutexGuard<'_, u64> = m.lock();
    drop(g);
    let r = RwLock::new(1u64);
    let g: parking_lot::RwLockReadGuard<'_, u64> = r.read();
    drop(g);
    let r = RwSpinLock::new(1u64);
    let g: spin::rwlock::RwLockReadGuard<'_, u64> = r.read();
    drop(g);
    let g: spin::rwlock::RwLockWriteGuard<'_, u64> = r.write();
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
    let rs = RwSpinLock::with_class(4, &NAMED);
    {
        let _a = rs.read();
        let _b = rs.try_read().expect("readers share");
        assert!(rs.try_write().is_none());
        assert!(rs.is_locked());
    }
    *rs.write() += 1;
    assert!(rs.try_write().is_some());
    assert!(!rs.is_locked());
    assert_eq!(rs.into_inner(), 5);
    let mut g = m_default().lock();
    *g += 1;
}

fn m_default() -> &'static Mutex<u8> {
    static D: std::sync::OnceLock<Mutex<u8>> = std::sync::OnceLock::new();
    D.get_or_init(Mutex::default)
}

/// Whether a type is `Send`, decided at compile time and usable as a value: method lookup tries
/// the by-value receiver (the `Send` impl) before the auto-referenced one (the fallback).
struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
trait SendProbe {
    fn is_send(&self) -> bool {
        true
    }
}
impl<T: ?Sized + Send> SendProbe for Probe<T> {}
trait FallbackProbe {
    fn is_send(&self) -> bool {
        false
    }
}
impl<T: ?Sized> FallbackProbe for &Probe<T> {}
macro_rules! is_send {
    ($t:ty) => {
        (&Probe::<$t>(std::marker::PhantomData)).is_send()
    };
}

/// Send and Sync of every public type: the locks are shared between threads; with `check` the
/// guards and scopes stay on their thread, without it the guards are exactly as `Send` as the
/// plain guards (spin's are, parking_lot's are unless its `send_guard` feature is on).
#[test]
fn bounds() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Mutex<u8>>();
    send_sync::<RwLock<u8>>();
    send_sync::<SpinLock<u8>>();
    send_sync::<RawSpinLock<u8>>();
    send_sync::<RwSpinLock<u8>>();
    send_sync::<lockdep::Condvar>();
    send_sync::<lockdep::LockMap>();
    send_sync::<lockdep::Srcu>();
    send_sync::<lockdep::WwMutex<u8>>();
    send_sync::<LockClass>();
    send_sync::<lockdep::Report>();

    // A guard may be read through from another thread (shared), whatever the build.
    fn sync<T: Sync>() {}
    sync::<lockdep::MutexGuard<'static, u8>>();
    sync::<lockdep::RwLockReadGuard<'static, u8>>();
    sync::<lockdep::RwLockWriteGuard<'static, u8>>();
    sync::<lockdep::SpinLockGuard<'static, u8>>();
    sync::<lockdep::RawSpinLockGuard<'static, u8>>();
    sync::<lockdep::RwSpinLockReadGuard<'static, u8>>();
    sync::<lockdep::RwSpinLockWriteGuard<'static, u8>>();

    let parking_lot_guards = [
        is_send!(lockdep::MutexGuard<'static, u8>),
        is_send!(lockdep::RwLockReadGuard<'static, u8>),
        is_send!(lockdep::RwLockWriteGuard<'static, u8>),
    ];
    let spin_guards = [
        is_send!(lockdep::SpinLockGuard<'static, u8>),
        is_send!(lockdep::RawSpinLockGuard<'static, u8>),
        is_send!(lockdep::RwSpinLockReadGuard<'static, u8>),
        is_send!(lockdep::RwSpinLockWriteGuard<'static, u8>),
    ];
    // Never `Send` in either build: they carry a thread-bound marker of their own.
    let own_guards = [
        is_send!(lockdep::LockMapGuard<'static>),
        is_send!(lockdep::SrcuReadGuard<'static>),
        is_send!(lockdep::WwMutexGuard<'static, u8>),
        is_send!(lockdep::WwAcquireCtx),
        is_send!(lockdep::ContextScope),
        is_send!(lockdep::SyscallScope),
    ];
    assert_eq!(own_guards, [false; 6]);
    if lockdep::ENABLED {
        assert_eq!(parking_lot_guards, [false; 3]);
        assert_eq!(spin_guards, [false; 4]);
    } else {
        let plain = is_send!(parking_lot::MutexGuard<'static, u8>);
        assert_eq!(parking_lot_guards, [plain; 3]);
        assert_eq!(spin_guards, [true; 4]);
    }
    // The probe itself tells the two apart.
    assert!(is_send!(u8) && !is_send!(*const u8));
}

/// Without `lock-stat` no hold or contention is measured (no clock is read on the lock path:
/// the code is not built), so the statistics stay empty however locks are used; the lock and
/// guard sizes above are the same with it, since hold starts live in a per-thread table.
#[cfg(not(feature = "lock-stat"))]
#[test]
fn without_lock_stat_nothing_is_measured() {
    let m = Mutex::new(0u32);
    for _ in 0..3 {
        *m.lock() += 1;
    }
    std::thread::scope(|s| {
        s.spawn(|| *m.lock() += 1);
        *m.lock() += 1;
    });
    assert_eq!(lockdep::lock_stats(), Vec::new());
}
