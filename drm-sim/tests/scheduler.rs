//! The GPU scheduler on the simulated GPU, end to end: ordering, fences, credits, selection
//! policies, timeouts and recovery, stop/start, entity teardown, unplug — and the injected
//! bugs of the scheduler's driver, each reported on its first occurrence while the clean path
//! stays silent.
//!
//! Every test runs under `testing::serial()` (lockdep's reports are process-wide) on devices
//! with a manual clock, so a timeout fires exactly when the test advances the clock.

mod common;

use common::sched::{done, hang_and_recover, submit, WAIT};
use drm_sim::bugs::{Bug, Bugs};
use drm_sim::clock::Clock;
use drm_sim::dma_fence::{DmaFence, DmaFenceOps};
use drm_sim::drm_drv::DrmDevice;
use drm_sim::error::Errno;
use drm_sim::gpu::GpuCommand;
use drm_sim::scheduler::{DrmSchedEntity, DrmSchedInitArgs, DrmSchedJob, DrmSchedPolicy, DrmSchedPriority};
use drm_sim::sim_driver::SimGpu;
use drm_sim::testing::{kinds, reports, serial};
use drm_sim::workqueue::system_wq;
use lockdep::ReportKind::CircularDependency;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(100);

fn device(name: &str, bugs: Bugs) -> (Arc<DrmDevice>, Clock) {
    let clock = Clock::manual();
    (DrmDevice::with_clock(name, bugs, clock.clone()), clock)
}

fn gpu(dev: &Arc<DrmDevice>, name: &'static str, configure: impl FnOnce(&mut DrmSchedInitArgs)) -> SimGpu {
    SimGpu::new(dev, name, |a| {
        a.timeout = Some(TIMEOUT);
        configure(a);
    })
    .expect("a valid scheduler configuration")
}

/// A fence only the test signals (a user-space or foreign-driver fence).
struct Manual;

impl DmaFenceOps for Manual {
    fn get_driver_name(&self) -> &'static str {
        "test"
    }
    fn get_timeline_name(&self) -> &'static str {
        "manual"
    }
}

fn manual_fence() -> Arc<DmaFence> {
    DmaFence::init(
        Arc::new(Manual),
        drm_sim::dma_fence::dma_fence_context_alloc(1),
        1,
    )
}

fn teardown(g: &SimGpu, entities: &[&Arc<DrmSchedEntity>]) {
    for e in entities {
        e.flush(Duration::from_millis(50));
        e.fini();
    }
    g.fini();
    system_wq().flush_workqueue();
}

#[test]
fn every_job_completes_and_each_fence_and_callback_fires_once() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let (a, b) = (
        g.entity(DrmSchedPriority::Normal),
        g.entity(DrmSchedPriority::Normal),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let mut fences = Vec::new();
    for i in 0..40 {
        let e = if i % 2 == 0 { &a } else { &b };
        let (s, f) = submit(
            &g,
            e,
            GpuCommand::run(Duration::from_micros(if i % 5 == 0 { 200 } else { 0 })),
            &[],
        );
        let c = calls.clone();
        if f.add_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .is_err()
        {
            calls.fetch_add(1, Ordering::SeqCst);
        }
        fences.push((s, f));
    }
    for (s, f) in &fences {
        assert_eq!(done(f), None);
        assert!(s.is_signaled(), "scheduled signals before finished");
        assert!(s.timestamp() <= f.timestamp());
        assert_eq!(f.signal(), Err(Errno::Einval), "a second signal is refused");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 40, "each callback ran exactly once");
    teardown(&g, &[&a, &b]);
    assert_eq!(
        g.driver.freed(),
        40,
        "every job was handed back to the driver once"
    );
    assert_eq!(g.engine.stats().completed, 40);
    assert!(kinds().is_empty(), "the clean submission path is silent");
}

