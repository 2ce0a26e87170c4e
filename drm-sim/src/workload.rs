//! `WorkloadConfig`, `Workload`, `Summary`: the run the `drm-sim` binary makes. No kernel
//! counterpart: simulates a desktop's worth of processes using several GPUs at once —
//! clients submitting work with dependencies on each other's fences, sharing buffers between
//! devices, faulting, under memory pressure, with GPU hangs and a hot-unplug at the end.
//!
//! # Contract
//! - [`WorkloadConfig`] holds every knob of a run (the binary's flags map 1:1 onto it).
//! - [`Workload::run`] primes the boot-time orders (`dma_resv_lockdep`, `mm::prime`), starts
//!   kswapd, probes one [`SimGpu`] per device (TDR timeout on the device's clock, see
//!   [`tdr_timeout`]) and exports shared buffers from each device, then runs one thread per
//!   client until the duration has passed (or [`WorkloadConfig::jobs`] jobs were submitted).
//!   Each client is a process: an [`MmStruct`] and one [`Context`] (open file + entity) per
//!   device, calling the entry points of [`crate::ioctl`], each a system call. A client's
//!   loop first tours every operation once (so each code path, and each injected bug, is
//!   reached within its first iterations), then picks them at random from its seed:
//!   - submit (most of the time): buffers locked with `drm_exec` (private ones and shared
//!     imports, read or write: implicit sync across clients and devices), explicit in-fences
//!     taken from other clients' recent jobs on any device, usually on the client's home
//!     device, sometimes on another; at most [`WINDOW`] jobs in flight, then the oldest is
//!     waited for and retired;
//!   - a page fault through a GEM mapping (`&mm->mmap_lock` → resv), madvise, a CPU copy
//!     between two buffers, a VM bind (allocation under `&vm->lock`), a fence-status query,
//!     a wait-for-idle, a CPU_PREP/CPU_FINI pair (a cache flush inside `drm_dev_enter`), a
//!     timestamp query that wakes the GPU through runtime PM (which autosuspends it again);
//!   - the dma-buf/sync_file bridge of DRM-RULES §3.2: EXPORT_SYNC_FILE from a shared buffer,
//!     merge with the client's own out-fence, poll, IMPORT_SYNC_FILE into another shared
//!     buffer, and the merged fence as the next submit's in-fence;
//!   - vgem fences: one attached to an exported buffer, signalled, then replaced by an
//!     IMPORT_SYNC_FILE (its final put under the resv); one used with two other in-fences (a
//!     `dma_fence_array`) whose signalling is enabled while the vgem fence is pending;
//!   - a userptr: populate, and now and then munmap (mmu notifier) and rebind.
//! - GPU hangs: client `d` submits one hanging job on device `d` at 20 % (+5 % per device) of
//!   the run; the TDR recovers it (`-ETIMEDOUT`) and that client's later jobs there complete.
//! - Memory pressure through the middle third of the run (kswapd and direct reclaim run the GEM
//!   shrinkers), then a forced drop-caches.
//! - Unplug (unless disabled), at 90 % of the run: the main thread submits a hanging job and
//!   one behind it on device 0, waits until the first runs, and device 0 falls off the bus
//!   while clients are still submitting: on an "unplug" thread the driver's device-lost
//!   handler finds its registers reading all-ones and unplugs it. Checked afterwards: both jobs end
//!   with an error, opening device 0 and its ioctls fail with `ENODEV`, the dma-buf calls on
//!   its exported buffers still work, and those buffers still read back their contents
//!   through another device's import.
//! - Displays: every GPU device also drives a two-CRTC display (as an amdgpu or i915 does);
//!   a vkms-like display device scans out a buffer card0 exported, and keeps showing it after
//!   card0's unplug; a USB display ([`GudDevice`]), whose flush worker sends every frame, is
//!   disconnected halfway through the run (unless the unplug is disabled). Each display has a
//!   [`Compositor`]: blocking and nonblocking flips with out-fences, VT switches with fbdev
//!   panning. The unplug of card0 also finishes its display with commits and vblanks in
//!   flight. At the end the compositors are stopped and checked, the panic handler runs once
//!   (unless [`WorkloadConfig::panic`] is off) and must draw its message on every display
//!   still up, then the displays are finished.
//! - Checked for every job: its retire callback ran exactly once (none twice; as many as
//!   jobs in total), its fence signalled within [`WAIT_LIMIT`], and a job that completed
//!   without error completed after each of its explicit dependencies. Any broken invariant is
//!   a [`WorkloadError::Invariant`]; a client, or the unplug, still running [`WATCHDOG`] after
//!   the end is a [`WorkloadError::Stuck`] naming it.
//! - The progress callback runs about ten times a second on the calling thread.
//!
//! # Locking
//! None of its own: every lock is the modules'. The fences clients pass each other (user space
//! sharing syncobjs) sit in a plain `std` mutex per device, invisible to the validator as user
//! space is.
//!
//! # Annotations
//! Every entry point is a system call (see [`crate::ioctl`]).
//!
//! # Rules
//! Exercises §3.1 (submission), §3.2 (sync_file bridging), §3.3 (atomic commits), §3.4
//! (unplug with jobs, commits and scan-out in flight), §3.5 (panic), §3.6 (shrinker), and
//! through them R1–R34.
//!
//! # Simplified
//! One engine per device; user memory holds only submit arguments and userptr ranges; jobs
//! write nothing to their buffers, so shared buffers keep their initial contents (which is
//! what the after-unplug read checks).

use crate::bugs::Bugs;
use crate::clock::Clock;
use crate::compositor::{AfterFlip, Compositor};
use crate::dma_buf::DmaBuf;
use crate::dma_fence::{dma_fence_get_stub, DmaFence};
use crate::dma_resv::dma_resv_lockdep;
use crate::drm_drv::DrmDevice;
use crate::drm_gem::{self, Madv};
use crate::drm_gem_shmem_helper::{DrmGemShmemObject, GemMapping};
use crate::drm_panic::{message_visible, PanicInjector};
use crate::error::{Errno, KResult};
use crate::gpu::GpuCommand;
use crate::gud::GudDevice;
use crate::ioctl::{self, Context, SubmitArgs, SubmitBo, Submitted};
use crate::mm::{self, MmStruct};
use crate::sim_display::SimDisplay;
use crate::sim_driver::SimGpu;
use crate::sync_file::SyncFile;
use crate::userptr::Userptr;
use crate::vgem_fence::VgemFile;
use crate::wait::Completion;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the clients (and the unplug) may take to finish once the run is over before the
/// run counts as stuck.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Jobs a client keeps in flight before it waits for the oldest.
pub const WINDOW: usize = 4;

/// How long any job's fence may take to signal before the run counts as broken (every fence
/// is finite: the TDR or the unplug completes it well before this).
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Size of each GEM buffer the workload creates.
const BO_SIZE: usize = 16 * 1024;

/// Recent out-fences kept per device for other clients to depend on.
const BOARD_LEN: usize = 8;

/// Names of the GPUs (scheduler names are `&'static str`, as the kernel's).
const GPU_NAMES: [&str; 16] = [
    "gfx0", "gfx1", "gfx2", "gfx3", "gfx4", "gfx5", "gfx6", "gfx7", "gfx8", "gfx9", "gfx10", "gfx11",
    "gfx12", "gfx13", "gfx14", "gfx15",
];

/// The TDR timeout of a run of `duration`: a tenth of it, between 50 ms and 250 ms, so even a
/// one-second run sees its hangs recovered long before the unplug.
pub fn tdr_timeout(duration: Duration) -> Duration {
    (duration / 10).clamp(Duration::from_millis(50), Duration::from_millis(250))
}

