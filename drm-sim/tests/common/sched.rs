//! Helpers shared by the tests that drive the simulated GPU's scheduler: submitting a job with
//! its fences, and hanging one so the TDR recovers it on a manual clock.

use std::sync::Arc;
use std::time::Duration;

use drm_sim::clock::Clock;
use drm_sim::dma_fence::DmaFence;
use drm_sim::error::Errno;
use drm_sim::gpu::GpuCommand;
use drm_sim::scheduler::{DrmSchedEntity, DrmSchedJob};
use drm_sim::sim_driver::SimGpu;
use drm_sim::workqueue::system_wq;

/// How long a test waits for a fence before calling it lost.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits for `f` and returns its error.
pub fn done(f: &DmaFence) -> Option<Errno> {
    f.wait_timeout(false, WAIT).expect("the fence signals");
    f.error()
}

/// Submits one job and returns the job's fences (scheduled, finished).
pub fn submit(
    _g: &SimGpu,
    e: &Arc<DrmSchedEntity>,
    cmd: GpuCommand,
    deps: &[Arc<DmaFence>],
) -> (Arc<DmaFence>, Arc<DmaFence>) {
    let mut job = DrmSchedJob::init(e, 1, e.id()).unwrap();
    job.set_driver_data(cmd);
    for d in deps {
        job.add_dependency(d.clone()).unwrap();
    }
    let guard = e.submit_lock();
    job.arm(&guard);
    let fences = (
        job.s_fence().scheduled().clone(),
        job.s_fence().finished().clone(),
    );
    job.push(&guard);
    fences
}

/// One hung job (after `jobs_before` jobs) and the TDR that recovers it once `clock` has
/// moved by the scheduler's `timeout`; returns the errors of the guilty job and of a job
/// submitted after the reset.
pub fn hang_and_recover(
    g: &SimGpu,
    clock: &Clock,
    e: &Arc<DrmSchedEntity>,
    jobs_before: u64,
    timeout: Duration,
) -> (Option<Errno>, Option<Errno>) {
    // Every earlier job is back with the driver, so the timeout can only blame the hang; and
    // an earlier TDR has returned (its final re-arm would push a timer this test fires back
    // by a whole timeout: `mod_delayed_work` on the manual clock).
    assert!(g.driver.wait_freed(jobs_before, WAIT));
    system_wq().flush_workqueue();
    let (s, f) = submit(g, e, GpuCommand::hang(), &[]);
    s.wait(false).unwrap();
    assert!(g.sched.timeout_pending(), "the TDR is armed for the hung job");
    clock.advance(timeout);
    let guilty = done(&f);
    let (_, later) = submit(g, e, GpuCommand::default(), &[]);
    (guilty, done(&later))
}
