//! `DrmFramebuffer`: a GEM buffer described as an image the display can scan out. Mirrors
//! drivers/gpu/drm/drm_framebuffer.c (with the pin/vmap of drm_gem_framebuffer_helper.c and
//! drm_gem_atomic_helper.c).
//!
//! # Contract
//! - A framebuffer is `width` x `height` pixels of XRGB8888 (one little-endian `u32` each,
//!   `pitch = width * 4`) at the start of one GEM object, which must be large enough.
//! - While a plane state that shows it is installed the framebuffer is pinned and mapped:
//!   `prepare_fb` ([`DrmFramebuffer::prepare_fb`]) pins its object and maps it under the
//!   object's resv before the state is installed, `cleanup_fb` undoes it after the state was
//!   replaced. Pins count: a framebuffer shown by two states in a row is pinned twice.
//! - The pixels are the object's real bytes: what [`DrmFramebuffer::write_pixel`] writes is
//!   in the GEM object's pages (a mapping of it elsewhere, a dma-buf import, sees it), and
//!   while pinned, reading and writing go through the mapping alone, with no lock: the
//!   panic handler draws this way.
//!
//! # Locking
//! - `reservation_ww_class_mutex`: `prepare_fb`/`cleanup_fb` take the object's resv without a
//!   context (`drm_gem_pin`, `drm_gem_vmap_unlocked`), under modeset locks (R18) or in the
//!   commit worker after `hw_done`; never inside a signalling section (R20).
//! - Pixel access to an unpinned framebuffer maps it for the access, which takes the resv:
//!   process context only.
//!
//! # Annotations
//! None of its own; the shmem helpers assert the resv is held (R17).
//!
//! # Rules
//! R17 (pin and vmap under resv), R18, R20.
//!
//! # Simplified
//! - One format (XRGB8888), one plane, no modifiers; no framebuffer ids or per-file lists.
//! - The mapping is kept behind a std mutex held for a copy of the mapping handle (the
//!   kernel keeps a plain pointer in the shadow-plane state); it is invisible to the
//!   validator and never held across anything that blocks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use crate::dma_resv::DmaResvGuard;
use crate::drm_drv::DrmDevice;
use crate::drm_gem::DrmGemObject;
use crate::drm_gem_shmem_helper::{DrmGemShmemObject, IosysMap};
use crate::error::{Errno, KResult};

/// Bytes per XRGB8888 pixel.
pub const BYTES_PER_PIXEL: usize = 4;

/// Bytes of a `width` x `height` image; `Einval` if zero or too large.
fn image_size(width: u32, height: u32) -> KResult<usize> {
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(BYTES_PER_PIXEL))
        .filter(|&n| n > 0)
        .ok_or(Errno::Einval)
}

/// The pin count and the mapping it keeps alive.
#[derive(Default)]
struct Scanout {
    pins: u32,
    map: Option<IosysMap>,
}

/// A scan-out image on a GEM object (`struct drm_framebuffer`).
pub struct DrmFramebuffer {
    id: u32,
    obj: Arc<DrmGemObject>,
    width: u32,
    height: u32,
    scanout: StdMutex<Scanout>,
}

