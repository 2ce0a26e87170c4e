//! Shared helpers of the buffer-layer tests (dma_resv, drm_exec, GEM, dma-buf, vgem): a plain
//! fence provider that counts releases, and report matching.

#![allow(dead_code)]

use drm_sim::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
use drm_sim::dma_resv::DmaResv;
use lockdep::{Report, ReportKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A fence provider that records its releases and whether a given resv was held then.
#[derive(Default)]
pub struct TestOps {
    pub releases: AtomicUsize,
    pub watch: Mutex<Option<Arc<DmaResv>>>,
    pub released_under_resv: AtomicUsize,
}

impl DmaFenceOps for TestOps {
    fn get_driver_name(&self) -> &'static str {
        "test"
    }
    fn get_timeline_name(&self) -> &'static str {
        "test"
    }
    fn release(&self, _f: &DmaFence) {
        self.releases.fetch_add(1, Ordering::SeqCst);
        if self.watch.lock().unwrap().as_ref().is_some_and(|r| r.held()) {
            self.released_under_resv.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A new unsignalled fence on a new context.
pub fn fence() -> Arc<DmaFence> {
    fence_with(&Arc::new(TestOps::default()))
}

/// A new unsignalled fence of `ops` on a new context.
pub fn fence_with(ops: &Arc<TestOps>) -> Arc<DmaFence> {
    DmaFence::init(ops.clone(), dma_fence_context_alloc(1), 1)
}

/// The reports of `kind` that name every class of `classes`.
pub fn matching<'a>(reports: &'a [Report], kind: ReportKind, classes: &[&str]) -> Vec<&'a Report> {
    reports
        .iter()
        .filter(|r| r.kind() == kind && classes.iter().all(|c| r.classes().contains(c)))
        .collect()
}

/// Kinds and classes of every report, for assertion messages.
pub fn describe(reports: &[Report]) -> Vec<(ReportKind, Vec<String>)> {
    reports
        .iter()
        .map(|r| (r.kind(), r.classes().iter().map(|s| s.to_string()).collect()))
        .collect()
}
