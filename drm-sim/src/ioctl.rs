//! `Context`, `submit`, and the other entry points a client calls: the driver's uAPI. No
//! kernel counterpart: simulates the ioctls of a render driver such as panfrost, v3d or msm
//! (GEM create/close/mmap/madvise, CPU prep/fini, submit, VM bind, fence status, wait-idle,
//! a timestamp query waking the GPU through runtime PM), the dma-buf
//! file's ioctls (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`/`IMPORT_SYNC_FILE`) and sync_file
//! merge/poll, on top of the modules that mirror the kernel files.
//!
//! # Contract
//! - Each DRM ioctl runs through [`DrmFile::ioctl`]: one system call (lockdep checks that
//!   nothing is held when it returns) that fails with `ENODEV` once the device is unplugged,
//!   as `drm_ioctl` does. The dma-buf and sync_file calls are system calls on those files and
//!   keep working after the exporter's device is gone.
//! - A same-instance self-deadlock that the validator refuses (it reports, then panics instead
//!   of hanging) is caught at this boundary and becomes `EDEADLK`, so the simulated task goes
//!   on; any other panic is a real failure and goes on unwinding.
//! - [`submit`] is DRM-RULES §3.1 with buffers: copy the arguments in, look the handles up,
//!   init the job and add the explicit in-fences (several become one `dma_fence_array`, as a
//!   wait on several syncobjs does), lock every BO with `drm_exec`, make the native ones
//!   resident with a pin, add the implicit dependencies, arm under the entity's submit lock,
//!   register the retire callback, publish the `finished` fence in every resv, push, unpin,
//!   unlock.
//!
//! # Locking
//! - `&ctx->retire_lock` (mutex): the context's retire bookkeeping. Taken only in process
//!   context, never from a fence callback (the `sleep-in-fence-callback` bug does).
//! - Everything else is the modules' own: `reservation_ww_class_*` through `drm_exec`,
//!   `&entity->submit_lock`, the fence locks.
//!
//! # Annotations
//! - [`fence_status`] takes the fence lock with interrupts off; with the injected bug
//!   `fence-lock-irq-unsafe` it takes it with a plain `spin_lock`, although the job-done
//!   interrupt takes the same class (`&fence->lock`).
//!
//! # Rules
//! R6 (callbacks do not sleep), R9 (user copies with no resv held), R13/R14 (drm_exec),
//! R15, R17 (pins under the resv), R22 (arm and push under the submit lock), R26 (nothing
//! held across the return to user space, no `drm_dev_enter` section either: `leaked-dev-enter`
//! breaks it in CPU_PREP), R28 (CPU_PREP waits outside its section), R32 (fence locks irq-safe), §3.1, §3.2.
//!
//! # Simplified
//! No file descriptors: dma-bufs and sync_files are shared as `Arc`s, and user memory holds
//! only the arguments a submit copies in. The retire callback counts instead of freeing.

use crate::bugs::Bug;
use crate::dma_buf::DmaBuf;
use crate::dma_fence::{dma_fence_context_alloc, DmaFence, FenceStatus};
use crate::dma_fence_array::dma_fence_array_create_with_bugs;
use crate::dma_fence_unwrap::dma_fence_unwrap;
use crate::dma_resv::DmaResvUsage;
use crate::drm_drv::{DrmDevEnterGuard, DrmFile};
use crate::drm_exec::{DrmExec, DrmExecFlags};
use crate::drm_gem::{self, DrmGemObject, Madv};
use crate::drm_gem_shmem_helper::{self, DrmGemShmemObject, GemMapping};
use crate::error::{Errno, KResult};
use crate::gpu::GpuCommand;
use crate::scheduler::{DrmSchedEntity, DrmSchedJob, DrmSchedPriority};
use crate::sim_driver::{SimGpu, REG_CACHE_FLUSH, REG_TIMESTAMP};
use crate::sync_file::SyncFile;
use lockdep::{LockClass, Mutex};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

static RETIRE_LOCK: LockClass = LockClass::new("&ctx->retire_lock");

/// Size of a submit's argument block in user memory.
pub const SUBMIT_ARGS_SIZE: usize = 64;

/// More in-fences than this are waited for as one `dma_fence_array`.
const ARRAY_THRESHOLD: usize = 2;

