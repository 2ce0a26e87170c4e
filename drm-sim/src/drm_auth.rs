//! `DrmMaster`: which open file is a device's DRM master, and the in-kernel clients' check
//! for it. Mirrors drivers/gpu/drm/drm_auth.c (`drm_setmaster_ioctl`, `drm_dropmaster_ioctl`,
//! `drm_master_internal_acquire`, `drm_master_internal_release`).
//!
//! # Contract
//! - At most one open file of a device is its master (the compositor): [`DrmMaster::set_master`]
//!   fails with `-EBUSY` while another file is, [`DrmMaster::drop_master`] gives it up
//!   (closing the file does too).
//! - An in-kernel client (the fbdev emulation) may touch the display only while no file is
//!   master: [`DrmMaster::internal_acquire`] returns a guard holding `&dev->master_mutex`, so
//!   no file can become master until the client is done, or `None` if a master exists.
//!
//! # Locking
//! - `&dev->master_mutex` (mutex): the master. Taken by the master ioctls and held by the
//!   in-kernel clients across their modeset: `&helper->lock -> &dev->master_mutex ->
//!   &client->modeset_mutex` (R19, S23).
//!
//! # Annotations
//! None.
//!
//! # Rules
//! R19.
//!
//! # Simplified
//! - No master objects, leases, authentication magic or `DRM_AUTH` ioctl checks; the master
//!   is a file id. The device has no field for it, so the state lives in a registry by device
//!   number ([`dev_master`]).

use crate::drm_drv::{DrmDevice, DrmFile};
use crate::error::{Errno, KResult};
use lockdep::{LockClass, Mutex, MutexGuard};
use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, OnceLock};

static MASTER_MUTEX: LockClass = LockClass::new("&dev->master_mutex");

/// A device's master state (the `master` half of `struct drm_device`).
pub struct DrmMaster {
    /// `&dev->master_mutex`, guarding the master's file id.
    master: Mutex<Option<u64>>,
}

/// `&dev->master_mutex`, held by an in-kernel client while no file is master
/// (`drm_master_internal_release` on drop).
pub struct DrmMasterInternalGuard<'a> {
    _g: MutexGuard<'a, Option<u64>>,
}

impl std::fmt::Debug for DrmMasterInternalGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DrmMasterInternalGuard")
    }
}

impl DrmMaster {
    fn new() -> DrmMaster {
        DrmMaster {
            master: Mutex::with_class(None, &MASTER_MUTEX),
        }
    }

    /// Makes `file` the master (`DRM_IOCTL_SET_MASTER`).
    ///
    /// # Errors
    /// `Ebusy` if another file is master.
    #[doc(alias = "drm_setmaster_ioctl")]
    #[track_caller]
    pub fn set_master(&self, file: &DrmFile) -> KResult {
        let mut m = self.master.lock();
        match *m {
            Some(id) if id != file.id() => Err(Errno::Ebusy),
            _ => {
                *m = Some(file.id());
                Ok(())
            }
        }
    }

    /// Gives up mastership (`DRM_IOCTL_DROP_MASTER`).
    ///
    /// # Errors
    /// `Einval` if `file` is not the master.
    #[doc(alias = "drm_dropmaster_ioctl")]
    #[track_caller]
    pub fn drop_master(&self, file: &DrmFile) -> KResult {
        let mut m = self.master.lock();
        if *m != Some(file.id()) {
            return Err(Errno::Einval);
        }
        *m = None;
        Ok(())
    }

    /// Whether some file is master.
    pub fn has_master(&self) -> bool {
        self.master.lock().is_some()
    }

    /// For an in-kernel client: takes `&dev->master_mutex` and keeps it if no file is master
    /// (`drm_master_internal_acquire`); `None` (lock dropped) if one is.
    #[doc(alias = "drm_master_internal_acquire")]
    #[track_caller]
    pub fn internal_acquire(&self) -> Option<DrmMasterInternalGuard<'_>> {
        let g = self.master.lock();
        g.is_none().then_some(DrmMasterInternalGuard { _g: g })
    }
}

/// The master state of `dev`, made on first use; a file that is master gives it up when it
/// closes.
pub fn dev_master(dev: &Arc<DrmDevice>) -> Arc<DrmMaster> {
    static DEVICES: OnceLock<StdMutex<HashMap<u32, Arc<DrmMaster>>>> = OnceLock::new();
    DEVICES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(dev.index())
        .or_insert_with(|| Arc::new(DrmMaster::new()))
        .clone()
}

/// `file` becomes master of its device, and gives it up when it closes (`drm_master_release`
/// from `drm_file_free`).
///
/// # Errors
/// As [`DrmMaster::set_master`].
#[track_caller]
pub fn set_master(file: &DrmFile) -> KResult {
    let master = dev_master(file.dev());
    master.set_master(file)?;
    let m = master.clone();
    file.on_close(move |f| {
        let _ = m.drop_master(f);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bugs::Bugs;
    use crate::mm::MmStruct;
    use crate::testing::{kinds, serial};

    #[test]
    fn one_master_at_a_time_and_clients_only_without_one() {
        let _s = serial();
        let dev = DrmDevice::new("auth0", Bugs::NONE);
        let a = DrmFile::open(&dev, MmStruct::new()).unwrap();
        let b = DrmFile::open(&dev, MmStruct::new()).unwrap();
        let master = dev_master(&dev);
        assert!(
            master.internal_acquire().is_some(),
            "no master: the client may modeset"
        );
        set_master(&a).unwrap();
        assert_eq!(master.set_master(&b), Err(Errno::Ebusy));
        assert!(
            master.internal_acquire().is_none(),
            "the compositor owns the display"
        );
        assert_eq!(master.drop_master(&b), Err(Errno::Einval));
        a.close();
        assert!(!master.has_master(), "closing the master's file drops it");
        master.set_master(&b).unwrap();
        master.drop_master(&b).unwrap();
        assert!(master.internal_acquire().is_some());
        assert!(kinds().is_empty());
    }
}
