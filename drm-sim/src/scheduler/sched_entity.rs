//! `DrmSchedEntity`: a queue of jobs from one client context, fed to one scheduler. Mirrors
//! drivers/gpu/drm/scheduler/sched_entity.c.
//!
//! Jobs of one entity run in the order they were pushed. The scheduler pops a job only when
//! all its dependencies have signalled; for each unsignalled one the entity installs a fence
//! callback and becomes "not ready" until the callback clears it and wakes the scheduler.
//!
//! # Contract
//! - `arm` and `push` of one entity's jobs are serialised by one lock held across both (R22):
//!   [`DrmSchedEntity::submit_lock`] returns that lock's guard, which `arm`/`push` demand and
//!   check. The window from `arm` to `push` is a fence-signalling section (Xe's annotation): the
//!   job's fences may already be visible, so nothing there may allocate, take a dma_resv lock
//!   or wait.
//! - On file close, [`flush`](DrmSchedEntity::flush) waits (bounded) for queued jobs to be
//!   scheduled, then [`fini`](DrmSchedEntity::fini) kills the rest: each killed job signals
//!   `scheduled` and then `finished` with an error, in queue order, after its dependencies.
//!
//! # Locking
//! - `&entity->submit_lock` (mutex, driver-owned in the kernel): outermost, held by the ioctl
//!   across arm → push.
//! - `&entity->rq_lock` (spinlock): run-queue membership and `stopped`; taken before
//!   `&rq->lock` (push, FIFO re-keying in pop), never inside it.
//! - The dependency callbacks run under the dependency's `&fence->lock`, in the signaller's
//!   context (possibly the irq thread): they only clear a pointer and queue work.
//!
//! # Annotations
//! The arm → push signalling section (`dma_fence_begin_signalling` at arm, end at push).
//!
//! # Rules
//! R22 (submit lock), R3/R4 (arm → push is signalling), R5 (killed jobs still signal).
//!
//! # Simplified
//! The lock-free spsc job queue is a plain queue lock held only for a push or pop (the kernel
//! has no lock there, so it is not a validated class). Killed jobs are signalled with
//! `-ECANCELED` (the kernel uses `-ESRCH`, which the crate's `Errno` lacks), and the wait for
//! a killed job's own dependencies runs from the kill work item rather than nested fence
//! callbacks. Pushing to a killed entity kills the job at once instead of leaving it queued
//! forever with an error message. No `last_user`/`PF_EXITING` logic: `flush` always waits
//! with its timeout, `fini` always kills.

use crate::dma_fence::{self, dma_fence_context_alloc, DmaFence, DmaFenceCb, DmaFenceSignalling};
use crate::error::Errno;
use crate::scheduler::sched_fence::DrmSchedFence;
use crate::scheduler::sched_main::{DrmGpuScheduler, JobInner};
use crate::scheduler::{DrmSchedJob, DrmSchedPriority};
use crate::wait::Completion;
use crate::workqueue::system_wq;
use lockdep::{LockClass, Mutex, MutexGuard, SpinLock};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as PlainMutex, Weak};
use std::time::Duration;

static ENTITY_RQ_LOCK: LockClass = LockClass::new("&entity->rq_lock");
static ENTITY_SUBMIT_LOCK: LockClass = LockClass::new("&entity->submit_lock");

/// `MAX_WAIT_SCHED_ENTITY_Q_EMPTY`: how long [`DrmSchedEntity::destroy`] lets queued jobs drain.
pub const MAX_WAIT_SCHED_ENTITY_Q_EMPTY: Duration = Duration::from_secs(1);

static NEXT_ENTITY_ID: AtomicU64 = AtomicU64::new(1);

