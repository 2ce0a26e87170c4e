//! Correctness on every path: a re-taken lock is reported and panics wherever the acquisition
//! comes from, recursive readers do not hide the locks around them, a report never leaves the
//! graph poorer than if it had not been made, and the smaller checks hold on their edge cases.
//! Each test states the behaviour; its pair (the nearest legitimate pattern) sits beside it.

use lockdep::ReportKind::*;
use lockdep::{LockClass, LockMap, Mutex, RwLock, SpinLock, Srcu, MAX_LOCK_DEPTH};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and fails the test if it has not finished within a few seconds:
/// a silent hang is exactly what some of these tests exist to rule out. Returns whether `f`
/// panicked.
fn finishes(f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let panicked = catch_unwind(AssertUnwindSafe(f)).is_err();
        let _ = tx.send(panicked);
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the acquisition hung instead of being reported")
}

/// Whether the panic of `f` (run on this thread) says the lock would deadlock now.
fn panics_would_deadlock(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(e) => e
            .downcast_ref::<String>()
            .is_some_and(|m| m.contains("would deadlock now")),
    }
}

// ---- A lock re-taken by its holder: reported, then a panic, on every path ----

#[test]
fn retaking_a_held_lock_whose_chain_is_cached_panics_instead_of_hanging() {
    let _s = serial();
    static DIR: LockClass = LockClass::new("correctness_dir");
    // The class chain [dir/1, dir/0] is validated with two other instances...
    let (d1, d2) = (Mutex::with_class((), &DIR), Mutex::with_class((), &DIR));
    drop((d1.lock_nested(1), d2.lock()));
    assert!(kinds().is_empty());
    // ...so the same chain with one instance twice is a cache hit.
    let panicked = finishes(|| {
        let dir = Box::leak(Box::new(Mutex::with_class((), &DIR)));
        let _g = dir.lock_nested(1);
        assert!(panics_would_deadlock(|| drop(dir.lock())));
    });
    assert!(!panicked);
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn retaking_a_held_spinlock_inside_an_irq_handler_panics_instead_of_hanging() {
    let _s = serial();
    let panicked = finishes(|| {
        let s = Box::leak(Box::new(SpinLock::new(())));
        {
            let _irq = lockdep::irq_context();
            drop(s.lock()); // the irq chain [s] is now cached
        }
        let _off = lockdep::irqs_disabled();
        let _g = s.lock();
        let _irq = lockdep::irq_context();
        assert!(panics_would_deadlock(|| drop(s.lock())));
    });
    assert!(!panicked);
    assert!(kinds().contains(&RecursiveLocking));
}

#[test]
fn retaking_a_lock_merged_under_its_nest_lock_panics_instead_of_hanging() {
    let _s = serial();
    let panicked = finishes(|| {
        let n = Box::leak(Box::new(Mutex::new(())));
        let mk = || Mutex::new(());
        let (x, y) = (Box::leak(Box::new(mk())), Box::leak(Box::new(mk())));
        let _n = n.lock();
        let _x = x.lock_nest_lock(&*n);
        let _y = y.lock_nest_lock(&*n); // merged into x's entry
        assert!(panics_would_deadlock(|| drop(y.lock_nest_lock(&*n))));
        assert!(panics_would_deadlock(|| drop(x.lock_nest_lock(&*n))));
    });
    assert!(!panicked);
    assert_eq!(kinds(), vec![RecursiveLocking]);
}

#[test]
fn retaking_a_ww_mutex_locked_without_a_context_panics_instead_of_hanging() {
    let _s = serial();
    static WW: lockdep::WwClass = lockdep::WwClass::wait_die("correctness_ww");
    let panicked = finishes(|| {
        let (w, other) = (
            Box::leak(Box::new(lockdep::WwMutex::new((), &WW))),
            lockdep::WwMutex::new((), &WW),
        );
        {
            let _irq = lockdep::irq_context();
            drop(other.lock_noctx()); // the irq chain [ww] is now cached (and reported)
        }
        let _g = w.lock_noctx();
        let _irq = lockdep::irq_context();
        assert!(panics_would_deadlock(|| drop(w.lock_noctx())));
    });
    assert!(!panicked);
    assert!(kinds().contains(&RecursiveLocking));
}

#[test]
fn a_lock_held_by_another_thread_is_waited_for_not_reported() {
    let _s = serial();
    let m = std::sync::Arc::new(Mutex::new(0));
    let mk = || Mutex::new(());
    let (n, x) = (std::sync::Arc::new(Mutex::new(())), std::sync::Arc::new(mk()));
    let (m2, n2, x2) = (m.clone(), n.clone(), x.clone());
    let (held_tx, held_rx) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let _g = m2.lock();
        let _n = n2.lock();
        let _x = x2.lock_nest_lock(&*n2);
        held_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    });
    held_rx.recv().unwrap();
    // Both acquisitions find their lock taken (the try fails) and block until it is free.
    *m.lock() += 1;
    let _n = n.lock();
    drop(x.lock_nest_lock(&*n));
    holder.join().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn two_locks_of_one_class_under_their_nest_lock_are_not_a_retake() {
    let _s = serial();
    let n = Mutex::new(());
    let mk = || Mutex::new(());
    let (x, y, z) = (mk(), mk(), mk());
    let _n = n.lock();
    let _x = x.lock_nest_lock(&n);
    let gy = y.lock_nest_lock(&n);
    drop(gy);
    let _y = y.lock_nest_lock(&n); // released, so taking it again is fine
    let _z = z.lock_nest_lock(&n);
    assert!(kinds().is_empty());
}