/// Every knob of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// Seeds every pseudo-random choice: one seed, one sequence of choices per client.
    pub seed: u64,
    /// How long clients submit.
    pub duration: Duration,
    /// Stop once this many jobs were submitted (if sooner than `duration`): a fixed amount of
    /// work, for benchmarks.
    pub jobs: Option<u64>,
    /// Client threads.
    pub clients: usize,
    /// Simulated devices; clients are spread over them.
    pub devices: usize,
    /// Simulated GPU time per job (zero: jobs complete at once, the run is CPU-bound).
    pub gpu_time: Duration,
    /// Injected bugs.
    pub bugs: Bugs,
    /// Hot-unplug device 0 near the end, with work in flight.
    pub unplug: bool,
    /// Run the panic handler once at the end (it draws into every display's scan-out).
    pub panic: bool,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            seed: 1,
            duration: Duration::from_secs(8),
            jobs: None,
            clients: 4,
            devices: 2,
            gpu_time: Duration::from_micros(200),
            bugs: Bugs::NONE,
            unplug: true,
            panic: true,
        }
    }
}

/// What the progress callback sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Time since the clients started.
    pub elapsed: Duration,
    /// Jobs completed so far.
    pub jobs: u64,
    /// Fences signalled so far.
    pub fences: u64,
    /// Page faults so far.
    pub faults: u64,
    /// Reclaim passes so far.
    pub reclaim_passes: u64,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Jobs completed (retired by their client), with or without an error.
    pub jobs: u64,
    /// Of those, jobs that ended with an error (hung, cancelled by a reset, killed by the
    /// unplug).
    pub jobs_failed: u64,
    /// Time the clients ran.
    pub elapsed: Duration,
    /// Fences signalled.
    pub fences: u64,
    /// Submit-to-signal latencies of every job's fence, sorted, in microseconds.
    pub fence_latencies_us: Vec<u64>,
    /// Page faults handled.
    pub faults: u64,
    /// Reclaim passes.
    pub reclaim_passes: u64,
    /// Timeouts handled by the TDR.
    pub tdr: u64,
    /// Whether a device was unplugged.
    pub unplugged: bool,
    /// Calls that returned `ENODEV` (after the unplug).
    pub enodev: u64,
    /// Self-deadlocks the validator refused and the task recovered from.
    pub recovered: u64,
    /// Atomic commits done on the display devices.
    pub commits: u64,
    /// Page flips completed (their flip events sent).
    pub flips: u64,
    /// Vblank interrupts handled.
    pub vblanks: u64,
    /// Whether the panic handler at the end drew its message into a scan-out buffer.
    pub panic_drawn: bool,
    /// Runtime-PM resumes of the GPUs.
    pub rpm_resumes: u64,
    /// Runtime-PM suspends of the GPUs (autosuspend included).
    pub rpm_suspends: u64,
    /// Lockdep reports made during the run.
    pub reports: usize,
    /// The validator's counters at the end.
    pub lockdep: lockdep::Stats,
}

impl Summary {
    /// Jobs per second of client time.
    pub fn jobs_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.jobs as f64 / s
        } else {
            0.0
        }
    }

    /// The `p`-th percentile (0–100) of the fence latencies, in microseconds (0 if none).
    pub fn fence_percentile_us(&self, p: u32) -> u64 {
        let v = &self.fence_latencies_us;
        if v.is_empty() {
            return 0;
        }
        let rank = (v.len() - 1) * p.min(100) as usize / 100;
        v[rank]
    }

    /// The machine-readable last line of the binary's stdout.
    pub fn summary_line(&self) -> String {
        format!(
            "summary: jobs={} jobs_per_s={:.1} fences={} fence_p50_us={} fence_p99_us={} faults={} \
             reclaim_passes={} tdr={} unplugged={} reports={} jobs_failed={} enodev={} recovered={} \
             commits={} flips={} vblanks={} panic_drawn={} rpm_resumes={} rpm_suspends={} \
             elapsed_s={:.3} lockdep_classes={} lockdep_dependencies={} lockdep_chains={}",
            self.jobs,
            self.jobs_per_s(),
            self.fences,
            self.fence_percentile_us(50),
            self.fence_percentile_us(99),
            self.faults,
            self.reclaim_passes,
            self.tdr,
            self.unplugged,
            self.reports,
            self.jobs_failed,
            self.enodev,
            self.recovered,
            self.commits,
            self.flips,
            self.vblanks,
            self.panic_drawn,
            self.rpm_resumes,
            self.rpm_suspends,
            self.elapsed.as_secs_f64(),
            self.lockdep.classes,
            self.lockdep.dependencies,
            self.lockdep.chains,
        )
    }

    /// The readable summary: throughput, latency percentiles, lockdep statistics.
    pub fn readable(&self) -> Vec<String> {
        vec![
            format!(
                "jobs:      {} in {:.2} s ({:.1} jobs/s), {} ended with an error",
                self.jobs,
                self.elapsed.as_secs_f64(),
                self.jobs_per_s(),
                self.jobs_failed
            ),
            format!(
                "fences:    {} signalled; submit-to-signal p50 {} us, p99 {} us",
                self.fences,
                self.fence_percentile_us(50),
                self.fence_percentile_us(99)
            ),
            format!(
                "memory:    {} page faults, {} reclaim passes",
                self.faults, self.reclaim_passes
            ),
            format!(
                "devices:   {} TDR recoveries; {}; {} calls returned ENODEV",
                self.tdr,
                if self.unplugged {
                    "device 0 hot-unplugged"
                } else {
                    "no unplug"
                },
                self.enodev
            ),
            format!(
                "displays:  {} commits, {} flips, {} vblanks; panic screen {}; {} runtime-PM resumes",
                self.commits,
                self.flips,
                self.vblanks,
                if self.panic_drawn { "drawn" } else { "not drawn" },
                self.rpm_resumes
            ),
            format!(
                "lockdep:   {} reports; {} classes, {} dependencies, {} chains; {} refused self-deadlocks recovered",
                self.reports, self.lockdep.classes, self.lockdep.dependencies, self.lockdep.chains, self.recovered
            ),
        ]
    }
}

/// Why a run failed (the binary's exit status 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadError {
    /// A functional invariant broke.
    Invariant(String),
    /// A thread did not finish in time.
    Stuck(String),
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadError::Invariant(s) => write!(f, "invariant broken: {s}"),
            WorkloadError::Stuck(s) => write!(f, "stuck: {s}"),
        }
    }
}

impl std::error::Error for WorkloadError {}

/// SplitMix64: the per-client choices, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Counters every thread adds to.
#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    jobs: AtomicU64,
    jobs_failed: AtomicU64,
    fences: AtomicU64,
    enodev: AtomicU64,
}

/// A buffer one device exports and every device imports.
struct Shared {
    dmabuf: Arc<DmaBuf>,
    fill: u8,
    exporter: usize,
}

/// What every thread of a run shares.
struct Run {
    cfg: WorkloadConfig,
    gpus: Vec<Arc<SimGpu>>,
    /// Recent out-fences per device (user space passing syncobjs around).
    boards: Vec<StdMutex<VecDeque<Arc<DmaFence>>>>,
    shared: Vec<Shared>,
    stop: AtomicBool,
    counters: Counters,
    start: Instant,
}

