//! `DrmVblankCrtc`: vertical-blank counting, vblank references and vblank events. Mirrors
//! drivers/gpu/drm/drm_vblank.c.
//!
//! # Contract
//! - The driver calls [`handle_vblank`] from its vblank interrupt (an hrtimer in the
//!   simulated display): the counter moves on, waiters wake, and every armed event whose
//!   sequence has come is sent.
//! - An event ([`DrmPendingVblankEvent`]) is sent exactly once ([`send_vblank_event`]): it
//!   completes its commit's `flip_done` and signals its out-fence. Events go out in the
//!   order they were armed.
//! - The interrupt runs only while someone holds a vblank reference ([`vblank_get`] /
//!   [`vblank_put`]): the first reference enables it through the driver, and after the last
//!   one is dropped a timer disables it `offdelay` later. A CRTC that is off
//!   ([`vblank_off`]) refuses references (`EINVAL`), so a commit on it sends its event at
//!   once instead of arming it.
//!
//! # Locking
//! - `&dev->event_lock` → `&dev->vbl_lock` → `&dev->vblank_time_lock`, all irq-safe
//!   spinlocks, taken with interrupts off in process context; the interrupt takes
//!   `&dev->event_lock` then `&dev->vblank_time_lock`.
//! - Under `&dev->event_lock`, sending an event takes the completion's `&x->wait` and the
//!   out-fence's `&crtc->fence_lock` (and whatever that fence's callbacks take).
//! - The driver's `disable_vblank` runs under `&dev->vbl_lock` and
//!   `&dev->vblank_time_lock`: it must not wait for the vblank interrupt (R34).
//!
//! # Annotations
//! - [`handle_vblank`] is a fence-signalling section (`dma_fence_begin_signalling`): out-fences
//!   and flip events are signalled from it (R4). The kernel annotates the driver's handler
//!   (vkms's `vkms_vblank_simulate`); here the core does it, for every driver alike.
//!
//! # Rules
//! R4 (the vblank path signals fences), R20 (flip events are dma_fences), R32 (irq-safe locks),
//! R34 (no waiting for the vblank timer under `&dev->vblank_time_lock`).
//!
//! # Simplified
//! - No hardware counter or timestamp queries: the count is the number of handled vblanks,
//!   the timestamp the clock's time at the interrupt.
//! - No user-space vblank waits (`DRM_IOCTL_WAIT_VBLANK`) beyond [`wait_one_vblank`], no
//!   `drm_vblank_work`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use lockdep::{LockClass, LockMap};

use crate::clock::Timer;
use crate::dma_fence::{signalling, DmaFence};
use crate::drm_crtc::DrmCrtcCommit;
use crate::drm_mode_config::DrmModeConfig;
use crate::error::{Errno, KResult};
use crate::wait::WaitQueueHead;

static VBLANK_QUEUE: LockClass = LockClass::new("&vblank->queue");
static DISABLE_TIMER: LockMap = LockMap::new("(&vblank->disable_timer)");

/// The kernel's default `drm_vblank_offdelay` is 5 s; the simulation turns vblanks off sooner
/// so runs see the disable path.
pub const DEFAULT_OFFDELAY: Duration = Duration::from_millis(50);

/// How long [`wait_one_vblank`] waits (the kernel's 100 ms).
pub const VBLANK_WAIT: Duration = Duration::from_millis(100);

/// A completion event for one commit on one CRTC (`struct drm_pending_vblank_event`).
#[derive(Debug)]
pub struct DrmPendingVblankEvent {
    crtc: usize,
    /// The commit whose `flip_done` it completes (`base.completion`).
    commit: Option<Arc<DrmCrtcCommit>>,
    /// The out-fence it signals (`base.fence`).
    fence: Option<Arc<DmaFence>>,
    /// Whether user space asked for it (else the helpers' internal event).
    requested: bool,
    /// The vblank it is due at (`sequence`).
    sequence: u64,
}

impl DrmPendingVblankEvent {
    /// An event for `commit` on `crtc`, signalling `fence` when sent.
    pub fn new(
        crtc: usize,
        commit: Option<Arc<DrmCrtcCommit>>,
        fence: Option<Arc<DmaFence>>,
        requested: bool,
    ) -> DrmPendingVblankEvent {
        DrmPendingVblankEvent {
            crtc,
            commit,
            fence,
            requested,
            sequence: 0,
        }
    }

    /// Its CRTC.
    pub fn crtc(&self) -> usize {
        self.crtc
    }
}

