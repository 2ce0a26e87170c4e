//! Golden text and JSON of every report kind, each produced by a minimal real program, and
//! every JSON document validated against `lockdep/schema/report.schema.json`.
//!
//! The goldens live in `tests/golden/<kind>.txt` and `tests/golden/<kind>.json`
//! (`LOCKDEP_BLESS=1` rewrites them). What varies between runs is normalised: addresses,
//! thread ids, positions in test files, stack frames and the signature hash (its stability is
//! tested by the report-directory tests). The capacity kinds fill process-wide tables, so they
//! are in `tests/report_golden_capacity.rs`.

use lockdep::{
    LockClass, LockMap, Mutex, RawSpinLock, ReportKind, RwLock, SpinLock, Srcu, WwAcquireCtx, WwClass,
    WwMutex,
};
use lockdep_suite::serial;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

static CLASS_A: LockClass = LockClass::new("class_a");
static CLASS_B: LockClass = LockClass::new("class_b");
static CLASS_C: LockClass = LockClass::new("class_c");
// A class takes the lock kind of its first lock, and rules stay for the process: the tests
// that need spinning locks or a rule have classes of their own.
static SPIN_A: LockClass = LockClass::new("spin_a");
static SPIN_B: LockClass = LockClass::new("spin_b");
static RAW_A: LockClass = LockClass::new("raw_a");
static OUTER: LockClass = LockClass::new("outer");
static INNER: LockClass = LockClass::new("inner");

/// Runs `scenario` on a thread named `golden` and checks the first report of `kind` it made
/// against the goldens.
fn check(kind: ReportKind, scenario: impl FnOnce() + Send) {
    let _s = serial();
    let reports = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("golden".into())
            .spawn_scoped(s, || {
                scenario();
                lockdep::take_reports()
            })
            .unwrap()
            .join()
            .unwrap()
    });
    let r = reports.iter().find(|r| r.kind() == kind).unwrap_or_else(|| {
        panic!(
            "no {kind:?} among {:?}",
            reports.iter().map(|r| r.kind()).collect::<Vec<_>>()
        )
    });
    lockdep_suite::check_report(r);
}

fn nest<T, U>(a: &Mutex<T>, b: &Mutex<U>) {
    let _a = a.lock();
    let _b = b.lock();
}

#[test]
fn circular_dependency() {
    check(ReportKind::CircularDependency, || {
        let a = Mutex::with_class((), &CLASS_A);
        let b = Mutex::with_class((), &CLASS_B);
        let c = Mutex::with_class((), &CLASS_C);
        nest(&a, &b);
        nest(&b, &c);
        nest(&c, &a);
    });
}

#[test]
fn recursive_locking() {
    check(ReportKind::RecursiveLocking, || {
        let (a1, a2) = (Mutex::with_class((), &CLASS_A), Mutex::with_class((), &CLASS_A));
        nest(&a1, &a2);
    });
}

#[test]
fn bad_unlock() {
    check(ReportKind::BadUnlock, || {
        let a = Mutex::with_class((), &CLASS_A);
        // SAFETY: the validator refuses the unbalanced unlock before it reaches the lock.
        unsafe { a.force_unlock() };
    });
}

#[test]
fn held_lock_freed() {
    check(ReportKind::HeldLockFreed, || {
        let a = Box::new(SpinLock::with_class((), &SPIN_A));
        std::mem::forget(a.lock());
        drop(a);
    });
}

#[test]
fn locks_held_at_exit() {
    let _s = serial();
    let a = std::sync::Arc::new(Mutex::with_class((), &CLASS_A));
    let a2 = a.clone();
    std::thread::Builder::new()
        .name("golden".into())
        .spawn(move || std::mem::forget(a2.lock()))
        .unwrap()
        .join()
        .unwrap();
    let r = lockdep::take_reports();
    lockdep_suite::check_report(
        r.iter()
            .find(|r| r.kind() == ReportKind::LocksHeldAtExit)
            .unwrap(),
    );
}

#[test]
fn max_lock_depth() {
    check(ReportKind::MaxLockDepth, || {
        let classes: Vec<&'static LockClass> = (0..=lockdep::MAX_LOCK_DEPTH)
            .map(|i| LockClass::register(format!("depth_{i}")))
            .collect();
        let locks: Vec<SpinLock<()>> = classes.iter().map(|c| SpinLock::with_class((), c)).collect();
        let _guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
    });
}

#[test]
fn invalid_subclass() {
    check(ReportKind::InvalidSubclass, || {
        let a = Mutex::with_class((), &CLASS_A);
        drop(a.lock_nested(12));
    });
}

#[test]
fn invalid_wait_context() {
    check(ReportKind::InvalidWaitContext, || {
        let s = SpinLock::with_class((), &SPIN_A);
        let m = Mutex::with_class((), &CLASS_A);
        let _s = s.lock();
        drop(m.lock());
    });
}

#[test]
fn sleep_in_atomic() {
    check(ReportKind::SleepInAtomic, || {
        let s = SpinLock::with_class((), &SPIN_A);
        let m = Mutex::with_class((), &CLASS_A);
        let _s = s.lock();
        drop(m.lock());
    });
}

#[test]
fn inconsistent_lock_state() {
    check(ReportKind::InconsistentLockState, || {
        let s = SpinLock::with_class((), &SPIN_A);
        {
            let _irq = lockdep::irq_context();
            drop(s.lock());
        }
        drop(s.lock()); // with interrupts enabled
    });
}

