//! `DrmGemObject`: a GEM buffer object — refcounted, named per open file by handles, with a
//! reservation object, an LRU for the shrinker and deferred destruction. Mirrors
//! drivers/gpu/drm/drm_gem.c.
//!
//! # Contract
//! An object is an `Arc<DrmGemObject>` (`drm_gem_object_get` = clone, `drm_gem_object_put` =
//! drop). Each [`DrmFile`] names objects by handles ([`handle_create`], [`object_lookup`],
//! [`handle_delete`], [`release`] on close). The backing store is shmem pages
//! ([`crate::drm_gem_shmem_helper`]) or another device's dma-buf ([`crate::dma_buf`]); either
//! way the object's memory outlives its device: after an unplug every object stays valid until
//! its last reference goes.
//!
//! The final put may happen anywhere — under a `drm_exec` transaction (R15), under a resv in a
//! fence release, in a shrinker — while freeing takes locks (the object's resv, the LRU lock,
//! `dma_buf_detach`). So the free runs on a workqueue ([`flush_free_work`] waits for it), as
//! drivers that hit S2 do; [`GemCreateFlags::immediate_free`] keeps the old inline free, the
//! pattern that produced S2.
//!
//! # Locking
//! - `reservation_ww_class_mutex`: the object's resv (possibly shared: an import uses the
//!   exporter's, "always valid" VM objects share one); protects the backing state.
//! - `&dev->gem_lru_mutex`: the device's LRU of resident objects; taken under resv (object
//!   becomes resident) and by the shrinker under `fs_reclaim`, so never held around an
//!   allocation nor across a resv lock.
//! - `(work_completion)(&dev->gem_free_work)` on `(wq_completion)events`: the deferred free.
//!
//! # Annotations
//! The injected bug `copy-to-user-under-resv` lives in [`madvise_ioctl`].
//!
//! # Rules
//! R7 (final put under any lock: defer), R9 (no user copy under resv), R15, R17.
//!
//! # Simplified
//! Handle tables are `dashmap`s (the kernel's idr under `file->table_lock`); the LRU is one
//! list of resident objects per device, shared by all its shrinkable objects, instead of the
//! drivers' per-state lists; object names (flink), fake mmap offsets and the vma manager are
//! left out: [`DrmGemObject::mmap`] returns the mapping directly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex as StdMutex, OnceLock, Weak};

use dashmap::DashMap;
use lockdep::{LockClass, Mutex};

use crate::bugs::Bug;
use crate::dma_buf::{DmaBuf, DmaBufAttachment};
use crate::dma_resv::DmaResv;
use crate::drm_drv::{DrmDevice, DrmFile};
use crate::drm_gem_shmem_helper::{register_shrinker, DrmGemShmemObject, DrmGemShrinker};
use crate::error::{Errno, KResult};
use crate::mm::ShrinkerHandle;
use crate::workqueue::{system_wq, Work};

static LRU_CLASS: LockClass = LockClass::new("&dev->gem_lru_mutex");

/// Options of a new object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GemCreateFlags {
    /// Free inline on the final put instead of on the free workqueue: a final put under a
    /// `drm_exec` transaction then takes a resv without a ctx (S2). Off in a correct driver.
    pub immediate_free: bool,
}

/// What backs an object.
pub(crate) enum Backing {
    /// Its own shmem pages.
    Shmem(DrmGemShmemObject),
    /// Another object's dma-buf (`obj->import_attach`).
    Import(Arc<DmaBufAttachment>),
}

/// A GEM buffer object (`struct drm_gem_object`).
pub struct DrmGemObject {
    id: u64,
    dev: Arc<DrmDevice>,
    size: usize,
    resv: Arc<DmaResv>,
    /// `None` only while being freed.
    backing: Option<Backing>,
    flags: GemCreateFlags,
    /// The dma-buf exported from this object, while it lives (`obj->dma_buf`).
    pub(crate) dma_buf: StdMutex<Weak<DmaBuf>>,
    /// Open handles (`obj->handle_count`).
    handle_count: AtomicU32,
    lru: Arc<DrmGemLru>,
}

