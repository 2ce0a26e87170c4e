//! Devices: enter/exit on `drm_unplug_srcu`, unplug waiting for sections in flight, the
//! forcing knob, MMIO inside enter, files opening and closing around an unplug, and the
//! R26/R27 reports.

use drm_sim::drm_drv::{DrmDevice, DrmFile, DRM_UNPLUG_SRCU};
use drm_sim::error::Errno;
use drm_sim::mm::MmStruct;
use drm_sim::testing::{expect, kinds, reports, serial};
use drm_sim::wait::Completion;
use drm_sim::Bugs;
use lockdep::ReportKind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[test]
fn enter_fails_after_unplug_and_sections_nest() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    {
        let _a = dev.enter().expect("plugged");
        let _b = dev.enter().expect("sections nest");
        dev.mmio_write(3, 7);
        assert_eq!(dev.mmio_read(3), 7);
    }
    assert!(!dev.is_unplugged());
    dev.unplug();
    assert!(dev.is_unplugged() && dev.was_unplugged());
    assert!(dev.enter().is_none());
    dev.unplug(); // twice: nothing more
    assert!(kinds().is_empty());
}

#[test]
fn unplugging_one_device_leaves_the_others() {
    let _s = serial();
    let a = DrmDevice::new("card0", Bugs::NONE);
    let b = DrmDevice::new("card1", Bugs::NONE);
    assert_ne!(a.index(), b.index());
    assert_eq!(b.name(), "card1");
    a.unplug();
    assert!(a.enter().is_none());
    assert!(b.enter().is_some());
}

#[test]
fn unplug_waits_for_an_enter_section_in_flight() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let entered = Arc::new(Completion::new("entered"));
    let left = Arc::new(AtomicBool::new(false));
    let (d, e, l) = (dev.clone(), entered.clone(), left.clone());
    let t = thread::spawn(move || {
        let _g = d.enter().expect("plugged");
        e.complete();
        thread::sleep(Duration::from_millis(30));
        d.mmio_write(0, 1); // still inside: the hardware is still there
        l.store(true, SeqCst);
    });
    entered.wait_for_completion();
    dev.unplug();
    assert!(left.load(SeqCst), "unplug returned before the section ended");
    t.join().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn unplug_hooks_run_after_the_sections_and_once() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    dev.on_unplug(move |d| {
        assert!(d.is_unplugged());
        assert!(d.enter().is_none());
        n2.fetch_add(1, SeqCst);
    });
    dev.unplug();
    dev.unplug();
    assert_eq!(n.load(SeqCst), 1);
    let n3 = n.clone();
    dev.on_unplug(move |_| {
        n3.fetch_add(1, SeqCst);
    });
    assert_eq!(n.load(SeqCst), 2, "a hook registered after unplug runs at once");
}

#[test]
fn unplug_inside_enter_is_reported_and_the_task_recovers() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    {
        let _g = dev.enter().unwrap();
        // (the panic hook prints the SRCU domain's one-line panic; silence it here)
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        dev.unplug();
        std::panic::set_hook(hook);
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::SuspiciousRcuUsage])
    );
    assert!(
        r.is_empty() || r[0].classes().contains(&"drm_unplug_srcu"),
        "{:?}",
        r.first().map(|r| r.classes())
    );
    assert!(dev.is_unplugged(), "still unplugged");
    assert!(dev.enter().is_none());
    // Outside any section it is fine.
    let dev2 = DrmDevice::new("card1", Bugs::NONE);
    dev2.unplug();
    assert!(kinds().is_empty());
}

#[test]
fn an_enter_section_leaking_to_user_space_is_reported() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    {
        let _ioctl = lockdep::syscall();
        let _g = dev.enter().unwrap();
    }
    assert!(kinds().is_empty());
    {
        // An error path returning before its drm_dev_exit().
        let _g = dev.enter().unwrap();
        let _ioctl = lockdep::syscall();
    }
    assert_eq!(kinds(), expect(&[ReportKind::HeldOnReturnToUser]));
}

