//! `PmRuntime`: runtime power management of a device, and the power resources its driver
//! callbacks touch. Mirrors drivers/base/power/runtime.c (`pm_runtime_get_sync`,
//! `pm_runtime_put_autosuspend`, `rpm_resume`, `rpm_suspend`, autosuspend), with the clock,
//! OPP and interconnect frameworks (drivers/clk/clk.c, drivers/opp/core.c,
//! drivers/interconnect/core.c) reduced to their locks in [`PowerResources`].
//!
//! # Contract
//! - A device starts suspended. [`PmRuntime::get_sync`] takes a usage reference and, if the
//!   device is suspended, runs the driver's resume callback on the calling thread before
//!   returning; a concurrent caller waits for a resume or suspend in progress to finish.
//!   The reference is the returned [`PmGuard`]; dropping it is
//!   [`pm_runtime_put_autosuspend`](PmRuntime::put_autosuspend): the last reference marks the
//!   device busy now and arms the autosuspend work, which suspends it once it has been idle
//!   for the autosuspend delay (re-arming itself if it was used meanwhile).
//! - A failed resume leaves the device suspended and drops the reference again (what
//!   `pm_runtime_resume_and_get` does; plain `pm_runtime_get_sync` keeps it, the classic
//!   leak).
//! - The callbacks run with no lock of this module held, one at a time per device.
//! - [`PmRuntime::disable`] (`pm_runtime_disable`) cancels the autosuspend work and waits for
//!   it; later `get_sync` calls fail with `-EAGAIN` unless the device is active.
//! - Resume is allowed anywhere that may sleep and allocate, but not in a fence-signalling
//!   section: the resume callback of [`PowerResources`] takes locks that are held around
//!   `GFP_KERNEL` allocations elsewhere (R4; the `runtime-pm-in-run-job` injected bug, S9–S11,
//!   S17). Drivers take their runtime-PM reference before the job's fence is armed (at submit)
//!   or from a worker outside the fence path.
//!
//! # Locking
//! - `&dev->power.lock` (spinlock, interrupts off): the usage count and status; nothing is
//!   called under it.
//! - `&dev->power.wait_queue` (wait queue): where a caller sleeps while another thread
//!   resumes or suspends.
//! - [`PowerResources`]: resume and suspend take `&gpu->active_lock` -> `&opp_table->lock`
//!   -> `prepare_lock` -> `icc_bw_lock`. Probe allocates with `GFP_KERNEL` under
//!   `&opp_table->lock` (an OPP's entry), under `prepare_lock` (registering a clock) and under
//!   `icc_lock` (an interconnect node), so those three are ordered before `fs_reclaim`;
//!   `icc_bw_lock` exists so that bandwidth requests never nest an allocation, and
//!   `icc_lock` is never taken on the resume path.
//!
//! # Annotations
//! - `get_sync`, `put_sync_suspend` and `disable` are `might_sleep()`.
//! - The autosuspend work is `(work_completion)(&dev->power.work)` on the `pm` workqueue.
//!
//! # Rules
//! R2 and R4 (no reclaim-ordered lock in a signalling section, through the resume callback).
//!
//! # Simplified
//! - No parent/child or supplier links, no `irq_safe` devices, no idle callback, no
//!   asynchronous resume requests; `pm_runtime_put` without autosuspend is
//!   [`put_sync_suspend`](PmRuntime::put_sync_suspend).
//! - The autosuspend timer is the work's own timer ([`DelayedWork`]) on the device's clock
//!   instead of `power.suspend_timer` (an hrtimer queuing `power.work`).
//! - [`PowerResources`] models one GPU's clock, OPP table and interconnect path: their state is
//!   counters, their locks are the kernel's classes.

use crate::drm_drv::DrmDevice;
use crate::error::{Errno, KResult};
use crate::mm::{self, GFP_KERNEL};
use crate::wait::WaitQueueHead;
use crate::workqueue::{DelayedWork, Workqueue, WQ_UNBOUND};
use lockdep::{LockClass, Mutex, SpinLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock, Weak};
use std::time::Duration;

static POWER_LOCK: LockClass = LockClass::new("&dev->power.lock");
static POWER_WAIT: LockClass = LockClass::new("&dev->power.wait_queue");
static ACTIVE_LOCK: LockClass = LockClass::new("&gpu->active_lock");
static OPP_TABLE_LOCK: LockClass = LockClass::new("&opp_table->lock");
static ICC_LOCK: LockClass = LockClass::new("icc_lock");
static ICC_BW_LOCK: LockClass = LockClass::new("icc_bw_lock");

