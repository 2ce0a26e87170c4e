//! `Scenario`: the seed threads' situations, each a short run of its own (`drm-sim --scenario
//! NAME`). No kernel counterpart: each replays what one mailing-list thread in the project's
//! seeds argues about, with the rule it settled on, and checks the outcome the thread wants.
//!
//! # Contract
//! - [`Scenario::ALL`] lists them; [`Scenario::by_name`] finds one by its `--scenario` name.
//! - [`Scenario::run`] runs it with a [`Bugs`] set on its devices: with none it must report
//!   nothing; [`Scenario::broken_by`] names the injected bug that is the scenario's closest
//!   broken variant (the mistake the thread warns about), which is reported on its first
//!   occurrence while the scenario still finishes.
//! - A broken functional expectation is a [`WorkloadError::Invariant`]; a step still running
//!   after [`WATCHDOG`] is a [`WorkloadError::Stuck`].
//!
//! # Locking
//! None of its own.
//!
//! # Annotations
//! Every user-space call is a system call ([`crate::ioctl`]).
//!
//! # Rules
//! `panic-trylock`: R29, R30, §3.5 (seed "drm/panic: Add a drm panic handler" review);
//! `dev-enter-scope`: R26–R28 (seed "Scope all DRM IOCTLs with drm_dev_enter/exit");
//! `tinydrm-unplug`: R26, R27, §3.4 (seed "drm/tinydrm: Support device unplug");
//! `sync-file-import-export`: §3.2, R5, R7 (seed "dma-buf: add ioctls to sync_file
//! import/export"); `shmem-resv`: R11, R16, R17 (seed "drm/shmem-helper: Switch to reservation
//! lock").
//!
//! # Simplified
//! One device (two for the dma-buf scenario), one client, a few jobs each: a scenario shows one
//! situation, the default workload is the load.

use crate::bugs::{Bug, Bugs};
use crate::dma_buf::DmaBuf;
use crate::dma_fence::DmaFence;
use crate::drm_drv::DrmDevice;
use crate::drm_framebuffer::{DrmFramebuffer, BYTES_PER_PIXEL};
use crate::drm_gem::{DrmGemObject, Madv};
use crate::drm_gem_shmem_helper::DrmGemShmemObject;
use crate::drm_mode_config::{drm_panic_lock, drmm_mode_config_init, DrmModeConfig};
use crate::drm_modeset_lock::DrmModesetAcquireCtx;
use crate::drm_panic::{drm_panic, message_visible};
use crate::drm_plane::DrmPlaneState;
use crate::error::{Errno, KResult};
use crate::gpu::GpuCommand;
use crate::gud::GudDevice;
use crate::ioctl::{self, Context, SubmitArgs, SubmitBo, Submitted};
use crate::mm::{self, MmStruct};
use crate::sim_driver::SimGpu;
use crate::sync_file::SyncFile;
use crate::vgem_fence::VgemFile;
use crate::wait::Completion;
use crate::workload::{WorkloadError, WATCHDOG};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// What a scenario did (the counters of the binary's summary line that apply to it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScenarioOutcome {
    /// GPU jobs that ended.
    pub jobs: u64,
    /// Atomic commits done.
    pub commits: u64,
    /// Page flips completed.
    pub flips: u64,
    /// Vblank interrupts handled.
    pub vblanks: u64,
    /// Whether a panic handler drew its message into a scan-out buffer.
    pub panic_drawn: bool,
    /// Functional expectations checked (each one held, or the run failed).
    pub checks: u32,
}

/// The body of a scenario.
type Body = fn(Bugs) -> Result<ScenarioOutcome, WorkloadError>;

/// One seed scenario.
pub struct Scenario {
    name: &'static str,
    description: &'static str,
    broken_by: Bug,
    body: Body,
}

