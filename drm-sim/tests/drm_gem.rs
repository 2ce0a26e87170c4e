//! GEM and the shmem helpers: handle tables, `_locked` helpers and their wrappers, faults,
//! deferred destruction, the shrinker, and the injected bugs that live here.

mod buffers;

use buffers::{describe, fence, matching};
use drm_sim::bugs::{Bug, Bugs};
use drm_sim::dma_resv::{dma_resv_lockdep, DmaResvUsage};
use drm_sim::drm_drv::{DrmDevice, DrmFile};
use drm_sim::drm_exec::{DrmExec, DrmExecFlags};
use drm_sim::drm_gem::{self, DrmGemLru, Madv};
use drm_sim::drm_gem_shmem_helper::{copy_ioctl, pin_for_submit, DrmGemShmemObject};
use drm_sim::error::Errno;
use drm_sim::mm::{self, MmStruct};
use drm_sim::testing::{kinds, reports, serial};
use lockdep::ReportKind;
use std::sync::{mpsc, Arc};
use std::thread;

fn client(dev: &Arc<DrmDevice>) -> Arc<DrmFile> {
    DrmFile::open(dev, MmStruct::new()).unwrap()
}

#[test]
fn handles_are_per_file() {
    let _s = serial();
    let dev = DrmDevice::new("gem0", Bugs::NONE);
    let (f1, f2) = (client(&dev), client(&dev));
    let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
    let h1 = drm_gem::handle_create(&f1, &obj).unwrap();
    let h1b = drm_gem::handle_create(&f1, &obj).unwrap();
    let h2 = drm_gem::handle_create(&f2, &obj).unwrap();
    assert!(h1 != 0 && h1 != h1b);
    assert_eq!(obj.handle_count(), 3);
    assert!(Arc::ptr_eq(&drm_gem::object_lookup(&f1, h1).unwrap(), &obj));
    assert!(Arc::ptr_eq(&drm_gem::object_lookup(&f2, h2).unwrap(), &obj));
    assert!(drm_gem::object_lookup(&f2, h2 + 100).is_none());
    drm_gem::handle_delete(&f1, h1).unwrap();
    assert_eq!(drm_gem::handle_delete(&f1, h1), Err(Errno::Einval));
    assert!(drm_gem::object_lookup(&f1, h1).is_none());
    assert!(drm_gem::object_lookup(&f1, h1b).is_some());
    drm_gem::release(&f1);
    assert_eq!(drm_gem::handle_count(&f1), 0);
    assert_eq!(drm_gem::handle_count(&f2), 1);
    assert_eq!(obj.handle_count(), 1);
    // The last reference goes with the last handle: the object is freed on the free work.
    let weak = Arc::downgrade(&obj);
    drop(obj);
    assert!(weak.upgrade().is_some());
    f2.close(); // the close hook drops the file's handles (drm_gem_release)
    assert_eq!(drm_gem::handle_count(&f2), 0);
    assert_eq!(
        drm_gem::handle_create(&f2, &DrmGemShmemObject::create(&dev, 4096).unwrap()),
        Err(Errno::Einval)
    );
    assert!(weak.upgrade().is_none());
    drm_gem::flush_free_work();
    assert!(kinds().is_empty());
}

#[test]
fn locked_helpers_assert_the_resv_and_wrappers_take_it() {
    let _s = serial();
    let dev = DrmDevice::new("gem1", Bugs::NONE);
    let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
    assert!(!obj.has_pages());
    obj.pin().unwrap();
    assert!(obj.has_pages() && obj.pin_count() == 1);
    let map = obj.vmap().unwrap();
    map.write(10, b"gem").unwrap();
    {
        let g = obj.resv().lock(None).unwrap();
        let m2 = obj.vmap_locked(&g).unwrap();
        assert!(m2.same_memory(&map));
        let mut b = [0; 3];
        m2.read(10, &mut b).unwrap();
        assert_eq!(&b, b"gem");
        obj.vunmap_locked(&g, m2);
        obj.unpin_locked(&g);
    }
    obj.vunmap(map);
    assert_eq!(obj.pin_count(), 0);
    assert!(!obj.has_pages(), "the last use gave the pages back");
    assert!(kinds().is_empty());
}

#[test]
fn fault_takes_mmap_lock_then_resv() {
    let _s = serial();
    dma_resv_lockdep();
    let dev = DrmDevice::new("gem2", Bugs::NONE);
    let mm = MmStruct::new();
    let obj = DrmGemShmemObject::create(&dev, 8192).unwrap();
    let map = obj.vmap().unwrap();
    map.write(4097, &[42]).unwrap();
    obj.vunmap(map);
    let vma = obj.mmap(&mm).unwrap();
    assert_eq!(vma.fault(4097), Ok(42));
    assert_eq!(vma.fault(9000), Err(Errno::Efault));
    drop(vma);
    // A one-shot access maps, faults and unmaps.
    assert_eq!(obj.fault(&mm, 4097), Ok(42));
    assert!(!obj.has_pages());
    let r = reports();
    assert!(r.is_empty(), "{:?}", describe(&r));
}

