//! `Workqueue`, `Work`, `DelayedWork`: deferred work on worker threads. Mirrors
//! kernel/workqueue.c (`include/linux/workqueue.h`).
//!
//! # Contract
//! - A [`Work`] is a function plus state: *pending* (queued, or its timer armed) and
//!   *running*. Queueing a pending work does nothing and returns `false`; a work queued again
//!   while it runs runs once more afterwards. A work never runs on two threads at once.
//! - An ordered queue ([`Workqueue::alloc_ordered`]) runs one item at a time, in queue order,
//!   on one worker thread. An unbound queue ([`Workqueue::alloc_unbound`]) runs up to
//!   `max_active` items at once on worker threads it starts as needed.
//! - `flush_work` waits for the pending or running instance to finish; `cancel_work_sync`
//!   takes the work off its queue (or disarms its timer), blocks re-queueing meanwhile, and
//!   waits for a running instance; `flush_workqueue` waits for everything queued before it.
//! - [`DelayedWork`] arms a timer of its [`Clock`] that queues the work when it fires;
//!   `mod_delayed_work` re-arms, `cancel_delayed_work_sync` also waits for a running instance.
//! - A queue lives while an `Arc<Workqueue>` does; [`Workqueue::destroy`] (or dropping the
//!   last handle) drains it and stops its workers. Torn down from one of its own items it
//!   cannot wait for itself: it lets its workers finish what is queued and exit (an explicit
//!   `destroy` there is reported, as the kernel's flush would report it).
//!
//! # Locking
//! - `&pool->lock` (raw spinlock, interrupts off): all queue and work state, so `queue_work`
//!   is callable from any context — irq handlers, fence callbacks, timers. Nothing is called
//!   under it.
//!
//! # Annotations
//! - A queue has the pseudo-lock `(wq_completion)<name>`, or a shared one given at creation
//!   (drm_sched's `drm_sched_lockdep_map`); a work has its own, named by its creator
//!   (`(work_completion)(&sched->work_run_job)`); all works of one name share one map.
//! - Running an item acquires the queue's map, then the work's, around the function
//!   (`process_one_work`). After it the worker must hold nothing ("workqueue leaked lock").
//! - `flush_work` acquires and releases the work's map, then, if the work is pending or running
//!   on an ordered or `WQ_MEM_RECLAIM` (rescuer-equipped) queue, that queue's map
//!   (`start_flush_work`); `cancel_work_sync` only the work's map (`from_cancel`);
//!   `flush_workqueue` the queue's map. Flushing is a `might_sleep()`.
//! - `WQ_MEM_RECLAIM` queues: reclaim may wait for them, so at creation the order
//!   `fs_reclaim -> (wq_completion)<name>` is primed (the 2026 rule that a reclaim-safe queue
//!   must not allocate with reclaim): a reclaiming allocation inside one of its items closes a
//!   cycle and is reported.
//!
//! # Rules
//! - R24 (no `cancel_work_sync`/`flush_work` under a lock the work takes), R2 and §5 (no
//!   reclaiming allocation inside an item of a reclaim-safe queue, e.g. drm_sched's submit
//!   queues).
//!
//! # Simplified
//! - One pool for all queues (lockdep sees one `&pool->lock` class in the kernel too); no
//!   per-CPU queues, no concurrency management, no rescuer threads (reclaim safety is only
//!   the annotation above).
//! - The kernel (since 6.10) touches a work's map in `flush_work`/`cancel_work_sync` only
//!   when the work is pending or running; here it always does (as the kernel did before), so
//!   a flush under a lock the work takes is reported on its first occurrence, not only when
//!   it happens to race with the work.
//! - Queues of the same name share one `(wq_completion)` class (the kernel keys each queue
//!   separately but prints the same name).
//! - Queueing onto a queue being destroyed, from outside that queue, is refused (`false`);
//!   the kernel warns and drops it.

