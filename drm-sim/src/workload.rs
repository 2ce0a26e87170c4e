//! `WorkloadConfig`, `Workload`, `Summary`: the run the `drm-sim` binary makes. No kernel
//! counterpart: simulates a desktop's worth of clients using several GPUs.
//!
//! # Contract
//! - [`WorkloadConfig`] holds every knob of a run (the binary's flags map 1:1 onto it).
//! - [`Workload::run`] builds the devices, runs one thread per client until the duration has
//!   passed, optionally hot-unplugs device 0 with work still in flight, and returns a
//!   [`Summary`]; it calls the progress callback about ten times a second from the calling
//!   thread. A client still running 30 s after the end is reported as stuck (a watchdog),
//!   by name.
//! - [`Summary::summary_line`] is the machine-readable `summary: key=value ...` line;
//!   [`Summary::readable`] the lines a person reads above it.
//!
//! # Locking
//! - `&dev->gem_lru_mutex` (mutex): the buffer cache every client refills and the shrinker
//!   trims (by trylock, R11).
//!
//! # Annotations
//! - Each client iteration is a system call (`lockdep::syscall`), so anything still held when
//!   it returns is reported.
//!
//! # Rules
//! - Exercises R2/R11 (allocations under pressure, shrinker trylocks), R9 (user copies with no
//!   lock held), R26–R28 (enter sections end before fence waits and before returning to user)
//!   and §3.4 (unplug with jobs in flight).
//!
//! # Simplified
//! - This is the interim workload over the layers that exist so far (devices, files, user
//!   memory, reclaim, workqueues, fences): a job is a fence that a delayed work on the
//!   device's queue signals after the simulated GPU time. The scheduler, GEM/resv, dma-buf,
//!   GPU engine and TDR paths of the full workload are not wired in yet, so `tdr` is always 0
//!   and injected bugs have no effect on this run.

use crate::bugs::Bugs;
use crate::clock::Clock;
use crate::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
use crate::drm_drv::{DrmDevice, DrmFile};
use crate::error::Errno;
use crate::mm::{self, MmStruct, Shrinker, GFP_KERNEL};
use crate::wait::Completion;
use crate::workqueue::{DelayedWork, Workqueue, WQ_MEM_RECLAIM};
use lockdep::{LockClass, Mutex};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

static GEM_LRU_MUTEX: LockClass = LockClass::new("&dev->gem_lru_mutex");

/// How long the clients may take to stop once the run is over before the run counts as stuck.
const WATCHDOG: Duration = Duration::from_secs(30);

/// Every knob of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// Seeds every pseudo-random choice: one seed, one sequence of choices per client.
    pub seed: u64,
    /// How long clients submit.
    pub duration: Duration,
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
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            seed: 1,
            duration: Duration::from_secs(8),
            clients: 4,
            devices: 2,
            gpu_time: Duration::from_micros(200),
            bugs: Bugs::NONE,
            unplug: true,
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
    /// Jobs completed.
    pub jobs: u64,
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
             reclaim_passes={} tdr={} unplugged={} reports={} elapsed_s={:.2} lockdep_classes={} \
             lockdep_dependencies={} lockdep_chains={}",
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
                "jobs:      {} in {:.2} s ({:.1} jobs/s)",
                self.jobs,
                self.elapsed.as_secs_f64(),
                self.jobs_per_s()
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
                "devices:   {} TDR recoveries; {}",
                self.tdr,
                if self.unplugged {
                    "device 0 hot-unplugged"
                } else {
                    "no unplug"
                }
            ),
            format!(
                "lockdep:   {} reports; {} classes, {} dependencies, {} chains",
                self.reports, self.lockdep.classes, self.lockdep.dependencies, self.lockdep.chains
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

/// The fences of the interim GPU.
struct GpuFenceOps;

impl DmaFenceOps for GpuFenceOps {
    fn get_driver_name(&self) -> &'static str {
        "drm-sim"
    }
    fn get_timeline_name(&self) -> &'static str {
        "gpu"
    }
}

/// Command buffers kept for reuse: what the shrinker gives back under pressure.
struct BufferCache {
    lru: Mutex<Vec<Vec<u8>>>,
}