/// The clock framework's global lock (`static DEFINE_MUTEX(prepare_lock)` in clk.c).
static PREPARE_LOCK: Mutex<()> = Mutex::with_class((), &PREPARE_LOCK_CLASS);
static PREPARE_LOCK_CLASS: LockClass = LockClass::new("prepare_lock");
/// The interconnect framework's global locks (`icc_lock`, `icc_bw_lock` in core.c).
static ICC: Mutex<u64> = Mutex::with_class(0, &ICC_LOCK);
static ICC_BW: Mutex<u64> = Mutex::with_class(0, &ICC_BW_LOCK);

/// The default autosuspend delay of [`device_pm`].
pub const DEFAULT_AUTOSUSPEND_DELAY: Duration = Duration::from_millis(5);

/// The `pm` workqueue (`pm_wq`), where autosuspend works run.
fn pm_wq() -> &'static Arc<Workqueue> {
    static WQ: OnceLock<Arc<Workqueue>> = OnceLock::new();
    WQ.get_or_init(|| Workqueue::alloc("pm", WQ_UNBOUND, 4))
}

/// A device's runtime power status (`enum rpm_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpmStatus {
    /// Powered and usable (`RPM_ACTIVE`).
    Active,
    /// The resume callback is running (`RPM_RESUMING`).
    Resuming,
    /// Powered down (`RPM_SUSPENDED`).
    Suspended,
    /// The suspend callback is running (`RPM_SUSPENDING`).
    Suspending,
}

/// A driver's runtime-PM callback (`runtime_resume` / `runtime_suspend`).
pub type PmCallback = Box<dyn Fn() -> KResult + Send + Sync + 'static>;

struct PowerState {
    usage: u32,
    status: RpmStatus,
    /// Clock time of the last `mark_last_busy`.
    last_busy: Duration,
    delay: Duration,
    disabled: bool,
}

struct Inner {
    name: String,
    clock: crate::clock::Clock,
    power: SpinLock<PowerState>,
    wait: WaitQueueHead,
    resume: PmCallback,
    suspend: PmCallback,
    work: OnceLock<Arc<DelayedWork>>,
    resumes: AtomicU64,
    suspends: AtomicU64,
}

/// A device's runtime PM (`struct dev_pm_info`'s runtime half plus the driver's
/// `dev_pm_ops` runtime callbacks).
///
/// ```
/// use drm_sim::pm_runtime::{PmRuntime, RpmStatus};
///
/// let pm = PmRuntime::new("gpu0", Box::new(|| Ok(())), Box::new(|| Ok(())));
/// {
///     let _awake = pm.get_sync().unwrap();
///     assert_eq!(pm.status(), RpmStatus::Active);
/// } // put_autosuspend: suspends once idle for the delay
/// pm.suspend().unwrap();
/// assert_eq!((pm.resumes(), pm.suspends()), (1, 1));
/// # pm.disable();
/// ```
#[derive(Clone)]
pub struct PmRuntime {
    inner: Arc<Inner>,
}

/// A runtime-PM usage reference; dropping it is `pm_runtime_put_autosuspend`.
#[must_use = "dropping the reference lets the device autosuspend"]
pub struct PmGuard {
    /// Taken out by [`PmRuntime::put_sync_suspend`], which puts the reference itself.
    inner: Option<Arc<Inner>>,
}

impl Drop for PmGuard {
    fn drop(&mut self) {
        if let Some(i) = self.inner.take() {
            put_autosuspend(&i);
        }
    }
}

impl std::fmt::Debug for PmGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmGuard")
            .field("dev", &self.inner.as_ref().map(|i| i.name.as_str()))
            .finish()
    }
}

impl PmRuntime {
    /// Runtime PM for the device `name` on the real clock, suspended, with the driver's
    /// callbacks and [`DEFAULT_AUTOSUSPEND_DELAY`] (`pm_runtime_enable` +
    /// `pm_runtime_use_autosuspend`).
    pub fn new(name: &str, resume: PmCallback, suspend: PmCallback) -> PmRuntime {
        Self::with_clock(name, &crate::clock::Clock::real(), resume, suspend)
    }

