//! `DrmGemShmemObject`: GEM objects backed by shmem pages, whose pages, pins and kernel
//! mappings are all protected by the object's resv, plus the GEM shrinker that evicts and
//! purges them. Mirrors drivers/gpu/drm/drm_gem_shmem_helper.c (and the drivers' shrinkers,
//! e.g. drivers/gpu/drm/msm/msm_gem_shrinker.c, built on `drm_gem_lru_scan`).
//!
//! # Contract
//! Each `_locked` operation ([`DrmGemObject::get_pages_locked`], [`DrmGemObject::pin_locked`],
//! [`DrmGemObject::vmap_locked`], …) takes the caller's resv guard and starts with
//! `dma_resv_assert_held`; each unlocked wrapper ([`DrmGemObject::pin`],
//! [`DrmGemObject::unpin`], [`DrmGemObject::vmap`], …) takes the resv itself, without a ctx,
//! and so must not be called with it held — the trap the shmem-helpers thread describes for
//! drivers that lock with `drm_exec` first ([`pin_for_submit`] shows both). Pinned or vmapped
//! objects stay resident; others may be evicted (contents kept, pages given back) or, once
//! madvised `DontNeed`, purged (contents dropped) by the shrinker.
//!
//! # Locking
//! - `reservation_ww_class_mutex`: everything about the pages.
//! - `&dev->gem_lru_mutex`: taken under resv when an object becomes resident; by the
//!   shrinker (under `fs_reclaim`) only to pick candidates, released before any resv.
//! - `&mapping->i_mmap_rwsem` (write): `unmap_mapping_range` before evicting.
//! - Fault: `&mm->mmap_lock` (read) → `reservation_ww_class_mutex` (R9).
//!
//! # Annotations
//! The shrinker takes resv with `dma_resv_trylock` only, under `fs_reclaim` (R11), and may
//! `dma_resv_wait_timeout` on an object's fences (a fence wait in reclaim is allowed). Injected
//! bugs: `shrinker-blocks-on-resv` (a blocking `dma_resv_lock` in the shrinker),
//! `pin-with-resv-held` ([`pin_for_submit`] calls the unlocked wrapper under the transaction:
//! the validator reports the same-instance re-take and panics instead of hanging; the submit
//! catches that at its boundary and fails with `EDEADLK`, so the run goes on),
//! `resv-without-ctx` ([`copy_ioctl`] locks two resvs without a ctx).
//!
//! # Rules
//! R9, R11, R13, R17 (pin/unpin/vmap under resv), §3.6 (the shrinker's flow).
//!
//! # Simplified
//! Resident pages are one byte vector per object, allocated with `mm::kmalloc(GFP_KERNEL)`;
//! the shmem file behind them is a second vector that holds the contents while they are not
//! resident (the last use went, or the shrinker evicted them), so contents survive as in the
//! kernel until a purge; `sg_table`s and DMA mappings are the resident vector itself.
//! `shrinker-blocks-on-resv` records the blocking lock (`might_lock`) and then only trylocks,
//! so the deadlock it stands for is reported without hanging the run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use lockdep::requires_held;

use crate::bugs::Bug;
use crate::dma_resv::{DmaResv, DmaResvGuard, DmaResvUsage};
use crate::drm_drv::{DrmDevice, DrmFile};
use crate::drm_exec::{DrmExec, DrmExecFlags};
use crate::drm_gem::{self, Backing, DrmGemLru, DrmGemObject, GemCreateFlags, Madv};
use crate::error::{Errno, KResult};
use crate::mm::{self, MmStruct, Shrinker, GFP_KERNEL};

/// How long the shrinker waits for a busy object's fences before skipping it.
pub const SHRINK_WAIT: Duration = Duration::from_millis(10);

/// The memory behind an object: shared by its kernel mapping, its dma-buf `sg_table`s and
/// its user mappings, so it stays valid for as long as any of them does.
#[derive(Debug)]
pub struct Pages(StdMutex<Vec<u8>>);

