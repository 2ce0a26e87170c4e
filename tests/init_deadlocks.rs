//! Initialisation as a lock: `stdsync::{Once, OnceLock, LazyLock}` take part in the graph
//! while they initialise, and only then. Each case comes with the nearest legitimate pattern.
//!
//! A class of cells is one creation site, so per-object cells made in one place (the
//! `Obj::new` below) are one class: one object's initialiser taking `L` and another object's
//! `get_or_init` under `L` is the inversion a run can see.

use lockdep::stdsync::{LazyLock, Mutex, Once, OnceLock};
use lockdep::ReportKind::{CircularDependency, InvalidWaitContext, RecursiveLocking, SleepInAtomic};
use lockdep::{ReportKind, SpinLock};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// An object with a lazily computed field: every `Obj`'s cell is one class.
struct Obj {
    cached: OnceLock<u32>,
}

impl Obj {
    fn new() -> Obj {
        Obj {
            cached: OnceLock::new(),
        }
    }
}

fn lazy_obj(f: fn() -> u32) -> LazyLock<u32> {
    LazyLock::new(f)
}

fn once_obj() -> Once {
    Once::new()
}

static L: Mutex<u32> = Mutex::new(0);

#[test]
fn oncelock_initialiser_taking_a_lock_held_around_get_or_init_elsewhere_is_a_cycle() {
    let _s = serial();
    let (a, b) = (Obj::new(), Obj::new());
    a.cached.get_or_init(|| *L.lock().unwrap()); // cell -> L
    {
        let _l = L.lock().unwrap();
        b.cached.get_or_init(|| 1); // L -> cell
    }
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn oncelock_read_initialised_under_the_lock_is_no_dependency() {
    let _s = serial();
    let a = Obj::new();
    a.cached.get_or_init(|| *L.lock().unwrap()); // cell -> L
    let _l = L.lock().unwrap();
    assert_eq!(a.cached.get_or_init(|| 2), &0); // initialised: no wait, nothing recorded
    assert_eq!(a.cached.wait(), &0);
    assert_eq!(a.cached.set(3), Err(3));
    assert_eq!(kinds(), []);
}

#[test]
fn oncelock_initialised_under_the_lock_without_taking_it_is_fine() {
    let _s = serial();
    let (a, b) = (Obj::new(), Obj::new());
    {
        let _l = L.lock().unwrap();
        a.cached.get_or_init(|| 1); // L -> cell
    }
    b.cached.get_or_init(|| 2); // nothing inside
    let _ = b.cached.set(5);
    assert_eq!(kinds(), []);
}

#[test]
fn a_static_cell_closes_a_cycle_through_the_locks_its_initialiser_takes() {
    static CELL: OnceLock<u32> = OnceLock::new();
    static M: Mutex<u32> = Mutex::new(0);
    let _s = serial();
    {
        let _m = M.lock().unwrap();
        drop(L.lock().unwrap()); // M -> L
    }
    let _l = L.lock().unwrap();
    CELL.get_or_init(|| *M.lock().unwrap()); // L -> CELL -> M: closes M -> L
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn oncelock_recursive_initialisation_is_reported_then_panics_instead_of_hanging() {
    let _s = serial();
    let a = Obj::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        a.cached.get_or_init(|| *a.cached.get_or_init(|| 1) + 1)
    }));
    assert!(r.is_err(), "a re-entrant initialisation must panic, not hang");
    assert!(
        a.cached.get().is_none(),
        "the initialiser did not finish: the cell stays empty"
    );
    assert_eq!(kinds(), [RecursiveLocking]);
    // Recovered: the cell initialises normally afterwards, and no hold was left behind.
    assert_eq!(a.cached.get_or_init(|| 7), &7);
    lockdep::assert_none_held();
    assert_eq!(kinds(), []);
}

#[test]
fn oncelock_set_or_wait_from_its_own_initialiser_is_reported() {
    let _s = serial();
    let a = Obj::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        a.cached.get_or_init(|| {
            let _ = a.cached.set(1);
            2
        })
    }));
    assert!(r.is_err());
    assert_eq!(kinds(), [RecursiveLocking]);
    lockdep::reset();
    let b = Obj::new();
    let r = catch_unwind(AssertUnwindSafe(|| b.cached.get_or_init(|| *b.cached.wait())));
    assert!(r.is_err());
    assert_eq!(kinds(), [RecursiveLocking]);
}

#[test]
fn nested_initialisation_of_another_class_is_fine() {
    static INNER: OnceLock<u32> = OnceLock::new();
    let _s = serial();
    let a = Obj::new();
    assert_eq!(a.cached.get_or_init(|| *INNER.get_or_init(|| 4) + 1), &5);
    assert_eq!(kinds(), []);
}

