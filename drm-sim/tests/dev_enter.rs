//! The `drm_dev_enter` rules on the driver's own paths, each as the injected bug that breaks it
//! (reported, naming `drm_unplug_srcu`) next to the correct code it replaces (silent):
//! - R28 `fence-wait-in-dev-enter`: the idle wait keeps its section open across the fence wait;
//! - R27 `unplug-in-dev-enter`: the device-lost handler unplugs from inside its section;
//! - R26 `leaked-dev-enter`: CPU_PREP returns to user space with its section open.
//!
//! Every broken variant still finishes: the wait times out, the unplug skips the grace period
//! that would wait for itself, the leaked section ends at CPU_FINI, and an unplug after it
//! completes.

use drm_sim::error::Errno;
use drm_sim::gpu::GpuCommand;
use drm_sim::ioctl::{self, Context, SubmitArgs, SubmitBo};
use drm_sim::mm::MmStruct;
use drm_sim::sim_driver::SimGpu;
use drm_sim::testing::{expect, reports, serial};
use drm_sim::{Bug, Bugs};
use lockdep::ReportKind;
use std::sync::Arc;
use std::time::Duration;

/// A GPU whose device has `bugs`, and one open context on it.
fn setup(bugs: Bugs) -> (Arc<SimGpu>, Arc<Context>) {
    let dev = drm_sim::drm_drv::DrmDevice::new("card0", bugs);
    let gpu = Arc::new(SimGpu::new(&dev, "gfx", |a| a.credit_limit = 8).expect("probe"));
    let ctx = Context::open(&gpu, MmStruct::new()).expect("open");
    (gpu, ctx)
}

/// The kinds of the reports since the last call, checking each names `drm_unplug_srcu`.
fn srcu_kinds() -> Vec<ReportKind> {
    reports()
        .iter()
        .map(|r| {
            assert!(r.classes().contains(&"drm_unplug_srcu"), "{r}");
            r.kind()
        })
        .collect()
}

fn one_job(gpu: &SimGpu, ctx: &Context, cmd: GpuCommand) -> Arc<drm_sim::dma_fence::DmaFence> {
    gpu.submit(&ctx.entity, cmd, 1, &[]).expect("submit")
}

#[test]
fn the_idle_wait_leaves_its_section_before_waiting() {
    let _s = serial();
    let (gpu, ctx) = setup(Bugs::NONE);
    let f = one_job(&gpu, &ctx, GpuCommand::run(Duration::from_millis(5)));
    ioctl::wait_idle(&ctx, &f).expect("the job completes");
    assert!(f.is_signaled());
    assert_eq!(srcu_kinds(), []);
    ctx.file.close();
    gpu.fini();
}

#[test]
fn fence_wait_in_dev_enter_is_reported_and_the_wait_still_ends() {
    let _s = serial();
    let (gpu, ctx) = setup(Bugs::NONE.with(Bug::FenceWaitInDevEnter));
    let f = one_job(&gpu, &ctx, GpuCommand::run(Duration::from_millis(5)));
    ioctl::wait_idle(&ctx, &f).expect("the job completes");
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::ForbiddenWhileHeld])
    );
    if let Some(r) = r.first() {
        assert!(r.classes().contains(&"drm_unplug_srcu"), "{r}");
        // The forbidden wait is located at the driver's call, not inside the validator.
        let text = r.to_string();
        assert!(
            text.contains("dma_fence_wait() inside drm_dev_enter() at drm-sim/src/sim_driver.rs:"),
            "{text}"
        );
    }
    // Waiting on a hung job while the device goes: the wait is bounded, so the unplug (whose
    // grace period waits for the section) finishes, and its fini_hw ends the job.
    let hung = one_job(&gpu, &ctx, GpuCommand::hang());
    let dev = gpu.dev.clone();
    let unplug = std::thread::spawn(move || dev.unplug());
    let r = ioctl::wait_idle(&ctx, &hung);
    // Timed out inside the section, or the device was gone first (no section, the job ended
    // by fini_hw), or the ioctl saw it gone.
    assert!(
        matches!(r, Ok(()) | Err(Errno::Etimedout | Errno::Enodev)),
        "{r:?}"
    );
    unplug.join().expect("the unplug ends");
    hung.wait(false).unwrap();
    assert_eq!(hung.error(), Some(Errno::Enodev));
    ctx.file.close();
    gpu.fini();
}

