//! `DrmFbHelper`: the fbdev emulation on top of a DRM client, as fbcon drives it. Mirrors
//! drivers/gpu/drm/drm_fb_helper.c (`drm_fb_helper_pan_display`, `pan_display_legacy`,
//! `drm_fb_helper_set_par`, `drm_fb_helper_restore_fbdev_mode_unlocked`,
//! `drm_fb_helper_set_suspend_unlocked`).
//!
//! # Contract
//! - The emulated framebuffer device is a virtual screen twice the display's height: two
//!   framebuffers, front and back. [`DrmFbHelper::pan_display`] with `y = 0` or `y = height`
//!   shows one or the other on every CRTC (fbcon's and user space's double buffering);
//!   any other offset is `-EINVAL`.
//! - The fbdev emulation only touches the display while no file is DRM master (a compositor
//!   owns it otherwise): panning then fails with `-EBUSY` and changes nothing.
//! - [`DrmFbHelper::new`] is probe (`drm_fbdev_client_setup` -> `initial_config`): it makes
//!   the framebuffers, registers the framebuffer device (fbcon takes over the console,
//!   allocating under `console_lock`) and sets the mode as fbcon's `fb_set_par` does.
//! - After the display is torn down or its device unplugged, panning and mode restores fail
//!   with `-ENODEV` (the fbdev device may outlive the DRM device; fbcon may still call in).
//! - [`DrmFbHelper::set_suspend_unlocked`] suspends or resumes the fbdev console; it is what
//!   a driver's system-suspend path calls, never its GPU reset (S6).
//!
//! # Locking
//! The kernel's fixed order (R19, S22, S23), every entry point taking a prefix of it:
//! `console_lock` (fbcon calls in with it held) -> `&helper->lock` -> `&dev->master_mutex`
//! -> `&client->modeset_mutex` -> `&dev->mode_config.mutex` -> `crtc_ww_class_acquire` ->
//! `crtc_ww_class_mutex`, then what the commit takes (`reservation_ww_class_mutex` to pin the
//! framebuffer).
//!
//! # Annotations
//! None of its own.
//!
//! # Rules
//! R19; the `pan-display-reversed` injected bug takes the modeset locks before
//! `&client->modeset_mutex` (the order "drm: Reverse lock order in pan_display_legacy()"
//! fixed).
//!
//! # Simplified
//! - Panning is the legacy path (`pan_display_legacy`: `drm_modeset_lock_all` under the
//!   client mutex) on every device; plane states have no source offsets, so panning by a
//!   screen flips between the two framebuffers.
//! - No fb_info, no var/fix screen info, no deferred I/O or damage worker, no hotplug.

