//! `SimDriver`: the driver backend of the simulated GPU. No kernel counterpart: simulates a
//! driver such as panfrost, v3d or msm — its `drm_sched_backend_ops`, its locks, its reset and
//! unplug paths — on top of [`crate::scheduler`] and [`crate::gpu`], so the scheduler core stays
//! driver-agnostic.
//!
//! [`SimGpu`] bundles one engine, its driver and its scheduler; [`SimGpu::submit`] is the whole
//! submission of DRM-RULES §3.1 for a job without buffers: job init and dependencies before
//! the submit lock, arm and push under it, the `finished` fence returned;
//! [`SimGpu::submit_bos`] adds the buffers (`drm_exec`, implicit dependencies, fences
//! published in every reservation before push).
//!
//! ```
//! use drm_sim::{bugs::Bugs, drm_drv::DrmDevice, gpu::GpuCommand};
//! use drm_sim::scheduler::DrmSchedPriority;
//! use drm_sim::sim_driver::SimGpu;
//! use std::time::Duration;
//!
//! let dev = DrmDevice::new("card0", Bugs::NONE);
//! let gpu = SimGpu::new(&dev, "gfx", |args| args.credit_limit = 8).unwrap();
//! let entity = gpu.entity(DrmSchedPriority::Normal); // one per client context
//! let a = gpu.submit(&entity, GpuCommand::run(Duration::from_micros(50)), 1, &[]).unwrap();
//! let b = gpu.submit(&entity, GpuCommand::default(), 1, &[a.clone()]).unwrap();
//! b.wait(false).unwrap();
//! assert!(a.is_signaled() && b.error().is_none());
//! entity.destroy(); // what closing the file does
//! gpu.fini();
//! # assert!(lockdep::take_reports().is_empty());
//! ```
//!
//! # Contract
//! - `run_job` takes `&gpu->lock`, then enters the device (`drm_dev_enter`; after unplug the
//!   job fails with `-ENODEV`) and writes the job's [`GpuCommand`] to the ring. A job whose
//!   `finished` already carries an error (cancelled as guilty) is not run.
//! - `timedout_job` (the TDR): after unplug it returns [`DrmGpuSchedStat::Enodev`] and touches
//!   nothing; for a job that completed meanwhile it returns [`DrmGpuSchedStat::NoHang`];
//!   otherwise `stop(bad)`, engine reset under `&gpu->lock`, `-ETIMEDOUT` on the guilty job
//!   (`-EIO` if it faulted), `start()`. Jobs that were on the hardware are cancelled
//!   (`-ECANCELED`); jobs not yet run run after the reset.
//! - [`SimDriver::vm_bind`] allocates with GFP_KERNEL under `&vm->lock` (legal: outside any
//!   signalling section); [`SimDriver::wait_idle`] reads the status register inside
//!   `drm_dev_enter`, then waits for a fence after leaving the section and dropping
//!   `&gpu->lock` (legal).
//! - [`SimGpu::handle_device_lost`]: a register reading all-ones (the bus lost the device)
//!   makes the driver unplug the device, after leaving its `drm_dev_enter` section.
//! - Unplug ([`SimGpu::fini_hw`], run by `dev.unplug()`): quiesce the submit work,
//!   force-complete every hardware fence with `-ENODEV` (which completes the jobs through their
//!   done callbacks), power the engine down, then let the scheduler drain the entities, whose
//!   jobs now fail `drm_dev_enter` in `run_job` and end with `-ENODEV`.
//! - Entities made by [`SimGpu::entity_for_file`] are destroyed when their file closes.
//!
//! # Locking
//! - `&gpu->lock` (mutex): taken by `run_job` (inside its signalling section) and by the reset;
//!   never held across a fence wait or `drm_sched_stop` (R1, R24). Taken before
//!   `drm_dev_enter`: lockdep orders a lock after the nearest held non-trylock lock, and an
//!   SRCU read section (a recursive read) breaks a dependency path, so a lock taken inside the
//!   section would not be ordered after `dma_fence_map` at all.
//! - `&vm->lock` (mutex): held around GFP_KERNEL allocations, so never taken in a signalling
//!   section (R2).
//! - [`SimGpu::submit_bos`]: `reservation_ww_class_acquire` → `reservation_ww_class_mutex` →
//!   `&entity->submit_lock`, then the arm → push signalling section.
//!
//! # Annotations
//! None of its own: the scheduler opens the signalling sections around the callbacks.
//!
//! # Rules
//! The injected bugs of this file break R1 (`wait-in-signalling`), R2 (`alloc-in-run-job`,
//! `tdr-takes-alloc-lock`, `resubmit-jobs`), R3 (`resv-in-run-job`, on the VM's
//! reservation), R24 (`cancel-work-under-run-lock`), R25 (`resubmit-jobs`), R27
//! (`unplug-in-dev-enter`) and R28 (`fence-wait-in-dev-enter`).
//!
//! # Simplified
//! - No real VM: `vm_bind` is only the allocation under its lock, the VM's resv only what
//!   `resv-in-run-job` locks. The hardware fence is preallocated with the job (as xe and
//!   panthor do), so the clean `run_job` allocates nothing.
//! - After unplug the scheduler keeps running (only `run_job` fails) instead of staying
//!   stopped until the files are closed, so queued jobs end at once rather than at file close.
//! - `cancel-work-under-run-lock` first quiesces the work items without the lock and then
//!   calls `drm_sched_stop` under it: the order is reported on the locked call, while the
//!   simulation cannot actually deadlock on it; `wait-in-signalling` waits with a timeout for
//!   the same reason.

