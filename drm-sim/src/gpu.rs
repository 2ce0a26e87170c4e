//! `GpuEngine`: a simulated GPU engine with its ring and interrupt line. No kernel
//! counterpart: simulates the hardware a driver such as panfrost, v3d or msm drives through
//! drm_sched.
//!
//! The driver writes a [`GpuCommand`] to the ring with [`GpuEngine::submit`] and gets the
//! job's hardware fence back. An engine thread executes the ring in order: each command takes
//! its `duration` (zero: done at once), then its completion is raised on the interrupt line; an
//! irq thread runs the interrupt handler in hard-irq context ([`lockdep::irq_context`]) and
//! signals the hardware fences there, so their callbacks (drm_sched's `job_done`) run in irq
//! context as in the kernel. A `hang` command never completes; a `fault` command stops the
//! engine and raises a fault interrupt, whose handler ([`GpuEngine::set_fault_handler`]) the
//! driver points at `drm_sched_fault`. Either stays on the ring until [`GpuEngine::reset`].
//!
//! # Contract
//! - Commands complete in ring order; each hardware fence signals exactly once: on completion
//!   (no error), on reset (the stuck command with `-ETIMEDOUT` or `-EIO` for a fault, the
//!   commands behind it with `-ECANCELED`), or on [`force_complete`](GpuEngine::force_complete)
//!   / [`fini`](GpuEngine::fini) with the given error (unplug: `-ENODEV`).
//! - `submit` writes the doorbell register: call it inside `drm_dev_enter` (the MMIO accessor
//!   asserts it). After `fini` (or `force_complete`) a submitted command's fence signals at once
//!   with that error.
//! - [`fini`](GpuEngine::fini) joins both threads; call it before dropping the engine.
//!
//! # Locking
//! - `&ring->lock` (spinlock): the driver's ring lock around writing a command; a leaf, fine in
//!   signalling sections.
//! - The hardware's own state (ring contents, the interrupt line) is behind a plain mutex and
//!   condition variables: it is silicon, not kernel code, so the validator does not see it.
//! - Hardware fences use their inline lock (`&fence->inline_lock`), taken with interrupts off.
//!
//! # Annotations
//! - The interrupt handler runs in [`lockdep::irq_context`]: fence callbacks there must not
//!   sleep, and every lock they take becomes hardirq-safe.
//!
//! # Rules
//! R5 (every hardware fence completes: by the hardware, a reset or force completion), R6/R32
//! (fences signalled from hard irq).
//!
//! # Simplified
//! One ring per engine, no preemption, no register file beyond the doorbell; execution time is
//! real time (timeouts use the device's controllable clock instead).

use crate::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
use crate::drm_drv::DrmDevice;
use crate::error::Errno;
use lockdep::{LockClass, SpinLock};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static RING_LOCK: LockClass = LockClass::new("&ring->lock");

/// The doorbell register: written with the new ring tail on every submit.
pub const REG_DOORBELL: usize = 0x30;

/// One job's work for the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuCommand {
    /// How long the engine is busy with it (zero: it completes at once).
    pub duration: Duration,
    /// It never completes: only a reset takes it off the ring.
    pub hang: bool,
    /// It faults: the engine stops on it and raises a fault interrupt.
    pub fault: bool,
}

impl GpuCommand {
    /// A command that runs for `duration`.
    pub const fn run(duration: Duration) -> GpuCommand {
        GpuCommand {
            duration,
            hang: false,
            fault: false,
        }
    }

    /// A command that hangs the engine.
    pub const fn hang() -> GpuCommand {
        GpuCommand {
            duration: Duration::ZERO,
            hang: true,
            fault: false,
        }
    }

    /// A command that faults.
    pub const fn fault() -> GpuCommand {
        GpuCommand {
            duration: Duration::ZERO,
            hang: false,
            fault: true,
        }
    }
}

/// Counters of what the engine did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Commands submitted.
    pub submitted: u64,
    /// Commands that completed on the hardware.
    pub completed: u64,
    /// Commands that hung the engine.
    pub hangs: u64,
    /// Commands that faulted.
    pub faults: u64,
    /// Resets.
    pub resets: u64,
    /// Commands cancelled by a reset or force completion.
    pub cancelled: u64,
}

/// The hardware fences' provider.
struct HwFenceOps {
    timeline: &'static str,
}

impl DmaFenceOps for HwFenceOps {
    fn get_driver_name(&self) -> &'static str {
        "drm-sim"
    }

    fn get_timeline_name(&self) -> &'static str {
        self.timeline
    }
}