/// One client context's job queue on a scheduler (`struct drm_sched_entity`).
pub struct DrmSchedEntity {
    id: u64,
    me: Weak<DrmSchedEntity>,
    pub(crate) sched: Arc<DrmGpuScheduler>,
    priority: DrmSchedPriority,
    /// Index of the run queue this entity is on (`entity->rq`).
    pub(crate) rq: usize,
    /// `entity->rq_lock`: serialises run-queue membership changes against `stopped`.
    rq_lock: SpinLock<()>,
    /// The driver's per-entity submit lock (R22).
    submit_lock: Mutex<()>,
    /// `entity->stopped`: killed, or its scheduler torn down. Written under `rq_lock` (kill) or
    /// the run queue's lock (scheduler fini), read anywhere, as the kernel's plain bool.
    pub(crate) stopped: AtomicBool,
    /// On its run queue's entity list (`!list_empty(&entity->list)`), under `&rq->lock`.
    pub(crate) on_rq: AtomicBool,
    /// `entity->job_queue` (spsc queue).
    job_queue: PlainMutex<VecDeque<Arc<JobInner>>>,
    /// `entity->dependency`: the fence the head job waits for, cleared by its callback.
    dependency: PlainMutex<Option<Arc<DmaFence>>>,
    /// `entity->cb`: the callback installed on `dependency`.
    dependency_cb: PlainMutex<Option<DmaFenceCb>>,
    fence_context: u64,
    fence_seq: AtomicU64,
    /// `entity->last_scheduled`: `finished` of the job popped last.
    last_scheduled: PlainMutex<Option<Arc<DmaFence>>>,
    /// `entity->entity_idle`: not completed while the scheduler is using the entity.
    pub(crate) entity_idle: Completion,
    /// `entity->oldest_job_waiting`: FIFO key, under `&rq->lock`.
    pub(crate) oldest_job_waiting: AtomicU64,
}

/// The held submit lock of one entity, required by `arm` and `push` (R22). It also carries the
/// signalling section that `arm` begins and `push` ends. Not `Send`: the lock belongs to the
/// thread that took it.
pub struct DrmSchedSubmitGuard<'a> {
    entity: &'a DrmSchedEntity,
    /// One section per job armed and not yet pushed (nested ones are no-ops).
    signalling: RefCell<Vec<DmaFenceSignalling>>,
    _lock: MutexGuard<'a, ()>,
}

impl DrmSchedSubmitGuard<'_> {
    /// The entity whose submit lock this is.
    pub fn entity(&self) -> &DrmSchedEntity {
        self.entity
    }

    /// The lock this guard holds, for the R22 assertions of `arm` and `push` (which compile
    /// to nothing without the validator).
    #[cfg_attr(not(feature = "lockdep-check"), allow(dead_code))]
    pub(crate) fn lock(&self) -> &Mutex<()> {
        &self.entity.submit_lock
    }

    /// Checks the guard belongs to `entity` (a guard proves that *a* submit lock is held, not
    /// that it is this entity's).
    pub(crate) fn check(&self, entity: &DrmSchedEntity) {
        assert!(
            std::ptr::eq(self.entity, entity),
            "drm_sched: arm/push under another entity's submit lock"
        );
    }

    pub(crate) fn begin_signalling(&self) {
        self.signalling.borrow_mut().push(dma_fence::signalling());
    }

    pub(crate) fn end_signalling(&self) {
        drop(self.signalling.borrow_mut().pop());
    }
}

