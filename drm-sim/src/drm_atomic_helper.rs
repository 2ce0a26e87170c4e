//! The atomic commit machinery: blocking and nonblocking commits, their completions, the
//! commit tail and its signalling section. Mirrors drivers/gpu/drm/drm_atomic_helper.c.
//!
//! # Contract
//! [`commit`] (`drm_atomic_helper_commit`), on the caller's thread with its modeset locks:
//! 1. [`setup_commit`]: a [`DrmCrtcCommit`] per CRTC, and the stall checks: `EBUSY` for a
//!    nonblocking commit while the previous commit on a CRTC, plane or connector has not
//!    reached `flip_done`; a blocking one waits for the second-previous commit's cleanup.
//! 2. [`prepare_planes`]: `prepare_fb` pins and maps every new framebuffer under its resv,
//!    and takes the buffer's implicit fence (merged with an explicit in-fence).
//! 3. Blocking only: [`wait_for_fences`] before the swap.
//! 4. [`swap_state`]: waits for `hw_done` of the previous commits, then installs the new
//!    states (`plane->state` under the panic lock) — the point of no return.
//! 5. Nonblocking: the rest runs in `commit_work` on `system_unbound_wq`; blocking: here.
//!
//! [`commit_tail`], with no modeset lock of its own (R21): [`wait_for_fences`],
//! [`wait_for_dependencies`] (`hw_done` and `flip_done` of the previous commits), then the
//! signalling section — modeset disables/enables, plane updates, vblank events armed — up
//! to [`commit_hw_done`]; then `flip_done` is waited for, [`cleanup_planes`] unpins the old
//! framebuffers and [`commit_cleanup_done`] ends the commit.
//!
//! # Locking
//! - `&crtc->commit_lock`: the CRTC's commit list (stall checks, swap, cleanup).
//! - `&dev->mode_config.panic_lock`: only around the `plane->state` pointer swap.
//! - `reservation_ww_class_mutex`: in `prepare_fb` (under modeset locks, R18) and
//!   `cleanup_fb` (after `hw_done`), never in the signalling section (R20).
//! - `&dev->event_lock` (irq-safe): arming the vblank events, inside the signalling section.
//!
//! # Annotations
//! - The commit tail from after `wait_for_dependencies` to `commit_hw_done` is a
//!   fence-signalling section (`dma_fence_begin_signalling`): out-fences and flip events are
//!   dma_fences that only this code path leads to. Upstream left this annotation as an RFC;
//!   the simulation annotates it as the rules require (R20).
//!
//! # Rules
//! R18, R20 (no reclaiming allocation, resv or dependent wait before `hw_done`), R21 (no
//! modeset lock in the tail; only completions and fences are waited), R30 (the panic lock
//! around the pointer swap only).
//!
//! # Simplified
//! - Waits that time out in the kernel (10 s) log and go on; here they go on silently.
//! - No async (cursor) updates, no self refresh, no `fake_commit` for objects without a CRTC.
//! - The driver's `atomic_flush` (arming the vblank event, vkms style) is done here for every
//!   driver; the plane update itself is the driver's [`DrmKmsFuncs::atomic_update`].
//!
//! [`DrmKmsFuncs::atomic_update`]: crate::drm_mode_config::DrmKmsFuncs::atomic_update

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use crate::bugs::Bug;
use crate::dma_fence::{dma_fence_begin_signalling, dma_fence_end_signalling, DmaFence};
use crate::dma_resv::DmaResvUsage;
use crate::drm_atomic::DrmAtomicState;
use crate::drm_connector::{DrmConnector, DrmConnectorState};
use crate::drm_crtc::{DrmCrtc, DrmCrtcState};
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_mode_config::{drm_panic_lock, DrmModeConfig};
use crate::drm_modeset_lock::with_modeset_ctx;
use crate::drm_plane::{DrmPlane, DrmPlaneState};
use crate::drm_vblank::{self, DrmPendingVblankEvent};
use crate::error::{Errno, KResult};
use crate::mm::{self, GFP_KERNEL};
use crate::sync_file::SyncFile;
use crate::workqueue::{system_unbound_wq, Work};