impl Scenario {
    /// Every scenario, in the order `--list-scenarios` prints them.
    pub const ALL: &'static [Scenario] = &[
        Scenario {
            name: "panic-trylock",
            description: "the panic handler only trylocks each device's raw panic lock and gives up if it is held, drawing into pinned scan-out memory while other threads hold any lock",
            broken_by: Bug::SpinTrylockInPanic,
            body: panic_trylock,
        },
        Scenario {
            name: "dev-enter-scope",
            description: "drm_dev_enter marks only hardware access: idle waits and CPU_PREP wait outside it, so an unplug racing them finishes",
            broken_by: Bug::FenceWaitInDevEnter,
            body: dev_enter_scope,
        },
        Scenario {
            name: "tinydrm-unplug",
            description: "a USB display disconnected while its compositor flips and its flush worker sends frames: drm_dev_enter around every transfer, so the unplug waits for one in flight and skips the rest",
            broken_by: Bug::UnplugInDevEnter,
            body: tinydrm_unplug,
        },
        Scenario {
            name: "sync-file-import-export",
            description: "explicit and implicit sync bridged on a shared dma-buf: EXPORT_SYNC_FILE of a pending write, IMPORT_SYNC_FILE of a render fence, an importer waiting for both",
            broken_by: Bug::FenceReleaseUnderResv,
            body: sync_file_import_export,
        },
        Scenario {
            name: "shmem-resv",
            description: "shmem pages, pins and vmaps under the GEM resv: the locked variants inside a submit's drm_exec, the unlocked wrappers outside, the shrinker trylocking",
            broken_by: Bug::PinWithResvHeld,
            body: shmem_resv,
        },
    ];

    /// The scenario called `name`.
    pub fn by_name(name: &str) -> Option<&'static Scenario> {
        Scenario::ALL.iter().find(|s| s.name == name)
    }

    /// Its `--scenario` name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One line saying what it shows.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The injected bug that is its closest broken variant.
    pub fn broken_by(&self) -> Bug {
        self.broken_by
    }

    /// Runs it with `bugs` injected into its devices.
    ///
    /// # Errors
    /// A [`WorkloadError`] if an expectation broke or a step got stuck.
    pub fn run(&self, bugs: Bugs) -> Result<ScenarioOutcome, WorkloadError> {
        crate::dma_resv::dma_resv_lockdep();
        mm::prime();
        tracing::info!(scenario = self.name, ?bugs, "scenario starts");
        let r = (self.body)(bugs);
        tracing::info!(scenario = self.name, ok = r.is_ok(), "scenario ends");
        r
    }
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario").field("name", &self.name).finish()
    }
}

/// Checks `cond`, counting it; `what` says what broke otherwise.
fn expect(out: &mut ScenarioOutcome, cond: bool, what: impl FnOnce() -> String) -> Result<(), WorkloadError> {
    out.checks += 1;
    if cond {
        Ok(())
    } else {
        Err(WorkloadError::Invariant(what()))
    }
}

/// `r`, or the run's failure naming `what`.
fn step<T>(what: &str, r: KResult<T>) -> Result<T, WorkloadError> {
    r.map_err(|e| WorkloadError::Invariant(format!("{what}: {e}")))
}

/// Runs `f` on a thread called `name` and waits at most [`WATCHDOG`] for it.
fn bounded<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WorkloadError> {
    let done = Arc::new(Completion::new("scenario_step"));
    let d = done.clone();
    let h = thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let r = f();
            d.complete();
            r
        })
        .map_err(|e| WorkloadError::Invariant(format!("spawn {name}: {e}")))?;
    if !done.wait_for_completion_timeout(WATCHDOG) {
        return Err(WorkloadError::Stuck(format!(
            "{name} still running {} s later",
            WATCHDOG.as_secs()
        )));
    }
    h.join()
        .map_err(|_| WorkloadError::Invariant(format!("{name} panicked")))
}

/// A probed GPU on a new device with `bugs`, and one client's context on it.
fn gpu_and_client(name: &'static str, bugs: Bugs) -> Result<(Arc<SimGpu>, Arc<Context>), WorkloadError> {
    let dev = DrmDevice::new(&format!("card-{name}"), bugs);
    let gpu = step(
        "probe",
        SimGpu::new(&dev, name, |a| {
            // Long enough that a slow (debug, report-printing) run never times a job out.
            a.timeout = Some(Duration::from_secs(5));
            a.credit_limit = 8;
        }),
    )?;
    let gpu = Arc::new(gpu);
    let ctx = step("open", Context::open(&gpu, MmStruct::new()))?;
    Ok((gpu, ctx))
}

/// The submit ioctl with `bos` (handle, written?) and no in-fences.
fn submit(ctx: &Context, cmd: GpuCommand, bos: &[(u32, bool)]) -> KResult<Submitted> {
    let args = SubmitArgs {
        cmd,
        in_fences: Vec::new(),
        bos: bos
            .iter()
            .map(|&(handle, write)| SubmitBo { handle, write })
            .collect(),
        user_args: ctx.file.mm().mmap_anon(4096),
    };
    ioctl::submit(ctx, &args)
}

