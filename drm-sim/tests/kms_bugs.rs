//! The KMS injected bugs, each through the display's own paths: the report the validator
//! gives on its first occurrence (kind and the kernel's classes), and the same path without
//! the bug staying silent.

use std::sync::Arc;
use std::time::Duration;

use drm_sim::dma_resv::dma_resv_lockdep;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::hrtimer::set_cancel_tracking;
use drm_sim::sim_display::SimDisplay;
use drm_sim::testing::{assert_one_report, kinds, serial};
use drm_sim::{mm, Bug, Bugs};
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