impl Run {
    fn stopped(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        match self.cfg.jobs {
            Some(n) if self.counters.submitted.load(Ordering::Relaxed) >= n => {
                self.stop.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    fn publish(&self, dev: usize, fence: &Arc<DmaFence>) {
        let mut b = self.boards[dev].lock().unwrap_or_else(|e| e.into_inner());
        if b.len() == BOARD_LEN {
            b.pop_front();
        }
        b.push_back(fence.clone());
    }

    fn pick_board(&self, dev: usize, rng: &mut Rng) -> Option<Arc<DmaFence>> {
        let b = self.boards[dev].lock().unwrap_or_else(|e| e.into_inner());
        if b.is_empty() {
            None
        } else {
            b.get(rng.below(b.len())).cloned()
        }
    }
}

fn broken(msg: String) -> WorkloadError {
    WorkloadError::Invariant(msg)
}

/// A client's state on one device.
struct OnDevice {
    ctx: Arc<Context>,
    private: [u32; 2],
    scratch: u32,
    /// Handles of the shared buffers on this device, with their index in `Run::shared`.
    shared: Vec<(u32, usize)>,
    /// Exported buffer that vgem fences go on (home device only).
    vgem_buf: Option<(u32, Arc<DmaBuf>)>,
    vgem_plain: Option<u32>,
    vgem: Option<Arc<VgemFile>>,
    map: Option<GemMapping>,
    last: Option<Arc<DmaFence>>,
}

/// One job a client waits for.
struct InFlight {
    job: Submitted,
    dev: usize,
    t0: Instant,
    hang: bool,
    /// Submitted after this client's hung job was retired (so it must be able to complete).
    after_hang: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Submit,
    Fault,
    SyncFile,
    Madvise,
    Copy,
    VmBind,
    VgemRelease,
    VgemArray,
    Userptr,
    Status,
    WaitIdle,
    CpuPrep,
    Timestamp,
}

/// The first iterations of every client: each operation once, submits first so that the
/// others find fences and completed jobs.
const TOUR: [Op; 15] = [
    Op::Submit,
    Op::Submit,
    Op::Submit,
    Op::VmBind,
    Op::Fault,
    Op::Madvise,
    Op::Copy,
    Op::CpuPrep,
    Op::Timestamp,
    Op::Status,
    Op::SyncFile,
    Op::VgemRelease,
    Op::VgemArray,
    Op::Userptr,
    Op::WaitIdle,
];

/// After the tour: (weight, operation).
const MIX: [(u64, Op); 13] = [
    (70, Op::Submit),
    (8, Op::Fault),
    (5, Op::SyncFile),
    (2, Op::Madvise),
    (3, Op::Copy),
    (2, Op::VmBind),
    (2, Op::VgemRelease),
    (2, Op::VgemArray),
    (2, Op::Userptr),
    (3, Op::Status),
    (1, Op::WaitIdle),
    (2, Op::CpuPrep),
    (2, Op::Timestamp),
];

fn pick(rng: &mut Rng) -> Op {
    let total: u64 = MIX.iter().map(|(w, _)| w).sum();
    let mut r = rng.next() % total;
    for (w, op) in MIX {
        if r < w {
            return op;
        }
        r -= w;
    }
    Op::Submit
}

/// What a client hands back.
#[derive(Default)]
struct ClientResult {
    latencies: Vec<u64>,
    callbacks: u64,
}

struct Client<'a> {
    index: usize,
    run: &'a Run,
    rng: Rng,
    mm: Arc<MmStruct>,
    args: u64,
    devs: Vec<Option<OnDevice>>,
    home: usize,
    in_flight: VecDeque<InFlight>,
    /// A merged sync_file fence waiting to be the next submit's in-fence.
    pending_in: Option<Arc<DmaFence>>,
    userptr: Option<(Arc<Userptr>, u64)>,
    /// The retire counters of every context this client opened (they outlive the contexts:
    /// jobs of a forgotten device still retire).
    stats: Vec<Arc<ioctl::RetireStats>>,
    hang: HangState,
    result: ClientResult,
}

/// This client's injected hang, if it has one.
#[derive(Default)]
struct HangState {
    device: Option<usize>,
    at: Duration,
    submitted: bool,
    retired: bool,
    later_retired: u64,
    recovered: bool,
}

impl<'a> Client<'a> {
    fn new(index: usize, run: &'a Run) -> Result<Client<'a>, WorkloadError> {
        let mm = MmStruct::new();
        let args = mm.mmap_anon(4096);
        let ndev = run.gpus.len();
        let mut c = Client {
            index,
            run,
            rng: Rng(run.cfg.seed ^ (index as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)),
            mm,
            args,
            devs: Vec::new(),
            home: index % ndev,
            in_flight: VecDeque::new(),
            pending_in: None,
            userptr: None,
            stats: Vec::new(),
            hang: HangState::default(),
            result: ClientResult::default(),
        };
        if index < ndev {
            c.hang.device = Some(index);
            c.hang.at = run.cfg.duration.mul_f64(0.2 + 0.05 * index as f64);
        }
        ioctl::syscall(|| c.mm.copy_to_user(args, &[index as u8; ioctl::SUBMIT_ARGS_SIZE]))
            .map_err(|e| broken(format!("client{index}: writing its arguments: {e}")))?;
        for d in 0..ndev {
            let on = c.open(d)?;
            if let Some(o) = &on {
                c.stats.push(o.ctx.retired.clone());
            }
            c.devs.push(on);
        }
        let len = 4 * mm::PAGE_SIZE;
        let addr = c.mm.mmap_anon(len);
        c.userptr = Some((Userptr::new(&c.mm, run.cfg.bugs, addr, len), len));
        Ok(c)
    }

    /// Opens device `d`: a context, two private buffers, a scratch buffer, the shared
    /// buffers' imports, and on the home device a mapping and the vgem buffers. `None` if the
    /// device is gone.
    fn open(&mut self, d: usize) -> Result<Option<OnDevice>, WorkloadError> {
        let run = self.run;
        let i = self.index;
        let fail = |what: &str, e: Errno| broken(format!("client{i}: {what} on card{d}: {e}"));
        let ctx = match Context::open(&run.gpus[d], self.mm.clone()) {
            Ok(c) => c,
            Err(Errno::Enodev) => return Ok(None),
            Err(e) => return Err(fail("open", e)),
        };
        let create = |fill: u8| ioctl::gem_create(&ctx, BO_SIZE, fill);
        let made = (|| -> KResult<_> { Ok(([create(1)?, create(2)?], create(3)?)) })();
        let (private, scratch) = match made {
            Ok(v) => v,
            Err(Errno::Enodev) => return Ok(None),
            Err(e) => return Err(fail("creating buffers", e)),
        };
        let mut shared = Vec::new();
        for (k, s) in run.shared.iter().enumerate() {
            match ioctl::prime_fd_to_handle(&ctx, &s.dmabuf) {
                Ok(h) => shared.push((h, k)),
                Err(Errno::Enodev) => return Ok(None),
                Err(e) => return Err(fail("importing", e)),
            }
        }
        let mut on = OnDevice {
            ctx,
            private,
            scratch,
            shared,
            vgem_buf: None,
            vgem_plain: None,
            vgem: None,
            map: None,
            last: None,
        };
        if d == self.home {
            let r = (|| -> KResult<()> {
                on.map = Some(ioctl::gem_mmap(&on.ctx, on.private[0])?);
                let vb = ioctl::gem_create(&on.ctx, 4096, 4)?;
                let obj = ioctl::lookup(&on.ctx, vb)?;
                on.vgem_buf = Some((vb, ioctl::syscall(|| DmaBuf::export(&obj))?));
                on.vgem_plain = Some(ioctl::gem_create(&on.ctx, 4096, 5)?);
                on.vgem = Some(VgemFile::open(&run.gpus[d].dev)?);
                Ok(())
            })();
            match r {
                Ok(()) | Err(Errno::Enodev) => {}
                Err(e) => return Err(fail("setting up", e)),
            }
        }
        Ok(Some(on))
    }

    /// Handles a failed call: `ENODEV` on an unplugged device is counted (and the device
    /// forgotten), the expected errors listed in `ok` are ignored, anything else breaks the run.
    fn check(&mut self, d: usize, what: &str, r: KResult, ok: &[Errno]) -> Result<(), WorkloadError> {
        match r {
            Ok(()) => Ok(()),
            Err(Errno::Enodev) if self.run.gpus[d].dev.is_unplugged() => {
                self.run.counters.enodev.fetch_add(1, Ordering::Relaxed);
                self.forget(d);
                Ok(())
            }
            Err(e) if ok.contains(&e) => Ok(()),
            Err(e) => Err(broken(format!("client{}: {what} on card{d}: {e}", self.index))),
        }
    }

    /// Stops using device `d` (it was unplugged): its file is closed when its last job retired.
    fn forget(&mut self, d: usize) {
        if let Some(on) = self.devs[d].take() {
            drop(on.map);
            if let Some(v) = on.vgem {
                v.flush_unpins();
            }
            on.ctx.file.close();
        }
    }

    /// A device to work on: usually home, sometimes another, never a gone one.
    fn device(&mut self) -> Option<usize> {
        let n = self.devs.len();
        let want = if n > 1 && self.rng.chance(20) {
            (self.home + 1 + self.rng.below(n - 1)) % n
        } else {
            self.home
        };
        (0..n).map(|k| (want + k) % n).find(|d| self.devs[*d].is_some())
    }

    fn run(mut self) -> Result<ClientResult, WorkloadError> {
        let mut step = 0usize;
        while !self.run.stopped() {
            let op = if step < TOUR.len() {
                TOUR[step]
            } else {
                pick(&mut self.rng)
            };
            step += 1;
            let Some(d) = self.device() else {
                break; // every device is gone
            };
            self.op(op, d)?;
            while self.in_flight.len() > WINDOW {
                self.retire_oldest()?;
            }
        }
        while !self.in_flight.is_empty() {
            self.retire_oldest()?;
        }
        self.finish()
    }

    fn op(&mut self, op: Op, d: usize) -> Result<(), WorkloadError> {
        match op {
            Op::Submit => self.submit(d),
            Op::Fault => {
                let off = self.rng.below(BO_SIZE);
                let Some(map) = self.devs[self.home].as_ref().and_then(|o| o.map.as_ref()) else {
                    return Ok(());
                };
                let r = ioctl::touch(map, off).map(|_| ());
                self.check(self.home, "page fault", r, &[])
            }
            Op::SyncFile => self.sync_file(d),
            Op::Madvise => {
                let on = self.devs[d].as_ref().expect("picked a present device");
                let (ctx, h, args) = (on.ctx.clone(), on.scratch, self.args);
                let r = ioctl::gem_madvise(&ctx, h, Madv::DontNeed, args).and_then(|_| {
                    if ioctl::gem_madvise(&ctx, h, Madv::WillNeed, args)? {
                        return Ok(h);
                    }
                    // Purged meanwhile: a new scratch buffer.
                    ioctl::gem_close(&ctx, h)?;
                    ioctl::gem_create(&ctx, BO_SIZE, 3)
                });
                if let (Ok(n), Some(on)) = (&r, self.devs[d].as_mut()) {
                    on.scratch = *n;
                }
                self.check(d, "madvise", r.map(|_| ()), &[])
            }
            Op::Copy => {
                let on = self.devs[d].as_ref().expect("picked a present device");
                let r = ioctl::gem_copy(&on.ctx, on.private[1], on.private[0], 4096);
                self.check(d, "copy", r, &[])
            }
            Op::VmBind => {
                let on = self.devs[d].as_ref().expect("picked a present device");
                let r = ioctl::vm_bind(&on.ctx, 4096).map(|_| ());
                self.check(d, "vm bind", r, &[])
            }
            Op::Status => {
                let on = self.devs[d].as_ref().expect("picked a present device");
                let Some(f) = on.last.clone() else { return Ok(()) };
                let r = ioctl::fence_status(&on.ctx, &f).map(|_| ());
                self.check(d, "fence status", r, &[])
            }
            Op::WaitIdle => {
                let on = self.devs[d].as_ref().expect("picked a present device");
                let Some(f) = on.last.clone() else { return Ok(()) };
                let r = ioctl::wait_idle(&on.ctx, &f);
                self.check(d, "wait idle", r, &[Errno::Etimedout])
            }
            Op::CpuPrep => {
                let on = self.devs[d].as_ref().expect("picked a present device");
                let (ctx, h) = (on.ctx.clone(), on.private[self.rng.below(2)]);
                // A short wait: a buffer still busy is an expected ETIMEDOUT.
                let r = ioctl::gem_cpu_prep(&ctx, h, true, Duration::from_millis(1))
                    .and_then(|access| ioctl::gem_cpu_fini(&ctx, access));
                self.check(d, "cpu prep", r, &[Errno::Etimedout])
            }
            Op::Timestamp => {
                let on = self.devs[d].as_ref().expect("picked a present device");
                let r = ioctl::get_timestamp(&on.ctx).map(|_| ());
                // EAGAIN: runtime PM already disabled by an unplug in progress.
                self.check(d, "timestamp", r, &[Errno::Eagain])
            }
            Op::VgemRelease => self.vgem_release(),
            Op::VgemArray => self.vgem_array(),
            Op::Userptr => self.userptr(),
        }
    }

    /// The submit ioctl with buffers and in-fences chosen at random.
    fn submit(&mut self, d: usize) -> Result<(), WorkloadError> {
        let elapsed = self.run.start.elapsed();
        let hang = self.hang.device == Some(d) && !self.hang.submitted && elapsed >= self.hang.at;
        let on = self.devs[d].as_ref().expect("picked a present device");
        let mut bos = vec![SubmitBo {
            handle: on.private[self.rng.below(2)],
            write: true,
        }];
        if !hang && !on.shared.is_empty() && self.rng.chance(50) {
            let (h, _) = on.shared[self.rng.below(on.shared.len())];
            bos.push(SubmitBo {
                handle: h,
                write: self.rng.chance(30),
            });
        }
        let mut in_fences = Vec::new();
        if !hang {
            for _ in 0..self.rng.below(3) {
                let from = self.rng.below(self.run.gpus.len());
                if let Some(f) = self.run.pick_board(from, &mut self.rng) {
                    in_fences.push(f);
                }
            }
            in_fences.extend(self.pending_in.take());
        }
        let cmd = if hang {
            GpuCommand::hang()
        } else {
            GpuCommand::run(self.run.cfg.gpu_time)
        };
        self.submit_with(d, cmd, in_fences, bos, hang).map(|_| ())
    }

    /// Submits and tracks one job; returns it, or `None` if the call failed acceptably.
    fn submit_with(
        &mut self,
        d: usize,
        cmd: GpuCommand,
        in_fences: Vec<Arc<DmaFence>>,
        bos: Vec<SubmitBo>,
        hang: bool,
    ) -> Result<Option<Submitted>, WorkloadError> {
        let on = self.devs[d].as_ref().expect("picked a present device");
        let args = SubmitArgs {
            cmd,
            in_fences,
            bos,
            user_args: self.args,
        };
        let job = match ioctl::submit(&on.ctx, &args) {
            Ok(j) => j,
            Err(e) => {
                // EDEADLK: a self-deadlock the validator refused (pin-with-resv-held).
                self.check(d, "submit", Err(e), &[Errno::Edeadlk])?;
                return Ok(None);
            }
        };
        self.run.counters.submitted.fetch_add(1, Ordering::Relaxed);
        self.run.publish(d, &job.finished);
        if let Some(on) = self.devs[d].as_mut() {
            on.last = Some(job.finished.clone());
        }
        if hang {
            self.hang.submitted = true;
        }
        self.in_flight.push_back(InFlight {
            job: job.clone(),
            dev: d,
            t0: Instant::now(),
            hang,
            after_hang: self.hang.retired && self.hang.device == Some(d),
        });
        Ok(Some(job))
    }

    /// Waits for the oldest job and checks it.
    fn retire_oldest(&mut self) -> Result<(), WorkloadError> {
        let Some(j) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let i = self.index;
        let f = &j.job.finished;
        if ioctl::fence_wait(f, WAIT_LIMIT).is_err() {
            return Err(broken(format!(
                "client{i}: a job on card{} did not complete within {} s",
                j.dev,
                WAIT_LIMIT.as_secs()
            )));
        }
        let runs = match self.devs[j.dev].as_ref() {
            Some(on) => ioctl::retire(&on.ctx, &j.job),
            None => ioctl::callback_runs(&j.job),
        };
        if runs > 1 {
            return Err(broken(format!(
                "client{i}: a job's retire callback ran {runs} times"
            )));
        }
        let done = f
            .timestamp()
            .ok_or_else(|| broken(format!("client{i}: a signalled fence has no timestamp")))?;
        self.result
            .latencies
            .push(done.saturating_duration_since(j.t0).as_micros() as u64);
        self.run.counters.jobs.fetch_add(1, Ordering::Relaxed);
        self.run.counters.fences.fetch_add(1, Ordering::Relaxed);
        let error = f.error();
        if error.is_some() {
            self.run.counters.jobs_failed.fetch_add(1, Ordering::Relaxed);
        } else {
            for dep in &j.job.deps {
                let before = dep.test_signaled_flag() && dep.timestamp().is_some_and(|t| t <= done);
                if !before {
                    return Err(broken(format!(
                        "client{i}: a job on card{} completed before its dependency ({} {})",
                        j.dev,
                        dep.driver_name(),
                        dep.timeline_name()
                    )));
                }
            }
        }
        if j.hang {
            if error.is_none() {
                return Err(broken(format!(
                    "client{i}: the hung job on card{} completed without an error",
                    j.dev
                )));
            }
            self.hang.retired = true;
        } else if j.after_hang {
            self.hang.later_retired += 1;
            self.hang.recovered |= error.is_none();
        }
        Ok(())
    }

    /// EXPORT_SYNC_FILE, merge, poll, IMPORT_SYNC_FILE (DRM-RULES §3.2).
    fn sync_file(&mut self, d: usize) -> Result<(), WorkloadError> {
        let n = self.run.shared.len();
        if n == 0 {
            return Ok(());
        }
        let a = &self.run.shared[self.rng.below(n)];
        let b = &self.run.shared[self.rng.below(n)];
        let write = self.rng.chance(50);
        let own = self.devs[d]
            .as_ref()
            .and_then(|o| o.last.clone())
            .unwrap_or_else(dma_fence_get_stub);
        let r = (|| -> KResult<Arc<DmaFence>> {
            let exported = ioctl::export_sync_file(&a.dmabuf, write)?;
            let mine = SyncFile::create(own);
            let merged = ioctl::sync_file_merge(&exported, &mine)?;
            ioctl::sync_file_poll(&merged, Duration::from_micros(100));
            ioctl::import_sync_file(&b.dmabuf, &mine, false)?;
            Ok(merged.get_fence())
        })();
        match r {
            Ok(f) => {
                self.pending_in = Some(f);
                Ok(())
            }
            Err(e) => Err(broken(format!("client{}: sync_file bridge: {e}", self.index))),
        }
    }

    /// A vgem fence on the exported vgem buffer, signalled, then replaced by an
    /// IMPORT_SYNC_FILE: its final put happens under that buffer's resv (S5's path).
    fn vgem_release(&mut self) -> Result<(), WorkloadError> {
        let h = self.home;
        let Some(on) = self.devs[h].as_ref() else {
            return Ok(());
        };
        let (Some(v), Some((handle, buf))) = (on.vgem.clone(), on.vgem_buf.clone()) else {
            return Ok(());
        };
        let own = on.last.clone().unwrap_or_else(dma_fence_get_stub);
        let ctx = on.ctx.clone();
        let r = (|| -> KResult {
            let obj = ioctl::lookup(&ctx, handle)?;
            let id = ioctl::drm_ioctl(&ctx.file, |_| v.attach(&obj, true))?;
            // Signalled through vgem's own node, which this device's unplug does not take
            // away: a fence user space created is always signalled (R5), not left to its timer.
            ioctl::syscall(|| {
                v.signal(id)
                    .or_else(|e| if e == Errno::Etimedout { Ok(()) } else { Err(e) })
            })?;
            ioctl::import_sync_file(&buf, &SyncFile::create(own), true)
        })();
        self.check(h, "vgem fence", r, &[Errno::Ebusy])
    }

    /// A vgem fence and two other in-fences waited for as one array; user space waits on the
    /// array (enabling its signalling) while the vgem fence is pending, then signals it.
    fn vgem_array(&mut self) -> Result<(), WorkloadError> {
        let h = self.home;
        let Some(on) = self.devs[h].as_ref() else {
            return Ok(());
        };
        let (Some(v), Some(plain)) = (on.vgem.clone(), on.vgem_plain) else {
            return Ok(());
        };
        let ctx = on.ctx.clone();
        let own = on.last.clone().unwrap_or_else(dma_fence_get_stub);
        let private = on.private[0];
        let id = match ioctl::lookup(&ctx, plain)
            .and_then(|obj| ioctl::drm_ioctl(&ctx.file, |_| v.attach(&obj, false)))
        {
            Ok(id) => id,
            Err(e) => return self.check(h, "vgem attach", Err(e), &[Errno::Ebusy]),
        };
        let Some(vf) = v.fence(id) else {
            return Err(broken(format!(
                "client{}: an attached vgem fence is not in the table",
                self.index
            )));
        };
        let other = self
            .run
            .pick_board(h, &mut self.rng)
            .unwrap_or_else(dma_fence_get_stub);
        let bos = vec![SubmitBo {
            handle: private,
            write: true,
        }];
        let job = self.submit_with(
            h,
            GpuCommand::run(self.run.cfg.gpu_time),
            vec![vf, own, other],
            bos,
            false,
        )?;
        if let Some(array) = job.as_ref().and_then(|j| j.deps.first()) {
            // Pending until the vgem fence is signalled below: a timeout is expected.
            let _ = ioctl::fence_wait(array, Duration::from_micros(100));
        }
        // Through vgem's own node, as above: also after this device's unplug.
        let r = ioctl::syscall(|| v.signal(id));
        self.check(h, "vgem signal", r, &[Errno::Etimedout])
    }

    /// Populates the userptr; now and then unmaps its range (the mmu notifier runs) and
    /// rebinds it to a new one.
    fn userptr(&mut self) -> Result<(), WorkloadError> {
        let Some((u, len)) = self.userptr.clone() else {
            return Ok(());
        };
        let r = ioctl::syscall(|| u.populate().map(|_| ()));
        self.check(self.home, "userptr populate", r, &[Errno::Eagain])?;
        if let Some(f) = self.devs[self.home].as_ref().and_then(|o| o.last.clone()) {
            u.add_fence(f);
        }
        if self.rng.chance(50) {
            let old = u.start();
            let r = ioctl::syscall(|| self.mm.munmap(old));
            self.check(self.home, "munmap", r, &[])?;
            let addr = self.mm.mmap_anon(len);
            u.rebind(addr, len);
        }
        Ok(())
    }

    /// Checks the hang's recovery, closes every file.
    fn finish(mut self) -> Result<ClientResult, WorkloadError> {
        let i = self.index;
        if let Some(d) = self.hang.device {
            if self.hang.retired
                && self.hang.later_retired >= 3
                && !self.hang.recovered
                && !self.run.gpus[d].dev.is_unplugged()
            {
                return Err(broken(format!(
                    "client{i}: after the TDR on card{d}, none of its {} later jobs there completed",
                    self.hang.later_retired
                )));
            }
        }
        for d in 0..self.devs.len() {
            self.forget(d);
        }
        self.result.callbacks = self
            .stats
            .iter()
            .map(|s| s.callbacks.load(Ordering::Relaxed))
            .sum();
        Ok(std::mem::take(&mut self.result))
    }
}

/// The main thread's in-flight probe on device 0 and the checks after its unplug.
/// Returns how many jobs the probe submitted.
fn unplug_device0(run: &Run) -> Result<u64, WorkloadError> {
    let gpu = &run.gpus[0];
    let mm = MmStruct::new();
    let args = mm.mmap_anon(4096);
    let probe = match Context::open(gpu, mm) {
        Ok(c) => c,
        Err(e) => return Err(broken(format!("unplug probe: open: {e}"))),
    };
    let fail = |what: &str, e: Errno| broken(format!("unplug probe: {what}: {e}"));
    let bo = ioctl::gem_create(&probe, BO_SIZE, 9).map_err(|e| fail("create", e))?;
    let submit = |cmd| {
        let a = SubmitArgs {
            cmd,
            in_fences: Vec::new(),
            bos: vec![SubmitBo {
                handle: bo,
                write: true,
            }],
            user_args: args,
        };
        ioctl::submit(&probe, &a)
    };
    // A job on the hardware when the device goes away, and one queued behind it; none if
    // the validator refuses a self-deadlock in every submit (`pin-with-resv-held`).
    let jobs = match submit(GpuCommand::hang()) {
        Ok(stuck) => vec![
            stuck,
            submit(GpuCommand::run(run.cfg.gpu_time)).map_err(|e| fail("submit", e))?,
        ],
        Err(Errno::Edeadlk) => Vec::new(),
        Err(e) => return Err(fail("submit", e)),
    };
    run.counters
        .submitted
        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
    if let Some(stuck) = jobs.first() {
        ioctl::fence_wait(&stuck.scheduled, WAIT_LIMIT)
            .map_err(|e| fail("waiting for the probe to run", e))?;
    }
    // The device falls off the bus; the driver's device-lost handler notices on a thread of
    // its own and unplugs it (the bus's remove callback, should the handler miss it).
    let removed = Arc::new(Completion::new("unplug_done"));
    let (lost, r2) = (gpu.clone(), removed.clone());
    let unplugger = thread::Builder::new()
        .name("unplug".into())
        .spawn(move || {
            lost.dev.surprise_removal();
            if !lost.handle_device_lost() {
                lost.dev.unplug();
            }
            r2.complete();
        })
        .map_err(|e| broken(format!("spawn unplug: {e}")))?;
    if !removed.wait_for_completion_timeout(WATCHDOG) {
        return Err(WorkloadError::Stuck(format!(
            "unplug: drm_dev_unplug of card0 still running {} s later",
            WATCHDOG.as_secs()
        )));
    }
    let _ = unplugger.join();
    for (what, job) in ["the running job", "the queued job"].into_iter().zip(&jobs) {
        ioctl::fence_wait(&job.finished, WAIT_LIMIT)
            .map_err(|_| broken(format!("after unplug: {what} on card0 never completed")))?;
        if job.finished.error().is_none() {
            return Err(broken(format!(
                "after unplug: {what} on card0 completed without an error"
            )));
        }
        run.counters.jobs.fetch_add(1, Ordering::Relaxed);
        run.counters.jobs_failed.fetch_add(1, Ordering::Relaxed);
        run.counters.fences.fetch_add(1, Ordering::Relaxed);
        if ioctl::retire(&probe, job) != 1 {
            return Err(broken(format!(
                "after unplug: the retire callback of {what} did not run once"
            )));
        }
    }
    // ENODEV where the kernel returns it ...
    if ioctl::gem_create(&probe, 4096, 0) != Err(Errno::Enodev) {
        return Err(broken(
            "after unplug: an ioctl on card0 did not return ENODEV".into(),
        ));
    }
    if Context::open(gpu, MmStruct::new()).err() != Some(Errno::Enodev) {
        return Err(broken("after unplug: opening card0 did not return ENODEV".into()));
    }
    run.counters.enodev.fetch_add(2, Ordering::Relaxed);
    probe.file.close();
    // ... and success where it keeps working: the dma-buf calls, and reading the buffers
    // card0 exported through another device's import.
    for s in run.shared.iter().filter(|s| s.exporter == 0) {
        ioctl::export_sync_file(&s.dmabuf, true)
            .map_err(|e| broken(format!("after unplug: EXPORT_SYNC_FILE on card0's buffer: {e}")))?;
        let readers: Vec<_> = (1..run.gpus.len()).map(|d| &run.gpus[d].dev).collect();
        let mut contents = vec![0u8; BO_SIZE];
        let r = ioctl::syscall(|| match readers.first() {
            Some(dev) => {
                let obj = s.dmabuf.import(dev)?;
                let map = obj.vmap()?;
                let r = map.read(0, &mut contents);
                obj.vunmap(map);
                r
            }
            None => {
                let map = s.dmabuf.vmap_unlocked()?;
                let r = map.read(0, &mut contents);
                s.dmabuf.vunmap_unlocked(map);
                r
            }
        });
        r.map_err(|e| broken(format!("after unplug: reading card0's shared buffer: {e}")))?;
        if contents.iter().any(|b| *b != s.fill) {
            return Err(broken(
                "after unplug: card0's shared buffer lost its contents".into(),
            ));
        }
    }
    Ok(jobs.len() as u64)
}

/// Vblank period of the workload's displays.
const DISPLAY_PERIOD: Duration = Duration::from_millis(8);

/// CRTCs (and primary planes) per display of a GPU device.
const DISPLAY_CRTCS: usize = 2;

/// What the panic at the end of the run prints.
pub const PANIC_MESSAGE: &str = "drm-sim: end of run";

/// The run's displays: one on every GPU device, a vkms-like display device scanning out a
/// buffer card0 exported, and a USB display that is disconnected halfway through.
struct Displays {
    compositors: Vec<Compositor>,
    usb: Arc<GudDevice>,
    usb_unplugged: bool,
}

impl Displays {
    /// The USB display's cable is pulled with its compositor flipping and frames being sent
    /// (once it has sent its first): a transfer fails, then the USB core's disconnect runs on
    /// a thread of its own.
    fn unplug_usb(&mut self) -> Result<(), WorkloadError> {
        self.usb_unplugged = true;
        let usb = self.usb.clone();
        let done = Arc::new(Completion::new("usb_disconnect_done"));
        let d = done.clone();
        let t = thread::Builder::new()
            .name("usb-disconnect".into())
            .spawn(move || {
                // Pulled once it has shown something (a slow start must not skip the race).
                usb.wait_flushed(1, WATCHDOG);
                usb.display().dev().surprise_removal();
                usb.flush();
                usb.disconnect();
                d.complete();
            })
            .map_err(|e| broken(format!("spawn usb-disconnect: {e}")))?;
        if !done.wait_for_completion_timeout(WATCHDOG) {
            return Err(WorkloadError::Stuck(format!(
                "usb-disconnect still running {} s later",
                WATCHDOG.as_secs()
            )));
        }
        let _ = t.join();
        Ok(())
    }
}

fn start_displays(run: &Run) -> Result<Displays, WorkloadError> {
    let mut compositors = Vec::new();
    let start = |display: &Arc<SimDisplay>, import, hook| {
        let colour = 0x0010_2030u32.wrapping_mul(display_colour(display));
        Compositor::start_with(display, colour, import, hook)
            .map_err(|e| broken(format!("compositor on {}: {e}", display.dev().name())))
    };
    for (d, gpu) in run.gpus.iter().enumerate() {
        let display = SimDisplay::with_period(&gpu.dev, DISPLAY_CRTCS, DISPLAY_PERIOD)
            .map_err(|e| broken(format!("display on card{d}: {e}")))?;
        compositors.push(start(&display, None, None)?);
    }
    let clock = run.gpus[0].dev.clock();
    let vkms = DrmDevice::with_clock("card-vkms", run.cfg.bugs, clock.clone());
    let display = SimDisplay::with_period(&vkms, 1, DISPLAY_PERIOD)
        .map_err(|e| broken(format!("the vkms display: {e}")))?;
    let import = match run.shared.iter().find(|s| s.exporter == 0) {
        Some(s) => Some(
            ioctl::syscall(|| s.dmabuf.import(&vkms))
                .map_err(|e| broken(format!("card-vkms importing card0's buffer for scan-out: {e}")))?,
        ),
        None => None,
    };
    compositors.push(start(&display, import, None)?);
    let usb_dev = DrmDevice::with_clock("card-usb", run.cfg.bugs, clock);
    let usb = GudDevice::probe(&usb_dev).map_err(|e| broken(format!("the USB display: {e}")))?;
    let u = usb.clone();
    let hook: AfterFlip = Box::new(move |fb| u.dirty(fb));
    compositors.push(start(usb.display(), None, Some(hook))?);
    Ok(Displays {
        compositors,
        usb,
        usb_unplugged: false,
    })
}

/// A colour per display (by device number).
fn display_colour(display: &SimDisplay) -> u32 {
    display.dev().index() + 1
}

/// What the displays did.
#[derive(Default)]
struct DisplayTotals {
    commits: u64,
    flips: u64,
    vblanks: u64,
    panic_drawn: bool,
}

/// Stops the compositors and checks them: each flipped; an unplugged device's display is
/// finished; the buffer card-vkms scans out for card0 kept card0's contents; the USB display
/// sent frames before its disconnect and none after. Then the panic handler, once, on the
/// displays still up (unless disabled): it must draw its message into each one's scan-out.
/// Then every display is finished.
fn finish_displays(run: &Run, displays: Displays) -> Result<DisplayTotals, WorkloadError> {
    let Displays { compositors, usb, .. } = displays;
    let mut shown = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut fail = |msg: String| failures.push(msg);
    for c in compositors {
        let display = c.display().clone();
        let name = display.dev().name().to_string();
        let imported = c.imported().cloned();
        match c.finish() {
            Ok(s) if s.flips == 0 => fail(format!("compositor on {name}: no flip")),
            Ok(_) => {}
            Err(e) => fail(format!("compositor on {name}: {e}")),
        }
        if display.dev().was_unplugged() && !display.is_finished() {
            fail(format!("{name} unplugged, its display still up"));
        }
        if let Some(fb) = imported {
            let want = run
                .shared
                .iter()
                .find(|s| s.exporter == 0)
                .map(|s| u32::from_le_bytes([s.fill; 4]));
            match ioctl::syscall(|| fb.pixels()) {
                Ok(px) if want.is_some_and(|w| px.iter().all(|p| *p == w)) => {}
                Ok(_) => fail(format!(
                    "{name}: the buffer it scans out for card0 lost its contents"
                )),
                Err(e) => fail(format!("{name}: reading the buffer it scans out for card0: {e}")),
            }
        }
        shown.push(display);
    }
    if usb.flushed() == 0 {
        fail("the USB display never sent a frame".into());
    }
    let mut panic_drawn = false;
    if run.cfg.panic {
        let live: Vec<_> = shown.iter().filter(|d| !d.is_finished()).collect();
        let cfgs = live.iter().map(|d| d.mode_config().clone()).collect();
        let outcome = PanicInjector::spawn(cfgs, PANIC_MESSAGE, Duration::ZERO).join();
        for d in &live {
            let fb = d.mode_config().planes()[0].state().fb.clone();
            if !fb.is_some_and(|fb| message_visible(&fb, PANIC_MESSAGE).unwrap_or(false)) {
                fail(format!(
                    "the panic handler did not draw on {} ({outcome:?})",
                    d.dev().name()
                ));
            }
        }
        panic_drawn = outcome.drawn > 0;
    }
    let mut t = DisplayTotals {
        panic_drawn,
        ..DisplayTotals::default()
    };
    for d in &shown {
        d.fini();
        t.commits += d.commits();
        t.flips += d.flips();
        t.vblanks += d.vblanks();
    }
    match failures.first() {
        Some(f) => Err(broken(f.clone())),
        None => Ok(t),
    }
}

/// Runs workloads.
pub struct Workload;

impl Workload {
    /// Runs `cfg` (see the module documentation), calling `progress` about ten times a second.
    ///
    /// # Errors
    /// A [`WorkloadError`] if an invariant broke or a thread got stuck.
    pub fn run(cfg: &WorkloadConfig, mut progress: impl FnMut(&Progress)) -> Result<Summary, WorkloadError> {
        dma_resv_lockdep();
        mm::prime();
        mm::start_kswapd();
        let faults0 = mm::faults();
        let passes0 = mm::reclaim_passes();
        let recovered0 = ioctl::recovered_deadlocks();
        let clock = Clock::real();
        let ndev = cfg.devices.clamp(1, GPU_NAMES.len());
        let timeout = tdr_timeout(cfg.duration);
        let mut gpus = Vec::new();
        for name in GPU_NAMES.iter().take(ndev) {
            let dev = crate::drm_drv::DrmDevice::with_clock(&format!("card-{name}"), cfg.bugs, clock.clone());
            let gpu = SimGpu::new(&dev, name, |a| {
                a.timeout = Some(timeout);
                a.credit_limit = 32;
            })
            .map_err(|e| broken(format!("probing {name}: {e}")))?;
            gpus.push(Arc::new(gpu));
        }
        // Two shared buffers per device, filled, exported (the compositor's and a video
        // decoder's, say).
        let mut shared = Vec::new();
        for (d, gpu) in gpus.iter().enumerate() {
            for k in 0..2u8 {
                let fill = 0x40 + (d as u8) * 2 + k;
                let made = ioctl::syscall(|| {
                    let obj = DrmGemShmemObject::create(&gpu.dev, BO_SIZE)?;
                    let map = obj.vmap()?;
                    let r = map.write(0, &vec![fill; BO_SIZE]);
                    obj.vunmap(map);
                    r?;
                    DmaBuf::export(&obj)
                });
                let dmabuf = made.map_err(|e| broken(format!("exporting from card{d}: {e}")))?;
                shared.push(Shared {
                    dmabuf,
                    fill,
                    exporter: d,
                });
            }
        }
        let run = Arc::new(Run {
            cfg: cfg.clone(),
            boards: (0..ndev).map(|_| StdMutex::new(VecDeque::new())).collect(),
            gpus,
            shared,
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            start: Instant::now(),
        });
        let mut displays = start_displays(&run)?;
        let nclients = cfg.clients.max(1);
        // Completed by the last client to return (the watchdog waits on it).
        let finished = Arc::new(Completion::new("clients_done"));
        let running = Arc::new(AtomicU64::new(nclients as u64));
        let done: Arc<Vec<AtomicBool>> = Arc::new((0..nclients).map(|_| AtomicBool::new(false)).collect());
        let handles: Vec<_> = (0..nclients)
            .map(|i| {
                let (run, finished, running, done) =
                    (run.clone(), finished.clone(), running.clone(), done.clone());
                thread::Builder::new()
                    .name(format!("client{i}"))
                    .spawn(move || {
                        let body = || Client::new(i, &run).and_then(Client::run);
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                            .unwrap_or_else(|_| Err(broken(format!("client{i} panicked"))));
                        if r.is_err() {
                            // A broken client ends the run for everyone.
                            run.stop.store(true, Ordering::Relaxed);
                        }
                        done[i].store(true, Ordering::Release);
                        if running.fetch_sub(1, Ordering::AcqRel) == 1 {
                            finished.complete();
                        }
                        r
                    })
                    .map_err(|e| broken(format!("spawn client: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let tick = Duration::from_millis(100);
        let mut unplugged = false;
        let mut pressure_on = false;
        let mut result = Ok(0);
        loop {
            let elapsed = run.start.elapsed();
            if elapsed >= cfg.duration || run.stop.load(Ordering::Relaxed) {
                break;
            }
            // Memory pressure through the middle of the run; unplug near its end.
            let third = cfg.duration / 3;
            if !pressure_on && elapsed >= third && elapsed < 2 * third {
                mm::set_memory_pressure(20);
                pressure_on = true;
            } else if pressure_on && elapsed >= 2 * third {
                mm::set_memory_pressure(0);
                mm::shrink_all("drop_caches");
                pressure_on = false;
            }
            if cfg.unplug && !displays.usb_unplugged && elapsed >= cfg.duration / 2 {
                if let Err(e) = displays.unplug_usb() {
                    result = Err(e);
                    break;
                }
            }
            if cfg.unplug && !unplugged && elapsed >= cfg.duration.mul_f64(0.9) {
                unplugged = true;
                result = unplug_device0(&run);
                if result.is_err() {
                    break;
                }
            }
            progress(&Progress {
                elapsed,
                jobs: run.counters.jobs.load(Ordering::Relaxed),
                fences: run.counters.fences.load(Ordering::Relaxed),
                faults: mm::faults() - faults0,
                reclaim_passes: mm::reclaim_passes() - passes0,
            });
            // Sleeps until the next tick (the clients run to the deadline, or all stop early).
            if finished.wait_for_completion_timeout(tick.min(cfg.duration.saturating_sub(elapsed))) {
                finished.complete(); // keep it completed for the watchdog below
                break;
            }
        }
        if result.is_ok() && cfg.unplug && !displays.usb_unplugged {
            result = displays.unplug_usb().map(|()| 0);
        }
        if result.is_ok() && cfg.unplug && !unplugged {
            unplugged = true;
            result = unplug_device0(&run);
        }
        if pressure_on {
            mm::set_memory_pressure(0);
            mm::shrink_all("drop_caches");
        }
        run.stop.store(true, Ordering::Relaxed);
        let elapsed = run.start.elapsed();
        if !finished.wait_for_completion_timeout(WATCHDOG) {
            let stuck: Vec<String> = (0..nclients)
                .filter(|i| !done[*i].load(Ordering::Acquire))
                .map(|i| format!("client{i}"))
                .collect();
            return Err(WorkloadError::Stuck(format!(
                "{} still running {} s after the end of the run",
                stuck.join(", "),
                WATCHDOG.as_secs()
            )));
        }
        let mut latencies = Vec::new();
        let mut callbacks = 0;
        for (i, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok(Ok(r)) => {
                    latencies.extend(r.latencies);
                    callbacks += r.callbacks;
                }
                Ok(Err(e)) => result = result.and(Err(e)),
                Err(_) => result = result.and(Err(broken(format!("client{i} panicked")))),
            }
        }
        let shown = match finish_displays(&run, displays) {
            Ok(s) => s,
            Err(e) => {
                result = result.and(Err(e));
                DisplayTotals::default()
            }
        };
        for gpu in &run.gpus {
            gpu.fini();
        }
        let tdr = run.gpus.iter().map(|g| g.driver.resets()).sum();
        let pms: Vec<_> = run
            .gpus
            .iter()
            .map(|g| crate::pm_runtime::device_pm(&g.dev))
            .collect();
        let rpm_resumes = pms.iter().map(|p| p.resumes()).sum();
        let rpm_suspends = pms.iter().map(|p| p.suspends()).sum();
        drm_gem::flush_free_work();
        mm::stop_kswapd();
        latencies.sort_unstable();
        let c = &run.counters;
        let submitted = c.submitted.load(Ordering::Relaxed);
        let jobs = c.jobs.load(Ordering::Relaxed);
        // The probe's two jobs are counted by the unplug, not by a client.
        let probe = result?;
        if jobs != submitted || callbacks + probe != submitted {
            return Err(broken(format!(
                "{submitted} jobs submitted, {jobs} retired, {} retire callbacks",
                callbacks + probe
            )));
        }
        Ok(Summary {
            jobs,
            jobs_failed: c.jobs_failed.load(Ordering::Relaxed),
            elapsed,
            fences: c.fences.load(Ordering::Relaxed),
            fence_latencies_us: latencies,
            faults: mm::faults() - faults0,
            reclaim_passes: mm::reclaim_passes() - passes0,
            tdr,
            unplugged,
            enodev: c.enodev.load(Ordering::Relaxed),
            recovered: ioctl::recovered_deadlocks() - recovered0,
            commits: shown.commits,
            flips: shown.flips,
            vblanks: shown.vblanks,
            panic_drawn: shown.panic_drawn,
            rpm_resumes,
            rpm_suspends,
            reports: 0,
            lockdep: lockdep::stats(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(lat: Vec<u64>) -> Summary {
        Summary {
            jobs: 10,
            jobs_failed: 1,
            elapsed: Duration::from_secs(2),
            fences: 10,
            fence_latencies_us: lat,
            faults: 3,
            reclaim_passes: 4,
            tdr: 0,
            unplugged: true,
            enodev: 2,
            recovered: 0,
            commits: 4,
            flips: 3,
            vblanks: 9,
            panic_drawn: true,
            rpm_resumes: 2,
            rpm_suspends: 2,
            reports: 0,
            lockdep: lockdep::Stats::default(),
        }
    }

    #[test]
    fn summary_line_has_every_promised_key_in_order() {
        let line = summary((1..=100).collect()).summary_line();
        assert!(line.starts_with("summary: "));
        let keys: Vec<&str> = line["summary: ".len()..]
            .split(' ')
            .map(|kv| kv.split_once('=').expect("key=value").0)
            .collect();
        for k in [
            "jobs",
            "jobs_per_s",
            "fences",
            "fence_p50_us",
            "fence_p99_us",
            "faults",
            "reclaim_passes",
            "tdr",
            "unplugged",
            "reports",
            "commits",
            "flips",
            "vblanks",
            "panic_drawn",
        ] {
            assert!(keys.contains(&k), "{k} missing from {line}");
        }
        assert!(line.contains(" jobs_per_s=5.0 "), "{line}");
        assert!(
            line.contains(" fence_p50_us=50 ") && line.contains(" fence_p99_us=99 "),
            "{line}"
        );
        assert!(line.contains(" unplugged=true "), "{line}");
        assert!(
            line.contains(" commits=4 flips=3 vblanks=9 panic_drawn=true "),
            "{line}"
        );
    }

    #[test]
    fn percentiles_of_no_latencies_are_zero() {
        let s = summary(Vec::new());
        assert_eq!((s.fence_percentile_us(50), s.fence_percentile_us(99)), (0, 0));
        assert_eq!(summary(vec![7]).fence_percentile_us(99), 7);
    }

    #[test]
    fn a_short_clean_run_completes_jobs_and_unplugs() {
        let _s = crate::testing::serial();
        let cfg = WorkloadConfig {
            duration: Duration::from_millis(300),
            clients: 2,
            devices: 2,
            gpu_time: Duration::ZERO,
            ..WorkloadConfig::default()
        };
        let mut ticks = 0;
        let s = Workload::run(&cfg, |_| ticks += 1).expect("runs");
        assert!(s.jobs > 0 && s.fences == s.jobs, "{s:?}");
        assert!(s.unplugged);
        assert!(ticks > 0);
        assert!(crate::testing::kinds().is_empty(), "a clean run reports nothing");
    }
}