impl Pages {
    fn new(bytes: Vec<u8>) -> Arc<Pages> {
        Arc::new(Pages(StdMutex::new(bytes)))
    }

    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A kernel mapping of an object's pages (`struct iosys_map`), or an attachment's
/// `sg_table`.
#[derive(Clone, Debug)]
pub struct IosysMap {
    pages: Arc<Pages>,
}

impl IosysMap {
    pub(crate) fn new(pages: Arc<Pages>) -> IosysMap {
        IosysMap { pages }
    }

    /// Copies `buf.len()` bytes at `offset` into `buf` (`iosys_map_memcpy_from`).
    ///
    /// # Errors
    /// `Einval` past the end.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> KResult {
        let b = self.pages.bytes();
        let src = b.get(offset..offset + buf.len()).ok_or(Errno::Einval)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    /// Copies `data` to `offset` (`iosys_map_memcpy_to`).
    ///
    /// # Errors
    /// `Einval` past the end.
    pub fn write(&self, offset: usize, data: &[u8]) -> KResult {
        let mut b = self.pages.bytes();
        let dst = b.get_mut(offset..offset + data.len()).ok_or(Errno::Einval)?;
        dst.copy_from_slice(data);
        Ok(())
    }

    /// Mapped size in bytes.
    pub fn len(&self) -> usize {
        self.pages.bytes().len()
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether two maps show the same memory.
    pub fn same_memory(&self, other: &IosysMap) -> bool {
        Arc::ptr_eq(&self.pages, &other.pages)
    }
}

/// The resv-protected state of a shmem object.
#[derive(Default)]
struct State {
    /// Resident pages (`shmem->pages`).
    pages: Option<Arc<Pages>>,
    /// The contents while not resident: the shmem file's pages (after the last use went, or
    /// after eviction). Dropped only by a purge or the free.
    swapped: Option<Vec<u8>>,
    pages_use_count: u32,
    pages_pin_count: u32,
    vmap_use_count: u32,
    madv: i32,
}

/// The shmem part of a GEM object (`struct drm_gem_shmem_object`).
pub struct DrmGemShmemObject {
    /// Protected by the object's resv; the std mutex only satisfies Rust's aliasing rules and
    /// is never held across anything that blocks or takes a lock.
    state: StdMutex<State>,
}

impl DrmGemShmemObject {
    /// A new shmem object of `size` bytes on `dev` (`drm_gem_shmem_create`), with its own
    /// resv. No pages yet: they are allocated on first use.
    ///
    /// # Errors
    /// `Enomem` if the object cannot be allocated; `Enodev` if the device is unplugged.
    #[doc(alias = "drm_gem_shmem_create")]
    pub fn create(dev: &Arc<DrmDevice>, size: usize) -> KResult<Arc<DrmGemObject>> {
        Self::create_with(dev, size, None, GemCreateFlags::default())
    }