/// One CRTC's vblank state (`struct drm_vblank_crtc`).
pub struct DrmVblankCrtc {
    crtc: usize,
    /// Handled vblanks (`count`), written under `&dev->vblank_time_lock`.
    count: AtomicU64,
    /// When the last one was handled, as clock time in nanoseconds.
    time_ns: AtomicU64,
    /// Whether the interrupt is on (`enabled`), written under `&dev->vblank_time_lock`.
    enabled: AtomicBool,
    /// References (`refcount`), changed under `&dev->vbl_lock` (the drop is atomic).
    refcount: AtomicU32,
    /// Off for a modeset (`inmodeset`): holds one reference; written under `&dev->vbl_lock`.
    inmodeset: AtomicBool,
    /// Armed events, in arming order (`dev->vblank_event_list` for this CRTC). Protected by
    /// `&dev->event_lock`; the std mutex only satisfies Rust's aliasing rules.
    events: StdMutex<Vec<DrmPendingVblankEvent>>,
    /// Vblank waiters (`queue`).
    queue: WaitQueueHead,
    disable_timer: Arc<Timer>,
    offdelay: AtomicU64,
    /// Events sent on this CRTC.
    sent: AtomicU64,
}

impl DrmVblankCrtc {
    /// Handled vblanks so far (`drm_crtc_vblank_count`).
    #[doc(alias = "drm_crtc_vblank_count")]
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Clock time of the last handled vblank.
    pub fn time(&self) -> Duration {
        Duration::from_nanos(self.time_ns.load(Ordering::Acquire))
    }

    /// Whether the interrupt is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Outstanding references (the modeset reference of an off CRTC included).
    pub fn refcount(&self) -> u32 {
        self.refcount.load(Ordering::Acquire)
    }