#[test]
fn a_job_never_runs_before_its_dependencies_signal() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g1 = gpu(&dev, "gfx", |_| {});
    let g2 = gpu(&dev, "compute", |_| {});
    let (a, b, c) = (
        g1.entity(DrmSchedPriority::Normal),
        g1.entity(DrmSchedPriority::Normal),
        g2.entity(DrmSchedPriority::Normal),
    );
    // A foreign fence blocks the job until it signals.
    let user = manual_fence();
    let (blocked_s, blocked_f) = submit(&g1, &a, GpuCommand::default(), std::slice::from_ref(&user));
    // Same scheduler: the dependent waits for `scheduled` only, the ring orders the rest.
    let (first_s, first_f) = submit(&g1, &b, GpuCommand::run(Duration::from_millis(20)), &[]);
    let (then_s, then_f) = submit(&g1, &b, GpuCommand::default(), &[]);
    // Another scheduler: the dependent waits for `finished`.
    let (other_s, other_f) = submit(&g2, &c, GpuCommand::default(), std::slice::from_ref(&first_f));
    assert_eq!(done(&then_f), None);
    assert_eq!(done(&other_f), None);
    assert!(
        other_s.timestamp() >= first_f.timestamp(),
        "a foreign dependency is waited for to finish"
    );
    assert!(then_s.timestamp() >= first_s.timestamp());
    assert!(
        !blocked_s.is_signaled(),
        "the job behind an unsignalled fence did not run"
    );
    assert_eq!(g1.engine.stats().submitted, 2);
    user.signal().unwrap();
    assert_eq!(done(&blocked_f), None);
    assert!(blocked_s.timestamp() >= user.timestamp());
    teardown(&g1, &[&a, &b]);
    teardown(&g2, &[&c]);
    assert!(kinds().is_empty());
}

#[test]
fn credits_limit_the_jobs_on_the_hardware() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |a| a.credit_limit = 2);
    let e = g.entity(DrmSchedPriority::Normal);
    let cmds = [
        GpuCommand::hang(),
        GpuCommand::hang(),
        GpuCommand::default(),
        GpuCommand::default(),
    ];
    let jobs: Vec<_> = cmds.iter().map(|c| submit(&g, &e, *c, &[])).collect();
    jobs[0].0.wait(false).unwrap();
    jobs[1].0.wait(false).unwrap();
    assert_eq!(g.sched.credit_count(), 2);
    assert_eq!(g.engine.ring_len(), 2);
    assert!(
        !jobs[2].0.is_signaled() && !jobs[3].0.is_signaled(),
        "no credits left for a third job"
    );
    // A job asking for more than the limit is truncated to it: it runs once credits free up
    // (it could never fit otherwise).
    let mut big = DrmSchedJob::init(&e, 5, 0).unwrap();
    big.set_driver_data(GpuCommand::default());
    let guard = e.submit_lock();
    big.arm(&guard);
    let big_f = big.s_fence().finished().clone();
    big.push(&guard);
    drop(guard);
    // Recover by hand: what was on the hardware is cancelled, the rest runs.
    g.sched.stop(None);
    g.engine.reset();
    g.sched.start();
    assert_eq!(done(&jobs[0].1), Some(Errno::Ecanceled));
    assert_eq!(done(&jobs[1].1), Some(Errno::Ecanceled));
    assert_eq!(done(&jobs[2].1), None);
    assert_eq!(done(&jobs[3].1), None);
    assert_eq!(done(&big_f), None, "the oversized job ran");
    teardown(&g, &[&e]);
    assert_eq!(g.sched.credit_count(), 0);
    assert!(kinds().is_empty());
}

/// The order in which the scheduler hands jobs to the hardware, by entity name.
fn run_order(policy: DrmSchedPolicy) -> Vec<&'static str> {
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |a| {
        a.credit_limit = 1;
        a.policy = policy;
    });
    let (a, b) = (
        g.entity(DrmSchedPriority::Normal),
        g.entity(DrmSchedPriority::Normal),
    );
    let k = g.entity(DrmSchedPriority::Kernel);
    let log = Arc::new(Mutex::new(Vec::new()));
    g.sched.wqueue_stop();
    let mut last = None;
    for (e, name) in [
        (&a, "a1"),
        (&a, "a2"),
        (&a, "a3"),
        (&b, "b1"),
        (&b, "b2"),
        (&k, "k1"),
    ] {
        let (s, f) = submit(&g, e, GpuCommand::default(), &[]);
        let l = log.clone();
        s.add_callback(move |_| l.lock().unwrap().push(name)).unwrap();
        last = Some(f);
    }
    let _ = last;
    g.sched.wqueue_start();
    let all = [&a, &b, &k];
    for e in all {
        assert!(e.flush(WAIT));
    }
    teardown(&g, &all);
    let order = log.lock().unwrap().clone();
    order
}

