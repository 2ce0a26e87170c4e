//! `DrmAtomicState`: an atomic update being built, checked and committed. Mirrors
//! drivers/gpu/drm/drm_atomic.c (and the out-fence parts of drm_atomic_uapi.c).
//!
//! # Contract
//! ```text
//! with_modeset_ctx(|ctx| {
//!     let mut state = DrmAtomicState::new(&cfg, ctx);
//!     state.set_fb_for_plane(0, Some(fb.clone()))?;    // takes plane 0's (and its CRTC's) lock
//!     let out = state.set_out_fence(0)?;               // OUT_FENCE_PTR
//!     state.commit(nonblock)?;                         // -EDEADLK: the loop backs off, retries
//!     Ok(out)
//! })
//! ```
//! - Every object the update reads or changes is looked up through the state
//!   (`get_*_state`), which takes the object's modeset lock in the state's acquire context
//!   and duplicates the object's current state; the update changes the duplicates only.
//!   Looking up an object twice gives the same duplicate.
//! - `-EDEADLK` from a lookup means: drop the state, back off, build it again
//!   ([`crate::drm_modeset_lock::with_modeset_ctx`]).
//! - [`DrmAtomicState::check_only`] validates without changing anything;
//!   [`DrmAtomicState::commit`] validates, then hands the update to
//!   [`crate::drm_atomic_helper::commit`]. Until a commit succeeds nothing is visible.
//! - An out-fence ([`DrmAtomicState::set_out_fence`]) signals exactly once: with the commit's
//!   vblank event, or, if the commit fails, at once with `ECANCELED` (the kernel drops a fence
//!   nobody could see; here the caller already holds its sync_file).
//!
//! # Locking
//! - `crtc_ww_class_mutex`: each looked-up object's lock, held in the caller's context until
//!   it drops the locks (after the commit returned; a nonblocking commit's worker holds none).
//! - Connector state is under `&dev->mode_config.connection_mutex`.
//!
//! # Annotations
//! None of its own.
//!
//! # Rules
//! R14 (back-off through the context), R18, R21 (the committed update holds no locks).
//!
//! # Simplified
//! - No properties or blobs: the setters name what they change. No private objects.
//! - A modeset (a CRTC turned on or off) needs [`DrmAtomicState::allow_modeset`], as the
//!   uapi's `DRM_MODE_ATOMIC_ALLOW_MODESET`.

use std::sync::Arc;

use crate::dma_fence::DmaFence;
use crate::drm_atomic_helper::{self, CommitUpdate, ConnectorUpdate, CrtcUpdate, PlaneUpdate};
use crate::drm_connector::DrmConnectorState;
use crate::drm_crtc::DrmCrtcState;
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_mode_config::DrmModeConfig;
use crate::drm_modeset_lock::DrmModesetAcquireCtx;
use crate::drm_plane::DrmPlaneState;
use crate::error::{Errno, KResult};
use crate::sync_file::SyncFile;

/// An atomic update under construction (`struct drm_atomic_state`), borrowing the acquire
/// context whose locks protect it.
pub struct DrmAtomicState<'c> {
    ctx: &'c mut DrmModesetAcquireCtx,
    update: CommitUpdate,
    allow_modeset: bool,
}

