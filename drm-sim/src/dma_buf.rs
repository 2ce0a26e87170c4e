//! `DmaBuf`: a buffer shared between devices — export, import, attachments, kernel mappings,
//! implicit-sync bridging with sync_files, and poll. Mirrors drivers/dma-buf/dma-buf.c (with
//! the GEM side of drivers/gpu/drm/drm_prime.c).
//!
//! # Contract
//! [`DmaBuf::export`] wraps a native GEM object (`drm_gem_prime_export`; the dma-buf shares the
//! object's resv and is cached on it); [`DmaBuf::import`] gives another device a GEM object of
//! its own backed by the same memory and resv (importing on the exporting device returns the
//! exporter's object). The dma-buf keeps the exporter's object — and so its memory — alive: an
//! importer can read the buffer after the exporter's device is unplugged.
//!
//! The locking convention (R16) is asserted on every call: `attach`, `detach`, `export`,
//! `import`, the `_unlocked` variants, `begin_cpu_access`, `end_cpu_access`,
//! `export_sync_file`, `import_sync_file` and `poll` must
//! be called *without* the resv (they take it themselves where needed);
//! `map_attachment`, `unmap_attachment`, `vmap`, `vunmap`, `pin` and `unpin` take the caller's
//! held guard.
//!
//! # Locking
//! - `reservation_ww_class_mutex` (the dma-buf's resv, without a ctx in `attach`, `detach`,
//!   `import_sync_file`, `poll` and the `_unlocked` variants).
//! - `&dmabuf->poll`: the poll wait queue's lock, taken from a fence callback under
//!   `&fence->lock` (so `&fence->lock -> &dmabuf->poll`).
//!
//! # Annotations
//! Per call (R16): `#[requires_held(self.resv().lock_ref())]` on the locked operations,
//! `DmaResv::assert_not_held` on entry of the others.
//!
//! # Rules
//! R7 (`import_sync_file` may put a signalled fence's last reference under the resv: S5),
//! R13 (the ctx-less resv locks here must never nest inside another resv), R16, §3.2.
//!
//! # Simplified
//! No file descriptors: a [`DmaBuf`] is shared as an `Arc`; `sg_table`s are the exporter's
//! page vector; only non-dynamic importers (pinned on map, no `move_notify`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use lockdep::{requires_held, LockClass};

use crate::dma_fence::{dma_fence_get_stub, DmaFence};
use crate::dma_fence_unwrap::dma_fence_unwrap;
use crate::dma_resv::{DmaResv, DmaResvGuard, DmaResvUsage};
use crate::drm_drv::DrmDevice;
use crate::drm_gem::{Backing, DrmGemObject, GemCreateFlags};
use crate::drm_gem_shmem_helper::IosysMap;
use crate::error::{Errno, KResult};
use crate::sync_file::SyncFile;
use crate::wait::WaitQueueHead;

static POLL_CLASS: LockClass = LockClass::new("&dmabuf->poll");

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A shared buffer (`struct dma_buf`).
pub struct DmaBuf {
    id: u64,
    /// The exporting GEM object (`dmabuf->priv`).
    exporter: Arc<DrmGemObject>,
    /// Attachments, changed under the resv (`dmabuf->attachments`).
    attachments: StdMutex<Vec<Weak<DmaBufAttachment>>>,
    poll: WaitQueueHead,
}

impl std::fmt::Debug for DmaBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaBuf")
            .field("id", &self.id)
            .field("exporter", &self.exporter.id())
            .field("size", &self.size())
            .finish()
    }
}

/// A device's attachment to a dma-buf (`struct dma_buf_attachment`).
pub struct DmaBufAttachment {
    dmabuf: Arc<DmaBuf>,
    dev: Arc<DrmDevice>,
    /// The mapping made by `map_attachment`, under the resv.
    sgt: StdMutex<Option<IosysMap>>,
}

impl std::fmt::Debug for DmaBufAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaBufAttachment")
            .field("dmabuf", &self.dmabuf.id)
            .field("dev", &self.dev.name())
            .finish()
    }
}

impl DmaBufAttachment {
    /// The dma-buf attached to.
    pub fn dmabuf(&self) -> &Arc<DmaBuf> {
        &self.dmabuf
    }

    /// The importing device.
    pub fn dev(&self) -> &Arc<DrmDevice> {
        &self.dev
    }