/// §3.6: the shrinker frees idle unpinned objects (evicting, or purging what was madvised
/// away) and skips pinned, locked and busy ones.
#[test]
fn shrinker_frees_idle_objects_and_skips_pinned_locked_and_busy_ones() {
    let _s = serial();
    dma_resv_lockdep();
    let dev = DrmDevice::new("gem3", Bugs::NONE);
    let file = client(&dev);
    let mk = || {
        let o = DrmGemShmemObject::create(&dev, 4096).unwrap();
        // The pages are kept by a user mapping's use, not a pin.
        let vma = o.mmap(file.mm()).unwrap();
        let m = o.vmap().unwrap();
        m.write(0, &[o.id() as u8]).unwrap();
        o.vunmap(m);
        (o, vma)
    };
    let (idle, _v1) = mk();
    let (pinned, _v2) = mk();
    pinned.pin().unwrap();
    let (locked, _v3) = mk();
    let (busy, _v4) = mk();
    let (purgeable, _v5) = mk();
    let busy_fence = fence();
    {
        let g = busy.resv().lock(None).unwrap();
        busy.resv().reserve_fences(&g, 1).unwrap();
        busy.resv().add_fence(&g, busy_fence.clone(), DmaResvUsage::Write);
    }
    let h = drm_gem::handle_create(&file, &purgeable).unwrap();
    let user = file.mm().mmap_anon(8);
    assert_eq!(drm_gem::madvise_ioctl(&file, h, Madv::DontNeed, user), Ok(true));
    assert_eq!(
        file.mm().get_user(user),
        Ok(1),
        "retained, written back to user memory"
    );
    assert_eq!(DrmGemLru::of(&dev).len(), 5);

    // Another thread holds `locked`'s resv for the whole shrink.
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let holder = {
        let locked = locked.clone();
        thread::spawn(move || {
            let g = locked.resv().lock(None).unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            drop(g);
        })
    };
    held_rx.recv().unwrap();
    mm::shrink_all("test");
    go_tx.send(()).unwrap();
    holder.join().unwrap();

    assert!(idle.is_evicted() && !idle.has_pages());
    assert!(purgeable.is_purged() && !purgeable.has_pages());
    assert!(pinned.has_pages() && locked.has_pages() && busy.has_pages());
    assert_eq!(DrmGemLru::of(&dev).len(), 3);
    // An evicted object comes back with its contents, through a fault or a vmap.
    assert_eq!(_v1.fault(0), Ok(idle.id() as u8));
    assert!(idle.has_pages() && !idle.is_evicted());
    assert_eq!(_v5.fault(0), Err(Errno::Efault), "purged contents are gone");
    // Once idle, the busy one goes too.
    busy_fence.signal().unwrap();
    mm::shrink_all("test");
    assert!(busy.is_evicted());
    pinned.unpin();
    let r = reports();
    assert!(r.is_empty(), "{:?}", describe(&r));
}

#[test]
fn injected_shrinker_blocks_on_resv() {
    let _s = serial();
    for bug in [false, true] {
        lockdep::reset();
        dma_resv_lockdep();
        let bugs = if bug {
            Bugs::NONE.with(Bug::ShrinkerBlocksOnResv)
        } else {
            Bugs::NONE
        };
        let dev = DrmDevice::new("gem4", bugs);
        let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
        let vma = obj.mmap(&MmStruct::new()).unwrap();
        mm::shrink_all("test");
        assert!(obj.is_evicted(), "bug={bug}: the object is shrunk either way");
        let r = reports();
        let hits = matching(
            &r,
            ReportKind::CircularDependency,
            &["fs_reclaim", "reservation_ww_class_mutex"],
        );
        assert_eq!(hits.len(), usize::from(bug), "bug={bug}: {:?}", describe(&r));
        drop(vma);
    }
}

#[test]
fn injected_copy_to_user_under_resv() {
    let _s = serial();
    for bug in [false, true] {
        lockdep::reset();
        dma_resv_lockdep();
        let bugs = if bug {
            Bugs::NONE.with(Bug::CopyToUserUnderResv)
        } else {
            Bugs::NONE
        };
        let dev = DrmDevice::new("gem5", bugs);
        let file = client(&dev);
        let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
        let h = drm_gem::handle_create(&file, &obj).unwrap();
        let user = file.mm().mmap_anon(8);
        assert_eq!(drm_gem::madvise_ioctl(&file, h, Madv::WillNeed, user), Ok(true));
        let r = reports();
        let hits = matching(
            &r,
            ReportKind::CircularDependency,
            &["&mm->mmap_lock", "reservation_ww_class_mutex"],
        );
        assert_eq!(hits.len(), usize::from(bug), "bug={bug}: {:?}", describe(&r));
        assert_eq!(r.len(), hits.len(), "bug={bug}: nothing else: {:?}", describe(&r));
    }
}