// ---- Recursive readers do not hide the locks around them ----

/// Takes `a`, then the recursive reader `r`, then `c`; then `c` before `a` (fresh classes for
/// `a` and `c` on each call).
fn outer_reader_inner_then_inverse(r: &dyn Fn() -> Box<dyn std::any::Any>) -> Vec<lockdep::ReportKind> {
    let a = Mutex::with_class((), LockClass::register("correctness_rr_a"));
    let c = Mutex::with_class((), LockClass::register("correctness_rr_c"));
    {
        let _a = a.lock();
        let _r = r();
        let _c = c.lock();
    }
    assert!(kinds().is_empty());
    {
        let _c = c.lock();
        let _a = a.lock();
    }
    kinds()
}

#[test]
fn a_recursive_reader_held_in_between_does_not_hide_the_outer_lock() {
    let _s = serial();
    static RW: RwLock<()> = RwLock::new(());
    static MAP: LockMap = LockMap::new("correctness_rr_map");
    static DOM: Srcu = Srcu::new("correctness_rr_srcu");
    assert_eq!(
        outer_reader_inner_then_inverse(&|| Box::new(RW.read_recursive())),
        vec![CircularDependency]
    );
    assert_eq!(
        outer_reader_inner_then_inverse(&|| Box::new(MAP.read_recursive())),
        vec![CircularDependency]
    );
    assert_eq!(
        outer_reader_inner_then_inverse(&|| Box::new(DOM.read_lock())),
        vec![CircularDependency]
    );
}

#[test]
fn the_inner_lock_before_the_recursive_reader_alone_is_still_no_cycle() {
    let _s = serial();
    static MAP: LockMap = LockMap::new("correctness_rr_map_ok");
    let (a, c) = (Mutex::new(()), Mutex::new(()));
    {
        let _a = a.lock();
        let _r = MAP.read_recursive();
        let _c = c.lock();
    }
    {
        // c -> R(recursive) -> ... -> c is only a weak cycle: recursive readers never wait
        // for each other.
        let _c = c.lock();
        let _r = MAP.read_recursive();
    }
    assert!(kinds().is_empty());
}

// ---- A report never leaves the graph poorer ----