/// Self-deadlocks refused by the validator and recovered from at an entry point (`EDEADLK`
/// never leaves a correct entry point: `drm_exec` retries its own).
static RECOVERED: AtomicU64 = AtomicU64::new(0);

/// How many simulated tasks recovered from a refused self-deadlock so far (process-wide).
pub fn recovered_deadlocks() -> u64 {
    RECOVERED.load(Ordering::Relaxed)
}

/// Runs `f` as the body of one entry point: a panic raised by the validator after it reported
/// a self-deadlock becomes `EDEADLK` (the task recovers); any other panic keeps unwinding.
fn boundary<T>(f: impl FnOnce() -> KResult<T>) -> KResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        // Refused further down already (`pin_for_submit` catches its own): counted here too.
        Ok(Err(Errno::Edeadlk)) => {
            RECOVERED.fetch_add(1, Ordering::Relaxed);
            Err(Errno::Edeadlk)
        }
        Ok(r) => r,
        Err(payload) => {
            let ours = payload
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("lockdep: "));
            if ours {
                RECOVERED.fetch_add(1, Ordering::Relaxed);
                Err(Errno::Edeadlk)
            } else {
                resume_unwind(payload)
            }
        }
    }
}

/// A DRM ioctl on `file`: [`DrmFile::ioctl`] (one system call, `ENODEV` after unplug) around
/// the self-deadlock boundary.
#[track_caller]
pub fn drm_ioctl<T>(file: &DrmFile, f: impl FnOnce(&DrmFile) -> KResult<T>) -> KResult<T> {
    file.ioctl(|file| boundary(|| f(file)))
}

/// A system call on another kind of file (a dma-buf, a sync_file) or a page fault: checked
/// at the return to user space like an ioctl, never `ENODEV`.
#[track_caller]
pub fn syscall<T>(f: impl FnOnce() -> KResult<T>) -> KResult<T> {
    let _sys = lockdep::syscall();
    boundary(f)
}

/// What the retire callback of every job of a context counts.
#[derive(Debug, Default)]
pub struct RetireStats {
    /// Retire callbacks run (one per job, in the signaller's context).
    pub callbacks: AtomicU64,
}

/// A client's GPU context on one device: its open file, its scheduler entity and the
/// bookkeeping its jobs' retire callbacks update (a driver's `struct drm_file` private data).
pub struct Context {
    /// The open file.
    pub file: Arc<DrmFile>,
    /// The device's GPU.
    pub gpu: Arc<SimGpu>,
    /// The context's entity (destroyed when the file closes).
    pub entity: Arc<DrmSchedEntity>,
    retire_lock: Arc<Mutex<()>>,
    /// What the retire callbacks counted.
    pub retired: Arc<RetireStats>,
}

impl Context {
    /// Opens `gpu`'s device for a client with address space `file`'s mm and creates its
    /// entity; closing the file destroys the entity (`drm_sched_entity_destroy`).
    ///
    /// # Errors
    /// `Enodev` if the device is unplugged.
    pub fn open(gpu: &Arc<SimGpu>, mm: Arc<crate::mm::MmStruct>) -> KResult<Arc<Context>> {
        let file = DrmFile::open(&gpu.dev, mm)?;
        let entity = gpu.entity(DrmSchedPriority::Normal);
        let e = entity.clone();
        file.on_close(move |_| e.destroy());
        Ok(Arc::new(Context {
            file,
            gpu: gpu.clone(),
            entity,
            retire_lock: Arc::new(Mutex::with_class((), &RETIRE_LOCK)),
            retired: Arc::new(RetireStats::default()),
        }))
    }
}

/// A GEM buffer of `ctx`'s device: create, fill with `fill`, and name it by a new handle
/// (`DRM_IOCTL_*_CREATE_BO`).
///
/// # Errors
/// `Enodev` after unplug; `Enomem`.
pub fn gem_create(ctx: &Context, size: usize, fill: u8) -> KResult<u32> {
    drm_ioctl(&ctx.file, |file| {
        let obj = DrmGemShmemObject::create(file.dev(), size)?;
        let map = obj.vmap()?;
        let r = map.write(0, &vec![fill; size]);
        obj.vunmap(map);
        r?;
        drm_gem::handle_create(file, &obj)
    })
}

