//! The clean workload end to end, through the library: over several seeds, device and client
//! counts, GPU times and with or without the unplug, a run of a correct stack reports nothing,
//! and every functional invariant the run checks itself holds (each job's retire callback once
//! and as many as jobs, every fence signalled in time, completions after their dependencies,
//! the hung job ending with an error and later jobs completing, the unplug finishing with its
//! in-flight jobs failed, `ENODEV` from the unplugged device, its exported buffers still
//! readable) — a broken one makes `Workload::run` fail, and so the test.

use drm_sim::testing::{kinds, serial};
use drm_sim::workload::{Workload, WorkloadConfig};
use drm_sim::{Bug, Bugs};
use std::time::Duration;

fn run(cfg: &WorkloadConfig) -> drm_sim::workload::Summary {
    let mut ticks = 0u32;
    let s = Workload::run(cfg, |_| ticks += 1).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    assert!(ticks > 0, "progress is reported while it runs");
    s
}

fn config(seed: u64, devices: usize, clients: usize, gpu_us: u64) -> WorkloadConfig {
    WorkloadConfig {
        seed,
        duration: Duration::from_millis(900),
        clients,
        devices,
        gpu_time: Duration::from_micros(gpu_us),
        ..WorkloadConfig::default()
    }
}

#[test]
fn clean_runs_report_nothing_and_keep_every_invariant() {
    let _s = serial();
    for (seed, devices, clients, gpu_us) in [(1, 2, 4, 0), (2, 1, 3, 100), (3, 3, 5, 0), (4, 2, 1, 200)] {
        let cfg = config(seed, devices, clients, gpu_us);
        let s = run(&cfg);
        assert_eq!(kinds(), [], "a clean run reports nothing ({cfg:?})");
        assert!(s.jobs > 0 && s.fences == s.jobs, "{cfg:?}: {s:?}");
        assert_eq!(
            s.fence_latencies_us.len() as u64 + 2,
            s.jobs,
            "the probe's two jobs besides"
        );
        // One hang per device that has a client of the same index, each recovered by the TDR
        // (the run checks that later jobs there complete).
        assert!(s.tdr >= 1, "{cfg:?}: the hang was recovered by a reset: {s:?}");
        assert!(
            s.jobs_failed >= 3,
            "the hung job and the two killed by the unplug: {s:?}"
        );
        assert!(s.unplugged, "{cfg:?}");
        assert!(s.enodev >= 2, "ENODEV from the unplugged device: {s:?}");
        assert!(
            s.faults > 0 && s.reclaim_passes > 0,
            "faults and reclaim happened: {s:?}"
        );
        assert_eq!(s.recovered, 0);
        assert!(
            s.rpm_resumes > 0 && s.rpm_suspends > 0,
            "the GPUs were woken and autosuspended: {s:?}"
        );
        assert!(
            s.commits > 0 && s.flips > 0 && s.vblanks > 0,
            "the displays flipped: {s:?}"
        );
        assert!(s.panic_drawn, "the panic at the end drew: {s:?}");
    }
}

#[test]
fn without_the_unplug_nothing_returns_enodev() {
    let _s = serial();
    let cfg = WorkloadConfig {
        unplug: false,
        ..config(5, 2, 2, 0)
    };
    let s = run(&cfg);
    assert_eq!(kinds(), []);
    assert!(!s.unplugged);
    assert_eq!(s.enodev, 0, "{s:?}");
    assert_eq!(s.fence_latencies_us.len() as u64, s.jobs);
    assert!(s.tdr >= 1, "{s:?}");
    assert!(s.panic_drawn && s.flips > 0, "{s:?}");
}

#[test]
fn without_the_panic_nothing_is_drawn() {
    let _s = serial();
    let cfg = WorkloadConfig {
        panic: false,
        ..config(8, 1, 2, 0)
    };
    let s = run(&cfg);
    assert_eq!(kinds(), []);
    assert!(!s.panic_drawn && s.flips > 0, "{s:?}");
}

/// A fixed amount of work (what the benchmark runs): the clients stop once that many jobs
/// were submitted, well before the duration.
#[test]
fn a_job_budget_ends_the_run_early() {
    let _s = serial();
    let cfg = WorkloadConfig {
        jobs: Some(300),
        duration: Duration::from_secs(30),
        unplug: false,
        ..config(6, 2, 2, 0)
    };
    let s = run(&cfg);
    assert_eq!(kinds(), []);
    assert!(s.jobs >= 300 && s.jobs < 300 + 2 * 8, "{s:?}");
    assert!(s.elapsed < Duration::from_secs(20), "{s:?}");
}

/// The nearest faulty run: one injected bug is reported and the run still completes with
/// every invariant intact (the library leaves reporting to lockdep; the binary turns it into
/// exit status 1).
#[test]
fn an_injected_bug_is_reported_and_the_run_still_finishes() {
    let _s = serial();
    let cfg = WorkloadConfig {
        bugs: Bugs::NONE.with(Bug::AllocInRunJob),
        ..config(7, 2, 2, 0)
    };
    let s = run(&cfg);
    assert!(s.jobs > 0);
    let k = kinds();
    if lockdep::ENABLED {
        assert!(k.contains(&lockdep::ReportKind::CircularDependency), "{k:?}");
    } else {
        assert_eq!(k, []);
    }
}
