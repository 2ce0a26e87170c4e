//! Runtime PM of the simulated GPU, end to end: a GPU woken from an ioctl is clean; woken from
//! `run_job` (the `runtime-pm-in-run-job` injected bug) its resume callback's clock/OPP locks,
//! which probe allocates under, land in the job's fence-signalling section, and that is
//! reported on the first job: run_job runs in a signalling section, on a reclaim-safe
//! queue, and either closes the cycle through `&opp_table->lock -> fs_reclaim`.

use drm_sim::bugs::{Bug, Bugs};
use drm_sim::clock::Clock;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::gpu::GpuCommand;
use drm_sim::mm::{self, GFP_KERNEL};
use drm_sim::pm_runtime::{device_pm, RpmStatus};
use drm_sim::scheduler::DrmSchedPriority;
use drm_sim::sim_driver::SimGpu;
use drm_sim::testing::{reports, serial};
use lockdep::ReportKind;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn classes(r: &lockdep::Report) -> Vec<String> {
    r.classes().iter().map(|c| c.to_string()).collect()
}

#[test]
fn waking_the_gpu_in_run_job_is_reported_on_the_first_job_and_at_submit_it_is_clean() {
    let _s = serial();
    for bugs in [Bugs::NONE, Bugs::NONE.with(Bug::RuntimePmInRunJob)] {
        lockdep::reset();
        drm_sim::dma_resv::dma_resv_lockdep();
        let clock = Clock::manual();
        let dev = DrmDevice::with_clock("card0", bugs, clock.clone());
        let g = SimGpu::new(&dev, "gfx", |_| {}).unwrap();
        let pm = device_pm(&dev);
        assert_eq!(pm.status(), RpmStatus::Suspended, "probed suspended");
        let e = g.entity(DrmSchedPriority::Normal);
        // The correct driver: the reference is taken in the submit ioctl, before the job's
        // fence exists, and the ioctl may allocate while holding it.
        let awake = bugs.is_empty().then(|| pm.get_sync().unwrap());
        drop(mm::kmalloc(256, GFP_KERNEL).unwrap());
        let f = g.submit(&e, GpuCommand::default(), 1, &[]).unwrap();
        f.wait_timeout(false, WAIT).unwrap();
        assert_eq!(f.error(), None, "the job ran ({bugs:?})");
        assert_eq!(pm.resumes(), 1, "woken once ({bugs:?})");
        drop(awake);
        let r = reports();
        if bugs.is_empty() {
            assert!(
                r.is_empty(),
                "clean: {:?}",
                r.iter().map(|r| r.summary()).collect::<Vec<_>>()
            );
        } else if lockdep::ENABLED {
            let first = r.first().expect("reported");
            assert_eq!(
                first.kind(),
                ReportKind::CircularDependency,
                "{}",
                first.summary()
            );
            let c = classes(first);
            for want in ["&gpu->active_lock", "&opp_table->lock", "fs_reclaim"] {
                assert!(c.iter().any(|x| x == want), "{want} in {c:?}");
            }
            // The cycle closes through the job's signalling section, or first through the
            // reclaim-safe submit queue the job runs on (`fs_reclaim -> drm_sched_lockdep_map`).
            assert!(
                c.iter()
                    .any(|x| x == "dma_fence_map" || x == "drm_sched_lockdep_map"),
                "{c:?}"
            );
        }
        // Idle for the delay: the GPU autosuspends; a second wake-up is not reported again.
        clock.advance(Duration::from_millis(50));
        pm.flush_autosuspend_work();
        assert_eq!(pm.status(), RpmStatus::Suspended, "autosuspended ({bugs:?})");
        let awake = bugs.is_empty().then(|| pm.get_sync().unwrap());
        let f = g.submit(&e, GpuCommand::default(), 1, &[]).unwrap();
        f.wait_timeout(false, WAIT).unwrap();
        drop(awake);
        assert_eq!(pm.resumes(), 2);
        assert!(reports().is_empty(), "reported once ({bugs:?})");
        e.destroy();
        g.fini();
        pm.disable();
    }
}