/// `DRM_IOCTL_GEM_CLOSE`.
///
/// # Errors
/// `Enodev` after unplug; `Enoent` for an unknown handle.
pub fn gem_close(ctx: &Context, handle: u32) -> KResult {
    drm_ioctl(&ctx.file, |file| drm_gem::handle_delete(file, handle))
}

/// `DRM_IOCTL_PRIME_FD_TO_HANDLE`: imports `dmabuf` on `ctx`'s device and returns a handle.
///
/// # Errors
/// `Enodev` after unplug; the import's errors.
pub fn prime_fd_to_handle(ctx: &Context, dmabuf: &Arc<DmaBuf>) -> KResult<u32> {
    drm_ioctl(&ctx.file, |file| {
        let obj = dmabuf.import(file.dev())?;
        drm_gem::handle_create(file, &obj)
    })
}

/// The object behind `handle` (a lookup as every ioctl does; no system call of its own).
///
/// # Errors
/// `Enoent` for an unknown handle.
pub fn lookup(ctx: &Context, handle: u32) -> KResult<Arc<DrmGemObject>> {
    drm_gem::object_lookup(&ctx.file, handle).ok_or(Errno::Enoent)
}

/// What `CPU_PREP` hands user space until `CPU_FINI`: the buffer prepared for CPU access.
/// With `leaked-dev-enter` it also carries the `drm_dev_enter` section the prep left open.
#[must_use = "end the CPU access with gem_cpu_fini"]
pub struct CpuAccess<'a> {
    handle: u32,
    leaked: Option<DrmDevEnterGuard<'a>>,
}

impl CpuAccess<'_> {
    /// The buffer's handle.
    pub fn handle(&self) -> u32 {
        self.handle
    }
}

impl std::fmt::Debug for CpuAccess<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuAccess")
            .field("handle", &self.handle)
            .field("leaked_enter", &self.leaked.is_some())
            .finish()
    }
}

/// `CPU_PREP` (msm's `MSM_GEM_CPU_PREP`): waits up to `timeout` for the GPU to be done with
/// the buffer (its fences of the usage `write` needs), outside any `drm_dev_enter` section
/// (R28), then flushes the GPU caches through a register inside one, and leaves it before
/// returning (R26). With `leaked-dev-enter` the section stays open until [`gem_cpu_fini`]:
/// the return to user space reports it.
///
/// # Errors
/// `Enodev` after unplug; `Enoent`; `Etimedout` if the buffer stayed busy.
pub fn gem_cpu_prep(ctx: &Context, handle: u32, write: bool, timeout: Duration) -> KResult<CpuAccess<'_>> {
    drm_ioctl(&ctx.file, |file| {
        let obj = lookup(ctx, handle)?;
        obj.resv().wait_timeout(DmaResvUsage::rw(write), true, timeout)?;
        let dev = &ctx.gpu.dev;
        let enter = dev.enter().ok_or(Errno::Enodev)?;
        dev.mmio_write(REG_CACHE_FLUSH, handle);
        let leaked = if file.dev().bugs().has(Bug::LeakedDevEnter) {
            Some(enter)
        } else {
            drop(enter);
            None
        };
        Ok(CpuAccess { handle, leaked })
    })
}

/// `CPU_FINI`: ends the CPU access `access` began (and, with `leaked-dev-enter`, the section
/// the prep left open, whatever this call returns).
///
/// # Errors
/// `Enodev` after unplug; `Enoent` if the handle is gone.
pub fn gem_cpu_fini(ctx: &Context, access: CpuAccess<'_>) -> KResult {
    let CpuAccess { handle, leaked } = access;
    drm_ioctl(&ctx.file, move |_| {
        drop(leaked);
        lookup(ctx, handle).map(|_| ())
    })
}

/// `GET_PARAM(TIMESTAMP)` (msm's `MSM_PARAM_TIMESTAMP`): wakes the GPU
/// (`pm_runtime_get_sync`, in process context: the resume callback takes locks held around
/// allocations, fine here and never in a signalling section), reads its timestamp register
/// inside `drm_dev_enter`, and lets it autosuspend again (`pm_runtime_put_autosuspend`).
///
/// # Errors
/// `Enodev` after unplug; the resume's error (`Eagain` once runtime PM is disabled).
pub fn get_timestamp(ctx: &Context) -> KResult<u32> {
    drm_ioctl(&ctx.file, |file| {
        let pm = crate::pm_runtime::device_pm(file.dev());
        let awake = pm.get_sync()?;
        let r = match file.dev().enter() {
            Some(_hw) => Ok(file.dev().mmio_read(REG_TIMESTAMP)),
            None => Err(Errno::Enodev),
        };
        pm.put_autosuspend(awake);
        r
    })
}

