//! `DrmGpuScheduler` and `DrmSchedJob`: the scheduler core. Mirrors
//! drivers/gpu/drm/scheduler/sched_main.c.
//!
//! The scheduler's two work items run on its ordered submit workqueue: `run_job_work` picks
//! the highest-priority run queue with a ready entity (FIFO or round robin within it) whose head
//! job fits the free credits, pops the job (its dependencies resolved by fence callbacks), puts
//! it on the pending list, arms the timeout and calls the driver's `run_job`; the hardware
//! fence's callback completes the job (`finished`), and `free_job_work` hands finished jobs back
//! to the driver in order. The timeout (TDR) is delayed work on the timeout workqueue: when the
//! oldest pending job has run for longer than `timeout`, the driver's `timedout_job` recovers
//! with [`stop`](DrmGpuScheduler::stop), a reset and [`start`](DrmGpuScheduler::start).
//!
//! # Contract
//! - A job goes through `DrmSchedJob::init` → `add_dependency`* → `arm` → `push`, the last two
//!   under the entity's submit lock; after `push` the scheduler owns it until `free_job`.
//! - `scheduled` signals before `finished`; each exactly once, also for jobs killed with their
//!   entity, cancelled by a reset or force-completed on unplug (R5: no fence is left pending).
//! - `credit_limit` bounds the credits of the jobs handed to the hardware and not yet done; a
//!   job asking for more than the limit is truncated to it (the kernel's warning).
//! - `stop` must not be called with a lock that `run_job`/`free_job` take (R24): it
//!   `cancel_work_sync`s them. `fini` must not be called from a path the TDR waits for.
//! - A timeout handler returning [`DrmGpuSchedStat::Enodev`] (device unplugged) stops the
//!   timeout from being re-armed.
//!
//! # Locking
//! - `&sched->job_list_lock` (spinlock, leaf): the pending list and arming the timeout; never
//!   held across a driver callback (R23).
//! - `&rq->lock` (spinlock): a run queue's entity list and cursor; taken inside
//!   `&entity->rq_lock` where both are needed.
//! - The hardware fence's lock → `&fence->lock` (job done from the irq handler).
//!
//! # Annotations
//! - Submit workqueue: ordered, `WQ_MEM_RECLAIM`, map `drm_sched_lockdep_map` (shared); work
//!   items `(work_completion)(&sched->work_run_job)` and `(work_completion)(&sched->work_free_job)`,
//!   each running inside a dma-fence signalling section (`#[lockdep::signalling]`).
//! - TDR: `(work_completion)(&(&sched->work_tdr)->work)` on the timeout queue (the system
//!   queue unless given), with the device's controllable clock; the whole handler is a
//!   signalling section (Daniel Vetter's "use dma-fence annotations in tdr work").
//!
//! # Rules
//! R2–R4 (run_job/TDR are signalling), R5 (TDR force-completes), R23, R24, R25.
//!
//! # Simplified
//! Credits only (no `hw_rq_count`, no `score`); FIFO keys are a submission counter standing
//! in for `ktime_get()`; `fini` hands back (cancelling if needed) the jobs still pending instead
//! of warning and leaking them, and a job whose timeout found the device gone goes back on the
//! pending list; `increase_karma` does not mark entities guilty.

use crate::bugs::Bugs;
use crate::dma_fence::{self, DmaFence, DmaFenceCb};
use crate::dma_resv::{DmaResvGuard, DmaResvUsage};
use crate::drm_drv::DrmDevice;
use crate::error::{Errno, KResult};
use crate::mm::{self, GFP_KERNEL};
use crate::scheduler::sched_entity::{lock, DrmSchedEntity, DrmSchedSubmitGuard};
use crate::scheduler::sched_fence::DrmSchedFence;
use crate::scheduler::{
    DrmGpuSchedStat, DrmSchedBackendOps, DrmSchedPolicy, DrmSchedPriority, DRM_SCHED_LOCKDEP_MAP,
};
use crate::wait::WaitQueueHead;
use crate::workqueue::{system_wq, DelayedWork, Work, Workqueue, WQ_MEM_RECLAIM};
use lockdep::{LockClass, SpinLock};
use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as PlainMutex, OnceLock, Weak};
use std::time::Duration;

static JOB_LIST_LOCK: LockClass = LockClass::new("&sched->job_list_lock");
static RQ_LOCK: LockClass = LockClass::new("&rq->lock");
static JOB_SCHEDULED: LockClass = LockClass::new("&sched->job_scheduled");

/// How a scheduler is set up (`struct drm_sched_init_args`).
pub struct DrmSchedInitArgs {
    /// The scheduler's name: its fences' timeline name and its submit queue's name.
    pub name: &'static str,
    /// The device the scheduler drives (its bugs, its clock).
    pub dev: Arc<DrmDevice>,
    /// The credits the hardware can hold from all jobs in flight (`credit_limit`).
    pub credit_limit: u32,
    /// How often a job may hang before `resubmit_jobs` treats it as guilty (`hang_limit`).
    pub hang_limit: u32,
    /// How long a job may run before the TDR fires; `None` is `MAX_SCHEDULE_TIMEOUT` (never).
    pub timeout: Option<Duration>,
    /// Run queues, one per priority, up to [`DrmSchedPriority::COUNT`].
    pub num_rqs: usize,
    /// How each run queue picks its next entity.
    pub policy: DrmSchedPolicy,
    /// A driver-owned submit queue; `None` allocates one (ordered, `WQ_MEM_RECLAIM`, on
    /// `drm_sched_lockdep_map`).
    pub submit_wq: Option<Arc<Workqueue>>,
    /// The queue the TDR runs on; `None` is the system queue.
    pub timeout_wq: Option<Arc<Workqueue>>,
}