pub use crate::drm_crtc::DrmCrtcCommit;

/// How long a commit waits for an earlier one's completions (the kernel's `10*HZ`).
pub const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// Size of the per-commit hardware descriptor the simulated driver allocates.
const HW_DESC_SIZE: usize = 256;

/// One object in an update: the object, its state before and after, and what the commit
/// keeps about it (`X`).
pub(crate) struct ObjUpdate<O, S, X> {
    pub(crate) obj: Arc<O>,
    pub(crate) old: Arc<S>,
    pub(crate) new: Arc<S>,
    x: X,
}

impl<O, S, X: Default> ObjUpdate<O, S, X> {
    pub(crate) fn new(obj: Arc<O>, old: Arc<S>, new: Arc<S>) -> Self {
        ObjUpdate {
            obj,
            old,
            new,
            x: X::default(),
        }
    }
}

/// What a commit keeps about a plane.
#[derive(Default)]
pub(crate) struct PlaneCommit {
    /// The fence still to wait for (`new_plane_state->fence`, cleared once waited).
    fence: Option<Arc<DmaFence>>,
    /// `prepare_fb` ran on the new framebuffer.
    prepared: bool,
}

/// What a commit keeps about a CRTC.
#[derive(Default)]
pub(crate) struct CrtcCommit {
    /// This commit on the CRTC (`state->crtcs[i].commit`).
    commit: Option<Arc<DrmCrtcCommit>>,
    /// The vblank event, until the flush arms or sends it (`new_crtc_state->event`).
    event: Option<DrmPendingVblankEvent>,
}

/// One plane in an update.
pub(crate) type PlaneUpdate = ObjUpdate<DrmPlane, DrmPlaneState, PlaneCommit>;
/// One CRTC in an update.
pub(crate) type CrtcUpdate = ObjUpdate<DrmCrtc, DrmCrtcState, CrtcCommit>;
/// One connector in an update.
pub(crate) type ConnectorUpdate = ObjUpdate<DrmConnector, DrmConnectorState, ()>;

/// The part of an atomic state that a commit carries to its end (to the worker, for a
/// nonblocking one): every object's old and new state, no locks.
pub struct CommitUpdate {
    pub(crate) cfg: Arc<DrmModeConfig>,
    pub(crate) planes: Vec<PlaneUpdate>,
    pub(crate) crtcs: Vec<CrtcUpdate>,
    pub(crate) connectors: Vec<ConnectorUpdate>,
    /// The per-commit hardware descriptor (allocated before the signalling section).
    hw_desc: Option<Vec<u8>>,
    swapped: bool,
}

impl CommitUpdate {
    pub(crate) fn new(cfg: &Arc<DrmModeConfig>) -> CommitUpdate {
        CommitUpdate {
            cfg: cfg.clone(),
            planes: Vec::new(),
            crtcs: Vec::new(),
            connectors: Vec::new(),
            hw_desc: None,
            swapped: false,
        }
    }

    /// Ends the out-fences of an update that will never be committed with `ECANCELED`.
    pub(crate) fn cancel_out_fences(&mut self) {
        for c in &mut self.crtcs {
            if let Some(f) = Arc::make_mut(&mut c.new).out_fence.take() {
                f.set_error(Errno::Ecanceled);
                let _ = f.signal();
            }
        }
    }

    /// The commits that made the states this update replaces, CRTCs first.
    fn old_commits(&self) -> Vec<Arc<DrmCrtcCommit>> {
        let crtcs = self.crtcs.iter().map(|c| c.old.commit.clone());
        let planes = self.planes.iter().map(|p| p.old.commit.clone());
        let connectors = self.connectors.iter().map(|c| c.old.commit.clone());
        crtcs.chain(planes).chain(connectors).flatten().collect()
    }

