//! `DrmGpuScheduler`: the GPU scheduler (drm_sched). Mirrors include/drm/gpu_scheduler.h and
//! drivers/gpu/drm/scheduler/ (one file per kernel file below).
//!
//! One scheduler per hardware queue; each scheduler has one run queue per priority; each run
//! queue holds entities (one per client context and ring); each entity holds jobs in the order
//! they were pushed. A job waits for its dependency fences (by fence callbacks, never by
//! polling), runs on the hardware through the driver's [`DrmSchedBackendOps::run_job`], and
//! completes when the hardware fence it returned signals: then its `finished` fence signals and
//! the free-job work item hands it back to the driver.
//!
//! ```text
//! ioctl thread                    submit workqueue (ordered)          GPU irq thread
//! DrmSchedJob::init
//! add_dependency / add_resv_dependencies
//! entity.submit_lock()
//! job.arm(&guard)  ── signalling section (arm → push) ──
//! job.push(&guard) ─ first job: rq add, wakeup ─▶ run_job_work
//!                                                  select entity (credits), pop (deps by cb)
//!                                                  ops.run_job → hardware fence (parent)
//!                                                  scheduled.signal(), parent.add_callback
//!                                                                                  parent.signal()
//!                                                  free_job_work ◀─ queue ── job_done: finished.signal()
//!                                                  ops.free_job
//! ```
//!
//! A driver implements [`DrmSchedBackendOps`]; a submission is `init`, dependencies, then
//! `arm` and `push` under the entity's submit lock:
//!
//! ```
//! use drm_sim::{bugs::Bugs, drm_drv::DrmDevice, dma_fence::DmaFence, error::KResult};
//! use drm_sim::scheduler::*;
//! use std::sync::Arc;
//!
//! /// A driver whose "hardware" completes every job at once.
//! struct Instant;
//! impl DrmSchedBackendOps for Instant {
//!     fn run_job(&self, _job: &DrmSchedJob) -> KResult<Option<Arc<DmaFence>>> {
//!         Ok(None)
//!     }
//!     fn timedout_job(&self, _job: &DrmSchedJob) -> DrmGpuSchedStat {
//!         DrmGpuSchedStat::Nominal
//!     }
//!     fn free_job(&self, job: DrmSchedJob) {
//!         job.cleanup();
//!     }
//! }
//!
//! let dev = DrmDevice::new("card0", Bugs::NONE);
//! let sched = DrmGpuScheduler::new(Arc::new(Instant), DrmSchedInitArgs::new("ring0", dev)).unwrap();
//! let entity = DrmSchedEntity::new(&sched, DrmSchedPriority::Normal);
//! let mut job = DrmSchedJob::init(&entity, 1, 0).unwrap(); // allocates: before the lock
//! let guard = entity.submit_lock();
//! job.arm(&guard); // the fences exist from here on
//! let finished = job.s_fence().finished().clone();
//! job.push(&guard);
//! drop(guard);
//! finished.wait(false).unwrap();
//! entity.destroy();
//! sched.fini();
//! # assert!(lockdep::take_reports().is_empty());
//! ```
//!
//! - [`sched_main`] — the scheduler, its run queues, jobs, the run/free work items and the TDR
//!   (drivers/gpu/drm/scheduler/sched_main.c).
//! - [`sched_entity`] — entities: push, pop with dependency callbacks, flush, kill, fini
//!   (drivers/gpu/drm/scheduler/sched_entity.c).
//! - [`sched_fence`] — the `scheduled`/`finished` fence pair of a job
//!   (drivers/gpu/drm/scheduler/sched_fence.c).
//!
//! # Contract
//! - The driver implements [`DrmSchedBackendOps`]; `run_job`, `timedout_job` and `free_job` run
//!   inside dma-fence signalling sections (R4): no GFP_KERNEL allocation, no dma_resv lock, no
//!   fence wait under a lock the signalling path takes.
//! - `arm` and `push` run under the entity's submit lock (R22), the window between them is a
//!   signalling section (Xe's annotation), so dependencies are added before `arm`.
//! - Call [`DrmGpuScheduler::fini`] before dropping the last reference: it joins the submit
//!   workqueue from the caller's thread.
//!
//! # Locking
//! Outer to inner: `&entity->submit_lock` (driver's) → `&entity->rq_lock` → `&rq->lock`;
//! `&sched->job_list_lock` is a leaf; `&fence->lock` (the shared `s_fence->lock` of a job's two
//! fences) is taken inside the hardware fence's lock when the irq handler completes a job.
//!
//! # Annotations
//! The submit workqueue is ordered, `WQ_MEM_RECLAIM`, and carries [`DRM_SCHED_LOCKDEP_MAP`]
//! (`drm_sched_lockdep_map`, shared by every scheduler-owned submit queue); its items are
//! `(work_completion)(&sched->work_run_job)` and `(work_completion)(&sched->work_free_job)`;
//! the TDR is `(work_completion)(&(&sched->work_tdr)->work)`. `dma_fence_map` is read-trylocked
//! around run_job, free_job and the TDR.
//!
//! # Rules
//! R1–R5 (signalling sections), R22 (submit lock), R23 (`job_list_lock` leaf), R24
//! (`cancel_work_sync` in `stop`), R25 (`resubmit_jobs` is deprecated).
//!
//! # Simplified
//! One scheduler per entity (no load balancing over a scheduler list, no
//! `drm_sched_entity_select_rq` migration); the scheduling policy is per scheduler (the
//! kernel's `sched_policy` module parameter, scoped to one scheduler); no `score`, no tracing.