    /// Like [`new`](Self::new), with the autosuspend timer on `clock` (a manual clock in
    /// tests: the device suspends exactly when the test advances it past the delay).
    pub fn with_clock(
        name: &str,
        clock: &crate::clock::Clock,
        resume: PmCallback,
        suspend: PmCallback,
    ) -> PmRuntime {
        let inner = Arc::new(Inner {
            name: name.to_string(),
            clock: clock.clone(),
            power: SpinLock::with_class(
                PowerState {
                    usage: 0,
                    status: RpmStatus::Suspended,
                    last_busy: clock.now(),
                    delay: DEFAULT_AUTOSUSPEND_DELAY,
                    disabled: false,
                },
                &POWER_LOCK,
            ),
            wait: WaitQueueHead::new(&POWER_WAIT),
            resume,
            suspend,
            work: OnceLock::new(),
            resumes: AtomicU64::new(0),
            suspends: AtomicU64::new(0),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        let work = DelayedWork::with_clock("(work_completion)(&dev->power.work)", clock, move || {
            if let Some(i) = weak.upgrade() {
                autosuspend_work(&i);
            }
        });
        let _ = inner.work.set(work);
        PmRuntime { inner }
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Sets the autosuspend delay (`pm_runtime_set_autosuspend_delay`).
    pub fn set_autosuspend_delay(&self, delay: Duration) {
        self.inner.with_power(|p| p.delay = delay);
    }

    /// Takes a usage reference, resuming the device first if it is suspended
    /// (`pm_runtime_resume_and_get`, the checked `pm_runtime_get_sync`). The resume callback
    /// runs on this thread. A `might_sleep()`.
    ///
    /// # Errors
    /// The resume callback's error (the reference is dropped again); `Eagain` if runtime PM
    /// is disabled and the device is not active.
    #[doc(alias = "pm_runtime_get_sync")]
    #[doc(alias = "pm_runtime_resume_and_get")]
    #[track_caller]
    pub fn get_sync(&self) -> KResult<PmGuard> {
        lockdep::might_sleep();
        let i = &self.inner;
        i.with_power(|p| p.usage += 1);
        if let Err(e) = rpm_resume(i) {
            i.with_power(|p| p.usage -= 1);
            return Err(e);
        }
        Ok(PmGuard {
            inner: Some(i.clone()),
        })
    }

    /// Takes a usage reference only if the device is already active
    /// (`pm_runtime_get_if_active`): never resumes, never sleeps, so it is usable anywhere.
    #[doc(alias = "pm_runtime_get_if_active")]
    pub fn get_if_active(&self) -> Option<PmGuard> {
        let i = &self.inner;
        i.with_power(|p| {
            (p.status == RpmStatus::Active).then(|| {
                p.usage += 1;
            })
        })
        .map(|()| PmGuard {
            inner: Some(i.clone()),
        })
    }

    /// Drops a reference the way [`PmGuard`]'s drop does (`pm_runtime_put_autosuspend`).
    #[doc(alias = "pm_runtime_put_autosuspend")]
    pub fn put_autosuspend(&self, guard: PmGuard) {
        drop(guard);
    }

    /// Drops the reference and, if it was the last, suspends at once on this thread
    /// (`pm_runtime_put_sync_suspend`). A `might_sleep()`.
    ///
    /// # Errors
    /// The suspend callback's error (the device stays active).
    #[doc(alias = "pm_runtime_put_sync_suspend")]
    #[track_caller]
    pub fn put_sync_suspend(&self, mut guard: PmGuard) -> KResult {
        lockdep::might_sleep();
        let Some(i) = guard.inner.take() else {
            return Ok(());
        };
        let last = i.with_power(|p| {
            p.usage -= 1;
            p.usage == 0
        });
        if last {
            rpm_suspend(&i, false)
        } else {
            Ok(())
        }
    }

    /// Suspends now if nothing uses the device, without waiting for the delay
    /// (`pm_runtime_suspend`). A `might_sleep()`.
    ///
    /// # Errors
    /// The suspend callback's error (the device stays active).
    #[doc(alias = "pm_runtime_suspend")]
    #[track_caller]
    pub fn suspend(&self) -> KResult {
        lockdep::might_sleep();
        rpm_suspend(&self.inner, false)
    }

    /// Cancels the autosuspend work, waits for a running one, and stops runtime PM
    /// (`pm_runtime_disable`); the device keeps its status. A `might_sleep()`. Idempotent.
    #[doc(alias = "pm_runtime_disable")]
    #[track_caller]
    pub fn disable(&self) {
        lockdep::might_sleep();
        self.inner.with_power(|p| p.disabled = true);
        if let Some(w) = self.inner.work.get() {
            w.cancel_delayed_work_sync();
        }
        self.inner.wait.wake_up_all();
    }

    /// The device's status.
    pub fn status(&self) -> RpmStatus {
        self.inner.with_power(|p| p.status)
    }

    /// Its usage count.
    pub fn usage_count(&self) -> u32 {
        self.inner.with_power(|p| p.usage)
    }

    /// How many times the resume callback succeeded.
    pub fn resumes(&self) -> u64 {
        self.inner.resumes.load(Ordering::Relaxed)
    }

    /// How many times the suspend callback succeeded.
    pub fn suspends(&self) -> u64 {
        self.inner.suspends.load(Ordering::Relaxed)
    }

    /// Waits for a queued or running autosuspend work (not for an armed timer: advance the
    /// clock first). A `might_sleep()`.
    #[track_caller]
    pub fn flush_autosuspend_work(&self) {
        if let Some(w) = self.inner.work.get() {
            w.work().flush_work();
        }
    }

    /// Whether the autosuspend work is armed or queued.
    pub fn autosuspend_pending(&self) -> bool {
        self.inner.work.get().is_some_and(|w| w.is_pending())
    }
}

impl std::fmt::Debug for PmRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmRuntime")
            .field("dev", &self.inner.name)
            .field("status", &self.status())
            .field("usage", &self.usage_count())
            .finish()
    }
}

impl Inner {
    fn with_power<R>(&self, f: impl FnOnce(&mut PowerState) -> R) -> R {
        let mut p = self.power.lock_irqsave();
        f(&mut p)
    }