impl DrmSchedInitArgs {
    /// Defaults for `dev`: 64 credits, hang limit 0 (a job that hung once is guilty), a
    /// 500 ms timeout on the device's clock, a run queue for every priority, FIFO, a submit
    /// queue of its own and the system queue for the TDR.
    pub fn new(name: &'static str, dev: Arc<DrmDevice>) -> Self {
        DrmSchedInitArgs {
            name,
            dev,
            credit_limit: 64,
            hang_limit: 0,
            timeout: Some(Duration::from_millis(500)),
            num_rqs: DrmSchedPriority::COUNT,
            policy: DrmSchedPolicy::Fifo,
            submit_wq: None,
            timeout_wq: None,
        }
    }
}

/// A run queue (`struct drm_sched_rq`).
struct DrmSchedRq {
    lock: SpinLock<RqState>,
}

/// What `&rq->lock` protects.
#[derive(Default)]
struct RqState {
    /// `rq->entities`, in the order they were added.
    entities: Vec<Arc<DrmSchedEntity>>,
    /// `rq->current_entity`: the entity served last (round-robin cursor).
    current: Option<u64>,
}

/// The scheduler of one hardware queue (`struct drm_gpu_scheduler`).
pub struct DrmGpuScheduler {
    me: Weak<DrmGpuScheduler>,
    ops: Arc<dyn DrmSchedBackendOps>,
    name: &'static str,
    dev: Arc<DrmDevice>,
    bugs: Bugs,
    credit_limit: u32,
    /// `credit_count`: credits of the jobs on the hardware. Signed: `stop` may subtract a
    /// job's credits while its done callback is racing to do the same.
    credit_count: AtomicI64,
    hang_limit: u32,
    timeout: Option<Duration>,
    policy: DrmSchedPolicy,
    sched_rq: Vec<DrmSchedRq>,
    submit_wq: Arc<Workqueue>,
    own_submit_wq: bool,
    timeout_wq: Arc<Workqueue>,
    work_run_job: Arc<Work>,
    work_free_job: Arc<Work>,
    work_tdr: Arc<DelayedWork>,
    /// `pending_list` under `job_list_lock`: jobs handed to the hardware, oldest first.
    pending_list: SpinLock<VecDeque<Arc<JobInner>>>,
    /// `job_scheduled`: woken after each job is handed to the hardware (entity flush waits).
    pub(crate) job_scheduled: WaitQueueHead,
    pause_submit: AtomicBool,
    free_guilty: AtomicBool,
    ready: AtomicBool,
    job_id_count: AtomicU64,
    submit_ts: AtomicU64,
    jobs_run: AtomicU64,
    timeouts: AtomicU64,
}

impl DrmGpuScheduler {
    /// `drm_sched_init`: a scheduler with `args.num_rqs` run queues and its work items.
    ///
    /// # Errors
    /// `Einval` for no run queue, more than [`DrmSchedPriority::COUNT`], or a zero credit
    /// limit.
    #[doc(alias = "drm_sched_init")]
    pub fn new(ops: Arc<dyn DrmSchedBackendOps>, args: DrmSchedInitArgs) -> KResult<Arc<DrmGpuScheduler>> {
        if args.num_rqs == 0 || args.num_rqs > DrmSchedPriority::COUNT || args.credit_limit == 0 {
            return Err(Errno::Einval);
        }
        let (submit_wq, own_submit_wq) = match args.submit_wq {
            Some(wq) => (wq, false),
            // drm_sched_alloc_wq: every scheduler-owned submit queue shares one lockdep map.
            None => (
                Workqueue::alloc_ordered_lockdep_map(args.name, WQ_MEM_RECLAIM, &DRM_SCHED_LOCKDEP_MAP),
                true,
            ),
        };
        let timeout_wq = args.timeout_wq.unwrap_or_else(|| system_wq().clone());
        let clock = args.dev.clock();
        Ok(Arc::new_cyclic(|me: &Weak<DrmGpuScheduler>| {
            let (w1, w2, w3) = (me.clone(), me.clone(), me.clone());
            DrmGpuScheduler {
                me: me.clone(),
                ops,
                name: args.name,
                bugs: args.dev.bugs(),
                dev: args.dev,
                credit_limit: args.credit_limit,
                credit_count: AtomicI64::new(0),
                hang_limit: args.hang_limit,
                timeout: args.timeout,
                policy: args.policy,
                sched_rq: (0..args.num_rqs)
                    .map(|_| DrmSchedRq {
                        lock: SpinLock::with_class(RqState::default(), &RQ_LOCK),
                    })
                    .collect(),
                submit_wq,
                own_submit_wq,
                timeout_wq,
                work_run_job: Work::new("(work_completion)(&sched->work_run_job)", move || {
                    if let Some(s) = w1.upgrade() {
                        s.run_job_work();
                    }
                }),
                work_free_job: Work::new("(work_completion)(&sched->work_free_job)", move || {
                    if let Some(s) = w2.upgrade() {
                        s.free_job_work();
                    }
                }),
                work_tdr: DelayedWork::with_clock(
                    "(work_completion)(&(&sched->work_tdr)->work)",
                    &clock,
                    move || {
                        if let Some(s) = w3.upgrade() {
                            s.job_timedout();
                        }
                    },
                ),
                pending_list: SpinLock::with_class(VecDeque::new(), &JOB_LIST_LOCK),
                job_scheduled: WaitQueueHead::new(&JOB_SCHEDULED),
                pause_submit: AtomicBool::new(false),
                free_guilty: AtomicBool::new(false),
                ready: AtomicBool::new(true),
                job_id_count: AtomicU64::new(0),
                submit_ts: AtomicU64::new(0),
                jobs_run: AtomicU64::new(0),
                timeouts: AtomicU64::new(0),
            }
        }))
    }