pub mod sched_entity;
pub mod sched_fence;
pub mod sched_main;

use crate::dma_fence::DmaFence;
use crate::error::KResult;
use lockdep::LockMap;
use std::sync::Arc;

pub use sched_entity::{DrmSchedEntity, DrmSchedSubmitGuard};
pub use sched_fence::DrmSchedFence;
pub use sched_main::{DrmGpuScheduler, DrmSchedInitArgs, DrmSchedJob};

/// The lockdep map every scheduler-owned submit workqueue shares (`drm_sched_lockdep_map`), so
/// flushing or cancelling any scheduler's work is one class to the validator, whatever the
/// scheduler (the kernel's `drm_sched_alloc_wq`).
pub static DRM_SCHED_LOCKDEP_MAP: LockMap = LockMap::new("drm_sched_lockdep_map");

/// A run queue's priority; lower values are served first (`enum drm_sched_priority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DrmSchedPriority {
    /// `DRM_SCHED_PRIORITY_KERNEL`: the kernel's own jobs (page-table updates, moves).
    Kernel = 0,
    /// `DRM_SCHED_PRIORITY_HIGH`.
    High = 1,
    /// `DRM_SCHED_PRIORITY_NORMAL`: ordinary clients.
    Normal = 2,
    /// `DRM_SCHED_PRIORITY_LOW`.
    Low = 3,
}

impl DrmSchedPriority {
    /// `DRM_SCHED_PRIORITY_COUNT`: the most run queues a scheduler can have.
    pub const COUNT: usize = 4;
}

/// How a run queue picks the next entity (`DRM_SCHED_POLICY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DrmSchedPolicy {
    /// `DRM_SCHED_POLICY_FIFO` (the kernel's default): the ready entity whose oldest queued
    /// job was pushed first.
    #[default]
    Fifo,
    /// `DRM_SCHED_POLICY_RR`: round robin over the ready entities, resuming after the one
    /// served last.
    Rr,
}

/// What the driver's timeout handler found (`enum drm_gpu_sched_stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DrmGpuSchedStat {
    /// `DRM_GPU_SCHED_STAT_NOMINAL` (now `_RESET`): the job hung and the GPU was reset; the
    /// timeout is re-armed for the next job.
    Nominal,
    /// `DRM_GPU_SCHED_STAT_ENODEV`: the device is gone; the timeout is not re-armed.
    Enodev,
    /// `DRM_GPU_SCHED_STAT_NO_HANG`: the job is still making progress; it goes back on the
    /// pending list and the timeout is re-armed.
    NoHang,
}

/// The driver's side of the scheduler (`struct drm_sched_backend_ops`).
///
/// The scheduler calls these from its workqueues, inside dma-fence signalling sections, so an
/// implementation may not allocate with `GFP_KERNEL`, take a dma_resv lock or wait on a fence
/// while holding a lock that the signalling path takes (R1–R4).
pub trait DrmSchedBackendOps: Send + Sync {
    /// `prepare_job`: one more dependency to wait for before the job may run, asked after the
    /// job's own dependencies have signalled (e.g. a VM update). `None` when ready.
    fn prepare_job(&self, job: &DrmSchedJob, entity: &DrmSchedEntity) -> Option<Arc<DmaFence>> {
        let _ = (job, entity);
        None
    }

    /// `run_job`: write the job to the hardware and return its hardware fence (the job's
    /// `parent`), `Ok(None)` if there is nothing to run (the job completes at once), or an
    /// error that becomes the error of the job's `finished` fence.
    fn run_job(&self, job: &DrmSchedJob) -> KResult<Option<Arc<DmaFence>>>;

    /// `timedout_job`: the oldest pending job exceeded the timeout. A driver typically calls
    /// [`DrmGpuScheduler::stop`], resets the engine, sets the guilty job's error and calls
    /// [`DrmGpuScheduler::start`].
    fn timedout_job(&self, job: &DrmSchedJob) -> DrmGpuSchedStat;

    /// `free_job`: the job's `finished` fence has signalled; the job is the driver's again
    /// (dropping it is `drm_sched_job_cleanup`).
    fn free_job(&self, job: DrmSchedJob);
}