#[test]
fn fifo_serves_the_oldest_job_first_and_round_robin_rotates() {
    let _s = serial();
    assert_eq!(
        run_order(DrmSchedPolicy::Fifo),
        ["k1", "a1", "a2", "a3", "b1", "b2"]
    );
    assert_eq!(
        run_order(DrmSchedPolicy::Rr),
        ["k1", "a1", "b1", "a2", "b2", "a3"]
    );
    assert!(kinds().is_empty());
}

#[test]
fn the_tdr_recovers_a_hung_job_and_later_jobs_complete() {
    let _s = serial();
    let (dev, clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let (a, b) = (
        g.entity(DrmSchedPriority::Normal),
        g.entity(DrmSchedPriority::Normal),
    );
    let (hung_s, hung_f) = submit(&g, &a, GpuCommand::hang(), &[]);
    let (behind_s, behind_f) = submit(&g, &b, GpuCommand::default(), &[]);
    hung_s.wait(false).unwrap();
    behind_s.wait(false).unwrap();
    assert!(
        !hung_f.is_signaled() && !behind_f.is_signaled(),
        "the engine is stuck"
    );
    clock.advance(TIMEOUT);
    assert_eq!(
        done(&hung_f),
        Some(Errno::Etimedout),
        "the guilty job carries the timeout"
    );
    assert_eq!(
        done(&behind_f),
        Some(Errno::Ecanceled),
        "the reset cancelled what was on the ring"
    );
    assert_eq!(g.sched.timeouts(), 1);
    assert_eq!(g.driver.resets(), 1);
    let (_, later) = submit(&g, &a, GpuCommand::default(), &[]);
    let (_, later2) = submit(&g, &b, GpuCommand::run(Duration::from_millis(1)), &[]);
    assert_eq!(done(&later), None);
    assert_eq!(done(&later2), None);
    // A fault starts the TDR at once (drm_sched_fault), without the timeout. (Once the jobs
    // before it are freed: a TDR blaming a finished job is spurious and would re-arm on the
    // manual clock.)
    assert!(g.driver.wait_freed(4, WAIT));
    system_wq().flush_workqueue();
    let (_, faulted) = submit(&g, &a, GpuCommand::fault(), &[]);
    assert_eq!(done(&faulted), Some(Errno::Eio));
    let (_, after) = submit(&g, &b, GpuCommand::default(), &[]);
    assert_eq!(done(&after), None);
    assert_eq!(g.sched.timeouts(), 2);
    teardown(&g, &[&a, &b]);
    assert!(kinds().is_empty(), "the clean recovery path is silent");
}

#[test]
fn stop_and_start_cancel_what_was_on_the_hardware_and_run_the_rest() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let e = g.entity(DrmSchedPriority::Normal);
    let (_, finished_before) = submit(&g, &e, GpuCommand::default(), &[]);
    assert_eq!(done(&finished_before), None);
    let (running_s, running_f) = submit(&g, &e, GpuCommand::hang(), &[]);
    running_s.wait(false).unwrap();
    g.sched.stop(None);
    assert!(g.sched.wqueue_stopped());
    assert_eq!(
        g.sched.pending_jobs(),
        1,
        "the completed job was freed, the running one kept"
    );
    assert_eq!(g.sched.credit_count(), 0, "a detached job gives its credits back");
    let (queued_s, queued_f) = submit(&g, &e, GpuCommand::default(), &[]);
    assert!(!queued_s.is_signaled(), "nothing runs while stopped");
    g.engine.reset();
    g.sched.start();
    assert_eq!(
        done(&running_f),
        Some(Errno::Ecanceled),
        "no hardware fence any more: cancelled"
    );
    assert_eq!(done(&queued_f), None, "queued work runs after start");
    teardown(&g, &[&e]);
    assert!(kinds().is_empty());
}

