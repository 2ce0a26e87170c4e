//! `DrmExec`: locks many GEM objects' reservations as one ww transaction, backing off and
//! retrying on contention. Mirrors drivers/gpu/drm/drm_exec.c.
//!
//! # Contract
//! ```text
//! let mut exec = DrmExec::init(DrmExecFlags::INTERRUPTIBLE_WAIT, 0);
//! exec.until_all_locked(|exec| {
//!     for obj in &objs {
//!         exec.prepare_obj(obj, 1)?;    // -EDEADLK propagates: the loop backs off and retries
//!     }
//!     Ok(())
//! })?;
//! // ... every resv is held: add dependencies, arm the job, add its fence ...
//! drop(exec);                           // drm_exec_fini: unlock all, put the objects
//! ```
//! On `-EDEADLK` the transaction drops every lock, takes the contended object with
//! `dma_resv_lock_slow` at the start of the next round, and runs the body again. Locking an
//! object twice is `-EALREADY`, returned as an error unless [`DrmExecFlags::IGNORE_DUPLICATES`]
//! (objects that share one resv, e.g. an import of a local export, are duplicates too).
//! Objects stay locked, and referenced, until `fini` (R15).
//!
//! # Locking
//! `reservation_ww_class_acquire` (the ticket, held for the life of the `DrmExec`), then any
//! number of `reservation_ww_class_mutex`, each with the ticket as nest lock.
//!
//! # Annotations
//! None beyond the ww mutex's own: protocol misuse (locking after `done`, not backing off,
//! `lock_slow` of another lock, finishing with locks held) is reported by the validator.
//!
//! # Rules
//! R13, R14 (the ww protocol), R15 (locked until fini: [`DrmExec::unlock_all`] unlocks in
//! reverse and puts each object as it goes, so a final put there runs with the remaining
//! objects still locked — a destructor that takes a resv then is S2; GEM defers its frees).
//!
//! # Simplified
//! The ticket is initialised in `init` (the kernel does it in the first `drm_exec_cleanup`);
//! the kernel's `goto`-based loop macros are the [`DrmExec::until_all_locked`] closure loop, or
//! [`DrmExec::cleanup`] in a `while` loop with [`DrmExec::retry_on_contention`].

use std::sync::Arc;

use lockdep::WwAcquireCtx;

use crate::dma_resv::{DmaResv, DmaResvGuard, RESERVATION_WW_CLASS};
use crate::drm_gem::DrmGemObject;
use crate::error::{Errno, KResult};

/// `DRM_EXEC_*` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DrmExecFlags(u32);

impl DrmExecFlags {
    /// No flag.
    pub const NONE: DrmExecFlags = DrmExecFlags(0);
    /// `DRM_EXEC_INTERRUPTIBLE_WAIT`: interruptible locks (the simulation has no signals, so
    /// it changes nothing observable).
    pub const INTERRUPTIBLE_WAIT: DrmExecFlags = DrmExecFlags(1);
    /// `DRM_EXEC_IGNORE_DUPLICATES`: locking an object twice is not an error.
    pub const IGNORE_DUPLICATES: DrmExecFlags = DrmExecFlags(2);

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: DrmExecFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for DrmExecFlags {
    type Output = DrmExecFlags;
    fn bitor(self, rhs: DrmExecFlags) -> DrmExecFlags {
        DrmExecFlags(self.0 | rhs.0)
    }
}

/// One locked object: the guard is declared first so it is dropped (unlocked) before the
/// object reference is put, as `drm_exec_unlock_all` does.
struct Locked {
    guard: DmaResvGuard<'static>,
    obj: Arc<DrmGemObject>,
}

/// A multi-object locking transaction (`struct drm_exec`).
pub struct DrmExec {
    flags: DrmExecFlags,
    /// Locked objects; every guard borrows `ticket` and its object's resv, both of which
    /// outlive it (see [`DrmExec::extend`]). Declared before `ticket`.
    objects: Vec<Locked>,
    /// The object that returned `-EDEADLK`, locked slowly at the start of the next round.
    contended: Option<Arc<DrmGemObject>>,
    /// The object locked by the slow path, not yet reached again by the body.
    prelocked: Option<Arc<DrmGemObject>>,
    /// Before the first round (the kernel's `DRM_EXEC_DUMMY`).
    first: bool,
    ticket: Box<WwAcquireCtx>,
}

impl std::fmt::Debug for DrmExec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmExec")
            .field("flags", &self.flags)
            .field("objects", &self.objects.len())
            .field("contended", &self.contended.is_some())
            .finish()
    }
}

