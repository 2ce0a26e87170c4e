//! Atomic commits end to end on the simulated display: blocking and nonblocking flips, their
//! order, out-fences that signal exactly once, `EBUSY` where the kernel returns it, back-off
//! between contending commits, vblanks, teardown on unplug, and a clean multi-threaded run.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use drm_sim::clock::Clock;
use drm_sim::dma_fence::DmaFence;
use drm_sim::dma_resv::dma_resv_lockdep;
use drm_sim::drm_atomic::DrmAtomicState;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_framebuffer::DrmFramebuffer;
use drm_sim::drm_modeset_lock::with_modeset_ctx;
use drm_sim::drm_vblank::{vblank_get, vblank_put, wait_one_vblank};
use drm_sim::sim_display::{SimDisplay, REG_SCANOUT};
use drm_sim::testing::{kinds, serial};
use drm_sim::{mm, Bugs, Errno};

const FAST: Duration = Duration::from_millis(1);

fn display(crtcs: usize) -> (Arc<DrmDevice>, Arc<SimDisplay>) {
    let dev = DrmDevice::new("vkms", Bugs::NONE);
    let d = SimDisplay::with_period(&dev, crtcs, FAST).unwrap();
    (dev, d)
}

/// A display on a manual clock: no vblank happens until the test advances it.
fn manual_display(crtcs: usize) -> (Clock, Arc<DrmDevice>, Arc<SimDisplay>) {
    let clock = Clock::manual();
    let dev = DrmDevice::with_clock("vkms", Bugs::NONE, clock.clone());
    let d = SimDisplay::with_period(&dev, crtcs, FAST).unwrap();
    (clock, dev, d)
}

/// Counts how often `f` signals (a callback runs exactly once per signal).
fn count_signals(f: &Arc<DmaFence>) -> Arc<AtomicU32> {
    let n = Arc::new(AtomicU32::new(0));
    let m = n.clone();
    if f.add_callback(move |_| {
        m.fetch_add(1, Ordering::SeqCst);
    })
    .is_err()
    {
        n.fetch_add(1, Ordering::SeqCst);
    }
    n
}

/// Advances a manual clock by one period at a time, in its own thread, until dropped:
/// vblanks for tests that block.
struct Vblanks {
    stop: Arc<AtomicBool>,
    t: Option<thread::JoinHandle<()>>,
}

impl Vblanks {
    fn start(clock: &Clock) -> Vblanks {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, c) = (stop.clone(), clock.clone());
        let t = thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                c.advance(FAST);
                thread::sleep(Duration::from_micros(200));
            }
        });
        Vblanks { stop, t: Some(t) }
    }
}

impl Drop for Vblanks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.t.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn a_blocking_flip_returns_with_the_frame_on_screen() {
    let _s = serial();
    let (dev, d) = display(1);
    let fb = d.create_fb(16, 8).unwrap();
    let out = d.page_flip(0, fb.clone(), false, true).unwrap().unwrap();
    let cfg = d.mode_config();
    let commit = cfg.crtcs()[0].state().commit.clone().unwrap();
    assert!(
        commit.flip_done.completion_done(),
        "a blocking flip waits for flip_done"
    );
    // The event completes flip_done, then signals the fence, in the vblank interrupt.
    out.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    let st = cfg.planes()[0].state();
    assert!(Arc::ptr_eq(st.fb.as_ref().unwrap(), &fb));
    assert_eq!(st.crtc, Some(0));
    assert!(cfg.crtcs()[0].state().active);
    assert!(fb.is_pinned());
    assert!(d.vblanks() >= 1);
    assert_eq!((d.commits(), d.flips()), (1, 1));
    let _hw = dev.enter().unwrap();
    assert_eq!(dev.mmio_read(REG_SCANOUT), fb.id());
    drop(_hw);
    // The next flip unpins the previous framebuffer once it is off screen.
    let fb2 = d.create_fb(16, 8).unwrap();
    d.page_flip(0, fb2.clone(), false, false).unwrap();
    assert!(!fb.is_pinned() && fb2.is_pinned());
    d.fini();
    assert!(!fb2.is_pinned(), "shutdown unpins what was on screen");
    assert!(kinds().is_empty());
}