#[test]
fn the_device_lost_handler_unplugs_after_leaving_its_section() {
    let _s = serial();
    let (gpu, ctx) = setup(Bugs::NONE);
    assert!(!gpu.handle_device_lost(), "a device that answers is not lost");
    assert!(!gpu.dev.is_unplugged());
    let queued = one_job(&gpu, &ctx, GpuCommand::hang());
    gpu.dev.surprise_removal();
    assert!(gpu.handle_device_lost());
    assert!(gpu.dev.was_unplugged());
    assert!(!gpu.handle_device_lost(), "unplugged already: nothing to do");
    queued.wait(false).unwrap();
    assert_eq!(queued.error(), Some(Errno::Enodev), "fini_hw ran");
    assert_eq!(srcu_kinds(), []);
    ctx.file.close();
    gpu.fini();
}

#[test]
fn unplug_in_dev_enter_is_reported_and_the_unplug_still_completes() {
    let _s = serial();
    let (gpu, ctx) = setup(Bugs::NONE.with(Bug::UnplugInDevEnter));
    let hung = one_job(&gpu, &ctx, GpuCommand::hang());
    gpu.dev.surprise_removal();
    assert!(gpu.handle_device_lost());
    assert_eq!(srcu_kinds(), expect(&[ReportKind::SuspiciousRcuUsage]));
    assert!(gpu.dev.was_unplugged() && gpu.dev.enter().is_none());
    hung.wait(false).unwrap();
    assert_eq!(hung.error(), Some(Errno::Enodev), "fini_hw ran all the same");
    ctx.file.close();
    gpu.fini();
}

/// A buffer on `ctx` with a job of `cmd` writing it.
fn busy_buffer(ctx: &Context, cmd: GpuCommand) -> (u32, ioctl::Submitted) {
    let bo = ioctl::gem_create(ctx, 4096, 7).expect("create");
    let user_args = ctx.file.mm().mmap_anon(4096);
    let args = SubmitArgs {
        cmd,
        in_fences: Vec::new(),
        bos: vec![SubmitBo {
            handle: bo,
            write: true,
        }],
        user_args,
    };
    (bo, ioctl::submit(ctx, &args).expect("submit"))
}

#[test]
fn cpu_prep_waits_outside_its_section_and_leaves_it_before_returning() {
    let _s = serial();
    let (gpu, ctx) = setup(Bugs::NONE);
    let (bo, job) = busy_buffer(&ctx, GpuCommand::run(Duration::from_millis(300)));
    // Still busy: a short prep times out (and leaves nothing held).
    let r = ioctl::gem_cpu_prep(&ctx, bo, true, Duration::from_millis(1));
    assert_eq!(r.map(|a| a.handle()).unwrap_err(), Errno::Etimedout);
    let access = ioctl::gem_cpu_prep(&ctx, bo, true, Duration::from_secs(5)).expect("idle in time");
    assert!(
        job.finished.is_signaled(),
        "prep returned only once the GPU was done"
    );
    assert_eq!(access.handle(), bo);
    ioctl::gem_cpu_fini(&ctx, access).unwrap();
    assert_eq!(srcu_kinds(), []);
    gpu.dev.unplug();
    assert_eq!(
        ioctl::gem_cpu_prep(&ctx, bo, false, Duration::ZERO).map(|a| a.handle()),
        Err(Errno::Enodev)
    );
    ctx.file.close();
    gpu.fini();
}

#[test]
fn leaked_dev_enter_is_reported_at_the_return_to_user_space() {
    let _s = serial();
    let (gpu, ctx) = setup(Bugs::NONE.with(Bug::LeakedDevEnter));
    let (bo, job) = busy_buffer(&ctx, GpuCommand::default());
    job.finished.wait(false).unwrap();
    let access = ioctl::gem_cpu_prep(&ctx, bo, false, Duration::from_secs(5)).unwrap();
    assert_eq!(srcu_kinds(), expect(&[ReportKind::HeldOnReturnToUser]));
    // CPU_FINI ends the leaked section: nothing is held at its return, and an unplug (which
    // waits for every section) completes.
    ioctl::gem_cpu_fini(&ctx, access).unwrap();
    assert_eq!(srcu_kinds(), []);
    let dev = gpu.dev.clone();
    let unplug = std::thread::spawn(move || dev.unplug());
    unplug.join().expect("the unplug completes");
    assert!(gpu.dev.was_unplugged());
    ctx.file.close();
    gpu.fini();
}
