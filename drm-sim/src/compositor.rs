//! `Compositor`: the display half of the workload — a compositor per display device, flipping
//! its planes, handing the screen to the fbdev console now and then, and scanning out a buffer
//! another device rendered. No kernel counterpart: simulates a Wayland compositor and fbcon on
//! the vkms-like [`SimDisplay`].
//!
//! # Contract
//! - [`Compositor::start`] opens the display device as DRM master, sets up the fbdev
//!   emulation ([`DrmFbHelper`]) and two framebuffers per plane, and starts the compositor's
//!   thread. With an `import` (a buffer another device exported), one of plane 0's
//!   framebuffers is that buffer: the display scans out memory whose exporter may be
//!   unplugged meanwhile.
//! - The thread flips until told to stop or the display is gone: plane 0 with blocking
//!   flips, the other planes nonblocking (`EBUSY` over an unfinished flip is expected; the
//!   compositor then waits for a vblank, `DRM_IOCTL_WAIT_VBLANK`), every third flip with an
//!   out-fence. Every [`VT_SWITCH_EVERY`] flips it drops master (a VT switch), the fbdev
//!   console pans its two buffers, and it takes master back.
//! - Checked: every out-fence signals within [`OUT_FENCE_WAIT`], exactly once and in commit
//!   order per CRTC (timestamps do not go back), with no error; a flip or pan failing with
//!   `ENODEV` means the device was unplugged (counted; the thread ends); any other error breaks
//!   the run.
//! - [`Compositor::finish`] stops the thread, checks what it saw, and returns its counters.
//!
//! # Locking
//! None of its own: the display's, fbdev's and the master's (see [`crate::drm_fb_helper`]).
//!
//! # Annotations
//! Every call is a system call ([`crate::ioctl::syscall`]): nothing may stay held.
//!
//! # Rules
//! §3.3 (blocking and nonblocking commits, out-fences, `EBUSY`), R19 (the fbdev order), §3.4
//! (a display unplugged with commits and vblank work in flight; an importer scanning out an
//! unplugged exporter's buffer).
//!
//! # Simplified
//! The compositor draws nothing: its framebuffers keep the colour they were filled with (the
//! imported one keeps the exporter's contents), which is what the checks after an unplug read.

use crate::drm_auth::dev_master;
use crate::drm_drv::DrmFile;
use crate::drm_fb_helper::DrmFbHelper;
use crate::drm_framebuffer::DrmFramebuffer;
use crate::drm_gem::DrmGemObject;
use crate::drm_vblank::wait_one_vblank;
use crate::error::{Errno, KResult};
use crate::ioctl::syscall;
use crate::mm::MmStruct;
use crate::sim_display::SimDisplay;
use crate::sync_file::SyncFile;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Flips between two VT switches (fbdev pans while the compositor is away).
pub const VT_SWITCH_EVERY: u64 = 24;

/// How long an out-fence may take to signal.
pub const OUT_FENCE_WAIT: Duration = Duration::from_secs(5);

/// Size of every framebuffer (an imported buffer must hold this many pixels).
pub const FB_SIZE: (u32, u32) = (64, 64);

/// Out-fences kept unchecked per CRTC before the oldest is waited for.
const FENCE_WINDOW: usize = 4;

/// What a compositor did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompositorStats {
    /// Flips that succeeded (blocking and nonblocking).
    pub flips: u64,
    /// Nonblocking flips refused with `EBUSY`.
    pub ebusy: u64,
    /// Out-fences requested and seen signalled.
    pub out_fences: u64,
    /// fbdev pans.
    pub pans: u64,
    /// Calls that failed with `ENODEV` (the device was unplugged).
    pub enodev: u64,
    /// Flips that showed the imported buffer.
    pub imported_flips: u64,
}

/// One display's compositor and console.
pub struct Compositor {
    display: Arc<SimDisplay>,
    fbdev: Arc<DrmFbHelper>,
    imported: Option<Arc<DrmFramebuffer>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<CompositorStats, String>>>,
}