/// A nonblocking flip returns before its vblank; its out-fence signals with the vblank, and
/// a second nonblocking flip before that is EBUSY. A blocking flip meanwhile is not refused:
/// it waits its turn.
#[test]
fn nonblocking_flip_over_an_unfinished_one_is_ebusy_and_blocking_waits() {
    let _s = serial();
    let (clock, _dev, d) = manual_display(1);
    let a = d.create_fb(8, 8).unwrap();
    let b = d.create_fb(8, 8).unwrap();
    let out_a = d.page_flip(0, a.clone(), true, true).unwrap().unwrap();
    assert!(!out_a.fence().is_signaled(), "no vblank yet");
    assert_eq!(d.page_flip(0, b.clone(), true, true).unwrap_err(), Errno::Ebusy);
    assert_eq!(
        d.mode_config().crtcs()[0].fences_created(),
        2,
        "the refused commit's fence was made"
    );
    let d2 = d.clone();
    let b2 = b.clone();
    let blocking = thread::spawn(move || d2.page_flip(0, b2, false, true).unwrap().unwrap());
    let vblanks = Vblanks::start(&clock);
    let out_b = blocking.join().unwrap();
    for o in [&out_a, &out_b] {
        o.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    }
    assert!(out_a.fence().timestamp().unwrap() <= out_b.fence().timestamp().unwrap());
    assert!(Arc::ptr_eq(
        d.mode_config().planes()[0].state().fb.as_ref().unwrap(),
        &b
    ));
    d.fini();
    drop(vblanks);
    assert!(kinds().is_empty());
}

/// The refused commit's out-fence does not dangle: it ends at once with ECANCELED.
#[test]
fn a_refused_commit_cancels_its_out_fence() {
    let _s = serial();
    let (clock, _dev, d) = manual_display(1);
    let fb = d.create_fb(8, 8).unwrap();
    d.page_flip(0, fb.clone(), true, false).unwrap();
    let busy = with_modeset_ctx(|ctx| {
        let mut st = DrmAtomicState::new(d.mode_config(), ctx);
        st.set_fb_for_plane(0, Some(fb.clone()))?;
        let out = st.set_out_fence(0)?;
        let r = st.commit(true);
        Ok((out, r))
    })
    .unwrap();
    assert_eq!(busy.1, Err(Errno::Ebusy));
    assert!(busy.0.fence().is_signaled());
    assert_eq!(busy.0.fence().error(), Some(Errno::Ecanceled));
    let _v = Vblanks::start(&clock);
    d.fini();
    assert!(kinds().is_empty());
}

/// Nonblocking flips, each retried after EBUSY once the previous out-fence signalled: every
/// out-fence signals exactly once, in commit order, and the plane ends on the last one.
#[test]
fn flips_complete_in_order_and_each_out_fence_signals_once() {
    let _s = serial();
    let (_dev, d) = display(1);
    let fbs: Vec<Arc<DrmFramebuffer>> = (0..3).map(|_| d.create_fb(8, 8).unwrap()).collect();
    let mut outs = Vec::new();
    let mut ebusy = 0;
    for i in 0..24 {
        let fb = fbs[i % fbs.len()].clone();
        let out = loop {
            match d.page_flip(0, fb.clone(), true, true) {
                Ok(out) => break out.unwrap(),
                Err(Errno::Ebusy) => {
                    ebusy += 1;
                    let last: &Arc<drm_sim::sync_file::SyncFile> = outs.last().map(|(o, _)| o).unwrap();
                    last.fence().wait(false).unwrap();
                }
                Err(e) => panic!("flip failed: {e}"),
            }
        };
        let n = count_signals(out.fence());
        outs.push((out, n));
    }
    d.wait_idle();
    for (o, _) in &outs {
        o.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    }
    let seqnos: Vec<u64> = outs.iter().map(|(o, _)| o.fence().seqno()).collect();
    assert!(seqnos.windows(2).all(|w| w[0] < w[1]));
    let stamps: Vec<_> = outs.iter().map(|(o, _)| o.fence().timestamp().unwrap()).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "flips completed out of order"
    );
    let last = &fbs[23 % fbs.len()];
    assert!(Arc::ptr_eq(
        d.mode_config().planes()[0].state().fb.as_ref().unwrap(),
        last
    ));
    assert_eq!(d.flips(), 24);
    assert!(ebusy > 0 || d.vblanks() >= 24);
    // After fini the vblank timers are cancelled, so no signal (and no callback) is running.
    d.fini();
    assert!(outs
        .iter()
        .all(|(o, n)| n.load(Ordering::SeqCst) == 1 && o.fence().error().is_none()));
    assert!(fbs.iter().all(|f| !f.is_pinned()));
    assert!(kinds().is_empty());
}