    /// The name given at init.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The device.
    pub fn dev(&self) -> &Arc<DrmDevice> {
        &self.dev
    }

    /// The bugs injected on the device (for drivers built on this scheduler).
    pub fn bugs(&self) -> Bugs {
        self.bugs
    }

    /// How many run queues (priorities) it has.
    pub fn num_rqs(&self) -> usize {
        self.sched_rq.len()
    }

    /// The credit limit.
    pub fn credit_limit(&self) -> u32 {
        self.credit_limit
    }

    /// Credits of the jobs currently on the hardware.
    pub fn credit_count(&self) -> u32 {
        self.credit_count.load(Ordering::Acquire).max(0) as u32
    }

    /// Jobs on the pending list (handed to the hardware, not yet freed).
    pub fn pending_jobs(&self) -> usize {
        self.pending_list.lock().len()
    }

    /// Jobs handed to `run_job` so far (re-runs by `resubmit_jobs` included).
    pub fn jobs_run(&self) -> u64 {
        self.jobs_run.load(Ordering::Relaxed)
    }

    /// Times the TDR fired with a pending job.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }

    /// Whether the TDR is armed or queued.
    pub fn timeout_pending(&self) -> bool {
        self.work_tdr.is_pending()
    }

    /// Whether `fini` has not run yet (`sched->ready`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn ops(&self) -> &Arc<dyn DrmSchedBackendOps> {
        &self.ops
    }

    pub(crate) fn next_submit_ts(&self) -> u64 {
        self.submit_ts.fetch_add(1, Ordering::Relaxed) + 1
    }

    // ---- run queues ----------------------------------------------------------------------

    /// `drm_sched_rq_add_entity` plus the FIFO update of a first push; the caller holds the
    /// entity's `rq_lock`.
    pub(crate) fn rq_add_entity(&self, entity: &Arc<DrmSchedEntity>, ts: u64) {
        let mut rq = self.sched_rq[entity.rq].lock.lock();
        if !entity.on_rq.swap(true, Ordering::AcqRel) {
            rq.entities.push(entity.clone());
        }
        entity.oldest_job_waiting.store(ts, Ordering::Relaxed);
    }

    /// `drm_sched_rq_update_fifo_locked`: the entity's FIFO key is now `ts`; the caller holds
    /// the entity's `rq_lock`.
    pub(crate) fn rq_update_fifo(&self, entity: &DrmSchedEntity, ts: u64) {
        let _rq = self.sched_rq[entity.rq].lock.lock();
        entity.oldest_job_waiting.store(ts, Ordering::Relaxed);
    }

    /// `drm_sched_rq_remove_entity`; the caller holds the entity's `rq_lock`.
    pub(crate) fn rq_remove_entity(&self, entity: &DrmSchedEntity) {
        let mut rq = self.sched_rq[entity.rq].lock.lock();
        if !entity.on_rq.swap(false, Ordering::AcqRel) {
            return;
        }
        rq.entities.retain(|e| e.id() != entity.id());
        if rq.current == Some(entity.id()) {
            rq.current = None;
        }
    }

    /// `drm_sched_can_queue`: whether the entity's head job fits the free credits. A job
    /// asking for more than the limit is truncated to it, so it can run at all.
    fn can_queue(&self, entity: &DrmSchedEntity) -> bool {
        let Some(job) = entity.peek() else { return false };
        let credits = job.credits.load(Ordering::Relaxed);
        if credits > self.credit_limit {
            job.credits.store(self.credit_limit, Ordering::Relaxed);
        }
        let free = self.credit_limit as i64 - self.credit_count.load(Ordering::Acquire);
        free >= job.credits.load(Ordering::Relaxed) as i64
    }

    /// `drm_sched_rq_select_entity_{rr,fifo}`: `Ok(Some(e))` the entity to serve, `Ok(None)`
    /// nothing ready here, `Err(())` a ready entity whose job does not fit the credits
    /// (`-ENOSPC`: lower priorities must wait too, for fairness).
    fn rq_select_entity(&self, rq: &DrmSchedRq) -> Result<Option<Arc<DrmSchedEntity>>, ()> {
        let mut st = rq.lock.lock();
        let n = st.entities.len();
        let candidate = match self.policy {
            DrmSchedPolicy::Fifo => st
                .entities
                .iter()
                .filter(|e| e.is_ready())
                .min_by_key(|e| e.oldest_job_waiting.load(Ordering::Relaxed))
                .cloned(),
            DrmSchedPolicy::Rr => {
                // Resume after the entity served last, wrapping around to it.
                let start = st
                    .current
                    .and_then(|c| st.entities.iter().position(|e| e.id() == c))
                    .map_or(0, |i| i + 1);
                (0..n)
                    .map(|k| &st.entities[(start + k) % n])
                    .find(|e| e.is_ready())
                    .cloned()
            }
        };
        let Some(entity) = candidate else { return Ok(None) };
        if !self.can_queue(&entity) {
            return Err(());
        }
        st.current = Some(entity.id());
        entity.entity_idle.reinit();
        Ok(Some(entity))
    }

    /// `drm_sched_select_entity`: the highest-priority run queue's pick.
    fn select_entity(&self) -> Option<Arc<DrmSchedEntity>> {
        for rq in &self.sched_rq {
            match self.rq_select_entity(rq) {
                Ok(Some(e)) => return Some(e),
                Ok(None) => continue,
                Err(()) => return None,
            }
        }
        None
    }

    // ---- the work items ------------------------------------------------------------------

    /// `drm_sched_run_job_queue` / `drm_sched_wakeup`: queue the run-job work unless paused.
    #[doc(alias = "drm_sched_wakeup")]
    pub fn wakeup(&self) {
        if !self.pause_submit.load(Ordering::Acquire) {
            self.submit_wq.queue_work(&self.work_run_job);
        }
    }

    /// `__drm_sched_run_free_queue`.
    fn run_free_queue_unconditionally(&self) {
        if !self.pause_submit.load(Ordering::Acquire) {
            self.submit_wq.queue_work(&self.work_free_job);
        }
    }

    /// `drm_sched_run_free_queue`: queue the free-job work if the oldest pending job is done.
    fn run_free_queue(&self) {
        let pending = self.pending_list.lock();
        if pending
            .front()
            .is_some_and(|j| j.s_fence.finished().is_signaled())
        {
            self.run_free_queue_unconditionally();
        }
    }

    /// `drm_sched_run_job_work`: hand one ready job to the hardware.
    fn run_job_work(&self) {
        // A signalling section opened with the scope guard rather than `#[signalling]`: a
        // fence wait reached from here (direct reclaim in `run_job` running a shrinker that
        // waits) must be able to drop the section's hold as `__dma_fence_might_wait` does,
        // or it reads as recursion on `dma_fence_map` on top of the real inversion.
        let _signalling = dma_fence::signalling();
        if self.pause_submit.load(Ordering::Acquire) {
            return;
        }
        let Some(entity) = self.select_entity() else {
            return;
        };
        let Some(job) = entity.pop_job() else {
            entity.entity_idle.complete_all();
            // The entity waits for a dependency; others may be ready.
            self.wakeup();
            return;
        };
        self.credit_count
            .fetch_add(job.credits.load(Ordering::Relaxed) as i64, Ordering::AcqRel);
        self.job_begin(&job);
        self.jobs_run.fetch_add(1, Ordering::Relaxed);
        let r = self.ops.run_job(&DrmSchedJob::from_inner(job.clone()));
        entity.entity_idle.complete_all();
        drop(entity);
        match r {
            Ok(Some(fence)) => {
                job.s_fence.fence_scheduled(Some(fence.clone()));
                self.add_done_cb(&job, &fence, None);
            }
            Ok(None) => {
                job.s_fence.fence_scheduled(None);
                self.job_done(&job, None);
            }
            Err(e) => {
                job.s_fence.fence_scheduled(None);
                self.job_done(&job, Some(e));
            }
        }
        self.job_scheduled.wake_up_all();
        self.wakeup();
    }

    /// Installs `drm_sched_job_done_cb` on the hardware fence; completes the job at once if
    /// the fence already signalled (with its error, or `errno` if it has none).
    fn add_done_cb(&self, job: &Arc<JobInner>, fence: &Arc<DmaFence>, errno: Option<Errno>) {
        let j = job.clone();
        let me = self.me.clone();
        match fence.try_add_callback(move |f: &DmaFence| {
            if let Some(s) = me.upgrade() {
                s.job_done(&j, f.error());
            }
        }) {
            Ok(cb) => *lock(&job.cb) = Some(cb),
            Err(_) => self.job_done(job, fence.error().or(errno)),
        }
    }

    /// `drm_sched_job_done`: return the credits, signal `finished` with `result`, queue the
    /// free work. Runs in the hardware fence's callback (irq context) or the caller's.
    #[doc(alias = "drm_sched_job_done")]
    fn job_done(&self, job: &Arc<JobInner>, result: Option<Errno>) {
        self.credit_count
            .fetch_sub(job.credits.load(Ordering::Relaxed) as i64, Ordering::AcqRel);
        job.s_fence.fence_finished(result);
        self.run_free_queue_unconditionally();
    }

    /// `drm_sched_job_begin`: the job is on the pending list; arm the timeout.
    fn job_begin(&self, job: &Arc<JobInner>) {
        let mut pending = self.pending_list.lock();
        pending.push_back(job.clone());
        self.start_timeout(&pending);
    }

    /// `drm_sched_start_timeout`: (re)arm the TDR if there is a pending job; the caller holds
    /// `job_list_lock` (the guard proves it).
    fn start_timeout(&self, pending: &VecDeque<Arc<JobInner>>) {
        lockdep::assert_held(&self.pending_list);
        if let Some(t) = self.timeout {
            if !pending.is_empty() {
                self.timeout_wq.mod_delayed_work(&self.work_tdr, t);
            }
        }
    }

    /// `drm_sched_start_timeout_unlocked`.
    fn start_timeout_unlocked(&self) {
        let pending = self.pending_list.lock();
        self.start_timeout(&pending);
    }

    /// `drm_sched_get_finished_job`: the oldest pending job if its `finished` signalled; the
    /// timeout restarts for the next one.
    fn get_finished_job(&self) -> Option<Arc<JobInner>> {
        let mut pending = self.pending_list.lock();
        if !pending.front()?.s_fence.finished().is_signaled() {
            return None;
        }
        let job = pending.pop_front();
        self.work_tdr.cancel_delayed_work();
        if !pending.is_empty() {
            self.start_timeout(&pending);
        }
        job
    }

    /// `drm_sched_free_job_work`: give one finished job back to the driver.
    #[lockdep::signalling(crate::dma_fence::DMA_FENCE_MAP)]
    fn free_job_work(&self) {
        if self.pause_submit.load(Ordering::Acquire) {
            return;
        }
        if let Some(job) = self.get_finished_job() {
            self.ops.free_job(DrmSchedJob::from_inner(job));
        }
        self.run_free_queue();
        self.wakeup();
    }

    /// `drm_sched_job_timedout`: the TDR. The oldest pending job is taken off the list (so a
    /// concurrent free cannot release it) and handed to the driver; the timeout is re-armed
    /// unless the device is gone. It runs with `job_list_lock` dropped (R23): the driver's
    /// handler sleeps and waits.
    #[lockdep::must_not_hold(self.pending_list)]
    fn job_timedout(&self) {
        // The whole handler is needed for fences to signal: a signalling section, opened with
        // the scope guard so the fence waits in `stop` can drop it as the kernel's do.
        let _signalling = dma_fence::signalling();
        let mut status = DrmGpuSchedStat::Nominal;
        let job = self.pending_list.lock().pop_front();
        if let Some(job) = job {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            status = self.ops.timedout_job(&DrmSchedJob::from_inner(job.clone()));
            if status != DrmGpuSchedStat::Nominal {
                // NoHang: drm_sched_job_reinsert_on_false_timeout, back at the head. Enodev:
                // the kernel leaves the job to the driver; here it goes back too, so the free
                // work or fini hands it back once the unplug path completed it.
                let mut pending = self.pending_list.lock();
                if !pending.iter().any(|j| Arc::ptr_eq(j, &job)) {
                    pending.push_front(job.clone());
                }
                drop(pending);
                self.run_free_queue();
            }
            // The guilty job completed and was left to us (see `stop`).
            if self.free_guilty.swap(false, Ordering::AcqRel) {
                self.ops.free_job(DrmSchedJob::from_inner(job));
            }
        }
        if status != DrmGpuSchedStat::Enodev {
            self.start_timeout_unlocked();
        }
    }

    /// `drm_sched_fault`: a hardware fault was detected: run the TDR now.
    #[doc(alias = "drm_sched_fault")]
    pub fn fault(&self) {
        self.timeout_wq.mod_delayed_work(&self.work_tdr, Duration::ZERO);
    }

    /// `drm_sched_wqueue_stop`: no more run/free work; waits for a running item to finish
    /// (`cancel_work_sync`, so not under a lock those items take, R24).
    #[doc(alias = "drm_sched_wqueue_stop")]
    pub fn wqueue_stop(&self) {
        self.pause_submit.store(true, Ordering::Release);
        self.work_run_job.cancel_work_sync();
        self.work_free_job.cancel_work_sync();
    }

    /// `drm_sched_wqueue_start`: resume the run/free work.
    #[doc(alias = "drm_sched_wqueue_start")]
    pub fn wqueue_start(&self) {
        self.pause_submit.store(false, Ordering::Release);
        self.submit_wq.queue_work(&self.work_run_job);
        self.submit_wq.queue_work(&self.work_free_job);
    }

    /// Whether the run/free work is stopped (`pause_submit`).
    pub fn wqueue_stopped(&self) -> bool {
        self.pause_submit.load(Ordering::Acquire)
    }

    /// `drm_sched_stop`: stop the work items, detach every pending job from its hardware
    /// fence (their credits return), and free the jobs that completed meanwhile — waiting for
    /// their `finished` first. `bad` (taken off the list by the TDR) goes back at the head and
    /// is not freed here: if it completed, the TDR frees it after the handler returns.
    #[doc(alias = "drm_sched_stop")]
    pub fn stop(&self, bad: Option<&DrmSchedJob>) {
        self.wqueue_stop();
        let snapshot: Vec<Arc<JobInner>> = {
            let mut pending = self.pending_list.lock();
            if let Some(b) = bad.filter(|b| b.inner.is_on(self)) {
                if !pending.iter().any(|j| Arc::ptr_eq(j, &b.inner)) {
                    pending.push_front(b.inner.clone());
                }
            }
            pending.iter().rev().cloned().collect()
        };
        for job in snapshot {
            let parent = job.s_fence.parent();
            let cb = lock(&job.cb).take();
            let detached = match (&parent, &cb) {
                (Some(p), Some(cb)) => p.remove_callback(cb),
                _ => false,
            };
            if detached {
                job.s_fence.set_parent(None);
                self.credit_count
                    .fetch_sub(job.credits.load(Ordering::Relaxed) as i64, Ordering::AcqRel);
                continue;
            }
            self.pending_list.lock().retain(|j| !Arc::ptr_eq(j, &job));
            // Let the done callback finish with the job before it is released.
            let _ = job.s_fence.finished().wait(false);
            if bad.is_some_and(|b| Arc::ptr_eq(&b.inner, &job)) {
                self.free_guilty.store(true, Ordering::Release);
            } else {
                self.ops.free_job(DrmSchedJob::from_inner(job));
            }
        }
        // Do not let a timeout queued meanwhile fire before the restarted jobs ran.
        self.work_tdr.cancel_delayed_work();
    }

    /// `drm_sched_start(sched, 0)`: recover after a reset: every pending job either gets its
    /// done callback back on its hardware fence, or — without one (the reset cancelled it) —
    /// completes with `-ECANCELED`; then the timeout and the work items restart.
    #[doc(alias = "drm_sched_start")]
    pub fn start(&self) {
        self.start_with_errno(None);
    }

    /// `drm_sched_start(sched, errno)`: as [`start`](Self::start), with `errno` for the
    /// jobs that lost their hardware fence.
    pub fn start_with_errno(&self, errno: Option<Errno>) {
        let snapshot: Vec<Arc<JobInner>> = self.pending_list.lock().iter().cloned().collect();
        for job in snapshot {
            self.credit_count
                .fetch_add(job.credits.load(Ordering::Relaxed) as i64, Ordering::AcqRel);
            match job.s_fence.parent() {
                None => self.job_done(&job, Some(errno.unwrap_or(Errno::Ecanceled))),
                Some(fence) => self.add_done_cb(&job, &fence, errno),
            }
        }
        self.start_timeout_unlocked();
        self.wqueue_start();
    }

    /// `drm_sched_increase_karma`: the job was found guilty of a hang once more.
    #[doc(alias = "drm_sched_increase_karma")]
    pub fn increase_karma(&self, bad: &DrmSchedJob) {
        bad.inner.karma.fetch_add(1, Ordering::AcqRel);
    }

    /// `drm_sched_resubmit_jobs` — deprecated (R25): runs every pending job on the hardware
    /// again after a reset, marking the jobs of the first one over the hang limit cancelled.
    /// It calls `run_job` from the reset path, which is how drivers ended up allocating and
    /// locking inside the signalling section; only the `resubmit-jobs` injected bug uses it.
    #[doc(alias = "drm_sched_resubmit_jobs")]
    pub fn resubmit_jobs(&self) {
        let snapshot: Vec<Arc<JobInner>> = self.pending_list.lock().iter().cloned().collect();
        let mut guilty_context = None;
        for job in snapshot {
            let finished = job.s_fence.finished();
            if guilty_context.is_none() && job.karma.load(Ordering::Acquire) > self.hang_limit {
                guilty_context = Some(job.s_fence.scheduled().context());
            }
            if guilty_context == Some(job.s_fence.scheduled().context())
                && finished.error().is_none()
                && !finished.is_signaled()
            {
                finished.set_error(Errno::Ecanceled);
            }
            self.jobs_run.fetch_add(1, Ordering::Relaxed);
            match self.ops.run_job(&DrmSchedJob::from_inner(job.clone())) {
                Ok(Some(fence)) => {
                    job.s_fence.set_parent(Some(fence));
                }
                Ok(None) => {
                    job.s_fence.set_parent(None);
                }
                Err(e) => {
                    if finished.error().is_none() && !finished.is_signaled() {
                        finished.set_error(e);
                    }
                    job.s_fence.set_parent(None);
                }
            }
        }
    }

    /// `drm_sched_fini`: stop the work items, mark every entity stopped, wake flushers, cancel
    /// the TDR (waiting for a running one, R24), destroy the owned submit queue, and hand back
    /// the jobs still pending (cancelling those whose hardware never completed them).
    #[doc(alias = "drm_sched_fini")]
    pub fn fini(&self) {
        self.wqueue_stop();
        for rq in &self.sched_rq {
            let mut st = rq.lock.lock();
            for e in &st.entities {
                // Prevents reinsertion and marks the queue idle; the entity's own fini
                // removes it for good.
                e.stopped.store(true, Ordering::Release);
                e.on_rq.store(false, Ordering::Release);
            }
            st.entities.clear();
            st.current = None;
        }
        self.job_scheduled.wake_up_all();
        self.work_tdr.cancel_delayed_work_sync();
        if self.own_submit_wq {
            self.submit_wq.destroy();
        }
        self.ready.store(false, Ordering::Release);
        let left: Vec<Arc<JobInner>> = self.pending_list.lock().drain(..).collect();
        for job in left {
            let parent = job.s_fence.parent();
            let cb = lock(&job.cb).take();
            let detached = match (&parent, &cb) {
                (Some(p), Some(cb)) => p.remove_callback(cb),
                _ => false,
            };
            if detached || parent.is_none() {
                // The hardware never completed it (or it was detached by `stop`).
                if !job.s_fence.finished().is_signaled() {
                    self.job_done(&job, Some(Errno::Ecanceled));
                }
            } else {
                // Its done callback ran or is running: let it finish with the job.
                let _ = job.s_fence.finished().wait(false);
            }
            self.ops.free_job(DrmSchedJob::from_inner(job));
        }
    }
}