/// The compositor thread's state.
struct Worker {
    display: Arc<SimDisplay>,
    fbdev: Arc<DrmFbHelper>,
    file: Arc<DrmFile>,
    fbs: Vec<[Arc<DrmFramebuffer>; 2]>,
    imported: Option<Arc<DrmFramebuffer>>,
    /// Per CRTC: out-fences not yet checked, oldest first, and the last one's timestamp.
    fences: Vec<(VecDeque<Arc<SyncFile>>, Option<Instant>)>,
    stats: CompositorStats,
    /// What an out-fence check found broken (a flip then fails with `EIO`).
    broken: Option<String>,
    after_flip: Option<AfterFlip>,
}

/// What a compositor calls after each flip, with the framebuffer it showed.
pub type AfterFlip = Box<dyn Fn(&Arc<DrmFramebuffer>) + Send>;

impl Compositor {
    /// Starts a compositor on `display` (see the module documentation), filling its own
    /// framebuffers with `colour`; `import` is a buffer another device exported, of at least
    /// [`FB_SIZE`] pixels, shown on plane 0 now and then.
    ///
    /// # Errors
    /// `Enodev` if the device is gone; what opening, the fbdev setup or the framebuffers
    /// return.
    pub fn start(
        display: &Arc<SimDisplay>,
        colour: u32,
        import: Option<Arc<DrmGemObject>>,
    ) -> KResult<Compositor> {
        Self::start_with(display, colour, import, None)
    }

    /// [`start`](Self::start) with `after_flip` called with the framebuffer of every flip
    /// that succeeded (a compositor telling the driver what changed: `DIRTYFB`).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with(
        display: &Arc<SimDisplay>,
        colour: u32,
        import: Option<Arc<DrmGemObject>>,
        after_flip: Option<AfterFlip>,
    ) -> KResult<Compositor> {
        let (w, h) = FB_SIZE;
        let file = DrmFile::open(display.dev(), MmStruct::new())?;
        let fbdev = syscall(|| DrmFbHelper::new(display))?;
        syscall(|| dev_master(display.dev()).set_master(&file))?;
        let planes = display.mode_config().planes().len();
        let mut fbs = Vec::new();
        for p in 0..planes {
            let pair = [display.create_fb(w, h)?, display.create_fb(w, h)?];
            for (k, fb) in pair.iter().enumerate() {
                syscall(|| fb.fill(colour ^ ((p as u32) << 8) ^ k as u32))?;
            }
            fbs.push(pair);
        }
        let imported = import.map(|obj| DrmFramebuffer::create(obj, w, h)).transpose()?;
        let crtcs = display.mode_config().crtcs().len();
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            display: display.clone(),
            fbdev: fbdev.clone(),
            file,
            fbs,
            imported: imported.clone(),
            fences: (0..crtcs).map(|_| (VecDeque::new(), None)).collect(),
            stats: CompositorStats::default(),
            broken: None,
            after_flip,
        };
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("compositor-{}", display.dev().name()))
            .spawn(move || worker.run(&s))
            .map_err(|_| Errno::Enomem)?;
        Ok(Compositor {
            display: display.clone(),
            fbdev,
            imported,
            stop,
            thread: Some(thread),
        })
    }

    /// Its display.
    pub fn display(&self) -> &Arc<SimDisplay> {
        &self.display
    }

    /// The framebuffer on the imported buffer, if it has one.
    pub fn imported(&self) -> Option<&Arc<DrmFramebuffer>> {
        self.imported.as_ref()
    }

    /// Whether the thread has ended (the display gone, a broken check, or told to stop).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the thread, waits for it and returns its counters.
    ///
    /// # Errors
    /// What its checks found broken, or that it panicked.
    pub fn finish(mut self) -> Result<CompositorStats, String> {
        self.stop.store(true, Ordering::Relaxed);
        let name = self.display.dev().name().to_string();
        let r = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(format!("compositor on {name} panicked"))),
            None => Err(format!("compositor on {name} finished twice")),
        };
        let pans = self.fbdev.pans();
        r.map(|s| CompositorStats { pans, ..s })
    }
}

impl Drop for Compositor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Compositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compositor")
            .field("dev", &self.display.dev().name())
            .finish()
    }
}

