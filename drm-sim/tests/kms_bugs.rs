//! The KMS injected bugs, each through the display's own paths: the report the validator
//! gives on its first occurrence (kind and the kernel's classes), and the same path without
//! the bug staying silent.

use std::sync::Arc;
use std::time::Duration;

use drm_sim::dma_resv::dma_resv_lockdep;
use drm_sim::drm_atomic_helper;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_mode_config::{drmm_mode_config_init, register_kms_driver, DrmKmsFuncs};
use drm_sim::drm_plane::DrmPlaneState;
use drm_sim::hrtimer::set_cancel_tracking;
use drm_sim::sim_display::SimDisplay;
use drm_sim::testing::{assert_one_report, kinds, serial};
use drm_sim::{mm, Bug, Bugs, KResult};
use lockdep::ReportKind;

/// A primed run (the boot-time orders the workload replays) with one display whose driver
/// has `bugs`; two flips on it (a blocking modeset, then a nonblocking flip with an
/// out-fence), then teardown.
fn flips(bugs: Bugs) {
    dma_resv_lockdep();
    mm::prime();
    let dev = DrmDevice::new("vkms", bugs);
    let d = SimDisplay::with_period(&dev, 1, Duration::from_millis(1)).unwrap();
    let a = d.create_fb(8, 8).unwrap();
    let b = d.create_fb(8, 8).unwrap();
    d.page_flip(0, a, false, false).unwrap();
    let out = d.page_flip(0, b, true, true).unwrap().unwrap();
    out.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    d.fini();
    drop(Arc::clone(&d));
}

#[test]
fn the_clean_driver_is_silent() {
    let _s = serial();
    flips(Bugs::NONE);
    assert!(kinds().is_empty());
}

/// `resv-in-commit-tail`: the primed `reservation_ww_class_mutex -> fs_reclaim -> ... ->
/// dma_fence_map` meets `dma_fence_map -> reservation_ww_class_mutex` from the tail.
#[test]
fn resv_in_commit_tail_is_a_cycle_through_dma_fence_map() {
    let _s = serial();
    flips(Bugs::NONE.with(Bug::ResvInCommitTail));
    assert_one_report(
        ReportKind::CircularDependency,
        &["reservation_ww_class_mutex", "dma_fence_map"],
    );
}

/// `alloc-in-commit-tail`: `dma_fence_map -> fs_reclaim` against the primed
/// `fs_reclaim -> mmu_notifier_invalidate_range_start -> dma_fence_map`.
#[test]
fn alloc_in_commit_tail_is_a_cycle_through_fs_reclaim() {
    let _s = serial();
    flips(Bugs::NONE.with(Bug::AllocInCommitTail));
    assert_one_report(
        ReportKind::CircularDependency,
        &[
            "fs_reclaim",
            "mmu_notifier_invalidate_range_start",
            "dma_fence_map",
        ],
    );
}

/// `hrtimer-cancel-under-vblank-lock` (A1): `&dev->vblank_time_lock -> (&vkms_out->vblank_hrtimer)`
/// from the disable path against the callback's `(&vkms_out->vblank_hrtimer) ->
/// &dev->event_lock -> &dev->vblank_time_lock`.
#[test]
fn hrtimer_cancel_under_vblank_lock_is_a_cycle_through_the_timer() {
    let _s = serial();
    flips(Bugs::NONE.with(Bug::HrtimerCancelUnderVblankLock));
    assert_one_report(
        ReportKind::CircularDependency,
        &[
            "&dev->vblank_time_lock",
            "(&vkms_out->vblank_hrtimer)",
            "&dev->event_lock",
        ],
    );
}

/// The same bug met on the other disable path: the vblank disable timer (soft-irq context)
/// after the last vblank reference went, with no teardown involved.
#[test]
fn hrtimer_cancel_under_vblank_lock_is_reported_from_the_disable_timer() {
    let _s = serial();
    let clock = drm_sim::clock::Clock::manual();
    let dev = DrmDevice::with_clock(
        "vkms",
        Bugs::NONE.with(Bug::HrtimerCancelUnderVblankLock),
        clock.clone(),
    );
    let period = Duration::from_millis(1);
    let d = SimDisplay::with_period(&dev, 1, period).unwrap();
    let cfg = d.mode_config().clone();
    drm_sim::drm_vblank::vblank_on(&cfg, 0);
    drm_sim::drm_vblank::vblank_get(&cfg, 0).unwrap();
    clock.advance(period); // one vblank: the callback's order is known
    drm_sim::drm_vblank::vblank_put(&cfg, 0);
    assert!(kinds().is_empty());
    clock.advance(drm_sim::drm_vblank::DEFAULT_OFFDELAY);
    assert!(!cfg.vblank(0).unwrap().is_enabled());
    assert_one_report(
        ReportKind::CircularDependency,
        &["&dev->vblank_time_lock", "(&vkms_out->vblank_hrtimer)"],
    );
    d.fini();
    assert!(kinds().is_empty());
}

/// Kernel lockdep has no map for hrtimers and misses A1: with the stronger check off the
/// same bug is silent.
#[test]
fn hrtimer_cancel_under_vblank_lock_is_invisible_to_kernel_lockdep() {
    let _s = serial();
    set_cancel_tracking(false);
    flips(Bugs::NONE.with(Bug::HrtimerCancelUnderVblankLock));
    set_cancel_tracking(true);
    assert!(kinds().is_empty());
}

/// `spinlock-under-panic-lock`: a `spinlock_t` (`{3:3}`) inside the raw panic lock (`{2:2}`).
#[test]
fn spinlock_under_panic_lock_is_an_invalid_wait_context() {
    let _s = serial();
    flips(Bugs::NONE.with(Bug::SpinlockUnderPanicLock));
    assert_one_report(
        ReportKind::InvalidWaitContext,
        &["&crtc->commit_lock", "&dev->mode_config.panic_lock"],
    );
}

/// A driver whose plane update does what the tail may do: allocate without reclaim
/// (`GFP_NOWAIT`) and only trylock a buffer's resv.
struct NearMiss;

impl DrmKmsFuncs for NearMiss {
    fn enable_vblank(&self, _crtc: usize) -> KResult {
        Err(drm_sim::Errno::Einval)
    }
    fn disable_vblank(&self, _crtc: usize) {}
    fn atomic_update(&self, plane: &DrmPlaneState) {
        drop(mm::kmalloc(64, mm::GFP_NOWAIT));
        if let Some(fb) = &plane.fb {
            drop(fb.obj().resv().trylock());
        }
    }
}

/// The closest legitimate patterns to the two commit-tail bugs stay silent: a non-reclaiming
/// allocation and a resv trylock inside the signalling section.
#[test]
fn nowait_allocation_and_resv_trylock_in_the_tail_are_silent() {
    let _s = serial();
    dma_resv_lockdep();
    mm::prime();
    let dev = DrmDevice::new("near-miss", Bugs::NONE);
    let cfg = drmm_mode_config_init(&dev, 1);
    let driver = Arc::new(NearMiss);
    register_kms_driver(&cfg, &driver, |_| {});
    let fb = drm_sim::drm_framebuffer::DrmFramebuffer::create_dumb(&dev, 8, 8).unwrap();
    drm_atomic_helper::page_flip(&cfg, 0, fb.clone(), false, false).unwrap();
    drm_atomic_helper::page_flip(&cfg, 0, fb, true, false).unwrap();
    drm_atomic_helper::wait_idle(&cfg);
    drm_atomic_helper::shutdown(&cfg).unwrap();
    assert_eq!(cfg.commits_done(), 3);
    assert!(kinds().is_empty());
}
