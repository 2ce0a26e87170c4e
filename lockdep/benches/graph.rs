//! The slow paths: recording a new dependency (cycle search and stack capture included) as the
//! graph grows to 1 000 classes and 10 000 dependencies, and finding the cycle an inverted
//! order closes.
//!
//! ```text
//! cargo bench -p lockdep --features check --bench graph
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use lockdep::{LockClass, Mutex};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const CLASSES: usize = 1000;
const DEPS: usize = 10_000;

fn locks() -> &'static [Mutex<()>] {
    static L: OnceLock<Vec<Mutex<()>>> = OnceLock::new();
    L.get_or_init(|| {
        (0..CLASSES)
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

/// Fills the graph with `DEPS` dependencies `i -> j`, i < j (a DAG in a hidden order, inserted
/// in random order), returning them and a pool of pairs not yet used.
/// Dependencies recorded in the graph, and pairs not used yet.
type Pools = (Vec<(usize, usize)>, Vec<(usize, usize)>);

fn populate(seed: u64) -> Pools {
    lockdep::set_action(lockdep::Action::Collect);
    lockdep::reset();
    let l = locks();
    let mut s = seed | 1;
    let mut pairs = std::collections::HashSet::new();
    while pairs.len() < DEPS + FRESH {
        let i = rng(&mut s) % (CLASSES - 1);
        let span = 1 + rng(&mut s) % 50;
        let j = (i + span).min(CLASSES - 1);
        pairs.insert((i, j));
    }
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort_by_key(|&(i, j)| (i * 7919 + j * 104_729 + seed as usize) % 1_000_003);
    let fresh = pairs.split_off(DEPS);
    for &(i, j) in &pairs {
        let _a = l[i].lock();
        let _b = l[j].lock();
    }
    assert!(lockdep::take_reports().is_empty());
    (pairs, fresh)
}

/// New dependencies measured before the graph is rebuilt, so it stays near `DEPS`.
const FRESH: usize = 2000;

/// Times `op` on pairs drawn from `pick`, rebuilding the graph whenever a pool runs out.
fn measure(iters: u64, pick: fn(&mut Pools) -> Option<(usize, usize)>) -> Duration {
    let l = locks();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut pools = populate(seed);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (x, y) = match pick(&mut pools) {
            Some(p) => p,
            None => {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                pools = populate(seed);
                pick(&mut pools).expect("a fresh pool")
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
    g.bench_function("new-dependency/1k-classes-10k-deps", |b| {
        b.iter_custom(|iters| measure(iters, |p| p.1.pop()))
    });
    // Taking an existing dependency's two classes in the inverse order: the cycle search finds
    // the path, and the report is built (symbolised lazily, so not timed here).
    g.bench_function("cycle-found/1k-classes-10k-deps", |b| {
        b.iter_custom(|iters| {
            measure(iters, |p| {
                if p.0.len() <= DEPS - FRESH {
                    return None;
                }
                p.0.pop().map(|(i, j)| (j, i))
            })
        })
    });
    g.finish();
}

criterion_group!(benches, slow_paths);
criterion_main!(benches);
