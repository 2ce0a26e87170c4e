//! The panic handler over a live display: it fires at a random moment while other threads
//! flip pages (commits in flight, modeset locks and resvs held, the panic lock taken by
//! `swap_state` now and then), draws on every plane whose panic lock it gets, skips the rest,
//! and nothing it does is reported.

use drm_sim::bugs::Bugs;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_panic::{message_visible, PanicInjector};
use drm_sim::sim_display::SimDisplay;
use drm_sim::testing::{reports, serial};
use drm_sim::Errno;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MSG: &str = "PANIC";

#[test]
fn a_panic_at_a_random_moment_of_a_flipping_display_draws_and_reports_nothing() {
    let _s = serial();
    drm_sim::dma_resv::dma_resv_lockdep();
    drm_sim::mm::prime();
    for seed in 1..=3u64 {
        let dev = DrmDevice::new("panic-live", Bugs::NONE);
        let display = SimDisplay::new(&dev, 2).unwrap();
        let fbs: Vec<_> = (0..4).map(|_| display.create_fb(48, 16).unwrap()).collect();
        for (plane, fb) in fbs.iter().take(2).enumerate() {
            display.page_flip(plane, fb.clone(), false, false).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flippers: Vec<_> = (0..2)
            .map(|plane| {
                let (display, stop) = (display.clone(), stop.clone());
                let mine = [fbs[plane].clone(), fbs[plane + 2].clone()];
                std::thread::spawn(move || {
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        match display.page_flip(plane, mine[i % 2].clone(), i % 2 == 1, i.is_multiple_of(3)) {
                            Ok(_) | Err(Errno::Ebusy) => {}
                            Err(e) => panic!("flip: {e}"),
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        let injector = PanicInjector::at_random(
            vec![display.mode_config().clone()],
            MSG,
            Duration::from_millis(40),
            seed,
        );
        std::thread::sleep(Duration::from_millis(50));
        let out = injector.join();
        stop.store(true, Ordering::Relaxed);
        for f in flippers {
            f.join().unwrap();
        }
        assert_eq!(out.planes, 2);
        assert_eq!(
            out.drawn + out.skipped_locked,
            2,
            "every plane shows a framebuffer: {out:?}"
        );
        let visible = fbs.iter().filter(|fb| message_visible(fb, MSG).unwrap()).count();
        assert_eq!(
            visible, out.drawn,
            "each drawn plane's framebuffer holds the message"
        );
        display.fini();
        let r = reports();
        assert!(
            r.is_empty(),
            "seed {seed}: {:?}",
            r.iter().map(|r| r.summary()).collect::<Vec<_>>()
        );
    }
}