impl std::fmt::Debug for DrmGpuScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmGpuScheduler")
            .field("name", &self.name)
            .field("credit_limit", &self.credit_limit)
            .field("credit_count", &self.credit_count())
            .field("pending", &self.pending_jobs())
            .finish()
    }
}

// ---- jobs --------------------------------------------------------------------------------

/// A job's shared state: the scheduler, its entity queue, the pending list and fence
/// callbacks all refer to it.
pub(crate) struct JobInner {
    pub(crate) credits: AtomicU32,
    pub(crate) s_fence: Arc<DrmSchedFence>,
    /// `job->entity`: cleared when the scheduler takes the job (the entity may go away).
    entity: PlainMutex<Option<Arc<DrmSchedEntity>>>,
    sched: OnceLock<Weak<DrmGpuScheduler>>,
    id: AtomicU64,
    /// `job->dependencies` (an xarray in the kernel).
    dependencies: PlainMutex<Vec<Arc<DmaFence>>>,
    last_dependency: AtomicUsize,
    /// `job->cb`: the done callback on the hardware fence.
    pub(crate) cb: PlainMutex<Option<DmaFenceCb>>,
    pub(crate) karma: AtomicU32,
    pub(crate) submit_ts: AtomicU64,
    pushed: AtomicBool,
    /// `job->work` of a killed job.
    kill_work: PlainMutex<Option<Arc<Work>>>,
    data: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl JobInner {
    /// `drm_sched_job_dependency`'s first half: the next dependency not yet waited for.
    pub(crate) fn next_dependency(&self) -> Option<Arc<DmaFence>> {
        let deps = lock(&self.dependencies);
        let i = self.last_dependency.load(Ordering::Relaxed);
        let f = deps.get(i).cloned();
        if f.is_some() {
            self.last_dependency.store(i + 1, Ordering::Relaxed);
        }
        f
    }

    /// Removes and returns one dependency (the kill path's `xa_erase`).
    pub(crate) fn take_dependency(&self) -> Option<Arc<DmaFence>> {
        lock(&self.dependencies).pop()
    }

    pub(crate) fn clear_entity(&self) {
        lock(&self.entity).take();
    }

    pub(crate) fn sched(&self) -> Arc<DrmGpuScheduler> {
        self.sched
            .get()
            .and_then(Weak::upgrade)
            .expect("drm_sched job used before drm_sched_job_arm or after drm_sched_fini")
    }

    fn is_on(&self, sched: &DrmGpuScheduler) -> bool {
        self.sched
            .get()
            .is_some_and(|s| std::ptr::eq(s.as_ptr(), sched as *const _))
    }

    /// The kill work item of this job, made on first use (`INIT_WORK(&job->work, ...)`).
    pub(crate) fn kill_work(self: &Arc<Self>, f: fn(&Arc<JobInner>)) -> Arc<Work> {
        let mut w = lock(&self.kill_work);
        w.get_or_insert_with(|| {
            let job = self.clone();
            Work::new("(work_completion)(&job->work)", move || f(&job))
        })
        .clone()
    }

    /// Breaks the job → work → job cycle once the kill work is done with the job.
    pub(crate) fn drop_kill_work(&self) {
        lock(&self.kill_work).take();
    }
}

impl Drop for JobInner {
    /// A job armed but never pushed has published fences nobody will signal: signal them
    /// with an error, so no waiter hangs (R5).
    fn drop(&mut self) {
        if self.s_fence.is_armed() && !self.pushed.load(Ordering::Acquire) {
            if !self.s_fence.scheduled().is_signaled() {
                self.s_fence.fence_scheduled(None);
            }
            if !self.s_fence.finished().is_signaled() {
                self.s_fence.fence_finished(Some(Errno::Ecanceled));
            }
        }
    }
}

/// A scheduler job (`struct drm_sched_job`), embedded in the kernel in the driver's job; here
/// the driver attaches its data with [`set_driver_data`](Self::set_driver_data).
///
/// Lifecycle: [`init`](Self::init), dependencies, [`arm`](Self::arm), [`push`](Self::push)
/// (the scheduler owns it now), then the driver gets it back in
/// [`DrmSchedBackendOps::free_job`]; dropping it there is `drm_sched_job_cleanup`.
pub struct DrmSchedJob {
    pub(crate) inner: Arc<JobInner>,
}

impl DrmSchedJob {
    pub(crate) fn from_inner(inner: Arc<JobInner>) -> DrmSchedJob {
        DrmSchedJob { inner }
    }