#[test]
fn killing_an_entity_signals_its_jobs_in_order_with_an_error() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let e = g.entity(DrmSchedPriority::Normal);
    let user = manual_fence();
    let jobs: Vec<_> = (0..3)
        .map(|i| {
            submit(
                &g,
                &e,
                GpuCommand::default(),
                if i == 0 { std::slice::from_ref(&user) } else { &[] },
            )
        })
        .collect();
    assert!(
        !e.flush(Duration::from_millis(20)),
        "blocked behind the user fence"
    );
    e.fini();
    assert!(
        matches!(DrmSchedJob::init(&e, 1, 0), Err(Errno::Enoent)),
        "no jobs on a killed entity"
    );
    assert!(
        jobs.iter().all(|(s, f)| !s.is_signaled() && !f.is_signaled()),
        "killed jobs still wait for their dependencies"
    );
    user.signal().unwrap();
    let mut prev = None;
    for (s, f) in &jobs {
        assert_eq!(done(f), Some(Errno::Ecanceled));
        assert!(
            s.is_signaled() && s.timestamp() <= f.timestamp(),
            "scheduled, then finished"
        );
        assert!(prev <= f.timestamp(), "in queue order");
        prev = f.timestamp();
    }
    system_wq().flush_workqueue();
    assert_eq!(g.driver.freed(), 3);
    assert_eq!(g.engine.stats().submitted, 0, "nothing reached the hardware");
    teardown(&g, &[]);
    assert!(kinds().is_empty());
}