    fn commit_of(&self, crtc: usize) -> Option<Arc<DrmCrtcCommit>> {
        self.crtcs
            .iter()
            .find(|c| c.obj.index() == crtc)
            .and_then(|c| c.x.commit.clone())
    }
}

impl Drop for CommitUpdate {
    fn drop(&mut self) {
        if !self.swapped {
            self.cancel_out_fences();
        }
    }
}

impl std::fmt::Debug for CommitUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitUpdate")
            .field("crtcs", &self.crtcs.len())
            .field("planes", &self.planes.len())
            .field("swapped", &self.swapped)
            .finish()
    }
}

/// Checks and commits `state` (`drm_atomic_commit` → `drm_atomic_helper_commit`): see the
/// module documentation. Blocking: returns once the new state is on screen and the old one
/// cleaned up. Nonblocking: returns after the swap; the commit worker finishes it. The
/// modeset locks stay in the caller's context.
///
/// # Errors
/// `Einval` from the check; `Ebusy` (nonblocking over an unfinished commit);
/// `prepare_fb`'s errors. On any error nothing changed and the out-fences were signalled
/// with `ECANCELED`.
#[doc(alias = "drm_atomic_helper_commit")]
#[track_caller]
pub fn commit(mut state: DrmAtomicState<'_>, nonblock: bool) -> KResult {
    state.check_only()?;
    commit_checked(state.into_update(), nonblock)
}

/// The commit proper of a checked update (the body of `drm_atomic_helper_commit`).
#[track_caller]
fn commit_checked(mut update: CommitUpdate, nonblock: bool) -> KResult {
    setup_commit(&mut update, nonblock)?;
    prepare_planes(&mut update)?;
    if !nonblock {
        wait_for_fences(&mut update, true);
    }
    swap_state(&mut update, true);
    update.cfg.count_commit();
    if nonblock {
        let slot = StdMutex::new(Some(update));
        let work = Work::new("(work_completion)(&state->commit_work)", move || {
            let u = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(u) = u {
                commit_tail(u);
            }
        });
        system_unbound_wq().queue_work(&work);
    } else {
        commit_tail(update);
    }
    Ok(())
}

/// `stall_checks`: a nonblocking commit may not overtake the previous one on `crtc` before
/// its `flip_done`; a blocking one waits for the second-previous one's `cleanup_done`, so
/// commits cannot run ahead of cleanup by more than two.
#[track_caller]
fn stall_checks(crtc: &DrmCrtc, nonblock: bool) -> KResult {
    let stall = {
        let list = crtc.commit_list().lock();
        if let Some(last) = list.front() {
            if nonblock && !last.flip_done.completion_done() {
                return Err(Errno::Ebusy);
            }
        }
        list.get(1).cloned()
    };
    if let Some(s) = stall {
        let _ = s.cleanup_done.wait_for_completion_timeout(COMMIT_WAIT);
    }
    Ok(())
}