/// Waits for `f` (bounded) and says whether it ended with `want`.
fn ends_with(f: &DmaFence, want: Option<Errno>) -> bool {
    f.wait_timeout(false, WATCHDOG).is_ok() && f.error() == want
}

/// Closes the client's file and tears the GPU down, bounded.
fn teardown(gpu: Arc<SimGpu>, ctx: Arc<Context>) -> Result<(), WorkloadError> {
    bounded("teardown", move || {
        ctx.file.close();
        gpu.fini();
    })
}

/// Shows a new pinned, black `w` x `h` framebuffer on plane `i` of `cfg`, as a commit's
/// `prepare_fb` and `swap_state` do: the plane's modeset lock, then the pointer swap under the
/// panic lock (R30); the old state's framebuffer is unpinned after (`cleanup_fb`).
fn show(cfg: &DrmModeConfig, i: usize, w: u32, h: u32) -> KResult<Arc<DrmFramebuffer>> {
    let obj = DrmGemShmemObject::create(cfg.dev(), (w * h) as usize * BYTES_PER_PIXEL)?;
    let fb = DrmFramebuffer::create(obj, w, h)?;
    fb.prepare_fb()?;
    fb.fill(0)?;
    let mut ctx = DrmModesetAcquireCtx::init(0);
    let plane = &cfg.planes()[i];
    ctx.lock(plane.mutex())?;
    let state = Arc::new(DrmPlaneState {
        plane: i,
        crtc: Some(plane.possible_crtc()),
        fb: Some(fb.clone()),
        ..DrmPlaneState::default()
    });
    let old = {
        let _p = drm_panic_lock(cfg);
        plane.set_state(cfg, state)
    };
    ctx.fini();
    if let Some(old_fb) = &old.fb {
        old_fb.cleanup_fb();
    }
    Ok(fb)
}

/// Seed "drm/panic: Add a drm panic handler" (review): a panic can interrupt any thread
/// anywhere, so the handler may take no lock but a raw spinlock's trylock — `drm_panic_trylock`
/// on each device's panic lock — and must give up when it fails; the plane state it reads only
/// changes under that lock, and the framebuffer is pinned, so nothing else is needed. Two
/// displays; a thread stopped in the middle of a state swap on the first (panic lock held,
/// under `mode_config.mutex` and the plane's modeset lock); a panic draws on the second and
/// skips the first, leaving its pixels alone; once the swap is over a second panic draws on
/// both. The handler's message is read back from the pixels.
fn panic_trylock(bugs: Bugs) -> Result<ScenarioOutcome, WorkloadError> {
    const MSG: &str = "KERNEL PANIC - NOT SYNCING";
    let mut out = ScenarioOutcome::default();
    let cfgs: Vec<Arc<DrmModeConfig>> = ["card-disp0", "card-disp1"]
        .iter()
        .map(|n| drmm_mode_config_init(&DrmDevice::new(n, bugs), 1))
        .collect();
    let fbs = cfgs
        .iter()
        .map(|cfg| step("showing a framebuffer", show(cfg, 0, 192, 24)))
        .collect::<Result<Vec<_>, _>>()?;
    out.commits += fbs.len() as u64;

    // The thread is frozen by the panic, not waiting in kernel code: it stops on a channel of
    // the simulation's own, invisible to the validator (a kernel wait would be a sleep under a
    // raw spinlock).
    let (held_tx, held_rx) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel::<()>();
    let c = cfgs[0].clone();
    let stopped = thread::Builder::new()
        .name("swap-state".into())
        .spawn(move || {
            let _legacy = c.mutex().lock();
            let mut ctx = DrmModesetAcquireCtx::init(0);
            let locked = ctx.lock(c.planes()[0].mutex());
            let p = drm_panic_lock(&c);
            let _ = held_tx.send(());
            let _ = resume_rx.recv_timeout(WATCHDOG);
            drop(p);
            ctx.fini();
            locked
        })
        .map_err(|e| WorkloadError::Invariant(format!("spawn: {e}")))?;
    if held_rx.recv_timeout(WATCHDOG).is_err() {
        return Err(WorkloadError::Stuck(
            "the swap-state thread never took the panic lock".into(),
        ));
    }
    let first = bounded("panic", {
        let cfgs = cfgs.clone();
        move || drm_panic(&cfgs, MSG)
    })?;
    let visible = |fb: &DrmFramebuffer| message_visible(fb, MSG).unwrap_or(false);
    expect(&mut out, first.drawn == 1 && first.skipped_locked == 1, || {
        format!("with one panic lock held: {first:?}")
    })?;
    expect(&mut out, visible(&fbs[1]) && !visible(&fbs[0]), || {
        "the message is not on exactly the display whose lock was free".into()
    })?;
    let untouched = step("reading pixels", fbs[0].pixels())?.iter().all(|p| *p == 0);
    expect(&mut out, untouched, || {
        "the handler wrote to a display it could not lock".into()
    })?;
    let _ = resume.send(());
    let locked = stopped
        .join()
        .map_err(|_| WorkloadError::Invariant("the swap-state thread panicked".into()))?;
    step("the stopped commit's plane lock", locked)?;
    let second = bounded("panic", {
        let cfgs = cfgs.clone();
        move || drm_panic(&cfgs, MSG)
    })?;
    expect(&mut out, second.drawn == 2, || {
        format!("with both locks free: {second:?}")
    })?;
    expect(&mut out, fbs.iter().all(|fb| visible(fb)), || {
        "a display lacks the message".into()
    })?;
    out.panic_drawn = true;
    Ok(out)
}

