//! Two threads on disjoint locks: per-thread throughput against one thread alone. The hit
//! path shares nothing written, so the two should scale like the plain lock.
//!
//! ```text
//! cargo bench -p lockdep --features check --bench threads
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use lockdep::{LockClass, Mutex};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const MODE: &str = if lockdep::ENABLED {
    "lockdep-on"
} else {
    "lockdep-off"
};
static A: LockClass = LockClass::new("a");
static B: LockClass = LockClass::new("b");

/// Time for `iters` nested lock pairs on each of `threads` threads (each on its own locks).
fn run<L: Send + Sync + 'static>(
    threads: usize,
    iters: u64,
    make: fn() -> (L, L),
    op: fn(&L, &L),
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let (x, y) = make();
                for _ in 0..1000 {
                    op(&x, &y);
                }
                barrier.wait();
                let t = Instant::now();
                for _ in 0..iters {
                    op(black_box(&x), black_box(&y));
                }
                t.elapsed()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).max().unwrap()
}

fn disjoint(c: &mut Criterion) {
    let mut g = c.benchmark_group("disjoint");
    for threads in [1, 2] {
        g.bench_function(format!("parking_lot/{threads}t"), |b| {
            b.iter_custom(|iters| {
                run(
                    threads,
                    iters,
                    || (parking_lot::Mutex::new(0u64), parking_lot::Mutex::new(0u64)),
                    |x, y| {
                        let _a = x.lock();
                        *y.lock() += 1;
                    },
                )
            })
        });
        g.bench_function(format!("{MODE}/{threads}t"), |b| {
            b.iter_custom(|iters| {
                run(
                    threads,
                    iters,
                    || (Mutex::with_class(0u64, &A), Mutex::with_class(0u64, &B)),
                    |x, y| {
                        let _a = x.lock();
                        *y.lock() += 1;
                    },
                )
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2));
    targets = disjoint
}
criterion_main!(benches);