impl std::fmt::Debug for DrmGemObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmGemObject")
            .field("id", &self.id)
            .field("dev", &self.dev.name())
            .field("size", &self.size)
            .field("imported", &self.is_imported())
            .finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl DrmGemObject {
    /// A new object of `dev` (`drm_gem_object_init` / `drm_gem_private_object_init`), with its
    /// own resv unless one is given.
    pub(crate) fn new(
        dev: &Arc<DrmDevice>,
        size: usize,
        resv: Option<Arc<DmaResv>>,
        backing: Backing,
        flags: GemCreateFlags,
    ) -> Arc<DrmGemObject> {
        Arc::new(DrmGemObject {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dev: dev.clone(),
            size,
            resv: resv.unwrap_or_default(),
            backing: Some(backing),
            flags,
            dma_buf: StdMutex::new(Weak::new()),
            handle_count: AtomicU32::new(0),
            lru: DrmGemLru::of(dev),
        })
    }

    /// A process-unique id (for logs and tests).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The device that created the object (for an import: the importer).
    pub fn dev(&self) -> &Arc<DrmDevice> {
        &self.dev
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The reservation object (`obj->resv`).
    pub fn resv(&self) -> &DmaResv {
        &self.resv
    }

    /// The reservation object, as a shared reference.
    pub fn resv_arc(&self) -> &Arc<DmaResv> {
        &self.resv
    }

    /// Whether the object is an imported dma-buf (`obj->import_attach`).
    pub fn is_imported(&self) -> bool {
        matches!(self.backing, Some(Backing::Import(_)))
    }

    /// The import attachment of an imported object.
    pub fn import_attach(&self) -> Option<&Arc<DmaBufAttachment>> {
        match &self.backing {
            Some(Backing::Import(a)) => Some(a),
            _ => None,
        }
    }

    /// The shmem state of a native object.
    pub(crate) fn shmem(&self) -> Option<&DrmGemShmemObject> {
        match &self.backing {
            Some(Backing::Shmem(s)) => Some(s),
            _ => None,
        }
    }

    /// The device's LRU.
    pub(crate) fn lru(&self) -> &Arc<DrmGemLru> {
        &self.lru
    }

    /// Open handles on this object.
    pub fn handle_count(&self) -> u32 {
        self.handle_count.load(Ordering::Relaxed)
    }
}

impl Drop for DrmGemObject {
    /// The final `drm_gem_object_put`: `drm_gem_object_free`, deferred to the free work unless
    /// the object asked for the inline free.
    fn drop(&mut self) {
        let free = GemFree {
            id: self.id,
            resv: self.resv.clone(),
            backing: self.backing.take(),
            lru: self.lru.clone(),
        };
        if self.flags.immediate_free {
            free.run();
        } else {
            FREE_QUEUE.push(free);
        }
    }
}

/// What is left to free of an object after its final put.
struct GemFree {
    id: u64,
    resv: Arc<DmaResv>,
    backing: Option<Backing>,
    lru: Arc<DrmGemLru>,
}

impl GemFree {
    /// `drm_gem_shmem_free` / `drm_prime_gem_destroy`.
    fn run(self) {
        self.lru.remove(self.id);
        match self.backing {
            Some(Backing::Shmem(shmem)) => shmem.free(&self.resv),
            Some(Backing::Import(attach)) => attach.dmabuf().detach(&attach),
            None => {}
        }
    }
}

/// The deferred-free list and its work item (a device's `free_work` and `free_list`).
struct FreeQueue {
    list: StdMutex<Vec<GemFree>>,
    work: Arc<Work>,
}

static FREE_QUEUE: LazyLock<FreeQueue> = LazyLock::new(|| FreeQueue {
    list: StdMutex::new(Vec::new()),
    work: Work::new("(work_completion)(&dev->gem_free_work)", || loop {
        let batch = std::mem::take(&mut *FREE_QUEUE.list.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            break;
        }
        for f in batch {
            f.run();
        }
    }),
});

impl FreeQueue {
    fn push(&self, f: GemFree) {
        // The kernel's lock-free llist_add: plain bookkeeping, no lock the validator sees.
        self.list.lock().unwrap_or_else(|e| e.into_inner()).push(f);
        system_wq().queue_work(&self.work);
    }
}

/// Waits until every object put so far is freed (`flush_work` on the free work). Must not be
/// called with a lock the free takes (a resv, the LRU lock) held.
pub fn flush_free_work() {
    FREE_QUEUE.work.flush_work();
}

/// A device's LRU of resident objects (`struct drm_gem_lru` with its lock).
pub struct DrmGemLru {
    list: Mutex<VecDeque<(u64, Weak<DrmGemObject>)>>,
    shrinker: OnceLock<(Arc<DrmGemShrinker>, ShrinkerHandle)>,
}

static LRUS: LazyLock<DashMap<u32, Arc<DrmGemLru>>> = LazyLock::new(DashMap::new);

impl DrmGemLru {
    /// The LRU of `dev`, created on first use with its shrinker registered.
    pub fn of(dev: &Arc<DrmDevice>) -> Arc<DrmGemLru> {
        if let Some(l) = LRUS.get(&dev.index()) {
            return l.clone();
        }
        let lru = LRUS
            .entry(dev.index())
            .or_insert_with(|| {
                Arc::new(DrmGemLru {
                    list: Mutex::with_class(VecDeque::new(), &LRU_CLASS),
                    shrinker: OnceLock::new(),
                })
            })
            .clone();
        // Registered outside the table's shard lock.
        let _ = lru
            .shrinker
            .get_or_init(|| register_shrinker(dev, &Arc::downgrade(&lru)));
        lru
    }

    /// The device's GEM shrinker (what the allocator runs under memory pressure).
    pub fn shrinker(&self) -> Option<&Arc<DrmGemShrinker>> {
        self.shrinker.get().map(|(s, _)| s)
    }

    /// Moves `obj` to the tail, adding it if absent (`drm_gem_lru_move_tail`).
    #[doc(alias = "drm_gem_lru_move_tail")]
    pub(crate) fn move_tail(&self, obj: &Arc<DrmGemObject>) {
        let mut l = self.list.lock();
        if let Some(i) = l.iter().position(|(id, _)| *id == obj.id) {
            l.remove(i);
        }
        l.push_back((obj.id, Arc::downgrade(obj)));
    }

    /// Removes the object `id` (`drm_gem_lru_remove`).
    #[doc(alias = "drm_gem_lru_remove")]
    pub(crate) fn remove(&self, id: u64) {
        self.list.lock().retain(|(i, _)| *i != id);
    }

    /// Objects on the LRU.
    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    /// Whether the LRU is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `nr` live objects from the head, each referenced (`kref_get_unless_zero`), with
    /// the LRU lock released before the caller touches them (as `drm_gem_lru_scan` drops it
    /// around the shrink callback).
    pub(crate) fn scan_candidates(&self, nr: usize) -> Vec<Arc<DrmGemObject>> {
        let l = self.list.lock();
        l.iter().filter_map(|(_, w)| w.upgrade()).take(nr).collect()
    }
}

/// The handles of one open file (`file_priv->object_idr`).
#[derive(Default)]
struct Handles {
    next: AtomicU32,
    map: DashMap<u32, Arc<DrmGemObject>>,
}

static HANDLES: LazyLock<DashMap<u64, Arc<Handles>>> = LazyLock::new(DashMap::new);

/// The handle table of `file`, created on first use with [`release`] registered as a close
/// hook (outside the table's shard lock: the hook may run at once on a closed file).
fn handles_of(file: &DrmFile) -> Arc<Handles> {
    if let Some(h) = HANDLES.get(&file.id()) {
        return h.clone();
    }
    let h = HANDLES.entry(file.id()).or_default().clone();
    file.on_close(release);
    h
}

/// Names `obj` in `file` by a new handle, never 0 (`drm_gem_handle_create`).
///
/// # Errors
/// `Enodev` if the file's device is unplugged (a new handle is a new use of the device);
/// `Einval` if the file is closed (its table is gone).
#[doc(alias = "drm_gem_handle_create")]
pub fn handle_create(file: &DrmFile, obj: &Arc<DrmGemObject>) -> KResult<u32> {
    if file.dev().is_unplugged() {
        return Err(Errno::Enodev);
    }
    if file.is_closed() {
        return Err(Errno::Einval);
    }
    let h = handles_of(file);
    let handle = h.next.fetch_add(1, Ordering::Relaxed) + 1;
    obj.handle_count.fetch_add(1, Ordering::Relaxed);
    h.map.insert(handle, obj.clone());
    Ok(handle)
}

/// The object named `handle` in `file`, referenced (`drm_gem_object_lookup`).
#[doc(alias = "drm_gem_object_lookup")]
pub fn object_lookup(file: &DrmFile, handle: u32) -> Option<Arc<DrmGemObject>> {
    HANDLES.get(&file.id())?.map.get(&handle).map(|o| o.clone())
}

/// Drops `handle` (`drm_gem_handle_delete`); the object goes when its last reference does.
///
/// # Errors
/// `Einval` if `file` has no such handle.
#[doc(alias = "drm_gem_handle_delete")]
pub fn handle_delete(file: &DrmFile, handle: u32) -> KResult {
    let removed = HANDLES
        .get(&file.id())
        .and_then(|h| h.map.remove(&handle))
        .ok_or(Errno::Einval)?;
    removed.1.handle_count.fetch_sub(1, Ordering::Relaxed);
    drop(removed);
    Ok(())
}

/// Number of handles `file` holds.
pub fn handle_count(file: &DrmFile) -> usize {
    HANDLES.get(&file.id()).map_or(0, |h| h.map.len())
}

/// Drops every handle of `file` (`drm_gem_release`, on close).
#[doc(alias = "drm_gem_release")]
pub fn release(file: &DrmFile) {
    if let Some((_, h)) = HANDLES.remove(&file.id()) {
        let objs: Vec<_> = h.map.iter().map(|e| *e.key()).collect();
        for k in objs {
            if let Some((_, o)) = h.map.remove(&k) {
                o.handle_count.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// `madvise` advice: whether the backing store may be discarded under memory pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Madv {
    /// `MADV_WILLNEED`: keep the contents (evict to swap at most).
    WillNeed,
    /// `MADV_DONTNEED`: the shrinker may purge the pages.
    DontNeed,
}

/// The driver's madvise ioctl (as panfrost's and msm's): sets the advice under the resv and
/// writes back to user memory at `user_addr` whether the contents were still retained.
///
/// The write to user memory happens after the resv is unlocked (R9); with the injected bug
/// `copy-to-user-under-resv` it happens while the resv is still held (S1).
///
/// # Errors
/// `Enodev` after unplug (as every driver ioctl); `Enoent` for an unknown handle; `Einval` for
/// an imported object; `Efault` from the user copy.
pub fn madvise_ioctl(file: &DrmFile, handle: u32, madv: Madv, user_addr: u64) -> KResult<bool> {
    if file.dev().is_unplugged() {
        return Err(Errno::Enodev);
    }
    let obj = object_lookup(file, handle).ok_or(Errno::Enoent)?;
    let shmem = obj.shmem().ok_or(Errno::Einval)?;
    let guard = obj.resv().lock(None)?;
    let retained = shmem.madvise_locked(&guard, madv);
    if file.dev().bugs().has(Bug::CopyToUserUnderResv) {
        file.mm().put_user(user_addr, u64::from(retained))?;
        drop(guard);
    } else {
        drop(guard);
        file.mm().put_user(user_addr, u64::from(retained))?;
    }
    Ok(retained)
}