    /// [`create`](Self::create) with a given resv (objects that share one, as a VM's
    /// "always valid" objects do) and creation flags.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_with(
        dev: &Arc<DrmDevice>,
        size: usize,
        resv: Option<Arc<DmaResv>>,
        flags: GemCreateFlags,
    ) -> KResult<Arc<DrmGemObject>> {
        if dev.is_unplugged() {
            return Err(Errno::Enodev);
        }
        mm::kmalloc(std::mem::size_of::<DrmGemShmemObject>(), GFP_KERNEL)?;
        let shmem = DrmGemShmemObject {
            state: StdMutex::new(State::default()),
        };
        Ok(DrmGemObject::new(dev, size, resv, Backing::Shmem(shmem), flags))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `drm_gem_shmem_free`: the pages go under the resv (the shmem-helpers switch to resv
    /// locking), taken without a ctx — which is why the free must not run inside a `drm_exec`
    /// transaction.
    pub(crate) fn free(self, resv: &DmaResv) {
        let g = resv.lock(None).expect("a lock without a ctx never fails");
        let pages = {
            let mut s = self.state();
            s.swapped = None;
            s.pages.take()
        };
        drop(g);
        drop(pages);
    }

    /// Sets the advice under the resv; returns whether the contents are still there.
    pub(crate) fn madvise_locked(&self, guard: &DmaResvGuard<'_>, madv: Madv) -> bool {
        guard.resv().assert_held();
        let mut s = self.state();
        if s.madv >= 0 {
            s.madv = match madv {
                Madv::WillNeed => 0,
                Madv::DontNeed => 1,
            };
        }
        s.madv >= 0
    }

    /// Whether the object has been purged (its contents are gone for good).
    pub fn is_purged(&self) -> bool {
        self.state().madv < 0
    }
}

fn shmem_of(obj: &DrmGemObject) -> KResult<&DrmGemShmemObject> {
    obj.shmem().ok_or(Errno::Einval)
}

/// The guard must be the object's own resv's (the attribute checks that it is held).
fn check(obj: &DrmGemObject, guard: &DmaResvGuard<'_>) {
    assert!(
        std::ptr::eq(guard.resv(), obj.resv()),
        "a guard of another dma_resv passed to a _locked GEM helper"
    );
}

impl DrmGemObject {
    /// Whether the object has resident pages.
    pub fn has_pages(&self) -> bool {
        self.shmem().is_some_and(|s| s.state().pages.is_some())
    }

    /// Whether the object's contents are kept but not resident (evicted, or no use left).
    pub fn is_evicted(&self) -> bool {
        self.shmem().is_some_and(|s| s.state().swapped.is_some())
    }

    /// Whether the shrinker purged the object.
    pub fn is_purged(&self) -> bool {
        self.shmem().is_some_and(DrmGemShmemObject::is_purged)
    }

    /// Pin count (`shmem->pages_pin_count`).
    pub fn pin_count(&self) -> u32 {
        self.shmem().map_or(0, |s| s.state().pages_pin_count)
    }

    /// Takes a use of the backing pages, allocating them (or bringing them back from swap)
    /// if needed (`drm_gem_shmem_get_pages_locked`). The allocation is `GFP_KERNEL` under the
    /// resv, which R11 allows.
    ///
    /// # Errors
    /// `Einval` for an imported or purged object; `Enomem` if the pages cannot be allocated.
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "drm_gem_shmem_get_pages_locked", alias = "drm_gem_shmem_get_pages")]
    pub fn get_pages_locked(self: &Arc<Self>, guard: &DmaResvGuard<'_>) -> KResult {
        check(self, guard);
        let shmem = shmem_of(self)?;
        let (need, swapped) = {
            let mut s = shmem.state();
            if s.madv < 0 {
                return Err(Errno::Einval);
            }
            if s.pages.is_some() {
                s.pages_use_count += 1;
                return Ok(());
            }
            (true, s.swapped.take())
        };
        debug_assert!(need);
        let mut bytes = match mm::kmalloc(self.size(), GFP_KERNEL) {
            Ok(b) => b,
            Err(e) => {
                shmem.state().swapped = swapped;
                return Err(e);
            }
        };
        bytes.resize(self.size(), 0);
        if let Some(old) = swapped {
            bytes.copy_from_slice(&old);
        }
        {
            let mut s = shmem.state();
            s.pages = Some(Pages::new(bytes));
            s.pages_use_count += 1;
        }
        self.lru().move_tail(self);
        Ok(())
    }