    /// `drm_sched_job_init`: a job for `entity` costing `credits`, owned by `owner` (a client
    /// id, for debugging). Allocates the scheduler fence with GFP_KERNEL: call it before any
    /// signalling section.
    ///
    /// # Errors
    /// `Einval` for zero credits; `Enoent` if the entity is stopped (killed, or its scheduler
    /// torn down: the kernel's "entity has no rq"); `Enomem` from the allocator.
    #[doc(alias = "drm_sched_job_init")]
    pub fn init(entity: &Arc<DrmSchedEntity>, credits: u32, owner: u64) -> KResult<DrmSchedJob> {
        if entity.is_stopped() {
            return Err(Errno::Enoent);
        }
        if credits == 0 {
            return Err(Errno::Einval);
        }
        let s_fence = DrmSchedFence::alloc(owner)?;
        Ok(DrmSchedJob {
            inner: Arc::new(JobInner {
                credits: AtomicU32::new(credits),
                s_fence,
                entity: PlainMutex::new(Some(entity.clone())),
                sched: OnceLock::new(),
                id: AtomicU64::new(0),
                dependencies: PlainMutex::new(Vec::new()),
                last_dependency: AtomicUsize::new(0),
                cb: PlainMutex::new(None),
                karma: AtomicU32::new(0),
                submit_ts: AtomicU64::new(0),
                pushed: AtomicBool::new(false),
                kill_work: PlainMutex::new(None),
                data: OnceLock::new(),
            }),
        })
    }

