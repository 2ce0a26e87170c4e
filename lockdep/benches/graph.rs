//! The slow paths: recording a new dependency (cycle search and stack capture included) as the
//! graph grows to 1 000 classes and 10 000 dependencies, and finding the cycle an inverted
//! order closes.
//!
//! ```text
//! cargo bench -p lockdep --features check --bench graph
//! ```

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lockdep::{LockClass, Mutex};
use std::sync::OnceLock;

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

/// Fills the graph with `DEPS` dependencies `i -> j`, i < j (a DAG in a hidden order, like
/// locks discovered in random order), returning the pairs not yet used.
fn populate(seed: u64) -> Vec<(usize, usize)> {
    lockdep::set_action(lockdep::Action::Collect);
    lockdep::reset();
    let l = locks();
    let mut s = seed;
    let mut pairs = std::collections::HashSet::new();
    while pairs.len() < DEPS + 5000 {
        let i = rng(&mut s) % (CLASSES - 1);
        let span = 1 + rng(&mut s) % 50;
        let j = (i + span).min(CLASSES - 1);
        pairs.insert((i, j));
    }
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort_by_key(|&(i, j)| (i * 7919 + j * 104_729) % 1_000_003);
    let rest = pairs.split_off(DEPS);
    for (i, j) in pairs {
        let _a = l[i].lock();
        let _b = l[j].lock();
    }
    assert!(lockdep::take_reports().is_empty());
    rest
}

fn new_dependency(c: &mut Criterion) {
    let mut g = c.benchmark_group("graph");
    g.sample_size(20);
    let l = locks();
    let mut fresh = populate(0x9e37_79b9_7f4a_7c15);
    g.bench_function("new-dependency/1k-classes-10k-deps", |b| {
        b.iter_batched(
            || fresh.pop().expect("enough fresh pairs"),
            |(i, j)| {
                let _a = l[i].lock();
                let _b = l[j].lock();
            },
            BatchSize::PerIteration,
        )
    });
    let mut inverted = populate(0x1234_5678_9abc_def1);
    g.bench_function("cycle-found/1k-classes-10k-deps", |b| {
        b.iter_batched(
            || {
                let (i, j) = inverted.pop().expect("enough pairs");
                (j, i)
            },
            |(j, i)| {
                let _b = l[j].lock();
                let _a = l[i].lock();
            },
            BatchSize::PerIteration,
        )
    });
    let _ = lockdep::take_reports();
    g.finish();
}

criterion_group!(benches, new_dependency);
criterion_main!(benches);