    /// Events sent on this CRTC.
    pub fn events_sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// Events armed and not yet sent.
    pub fn events_pending(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Sets how long after the last reference the interrupt is turned off
    /// (`drm_vblank_offdelay`).
    pub fn set_offdelay(&self, d: Duration) {
        self.offdelay
            .store(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl std::fmt::Debug for DrmVblankCrtc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmVblankCrtc")
            .field("crtc", &self.crtc)
            .field("count", &self.count())
            .field("enabled", &self.is_enabled())
            .field("refcount", &self.refcount())
            .finish()
    }
}

/// Sets up vblank handling for every CRTC of `cfg` (`drm_vblank_init`). Each starts off
/// ([`vblank_on`] turns it on). The disable timers run on the device's clock.
///
/// # Errors
/// `Ebusy` if it was already initialised.
pub fn drm_vblank_init(cfg: &Arc<DrmModeConfig>) -> KResult {
    let clock = cfg.dev().clock();
    let v: Box<[DrmVblankCrtc]> = (0..cfg.crtcs().len())
        .map(|crtc| {
            let weak: Weak<DrmModeConfig> = Arc::downgrade(cfg);
            DrmVblankCrtc {
                crtc,
                count: AtomicU64::new(0),
                time_ns: AtomicU64::new(0),
                enabled: AtomicBool::new(false),
                refcount: AtomicU32::new(1),
                inmodeset: AtomicBool::new(true),
                events: StdMutex::new(Vec::new()),
                queue: WaitQueueHead::new(&VBLANK_QUEUE),
                disable_timer: Timer::new(&DISABLE_TIMER, &clock, move || {
                    if let Some(cfg) = weak.upgrade() {
                        vblank_disable_fn(&cfg, crtc);
                    }
                }),
                offdelay: AtomicU64::new(DEFAULT_OFFDELAY.as_nanos() as u64),
                sent: AtomicU64::new(0),
            }
        })
        .collect();
    cfg.vblank.set(v).map_err(|_| Errno::Ebusy)
}

fn vblank_of(cfg: &DrmModeConfig, crtc: usize) -> KResult<&DrmVblankCrtc> {
    cfg.vblank(crtc).ok_or(Errno::Einval)
}

/// `drm_vblank_enable`: under `&dev->vbl_lock`; turns the interrupt on if it is off.
fn vblank_enable(cfg: &DrmModeConfig, v: &DrmVblankCrtc) -> KResult {
    lockdep::assert_held(cfg.vbl_lock());
    let _t = cfg.vblank_time_lock().lock();
    if !v.enabled.load(Ordering::Acquire) {
        let funcs = cfg.funcs().ok_or(Errno::Enodev)?;
        funcs.enable_vblank(v.crtc)?;
        v.enabled.store(true, Ordering::Release);
    }
    Ok(())
}

/// `drm_vblank_disable_and_save`: under `&dev->vbl_lock`; turns the interrupt off through
/// the driver, with `&dev->vblank_time_lock` held as the kernel does.
fn vblank_disable_and_save(cfg: &DrmModeConfig, v: &DrmVblankCrtc) {
    lockdep::assert_held(cfg.vbl_lock());
    let _t = cfg.vblank_time_lock().lock_irqsave();
    if v.enabled.load(Ordering::Acquire) {
        if let Some(funcs) = cfg.funcs() {
            funcs.disable_vblank(v.crtc);
        }
        v.enabled.store(false, Ordering::Release);
    }
}

/// The disable timer (`vblank_disable_fn`): turns the interrupt off if nobody took a
/// reference since the last one went.
fn vblank_disable_fn(cfg: &DrmModeConfig, crtc: usize) {
    let Ok(v) = vblank_of(cfg, crtc) else { return };
    let _l = cfg.vbl_lock().lock_irqsave();
    if v.refcount.load(Ordering::Acquire) == 0 && v.enabled.load(Ordering::Acquire) {
        vblank_disable_and_save(cfg, v);
    }
}

/// Takes a vblank reference (`drm_crtc_vblank_get`): the interrupt stays on while it is
/// held. Callable with interrupts off (from under `&dev->event_lock`).
///
/// # Errors
/// `Einval` if the CRTC is off ([`vblank_off`]) or has no vblank support; the driver's
/// error if enabling failed.
#[doc(alias = "drm_crtc_vblank_get")]
#[track_caller]
pub fn vblank_get(cfg: &DrmModeConfig, crtc: usize) -> KResult {
    let v = vblank_of(cfg, crtc)?;
    let _l = cfg.vbl_lock().lock_irqsave();
    if v.refcount.fetch_add(1, Ordering::AcqRel) == 0 {
        if let Err(e) = vblank_enable(cfg, v) {
            v.refcount.fetch_sub(1, Ordering::AcqRel);
            return Err(e);
        }
    } else if !v.enabled.load(Ordering::Acquire) || v.inmodeset.load(Ordering::Acquire) {
        v.refcount.fetch_sub(1, Ordering::AcqRel);
        return Err(Errno::Einval);
    }
    Ok(())
}

/// Drops a vblank reference (`drm_crtc_vblank_put`); after the last one the disable timer
/// is armed. Callable from any context, the vblank interrupt included.
///
/// # Panics
/// If no reference is held (the kernel's `WARN_ON`).
#[doc(alias = "drm_crtc_vblank_put")]
pub fn vblank_put(cfg: &DrmModeConfig, crtc: usize) {
    let Ok(v) = vblank_of(cfg, crtc) else { return };
    let old = v.refcount.fetch_sub(1, Ordering::AcqRel);
    assert!(old > 0, "drm_crtc_vblank_put() without a reference");
    if old == 1 {
        v.disable_timer
            .mod_timer(Duration::from_nanos(v.offdelay.load(Ordering::Relaxed)));
    }
}

/// Turns a CRTC's vblanks on after it was enabled (`drm_crtc_vblank_on`), dropping the
/// modeset reference.
#[doc(alias = "drm_crtc_vblank_on")]
#[track_caller]
pub fn vblank_on(cfg: &DrmModeConfig, crtc: usize) {
    let Ok(v) = vblank_of(cfg, crtc) else { return };
    let _l = cfg.vbl_lock().lock_irqsave();
    if v.inmodeset.swap(false, Ordering::AcqRel) {
        v.refcount.fetch_sub(1, Ordering::AcqRel);
    }
    if v.refcount.load(Ordering::Acquire) != 0 {
        // Someone waits already: turn the interrupt on now.
        let _ = vblank_enable(cfg, v);
    }
}

/// Turns a CRTC's vblanks off before it is disabled (`drm_crtc_vblank_off`): the interrupt
/// goes off, new references are refused, and every pending event is sent now, so no commit
/// waits for a vblank that will never come.
#[doc(alias = "drm_crtc_vblank_off")]
#[track_caller]
pub fn vblank_off(cfg: &DrmModeConfig, crtc: usize) {
    let Ok(v) = vblank_of(cfg, crtc) else { return };
    let _e = cfg.event_lock().lock_irqsave();
    {
        let _l = cfg.vbl_lock().lock();
        vblank_disable_and_save(cfg, v);
        if !v.inmodeset.swap(true, Ordering::AcqRel) {
            v.refcount.fetch_add(1, Ordering::AcqRel);
        }
    }
    let pending = std::mem::take(&mut *v.events.lock().unwrap_or_else(|e| e.into_inner()));
    for e in pending {
        vblank_put(cfg, crtc);
        send_event_locked(cfg, v, e);
    }
}

/// The vblank interrupt of CRTC `crtc` (`drm_crtc_handle_vblank`), in hard-irq context: a
/// signalling section that takes `&dev->event_lock`, then `&dev->vblank_time_lock` to count
/// the vblank, wakes the waiters and sends the events that are due. Returns `false` if the
/// interrupt is off (the caller stops its timer).
#[doc(alias = "drm_crtc_handle_vblank")]
#[doc(alias = "drm_handle_vblank")]
#[track_caller]
pub fn handle_vblank(cfg: &DrmModeConfig, crtc: usize) -> bool {
    let Ok(v) = vblank_of(cfg, crtc) else {
        return false;
    };
    let _section = signalling();
    let _e = cfg.event_lock().lock_irqsave();
    {
        // Keeps the count consistent with enable/disable (drm_update_vblank_count).
        let _t = cfg.vblank_time_lock().lock();
        if !v.enabled.load(Ordering::Acquire) {
            return false;
        }
        let now = cfg.dev().clock().now();
        v.time_ns.store(
            u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Release,
        );
        v.count.fetch_add(1, Ordering::AcqRel);
    }
    v.queue.wake_up_all();
    handle_vblank_events(cfg, v);
    true
}

/// `drm_handle_vblank_events`: under `&dev->event_lock`, sends every event due by now.
fn handle_vblank_events(cfg: &DrmModeConfig, v: &DrmVblankCrtc) {
    lockdep::assert_held(cfg.event_lock());
    let seq = v.count();
    let due: Vec<DrmPendingVblankEvent> = {
        let mut events = v.events.lock().unwrap_or_else(|e| e.into_inner());
        let split = events.iter().take_while(|e| e.sequence <= seq).count();
        events.drain(..split).collect()
    };
    for e in due {
        vblank_put(cfg, v.crtc);
        send_event_locked(cfg, v, e);
    }
}

/// Arms `e` for the next vblank (`drm_crtc_arm_vblank_event`). The caller holds
/// `&dev->event_lock` and a vblank reference, which goes with the event when it is sent.
///
/// # Errors
/// The event back if the CRTC has no vblank support: send it with [`send_vblank_event`].
#[doc(alias = "drm_crtc_arm_vblank_event")]
#[track_caller]
pub fn arm_vblank_event(
    cfg: &DrmModeConfig,
    crtc: usize,
    mut e: DrmPendingVblankEvent,
) -> Result<(), DrmPendingVblankEvent> {
    lockdep::assert_held(cfg.event_lock());
    let Some(v) = cfg.vblank(crtc) else {
        return Err(e);
    };
    e.sequence = v.count() + 1;
    v.events.lock().unwrap_or_else(|e| e.into_inner()).push(e);
    Ok(())
}

/// Sends `e` now (`drm_crtc_send_vblank_event`): completes its commit's `flip_done` and
/// signals its out-fence, with the current count and time. The caller holds
/// `&dev->event_lock`.
#[doc(alias = "drm_crtc_send_vblank_event")]
#[track_caller]
pub fn send_vblank_event(cfg: &DrmModeConfig, crtc: usize, e: DrmPendingVblankEvent) {
    lockdep::assert_held(cfg.event_lock());
    match vblank_of(cfg, crtc) {
        Ok(v) => send_event_locked(cfg, v, e),
        Err(_) => deliver(e),
    }
}

fn send_event_locked(cfg: &DrmModeConfig, v: &DrmVblankCrtc, e: DrmPendingVblankEvent) {
    let _ = cfg;
    v.sent.fetch_add(1, Ordering::AcqRel);
    deliver(e);
}

/// `drm_send_event_helper`: the completion, then the fence (each exactly once: the event
/// is consumed).
fn deliver(e: DrmPendingVblankEvent) {
    let _ = e.requested;
    if let Some(c) = &e.commit {
        c.flip_done.complete_all();
    }
    if let Some(f) = &e.fence {
        let _ = f.signal_timestamp(Instant::now());
    }
}

/// Waits for the next vblank of `crtc` (`drm_crtc_wait_one_vblank`), up to
/// [`VBLANK_WAIT`]. A `might_sleep()`.
///
/// # Errors
/// `Einval` if the CRTC is off; `Etimedout` if no vblank came in time.
#[doc(alias = "drm_crtc_wait_one_vblank")]
#[track_caller]
pub fn wait_one_vblank(cfg: &DrmModeConfig, crtc: usize) -> KResult {
    let v = vblank_of(cfg, crtc)?;
    vblank_get(cfg, crtc)?;
    let last = v.count();
    let ok = v.queue.wait_event_timeout(|| v.count() != last, VBLANK_WAIT);
    vblank_put(cfg, crtc);
    if ok {
        Ok(())
    } else {
        Err(Errno::Etimedout)
    }
}

/// Stops the disable timers (`drm_vblank_cleanup`), for device teardown once every CRTC is
/// off. Waits for a running disable timer callback.
#[track_caller]
pub fn drm_vblank_cleanup(cfg: &DrmModeConfig) {
    if let Some(vs) = cfg.vblank.get() {
        for v in vs.iter() {
            v.disable_timer.del_timer_sync();
        }
    }
}

/// Total vblanks handled on every CRTC of `cfg`.
pub fn vblank_total(cfg: &DrmModeConfig) -> u64 {
    cfg.vblank
        .get()
        .map_or(0, |vs| vs.iter().map(DrmVblankCrtc::count).sum())
}