use crate::clock::{Clock, TimerId};
use crate::mm::FS_RECLAIM;
use lockdep::{LockClass, LockMap, LockMode, RawSpinLock};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::BitOr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

static POOL_LOCK: LockClass = LockClass::new("&pool->lock");

/// Workqueue flags (`WQ_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WqFlags(u32);

/// `WQ_UNBOUND`: not bound to a CPU (every queue here is; accepted for fidelity).
pub const WQ_UNBOUND: WqFlags = WqFlags(1 << 1);
/// `WQ_MEM_RECLAIM`: may be used on the memory-reclaim path (guaranteed forward progress).
pub const WQ_MEM_RECLAIM: WqFlags = WqFlags(1 << 3);
/// `WQ_HIGHPRI`: high priority (no effect here).
pub const WQ_HIGHPRI: WqFlags = WqFlags(1 << 4);

impl WqFlags {
    /// No flag.
    pub const NONE: WqFlags = WqFlags(0);

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: WqFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for WqFlags {
    type Output = WqFlags;
    fn bitor(self, rhs: WqFlags) -> WqFlags {
        WqFlags(self.0 | rhs.0)
    }
}

/// The lockdep map of every queue and work name, made once per name and kept for the run (the
/// kernel's static keys per `INIT_WORK` site and per-queue keys). Timers named at run time
/// (`hrtimer`) get theirs here too.
pub(crate) fn map_for(name: &str) -> &'static LockMap {
    static MAPS: OnceLock<StdMutex<HashMap<String, &'static LockMap>>> = OnceLock::new();
    let mut maps = MAPS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(m) = maps.get(name) {
        return m;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    let m: &'static LockMap = Box::leak(Box::new(LockMap::new(leaked)));
    maps.insert(name.to_string(), m);
    m
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// The queue whose worker this thread is (0: none).
    static WORKER_OF: Cell<u64> = const { Cell::new(0) };
}

/// A work's state, under `&pool->lock`.
#[derive(Default)]
struct WorkState {
    /// `WORK_STRUCT_PENDING`: queued, or its timer armed.
    pending: bool,
    /// Incremented each time it becomes pending: names one instance.
    epoch: u64,
    /// Where it is queued, with its position's sequence number.
    queued: Option<(Arc<WqInner>, u64)>,
    /// The armed timer of a delayed work, with its clock and target queue.
    timer: Option<(TimerId, Clock, Arc<WqInner>)>,
    /// The instance running now, and on which queue.
    running: Option<(u64, Arc<WqInner>)>,
    /// `cancel_work_sync` calls in progress: queueing is refused meanwhile.
    canceling: u32,
}

impl WorkState {
    /// Whether instance `epoch` has finished or will never run.
    fn instance_done(&self, epoch: u64) -> bool {
        let queued = self.pending && self.epoch == epoch && self.queued.is_some();
        let running = self.running.as_ref().is_some_and(|(e, _)| *e == epoch);
        !queued && !running
    }
}

/// A queue's state, under `&pool->lock`.
#[derive(Default)]
struct QueueState {
    items: VecDeque<(u64, Arc<Work>)>,
    next_seq: u64,
    /// Sequence numbers queued and not yet finished or cancelled.
    in_flight: BTreeSet<u64>,
    active: usize,
    workers: usize,
    idle: Vec<Thread>,
    /// Threads sleeping in a flush or in destroy.
    flushers: Vec<Thread>,
    handles: Vec<JoinHandle<()>>,
    draining: bool,
    exiting: bool,
    /// Its last handle dropped while workers still ran: the last one to exit removes it.
    orphaned: bool,
}

#[derive(Default)]
struct Pool {
    works: BTreeMap<u64, WorkState>,
    queues: BTreeMap<u64, QueueState>,
}

static POOL: RawSpinLock<Option<Pool>> = RawSpinLock::with_class(None, &POOL_LOCK);

/// Runs `f` on the pool under `&pool->lock` with interrupts off (`raw_spin_lock_irqsave`).
fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let _irq = lockdep::irqs_disabled();
    let mut p = POOL.lock();
    f(p.get_or_insert_with(Pool::default))
}

