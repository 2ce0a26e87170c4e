//! The DRM locking rules (R1–R34 of `DRM-RULES.md`) expressed with the validator's mechanisms
//! alone — pseudo-locks, named classes, ww mutexes, SRCU, contexts and assertions, with the
//! kernel's class names — each with the violation that must be reported on its first
//! occurrence and the closest legitimate pattern that must not.
//!
//! R5 (fences are finite, backed by timeouts) and the scheduler/drm_exec lifetimes behind R15,
//! R22 and R25 are properties of code paths, exercised end to end by the drm-sim workload; the
//! lock-ordering part of each is tested here.

use lockdep::ReportKind::*;
use lockdep::{
    LockClass, LockMap, LockMapGuard, LockMode, Mutex, RawSpinLock, RwLock, SpinLock, Srcu, WwAcquireCtx,
    WwClass, WwError, WwMutex,
};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};

static DMA_FENCE_MAP: LockMap = LockMap::new("dma_fence_map");
static FS_RECLAIM: LockMap = LockMap::new("fs_reclaim");
static MMU_NOTIFIER: LockMap = LockMap::new("mmu_notifier_invalidate_range_start");
static CONSOLE_LOCK: LockMap = LockMap::new("console_lock");
static DRM_UNPLUG_SRCU: Srcu = Srcu::new("drm_unplug_srcu");
static RESERVATION: WwClass = WwClass::wait_die("reservation_ww_class");
static CRTC_WW: WwClass = WwClass::wound_wait("crtc_ww_class");
static MMAP_LOCK: LockClass = LockClass::new("&mm->mmap_lock");
static FENCE_LOCK: LockClass = LockClass::new("&fence->lock");
static ARRAY_LOCK: LockClass = LockClass::new("&array->lock");

/// The kernel primitives, as annotations.
mod k {
    use super::*;

    /// `dma_fence_begin_signalling()`: a read-trylock of `dma_fence_map`.
    pub fn begin_signalling() -> LockMapGuard<'static> {
        DMA_FENCE_MAP.try_read().unwrap()
    }

    /// `dma_fence_wait()`: may sleep, and waits for whatever a signalling section needs.
    #[track_caller]
    pub fn fence_wait() {
        lockdep::might_sleep();
        lockdep::must_not_hold(&DRM_UNPLUG_SRCU, "dma_fence_wait");
        DMA_FENCE_MAP.sync();
    }

    /// A `GFP_KERNEL` allocation: `fs_reclaim`, and inside it the mmu-notifier map.
    pub fn alloc_kernel() {
        lockdep::might_sleep();
        let _r = FS_RECLAIM.lock();
        MMU_NOTIFIER.sync();
    }

    /// A `GFP_NOFS` allocation: direct reclaim without the filesystem.
    pub fn alloc_nofs() {
        lockdep::might_sleep();
        MMU_NOTIFIER.sync();
    }

    /// `might_fault()`: a user copy may take `mmap_lock` for reading.
    pub fn might_fault(mmap: &RwLock<()>) {
        lockdep::might_lock_read(mmap);
    }

    /// `dma_resv_lockdep()` and `drmm_mode_config_init()`'s priming, replayed at start-up.
    pub fn prime(mmap: &RwLock<()>, resv: &WwMutex<()>, modeset: &WwMutex<()>) {
        {
            let _m = mmap.read();
            let ctx = WwAcquireCtx::new(&RESERVATION);
            let _r = resv.lock(&ctx).unwrap();
            let _f = FS_RECLAIM.lock();
            let _n = MMU_NOTIFIER.lock();
            DMA_FENCE_MAP.sync();
        }
        let ctx = WwAcquireCtx::new(&CRTC_WW);
        let _c = modeset.lock(&ctx).unwrap();
        might_fault(mmap);
        let rctx = WwAcquireCtx::new(&RESERVATION);
        let _r = resv.lock(&rctx).unwrap();
    }
}