impl DrmSchedEntity {
    /// `drm_sched_entity_init`: an entity on `sched`'s run queue for `priority` (clamped to the
    /// scheduler's run queues, as the kernel does), idle, with two fresh fence contexts.
    #[doc(alias = "drm_sched_entity_init")]
    pub fn new(sched: &Arc<DrmGpuScheduler>, priority: DrmSchedPriority) -> Arc<DrmSchedEntity> {
        let rq = (priority as usize).min(sched.num_rqs() - 1);
        Arc::new_cyclic(|me| {
            let e = DrmSchedEntity {
                id: NEXT_ENTITY_ID.fetch_add(1, Ordering::Relaxed),
                me: me.clone(),
                sched: sched.clone(),
                priority,
                rq,
                rq_lock: SpinLock::with_class((), &ENTITY_RQ_LOCK),
                submit_lock: Mutex::with_class((), &ENTITY_SUBMIT_LOCK),
                stopped: AtomicBool::new(false),
                on_rq: AtomicBool::new(false),
                job_queue: PlainMutex::new(VecDeque::new()),
                dependency: PlainMutex::new(None),
                dependency_cb: PlainMutex::new(None),
                fence_context: dma_fence_context_alloc(2),
                fence_seq: AtomicU64::new(0),
                last_scheduled: PlainMutex::new(None),
                entity_idle: Completion::new("&entity->entity_idle"),
                oldest_job_waiting: AtomicU64::new(0),
            };
            // We start in an idle state.
            e.entity_idle.complete_all();
            e
        })
    }

    /// A unique id (for the run queue's bookkeeping and debugging).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The scheduler this entity feeds.
    pub fn sched(&self) -> &Arc<DrmGpuScheduler> {
        &self.sched
    }

    /// The priority asked for at creation.
    pub fn priority(&self) -> DrmSchedPriority {
        self.priority
    }

    /// `entity->fence_context`: the context of `scheduled` fences (`finished` is `+ 1`).
    pub fn fence_context(&self) -> u64 {
        self.fence_context
    }

    /// `finished` of the job the scheduler took from this entity last.
    pub fn last_scheduled(&self) -> Option<Arc<DmaFence>> {
        lock(&self.last_scheduled).clone()
    }

    /// Jobs pushed and not yet taken by the scheduler.
    pub fn queued(&self) -> usize {
        lock(&self.job_queue).len()
    }