#[test]
fn unplug_force_retires_in_flight_work_and_stops_the_tdr() {
    let _s = serial();
    let (dev, clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let (a, b) = (
        g.entity(DrmSchedPriority::Normal),
        g.entity(DrmSchedPriority::Normal),
    );
    let user = manual_fence();
    let (hung_s, hung_f) = submit(&g, &a, GpuCommand::hang(), &[]);
    let (busy_s, busy_f) = submit(&g, &a, GpuCommand::run(Duration::from_secs(30)), &[]);
    let (_, queued_f) = submit(&g, &b, GpuCommand::default(), std::slice::from_ref(&user));
    hung_s.wait(false).unwrap();
    busy_s.wait(false).unwrap();
    // A TDR racing with the unplug sees the device gone: ENODEV, no reset, no re-arm.
    dev.force_unplugged_checks(true);
    clock.advance(TIMEOUT);
    system_wq().flush_workqueue();
    assert_eq!(g.sched.timeouts(), 1);
    clock.advance(TIMEOUT * 10);
    system_wq().flush_workqueue();
    assert_eq!(g.sched.timeouts(), 1, "no re-arm after ENODEV");
    assert_eq!(g.driver.resets(), 0, "nothing touched the hardware");
    assert!(
        !hung_f.is_signaled(),
        "the unplug path, not the TDR, completes the fences"
    );
    // The driver's unplug hook runs fini_hw: quiesce, force-complete, power down.
    dev.force_unplugged_checks(false);
    dev.unplug();
    assert_eq!(done(&hung_f), Some(Errno::Enodev));
    assert_eq!(done(&busy_f), Some(Errno::Enodev));
    // Queued and later jobs end with ENODEV too, before any file is closed.
    user.signal().unwrap();
    assert_eq!(done(&queued_f), Some(Errno::Enodev));
    let (_, late) = submit(&g, &a, GpuCommand::default(), &[]);
    assert_eq!(done(&late), Some(Errno::Enodev));
    teardown(&g, &[&a, &b]);
    assert_eq!(g.driver.freed(), 4, "every job was handed back");
    assert!(kinds().is_empty());
}

// ---- injected bugs ------------------------------------------------------------------------

/// The class names of the reports recorded since the last call, one list per report.
fn reported() -> Vec<(lockdep::ReportKind, Vec<String>)> {
    reports()
        .iter()
        .map(|r| (r.kind(), r.classes().iter().map(|c| c.to_string()).collect()))
        .collect()
}

fn names(r: &[(lockdep::ReportKind, Vec<String>)], kind: lockdep::ReportKind, classes: &[&str]) -> bool {
    if std::env::var_os("SCHED_TEST_SHOW").is_some() {
        eprintln!("{r:?}");
    }
    // Without the validator there is nothing to report; the functional half still ran.
    !lockdep::ENABLED
        || r.iter()
            .any(|(k, c)| *k == kind && classes.iter().all(|n| c.iter().any(|x| x == n)))
}

/// The boot-time orders every kernel has before a driver runs (`dma_resv_lockdep`): among
/// them `fs_reclaim -> mmu_notifier_invalidate_range_start -> dma_fence_map` and
/// `reservation_ww_class_mutex -> fs_reclaim`.
fn boot() {
    drm_sim::dma_resv::dma_resv_lockdep();
}

/// The first job through a clean driver reports nothing; the first through one with `bug`
/// reports a circular dependency naming `classes`.
fn first_job_reports(bug: Bug, classes: &[&str]) {
    for bugs in [Bugs::NONE, Bugs::NONE.with(bug)] {
        lockdep::reset();
        boot();
        let (dev, _clock) = device("card0", bugs);
        let g = gpu(&dev, "gfx", |_| {});
        let e = g.entity(DrmSchedPriority::Normal);
        let (_, f) = submit(&g, &e, GpuCommand::default(), &[]);
        assert_eq!(done(&f), None);
        let r = reported();
        if bugs.is_empty() {
            assert!(r.is_empty(), "clean: {r:?}");
        } else {
            assert!(names(&r, CircularDependency, classes), "{bug}: {r:?}");
        }
        teardown(&g, &[&e]);
        kinds();
    }
}

#[test]
fn alloc_in_run_job_is_reported_on_the_first_job() {
    let _s = serial();
    first_job_reports(Bug::AllocInRunJob, &["fs_reclaim"]);
}

#[test]
fn wait_in_signalling_is_reported_on_the_first_wait() {
    let _s = serial();
    for bugs in [Bugs::NONE, Bugs::NONE.with(Bug::WaitInSignalling)] {
        lockdep::reset();
        let (dev, _clock) = device("card0", bugs);
        let g = gpu(&dev, "gfx", |_| {});
        let e = g.entity(DrmSchedPriority::Normal);
        let (_, f) = submit(&g, &e, GpuCommand::default(), &[]);
        assert_eq!(done(&f), None);
        g.driver.wait_idle(&f).unwrap();
        let r = reported();
        if bugs.is_empty() {
            assert!(r.is_empty(), "clean: {r:?}");
        } else {
            assert!(
                names(&r, CircularDependency, &["&gpu->lock", "dma_fence_map"]),
                "{r:?}"
            );
        }
        teardown(&g, &[&e]);
        kinds();
    }
}

#[test]
fn tdr_bugs_are_reported_on_the_first_timeout() {
    let _s = serial();
    let cases: [(Bugs, &[&str]); 4] = [
        (Bugs::NONE, &[]),
        (
            Bugs::NONE.with(Bug::TdrTakesAllocLock),
            &["&vm->lock", "fs_reclaim", "dma_fence_map"],
        ),
        (
            Bugs::NONE.with(Bug::CancelWorkUnderRunLock),
            &["&gpu->lock", "(work_completion)(&sched->work_run_job)"],
        ),
        (
            Bugs::NONE.with(Bug::ResubmitJobs),
            &["fs_reclaim", "dma_fence_map"],
        ),
    ];
    for (bugs, classes) in cases {
        lockdep::reset();
        boot();
        let (dev, clock) = device("card0", bugs);
        let g = gpu(&dev, "gfx", |_| {});
        let e = g.entity(DrmSchedPriority::Normal);
        // The legitimate side of the vm lock: allocations under it, outside any section.
        g.driver.vm_bind(4096).unwrap();
        let (_, f) = submit(&g, &e, GpuCommand::default(), &[]);
        assert_eq!(done(&f), None);
        assert!(
            reported().is_empty(),
            "no report before the first timeout ({bugs:?})"
        );
        let (guilty, later) = hang_and_recover(&g, &clock, &e, 1, TIMEOUT);
        assert!(guilty.is_some(), "the guilty job ends with an error ({bugs:?})");
        assert_eq!(later, None, "work after the reset completes ({bugs:?})");
        let r = reported();
        if bugs.is_empty() {
            assert!(r.is_empty(), "clean: {r:?}");
        } else {
            assert!(names(&r, CircularDependency, classes), "{bugs:?}: {r:?}");
        }
        // A second timeout is not reported again.
        let _ = hang_and_recover(&g, &clock, &e, 3, TIMEOUT);
        assert!(reported().is_empty(), "reported once ({bugs:?})");
        teardown(&g, &[&e]);
        kinds();
    }
}

#[test]
fn resv_in_run_job_is_reported_on_the_first_job() {
    let _s = serial();
    first_job_reports(
        Bug::ResvInRunJob,
        &["reservation_ww_class_mutex", "dma_fence_map"],
    );
}

#[test]
fn buffers_shared_between_gpus_order_their_jobs_by_implicit_sync() {
    let _s = serial();
    boot();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let (dev2, _clock2) = device("card1", Bugs::NONE);
    let (g1, g2) = (gpu(&dev, "gfx", |_| {}), gpu(&dev2, "video", |_| {}));
    let (a, b) = (
        g1.entity(DrmSchedPriority::Normal),
        g2.entity(DrmSchedPriority::Normal),
    );
    let bo = drm_sim::drm_gem_shmem_helper::DrmGemShmemObject::create(&dev, 4096).unwrap();
    let other = drm_sim::drm_gem_shmem_helper::DrmGemShmemObject::create(&dev2, 4096).unwrap();
    let writer = g1
        .submit_bos(
            &a,
            GpuCommand::run(Duration::from_millis(20)),
            1,
            &[],
            &[(bo.clone(), true)],
        )
        .unwrap();
    let reader = g2
        .submit_bos(
            &b,
            GpuCommand::default(),
            1,
            &[],
            &[(bo.clone(), false), (other.clone(), true)],
        )
        .unwrap();
    // The jobs hold the last references to `other`: the free work drops them (the deferred
    // GEM free, R7), inside its signalling section.
    drop(other);
    assert_eq!(done(&reader), None);
    assert!(
        reader.timestamp() >= writer.timestamp(),
        "the reader waited for the writer"
    );
    assert!(writer.is_signaled());
    // Both fences were published in the shared buffer's reservation, with their usages.
    {
        use drm_sim::dma_resv::DmaResvUsage::{Bookkeep, Read, Write};
        let g = bo.resv().lock(None).unwrap();
        let published = bo.resv().fences(&g, Bookkeep);
        assert!(published
            .iter()
            .any(|(f, u)| Arc::ptr_eq(f, &writer) && *u == Write));
        assert!(published
            .iter()
            .any(|(f, u)| Arc::ptr_eq(f, &reader) && *u == Read));
    }
    teardown(&g1, &[&a]);
    teardown(&g2, &[&b]);
    drm_sim::drm_gem::flush_free_work();
    assert!(
        kinds().is_empty(),
        "the full submission path (DRM-RULES 3.1) is silent"
    );
}

#[test]
fn arm_and_push_need_the_entitys_own_submit_lock_and_an_armed_job_always_signals() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let (a, b) = (
        g.entity(DrmSchedPriority::Normal),
        g.entity(DrmSchedPriority::Normal),
    );
    let wrong = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut job = DrmSchedJob::init(&a, 1, 0).unwrap();
        let guard = b.submit_lock();
        job.arm(&guard);
    }));
    assert!(
        wrong.is_err(),
        "arming under another entity's submit lock is refused"
    );
    // A job armed and then abandoned (an error between arm and push) still signals.
    let mut job = DrmSchedJob::init(&a, 1, 0).unwrap();
    let guard = a.submit_lock();
    job.arm(&guard);
    let (s, f) = (
        job.s_fence().scheduled().clone(),
        job.s_fence().finished().clone(),
    );
    job.cleanup();
    drop(guard);
    assert!(s.is_signaled());
    assert_eq!(done(&f), Some(Errno::Ecanceled));
    assert!(
        matches!(DrmSchedJob::init(&a, 0, 0), Err(Errno::Einval)),
        "a job costs credits"
    );
    teardown(&g, &[&a, &b]);
    assert!(kinds().is_empty());
}

