//! Hot-unplug races (DRM-RULES §3.4): a render device unplugged with jobs queued in its
//! entity, running on the engine and hung on it; the TDR racing with the unplug's `fini_hw`;
//! an exporter unplugged while another device still uses its dma-buf, and while another
//! device scans it out; a display unplugged with commits, vblank work and scan-out reads in
//! flight. In every case every
//! thread ends (each step runs under a deadline), every in-flight fence ends — with `-ENODEV`
//! where the kernel sets it: the force-completed hardware fences and the jobs whose `run_job`
//! finds the device gone — each job's retire callback runs once, the buffers still referenced
//! stay valid, and nothing is reported.

use drm_sim::clock::Clock;
use drm_sim::compositor::Compositor;
use drm_sim::dma_buf::DmaBuf;
use drm_sim::dma_fence::DmaFence;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::error::Errno;
use drm_sim::gpu::GpuCommand;
use drm_sim::ioctl::{self, Context, SubmitArgs, SubmitBo, Submitted};
use drm_sim::mm::MmStruct;
use drm_sim::sim_display::SimDisplay;
use drm_sim::sim_driver::SimGpu;
use drm_sim::testing::{kinds, serial};
use drm_sim::wait::Completion;
use drm_sim::Bugs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long any step may take before the test counts it as stuck.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `f` on a thread of its own and fails the test if it has not returned by [`DEADLINE`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let done = Arc::new(Completion::new("step_done"));
    let d = done.clone();
    let h = thread::spawn(move || {
        let r = f();
        d.complete();
        r
    });
    assert!(
        done.wait_for_completion_timeout(DEADLINE),
        "{what}: still running {} s later",
        DEADLINE.as_secs()
    );
    h.join().unwrap_or_else(|_| panic!("{what} panicked"))
}

fn gpu(name: &'static str, clock: &Clock, timeout: Duration, credits: u32) -> Arc<SimGpu> {
    let dev = DrmDevice::with_clock(&format!("card-{name}"), Bugs::NONE, clock.clone());
    Arc::new(
        SimGpu::new(&dev, name, |a| {
            a.timeout = Some(timeout);
            a.credit_limit = credits;
        })
        .expect("probe"),
    )
}

fn submit(ctx: &Context, cmd: GpuCommand, bos: &[(u32, bool)], in_fences: Vec<Arc<DmaFence>>) -> Submitted {
    let user_args = ctx.file.mm().mmap_anon(4096);
    let args = SubmitArgs {
        cmd,
        in_fences,
        bos: bos
            .iter()
            .map(|&(handle, write)| SubmitBo { handle, write })
            .collect(),
        user_args,
    };
    ioctl::submit(ctx, &args).expect("submit")
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "{what}: never happened");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Reads the whole of `obj` through a kernel mapping, as a system call.
fn contents(obj: &Arc<drm_sim::drm_gem::DrmGemObject>, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    ioctl::syscall(|| {
        let map = obj.vmap()?;
        let r = map.read(0, &mut buf);
        obj.vunmap(map);
        r
    })
    .expect("the buffer is still readable");
    buf
}

/// Waits for `job` to end and checks it ended once, with `want` (any of them).
fn ended(what: &str, job: &Submitted, want: &[Option<Errno>]) {
    job.finished
        .wait_timeout(false, DEADLINE)
        .unwrap_or_else(|_| panic!("{what}: its fence never signalled"));
    assert!(job.scheduled.is_signaled(), "{what}: finished before scheduled");
    assert!(
        want.contains(&job.finished.error()),
        "{what}: ended with {:?}, not one of {want:?}",
        job.finished.error()
    );
    assert_eq!(
        ioctl::callback_runs(job),
        1,
        "{what}: its retire callback ran once"
    );
}

#[test]
fn a_render_unplug_ends_queued_running_and_hung_jobs_with_enodev() {
    let _s = serial();
    // A manual clock: the TDR never fires by itself, so the hang is still on the engine.
    let clock = Clock::manual();
    let gpu = gpu("gfx", &clock, Duration::from_millis(100), 2);
    let ctx = Context::open(&gpu, MmStruct::new()).unwrap();
    let bo = ioctl::gem_create(&ctx, 8192, 0x5a).unwrap();
    let obj = ioctl::lookup(&ctx, bo).unwrap();
    let running = submit(
        &ctx,
        GpuCommand::run(Duration::from_secs(30)),
        &[(bo, true)],
        vec![],
    );
    let hung = submit(&ctx, GpuCommand::hang(), &[], vec![]);
    // Queued in the entity: one reading the buffer the running job writes (an implicit
    // dependency), two behind the credit limit of two.
    let queued: Vec<_> = [&[(bo, false)][..], &[], &[]]
        .into_iter()
        .map(|bos| submit(&ctx, GpuCommand::default(), bos, vec![]))
        .collect();
    eventually("both jobs on the hardware", || {
        running.scheduled.is_signaled() && hung.scheduled.is_signaled()
    });
    assert!(!running.finished.is_signaled() && !hung.finished.is_signaled());
    assert!(
        queued.iter().all(|j| !j.scheduled.is_signaled()),
        "the credit limit holds them"
    );

    let dev = gpu.dev.clone();
    within("drm_dev_unplug", move || dev.unplug());
    ended("the running job", &running, &[Some(Errno::Enodev)]);
    ended("the hung job", &hung, &[Some(Errno::Enodev)]);
    for (k, j) in queued.iter().enumerate() {
        ended(&format!("queued job {k}"), j, &[Some(Errno::Enodev)]);
    }
    // Every job handed back to the driver (their buffer references dropped), and the buffer
    // the client still holds keeps its contents after the device is gone.
    let driver = gpu.driver.clone();
    assert!(within("free_job of every job", move || driver.wait_freed(5, DEADLINE)));
    assert_eq!(contents(&obj, 8192), vec![0x5a; 8192]);
    assert_eq!(ioctl::gem_create(&ctx, 4096, 0), Err(Errno::Enodev));
    let ctx2 = ctx.clone();
    within("closing the file", move || ctx2.file.close());
    let g = gpu.clone();
    within("drm_sched_fini", move || g.fini());
    assert_eq!(kinds(), []);
}

