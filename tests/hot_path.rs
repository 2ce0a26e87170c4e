//! A timing-free regression guard for the hot path: once a chain of held classes has been
//! validated, taking and releasing those locks again must neither take the validator's global
//! lock nor allocate. Counted, not clocked, so it holds on any machine.

use lockdep::{LockClass, Mutex, RawSpinLock, RwLock, SpinLock};
use lockdep_suite::serial;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts, per thread.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

static LEVELS: [LockClass; 8] = [const { LockClass::new("level") }; 8];

fn workload(m: &Mutex<u64>, r: &RwLock<u64>, s: &SpinLock<u64>, raw: &RawSpinLock<u64>, deep: &[Mutex<u64>]) {
    *m.lock() += 1;
    let _ = *r.read();
    let _ = *r.read_recursive();
    *r.write() += 1;
    *s.lock() += 1;
    if let Some(mut g) = raw.try_lock() {
        *g += 1;
    }
    let g0 = deep[0].lock();
    let g1 = deep[1].lock();
    let g2 = deep[2].lock();
    let g3 = deep[3].lock();
    let g4 = deep[4].lock();
    let g5 = deep[5].lock();
    let g6 = deep[6].lock();
    let g7 = deep[7].lock();
    // Out of order, then in order.
    drop(g3);
    drop((g7, g6, g5, g4, g2, g1, g0));
}

#[test]
fn cached_chains_take_no_global_lock_and_allocate_nothing() {
    let _s = serial();
    let m = Mutex::new(0u64);
    let r = RwLock::new(0u64);
    let s = SpinLock::new(0u64);
    let raw = RawSpinLock::new(0u64);
    let deep: Vec<Mutex<u64>> = LEVELS.iter().map(|c| Mutex::with_class(0, c)).collect();
    // First pass: every chain is new and gets validated (global lock, stack capture).
    workload(&m, &r, &s, &raw, &deep);
    let before_slow = lockdep::stats().slow_paths;
    let before_allocs = ALLOCS.with(Cell::get);
    for _ in 0..10_000 {
        workload(&m, &r, &s, &raw, &deep);
    }
    let allocs = ALLOCS.with(Cell::get) - before_allocs;
    let slow = lockdep::stats().slow_paths - before_slow;
    assert_eq!(
        slow, 0,
        "the hit path took the validator's global lock {slow} times"
    );
    assert_eq!(allocs, 0, "the hit path allocated {allocs} times");
    assert!(lockdep::take_reports().is_empty());
}

#[test]
fn a_new_chain_does_take_the_slow_path() {
    // The counters are not vacuous: a never-seen chain is validated under the global lock.
    let _s = serial();
    let a = Mutex::new(());
    let b = Mutex::new(());
    drop(a.lock());
    drop(b.lock());
    let before = lockdep::stats();
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let after = lockdep::stats();
    assert!(after.slow_paths > before.slow_paths);
    assert_eq!(after.dependencies, before.dependencies + 1);
    assert_eq!(after.chains, before.chains + 1);
}

static NESTED_PARENT: LockClass = LockClass::new("nested-parent");
static NESTED_CHILD: LockClass = LockClass::new("nested-child");

/// Subclasses beyond the two a lock caches in itself (the kernel caches the same two) are
/// resolved from the class's own table (a named class) or the site table (a creation site):
/// a nested acquisition at depth 2 and more, on a chain validated before, must stay off the
/// validator's lock too, for new locks of the class as well as for the same ones.
fn nested_levels(parent: &Mutex<u64>, children: &[Mutex<u64>], site: &[RwLock<u64>]) {
    let _p = parent.lock();
    let g: Vec<_> = children
        .iter()
        .enumerate()
        .map(|(i, c)| c.lock_nested(i as u32 + 1))
        .collect();
    let w: Vec<_> = site
        .iter()
        .enumerate()
        .map(|(i, l)| l.write_nested(i as u32 + 2))
        .collect();
    drop(w);
    drop(g);
}

#[test]
fn deep_subclasses_of_cached_chains_take_no_global_lock() {
    let _s = serial();
    let make = || {
        let parent = Mutex::with_class(0u64, &NESTED_PARENT);
        let children: Vec<Mutex<u64>> = (0..5).map(|_| Mutex::with_class(0, &NESTED_CHILD)).collect();
        let site: Vec<RwLock<u64>> = (0..3).map(|_| RwLock::new(0)).collect();
        (parent, children, site)
    };
    let (parent, children, site) = make();
    nested_levels(&parent, &children, &site);
    let before_slow = lockdep::stats().slow_paths;
    for _ in 0..1_000 {
        nested_levels(&parent, &children, &site);
    }
    // New locks of the same classes (and sites), whose own caches are empty.
    for _ in 0..100 {
        let (parent, children, site) = make();
        nested_levels(&parent, &children, &site);
    }
    let slow = lockdep::stats().slow_paths - before_slow;
    assert_eq!(
        slow, 0,
        "nested acquisitions took the validator's global lock {slow} times"
    );
    assert!(lockdep::take_reports().is_empty());
}
