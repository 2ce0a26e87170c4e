//! `DrmCrtc`, `DrmCrtcState`, `DrmCrtcCommit`: a scan-out engine, its atomic state, and the
//! progress of one commit on it. Mirrors drivers/gpu/drm/drm_crtc.c (and the commit tracking
//! of include/drm/drm_crtc.h).
//!
//! # Contract
//! - A CRTC's state is replaced as a whole by an atomic commit (`swap_state`); readers get an
//!   `Arc` of the state current when they asked.
//! - Every commit touching a CRTC has a [`DrmCrtcCommit`] whose completions say how far it
//!   got: `hw_done` (the hardware is programmed: the end of the commit's signalling section),
//!   `flip_done` (the new frame is on screen: the vblank event was sent), `cleanup_done` (the
//!   old framebuffers are unpinned). Later commits wait on them (`wait_for_dependencies`),
//!   and a nonblocking commit over one whose `flip_done` is pending fails with `EBUSY`.
//! - The commits in flight are on the CRTC's commit list, newest first, from `swap_state`
//!   until `commit_cleanup_done`.
//! - Out-fences ([`DrmCrtc::create_fence`]) are on the CRTC's own fence timeline and are
//!   signalled with the commit's vblank event.
//!
//! # Locking
//! - `crtc_ww_class_mutex` ([`DrmCrtc::mutex`]): the CRTC's state.
//! - `&crtc->commit_lock` (spinlock): the commit list; a leaf, never under the panic lock.
//! - `&crtc->fence_lock` (spinlock, irq-safe): the lock of every out-fence of the CRTC,
//!   taken in the vblank interrupt under `&dev->event_lock` when the fence signals.
//!
//! # Annotations
//! None of its own; the completions' waits are `might_sleep`.
//!
//! # Rules
//! R20 (`hw_done` ends the signalling section), R21 (after `hw_done` only completions and
//! fences are waited, no modeset lock taken).
//!
//! # Simplified
//! - No modes, gamma or properties: the state is whether the CRTC is active plus the commit
//!   bookkeeping.
//! - `abort_completion` and the `drm_crtc_commit` reference to the event are left out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use lockdep::{LockClass, SpinLock};

use crate::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceLock, DmaFenceOps};
use crate::drm_modeset_lock::DrmModesetLock;
use crate::wait::Completion;

static COMMIT_LOCK: LockClass = LockClass::new("&crtc->commit_lock");
static FENCE_LOCK: LockClass = LockClass::new("&crtc->fence_lock");

/// One commit's progress on one CRTC (`struct drm_crtc_commit`).
#[derive(Debug)]
pub struct DrmCrtcCommit {
    crtc: usize,
    seq: u64,
    /// The vblank event was sent: the new state is on screen.
    pub flip_done: Completion,
    /// The hardware is programmed (`drm_atomic_helper_commit_hw_done`).
    pub hw_done: Completion,
    /// The old state is cleaned up (`drm_atomic_helper_commit_cleanup_done`).
    pub cleanup_done: Completion,
}

impl DrmCrtcCommit {
    pub(crate) fn new(crtc: usize, seq: u64) -> Arc<DrmCrtcCommit> {
        Arc::new(DrmCrtcCommit {
            crtc,
            seq,
            flip_done: Completion::new("&commit->flip_done"),
            hw_done: Completion::new("&commit->hw_done"),
            cleanup_done: Completion::new("&commit->cleanup_done"),
        })
    }

    /// The CRTC it commits to.
    pub fn crtc(&self) -> usize {
        self.crtc
    }

