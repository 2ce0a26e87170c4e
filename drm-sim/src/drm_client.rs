//! `DrmClientDev`: an in-kernel DRM client (the fbdev emulation's) and its mode sets.
//! Mirrors drivers/gpu/drm/drm_client.c and drivers/gpu/drm/drm_client_modeset.c
//! (`drm_client_modeset_commit`, `drm_client_modeset_commit_locked`), plus the device's
//! client list (`dev->clientlist`, `drm_client_dev_suspend`).
//!
//! # Contract
//! - A client owns one mode set per CRTC: which framebuffer its primary plane shows. The mode
//!   sets are guarded by `&client->modeset_mutex`; [`DrmClientDev::modeset_commit`] takes it
//!   and commits them as one atomic update (`drm_client_modeset_commit`), retrying on
//!   `-EDEADLK`; [`DrmClientDev::modeset_commit_locked`] is the same with the mutex already held
//!   and an acquire context the caller may already have used (the legacy pan path).
//! - Clients are registered on their device ([`DrmClientDev::register`], `drm_client_register`)
//!   and found again by device ([`clients_of`]); the GPU reset path of a driver that also
//!   drives a display suspends them ([`tdr_display_hook`]).
//!
//! # Locking
//! - `&client->modeset_mutex` (mutex): the mode sets. Order (R19):
//!   `&client->modeset_mutex -> &dev->mode_config.mutex -> crtc_ww_class_acquire ->
//!   crtc_ww_class_mutex`; the fbdev path adds `console_lock -> &helper->lock ->
//!   &dev->master_mutex` before it ([`crate::drm_fb_helper`]).
//!
//! # Annotations
//! None of its own.
//!
//! # Rules
//! R19 (client mutex before the modeset locks), R4 (no modeset locks in a GPU reset: the
//! `modeset-lock-in-tdr` injected bug), S6 (no `console_lock` there: `console-lock-in-tdr`).
//!
//! # Simplified
//! - No connector probing, mode lists or client hotplug callbacks: each CRTC's mode set is
//!   its primary plane and a framebuffer.
//! - The client list is a process-wide registry keyed by device number (the device has no
//!   field for it).
//! - A reset of a render-only device (the simulated GPUs are devices of their own) acts on the
//!   clients of every device, as if each GPU drove the system's display: the display
//!   reset of amdgpu's and msm's GPU recovery, where GPU and display are one device.

use crate::bugs::Bug;
use crate::console;
use crate::drm_atomic::DrmAtomicState;
use crate::drm_drv::DrmDevice;
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_mode_config::DrmModeConfig;
use crate::drm_modeset_lock::{with_modeset_ctx, with_modeset_locks, DrmModesetAcquireCtx};
use crate::error::KResult;
use lockdep::{LockClass, Mutex, MutexGuard};
use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, OnceLock, Weak};

static CLIENT_MODESET_MUTEX: LockClass = LockClass::new("&client->modeset_mutex");

/// A client's mode sets: the framebuffer each CRTC's primary plane shows (`None`: leave it).
#[derive(Clone, Debug, Default)]
pub struct ClientModesets {
    /// By CRTC index.
    pub fbs: Vec<Option<Arc<DrmFramebuffer>>>,
}

/// `&client->modeset_mutex`, held.
pub type ClientModesetGuard<'a> = MutexGuard<'a, ClientModesets>;

/// An in-kernel client (`struct drm_client_dev`).
pub struct DrmClientDev {
    name: String,
    cfg: Arc<DrmModeConfig>,
    modeset_mutex: Mutex<ClientModesets>,
    /// Called by [`tdr_display_hook`] with `true` before the reset and `false` after
    /// (`drm_client_funcs.suspend` / `.resume`).
    suspend: OnceLock<Box<dyn Fn(bool) + Send + Sync>>,
}

impl DrmClientDev {
    /// A client called `name` of the display `cfg` (`drm_client_init` +
    /// `drm_client_modeset_create`), with no mode set yet.
    pub fn new(name: &str, cfg: &Arc<DrmModeConfig>) -> Arc<DrmClientDev> {
        Arc::new(DrmClientDev {
            name: name.to_string(),
            cfg: cfg.clone(),
            modeset_mutex: Mutex::with_class(
                ClientModesets {
                    fbs: vec![None; cfg.crtcs().len()],
                },
                &CLIENT_MODESET_MUTEX,
            ),
            suspend: OnceLock::new(),
        })
    }

    /// Adds it to its device's client list (`drm_client_register`), so device-wide events
    /// (suspend around a reset) reach it.
    pub fn register(self: &Arc<Self>) {
        let mut r = registry();
        r.entry(self.cfg.dev().index())
            .or_default()
            .push(Arc::downgrade(self));
    }

