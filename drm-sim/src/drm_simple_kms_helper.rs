//! `DrmSimpleDisplayPipe`: a one-CRTC, one-plane display of the tinydrm kind — a panel behind
//! a slow bus, no vblank interrupt, every update a copy of the framebuffer into the panel.
//! Mirrors drivers/gpu/drm/drm_simple_kms_helper.c, with a mipi-dbi style panel as its
//! driver (drivers/gpu/drm/drm_mipi_dbi.c).
//!
//! # Contract
//! - [`DrmSimpleDisplayPipe::new`] sets up the pipe on a device and registers its teardown
//!   ([`DrmSimpleDisplayPipe::fini`]) as the device's unplug hook.
//! - [`DrmSimpleDisplayPipe::update`] (a blocking or nonblocking atomic commit) shows a
//!   framebuffer: the pipe's `update` copies its pixels into the panel's memory
//!   ([`DrmSimpleDisplayPipe::panel_pixels`]) inside `drm_dev_enter`, in the commit tail.
//!   With no vblank the completion event is sent at once: `flip_done` and the out-fence
//!   come with `hw_done`.
//! - After unplug every update skips the panel (`drm_dev_enter` fails; counted in
//!   [`DrmSimpleDisplayPipe::skipped`]) and commits still complete; new updates are refused.
//!
//! # Locking
//! - As every atomic commit ([`crate::drm_atomic_helper`]).
//! - The panel transfer is a leaf: a `drm_dev_enter` section (`drm_unplug_srcu` read) in the
//!   signalling section, no lock, no wait, no allocation — only the hardware access is
//!   inside it, as the drm_dev_enter seed's rule has it.
//!
//! # Annotations
//! None of its own.
//!
//! # Rules
//! R20 (the update is in the signalling section), R26 (balanced `drm_dev_enter`), R28 (no
//! wait inside it).
//!
//! # Simplified
//! - No damage clipping, rotation or pixel-format conversion: the whole XRGB8888 image is
//!   copied; a framebuffer larger than the panel is cropped, a smaller one leaves the rest.
//! - The bus transfer is a memory copy.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use crate::drm_atomic_helper;
use crate::drm_drv::DrmDevice;
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_mode_config::{drmm_mode_config_init, register_kms_driver, DrmKmsFuncs, DrmModeConfig};
use crate::drm_plane::DrmPlaneState;
use crate::error::{Errno, KResult};
use crate::sync_file::SyncFile;

/// A simple display pipe and its panel (`struct drm_simple_display_pipe` with a
/// `struct mipi_dbi_dev`).
pub struct DrmSimpleDisplayPipe {
    dev: Arc<DrmDevice>,
    cfg: Arc<DrmModeConfig>,
    width: u32,
    height: u32,
    /// The panel's own memory (what the bus transfers wrote). Written only by the commit
    /// tail, one update at a time; the std mutex is held for the copy alone.
    panel: StdMutex<Vec<u32>>,
    updates: AtomicU64,
    skipped: AtomicU64,
    finished: AtomicBool,
}

impl DrmSimpleDisplayPipe {
    /// A pipe driving a `width` x `height` panel on `dev` (`drm_simple_display_pipe_init`).
    ///
    /// # Errors
    /// `Enodev` if the device is unplugged; `Einval` for a zero-sized panel.
    #[doc(alias = "drm_simple_display_pipe_init")]
    pub fn new(dev: &Arc<DrmDevice>, width: u32, height: u32) -> KResult<Arc<DrmSimpleDisplayPipe>> {
        if dev.is_unplugged() {
            return Err(Errno::Enodev);
        }
        if width == 0 || height == 0 {
            return Err(Errno::Einval);
        }
        let pipe = Arc::new(DrmSimpleDisplayPipe {
            dev: dev.clone(),
            cfg: drmm_mode_config_init(dev, 1),
            width,
            height,
            panel: StdMutex::new(vec![0; width as usize * height as usize]),
            updates: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        });
        register_kms_driver(&pipe.cfg, &pipe, DrmSimpleDisplayPipe::fini);
        Ok(pipe)
    }