/// `mmap` of a GEM object through its fake offset: a user mapping whose faults take
/// `&mm->mmap_lock` then the resv.
///
/// # Errors
/// `Enodev` after unplug; `Enoent`; the mapping's errors.
pub fn gem_mmap(ctx: &Context, handle: u32) -> KResult<GemMapping> {
    drm_ioctl(&ctx.file, |file| {
        let obj = drm_gem::object_lookup(file, handle).ok_or(Errno::Enoent)?;
        obj.mmap(file.mm())
    })
}

/// A user-space read of byte `offset` through `map`: a page fault (`&mm->mmap_lock` read →
/// resv), checked at the return to user space.
///
/// # Errors
/// `Efault` (SIGBUS) past the end or on a purged object.
pub fn touch(map: &GemMapping, offset: usize) -> KResult<u8> {
    syscall(|| map.fault(offset))
}

/// The driver's madvise ioctl ([`drm_gem::madvise_ioctl`]; the result goes to `user_addr`).
///
/// # Errors
/// As [`drm_gem::madvise_ioctl`].
pub fn gem_madvise(ctx: &Context, handle: u32, madv: Madv, user_addr: u64) -> KResult<bool> {
    drm_ioctl(&ctx.file, |file| {
        drm_gem::madvise_ioctl(file, handle, madv, user_addr)
    })
}

/// The driver's copy ioctl ([`drm_gem_shmem_helper::copy_ioctl`]).
///
/// # Errors
/// As [`drm_gem_shmem_helper::copy_ioctl`].
pub fn gem_copy(ctx: &Context, dst: u32, src: u32, len: usize) -> KResult {
    drm_ioctl(&ctx.file, |file| {
        drm_gem_shmem_helper::copy_ioctl(file, dst, src, len)
    })
}

/// `DRM_IOCTL_*_VM_BIND`: page tables allocated under `&vm->lock`.
///
/// # Errors
/// `Enodev` after unplug; `Enomem`.
pub fn vm_bind(ctx: &Context, size: usize) -> KResult<usize> {
    drm_ioctl(&ctx.file, |_| ctx.gpu.driver.vm_bind(size))
}

/// A wait-for-idle (a debugfs read or a suspend path entered through the file): the driver
/// reads the GPU state under `&gpu->lock`, then waits for `fence`.
///
/// # Errors
/// `Enodev` after unplug; `Etimedout`.
pub fn wait_idle(ctx: &Context, fence: &DmaFence) -> KResult {
    drm_ioctl(&ctx.file, |_| ctx.gpu.driver.wait_idle(fence))
}

/// A fence-status query (`DRM_IOCTL_*_WAIT_BO` with a zero timeout, `SYNC_IOC_FILE_INFO`):
/// reads the status under the fence lock, irqsave — or, with `fence-lock-irq-unsafe`, with a
/// plain `spin_lock`.
///
/// # Errors
/// `Enodev` after unplug.
pub fn fence_status(ctx: &Context, fence: &DmaFence) -> KResult<FenceStatus> {
    drm_ioctl(&ctx.file, |file| {
        let mut g = if file.dev().bugs().has(Bug::FenceLockIrqUnsafe) {
            fence.lock_irq_unsafe()
        } else {
            fence.lock_irqsave()
        };
        Ok(fence.get_status_locked(&mut g))
    })
}

/// One buffer of a submit: its handle and whether the job writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitBo {
    /// The handle in the submitting file.
    pub handle: u32,
    /// The job writes it (implicit sync: waits for every fence, publishes a write fence).
    pub write: bool,
}