    /// `drm_sched_job_add_dependency`: the job will not run before `fence` signals. Keeps one
    /// fence per context (the later one). Allocates with GFP_KERNEL (`xa_alloc`): before `arm`.
    ///
    /// # Errors
    /// `Enomem` from the allocator.
    #[doc(alias = "drm_sched_job_add_dependency")]
    pub fn add_dependency(&mut self, fence: Arc<DmaFence>) -> KResult {
        let mut deps = lock(&self.inner.dependencies);
        if let Some(entry) = deps.iter_mut().find(|e| e.context() == fence.context()) {
            if fence.is_later(entry.as_ref()) {
                *entry = fence;
            }
            return Ok(());
        }
        mm::might_alloc(GFP_KERNEL);
        deps.push(fence);
        Ok(())
    }

    /// `drm_sched_job_add_resv_dependencies`: every fence of `usage` or stronger in the
    /// reservation object `guard` holds becomes a dependency. The resv must be held by the
    /// caller (asserted on this very object).
    ///
    /// # Errors
    /// `Enomem` from the allocator.
    #[doc(alias = "drm_sched_job_add_resv_dependencies")]
    pub fn add_resv_dependencies(&mut self, guard: &DmaResvGuard<'_>, usage: DmaResvUsage) -> KResult {
        guard.resv().assert_held();
        for (fence, _) in guard.fences(usage) {
            self.add_dependency(fence)?;
        }
        Ok(())
    }