#[test]
fn an_irq_safe_to_unsafe_report_still_records_the_dependency() {
    let _s = serial();
    let (safe, unsafe_) = (SpinLock::new(()), SpinLock::new(()));
    {
        let _irq = lockdep::irq_context();
        drop(safe.lock());
    }
    drop(unsafe_.lock()); // irqs on: unsafe_ is hardirq-unsafe
    {
        let _off = lockdep::irqs_disabled();
        let _s = safe.lock();
        let _u = unsafe_.lock();
    }
    assert_eq!(kinds(), vec![IrqSafeToUnsafe]);
    {
        let _off = lockdep::irqs_disabled();
        let _u = unsafe_.lock();
        let _s = safe.lock(); // closes safe -> unsafe_ -> safe
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn a_reported_cycle_over_an_edge_of_another_kind_still_adds_the_new_kind() {
    let _s = serial();
    static P: LockMap = LockMap::new("correctness_kind_p");
    static N: LockMap = LockMap::new("correctness_kind_n");
    static Q: LockMap = LockMap::new("correctness_kind_q");
    drop((P.read(), N.read_recursive())); // P -(SR)-> N
    drop((N.lock(), P.lock())); // N -(EN)-> P: a strong cycle with P -(SR)-> N
    assert_eq!(kinds(), vec![CircularDependency]);
    drop((P.lock(), N.lock())); // P -(EN)-> N: the same cycle, not reported again
    assert!(kinds().is_empty());
    drop((N.read(), Q.lock())); // N -(SN)-> Q
    assert!(kinds().is_empty());
    // Q -> P closes P -(EN)-> N -(SN)-> Q -> P, strong only through the EN kind of P -> N.
    drop((Q.lock(), P.lock()));
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn an_acquisition_reported_as_recursive_still_records_its_other_dependencies() {
    let _s = serial();
    static E: LockClass = LockClass::new("correctness_e");
    let (e0, e1) = (RwLock::with_class((), &E), RwLock::with_class((), &E));
    let c1 = Mutex::new(());
    let _r = e1.read();
    let _c = c1.lock(); // E -> C
    let _w = e0.write(); // E again (recursion), and C -> E (a cycle)
    assert_eq!(kinds(), vec![RecursiveLocking, CircularDependency]);
}

#[test]
fn an_out_of_order_release_does_not_make_a_lost_dependency_permanent() {
    let _s = serial();
    let (a, b, c) = (SpinLock::new(()), SpinLock::new(()), SpinLock::new(()));
    {
        let _irq = lockdep::irq_context();
        drop(b.lock()); // b is hardirq-safe
    }
    drop(c.lock()); // c is hardirq-unsafe
    {
        let _off = lockdep::irqs_disabled();
        let ga = a.lock();
        let gb = b.lock();
        let gc = c.lock(); // b -> c: reported, and recorded all the same
        drop(gb); // out of order: c now sits directly on a
        drop(gc);
        drop(ga);
    }
    assert_eq!(kinds(), vec![IrqSafeToUnsafe]);
    {
        let _off = lockdep::irqs_disabled();
        let _c = c.lock();
        let _a = a.lock(); // closes a -> b -> c -> a
    }
    assert_eq!(kinds(), vec![CircularDependency]);
}

// ---- Smaller checks on their edge cases ----

#[test]
fn nest_lock_not_held_is_reported_when_the_lock_merges_into_the_top_entry() {
    let _s = serial();
    let (n1, n2) = (Mutex::new(()), Mutex::new(()));
    let mk = || Mutex::new(());
    let (x1, x2) = (mk(), mk());
    let _n = n1.lock();
    let _x1 = x1.lock_nest_lock(&n1);
    let _x2 = x2.lock_nest_lock(&n2); // merges into x1's entry; n2 is not held
    assert_eq!(kinds(), vec![NestLockNotHeld]);
}

#[test]
fn a_lock_of_a_merged_class_that_was_never_taken_is_not_held() {
    let _s = serial();
    let n = Mutex::new(());
    let mk = || Mutex::new(());
    let (x1, x2, x3) = (mk(), mk(), mk());
    let _n = n.lock();
    let _x1 = x1.lock_nest_lock(&n);
    let _x2 = x2.lock_nest_lock(&n); // merged into x1's entry
    lockdep::assert_held(&x2);
    lockdep::assert_not_held(&x3);
    assert!(kinds().is_empty());
    // SAFETY: x3 is not held, so with the validator on this is reported and the plain lock is
    // left alone.
    unsafe { x3.force_unlock() };
    assert_eq!(kinds(), vec![BadUnlock]);
    lockdep::assert_held(&x2); // the merged lock is still accounted for
    assert!(kinds().is_empty());
}

#[test]
fn a_double_unlock_while_the_held_stack_overflowed_is_still_reported() {
    let _s = serial();
    static LEVEL: [LockClass; MAX_LOCK_DEPTH + 1] =
        [const { LockClass::new("correctness_level") }; MAX_LOCK_DEPTH + 1];
    let locks: Vec<Mutex<()>> = LEVEL.iter().map(|c| Mutex::with_class((), c)).collect();
    let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect(); // the last one overflows
    assert_eq!(kinds(), vec![MaxLockDepth]);
    let other = Mutex::new(());
    // SAFETY: `other` is not held, so with the validator on this is reported and the plain
    // lock is left alone.
    unsafe { other.force_unlock() };
    assert_eq!(kinds(), vec![BadUnlock]);
    drop(guards); // the overflowed lock's own release is expected
    assert!(kinds().is_empty());
}

#[test]
fn a_hardirq_safe_lock_taken_in_a_softirq_without_irqsave_is_reported() {
    let _s = serial();
    let s = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(s.lock());
    }
    {
        let _soft = lockdep::softirq_context();
        let _off = lockdep::irqs_disabled(); // spin_lock_irqsave: fine
        drop(s.lock());
    }
    assert!(kinds().is_empty());
    {
        let _soft = lockdep::softirq_context(); // a real softirq runs with hard irqs on
        drop(s.lock());
    }
    assert_eq!(kinds(), vec![InconsistentLockState]);
}

#[test]
fn forbid_nesting_covers_subclasses_and_trylocks() {
    let _s = serial();
    let class = |name: &str| LockClass::register(format!("correctness_forbid_{name}"));
    let pairs: Vec<(Mutex<()>, Mutex<()>)> = (0..4)
        .map(|i| {
            (
                Mutex::with_class((), class(&format!("outer{i}"))),
                Mutex::with_class((), class(&format!("inner{i}"))),
            )
        })
        .collect();
    let [p0, p1, p2, p3] = &pairs[..] else {
        unreachable!()
    };
    for (outer, inner) in &pairs {
        lockdep::forbid_nesting(outer, inner, "the inner lock waits for the outer one's users");
    }
    drop((p0.0.lock(), p0.1.lock()));
    assert_eq!(kinds(), vec![ForbiddenWhileHeld]);
    drop((p1.0.lock(), p1.1.lock_nested(1)));
    assert_eq!(kinds(), vec![ForbiddenWhileHeld]);
    drop((p2.0.lock_nested(1), p2.1.lock()));
    assert_eq!(kinds(), vec![ForbiddenWhileHeld]);
    drop((p3.0.lock(), p3.1.try_lock()));
    assert_eq!(kinds(), vec![ForbiddenWhileHeld]);
    // The other order is not forbidden.
    drop((p0.1.lock(), p0.0.lock()));
    assert!(!kinds().contains(&ForbiddenWhileHeld));
}

#[test]
fn a_named_class_shared_by_two_lock_kinds_is_reported() {
    let _s = serial();
    static SHARED: LockClass = LockClass::new("correctness_shared_kind");
    static SAME: LockClass = LockClass::new("correctness_shared_same");
    let (m1, m2) = (Mutex::with_class((), &SAME), Mutex::with_class((), &SAME));
    drop(m1.lock());
    drop(m2.lock());
    assert!(kinds().is_empty());
    let m = Mutex::with_class((), &SHARED);
    let s = SpinLock::with_class((), &SHARED);
    drop(m.lock());
    drop(s.lock());
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ClassKindMismatch);
    let text = r[0].to_string();
    assert!(text.contains("mutex") && text.contains("spinlock"), "{text}");
}