/// The arguments of [`submit`].
#[derive(Clone, Debug)]
pub struct SubmitArgs {
    /// What the engine does.
    pub cmd: GpuCommand,
    /// Explicit in-fences (syncobjs, sync_files).
    pub in_fences: Vec<Arc<DmaFence>>,
    /// The buffers the job uses.
    pub bos: Vec<SubmitBo>,
    /// Where the argument block lives in the client's memory.
    pub user_args: u64,
}

/// What a submit hands back.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The job's `finished` fence (the out-fence).
    pub finished: Arc<DmaFence>,
    /// The job's `scheduled` fence.
    pub scheduled: Arc<DmaFence>,
    /// The dependencies the job waited for explicitly (the in-fences, or the array of them).
    pub deps: Vec<Arc<DmaFence>>,
    /// How many times the job's retire callback has run.
    pub callback_runs: Arc<AtomicU32>,
}

/// The submit ioctl (DRM-RULES §3.1; see the module documentation for the steps).
///
/// # Errors
/// `Enodev` after unplug; `Efault` from the argument copy; `Enoent` for an unknown handle or
/// a killed entity; `drm_exec`'s errors; `Edeadlk` if the validator refused a self-deadlock
/// (the `pin-with-resv-held` bug).
pub fn submit(ctx: &Context, args: &SubmitArgs) -> KResult<Submitted> {
    drm_ioctl(&ctx.file, |file| {
        let mut raw = [0u8; SUBMIT_ARGS_SIZE];
        file.mm().copy_from_user(&mut raw, args.user_args)?;
        let bos = args
            .bos
            .iter()
            .map(|b| Ok((lookup(ctx, b.handle)?, b.write)))
            .collect::<KResult<Vec<_>>>()?;
        let mut job = DrmSchedJob::init(&ctx.entity, 1, ctx.entity.id())?;
        job.set_driver_data(args.cmd);
        let deps = if args.in_fences.len() > ARRAY_THRESHOLD {
            // An array holds plain fences only: flatten merged sync_files first.
            let members = args.in_fences.iter().flat_map(dma_fence_unwrap).collect();
            vec![dma_fence_array_create_with_bugs(
                members,
                dma_fence_context_alloc(1),
                1,
                false,
                file.dev().bugs(),
            )]
        } else {
            args.in_fences.clone()
        };
        for d in &deps {
            job.add_dependency(d.clone())?;
        }
        let mut exec = DrmExec::init(
            DrmExecFlags::INTERRUPTIBLE_WAIT | DrmExecFlags::IGNORE_DUPLICATES,
            bos.len(),
        );
        exec.until_all_locked(|exec| {
            for (bo, _) in &bos {
                exec.prepare_obj(bo, 1)?;
            }
            Ok(())
        })?;
        let mut pinned: Vec<Arc<DrmGemObject>> = Vec::new();
        let unpin = |exec: &DrmExec, pinned: &[Arc<DrmGemObject>]| {
            for bo in pinned {
                if let Some(guard) = exec.guard(bo) {
                    bo.unpin_locked(guard);
                }
            }
        };
        for (bo, _) in &bos {
            if !bo.is_imported() && !pinned.iter().any(|p| Arc::ptr_eq(p, bo)) {
                if let Err(e) = drm_gem_shmem_helper::pin_for_submit(&exec, bo) {
                    unpin(&exec, &pinned);
                    return Err(e);
                }
                pinned.push(bo.clone());
            }
        }
        // Implicit dependencies, arm, publish, push; whatever happens, the pins go and the
        // objects are unlocked after.
        let r = (|| {
            for (bo, write) in &bos {
                let guard = exec.guard(bo).ok_or(Errno::Einval)?;
                job.add_implicit_dependencies(guard, *write)?;
            }
            let submit = ctx.entity.submit_lock();
            job.arm(&submit);
            let finished = job.s_fence().finished().clone();
            let scheduled = job.s_fence().scheduled().clone();
            let callback_runs = retire_callback(ctx, &finished);
            // Nothing may fail between arm and push (the job's fences exist from arm on).
            for (bo, write) in &bos {
                let guard = exec.guard(bo).expect("drm_exec holds every object it locked");
                bo.resv()
                    .add_fence(guard, finished.clone(), DmaResvUsage::of_access(*write));
            }
            job.push(&submit);
            drop(submit);
            Ok(Submitted {
                finished,
                scheduled,
                deps,
                callback_runs,
            })
        })();
        unpin(&exec, &pinned);
        exec.fini();
        r
    })
}