/// What to do about workers once the pool lock is dropped.
enum Kick {
    None,
    Unpark(Thread),
    Spawn,
}

impl Kick {
    fn run(self, wq: &Arc<WqInner>) {
        match self {
            Kick::None => {}
            Kick::Unpark(t) => t.unpark(),
            Kick::Spawn => wq.spawn_worker(),
        }
    }
}

fn wake_all(threads: Vec<Thread>) {
    for t in threads {
        t.unpark();
    }
}

struct WqInner {
    id: u64,
    name: String,
    map: &'static LockMap,
    flags: WqFlags,
    max_active: usize,
}

impl WqInner {
    /// Whether a flush of one of its works also waits for the queue (`saved_max_active == 1`
    /// or a rescuer).
    fn flush_touches_queue(&self) -> bool {
        self.max_active == 1 || self.flags.contains(WQ_MEM_RECLAIM)
    }

    fn spawn_worker(self: &Arc<Self>) {
        let wq = self.clone();
        let name = format!("kworker/u:{}", self.name);
        let h = thread::Builder::new()
            .name(name)
            .spawn(move || wq.worker())
            .expect("spawn a worker thread");
        with_pool(|p| {
            if let Some(q) = p.queues.get_mut(&self.id) {
                q.handles.push(h);
            }
        });
    }

    /// Puts `work` at the tail (the caller has made it pending). Returns what to do about
    /// workers.
    fn enqueue(self: &Arc<Self>, p: &mut Pool, work: &Arc<Work>) -> Kick {
        let q = p.queues.get_mut(&self.id).expect("a live queue is in the pool");
        let seq = q.next_seq;
        q.next_seq += 1;
        q.items.push_back((seq, work.clone()));
        q.in_flight.insert(seq);
        let ws = p.works.get_mut(&work.id).expect("a live work is in the pool");
        ws.queued = Some((self.clone(), seq));
        if let Some(t) = q.idle.pop() {
            Kick::Unpark(t)
        } else if q.workers < self.max_active {
            q.workers += 1;
            Kick::Spawn
        } else {
            Kick::None
        }
    }

    /// Whether `queue_work` onto it is refused now (destroy in progress, from outside).
    fn refuses(&self, p: &Pool) -> bool {
        p.queues
            .get(&self.id)
            .is_none_or(|q| (q.draining || q.exiting) && WORKER_OF.with(Cell::get) != self.id)
    }

    fn worker(self: Arc<Self>) {
        WORKER_OF.with(|w| w.set(self.id));
        let me = thread::current();
        loop {
            let next = with_pool(|p| {
                let Pool { works, queues } = p;
                let q = queues.get_mut(&self.id).expect("a live queue is in the pool");
                q.idle.retain(|t| t.id() != me.id());
                let pick = if q.active < self.max_active {
                    q.items
                        .iter()
                        .position(|(_, w)| works.get(&w.id).is_some_and(|s| s.running.is_none()))
                } else {
                    None
                };
                match pick {
                    Some(i) => {
                        let (seq, w) = q.items.remove(i).expect("position is in range");
                        q.active += 1;
                        let ws = works.get_mut(&w.id).expect("a queued work is in the pool");
                        ws.pending = false;
                        ws.queued = None;
                        ws.running = Some((ws.epoch, self.clone()));
                        Ok(Some((seq, w)))
                    }
                    None if q.exiting && q.items.is_empty() => {
                        q.workers -= 1;
                        let flushers = std::mem::take(&mut q.flushers);
                        if q.orphaned && q.workers == 0 {
                            queues.remove(&self.id);
                        }
                        Err(flushers)
                    }
                    None => {
                        q.idle.push(me.clone());
                        Ok(None)
                    }
                }
            });
            match next {
                Err(flushers) => {
                    wake_all(flushers);
                    return;
                }
                Ok(None) => thread::park(),
                Ok(Some((seq, work))) => {
                    self.process_one_work(&work);
                    let flushers = with_pool(|p| {
                        if let Some(ws) = p.works.get_mut(&work.id) {
                            ws.running = None;
                        }
                        let q = p.queues.get_mut(&self.id).expect("a live queue is in the pool");
                        q.active -= 1;
                        q.in_flight.remove(&seq);
                        std::mem::take(&mut q.flushers)
                    });
                    wake_all(flushers);
                }
            }
        }
    }