    /// Drops a use of the pages; the last use frees them (`drm_gem_shmem_put_pages_locked`).
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "drm_gem_shmem_put_pages_locked", alias = "drm_gem_shmem_put_pages")]
    pub fn put_pages_locked(&self, guard: &DmaResvGuard<'_>) {
        check(self, guard);
        let Some(shmem) = self.shmem() else { return };
        let freed = {
            let mut s = shmem.state();
            if s.pages_use_count == 0 {
                return;
            }
            s.pages_use_count -= 1;
            if s.pages_use_count == 0 {
                // The shmem file keeps the contents; only the resident pages go.
                let pages = s.pages.take();
                if let Some(p) = &pages {
                    s.swapped = Some(std::mem::take(&mut *p.bytes()));
                }
                pages
            } else {
                None
            }
        };
        if freed.is_some() {
            self.lru().remove(self.id());
        }
    }

    /// Pins the pages: resident until unpinned (`drm_gem_shmem_pin_locked`).
    ///
    /// # Errors
    /// As [`get_pages_locked`](Self::get_pages_locked).
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "drm_gem_shmem_pin_locked")]
    pub fn pin_locked(self: &Arc<Self>, guard: &DmaResvGuard<'_>) -> KResult {
        check(self, guard);
        self.get_pages_locked(guard)?;
        shmem_of(self)?.state().pages_pin_count += 1;
        Ok(())
    }

    /// Drops a pin (`drm_gem_shmem_unpin_locked`).
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "drm_gem_shmem_unpin_locked")]
    pub fn unpin_locked(&self, guard: &DmaResvGuard<'_>) {
        check(self, guard);
        let Some(shmem) = self.shmem() else { return };
        {
            let mut s = shmem.state();
            if s.pages_pin_count == 0 {
                return;
            }
            s.pages_pin_count -= 1;
        }
        self.put_pages_locked(guard);
    }

    /// Pins the pages, taking the resv without a ctx (`drm_gem_shmem_pin`). The caller must
    /// not hold it (R17): re-taking it is a self-deadlock, which the validator reports and
    /// then refuses with a panic.
    ///
    /// # Errors
    /// As [`pin_locked`](Self::pin_locked).
    #[doc(alias = "drm_gem_shmem_pin")]
    pub fn pin(self: &Arc<Self>) -> KResult {
        if self.is_imported() {
            return Err(Errno::Einval);
        }
        let g = self.resv().lock(None)?;
        self.pin_locked(&g)
    }

    /// Drops a pin, taking the resv (`drm_gem_shmem_unpin`).
    #[doc(alias = "drm_gem_shmem_unpin")]
    pub fn unpin(&self) {
        if let Ok(g) = self.resv().lock(None) {
            self.unpin_locked(&g);
        }
    }

    /// Maps the object into the kernel (`drm_gem_shmem_vmap_locked`): pins a native object;
    /// an imported one is mapped through its dma-buf (`dma_buf_vmap`, same resv).
    ///
    /// # Errors
    /// As [`pin_locked`](Self::pin_locked), or the exporter's vmap error.
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "drm_gem_shmem_vmap_locked", alias = "drm_gem_shmem_vmap")]
    pub fn vmap_locked(self: &Arc<Self>, guard: &DmaResvGuard<'_>) -> KResult<IosysMap> {
        check(self, guard);
        if let Some(attach) = self.import_attach() {
            return attach.dmabuf().vmap(guard);
        }
        let shmem = shmem_of(self)?;
        let first = shmem.state().vmap_use_count == 0;
        if first {
            self.pin_locked(guard)?;
        }
        let mut s = shmem.state();
        s.vmap_use_count += 1;
        Ok(IosysMap::new(s.pages.clone().expect("pinned pages are resident")))
    }

    /// Drops a kernel mapping (`drm_gem_shmem_vunmap_locked`).
    #[requires_held(self.resv().lock_ref())]
    #[doc(alias = "drm_gem_shmem_vunmap_locked", alias = "drm_gem_shmem_vunmap")]
    pub fn vunmap_locked(&self, guard: &DmaResvGuard<'_>, map: IosysMap) {
        check(self, guard);
        if let Some(attach) = self.import_attach() {
            attach.dmabuf().vunmap(guard, map);
            return;
        }
        let Some(shmem) = self.shmem() else { return };
        let last = {
            let mut s = shmem.state();
            if s.vmap_use_count == 0 {
                return;
            }
            s.vmap_use_count -= 1;
            s.vmap_use_count == 0
        };
        drop(map);
        if last {
            self.unpin_locked(guard);
        }
    }

    /// [`vmap_locked`](Self::vmap_locked), taking the resv without a ctx.
    ///
    /// # Errors
    /// As [`vmap_locked`](Self::vmap_locked).
    pub fn vmap(self: &Arc<Self>) -> KResult<IosysMap> {
        let g = self.resv().lock(None)?;
        self.vmap_locked(&g)
    }

    /// [`vunmap_locked`](Self::vunmap_locked), taking the resv without a ctx.
    pub fn vunmap(&self, map: IosysMap) {
        if let Ok(g) = self.resv().lock(None) {
            self.vunmap_locked(&g, map);
        }
    }

    /// Resident pages of a native object, for an exporter's `map_dma_buf` (resv held).
    #[requires_held(self.resv().lock_ref())]
    pub(crate) fn pages_locked(&self, guard: &DmaResvGuard<'_>) -> Option<Arc<Pages>> {
        check(self, guard);
        self.shmem()?.state().pages.clone()
    }

    /// Maps the object into user space (`drm_gem_shmem_mmap`): takes a use of the pages,
    /// under the resv, for the mapping's lifetime.
    ///
    /// # Errors
    /// `Einval` for an imported object (user space maps the exporter's); as
    /// [`get_pages_locked`](Self::get_pages_locked).
    #[doc(alias = "drm_gem_shmem_mmap")]
    pub fn mmap(self: &Arc<Self>, mm: &Arc<MmStruct>) -> KResult<GemMapping> {
        if self.is_imported() {
            return Err(Errno::Einval);
        }
        let g = self.resv().lock(None)?;
        self.get_pages_locked(&g)?;
        drop(g);
        Ok(GemMapping {
            obj: self.clone(),
            mm: mm.clone(),
        })
    }
}

