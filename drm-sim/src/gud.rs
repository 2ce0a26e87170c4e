//! `GudDevice`: a USB display (tinydrm-style) whose frames reach the panel through a flush
//! worker, and its disconnect. Mirrors drivers/gpu/drm/gud/gud_drv.c (`gud_disconnect`) and
//! gud_pipe.c (`gud_flush_work`, `gud_fb_handle_damage`) on top of [`SimDisplay`].
//!
//! # Contract
//! - [`GudDevice::probe`] sets up a one-pipe [`SimDisplay`] on the device and the flush work.
//! - [`GudDevice::dirty`] (a page flip's or `DIRTYFB`'s damage) records the framebuffer to
//!   send and queues the flush worker, which reads the pixels (process context, under the
//!   buffer's resv) and then pushes them over the bus inside `drm_dev_enter`: the section
//!   marks the hardware access only. After the unplug the section cannot be entered and the
//!   flush is skipped; a transfer that finds the device gone (the bus reads all-ones) is
//!   abandoned, leaving the unplug to the disconnect.
//! - [`GudDevice::disconnect`] is the USB core's disconnect callback (`gud_disconnect`):
//!   `drm_dev_unplug` (which waits for a transfer in flight, and whose hooks finish the
//!   display: its last commit's hardware access skipped), then the flush work cancelled.
//!   Framebuffers user space still holds stay valid.
//!
//! # Locking
//! - `(work_completion)(&gdrm->work)`: the flush work (`cancel_work_sync` in disconnect).
//! - The damage slot is the driver's `damage_lock` (spinlock): a leaf, taken in process
//!   context only.
//!
//! # Annotations
//! The bus transfer writes registers through the MMIO accessors, which assert the section.
//!
//! # Rules
//! R26–R28, §3.4. The injected bug `unplug-in-dev-enter` (R27) makes the flush worker unplug
//! the device itself, from inside its section, when the transfer fails.
//!
//! # Simplified
//! No USB: the "bus" is the device's registers (a transfer writes a checksum of the frame and
//! its size), no compression, no damage clipping (the whole frame is sent), one pipe.

use crate::bugs::Bug;
use crate::drm_drv::DrmDevice;
use crate::drm_framebuffer::DrmFramebuffer;
use crate::error::KResult;
use crate::sim_display::SimDisplay;
use crate::sim_driver::REG_STATUS;
use crate::wait::WaitQueueHead;
use crate::workqueue::{system_wq, Work};
use lockdep::{LockClass, SpinLock};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

static DAMAGE_LOCK: LockClass = LockClass::new("&gdrm->damage_lock");
static FLUSHED_WQ: LockClass = LockClass::new("&gdrm->flushed_wq");

/// The register a transfer writes the frame's checksum to.
pub const REG_FRAME_SUM: usize = 0x40;
/// The register a transfer writes the frame's pixel count to.
pub const REG_FRAME_LEN: usize = 0x41;

/// A USB display.
pub struct GudDevice {
    display: Arc<SimDisplay>,
    damage: SpinLock<Option<Arc<DrmFramebuffer>>>,
    work: Arc<Work>,
    flushed: AtomicU64,
    /// Woken by every frame sent (for [`GudDevice::wait_flushed`]).
    flushed_wq: WaitQueueHead,
    skipped: AtomicU64,
    failed: AtomicU64,
}

impl GudDevice {
    /// Probes the display on `dev` (`gud_probe`).
    ///
    /// # Errors
    /// What setting up the display returns.
    pub fn probe(dev: &Arc<DrmDevice>) -> KResult<Arc<GudDevice>> {
        let display = SimDisplay::new(dev, 1)?;
        Ok(Arc::new_cyclic(|me: &Weak<GudDevice>| {
            let me = me.clone();
            GudDevice {
                display,
                damage: SpinLock::with_class(None, &DAMAGE_LOCK),
                work: Work::new("(work_completion)(&gdrm->work)", move || {
                    if let Some(g) = me.upgrade() {
                        g.flush_work();
                    }
                }),
                flushed: AtomicU64::new(0),
                flushed_wq: WaitQueueHead::new(&FLUSHED_WQ),
                skipped: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }
        }))
    }

    /// Its display.
    pub fn display(&self) -> &Arc<SimDisplay> {
        &self.display
    }

    /// Records `fb` as damaged and queues the flush (`gud_fb_handle_damage`).
    pub fn dirty(&self, fb: &Arc<DrmFramebuffer>) {
        *self.damage.lock() = Some(fb.clone());
        system_wq().queue_work(&self.work);
    }

    /// Waits for a queued or running flush (`flush_work`).
    pub fn flush(&self) {
        self.work.flush_work();
    }

    /// Frames sent to the panel.
    pub fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` until `n` frames in all were sent; whether they were.
    pub fn wait_flushed(&self, n: u64, timeout: std::time::Duration) -> bool {
        self.flushed_wq
            .wait_event_timeout(|| self.flushed() >= n, timeout)
    }

    /// Flushes skipped because the device was unplugged (`drm_dev_enter` failed).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Transfers abandoned because the device no longer answered.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// `gud_flush_work`: read the damaged frame, then send it inside `drm_dev_enter`.
    fn flush_work(&self) {
        let Some(fb) = self.damage.lock().take() else {
            return;
        };
        // Reading the pixels takes the buffer's resv: outside the section, which marks only
        // the bus transfer.
        let Ok(pixels) = fb.pixels() else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let sum = pixels.iter().fold(0u32, |a, p| a.rotate_left(5) ^ p);
        let dev = self.display.dev();
        let Some(enter) = dev.enter() else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        dev.mmio_write(REG_FRAME_LEN, pixels.len() as u32);
        dev.mmio_write(REG_FRAME_SUM, sum);
        if dev.mmio_read(REG_STATUS) != u32::MAX {
            drop(enter);
            self.flushed.fetch_add(1, Ordering::Relaxed);
            self.flushed_wq.wake_up_all();
            return;
        }
        // The transfer failed: the device is gone (-EPIPE from the USB stack).
        self.failed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(dev = dev.name(), "USB transfer failed: device gone");
        if dev.bugs().has(Bug::UnplugInDevEnter) {
            dev.unplug();
        }
        drop(enter);
    }

    /// The USB core's disconnect callback (`gud_disconnect`): unplug (waits for a transfer in
    /// flight; the display is finished by its unplug hook), then stop the flush work.
    pub fn disconnect(&self) {
        let dev = self.display.dev();
        tracing::info!(dev = dev.name(), "USB disconnect");
        dev.unplug();
        self.display.fini();
        self.work.cancel_work_sync();
    }
}

impl std::fmt::Debug for GudDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GudDevice")
            .field("dev", &self.display.dev().name())
            .field("flushed", &self.flushed())
            .finish()
    }
}
