//! The slow paths, as the graph grows: recording a new dependency (cycle search and stack
//! capture included) and finding the cycle an inverted order closes, with 1 000 classes /
//! 10 000 dependencies and 10 000 classes / 30 000 dependencies already recorded. Also prints
//! the memory the recorded dependencies use.
//!
//! ```text
//! cargo bench -p lockdep --features check --bench graph
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use lockdep::{LockClass, Mutex};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Graph sizes: (classes, dependencies).
const SIZES: [(usize, usize); 2] = [(1000, 10_000), (10_000, 30_000)];
/// New dependencies measured before the graph is rebuilt, so it stays near its size.
const FRESH: usize = 2000;

fn locks() -> &'static [Mutex<()>] {
    static L: OnceLock<Vec<Mutex<()>>> = OnceLock::new();
    L.get_or_init(|| {
        (0..10_000)
            .map(|i| Mutex::with_class((), LockClass::register(format!("g{i}"))))
            .collect()
    })
}

/// A deterministic pseudo-random stream.
fn rng(seed: &mut u64) -> usize {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed as usize
}

/// The dependencies recorded in the graph, and pairs not used yet.
struct Pools {
    recorded: Vec<(usize, usize)>,
    fresh: Vec<(usize, usize)>,
}

/// Fills the graph with `deps` dependencies `i -> j`, i < j, among `classes` classes (a DAG in
/// a hidden order, inserted in random order).
fn populate(classes: usize, deps: usize, seed: u64) -> Pools {
    lockdep::set_action(lockdep::Action::Collect);
    lockdep::reset();
    let l = locks();
    let mut s = seed | 1;
    let mut pairs = std::collections::HashSet::new();
    while pairs.len() < deps + FRESH {
        let i = rng(&mut s) % (classes - 1);
        let j = (i + 1 + rng(&mut s) % 50).min(classes - 1);
        pairs.insert((i, j));
    }
    let mut recorded: Vec<_> = pairs.into_iter().collect();
    recorded.sort_by_key(|&(i, j)| (i * 7919 + j * 104_729 + seed as usize) % 1_000_003);
    let fresh = recorded.split_off(deps);
    for &(i, j) in &recorded {
        let _a = l[i].lock();
        let _b = l[j].lock();
    }
    assert!(lockdep::take_reports().is_empty());
    Pools { recorded, fresh }
}

/// Times taking the pairs `pick` draws, rebuilding the graph whenever a pool runs out.
fn measure(
    size: (usize, usize),
    iters: u64,
    pick: fn(&mut Pools, usize) -> Option<(usize, usize)>,
) -> Duration {
    let l = locks();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut pools = populate(size.0, size.1, seed);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (x, y) = match pick(&mut pools, size.1) {
            Some(p) => p,
            None => {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                pools = populate(size.0, size.1, seed);
                pick(&mut pools, size.1).expect("a fresh pool")
            }
        };
        let t = Instant::now();
        {
            let _x = l[x].lock();
            let _y = l[y].lock();
        }
        total += t.elapsed();
    }
    let _ = lockdep::take_reports();
    total
}

fn slow_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("graph");
    g.sample_size(10);
    for size in SIZES {
        let label = format!("{}k-classes-{}k-deps", size.0 / 1000, size.1 / 1000);
        populate(size.0, size.1, 1);
        let st = lockdep::stats();
        eprintln!(
            "{label}: {} dependencies, {} chains, {} stack frames, {} bytes per dependency",
            st.dependencies,
            st.chains,
            st.stack_frames,
            st.dependency_bytes / st.dependencies.max(1)
        );
        g.bench_function(format!("new-dependency/{label}"), |b| {
            b.iter_custom(|iters| measure(size, iters, |p, _| p.fresh.pop()))
        });
        // An existing dependency's two classes in the inverse order: the search finds the
        // path and the report is built (symbolised lazily, so not timed here).
        g.bench_function(format!("cycle-found/{label}"), |b| {
            b.iter_custom(|iters| {
                measure(size, iters, |p, deps| {
                    if p.recorded.len() <= deps - FRESH {
                        return None;
                    }
                    p.recorded.pop().map(|(i, j)| (j, i))
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, slow_paths);
criterion_main!(benches);
