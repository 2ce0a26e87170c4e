//! The tinydrm-style simple display pipe: updates reach the panel inside `drm_dev_enter`,
//! events come without a vblank, and unplug with updates in flight finishes cleanly.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_simple_kms_helper::DrmSimpleDisplayPipe;
use drm_sim::testing::{kinds, serial};
use drm_sim::{Bugs, Errno};

#[test]
fn an_update_copies_the_frame_into_the_panel() {
    let _s = serial();
    let dev = DrmDevice::new("tinydrm", Bugs::NONE);
    let pipe = DrmSimpleDisplayPipe::new(&dev, 4, 2).unwrap();
    let fb = pipe.create_fb().unwrap();
    fb.fill(0xff20_4060).unwrap();
    fb.write_pixel(1, 1, 0xffff_ffff).unwrap();
    let out = pipe.update(fb.clone(), false, true).unwrap().unwrap();
    out.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    let panel = pipe.panel_pixels();
    assert_eq!(panel[5], 0xffff_ffff);
    assert_eq!(panel.iter().filter(|&&p| p == 0xff20_4060).count(), 7);
    assert_eq!(pipe.updates(), 1);
    assert!(fb.is_pinned());
    pipe.fini();
    assert!(!fb.is_pinned());
    assert!(kinds().is_empty());
}

/// Unplug while another thread keeps updating: every update either reached the panel,
/// skipped it, or was refused with ENODEV; every out-fence ends; the buffers stay readable.
#[test]
fn unplug_with_updates_in_flight_finishes() {
    let _s = serial();
    let dev = DrmDevice::new("tinydrm", Bugs::NONE);
    let pipe = DrmSimpleDisplayPipe::new(&dev, 8, 8).unwrap();
    let fbs: Vec<_> = (0..2).map(|_| pipe.create_fb().unwrap()).collect();
    fbs[1].fill(0xff00_ff00).unwrap();
    let updater = {
        let (pipe, fbs) = (pipe.clone(), fbs.clone());
        thread::spawn(move || {
            let mut outs = Vec::new();
            for i in 0.. {
                match pipe.update(fbs[i % 2].clone(), i % 2 == 0, true) {
                    Ok(out) => outs.push(out.unwrap()),
                    Err(Errno::Ebusy) => {}
                    Err(Errno::Enodev) => break,
                    Err(e) => panic!("update: {e}"),
                }
            }
            outs
        })
    };
    thread::sleep(Duration::from_millis(20));
    dev.unplug();
    let outs = updater.join().unwrap();
    assert!(pipe.is_finished());
    assert!(!outs.is_empty());
    for o in &outs {
        o.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    }
    assert!(fbs.iter().all(|f| !f.is_pinned()));
    assert_eq!(fbs[1].read_pixel(7, 7).unwrap(), 0xff00_ff00);
    assert_eq!(
        pipe.update(fbs[0].clone(), false, false).unwrap_err(),
        Errno::Enodev
    );
    assert!(pipe.updates() >= 1);
    drop(Arc::clone(&pipe));
    assert!(kinds().is_empty());
}