#[test]
fn injected_resv_without_ctx() {
    let _s = serial();
    for bug in [false, true] {
        lockdep::reset();
        let bugs = if bug {
            Bugs::NONE.with(Bug::ResvWithoutCtx)
        } else {
            Bugs::NONE
        };
        let dev = DrmDevice::new("gem6", bugs);
        let file = client(&dev);
        let (a, b) = (
            DrmGemShmemObject::create(&dev, 4096).unwrap(),
            DrmGemShmemObject::create(&dev, 4096).unwrap(),
        );
        let m = a.vmap().unwrap();
        m.write(0, b"copy").unwrap();
        a.vunmap(m);
        let (ha, hb) = (
            drm_gem::handle_create(&file, &a).unwrap(),
            drm_gem::handle_create(&file, &b).unwrap(),
        );
        copy_ioctl(&file, hb, ha, 4).unwrap();
        let m = b.vmap().unwrap();
        let mut got = [0; 4];
        m.read(0, &mut got).unwrap();
        b.vunmap(m);
        assert_eq!(&got, b"copy");
        let r = reports();
        let hits = matching(&r, ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]);
        assert_eq!(hits.len(), usize::from(bug), "bug={bug}: {:?}", describe(&r));
        assert_eq!(r.len(), hits.len(), "bug={bug}: {:?}", describe(&r));
    }
}

/// The unlocked pin wrapper under the transaction re-takes the held resv: reported as a
/// same-instance deadlock, refused with a panic that the submit boundary turns into
/// `EDEADLK`; the task then goes on with the resv consistent.
#[test]
fn injected_pin_with_resv_held() {
    let _s = serial();
    for bug in [false, true] {
        lockdep::reset();
        let bugs = if bug {
            Bugs::NONE.with(Bug::PinWithResvHeld)
        } else {
            Bugs::NONE
        };
        let dev = DrmDevice::new("gem7", bugs);
        let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
        let mut exec = DrmExec::init(DrmExecFlags::NONE, 1);
        exec.until_all_locked(|exec| exec.prepare_obj(&obj, 1)).unwrap();
        let res = pin_for_submit(&exec, &obj);
        drop(exec);
        let r = reports();
        let hits = matching(&r, ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]);
        if bug {
            assert_eq!(res, Err(Errno::Edeadlk));
            // The re-take of this very instance is caught where it would block (the panic that
            // became EDEADLK above) and reported as a same-instance deadlock.
            assert!(!hits.is_empty(), "{:?}", describe(&r));
            assert!(
                hits.iter()
                    .any(|h| h.details().iter().any(|d| d.contains("same lock instance"))),
                "the re-take of this very resv is named as such: {:?}",
                describe(&r)
            );
            assert_eq!(obj.pin_count(), 0);
        } else {
            assert_eq!(res, Ok(()));
            assert!(r.is_empty(), "{:?}", describe(&r));
            assert_eq!(obj.pin_count(), 1);
            obj.unpin();
        }
        // Recovered: the resv is free and usable.
        assert!(!obj.resv().is_locked());
        obj.pin().unwrap();
        obj.unpin();
        assert!(kinds().is_empty());
    }
}

/// After unplug the driver's ioctls fail with ENODEV, while existing objects, their mappings
/// and their kernel maps keep working until their last user lets go.
#[test]
fn after_unplug_ioctls_fail_and_objects_keep_working() {
    let _s = serial();
    let dev = DrmDevice::new("gem8", Bugs::NONE);
    let file = client(&dev);
    let obj = DrmGemShmemObject::create(&dev, 4096).unwrap();
    let h = drm_gem::handle_create(&file, &obj).unwrap();
    let vma = obj.mmap(file.mm()).unwrap();
    let m = obj.vmap().unwrap();
    m.write(7, &[9]).unwrap();
    obj.vunmap(m);
    dev.unplug();
    let user = file.mm().mmap_anon(8);
    assert_eq!(
        drm_gem::madvise_ioctl(&file, h, Madv::DontNeed, user),
        Err(Errno::Enodev)
    );
    assert_eq!(copy_ioctl(&file, h, h, 1), Err(Errno::Enodev));
    assert_eq!(DrmGemShmemObject::create(&dev, 4096).err(), Some(Errno::Enodev));
    assert_eq!(vma.fault(7), Ok(9));
    obj.pin().unwrap();
    obj.unpin();
    drop(vma);
    drm_gem::release(&file);
    drop(obj);
    drm_gem::flush_free_work();
    assert!(kinds().is_empty());
}