/// Seed "Scope all DRM IOCTLs with drm_dev_enter/exit": the section marks hardware access
/// only — the idle wait reads the status register inside it and waits outside, CPU_PREP
/// waits for the GPU before it enters — because `drm_dev_unplug` waits for every section and
/// only then force-completes the fences such a wait would be waiting for (R28). An idle wait
/// on a hung job races the device falling off the bus: the unplug finishes, the job ends with
/// `-ENODEV`, later ioctls fail with `ENODEV`, the buffer stays readable.
fn dev_enter_scope(bugs: Bugs) -> Result<ScenarioOutcome, WorkloadError> {
    let mut out = ScenarioOutcome::default();
    let (gpu, ctx) = gpu_and_client("gfx", bugs)?;
    let bo = step("create", ioctl::gem_create(&ctx, 4096, 0x11))?;
    let obj = step("lookup", ioctl::lookup(&ctx, bo))?;
    let job = step(
        "submit",
        submit(&ctx, GpuCommand::run(Duration::from_millis(5)), &[(bo, true)]),
    )?;
    step("wait idle", ioctl::wait_idle(&ctx, &job.finished))?;
    let access = step("cpu prep", ioctl::gem_cpu_prep(&ctx, bo, true, WATCHDOG))?;
    step("cpu fini", ioctl::gem_cpu_fini(&ctx, access))?;
    out.jobs += 1;
    expect(&mut out, job.finished.error().is_none(), || {
        "the first job failed".into()
    })?;

    let hung = step("submit", submit(&ctx, GpuCommand::hang(), &[]))?;
    step(
        "waiting for the hang to run",
        ioctl::fence_wait(&hung.scheduled, WATCHDOG),
    )?;
    let (c, f) = (ctx.clone(), hung.finished.clone());
    let waiter = thread::Builder::new()
        .name("idle-waiter".into())
        .spawn(move || ioctl::wait_idle(&c, &f))
        .map_err(|e| WorkloadError::Invariant(format!("spawn: {e}")))?;
    let lost = gpu.clone();
    let unplugged = bounded("unplug", move || {
        lost.dev.surprise_removal();
        lost.handle_device_lost()
    })?;
    expect(&mut out, unplugged, || {
        "the device-lost handler did not unplug".into()
    })?;
    let waited = waiter
        .join()
        .map_err(|_| WorkloadError::Invariant("the idle waiter panicked".into()))?;
    expect(
        &mut out,
        matches!(waited, Ok(()) | Err(Errno::Etimedout | Errno::Enodev)),
        || format!("the idle wait racing the unplug returned {waited:?}"),
    )?;
    expect(&mut out, ends_with(&hung.finished, Some(Errno::Enodev)), || {
        format!("the hung job ended with {:?}, not ENODEV", hung.finished.error())
    })?;
    out.jobs += 1;
    expect(&mut out, ioctl::callback_runs(&hung) == 1, || {
        "retire callback not once".into()
    })?;
    expect(
        &mut out,
        ioctl::gem_create(&ctx, 4096, 0) == Err(Errno::Enodev),
        || "an ioctl after the unplug did not fail with ENODEV".into(),
    )?;
    let mut back = vec![0u8; 4096];
    step(
        "reading the buffer after the unplug",
        ioctl::syscall(|| {
            let map = obj.vmap()?;
            let r = map.read(0, &mut back);
            obj.vunmap(map);
            r
        }),
    )?;
    expect(&mut out, back.iter().all(|b| *b == 0x11), || {
        "the buffer lost its contents".into()
    })?;
    drop(obj);
    teardown(gpu, ctx)?;
    Ok(out)
}