impl DrmExec {
    /// Starts a transaction (`drm_exec_init`); `nr` is a capacity hint.
    #[doc(alias = "drm_exec_init")]
    pub fn init(flags: DrmExecFlags, nr: usize) -> DrmExec {
        DrmExec {
            flags,
            objects: Vec::with_capacity(nr.max(1)),
            contended: None,
            prelocked: None,
            first: true,
            ticket: Box::new(WwAcquireCtx::new(&RESERVATION_WW_CLASS)),
        }
    }

    /// Makes a guard live as long as the transaction.
    ///
    /// # Safety
    /// `guard` must borrow only `self.ticket` and the resv of an object that `self` keeps a
    /// reference to for as long as the guard lives. Both are heap allocations (a `Box`, an
    /// `Arc`), so moving the `DrmExec` does not move them; every guard is dropped before its
    /// object's reference (field order of [`Locked`]) and before the ticket (`Drop`).
    unsafe fn extend(guard: DmaResvGuard<'_>) -> DmaResvGuard<'static> {
        // SAFETY: only the lifetime changes; the caller upholds the borrow's validity.
        unsafe { std::mem::transmute::<DmaResvGuard<'_>, DmaResvGuard<'static>>(guard) }
    }

    /// Whether the last lock attempt returned `-EDEADLK` (`drm_exec_is_contended`).
    #[doc(alias = "drm_exec_is_contended")]
    pub fn is_contended(&self) -> bool {
        self.contended.is_some()
    }

    /// Loop condition of the retry loop (`drm_exec_cleanup`): true to run (again) the locking
    /// body — first round, or after contention, once every lock was dropped; false when all is
    /// locked, which ends the locking phase (`ww_acquire_done`).
    #[doc(alias = "drm_exec_cleanup")]
    pub fn cleanup(&mut self) -> bool {
        if self.first {
            self.first = false;
            return true;
        }
        if self.contended.is_none() {
            self.ticket.done();
            return false;
        }
        self.unlock_all();
        true
    }

    /// In a body run by [`cleanup`](Self::cleanup): whether it must stop and start over
    /// (`drm_exec_retry_on_contention`).
    #[doc(alias = "drm_exec_retry_on_contention")]
    pub fn retry_on_contention(&self) -> bool {
        self.is_contended()
    }

    /// Runs `body` until it has locked everything without contention
    /// (`drm_exec_until_all_locked`). `Err(Edeadlk)` from the body, while contended, starts
    /// another round; any other error is returned, with the objects locked so far still
    /// locked until the `DrmExec` is dropped.
    ///
    /// # Errors
    /// Whatever `body` returns other than a retried `Edeadlk`.
    #[doc(alias = "drm_exec_until_all_locked")]
    pub fn until_all_locked(&mut self, mut body: impl FnMut(&mut DrmExec) -> KResult) -> KResult {
        while self.cleanup() {
            match body(self) {
                Ok(()) => {}
                Err(Errno::Edeadlk) if self.is_contended() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes the object that was contended, waiting for it (`drm_exec_lock_contended`).
    fn lock_contended(&mut self) {
        let Some(obj) = self.contended.take() else {
            return;
        };
        let guard = obj.resv().lock_slow(&self.ticket);
        // SAFETY: borrows the ticket and `obj`'s resv; `obj` is kept in the same entry.
        let guard = unsafe { Self::extend(guard) };
        self.objects.push(Locked {
            guard,
            obj: obj.clone(),
        });
        self.prelocked = Some(obj);
    }

    /// Locks one object's resv and keeps a reference to the object (`drm_exec_lock_obj`).
    ///
    /// # Errors
    /// `Edeadlk`: contention with an older transaction — return it from the body so the loop
    /// backs off; `Ealready`: locked already in this transaction (not with
    /// `IGNORE_DUPLICATES`).
    #[doc(alias = "drm_exec_lock_obj")]
    pub fn lock_obj(&mut self, obj: &Arc<DrmGemObject>) -> KResult {
        self.lock_contended();
        if self.prelocked.as_ref().is_some_and(|p| Arc::ptr_eq(p, obj)) {
            self.prelocked = None;
            return Ok(());
        }
        match obj.resv().lock(Some(&*self.ticket)) {
            Ok(guard) => {
                // SAFETY: borrows the ticket and `obj`'s resv; the entry keeps `obj`.
                let guard = unsafe { Self::extend(guard) };
                self.objects.push(Locked {
                    guard,
                    obj: obj.clone(),
                });
                Ok(())
            }
            Err(Errno::Edeadlk) => {
                self.contended = Some(obj.clone());
                Err(Errno::Edeadlk)
            }
            Err(Errno::Ealready) if self.flags.contains(DrmExecFlags::IGNORE_DUPLICATES) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Unlocks one object and puts the reference (`drm_exec_unlock_obj`); a no-op if it is
    /// not locked here.
    #[doc(alias = "drm_exec_unlock_obj")]
    pub fn unlock_obj(&mut self, obj: &Arc<DrmGemObject>) {
        if let Some(i) = self.objects.iter().rposition(|l| Arc::ptr_eq(&l.obj, obj)) {
            drop(self.objects.remove(i));
        }
    }

    /// Locks an object and reserves `num_fences` slots in its resv (`drm_exec_prepare_obj`).
    ///
    /// # Errors
    /// As [`lock_obj`](Self::lock_obj), plus `Enomem` from the reservation (the object is
    /// unlocked again then).
    #[doc(alias = "drm_exec_prepare_obj")]
    pub fn prepare_obj(&mut self, obj: &Arc<DrmGemObject>, num_fences: usize) -> KResult {
        self.lock_obj(obj)?;
        let res = {
            let guard = self.guard(obj).expect("locked just above");
            guard.resv().reserve_fences(guard, num_fences)
        };
        if res.is_err() {
            self.unlock_obj(obj);
        }
        res
    }

    /// [`prepare_obj`](Self::prepare_obj) for every object (`drm_exec_prepare_array`).
    ///
    /// # Errors
    /// The first error of `prepare_obj`.
    #[doc(alias = "drm_exec_prepare_array")]
    pub fn prepare_array(&mut self, objs: &[Arc<DrmGemObject>], num_fences: usize) -> KResult {
        for o in objs {
            self.prepare_obj(o, num_fences)?;
        }
        Ok(())
    }

    /// The locked objects, in locking order (`drm_exec_for_each_locked_object`).
    #[doc(alias = "drm_exec_for_each_locked_object")]
    pub fn objects(&self) -> impl Iterator<Item = &Arc<DrmGemObject>> + '_ {
        self.objects.iter().map(|l| &l.obj)
    }

    /// How many objects are locked.
    pub fn num_objects(&self) -> usize {
        self.objects.len()
    }

    /// The held guard of `obj`'s resv, for the `_locked` helpers; also found for an object
    /// that shares its resv with a locked one.
    pub fn guard(&self, obj: &DrmGemObject) -> Option<&DmaResvGuard<'_>> {
        self.guard_of(obj.resv())
    }

    /// The held guard of `resv`, if this transaction holds it.
    pub fn guard_of(&self, resv: &DmaResv) -> Option<&DmaResvGuard<'_>> {
        self.objects
            .iter()
            .find(|l| std::ptr::eq(l.guard.resv(), resv))
            .map(|l| &l.guard)
    }

    /// Unlocks every object in reverse order, putting each reference as it goes
    /// (`drm_exec_unlock_all`). A put here may be an object's last while the objects before it
    /// are still locked (R15).
    #[doc(alias = "drm_exec_unlock_all")]
    pub fn unlock_all(&mut self) {
        while let Some(l) = self.objects.pop() {
            drop(l);
        }
        self.prelocked = None;
    }

    /// Ends the transaction (`drm_exec_fini`): unlocks and puts everything, then finishes the
    /// ticket (`ww_acquire_fini`). Dropping the `DrmExec` does the same.
    #[doc(alias = "drm_exec_fini")]
    pub fn fini(self) {
        drop(self);
    }
}

impl Drop for DrmExec {
    fn drop(&mut self) {
        self.unlock_all();
        self.contended = None;
        // `ticket` drops after this: every guard borrowing it is gone.
    }
}