    /// Whether the entity was killed or its scheduler torn down.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Takes the entity's submit lock (R22): hold the guard across `arm` and `push`.
    pub fn submit_lock(&self) -> DrmSchedSubmitGuard<'_> {
        DrmSchedSubmitGuard {
            entity: self,
            signalling: RefCell::new(Vec::new()),
            _lock: self.submit_lock.lock(),
        }
    }

    /// The next sequence number for a job armed on this entity (`entity->fence_seq`).
    pub(crate) fn next_seqno(&self) -> u64 {
        self.fence_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn arc(&self) -> Arc<DrmSchedEntity> {
        self.me.upgrade().expect("entity in use after its last reference")
    }

    /// `drm_sched_entity_push_job`: queues an armed job; the first job of an idle queue puts
    /// the entity on its run queue (FIFO key: this job's submit time) and wakes the scheduler.
    #[doc(alias = "drm_sched_entity_push_job")]
    pub(crate) fn push_job(&self, job: Arc<JobInner>) {
        let submit_ts = self.sched.next_submit_ts();
        job.submit_ts.store(submit_ts, Ordering::Relaxed);
        let first = {
            let _e = self.rq_lock.lock();
            if self.is_stopped() {
                None
            } else {
                let mut q = lock(&self.job_queue);
                q.push_back(job.clone());
                let first = q.len() == 1;
                drop(q);
                if first {
                    self.sched.rq_add_entity(&self.arc(), submit_ts);
                }
                Some(first)
            }
        };
        match first {
            // Trying to push to a killed entity: the job dies at once, still signalling.
            None => kill_job(job),
            Some(true) => self.sched.wakeup(),
            Some(false) => {}
        }
    }

    /// `drm_sched_entity_is_ready`: a job is queued and no dependency is outstanding.
    pub(crate) fn is_ready(&self) -> bool {
        !lock(&self.job_queue).is_empty() && lock(&self.dependency).is_none()
    }

    /// `drm_sched_entity_is_idle`: nothing left for the scheduler to take.
    #[doc(alias = "drm_sched_entity_is_idle")]
    pub fn is_idle(&self) -> bool {
        !self.on_rq.load(Ordering::Acquire) || lock(&self.job_queue).is_empty() || self.is_stopped()
    }

    /// The head job (`drm_sched_entity_queue_peek`).
    pub(crate) fn peek(&self) -> Option<Arc<JobInner>> {
        lock(&self.job_queue).front().cloned()
    }

    /// `drm_sched_entity_pop_job`: the head job if all its dependencies have signalled;
    /// otherwise installs a callback on the first unsignalled one and returns `None`.
    #[doc(alias = "drm_sched_entity_pop_job")]
    pub(crate) fn pop_job(&self) -> Option<Arc<JobInner>> {
        let job = self.peek()?;
        loop {
            let dep = job.next_dependency().or_else(|| {
                let ops = self.sched.ops();
                ops.prepare_job(&DrmSchedJob::from_inner(job.clone()), self)
            });
            let Some(dep) = dep else { break };
            *lock(&self.dependency) = Some(dep);
            if self.add_dependency_cb() {
                return None;
            }
        }
        *lock(&self.last_scheduled) = Some(job.s_fence.finished().clone());
        let next = {
            let mut q = lock(&self.job_queue);
            q.pop_front();
            q.front().map(|n| n.submit_ts.load(Ordering::Relaxed))
        };
        // Re-key the entity in the FIFO by its next job's submit time.
        if let Some(ts) = next {
            let _e = self.rq_lock.lock();
            self.sched.rq_update_fifo(self, ts);
        }
        // The job must not reach the entity any more once it is on the hardware.
        job.clear_entity();
        Some(job)
    }

    /// `drm_sched_entity_add_dependency_cb`: `true` if the entity must wait for
    /// `self.dependency` (a callback is installed), `false` if it has signalled or can be
    /// ignored (then the dependency is cleared).
    #[doc(alias = "drm_sched_entity_add_dependency_cb")]
    fn add_dependency_cb(&self) -> bool {
        let Some(fence) = lock(&self.dependency).clone() else {
            return false;
        };
        // A fence of this very entity: its ring order already guarantees it.
        if fence.context() == self.fence_context || fence.context() == self.fence_context + 1 {
            *lock(&self.dependency) = None;
            return false;
        }
        let s_fence = DrmSchedFence::from_fence(&fence);
        if let Some(s) = s_fence.filter(|s| fence.error().is_none() && s.is_on(&self.sched)) {
            // A job of the same scheduler: it only has to be on the hardware first.
            let scheduled = s.scheduled().clone();
            *lock(&self.dependency) = Some(scheduled.clone());
            let me = self.me.clone();
            if self.install_cb(&scheduled, move || {
                if let Some(e) = me.upgrade() {
                    e.clear_dep();
                }
            }) {
                return true;
            }
            *lock(&self.dependency) = None;
            return false;
        }
        let me = self.me.clone();
        if self.install_cb(&fence, move || {
            if let Some(e) = me.upgrade() {
                e.wakeup();
            }
        }) {
            return true;
        }
        *lock(&self.dependency) = None;
        false
    }

    /// Installs `cb` on `fence` as `entity->cb`; `false` if the fence has signalled.
    fn install_cb(&self, fence: &Arc<DmaFence>, cb: impl FnOnce() + Send + 'static) -> bool {
        match fence.add_callback(move |_| cb()) {
            Ok(handle) => {
                *lock(&self.dependency_cb) = Some(handle);
                true
            }
            Err(_) => false,
        }
    }

    /// `drm_sched_entity_clear_dep`: the dependency signalled (fence-callback context).
    #[doc(alias = "drm_sched_entity_clear_dep")]
    fn clear_dep(&self) {
        *lock(&self.dependency) = None;
    }

    /// `drm_sched_entity_wakeup`: clear the dependency and wake the scheduler (fence-callback
    /// context, possibly hard irq).
    #[doc(alias = "drm_sched_entity_wakeup")]
    fn wakeup(&self) {
        self.clear_dep();
        self.sched.wakeup();
    }

    /// `drm_sched_entity_flush`: waits up to `timeout` for the scheduler to take every queued
    /// job (or for the entity to be stopped). Returns whether the entity is idle.
    #[doc(alias = "drm_sched_entity_flush")]
    pub fn flush(&self, timeout: Duration) -> bool {
        self.sched
            .job_scheduled
            .wait_event_timeout(|| self.is_idle(), timeout)
    }

    /// `drm_sched_entity_kill`: stops the entity, waits until the scheduler is not using it,
    /// and kills every queued job: each signals `scheduled` then `finished` with an error once
    /// the job before it (and its own dependencies) finished.
    #[doc(alias = "drm_sched_entity_kill")]
    pub fn kill(&self) {
        {
            let _e = self.rq_lock.lock();
            self.stopped.store(true, Ordering::Release);
            self.sched.rq_remove_entity(self);
        }
        // Make sure this entity is not used by the scheduler at the moment.
        self.entity_idle.wait_for_completion();
        let mut prev = self.last_scheduled();
        loop {
            let Some(job) = lock(&self.job_queue).pop_front() else {
                break;
            };
            let finished = job.s_fence.finished().clone();
            match prev {
                Some(p) => {
                    let j = job.clone();
                    if p.add_callback(move |_| kill_job(j)).is_err() {
                        kill_job(job);
                    }
                }
                None => kill_job(job),
            }
            prev = Some(finished);
        }
    }

    /// `drm_sched_entity_fini`: kills what is left and drops the dependency callback and
    /// `last_scheduled`.
    #[doc(alias = "drm_sched_entity_fini")]
    pub fn fini(&self) {
        self.kill();
        let dep = lock(&self.dependency).take();
        let cb = lock(&self.dependency_cb).take();
        if let (Some(dep), Some(cb)) = (dep, cb) {
            dep.remove_callback(&cb);
        }
        lock(&self.last_scheduled).take();
    }

    /// `drm_sched_entity_destroy`: [`flush`](Self::flush) with
    /// [`MAX_WAIT_SCHED_ENTITY_Q_EMPTY`], then [`fini`](Self::fini) — what closing a file does.
    #[doc(alias = "drm_sched_entity_destroy")]
    pub fn destroy(&self) {
        self.flush(MAX_WAIT_SCHED_ENTITY_Q_EMPTY);
        self.fini();
    }
}

