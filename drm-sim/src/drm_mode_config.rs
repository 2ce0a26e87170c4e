//! `DrmModeConfig`: a device's KMS objects and the locks around them. Mirrors
//! drivers/gpu/drm/drm_mode_config.c (and the panic lock of include/drm/drm_panic.h).
//!
//! # Contract
//! - [`drmm_mode_config_init`] builds a device's display pipeline: `n` CRTCs, each with one
//!   primary plane and one connector, and replays the kernel's lockdep priming (K11) so the
//!   KMS lock order is known before any ioctl ran.
//! - Object state is read through `state()` accessors, which hand out the current state
//!   (`Arc`): an atomic commit replaces it, never changes it in place.
//! - `plane->state` changes only under the panic lock ([`drm_panic_lock`]), so the panic
//!   handler, which [`drm_panic_trylock`]s it, always sees a complete state whose framebuffer
//!   is pinned.
//!
//! # Locking
//! - `&dev->mode_config.mutex` (mutex): legacy and probe paths, outside every modeset lock
//!   (R19).
//! - `crtc_ww_class_mutex`: the connection mutex and every CRTC's and plane's lock
//!   ([`crate::drm_modeset_lock`]).
//! - `&dev->mode_config.panic_lock` (raw spinlock, `{2:2}`): innermost; only leaf work inside
//!   (the `plane->state` pointer swap), and nothing at all may be taken under it (R30).
//! - `&dev->event_lock` (spinlock, irq-safe): pending vblank events; taken in the vblank
//!   interrupt, so always with interrupts off elsewhere (R32).
//! - `&dev->vblank_time_lock` (spinlock, irq-safe): vblank counters and enable state, inside
//!   `&dev->event_lock` in the interrupt.
//! - `&dev->vbl_lock` (spinlock, irq-safe): vblank reference counts, outside
//!   `&dev->vblank_time_lock` (see [`crate::drm_vblank`]).
//!
//! # Annotations
//! The K11 priming in [`drmm_mode_config_init`]: `crtc_ww_class_acquire` →
//! `crtc_ww_class_mutex` (the connection mutex) → `&mm->mmap_lock` (`might_fault`) →
//! `reservation_ww_class_acquire` → `reservation_ww_class_mutex`.
//!
//! # Rules
//! R18 (modeset locks before user copies before resv), R19, R29/R30 (the panic lock),
//! R32 (irq-safe event and vblank locks).
//!
//! # Simplified
//! - A fixed pipeline: CRTC `i` drives plane `i` and connector `i`; no encoders, no
//!   properties, no mode objects beyond these, no hotplug of connectors.
//! - No `drmm` managed release: the configuration lives as long as its `Arc`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use lockdep::{LockClass, Mutex, RawSpinLock, RawSpinLockGuard, SpinLock};

use crate::dma_resv::{DmaResv, RESERVATION_WW_CLASS};
use crate::drm_connector::DrmConnector;
use crate::drm_crtc::DrmCrtc;
use crate::drm_drv::DrmDevice;
use crate::drm_modeset_lock::{DrmModesetAcquireCtx, DrmModesetLock};
use crate::drm_plane::DrmPlane;
use crate::drm_vblank::DrmVblankCrtc;
use crate::error::Errno;
use crate::mm::MmStruct;

static MODE_CONFIG_MUTEX: LockClass = LockClass::new("&dev->mode_config.mutex");
static PANIC_LOCK: LockClass = LockClass::new("&dev->mode_config.panic_lock");
static EVENT_LOCK: LockClass = LockClass::new("&dev->event_lock");
static VBLANK_TIME_LOCK: LockClass = LockClass::new("&dev->vblank_time_lock");
static VBL_LOCK: LockClass = LockClass::new("&dev->vbl_lock");

/// What the display driver does for the KMS core (the parts of `drm_crtc_funcs`,
/// `drm_crtc_helper_funcs` and `drm_plane_helper_funcs` the simulation calls).
///
/// Every method runs in the context the kernel calls it in, which its doc says; none may
/// take a modeset lock.
pub trait DrmKmsFuncs: Send + Sync {
    /// Starts the CRTC's vblank interrupt (`drm_crtc_funcs.enable_vblank`). Called under
    /// `&dev->vbl_lock` and `&dev->vblank_time_lock`, interrupts off: must not sleep.
    fn enable_vblank(&self, crtc: usize) -> crate::KResult;

    /// Stops the vblank interrupt (`drm_crtc_funcs.disable_vblank`). Called under
    /// `&dev->vbl_lock` and `&dev->vblank_time_lock`, interrupts off: must not sleep, and must
    /// not wait for the vblank handler, which takes `&dev->vblank_time_lock` (R34).
    fn disable_vblank(&self, crtc: usize);