struct RingEntry {
    fence: Arc<DmaFence>,
    cmd: GpuCommand,
}

/// The hardware's state.
#[derive(Default)]
struct Hw {
    ring: VecDeque<RingEntry>,
    /// The engine stopped on the head command (hang or fault) until a reset.
    stalled: bool,
    /// Bumped by every reset: an execution in progress that sees it change was cancelled.
    generation: u64,
    /// Completed fences waiting for the interrupt handler, with an error to set.
    irq_pending: VecDeque<(Arc<DmaFence>, Option<Errno>)>,
    /// Fault interrupts raised and not yet handled.
    fault_irqs: u32,
    /// Dead (unplugged or torn down): new commands fail at once with this error.
    dead: Option<Errno>,
    /// The threads are to exit.
    exiting: bool,
    stats: GpuStats,
}

/// A simulated GPU engine: ring, engine thread and irq thread.
pub struct GpuEngine {
    name: &'static str,
    dev: Arc<DrmDevice>,
    context: u64,
    seqno: AtomicU64,
    ops: Arc<dyn DmaFenceOps>,
    ring_lock: SpinLock<()>,
    hw: Mutex<Hw>,
    /// Wakes the engine thread (new command, reset, exit).
    engine_cv: Condvar,
    /// The interrupt line: wakes the irq thread.
    irq_cv: Condvar,
    fault_handler: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl GpuEngine {
    /// Powers up an engine of `dev` called `name` and starts its engine and irq threads.
    pub fn new(dev: &Arc<DrmDevice>, name: &'static str) -> Arc<GpuEngine> {
        let e = Arc::new(GpuEngine {
            name,
            dev: dev.clone(),
            context: dma_fence_context_alloc(1),
            seqno: AtomicU64::new(0),
            ops: Arc::new(HwFenceOps { timeline: name }),
            ring_lock: SpinLock::with_class((), &RING_LOCK),
            hw: Mutex::new(Hw::default()),
            engine_cv: Condvar::new(),
            irq_cv: Condvar::new(),
            fault_handler: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
        });
        let (a, b) = (e.clone(), e.clone());
        let t1 = std::thread::Builder::new()
            .name(format!("{name}-engine"))
            .spawn(move || a.engine_main())
            .expect("spawn the engine thread");
        let t2 = std::thread::Builder::new()
            .name(format!("{name}-irq"))
            .spawn(move || b.irq_main())
            .expect("spawn the irq thread");
        lock(&e.threads).extend([t1, t2]);
        e
    }

    /// The engine's name (its fences' timeline).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The hardware fences' context.
    pub fn fence_context(&self) -> u64 {
        self.context
    }

    /// What the engine did so far.
    pub fn stats(&self) -> GpuStats {
        lock(&self.hw).stats
    }

    /// Commands on the ring (executing, stuck or waiting).
    pub fn ring_len(&self) -> usize {
        lock(&self.hw).ring.len()
    }

    /// Whether the engine is stopped on a hung or faulting command.
    pub fn is_stalled(&self) -> bool {
        lock(&self.hw).stalled
    }

    /// The driver's fault interrupt handler (runs in hard-irq context).
    pub fn set_fault_handler(&self, f: impl Fn() + Send + Sync + 'static) {
        *lock(&self.fault_handler) = Some(Arc::new(f));
    }

    /// Writes `cmd` to the ring and rings the doorbell; returns the command's hardware fence.
    /// Must run inside `drm_dev_enter` (the doorbell is MMIO).
    pub fn submit(&self, cmd: GpuCommand) -> Arc<DmaFence> {
        let seqno = self.seqno.fetch_add(1, Ordering::Relaxed) + 1;
        let fence = DmaFence::init(self.ops.clone(), self.context, seqno);
        let dead = {
            let _ring = self.ring_lock.lock();
            let mut hw = lock(&self.hw);
            hw.stats.submitted += 1;
            match hw.dead {
                Some(e) => Some(e),
                None => {
                    hw.ring.push_back(RingEntry {
                        fence: fence.clone(),
                        cmd,
                    });
                    drop(hw);
                    self.dev.mmio_write(REG_DOORBELL, seqno as u32);
                    self.engine_cv.notify_all();
                    None
                }
            }
        };
        if let Some(e) = dead {
            fence.set_error(e);
            let _ = fence.signal();
        }
        fence
    }

    /// Resets the engine: every command on the ring is dropped and its fence signalled with an
    /// error (the stuck head with `-ETIMEDOUT`, or `-EIO` if it faulted; the rest with
    /// `-ECANCELED`), and the engine runs again. Returns how many commands it cancelled.
    pub fn reset(&self) -> usize {
        let dropped: Vec<RingEntry> = {
            let mut hw = lock(&self.hw);
            hw.generation += 1;
            hw.stalled = false;
            hw.stats.resets += 1;
            let d: Vec<RingEntry> = hw.ring.drain(..).collect();
            hw.stats.cancelled += d.len() as u64;
            d
        };
        self.engine_cv.notify_all();
        let n = dropped.len();
        for (i, e) in dropped.into_iter().enumerate() {
            let err = match (i, e.cmd) {
                (0, GpuCommand { fault: true, .. }) => Errno::Eio,
                (0, GpuCommand { hang: true, .. }) => Errno::Etimedout,
                _ => Errno::Ecanceled,
            };
            complete_with(&e.fence, err);
        }
        n
    }

    /// Force-completes every command with `err` and marks the engine dead, so later submits
    /// complete at once with it too (the driver's `fini_hw` on unplug: "force-complete every
    /// in-flight hardware fence with an error").
    pub fn force_complete(&self, err: Errno) -> usize {
        let dropped: Vec<RingEntry> = {
            let mut hw = lock(&self.hw);
            hw.dead = Some(err);
            hw.generation += 1;
            hw.stalled = false;
            let d: Vec<RingEntry> = hw.ring.drain(..).collect();
            hw.stats.cancelled += d.len() as u64;
            d
        };
        self.engine_cv.notify_all();
        let n = dropped.len();
        for e in dropped {
            complete_with(&e.fence, err);
        }
        n
    }

    /// Powers the engine down: force-completes what is left with `-ENODEV` (unless already
    /// dead), lets the irq handler deliver what completed, and joins both threads.
    /// Idempotent.
    pub fn fini(&self) {
        if lock(&self.hw).dead.is_none() {
            self.force_complete(Errno::Enodev);
        }
        lock(&self.hw).exiting = true;
        self.engine_cv.notify_all();
        self.irq_cv.notify_all();
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }

    fn engine_main(&self) {
        let mut hw = lock(&self.hw);
        loop {
            if hw.exiting {
                return;
            }
            let Some(head) = hw.ring.front().filter(|_| !hw.stalled) else {
                hw = wait(&self.engine_cv, hw);
                continue;
            };
            let cmd = head.cmd;
            if cmd.hang || cmd.fault {
                hw.stalled = true;
                if cmd.fault {
                    hw.stats.faults += 1;
                    hw.fault_irqs += 1;
                    self.irq_cv.notify_all();
                } else {
                    hw.stats.hangs += 1;
                }
                continue;
            }
            let generation = hw.generation;
            if !cmd.duration.is_zero() {
                // Busy executing: a reset or power-down ends it early.
                let end = Instant::now() + cmd.duration;
                while !hw.exiting && hw.generation == generation {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    hw = self
                        .engine_cv
                        .wait_timeout(hw, end - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                if hw.exiting || hw.generation != generation {
                    continue;
                }
            }
            let done = hw.ring.pop_front().expect("the head is still on the ring");
            hw.stats.completed += 1;
            hw.irq_pending.push_back((done.fence, None));
            self.irq_cv.notify_all();
        }
    }

    fn irq_main(&self) {
        let mut hw = lock(&self.hw);
        loop {
            if hw.irq_pending.is_empty() && hw.fault_irqs == 0 {
                if hw.exiting {
                    return;
                }
                hw = wait(&self.irq_cv, hw);
                continue;
            }
            let fences: Vec<_> = hw.irq_pending.drain(..).collect();
            let faults = std::mem::take(&mut hw.fault_irqs);
            drop(hw);
            self.handle_irq(fences, faults);
            hw = lock(&self.hw);
        }
    }

    /// The interrupt handler: signal the completed commands' fences, report faults.
    fn handle_irq(&self, fences: Vec<(Arc<DmaFence>, Option<Errno>)>, faults: u32) {
        let _irq = lockdep::irq_context();
        for (f, err) in fences {
            match err {
                Some(e) => complete_with(&f, e),
                None => {
                    let _ = f.signal();
                }
            }
        }
        if faults > 0 {
            let handler = lock(&self.fault_handler).clone();
            if let Some(h) = handler {
                h();
            }
        }
    }
}

impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEngine")
            .field("name", &self.name)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Signals `f` with `err` unless something signalled it already.
fn complete_with(f: &DmaFence, err: Errno) {
    if f.test_signaled_flag() {
        return;
    }
    f.set_error(err);
    let _ = f.signal();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).unwrap_or_else(|e| e.into_inner())
}
