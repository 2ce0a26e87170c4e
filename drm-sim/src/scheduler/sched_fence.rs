//! `DrmSchedFence`: the two fences of a scheduler job, `scheduled` and `finished`. Mirrors
//! drivers/gpu/drm/scheduler/sched_fence.c.
//!
//! `scheduled` signals when the job has been handed to the hardware (its hardware fence, the
//! `parent`, is known); `finished` signals when the hardware fence has signalled, carrying its
//! error. Other jobs, dma_resv objects and sync_files only ever see these two fences, never the
//! hardware fence, so a job can be re-run or killed without its waiters noticing.
//!
//! # Contract
//! - Allocated by `DrmSchedJob::init` (GFP_KERNEL, before the signalling section), initialised
//!   by `arm` with the entity's two fence contexts (`fence_context` for `scheduled`, `+ 1` for
//!   `finished`) and a per-entity sequence number.
//! - [`DrmSchedFence::from_fence`] (`to_drm_sched_fence`) recognises a scheduler fence, so a
//!   dependency on a job of the same scheduler waits only for `scheduled` (the ring orders the
//!   rest).
//!
//! # Locking
//! `&fence->lock`: one spinlock per job shared by both fences (`s_fence->lock`), irq-safe (it is
//! taken inside the hardware fence's lock when the irq handler completes the job). One class for
//! all scheduler fences, initialised at one site as in `drm_sched_fence_alloc`.
//!
//! # Annotations
//! `drm_sched_fence_alloc` is a GFP_KERNEL allocation (`might_alloc`).
//!
//! # Rules
//! R6 (callbacks of `finished` run under `&fence->lock`), R8 (the hardware fence's lock is
//! always outside `&fence->lock`, never the reverse).
//!
//! # Simplified
//! The kernel finds the `drm_sched_fence` around a `dma_fence` from its ops pointer
//! (`container_of`); here a process-wide table maps a fence's address to its `DrmSchedFence`
//! while the latter lives. The deadline is forwarded to the parent when one is set later, not
//! remembered for a parent that does not exist yet.

use crate::dma_fence::{DmaFence, DmaFenceLock, DmaFenceOps};
use crate::error::Errno;
use crate::mm::{self, GFP_KERNEL};
use crate::scheduler::DrmGpuScheduler;
use lockdep::LockClass;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};
use std::time::Instant;

/// The class of every scheduler fence lock (`s_fence->lock`).
static SCHED_FENCE_LOCK: LockClass = LockClass::new("&fence->lock");

/// Fence address → the scheduler fence it belongs to. Entries exist from `arm` until the
/// `DrmSchedFence` drops, so a live `Arc<DmaFence>` can never alias a stale entry. A plain
/// lock: bookkeeping standing in for `container_of`, held only for a lookup.
static REGISTRY: LazyLock<Mutex<HashMap<usize, Weak<DrmSchedFence>>>> = LazyLock::new(Default::default);

/// Which of the two fences an ops object serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Scheduled,
    Finished,
}

/// `drm_sched_fence_ops_scheduled` / `drm_sched_fence_ops_finished`.
struct SchedFenceOps {
    which: Which,
    timeline: &'static str,
    s_fence: Weak<DrmSchedFence>,
}

impl DmaFenceOps for SchedFenceOps {
    fn get_driver_name(&self) -> &'static str {
        "drm_sched"
    }

    fn get_timeline_name(&self) -> &'static str {
        self.timeline
    }

    /// `drm_sched_fence_set_deadline_finished`: a deadline on `finished` is a deadline on the
    /// hardware fence.
    fn set_deadline(&self, _f: &DmaFence, deadline: Instant) {
        if self.which != Which::Finished {
            return;
        }
        if let Some(parent) = self.s_fence.upgrade().and_then(|s| s.parent()) {
            parent.set_deadline(deadline);
        }
    }
}

/// The `scheduled`/`finished` pair of one job (`struct drm_sched_fence`).
pub struct DrmSchedFence {
    lock: Arc<DmaFenceLock>,
    scheduled: OnceLock<Arc<DmaFence>>,
    finished: OnceLock<Arc<DmaFence>>,
    /// The hardware fence, once `run_job` returned one (`s_fence->parent`). A plain lock for the
    /// kernel's pointer updates, which are ordered by the scheduler's own sequencing.
    parent: Mutex<Option<Arc<DmaFence>>>,
    /// The scheduler the job was armed on (identity only: the same-scheduler dependency test).
    sched: OnceLock<Weak<DrmGpuScheduler>>,
    owner: u64,
}

impl DrmSchedFence {
    /// `drm_sched_fence_alloc`: a GFP_KERNEL allocation, made before the job is armed.
    ///
    /// # Errors
    /// `Enomem` when the allocator fails.
    #[doc(alias = "drm_sched_fence_alloc")]
    pub(crate) fn alloc(owner: u64) -> crate::error::KResult<Arc<DrmSchedFence>> {
        mm::might_alloc(GFP_KERNEL);
        Ok(Arc::new(DrmSchedFence {
            lock: DmaFenceLock::new(&SCHED_FENCE_LOCK),
            scheduled: OnceLock::new(),
            finished: OnceLock::new(),
            parent: Mutex::new(None),
            sched: OnceLock::new(),
            owner,
        }))
    }

