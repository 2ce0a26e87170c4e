//! # drm-sim — the Linux DRM stack's locking, simulated in user space and validated by `lockdep`
//!
//! Each module mirrors one kernel file (named after it) and is annotated with `lockdep` exactly
//! as the kernel annotates it, so a report from this crate reads like a kernel splat: the same
//! class names (`reservation_ww_class_mutex`, `dma_fence_map`, `fs_reclaim`, …), the same
//! orders. Everything runs on real threads: work items on workqueue threads, a GPU engine
//! thread, an irq thread that runs its handler in hard-irq context, fence callbacks in the
//! signaller's context. `../shared/DRM-RULES.md` (in the project's shared material) is the
//! reference for the rules (R1–R34) and data flows each module follows.
//!
//! The index, one line per file:
//! - [`error`] — `Errno`, the kernel error codes as a Rust error type (no kernel counterpart).
//! - [`bugs`] — the injected-bug catalogue behind `--inject` (no kernel counterpart).
//! - [`wait`] — `Completion` and `WaitQueueHead` (kernel/sched/completion.c, wait.c).
//! - [`clock`] — the controllable clock and its timers (kernel/time/timer.c, hrtimer.c).
//! - [`workqueue`] — ordered and unbound queues, work and delayed work (kernel/workqueue.c).
//! - [`drm_drv`] — `DrmDevice` (enter/unplug on `drm_unplug_srcu`, MMIO) and `DrmFile`
//!   (drivers/gpu/drm/drm_drv.c, drm_file.c).
//! - [`mm`] — gfp flags, `fs_reclaim`, shrinkers, `mmap_lock`, user copies, mmu notifiers
//!   (no single kernel counterpart: mm/page_alloc.c, mm/vmscan.c, mm/memory.c, mm/mmu_notifier.c).
//! - [`dma_fence`] — fences, callbacks, waits, signalling sections (drivers/dma-buf/dma-fence.c).
//! - [`dma_fence_array`] — one fence for several (drivers/dma-buf/dma-fence-array.c).
//! - [`dma_fence_chain`] — timeline points chained in seqno order (drivers/dma-buf/dma-fence-chain.c).
//! - [`dma_fence_unwrap`] — the plain fences inside containers, merging (drivers/dma-buf/dma-fence-unwrap.c).
//! - [`sync_file`] — fences as files: create, merge, poll (drivers/dma-buf/sync_file.c).
//! - [`irq_work`] — deferred work in hard-irq context (kernel/irq_work.c).
//! - [`dma_resv`] — reservation objects: the ww lock and fences by usage (drivers/dma-buf/dma-resv.c).
//! - [`drm_auth`] — the DRM master and `&dev->master_mutex` (drivers/gpu/drm/drm_auth.c).
//! - [`drm_client`] — in-kernel clients, their mode sets under `&client->modeset_mutex`, the
//!   display side of a GPU reset (drivers/gpu/drm/drm_client.c, drm_client_modeset.c).
//! - [`drm_fb_helper`] — fbdev emulation: `pan_display` in the kernel's lock order
//!   (drivers/gpu/drm/drm_fb_helper.c).
//! - [`drm_exec`] — many resv locks as one ww transaction with back-off (drivers/gpu/drm/drm_exec.c).
//! - [`drm_gem`] — GEM objects, per-file handles, the LRU, deferred free (drivers/gpu/drm/drm_gem.c).
//! - [`drm_gem_shmem_helper`] — shmem pages, pins and vmaps under resv, the GEM shrinker
//!   (drivers/gpu/drm/drm_gem_shmem_helper.c).
//! - [`dma_buf`] — export/import/attach/map, sync_file bridging, poll (drivers/dma-buf/dma-buf.c).
//! - [`vgem_fence`] — user-signalled software fences on buffers (drivers/gpu/drm/vgem/vgem_fence.c).
//! - [`scheduler`] — the GPU scheduler: run queues, entities, jobs, their fences, the TDR
//!   (drivers/gpu/drm/scheduler/).
//! - [`gpu`] — the simulated GPU engine, its ring and irq thread (no kernel counterpart).
//! - [`sim_display`] — the simulated vkms-like display driver: vblank hrtimers, page flips,
//!   teardown on unplug (no single kernel counterpart).
//! - [`sim_driver`] — the simulated driver's scheduler backend, reset and unplug paths (no
//!   kernel counterpart).
//! - [`ioctl`] — the driver's entry points as system calls: submit, GEM, sync_file (no kernel counterpart).
//! - [`userptr`] — user memory as a GPU buffer behind an mmu notifier (no single kernel counterpart).
//! - [`console`] — `console_lock` and fbcon's allocations under it (kernel/printk/printk.c,
//!   drivers/video/fbdev/core/fbcon.c).
//! - [`pm_runtime`] — runtime PM: get/put, autosuspend, a GPU's clock/OPP/interconnect locks
//!   (drivers/base/power/runtime.c).
//! - [`gud`] — a USB display with a flush worker, and its disconnect (drivers/gpu/drm/gud/).
//! - [`compositor`] — the workload's display clients: flips, fbdev panning, scan-out of an
//!   import (no kernel counterpart).
//! - [`scenario`] — the seed threads' situations, one short run each (no kernel counterpart).
//! - [`hrtimer`] — high-resolution timers in hard-irq context, `hrtimer_cancel` as a
//!   pseudo-lock (kernel/time/hrtimer.c).
//! - [`drm_modeset_lock`] — `crtc_ww_class` modeset locks, acquire contexts, back-off
//!   (drivers/gpu/drm/drm_modeset_lock.c).
//! - [`drm_mode_config`] — a device's KMS objects, `mode_config.mutex`, the panic, event and
//!   vblank locks, the K11 priming (drivers/gpu/drm/drm_mode_config.c).
//! - [`drm_crtc`], [`drm_plane`], [`drm_connector`] — KMS objects, their atomic states, commit
//!   tracking (drivers/gpu/drm/drm_crtc.c, drm_plane.c, drm_connector.c).
//! - [`drm_framebuffer`] — scan-out images on GEM objects, pinned for scan-out
//!   (drivers/gpu/drm/drm_framebuffer.c).
//! - [`drm_panic`] — the panic screen: trylock, read the plane state, draw; the panic
//!   injector (drivers/gpu/drm/drm_panic.c).
//! - [`drm_atomic`], [`drm_atomic_helper`] — atomic updates; blocking and nonblocking commits,
//!   their completions and the signalling commit tail (drivers/gpu/drm/drm_atomic.c,
//!   drm_atomic_helper.c).
//! - [`drm_simple_kms_helper`] — a tinydrm-style one-pipe display whose updates copy into a
//!   panel inside `drm_dev_enter` (drivers/gpu/drm/drm_simple_kms_helper.c).
//! - [`drm_vblank`] — vblank counting, references and events (drivers/gpu/drm/drm_vblank.c).
//! - [`workload`] — the binary's run: configuration, clients, summary (no kernel counterpart).
//! - [`logging`] — drm-sim's own log through `tracing`, lockdep's reports among it (no kernel counterpart).
//! - [`testing`] — `serial()` for tests of the validator's process-wide state (no kernel counterpart).