#[test]
fn the_window_from_arm_to_push_is_a_signalling_section() {
    let _s = serial();
    boot();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let e = g.entity(DrmSchedPriority::Normal);
    // Allocating before arm (job init, dependencies) is what the kernel requires: silent.
    let mut job = DrmSchedJob::init(&e, 1, 0).unwrap();
    drop(drm_sim::mm::kmalloc(4096, drm_sim::mm::GFP_KERNEL).unwrap());
    let guard = e.submit_lock();
    job.arm(&guard);
    let f = job.s_fence().finished().clone();
    job.push(&guard);
    drop(guard);
    assert_eq!(done(&f), None);
    assert!(reported().is_empty());
    // Allocating after arm: the fence may already be waited on by reclaim.
    let mut job = DrmSchedJob::init(&e, 1, 0).unwrap();
    let guard = e.submit_lock();
    job.arm(&guard);
    drop(drm_sim::mm::kmalloc(4096, drm_sim::mm::GFP_KERNEL).unwrap());
    let f = job.s_fence().finished().clone();
    job.push(&guard);
    drop(guard);
    assert_eq!(done(&f), None);
    let r = reported();
    assert!(
        names(&r, CircularDependency, &["dma_fence_map", "fs_reclaim"]),
        "{r:?}"
    );
    teardown(&g, &[&e]);
    kinds();
}

