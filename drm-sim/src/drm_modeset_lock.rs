//! `DrmModesetLock`, `DrmModesetAcquireCtx`: the wound-wait locks of KMS objects and the
//! transaction that takes them. Mirrors drivers/gpu/drm/drm_modeset_lock.c.
//!
//! # Contract
//! - Every KMS object that atomic state can touch (the connection state, each CRTC, each
//!   plane, private objects) has a [`DrmModesetLock`]; an atomic update takes the locks of the
//!   objects it reads or changes, in whatever order it meets them, through one
//!   [`DrmModesetAcquireCtx`]. That is why they are ww mutexes: two updates that meet each
//!   other's locks resolve it by backing off instead of by a global order.
//! - [`DrmModesetAcquireCtx::lock`] returns `Err(Edeadlk)` when this transaction must back
//!   off: the caller drops everything derived from the locks (its atomic state) and calls
//!   [`DrmModesetAcquireCtx::backoff`], which drops every lock and then waits for the
//!   contended one, then retries from the start. [`with_modeset_locks`] is that loop.
//! - Taking a lock the context already holds is no error (`-EALREADY` is swallowed, as the
//!   kernel does: atomic code looks objects up many times).
//! - The context holds its locks until [`DrmModesetAcquireCtx::drop_locks`] or
//!   [`DrmModesetAcquireCtx::fini`] (also on drop).
//!
//! # Locking
//! - `crtc_ww_class_acquire`: the context (one per thread at a time: it is a lock class).
//! - `crtc_ww_class_mutex`: every modeset lock, taken with the context as nest lock.
//! - Order (R18, R19): `&client->modeset_mutex` → `&dev->mode_config.mutex` →
//!   `crtc_ww_class_acquire` → `crtc_ww_class_mutex` → `&mm->mmap_lock` (user copies) →
//!   `reservation_ww_class_acquire` → `reservation_ww_class_mutex`; `drmm_mode_config_init`
//!   primes it (see [`crate::drm_mode_config`]).
//!
//! # Annotations
//! The ww mutex's own: protocol misuse (not backing off, finishing with locks held, a second
//! context on one thread) is reported by the validator.
//!
//! # Rules
//! R13, R14 (the ww protocol), R18 (modeset locks outside resv), R19 (legacy mutexes first).
//!
//! # Simplified
//! - No signals: `DRM_MODESET_ACQUIRE_INTERRUPTIBLE` is accepted and changes nothing.
//! - No `trylock_only` mode (the kernel's atomic-context path for panic and oops printing).
//! - Private objects are not modelled; the locks are the connection mutex, CRTCs and planes.

use std::sync::Arc;

use lockdep::{WwAcquireCtx, WwClass, WwError, WwMutex, WwMutexGuard};

use crate::drm_mode_config::DrmModeConfig;
use crate::error::{Errno, KResult};

/// The class of every modeset lock and acquire context (`static DEFINE_WW_CLASS(crtc_ww_class)`):
/// wound-wait, printed `crtc_ww_class_acquire` / `crtc_ww_class_mutex`.
pub static CRTC_WW_CLASS: WwClass = WwClass::wound_wait("crtc_ww_class");

/// `DRM_MODESET_ACQUIRE_INTERRUPTIBLE`: waits may be interrupted by signals (none here).
pub const DRM_MODESET_ACQUIRE_INTERRUPTIBLE: u32 = 1 << 0;

/// A KMS object's lock (`struct drm_modeset_lock`).
///
/// The mutex is behind an `Arc` so an acquire context can keep a held lock alive on its own,
/// whichever object the lock belongs to.
pub struct DrmModesetLock {
    mutex: Arc<WwMutex<()>>,
}

impl DrmModesetLock {
    /// A new unlocked modeset lock (`drm_modeset_lock_init`).
    #[doc(alias = "drm_modeset_lock_init")]
    pub fn new() -> DrmModesetLock {
        DrmModesetLock {
            mutex: Arc::new(WwMutex::new((), &CRTC_WW_CLASS)),
        }
    }

    /// Asserts that this thread holds it (`drm_modeset_lock_assert_held`).
    #[doc(alias = "drm_modeset_lock_assert_held")]
    #[track_caller]
    pub fn assert_held(&self) {
        lockdep::assert_held(&*self.mutex);
    }

    /// Whether anyone holds it (`drm_modeset_is_locked`).
    #[doc(alias = "drm_modeset_is_locked")]
    pub fn is_locked(&self) -> bool {
        self.mutex.is_locked()
    }