    /// Sleeps until no callback is running (status `Active` or `Suspended`).
    fn wait_stable(&self) {
        self.wait
            .wait_event(|| self.with_power(|p| matches!(p.status, RpmStatus::Active | RpmStatus::Suspended)));
    }
}

/// `rpm_resume`: makes the device active, running the resume callback if it was suspended.
fn rpm_resume(i: &Inner) -> KResult {
    enum Next {
        Done,
        Resume,
        Disabled,
        Wait,
    }
    loop {
        let next = i.with_power(|p| match p.status {
            RpmStatus::Active => Next::Done,
            RpmStatus::Suspended if p.disabled => Next::Disabled,
            RpmStatus::Suspended => {
                p.status = RpmStatus::Resuming;
                Next::Resume
            }
            RpmStatus::Resuming | RpmStatus::Suspending => Next::Wait,
        });
        match next {
            Next::Done => return Ok(()),
            Next::Resume => break,
            Next::Disabled => return Err(Errno::Eagain),
            Next::Wait => i.wait_stable(),
        }
    }
    let r = (i.resume)();
    i.with_power(|p| {
        p.status = if r.is_ok() {
            RpmStatus::Active
        } else {
            RpmStatus::Suspended
        };
        p.last_busy = i.clock.now();
    });
    if r.is_ok() {
        i.resumes.fetch_add(1, Ordering::Relaxed);
    }
    i.wait.wake_up_all();
    r
}

/// `rpm_suspend`: suspends an idle active device. `autosuspend`: called from the work, so a
/// device used within the delay gets the work re-armed for the rest of it instead.
fn rpm_suspend(i: &Inner, autosuspend: bool) -> KResult {
    enum Next {
        Nothing,
        Rearm(Duration),
        Suspend,
        Wait,
    }
    loop {
        let next = i.with_power(|p| {
            if p.usage > 0 || p.status == RpmStatus::Suspended || (autosuspend && p.disabled) {
                return Next::Nothing;
            }
            if p.status != RpmStatus::Active {
                return Next::Wait;
            }
            let idle = i.clock.now().saturating_sub(p.last_busy);
            if autosuspend && idle < p.delay {
                return Next::Rearm(p.delay - idle);
            }
            p.status = RpmStatus::Suspending;
            Next::Suspend
        });
        match next {
            Next::Nothing => return Ok(()),
            Next::Rearm(left) => {
                if let Some(w) = i.work.get() {
                    pm_wq().mod_delayed_work(w, left);
                }
                return Ok(());
            }
            Next::Wait => i.wait_stable(),
            Next::Suspend => break,
        }
    }
    let r = (i.suspend)();
    i.with_power(|p| {
        p.status = if r.is_ok() {
            RpmStatus::Suspended
        } else {
            RpmStatus::Active
        };
    });
    if r.is_ok() {
        i.suspends.fetch_add(1, Ordering::Relaxed);
    }
    i.wait.wake_up_all();
    r
}

/// `pm_runtime_put_autosuspend`: drops a reference; the last one marks the device busy now
/// and arms the autosuspend work for the delay. Never sleeps.
fn put_autosuspend(i: &Inner) {
    let arm = i.with_power(|p| {
        p.usage -= 1;
        p.last_busy = i.clock.now();
        (p.usage == 0 && !p.disabled).then_some(p.delay)
    });
    if let (Some(delay), Some(w)) = (arm, i.work.get()) {
        pm_wq().mod_delayed_work(w, delay);
    }
}

/// The autosuspend work (`pm_runtime_work` -> `rpm_suspend(RPM_AUTO)`).
fn autosuspend_work(i: &Inner) {
    let _ = rpm_suspend(i, true);
}

/// A GPU's power resources: its driver lock, OPP table, clock and interconnect path, reduced
/// to their locks and counters. [`resume`](Self::resume) and [`suspend`](Self::suspend) are
/// what the driver's runtime-PM callbacks do; [`probe`](Self::probe) is the set-up that
/// allocates under the same framework locks.
pub struct PowerResources {
    /// The driver's lock around power transitions (msm's `&gpu->active_lock`).
    active_lock: Mutex<u64>,
    /// The OPP table's lock (`&opp_table->lock`): its frequency table.
    opp_table: Mutex<Vec<u64>>,
    /// Clocks prepared and enabled (under `prepare_lock`).
    clk_enabled: AtomicU64,
    /// Bandwidth currently requested (under `icc_bw_lock`).
    bandwidth: AtomicU64,
}

impl PowerResources {
    /// Probes the resources (`devm_pm_opp_of_add_table`, `devm_clk_get`, `of_icc_get`): each
    /// framework allocates its bookkeeping with `GFP_KERNEL` under its lock, as the kernel's
    /// do, which orders `&opp_table->lock`, `prepare_lock` and `icc_lock` before `fs_reclaim`.
    ///
    /// # Errors
    /// `Enomem` from the allocator.
    pub fn probe() -> KResult<Arc<PowerResources>> {
        let res = Arc::new(PowerResources {
            active_lock: Mutex::with_class(0, &ACTIVE_LOCK),
            opp_table: Mutex::with_class(Vec::new(), &OPP_TABLE_LOCK),
            clk_enabled: AtomicU64::new(0),
            bandwidth: AtomicU64::new(0),
        });
        {
            // icc_node_create / icc_link_create: the provider's graph, under icc_lock.
            let mut nodes = ICC.lock();
            drop(mm::kmalloc(64, GFP_KERNEL)?);
            *nodes += 1;
        }
        {
            // clk_register -> __clk_core_init: the clock's core and debugfs entry.
            let _prepare = PREPARE_LOCK.lock();
            drop(mm::kmalloc(128, GFP_KERNEL)?);
        }
        for freq in [200_000_000u64, 400_000_000, 800_000_000] {
            res.opp_add(freq)?;
        }
        Ok(res)
    }

