//! vgem fences: attach and signal, and the injected `fence-release-under-resv` (S5): a
//! release callback that takes a resv, reached from the final put in
//! `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`'s resv section.

mod buffers;

use buffers::{describe, fence, matching};
use drm_sim::bugs::{Bug, Bugs};
use drm_sim::dma_buf::DmaBuf;
use drm_sim::dma_resv::{dma_resv_lockdep, DmaResvUsage};
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_gem_shmem_helper::DrmGemShmemObject;
use drm_sim::error::Errno;
use drm_sim::sync_file::SyncFile;
use drm_sim::testing::{kinds, reports, serial};
use drm_sim::vgem_fence::VgemFile;
use lockdep::ReportKind;

#[test]
fn attach_publishes_and_signal_completes() {
    let _s = serial();
    let dev = DrmDevice::new("vgem0", Bugs::NONE);
    let vf = VgemFile::open(&dev).unwrap();
    let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
    let id = vf.attach(&obj, true).unwrap();
    assert!(!obj.resv().test_signaled(DmaResvUsage::Write));
    // A conflicting attach is refused while the writer is pending.
    assert_eq!(vf.attach(&obj, false), Err(Errno::Ebusy));
    assert_eq!(vf.fence_page_pins(), 1);
    vf.signal(id).unwrap();
    assert_eq!(vf.signal(id), Err(Errno::Enoent));
    assert!(obj.resv().test_signaled(DmaResvUsage::Bookkeep));
    let id2 = vf.attach(&obj, false).unwrap();
    vf.signal(id2).unwrap();
    drop(obj);
    drm_sim::drm_gem::flush_free_work();
    vf.flush_unpins();
    assert_eq!(vf.fence_page_pins(), 0, "every released fence gave its pin back");
    assert!(kinds().is_empty());
}

#[test]
fn injected_fence_release_under_resv() {
    let _s = serial();
    for bug in [false, true] {
        lockdep::reset();
        dma_resv_lockdep();
        let bugs = if bug {
            Bugs::NONE.with(Bug::FenceReleaseUnderResv)
        } else {
            Bugs::NONE
        };
        let dev = DrmDevice::new("vgem1", bugs);
        let vf = VgemFile::open(&dev).unwrap();
        let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
        let buf = DmaBuf::export(&obj).unwrap();
        let id = vf.attach(&obj, true).unwrap();
        vf.signal(id).unwrap(); // only the resv holds the fence now
                                // IMPORT_SYNC_FILE replaces the signalled fence under the resv: its final put.
        buf.import_sync_file(&SyncFile::create(fence()), DmaResvUsage::Write)
            .unwrap();
        vf.flush_unpins();
        assert_eq!(vf.fence_page_pins(), 0, "bug={bug}");
        let r = reports();
        let hits = matching(&r, ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]);
        assert_eq!(hits.len(), usize::from(bug), "bug={bug}: {:?}", describe(&r));
        assert_eq!(r.len(), hits.len(), "bug={bug}: {:?}", describe(&r));
    }
}

/// R5: a fence user space never signals is signalled by its timer.
#[test]
fn unsignalled_fence_times_out() {
    let _s = serial();
    let clock = drm_sim::clock::Clock::manual();
    let dev = DrmDevice::with_clock("vgem2", Bugs::NONE, clock.clone());
    let vf = VgemFile::open(&dev).unwrap();
    let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
    let id = vf.attach(&obj, false).unwrap();
    let f = vf.fence(id).unwrap();
    clock.advance(drm_sim::vgem_fence::VGEM_FENCE_TIMEOUT / 2);
    assert!(!f.is_signaled());
    clock.advance(drm_sim::vgem_fence::VGEM_FENCE_TIMEOUT);
    assert!(f.wait_timeout(false, std::time::Duration::from_secs(5)).is_ok());
    assert_eq!(vf.signal(id), Err(Errno::Etimedout));
    assert!(obj.resv().test_signaled(DmaResvUsage::Bookkeep));
    assert!(kinds().is_empty());
}