    /// `drm_sched_fence_init`: both fences, on the entity's two contexts with sequence number
    /// `seqno`; from now on the fences may be published.
    #[doc(alias = "drm_sched_fence_init")]
    pub(crate) fn init(self: &Arc<Self>, sched: &Arc<DrmGpuScheduler>, context: u64, seqno: u64) {
        let ops = |which| -> Arc<dyn DmaFenceOps> {
            Arc::new(SchedFenceOps {
                which,
                timeline: sched.name(),
                s_fence: Arc::downgrade(self),
            })
        };
        let scheduled = DmaFence::init_with_lock(ops(Which::Scheduled), &self.lock, context, seqno);
        let finished = DmaFence::init_with_lock(ops(Which::Finished), &self.lock, context + 1, seqno);
        {
            let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            reg.insert(Arc::as_ptr(&scheduled) as usize, Arc::downgrade(self));
            reg.insert(Arc::as_ptr(&finished) as usize, Arc::downgrade(self));
        }
        let _ = self.sched.set(Arc::downgrade(sched));
        let _ = self.scheduled.set(scheduled);
        let _ = self.finished.set(finished);
    }

    /// `to_drm_sched_fence`: the scheduler fence `f` is the `scheduled` or `finished` fence
    /// of, if any.
    #[doc(alias = "to_drm_sched_fence")]
    pub fn from_fence(f: &Arc<DmaFence>) -> Option<Arc<DrmSchedFence>> {
        let reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        reg.get(&(Arc::as_ptr(f) as usize)).and_then(Weak::upgrade)
    }

    /// Whether `f` is this job's `scheduled` fence.
    pub fn is_scheduled_fence(&self, f: &Arc<DmaFence>) -> bool {
        self.scheduled.get().is_some_and(|s| Arc::ptr_eq(s, f))
    }

    /// The fence that signals when the job is on the hardware.
    ///
    /// # Panics
    /// Before the job is armed (the kernel's fence is uninitialised memory then).
    pub fn scheduled(&self) -> &Arc<DmaFence> {
        self.scheduled
            .get()
            .expect("drm_sched_fence used before drm_sched_job_arm")
    }

    /// The fence that signals when the job is done; this is the job's fence for everyone else.
    ///
    /// # Panics
    /// Before the job is armed.
    pub fn finished(&self) -> &Arc<DmaFence> {
        self.finished
            .get()
            .expect("drm_sched_fence used before drm_sched_job_arm")
    }

    /// Whether the job was armed (its fences exist).
    pub fn is_armed(&self) -> bool {
        self.finished.get().is_some()
    }

    /// The hardware fence, while the job is on the hardware.
    pub fn parent(&self) -> Option<Arc<DmaFence>> {
        self.parent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the hardware fence (`stop` clears it, `resubmit_jobs` sets a new one).
    pub(crate) fn set_parent(&self, parent: Option<Arc<DmaFence>>) -> Option<Arc<DmaFence>> {
        std::mem::replace(
            &mut *self.parent.lock().unwrap_or_else(|e| e.into_inner()),
            parent,
        )
    }

    /// The owner given to `DrmSchedJob::init` (the kernel's `void *owner`, for debugging).
    pub fn owner(&self) -> u64 {
        self.owner
    }

    /// Whether the job was armed on the scheduler `sched`.
    pub(crate) fn is_on(&self, sched: &Arc<DrmGpuScheduler>) -> bool {
        self.sched
            .get()
            .is_some_and(|s| std::ptr::eq(s.as_ptr(), Arc::as_ptr(sched)))
    }

    /// `drm_sched_fence_scheduled`: records the hardware fence and signals `scheduled`.
    #[doc(alias = "drm_sched_fence_scheduled")]
    pub(crate) fn fence_scheduled(&self, parent: Option<Arc<DmaFence>>) {
        if let Some(p) = parent {
            self.set_parent(Some(p));
        }
        // Signalling twice is a driver bug the fence itself reports (Einval); nothing to undo.
        let _ = self.scheduled().signal();
    }

    /// `drm_sched_fence_finished`: sets `result` as the error, then signals `finished`.
    ///
    /// An error already set (by a TDR handler marking the guilty job) is kept, so the guilty
    /// job reports why it died rather than that it was cancelled.
    #[doc(alias = "drm_sched_fence_finished")]
    pub(crate) fn fence_finished(&self, result: Option<Errno>) {
        let finished = self.finished();
        if let Some(e) = result {
            if finished.error().is_none() {
                // Under the fence lock: if a racing path signalled first, nothing changes.
                finished.try_set_error(e);
            }
        }
        let _ = finished.signal();
    }
}

impl Drop for DrmSchedFence {
    fn drop(&mut self) {
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        for f in [self.scheduled.get(), self.finished.get()].into_iter().flatten() {
            reg.remove(&(Arc::as_ptr(f) as usize));
        }
    }
}

impl std::fmt::Debug for DrmSchedFence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("DrmSchedFence");
        if let Some(s) = self.finished.get() {
            d.field("context", &s.context()).field("seqno", &s.seqno());
        }
        d.field("owner", &self.owner).finish()
    }
}