    /// Adds an operating point (`dev_pm_opp_add`): its entry is allocated under
    /// `&opp_table->lock` (`_opp_add` -> `opp_debug_create_one`).
    ///
    /// # Errors
    /// `Enomem` from the allocator.
    pub fn opp_add(&self, freq: u64) -> KResult {
        let mut table = self.opp_table.lock();
        drop(mm::kmalloc(96, GFP_KERNEL)?);
        table.push(freq);
        Ok(())
    }

    /// Powers up (the driver's `runtime_resume`): under its own lock, sets the OPP
    /// (`dev_pm_opp_set_rate`, under `&opp_table->lock`), which prepares and enables the clock
    /// (`clk_prepare_enable`, `prepare_lock`) and votes interconnect bandwidth
    /// (`icc_set_bw`, `icc_bw_lock`). Allocates nothing.
    pub fn resume(&self) -> KResult {
        let mut active = self.active_lock.lock();
        let table = self.opp_table.lock();
        let freq = table.last().copied().unwrap_or(0);
        {
            let _prepare = PREPARE_LOCK.lock();
            self.clk_enabled.fetch_add(1, Ordering::Relaxed);
        }
        {
            let mut bw = ICC_BW.lock();
            *bw += freq / 1000;
            self.bandwidth.store(freq / 1000, Ordering::Relaxed);
        }
        *active += 1;
        Ok(())
    }

