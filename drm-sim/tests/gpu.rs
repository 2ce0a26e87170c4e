//! The simulated GPU engine on its own: ring order, hangs and faults until a reset, the
//! errors a reset and a force completion give, and signals from the irq thread.

use drm_sim::bugs::Bugs;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::error::Errno;
use drm_sim::gpu::{GpuCommand, GpuEngine};
use drm_sim::testing::{kinds, serial};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn submit(dev: &Arc<DrmDevice>, e: &GpuEngine, cmd: GpuCommand) -> Arc<drm_sim::dma_fence::DmaFence> {
    let _enter = dev.enter().expect("the device is there");
    e.submit(cmd)
}

#[test]
fn commands_complete_in_ring_order_from_the_irq_thread() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let e = GpuEngine::new(&dev, "ring0");
    let order = Arc::new(Mutex::new(Vec::new()));
    let fences: Vec<_> = (0..20u64)
        .map(|i| {
            let f = submit(
                &dev,
                &e,
                GpuCommand::run(Duration::from_micros(if i % 3 == 0 { 300 } else { 0 })),
            );
            let o = order.clone();
            f.add_callback(move |_| {
                o.lock().unwrap().push(i);
                let name = std::thread::current().name().map(str::to_owned);
                assert_eq!(
                    name.as_deref(),
                    Some("ring0-irq"),
                    "signalled by the interrupt handler"
                );
            })
            .unwrap();
            f
        })
        .collect();
    for f in &fences {
        f.wait_timeout(false, WAIT).unwrap();
        assert_eq!(f.error(), None);
    }
    // After fini the irq thread has returned, so every callback has run.
    e.fini();
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    assert_eq!(e.stats().completed, 20);
    assert!(kinds().is_empty());
}

#[test]
fn a_hang_stalls_the_ring_until_a_reset_cancels_it() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let e = GpuEngine::new(&dev, "ring0");
    let faults = Arc::new(AtomicUsize::new(0));
    let fc = faults.clone();
    e.set_fault_handler(move || {
        fc.fetch_add(1, Ordering::SeqCst);
    });
    let hung = submit(&dev, &e, GpuCommand::hang());
    let behind = submit(&dev, &e, GpuCommand::default());
    assert_eq!(
        behind.wait_timeout(false, Duration::from_millis(50)),
        Err(Errno::Etimedout)
    );
    assert!(e.is_stalled() && !hung.is_signaled());
    assert_eq!(e.reset(), 2);
    assert_eq!(hung.error(), Some(Errno::Etimedout));
    assert_eq!(behind.error(), Some(Errno::Ecanceled));
    // A fault stops the engine too and raises the fault interrupt.
    let faulted = submit(&dev, &e, GpuCommand::fault());
    let after = submit(&dev, &e, GpuCommand::default());
    assert_eq!(
        after.wait_timeout(false, Duration::from_millis(50)),
        Err(Errno::Etimedout)
    );
    assert_eq!(faults.load(Ordering::SeqCst), 1);
    e.reset();
    assert_eq!(faulted.error(), Some(Errno::Eio));
    assert_eq!(after.error(), Some(Errno::Ecanceled));
    let ok = submit(&dev, &e, GpuCommand::default());
    ok.wait_timeout(false, WAIT).unwrap();
    assert_eq!(ok.error(), None, "the engine runs again after a reset");
    assert_eq!(e.stats().resets, 2);
    e.fini();
    assert!(kinds().is_empty());
}

#[test]
fn fini_force_completes_everything_and_later_submits_fail_at_once() {
    let _s = serial();
    let dev = DrmDevice::new("card0", Bugs::NONE);
    let e = GpuEngine::new(&dev, "ring0");
    let long = submit(&dev, &e, GpuCommand::run(Duration::from_secs(60)));
    let hung = submit(&dev, &e, GpuCommand::hang());
    e.fini();
    assert_eq!(long.error(), Some(Errno::Enodev));
    assert_eq!(hung.error(), Some(Errno::Enodev));
    assert!(long.is_signaled() && hung.is_signaled());
    let late = submit(&dev, &e, GpuCommand::default());
    assert!(late.is_signaled());
    assert_eq!(late.error(), Some(Errno::Enodev));
    e.fini();
    assert!(kinds().is_empty());
}
