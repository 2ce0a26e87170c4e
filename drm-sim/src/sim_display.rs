//! `SimDisplay`: the simulated display driver, a vkms-like device with one vblank hrtimer per
//! CRTC. No single kernel counterpart: modelled on drivers/gpu/drm/vkms/vkms_crtc.c and
//! vkms_drv.c.
//!
//! # Contract
//! - [`SimDisplay::new`] sets up `n` pipelines (CRTC, primary plane, connector) on a device,
//!   with vblank support whose "interrupt" is an hrtimer per CRTC at the display's refresh
//!   rate, running on the device's clock (a manual clock makes every vblank a test's
//!   decision).
//! - [`SimDisplay::page_flip`] is a full atomic commit from a user thread: blocking (returns
//!   once the frame is on screen) or nonblocking (returns after the swap; `EBUSY` while the
//!   previous flip on that CRTC has not completed), optionally with an out-fence that signals
//!   exactly when the flip completes. The first flip on a CRTC turns it on (a modeset).
//! - [`SimDisplay::fini`] (also run when the device is unplugged, and on drop) refuses new
//!   flips, waits for those in flight, shuts the pipelines down with a last commit (which
//!   unpins every framebuffer), stops the vblank timers with `hrtimer_cancel` and the
//!   vblank disable timers. Callable from any thread, several times.
//! - After unplug, plane updates skip the hardware (their `drm_dev_enter` fails) and every
//!   commit still completes.
//!
//! # Locking
//! - `(&vkms_out->vblank_hrtimer)`: each CRTC's vblank timer (a pseudo-lock, see
//!   [`crate::hrtimer`]); its callback takes `&dev->event_lock` then `&dev->vblank_time_lock`.
//! - `disable_vblank` runs under `&dev->vbl_lock` and `&dev->vblank_time_lock`, so it only
//!   tries to cancel the timer (`hrtimer_try_to_cancel`, as vkms does since the fix for A1);
//!   the callback sees the vblank disabled and stops itself.
//! - Plane updates write the "scan-out address" registers inside `drm_dev_enter`, in the
//!   commit tail's signalling section: a leaf (`drm_unplug_srcu` read, no lock).
//!
//! # Annotations
//! The vblank callback is in hard-irq context, and `drm_crtc_handle_vblank` opens the
//! signalling section vkms's annotation puts there.
//!
//! # Rules
//! R4, R20, R21 (via the helpers), R32 (the vblank locks in hard-irq context), R34 (no
//! `hrtimer_cancel` under `&dev->vblank_time_lock`).
//!
//! # Simplified
//! - No composer: planes are not blended into an output buffer; the framebuffer shown is
//!   the scan-out memory itself.
//! - The injected `hrtimer-cancel-under-vblank-lock` records the wait of `hrtimer_cancel`
//!   (the pseudo-lock acquisition lockdep sees) and then only tries to cancel: really waiting
//!   there is the hard lockup of A1, which would stop the run instead of reporting it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::bugs::Bug;
use crate::drm_atomic_helper;
use crate::drm_drv::DrmDevice;
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_mode_config::{drmm_mode_config_init, register_kms_driver, DrmKmsFuncs, DrmModeConfig};
use crate::drm_plane::DrmPlaneState;
use crate::drm_vblank::{self, drm_vblank_cleanup, drm_vblank_init, handle_vblank};
use crate::error::{Errno, KResult};
use crate::hrtimer::{Hrtimer, HrtimerRestart};
use crate::sync_file::SyncFile;

/// The vkms refresh rate (60 Hz).
pub const DEFAULT_PERIOD: Duration = Duration::from_nanos(16_666_667);

/// The first of the per-plane "scan-out address" registers.
pub const REG_SCANOUT: usize = 16;

/// A vkms-like display device (`struct vkms_device`).
pub struct SimDisplay {
    dev: Arc<DrmDevice>,
    cfg: Arc<DrmModeConfig>,
    /// One vblank timer per CRTC (`vkms_output.vblank_hrtimer`).
    timers: Vec<Arc<Hrtimer>>,
    period: Duration,
    finished: AtomicBool,
}

impl SimDisplay {
    /// A display with `crtcs` pipelines on `dev`, refreshing at 60 Hz.
    ///
    /// # Errors
    /// `Enodev` if the device is unplugged; `Einval` for no CRTC.
    pub fn new(dev: &Arc<DrmDevice>, crtcs: usize) -> KResult<Arc<SimDisplay>> {
        Self::with_period(dev, crtcs, DEFAULT_PERIOD)
    }

    /// A display whose vblanks come every `period` (of the device's clock).
    ///
    /// # Errors
    /// As [`new`](Self::new), and `Einval` for a zero period.
    pub fn with_period(dev: &Arc<DrmDevice>, crtcs: usize, period: Duration) -> KResult<Arc<SimDisplay>> {
        if dev.is_unplugged() {
            return Err(Errno::Enodev);
        }
        if crtcs == 0 || period.is_zero() {
            return Err(Errno::Einval);
        }
        let cfg = drmm_mode_config_init(dev, crtcs);
        drm_vblank_init(&cfg)?;
        let clock = dev.clock();
        let timers = (0..crtcs)
            .map(|crtc| {
                let weak = Arc::downgrade(&cfg);
                // vkms_vblank_simulate
                Hrtimer::new("(&vkms_out->vblank_hrtimer)", &clock, move |t| {
                    let Some(cfg) = weak.upgrade() else {
                        return HrtimerRestart::NoRestart;
                    };
                    t.forward(period);
                    if handle_vblank(&cfg, crtc) {
                        HrtimerRestart::Restart
                    } else {
                        HrtimerRestart::NoRestart
                    }
                })
            })
            .collect();
        let display = Arc::new(SimDisplay {
            dev: dev.clone(),
            cfg,
            timers,
            period,
            finished: AtomicBool::new(false),
        });
        register_kms_driver(&display.cfg, &display, SimDisplay::fini);
        Ok(display)
    }

