//! The fbdev emulation on a simulated display: panning in the kernel's lock order, the DRM
//! master's veto, panning racing with page flips, and the injected bugs of this path
//! (`pan-display-reversed`) and of a GPU reset that touches the display
//! (`modeset-lock-in-tdr`, `console-lock-in-tdr`), each reported on its first occurrence
//! while the correct path stays silent.

mod common;

use common::sched::hang_and_recover;
use drm_sim::bugs::{Bug, Bugs};
use drm_sim::clock::Clock;
use drm_sim::drm_auth;
use drm_sim::drm_drv::{DrmDevice, DrmFile};
use drm_sim::drm_fb_helper::DrmFbHelper;
use drm_sim::mm::MmStruct;
use drm_sim::scheduler::DrmSchedPriority;
use drm_sim::sim_display::SimDisplay;
use drm_sim::sim_driver::SimGpu;
use drm_sim::testing::{reports, serial};
use drm_sim::Errno;
use lockdep::{Report, ReportKind};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(100);

/// The boot-time orders (`dma_resv_lockdep`, reclaim) every kernel has before a driver runs.
fn boot() {
    drm_sim::dma_resv::dma_resv_lockdep();
    drm_sim::mm::prime();
}

fn shown(display: &SimDisplay, plane: usize) -> Option<u32> {
    display.mode_config().planes()[plane]
        .state()
        .fb
        .as_ref()
        .map(|fb| fb.id())
}

fn summaries(r: &[Report]) -> Vec<String> {
    r.iter().map(|r| r.summary()).collect()
}

/// Whether the first report is `kind` and names every class of `classes`.
fn first_names(r: &[Report], kind: ReportKind, classes: &[&str]) -> bool {
    if std::env::var_os("FBDEV_TEST_SHOW").is_some() {
        for x in r {
            eprintln!("{x}");
        }
    }
    if !lockdep::ENABLED {
        return r.is_empty();
    }
    r.first()
        .is_some_and(|f| f.kind() == kind && classes.iter().all(|c| f.classes().contains(c)))
}

#[test]
fn panning_shows_each_half_of_the_virtual_screen_on_every_crtc() {
    let _s = serial();
    boot();
    let dev = DrmDevice::new("fb0", Bugs::NONE);
    let display = SimDisplay::new(&dev, 2).unwrap();
    let helper = DrmFbHelper::new(&display).unwrap();
    let (_, h) = helper.size();
    let (front, back) = (helper.fb(0).id(), helper.fb(1).id());
    assert_eq!(
        (shown(&display, 0), shown(&display, 1)),
        (Some(front), Some(front))
    );
    helper.pan_display(0, h).unwrap();
    assert_eq!((shown(&display, 0), shown(&display, 1)), (Some(back), Some(back)));
    assert_eq!(helper.yoffset(), h);
    helper.pan_display(0, 0).unwrap();
    assert_eq!(shown(&display, 0), Some(front));
    assert_eq!(helper.pan_display(0, 3), Err(Errno::Einval));
    assert_eq!(helper.pan_display(8, 0), Err(Errno::Einval));
    assert_eq!((helper.pans(), helper.yoffset()), (2, 0));
    helper.set_suspend_unlocked(true).unwrap();
    assert!(drm_sim::console::is_suspended());
    helper.set_suspend_unlocked(false).unwrap();
    display.fini();
    assert_eq!(
        helper.pan_display(0, h),
        Err(Errno::Enodev),
        "the display is gone"
    );
    let r = reports();
    assert!(r.is_empty(), "clean: {:?}", summaries(&r));
}

#[test]
fn a_drm_master_keeps_the_fbdev_emulation_off_the_display() {
    let _s = serial();
    boot();
    let dev = DrmDevice::new("fb1", Bugs::NONE);
    let display = SimDisplay::new(&dev, 1).unwrap();
    let helper = DrmFbHelper::new(&display).unwrap();
    let compositor = DrmFile::open(&dev, MmStruct::new()).unwrap();
    drm_auth::set_master(&compositor).unwrap();
    let before = shown(&display, 0);
    assert_eq!(helper.pan_display(0, helper.size().1), Err(Errno::Ebusy));
    assert_eq!(shown(&display, 0), before, "nothing changed");
    assert_eq!(helper.restore_fbdev_mode_unlocked(), Err(Errno::Ebusy));
    compositor.close();
    helper.pan_display(0, helper.size().1).unwrap();
    assert_eq!(shown(&display, 0), Some(helper.fb(1).id()));
    display.fini();
    let r = reports();
    assert!(r.is_empty(), "clean: {:?}", summaries(&r));
}

