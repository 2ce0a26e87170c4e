//! `VgemFile`: software fences that user space attaches to a buffer and signals itself, with
//! a timeout that signals them if it never does. Mirrors drivers/gpu/drm/vgem/vgem_fence.c.
//!
//! # Contract
//! [`VgemFile::attach`] (`DRM_IOCTL_VGEM_FENCE_ATTACH`) publishes a new fence in an object's
//! resv (write or read usage; `EBUSY` if a conflicting fence is pending) and returns its id;
//! [`VgemFile::signal`] (`DRM_IOCTL_VGEM_FENCE_SIGNAL`) signals it. A fence not signalled
//! within [`VGEM_FENCE_TIMEOUT`] (on the device's clock) is signalled by its timer, so every
//! fence is finite (R5). After `signal` only resvs hold the fence, so its final put — and its
//! `release` — usually happens under some resv lock, when a later `reserve_fences` or
//! `add_fence` drops it (R7, S5).
//!
//! # Locking
//! - `&vfile->fence_mutex`: the id table; held around its `GFP_KERNEL` allocation.
//! - `(&fence->timer)`: the timeout timer (its callback signals the fence).
//! - `reservation_ww_class_mutex`: the fenced object's resv in `attach`, and the fence page's
//!   resv (below).
//!
//! # Annotations
//! The injected bug `fence-release-under-resv` lives in the release callback: it unpins the
//! fence page inline with the unlocked wrapper, which takes the page's resv without a ctx —
//! under whichever resv the final put happened ("possible recursive locking" on
//! `reservation_ww_class_mutex`, as S5). The correct release queues the unpin on a worker.
//!
//! # Rules
//! R5, R7, R13.
//!
//! # Simplified
//! The per-file fence page (a pinned GEM object a real driver would write seqnos to, as
//! drivers' fence/seqno buffers) is this simulation's addition: it gives the release callback
//! something real to release. The release cancels the timer without waiting for it
//! (`timer_delete` rather than the kernel's `timer_delete_sync`), since the timer callback may
//! itself drop the last reference.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use lockdep::{LockClass, LockMap, Mutex};

use crate::bugs::Bug;
use crate::clock::Timer;
use crate::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
use crate::dma_resv::DmaResvUsage;
use crate::drm_drv::DrmDevice;
use crate::drm_gem::DrmGemObject;
use crate::drm_gem_shmem_helper::DrmGemShmemObject;
use crate::error::{Errno, KResult};
use crate::mm::{self, GFP_KERNEL};
use crate::workqueue::{system_wq, Work};

/// How long an unsignalled vgem fence lives before its timer signals it (`VGEM_FENCE_TIMEOUT`).
pub const VGEM_FENCE_TIMEOUT: Duration = Duration::from_secs(10);

static FENCE_MUTEX_CLASS: LockClass = LockClass::new("&vfile->fence_mutex");
static FENCE_TIMER_MAP: LockMap = LockMap::new("(&fence->timer)");

/// The per-file fence page and its deferred unpins.
struct FencePage {
    obj: Arc<DrmGemObject>,
    pending: AtomicUsize,
    work: OnceLock<Arc<Work>>,
}

impl FencePage {
    /// R7's fix: the release only counts an unpin and queues the worker that does it.
    fn queue_unpin(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        if let Some(w) = self.work.get() {
            system_wq().queue_work(w);
        }
    }

    fn run_unpins(&self) {
        while self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            self.obj.unpin();
        }
    }
}

struct VgemFenceOps {
    dev: Arc<DrmDevice>,
    page: Arc<FencePage>,
    timer: OnceLock<Arc<Timer>>,
}

impl DmaFenceOps for VgemFenceOps {
    fn get_driver_name(&self) -> &'static str {
        "vgem"
    }

    fn get_timeline_name(&self) -> &'static str {
        "file"
    }

    /// `vgem_fence_release`.
    fn release(&self, _f: &DmaFence) {
        if let Some(t) = self.timer.get() {
            t.del_timer();
        }
        if self.dev.bugs().has(Bug::FenceReleaseUnderResv) {
            self.page.obj.unpin();
        } else {
            self.page.queue_unpin();
        }
    }
}

/// vgem's per-file state (`struct vgem_file`): the fence id table and the fence page.
pub struct VgemFile {
    dev: Arc<DrmDevice>,
    fences: Mutex<(u32, HashMap<u32, Arc<DmaFence>>)>,
    page: Arc<FencePage>,
}