pub mod bugs;
pub mod clock;
pub mod compositor;
pub mod console;
pub mod dma_buf;
pub mod dma_fence;
pub mod dma_fence_array;
pub mod dma_fence_chain;
pub mod dma_fence_unwrap;
pub mod dma_resv;
pub mod drm_atomic;
pub mod drm_atomic_helper;
pub mod drm_auth;
pub mod drm_client;
pub mod drm_connector;
pub mod drm_crtc;
pub mod drm_drv;
pub mod drm_exec;
pub mod drm_fb_helper;
pub mod drm_framebuffer;
pub mod drm_gem;
pub mod drm_gem_shmem_helper;
pub mod drm_mode_config;
pub mod drm_modeset_lock;
pub mod drm_panic;
pub mod drm_plane;
pub mod drm_simple_kms_helper;
pub mod drm_vblank;
pub mod error;
pub mod gpu;
pub mod gud;
pub mod hrtimer;
pub mod ioctl;
pub mod irq_work;
pub mod logging;
pub mod mm;
pub mod pm_runtime;
pub mod scenario;
pub mod scheduler;
pub mod sim_display;
pub mod sim_driver;
pub mod sync_file;
pub mod testing;
pub mod userptr;
pub mod vgem_fence;
pub mod wait;
pub mod workload;
pub mod workqueue;

pub use bugs::{Bug, Bugs};
pub use error::{Errno, KResult};