    fn process_one_work(&self, work: &Work) {
        {
            let _wq = self.map.lock();
            let _w = work.map.lock();
            // A panicking item must not kill the worker; the panic hook has printed it.
            let _ = catch_unwind(AssertUnwindSafe(|| (work.func)()));
        }
        lockdep::assert_none_held(); // "BUG: workqueue leaked lock or atomic"
    }

    /// Sleeps until `done(pool)` holds, registered as a flusher of this queue.
    fn wait(&self, mut done: impl FnMut(&Pool) -> bool) {
        let me = thread::current();
        loop {
            let finished = with_pool(|p| {
                if done(p) {
                    return true;
                }
                let Some(q) = p.queues.get_mut(&self.id) else {
                    return true; // gone with its last worker: nothing left to wait for
                };
                if !q.flushers.iter().any(|t| t.id() == me.id()) {
                    q.flushers.push(me.clone());
                }
                false
            });
            if finished {
                return;
            }
            thread::park();
        }
    }
}

/// A workqueue (`struct workqueue_struct`).
///
/// ```
/// use drm_sim::workqueue::{Work, Workqueue, WqFlags};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let wq = Workqueue::alloc_ordered("example", WqFlags::NONE);
/// let n = Arc::new(AtomicUsize::new(0));
/// let n2 = n.clone();
/// let w = Work::new("(work_completion)(&example->work)", move || drop(n2.fetch_add(1, Ordering::SeqCst)));
/// assert!(wq.queue_work(&w));
/// w.flush_work();
/// assert_eq!(n.load(Ordering::SeqCst), 1);
/// ```
pub struct Workqueue {
    inner: Arc<WqInner>,
}

impl Workqueue {
    /// A queue running up to `max_active` items at once (`alloc_workqueue`), with its own
    /// map `(wq_completion)<name>`.
    pub fn alloc(name: &str, flags: WqFlags, max_active: usize) -> Arc<Workqueue> {
        Self::alloc_lockdep_map(
            name,
            flags,
            max_active,
            map_for(&format!("(wq_completion){name}")),
        )
    }

    /// Like [`alloc`](Self::alloc), with the shared map `map` instead of its own
    /// (`alloc_workqueue_lockdep_map`).
    pub fn alloc_lockdep_map(
        name: &str,
        flags: WqFlags,
        max_active: usize,
        map: &'static LockMap,
    ) -> Arc<Workqueue> {
        let inner = Arc::new(WqInner {
            id: next_id(),
            name: name.to_string(),
            map,
            flags,
            max_active: max_active.max(1),
        });
        with_pool(|p| p.queues.insert(inner.id, QueueState::default()));
        if flags.contains(WQ_MEM_RECLAIM) {
            // Reclaim may wait for this queue's items: an allocation that reclaims inside one
            // of them could wait for itself.
            lockdep::prime(&[(&FS_RECLAIM, LockMode::Write), (map, LockMode::Write)]);
        }
        if inner.max_active == 1 {
            with_pool(|p| p.queues.get_mut(&inner.id).expect("just inserted").workers = 1);
            inner.spawn_worker();
        }
        Arc::new(Workqueue { inner })
    }

    /// An ordered queue (`alloc_ordered_workqueue`): one item at a time, in queue order.
    pub fn alloc_ordered(name: &str, flags: WqFlags) -> Arc<Workqueue> {
        Self::alloc(name, flags, 1)
    }