/// `drm_atomic_helper_setup_commit`: a commit and a vblank event per CRTC (the event carries
/// the out-fence and completes `flip_done`), the commit recorded in every new state, and the
/// `EBUSY` checks. The driver allocates its per-commit descriptor here, before the
/// signalling section, where a reclaiming allocation is allowed.
///
/// # Errors
/// `Ebusy` for a nonblocking commit over a CRTC, plane or connector whose previous commit
/// has not reached `flip_done`; `Enomem`.
#[doc(alias = "drm_atomic_helper_setup_commit")]
#[track_caller]
pub fn setup_commit(u: &mut CommitUpdate, nonblock: bool) -> KResult {
    for c in &mut u.crtcs {
        stall_checks(&c.obj, nonblock)?;
        let commit = c.obj.new_commit();
        let st = Arc::make_mut(&mut c.new);
        st.commit = Some(commit.clone());
        c.x.event = Some(DrmPendingVblankEvent::new(
            c.obj.index(),
            Some(commit.clone()),
            st.out_fence.clone(),
            st.event,
        ));
        c.x.commit = Some(commit);
    }
    let busy = |old: &Option<Arc<DrmCrtcCommit>>| {
        nonblock && old.as_ref().is_some_and(|c| !c.flip_done.completion_done())
    };
    for i in 0..u.planes.len() {
        if busy(&u.planes[i].old.commit) {
            return Err(Errno::Ebusy);
        }
        let crtc = u.planes[i].new.crtc.or(u.planes[i].old.crtc);
        let commit = crtc.and_then(|c| u.commit_of(c));
        Arc::make_mut(&mut u.planes[i].new).commit = commit;
    }
    for i in 0..u.connectors.len() {
        if busy(&u.connectors[i].old.commit) {
            return Err(Errno::Ebusy);
        }
        let crtc = u.connectors[i].new.crtc.or(u.connectors[i].old.crtc);
        let commit = crtc.and_then(|c| u.commit_of(c));
        Arc::make_mut(&mut u.connectors[i].new).commit = commit;
    }
    if !u.cfg.dev().bugs().has(Bug::AllocInCommitTail) {
        u.hw_desc = Some(mm::kmalloc(HW_DESC_SIZE, GFP_KERNEL)?);
    }
    Ok(())
}

/// `drm_atomic_helper_prepare_planes`: `prepare_fb` on every new framebuffer (pin and map
/// under its resv) and the fence to wait for: the buffer's implicit write fence, merged
/// with the plane's explicit in-fence if it has one. On failure the planes prepared so far
/// are cleaned up again.
///
/// # Errors
/// What `prepare_fb` returns.
#[doc(alias = "drm_atomic_helper_prepare_planes")]
#[track_caller]
pub fn prepare_planes(u: &mut CommitUpdate) -> KResult {
    for i in 0..u.planes.len() {
        let Some(fb) = u.planes[i].new.fb.clone() else {
            continue;
        };
        if let Err(e) = fb.prepare_fb() {
            unprepare_planes(u);
            return Err(e);
        }
        let p = &mut u.planes[i];
        p.x.prepared = true;
        // drm_gem_plane_helper_prepare_fb: no resv lock needed to read the fences.
        let implicit = fb.obj().resv().get_singleton(DmaResvUsage::Write).ok().flatten();
        let fence = match (p.new.in_fence.clone(), implicit) {
            (Some(a), Some(b)) => Some(crate::dma_fence::dma_fence_unwrap_merge(&[a, b])),
            (a, b) => a.or(b),
        };
        Arc::make_mut(&mut p.new).in_fence = fence.clone();
        p.x.fence = fence;
    }
    Ok(())
}

/// `drm_atomic_helper_unprepare_planes`: undoes `prepare_fb` of an update that failed.
fn unprepare_planes(u: &mut CommitUpdate) {
    for p in &mut u.planes {
        if std::mem::take(&mut p.x.prepared) {
            if let Some(fb) = &p.new.fb {
                fb.cleanup_fb();
            }
        }
    }
}

/// `drm_atomic_helper_wait_for_fences`: waits for every plane's fence, then forgets it.
/// `pre_swap`: a blocking commit waiting under its modeset locks, before the swap
/// (interruptibly in the kernel; nothing interrupts here).
#[doc(alias = "drm_atomic_helper_wait_for_fences")]
#[track_caller]
pub fn wait_for_fences(u: &mut CommitUpdate, pre_swap: bool) {
    for p in &mut u.planes {
        if let Some(f) = p.x.fence.take() {
            let _ = f.wait(pre_swap);
        }
    }
}