#[test]
fn mmio_outside_enter_is_reported() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    {
        let _g = dev.enter().unwrap();
        dev.mmio_write(1, 5);
    }
    assert!(kinds().is_empty());
    dev.mmio_write(1, 6);
    assert_eq!(kinds(), expect(&[ReportKind::AssertionFailed]));
    let _ = dev.mmio_read(1);
    assert_eq!(kinds(), expect(&[ReportKind::AssertionFailed]));
    assert!(!lockdep::is_held(&DRM_UNPLUG_SRCU));
}

#[test]
fn forcing_the_unplugged_checks() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    dev.force_unplugged_checks(true);
    assert!(dev.is_unplugged() && !dev.was_unplugged());
    assert!(dev.enter().is_none());
    assert_eq!(DrmFile::open(&dev, MmStruct::new()).unwrap_err(), Errno::Enodev);
    dev.force_unplugged_checks(false);
    assert!(dev.enter().is_some());
    assert!(DrmFile::open(&dev, MmStruct::new()).is_ok());
}

#[test]
fn files_open_close_and_outlive_the_unplug() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let mm = MmStruct::new();
    let f = DrmFile::open(&dev, mm.clone()).unwrap();
    let g = DrmFile::open(&dev, mm.clone()).unwrap();
    assert_ne!(f.id(), g.id());
    assert!(Arc::ptr_eq(f.mm(), &mm) && Arc::ptr_eq(f.dev(), &dev));
    assert_eq!(dev.open_files(), 2);
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    for i in 0..3 {
        let o = order.clone();
        f.on_close(move |file| o.lock().unwrap().push((i, file.is_closed())));
    }
    dev.unplug();
    assert_eq!(DrmFile::open(&dev, mm.clone()).unwrap_err(), Errno::Enodev);
    f.close(); // closing works after unplug
    f.close();
    assert_eq!(
        *order.lock().unwrap(),
        vec![(0, true), (1, true), (2, true)],
        "once, in order"
    );
    assert_eq!(dev.open_files(), 1);
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    g.on_close(move |_| {
        n2.fetch_add(1, SeqCst);
    });
    drop(g); // the last reference closes it
    assert_eq!(n.load(SeqCst), 1);
    assert_eq!(dev.open_files(), 0);
    assert!(kinds().is_empty());
}

#[test]
fn a_fence_wait_inside_enter_is_reported_on_the_same_srcu_domain() {
    use drm_sim::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
    struct Ops;
    impl DmaFenceOps for Ops {
        fn get_driver_name(&self) -> &'static str {
            "test"
        }
        fn get_timeline_name(&self) -> &'static str {
            "test"
        }
    }
    let _s = serial();
    assert!(std::ptr::eq(
        &DRM_UNPLUG_SRCU,
        &drm_sim::dma_fence::DRM_UNPLUG_SRCU
    ));
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let fence = DmaFence::init(Arc::new(Ops), dma_fence_context_alloc(1), 1);
    fence.signal().unwrap();
    fence.wait(false).unwrap();
    assert!(kinds().is_empty());
    {
        let _g = dev.enter().unwrap();
        fence.wait(false).unwrap(); // R28
    }
    let k = kinds();
    assert_eq!(
        k.first().copied(),
        expect(&[ReportKind::ForbiddenWhileHeld]).first().copied(),
        "{k:?}"
    );
}

#[test]
fn ioctls_fail_with_enodev_after_unplug_and_are_checked_at_return() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let file = DrmFile::open(&dev, MmStruct::new()).unwrap();
    let v = file
        .ioctl(|f| {
            let _g = f.dev().enter().ok_or(Errno::Enodev)?;
            f.dev().mmio_write(2, 9);
            Ok(f.dev().mmio_read(2))
        })
        .unwrap();
    assert_eq!(v, 9);
    assert_eq!(file.ioctl(|_| Err::<(), _>(Errno::Einval)), Err(Errno::Einval));
    assert!(kinds().is_empty());
    // A guard leaking out of an ioctl: reported when it returns.
    let d = dev.clone();
    let leaked = std::cell::RefCell::new(None);
    file.ioctl(|_| {
        *leaked.borrow_mut() = d.enter();
        Ok(())
    })
    .unwrap();
    drop(leaked);
    assert_eq!(kinds(), expect(&[ReportKind::HeldOnReturnToUser]));
    dev.unplug();
    assert_eq!(file.ioctl(|_| Ok(())), Err(Errno::Enodev));
}