    /// Programs the hardware for a plane's new state (`atomic_update`), in the commit tail's
    /// signalling section: no reclaiming allocation, no resv, no waits.
    fn atomic_update(&self, plane: &crate::drm_plane::DrmPlaneState);
}

/// Binds a display driver to its configuration: `driver` becomes the KMS hooks of `cfg`
/// (held weakly), and `teardown` runs on the driver when the device is unplugged, if the
/// driver is still alive then (the driver's remove path, `drm_atomic_helper_shutdown`).
pub fn register_kms_driver<D>(cfg: &DrmModeConfig, driver: &Arc<D>, teardown: fn(&D))
where
    D: DrmKmsFuncs + 'static,
{
    cfg.set_funcs(Arc::downgrade(driver) as Weak<dyn DrmKmsFuncs>);
    let weak = Arc::downgrade(driver);
    cfg.dev.on_unplug(move |_| {
        if let Some(d) = weak.upgrade() {
            teardown(&d);
        }
    });
}

/// A device's KMS state (`struct drm_mode_config`, plus the `drm_device` locks KMS uses).
pub struct DrmModeConfig {
    dev: Arc<DrmDevice>,
    mutex: Mutex<()>,
    connection_mutex: DrmModesetLock,
    panic_lock: RawSpinLock<()>,
    event_lock: SpinLock<()>,
    vblank_time_lock: SpinLock<()>,
    vbl_lock: SpinLock<()>,
    crtcs: Vec<Arc<DrmCrtc>>,
    planes: Vec<Arc<DrmPlane>>,
    connectors: Vec<Arc<DrmConnector>>,
    /// Per-CRTC vblank state (`dev->vblank[]`), set once by `drm_vblank_init`.
    pub(crate) vblank: OnceLock<Box<[DrmVblankCrtc]>>,
    /// The driver's hooks; weak, as the driver owns this configuration.
    funcs: OnceLock<Weak<dyn DrmKmsFuncs>>,
    commits: AtomicU64,
    commits_done: AtomicU64,
    flips: AtomicU64,
}

impl DrmModeConfig {
    /// The device.
    pub fn dev(&self) -> &Arc<DrmDevice> {
        &self.dev
    }

    /// `&dev->mode_config.mutex`.
    pub fn mutex(&self) -> &Mutex<()> {
        &self.mutex
    }

    /// `&dev->mode_config.connection_mutex`: the lock of all connector state.
    pub fn connection_mutex(&self) -> &DrmModesetLock {
        &self.connection_mutex
    }

    /// `&dev->mode_config.panic_lock`: take it with [`drm_panic_lock`] / [`drm_panic_trylock`].
    pub fn panic_lock(&self) -> &RawSpinLock<()> {
        &self.panic_lock
    }

    /// `&dev->event_lock`: take it with `lock_irqsave`.
    pub fn event_lock(&self) -> &SpinLock<()> {
        &self.event_lock
    }

    /// `&dev->vblank_time_lock`: take it with `lock_irqsave` (or plain `lock` inside
    /// `&dev->event_lock`, which already disabled interrupts).
    pub fn vblank_time_lock(&self) -> &SpinLock<()> {
        &self.vblank_time_lock
    }

    /// `&dev->vbl_lock`: the vblank reference counts.
    pub fn vbl_lock(&self) -> &SpinLock<()> {
        &self.vbl_lock
    }

    /// The CRTCs, by index.
    pub fn crtcs(&self) -> &[Arc<DrmCrtc>] {
        &self.crtcs
    }

    /// The planes, by index (plane `i` is CRTC `i`'s primary plane).
    pub fn planes(&self) -> &[Arc<DrmPlane>] {
        &self.planes
    }

    /// The connectors, by index.
    pub fn connectors(&self) -> &[Arc<DrmConnector>] {
        &self.connectors
    }

    /// CRTC `i`'s vblank state, once [`crate::drm_vblank::drm_vblank_init`] ran.
    pub fn vblank(&self, crtc: usize) -> Option<&DrmVblankCrtc> {
        self.vblank.get().and_then(|v| v.get(crtc))
    }

    /// Installs the driver's hooks (once; later calls are ignored). The configuration keeps a
    /// weak reference: the driver owns the configuration, not the other way round.
    pub fn set_funcs(&self, funcs: Weak<dyn DrmKmsFuncs>) {
        let _ = self.funcs.set(funcs);
    }

    /// Commits that passed the point of no return (`swap_state`).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// Commits whose tail has finished (`cleanup_done`).
    pub fn commits_done(&self) -> u64 {
        self.commits_done.load(Ordering::Acquire)
    }

    /// Finished commits that changed what a plane shows and reached `flip_done`.
    pub fn flips(&self) -> u64 {
        self.flips.load(Ordering::Acquire)
    }

