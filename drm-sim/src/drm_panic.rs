//! `drm_panic`: the panic screen, drawn into the scan-out memory of every plane from whatever
//! thread panics. Mirrors drivers/gpu/drm/drm_panic.c (`drm_panic`, `draw_panic_plane`) and
//! include/drm/drm_panic.h (`drm_panic_trylock`).
//!
//! # Contract
//! - [`drm_panic`] may run on any thread at any moment, while other threads are stopped in the
//!   middle of anything, holding any lock: the modeset locks of a commit, a buffer's resv, a
//!   fence lock, even the panic lock itself. It therefore takes exactly one lock per plane,
//!   `drm_panic_trylock` (a raw spinlock's trylock, with interrupts off), and if that fails
//!   gives the plane up at once. It allocates nothing and waits for nothing (R29).
//! - Under the panic lock the plane's state is stable (`swap_state` replaces it under the same
//!   lock, R30) and its framebuffer is pinned and mapped (`prepare_fb` runs before the swap,
//!   `cleanup_fb` after the next one): the handler reads `plane->state`, takes the
//!   framebuffer's scan-out mapping and writes the message into it with the CPU. A plane
//!   without a framebuffer, or whose framebuffer has no mapping, is skipped.
//! - Best effort: the outcome ([`PanicOutcome`]) says how many planes were drawn and why the
//!   others were not; [`panic_drawn`] remembers whether any panic of the process drew.
//! - [`PanicInjector`] runs the handler on a thread of its own, when told or after a delay
//!   (a random one for the workload), while the rest of the simulation goes on.
//!
//! # Locking
//! - `&dev->mode_config.panic_lock` (raw spinlock `{2:2}`): trylock only. Nothing else.
//!
//! # Annotations
//! - The whole handler runs inside [`lockdep::panic_context`]: any other lock operation in
//!   it, a pseudo-lock included (an allocation's `fs_reclaim`, a fence wait's
//!   `dma_fence_map`), is reported as "invalid lock operation in panic context".
//!
//! # Rules
//! R29 (trylock only, give up on failure), R30 (the state it reads changes only under the
//! panic lock), §3.5.
//!
//! # Simplified
//! - One message drawn with a built-in 5x7 font in white on a dark blue band at the top
//!   left, clipped to the framebuffer; no QR code, no kmsg dump, no `panic_flush`.
//! - The plane list and the scan-out mapping are read through plain (validator-invisible)
//!   locks that are only held for a pointer copy or a memcpy; the kernel reads plain
//!   pointers. A panic that stopped a thread inside one of those copies would stall here.
//! - Planes are drawn one after the other by the panicking thread; nested panics are not
//!   modelled beyond the context nesting the validator supports.

use crate::bugs::Bug;
use crate::drm_framebuffer::{DrmFramebuffer, BYTES_PER_PIXEL};
use crate::drm_gem_shmem_helper::IosysMap;
use crate::drm_mode_config::{drm_panic_lock, drm_panic_trylock, DrmModeConfig, DrmPanicGuard};
use crate::drm_plane::DrmPlane;
use crate::wait::Completion;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The message's colour (XRGB8888).
pub const PANIC_FG: u32 = 0x00ff_ffff;
/// The band behind the message.
pub const PANIC_BG: u32 = 0x0000_0040;
/// Glyph cell: 5x7 glyph plus one column and one row of spacing.
const CELL_W: u32 = 6;
const CELL_H: u32 = 8;
/// Margin around the text inside the band.
const MARGIN: u32 = 2;

static DRAWN: AtomicBool = AtomicBool::new(false);
static PANICS: AtomicU64 = AtomicU64::new(0);

/// What one panic did (`drm_panic` returns nothing in the kernel; the simulation counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PanicOutcome {
    /// Planes looked at.
    pub planes: usize,
    /// Planes the message was drawn into.
    pub drawn: usize,
    /// Planes given up because the panic lock was held by someone else.
    pub skipped_locked: usize,
    /// Planes without a framebuffer, or whose framebuffer was not mapped for scan-out.
    pub skipped_no_fb: usize,
}

/// Whether any panic of this process drew its message (the summary's `panic_drawn`).
pub fn panic_drawn() -> bool {
    DRAWN.load(Ordering::Relaxed)
}

