//! dma-buf: export/import across devices, the R16 locking convention, sync_file bridging
//! (§3.2) and poll, and buffers that outlive their exporter's device.

mod buffers;

use buffers::{describe, fence, matching};
use drm_sim::bugs::Bugs;
use drm_sim::dma_buf::DmaBuf;
use drm_sim::dma_resv::{dma_resv_lockdep, DmaResvUsage};
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_gem;
use drm_sim::drm_gem_shmem_helper::DrmGemShmemObject;
use drm_sim::error::Errno;
use drm_sim::sync_file::SyncFile;
use drm_sim::testing::{kinds, reports, serial};
use lockdep::ReportKind;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[test]
fn import_on_another_device_shares_memory_and_resv() {
    let _s = serial();
    let (a, b) = (
        DrmDevice::new("buf-a", Bugs::NONE),
        DrmDevice::new("buf-b", Bugs::NONE),
    );
    let obj = DrmGemShmemObject::create(&a, 4096).unwrap();
    let buf = DmaBuf::export(&obj).unwrap();
    assert!(
        Arc::ptr_eq(&DmaBuf::export(&obj).unwrap(), &buf),
        "exports are cached"
    );
    // Importing on the exporting device gives back its own object.
    assert!(Arc::ptr_eq(&buf.import(&a).unwrap(), &obj));
    let imp = buf.import(&b).unwrap();
    assert!(imp.is_imported() && !Arc::ptr_eq(&imp, &obj));
    assert!(std::ptr::eq(imp.resv(), obj.resv()));
    assert_eq!(buf.attachment_count(), 1);
    // Re-exporting the import gives the original dma-buf.
    assert!(Arc::ptr_eq(&DmaBuf::export(&imp).unwrap(), &buf));
    // The import's mapping pinned the exporter's pages.
    assert_eq!(obj.pin_count(), 1);
    let m = obj.vmap().unwrap();
    m.write(0, b"shared").unwrap();
    obj.vunmap(m);
    let mi = imp.vmap().unwrap();
    let mut got = [0; 6];
    mi.read(0, &mut got).unwrap();
    assert_eq!(&got, b"shared");
    imp.vunmap(mi);
    drop(imp);
    drm_gem::flush_free_work();
    assert_eq!(buf.attachment_count(), 0, "the import's free detached");
    assert_eq!(obj.pin_count(), 0);
    assert!(kinds().is_empty());
}

#[test]
fn shared_buffer_stays_readable_after_the_exporter_is_unplugged() {
    let _s = serial();
    let (a, b) = (
        DrmDevice::new("buf-c", Bugs::NONE),
        DrmDevice::new("buf-d", Bugs::NONE),
    );
    let imp = {
        let obj = DrmGemShmemObject::create(&a, 4096).unwrap();
        let m = obj.vmap().unwrap();
        m.write(100, b"survives").unwrap();
        obj.vunmap(m);
        let buf = DmaBuf::export(&obj).unwrap();
        buf.import(&b).unwrap()
        // The exporter's object and dma-buf handles go here: only the import holds them.
    };
    a.unplug();
    assert!(a.is_unplugged());
    assert_eq!(DrmGemShmemObject::create(&a, 4096).err(), Some(Errno::Enodev));
    let m = imp.vmap().unwrap();
    let mut got = [0; 8];
    m.read(100, &mut got).unwrap();
    assert_eq!(&got, b"survives");
    imp.vunmap(m);
    // Importing onto an unplugged device fails; the buffer itself stays usable.
    let buf = DmaBuf::export(&imp).unwrap();
    assert_eq!(
        buf.import(&a).map(|_| ()),
        Ok(()),
        "self-import of the exporter's object"
    );
    let c = DrmDevice::new("buf-e", Bugs::NONE);
    c.unplug();
    assert_eq!(buf.import(&c).err(), Some(Errno::Enodev));
    assert!(kinds().is_empty());
}

#[test]
fn r16_locked_calls_need_the_guard_and_unlocked_ones_report_when_held() {
    let _s = serial();
    let (a, b) = (
        DrmDevice::new("buf-f", Bugs::NONE),
        DrmDevice::new("buf-g", Bugs::NONE),
    );
    let obj = DrmGemShmemObject::create(&a, 4096).unwrap();
    let buf = DmaBuf::export(&obj).unwrap();
    let att = buf.attach(&b).unwrap();
    {
        let g = buf.resv().lock(None).unwrap();
        let sgt = buf.map_attachment(&g, &att).unwrap();
        assert_eq!(sgt.len(), 4096);
        buf.pin(&g, &att).unwrap();
        let m = buf.vmap(&g).unwrap();
        buf.vunmap(&g, m);
        buf.unpin(&g, &att);
        buf.unmap_attachment(&g, &att);
    }
    let sgt = buf.map_attachment_unlocked(&att).unwrap();
    drop(sgt);
    buf.unmap_attachment_unlocked(&att);
    buf.detach(&att);
    assert_eq!(obj.pin_count(), 0);
    assert!(kinds().is_empty());

    // An unlocked-convention call made with the resv held is reported before it locks.
    let g = buf.resv().lock(None).unwrap();
    let _ = buf.export_sync_file(DmaResvUsage::Read);
    drop(g);
    let r = reports();
    assert_eq!(r.len(), 1, "{:?}", describe(&r));
    assert_eq!(r[0].kind(), ReportKind::AssertionFailed);
    assert!(r[0].headline().contains("lockdep_assert_not_held"));
}