impl<'c> DrmAtomicState<'c> {
    /// An empty update of `cfg`'s objects, locking through `ctx` (`drm_atomic_state_alloc`,
    /// `state->acquire_ctx = ctx`).
    #[doc(alias = "drm_atomic_state_alloc")]
    pub fn new(cfg: &Arc<DrmModeConfig>, ctx: &'c mut DrmModesetAcquireCtx) -> DrmAtomicState<'c> {
        DrmAtomicState {
            ctx,
            update: CommitUpdate::new(cfg),
            allow_modeset: false,
        }
    }

    /// The configuration it updates.
    pub fn cfg(&self) -> &Arc<DrmModeConfig> {
        &self.update.cfg
    }

    /// Allows the update to turn CRTCs on or off (`DRM_MODE_ATOMIC_ALLOW_MODESET`).
    pub fn allow_modeset(&mut self, allow: bool) {
        self.allow_modeset = allow;
    }

    /// CRTC `crtc`'s new state (`drm_atomic_get_crtc_state`): locks the CRTC and duplicates
    /// its state on first use (the duplicate has no event, out-fence or commit yet).
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown CRTC.
    #[doc(alias = "drm_atomic_get_crtc_state")]
    #[track_caller]
    pub fn get_crtc_state(&mut self, crtc: usize) -> KResult<&mut DrmCrtcState> {
        let i = self.crtc_index(crtc)?;
        Ok(Arc::make_mut(&mut self.update.crtcs[i].new))
    }

    #[track_caller]
    fn crtc_index(&mut self, crtc: usize) -> KResult<usize> {
        if let Some(i) = self.update.crtcs.iter().position(|u| u.obj.index() == crtc) {
            return Ok(i);
        }
        let c = self.update.cfg.crtcs().get(crtc).ok_or(Errno::Einval)?.clone();
        self.ctx.lock(c.mutex())?;
        let old = c.state();
        // __drm_atomic_helper_crtc_duplicate_state: per-commit fields start empty.
        let new = Arc::new(DrmCrtcState {
            event: false,
            out_fence: None,
            commit: None,
            active_changed: false,
            planes_changed: false,
            ..(*old).clone()
        });
        self.update.crtcs.push(CrtcUpdate::new(c, old, new));
        Ok(self.update.crtcs.len() - 1)
    }

    /// Plane `plane`'s new state (`drm_atomic_get_plane_state`): locks the plane and
    /// duplicates its state on first use, and adds the CRTC it is on.
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown plane.
    #[doc(alias = "drm_atomic_get_plane_state")]
    #[track_caller]
    pub fn get_plane_state(&mut self, plane: usize) -> KResult<&mut DrmPlaneState> {
        let i = self.plane_index(plane)?;
        Ok(Arc::make_mut(&mut self.update.planes[i].new))
    }

    #[track_caller]
    fn plane_index(&mut self, plane: usize) -> KResult<usize> {
        if let Some(i) = self.update.planes.iter().position(|u| u.obj.index() == plane) {
            return Ok(i);
        }
        let p = self.update.cfg.planes().get(plane).ok_or(Errno::Einval)?.clone();
        self.ctx.lock(p.mutex())?;
        let old = p.state();
        if let Some(c) = old.crtc {
            self.crtc_index(c)?;
        }
        // __drm_atomic_helper_plane_duplicate_state: the fb is kept, fence and commit are not.
        let new = Arc::new(DrmPlaneState {
            in_fence: None,
            commit: None,
            ..(*old).clone()
        });
        self.update.planes.push(PlaneUpdate::new(p, old, new));
        Ok(self.update.planes.len() - 1)
    }

    /// Connector `connector`'s new state (`drm_atomic_get_connector_state`), under the
    /// connection mutex.
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown connector.
    #[doc(alias = "drm_atomic_get_connector_state")]
    #[track_caller]
    pub fn get_connector_state(&mut self, connector: usize) -> KResult<&mut DrmConnectorState> {
        if let Some(i) = self
            .update
            .connectors
            .iter()
            .position(|u| u.obj.index() == connector)
        {
            return Ok(Arc::make_mut(&mut self.update.connectors[i].new));
        }
        let cfg = self.update.cfg.clone();
        let c = cfg.connectors().get(connector).ok_or(Errno::Einval)?.clone();
        self.ctx.lock(cfg.connection_mutex())?;
        let old = c.state();
        let new = Arc::new(DrmConnectorState {
            commit: None,
            ..(*old).clone()
        });
        self.update.connectors.push(ConnectorUpdate::new(c, old, new));
        let last = self.update.connectors.len() - 1;
        Ok(Arc::make_mut(&mut self.update.connectors[last].new))
    }

    /// Shows `fb` on `plane` (`drm_atomic_set_fb_for_plane`); `None` turns the plane off.
    /// The plane is routed to its CRTC (`drm_atomic_set_crtc_for_plane`) or taken off it.
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown plane.
    #[doc(alias = "drm_atomic_set_fb_for_plane")]
    #[track_caller]
    pub fn set_fb_for_plane(&mut self, plane: usize, fb: Option<Arc<DrmFramebuffer>>) -> KResult {
        let i = self.plane_index(plane)?;
        let crtc = self.update.planes[i].obj.possible_crtc();
        let j = self.crtc_index(crtc)?;
        let on = fb.is_some();
        let st = Arc::make_mut(&mut self.update.planes[i].new);
        st.fb = fb;
        st.crtc = on.then_some(crtc);
        Arc::make_mut(&mut self.update.crtcs[j].new).planes_changed = true;
        Ok(())
    }

    /// Makes `plane` wait for `fence` before scanning out (`IN_FENCE_FD`).
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown plane.
    #[track_caller]
    pub fn set_in_fence(&mut self, plane: usize, fence: Arc<DmaFence>) -> KResult {
        self.get_plane_state(plane)?.in_fence = Some(fence);
        Ok(())
    }

    /// Turns CRTC `crtc` (and its connector) on or off: a modeset.
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown CRTC.
    #[track_caller]
    pub fn set_crtc_active(&mut self, crtc: usize, active: bool) -> KResult {
        let st = self.get_crtc_state(crtc)?;
        st.active = active;
        let conn = self.get_connector_state(crtc)?;
        conn.crtc = active.then_some(crtc);
        Ok(())
    }

    /// Asks for a completion event on `crtc` (`DRM_MODE_PAGE_FLIP_EVENT`).
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown CRTC.
    #[track_caller]
    pub fn request_event(&mut self, crtc: usize) -> KResult {
        self.get_crtc_state(crtc)?.event = true;
        Ok(())
    }

    /// Creates the out-fence of `crtc` for this commit (`OUT_FENCE_PTR`: `prepare_signaling`,
    /// `drm_crtc_create_fence`, `sync_file_create`). It signals with the commit's vblank
    /// event.
    ///
    /// # Errors
    /// `Edeadlk` (back off); `Einval` for an unknown CRTC or a second out-fence on it.
    #[track_caller]
    pub fn set_out_fence(&mut self, crtc: usize) -> KResult<Arc<SyncFile>> {
        let i = self.crtc_index(crtc)?;
        let u = &mut self.update.crtcs[i];
        if u.new.out_fence.is_some() {
            return Err(Errno::Einval);
        }
        let fence = u.obj.create_fence();
        Arc::make_mut(&mut u.new).out_fence = Some(fence.clone());
        Ok(SyncFile::create(fence))
    }

    /// Validates the update (`drm_atomic_check_only`): a plane shows a framebuffer exactly
    /// when it is on a CRTC, and that CRTC is its own and active; a CRTC turned on or off
    /// needs [`allow_modeset`](Self::allow_modeset); an event needs an active CRTC. Records
    /// which CRTCs change (`planes_changed`, `active_changed`).
    ///
    /// # Errors
    /// `Einval` for an update the hardware cannot show.
    #[doc(alias = "drm_atomic_check_only")]
    pub fn check_only(&mut self) -> KResult {
        for u in &mut self.update.crtcs {
            let changed = u.old.active != u.new.active;
            if changed && !self.allow_modeset {
                return Err(Errno::Einval);
            }
            Arc::make_mut(&mut u.new).active_changed = changed;
            if u.new.event && !u.new.active {
                return Err(Errno::Einval);
            }
        }
        for p in &self.update.planes {
            let st = &p.new;
            if st.fb.is_some() != st.crtc.is_some() {
                return Err(Errno::Einval);
            }
            if let Some(c) = st.crtc {
                if c != p.obj.possible_crtc() {
                    return Err(Errno::Einval);
                }
                let active = self
                    .update
                    .crtcs
                    .iter()
                    .find(|u| u.obj.index() == c)
                    .map_or_else(|| self.update.cfg.crtcs()[c].state().active, |u| u.new.active);
                if !active {
                    return Err(Errno::Einval);
                }
            }
        }
        Ok(())
    }

    /// Checks and commits (`drm_atomic_commit` / `drm_atomic_nonblocking_commit`): see
    /// [`crate::drm_atomic_helper::commit`]. The locks stay in the caller's context.
    ///
    /// # Errors
    /// `Einval` from the check; `Ebusy` for a nonblocking commit over an unfinished one;
    /// what `prepare_fb` returns. On any error nothing changed and the out-fences were
    /// signalled with `ECANCELED`.
    #[doc(alias = "drm_atomic_commit", alias = "drm_atomic_nonblocking_commit")]
    #[track_caller]
    pub fn commit(self, nonblock: bool) -> KResult {
        drm_atomic_helper::commit(self, nonblock)
    }

    /// What the commit carries to its end, leaving the locks with the context. Dropped
    /// uncommitted, it cancels its out-fences.
    pub(crate) fn into_update(self) -> CommitUpdate {
        self.update
    }
}

impl std::fmt::Debug for DrmAtomicState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmAtomicState")
            .field("crtcs", &self.update.crtcs.len())
            .field("planes", &self.update.planes.len())
            .field("connectors", &self.update.connectors.len())
            .finish()
    }
}
