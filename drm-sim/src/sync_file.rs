//! `SyncFile`: a fence handed to user space as a file. Mirrors drivers/dma-buf/sync_file.c.
//!
//! A sync_file wraps one fence (possibly an array built by merging); user space polls it,
//! merges two into one, or passes it back to the kernel (`sync_file_get_fence`), e.g. to
//! `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`.
//!
//! # Contract
//! - A sync_file holds a reference on its fence for its whole life; [`SyncFile::get_fence`]
//!   hands out another.
//! - [`SyncFile::merge`] gives a sync_file whose fence signals when both inputs' fences have:
//!   per context only the later fence is kept, and more than one fence left becomes a
//!   `dma_fence_array` (`dma_fence_unwrap_merge`).
//! - [`SyncFile::poll`] is `poll(2)` on the file: the first poll arms one callback on the
//!   fence, which wakes the file's wait queue when the fence signals; the poller sleeps on the
//!   queue, never in a loop of checks.
//!
//! # Locking
//! - `&sync_file->wq`: the wait queue's spinlock, taken with interrupts disabled. The fence
//!   callback takes it under the fence lock (`&fence->inline_lock -> &sync_file->wq`, or the
//!   provider's class), possibly in hard-irq context, so it is irq-safe; the poller takes it
//!   with no fence lock held and checks the fence outside it, so the order never inverts.
//!
//! # Annotations
//! None of its own; the poller's sleep calls `might_sleep`.
//!
//! # Rules
//! R6 (the wake-up runs in atomic context under the fence lock), R32 (the wait-queue lock is
//! irq-safe).
//!
//! # Simplified
//! - No file descriptors: a sync_file is an `Arc`, `fd_install` and `fget` are clones.
//! - `poll` combines `sync_file_poll` with the sleep of `do_poll` on the file's
//!   [`WaitQueueHead`].
//! - No `SYNC_IOC_FILE_INFO`; [`SyncFile::name`] gives what it reports as the name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lockdep::LockClass;

use crate::dma_fence::{dma_fence_unwrap_merge, DmaFence, DmaFenceCb};
use crate::error::KResult;
use crate::wait::WaitQueueHead;

/// The class of every sync_file's wait queue (`init_waitqueue_head(&sync_file->wq)`).
static WQ_CLASS: LockClass = LockClass::new("&sync_file->wq");

/// A fence as a file (`struct sync_file`).
pub struct SyncFile {
    fence: Arc<DmaFence>,
    user_name: Option<String>,
    /// Shared with the fence callback, which may outlive the file by a moment (it is removed
    /// on release, but may be running then).
    wq: Arc<WaitQueueHead>,
    /// `POLL_ENABLED`: the callback was armed (once).
    poll_enabled: AtomicBool,
    cb: OnceLock<DmaFenceCb>,
}

impl SyncFile {
    fn alloc(fence: Arc<DmaFence>, user_name: Option<String>) -> Arc<SyncFile> {
        Arc::new(SyncFile {
            fence,
            user_name,
            wq: Arc::new(WaitQueueHead::new(&WQ_CLASS)),
            poll_enabled: AtomicBool::new(false),
            cb: OnceLock::new(),
        })
    }

    /// A sync_file holding `fence` (`sync_file_create`).
    #[doc(alias = "sync_file_create")]
    pub fn create(fence: Arc<DmaFence>) -> Arc<SyncFile> {
        Self::alloc(fence, None)
    }

    /// Another reference to the fence (`sync_file_get_fence`).
    #[doc(alias = "sync_file_get_fence")]
    pub fn get_fence(&self) -> Arc<DmaFence> {
        self.fence.clone()
    }

    /// The fence, borrowed.
    pub fn fence(&self) -> &Arc<DmaFence> {
        &self.fence
    }

    /// A new sync_file called `name` for both files' fences (`sync_file_merge`).
    ///
    /// # Errors
    /// None here (the kernel's `-ENOMEM` cannot happen); kept for the ioctl's shape.
    #[doc(alias = "sync_file_merge")]
    pub fn merge(name: &str, a: &SyncFile, b: &SyncFile) -> KResult<Arc<SyncFile>> {
        let fence = dma_fence_unwrap_merge(&[a.fence.clone(), b.fence.clone()]);
        Ok(Self::alloc(fence, Some(name.to_string())))
    }

    /// The name `SYNC_IOC_FILE_INFO` reports (`sync_file_get_name`): the merge's name, or
    /// `timeline-driver-context-seqno` of the fence.
    #[doc(alias = "sync_file_get_name")]
    pub fn name(&self) -> String {
        match &self.user_name {
            Some(n) => n.clone(),
            None => format!(
                "{}-{}-{:x}-{:x}",
                self.fence.timeline_name(),
                self.fence.driver_name(),
                self.fence.context(),
                self.fence.seqno()
            ),
        }
    }

    /// `sync_file_poll` without the sleep: arms the wake-up callback on the first call and
    /// says whether the fence has signalled (`EPOLLIN`).
    #[track_caller]
    pub fn poll_once(&self) -> bool {
        if !self.poll_enabled.swap(true, Ordering::AcqRel) {
            let wq = self.wq.clone();
            // `fence_check_cb_func`: under the fence lock, maybe in irq context.
            match self.fence.add_callback(move |_| wq.wake_up_all()) {
                Ok(cb) => {
                    let _ = self.cb.set(cb);
                }
                Err(_) => self.wq.wake_up_all(),
            }
        }
        self.fence.is_signaled()
    }

    /// `poll(2)` on the file with `timeout`: true once the fence has signalled, false if the
    /// time ran out first. Sleeps on the file's wait queue until the fence callback wakes it.
    #[track_caller]
    pub fn poll(&self, timeout: Duration) -> bool {
        if self.poll_once() {
            return true;
        }
        let fence = &self.fence;
        self.wq.wait_event_timeout(|| fence.is_signaled(), timeout)
    }
}

/// Another reference to `file`'s fence (`sync_file_get_fence`, from an fd).
pub fn sync_file_get_fence(file: &SyncFile) -> Arc<DmaFence> {
    file.get_fence()
}

impl Drop for SyncFile {
    /// `sync_file_release`: disarm the poll callback, drop the fence.
    fn drop(&mut self) {
        if let Some(cb) = self.cb.get() {
            self.fence.remove_callback(cb);
        }
    }
}

impl std::fmt::Debug for SyncFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncFile")
            .field("name", &self.name())
            .field("fence", &self.fence)
            .finish()
    }
}