/// `drm_sched_entity_kill_jobs_cb`: the job before a killed job finished (or there was none);
/// the rest happens in the job's kill work item.
fn kill_job(job: Arc<JobInner>) {
    let work = job.kill_work(kill_jobs_work);
    system_wq().queue_work(&work);
}

/// `drm_sched_entity_kill_jobs_work`: once every dependency of the killed job has signalled,
/// signal `scheduled`, then `finished` with an error, and give the job back to the driver.
fn kill_jobs_work(job: &Arc<JobInner>) {
    // Wait for all dependencies to avoid data corruptions.
    while let Some(dep) = job.take_dependency() {
        // A same-scheduler dependency was waited for on `scheduled` only: a killed job must
        // wait for the job to finish.
        let f = match DrmSchedFence::from_fence(&dep) {
            Some(s) if s.is_scheduled_fence(&dep) => s.finished().clone(),
            _ => dep,
        };
        let j = job.clone();
        if f.add_callback(move |_| kill_job(j)).is_ok() {
            return;
        }
    }
    job.s_fence.fence_scheduled(None);
    job.s_fence.fence_finished(Some(Errno::Ecanceled));
    let sched = job.sched();
    job.drop_kill_work();
    sched.ops().free_job(DrmSchedJob::from_inner(job.clone()));
}

/// The plain bookkeeping locks never see a panic while held; recover from one anyway.
pub(crate) fn lock<T>(m: &PlainMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for DrmSchedEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmSchedEntity")
            .field("id", &self.id)
            .field("priority", &self.priority)
            .field("queued", &self.queued())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}