impl DrmGemObject {
    /// One user access to byte `offset` through a short-lived mapping: `mmap`, the fault
    /// (`&mm->mmap_lock` read → resv), `munmap`. For callers that do not keep a
    /// [`GemMapping`].
    ///
    /// # Errors
    /// As [`DrmGemObject::mmap`] and [`GemMapping::fault`].
    pub fn fault(self: &Arc<Self>, mm: &Arc<MmStruct>, offset: usize) -> KResult<u8> {
        self.mmap(mm)?.fault(offset)
    }
}

/// A user mapping of an object (a vma with `drm_gem_shmem_vm_ops`).
pub struct GemMapping {
    obj: Arc<DrmGemObject>,
    mm: Arc<MmStruct>,
}

impl std::fmt::Debug for GemMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GemMapping").field("obj", &self.obj.id()).finish()
    }
}

impl GemMapping {
    /// A user access to byte `offset` that faults (`drm_gem_shmem_fault` through
    /// `handle_mm_fault`): `&mm->mmap_lock` (read), then the object's resv without a ctx; an
    /// evicted object is brought back. Returns the byte.
    ///
    /// # Errors
    /// `Efault` (SIGBUS) past the end or on a purged object; `Enomem` if the pages cannot
    /// come back.
    #[doc(alias = "drm_gem_shmem_fault")]
    pub fn fault(&self, offset: usize) -> KResult<u8> {
        let obj = &self.obj;
        let mut byte = 0;
        self.mm.handle_mm_fault(offset as u64, || {
            let g = obj.resv().lock(None)?;
            let shmem = shmem_of(obj)?;
            if offset >= obj.size() || shmem.is_purged() {
                return Err(Errno::Efault);
            }
            if shmem.state().pages.is_none() {
                // Swap in for the mapping: the mapping's use of the pages is kept.
                obj.get_pages_locked(&g)?;
                obj.put_pages_locked(&g);
            }
            let pages = shmem.state().pages.clone().ok_or(Errno::Efault)?;
            byte = pages.bytes()[offset];
            Ok(())
        })?;
        Ok(byte)
    }

    /// The mapped object.
    pub fn obj(&self) -> &Arc<DrmGemObject> {
        &self.obj
    }
}

impl Drop for GemMapping {
    /// `drm_gem_shmem_vm_close`: drops the mapping's use of the pages, under the resv.
    fn drop(&mut self) {
        if let Ok(g) = self.obj.resv().lock(None) {
            self.obj.put_pages_locked(&g);
        }
    }
}