/// Seed "drm/tinydrm: Support device unplug": a USB display can go at any moment, with a
/// compositor flipping on it and its flush worker sending frames. Every entry point that
/// touches the hardware does so inside `drm_dev_enter`, so the disconnect's `drm_dev_unplug`
/// waits for a transfer in flight (what the grab-and-drop of `dirty_lock` was after), and
/// everything after it skips the hardware: the last commit, later flushes. The device
/// falls off the bus; a flush finds the transfer failing and leaves the unplug to the
/// disconnect, which runs on the USB core's thread while flips go on. The flips end with
/// `ENODEV`, every out-fence signals, the framebuffers user space holds keep their pixels.
fn tinydrm_unplug(bugs: Bugs) -> Result<ScenarioOutcome, WorkloadError> {
    let mut out = ScenarioOutcome::default();
    let dev = DrmDevice::new("card-usb", bugs);
    let gud = step("probe", GudDevice::probe(&dev))?;
    let display = gud.display().clone();
    let fbs = [
        step("create_fb", display.create_fb(64, 48))?,
        step("create_fb", display.create_fb(64, 48))?,
    ];
    for (k, fb) in fbs.iter().enumerate() {
        step("fill", ioctl::syscall(|| fb.fill(0x0020_4060 + k as u32)))?;
    }
    // The compositor: flips (every other one with an out-fence), each frame's damage flushed.
    let (g, f) = (gud.clone(), fbs.clone());
    let (first_tx, first_rx) = mpsc::channel::<()>();
    let flipper = thread::Builder::new()
        .name("compositor".into())
        .spawn(move || -> Result<(u64, Vec<Arc<SyncFile>>), Errno> {
            let mut fences = Vec::new();
            for i in 0..10_000u64 {
                let fb = &f[(i % 2) as usize];
                match ioctl::syscall(|| g.display().page_flip(0, fb.clone(), false, i % 2 == 0)) {
                    Ok(fence) => fences.extend(fence),
                    Err(Errno::Enodev) => return Ok((i, fences)),
                    Err(e) => return Err(e),
                }
                g.dirty(fb);
                if i == 3 {
                    let _ = first_tx.send(());
                }
            }
            Ok((10_000, fences))
        })
        .map_err(|e| WorkloadError::Invariant(format!("spawn: {e}")))?;
    if first_rx.recv_timeout(WATCHDOG).is_err() {
        return Err(WorkloadError::Stuck("the compositor made no flips".into()));
    }
    gud.flush();
    expect(&mut out, gud.flushed() > 0, || {
        "no frame reached the panel".into()
    })?;
    // The cable is pulled: the next transfer fails; the USB core disconnects on its thread.
    dev.surprise_removal();
    gud.dirty(&fbs[0]);
    gud.flush();
    expect(&mut out, gud.failed() > 0, || {
        "no transfer saw the device gone".into()
    })?;
    let g = gud.clone();
    bounded("usb-disconnect", move || g.disconnect())?;
    let (flips, fences) = flipper
        .join()
        .map_err(|_| WorkloadError::Invariant("the compositor panicked".into()))?
        .map_err(|e| WorkloadError::Invariant(format!("a flip failed with {e}, not ENODEV")))?;
    expect(&mut out, flips > 3 && flips < 10_000, || {
        format!("{flips} flips, the last not ENODEV")
    })?;
    for f in &fences {
        expect(&mut out, f.poll(WATCHDOG), || {
            "an out-fence never signalled".into()
        })?;
    }
    // After the unplug: flushes skip the hardware, flips fail, the buffers are intact.
    let skipped = gud.skipped();
    gud.dirty(&fbs[1]);
    gud.flush();
    expect(&mut out, gud.skipped() == skipped + 1, || {
        "a flush after the unplug was not skipped".into()
    })?;
    expect(
        &mut out,
        ioctl::syscall(|| display.page_flip(0, fbs[0].clone(), false, false)).err() == Some(Errno::Enodev),
        || "a flip after the unplug did not fail with ENODEV".into(),
    )?;
    for (k, fb) in fbs.iter().enumerate() {
        let px = step("reading pixels", ioctl::syscall(|| fb.pixels()))?;
        expect(&mut out, px.iter().all(|p| *p == 0x0020_4060 + k as u32), || {
            "a framebuffer lost its pixels".into()
        })?;
    }
    out.commits = display.commits();
    out.flips = display.flips();
    out.vblanks = display.vblanks();
    Ok(out)
}