    /// An ordered queue using the shared map `map` (`alloc_ordered_workqueue_lockdep_map`,
    /// as drm_sched does with `drm_sched_lockdep_map`).
    pub fn alloc_ordered_lockdep_map(name: &str, flags: WqFlags, map: &'static LockMap) -> Arc<Workqueue> {
        Self::alloc_lockdep_map(name, flags, 1, map)
    }

    /// An unbound queue running up to `max_active` items at once.
    pub fn alloc_unbound(name: &str, max_active: usize) -> Arc<Workqueue> {
        Self::alloc(name, WQ_UNBOUND, max_active)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its flags.
    pub fn flags(&self) -> WqFlags {
        self.inner.flags
    }

    /// Its lockdep map (`(wq_completion)<name>` or the shared one).
    pub fn lockdep_map(&self) -> &'static LockMap {
        self.inner.map
    }

    /// How many items may run at once.
    pub fn max_active(&self) -> usize {
        self.inner.max_active
    }

    /// Queues `work` (`queue_work`). Returns `false` if it was already pending, is being
    /// cancelled, or the queue is being destroyed. Callable from any context.
    pub fn queue_work(&self, work: &Arc<Work>) -> bool {
        let wq = &self.inner;
        let (queued, kick) = with_pool(|p| {
            if wq.refuses(p) {
                return (false, Kick::None);
            }
            let ws = p.works.get_mut(&work.id).expect("a live work is in the pool");
            if ws.pending || ws.canceling > 0 {
                return (false, Kick::None);
            }
            ws.pending = true;
            ws.epoch += 1;
            (true, wq.enqueue(p, work))
        });
        kick.run(wq);
        queued
    }

    /// Queues `dwork` after `delay` (`queue_delayed_work`); with no delay, at once. Returns
    /// `false` if it was already pending.
    pub fn queue_delayed_work(&self, dwork: &Arc<DelayedWork>, delay: Duration) -> bool {
        self.queue_delayed(dwork, delay, false)
    }

    /// Queues `dwork` after `delay`, or changes the delay of a pending one
    /// (`mod_delayed_work`). Returns whether it was pending before.
    pub fn mod_delayed_work(&self, dwork: &Arc<DelayedWork>, delay: Duration) -> bool {
        self.queue_delayed(dwork, delay, true)
    }

    fn queue_delayed(&self, dwork: &Arc<DelayedWork>, delay: Duration, modify: bool) -> bool {
        let wq = &self.inner;
        let work = &dwork.work;
        let (result, kick) = with_pool(|p| {
            if wq.refuses(p) {
                return (false, Kick::None);
            }
            let ws = p.works.get_mut(&work.id).expect("a live work is in the pool");
            if ws.canceling > 0 {
                return (false, Kick::None);
            }
            let was_pending = ws.pending;
            if was_pending {
                if !modify {
                    return (false, Kick::None);
                }
                grab_pending(p, work.id);
            }
            // queue_delayed_work: whether it queued; mod_delayed_work: whether it was pending.
            let result = if modify { was_pending } else { true };
            let ws = p.works.get_mut(&work.id).expect("a live work is in the pool");
            ws.pending = true;
            ws.epoch += 1;
            if delay.is_zero() {
                return (result, wq.enqueue(p, work));
            }
            let epoch = ws.epoch;
            let (w, q) = (work.clone(), wq.clone());
            let id = dwork
                .clock
                .add_timer(delay, Box::new(move || delayed_work_timer_fn(&w, &q, epoch)));
            ws.timer = Some((id, dwork.clock.clone(), wq.clone()));
            (result, Kick::None)
        });
        kick.run(wq);
        result
    }