/// Pins a BO that a submit locked with `exec`, as drivers do for every BO the GPU will
/// access: with the held guard ([`DrmGemObject::pin_locked`]). With the injected bug
/// `pin-with-resv-held` it calls the unlocked [`DrmGemObject::pin`] instead, which re-takes the
/// held resv: the validator reports it and panics rather than hang; this boundary catches the
/// panic and fails the submit with `EDEADLK`, so the simulated task recovers.
///
/// # Errors
/// `Einval` if `exec` does not hold `obj`; as [`DrmGemObject::pin_locked`]; `Edeadlk` for the
/// refused self-deadlock.
pub fn pin_for_submit(exec: &DrmExec, obj: &Arc<DrmGemObject>) -> KResult {
    let guard = exec.guard(obj).ok_or(Errno::Einval)?;
    if obj.dev().bugs().has(Bug::PinWithResvHeld) {
        if !lockdep::ENABLED {
            // Nothing would catch the self-deadlock: the task would hang for real.
            return Err(Errno::Edeadlk);
        }
        match catch_unwind(AssertUnwindSafe(|| obj.pin())) {
            Ok(r) => r,
            Err(_) => Err(Errno::Edeadlk),
        }
    } else {
        obj.pin_locked(guard)
    }
}

/// The driver's copy ioctl: copies `len` bytes from `src` to `dst` (both handles of `file`)
/// with the CPU, both resvs locked in one `drm_exec` transaction. With the injected bug
/// `resv-without-ctx` it locks them one after the other without a ctx instead (R13).
///
/// # Errors
/// `Enodev` after unplug; `Enoent` for an unknown handle; `Einval` past an end; vmap errors.
pub fn copy_ioctl(file: &DrmFile, dst: u32, src: u32, len: usize) -> KResult {
    if file.dev().is_unplugged() {
        return Err(Errno::Enodev);
    }
    let d = drm_gem::object_lookup(file, dst).ok_or(Errno::Enoent)?;
    let s = drm_gem::object_lookup(file, src).ok_or(Errno::Enoent)?;
    if len > d.size() || len > s.size() {
        return Err(Errno::Einval);
    }
    let copy = |dg: &DmaResvGuard<'_>, sg: &DmaResvGuard<'_>| -> KResult {
        let dm = d.vmap_locked(dg)?;
        let sm = s.vmap_locked(sg)?;
        let mut buf = vec![0; len];
        let r = sm.read(0, &mut buf).and_then(|()| dm.write(0, &buf));
        s.vunmap_locked(sg, sm);
        d.vunmap_locked(dg, dm);
        r
    };
    if file.dev().bugs().has(Bug::ResvWithoutCtx) && !std::ptr::eq(d.resv(), s.resv()) {
        let dg = d.resv().lock(None)?;
        let sg = s.resv().lock(None)?;
        return copy(&dg, &sg);
    }
    let mut exec = DrmExec::init(DrmExecFlags::IGNORE_DUPLICATES, 2);
    exec.until_all_locked(|exec| {
        exec.lock_obj(&d)?;
        exec.lock_obj(&s)
    })?;
    let dg = exec.guard(&d).ok_or(Errno::Einval)?;
    let sg = exec.guard(&s).ok_or(Errno::Einval)?;
    copy(dg, sg)
}

/// The GEM shrinker of one device (a driver's `struct shrinker` over `drm_gem_lru_scan`).
pub struct DrmGemShrinker {
    dev: Weak<DrmDevice>,
    name: String,
    lru: Weak<DrmGemLru>,
    /// The device's address space (`dev->anon_inode->i_mapping`).
    mapping: mm::AddressSpace,
}

impl DrmGemShrinker {
    /// Whether an object could give pages back now: resident, not pinned, not vmapped.
    fn evictable(obj: &DrmGemObject) -> bool {
        obj.shmem().is_some_and(|s| {
            let s = s.state();
            s.pages.is_some() && s.pages_pin_count == 0 && s.vmap_use_count == 0 && s.madv >= 0
        })
    }