    /// Takes it without a context (`drm_modeset_lock_single_interruptible`, which is
    /// `drm_modeset_lock(lock, NULL)`): a plain mutex, for legacy paths that lock one object.
    /// Holding another modeset lock meanwhile is recursive locking.
    #[doc(alias = "drm_modeset_lock_single_interruptible")]
    #[track_caller]
    pub fn lock_single_interruptible(&self) -> WwMutexGuard<'_, ()> {
        self.mutex.lock_noctx()
    }

    /// The lockable, for `lockdep::assert_held` and friends.
    pub fn lock_ref(&self) -> &impl lockdep::Lockable {
        &*self.mutex
    }
}

impl Default for DrmModesetLock {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DrmModesetLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmModesetLock")
            .field("locked", &self.is_locked())
            .finish()
    }
}

/// One lock held by a context. The guard is declared first so it is released before the
/// context lets go of the mutex.
struct Held {
    _guard: WwMutexGuard<'static, ()>,
    mutex: Arc<WwMutex<()>>,
}

/// A modeset transaction (`struct drm_modeset_acquire_ctx`). Not `Send`: the ww context
/// belongs to its thread.
pub struct DrmModesetAcquireCtx {
    /// Held locks, newest last. Every guard borrows `ww` and its own `mutex`, both heap
    /// allocations that outlive it (see [`Self::extend`]). Declared before `ww`.
    locked: Vec<Held>,
    /// The lock that returned `-EDEADLK`, taken by [`Self::backoff`].
    contended: Option<Arc<WwMutex<()>>>,
    interruptible: bool,
    ww: Box<WwAcquireCtx>,
}

impl DrmModesetAcquireCtx {
    /// Starts a transaction (`drm_modeset_acquire_init`): `ww_acquire_init` on
    /// [`CRTC_WW_CLASS`]. `flags`: [`DRM_MODESET_ACQUIRE_INTERRUPTIBLE`] or 0.
    #[doc(alias = "drm_modeset_acquire_init")]
    #[track_caller]
    pub fn init(flags: u32) -> DrmModesetAcquireCtx {
        DrmModesetAcquireCtx {
            locked: Vec::new(),
            contended: None,
            interruptible: flags & DRM_MODESET_ACQUIRE_INTERRUPTIBLE != 0,
            ww: Box::new(WwAcquireCtx::new(&CRTC_WW_CLASS)),
        }
    }

    /// Makes a guard live as long as the context.
    ///
    /// # Safety
    /// `guard` must borrow only `self.ww` and `mutex`, and be stored next to `mutex` in
    /// `self.locked`: `ww` is boxed and `mutex` is an `Arc`, so moving the context moves
    /// neither, and every guard is dropped before both (field order of [`Held`], and
    /// [`Self::drop_locks`] runs before `ww` goes).
    unsafe fn extend(guard: WwMutexGuard<'_, ()>) -> WwMutexGuard<'static, ()> {
        // SAFETY: only the lifetime changes; the caller upholds the borrow's validity.
        unsafe { std::mem::transmute::<WwMutexGuard<'_, ()>, WwMutexGuard<'static, ()>>(guard) }
    }

    /// Whether the transaction was started interruptible.
    pub fn is_interruptible(&self) -> bool {
        self.interruptible
    }

    /// How many locks it holds.
    pub fn locked(&self) -> usize {
        self.locked.len()
    }

    /// Whether it holds `lock`.
    pub fn holds(&self, lock: &DrmModesetLock) -> bool {
        self.locked.iter().any(|h| Arc::ptr_eq(&h.mutex, &lock.mutex))
    }

    /// The ww context, for code that checks which transaction holds a lock.
    pub fn ww_ctx(&self) -> &WwAcquireCtx {
        &self.ww
    }

    /// Locks `lock` in this transaction (`drm_modeset_lock`). Already holding it is success.
    ///
    /// # Errors
    /// `Edeadlk`: back off — drop everything built on the locks, call
    /// [`backoff`](Self::backoff), and retry the whole update.
    #[doc(alias = "drm_modeset_lock")]
    #[track_caller]
    pub fn lock(&mut self, lock: &DrmModesetLock) -> KResult {
        self.modeset_lock(&lock.mutex, false)
    }

    #[track_caller]
    fn modeset_lock(&mut self, mutex: &Arc<WwMutex<()>>, slow: bool) -> KResult {
        let ww: &WwAcquireCtx = &self.ww;
        // SAFETY: `ww` is the boxed context, which outlives every held guard (see `extend`);
        // the reference is only used to take the lock.
        let ww: &'static WwAcquireCtx = unsafe { &*(ww as *const WwAcquireCtx) };
        let m: &'static WwMutex<()> = {
            // SAFETY: the guard is stored with a clone of `mutex`, which keeps it alive.
            unsafe { &*Arc::as_ptr(mutex) }
        };
        let r = if slow { Ok(m.lock_slow(ww)) } else { m.lock(ww) };
        match r {
            Ok(g) => {
                // SAFETY: `g` borrows the boxed ww context and `mutex`, stored alongside.
                let guard = unsafe { Self::extend(g) };
                self.locked.push(Held {
                    _guard: guard,
                    mutex: mutex.clone(),
                });
                Ok(())
            }
            Err(WwError::Already) => Ok(()),
            Err(WwError::Deadlk) => {
                self.contended = Some(mutex.clone());
                Err(Errno::Edeadlk)
            }
        }
    }