/// Two commits over the same two pipelines, locking them in opposite orders and forced to
/// meet: one is wounded and backs off (EDEADLK), both commit, nothing is reported.
#[test]
fn contending_commits_back_off_and_both_commit() {
    let _s = serial();
    let (_dev, d) = display(2);
    let fbs: Vec<_> = (0..2).map(|_| d.create_fb(8, 8).unwrap()).collect();
    // Both CRTCs on first, so the contending commits touch no connector (whose one
    // connection mutex would serialise them before they meet).
    for (i, fb) in fbs.iter().enumerate() {
        d.page_flip(i, fb.clone(), false, false).unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let backoffs = Arc::new(AtomicU32::new(0));
    let run = |first: usize| {
        let (d, barrier, backoffs, fbs) = (d.clone(), barrier.clone(), backoffs.clone(), fbs.clone());
        thread::spawn(move || {
            let mut round = 0;
            with_modeset_ctx(|ctx| {
                round += 1;
                let mut st = DrmAtomicState::new(d.mode_config(), ctx);
                st.set_fb_for_plane(first, Some(fbs[1 - first].clone()))?;
                if round == 1 {
                    barrier.wait();
                }
                let r = st.set_fb_for_plane(1 - first, Some(fbs[first].clone()));
                if r == Err(Errno::Edeadlk) {
                    backoffs.fetch_add(1, Ordering::SeqCst);
                }
                r?;
                st.commit(false)
            })
            .unwrap();
        })
    };
    let (a, b) = (run(0), run(1));
    a.join().unwrap();
    b.join().unwrap();
    assert!(backoffs.load(Ordering::SeqCst) >= 1);
    assert_eq!(d.commits(), 4);
    d.fini();
    assert!(fbs.iter().all(|f| !f.is_pinned()));
    assert!(kinds().is_empty());
}

#[test]
fn check_refuses_what_the_hardware_cannot_show() {
    let _s = serial();
    let (_dev, d) = display(1);
    let fb = d.create_fb(8, 8).unwrap();
    let cfg = d.mode_config().clone();
    let r = with_modeset_ctx(|ctx| {
        let mut st = DrmAtomicState::new(&cfg, ctx);
        st.set_fb_for_plane(0, Some(fb.clone()))?;
        st.commit(false)
    });
    assert_eq!(r, Err(Errno::Einval), "a plane on an inactive CRTC");
    let r = with_modeset_ctx(|ctx| {
        let mut st = DrmAtomicState::new(&cfg, ctx);
        st.set_crtc_active(0, true)?;
        st.commit(false)
    });
    assert_eq!(r, Err(Errno::Einval), "a modeset without ALLOW_MODESET");
    assert_eq!(d.commits(), 0);
    assert!(!fb.is_pinned());
    d.fini();
    assert!(kinds().is_empty());
}

#[test]
fn vblanks_run_only_while_referenced() {
    let _s = serial();
    let (clock, _dev, d) = manual_display(1);
    let cfg = d.mode_config().clone();
    assert_eq!(vblank_get(&cfg, 0), Err(Errno::Einval), "the CRTC is off");
    let fb = d.create_fb(8, 8).unwrap();
    {
        let _v = Vblanks::start(&clock);
        d.page_flip(0, fb, false, false).unwrap();
        wait_one_vblank(&cfg, 0).unwrap();
    }
    let v = cfg.vblank(0).unwrap();
    assert!(v.events_sent() >= 1);
    vblank_get(&cfg, 0).unwrap();
    assert!(v.is_enabled());
    let before = v.count();
    clock.advance(FAST);
    assert_eq!(v.count(), before + 1);
    vblank_put(&cfg, 0);
    // After the off delay the disable timer turns the interrupt off, and the hrtimer stops.
    clock.advance(drm_sim::drm_vblank::DEFAULT_OFFDELAY);
    assert!(!v.is_enabled());
    clock.advance(FAST);
    clock.advance(FAST);
    assert!(!d.vblank_timer(0).unwrap().is_active());
    let n = v.count();
    clock.advance(FAST);
    assert_eq!(v.count(), n);
    d.fini();
    assert!(kinds().is_empty());
}

/// Unplug tears the display down: in-flight flips complete, the timers stop, every
/// framebuffer is unpinned, new flips are refused, and the buffers stay readable.
#[test]
fn unplug_finishes_the_display() {
    let _s = serial();
    let (dev, d) = display(2);
    let fbs: Vec<_> = (0..2).map(|_| d.create_fb(8, 8).unwrap()).collect();
    fbs[0].fill(0xff11_2233).unwrap();
    let outs: Vec<_> = (0..2)
        .map(|i| d.page_flip(i, fbs[i].clone(), true, true).unwrap().unwrap())
        .collect();
    dev.unplug();
    assert!(d.is_finished());
    for o in &outs {
        o.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    }
    assert!(fbs.iter().all(|f| !f.is_pinned()));
    assert!((0..2).all(|i| !d.vblank_timer(i).unwrap().is_active()));
    assert_eq!(
        d.page_flip(0, fbs[0].clone(), false, false).unwrap_err(),
        Errno::Enodev
    );
    assert_eq!(fbs[0].read_pixel(3, 3).unwrap(), 0xff11_2233);
    assert!(kinds().is_empty());
}

/// Unplug while a thread keeps flipping (blocking and nonblocking, with out-fences): the
/// flipper ends on ENODEV, every out-fence it got ends, nothing is left pinned or armed.
#[test]
fn unplug_while_flipping_finishes_every_flip() {
    let _s = serial();
    let (dev, d) = display(1);
    let flipper = {
        let d = d.clone();
        thread::spawn(move || {
            let fbs: Vec<_> = (0..2).map(|_| d.create_fb(8, 8).unwrap()).collect();
            let mut outs = Vec::new();
            for i in 0.. {
                match d.page_flip(0, fbs[i % 2].clone(), i % 2 == 0, true) {
                    Ok(out) => outs.push(out.unwrap()),
                    Err(Errno::Ebusy) => thread::yield_now(),
                    Err(Errno::Enodev) => break,
                    Err(e) => panic!("flip: {e}"),
                }
            }
            (fbs, outs)
        })
    };
    thread::sleep(Duration::from_millis(30));
    dev.unplug();
    let (fbs, outs) = flipper.join().unwrap();
    assert!(!outs.is_empty());
    for o in &outs {
        o.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    }
    assert!(fbs.iter().all(|f| !f.is_pinned()));
    assert!(!d.vblank_timer(0).unwrap().is_active());
    assert_eq!(d.commits(), d.mode_config().commits_done());
    assert!(kinds().is_empty());
}

/// Zero reports from two displays, four threads flipping blocking and nonblocking with
/// out-fences and a poller on them, with the boot-time orders primed.
#[test]
fn a_clean_multi_threaded_flip_run_is_silent() {
    let _s = serial();
    dma_resv_lockdep();
    mm::prime();
    let displays: Vec<_> = (0..2).map(|_| display(2).1).collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let d = displays[t / 2].clone();
            thread::spawn(move || {
                let plane = t % 2;
                let fbs: Vec<_> = (0..2).map(|_| d.create_fb(16, 16).unwrap()).collect();
                let mut done = 0;
                for i in 0..30 {
                    let fb = fbs[i % 2].clone();
                    fb.fill(0xff00_0000 | i as u32).unwrap();
                    match d.page_flip(plane, fb, i % 3 != 0, i % 2 == 0) {
                        Ok(Some(out)) => {
                            assert!(out.poll(Duration::from_secs(5)));
                            done += 1;
                        }
                        Ok(None) => done += 1,
                        Err(Errno::Ebusy) => d.wait_idle(),
                        Err(e) => panic!("flip: {e}"),
                    }
                }
                done
            })
        })
        .collect();
    let done: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    for d in &displays {
        d.wait_idle();
        assert_eq!(d.commits(), d.mode_config().commits_done());
        d.fini();
    }
    assert!(done >= 60);
    assert!(kinds().is_empty(), "{:?}", drm_sim::testing::reports());
}