    /// Waits for every item queued before the call to finish (`flush_workqueue`). Acquires and
    /// releases the queue's map first. A `might_sleep()`.
    #[track_caller]
    pub fn flush_workqueue(&self) {
        lockdep::might_sleep();
        self.inner.map.sync();
        let wq = &self.inner;
        let last = with_pool(|p| p.queues[&wq.id].next_seq);
        wq.wait(|p| p.queues[&wq.id].in_flight.first().is_none_or(|s| *s >= last));
    }

    /// Drains the queue and stops its workers (`destroy_workqueue`). Items queued by its own
    /// items meanwhile still run; queueing from elsewhere is refused. Idempotent; also run
    /// when the last handle drops.
    ///
    /// From one of its own items the kernel would wait for itself forever: that is reported
    /// (through the queue's map, as the kernel's flush reports it) and the queue is torn down
    /// without waiting: its workers run what is queued, then exit.
    #[doc(alias = "destroy_workqueue")]
    #[track_caller]
    pub fn destroy(&self) {
        self.teardown(true);
    }

    #[track_caller]
    fn teardown(&self, annotate_self_destroy: bool) {
        let wq = &self.inner;
        let first = with_pool(|p| {
            let q = p.queues.get_mut(&wq.id).expect("a live queue is in the pool");
            let first = !q.draining;
            q.draining = true;
            first
        });
        if !first {
            return;
        }
        if WORKER_OF.with(Cell::get) == wq.id {
            if annotate_self_destroy {
                wq.map.sync(); // drain_workqueue's flush, under our own map
            }
            let idle = with_pool(|p| {
                let q = p.queues.get_mut(&wq.id).expect("a live queue is in the pool");
                q.exiting = true;
                std::mem::take(&mut q.idle)
            });
            wake_all(idle);
            return;
        }
        // drain_workqueue: flush until no item is left.
        loop {
            self.flush_workqueue();
            if with_pool(|p| p.queues[&wq.id].in_flight.is_empty()) {
                break;
            }
        }
        let idle = with_pool(|p| {
            let q = p.queues.get_mut(&wq.id).expect("a live queue is in the pool");
            q.exiting = true;
            std::mem::take(&mut q.idle)
        });
        wake_all(idle);
        wq.wait(|p| p.queues[&wq.id].workers == 0);
        let handles = with_pool(|p| std::mem::take(&mut p.queues.get_mut(&wq.id).expect("live").handles));
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // Dropping the last handle inside one of its own items is a refcounting artefact, not
        // a driver's destroy_workqueue(): tear down without the report.
        self.teardown(false);
        let id = self.inner.id;
        with_pool(|p| match p.queues.get_mut(&id) {
            Some(q) if q.workers == 0 => drop(p.queues.remove(&id)),
            // Still running its last items: the last worker to exit removes it.
            Some(q) => q.orphaned = true,
            None => {}
        });
    }
}

impl std::fmt::Debug for Workqueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workqueue")
            .field("name", &self.inner.name)
            .field("max_active", &self.inner.max_active)
            .finish()
    }
}

/// Takes a pending work off its queue or disarms its timer (`try_to_grab_pending`); it stays
/// marked pending for the caller to re-queue or clear. Wakes flushers waiting for it.
///
/// The caller holds a reference to the work, so the `Arc`s dropped here (the queue's entry,
/// the timer's callback) are never the last one: `Work`'s destructor, which takes
/// `&pool->lock`, never runs under it.
fn grab_pending(p: &mut Pool, work_id: u64) {
    let ws = p.works.get_mut(&work_id).expect("a live work is in the pool");
    if let Some((clock, id)) = ws.timer.take().map(|(id, clock, _)| (clock, id)) {
        clock.del_timer(id);
    }
    if let Some((wq, seq)) = ws.queued.take() {
        if let Some(q) = p.queues.get_mut(&wq.id) {
            q.items.retain(|(s, _)| *s != seq);
            q.in_flight.remove(&seq);
            wake_all(std::mem::take(&mut q.flushers));
        }
    }
}