/// How many panics ran in this process.
pub fn panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// The panic handler: draws `msg` on every plane of every device in `cfgs` whose panic lock
/// it can take (`drm_panic` -> `draw_panic_plane` per plane). Runs inside
/// [`lockdep::panic_context`]; never blocks, never allocates.
#[doc(alias = "draw_panic_plane")]
pub fn drm_panic(cfgs: &[Arc<DrmModeConfig>], msg: &str) -> PanicOutcome {
    let _panic = lockdep::panic_context();
    PANICS.fetch_add(1, Ordering::Relaxed);
    let mut out = PanicOutcome::default();
    for cfg in cfgs {
        for plane in cfg.planes() {
            out.planes += 1;
            match draw_panic_plane(cfg, plane, msg) {
                Plane::Drawn => out.drawn += 1,
                Plane::Locked => out.skipped_locked += 1,
                Plane::NoFb => out.skipped_no_fb += 1,
            }
        }
    }
    if out.drawn > 0 {
        DRAWN.store(true, Ordering::Relaxed);
    }
    out
}

enum Plane {
    Drawn,
    Locked,
    NoFb,
}

/// One plane (`draw_panic_plane`): trylock, read the state, draw, unlock. (No
/// `#[track_caller]`: a report names the handler's own line, so it is made once per site.)
fn draw_panic_plane(cfg: &DrmModeConfig, plane: &DrmPlane, msg: &str) -> Plane {
    let bugs = cfg.dev().bugs();
    if bugs.has(Bug::SpinTrylockInPanic) {
        // Looking for a pending flip event under the event lock: a `spinlock_t`, which sleeps
        // on real-time kernels, and whose trylock may spin on a lock caught mid-update.
        let event = cfg.event_lock().try_lock();
        drop(event);
    }
    let guard: Option<DrmPanicGuard<'_>> = if bugs.has(Bug::BlockingLockInPanic) {
        // Would spin forever if the panic stopped the lock's holder.
        Some(drm_panic_lock(cfg))
    } else {
        drm_panic_trylock(cfg)
    };
    let Some(_guard) = guard else {
        return Plane::Locked;
    };
    let state = plane.state();
    let Some(fb) = state.fb.as_ref() else {
        return Plane::NoFb;
    };
    // `get_scanout_buffer`: only a framebuffer that is pinned and mapped can be drawn; mapping
    // one now would take its resv.
    let Some(map) = fb.vmap() else {
        return Plane::NoFb;
    };
    draw_message(fb, &map, msg);
    Plane::Drawn
}

/// Draws `msg` (upper-cased, wrapped to the width) on a band at the top left of `fb`, through
/// its scan-out mapping: one pixel write at a time, no buffer allocated.
fn draw_message(fb: &DrmFramebuffer, map: &IosysMap, msg: &str) {
    let (w, h) = (fb.width(), fb.height());
    let cols = (w.saturating_sub(2 * MARGIN) / CELL_W).max(1);
    let chars = msg.chars().count() as u32;
    let lines = chars.div_ceil(cols).max(1);
    let band_w = (cols.min(chars.max(1)) * CELL_W + 2 * MARGIN).min(w);
    let band_h = (lines * CELL_H + 2 * MARGIN).min(h);
    let put = |x: u32, y: u32, argb: u32| {
        if x < w && y < h {
            let off = y as usize * fb.pitch() + x as usize * BYTES_PER_PIXEL;
            let _ = map.write(off, &argb.to_le_bytes());
        }
    };
    for y in 0..band_h {
        for x in 0..band_w {
            put(x, y, PANIC_BG);
        }
    }
    for (i, c) in msg.chars().enumerate() {
        let (col, line) = (i as u32 % cols, i as u32 / cols);
        let (x0, y0) = (MARGIN + col * CELL_W, MARGIN + line * CELL_H);
        for (row, bits) in glyph(c).iter().enumerate() {
            for bit in 0..5u32 {
                if bits & (0x10 >> bit) != 0 {
                    put(x0 + bit, y0 + row as u32, PANIC_FG);
                }
            }
        }
    }
}