/// `drm_atomic_helper_swap_state` with `stall`: waits for `hw_done` of the commits that
/// made the current states, then installs the new ones; each `plane->state` swap is done
/// under the panic lock, alone. From here the commit cannot fail.
#[doc(alias = "drm_atomic_helper_swap_state")]
#[track_caller]
pub fn swap_state(u: &mut CommitUpdate, stall: bool) {
    if stall {
        for c in u.old_commits() {
            c.hw_done.wait_for_completion();
        }
    }
    for c in &u.connectors {
        drop(c.obj.set_state(c.new.clone()));
    }
    for c in &u.crtcs {
        drop(c.obj.set_state(c.new.clone()));
        if let Some(commit) = &c.x.commit {
            c.obj.commit_list().lock().push_front(commit.clone());
        }
    }
    let bug = u.cfg.dev().bugs().has(Bug::SpinlockUnderPanicLock);
    for p in &u.planes {
        let replaced = {
            let _panic = drm_panic_lock(&u.cfg);
            if bug {
                // The injected bug: peeking at the CRTC's commit list (a spinlock_t) to
                // decide whether the plane may be shown, inside the raw panic lock.
                let crtc = &u.cfg.crtcs()[p.obj.possible_crtc()];
                drop(crtc.commit_list().lock());
            }
            p.obj.set_state(&u.cfg, p.new.clone())
        };
        debug_assert!(
            Arc::ptr_eq(&replaced, &p.old),
            "plane->state changed under the commit"
        );
        drop(replaced);
    }
    u.swapped = true;
}

/// `drm_atomic_helper_wait_for_dependencies`: waits for `hw_done` and `flip_done` of the
/// commits that made the states this one replaces (`drm_crtc_commit_wait`, 10 s each).
#[doc(alias = "drm_atomic_helper_wait_for_dependencies")]
#[track_caller]
pub fn wait_for_dependencies(u: &CommitUpdate) {
    for c in u.old_commits() {
        let _ = c.hw_done.wait_for_completion_timeout(COMMIT_WAIT);
        let _ = c.flip_done.wait_for_completion_timeout(COMMIT_WAIT);
    }
}

/// `drm_atomic_helper_commit_modeset_disables`: CRTCs turned off stop their vblanks
/// (`atomic_disable` → `drm_crtc_vblank_off`), which sends their pending events.
fn commit_modeset_disables(u: &CommitUpdate) {
    for c in &u.crtcs {
        if c.old.active && !c.new.active {
            drm_vblank::vblank_off(&u.cfg, c.obj.index());
        }
    }
}

/// `drm_atomic_helper_commit_modeset_enables`: CRTCs turned on start their vblanks
/// (`atomic_enable` → `drm_crtc_vblank_on`).
fn commit_modeset_enables(u: &CommitUpdate) {
    for c in &u.crtcs {
        if !c.old.active && c.new.active {
            drm_vblank::vblank_on(&u.cfg, c.obj.index());
        }
    }
}

/// `drm_atomic_helper_commit_planes`: the driver's `atomic_update` for every plane, then
/// each CRTC's flush, which arms its vblank event (or sends it at once when the CRTC has no
/// vblank to wait for). In the signalling section.
#[doc(alias = "drm_atomic_helper_commit_planes")]
#[track_caller]
pub fn commit_planes(u: &mut CommitUpdate) {
    let bugs = u.cfg.dev().bugs();
    let funcs = u.cfg.funcs();
    for p in &u.planes {
        if bugs.has(Bug::ResvInCommitTail) {
            // The injected bug (amdgpu DC before "Stop dma_resv_lock inversion in
            // commit_tail"): the buffer's resv taken in the tail to look at its fences.
            if let Some(fb) = &p.new.fb {
                let g = fb
                    .obj()
                    .resv()
                    .lock(None)
                    .expect("a lock without a ctx never fails");
                let _ = g.fences(DmaResvUsage::Write);
            }
        }
        if let Some(f) = &funcs {
            f.atomic_update(&p.new);
        }
    }
    if bugs.has(Bug::AllocInCommitTail) {
        // The injected bug ("DC also loves to allocate stuff where it shouldn't"): the
        // descriptor allocated with GFP_KERNEL inside the signalling section.
        u.hw_desc = mm::kmalloc(HW_DESC_SIZE, GFP_KERNEL).ok();
    }
    for c in &mut u.crtcs {
        crtc_atomic_flush(&u.cfg, c);
    }
}