/// Registers the job's retire callback on `finished` (before push, so it always runs in the
/// signaller's context: the job-done interrupt, a reset, or an entity kill) and returns the
/// count of its runs. It only counts; the rest of retiring is process-context work
/// ([`retire`]). With `sleep-in-fence-callback` it takes the context's retire mutex right
/// there, under the fence lock and usually in hard-irq context.
fn retire_callback(ctx: &Context, finished: &Arc<DmaFence>) -> Arc<AtomicU32> {
    let stats = ctx.retired.clone();
    let once = Arc::new(AtomicU32::new(0));
    let runs = once.clone();
    let lock = ctx
        .file
        .dev()
        .bugs()
        .has(Bug::SleepInFenceCallback)
        .then(|| ctx.retire_lock.clone());
    // Not signalled before push: the callback is always added.
    let _ = finished.add_callback(move |_| {
        let _g = lock.as_ref().map(|l| l.lock());
        once.fetch_add(1, Ordering::Relaxed);
        stats.callbacks.fetch_add(1, Ordering::Relaxed);
    });
    runs
}

/// Retires a job whose `finished` fence has signalled, in process context under the retire
/// lock (a driver's retire worker); returns how many times its retire callback ran (exactly
/// once for a correct stack).
pub fn retire(ctx: &Context, job: &Submitted) -> u32 {
    let runs = callback_runs(job);
    let _g = ctx.retire_lock.lock();
    runs
}

/// How many times `job`'s retire callback has run, once its `finished` fence has signalled.
/// A waiter can see the signalled flag while the signaller is still running callbacks under
/// the fence lock; taking that lock once waits for them.
pub fn callback_runs(job: &Submitted) -> u32 {
    drop(job.finished.lock_irqsave());
    job.callback_runs.load(Ordering::Relaxed)
}

/// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE` on `dmabuf` (works after the exporter's unplug).
///
/// # Errors
/// `Enomem`.
pub fn export_sync_file(dmabuf: &DmaBuf, write: bool) -> KResult<Arc<SyncFile>> {
    syscall(|| dmabuf.export_sync_file(DmaResvUsage::rw(write)))
}

/// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE` on `dmabuf`.
///
/// # Errors
/// `Enomem`.
pub fn import_sync_file(dmabuf: &DmaBuf, sync_file: &SyncFile, write: bool) -> KResult {
    syscall(|| dmabuf.import_sync_file(sync_file, DmaResvUsage::of_access(write)))
}

/// `SYNC_IOC_MERGE`.
///
/// # Errors
/// `Enomem`.
pub fn sync_file_merge(a: &SyncFile, b: &SyncFile) -> KResult<Arc<SyncFile>> {
    syscall(|| SyncFile::merge("merged", a, b))
}

/// `poll` on a sync_file, up to `timeout`; whether its fence has signalled.
pub fn sync_file_poll(sync_file: &SyncFile, timeout: Duration) -> bool {
    syscall(|| Ok(sync_file.poll(timeout))).unwrap_or(false)
}

/// Waits up to `timeout` for `fence` (a syncobj wait or sync_file poll from user space).
///
/// # Errors
/// `Etimedout`.
pub fn fence_wait(fence: &DmaFence, timeout: Duration) -> KResult {
    syscall(|| fence.wait_timeout(true, timeout).map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validators_refusal_becomes_edeadlk_and_is_counted() {
        let before = recovered_deadlocks();
        let r: KResult =
            boundary(|| std::panic::panic_any(String::from("lockdep: thread t re-acquired lock l")));
        assert_eq!(r, Err(Errno::Edeadlk));
        assert_eq!(
            boundary(|| -> KResult { Err(Errno::Edeadlk) }),
            Err(Errno::Edeadlk)
        );
        assert!(recovered_deadlocks() >= before + 2);
        assert_eq!(boundary(|| Ok(7)), Ok(7));
        assert_eq!(boundary(|| -> KResult { Err(Errno::Enodev) }), Err(Errno::Enodev));
    }

    #[test]
    fn any_other_panic_keeps_unwinding() {
        let r = catch_unwind(|| boundary(|| -> KResult { panic!("a real bug") }));
        assert!(r.is_err(), "not swallowed");
    }
}