/// The timer callback of a delayed work (`delayed_work_timer_fn`): queues it, unless it was
/// cancelled or re-armed since.
fn delayed_work_timer_fn(work: &Arc<Work>, wq: &Arc<WqInner>, epoch: u64) {
    let kick = with_pool(|p| {
        let Some(ws) = p.works.get_mut(&work.id) else {
            return Kick::None;
        };
        if !(ws.pending && ws.epoch == epoch && ws.timer.is_some()) {
            return Kick::None;
        }
        ws.timer = None;
        if p.queues.get(&wq.id).is_none_or(|q| q.exiting) {
            let ws = p.works.get_mut(&work.id).expect("checked above");
            ws.pending = false;
            return Kick::None;
        }
        wq.enqueue(p, work)
    });
    kick.run(wq);
}

/// A work item (`struct work_struct`).
pub struct Work {
    id: u64,
    map: &'static LockMap,
    func: Box<dyn Fn() + Send + Sync + 'static>,
}

impl Work {
    /// A work running `f` (`INIT_WORK`). `name` is its lockdep map's name, e.g.
    /// `"(work_completion)(&sched->work_run_job)"`; every work of one name shares the map.
    pub fn new(name: &str, f: impl Fn() + Send + Sync + 'static) -> Arc<Work> {
        let w = Arc::new(Work {
            id: next_id(),
            map: map_for(name),
            func: Box::new(f),
        });
        with_pool(|p| p.works.insert(w.id, WorkState::default()));
        w
    }

    /// Its lockdep map.
    pub fn lockdep_map(&self) -> &'static LockMap {
        self.map
    }

    /// Whether it is queued or its timer armed (`work_pending`).
    #[doc(alias = "work_pending")]
    pub fn is_pending(&self) -> bool {
        with_pool(|p| p.works[&self.id].pending)
    }

    /// Whether an instance is running now (`work_busy` & `WORK_BUSY_RUNNING`).
    pub fn is_running(&self) -> bool {
        with_pool(|p| p.works[&self.id].running.is_some())
    }

    /// Waits for the pending or running instance to finish (`flush_work`). Returns whether
    /// there was one to wait for. A delayed work whose timer is still armed is not waited for
    /// (use [`DelayedWork::flush_delayed_work`]). A `might_sleep()`.
    #[track_caller]
    pub fn flush_work(&self) -> bool {
        lockdep::might_sleep();
        let target = with_pool(|p| {
            let ws = &p.works[&self.id];
            match (&ws.queued, &ws.running) {
                (Some((wq, _)), _) if ws.pending => Some((ws.epoch, wq.clone())),
                (_, Some((e, wq))) => Some((*e, wq.clone())),
                _ => None,
            }
        });
        self.map.sync();
        let Some((epoch, wq)) = target else {
            return false;
        };
        if wq.flush_touches_queue() {
            wq.map.sync();
        }
        wq.wait(|p| p.works[&self.id].instance_done(epoch));
        true
    }

    /// Takes it off its queue (or disarms its timer) and waits for a running instance
    /// (`cancel_work_sync`); queueing it meanwhile is refused. Returns whether it was
    /// pending. A `might_sleep()`.
    #[track_caller]
    pub fn cancel_work_sync(&self) -> bool {
        lockdep::might_sleep();
        let (was_pending, running) = with_pool(|p| {
            let was = p.works[&self.id].pending;
            if was {
                grab_pending(p, self.id);
            }
            let ws = p.works.get_mut(&self.id).expect("a live work is in the pool");
            ws.pending = false;
            ws.canceling += 1;
            (was, ws.running.clone())
        });
        self.map.sync();
        if let Some((epoch, wq)) = running {
            wq.wait(|p| p.works[&self.id].instance_done(epoch));
        }
        with_pool(|p| {
            p.works
                .get_mut(&self.id)
                .expect("a live work is in the pool")
                .canceling -= 1
        });
        was_pending
    }

    /// Takes it off its queue (or disarms its timer) without waiting (`cancel_work`). Returns
    /// whether it was pending.
    pub fn cancel_work(&self) -> bool {
        with_pool(|p| {
            let was = p.works[&self.id].pending;
            if was {
                grab_pending(p, self.id);
                p.works
                    .get_mut(&self.id)
                    .expect("a live work is in the pool")
                    .pending = false;
            }
            was
        })
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        with_pool(|p| p.works.remove(&self.id));
    }
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work").field("map", &self.map.name()).finish()
    }
}

