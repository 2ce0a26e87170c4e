//! A full dependency table and a full chain cache: each is said once, and validation stays
//! correct — a chain whose dependency could not be recorded is not cached (so it is validated
//! again, with whatever the graph knows then), and once the cache is full new chains are
//! validated on every acquisition. Filling the tables takes a while and the classes stay, so
//! this is its own test binary.

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::{kinds, serial};
use std::sync::OnceLock;

/// Enough classes that the ordered pairs outnumber the dependency table and the trylock
/// chains the chain cache.
const N: usize = 260;

fn locks() -> &'static [Mutex<()>] {
    static LOCKS: OnceLock<Vec<Mutex<()>>> = OnceLock::new();
    LOCKS.get_or_init(|| {
        (0..N)
            .map(|i| Mutex::with_class((), LockClass::register(format!("table-{i}"))))
            .collect()
    })
}

fn count(k: &[ReportKind], kind: ReportKind) -> usize {
    k.iter().filter(|&&x| x == kind).count()
}

#[test]
fn a_chain_whose_dependency_was_dropped_is_not_cached() {
    let _s = serial();
    let l = locks();
    for i in 0..N {
        for j in i + 1..N {
            drop((l[i].lock(), l[j].lock()));
        }
    }
    let k = kinds();
    assert_eq!(count(&k, ReportKind::DependenciesExhausted), 1, "{k:?}");
    assert_eq!(k.len(), 1, "{k:?}");
    let full = lockdep::stats();
    // The last pair's dependency was dropped: its chain is validated on every acquisition.
    drop((l[N - 2].lock(), l[N - 1].lock()));
    let again = lockdep::stats();
    assert_eq!(again.dependencies, full.dependencies);
    assert_eq!(
        again.chains, full.chains,
        "a chain missing its dependency was cached"
    );
    assert!(again.slow_paths > full.slow_paths);
    // A cycle through recorded dependencies is still found, and reported once.
    for _ in 0..2 {
        drop((l[1].lock(), l[0].lock()));
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
}

#[test]
fn a_full_chain_cache_is_reported_once_and_validation_goes_on() {
    let _s = serial();
    let l = locks();
    // Trylocks add no dependency, so these fill the chain cache alone.
    for i in 0..N {
        for j in 0..N {
            if i != j {
                let _a = l[i].try_lock();
                let _b = l[j].try_lock();
            }
        }
    }
    let k = kinds();
    assert_eq!(count(&k, ReportKind::ChainsExhausted), 1, "{k:?}");
    assert_eq!(k.len(), 1, "{k:?}");
    assert_eq!(lockdep::stats().dependencies, 0);
    // New chains are still validated, every time, and each violation reported once.
    for _ in 0..3 {
        drop((l[0].lock(), l[1].lock()));
    }
    let before = lockdep::stats().slow_paths;
    for _ in 0..3 {
        drop((l[1].lock(), l[0].lock()));
    }
    assert!(lockdep::stats().slow_paths >= before + 3);
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
}
