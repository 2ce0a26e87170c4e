//! Lock operations made from inside the validator — here by a global allocator built on a
//! `lockdep` lock, which the validator calls whenever it allocates (building a report, growing
//! its graph, capturing or printing a stack) — are untracked: never a deadlock, never a
//! corrupted held stack, and the outer validation still reports exactly what it should. The
//! allocator is process-wide, so this is its own test binary.

use lockdep::ReportKind::*;
use lockdep::{Action, LockClass, Mutex, RawSpinLock};
use lockdep_suite::{kinds, serial};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The allocator's own lock: innermost (a raw spinlock may be taken anywhere).
static ALLOC_LOCK: RawSpinLock<()> = RawSpinLock::with_class((), &ALLOC_CLASS);
static ALLOC_CLASS: LockClass = LockClass::new("test_allocator_lock");
/// Allocations that took the lock.
static LOCKED_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on a thread whose next allocations must stall (to keep the validator busy).
    static STALL: Cell<bool> = const { Cell::new(false) };
    /// Set while this thread is inside the allocator, so it never locks recursively.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}
/// Raised by a stalled allocation once it started stalling.
static STALLING: AtomicBool = AtomicBool::new(false);

struct LockingAlloc;

impl LockingAlloc {
    fn with_lock<R>(f: impl FnOnce() -> R) -> R {
        let outer = INSIDE.try_with(|i| !i.replace(true)).unwrap_or(false);
        if !outer {
            return f();
        }
        if STALL.try_with(Cell::get).unwrap_or(false) {
            STALLING.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            let _ = STALL.try_with(|s| s.set(false));
        }
        let r = {
            let _g = ALLOC_LOCK.lock();
            LOCKED_ALLOCS.fetch_add(1, Ordering::Relaxed);
            f()
        };
        let _ = INSIDE.try_with(|i| i.set(false));
        r
    }
}

// SAFETY: forwards every call to the system allocator; the lock only serialises them.
unsafe impl GlobalAlloc for LockingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        Self::with_lock(|| unsafe { System.alloc(layout) })
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        Self::with_lock(|| unsafe { System.dealloc(ptr, layout) })
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        Self::with_lock(|| unsafe { System.realloc(ptr, layout, new_size) })
    }
}

#[global_allocator]
static GLOBAL: LockingAlloc = LockingAlloc;

/// Runs `f` on its own thread; fails the test if it hangs.
fn finishes(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(r.is_ok());
    });
    let ok = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the validator deadlocked on a lock taken from inside it");
    assert!(ok, "the test body panicked");
}

#[test]
fn an_allocator_built_on_a_lockdep_lock_neither_deadlocks_nor_confuses_the_validator() {
    let _s = serial();
    finishes(|| {
        let before = LOCKED_ALLOCS.load(Ordering::Relaxed);
        let (a, b, c) = (Mutex::new(()), Mutex::new(()), Mutex::new(()));
        {
            // New chains: validated under the validator's lock, with stack capture.
            let _a = a.lock();
            let _b = b.lock();
            let _c = c.lock();
            let _v: Vec<u8> = Vec::with_capacity(100); // the allocator's lock under a, b, c: a new chain
        }
        assert!(kinds().is_empty());
        // A report: built, printed (symbolised) and recorded, all allocating.
        lockdep::set_action(Action::Warn);
        {
            let _c = c.lock();
            let _a = a.lock();
        }
        lockdep::set_action(Action::Collect);
        assert_eq!(kinds(), vec![CircularDependency]);
        lockdep::assert_none_held();
        assert!(LOCKED_ALLOCS.load(Ordering::Relaxed) > before);
        // The allocator's lock itself is tracked like any other outside the validator.
        let _g = ALLOC_LOCK.lock();
        assert!(ALLOC_LOCK.is_held_by_current_thread());
    });
    assert!(kinds().is_empty());
}

#[test]
fn a_report_turned_into_a_panic_leaves_the_validator_usable() {
    let _s = serial();
    finishes(|| {
        let (a, b) = (Mutex::new(()), Mutex::new(()));
        drop((a.lock(), b.lock()));
        lockdep::set_action(Action::Panic);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _b = b.lock();
            let _a = a.lock();
        }));
        lockdep::set_action(Action::Collect);
        assert!(r.is_err());
        assert_eq!(kinds(), vec![CircularDependency]);
        lockdep::assert_none_held();
        // Still validating, with a complete picture.
        let c = Mutex::new(());
        drop((b.lock(), c.lock()));
        drop((c.lock(), a.lock()));
        assert_eq!(kinds(), vec![CircularDependency]);
    });
}

#[test]
fn a_panic_hook_taking_a_lock_while_the_validator_panics_is_untracked() {
    let _s = serial();
    static HOOK_LOCK: Mutex<u32> = Mutex::with_class(0, &HOOK_CLASS);
    static HOOK_CLASS: LockClass = LockClass::new("test_hook_lock");
    static TRACKED_IN_HOOK: AtomicBool = AtomicBool::new(true);
    drop(HOOK_LOCK.lock()); // known outside the validator
    finishes(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {
            // Runs inside the validator: the report below is turned into this panic there.
            let mut g = HOOK_LOCK.lock();
            *g += 1;
            TRACKED_IN_HOOK.store(HOOK_LOCK.is_held_by_current_thread(), Ordering::SeqCst);
        }));
        let (a, b) = (Mutex::new(()), Mutex::new(()));
        drop((a.lock(), b.lock()));
        lockdep::set_action(Action::Panic);
        let r = catch_unwind(AssertUnwindSafe(|| drop((b.lock(), a.lock()))));
        lockdep::set_action(Action::Collect);
        std::panic::set_hook(previous);
        assert!(r.is_err());
        assert_eq!(*HOOK_LOCK.lock(), 1);
        assert!(
            !TRACKED_IN_HOOK.load(Ordering::SeqCst),
            "the hook's lock was tracked"
        );
        assert_eq!(kinds(), vec![CircularDependency]);
        lockdep::assert_none_held();
    });
}

#[test]
fn the_panic_hook_waits_for_a_busy_validator_instead_of_dropping_its_report() {
    let _s = serial();
    lockdep::install_panic_hook();
    finishes(|| {
        let m = Mutex::new(());
        drop(m.lock()); // its class and chain are known: taking it needs no validator lock
                        // Another thread keeps the validator's lock for 300 ms: registering a class
                        // allocates its name under that lock, and that thread's allocations stall.
        STALLING.store(false, Ordering::SeqCst);
        let busy = std::thread::spawn(|| {
            static SLOW: LockClass = LockClass::new("test_slow_to_register");
            let slow = Mutex::with_class((), &SLOW);
            STALL.with(|s| s.set(true));
            drop(slow.lock());
        });
        while !STALLING.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let r = std::thread::spawn(move || {
            let _g = m.lock();
            panic!("while the validator is busy");
        })
        .join();
        assert!(r.is_err());
        busy.join().unwrap();
        assert_eq!(kinds(), vec![PanicWhileHolding]);
    });
}