#[test]
fn irq_lock_inversion() {
    check(ReportKind::IrqLockInversion, || {
        let (a, b) = (
            SpinLock::with_class((), &SPIN_A),
            SpinLock::with_class((), &SPIN_B),
        );
        {
            let _off = lockdep::irqs_disabled();
            let _a = a.lock();
            drop(b.lock()); // a -> b
        }
        {
            let _irq = lockdep::irq_context();
            drop(a.lock()); // a is irq-safe
        }
        drop(b.lock()); // b becomes irq-unsafe, reachable from a
    });
}

#[test]
fn irq_safe_to_unsafe() {
    check(ReportKind::IrqSafeToUnsafe, || {
        let (a, b) = (
            SpinLock::with_class((), &SPIN_A),
            SpinLock::with_class((), &SPIN_B),
        );
        {
            let _irq = lockdep::irq_context();
            drop(a.lock());
        }
        drop(b.lock());
        let _off = lockdep::irqs_disabled();
        let _a = a.lock();
        drop(b.lock()); // irq-safe a -> irq-unsafe b
    });
}

#[test]
fn nest_lock_not_held() {
    check(ReportKind::NestLockNotHeld, || {
        let x = SpinLock::with_class((), &SPIN_A);
        let n = SpinLock::with_class((), &SPIN_B);
        drop(x.lock_nest_lock(&n));
    });
}

#[test]
fn panic_context() {
    check(ReportKind::PanicContext, || {
        let raw = RawSpinLock::with_class((), &RAW_A);
        let _p = lockdep::panic_context();
        drop(raw.lock());
    });
}

#[test]
fn assertion_failed() {
    check(ReportKind::AssertionFailed, || {
        let a = Mutex::with_class((), &CLASS_A);
        lockdep::assert_held(&a);
    });
}

#[test]
fn forbidden_while_held() {
    check(ReportKind::ForbiddenWhileHeld, || {
        let (a, b) = (Mutex::with_class((), &OUTER), Mutex::with_class((), &INNER));
        lockdep::forbid_nesting(&a, &b, "inner is taken by the reclaim path");
        nest(&a, &b);
    });
}

#[test]
fn held_on_return_to_user() {
    check(ReportKind::HeldOnReturnToUser, || {
        let a = Mutex::with_class((), &CLASS_A);
        let _a = a.lock();
        lockdep::return_to_user();
    });
}

#[test]
fn suspicious_rcu_usage() {
    static DOMAIN: Srcu = Srcu::new("golden_srcu");
    check(ReportKind::SuspiciousRcuUsage, || {
        let _r = DOMAIN.read_lock();
        let _ = catch_unwind(AssertUnwindSafe(|| DOMAIN.synchronize()));
    });
}

#[test]
fn ww_misuse() {
    static WW: WwClass = WwClass::wait_die("golden_ww");
    check(ReportKind::WwMisuse, || {
        let w = WwMutex::new((), &WW);
        let ctx = WwAcquireCtx::new(&WW);
        ctx.done();
        drop(w.lock(&ctx));
    });
}

#[test]
fn class_kind_mismatch() {
    static SHARED: LockClass = LockClass::new("shared_by_two_kinds");
    check(ReportKind::ClassKindMismatch, || {
        drop(Mutex::with_class((), &SHARED).lock());
        drop(SpinLock::with_class((), &SHARED).lock());
    });
}

#[test]
fn circular_dependency_through_a_fence_map_names_the_rule() {
    static FENCE: LockMap = LockMap::new("dma_fence_map");
    static STATE: LockClass = LockClass::new("fence_state");
    let _s = serial();
    let state = RwLock::with_class((), &STATE);
    {
        let _signalling = FENCE.try_read();
        drop(state.write());
    }
    let _g = state.write();
    FENCE.sync();
    drop(_g);
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:?}");
    let hint = r[0].hint().expect("a hint for dma_fence_map");
    assert!(
        hint.starts_with("fence wait inside a dma_fence signalling section"),
        "{hint}"
    );
    assert!(r[0].to_string().contains(&format!("hint: {hint}")));
    assert_eq!(
        serde_json::from_str::<Value>(&r[0].to_json()).unwrap()["hint"],
        hint
    );
}

#[test]
fn a_registered_hint_names_a_programs_own_rule() {
    static SUBMIT: LockMap = LockMap::new("golden_submit_map");
    let _s = serial();
    lockdep::register_hint("golden_submit_map", "allocation inside the job submission path");
    let a = Mutex::with_class((), &CLASS_A);
    {
        let _m = SUBMIT.try_read();
        drop(a.lock());
    }
    let _a = a.lock();
    SUBMIT.sync();
    drop(_a);
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].hint().as_deref(),
        Some("allocation inside the job submission path")
    );
    // A report without an annotation class has none.
    let (x, y) = (Mutex::with_class((), &CLASS_B), Mutex::with_class((), &CLASS_C));
    nest(&x, &y);
    nest(&y, &x);
    assert_eq!(lockdep::take_reports()[0].hint(), None);
}

/// Every kind has its golden here or in the capacity binary.
#[test]
fn every_kind_has_a_golden() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let missing: Vec<&str> = ReportKind::ALL
        .iter()
        .map(|k| k.name())
        .filter(|n| !dir.join(format!("{n}.txt")).exists() || !dir.join(format!("{n}.json")).exists())
        .collect();
    assert_eq!(missing, Vec::<&str>::new());
}