#[test]
fn nested_initialisation_of_the_same_class_is_recursive_locking() {
    let _s = serial();
    let (a, b) = (Obj::new(), Obj::new());
    a.cached.get_or_init(|| *b.cached.get_or_init(|| 1));
    assert_eq!(kinds(), [RecursiveLocking]);
    // Named classes tell the two roles apart (lockdep::WithClass on a cell).
    lockdep::reset();
    use lockdep::WithClass;
    let outer: OnceLock<u32> = WithClass::with_class((), lockdep::static_lock_class!("outer cell"));
    let inner: OnceLock<u32> = WithClass::with_class((), lockdep::static_lock_class!("inner cell"));
    outer.get_or_init(|| *inner.get_or_init(|| 1));
    assert_eq!(kinds(), []);
}

#[test]
fn lazylock_initialiser_taking_a_lock_held_around_force_elsewhere_is_a_cycle() {
    let _s = serial();
    let a = lazy_obj(|| *L.lock().unwrap());
    let b = lazy_obj(|| 1);
    assert_eq!(*a, 0); // cell -> L
    {
        let _l = L.lock().unwrap();
        assert_eq!(*LazyLock::force(&b), 1); // L -> cell
    }
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn lazylock_forced_before_is_no_dependency_under_the_lock() {
    let _s = serial();
    let mut a = lazy_obj(|| *L.lock().unwrap());
    assert_eq!(*a, 0);
    {
        let _l = L.lock().unwrap();
        assert_eq!(*a, 0);
        assert_eq!(LazyLock::get(&a), Some(&0));
    }
    *a += 1; // DerefMut of an initialised value
    assert_eq!(*LazyLock::force_mut(&mut a), 1);
    assert_eq!(kinds(), []);
}

#[test]
fn lazylock_recursive_initialisation_is_reported_then_panics() {
    static SELF_REF: LazyLock<u32> = LazyLock::new(|| *SELF_REF + 1);
    let _s = serial();
    let r = catch_unwind(|| *SELF_REF);
    assert!(r.is_err(), "must panic, not hang");
    assert_eq!(kinds(), [RecursiveLocking]);
    // As std's, a LazyLock whose initialiser panicked is poisoned.
    assert!(catch_unwind(|| *SELF_REF).is_err());
    lockdep::assert_none_held();
}

#[test]
fn once_initialiser_taking_a_lock_held_around_call_once_elsewhere_is_a_cycle() {
    let _s = serial();
    let (a, b) = (once_obj(), once_obj());
    a.call_once(|| drop(L.lock().unwrap()));
    {
        let _l = L.lock().unwrap();
        b.call_once_force(|state| assert!(!state.is_poisoned()));
    }
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn once_completed_is_no_dependency_and_wait_returns() {
    let _s = serial();
    let a = once_obj();
    a.call_once(|| drop(L.lock().unwrap()));
    let _l = L.lock().unwrap();
    a.call_once(|| unreachable!());
    a.wait();
    a.wait_force();
    assert!(a.is_completed());
    assert_eq!(kinds(), []);
}

#[test]
fn once_recursive_call_or_wait_is_reported_then_panics() {
    let _s = serial();
    let a = once_obj();
    let r = catch_unwind(AssertUnwindSafe(|| a.call_once(|| a.call_once(|| ()))));
    assert!(r.is_err());
    assert_eq!(kinds(), [RecursiveLocking]);
    // std poisons a Once whose closure panicked; call_once_force still runs.
    let mut forced = false;
    a.call_once_force(|s| forced = s.is_poisoned());
    assert!(forced);
    lockdep::reset();
    let b = once_obj();
    let r = catch_unwind(AssertUnwindSafe(|| b.call_once(|| b.wait())));
    assert!(r.is_err());
    assert_eq!(kinds(), [RecursiveLocking]);
}

#[test]
fn initialising_in_atomic_context_is_reported_reading_is_not() {
    let _s = serial();
    let spin = SpinLock::new(());
    let a = Obj::new();
    {
        let _g = spin.lock();
        a.cached.get_or_init(|| 1); // may wait for another initialiser: sleeps
    }
    let mut k: Vec<ReportKind> = kinds();
    k.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(k, [InvalidWaitContext, SleepInAtomic]);
    let _g = spin.lock();
    assert_eq!(a.cached.get_or_init(|| 2), &1);
    assert_eq!(kinds(), []);
}

#[test]
fn a_thread_waiting_for_another_threads_initialiser_orders_its_locks_before_the_cell() {
    use std::sync::mpsc;
    let _s = serial();
    let (a, b) = (Obj::new(), Obj::new());
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let a = &a;
    std::thread::scope(|s| {
        s.spawn(move || {
            a.cached.get_or_init(|| {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                1
            })
        });
        started_rx.recv().unwrap();
        let waiter = s.spawn(move || {
            let _l = L.lock().unwrap();
            *a.cached.get_or_init(|| 2) // waits for the other thread's initialiser: L -> cell
        });
        // Let the waiter reach the cell: it holds L once a try fails, and then has only the
        // call left to make (arriving after the initialisation would record nothing).
        while L.try_lock().is_ok() {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        go_tx.send(()).unwrap();
        assert_eq!(waiter.join().unwrap(), 1);
    });
    b.cached.get_or_init(|| *L.lock().unwrap()); // cell -> L: the inversion
    assert_eq!(kinds(), [CircularDependency]);
}
