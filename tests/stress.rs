//! Stress: many threads, millions of lock operations over hundreds of classes.
//!
//! * Orders that respect one hidden global order, on locks shared by all threads (so they
//!   really contend), with readers and out-of-order releases: never reported.
//! * Inversions planted by different threads, each then repeated by every thread at once:
//!   each reported exactly once — none lost, none duplicated — while the reports print from
//!   many threads at once (`Action::Warn`) and are then formatted concurrently.
//!
//! All of it runs with a tracing-like hook that takes a validated lock of its own on every
//! acquisition, under whatever the workload holds. (A global allocator built on a validated
//! lock is not used: `parking_lot_core` allocates while it holds its own bucket locks when it
//! grows its table for new threads, so any parking lock in an allocator — the lock's own, or
//! the validator's global one on a slow path — can deadlock there.)
//!
//! The default run is sized for CI; the ignored `heavy` test multiplies the work:
//!
//! ```sh
//! STRESS_SCALE=10 cargo test --test stress -- --ignored heavy
//! ```

use lockdep::{Action, LockClass, Mutex, ReportKind, RwLock};
use lockdep_suite::serial;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};

static TRACE_CLASS: LockClass = LockClass::new("stress_trace");
/// A tracing-like hook: every acquisition of the workload emits an event, which the hook
/// records under a validated lock of its own (a leaf, taken under whatever the caller holds).
static TRACE: Mutex<u64> = Mutex::with_class(0, &TRACE_CLASS);

fn trace_event() {
    *TRACE.lock() += 1;
}

const THREADS: usize = 16;
const CLASSES: usize = 320;

/// `STRESS_SCALE` (default 1) multiplies the iterations of the heavy run.
fn scale() -> usize {
    std::env::var("STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// A small deterministic generator (the runs must be repeatable).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The ordered pool: one lock per class, shared by all threads; every fourth one a
/// reader-writer lock. `rank` is the hidden global order (a shuffle of the classes).
struct Pool {
    mutexes: Vec<Mutex<u64>>,
    rwlocks: Vec<RwLock<u64>>,
    rank: Vec<usize>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let classes: Vec<&'static LockClass> = (0..CLASSES)
            .map(|i| LockClass::register(format!("stress_{i}")))
            .collect();
        let mut rank: Vec<usize> = (0..CLASSES).collect();
        let mut rng = Rng(0x5eed);
        for i in (1..CLASSES).rev() {
            rank.swap(i, rng.below(i + 1));
        }
        Pool {
            mutexes: classes.iter().map(|c| Mutex::with_class(0, c)).collect(),
            rwlocks: classes.iter().map(|c| RwLock::with_class(0, c)).collect(),
            rank,
        }
    })
}

/// A held lock of the pool.
#[allow(dead_code)] // kept for their `Drop`
enum Guard<'a> {
    Mutex(lockdep::MutexGuard<'a, u64>),
    Read(lockdep::RwLockReadGuard<'a, u64>),
    Write(lockdep::RwLockWriteGuard<'a, u64>),
}

/// Takes class `c` of the pool (`mode` picks read or write for the reader-writer ones).
fn take(p: &Pool, c: usize, mode: usize) -> Guard<'_> {
    if c % 4 == 3 {
        if mode.is_multiple_of(2) {
            Guard::Read(p.rwlocks[c].read())
        } else {
            let mut g = p.rwlocks[c].write();
            *g += 1;
            Guard::Write(g)
        }
    } else {
        let mut g = p.mutexes[c].lock();
        *g += 1;
        Guard::Mutex(g)
    }
}

/// Sequences of 2 to 6 classes in the hidden order, each with its read/write choices.
fn ordered_sequences(p: &Pool, seed: u64, n: usize) -> Vec<Vec<(usize, usize)>> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|_| {
            let len = 2 + rng.below(5);
            let mut by_rank: Vec<usize> = (0..len).map(|_| rng.below(CLASSES)).collect();
            by_rank.sort_unstable();
            by_rank.dedup();
            // by_rank holds ranks; the class of rank r is the one whose rank is r.
            by_rank
                .into_iter()
                .map(|r| (p.rank.iter().position(|&x| x == r).unwrap(), rng.below(2)))
                .collect()
        })
        .collect()
}

/// Runs sequence `seq`, releasing in an order picked by `rng`; returns the operations done.
fn run_ordered(p: &Pool, seq: &[(usize, usize)], rng: &mut Rng) -> u64 {
    let mut held: Vec<Guard<'_>> = Vec::with_capacity(seq.len());
    for &(c, mode) in seq {
        held.push(take(p, c, mode));
        trace_event();
    }
    let n = held.len() as u64;
    while !held.is_empty() {
        let i = rng.below(held.len());
        drop(held.remove(i));
    }
    2 * n
}