struct TestFence;

impl drm_sim::dma_fence::DmaFenceOps for TestFence {
    fn get_driver_name(&self) -> &'static str {
        "test"
    }
    fn get_timeline_name(&self) -> &'static str {
        "in-fence"
    }
}

fn test_fence() -> Arc<DmaFence> {
    DmaFence::init(
        Arc::new(TestFence),
        drm_sim::dma_fence::dma_fence_context_alloc(1),
        1,
    )
}

/// How a flip gets its in-fence: explicitly (`IN_FENCE_FD`) or from the buffer's resv.
#[derive(Clone, Copy)]
enum InFence {
    Explicit,
    Implicit,
}

/// The worker waits for the plane's in-fence before the flip can complete: however many
/// vblanks pass, the out-fence stays pending until the in-fence signals.
fn flip_waits_for_its_in_fence(how: InFence) {
    let (clock, _dev, d) = manual_display(1);
    let a = d.create_fb(8, 8).unwrap();
    let b = d.create_fb(8, 8).unwrap();
    let vblanks = Vblanks::start(&clock);
    d.page_flip(0, a, false, false).unwrap();
    let gate = test_fence();
    if let InFence::Implicit = how {
        let g = b.obj().resv().lock(None).unwrap();
        b.obj().resv().reserve_fences(&g, 1).unwrap();
        b.obj()
            .resv()
            .add_fence(&g, gate.clone(), drm_sim::dma_resv::DmaResvUsage::Write);
    }
    let out = with_modeset_ctx(|ctx| {
        let mut st = DrmAtomicState::new(d.mode_config(), ctx);
        st.set_fb_for_plane(0, Some(b.clone()))?;
        if let InFence::Explicit = how {
            st.set_in_fence(0, gate.clone())?;
        }
        let out = st.set_out_fence(0)?;
        st.commit(true)?;
        Ok(out)
    })
    .unwrap();
    let in_fence = d.mode_config().planes()[0].state().in_fence.clone();
    assert!(in_fence.is_some(), "prepare_fb recorded the fence to wait for");
    assert_eq!(
        out.fence().wait_timeout(false, Duration::from_millis(30)),
        Err(Errno::Etimedout),
        "the flip completed before its in-fence"
    );
    gate.signal().unwrap();
    out.fence().wait_timeout(false, Duration::from_secs(5)).unwrap();
    d.fini();
    drop(vblanks);
    assert!(kinds().is_empty());
}