    /// Purges (`DontNeed`) or evicts one object whose resv is held; returns the bytes freed.
    /// A busy object is waited for, briefly, if `may_wait` (fence waits are allowed in
    /// reclaim, R11); the caller lets one wait happen per scan so reclaim stays bounded.
    #[requires_held(obj.resv().lock_ref())]
    fn shrink_locked(&self, obj: &Arc<DrmGemObject>, guard: &DmaResvGuard<'_>, may_wait: &mut bool) -> usize {
        check(obj, guard);
        if !Self::evictable(obj) {
            return 0;
        }
        if !obj.resv().test_signaled(DmaResvUsage::Bookkeep)
            && (!std::mem::take(may_wait)
                || obj
                    .resv()
                    .wait_timeout(DmaResvUsage::Bookkeep, false, SHRINK_WAIT)
                    .is_err())
        {
            return 0;
        }
        // `drm_vma_node_unmap`: zap user mappings before the pages go.
        self.mapping.unmap_mapping_range();
        let Some(shmem) = obj.shmem() else { return 0 };
        let pages = {
            let mut s = shmem.state();
            let Some(pages) = s.pages.take() else { return 0 };
            if s.madv > 0 {
                s.madv = -1;
            } else {
                s.swapped = Some(std::mem::take(&mut *pages.bytes()));
            }
            pages
        };
        obj.lru().remove(obj.id());
        drop(pages);
        obj.size()
    }
}

impl Shrinker for DrmGemShrinker {
    fn name(&self) -> &str {
        &self.name
    }

    fn count_objects(&self) -> usize {
        let Some(lru) = self.lru.upgrade() else { return 0 };
        lru.scan_candidates(usize::MAX)
            .iter()
            .filter(|o| Self::evictable(o))
            .count()
    }

    /// `drm_gem_lru_scan`: for each candidate, `dma_resv_trylock` (a blocking lock with the
    /// injected bug `shrinker-blocks-on-resv`), shrink, unlock. Returns the objects freed.
    fn scan_objects(&self, nr_to_scan: usize) -> usize {
        let (Some(lru), Some(dev)) = (self.lru.upgrade(), self.dev.upgrade()) else {
            return 0;
        };
        let blocking = dev.bugs().has(Bug::ShrinkerBlocksOnResv);
        let mut freed = 0;
        let mut may_wait = true;
        for obj in lru.scan_candidates(usize::MAX) {
            if freed >= nr_to_scan {
                break;
            }
            let guard = if blocking {
                // The buggy driver's blocking `dma_resv_lock`: the validator sees exactly the
                // order a blocking lock records (`fs_reclaim -> reservation_ww_class_mutex`),
                // but the simulation then only takes the lock if it is free, because two
                // clients in direct reclaim, each holding the resv the other's shrinker
                // wants, would deadlock for real — the very hang the bug stands for — and
                // the run must finish.
                if obj.resv().is_locked_by_current_thread() {
                    // Even the buggy driver would hang for real on its own lock; skip it.
                    continue;
                }
                lockdep::might_lock(obj.resv().lock_ref());
                obj.resv().trylock()
            } else {
                obj.resv().trylock()
            };
            let Some(guard) = guard else { continue };
            if self.shrink_locked(&obj, &guard, &mut may_wait) > 0 {
                freed += 1;
            }
            drop(guard);
        }
        freed
    }
}

/// The GEM shrinker of `dev` over `lru`, registered with the allocator for as long as the
/// returned handle lives (the LRU keeps it).
pub(crate) fn register_shrinker(
    dev: &Arc<DrmDevice>,
    lru: &Weak<DrmGemLru>,
) -> (Arc<DrmGemShrinker>, mm::ShrinkerHandle) {
    let shrinker = Arc::new(DrmGemShrinker {
        dev: Arc::downgrade(dev),
        name: format!("drm-gem-shmem:{}", dev.name()),
        lru: lru.clone(),
        mapping: mm::AddressSpace::new(),
    });
    let handle = mm::register_shrinker(shrinker.clone());
    (shrinker, handle)
}
