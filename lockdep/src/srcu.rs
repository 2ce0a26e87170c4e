//! [`Srcu`]: sleepable read-copy-update domains — readers never block, and `synchronize()`
//! waits for every reader that started before it.
//!
//! For the validator a read section is a recursive-read acquisition of the domain's map and
//! `synchronize()` an exclusive acquire-and-release of it (the kernel's `srcu_lock_acquire` /
//! `srcu_lock_sync`): so waiting for a domain while holding a lock that its readers take is a
//! cycle, and `synchronize()` inside a read section of the same domain — which can never
//! return — is reported ("suspicious RCU usage") and panics instead of hanging.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

#[cfg(feature = "check")]
use crate::engine::{
    map::{Key, LockKind},
    validate, DepMap,
};
#[cfg(feature = "check")]
use std::panic::Location;

/// An SRCU domain.
///
/// ```
/// use lockdep::Srcu;
///
/// static UNPLUG: Srcu = Srcu::new("drm_unplug_srcu");
///
/// {
///     let _section = UNPLUG.read_lock();
///     // the device may not go away here
/// }
/// UNPLUG.synchronize(); // waits for sections that started before it
/// ```
pub struct Srcu {
    name: &'static str,
    /// Which counter new readers use.
    idx: AtomicUsize,
    readers: [AtomicUsize; 2],
    /// Serialises grace periods.
    gp: parking_lot::Mutex<()>,
    #[cfg(feature = "check")]
    map: DepMap,
}

/// A read-side critical section; it ends when dropped.
#[must_use = "if unused the read section ends at once"]
pub struct SrcuReadGuard<'a> {
    srcu: &'a Srcu,
    idx: usize,
    _not_send: PhantomData<*const ()>,
}

impl Srcu {
    /// A new domain called `name` (its validator class has the same name).
    pub const fn new(name: &'static str) -> Self {
        Srcu {
            name,
            idx: AtomicUsize::new(0),
            readers: [AtomicUsize::new(0), AtomicUsize::new(0)],
            gp: parking_lot::Mutex::new(()),
            #[cfg(feature = "check")]
            map: DepMap::new(Key::Own(name), LockKind::Srcu),
        }
    }

    /// The domain's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Enters a read section (`srcu_read_lock`). Never blocks; may nest.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn read_lock(&self) -> SrcuReadGuard<'_> {
        #[cfg(feature = "check")]
        validate::acquire(&self.map, 0, 2, false, Location::caller());
        let idx = loop {
            let i = self.idx.load(SeqCst);
            self.readers[i].fetch_add(1, SeqCst);
            // Counted on the index a grace period will wait for, or retry on the new one.
            if self.idx.load(SeqCst) == i {
                break i;
            }
            self.readers[i].fetch_sub(1, SeqCst);
        };
        SrcuReadGuard {
            srcu: self,
            idx,
            _not_send: PhantomData,
        }
    }

    /// Waits until every read section that started before this call has ended
    /// (`synchronize_srcu`).
    ///
    /// # Panics
    /// With the validator on, when called inside a read section of this domain (after
    /// reporting it): that would wait for itself forever.
    #[cfg_attr(feature = "check", track_caller)]
    pub fn synchronize(&self) {
        #[cfg(feature = "check")]
        {
            let loc = Location::caller();
            if validate::is_held(&self.map) {
                validate::misuse(
                    crate::engine::check::Protocol::SrcuSyncInReader { domain: self.name },
                    loc,
                );
                panic!(
                    "lockdep: synchronize() of SRCU domain {} inside its own read section would never return",
                    self.name
                );
            }
            validate::might_sleep("synchronize_srcu()", loc);
            let mut a = validate::Acquire::of(&self.map, 0, 0, false, loc);
            a.sync = true; // lock_sync(): no critical section, no irq-enabled usage
            validate::acquire_with(&self.map, a);
            validate::release(&self.map, loc);
        }
        let _gp = self.gp.lock();
        let old = self.idx.fetch_xor(1, SeqCst);
        let mut spins = 0u32;
        while self.readers[old].load(SeqCst) != 0 {
            spins += 1;
            if spins < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}

impl Drop for SrcuReadGuard<'_> {
    fn drop(&mut self) {
        self.srcu.readers[self.idx].fetch_sub(1, SeqCst);
        #[cfg(feature = "check")]
        validate::release(&self.srcu.map, Location::caller());
    }
}

impl crate::Lockable for Srcu {
    fn lock_ref(&self) -> crate::lockable::LockRef<'_> {
        #[cfg(feature = "check")]
        {
            crate::lockable::LockRef::new(&self.map)
        }
        #[cfg(not(feature = "check"))]
        {
            crate::lockable::LockRef::none()
        }
    }
}

impl std::fmt::Debug for Srcu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Srcu").field(&self.name).finish()
    }
}
