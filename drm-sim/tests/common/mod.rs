//! Helpers shared by the fence tests: the crate's test lock, a counting provider, fences.

#![allow(dead_code, unused_imports)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use drm_sim::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceLock, DmaFenceOps};

pub mod sched;

pub use drm_sim::testing::{kinds, reports, serial};

/// A provider that counts what the core asks of it.
#[derive(Default)]
pub struct Probe {
    pub enabled: AtomicUsize,
    pub released: AtomicUsize,
    pub deadlines: AtomicUsize,
    /// What `enable_signaling` answers (true: "already done").
    pub refuse: bool,
}

impl DmaFenceOps for Probe {
    fn get_driver_name(&self) -> &'static str {
        "probe"
    }
    fn get_timeline_name(&self) -> &'static str {
        "probe-tl"
    }
    fn enable_signaling(&self, f: &DmaFence) -> bool {
        lockdep::assert_held(f.lock_ref());
        self.enabled.fetch_add(1, Ordering::SeqCst);
        !self.refuse
    }
    fn set_deadline(&self, _f: &DmaFence, _deadline: Instant) {
        self.deadlines.fetch_add(1, Ordering::SeqCst);
    }
    fn release(&self, _f: &DmaFence) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

/// A pending inline-locked fence on a new context, with its provider.
pub fn fence() -> (Arc<Probe>, Arc<DmaFence>) {
    let p = Arc::new(Probe::default());
    let f = DmaFence::init(p.clone(), dma_fence_context_alloc(1), 1);
    (p, f)
}

/// `n` pending inline-locked fences, each on its own context.
pub fn fences(n: usize) -> Vec<Arc<DmaFence>> {
    (0..n).map(|_| fence().1).collect()
}

/// `n` pending fences sharing the provider lock `lock`, each on its own context.
pub fn fences_with_lock(n: usize, lock: &Arc<DmaFenceLock>) -> Vec<Arc<DmaFence>> {
    (0..n)
        .map(|_| DmaFence::init_with_lock(Arc::new(Probe::default()), lock, dma_fence_context_alloc(1), 1))
        .collect()
}

/// Whether `r` names a class containing `name`.
pub fn names(r: &lockdep::Report, name: &str) -> bool {
    r.classes().iter().any(|c| c.contains(name))
}