use crate::bugs::Bug;
use crate::console::{self, ConsoleGuard};
use crate::drm_auth::dev_master;
use crate::drm_client::{ClientModesets, DrmClientDev};
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_modeset_lock::with_modeset_locks;
use crate::error::{Errno, KResult};
use crate::sim_display::SimDisplay;
use lockdep::{LockClass, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

static HELPER_LOCK: LockClass = LockClass::new("&helper->lock");

/// Size of the emulated screen when the caller does not choose.
pub const DEFAULT_SIZE: (u32, u32) = (64, 32);

/// What `&helper->lock` guards: the current pan offset.
#[derive(Debug, Default)]
struct HelperState {
    yoffset: u32,
}

/// The fbdev emulation of one display (`struct drm_fb_helper`).
pub struct DrmFbHelper {
    display: Arc<SimDisplay>,
    client: Arc<DrmClientDev>,
    lock: Mutex<HelperState>,
    /// Front (`yoffset = 0`) and back (`yoffset = height`) halves of the virtual screen.
    fbs: [Arc<DrmFramebuffer>; 2],
    width: u32,
    height: u32,
    pans: AtomicU64,
}

impl DrmFbHelper {
    /// Sets up fbdev emulation on `display` with a [`DEFAULT_SIZE`] screen.
    ///
    /// # Errors
    /// As [`with_size`](Self::with_size).
    #[track_caller]
    pub fn new(display: &Arc<SimDisplay>) -> KResult<Arc<DrmFbHelper>> {
        Self::with_size(display, DEFAULT_SIZE.0, DEFAULT_SIZE.1)
    }

    /// Sets up fbdev emulation on `display` with a `width` x `height` screen: the
    /// framebuffers, the client (registered on the device), the framebuffer device (fbcon
    /// takes over the console) and the first mode set (`fb_set_par`).
    ///
    /// # Errors
    /// `Enomem` making the framebuffers or the console; what the first commit returns.
    #[track_caller]
    pub fn with_size(display: &Arc<SimDisplay>, width: u32, height: u32) -> KResult<Arc<DrmFbHelper>> {
        let fbs = [
            display.create_fb(width, height)?,
            display.create_fb(width, height)?,
        ];
        let client = DrmClientDev::new("fbdev", display.mode_config());
        let helper = Arc::new(DrmFbHelper {
            display: display.clone(),
            client: client.clone(),
            lock: Mutex::with_class(HelperState::default(), &HELPER_LOCK),
            fbs,
            width,
            height,
            pans: AtomicU64::new(0),
        });
        {
            // initial_config: the client's mode sets, probed under the helper lock.
            let _helper = helper.lock.lock();
            let mut modesets = client.lock_modesets();
            for fb in modesets.fbs.iter_mut() {
                *fb = Some(helper.fbs[0].clone());
            }
        }
        let weak: Weak<DrmFbHelper> = Arc::downgrade(&helper);
        client.set_suspend_hook(move |suspend| {
            if let Some(h) = weak.upgrade() {
                let _ = h.set_suspend_unlocked(suspend);
            }
        });
        client.register();
        // register_framebuffer: fbcon binds a console to it, 8x8 character cells.
        console::take_over_console(width / 8, height / 8)?;
        helper.set_par()?;
        Ok(helper)
    }

    /// fbcon's `fb_set_par` (`drm_fb_helper_set_par`): with `console_lock` held, restores the
    /// fbdev mode.
    ///
    /// # Errors
    /// As [`restore_fbdev_mode_unlocked`](Self::restore_fbdev_mode_unlocked).
    #[doc(alias = "drm_fb_helper_set_par")]
    #[track_caller]
    pub fn set_par(&self) -> KResult {
        let _console = console::console_lock();
        self.restore_fbdev_mode_unlocked()
    }

    /// Commits the client's mode sets (`drm_fb_helper_restore_fbdev_mode_unlocked`):
    /// `&helper->lock`, `&dev->master_mutex` (only while no file is master), then
    /// `drm_client_modeset_commit` (`&client->modeset_mutex` and the modeset locks).
    ///
    /// # Errors
    /// `Ebusy` while a file is master; `Enodev` after unplug; what the commit returns.
    #[doc(alias = "drm_fb_helper_restore_fbdev_mode_unlocked")]
    #[track_caller]
    pub fn restore_fbdev_mode_unlocked(&self) -> KResult {
        let _helper = self.lock.lock();
        self.check_present()?;
        let master = dev_master(self.display.mode_config().dev());
        let Some(_master) = master.internal_acquire() else {
            return Err(Errno::Ebusy);
        };
        self.client.modeset_commit()
    }

    /// Pans the virtual screen to (`x`, `y`) (`fb_pan_display`, called by fbcon and the
    /// `FBIOPAN_DISPLAY` ioctl with `console_lock` held, which it takes here as that caller):
    /// `&helper->lock`, `&dev->master_mutex`, then `pan_display_legacy`.
    ///
    /// # Errors
    /// `Einval` for an offset other than `(0, 0)` and `(0, height)`; `Ebusy` while a file is
    /// DRM master; `Enodev` once the display is torn down or unplugged; what the commit
    /// returns.
    #[doc(alias = "drm_fb_helper_pan_display")]
    #[track_caller]
    pub fn pan_display(&self, x: u32, y: u32) -> KResult {
        if x != 0 || (y != 0 && y != self.height) {
            return Err(Errno::Einval);
        }
        let console = console::console_lock();
        self.pan_display_locked(&console, y)
    }

    #[track_caller]
    fn pan_display_locked(&self, _console: &ConsoleGuard, y: u32) -> KResult {
        let mut helper = self.lock.lock();
        self.check_present()?;
        let master = dev_master(self.display.mode_config().dev());
        let Some(_master) = master.internal_acquire() else {
            return Err(Errno::Ebusy);
        };
        let fb = self.fbs[(y / self.height) as usize].clone();
        self.pan_display_legacy(&fb)?;
        helper.yoffset = y;
        self.pans.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `pan_display_legacy`: the client's mode sets point at `fb`, then
    /// `drm_client_modeset_commit_locked` under `drm_modeset_lock_all` (`&dev->mode_config.mutex`
    /// and every modeset lock), all inside `&client->modeset_mutex`. With
    /// `pan-display-reversed` the client mutex is taken last, inside the modeset locks.
    #[track_caller]
    fn pan_display_legacy(&self, fb: &Arc<DrmFramebuffer>) -> KResult {
        let cfg = self.display.mode_config();
        let set = |modesets: &mut ClientModesets| {
            for slot in modesets.fbs.iter_mut() {
                *slot = Some(fb.clone());
            }
        };
        if cfg.dev().bugs().has(Bug::PanDisplayReversed) {
            let _mode_config = cfg.mutex().lock();
            return with_modeset_locks(cfg, |ctx| {
                let mut modesets = self.client.lock_modesets();
                set(&mut modesets);
                self.client.modeset_commit_locked(&modesets, ctx)
            });
        }
        let mut modesets = self.client.lock_modesets();
        set(&mut modesets);
        let _mode_config = cfg.mutex().lock();
        with_modeset_locks(cfg, |ctx| self.client.modeset_commit_locked(&modesets, ctx))
    }

    /// `Enodev` once the display is torn down or its device unplugged: the fbdev device
    /// outlives the DRM device (fbcon may still call in), but nothing reaches the hardware.
    fn check_present(&self) -> KResult {
        if self.display.is_finished() || self.display.dev().is_unplugged() {
            return Err(Errno::Enodev);
        }
        Ok(())
    }

    /// Suspends or resumes the fbdev console (`drm_fb_helper_set_suspend_unlocked`):
    /// `console_lock`, then `fb_set_suspend` (a resume redraws, allocating under the lock).
    ///
    /// # Errors
    /// `Enomem` from the console's resume.
    #[doc(alias = "drm_fb_helper_set_suspend_unlocked")]
    #[track_caller]
    pub fn set_suspend_unlocked(&self, suspend: bool) -> KResult {
        let console = console::console_lock();
        console::fb_set_suspend(&console, suspend)
    }

    /// The client.
    pub fn client(&self) -> &Arc<DrmClientDev> {
        &self.client
    }

    /// The framebuffer shown at `yoffset` 0 (`0`) or `height` (`1`).
    pub fn fb(&self, half: usize) -> &Arc<DrmFramebuffer> {
        &self.fbs[half]
    }

    /// The visible size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The current pan offset.
    pub fn yoffset(&self) -> u32 {
        self.lock.lock().yoffset
    }

    /// Successful pans.
    pub fn pans(&self) -> u64 {
        self.pans.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for DrmFbHelper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmFbHelper")
            .field("size", &(self.width, self.height))
            .field("pans", &self.pans())
            .finish()
    }
}