/// Seed "dma-buf: add ioctls to sync_file import/export": a buffer one device exports carries
/// implicit fences; user space bridges them to explicit ones and back. A software producer
/// (a vgem fence, signalled by user space) writes the buffer; EXPORT_SYNC_FILE for a read
/// returns that write fence, pending until the producer signals; a render job's fence goes in
/// with IMPORT_SYNC_FILE (write), which drops the signalled producer fence's last reference
/// under the resv (S5) — its release must not take locks; a job on another device reading the
/// import implicitly waits for the imported fence.
fn sync_file_import_export(bugs: Bugs) -> Result<ScenarioOutcome, WorkloadError> {
    let mut out = ScenarioOutcome::default();
    let (gpu, ctx) = gpu_and_client("gfx", bugs)?;
    let (gpu2, ctx2) = gpu_and_client("disp", bugs)?;
    let bo = step("create", ioctl::gem_create(&ctx, 8192, 0x22))?;
    let obj = step("lookup", ioctl::lookup(&ctx, bo))?;
    let dmabuf = step("export", ioctl::syscall(|| DmaBuf::export(&obj)))?;
    let imported = step("import", ioctl::prime_fd_to_handle(&ctx2, &dmabuf))?;
    let vgem = step("vgem open", VgemFile::open(&gpu.dev))?;

    // The producer's write, as a user-signalled fence.
    let id = step(
        "vgem attach",
        ioctl::drm_ioctl(&ctx.file, |_| vgem.attach(&obj, true)),
    )?;
    let exported = step("EXPORT_SYNC_FILE", ioctl::export_sync_file(&dmabuf, false))?;
    expect(
        &mut out,
        !ioctl::sync_file_poll(&exported, Duration::ZERO),
        || "the exported sync_file signalled before the producer".into(),
    )?;
    step("vgem signal", ioctl::syscall(|| vgem.signal(id)))?;
    expect(&mut out, ioctl::sync_file_poll(&exported, WATCHDOG), || {
        "the exported sync_file did not signal with the producer".into()
    })?;
    drop(exported);

    // A render job (explicit sync: no buffers), its fence imported as the buffer's writer.
    let render = step(
        "submit",
        submit(&ctx, GpuCommand::run(Duration::from_millis(30)), &[]),
    )?;
    let rendered = SyncFile::create(render.finished.clone());
    let t0 = Instant::now();
    step(
        "IMPORT_SYNC_FILE",
        ioctl::import_sync_file(&dmabuf, &rendered, true),
    )?;
    drop(rendered);
    // The importer reads: implicit sync makes it wait for the imported write.
    let reader = step(
        "submit on the importer",
        submit(&ctx2, GpuCommand::default(), &[(imported, false)]),
    )?;
    expect(&mut out, ends_with(&render.finished, None), || {
        "the render job failed".into()
    })?;
    expect(&mut out, ends_with(&reader.finished, None), || {
        "the importer's job failed".into()
    })?;
    out.jobs += 2;
    let after = match (render.finished.timestamp(), reader.finished.timestamp()) {
        (Some(w), Some(r)) => r >= w,
        _ => false,
    };
    expect(
        &mut out,
        after && t0.elapsed() >= Duration::from_millis(30),
        || "the importer's read completed before the imported write".into(),
    )?;
    let again = step("EXPORT_SYNC_FILE", ioctl::export_sync_file(&dmabuf, true))?;
    expect(&mut out, again.get_fence().is_signaled(), || {
        "the buffer is not idle at the end".into()
    })?;
    vgem.flush_unpins();
    expect(&mut out, vgem.fence_page_pins() <= 1, || {
        format!(
            "the released fences left {} pins on the fence page",
            vgem.fence_page_pins()
        )
    })?;
    drop((obj, dmabuf, vgem));
    teardown(gpu2, ctx2)?;
    teardown(gpu, ctx)?;
    Ok(out)
}