#[test]
fn the_tdr_racing_with_the_unplug_ends_the_hang_either_way() {
    let _s = serial();
    for round in 0..6u64 {
        let clock = Clock::manual();
        let timeout = Duration::from_millis(50);
        let gpu = gpu("gfx", &clock, timeout, 4);
        let ctx = Context::open(&gpu, MmStruct::new()).unwrap();
        let hung = submit(&ctx, GpuCommand::hang(), &[], vec![]);
        let behind = submit(&ctx, GpuCommand::default(), &[], vec![]);
        eventually("the hang on the hardware", || hung.scheduled.is_signaled());
        // The timeout fires on one thread while the device goes on another; which wins
        // varies with the round's stagger.
        let (c, dev) = (clock.clone(), gpu.dev.clone());
        let tdr = thread::spawn(move || c.advance(timeout * 2));
        thread::sleep(Duration::from_micros(200 * round));
        within("drm_dev_unplug racing the TDR", move || dev.unplug());
        tdr.join().expect("the timer thread");
        // The TDR first: the guilty job times out, the one behind it was cancelled on the
        // hardware or ran after the reset; the unplug first: both end with -ENODEV.
        ended(
            "the hung job",
            &hung,
            &[Some(Errno::Etimedout), Some(Errno::Enodev)],
        );
        ended(
            "the job behind it",
            &behind,
            &[None, Some(Errno::Ecanceled), Some(Errno::Enodev)],
        );
        // Later timeouts find the device gone and return ENODEV: nothing re-arms forever.
        let c = clock.clone();
        within("later timeouts", move || c.advance(timeout * 4));
        let ctx2 = ctx.clone();
        within("closing the file", move || ctx2.file.close());
        let g = gpu.clone();
        within("drm_sched_fini", move || g.fini());
        assert_eq!(kinds(), [], "round {round}");
    }
}

#[test]
fn an_exporter_unplugged_while_another_device_uses_its_buffer() {
    let _s = serial();
    let clock = Clock::real();
    let a = gpu("exp", &clock, Duration::from_secs(5), 8);
    let b = gpu("imp", &clock, Duration::from_secs(5), 8);
    let ctx_a = Context::open(&a, MmStruct::new()).unwrap();
    let ctx_b = Context::open(&b, MmStruct::new()).unwrap();
    let len = 16384;
    let handle_a = ioctl::gem_create(&ctx_a, len, 0x3c).unwrap();
    let exported = ioctl::lookup(&ctx_a, handle_a).unwrap();
    let dmabuf = ioctl::syscall(|| DmaBuf::export(&exported)).unwrap();
    drop(exported);
    let handle_b = ioctl::prime_fd_to_handle(&ctx_b, &dmabuf).unwrap();
    let import = ioctl::lookup(&ctx_b, handle_b).unwrap();
    // The exporter's GPU writes the buffer for a long time; the importer reads it after
    // (implicit sync through the shared resv), and keeps using its own GPU.
    let writer = submit(
        &ctx_a,
        GpuCommand::run(Duration::from_secs(30)),
        &[(handle_a, true)],
        vec![],
    );
    let reader = submit(&ctx_b, GpuCommand::default(), &[(handle_b, false)], vec![]);
    eventually("the writer on the hardware", || writer.scheduled.is_signaled());
    assert!(!reader.finished.is_signaled(), "the reader waits for the writer");

    let dev = a.dev.clone();
    within("unplugging the exporter", move || dev.unplug());
    ended("the exporter's job", &writer, &[Some(Errno::Enodev)]);
    // The importer's job depended on it: it ends (its own device is fine) ...
    reader
        .finished
        .wait_timeout(false, DEADLINE)
        .expect("the reader ends");
    assert_eq!(ioctl::callback_runs(&reader), 1);
    // ... and the importer goes on using the buffer: new jobs on it complete cleanly, the
    // dma-buf calls work, its contents are intact.
    let again = submit(&ctx_b, GpuCommand::default(), &[(handle_b, true)], vec![]);
    ended("a later job on the import", &again, &[None]);
    assert!(ioctl::export_sync_file(&dmabuf, true)
        .unwrap()
        .get_fence()
        .is_signaled());
    assert_eq!(contents(&import, len), vec![0x3c; len]);
    assert_eq!(dmabuf.attachment_count(), 1, "the importer's attachment stays");
    assert_eq!(ioctl::prime_fd_to_handle(&ctx_a, &dmabuf), Err(Errno::Enodev));
    // Teardown in the order user space happens to do it: the exporter's file first.
    let c = ctx_a.clone();
    within("closing the exporter's file", move || c.file.close());
    let g = a.clone();
    within("the exporter's drm_sched_fini", move || g.fini());
    drop(import);
    let c = ctx_b.clone();
    within("closing the importer's file", move || c.file.close());
    let g = b.clone();
    within("the importer's drm_sched_fini", move || g.fini());
    assert_eq!(kinds(), []);
}