impl Worker {
    fn run(&mut self, stop: &AtomicBool) -> Result<CompositorStats, String> {
        let name = self.display.dev().name().to_string();
        let planes = self.fbs.len();
        let mut i: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let plane = (i % planes as u64) as usize;
            match self.flip(plane, i) {
                Ok(()) => {}
                Err(Errno::Enodev) if self.gone() => {
                    self.stats.enodev += 1;
                    break;
                }
                Err(e) => {
                    let why = self.broken.take().unwrap_or_else(|| e.to_string());
                    return Err(format!("{name}: flip on plane {plane}: {why}"));
                }
            }
            i += 1;
            if i.is_multiple_of(VT_SWITCH_EVERY) {
                match self.vt_switch() {
                    Ok(()) => {}
                    Err(Errno::Enodev) if self.gone() => {
                        self.stats.enodev += 1;
                        break;
                    }
                    Err(e) => return Err(format!("{name}: VT switch: {e}")),
                }
            }
        }
        self.check_fences(0).map_err(|e| format!("{name}: {e}"))?;
        let _ = syscall(|| dev_master(self.display.dev()).drop_master(&self.file));
        self.file.close();
        Ok(self.stats)
    }

    fn gone(&self) -> bool {
        self.display.dev().is_unplugged() || self.display.is_finished()
    }

    /// Flip number `i`, on `plane`: blocking on plane 0, nonblocking elsewhere.
    fn flip(&mut self, plane: usize, i: u64) -> KResult {
        let nonblock = plane != 0;
        let use_import = plane == 0 && i % 8 == 4 && self.imported.is_some();
        let fb = match (&self.imported, use_import) {
            (Some(imp), true) => imp.clone(),
            _ => self.fbs[plane][((i / self.fbs.len() as u64) % 2) as usize].clone(),
        };
        let out_fence = i.is_multiple_of(3);
        let crtc = self.display.mode_config().planes()[plane].possible_crtc();
        match syscall(|| self.display.page_flip(plane, fb.clone(), nonblock, out_fence)) {
            Ok(fence) => {
                if let Some(f) = &self.after_flip {
                    f(&fb);
                }
                self.stats.flips += 1;
                self.stats.imported_flips += u64::from(use_import);
                if let Some(f) = fence {
                    self.fences[crtc].0.push_back(f);
                }
                self.check_fences(FENCE_WINDOW).map_err(|why| {
                    self.broken = Some(why);
                    Errno::Eio
                })
            }
            Err(Errno::Ebusy) if nonblock => {
                // The previous flip is still pending: wait for the next vblank and go on.
                self.stats.ebusy += 1;
                match syscall(|| wait_one_vblank(self.display.mode_config(), crtc)) {
                    Ok(()) | Err(Errno::Etimedout | Errno::Einval) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A VT switch to the console and back: drop master, fbcon pans to its back buffer and
    /// back to the front one, take master again.
    fn vt_switch(&mut self) -> KResult {
        let master = dev_master(self.display.dev());
        syscall(|| master.drop_master(&self.file))?;
        let (_, h) = self.fbdev.size();
        let r =
            syscall(|| self.fbdev.pan_display(0, h)).and_then(|()| syscall(|| self.fbdev.pan_display(0, 0)));
        syscall(|| master.set_master(&self.file))?;
        r
    }

    /// Waits for the oldest out-fences until at most `keep` per CRTC are left, checking each
    /// signalled in time, without an error, and not before the one committed before it.
    fn check_fences(&mut self, keep: usize) -> Result<(), String> {
        for (crtc, (pending, last)) in self.fences.iter_mut().enumerate() {
            while pending.len() > keep {
                let f = pending.pop_front().expect("non-empty");
                if !syscall(|| Ok(f.poll(OUT_FENCE_WAIT))).unwrap_or(false) {
                    return Err(format!("an out-fence of CRTC {crtc} never signalled"));
                }
                let fence = f.get_fence();
                // A display unplugged with the flip pending ends it with an error.
                if let Some(e) = fence.error() {
                    if e != Errno::Enodev
                        || !(self.display.dev().is_unplugged() || self.display.is_finished())
                    {
                        return Err(format!("an out-fence of CRTC {crtc} signalled with {e}"));
                    }
                }
                let t = fence.timestamp();
                if let (Some(prev), Some(t)) = (*last, t) {
                    if t < prev {
                        return Err(format!("out-fences of CRTC {crtc} signalled out of order"));
                    }
                }
                *last = t.or(*last);
                self.stats.out_fences += 1;
            }
        }
        Ok(())
    }
}