    fn sgt(&self) -> std::sync::MutexGuard<'_, Option<IosysMap>> {
        self.sgt.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DmaBuf {
    /// Exports `obj` (`drm_gem_prime_export` → `dma_buf_export`), or returns the dma-buf it
    /// was exported (or imported) as before. Resv not held (R16).
    ///
    /// # Errors
    /// `Einval` for an object that is not shmem-backed nor imported.
    #[doc(alias = "dma_buf_export", alias = "drm_gem_prime_export")]
    pub fn export(obj: &Arc<DrmGemObject>) -> KResult<Arc<DmaBuf>> {
        obj.resv().assert_not_held();
        if let Some(attach) = obj.import_attach() {
            return Ok(attach.dmabuf.clone());
        }
        let mut cached = obj.dma_buf.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = cached.upgrade() {
            return Ok(b);
        }
        if obj.shmem().is_none() {
            return Err(Errno::Einval);
        }
        let buf = Arc::new(DmaBuf {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            exporter: obj.clone(),
            attachments: StdMutex::new(Vec::new()),
            poll: WaitQueueHead::new(&POLL_CLASS),
        });
        *cached = Arc::downgrade(&buf);
        Ok(buf)
    }

    /// A process-unique id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.exporter.size()
    }

    /// The shared reservation object (`dmabuf->resv`).
    pub fn resv(&self) -> &DmaResv {
        self.exporter.resv()
    }

    /// The exporting object.
    pub fn exporter(&self) -> &Arc<DrmGemObject> {
        &self.exporter
    }

    /// Live attachments.
    pub fn attachment_count(&self) -> usize {
        let l = self.attachments.lock().unwrap_or_else(|e| e.into_inner());
        l.iter().filter(|w| w.strong_count() > 0).count()
    }

    /// The guard must be this buffer's resv's (the attribute checks that it is held).
    fn check_held(&self, guard: &DmaResvGuard<'_>) {
        assert!(
            std::ptr::eq(guard.resv(), self.resv()),
            "a guard of another dma_resv passed to a dma-buf operation"
        );
    }

    /// Gives `dev` a GEM object backed by this buffer (`drm_gem_prime_import`): the exporter's
    /// own object if `dev` exported it; otherwise a new object sharing the resv, attached and
    /// mapped (`dma_buf_map_attachment_unlocked`, which pins the exporter's pages). Resv not
    /// held (R16).
    ///
    /// # Errors
    /// `Enodev` if `dev` is unplugged; mapping errors.
    #[doc(alias = "drm_gem_prime_import")]
    pub fn import(self: &Arc<Self>, dev: &Arc<DrmDevice>) -> KResult<Arc<DrmGemObject>> {
        self.import_with(dev, GemCreateFlags::default())
    }

    /// [`import`](Self::import) with the new object's creation flags:
    /// `immediate_free` makes its final put detach inline, which under a `drm_exec`
    /// transaction is S2 (`dma_buf_detach` takes the resv without a ctx).
    ///
    /// # Errors
    /// As [`import`](Self::import).
    pub fn import_with(
        self: &Arc<Self>,
        dev: &Arc<DrmDevice>,
        flags: GemCreateFlags,
    ) -> KResult<Arc<DrmGemObject>> {
        self.resv().assert_not_held();
        if Arc::ptr_eq(self.exporter.dev(), dev) {
            return Ok(self.exporter.clone());
        }
        if dev.is_unplugged() {
            return Err(Errno::Enodev);
        }
        let attach = self.attach(dev)?;
        if let Err(e) = self.map_attachment_unlocked(&attach) {
            self.detach(&attach);
            return Err(e);
        }
        Ok(DrmGemObject::new(
            dev,
            self.size(),
            Some(self.exporter.resv_arc().clone()),
            Backing::Import(attach),
            flags,
        ))
    }