/// The pixel rows (top to bottom, bit 4 = leftmost column) of `c`'s 5x7 glyph; letters are
/// drawn upper case, unknown characters as a hollow box.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        ' ' => [0; 7],
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'B' => [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'D' => [0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'F' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
        'G' => [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
        'H' => [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'Q' => [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
        'X' => [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        '.' => [0, 0, 0, 0, 0, 0x0c, 0x0c],
        ',' => [0, 0, 0, 0, 0x0c, 0x04, 0x08],
        ':' => [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
        '-' => [0, 0, 0, 0x1f, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1f],
        '!' => [0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04],
        '?' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '=' => [0, 0, 0x1f, 0, 0x1f, 0, 0],
        '\'' => [0x04, 0x04, 0x08, 0, 0, 0, 0],
        _ => [0x1f, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1f],
    }
}

/// Reads back where [`drm_panic`] drew on `fb`: whether the first glyph of `msg` is at its
/// place, in the message colour on the band colour (for tests and the workload's check).
///
/// # Errors
/// The framebuffer's pixel-read error (an unpinned one is mapped under its resv: process
/// context only).
pub fn message_visible(fb: &DrmFramebuffer, msg: &str) -> crate::error::KResult<bool> {
    let Some(first) = msg.chars().next() else {
        return Ok(false);
    };
    let rows = glyph(first);
    for (row, bits) in rows.iter().enumerate() {
        for bit in 0..5u32 {
            let want = if bits & (0x10 >> bit) != 0 {
                PANIC_FG
            } else {
                PANIC_BG
            };
            if fb.read_pixel(MARGIN + bit, MARGIN + row as u32)? & 0x00ff_ffff != want {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// A thread that runs the panic handler (the panic injector): when [`fire`](Self::fire)d, or
/// on its own once its delay is up, whatever the other threads are doing then.
pub struct PanicInjector {
    trigger: Arc<Completion>,
    thread: Option<JoinHandle<PanicOutcome>>,
}

impl PanicInjector {
    /// Starts the injector: it panics after `delay`, or earlier if fired.
    pub fn spawn(cfgs: Vec<Arc<DrmModeConfig>>, msg: &str, delay: Duration) -> PanicInjector {
        let trigger = Arc::new(Completion::new("panic_trigger"));
        let t = trigger.clone();
        let msg = msg.to_string();
        let thread = std::thread::Builder::new()
            .name("panic".into())
            .spawn(move || {
                t.wait_for_completion_timeout(delay);
                drm_panic(&cfgs, &msg)
            })
            .expect("spawn the panic injector");
        PanicInjector {
            trigger,
            thread: Some(thread),
        }
    }

    /// Starts an injector that panics at a moment drawn from `seed` within `within`: the
    /// workload's "at any moment".
    pub fn at_random(cfgs: Vec<Arc<DrmModeConfig>>, msg: &str, within: Duration, seed: u64) -> PanicInjector {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let max = within.as_micros().max(1) as u64;
        let delay = Duration::from_micros(rng.random_range(0..max));
        Self::spawn(cfgs, msg, delay)
    }

    /// Makes it panic now (if it has not yet).
    pub fn fire(&self) {
        self.trigger.complete_all();
    }

    /// Waits for the panic to have run (firing it first) and returns what it did.
    ///
    /// # Panics
    /// If the handler itself panicked (a bug in the simulation).
    pub fn join(mut self) -> PanicOutcome {
        self.fire();
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("the panic handler returns")
    }
}

impl Drop for PanicInjector {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.trigger.complete_all();
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for PanicInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PanicInjector")
            .field("fired", &self.trigger.completion_done())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bugs::{Bug, Bugs};
    use crate::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
    use crate::drm_drv::DrmDevice;
    use crate::drm_gem_shmem_helper::DrmGemShmemObject;
    use crate::drm_mode_config::drmm_mode_config_init;
    use crate::drm_modeset_lock::DrmModesetAcquireCtx;
    use crate::drm_plane::DrmPlaneState;
    use crate::testing::{kinds, reports, serial};
    use lockdep::ReportKind;
    use std::sync::mpsc;

    const MSG: &str = "KERNEL PANIC: 42";

    fn display(bugs: Bugs, crtcs: usize) -> Arc<DrmModeConfig> {
        let dev = DrmDevice::new("panic-test", bugs);
        drmm_mode_config_init(&dev, crtcs)
    }

    /// Shows a fresh, pinned, black `w` x `h` framebuffer on plane `i`, as a commit's
    /// `prepare_fb` + `swap_state` would.
    fn scanout(cfg: &DrmModeConfig, i: usize, w: u32, h: u32, pin: bool) -> Arc<DrmFramebuffer> {
        let obj = DrmGemShmemObject::create(cfg.dev(), (w * h) as usize * BYTES_PER_PIXEL).unwrap();
        let fb = DrmFramebuffer::create(obj, w, h).unwrap();
        if pin {
            fb.prepare_fb().unwrap();
        }
        fb.fill(0).unwrap();
        let state = Arc::new(DrmPlaneState {
            plane: i,
            crtc: Some(i),
            fb: Some(fb.clone()),
            ..DrmPlaneState::default()
        });
        let _p = drm_panic_lock(cfg);
        cfg.planes()[i].set_state(cfg, state);
        fb
    }

    fn lit(fb: &DrmFramebuffer) -> usize {
        fb.pixels().unwrap().iter().filter(|&&p| p == PANIC_FG).count()
    }

    #[test]
    fn draws_the_message_into_the_scanout_memory_when_the_lock_is_free() {
        let _s = serial();
        let cfg = display(Bugs::NONE, 2);
        let fb = scanout(&cfg, 0, 128, 32, true);
        let out = drm_panic(std::slice::from_ref(&cfg), MSG);
        assert_eq!(
            out,
            PanicOutcome {
                planes: 2,
                drawn: 1,
                skipped_locked: 0,
                skipped_no_fb: 1
            }
        );
        assert!(
            message_visible(&fb, MSG).unwrap(),
            "the first glyph is in the pixels"
        );
        assert!(lit(&fb) > 20 * MSG.len() / 2, "every glyph drew some pixels");
        let px = fb.pixels().unwrap();
        assert_eq!(px[127], 0, "the band ends before the right edge");
        assert_eq!(px[(31 * 128) as usize], 0, "and above the bottom");
        assert!(panic_drawn());
        assert!(kinds().is_empty());
    }

    #[test]
    fn gives_up_at_once_when_another_thread_holds_the_panic_lock() {
        let _s = serial();
        let cfg = display(Bugs::NONE, 1);
        let fb = scanout(&cfg, 0, 64, 16, true);
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let c = cfg.clone();
        // A thread stopped inside swap_state, the panic lock held.
        let holder = std::thread::spawn(move || {
            let _p = drm_panic_lock(&c);
            held_tx.send(()).unwrap();
            let _ = go_rx.recv();
        });
        held_rx.recv().unwrap();
        let out = drm_panic(std::slice::from_ref(&cfg), MSG);
        assert_eq!((out.drawn, out.skipped_locked), (0, 1));
        assert_eq!(lit(&fb), 0, "nothing drawn");
        go_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(
            drm_panic(std::slice::from_ref(&cfg), MSG).drawn,
            1,
            "free again: drawn"
        );
        assert!(kinds().is_empty());
    }

    #[test]
    fn a_framebuffer_that_is_not_mapped_for_scanout_is_skipped_without_mapping_it() {
        let _s = serial();
        let cfg = display(Bugs::NONE, 1);
        let fb = scanout(&cfg, 0, 32, 16, false);
        let out = drm_panic(std::slice::from_ref(&cfg), MSG);
        assert_eq!((out.drawn, out.skipped_no_fb), (0, 1));
        assert_eq!(lit(&fb), 0);
        assert!(kinds().is_empty(), "no resv taken in the panic handler");
    }

    struct Test;
    impl DmaFenceOps for Test {
        fn get_driver_name(&self) -> &'static str {
            "test"
        }
        fn get_timeline_name(&self) -> &'static str {
            "panic"
        }
    }

    /// Threads stopped mid-operation, holding a commit's modeset locks and the legacy mutex,
    /// the framebuffer's own resv and a fence lock: the panic still draws, and takes none of
    /// them.
    #[test]
    fn panics_while_other_threads_are_frozen_holding_kms_resv_and_fence_locks() {
        let _s = serial();
        crate::dma_resv::dma_resv_lockdep();
        let cfg = display(Bugs::NONE, 2);
        let fbs = [scanout(&cfg, 0, 64, 16, true), scanout(&cfg, 1, 64, 16, true)];
        let fence = DmaFence::init(Arc::new(Test), dma_fence_context_alloc(1), 1);
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Arc::new(std::sync::Mutex::new(go_rx));
        let mut frozen = Vec::new();
        let wait = move |rx: &Arc<std::sync::Mutex<mpsc::Receiver<()>>>| {
            let _ = rx.lock().unwrap().recv();
        };
        {
            let (c, tx, rx) = (cfg.clone(), held_tx.clone(), go_rx.clone());
            frozen.push(std::thread::spawn(move || {
                let _legacy = c.mutex().lock();
                let mut ctx = DrmModesetAcquireCtx::init(0);
                crate::drm_modeset_lock::drm_modeset_lock_all_ctx(&c, &mut ctx).unwrap();
                tx.send(()).unwrap();
                wait(&rx);
                ctx.fini();
            }));
        }
        {
            let (obj, tx, rx) = (fbs[1].obj().clone(), held_tx.clone(), go_rx.clone());
            frozen.push(std::thread::spawn(move || {
                let _resv = obj.resv().lock(None).unwrap();
                tx.send(()).unwrap();
                wait(&rx);
            }));
        }
        {
            let (f, tx, rx) = (fence.clone(), held_tx.clone(), go_rx.clone());
            frozen.push(std::thread::spawn(move || {
                let _fl = f.lock_irqsave();
                tx.send(()).unwrap();
                wait(&rx);
            }));
        }
        for _ in 0..frozen.len() {
            held_rx.recv().unwrap();
        }
        let injector = PanicInjector::spawn(vec![cfg.clone()], MSG, Duration::from_secs(60));
        let out = injector.join();
        assert_eq!((out.drawn, out.skipped_locked), (2, 0));
        for fb in &fbs {
            assert!(message_visible(fb, MSG).unwrap());
        }
        for _ in 0..frozen.len() {
            go_tx.send(()).unwrap();
        }
        for t in frozen {
            t.join().unwrap();
        }
        fence.signal().unwrap();
        assert!(
            kinds().is_empty(),
            "the panic took no lock but the panic lock's trylock"
        );
    }

    #[test]
    fn the_injector_fires_on_its_own_after_its_delay() {
        let _s = serial();
        let cfg = display(Bugs::NONE, 1);
        let fb = scanout(&cfg, 0, 32, 16, true);
        let before = panics();
        let injector = PanicInjector::at_random(vec![cfg.clone()], "OOPS", Duration::from_millis(5), 7);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while panics() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(panics() > before, "fired without being told");
        assert_eq!(injector.join().drawn, 1);
        assert!(message_visible(&fb, "OOPS").unwrap());
        assert!(kinds().is_empty());
    }

    /// Each broken handler is reported on its first panic, naming the lock; the correct one
    /// (a trylock of the raw panic lock) is silent, and a second panic is not reported again.
    #[test]
    fn locks_other_than_the_panic_trylock_are_reported_on_the_first_panic() {
        let _s = serial();
        let cases = [
            (Bugs::NONE, None),
            (
                Bugs::NONE.with(Bug::BlockingLockInPanic),
                Some("&dev->mode_config.panic_lock"),
            ),
            (Bugs::NONE.with(Bug::SpinTrylockInPanic), Some("&dev->event_lock")),
        ];
        for (bugs, class) in cases {
            lockdep::reset();
            let cfg = display(bugs, 1);
            let fb = scanout(&cfg, 0, 32, 16, true);
            assert_eq!(drm_panic(std::slice::from_ref(&cfg), MSG).drawn, 1, "{bugs:?}");
            assert!(message_visible(&fb, MSG).unwrap());
            let r = reports();
            match class {
                None => assert!(r.is_empty(), "clean: {r:#?}"),
                Some(_) if !lockdep::ENABLED => assert!(r.is_empty()),
                Some(c) => {
                    assert_eq!(r.len(), 1, "{r:#?}");
                    assert_eq!(r[0].kind(), ReportKind::PanicContext);
                    assert!(r[0].classes().contains(&c), "{c} in {:?}", r[0].classes());
                }
            }
            drm_panic(std::slice::from_ref(&cfg), MSG);
            assert!(reports().is_empty(), "reported once ({bugs:?})");
        }
    }
}