/// A work queued by a timer (`struct delayed_work`).
pub struct DelayedWork {
    work: Arc<Work>,
    clock: Clock,
}

impl DelayedWork {
    /// A delayed work on the real clock (`INIT_DELAYED_WORK`); `name` as for [`Work::new`].
    pub fn new(name: &str, f: impl Fn() + Send + Sync + 'static) -> Arc<DelayedWork> {
        Self::with_clock(name, &Clock::real(), f)
    }

    /// A delayed work whose timer runs on `clock` (a manual clock in tests, the device's clock
    /// for a TDR).
    pub fn with_clock(name: &str, clock: &Clock, f: impl Fn() + Send + Sync + 'static) -> Arc<DelayedWork> {
        Arc::new(DelayedWork {
            work: Work::new(name, f),
            clock: clock.clone(),
        })
    }

    /// The work it queues.
    pub fn work(&self) -> &Arc<Work> {
        &self.work
    }

    /// Its clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether it is queued or its timer armed (`delayed_work_pending`).
    #[doc(alias = "delayed_work_pending")]
    pub fn is_pending(&self) -> bool {
        self.work.is_pending()
    }

    /// Disarms or dequeues it without waiting (`cancel_delayed_work`). Returns whether it was
    /// pending.
    pub fn cancel_delayed_work(&self) -> bool {
        self.work.cancel_work()
    }

    /// Disarms or dequeues it and waits for a running instance (`cancel_delayed_work_sync`).
    /// Returns whether it was pending.
    #[track_caller]
    pub fn cancel_delayed_work_sync(&self) -> bool {
        self.work.cancel_work_sync()
    }

    /// Queues it at once if its timer is armed, then flushes it (`flush_delayed_work`).
    /// Returns whether there was an instance to wait for.
    #[track_caller]
    pub fn flush_delayed_work(&self) -> bool {
        let kick = with_pool(|p| {
            let ws = p
                .works
                .get_mut(&self.work.id)
                .expect("a live work is in the pool");
            let (id, clock, wq) = ws.timer.take()?;
            clock.del_timer(id);
            if p.queues.get(&wq.id).is_none_or(|q| q.exiting) {
                ws.pending = false;
                return None;
            }
            let kick = wq.enqueue(p, &self.work);
            Some((kick, wq))
        });
        if let Some((kick, wq)) = kick {
            kick.run(&wq);
        }
        self.work.flush_work()
    }
}

impl std::fmt::Debug for DelayedWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayedWork").field("work", &self.work).finish()
    }
}

/// The system queue (`system_wq`, named `events`).
pub fn system_wq() -> &'static Arc<Workqueue> {
    static WQ: OnceLock<Arc<Workqueue>> = OnceLock::new();
    WQ.get_or_init(|| Workqueue::alloc("events", WqFlags::NONE, 4))
}

/// The system unbound queue (`system_unbound_wq`, named `events_unbound`).
pub fn system_unbound_wq() -> &'static Arc<Workqueue> {
    static WQ: OnceLock<Arc<Workqueue>> = OnceLock::new();
    WQ.get_or_init(|| Workqueue::alloc_unbound("events_unbound", 8))
}

/// `schedule_work`: [`Workqueue::queue_work`] on [`system_wq`].
pub fn schedule_work(work: &Arc<Work>) -> bool {
    system_wq().queue_work(work)
}