#[test]
fn panning_races_with_page_flips_and_both_complete() {
    let _s = serial();
    boot();
    let dev = DrmDevice::new("fb2", Bugs::NONE);
    let display = SimDisplay::new(&dev, 1).unwrap();
    let helper = DrmFbHelper::new(&display).unwrap();
    let (w, h) = helper.size();
    let own = [display.create_fb(w, h).unwrap(), display.create_fb(w, h).unwrap()];
    let mut ids: Vec<u32> = own.iter().map(|f| f.id()).collect();
    ids.extend([helper.fb(0).id(), helper.fb(1).id()]);
    let pans = {
        let helper = helper.clone();
        std::thread::spawn(move || {
            for i in 0..20u32 {
                helper.pan_display(0, (i % 2) * h).unwrap();
            }
        })
    };
    let flips = {
        let display = display.clone();
        std::thread::spawn(move || {
            let mut done = 0;
            for i in 0..20usize {
                match display.page_flip(0, own[i % 2].clone(), i % 3 == 0, false) {
                    Ok(_) => done += 1,
                    // A nonblocking flip over one still in flight.
                    Err(Errno::Ebusy) => {}
                    Err(e) => panic!("flip {i}: {e}"),
                }
            }
            done
        })
    };
    pans.join().unwrap();
    assert!(flips.join().unwrap() >= 13, "every blocking flip went through");
    assert_eq!(helper.pans(), 20);
    assert!(
        ids.contains(&shown(&display, 0).unwrap()),
        "the plane shows one of them"
    );
    display.fini();
    let r = reports();
    assert!(r.is_empty(), "clean: {:?}", summaries(&r));
}

#[test]
fn pan_display_with_the_modeset_locks_before_the_client_mutex_is_reported_on_the_first_pan() {
    let _s = serial();
    for bugs in [Bugs::NONE, Bugs::NONE.with(Bug::PanDisplayReversed)] {
        lockdep::reset();
        boot();
        let dev = DrmDevice::new("fb3", bugs);
        let display = SimDisplay::new(&dev, 1).unwrap();
        // Probe sets the mode in the kernel's order (fb_set_par).
        let helper = DrmFbHelper::new(&display).unwrap();
        assert!(reports().is_empty(), "probe is clean ({bugs:?})");
        helper.pan_display(0, helper.size().1).unwrap();
        assert_eq!(shown(&display, 0), Some(helper.fb(1).id()), "panned anyway");
        let r = reports();
        if bugs.is_empty() {
            assert!(r.is_empty(), "clean: {:?}", summaries(&r));
        } else {
            assert!(
                first_names(
                    &r,
                    ReportKind::CircularDependency,
                    &["&client->modeset_mutex", "crtc_ww_class_mutex"]
                ),
                "{:?}",
                summaries(&r)
            );
        }
        helper.pan_display(0, 0).unwrap();
        assert!(reports().is_empty(), "reported once ({bugs:?})");
        display.fini();
    }
}

#[test]
fn a_gpu_reset_that_suspends_the_display_is_reported_on_the_first_timeout() {
    let _s = serial();
    let cases: [(Bugs, &[&str]); 3] = [
        (Bugs::NONE, &[]),
        (
            Bugs::NONE.with(Bug::ModesetLockInTdr),
            &["crtc_ww_class_acquire", "dma_fence_map"],
        ),
        (
            Bugs::NONE.with(Bug::ConsoleLockInTdr),
            &["console_lock", "dma_fence_map"],
        ),
    ];
    for (bugs, classes) in cases {
        lockdep::reset();
        boot();
        // The GPU's timeouts on a manual clock, the display refreshing in real time: two
        // devices, so the reset acts on every client of the system (drm_client's
        // `# Simplified`).
        let clock = Clock::manual();
        let dev = DrmDevice::with_clock("card0", bugs, clock.clone());
        let display = SimDisplay::new(&DrmDevice::new("card1", Bugs::NONE), 1).unwrap();
        let helper: Arc<DrmFbHelper> = DrmFbHelper::new(&display).unwrap();
        let g = SimGpu::new(&dev, "gfx", |a| a.timeout = Some(TIMEOUT)).unwrap();
        helper.pan_display(0, helper.size().1).unwrap();
        assert!(reports().is_empty(), "nothing before the timeout ({bugs:?})");
        let e = g.entity(DrmSchedPriority::Normal);
        let (guilty, later) = hang_and_recover(&g, &clock, &e, 0, TIMEOUT);
        assert!(
            guilty.is_some() && later.is_none(),
            "the reset recovers ({bugs:?})"
        );
        let r = reports();
        if bugs.is_empty() {
            assert!(r.is_empty(), "clean: {:?}", summaries(&r));
        } else {
            assert!(
                first_names(&r, ReportKind::CircularDependency, classes),
                "{bugs:?}: {:?}",
                summaries(&r)
            );
        }
        let _ = hang_and_recover(&g, &clock, &e, 2, TIMEOUT);
        assert!(reports().is_empty(), "reported once ({bugs:?})");
        e.destroy();
        g.fini();
        display.fini();
    }
}