impl DrmFramebuffer {
    /// A framebuffer of `width` x `height` XRGB8888 pixels on `obj` (`drm_framebuffer_init`
    /// via `drm_gem_fb_create`).
    ///
    /// # Errors
    /// `Einval` if a dimension is zero or `obj` is smaller than `width * height * 4` bytes.
    #[doc(alias = "drm_gem_fb_create")]
    pub fn create(obj: Arc<DrmGemObject>, width: u32, height: u32) -> KResult<Arc<DrmFramebuffer>> {
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        let size = image_size(width, height)?;
        if obj.size() < size {
            return Err(Errno::Einval);
        }
        Ok(Arc::new(DrmFramebuffer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            obj,
            width,
            height,
            scanout: StdMutex::new(Scanout::default()),
        }))
    }

    /// A `width` x `height` framebuffer on a new shmem object of `dev`, as user space makes
    /// one (`DRM_IOCTL_MODE_CREATE_DUMB` then `DRM_IOCTL_MODE_ADDFB2`).
    ///
    /// # Errors
    /// `Enodev` after unplug; `Einval` for a zero or overflowing size; `Enomem`.
    pub fn create_dumb(dev: &Arc<DrmDevice>, width: u32, height: u32) -> KResult<Arc<DrmFramebuffer>> {
        let obj = DrmGemShmemObject::create(dev, image_size(width, height)?)?;
        Self::create(obj, width, height)
    }

    /// Its process-wide id (`fb->base.id`).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The GEM object holding the pixels (`fb->obj[0]`).
    pub fn obj(&self) -> &Arc<DrmGemObject> {
        &self.obj
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes per line (`pitches[0]`).
    pub fn pitch(&self) -> usize {
        self.width as usize * BYTES_PER_PIXEL
    }

    fn scanout(&self) -> std::sync::MutexGuard<'_, Scanout> {
        self.scanout.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether it is pinned for scan-out.
    pub fn is_pinned(&self) -> bool {
        self.scanout().pins > 0
    }

    /// How many plane states pin it.
    pub fn pin_count(&self) -> u32 {
        self.scanout().pins
    }

    /// The scan-out mapping while pinned (the shadow-plane `map`): what the panic handler
    /// draws through.
    pub fn vmap(&self) -> Option<IosysMap> {
        self.scanout().map.clone()
    }

    /// Pins the object and maps it for scan-out (`prepare_fb`: `drm_gem_plane_helper_prepare_fb`
    /// with the shmem pin and `drm_gem_begin_shadow_fb_access`'s vmap), under the object's
    /// resv taken without a context. A `might_sleep()` through the resv lock.
    ///
    /// # Errors
    /// What the shmem pin or vmap return (`Enomem`, `Einval` on a purged object).
    #[track_caller]
    pub fn prepare_fb(&self) -> KResult {
        let g = self.obj.resv().lock(None)?;
        self.prepare_fb_locked(&g)
    }

    /// [`prepare_fb`](Self::prepare_fb) with the object's resv already held.
    ///
    /// # Errors
    /// As [`prepare_fb`](Self::prepare_fb).
    #[track_caller]
    pub fn prepare_fb_locked(&self, guard: &DmaResvGuard<'_>) -> KResult {
        self.obj.resv().assert_held();
        // An imported buffer stays resident through its attachment's mapping (the exporter
        // pins it); only a native one is pinned here.
        let native = !self.obj.is_imported();
        if native {
            self.obj.pin_locked(guard)?;
        }
        let map = match self.obj.vmap_locked(guard) {
            Ok(m) => m,
            Err(e) => {
                if native {
                    self.obj.unpin_locked(guard);
                }
                return Err(e);
            }
        };
        let mut s = self.scanout();
        s.pins += 1;
        s.map.get_or_insert(map);
        Ok(())
    }

    /// Unmaps and unpins once (`cleanup_fb`), under the object's resv taken without a
    /// context. Only after no installed plane state shows it through this pin.
    ///
    /// # Panics
    /// If it is not pinned (an unbalanced cleanup).
    #[track_caller]
    pub fn cleanup_fb(&self) {
        let g = self
            .obj
            .resv()
            .lock(None)
            .expect("a lock without a ctx never fails");
        self.cleanup_fb_locked(&g);
    }

    /// [`cleanup_fb`](Self::cleanup_fb) with the object's resv already held.
    ///
    /// # Panics
    /// If it is not pinned.
    #[track_caller]
    pub fn cleanup_fb_locked(&self, guard: &DmaResvGuard<'_>) {
        self.obj.resv().assert_held();
        let map = {
            let mut s = self.scanout();
            assert!(s.pins > 0, "cleanup_fb() of a framebuffer that is not pinned");
            s.pins -= 1;
            if s.pins == 0 {
                s.map.take()
            } else {
                s.map.clone()
            }
        };
        if let Some(map) = map {
            self.obj.vunmap_locked(guard, map);
        }
        if !self.obj.is_imported() {
            self.obj.unpin_locked(guard);
        }
    }

    /// Runs `f` on a mapping of the pixels: the scan-out mapping while pinned (no lock), or a
    /// temporary one taken under the resv (process context only).
    fn with_map<R>(&self, f: impl FnOnce(&IosysMap) -> KResult<R>) -> KResult<R> {
        if let Some(map) = self.vmap() {
            return f(&map);
        }
        let map = self.obj.vmap()?;
        let r = f(&map);
        self.obj.vunmap(map);
        r
    }

    fn offset(&self, x: u32, y: u32) -> KResult<usize> {
        if x >= self.width || y >= self.height {
            return Err(Errno::Einval);
        }
        Ok(y as usize * self.pitch() + x as usize * BYTES_PER_PIXEL)
    }

    /// The pixel at (`x`, `y`).
    ///
    /// # Errors
    /// `Einval` outside the image; the vmap's error for an unpinned one.
    pub fn read_pixel(&self, x: u32, y: u32) -> KResult<u32> {
        let off = self.offset(x, y)?;
        self.with_map(|m| {
            let mut b = [0u8; BYTES_PER_PIXEL];
            m.read(off, &mut b)?;
            Ok(u32::from_le_bytes(b))
        })
    }

    /// Writes the pixel at (`x`, `y`): into the scan-out memory without any lock while
    /// pinned, so it may be called from the panic handler.
    ///
    /// # Errors
    /// `Einval` outside the image; the vmap's error for an unpinned one.
    pub fn write_pixel(&self, x: u32, y: u32, argb: u32) -> KResult {
        let off = self.offset(x, y)?;
        self.with_map(|m| m.write(off, &argb.to_le_bytes()))
    }

    /// Fills the whole image with `argb` (a client drawing its frame).
    ///
    /// # Errors
    /// The vmap's error for an unpinned one.
    pub fn fill(&self, argb: u32) -> KResult {
        let line: Vec<u8> = (0..self.width).flat_map(|_| argb.to_le_bytes()).collect();
        self.with_map(|m| {
            for y in 0..self.height as usize {
                m.write(y * self.pitch(), &line)?;
            }
            Ok(())
        })
    }

    /// Every pixel, row by row.
    ///
    /// # Errors
    /// The vmap's error for an unpinned one.
    pub fn pixels(&self) -> KResult<Vec<u32>> {
        let len = self.height as usize * self.pitch();
        self.with_map(|m| {
            let mut b = vec![0u8; len];
            m.read(0, &mut b)?;
            Ok(b.chunks_exact(BYTES_PER_PIXEL)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        })
    }
}

impl std::fmt::Debug for DrmFramebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmFramebuffer")
            .field("id", &self.id)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("pins", &self.pin_count())
            .finish()
    }
}