    /// Backs off after `-EDEADLK` (`drm_modeset_backoff`): drops every lock, then waits for
    /// the contended one (`ww_mutex_lock_slow`) and holds it.
    ///
    /// # Errors
    /// None in this simulation (the kernel returns `-EINTR` for an interrupted wait).
    ///
    /// # Panics
    /// If nothing was contended (the kernel's `WARN_ON`): backing off without a reason is a
    /// bug in the caller.
    #[doc(alias = "drm_modeset_backoff")]
    #[track_caller]
    pub fn backoff(&mut self) -> KResult {
        let contended = self
            .contended
            .take()
            .expect("drm_modeset_backoff() without a contended lock");
        self.drop_locks();
        self.modeset_lock(&contended, true)
    }

    /// Releases every lock (`drm_modeset_drop_locks`), newest first; the transaction goes on.
    #[doc(alias = "drm_modeset_drop_locks")]
    pub fn drop_locks(&mut self) {
        while let Some(h) = self.locked.pop() {
            drop(h);
        }
    }

    /// Ends the transaction (`drm_modeset_acquire_fini`), releasing what it still holds.
    #[doc(alias = "drm_modeset_acquire_fini")]
    pub fn fini(self) {
        drop(self);
    }
}

impl Drop for DrmModesetAcquireCtx {
    fn drop(&mut self) {
        self.drop_locks();
    }
}

impl std::fmt::Debug for DrmModesetAcquireCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmModesetAcquireCtx")
            .field("locked", &self.locked.len())
            .field("contended", &self.contended.is_some())
            .finish()
    }
}

/// Takes every modeset lock of the device in `ctx` (`drm_modeset_lock_all_ctx`): the
/// connection mutex, then each CRTC's, then each plane's.
///
/// # Errors
/// `Edeadlk`: back off with [`DrmModesetAcquireCtx::backoff`] and retry.
#[track_caller]
pub fn drm_modeset_lock_all_ctx(cfg: &DrmModeConfig, ctx: &mut DrmModesetAcquireCtx) -> KResult {
    ctx.lock(cfg.connection_mutex())?;
    for crtc in cfg.crtcs() {
        ctx.lock(crtc.mutex())?;
    }
    for plane in cfg.planes() {
        ctx.lock(plane.mutex())?;
    }
    Ok(())
}

/// Runs `body` with every modeset lock of the device held (`DRM_MODESET_LOCK_ALL_BEGIN` /
/// `_END`): a fresh transaction, all locks taken, the body run; on `-EDEADLK` from either the
/// locking or the body, back off and run both again. The body may take more locks through
/// the context it is given. Returns the body's result; the locks are dropped and the context
/// finished either way.
///
/// # Errors
/// Whatever `body` returns other than `Edeadlk`.
#[track_caller]
pub fn with_modeset_locks<T>(
    cfg: &DrmModeConfig,
    mut body: impl FnMut(&mut DrmModesetAcquireCtx) -> KResult<T>,
) -> KResult<T> {
    let mut ctx = DrmModesetAcquireCtx::init(DRM_MODESET_ACQUIRE_INTERRUPTIBLE);
    loop {
        let r = drm_modeset_lock_all_ctx(cfg, &mut ctx).and_then(|()| body(&mut ctx));
        match r {
            Err(Errno::Edeadlk) => ctx.backoff()?,
            r => {
                ctx.fini();
                return r;
            }
        }
    }
}

/// Runs `body` in a fresh transaction, backing off and running it again on `-EDEADLK`: the
/// loop every atomic ioctl has, for bodies that take only the locks they need (an atomic
/// update via [`crate::drm_atomic::DrmAtomicState`]).
///
/// # Errors
/// Whatever `body` returns other than `Edeadlk`.
#[track_caller]
pub fn with_modeset_ctx<T>(mut body: impl FnMut(&mut DrmModesetAcquireCtx) -> KResult<T>) -> KResult<T> {
    let mut ctx = DrmModesetAcquireCtx::init(DRM_MODESET_ACQUIRE_INTERRUPTIBLE);
    loop {
        match body(&mut ctx) {
            Err(Errno::Edeadlk) => ctx.backoff()?,
            r => {
                ctx.fini();
                return r;
            }
        }
    }
}