    /// Its number among the commits of its CRTC (1 for the first), for ordering checks.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// A CRTC's atomic state (`struct drm_crtc_state`).
#[derive(Clone, Debug, Default)]
pub struct DrmCrtcState {
    /// Its CRTC.
    pub crtc: usize,
    /// Whether the CRTC scans out (`active`): only an active CRTC has vblanks.
    pub active: bool,
    /// Whether user space asked for a completion event (`DRM_MODE_PAGE_FLIP_EVENT`).
    pub event: bool,
    /// The out-fence of the commit that made this state (`OUT_FENCE_PTR`), signalled with
    /// its vblank event.
    pub out_fence: Option<Arc<DmaFence>>,
    /// The commit that made this state (`commit`).
    pub commit: Option<Arc<DrmCrtcCommit>>,
    /// Whether the commit changed `active` (a modeset: `active_changed`).
    pub active_changed: bool,
    /// Whether the commit changed a plane on this CRTC (`planes_changed`).
    pub planes_changed: bool,
}

/// The out-fences' provider: fences signalled by the vblank interrupt.
struct CrtcFenceOps {
    name: &'static str,
}

impl DmaFenceOps for CrtcFenceOps {
    fn get_driver_name(&self) -> &'static str {
        "drm_crtc"
    }
    fn get_timeline_name(&self) -> &'static str {
        self.name
    }
}

/// A scan-out engine (`struct drm_crtc`).
pub struct DrmCrtc {
    index: usize,
    mutex: DrmModesetLock,
    /// The current state. Written only under this CRTC's modeset lock; the std mutex only
    /// satisfies Rust's aliasing rules (it is held for a pointer copy, never across a lock).
    state: StdMutex<Arc<DrmCrtcState>>,
    /// In-flight commits, newest first (`commit_list`).
    commit_list: SpinLock<VecDeque<Arc<DrmCrtcCommit>>>,
    commit_seq: AtomicU64,
    fence_lock: Arc<DmaFenceLock>,
    fence_ops: Arc<CrtcFenceOps>,
    fence_context: u64,
    fence_seqno: AtomicU64,
}

impl DrmCrtc {
    pub(crate) fn new(index: usize) -> Arc<DrmCrtc> {
        let name: &'static str = Box::leak(format!("crtc-{index}").into_boxed_str());
        Arc::new(DrmCrtc {
            index,
            mutex: DrmModesetLock::new(),
            state: StdMutex::new(Arc::new(DrmCrtcState {
                crtc: index,
                ..DrmCrtcState::default()
            })),
            commit_list: SpinLock::with_class(VecDeque::new(), &COMMIT_LOCK),
            commit_seq: AtomicU64::new(0),
            fence_lock: DmaFenceLock::new(&FENCE_LOCK),
            fence_ops: Arc::new(CrtcFenceOps { name }),
            fence_context: dma_fence_context_alloc(1),
            fence_seqno: AtomicU64::new(0),
        })
    }

    /// Its index (`drm_crtc_index`).
    #[doc(alias = "drm_crtc_index")]
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its modeset lock (`crtc->mutex`).
    pub fn mutex(&self) -> &DrmModesetLock {
        &self.mutex
    }

    /// The current state (`crtc->state`).
    pub fn state(&self) -> Arc<DrmCrtcState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs a new state, returning the old one. Only `swap_state` calls it, under the
    /// CRTC's modeset lock.
    pub fn set_state(&self, new: Arc<DrmCrtcState>) -> Arc<DrmCrtcState> {
        self.mutex.assert_held();
        std::mem::replace(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()), new)
    }

    /// The `&crtc->commit_lock` list of in-flight commits, newest first.
    pub fn commit_list(&self) -> &SpinLock<VecDeque<Arc<DrmCrtcCommit>>> {
        &self.commit_list
    }

    /// A new commit on this CRTC (`kzalloc` + `init_commit` in `setup_commit`).
    pub fn new_commit(&self) -> Arc<DrmCrtcCommit> {
        DrmCrtcCommit::new(self.index, self.commit_seq.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// A new out-fence on the CRTC's timeline (`drm_crtc_create_fence`): pending until the
    /// vblank event of its commit is sent.
    #[doc(alias = "drm_crtc_create_fence")]
    pub fn create_fence(&self) -> Arc<DmaFence> {
        let seqno = self.fence_seqno.fetch_add(1, Ordering::Relaxed) + 1;
        DmaFence::init_with_lock(
            self.fence_ops.clone(),
            &self.fence_lock,
            self.fence_context,
            seqno,
        )
    }

    /// How many out-fences were created on it.
    pub fn fences_created(&self) -> u64 {
        self.fence_seqno.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for DrmCrtc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmCrtc").field("index", &self.index).finish()
    }
}