    /// Sets what the client does on a device suspend or resume (once).
    pub fn set_suspend_hook(&self, f: impl Fn(bool) + Send + Sync + 'static) {
        let _ = self.suspend.set(Box::new(f));
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its display.
    pub fn mode_config(&self) -> &Arc<DrmModeConfig> {
        &self.cfg
    }

    /// Takes `&client->modeset_mutex`.
    #[track_caller]
    pub fn lock_modesets(&self) -> ClientModesetGuard<'_> {
        self.modeset_mutex.lock()
    }

    /// Commits the client's mode sets as one atomic update (`drm_client_modeset_commit`):
    /// `&client->modeset_mutex`, then a modeset transaction with its back-off loop.
    ///
    /// # Errors
    /// What the atomic commit returns.
    #[doc(alias = "drm_client_modeset_commit")]
    #[track_caller]
    pub fn modeset_commit(&self) -> KResult {
        let modesets = self.lock_modesets();
        with_modeset_ctx(|ctx| self.modeset_commit_locked(&modesets, ctx))
    }

    /// Commits `modesets` (the held `&client->modeset_mutex`) in `ctx`
    /// (`drm_client_modeset_commit_locked`), taking the plane and CRTC locks through it.
    ///
    /// # Errors
    /// `Edeadlk`: the caller backs off and retries; otherwise what the commit returns.
    #[doc(alias = "drm_client_modeset_commit_locked")]
    #[track_caller]
    pub fn modeset_commit_locked(
        &self,
        modesets: &ClientModesets,
        ctx: &mut DrmModesetAcquireCtx,
    ) -> KResult {
        lockdep::assert_held(&self.modeset_mutex);
        let mut state = DrmAtomicState::new(&self.cfg, ctx);
        for (crtc, fb) in modesets.fbs.iter().enumerate() {
            let Some(fb) = fb else { continue };
            // Plane `i` is CRTC `i`'s primary plane; a CRTC still off is turned on (the
            // client's first commit is a modeset).
            if !state.get_crtc_state(crtc)?.active {
                state.allow_modeset(true);
                state.set_crtc_active(crtc, true)?;
            }
            state.set_fb_for_plane(crtc, Some(fb.clone()))?;
        }
        state.commit(false)
    }
}

impl std::fmt::Debug for DrmClientDev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmClientDev")
            .field("name", &self.name)
            .field("dev", &self.cfg.dev().name())
            .finish()
    }
}

type Registry = HashMap<u32, Vec<Weak<DrmClientDev>>>;

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static CLIENTS: OnceLock<StdMutex<Registry>> = OnceLock::new();
    CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The live clients registered on `dev`.
pub fn clients_of(dev: &DrmDevice) -> Vec<Arc<DrmClientDev>> {
    let mut r = registry();
    let list = r.entry(dev.index()).or_default();
    list.retain(|w| w.strong_count() > 0);
    list.iter().filter_map(Weak::upgrade).collect()
}

/// Every live client of every device.
fn all_clients() -> Vec<Arc<DrmClientDev>> {
    let mut r = registry();
    r.values_mut()
        .flat_map(|l| {
            l.retain(|w| w.strong_count() > 0);
            l.iter().filter_map(Weak::upgrade).collect::<Vec<_>>()
        })
        .collect()
}

/// The display half of a GPU reset of `dev` (a driver's `timedout_job`, inside its
/// fence-signalling section). A correct driver leaves the display alone here. With
/// `console-lock-in-tdr` it suspends and resumes its clients (`drm_client_dev_suspend`:
/// the fbdev console, under `console_lock`); with `modeset-lock-in-tdr` it saves the display
/// state with every modeset lock held (`drm_atomic_helper_suspend`'s
/// `DRM_MODESET_LOCK_ALL_BEGIN` and state duplication), as amdgpu's reset did. Both take
/// locks the fence path must never take (R4).
///
/// The clients are those of `dev`, or of every device when `dev` has none (see the module's
/// `# Simplified`). With no client anywhere, `console-lock-in-tdr` still suspends and resumes
/// the system console itself.
#[track_caller]
pub fn tdr_display_hook(dev: &DrmDevice) {
    let bugs = dev.bugs();
    let (console_bug, modeset_bug) = (bugs.has(Bug::ConsoleLockInTdr), bugs.has(Bug::ModesetLockInTdr));
    if !console_bug && !modeset_bug {
        return;
    }
    let mut clients = clients_of(dev);
    if clients.is_empty() {
        clients = all_clients();
    }
    if console_bug {
        let hooked: Vec<_> = clients.iter().filter_map(|c| c.suspend.get()).collect();
        if hooked.is_empty() {
            let console = console::console_lock();
            let _ = console::fb_set_suspend(&console, true);
            let _ = console::fb_set_suspend(&console, false);
        }
        for h in &hooked {
            h(true);
        }
        for h in &hooked {
            h(false);
        }
    }
    if modeset_bug {
        for c in &clients {
            let cfg = c.mode_config();
            let _ = with_modeset_locks(cfg, |_ctx| {
                let saved: Vec<_> = cfg.planes().iter().map(|p| p.state()).collect();
                drop(saved);
                Ok(())
            });
        }
    }
}