impl Shrinker for BufferCache {
    fn name(&self) -> &str {
        "drm-sim-buffers"
    }
    fn count_objects(&self) -> usize {
        self.lru.try_lock().map_or(0, |l| l.len())
    }
    fn scan_objects(&self, nr_to_scan: usize) -> usize {
        // Reclaim may not block on a lock held around allocations (R11).
        let Some(mut lru) = self.lru.try_lock() else {
            return mm::SHRINK_STOP;
        };
        let n = nr_to_scan.min(lru.len());
        let keep = lru.len() - n;
        lru.truncate(keep);
        n
    }
}

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
}

#[derive(Default)]
struct Counters {
    jobs: AtomicU64,
    fences: AtomicU64,
}

struct Device {
    dev: Arc<DrmDevice>,
    queue: Arc<Workqueue>,
    context: u64,
    seqno: AtomicU64,
}

/// One client: open a file, then submit, copy results to user memory and wait, until told to
/// stop or the device goes away.
fn client(
    index: usize,
    cfg: &WorkloadConfig,
    dev: &Device,
    cache: &BufferCache,
    stop: &AtomicBool,
    counters: &Counters,
) -> Result<Vec<u64>, WorkloadError> {
    let mut rng = Rng(cfg.seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mm = MmStruct::new();
    let user = mm.mmap_anon(64 * 1024);
    let file = match DrmFile::open(&dev.dev, mm.clone()) {
        Ok(f) => f,
        Err(Errno::Enodev) => return Ok(Vec::new()),
        Err(e) => return Err(WorkloadError::Invariant(format!("open failed: {e}"))),
    };
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let _ioctl = lockdep::syscall();
        // The submit ioctl: arguments from user memory, a command buffer, a fence.
        let mut args = [0u8; 64];
        let off = rng.next() % (64 * 1024 - 64);
        if let Err(e) = file.mm().copy_from_user(&mut args, user + off) {
            return Err(WorkloadError::Invariant(format!("copy_from_user: {e}")));
        }
        let buf = cache.lru.lock().pop();
        let buf = match buf {
            Some(b) => b,
            None => mm::kmalloc(4096, GFP_KERNEL)
                .map_err(|e| WorkloadError::Invariant(format!("kmalloc: {e}")))?,
        };
        let fence;
        {
            let Some(_enter) = dev.dev.enter() else {
                break; // ENODEV: the device is gone
            };
            dev.dev.mmio_write(0, rng.next() as u32);
            let seqno = dev.seqno.fetch_add(1, Ordering::Relaxed);
            fence = DmaFence::init(Arc::new(GpuFenceOps), dev.context, seqno);
            let f = fence.clone();
            let signalled = Arc::new(AtomicBool::new(false));
            let s = signalled.clone();
            let job = DelayedWork::with_clock(
                "(work_completion)(&(&job->work)->work)",
                &dev.dev.clock(),
                move || {
                    if !s.swap(true, Ordering::AcqRel) {
                        let _ = f.signal();
                    }
                },
            );
            dev.queue.queue_delayed_work(&job, cfg.gpu_time);
        }
        let t0 = Instant::now();
        fence
            .wait(false)
            .map_err(|e| WorkloadError::Invariant(format!("fence wait: {e}")))?;
        latencies.push(t0.elapsed().as_micros() as u64);
        counters.fences.fetch_add(1, Ordering::Relaxed);
        // Results back to user memory (no lock held: R9), then the buffer goes to the cache.
        if let Err(e) = file.mm().put_user(user + (off & !7), fence.seqno()) {
            return Err(WorkloadError::Invariant(format!("put_user: {e}")));
        }
        {
            let mut lru = cache.lru.lock();
            if lru.len() < 256 {
                lru.push(buf);
            }
        }
        counters.jobs.fetch_add(1, Ordering::Relaxed);
    }
    file.close();
    Ok(latencies)
}

/// Runs workloads.
pub struct Workload;