    /// `drm_sched_job_add_implicit_dependencies`: the implicit-sync fences of `obj` (all of
    /// them for a write, the writers' for a read); its resv must be held through `guard`.
    ///
    /// # Errors
    /// `Enomem` from the allocator.
    #[doc(alias = "drm_sched_job_add_implicit_dependencies")]
    pub fn add_implicit_dependencies(&mut self, guard: &DmaResvGuard<'_>, write: bool) -> KResult {
        self.add_resv_dependencies(guard, DmaResvUsage::rw(write))
    }

    /// `drm_sched_job_has_dependency`.
    pub fn has_dependency(&self, fence: &Arc<DmaFence>) -> bool {
        lock(&self.inner.dependencies)
            .iter()
            .any(|f| Arc::ptr_eq(f, fence))
    }

    /// How many dependencies the job holds.
    pub fn dependencies(&self) -> usize {
        lock(&self.inner.dependencies).len()
    }

    /// `drm_sched_job_arm`: the job gets its scheduler, id and fences (from now on they may
    /// be published). Requires the entity's submit lock (R22) and opens the arm → push
    /// signalling section.
    ///
    /// # Panics
    /// If the guard is another entity's, or the job was armed already.
    #[doc(alias = "drm_sched_job_arm")]
    #[lockdep::requires_held(guard.lock())]
    pub fn arm(&mut self, guard: &DrmSchedSubmitGuard<'_>) {
        let entity = lock(&self.inner.entity)
            .clone()
            .expect("drm_sched_job_arm on a pushed job");
        guard.check(&entity);
        assert!(!self.inner.s_fence.is_armed(), "drm_sched_job_arm twice");
        let sched = entity.sched().clone();
        let _ = self.inner.sched.set(Arc::downgrade(&sched));
        self.inner.id.store(
            sched.job_id_count.fetch_add(1, Ordering::Relaxed) + 1,
            Ordering::Relaxed,
        );
        self.inner
            .s_fence
            .init(&sched, entity.fence_context(), entity.next_seqno());
        guard.begin_signalling();
    }