/// A display's flips so far, once they passed `n` (bounded).
fn flips_past(display: &SimDisplay, n: u64) {
    eventually("flips", || display.flips() > n);
}

#[test]
fn a_display_unplugged_with_commits_vblanks_and_scanout_reads_in_flight() {
    let _s = serial();
    let dev = DrmDevice::new("card-disp", Bugs::NONE);
    let display = SimDisplay::with_period(&dev, 2, Duration::from_millis(2)).unwrap();
    let comp = Compositor::start(&display, 0x0030_5070, None).unwrap();
    // A screen grabber reading whatever plane 0 shows, while it changes.
    let stop = Arc::new(AtomicBool::new(false));
    let (d, s) = (display.clone(), stop.clone());
    let grabber = thread::spawn(move || {
        let mut reads = 0u64;
        while !s.load(Ordering::Relaxed) {
            if let Some(fb) = d.mode_config().planes()[0].state().fb.clone() {
                ioctl::syscall(|| fb.pixels()).expect("a shown framebuffer is readable");
                reads += 1;
            }
            thread::yield_now();
        }
        reads
    });
    flips_past(&display, 2 * drm_sim::compositor::VT_SWITCH_EVERY);
    let d = dev.clone();
    within("drm_dev_unplug of the display", move || d.unplug());
    assert!(display.is_finished(), "the unplug hook finished the display");
    let stats = within("the compositor", move || comp.finish()).expect("its checks hold");
    assert!(
        stats.flips > drm_sim::compositor::VT_SWITCH_EVERY && stats.enodev >= 1,
        "{stats:?}"
    );
    assert!(stats.out_fences > 0 && stats.pans > 0, "{stats:?}");
    // The vblank timers are stopped: no more vblanks.
    let v = display.vblanks();
    thread::sleep(Duration::from_millis(20));
    assert_eq!(display.vblanks(), v, "vblanks after the display is finished");
    stop.store(true, Ordering::Relaxed);
    assert!(grabber.join().expect("the grabber ends") > 0);
    assert_eq!(kinds(), []);
}

#[test]
fn an_exporter_unplugged_while_another_device_scans_out_its_buffer() {
    let _s = serial();
    let clock = Clock::real();
    let a = gpu("exp", &clock, Duration::from_secs(5), 8);
    let ctx_a = Context::open(&a, MmStruct::new()).unwrap();
    let (w, h) = drm_sim::compositor::FB_SIZE;
    let len = (w * h) as usize * 4;
    let handle = ioctl::gem_create(&ctx_a, len, 0x5d).unwrap();
    let exported = ioctl::lookup(&ctx_a, handle).unwrap();
    let dmabuf = ioctl::syscall(|| DmaBuf::export(&exported)).unwrap();
    drop(exported);
    let dev_b = DrmDevice::new("card-scanout", Bugs::NONE);
    let display = SimDisplay::with_period(&dev_b, 1, Duration::from_millis(2)).unwrap();
    let import = ioctl::syscall(|| dmabuf.import(&dev_b)).unwrap();
    let comp = Compositor::start(&display, 0x0011_2233, Some(import)).unwrap();
    flips_past(&display, 10);
    let d = a.dev.clone();
    within("unplugging the exporter", move || d.unplug());
    // The importer's display goes on, showing the buffer now and then.
    let n = display.flips();
    flips_past(&display, n + 10);
    let fb = comp.imported().cloned().expect("an imported framebuffer");
    let stats = within("the compositor", move || comp.finish()).expect("its checks hold");
    assert!(stats.imported_flips > 1 && stats.enodev == 0, "{stats:?}");
    let px = ioctl::syscall(|| fb.pixels()).unwrap();
    assert!(
        px.iter().all(|p| *p == 0x5d5d_5d5d),
        "the exporter's contents, still"
    );
    display.fini();
    let c = ctx_a.clone();
    within("closing the exporter's file", move || c.file.close());
    let g = a.clone();
    within("the exporter's drm_sched_fini", move || g.fini());
    assert_eq!(kinds(), []);
}