use crate::bugs::{Bug, Bugs};
use crate::dma_fence::DmaFence;
use crate::dma_resv::{DmaResv, DmaResvUsage};
use crate::drm_drv::{DrmDevice, DrmFile};
use crate::drm_exec::{DrmExec, DrmExecFlags};
use crate::drm_gem::DrmGemObject;
use crate::error::{Errno, KResult};
use crate::gpu::{GpuCommand, GpuEngine};
use crate::mm::{self, GFP_KERNEL};
use crate::scheduler::{
    DrmGpuSchedStat, DrmGpuScheduler, DrmSchedBackendOps, DrmSchedEntity, DrmSchedInitArgs, DrmSchedJob,
};
use crate::wait::WaitQueueHead;
use lockdep::{LockClass, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

static FREED_WQ: LockClass = LockClass::new("&gpu->freed_wq");

/// Size of the driver state a job carries to the hardware (what `alloc-in-run-job` allocates).
const HW_JOB_SIZE: usize = 256;

/// The engine status register: reads all-ones once the bus lost the device.
pub const REG_STATUS: usize = 0x10;

/// The GPU timestamp register (read by [`crate::ioctl::get_timestamp`]).
pub const REG_TIMESTAMP: usize = 0x18;

/// The cache-flush register `CPU_PREP` writes (see [`crate::ioctl::gem_cpu_prep`]).
pub const REG_CACHE_FLUSH: usize = 0x20;

/// How long [`SimDriver::wait_idle`] waits at most.
pub const WAIT_IDLE_TIMEOUT: Duration = Duration::from_millis(200);

/// What the driver attaches to a job that uses buffers: its command and a reference on each
/// buffer, held until `free_job` (so a buffer's final put can come from the free work, inside
/// its signalling section: the deferred GEM free, R7). A job without buffers carries just a
/// [`GpuCommand`].
pub struct SimJob {
    /// The work for the engine.
    pub cmd: GpuCommand,
    /// The buffers the job reads or writes.
    pub bos: Vec<Arc<DrmGemObject>>,
}

/// The command a job carries (default: complete at once).
fn command(job: &DrmSchedJob) -> GpuCommand {
    job.driver_data::<SimJob>()
        .map(|j| j.cmd)
        .or_else(|| job.driver_data::<GpuCommand>().copied())
        .unwrap_or_default()
}

/// The simulated driver (`drm_sched_backend_ops` plus the driver's locks).
#[lockdep::lock_class]
pub struct SimDriver {
    dev: Arc<DrmDevice>,
    engine: Arc<GpuEngine>,
    bugs: Bugs,
    /// The driver's ring lock, taken in `run_job` (the classes of the two driver locks are
    /// declared on the fields, so every driver instance shares them).
    #[lock_class(name = "&gpu->lock")]
    gpu_lock: Mutex<()>,
    /// The VM lock, held around page-table allocations.
    #[lock_class(name = "&vm->lock")]
    vm_lock: Mutex<()>,
    /// The VM's page-table buffer reservation (what `resv-in-run-job` locks).
    vm_resv: Arc<DmaResv>,
    /// Set while the deprecated resubmission runs the pending jobs again.
    resubmitting: AtomicBool,
    resets: AtomicU64,
    freed: AtomicU64,
    /// Woken by every `free_job` (for [`SimDriver::wait_freed`]).
    freed_wq: WaitQueueHead,
}

impl SimDriver {
    /// A driver for `engine` on `dev`, with the device's injected bugs.
    pub fn new(dev: &Arc<DrmDevice>, engine: &Arc<GpuEngine>) -> Arc<SimDriver> {
        Arc::new(SimDriver {
            dev: dev.clone(),
            engine: engine.clone(),
            bugs: dev.bugs(),
            gpu_lock: Mutex::with_class((), SimDriver::gpu_lock_class()),
            vm_lock: Mutex::with_class((), SimDriver::vm_lock_class()),
            vm_resv: DmaResv::new(),
            resubmitting: AtomicBool::new(false),
            resets: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            freed_wq: WaitQueueHead::new(&FREED_WQ),
        })
    }

    /// GPU resets done by the TDR.
    pub fn resets(&self) -> u64 {
        self.resets.load(Ordering::Relaxed)
    }

    /// Jobs handed back through `free_job`.
    pub fn freed(&self) -> u64 {
        self.freed.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` until `n` jobs in all were handed back (a driver's idle wait).
    /// Returns whether they were.
    pub fn wait_freed(&self, n: u64, timeout: Duration) -> bool {
        self.freed_wq.wait_event_timeout(|| self.freed() >= n, timeout)
    }

    /// A VM update outside the fence path (an ioctl): page-table memory is allocated with
    /// GFP_KERNEL under `&vm->lock`, which is why the TDR must never take that lock.
    ///
    /// # Errors
    /// `Enomem` from the allocator.
    pub fn vm_bind(&self, size: usize) -> KResult<usize> {
        let _vm = self.vm_lock.lock();
        let pt = mm::kmalloc(size, GFP_KERNEL)?;
        Ok(pt.len())
    }

    /// Waits (at most [`WAIT_IDLE_TIMEOUT`]) for `fence`, after reading the GPU state under
    /// `&gpu->lock` — e.g. a debugfs or suspend path. With `wait-in-signalling` the lock is
    /// still held during the wait.
    ///
    /// # Errors
    /// `Etimedout` if the fence did not signal in time.
    pub fn wait_idle(&self, fence: &DmaFence) -> KResult {
        let g = self.gpu_lock.lock();
        // Reading the engine status is hardware access, so inside drm_dev_enter; the section
        // ends before the wait, since the unplug force-completes fences only after its
        // synchronize_srcu (R28). With `fence-wait-in-dev-enter` it stays open across it.
        let enter = self.dev.enter();
        if enter.is_some() {
            let _status = self.dev.mmio_read(REG_STATUS);
        }
        let entered = if self.bugs.has(Bug::FenceWaitInDevEnter) {
            enter
        } else {
            drop(enter);
            None
        };
        let held = if self.bugs.has(Bug::WaitInSignalling) {
            Some(g)
        } else {
            drop(g);
            None
        };
        let r = fence.wait_timeout(false, WAIT_IDLE_TIMEOUT).map(|_| ());
        drop(entered);
        drop(held);
        r
    }
}

impl DrmSchedBackendOps for SimDriver {
    fn run_job(&self, job: &DrmSchedJob) -> KResult<Option<Arc<DmaFence>>> {
        let resubmit = self.resubmitting.load(Ordering::Acquire);
        if self.bugs.has(Bug::AllocInRunJob) || (resubmit && self.bugs.has(Bug::ResubmitJobs)) {
            // Building the hardware job here instead of at submit time: GFP_KERNEL inside the
            // signalling section (on the resubmission path amdgpu re-emits a fence for every
            // job, skipped ones included).
            drop(mm::kmalloc(HW_JOB_SIZE, GFP_KERNEL)?);
        }
        if job.s_fence().finished().error().is_some() {
            return Ok(None);
        }
        let cmd = command(job);
        // Validating the VM's page tables under their reservation from the fence path, where
        // the kernel only allows it before arm.
        let _vm_resv = if self.bugs.has(Bug::ResvInRunJob) {
            Some(self.vm_resv.lock(None)?)
        } else {
            None
        };
        crate::pm_runtime::run_job_hook(&self.dev)?;
        let _gpu = self.gpu_lock.lock();
        // Entered last: lockdep orders a lock after the nearest non-trylock lock held, and an
        // SRCU read section (recursive read) breaks a dependency path, so the driver locks
        // taken inside `drm_dev_enter` would not be ordered after `dma_fence_map`.
        let Some(_enter) = self.dev.enter() else {
            return Err(Errno::Enodev);
        };
        Ok(Some(self.engine.submit(cmd)))
    }

    fn timedout_job(&self, job: &DrmSchedJob) -> DrmGpuSchedStat {
        // Device gone: nothing may touch the hardware, and the unplug path completes fences.
        match self.dev.enter() {
            None => return DrmGpuSchedStat::Enodev,
            // Not held across `stop`: a fence wait inside drm_dev_enter is R28.
            Some(enter) => drop(enter),
        }
        // The job completed meanwhile (its completion raced with the timer): a spurious
        // timeout, no reset.
        if job.s_fence().finished().is_signaled() || job.s_fence().parent().is_some_and(|p| p.is_signaled()) {
            return DrmGpuSchedStat::NoHang;
        }
        let sched = job.sched();
        let cmd = command(job);
        let run_lock = if self.bugs.has(Bug::CancelWorkUnderRunLock) {
            sched.wqueue_stop();
            Some(self.gpu_lock.lock())
        } else {
            None
        };
        if self.bugs.has(Bug::ResubmitJobs) {
            sched.increase_karma(job);
        }
        sched.stop(Some(job));
        // The display side of the reset (only injected bugs do anything there).
        crate::drm_client::tdr_display_hook(&self.dev);
        {
            let _vm = self.bugs.has(Bug::TdrTakesAllocLock).then(|| self.vm_lock.lock());
            let _gpu = run_lock.is_none().then(|| self.gpu_lock.lock());
            self.engine.reset();
            self.resets.fetch_add(1, Ordering::Relaxed);
        }
        let finished = job.s_fence().finished();
        if finished.error().is_none() {
            finished.try_set_error(if cmd.fault { Errno::Eio } else { Errno::Etimedout });
        }
        if self.bugs.has(Bug::ResubmitJobs) {
            self.resubmitting.store(true, Ordering::Release);
            sched.resubmit_jobs();
            self.resubmitting.store(false, Ordering::Release);
        }
        sched.start();
        drop(run_lock);
        DrmGpuSchedStat::Nominal
    }

    fn free_job(&self, job: DrmSchedJob) {
        job.cleanup();
        self.freed.fetch_add(1, Ordering::Release);
        self.freed_wq.wake_up_all();
    }
}

/// One simulated GPU: engine, driver and scheduler, wired together (fault interrupt →
/// `drm_sched_fault`).
pub struct SimGpu {
    /// The device.
    pub dev: Arc<DrmDevice>,
    /// The engine.
    pub engine: Arc<GpuEngine>,
    /// The driver.
    pub driver: Arc<SimDriver>,
    /// The scheduler.
    pub sched: Arc<DrmGpuScheduler>,
}

impl SimGpu {
    /// Probes a GPU on `dev`: an engine called `name`, its driver, and a scheduler set up by
    /// `DrmSchedInitArgs::new(name, dev)` and then `configure`.
    ///
    /// # Errors
    /// As [`DrmGpuScheduler::new`].
    pub fn new(
        dev: &Arc<DrmDevice>,
        name: &'static str,
        configure: impl FnOnce(&mut DrmSchedInitArgs),
    ) -> KResult<SimGpu> {
        let engine = GpuEngine::new(dev, name);
        // The GPU's power resources and runtime PM, probed with the device.
        crate::pm_runtime::device_pm(dev);
        let driver = SimDriver::new(dev, &engine);
        let mut args = DrmSchedInitArgs::new(name, dev.clone());
        configure(&mut args);
        let sched = match DrmGpuScheduler::new(driver.clone(), args) {
            Ok(s) => s,
            Err(e) => {
                engine.fini();
                return Err(e);
            }
        };
        let weak = Arc::downgrade(&sched);
        engine.set_fault_handler(move || {
            if let Some(s) = weak.upgrade() {
                s.fault();
            }
        });
        // The driver's remove callback, after drm_dev_unplug: fini_hw.
        let (ws, we) = (Arc::downgrade(&sched), Arc::downgrade(&engine));
        dev.on_unplug(move |_| {
            if let (Some(s), Some(e)) = (ws.upgrade(), we.upgrade()) {
                fini_hw(&s, &e);
            }
        });
        Ok(SimGpu {
            dev: dev.clone(),
            engine,
            driver,
            sched,
        })
    }

    /// A new entity (one client context) on this GPU's scheduler.
    pub fn entity(&self, priority: crate::scheduler::DrmSchedPriority) -> Arc<DrmSchedEntity> {
        DrmSchedEntity::new(&self.sched, priority)
    }

    /// A new entity owned by the open file `file`: closing the file destroys it
    /// (`drm_sched_entity_destroy` from the driver's postclose: flush, then kill what is left,
    /// each killed job signalling with an error).
    pub fn entity_for_file(
        &self,
        file: &DrmFile,
        priority: crate::scheduler::DrmSchedPriority,
    ) -> Arc<DrmSchedEntity> {
        let entity = self.entity(priority);
        let e = entity.clone();
        file.on_close(move |_| e.destroy());
        entity
    }

    /// Submits `cmd` on `entity` after `deps` (DRM-RULES §3.1 without buffers): job init and
    /// dependencies (allocating) first, then arm and push under the entity's submit lock.
    /// Returns the job's `finished` fence.
    ///
    /// # Errors
    /// `Enoent` if the entity was killed; `Einval` for zero credits; `Enomem`.
    pub fn submit(
        &self,
        entity: &Arc<DrmSchedEntity>,
        cmd: GpuCommand,
        credits: u32,
        deps: &[Arc<DmaFence>],
    ) -> KResult<Arc<DmaFence>> {
        let mut job = DrmSchedJob::init(entity, credits, entity.id())?;
        job.set_driver_data(cmd);
        for d in deps {
            job.add_dependency(d.clone())?;
        }
        let guard = entity.submit_lock();
        job.arm(&guard);
        let finished = job.s_fence().finished().clone();
        job.push(&guard);
        Ok(finished)
    }

    /// Submits `cmd` on `entity` using buffers `bos` (object, written?), exactly as DRM-RULES
    /// §3.1: job init and explicit dependencies first; the objects locked with `drm_exec`
    /// (one fence slot reserved each, `-EDEADLK` back-off included); their implicit fences
    /// added as dependencies; arm under the submit lock; the `finished` fence published in
    /// every resv (write or read usage); push; then the objects unlocked. Returns `finished`.
    ///
    /// # Errors
    /// As [`submit`](Self::submit), plus `drm_exec`'s (`Enomem`, `Ealready` for an object
    /// listed twice).
    pub fn submit_bos(
        &self,
        entity: &Arc<DrmSchedEntity>,
        cmd: GpuCommand,
        credits: u32,
        deps: &[Arc<DmaFence>],
        bos: &[(Arc<DrmGemObject>, bool)],
    ) -> KResult<Arc<DmaFence>> {
        let mut job = DrmSchedJob::init(entity, credits, entity.id())?;
        job.set_driver_data(SimJob {
            cmd,
            bos: bos.iter().map(|(bo, _)| bo.clone()).collect(),
        });
        for d in deps {
            job.add_dependency(d.clone())?;
        }
        let mut exec = DrmExec::init(DrmExecFlags::INTERRUPTIBLE_WAIT, bos.len());
        exec.until_all_locked(|exec| {
            for (bo, _) in bos {
                exec.prepare_obj(bo, 1)?;
            }
            Ok(())
        })?;
        for (bo, write) in bos {
            let guard = exec.guard(bo).expect("drm_exec holds every object it locked");
            job.add_implicit_dependencies(guard, *write)?;
        }
        let submit = entity.submit_lock();
        job.arm(&submit);
        let finished = job.s_fence().finished().clone();
        for (bo, write) in bos {
            let guard = exec.guard(bo).expect("drm_exec holds every object it locked");
            bo.resv()
                .add_fence(guard, finished.clone(), DmaResvUsage::of_access(*write));
        }
        job.push(&submit);
        drop(submit);
        exec.fini();
        Ok(finished)
    }

    /// The driver's `fini_hw` after `drm_dev_unplug` (also registered as the device's unplug
    /// hook, so `dev.unplug()` runs it): stop the submit work (`cancel_work_sync`), force-
    /// complete every in-flight hardware fence with `-ENODEV` (their done callbacks complete
    /// the jobs), power the engine down, and let the submit work drain what is still queued:
    /// every later `run_job` fails `drm_dev_enter`, so those jobs end with `-ENODEV` too. A TDR
    /// firing afterwards returns `Enodev`. Idempotent.
    pub fn fini_hw(&self) {
        fini_hw(&self.sched, &self.engine);
    }

    /// The driver's device-lost handler (panthor's failing reset work, amdgpu's PCI error
    /// handler): inside `drm_dev_enter` it reads the status register, and all-ones means the
    /// device fell off the bus, so it unplugs it — after `drm_dev_exit`, since
    /// `drm_dev_unplug` waits for every section, this one included (R27). With
    /// `unplug-in-dev-enter` it unplugs from inside the section. Returns whether it found the
    /// device gone and unplugged it (`false` if the device answers, or is unplugged already).
    pub fn handle_device_lost(&self) -> bool {
        let Some(enter) = self.dev.enter() else {
            return false;
        };
        if self.dev.mmio_read(REG_STATUS) != u32::MAX {
            return false;
        }
        tracing::info!(dev = self.dev.name(), "device lost: unplugging it");
        if self.dev.bugs().has(Bug::UnplugInDevEnter) {
            self.dev.unplug();
            drop(enter);
        } else {
            drop(enter);
            self.dev.unplug();
        }
        true
    }

    /// Tears everything down: the scheduler (`drm_sched_fini`), then the engine. Entities
    /// should be destroyed first (file close). Idempotent; also run on drop.
    pub fn fini(&self) {
        self.sched.fini();
        self.engine.fini();
    }
}

impl Drop for SimGpu {
    /// Nothing may outlive the GPU's threads: tear down if the owner did not.
    fn drop(&mut self) {
        self.fini();
    }
}

/// `fini_hw`: see [`SimGpu::fini_hw`].
fn fini_hw(sched: &DrmGpuScheduler, engine: &GpuEngine) {
    // Quiesce: no run_job is touching the hardware once this returns.
    sched.wqueue_stop();
    engine.force_complete(Errno::Enodev);
    engine.fini();
    // Keep draining the entities: each later run_job fails drm_dev_enter and completes its
    // job with -ENODEV at once, so no fence waits for its client to close the file (R5).
    if sched.is_ready() {
        sched.wqueue_start();
    }
}

impl std::fmt::Debug for SimGpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimGpu")
            .field("engine", &self.engine)
            .field("sched", &self.sched)
            .finish()
    }
}