#[test]
fn a_flip_waits_for_its_explicit_in_fence() {
    let _s = serial();
    flip_waits_for_its_in_fence(InFence::Explicit);
}

#[test]
fn a_flip_waits_for_the_implicit_fence_of_its_buffer() {
    let _s = serial();
    flip_waits_for_its_in_fence(InFence::Implicit);
}

/// Whenever the panic handler gets the panic lock, the plane state it reads shows a pinned,
/// mapped framebuffer (or none), however flips race with it.
#[test]
fn the_panic_lock_only_ever_shows_a_pinned_framebuffer() {
    let _s = serial();
    let (_dev, d) = display(1);
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (d, stop) = (d.clone(), stop.clone());
        thread::spawn(move || {
            let fbs: Vec<_> = (0..3).map(|_| d.create_fb(8, 8).unwrap()).collect();
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                match d.page_flip(0, fbs[i % 3].clone(), i % 2 == 0, false) {
                    Ok(_) | Err(Errno::Ebusy) => {}
                    Err(e) => panic!("flip: {e}"),
                }
                i += 1;
            }
        })
    };
    let cfg = d.mode_config().clone();
    let mut seen = 0;
    for _ in 0..3000 {
        let _p = lockdep::panic_context();
        if let Some(_g) = drm_sim::drm_mode_config::drm_panic_trylock(&cfg) {
            if let Some(fb) = &cfg.planes()[0].state().fb {
                assert!(
                    fb.is_pinned() && fb.vmap().is_some(),
                    "plane shows an unpinned fb"
                );
                seen += 1;
            }
        }
        drop(_p);
        thread::yield_now();
    }
    stop.store(true, Ordering::Release);
    flipper.join().unwrap();
    d.fini();
    assert!(seen > 0);
    assert!(kinds().is_empty());
}