impl Workload {
    /// Runs `cfg` (see the module documentation), calling `progress` about ten times a second.
    ///
    /// # Errors
    /// A [`WorkloadError`] if a client broke an invariant or a thread got stuck.
    pub fn run(cfg: &WorkloadConfig, mut progress: impl FnMut(&Progress)) -> Result<Summary, WorkloadError> {
        mm::prime();
        mm::start_kswapd();
        let faults0 = mm::faults();
        let passes0 = mm::reclaim_passes();
        let cache = Arc::new(BufferCache {
            lru: Mutex::with_class(Vec::new(), &GEM_LRU_MUTEX),
        });
        let shrinker = mm::register_shrinker(cache.clone());
        let clock = Clock::real();
        let devices: Vec<Arc<Device>> = (0..cfg.devices.max(1))
            .map(|i| {
                let dev = DrmDevice::with_clock(&format!("card{i}"), cfg.bugs, clock.clone());
                let queue = Workqueue::alloc_ordered(&format!("card{i}-gpu"), WQ_MEM_RECLAIM);
                Arc::new(Device {
                    dev,
                    queue,
                    context: dma_fence_context_alloc(1),
                    seqno: AtomicU64::new(1),
                })
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let nclients = cfg.clients.max(1);
        // Completed by the last client to return (the watchdog waits on it).
        let finished = Arc::new(Completion::new("clients_done"));
        let running = Arc::new(AtomicU64::new(nclients as u64));
        let done: Arc<Vec<AtomicBool>> = Arc::new((0..nclients).map(|_| AtomicBool::new(false)).collect());
        let start = Instant::now();
        let handles: Vec<_> = (0..nclients)
            .map(|i| {
                let (cfg, dev, cache) = (cfg.clone(), devices[i % devices.len()].clone(), cache.clone());
                let (stop, counters) = (stop.clone(), counters.clone());
                let (finished, running, done) = (finished.clone(), running.clone(), done.clone());
                thread::Builder::new()
                    .name(format!("client{i}"))
                    .spawn(move || {
                        let r = client(i, &cfg, &dev, &cache, &stop, &counters);
                        done[i].store(true, Ordering::Release);
                        if running.fetch_sub(1, Ordering::AcqRel) == 1 {
                            finished.complete();
                        }
                        r
                    })
                    .map_err(|e| WorkloadError::Invariant(format!("spawn client: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let tick = Duration::from_millis(100);
        let mut unplugged = false;
        let mut pressure_on = false;
        loop {
            let elapsed = start.elapsed();
            if elapsed >= cfg.duration {
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
            if cfg.unplug && !unplugged && elapsed >= cfg.duration.mul_f64(0.9) {
                devices[0].dev.unplug();
                unplugged = true;
            }
            progress(&Progress {
                elapsed,
                jobs: counters.jobs.load(Ordering::Relaxed),
                fences: counters.fences.load(Ordering::Relaxed),
                faults: mm::faults() - faults0,
                reclaim_passes: mm::reclaim_passes() - passes0,
            });
            // Sleeps until the next tick (the clients run to the deadline, or all stop early
            // when their devices are gone).
            if finished.wait_for_completion_timeout(tick.min(cfg.duration - elapsed)) {
                finished.complete(); // keep it completed for the watchdog below
                break;
            }
        }
        if cfg.unplug && !unplugged {
            devices[0].dev.unplug();
            unplugged = true;
        }
        stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed();
        mm::set_memory_pressure(0);
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
        for (i, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok(Ok(l)) => latencies.extend(l),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(WorkloadError::Invariant(format!("client{i} panicked"))),
            }
        }
        for d in &devices {
            d.queue.destroy();
        }
        drop(shrinker);
        mm::stop_kswapd();
        latencies.sort_unstable();
        let jobs = counters.jobs.load(Ordering::Relaxed);
        let fences = counters.fences.load(Ordering::Relaxed);
        if fences != jobs {
            return Err(WorkloadError::Invariant(format!(
                "{jobs} jobs but {fences} fences"
            )));
        }
        Ok(Summary {
            jobs,
            elapsed,
            fences,
            fence_latencies_us: latencies,
            faults: mm::faults() - faults0,
            reclaim_passes: mm::reclaim_passes() - passes0,
            tdr: 0,
            unplugged,
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
            elapsed: Duration::from_secs(2),
            fences: 10,
            fence_latencies_us: lat,
            faults: 3,
            reclaim_passes: 4,
            tdr: 0,
            unplugged: true,
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
        ] {
            assert!(keys.contains(&k), "{k} missing from {line}");
        }
        assert!(line.contains(" jobs_per_s=5.0 "), "{line}");
        assert!(
            line.contains(" fence_p50_us=50 ") && line.contains(" fence_p99_us=99 "),
            "{line}"
        );
        assert!(line.contains(" unplugged=true "), "{line}");
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