    /// Attaches `dev` (`dma_buf_attach`). Resv not held (R16): it is taken here, without a
    /// ctx, to add the attachment.
    ///
    /// # Errors
    /// `Enodev` if the exporter's object is gone (never, while `self` lives).
    #[doc(alias = "dma_buf_attach", alias = "dma_buf_dynamic_attach")]
    pub fn attach(self: &Arc<Self>, dev: &Arc<DrmDevice>) -> KResult<Arc<DmaBufAttachment>> {
        self.resv().assert_not_held();
        let attach = Arc::new(DmaBufAttachment {
            dmabuf: self.clone(),
            dev: dev.clone(),
            sgt: StdMutex::new(None),
        });
        let g = self.resv().lock(None)?;
        self.attachments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&attach));
        drop(g);
        Ok(attach)
    }

    /// Detaches (`dma_buf_detach`): unmaps a mapping left behind and removes the attachment,
    /// under the resv taken here without a ctx — so the caller must not hold the resv, nor any
    /// other resv (R13, S2). Resv not held (R16).
    #[doc(alias = "dma_buf_detach")]
    pub fn detach(&self, attach: &DmaBufAttachment) {
        self.resv().assert_not_held();
        let Ok(g) = self.resv().lock(None) else { return };
        if attach.sgt().take().is_some() {
            self.exporter.unpin_locked(&g);
        }
        self.attachments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), attach));
        drop(g);
    }

    /// Maps the buffer for `attach`'s device (`dma_buf_map_attachment`): pins the exporter's
    /// pages (a non-dynamic importer) and returns them. Resv held (R16).
    ///
    /// # Errors
    /// The exporter's pin errors.
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "dma_buf_map_attachment")]
    pub fn map_attachment(&self, guard: &DmaResvGuard<'_>, attach: &DmaBufAttachment) -> KResult<IosysMap> {
        self.check_held(guard);
        if let Some(m) = attach.sgt().as_ref() {
            return Ok(m.clone());
        }
        self.exporter.pin_locked(guard)?;
        let pages = self
            .exporter
            .pages_locked(guard)
            .expect("pinned pages are resident");
        let map = IosysMap::new(pages);
        *attach.sgt() = Some(map.clone());
        Ok(map)
    }

    /// Undoes [`map_attachment`](Self::map_attachment) (`dma_buf_unmap_attachment`). Resv
    /// held (R16).
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "dma_buf_unmap_attachment")]
    pub fn unmap_attachment(&self, guard: &DmaResvGuard<'_>, attach: &DmaBufAttachment) {
        self.check_held(guard);
        if attach.sgt().take().is_some() {
            self.exporter.unpin_locked(guard);
        }
    }

    /// [`map_attachment`](Self::map_attachment), taking the resv without a ctx
    /// (`dma_buf_map_attachment_unlocked`). Resv not held (R16).
    ///
    /// # Errors
    /// As [`map_attachment`](Self::map_attachment).
    #[doc(alias = "dma_buf_map_attachment_unlocked")]
    pub fn map_attachment_unlocked(&self, attach: &DmaBufAttachment) -> KResult<IosysMap> {
        self.resv().assert_not_held();
        let g = self.resv().lock(None)?;
        self.map_attachment(&g, attach)
    }

    /// [`unmap_attachment`](Self::unmap_attachment), taking the resv without a ctx
    /// (`dma_buf_unmap_attachment_unlocked`). Resv not held (R16).
    #[doc(alias = "dma_buf_unmap_attachment_unlocked")]
    pub fn unmap_attachment_unlocked(&self, attach: &DmaBufAttachment) {
        self.resv().assert_not_held();
        if let Ok(g) = self.resv().lock(None) {
            self.unmap_attachment(&g, attach);
        }
    }

    /// Maps the buffer into the kernel (`dma_buf_vmap` → the exporter's `vmap`). Resv held
    /// (R16).
    ///
    /// # Errors
    /// The exporter's vmap errors.
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "dma_buf_vmap")]
    pub fn vmap(&self, guard: &DmaResvGuard<'_>) -> KResult<IosysMap> {
        self.check_held(guard);
        self.exporter.vmap_locked(guard)
    }

    /// Drops a kernel mapping (`dma_buf_vunmap`). Resv held (R16).
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "dma_buf_vunmap")]
    pub fn vunmap(&self, guard: &DmaResvGuard<'_>, map: IosysMap) {
        self.check_held(guard);
        self.exporter.vunmap_locked(guard, map);
    }

    /// [`vmap`](Self::vmap), taking the resv without a ctx (`dma_buf_vmap_unlocked`). Resv not
    /// held (R16).
    ///
    /// # Errors
    /// As [`vmap`](Self::vmap).
    #[doc(alias = "dma_buf_vmap_unlocked")]
    pub fn vmap_unlocked(&self) -> KResult<IosysMap> {
        self.resv().assert_not_held();
        let g = self.resv().lock(None)?;
        self.vmap(&g)
    }

    /// [`vunmap`](Self::vunmap), taking the resv without a ctx (`dma_buf_vunmap_unlocked`).
    /// Resv not held (R16).
    #[doc(alias = "dma_buf_vunmap_unlocked")]
    pub fn vunmap_unlocked(&self, map: IosysMap) {
        self.resv().assert_not_held();
        if let Ok(g) = self.resv().lock(None) {
            self.vunmap(&g, map);
        }
    }

    /// Pins the buffer for `attach` (`dma_buf_pin`, the exporter's `pin`). Resv held (R16).
    ///
    /// # Errors
    /// The exporter's pin errors.
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "dma_buf_pin")]
    pub fn pin(&self, guard: &DmaResvGuard<'_>, attach: &DmaBufAttachment) -> KResult {
        self.check_held(guard);
        debug_assert!(Arc::ptr_eq(&attach.dmabuf.exporter, &self.exporter));
        self.exporter.pin_locked(guard)
    }

    /// Drops a pin (`dma_buf_unpin`). Resv held (R16).
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "dma_buf_unpin")]
    pub fn unpin(&self, guard: &DmaResvGuard<'_>, attach: &DmaBufAttachment) {
        self.check_held(guard);
        debug_assert!(Arc::ptr_eq(&attach.dmabuf.exporter, &self.exporter));
        self.exporter.unpin_locked(guard);
    }

    /// Prepares a CPU access (`dma_buf_begin_cpu_access`, `DMA_BUF_IOCTL_SYNC` start): may
    /// take the resv (`might_lock`), then waits, interruptibly and up to `timeout` (the kernel
    /// waits without limit), for the fences the access needs (`DmaResvUsage::rw(write)`).
    /// Resv not held (R16).
    ///
    /// # Errors
    /// `Etimedout`, `Eintr` from the wait.
    #[doc(alias = "dma_buf_begin_cpu_access")]
    pub fn begin_cpu_access(&self, write: bool, timeout: Duration) -> KResult {
        self.resv().assert_not_held();
        lockdep::might_lock(self.resv().lock_ref());
        self.resv().wait_timeout(DmaResvUsage::rw(write), true, timeout)?;
        Ok(())
    }

    /// Ends a CPU access (`dma_buf_end_cpu_access`, `DMA_BUF_IOCTL_SYNC` end): may take the
    /// resv; the shmem exporter has nothing to flush. Resv not held (R16).
    #[doc(alias = "dma_buf_end_cpu_access")]
    pub fn end_cpu_access(&self, write: bool) {
        let _ = write;
        self.resv().assert_not_held();
        lockdep::might_lock(self.resv().lock_ref());
    }

    /// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE`: one fence for the buffer's fences of `usage` or
    /// stronger, taken without the resv (`dma_resv_get_singleton`, which may build a
    /// `dma_fence_array`), or the signalled stub fence if there is none, in a new sync_file.
    /// For the uapi's `DMA_BUF_SYNC_WRITE` / `READ` pass `DmaResvUsage::rw(write)`.
    ///
    /// # Errors
    /// `Enomem` from the singleton.
    #[doc(alias = "dma_buf_export_sync_file")]
    pub fn export_sync_file(&self, usage: DmaResvUsage) -> KResult<Arc<SyncFile>> {
        self.resv().assert_not_held();
        let fence = self
            .resv()
            .get_singleton(usage)?
            .unwrap_or_else(dma_fence_get_stub);
        Ok(SyncFile::create(fence))
    }

    /// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`: adds the sync_file's fence, unwrapped into its
    /// members, to the buffer's resv with `usage` (`Write` for `DMA_BUF_SYNC_WRITE`, else
    /// `Read`): `dma_resv_lock(resv, NULL)`, `dma_resv_reserve_fences` (which allocates and
    /// may put signalled fences' last references, S5), `dma_resv_add_fence` per fence,
    /// unlock.
    ///
    /// # Errors
    /// `Enomem` from the reservation.
    #[doc(alias = "dma_buf_import_sync_file")]
    pub fn import_sync_file(&self, sync_file: &SyncFile, usage: DmaResvUsage) -> KResult {
        self.resv().assert_not_held();
        let fence = crate::sync_file::sync_file_get_fence(sync_file);
        let fences = dma_fence_unwrap(&fence);
        if fences.is_empty() {
            return Ok(());
        }
        let g = self.resv().lock(None)?;
        let r = self.resv().reserve_fences(&g, fences.len());
        if r.is_ok() {
            for f in fences {
                self.resv().add_fence(&g, f, usage);
            }
        }
        drop(g);
        drop(fence);
        r
    }

    /// `poll` on the buffer (`dma_buf_poll`): waits up to `timeout` until the fences that an
    /// access would wait for (`DmaResvUsage::rw(write)`) have signalled. Each round locks the
    /// resv without a ctx, puts `dma_buf_poll_cb` on the first unsignalled fence — the callback
    /// wakes the poll wait queue, taking its lock under `&fence->lock` — and unlocks before
    /// sleeping. Returns whether the buffer is ready.
    #[doc(alias = "dma_buf_poll")]
    pub fn poll(self: &Arc<Self>, write: bool, timeout: Duration) -> bool {
        self.resv().assert_not_held();
        let usage = DmaResvUsage::rw(write);
        let deadline = Instant::now() + timeout;
        loop {
            let pending = {
                let Ok(g) = self.resv().lock(None) else {
                    return false;
                };
                let mut pending: Option<Arc<DmaFence>> = None;
                for (f, _) in self.resv().fences(&g, usage) {
                    let buf = Arc::downgrade(self);
                    if f.add_callback(move |_| {
                        if let Some(b) = buf.upgrade() {
                            b.poll.wake_up_all();
                        }
                    })
                    .is_ok()
                    {
                        pending = Some(f);
                        break;
                    }
                }
                drop(g);
                pending
            };
            let Some(f) = pending else { return true };
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.poll.wait_event_timeout(|| f.is_signaled(), left) {
                return false;
            }
        }
    }
}