#[test]
fn sync_file_export_import_round_trip() {
    let _s = serial();
    dma_resv_lockdep();
    let (a, b) = (
        DrmDevice::new("buf-h", Bugs::NONE),
        DrmDevice::new("buf-i", Bugs::NONE),
    );
    let src = DmaBuf::export(&DrmGemShmemObject::create(&a, 4096).unwrap()).unwrap();
    let dst = DmaBuf::export(&DrmGemShmemObject::create(&b, 4096).unwrap()).unwrap();

    // Nothing to wait for: the signalled stub.
    let sf = src.export_sync_file(DmaResvUsage::Read).unwrap();
    assert!(sf.get_fence().is_signaled());

    let (w, r) = (fence(), fence());
    {
        let g = src.resv().lock(None).unwrap();
        src.resv().reserve_fences(&g, 2).unwrap();
        src.resv().add_fence(&g, w.clone(), DmaResvUsage::Write);
        src.resv().add_fence(&g, r.clone(), DmaResvUsage::Read);
    }
    // A reader waits for the writer only: the fence itself.
    let for_read = src.export_sync_file(DmaResvUsage::rw(false)).unwrap();
    assert!(Arc::ptr_eq(&for_read.get_fence(), &w));
    // A writer waits for both: an array.
    let for_write = src.export_sync_file(DmaResvUsage::rw(true)).unwrap();

    // Importing unwraps the array into its members on the other buffer.
    dst.import_sync_file(&for_write, DmaResvUsage::Write).unwrap();
    {
        let g = dst.resv().lock(None).unwrap();
        let got = dst.resv().fences(&g, DmaResvUsage::Bookkeep);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, u)| *u == DmaResvUsage::Write));
        assert!(got.iter().any(|(f, _)| Arc::ptr_eq(f, &w)) && got.iter().any(|(f, _)| Arc::ptr_eq(f, &r)));
    }
    assert!(!dst.resv().test_signaled(DmaResvUsage::Write));
    w.signal().unwrap();
    r.signal().unwrap();
    assert!(dst.resv().test_signaled(DmaResvUsage::Write));
    assert!(for_write
        .get_fence()
        .wait_timeout(false, Duration::from_secs(5))
        .is_ok());
    let rep = reports();
    assert!(rep.is_empty(), "{:?}", describe(&rep));
    let _ = SyncFile::create(fence());
}

#[test]
fn poll_waits_for_the_fences_an_access_needs() {
    let _s = serial();
    dma_resv_lockdep();
    let a = DrmDevice::new("buf-j", Bugs::NONE);
    let buf = DmaBuf::export(&DrmGemShmemObject::create(&a, 4096).unwrap()).unwrap();
    assert!(buf.poll(true, Duration::from_millis(1)), "idle buffer");
    let rf = fence();
    {
        let g = buf.resv().lock(None).unwrap();
        buf.resv().reserve_fences(&g, 1).unwrap();
        buf.resv().add_fence(&g, rf.clone(), DmaResvUsage::Read);
    }
    // A reader does not wait for readers; a writer does.
    assert!(buf.poll(false, Duration::from_millis(1)));
    assert!(!buf.poll(true, Duration::from_millis(20)));
    // CPU access waits the same way (DMA_BUF_IOCTL_SYNC).
    buf.begin_cpu_access(false, Duration::from_millis(1)).unwrap();
    buf.end_cpu_access(false);
    assert_eq!(
        buf.begin_cpu_access(true, Duration::from_millis(20)),
        Err(Errno::Etimedout)
    );
    let f2 = rf.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        f2.signal().unwrap();
    });
    assert!(buf.poll(true, Duration::from_secs(10)));
    t.join().unwrap();
    let rep = reports();
    assert!(
        matching(&rep, ReportKind::CircularDependency, &["&dmabuf->poll"]).is_empty() && rep.is_empty(),
        "{:?}",
        describe(&rep)
    );
}
