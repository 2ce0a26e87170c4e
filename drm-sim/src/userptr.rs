//! `Userptr`: a range of a client's own memory used as a GPU buffer, kept coherent with the
//! address space by an mmu notifier. No kernel counterpart as one file: simulates the userptr
//! paths of drivers such as amdgpu (amdgpu_hmm.c, `amdgpu_hmm_invalidate_gfx`) and xe
//! (xe_userptr.c: `vm->userptr.notifier_lock`).
//!
//! # Contract
//! - [`Userptr::new`] registers the notifier on the client's `mm` (`mmap_lock` for writing).
//! - [`Userptr::populate`] (the bind / validate ioctl) reads the pages from user memory —
//!   a user copy, which may fault and so takes `&mm->mmap_lock` — *before* taking the
//!   notifier lock, then takes the lock only to check that no invalidation ran meanwhile
//!   (the `mmu_interval_read_begin` / `read_retry` sequence) and publish the pages. Under the
//!   injected bug `fault-under-notifier-lock` it makes the user copy with the notifier lock
//!   held, as the queue-manager lock of S20 did.
//! - [`Userptr::add_fence`]: a job using the pages; the notifier waits for those fences
//!   before the pages may go (R12 allows a fence wait in the notifier).
//! - [`Userptr::rebind`]: points the userptr at a new range after the old one was unmapped.
//!
//! # Locking
//! - `&vm->userptr.notifier_lock` (mutex): the userptr's pages, sequence and fences. Taken
//!   inside `mmu_notifier_invalidate_range_start` (under `&mm->mmap_lock` written by munmap),
//!   so it must never be held across a user copy (R10) nor a reclaiming allocation (R12).
//!
//! # Annotations
//! None of its own: `mm` annotates user copies (`might_fault`) and the notifier map.
//!
//! # Rules
//! R10 (no user copy under a lock a notifier takes), R12 (notifier locks and allocations).
//!
//! # Simplified
//! The pages are a copy of the user range's bytes, not pinned pages; no GPU page tables: a
//! job "uses" the userptr only by having its fence recorded here.

use crate::bugs::Bug;
use crate::bugs::Bugs;
use crate::dma_fence::DmaFence;
use crate::error::{Errno, KResult};
use crate::mm::{MmStruct, MmuNotifierOps, MmuNotifierRange};
use lockdep::{LockClass, Mutex};
use std::sync::Arc;
use std::time::Duration;

static NOTIFIER_LOCK: LockClass = LockClass::new("&vm->userptr.notifier_lock");

/// How long an invalidation waits for the GPU to stop using the pages.
pub const INVALIDATE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the notifier lock protects.
struct State {
    start: u64,
    len: u64,
    /// Bumped by every invalidation of the range (the interval notifier's sequence).
    seq: u64,
    /// The bytes read at the last successful populate; `None` while invalid.
    pages: Option<Vec<u8>>,
    /// Jobs still using the pages.
    fences: Vec<Arc<DmaFence>>,
}

/// A userptr buffer of one client.
pub struct Userptr {
    mm: Arc<MmStruct>,
    bugs: Bugs,
    state: Mutex<State>,
}

impl Userptr {
    /// A userptr over `len` bytes at `start` of `mm`, with its notifier registered.
    pub fn new(mm: &Arc<MmStruct>, bugs: Bugs, start: u64, len: u64) -> Arc<Userptr> {
        let u = Arc::new(Userptr {
            mm: mm.clone(),
            bugs,
            state: Mutex::with_class(
                State {
                    start,
                    len,
                    seq: 0,
                    pages: None,
                    fences: Vec::new(),
                },
                &NOTIFIER_LOCK,
            ),
        });
        mm.register_notifier(Arc::new(Notifier(Arc::downgrade(&u))));
        u
    }

    /// Reads the pages in and publishes them (the validate step of a bind or submit).
    /// Returns their byte count.
    ///
    /// # Errors
    /// `Efault` if the range is not mapped; `Eagain` if invalidations kept racing.
    pub fn populate(&self) -> KResult<usize> {
        if self.bugs.has(Bug::FaultUnderNotifierLock) {
            let mut s = self.state.lock();
            let mut pages = vec![0; s.len as usize];
            self.mm.copy_from_user(&mut pages, s.start)?;
            let n = pages.len();
            s.pages = Some(pages);
            return Ok(n);
        }
        for _ in 0..4 {
            let (start, len, seq) = {
                let s = self.state.lock();
                (s.start, s.len, s.seq)
            };
            let mut pages = vec![0; len as usize];
            self.mm.copy_from_user(&mut pages, start)?;
            let mut s = self.state.lock();
            if s.seq == seq && s.start == start {
                let n = pages.len();
                s.pages = Some(pages);
                return Ok(n);
            }
        }
        Err(Errno::Eagain)
    }

    /// Whether the pages are valid (populated and not invalidated since).
    pub fn is_valid(&self) -> bool {
        self.state.lock().pages.is_some()
    }

    /// Records a job using the pages (after its submit), dropping the signalled ones.
    pub fn add_fence(&self, fence: Arc<DmaFence>) {
        let mut s = self.state.lock();
        s.fences.retain(|f| !f.test_signaled_flag());
        s.fences.push(fence);
    }

    /// Points the userptr at `len` bytes at `start` (after the old range was unmapped); it is
    /// invalid until the next [`populate`](Self::populate).
    pub fn rebind(&self, start: u64, len: u64) {
        let mut s = self.state.lock();
        s.start = start;
        s.len = len;
        s.seq += 1;
        s.pages = None;
    }

    /// The start of the current range.
    pub fn start(&self) -> u64 {
        self.state.lock().start
    }
}

/// The registered notifier (holds the userptr weakly: the mm outlives nothing it notifies).
struct Notifier(std::sync::Weak<Userptr>);

impl MmuNotifierOps for Notifier {
    /// `invalidate`: under the notifier lock, bump the sequence, drop the pages and wait for
    /// the jobs still using them (a fence wait in the notifier, which R12 allows).
    fn invalidate_range_start(&self, range: &MmuNotifierRange) -> KResult {
        let Some(u) = self.0.upgrade() else {
            return Ok(());
        };
        let mut s = u.state.lock();
        if range.end <= s.start || range.start >= s.start + s.len {
            return Ok(());
        }
        s.seq += 1;
        s.pages = None;
        for f in std::mem::take(&mut s.fences) {
            // The GPU must stop using the pages: wait (bounded; every job fence is finite).
            let _ = f.wait_timeout(false, INVALIDATE_TIMEOUT);
        }
        Ok(())
    }
}
