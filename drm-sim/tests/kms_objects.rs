//! The KMS object model: modeset locks and their back-off, the K11 priming of
//! `drmm_mode_config_init`, the panic lock, and framebuffers whose pixels are real memory.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use drm_sim::dma_resv::{dma_resv_lockdep, DmaResv};
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_framebuffer::DrmFramebuffer;
use drm_sim::drm_gem_shmem_helper::DrmGemShmemObject;
use drm_sim::drm_mode_config::{drm_panic_lock, drm_panic_trylock, drmm_mode_config_init};
use drm_sim::drm_modeset_lock::{
    drm_modeset_lock_all_ctx, with_modeset_ctx, with_modeset_locks, DrmModesetAcquireCtx,
};
use drm_sim::testing::{assert_one_report, expect, kinds, serial};
use drm_sim::{Bugs, Errno};
use lockdep::ReportKind;

fn device(crtcs: usize) -> (Arc<DrmDevice>, Arc<drm_sim::drm_mode_config::DrmModeConfig>) {
    let dev = DrmDevice::new("kms-test", Bugs::NONE);
    let cfg = drmm_mode_config_init(&dev, crtcs);
    (dev, cfg)
}

#[test]
fn mode_config_builds_one_pipeline_per_crtc() {
    let _s = serial();
    let (_dev, cfg) = device(3);
    assert_eq!(cfg.crtcs().len(), 3);
    assert_eq!(cfg.planes().len(), 3);
    assert_eq!(cfg.connectors().len(), 3);
    for (i, p) in cfg.planes().iter().enumerate() {
        assert_eq!(p.index(), i);
        assert_eq!(p.possible_crtc(), i);
        let st = p.state();
        assert!(st.fb.is_none() && st.crtc.is_none());
    }
    assert!(cfg.crtcs().iter().all(|c| !c.state().active));
    assert!(kinds().is_empty());
}

#[test]
fn a_lock_taken_twice_in_one_context_is_no_error() {
    let _s = serial();
    let (_dev, cfg) = device(1);
    let mut ctx = DrmModesetAcquireCtx::init(0);
    ctx.lock(cfg.crtcs()[0].mutex()).unwrap();
    ctx.lock(cfg.crtcs()[0].mutex()).unwrap();
    assert_eq!(ctx.locked(), 1);
    cfg.crtcs()[0].mutex().assert_held();
    ctx.drop_locks();
    assert!(!cfg.crtcs()[0].mutex().is_locked());
    ctx.fini();
    assert!(kinds().is_empty());
}

#[test]
fn lock_all_holds_every_object_lock_until_the_loop_ends() {
    let _s = serial();
    let (_dev, cfg) = device(2);
    let held = with_modeset_locks(&cfg, |ctx| {
        cfg.connection_mutex().assert_held();
        for c in cfg.crtcs() {
            c.mutex().assert_held();
        }
        for p in cfg.planes() {
            p.mutex().assert_held();
        }
        Ok(ctx.locked())
    })
    .unwrap();
    assert_eq!(held, 5);
    assert!(!cfg.connection_mutex().is_locked());
    assert!(cfg.planes().iter().all(|p| !p.mutex().is_locked()));
    assert!(kinds().is_empty());
}

/// Two transactions take two CRTC locks in opposite orders, forced to meet: the younger one
/// is wounded and backs off (EDEADLK, `drm_modeset_backoff`), both finish, and nothing is
/// reported (the ww class makes any order legal).
#[test]
fn two_contending_transactions_back_off_and_both_finish() {
    let _s = serial();
    let (_dev, cfg) = device(2);
    let barrier = Arc::new(Barrier::new(2));
    let backoffs = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let run = |first: usize| {
        let (cfg, barrier, backoffs, done) = (cfg.clone(), barrier.clone(), backoffs.clone(), done.clone());
        thread::spawn(move || {
            let mut round = 0;
            with_modeset_ctx(|ctx| {
                round += 1;
                ctx.lock(cfg.crtcs()[first].mutex())?;
                if round == 1 {
                    barrier.wait();
                }
                let r = ctx.lock(cfg.crtcs()[1 - first].mutex());
                if r == Err(Errno::Edeadlk) {
                    backoffs.fetch_add(1, Ordering::SeqCst);
                }
                r?;
                cfg.crtcs()[0].mutex().assert_held();
                cfg.crtcs()[1].mutex().assert_held();
                Ok(())
            })
            .unwrap();
            done.fetch_add(1, Ordering::SeqCst);
        })
    };
    let a = run(0);
    let b = run(1);
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 2);
    assert!(
        backoffs.load(Ordering::SeqCst) >= 1,
        "one of them must have backed off"
    );
    assert!(cfg.crtcs().iter().all(|c| !c.mutex().is_locked()));
    assert!(kinds().is_empty());
}

/// K11: `drmm_mode_config_init` primes modeset lock -> mmap_lock -> resv, so the first resv
/// held around a modeset lock is a reported cycle, though this run never took them the other
/// way round itself.
#[test]
fn k11_priming_reports_a_modeset_lock_taken_under_resv() {
    let _s = serial();
    dma_resv_lockdep();
    let (_dev, cfg) = device(1);
    let resv = DmaResv::new();
    let g = resv.lock(None).unwrap();
    let mut ctx = DrmModesetAcquireCtx::init(0);
    ctx.lock(cfg.crtcs()[0].mutex()).unwrap();
    ctx.fini();
    drop(g);
    assert_one_report(
        ReportKind::CircularDependency,
        &["crtc_ww_class_mutex", "reservation_ww_class_mutex"],
    );
}