/// `iterations` per thread of ordered sequences; returns the total operations.
fn ordered_run(iterations: usize) -> u64 {
    let p = pool();
    let ops = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let ops = &ops;
            s.spawn(move || {
                let seqs = ordered_sequences(p, 0x1000 + t as u64, 24);
                let mut rng = Rng(0x2000 + t as u64);
                let mut n = 0;
                for i in 0..iterations {
                    n += run_ordered(p, &seqs[i % seqs.len()], &mut rng);
                }
                ops.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    ops.into_inner()
}

#[test]
fn orders_that_respect_one_hidden_order_are_never_reported() {
    let _s = serial();
    let start = std::time::Instant::now();
    let ops = ordered_run(100_000);
    let reports = lockdep::take_reports();
    let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
    assert!(kinds.is_empty(), "{kinds:?}");
    assert!(ops >= 10_000_000, "{ops} operations");
    let stats = lockdep::stats();
    assert!(stats.dependencies > 500, "{stats:?}");
    eprintln!(
        "ordered: {ops} lock operations on {THREADS} threads over {CLASSES} classes in {:?}, {} dependencies, {} hook events",
        start.elapsed(),
        stats.dependencies,
        *TRACE.lock()
    );
}

/// The planted inversions: pair `i` is ordered `a -> b` by thread `i % THREADS`, then every
/// thread takes `b -> a` (on its own instances, so nothing really deadlocks).
const PAIRS: usize = 24;

fn plant_classes() -> &'static [(&'static LockClass, &'static LockClass)] {
    static PLANT: OnceLock<Vec<(&'static LockClass, &'static LockClass)>> = OnceLock::new();
    PLANT.get_or_init(|| {
        (0..PAIRS)
            .map(|i| {
                (
                    LockClass::register(format!("plant_{i}_a")),
                    LockClass::register(format!("plant_{i}_b")),
                )
            })
            .collect()
    })
}

/// Plants the inversions while the ordered load runs; returns the operations done.
fn planted_run(repeats: usize) -> u64 {
    let p = pool();
    let plant = plant_classes();
    let barrier = Barrier::new(THREADS);
    let ops = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (barrier, ops) = (&barrier, &ops);
            s.spawn(move || {
                let locks: Vec<(Mutex<()>, Mutex<()>)> = plant
                    .iter()
                    .map(|(a, b)| (Mutex::with_class((), a), Mutex::with_class((), b)))
                    .collect();
                let seqs = ordered_sequences(p, 0x3000 + t as u64, 24);
                let mut rng = Rng(0x4000 + t as u64);
                let mut n = 0;
                for (i, (a, b)) in locks.iter().enumerate() {
                    if i % THREADS == t {
                        let _a = a.lock();
                        let _b = b.lock();
                        n += 4;
                    }
                }
                barrier.wait();
                for r in 0..repeats {
                    n += run_ordered(p, &seqs[r % seqs.len()], &mut rng);
                    let (a, b) = &locks[(r + t) % PAIRS];
                    let _b = b.lock();
                    let _a = a.lock();
                    n += 4;
                }
                ops.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    ops.into_inner()
}

#[test]
fn planted_inversions_are_each_reported_once_and_print_concurrently() {
    let _s = serial();
    let start = std::time::Instant::now();
    lockdep::set_action(Action::Warn); // printed from the threads that find them, at once
    let ops = planted_run(20_000);
    lockdep::set_action(Action::Collect);
    let reports = lockdep::take_reports();
    let mut sets: Vec<BTreeSet<String>> = Vec::new();
    for r in &reports {
        assert_eq!(r.kind(), ReportKind::CircularDependency, "{r}");
        sets.push(r.classes().into_iter().map(str::to_string).collect());
    }
    let expected: Vec<BTreeSet<String>> = (0..PAIRS)
        .map(|i| {
            [format!("plant_{i}_a"), format!("plant_{i}_b")]
                .into_iter()
                .collect()
        })
        .collect();
    let mut got = sets.clone();
    got.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got, want, "each planted inversion exactly once");

    // Every report rendered by many threads at once (symbolisation included).
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for (r, set) in reports.iter().zip(&sets) {
                    let text = r.to_string();
                    assert!(text.contains("WARNING: possible circular locking dependency detected"));
                    for name in set {
                        assert!(text.contains(name.as_str()), "{name} in\n{text}");
                    }
                }
            });
        }
    });
    eprintln!(
        "planted: {ops} lock operations on {THREADS} threads, {PAIRS} inversions reported once each, in {:?}",
        start.elapsed()
    );
}

/// More of both: `STRESS_SCALE` times the iterations.
#[test]
#[ignore = "long: STRESS_SCALE=10 cargo test --test stress -- --ignored heavy"]
fn heavy() {
    let _s = serial();
    let ops = ordered_run(100_000 * scale());
    assert!(lockdep::take_reports().is_empty());
    lockdep::reset();
    let planted = planted_run(20_000 * scale());
    let reports = lockdep::take_reports();
    assert_eq!(reports.len(), PAIRS);
    eprintln!("heavy: {} lock operations", ops + planted);
}