    /// `drm_sched_entity_push_job`: hands the armed job to its entity (and so the scheduler)
    /// and closes the arm → push signalling section. Requires the entity's submit lock (R22).
    ///
    /// # Panics
    /// If the job was not armed, or the guard is another entity's.
    #[doc(alias = "drm_sched_entity_push_job")]
    #[lockdep::requires_held(guard.lock())]
    pub fn push(self, guard: &DrmSchedSubmitGuard<'_>) {
        assert!(
            self.inner.s_fence.is_armed(),
            "drm_sched_entity_push_job before arm"
        );
        let entity = lock(&self.inner.entity)
            .clone()
            .expect("drm_sched_entity_push_job twice");
        guard.check(&entity);
        self.inner.pushed.store(true, Ordering::Release);
        entity.push_job(self.inner);
        guard.end_signalling();
    }

    /// `drm_sched_job_cleanup`: releases the job (its fences and dependencies). A job armed
    /// but never pushed has its fences signalled with `-ECANCELED` first.
    #[doc(alias = "drm_sched_job_cleanup")]
    pub fn cleanup(self) {
        drop(self);
    }

    /// The job's scheduler fences.
    pub fn s_fence(&self) -> &Arc<DrmSchedFence> {
        &self.inner.s_fence
    }

    /// The credits the job costs (after truncation to the limit).
    pub fn credits(&self) -> u32 {
        self.inner.credits.load(Ordering::Relaxed)
    }

    /// The scheduler-wide job id given at arm (`job->id`); 0 before.
    pub fn id(&self) -> u64 {
        self.inner.id.load(Ordering::Relaxed)
    }

    /// How often the job was found guilty of a hang (`job->karma`).
    pub fn karma(&self) -> u32 {
        self.inner.karma.load(Ordering::Acquire)
    }

    /// The scheduler the job was armed on (`job->sched`).
    ///
    /// # Panics
    /// Before `arm`.
    pub fn sched(&self) -> Arc<DrmGpuScheduler> {
        self.inner.sched()
    }

    /// Attaches the driver's data (what the kernel's driver job struct embeds around
    /// `drm_sched_job`). Set once, before `push`.
    ///
    /// # Panics
    /// If set twice.
    pub fn set_driver_data<T: Any + Send + Sync>(&mut self, data: T) {
        if self.inner.data.set(Box::new(data)).is_err() {
            panic!("drm_sched job driver data set twice");
        }
    }

    /// The driver's data, if it is a `T`.
    pub fn driver_data<T: Any>(&self) -> Option<&T> {
        self.inner.data.get().and_then(|d| d.downcast_ref())
    }

    /// Whether `other` is the same job.
    pub fn ptr_eq(&self, other: &DrmSchedJob) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for DrmSchedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmSchedJob")
            .field("id", &self.id())
            .field("credits", &self.credits())
            .field("s_fence", &self.inner.s_fence)
            .finish()
    }
}
