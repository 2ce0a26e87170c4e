//! `DrmPlane`, `DrmPlaneState`: a scan-out source and what it shows. Mirrors
//! drivers/gpu/drm/drm_plane.c.
//!
//! # Contract
//! - A plane's state names the framebuffer it scans out and the CRTC it feeds. An atomic
//!   commit replaces the whole state; a state once installed never changes, so a reader
//!   holding the `Arc` sees one consistent picture.
//! - The framebuffer of an installed state is pinned and mapped (`prepare_fb` ran before the
//!   state was installed, `cleanup_fb` runs only after it was replaced): whoever reads
//!   `plane.state()` may write its pixels, the panic handler included.
//! - `plane->state` is replaced under the panic lock (`drm_panic_lock`), so the panic
//!   handler reads it under `drm_panic_trylock` without any other lock.
//!
//! # Locking
//! - `crtc_ww_class_mutex` ([`DrmPlane::mutex`]): writers of the state.
//! - `&dev->mode_config.panic_lock`: the pointer swap ([`DrmPlane::set_state`] asserts it).
//!
//! # Annotations
//! None.
//!
//! # Rules
//! R30 (the state pointer changes only under the panic lock).
//!
//! # Simplified
//! - One primary plane per CRTC; no source/destination rectangles, rotation or formats other
//!   than XRGB8888.
//! - The kernel reads `plane->state` as a plain pointer; here the `Arc` sits behind a std
//!   mutex held only for the copy (invisible to the validator, never held across anything).

use std::sync::{Arc, Mutex as StdMutex};

use crate::dma_fence::DmaFence;
use crate::drm_crtc::DrmCrtcCommit;
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_mode_config::DrmModeConfig;
use crate::drm_modeset_lock::DrmModesetLock;

/// A plane's atomic state (`struct drm_plane_state`).
#[derive(Clone, Debug, Default)]
pub struct DrmPlaneState {
    /// Its plane.
    pub plane: usize,
    /// The CRTC it feeds, if enabled.
    pub crtc: Option<usize>,
    /// The framebuffer it scans out.
    pub fb: Option<Arc<DrmFramebuffer>>,
    /// The fence to wait for before scanning `fb` out (`IN_FENCE_FD`, or the implicit fence
    /// `prepare_fb` took from the buffer's resv).
    pub in_fence: Option<Arc<DmaFence>>,
    /// The commit that made this state (`commit`).
    pub commit: Option<Arc<DrmCrtcCommit>>,
}

/// A scan-out source (`struct drm_plane`).
pub struct DrmPlane {
    index: usize,
    possible_crtc: usize,
    mutex: DrmModesetLock,
    /// Written only under the plane's modeset lock and the panic lock.
    state: StdMutex<Arc<DrmPlaneState>>,
}

impl DrmPlane {
    pub(crate) fn new(index: usize, crtc: usize) -> Arc<DrmPlane> {
        Arc::new(DrmPlane {
            index,
            possible_crtc: crtc,
            mutex: DrmModesetLock::new(),
            state: StdMutex::new(Arc::new(DrmPlaneState {
                plane: index,
                ..DrmPlaneState::default()
            })),
        })
    }

    /// Its index (`drm_plane_index`).
    #[doc(alias = "drm_plane_index")]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The CRTC it can feed (`possible_crtcs`, one here: it is that CRTC's primary plane).
    pub fn possible_crtc(&self) -> usize {
        self.possible_crtc
    }

    /// Its modeset lock (`plane->mutex`).
    pub fn mutex(&self) -> &DrmModesetLock {
        &self.mutex
    }

    /// The current state (`plane->state`). Takes no lockdep-visible lock, so the panic
    /// handler may call it under `drm_panic_trylock`.
    pub fn state(&self) -> Arc<DrmPlaneState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs a new state, returning the old one: the pointer swap of
    /// `drm_atomic_helper_swap_state`, which the caller does under [`drm_panic_lock`]
    /// (asserted) and the plane's modeset lock.
    ///
    /// [`drm_panic_lock`]: crate::drm_mode_config::drm_panic_lock
    #[track_caller]
    pub fn set_state(&self, cfg: &DrmModeConfig, new: Arc<DrmPlaneState>) -> Arc<DrmPlaneState> {
        lockdep::assert_held(cfg.panic_lock());
        std::mem::replace(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()), new)
    }
}

impl std::fmt::Debug for DrmPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmPlane").field("index", &self.index).finish()
    }
}