/// K11's `might_fault`: a modeset lock taken with `mmap_lock` held (in a fault handler, say)
/// inverts "modeset locks may be held over user copies".
#[test]
fn k11_priming_reports_a_modeset_lock_taken_under_mmap_lock() {
    let _s = serial();
    let (_dev, cfg) = device(1);
    let mm = drm_sim::mm::MmStruct::new();
    let g = mm.mmap_lock.read();
    let mut ctx = DrmModesetAcquireCtx::init(0);
    ctx.lock(cfg.crtcs()[0].mutex()).unwrap();
    ctx.fini();
    drop(g);
    assert_one_report(
        ReportKind::CircularDependency,
        &["crtc_ww_class_mutex", "&mm->mmap_lock"],
    );
}

/// The legitimate direction of K11: resv under modeset locks, as `prepare_fb` does.
#[test]
fn k11_priming_allows_resv_under_modeset_locks() {
    let _s = serial();
    dma_resv_lockdep();
    let (_dev, cfg) = device(1);
    let resv = DmaResv::new();
    let mut ctx = DrmModesetAcquireCtx::init(0);
    drm_modeset_lock_all_ctx(&cfg, &mut ctx).unwrap();
    drop(resv.lock(None).unwrap());
    ctx.fini();
    assert!(kinds().is_empty());
}

#[test]
fn panic_trylock_gets_a_free_lock_and_fails_on_a_held_one() {
    let _s = serial();
    let (_dev, cfg) = device(1);
    {
        let _p = lockdep::panic_context();
        assert!(drm_panic_trylock(&cfg).is_some());
    }
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let c = cfg.clone();
    let holder = thread::spawn(move || {
        let _g = drm_panic_lock(&c);
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    held_rx.recv().unwrap();
    {
        let _p = lockdep::panic_context();
        assert!(drm_panic_trylock(&cfg).is_none(), "the holder has it");
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(drm_panic_trylock(&cfg).is_some());
    assert!(kinds().is_empty());
}

/// A spinlock_t under the raw panic lock is an invalid wait context (R30), and a raw one is
/// not.
#[test]
fn only_raw_locks_nest_inside_the_panic_lock() {
    let _s = serial();
    let (_dev, cfg) = device(1);
    {
        let _g = drm_panic_lock(&cfg);
        let _t = cfg.vblank_time_lock().lock();
    }
    assert_eq!(kinds(), expect(&[ReportKind::InvalidWaitContext]));
    let inner = lockdep::RawSpinLock::new(());
    {
        let _g = drm_panic_lock(&cfg);
        let _i = inner.lock();
    }
    assert!(kinds().is_empty());
}

#[test]
fn framebuffer_needs_an_object_large_enough() {
    let _s = serial();
    let dev = DrmDevice::new("fb-test", Bugs::NONE);
    let obj = DrmGemShmemObject::create(&dev, 64 * 16 * 4).unwrap();
    assert_eq!(
        DrmFramebuffer::create(obj.clone(), 64, 17).unwrap_err(),
        Errno::Einval
    );
    assert_eq!(
        DrmFramebuffer::create(obj.clone(), 0, 16).unwrap_err(),
        Errno::Einval
    );
    let fb = DrmFramebuffer::create(obj, 64, 16).unwrap();
    assert_eq!(fb.pitch(), 256);
    assert_eq!(fb.read_pixel(64, 0).unwrap_err(), Errno::Einval);
}

/// Pixels are the object's bytes: written through the scan-out mapping while pinned (also
/// from a panic context, with no lock), visible through another mapping of the object, and
/// still there after the pin is gone.
#[test]
fn framebuffer_pixels_live_in_the_gem_object() {
    let _s = serial();
    let dev = DrmDevice::new("fb-test", Bugs::NONE);
    let obj = DrmGemShmemObject::create(&dev, 8 * 4 * 4).unwrap();
    let fb = DrmFramebuffer::create(obj.clone(), 8, 4).unwrap();
    fb.fill(0xff00_00ff).unwrap();
    assert!(!fb.is_pinned());
    fb.prepare_fb().unwrap();
    fb.prepare_fb().unwrap();
    assert_eq!(fb.pin_count(), 2);
    // Two scan-out pins, plus the one the shmem mapping takes for itself.
    assert_eq!(obj.pin_count(), 3);
    {
        let _p = lockdep::panic_context();
        fb.write_pixel(3, 2, 0xffff_ffff).unwrap();
    }
    let map = obj.vmap().unwrap();
    let mut b = [0u8; 4];
    map.read((2 * 8 + 3) * 4, &mut b).unwrap();
    obj.vunmap(map);
    assert_eq!(u32::from_le_bytes(b), 0xffff_ffff);
    fb.cleanup_fb();
    assert!(fb.is_pinned());
    fb.cleanup_fb();
    assert!(!fb.is_pinned());
    assert_eq!(obj.pin_count(), 0);
    let px = fb.pixels().unwrap();
    assert_eq!(px.len(), 32);
    assert_eq!(px[2 * 8 + 3], 0xffff_ffff);
    assert_eq!(px.iter().filter(|&&p| p == 0xff00_00ff).count(), 31);
    assert!(kinds().is_empty());
}