    /// The device.
    pub fn dev(&self) -> &Arc<DrmDevice> {
        &self.dev
    }

    /// Its KMS objects and locks.
    pub fn mode_config(&self) -> &Arc<DrmModeConfig> {
        &self.cfg
    }

    /// The vblank period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// CRTC `crtc`'s vblank timer.
    pub fn vblank_timer(&self, crtc: usize) -> Option<&Arc<Hrtimer>> {
        self.timers.get(crtc)
    }

    /// A `width` x `height` framebuffer on a new shmem object of the device
    /// ([`DrmFramebuffer::create_dumb`]).
    ///
    /// # Errors
    /// `Enodev` after unplug; `Einval` for a zero size; `Enomem`.
    pub fn create_fb(&self, width: u32, height: u32) -> KResult<Arc<DrmFramebuffer>> {
        DrmFramebuffer::create_dumb(&self.dev, width, height)
    }

    /// Shows `fb` on `plane` ([`drm_atomic_helper::page_flip`]): blocking or `nonblock`, with
    /// an out-fence if `out_fence`. The first flip on a CRTC turns it on.
    ///
    /// # Errors
    /// `Enodev` once the display is finished or unplugged; `Ebusy` for a nonblocking flip
    /// while the previous one on that CRTC has not completed; `Einval` for an unknown plane.
    #[track_caller]
    pub fn page_flip(
        &self,
        plane: usize,
        fb: Arc<DrmFramebuffer>,
        nonblock: bool,
        out_fence: bool,
    ) -> KResult<Option<Arc<SyncFile>>> {
        drm_atomic_helper::page_flip_unless(&self.cfg, plane, fb, nonblock, out_fence, || {
            self.finished.load(Ordering::Acquire)
        })
    }

    /// Turns every pipeline off ([`drm_atomic_helper::shutdown`]).
    ///
    /// # Errors
    /// None expected (a shutdown commit is blocking and valid).
    #[track_caller]
    pub fn shutdown(&self) -> KResult {
        drm_atomic_helper::shutdown(&self.cfg)
    }

    /// Waits until no commit is in flight ([`drm_atomic_helper::wait_idle`]).
    #[track_caller]
    pub fn wait_idle(&self) {
        drm_atomic_helper::wait_idle(&self.cfg);
    }

    /// Atomic commits that took effect.
    pub fn commits(&self) -> u64 {
        self.cfg.commits()
    }

    /// Completed commits that changed what a plane shows.
    pub fn flips(&self) -> u64 {
        self.cfg.flips()
    }

    /// Vblank interrupts handled, all CRTCs.
    pub fn vblanks(&self) -> u64 {
        drm_vblank::vblank_total(&self.cfg)
    }

    /// Whether [`fini`](Self::fini) ran.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Tears the display down (see the module documentation); the second call does nothing.
    #[track_caller]
    pub fn fini(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        self.wait_idle();
        let _ = self.shutdown();
        for t in &self.timers {
            t.cancel();
        }
        drm_vblank_cleanup(&self.cfg);
    }
}

impl DrmKmsFuncs for SimDisplay {
    /// `vkms_enable_vblank`: start the timer.
    fn enable_vblank(&self, crtc: usize) -> KResult {
        let t = self.timers.get(crtc).ok_or(Errno::Einval)?;
        t.start(self.period);
        Ok(())
    }

    /// `vkms_disable_vblank`: only try to cancel; we hold `&dev->vblank_time_lock`.
    fn disable_vblank(&self, crtc: usize) {
        let Some(t) = self.timers.get(crtc) else { return };
        if self.dev.bugs().has(Bug::HrtimerCancelUnderVblankLock) {
            // The injected bug, vkms before the A1 fix: hrtimer_cancel here (see # Simplified).
            t.might_cancel();
        }
        let _ = t.try_to_cancel();
    }

    /// Writes the plane's framebuffer id to its scan-out register, if the device is there.
    fn atomic_update(&self, plane: &DrmPlaneState) {
        if let Some(_hw) = self.dev.enter() {
            let id = plane.fb.as_ref().map_or(0, |fb| fb.id());
            self.dev.mmio_write(REG_SCANOUT + plane.plane, id);
        }
    }
}

impl Drop for SimDisplay {
    fn drop(&mut self) {
        self.fini();
    }
}

impl std::fmt::Debug for SimDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDisplay")
            .field("dev", &self.dev.name())
            .field("crtcs", &self.cfg.crtcs().len())
            .field("commits", &self.commits())
            .field("flips", &self.flips())
            .field("vblanks", &self.vblanks())
            .finish()
    }
}