    /// The device.
    pub fn dev(&self) -> &Arc<DrmDevice> {
        &self.dev
    }

    /// Its KMS objects (one CRTC, plane and connector).
    pub fn mode_config(&self) -> &Arc<DrmModeConfig> {
        &self.cfg
    }

    /// A framebuffer the size of the panel.
    ///
    /// # Errors
    /// `Enodev` after unplug; `Enomem`.
    pub fn create_fb(&self) -> KResult<Arc<DrmFramebuffer>> {
        DrmFramebuffer::create_dumb(&self.dev, self.width, self.height)
    }

    /// Shows `fb` (an atomic page flip on the pipe): blocking or `nonblock`, with an
    /// out-fence if `out_fence`.
    ///
    /// # Errors
    /// `Enodev` once finished or unplugged; `Ebusy` for a nonblocking update over an
    /// unfinished one.
    #[track_caller]
    pub fn update(
        &self,
        fb: Arc<DrmFramebuffer>,
        nonblock: bool,
        out_fence: bool,
    ) -> KResult<Option<Arc<SyncFile>>> {
        drm_atomic_helper::page_flip_unless(&self.cfg, 0, fb, nonblock, out_fence, || {
            self.finished.load(Ordering::Acquire)
        })
    }

    /// What the panel shows, row by row.
    pub fn panel_pixels(&self) -> Vec<u32> {
        self.panel.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Updates that reached the panel.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::Acquire)
    }

    /// Updates that found the device gone and skipped the panel.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Acquire)
    }

    /// Whether [`fini`](Self::fini) ran.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Tears the pipe down: refuses new updates, waits for those in flight, turns it off
    /// (`drm_atomic_helper_shutdown`, which unpins the framebuffer). Also the unplug hook; the
    /// second call does nothing.
    #[track_caller]
    pub fn fini(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        drm_atomic_helper::wait_idle(&self.cfg);
        let _ = drm_atomic_helper::shutdown(&self.cfg);
    }

    /// The bus transfer (`mipi_dbi_fb_dirty`): the framebuffer's pixels, read through its
    /// scan-out mapping, into the panel.
    fn flush(&self, fb: &DrmFramebuffer) {
        let Some(map) = fb.vmap() else { return };
        let (w, h) = (
            fb.width().min(self.width) as usize,
            fb.height().min(self.height) as usize,
        );
        let mut line = vec![0u8; w * 4];
        let mut panel = self.panel.lock().unwrap_or_else(|e| e.into_inner());
        for y in 0..h {
            if map.read(y * fb.pitch(), &mut line).is_err() {
                return;
            }
            for (x, px) in line.chunks_exact(4).enumerate() {
                panel[y * self.width as usize + x] = u32::from_le_bytes([px[0], px[1], px[2], px[3]]);
            }
        }
    }
}

impl DrmKmsFuncs for DrmSimpleDisplayPipe {
    /// No vblank interrupt: the helpers send each event at once.
    fn enable_vblank(&self, _crtc: usize) -> KResult {
        Err(Errno::Einval)
    }

    fn disable_vblank(&self, _crtc: usize) {}

    /// `drm_simple_display_pipe_funcs.update`: transfer the new frame inside
    /// `drm_dev_enter`, or skip it once the device is gone.
    fn atomic_update(&self, plane: &DrmPlaneState) {
        let Some(fb) = &plane.fb else { return };
        match self.dev.enter() {
            Some(_hw) => {
                self.flush(fb);
                self.updates.fetch_add(1, Ordering::AcqRel);
            }
            None => {
                self.skipped.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

impl Drop for DrmSimpleDisplayPipe {
    fn drop(&mut self) {
        self.fini();
    }
}

impl std::fmt::Debug for DrmSimpleDisplayPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmSimpleDisplayPipe")
            .field("dev", &self.dev.name())
            .field("updates", &self.updates())
            .field("skipped", &self.skipped())
            .finish()
    }
}