/// The driver's `atomic_flush` (vkms's): under `&dev->event_lock`, arm the event for the
/// next vblank if a vblank reference can be had, else send it now.
fn crtc_atomic_flush(cfg: &DrmModeConfig, c: &mut CrtcUpdate) {
    let Some(e) = c.x.event.take() else { return };
    let crtc = c.obj.index();
    let _e = cfg.event_lock().lock_irqsave();
    if c.new.active && drm_vblank::vblank_get(cfg, crtc).is_ok() {
        if let Err(e) = drm_vblank::arm_vblank_event(cfg, crtc, e) {
            drm_vblank::vblank_put(cfg, crtc);
            drm_vblank::send_vblank_event(cfg, crtc, e);
        }
    } else {
        drm_vblank::send_vblank_event(cfg, crtc, e);
    }
}

/// `drm_atomic_helper_commit_hw_done`: the hardware is programmed; `hw_done` of every CRTC
/// commit completes. The end of the signalling section: after it the tail touches no modeset
/// state (R21).
///
/// # Panics
/// If a vblank event was not consumed by the flush (the kernel's `WARN_ON`).
#[doc(alias = "drm_atomic_helper_commit_hw_done")]
pub fn commit_hw_done(u: &CommitUpdate) {
    for c in &u.crtcs {
        assert!(
            c.x.event.is_none(),
            "vblank event not armed or sent before hw_done"
        );
        if let Some(commit) = &c.x.commit {
            commit.hw_done.complete_all();
        }
    }
}

/// `drm_atomic_helper_wait_for_flip_done`: waits (10 s) until every CRTC's new state is on
/// screen.
#[doc(alias = "drm_atomic_helper_wait_for_flip_done")]
#[track_caller]
pub fn wait_for_flip_done(u: &CommitUpdate) {
    for c in &u.crtcs {
        if let Some(commit) = &c.x.commit {
            let _ = commit.flip_done.wait_for_completion_timeout(COMMIT_WAIT);
        }
    }
}

/// `drm_atomic_helper_cleanup_planes`: `cleanup_fb` of every replaced framebuffer (unmap and
/// unpin under its resv), which no installed state shows any more.
#[doc(alias = "drm_atomic_helper_cleanup_planes")]
#[track_caller]
pub fn cleanup_planes(u: &mut CommitUpdate) {
    for p in &u.planes {
        if let Some(fb) = &p.old.fb {
            fb.cleanup_fb();
        }
    }
}

/// `drm_atomic_helper_commit_cleanup_done`: `cleanup_done` completes and the commit leaves
/// its CRTC's list.
#[doc(alias = "drm_atomic_helper_commit_cleanup_done")]
pub fn commit_cleanup_done(u: &CommitUpdate) {
    for c in &u.crtcs {
        let Some(commit) = &c.x.commit else { continue };
        commit.cleanup_done.complete_all();
        debug_assert!(commit.hw_done.completion_done());
        c.obj.commit_list().lock().retain(|x| !Arc::ptr_eq(x, commit));
    }
}

/// The commit tail (`commit_tail` + `drm_atomic_helper_commit_tail`), on the commit worker
/// or, for a blocking commit, on the caller's thread. See the module documentation.
#[doc(alias = "drm_atomic_helper_commit_tail")]
#[track_caller]
pub fn commit_tail(mut u: CommitUpdate) {
    wait_for_fences(&mut u, false);
    wait_for_dependencies(&u);
    let cookie = dma_fence_begin_signalling();
    commit_modeset_disables(&u);
    commit_modeset_enables(&u);
    commit_planes(&mut u);
    commit_hw_done(&u);
    dma_fence_end_signalling(cookie);
    wait_for_flip_done(&u);
    if u.crtcs.iter().any(|c| c.new.planes_changed) {
        u.cfg.count_flip();
    }
    cleanup_planes(&mut u);
    commit_cleanup_done(&u);
    u.hw_desc = None;
    u.cfg.count_commit_done();
}