    /// Powers down (the driver's `runtime_suspend`), the same locks as
    /// [`resume`](Self::resume): drops the bandwidth vote, then the clock.
    pub fn suspend(&self) -> KResult {
        let mut active = self.active_lock.lock();
        let _table = self.opp_table.lock();
        {
            let mut bw = ICC_BW.lock();
            let mine = self.bandwidth.swap(0, Ordering::Relaxed);
            *bw = bw.saturating_sub(mine);
        }
        {
            let _prepare = PREPARE_LOCK.lock();
            self.clk_enabled.fetch_sub(1, Ordering::Relaxed);
        }
        *active = active.saturating_sub(1);
        Ok(())
    }

    /// Whether the clock is enabled (resumed more often than suspended).
    pub fn clock_enabled(&self) -> bool {
        self.clk_enabled.load(Ordering::Relaxed) > 0
    }
}

/// The runtime PM of the simulated GPU on `dev`, made on first use (the driver's probe:
/// [`PowerResources::probe`], `pm_runtime_enable`, autosuspend on the device's clock) and
/// disabled when the device is unplugged. The kernel keeps it in `struct device`; the
/// simulated device has no field for it, so it lives in a registry by device number.
///
/// Call it at probe (as [`crate::sim_driver::SimGpu::new`] does), not first from a
/// signalling section: probing allocates.
///
/// # Panics
/// If probing the power resources fails to allocate (a probe-time `Enomem`).
pub fn device_pm(dev: &Arc<DrmDevice>) -> PmRuntime {
    static DEVICES: OnceLock<StdMutex<HashMap<u32, PmRuntime>>> = OnceLock::new();
    let devices = DEVICES.get_or_init(Default::default);
    if let Some(pm) = devices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&dev.index())
    {
        return pm.clone();
    }
    let res = PowerResources::probe().expect("probing a GPU's power resources");
    let (r, s) = (res.clone(), res);
    let pm = PmRuntime::with_clock(
        dev.name(),
        &dev.clock(),
        Box::new(move || r.resume()),
        Box::new(move || s.suspend()),
    );
    let pm = devices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(dev.index())
        .or_insert(pm)
        .clone();
    let p = pm.clone();
    dev.on_unplug(move |_| p.disable());
    pm
}