struct World {
    mmap: RwLock<()>,
    resv: WwMutex<()>,
    resv2: WwMutex<()>,
    modeset: WwMutex<()>,
}

fn world() -> World {
    let w = World {
        mmap: RwLock::with_class((), &MMAP_LOCK),
        resv: WwMutex::new((), &RESERVATION),
        resv2: WwMutex::new((), &RESERVATION),
        modeset: WwMutex::new((), &CRTC_WW),
    };
    k::prime(&w.mmap, &w.resv, &w.modeset);
    assert!(kinds().is_empty(), "priming is clean");
    w
}

fn one() -> Vec<lockdep::ReportKind> {
    kinds()
}

#[test]
fn r1_no_fence_wait_under_a_lock_taken_in_a_signalling_section() {
    let _s = serial();
    let a = Mutex::new(());
    {
        let _sig = k::begin_signalling();
        drop(a.lock());
    }
    k::fence_wait();
    assert!(one().is_empty());
    {
        let _a = a.lock();
        k::fence_wait();
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r2_no_reclaiming_allocation_in_a_signalling_section() {
    let _s = serial();
    let _w = world();
    {
        let _sig = k::begin_signalling();
        // GFP_ATOMIC/GFP_NOWAIT: no reclaim, no annotation.
    }
    assert!(one().is_empty());
    {
        let _sig = k::begin_signalling();
        k::alloc_kernel();
    }
    assert_eq!(one(), vec![CircularDependency]);
    lockdep::reset();
    let _w = world();
    {
        let _sig = k::begin_signalling();
        k::alloc_nofs();
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r3_no_dma_resv_lock_in_a_signalling_section() {
    let _s = serial();
    let w = world();
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _r = w.resv.lock(&ctx).unwrap();
        // Fences published: the section starts with the resv still held.
        let _sig = k::begin_signalling();
    }
    assert!(one().is_empty());
    {
        let _sig = k::begin_signalling();
        let ctx = WwAcquireCtx::new(&RESERVATION);
        drop(w.resv.lock(&ctx));
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r4_tdr_must_not_take_console_lock() {
    let _s = serial();
    let _w = world();
    // printk paths allocate under console_lock.
    {
        let _c = CONSOLE_LOCK.lock();
        k::alloc_kernel();
    }
    assert!(one().is_empty());
    // The TDR handler is a signalling section: console_lock inside it closes the cycle.
    {
        let _sig = k::begin_signalling();
        drop(CONSOLE_LOCK.lock());
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r6_fence_callbacks_run_in_atomic_context() {
    let _s = serial();
    let fence_lock = SpinLock::with_class((), &FENCE_LOCK);
    let gem_lock = Mutex::new(());
    let wq_lock = SpinLock::new(());
    // Signalled from the interrupt handler, callbacks under fence->lock: a spinlock is fine.
    {
        let _irq = lockdep::irq_context();
        let _f = fence_lock.lock();
        drop(wq_lock.lock());
    }
    {
        let _off = lockdep::irqs_disabled();
        let _f = fence_lock.lock();
    }
    assert!(one().is_empty());
    // A callback that takes a mutex (a GEM free from a fence callback, splat S8).
    {
        let _irq = lockdep::irq_context();
        let _f = fence_lock.lock();
        drop(gem_lock.lock());
    }
    assert_eq!(one(), vec![InvalidWaitContext, SleepInAtomic]);
    // fence->lock is irq-safe: taking it with interrupts on is an inconsistent state.
    drop(fence_lock.lock());
    assert_eq!(one(), vec![InconsistentLockState]);
}

#[test]
fn r7_fence_release_under_resv_must_not_take_locks() {
    let _s = serial();
    let w = world();
    let struct_mutex = Mutex::new(());
    {
        let _sm = struct_mutex.lock();
        let ctx = WwAcquireCtx::new(&RESERVATION);
        drop(w.resv.lock(&ctx));
    }
    assert!(one().is_empty());
    // The last dma_fence_put() under the resv runs a release that takes struct_mutex.
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _r = w.resv.lock(&ctx).unwrap();
        drop(struct_mutex.lock());
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r8_fence_lock_nesting_is_one_directional() {
    let _s = serial();
    let array = SpinLock::with_class((), &ARRAY_LOCK);
    let member = SpinLock::with_class((), &FENCE_LOCK);
    {
        let _off = lockdep::irqs_disabled();
        let _a = array.lock();
        drop(member.lock()); // enable_signaling: array, then member
    }
    assert!(one().is_empty());
    {
        let _off = lockdep::irqs_disabled();
        let _m = member.lock();
        drop(array.lock()); // the member's signal callback takes the array's lock
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r9_resv_under_mmap_lock_never_the_reverse() {
    let _s = serial();
    let w = world();
    {
        let _m = w.mmap.read(); // page fault
        let ctx = WwAcquireCtx::new(&RESERVATION);
        drop(w.resv.lock(&ctx));
    }
    assert!(one().is_empty());
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _r = w.resv.lock(&ctx).unwrap();
        k::might_fault(&w.mmap); // copy_to_user under the resv
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r10_no_user_copies_under_a_notifier_lock() {
    let _s = serial();
    let w = world();
    let notifier_lock = Mutex::new(());
    // mmap_lock -> mmu_notifier (change_protection), notifier callback takes its lock.
    {
        let _m = w.mmap.write();
        let _n = MMU_NOTIFIER.lock();
        drop(notifier_lock.lock());
    }
    assert!(one().is_empty());
    {
        let _l = notifier_lock.lock();
        k::might_fault(&w.mmap);
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r11_shrinkers_may_only_trylock_resv() {
    let _s = serial();
    let w = world();
    {
        let _r = FS_RECLAIM.lock(); // the shrinker runs inside reclaim
        drop(w.resv.try_lock(None));
    }
    assert!(one().is_empty());
    {
        let _r = FS_RECLAIM.lock();
        drop(w.resv.lock_noctx());
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r12_notifier_locks_not_held_across_direct_reclaim() {
    let _s = serial();
    let _w = world();
    let eviction_lock = Mutex::new(());
    {
        let _n = MMU_NOTIFIER.lock();
        drop(eviction_lock.lock());
    }
    {
        let _e = eviction_lock.lock();
        // memalloc_noreclaim_save(): no reclaim, no annotation.
    }
    assert!(one().is_empty());
    {
        let _e = eviction_lock.lock();
        k::alloc_nofs(); // GFP_NOFS still reclaims through the notifier
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r13_two_resv_locks_need_one_acquire_context() {
    let _s = serial();
    let w = world();
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _a = w.resv.lock(&ctx).unwrap();
        let _b = w.resv2.lock(&ctx).unwrap();
    }
    assert!(one().is_empty());
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _a = w.resv.lock(&ctx).unwrap();
        let _b = w.resv2.lock_noctx(); // dma_resv_lock(obj, NULL)
    }
    assert_eq!(one(), vec![RecursiveLocking]);
}

#[test]
fn r14_the_ww_protocol() {
    let _s = serial();
    let w = world();
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let a = w.resv.lock(&ctx).unwrap();
        assert_eq!(w.resv.lock(&ctx).err(), Some(WwError::Already));
        let b = w.resv2.lock(&ctx).unwrap();
        ctx.done();
        drop((b, a));
    }
    assert!(one().is_empty());
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        ctx.done();
        drop(w.resv.lock(&ctx));
    }
    assert_eq!(one(), vec![WwMisuse]);
    {
        let _a = WwAcquireCtx::new(&RESERVATION);
        let _b = WwAcquireCtx::new(&RESERVATION);
    }
    assert_eq!(one(), vec![RecursiveLocking]);
}

#[test]
fn r15_object_destructor_under_drm_exec_takes_resv_without_context() {
    let _s = serial();
    let w = world();
    let ctx = WwAcquireCtx::new(&RESERVATION);
    let _held = w.resv.lock(&ctx).unwrap();
    // The final put runs dma_buf_detach(), which takes another resv with no context.
    drop(w.resv2.lock_noctx());
    assert_eq!(one(), vec![RecursiveLocking]);
}

#[test]
fn r16_dma_buf_lock_conventions() {
    let _s = serial();
    let w = world();
    let map_attachment = |resv: &WwMutex<()>| lockdep::assert_held(resv);
    let attach = |resv: &WwMutex<()>| lockdep::assert_not_held(resv);
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _r = w.resv.lock(&ctx).unwrap();
        map_attachment(&w.resv);
    }
    attach(&w.resv);
    assert!(one().is_empty());
    map_attachment(&w.resv);
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _r = w.resv.lock(&ctx).unwrap();
        attach(&w.resv);
    }
    assert_eq!(one(), vec![AssertionFailed, AssertionFailed]);
}

#[lockdep::requires_held(resv)]
fn shmem_pin(resv: &WwMutex<()>) {}

#[test]
fn r17_shmem_pin_runs_under_the_resv() {
    let _s = serial();
    let w = world();
    {
        let ctx = WwAcquireCtx::new(&RESERVATION);
        let _r = w.resv.lock(&ctx).unwrap();
        shmem_pin(&w.resv);
    }
    assert!(one().is_empty());
    shmem_pin(&w.resv);
    assert_eq!(one(), vec![AssertionFailed]);
}

#[test]
fn r18_modeset_locks_before_resv() {
    let _s = serial();
    let w = world();
    {
        let ctx = WwAcquireCtx::new(&CRTC_WW);
        let _c = w.modeset.lock(&ctx).unwrap();
        k::might_fault(&w.mmap);
    }
    assert!(one().is_empty());
    {
        let rctx = WwAcquireCtx::new(&RESERVATION);
        let _r = w.resv.lock(&rctx).unwrap();
        let ctx = WwAcquireCtx::new(&CRTC_WW);
        drop(w.modeset.lock(&ctx));
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r19_legacy_and_client_mutexes_before_modeset_locks() {
    let _s = serial();
    let w = world();
    let client = Mutex::new(());
    let mode_config = Mutex::new(());
    {
        let _c = client.lock();
        let _m = mode_config.lock();
        let ctx = WwAcquireCtx::new(&CRTC_WW);
        drop(w.modeset.lock(&ctx));
    }
    assert!(one().is_empty());
    {
        let ctx = WwAcquireCtx::new(&CRTC_WW);
        let _l = w.modeset.lock(&ctx).unwrap();
        drop(client.lock()); // pan_display_legacy() before the fix
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r20_commit_tail_is_a_signalling_section() {
    let _s = serial();
    let w = world();
    let hw_lock = SpinLock::new(());
    {
        let _sig = k::begin_signalling(); // commit tail up to hw_done
        drop(hw_lock.lock());
    }
    assert!(one().is_empty());
    {
        let _sig = k::begin_signalling();
        let ctx = WwAcquireCtx::new(&RESERVATION);
        drop(w.resv.lock(&ctx));
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r21_commit_worker_holds_no_modeset_locks_after_hw_done() {
    let _s = serial();
    let w = world();
    let after_hw_done = |m: &WwMutex<()>| lockdep::assert_not_held(m);
    after_hw_done(&w.modeset);
    assert!(one().is_empty());
    let ctx = WwAcquireCtx::new(&CRTC_WW);
    let _c = w.modeset.lock(&ctx).unwrap();
    after_hw_done(&w.modeset);
    assert_eq!(one(), vec![AssertionFailed]);
}

#[lockdep::requires_held(entity_lock)]
fn push_job(entity_lock: &Mutex<()>) {}

#[test]
fn r22_arm_and_push_under_the_entity_lock() {
    let _s = serial();
    let entity_lock = Mutex::new(());
    {
        let _e = entity_lock.lock();
        push_job(&entity_lock);
    }
    assert!(one().is_empty());
    push_job(&entity_lock);
    assert_eq!(one(), vec![AssertionFailed]);
}

#[test]
fn r23_nothing_sleeps_under_job_list_lock() {
    let _s = serial();
    let job_list_lock = SpinLock::new(());
    let m = Mutex::new(());
    {
        let _l = job_list_lock.lock();
    }
    drop(m.lock());
    assert!(one().is_empty());
    {
        let _l = job_list_lock.lock();
        drop(m.lock());
    }
    assert_eq!(one(), vec![InvalidWaitContext, SleepInAtomic]);
    {
        let _l = job_list_lock.lock();
        lockdep::might_sleep();
    }
    assert_eq!(one(), vec![SleepInAtomic]);
}

#[test]
fn r24_no_cancel_work_sync_under_a_lock_the_work_takes() {
    let _s = serial();
    static RUN_JOB: LockMap = LockMap::new("(work_completion)(&sched->work_run_job)");
    let sched_lock = Mutex::new(());
    let other = Mutex::new(());
    {
        let _w = RUN_JOB.lock(); // the worker runs the work item
        drop(sched_lock.lock());
    }
    {
        let _o = other.lock();
        RUN_JOB.sync(); // cancel_work_sync
    }
    assert!(one().is_empty());
    {
        let _l = sched_lock.lock();
        RUN_JOB.sync();
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r25_resubmitting_jobs_allocates_in_a_signalling_section() {
    let _s = serial();
    let _w = world();
    {
        let _sig = k::begin_signalling(); // run_job
        k::alloc_kernel(); // drm_sched_resubmit_jobs -> allocation
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r26_drm_dev_enter_never_leaks_to_user_space() {
    let _s = serial();
    {
        let _ioctl = lockdep::syscall();
        let _enter = DRM_UNPLUG_SRCU.read_lock();
    }
    assert!(one().is_empty());
    {
        // An error path returns to user space before its drm_dev_exit().
        let _enter = DRM_UNPLUG_SRCU.read_lock();
        let _ioctl = lockdep::syscall();
    }
    assert_eq!(one(), vec![HeldOnReturnToUser]);
}

#[test]
fn r27_no_unplug_inside_drm_dev_enter() {
    let _s = serial();
    DRM_UNPLUG_SRCU.synchronize();
    assert!(one().is_empty());
    let _enter = DRM_UNPLUG_SRCU.read_lock();
    assert!(catch_unwind(AssertUnwindSafe(|| DRM_UNPLUG_SRCU.synchronize())).is_err());
    assert_eq!(one(), vec![SuspiciousRcuUsage]);
}

#[test]
fn r28_no_fence_wait_inside_drm_dev_enter() {
    let _s = serial();
    k::fence_wait();
    assert!(one().is_empty());
    {
        let _enter = DRM_UNPLUG_SRCU.read_lock();
        k::fence_wait();
    }
    let k = one();
    assert_eq!(k.first(), Some(&ForbiddenWhileHeld), "{k:?}");
    // And as a cycle: a signalling section that unplugs, while an enter section waits.
    lockdep::reset();
    {
        let _sig = k::begin_signalling();
        DRM_UNPLUG_SRCU.synchronize();
    }
    {
        let _enter = DRM_UNPLUG_SRCU.read_lock();
        DMA_FENCE_MAP.sync();
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn r29_panic_handler_only_trylocks() {
    let _s = serial();
    let panic_lock = RawSpinLock::new(());
    let mode_config = Mutex::new(());
    {
        let _p = lockdep::panic_context();
        if let Some(_g) = panic_lock.try_lock() {
            // draw
        }
    }
    assert!(one().is_empty());
    {
        let _p = lockdep::panic_context();
        drop(mode_config.lock());
    }
    assert_eq!(one(), vec![PanicContext]);
}

#[test]
fn r30_only_leaf_operations_under_panic_lock() {
    let _s = serial();
    let panic_lock = RawSpinLock::new(());
    let hw = RawSpinLock::new(());
    let event_lock = SpinLock::new(());
    {
        let _p = panic_lock.lock();
        drop(hw.lock());
    }
    assert!(one().is_empty());
    {
        let _p = panic_lock.lock();
        drop(event_lock.lock());
    }
    assert_eq!(one(), vec![InvalidWaitContext]);
}

#[test]
fn r31_nesting_one_class_needs_annotation() {
    let _s = serial();
    static OBJ: LockClass = LockClass::new("&obj->lock");
    let (a, b) = (Mutex::with_class((), &OBJ), Mutex::with_class((), &OBJ));
    {
        let _a = a.lock();
        let _b = b.lock_nested(1);
    }
    assert!(one().is_empty());
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    assert_eq!(one(), vec![RecursiveLocking]);
    lockdep::reset(); // the same classes: reported once per reset
    let _a = a.lock();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(a.lock()))).is_err());
    assert_eq!(one(), vec![RecursiveLocking]);
}

#[test]
fn r32_irq_safety() {
    let _s = serial();
    let event_lock = SpinLock::new(());
    let unsafe_lock = SpinLock::new(());
    {
        let _irq = lockdep::irq_context();
        drop(event_lock.lock());
    }
    {
        let _off = lockdep::irqs_disabled();
        drop(event_lock.lock());
    }
    drop(unsafe_lock.lock());
    assert!(one().is_empty());
    {
        let _off = lockdep::irqs_disabled();
        let _e = event_lock.lock();
        drop(unsafe_lock.lock());
    }
    assert_eq!(one(), vec![IrqSafeToUnsafe]);
}

#[test]
fn r33_no_sleeping_in_atomic_context() {
    let _s = serial();
    let spin = SpinLock::new(());
    let m = Mutex::new(());
    k::fence_wait();
    assert!(one().is_empty());
    {
        let _off = lockdep::irqs_disabled();
        k::fence_wait();
    }
    assert_eq!(one(), vec![SleepInAtomic]);
    {
        let _s = spin.lock();
        drop(m.lock());
    }
    assert_eq!(one(), vec![InvalidWaitContext, SleepInAtomic]);
}

#[test]
fn r34_no_hrtimer_cancel_under_a_lock_its_callback_takes() {
    let _s = serial();
    static VBLANK_TIMER: LockMap = LockMap::new("(hrtimer)(&vblank->timer)");
    let vblank_time_lock = SpinLock::new(());
    {
        let _cb = VBLANK_TIMER.lock(); // the timer callback runs
        let _off = lockdep::irqs_disabled();
        drop(vblank_time_lock.lock());
    }
    VBLANK_TIMER.sync(); // hrtimer_cancel with nothing held
    assert!(one().is_empty());
    {
        let _off = lockdep::irqs_disabled();
        let _l = vblank_time_lock.lock();
        VBLANK_TIMER.sync(); // hrtimer_cancel under vblank_time_lock
    }
    assert_eq!(one(), vec![CircularDependency]);
}

#[test]
fn priming_order_is_the_canonical_one() {
    let _s = serial();
    let w = world();
    // The canonical order (DRM-RULES §2.2) replayed with prime() is clean too.
    lockdep::prime(&[
        (&w.mmap, LockMode::Read),
        (&FS_RECLAIM, LockMode::Write),
        (&MMU_NOTIFIER, LockMode::Write),
        (&DMA_FENCE_MAP, LockMode::Write),
    ]);
    assert!(one().is_empty());
}
