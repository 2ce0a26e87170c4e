//! The drm-sim workload, CPU-bound (`--gpu-time-us 0`: the simulated GPU completes every job at
//! once, so the run is bounded by the stack's own code and its locking), with the validator on
//! and off side by side in one run: a fixed budget of jobs, and the time of the clients' phase
//! (what `jobs_per_s` divides by) as the measurement.
//!
//! ```text
//! cargo bench --bench drm_sim
//! ```
//!
//! The validator is a compile-time feature, and this package turns it on for everything it
//! links (`lockdep` with `check`), so the two sides cannot share one binary:
//! - **on**: the library, in this process ([`drm_sim::workload::Workload::run`]). Each
//!   iteration starts from a validator that knows nothing (`lockdep::reset`), as a fresh
//!   `drm-sim` process would, so the chains are validated again inside the measured phase.
//! - **off**: the `drm-sim` binary built without default features (`cargo build --release -p
//!   drm-sim --no-default-features --target-dir target/drm-sim-off`, done once by the bench),
//!   one process per iteration, timed by the `elapsed_s` of its summary line — the same
//!   phase as `Summary::elapsed` on the other side, so process start-up and teardown count on
//!   neither.
//!
//! After both, one line per side gives jobs/s and the fence latency percentiles (medians over
//! the iterations), and the on/off ratio (goal: ≥ 0.7).

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use drm_sim::workload::{Workload, WorkloadConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// Jobs per iteration.
const JOBS: u64 = 5000;
const CLIENTS: usize = 4;
const DEVICES: usize = 2;

/// (jobs/s, p50 µs, p99 µs) of every iteration, per side.
static ON: Mutex<Vec<(f64, u64, u64)>> = Mutex::new(Vec::new());
static OFF: Mutex<Vec<(f64, u64, u64)>> = Mutex::new(Vec::new());

fn config() -> WorkloadConfig {
    WorkloadConfig {
        seed: 1,
        // Long enough never to end the run: the job budget does.
        duration: Duration::from_secs(600),
        jobs: Some(JOBS),
        clients: CLIENTS,
        devices: DEVICES,
        gpu_time: Duration::ZERO,
        unplug: false,
        ..WorkloadConfig::default()
    }
}

/// One run in this process with the validator on; the clients' time.
fn run_on() -> Duration {
    lockdep::reset();
    let s = Workload::run(&config(), |_| {}).expect("the workload runs");
    assert_eq!(
        lockdep::take_reports().len(),
        0,
        "the clean workload reports nothing"
    );
    ON.lock().unwrap().push((
        s.jobs_per_s(),
        s.fence_percentile_us(50),
        s.fence_percentile_us(99),
    ));
    s.elapsed
}

/// Builds the binary without the validator (once) and returns its path.
fn off_binary() -> PathBuf {
    drm_sim::testing::build_without_validator(true)
}

/// The value of `key` in a summary line.
fn value<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{key} missing from {line}"))
}

/// One run of the binary without the validator; the clients' time from its summary line.
fn run_off(bin: &Path) -> Duration {
    let c = config();
    let out = Command::new(bin)
        .args(["--quiet", "--no-unplug", "--gpu-time-us", "0", "--seed", "1"])
        .args(["--jobs", &c.jobs.unwrap_or(JOBS).to_string()])
        .args(["--duration", &c.duration.as_secs().to_string()])
        .args([
            "--clients",
            &c.clients.to_string(),
            "--devices",
            &c.devices.to_string(),
        ])
        .output()
        .expect("run drm-sim");
    assert!(
        out.status.success(),
        "drm-sim without the validator: {:?}",
        out.status
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let line = stdout.lines().last().expect("a summary line");
    let num = |k: &str| {
        value(line, k)
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{k} in {line}"))
    };
    OFF.lock().unwrap().push((
        num("jobs_per_s"),
        num("fence_p50_us") as u64,
        num("fence_p99_us") as u64,
    ));
    Duration::from_secs_f64(num("elapsed_s"))
}

fn median(v: &[(f64, u64, u64)]) -> (f64, u64, u64) {
    let mut j: Vec<f64> = v.iter().map(|x| x.0).collect();
    let mut p50: Vec<u64> = v.iter().map(|x| x.1).collect();
    let mut p99: Vec<u64> = v.iter().map(|x| x.2).collect();
    j.sort_by(f64::total_cmp);
    p50.sort_unstable();
    p99.sort_unstable();
    let m = v.len() / 2;
    (j[m], p50[m], p99[m])
}

fn bench(c: &mut Criterion) {
    let bin = off_binary();
    let mut g = c.benchmark_group("drm_sim_cpu_bound");
    // Each iteration is a whole run of about a second: one per sample.
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.bench_function("lockdep-on", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_on()).sum())
    });
    g.bench_function("lockdep-off", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_off(&bin)).sum())
    });
    g.finish();
    let (on, off) = (ON.lock().unwrap(), OFF.lock().unwrap());
    // `cargo test` runs each benchmark once in a debug build: no figures to compare then.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    if !benchmarking || on.is_empty() || off.is_empty() {
        return;
    }
    let (a, b) = (median(&on), median(&off));
    println!(
        "drm_sim ({JOBS} jobs, {CLIENTS} clients, {DEVICES} devices, CPU-bound), medians of {} and {} runs:",
        on.len(),
        off.len()
    );
    println!(
        "  lockdep on:  {:.0} jobs/s, fence p50 {} us, p99 {} us",
        a.0, a.1, a.2
    );
    println!(
        "  lockdep off: {:.0} jobs/s, fence p50 {} us, p99 {} us",
        b.0, b.1, b.2
    );
    println!("  on/off jobs/s: {:.2} (goal >= 0.7)", a.0 / b.0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