/// Shows `fb` on `plane` with an atomic commit (`drm_atomic_helper_page_flip`, as a
/// compositor flips with `DRM_MODE_PAGE_FLIP_EVENT`): blocking or `nonblock`, with an
/// out-fence if `out_fence`. A flip on a CRTC that is off turns it on (a modeset). Backs off
/// and retries on contention with other commits.
///
/// # Errors
/// `Enodev` after unplug; `Ebusy` for a nonblocking flip while the previous one on that
/// CRTC has not completed; `Einval` for an unknown plane.
#[doc(alias = "drm_atomic_helper_page_flip")]
#[track_caller]
pub fn page_flip(
    cfg: &Arc<DrmModeConfig>,
    plane: usize,
    fb: Arc<DrmFramebuffer>,
    nonblock: bool,
    out_fence: bool,
) -> KResult<Option<Arc<SyncFile>>> {
    page_flip_unless(cfg, plane, fb, nonblock, out_fence, || false)
}

/// [`page_flip`], refused with `Enodev` when the device is unplugged or `gone()` says the
/// driver is being torn down. Both are checked again once the CRTC's lock is held, so a
/// flip cannot slip in behind the teardown's shutdown commit (which takes the same lock)
/// and leave a framebuffer pinned or a vblank timer running.
///
/// # Errors
/// As [`page_flip`].
#[track_caller]
pub fn page_flip_unless(
    cfg: &Arc<DrmModeConfig>,
    plane: usize,
    fb: Arc<DrmFramebuffer>,
    nonblock: bool,
    out_fence: bool,
    gone: impl Fn() -> bool,
) -> KResult<Option<Arc<SyncFile>>> {
    let refused = || cfg.dev().is_unplugged() || gone();
    if refused() {
        return Err(Errno::Enodev);
    }
    let crtc = cfg.planes().get(plane).ok_or(Errno::Einval)?.possible_crtc();
    with_modeset_ctx(|ctx| {
        let mut st = DrmAtomicState::new(cfg, ctx);
        let active = st.get_crtc_state(crtc)?.active;
        if refused() {
            return Err(Errno::Enodev);
        }
        if !active {
            st.allow_modeset(true);
            st.set_crtc_active(crtc, true)?;
        }
        st.set_fb_for_plane(plane, Some(fb.clone()))?;
        st.request_event(crtc)?;
        let out = if out_fence {
            Some(st.set_out_fence(crtc)?)
        } else {
            None
        };
        st.commit(nonblock)?;
        Ok(out)
    })
}

/// Turns every pipeline of `cfg` off with one blocking commit (`drm_atomic_helper_shutdown`):
/// planes off (their framebuffers unpinned), CRTCs off (vblanks off, pending events sent).
///
/// # Errors
/// None expected (a shutdown commit is blocking and valid).
#[doc(alias = "drm_atomic_helper_shutdown")]
#[track_caller]
pub fn shutdown(cfg: &Arc<DrmModeConfig>) -> KResult {
    with_modeset_ctx(|ctx| {
        let mut st = DrmAtomicState::new(cfg, ctx);
        st.allow_modeset(true);
        for p in cfg.planes() {
            st.set_fb_for_plane(p.index(), None)?;
        }
        for c in cfg.crtcs() {
            st.set_crtc_active(c.index(), false)?;
        }
        st.commit(false)
    })
}

/// Waits until no commit is in flight on any CRTC of `cfg` (each one's `cleanup_done`,
/// [`COMMIT_WAIT`] at most per commit). A `might_sleep()`.
#[track_caller]
pub fn wait_idle(cfg: &DrmModeConfig) {
    lockdep::might_sleep();
    for c in cfg.crtcs() {
        loop {
            let pending: Vec<_> = c.commit_list().lock().iter().cloned().collect();
            if pending.is_empty() {
                break;
            }
            for commit in pending {
                let _ = commit.cleanup_done.wait_for_completion_timeout(COMMIT_WAIT);
            }
        }
    }
}