#[test]
fn fini_with_jobs_still_on_the_hardware_cancels_and_hands_them_back() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let e = g.entity(DrmSchedPriority::Normal);
    let (s1, hung) = submit(&g, &e, GpuCommand::hang(), &[]);
    let (s2, behind) = submit(&g, &e, GpuCommand::default(), &[]);
    s1.wait(false).unwrap();
    s2.wait(false).unwrap();
    e.fini();
    g.sched.fini();
    assert_eq!(done(&hung), Some(Errno::Ecanceled));
    assert_eq!(done(&behind), Some(Errno::Ecanceled));
    assert_eq!(g.driver.freed(), 2);
    assert!(!g.sched.is_ready());
    assert!(matches!(DrmSchedJob::init(&e, 1, 0), Err(Errno::Enoent)));
    g.engine.fini();
    assert_eq!(
        g.engine.stats().cancelled,
        2,
        "the engine let go of the commands at power-down"
    );
    assert!(kinds().is_empty());
}

#[test]
fn closing_a_file_destroys_its_entities() {
    let _s = serial();
    let (dev, _clock) = device("card0", Bugs::NONE);
    let g = gpu(&dev, "gfx", |_| {});
    let file = drm_sim::drm_drv::DrmFile::open(&dev, drm_sim::mm::MmStruct::new()).unwrap();
    let e = g.entity_for_file(&file, DrmSchedPriority::Normal);
    let (_, ran) = submit(&g, &e, GpuCommand::default(), &[]);
    assert_eq!(done(&ran), None);
    let user = manual_fence();
    let (_, blocked) = submit(&g, &e, GpuCommand::default(), std::slice::from_ref(&user));
    let (_, behind) = submit(&g, &e, GpuCommand::default(), &[]);
    file.close();
    assert!(e.is_stopped(), "the close hook killed the entity");
    user.signal().unwrap();
    assert_eq!(done(&blocked), Some(Errno::Ecanceled));
    assert_eq!(done(&behind), Some(Errno::Ecanceled));
    teardown(&g, &[]);
    assert!(kinds().is_empty());
}