impl std::fmt::Debug for VgemFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VgemFile").field("dev", &self.dev.name()).finish()
    }
}

impl VgemFile {
    /// Opens vgem's fence state for a client of `dev` (`vgem_open`).
    ///
    /// # Errors
    /// As [`DrmGemShmemObject::create`].
    pub fn open(dev: &Arc<DrmDevice>) -> KResult<Arc<VgemFile>> {
        let obj = DrmGemShmemObject::create(dev, 4096)?;
        let page = Arc::new(FencePage {
            obj,
            pending: AtomicUsize::new(0),
            work: OnceLock::new(),
        });
        let weak: Weak<FencePage> = Arc::downgrade(&page);
        let work = Work::new("(work_completion)(&vfile->unpin_work)", move || {
            if let Some(p) = weak.upgrade() {
                p.run_unpins();
            }
        });
        let _ = page.work.set(work);
        Ok(Arc::new(VgemFile {
            dev: dev.clone(),
            fences: Mutex::with_class((0, HashMap::new()), &FENCE_MUTEX_CLASS),
            page,
        }))
    }

    /// Pins of the fence page still held (one per live fence, plus deferred unpins not run).
    pub fn fence_page_pins(&self) -> u32 {
        self.page.obj.pin_count()
    }

    /// Waits for the deferred unpins queued so far.
    pub fn flush_unpins(&self) {
        if let Some(w) = self.page.work.get() {
            w.flush_work();
        }
    }

    /// `DRM_IOCTL_VGEM_FENCE_ATTACH` (`vgem_fence_attach_ioctl`): a new fence, on its own
    /// context, published in `obj`'s resv with write or read usage; returns its id.
    ///
    /// # Errors
    /// `Ebusy` if a fence the access would wait for is pending; `Enodev` after unplug;
    /// `Enomem` from the allocations.
    pub fn attach(&self, obj: &Arc<DrmGemObject>, write: bool) -> KResult<u32> {
        if self.dev.is_unplugged() {
            return Err(Errno::Enodev);
        }
        // Check for a conflicting fence.
        if !obj.resv().test_signaled(DmaResvUsage::rw(write)) {
            return Err(Errno::Ebusy);
        }
        self.page.obj.pin()?;
        let ops = Arc::new(VgemFenceOps {
            dev: self.dev.clone(),
            page: self.page.clone(),
            timer: OnceLock::new(),
        });
        let fence = DmaFence::init(ops.clone(), dma_fence_context_alloc(1), 1);
        let weak = Arc::downgrade(&fence);
        let timer = Timer::new(&FENCE_TIMER_MAP, &self.dev.clock(), move || {
            if let Some(f) = weak.upgrade() {
                let _ = f.signal();
            }
        });
        timer.mod_timer(VGEM_FENCE_TIMEOUT);
        let _ = ops.timer.set(timer);

        // Expose the fence via the dma-buf.
        let usage = DmaResvUsage::of_access(write);
        let g = obj.resv().lock(None)?;
        let r = obj.resv().reserve_fences(&g, 1);
        if r.is_ok() {
            obj.resv().add_fence(&g, fence.clone(), usage);
        }
        drop(g);
        if let Err(e) = r {
            let _ = fence.signal();
            return Err(e);
        }

        // Record the fence in the table for later signalling.
        let mut t = self.fences.lock();
        if let Err(e) = mm::kmalloc(std::mem::size_of::<usize>(), GFP_KERNEL) {
            drop(t);
            let _ = fence.signal();
            return Err(e);
        }
        t.0 += 1;
        let id = t.0;
        t.1.insert(id, fence.clone());
        drop(t);
        Ok(id)
    }

    /// `DRM_IOCTL_VGEM_FENCE_SIGNAL` (`vgem_fence_signal_ioctl`): signals fence `id` and
    /// drops the table's reference.
    ///
    /// # Errors
    /// `Enoent` for an unknown id; `Etimedout` if its timer signalled it first.
    pub fn signal(&self, id: u32) -> KResult {
        let fence = self.fences.lock().1.remove(&id).ok_or(Errno::Enoent)?;
        let r = if fence.is_signaled() {
            Err(Errno::Etimedout)
        } else {
            fence.signal()
        };
        drop(fence);
        r
    }

    /// The fence `id`, while the table holds it.
    pub fn fence(&self, id: u32) -> Option<Arc<DmaFence>> {
        self.fences.lock().1.get(&id).cloned()
    }
}
