//! Cost of an uncontended lock+unlock, ours against the plain locks, in one run.
//!
//! Build with `--features check` for the validator's cost, without it for the zero-cost
//! claim; either way every plain lock is measured in the same run. The chain is validated
//! during warm-up, so what is timed is the cached-chain hot path.
//!
//! ```text
//! cargo bench -p lockdep --features check --bench lock_overhead
//! cargo bench -p lockdep --bench lock_overhead
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use lockdep::{LockClass, LockMap, Mutex, RwLock, SpinLock, WwAcquireCtx, WwClass, WwMutex};
use std::hint::black_box;

/// tracing-mutex's parking_lot-backed mutex (always tracing, whatever the build profile).
#[allow(deprecated)]
type TracingMutex<T> = tracing_mutex::parkinglot::tracing::Mutex<T>;

const MODE: &str = if lockdep::ENABLED {
    "lockdep-on"
} else {
    "lockdep-off"
};

static DEEP: [LockClass; 8] = [const { LockClass::new("deep") }; 8];

fn single(c: &mut Criterion) {
    let mut g = c.benchmark_group("single");
    let std_m = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| b.iter(|| *black_box(&std_m).lock().unwrap() += 1));
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).lock() += 1));
    let tm = TracingMutex::new(0u64);
    g.bench_function("tracing-mutex", |b| b.iter(|| *black_box(&tm).lock() += 1));
    let ours = Mutex::new(0u64);
    g.bench_function(MODE, |b| b.iter(|| *black_box(&ours).lock() += 1));
    g.finish();
}

fn nested2(c: &mut Criterion) {
    let mut g = c.benchmark_group("nested-2");
    let (a, b_) = (parking_lot::Mutex::new(0u64), parking_lot::Mutex::new(0u64));
    g.bench_function("parking_lot", |b| {
        b.iter(|| {
            let _x = black_box(&a).lock();
            *black_box(&b_).lock() += 1;
        })
    });
    let (a, b_) = (std::sync::Mutex::new(0u64), std::sync::Mutex::new(0u64));
    g.bench_function("std", |b| {
        b.iter(|| {
            let _x = black_box(&a).lock().unwrap();
            *black_box(&b_).lock().unwrap() += 1;
        })
    });
    let (a, b_) = (TracingMutex::new(0u64), TracingMutex::new(0u64));
    g.bench_function("tracing-mutex", |b| {
        b.iter(|| {
            let _x = black_box(&a).lock();
            *black_box(&b_).lock() += 1;
        })
    });
    let (a, b_) = (
        Mutex::with_class(0u64, &DEEP[0]),
        Mutex::with_class(0u64, &DEEP[1]),
    );
    g.bench_function(MODE, |b| {
        b.iter(|| {
            let _x = black_box(&a).lock();
            *black_box(&b_).lock() += 1;
        })
    });
    g.finish();
}

/// Takes the 8 locks of `$l` in index order and releases them in reverse (scoped guards).
macro_rules! lifo8 {
    ($l:expr, $lock:ident $(. $unwrap:ident ())?) => {{
        let l = black_box($l);
        let _g0 = l[0].$lock()$(.$unwrap())?;
        let _g1 = l[1].$lock()$(.$unwrap())?;
        let _g2 = l[2].$lock()$(.$unwrap())?;
        let _g3 = l[3].$lock()$(.$unwrap())?;
        let _g4 = l[4].$lock()$(.$unwrap())?;
        let _g5 = l[5].$lock()$(.$unwrap())?;
        let _g6 = l[6].$lock()$(.$unwrap())?;
        let _g7 = l[7].$lock()$(.$unwrap())?;
    }};
}

fn nested8(c: &mut Criterion) {
    let pl: Vec<parking_lot::Mutex<u64>> = (0..8).map(|_| parking_lot::Mutex::new(0)).collect();
    let sm: Vec<std::sync::Mutex<u64>> = (0..8).map(|_| std::sync::Mutex::new(0)).collect();
    let tm: Vec<TracingMutex<u64>> = (0..8).map(|_| TracingMutex::new(0)).collect();
    let ours: Vec<Mutex<u64>> = DEEP.iter().map(|c| Mutex::with_class(0, c)).collect();

    let mut g = c.benchmark_group("nested-8");
    g.bench_function("parking_lot", |b| b.iter(|| lifo8!(&pl, lock)));
    g.bench_function("std", |b| b.iter(|| lifo8!(&sm, lock.unwrap())));
    g.bench_function("tracing-mutex", |b| b.iter(|| lifo8!(&tm, lock)));
    g.bench_function(MODE, |b| b.iter(|| lifo8!(&ours, lock)));
    g.finish();

    // The same locks released front to back, as a `Vec` or array of guards drops: every
    // release but the last is out of order.
    let mut g = c.benchmark_group("nested-8-fifo-release");
    g.bench_function("parking_lot", |b| {
        b.iter(|| {
            let gs: [_; 8] = std::array::from_fn(|i| black_box(&pl[i]).lock());
            black_box(&gs);
        })
    });
    g.bench_function(MODE, |b| {
        b.iter(|| {
            let gs: [_; 8] = std::array::from_fn(|i| black_box(&ours[i]).lock());
            black_box(&gs);
        })
    });
    g.finish();
}

fn rwlock_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("rwlock-read");
    let pl = parking_lot::RwLock::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).read()));
    let ours = RwLock::new(0u64);
    g.bench_function(MODE, |b| b.iter(|| *black_box(&ours).read()));
    g.finish();
}

fn spin(c: &mut Criterion) {
    let mut g = c.benchmark_group("spin");
    let plain = spin::mutex::SpinMutex::<u64>::new(0);
    g.bench_function("spin", |b| b.iter(|| *black_box(&plain).lock() += 1));
    let ours = SpinLock::new(0u64);
    g.bench_function(MODE, |b| b.iter(|| *black_box(&ours).lock() += 1));
    g.finish();
}

static MAP: LockMap = LockMap::new("bench_map");
static WW: WwClass = WwClass::wait_die("bench_ww_class");

/// A pseudo-lock acquire+release against one plain mutex lock+unlock (with the validator off a
/// pseudo-lock is nothing at all).
fn pseudo_lock(c: &mut Criterion) {
    let mut g = c.benchmark_group("pseudo-lock");
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot-mutex", |b| b.iter(|| *black_box(&pl).lock() += 1));
    g.bench_function(MODE, |b| b.iter(|| drop(black_box(&MAP).lock())));
    g.finish();
}

/// A ww mutex locked and unlocked under one acquire context (the plain counterpart is the same
/// ww mutex with the validator off: compare the two runs).
fn ww_mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("ww-mutex");
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot-mutex", |b| b.iter(|| *black_box(&pl).lock() += 1));
    let m = WwMutex::new(0u64, &WW);
    let ctx = WwAcquireCtx::new(&WW);
    g.bench_function(MODE, |b| b.iter(|| *black_box(&m).lock(&ctx).unwrap() += 1));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = single, nested2, nested8, rwlock_read, spin, pseudo_lock, ww_mutex
}
criterion_main!(benches);