/// Seed "drm/shmem-helper: Switch to reservation lock": pins, pages and vmaps live under the
/// GEM object's resv. A submit pins its buffers with the locked variant inside its
/// `drm_exec` transaction (the resv is already held there: the unlocked wrapper would re-take
/// it); outside, the unlocked wrappers take the resv themselves; the shrinker only trylocks
/// resvs, skips pinned objects and purges one marked DONTNEED.
fn shmem_resv(bugs: Bugs) -> Result<ScenarioOutcome, WorkloadError> {
    let mut out = ScenarioOutcome::default();
    let (gpu, ctx) = gpu_and_client("gfx", bugs)?;
    let bo = step("create", ioctl::gem_create(&ctx, 16384, 0x33))?;
    let obj: Arc<DrmGemObject> = step("lookup", ioctl::lookup(&ctx, bo))?;
    // Unlocked wrappers, no resv held.
    step("pin", ioctl::syscall(|| obj.pin()))?;
    expect(&mut out, obj.pin_count() == 1, || "pin did not count".into())?;
    let map = step("vmap", ioctl::syscall(|| obj.vmap()))?;
    // The submit path: locked pins inside drm_exec (refused and recovered with the bug),
    // dropped again before the submit returns.
    let pins = obj.pin_count();
    let recovered0 = ioctl::recovered_deadlocks();
    match submit(&ctx, GpuCommand::run(Duration::from_millis(2)), &[(bo, true)]) {
        Ok(job) => {
            expect(&mut out, ends_with(&job.finished, None), || {
                "the submit's job failed".into()
            })?;
            out.jobs += 1;
        }
        Err(Errno::Edeadlk)
            if bugs.has(Bug::PinWithResvHeld) && ioctl::recovered_deadlocks() > recovered0 => {}
        Err(e) => return Err(WorkloadError::Invariant(format!("submit: {e}"))),
    }
    expect(&mut out, obj.pin_count() == pins, || {
        format!("the submit left the pin count at {}, not {pins}", obj.pin_count())
    })?;
    // Memory pressure: the pinned, mapped object keeps its pages; the spare, resident through
    // a user mapping and marked DONTNEED, is purged.
    let spare = step("create", ioctl::gem_create(&ctx, 16384, 0x44))?;
    // Resident through a user mapping's fault (`&mm->mmap_lock` then the resv).
    let user_map = step("mmap", ioctl::gem_mmap(&ctx, spare))?;
    step("fault", ioctl::touch(&user_map, 0))?;
    step(
        "madvise",
        ioctl::gem_madvise(&ctx, spare, Madv::DontNeed, ctx.file.mm().mmap_anon(64)),
    )?;
    let spare_obj = step("lookup", ioctl::lookup(&ctx, spare))?;
    mm::shrink_all("drop_caches");
    expect(&mut out, !obj.is_purged(), || {
        "the shrinker purged a pinned object".into()
    })?;
    expect(&mut out, spare_obj.is_purged(), || {
        format!(
            "the shrinker left the DONTNEED object (pins {}, pages {}, evicted {})",
            spare_obj.pin_count(),
            spare_obj.has_pages(),
            spare_obj.is_evicted()
        )
    })?;
    let mut back = vec![0u8; 16384];
    step("read", map.read(0, &mut back))?;
    expect(&mut out, back.iter().all(|b| *b == 0x33), || {
        "the vmap lost its contents".into()
    })?;
    obj.vunmap(map);
    obj.unpin();
    expect(&mut out, obj.pin_count() == 0, || {
        format!("{} pins left after vunmap and unpin", obj.pin_count())
    })?;
    drop((obj, spare_obj, user_map));
    teardown(gpu, ctx)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::by_name(s.name()).map(Scenario::name), Some(s.name()));
            assert!(!s.description().contains('\t') && !s.description().contains('\n'));
        }
        let mut names: Vec<_> = Scenario::ALL.iter().map(Scenario::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Scenario::ALL.len());
        assert!(Scenario::by_name("no-such").is_none());
    }
}