/// The driver's `run_job` hook for runtime PM: with the `runtime-pm-in-run-job` injected bug,
/// the GPU is woken here, inside the job's signalling section (the resume callback takes
/// reclaim-ordered locks), and allowed to autosuspend again when the job is on the hardware.
/// A correct driver does nothing here: its reference is taken at submit.
///
/// # Errors
/// The resume's error: the job fails with it.
#[track_caller]
pub fn run_job_hook(dev: &Arc<DrmDevice>) -> KResult {
    // After unplug there is no hardware to wake: run_job fails its drm_dev_enter next.
    if !dev.bugs().has(crate::bugs::Bug::RuntimePmInRunJob) || dev.is_unplugged() {
        return Ok(());
    }
    let awake = device_pm(dev).get_sync()?;
    drop(awake);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::testing::{kinds, serial};
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    const DELAY: Duration = Duration::from_millis(10);

    /// Runtime PM on a manual clock whose callbacks count and optionally fail or dawdle.
    fn pm(clock: &Clock, fail_resume: Arc<AtomicU32>, slow: Duration) -> PmRuntime {
        let f = fail_resume.clone();
        let pm = PmRuntime::with_clock(
            "test-dev",
            clock,
            Box::new(move || {
                std::thread::sleep(slow);
                if f.load(Ordering::SeqCst) > 0 {
                    f.fetch_sub(1, Ordering::SeqCst);
                    return Err(Errno::Eio);
                }
                Ok(())
            }),
            Box::new(|| Ok(())),
        );
        pm.set_autosuspend_delay(DELAY);
        pm
    }

    #[test]
    fn get_resumes_once_and_autosuspend_waits_for_the_idle_delay() {
        let _s = serial();
        let clock = Clock::manual();
        let pm = pm(&clock, Arc::default(), Duration::ZERO);
        assert_eq!(pm.status(), RpmStatus::Suspended);
        let a = pm.get_sync().unwrap();
        let b = pm.get_sync().unwrap();
        assert_eq!((pm.resumes(), pm.usage_count()), (1, 2));
        drop(a);
        assert!(!pm.autosuspend_pending(), "still in use");
        drop(b);
        assert!(pm.autosuspend_pending(), "the last put arms the autosuspend");
        assert_eq!(
            settle(&clock, &pm, DELAY / 2),
            RpmStatus::Active,
            "not idle for the delay yet"
        );
        finish_suspended_once(&clock, &pm);
    }

    /// Advances the clock by `by`, waits for the autosuspend work it queued, and returns the
    /// status then.
    fn settle(clock: &Clock, pm: &PmRuntime, by: Duration) -> RpmStatus {
        clock.advance(by);
        pm.flush_autosuspend_work();
        pm.status()
    }

    /// A whole delay later the device is suspended, after one resume and one suspend.
    fn finish_suspended_once(clock: &Clock, pm: &PmRuntime) {
        assert_eq!(settle(clock, pm, DELAY), RpmStatus::Suspended);
        assert_eq!((pm.resumes(), pm.suspends()), (1, 1));
        pm.disable();
        assert!(kinds().is_empty());
    }

    #[test]
    fn use_within_the_delay_pushes_the_autosuspend_back() {
        let _s = serial();
        let clock = Clock::manual();
        let pm = pm(&clock, Arc::default(), Duration::ZERO);
        drop(pm.get_sync().unwrap());
        clock.advance(DELAY * 3 / 4);
        // Busy again just before the delay runs out: the idle time restarts.
        drop(pm.get_sync().unwrap());
        assert_eq!(settle(&clock, &pm, DELAY / 2), RpmStatus::Active);
        assert!(pm.autosuspend_pending(), "re-armed for the rest of the delay");
        finish_suspended_once(&clock, &pm);
    }

    #[test]
    fn concurrent_gets_share_one_resume() {
        let _s = serial();
        let clock = Clock::manual();
        let pm = pm(&clock, Arc::default(), Duration::from_millis(20));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let pm = pm.clone();
                std::thread::spawn(move || {
                    let g = pm.get_sync().unwrap();
                    assert_eq!(pm.status(), RpmStatus::Active, "returned only once resumed");
                    drop(g);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!((pm.resumes(), pm.usage_count()), (1, 0));
        pm.suspend().unwrap();
        assert_eq!((pm.suspends(), pm.status()), (1, RpmStatus::Suspended));
        pm.disable();
        assert!(kinds().is_empty());
    }

    #[test]
    fn a_failed_resume_drops_the_reference_and_the_next_get_retries() {
        let _s = serial();
        let clock = Clock::manual();
        let fail = Arc::new(AtomicU32::new(1));
        let pm = pm(&clock, fail, Duration::ZERO);
        assert_eq!(pm.get_sync().unwrap_err(), Errno::Eio);
        assert_eq!((pm.status(), pm.usage_count()), (RpmStatus::Suspended, 0));
        let g = pm.get_sync().unwrap();
        assert_eq!(pm.resumes(), 1);
        assert!(pm.get_if_active().is_some());
        pm.put_sync_suspend(g).unwrap();
        assert_eq!(
            pm.status(),
            RpmStatus::Suspended,
            "the last sync put suspends at once"
        );
        assert!(pm.get_if_active().is_none(), "never resumes");
        pm.disable();
        assert_eq!(pm.get_sync().unwrap_err(), Errno::Eagain);
        assert!(kinds().is_empty());
    }

    #[test]
    fn gpu_power_resources_resume_and_suspend_outside_signalling_are_clean() {
        let _s = serial();
        crate::dma_resv::dma_resv_lockdep();
        let dev = DrmDevice::with_clock("pm0", crate::bugs::Bugs::NONE, Clock::manual());
        let pm = device_pm(&dev);
        {
            let _awake = pm.get_sync().unwrap();
            // An ioctl allocating while the GPU is awake.
            drop(mm::kmalloc(64, GFP_KERNEL).unwrap());
        }
        pm.suspend().unwrap();
        assert_eq!((pm.resumes(), pm.suspends()), (1, 1));
        assert!(
            run_job_hook(&dev).is_ok(),
            "a correct driver's run_job wakes nothing"
        );
        assert_eq!(pm.resumes(), 1);
        dev.unplug();
        assert!(kinds().is_empty());
    }
}
