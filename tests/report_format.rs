//! Golden tests of the report text (`tests/golden/*.txt`, rewritten with `LOCKDEP_BLESS=1`).
//! Addresses, thread ids, source positions and stack frames change from build to build, so
//! they are normalised before comparing ([`lockdep_suite::normalise_report`]).

use lockdep::{LockClass, Mutex, ReportKind, RwLock};
use lockdep_suite::serial;

static LOCK_A: LockClass = LockClass::new("lock_A");
static LOCK_B: LockClass = LockClass::new("lock_B");
static LOCK_C: LockClass = LockClass::new("lock_C");

#[test]
fn circular_report_text() {
    let _s = serial();
    let text = std::thread::Builder::new()
        .name("golden-abc".into())
        .spawn(|| {
            let a = Mutex::with_class((), &LOCK_A);
            let b = Mutex::with_class((), &LOCK_B);
            let c = RwLock::with_class((), &LOCK_C);
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            {
                let _b = b.lock();
                let _c = c.read();
            }
            let _c = c.read();
            let _a = a.lock();
            let r = lockdep::take_reports();
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].kind(), ReportKind::CircularDependency);
            // Every dependency and the current acquisition carry a stack from this test.
            for d in r[0].dependencies() {
                assert!(
                    d.stack()
                        .frames()
                        .iter()
                        .any(|f| f.function.contains("circular_report_text")),
                    "{}",
                    r[0]
                );
            }
            assert!(
                r[0].stack().frames()[0].function.contains("circular_report_text"),
                "{}",
                r[0]
            );
            r[0].to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    lockdep_suite::golden("format_circular.txt", &lockdep_suite::normalise_report(&text));
}

#[test]
fn recursive_report_text() {
    let _s = serial();
    let text = std::thread::Builder::new()
        .name("golden-aa".into())
        .spawn(|| {
            let a1 = Mutex::with_class((), &LOCK_A);
            let a2 = Mutex::with_class((), &LOCK_A);
            let _g1 = a1.lock();
            let _g2 = a2.lock();
            lockdep::take_reports().remove(0).to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    lockdep_suite::golden("format_recursive.txt", &lockdep_suite::normalise_report(&text));
}

#[test]
fn bad_unlock_report_text() {
    let _s = serial();
    let text = std::thread::Builder::new()
        .name("golden-unlock".into())
        .spawn(|| {
            let b = Mutex::with_class((), &LOCK_B);
            // SAFETY: the validator refuses the unbalanced unlock before it reaches the lock.
            unsafe { b.force_unlock() };
            assert!(!b.is_locked());
            lockdep::take_reports().remove(0).to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    lockdep_suite::golden("format_bad_unlock.txt", &lockdep_suite::normalise_report(&text));
}

#[test]
fn headline_is_the_first_line_for_every_kind() {
    use lockdep::{LockMap, RawSpinLock, SpinLock, Srcu, WwAcquireCtx, WwClass, WwMutex};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    static MAP: LockMap = LockMap::new("headline_map");
    static DOM: Srcu = Srcu::new("headline_srcu");
    static WW: WwClass = WwClass::wait_die("headline_ww");
    let _s = serial();
    // One of (nearly) every kind.
    let (a, b) = (Mutex::new(()), Mutex::new(()));
    drop((a.lock(), b.lock()));
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    let mk = || Mutex::new(());
    let (x1, x2) = (mk(), mk());
    drop((x1.lock(), x2.lock()));
    unsafe { a.force_unlock() };
    let (s, m) = (SpinLock::new(()), Mutex::new(()));
    {
        let _s = s.lock();
        drop(m.lock());
    }
    {
        let _irq = lockdep::irq_context();
        drop(s.lock());
    }
    let raw = RawSpinLock::new(());
    {
        let _p = lockdep::panic_context();
        drop(raw.lock());
    }
    lockdep::assert_held(&m);
    {
        let _r = MAP.read_recursive();
        lockdep::return_to_user();
    }
    {
        let _r = DOM.read_lock();
        let _ = catch_unwind(AssertUnwindSafe(|| DOM.synchronize()));
    }
    {
        let w = WwMutex::new((), &WW);
        let ctx = WwAcquireCtx::new(&WW);
        ctx.done();
        drop(w.lock(&ctx));
    }
    drop(m.lock_nested(12));
    let r = lockdep::take_reports();
    let kinds: std::collections::BTreeSet<_> = r.iter().map(|r| r.kind()).collect();
    assert!(kinds.len() >= 12, "{kinds:?}");
    for r in &r {
        let text = r.to_string();
        assert_eq!(text.lines().next().unwrap(), r.headline(), "{text}");
        assert_eq!(
            text.lines().nth(1).unwrap().len(),
            r.headline().chars().count(),
            "the bar under {}",
            r.headline()
        );
        assert!(text.contains("stack backtrace:"), "{text}");
        match r.kind() {
            ReportKind::IrqSafeToUnsafe
            | ReportKind::LocksHeldAtExit
            | ReportKind::InvalidSubclass
            | ReportKind::AssertionFailed => {}
            k => assert_eq!(r.headline(), k.headline()),
        }
    }
}