    pub(crate) fn count_commit(&self) {
        self.commits.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn count_commit_done(&self) {
        self.commits_done.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn count_flip(&self) {
        self.flips.fetch_add(1, Ordering::AcqRel);
    }

    /// The driver's hooks, while the driver is alive.
    pub fn funcs(&self) -> Option<Arc<dyn DrmKmsFuncs>> {
        self.funcs.get().and_then(Weak::upgrade)
    }
}

impl std::fmt::Debug for DrmModeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmModeConfig")
            .field("dev", &self.dev.name())
            .field("crtcs", &self.crtcs.len())
            .finish()
    }
}

/// Builds `dev`'s KMS objects, `crtcs` pipelines of CRTC, primary plane and connector
/// (`drmm_mode_config_init` plus the driver's object creation), and primes the KMS lock
/// order (K11): a modeset context takes the connection mutex, a user copy may fault, then a
/// resv is locked in its own ww context. After this, a resv held around a modeset lock, or a
/// user copy under resv inside a commit, is a reported cycle on its first occurrence.
pub fn drmm_mode_config_init(dev: &Arc<DrmDevice>, crtcs: usize) -> Arc<DrmModeConfig> {
    let cfg = Arc::new(DrmModeConfig {
        dev: dev.clone(),
        mutex: Mutex::with_class((), &MODE_CONFIG_MUTEX),
        connection_mutex: DrmModesetLock::new(),
        panic_lock: RawSpinLock::with_class((), &PANIC_LOCK),
        event_lock: SpinLock::with_class((), &EVENT_LOCK),
        vblank_time_lock: SpinLock::with_class((), &VBLANK_TIME_LOCK),
        vbl_lock: SpinLock::with_class((), &VBL_LOCK),
        crtcs: (0..crtcs).map(DrmCrtc::new).collect(),
        planes: (0..crtcs).map(|i| DrmPlane::new(i, i)).collect(),
        connectors: (0..crtcs).map(DrmConnector::new).collect(),
        vblank: OnceLock::new(),
        funcs: OnceLock::new(),
        commits: AtomicU64::new(0),
        commits_done: AtomicU64::new(0),
        flips: AtomicU64::new(0),
    });
    mode_config_lockdep(&cfg);
    cfg
}

/// The K11 priming block of `drmm_mode_config_init`, on this device's connection mutex and a
/// scratch mm and resv: "all drm kms ioctl rely on being able to put/get_user while holding
/// modeset locks", and resv comes after user copies (R9, R18).
fn mode_config_lockdep(cfg: &DrmModeConfig) {
    let mm = MmStruct::new();
    let resv = DmaResv::new();
    let mut ctx = DrmModesetAcquireCtx::init(0);
    if ctx.lock(&cfg.connection_mutex) == Err(Errno::Edeadlk) {
        // No other transaction can know this lock yet; kept for the kernel's shape.
        let _ = ctx.backoff();
    }
    mm.might_fault();
    let resv_ctx = lockdep::WwAcquireCtx::new(&RESERVATION_WW_CLASS);
    let g = match resv.lock(Some(&resv_ctx)) {
        Ok(g) => g,
        Err(_) => resv.lock_slow(&resv_ctx),
    };
    drop(g);
    drop(resv_ctx);
    ctx.drop_locks();
    ctx.fini();
}

/// The held panic lock (`drm_panic_unlock` on drop): the lock is released first, then the
/// interrupt state saved when it was taken comes back (`raw_spin_unlock_irqrestore`).
#[must_use = "the panic lock is released when this is dropped"]
pub struct DrmPanicGuard<'a> {
    _guard: RawSpinLockGuard<'a, ()>,
    _irqs: lockdep::ContextScope,
}

impl std::fmt::Debug for DrmPanicGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DrmPanicGuard")
    }
}

/// Takes the panic lock (`drm_panic_lock`, `raw_spin_lock_irqsave`): around every change of
/// state the panic handler reads. Hold it for as short as possible and take nothing inside
/// (R30): it is a raw spinlock, so even a `spinlock_t` under it is an invalid wait context.
#[track_caller]
pub fn drm_panic_lock(cfg: &DrmModeConfig) -> DrmPanicGuard<'_> {
    let irqs = lockdep::irqs_disabled();
    DrmPanicGuard {
        _guard: cfg.panic_lock.lock(),
        _irqs: irqs,
    }
}

/// Tries the panic lock (`drm_panic_trylock`, `raw_spin_trylock_irqsave`): the only lock the
/// panic handler may take (R29). `None` if another thread holds it: the handler must give up.
#[track_caller]
pub fn drm_panic_trylock(cfg: &DrmModeConfig) -> Option<DrmPanicGuard<'_>> {
    let irqs = lockdep::irqs_disabled();
    let guard = cfg.panic_lock.try_lock()?;
    Some(DrmPanicGuard {
        _guard: guard,
        _irqs: irqs,
    })
}
