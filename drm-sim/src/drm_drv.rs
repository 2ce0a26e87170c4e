//! `DrmDevice`, `DrmFile`: devices, their hot-unplug, and open files. Mirrors
//! drivers/gpu/drm/drm_drv.c (`drm_dev_enter`, `drm_dev_exit`, `drm_dev_unplug`) and the
//! open/close half of drivers/gpu/drm/drm_file.c.
//!
//! # Contract
//! - Devices are reference counted (`Arc<DrmDevice>`, the kernel's `drm_dev_get`/`put`); a
//!   run has several. Unplugging frees nothing: open files, GEM objects, dma-bufs and
//!   sync_files keep their device alive and usable until their last user drops them.
//! - [`DrmDevice::enter`] (`drm_dev_enter`) opens a section in which the device cannot go
//!   away; it fails (`None`) once the device is unplugged. Sections nest. Hardware access
//!   ([`DrmDevice::mmio_read`], [`DrmDevice::mmio_write`]) is only legal inside one.
//! - [`DrmDevice::unplug`] (`drm_dev_unplug`) marks the device gone, waits for every section
//!   in flight (`synchronize_srcu`), then runs the unplug hooks (`drm_dev_unregister`'s
//!   clients); after it, `enter` fails and `DrmFile::open` returns `ENODEV`.
//! - [`DrmDevice::force_unplugged_checks`]: while on, every "is it unplugged?" check answers
//!   yes, so the after-unplug paths run on demand instead of by timing luck.
//! - A [`DrmFile`] is one open file (a client); closing it (explicitly or by dropping the
//!   last reference) runs its close hooks once, also after unplug.
//!
//! # Locking
//! - `drm_unplug_srcu` ([`DRM_UNPLUG_SRCU`], one SRCU domain for all devices): an enter
//!   section is a read section; unplug synchronizes it.
//! - `&dev->filelist_mutex` (mutex): the device's open files and their close hooks; hooks run
//!   after it is dropped.
//!
//! # Annotations
//! - MMIO accessors assert `drm_unplug_srcu` is held (`lockdep_assert_held`), so hardware
//!   access outside `drm_dev_enter` is reported.
//! - An enter guard still held when a system call returns is reported by lockdep's
//!   return-to-user check (the guard is the SRCU read section).
//! - `drm_dev_unplug` inside an enter section is reported ("suspicious RCU usage": the grace
//!   period would wait for itself) and the task recovers: the device is marked unplugged and
//!   the wait is skipped. The check uses the thread's own count of open sections, so the task
//!   recovers with the validator off too.
//!
//! # Rules
//! - R26 (no enter section crosses the user boundary), R27 (no unplug inside enter), R28 (no
//!   fence wait inside enter: `dma_fence` checks `DRM_UNPLUG_SRCU`), §3.4 (hot-unplug).
//!
//! # Simplified
//! - No minors, no sysfs; `index` is a process-wide device number.
//! - MMIO is a bank of 256 32-bit registers in memory; no side effects. After a
//!   [`DrmDevice::surprise_removal`] they read all-ones, as a PCI device that fell off the bus.
//! - MMIO is asserted inside `drm_dev_enter` everywhere, including probe (where the kernel's
//!   drivers may touch hardware before registering the device).

use crate::bugs::Bugs;
use crate::clock::Clock;
use crate::error::{Errno, KResult};
use crate::mm::MmStruct;
use lockdep::{LockClass, Mutex, SrcuReadGuard};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// `drm_unplug_srcu`: the one SRCU domain of every device's enter sections. It lives in
/// `dma_fence` because every fence wait checks it is not held (R28); this is the same object.
pub use crate::dma_fence::DRM_UNPLUG_SRCU;

static FILELIST_MUTEX: LockClass = LockClass::new("&dev->filelist_mutex");

/// Number of simulated MMIO registers per device.
pub const MMIO_REGS: usize = 256;

thread_local! {
    /// Enter sections this thread has open (on any device: the domain is shared).
    static ENTER_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// A hook run on unplug or close.
type Hook<T> = Box<dyn FnOnce(&T) + Send + 'static>;

struct FileList {
    /// Close hooks of each open file, by file id.
    open: BTreeMap<u64, Vec<Hook<DrmFile>>>,
    unplug_hooks: Vec<Hook<DrmDevice>>,
}

/// A DRM device (`struct drm_device`).
pub struct DrmDevice {
    name: String,
    index: u32,
    bugs: Bugs,
    clock: Clock,
    unplugged: AtomicBool,
    force_unplugged: AtomicBool,
    bus_lost: AtomicBool,
    regs: Box<[AtomicU32]>,
    files: Mutex<FileList>,
}

impl DrmDevice {
    /// A registered device on the real clock (`drm_dev_alloc` + `drm_dev_register`).
    pub fn new(name: &str, bugs: Bugs) -> Arc<DrmDevice> {
        Self::with_clock(name, bugs, Clock::real())
    }

    /// A registered device whose timers (its scheduler's TDR) run on `clock`.
    pub fn with_clock(name: &str, bugs: Bugs, clock: Clock) -> Arc<DrmDevice> {
        static NEXT_INDEX: AtomicU32 = AtomicU32::new(0);
        Arc::new(DrmDevice {
            name: name.to_string(),
            index: NEXT_INDEX.fetch_add(1, Ordering::Relaxed),
            bugs,
            clock,
            unplugged: AtomicBool::new(false),
            force_unplugged: AtomicBool::new(false),
            bus_lost: AtomicBool::new(false),
            regs: (0..MMIO_REGS).map(|_| AtomicU32::new(0)).collect(),
            files: Mutex::with_class(
                FileList {
                    open: BTreeMap::new(),
                    unplug_hooks: Vec::new(),
                },
                &FILELIST_MUTEX,
            ),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process-wide number.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The bugs injected into its driver.
    pub fn bugs(&self) -> Bugs {
        self.bugs
    }

    /// Its clock.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Enters a section in which the device cannot be unplugged (`drm_dev_enter`); `None`
    /// if it is (or is forced to look) unplugged. The section ends when the guard drops
    /// (`drm_dev_exit`). Sections nest; the guard is not `Send`.
    #[doc(alias = "drm_dev_enter")]
    #[track_caller]
    pub fn enter(&self) -> Option<DrmDevEnterGuard<'_>> {
        let srcu = DRM_UNPLUG_SRCU.read_lock();
        if self.is_unplugged() {
            return None;
        }
        ENTER_DEPTH.with(|d| d.set(d.get() + 1));
        Some(DrmDevEnterGuard {
            _srcu: srcu,
            _dev: PhantomData,
        })
    }

    /// Whether the device is unplugged (`drm_dev_is_unplugged`), or forced to look so.
    #[doc(alias = "drm_dev_is_unplugged")]
    pub fn is_unplugged(&self) -> bool {
        self.unplugged.load(Ordering::Acquire) || self.force_unplugged.load(Ordering::Acquire)
    }

    /// Whether [`unplug`](Self::unplug) has really run (ignoring the forcing knob).
    pub fn was_unplugged(&self) -> bool {
        self.unplugged.load(Ordering::Acquire)
    }

    /// While `on`, every unplugged check answers yes: `enter` fails, `DrmFile::open` returns
    /// `ENODEV`, drivers take their after-unplug paths, though nothing was unplugged.
    pub fn force_unplugged_checks(&self, on: bool) {
        self.force_unplugged.store(on, Ordering::Release);
    }

    /// Registers `hook` to run once the device is unplugged, after every enter section has
    /// ended (the driver's and clients' unregister work: stopping schedulers, force-completing
    /// fences). Runs at once on a device already unplugged.
    pub fn on_unplug(&self, hook: impl FnOnce(&DrmDevice) + Send + 'static) {
        let mut files = self.files.lock();
        if self.was_unplugged() {
            drop(files);
            hook(self);
        } else {
            files.unplug_hooks.push(Box::new(hook));
        }
    }

    /// Unplugs the device (`drm_dev_unplug`): marks it gone, waits for every enter section in
    /// flight (`synchronize_srcu(&drm_unplug_srcu)`), then runs the unplug hooks. A second
    /// call does nothing. A `might_sleep()`.
    ///
    /// Called inside an enter section (R27) the wait could never end: that is reported, the
    /// device is still marked unplugged, the wait is skipped and the hooks run.
    #[doc(alias = "drm_dev_unplug")]
    #[track_caller]
    pub fn unplug(&self) {
        lockdep::might_sleep();
        let first = !self.unplugged.swap(true, Ordering::AcqRel);
        if ENTER_DEPTH.with(Cell::get) > 0 {
            if lockdep::ENABLED {
                // Let the SRCU domain report it ("suspicious RCU usage"); it panics rather
                // than wait for itself (the panic hook prints one line), and the task goes on.
                let r = std::panic::catch_unwind(|| DRM_UNPLUG_SRCU.synchronize());
                debug_assert!(r.is_err(), "synchronize inside a read section returned");
            }
        } else {
            DRM_UNPLUG_SRCU.synchronize();
        }
        if first {
            let hooks = std::mem::take(&mut self.files.lock().unplug_hooks);
            for h in hooks {
                h(self);
            }
        }
    }

    /// The bus loses the device (a surprise removal: the USB cable pulled, the PCI link down):
    /// from now on every register reads all-ones, as a read from a device that is gone does,
    /// and writes go nowhere. Nothing else changes: the driver finds out when it next reads a
    /// register, and then unplugs the device itself.
    pub fn surprise_removal(&self) {
        self.bus_lost.store(true, Ordering::Release);
    }

    /// Whether [`surprise_removal`](Self::surprise_removal) happened.
    pub fn is_bus_lost(&self) -> bool {
        self.bus_lost.load(Ordering::Acquire)
    }

    #[track_caller]
    fn assert_entered(&self) {
        lockdep::assert_held(&DRM_UNPLUG_SRCU);
    }

    /// Reads register `reg` (all-ones once the bus lost the device). Must run inside
    /// [`enter`](Self::enter) (asserted).
    ///
    /// # Panics
    /// If `reg` is not below [`MMIO_REGS`].
    #[track_caller]
    pub fn mmio_read(&self, reg: usize) -> u32 {
        self.assert_entered();
        let v = self.regs[reg].load(Ordering::Acquire);
        if self.is_bus_lost() {
            u32::MAX
        } else {
            v
        }
    }

    /// Writes register `reg` (lost once the bus lost the device). Must run inside
    /// [`enter`](Self::enter) (asserted).
    ///
    /// # Panics
    /// If `reg` is not below [`MMIO_REGS`].
    #[track_caller]
    pub fn mmio_write(&self, reg: usize, value: u32) {
        self.assert_entered();
        if !self.is_bus_lost() {
            self.regs[reg].store(value, Ordering::Release);
        }
    }

    /// How many files are open on it.
    pub fn open_files(&self) -> usize {
        self.files.lock().open.len()
    }
}

impl std::fmt::Debug for DrmDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmDevice")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("unplugged", &self.is_unplugged())
            .finish()
    }
}

/// An open `drm_dev_enter` section; dropping it is `drm_dev_exit`.
#[must_use = "the section ends when the guard is dropped"]
pub struct DrmDevEnterGuard<'a> {
    _srcu: SrcuReadGuard<'static>,
    _dev: PhantomData<&'a DrmDevice>,
}

impl Drop for DrmDevEnterGuard<'_> {
    fn drop(&mut self) {
        ENTER_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl std::fmt::Debug for DrmDevEnterGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DrmDevEnterGuard")
    }
}

/// One open file of a device (`struct drm_file`): a client with its address space.
pub struct DrmFile {
    id: u64,
    dev: Arc<DrmDevice>,
    mm: Arc<MmStruct>,
    closed: AtomicBool,
}

impl DrmFile {
    /// Opens the device (`drm_open`).
    ///
    /// # Errors
    /// `Enodev` if the device is unplugged (or forced to look so).
    #[doc(alias = "drm_open")]
    pub fn open(dev: &Arc<DrmDevice>, mm: Arc<MmStruct>) -> KResult<Arc<DrmFile>> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        if dev.is_unplugged() {
            return Err(Errno::Enodev);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        dev.files.lock().open.insert(id, Vec::new());
        Ok(Arc::new(DrmFile {
            id,
            dev: dev.clone(),
            mm,
            closed: AtomicBool::new(false),
        }))
    }

    /// Its device.
    pub fn dev(&self) -> &Arc<DrmDevice> {
        &self.dev
    }

    /// The address space of the process that opened it.
    pub fn mm(&self) -> &Arc<MmStruct> {
        &self.mm
    }

    /// A process-unique number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether it has been closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Registers `hook` to run when the file closes (the driver's `postclose`, entity
    /// teardown, handle release). Runs at once on a closed file.
    pub fn on_close(&self, hook: impl FnOnce(&DrmFile) + Send + 'static) {
        let mut files = self.dev.files.lock();
        match files.open.get_mut(&self.id) {
            Some(hooks) => hooks.push(Box::new(hook)),
            None => {
                drop(files);
                hook(self);
            }
        }
    }

    /// Runs one ioctl on it (`drm_ioctl`): `ENODEV` once the device is unplugged (the core
    /// checks before dispatching), otherwise `f` as one system call, so whatever `f` leaves
    /// held when it returns (an enter section included, R26) is reported at the return to user
    /// space. `f` takes `drm_dev_enter` itself around hardware access, as drivers do.
    ///
    /// # Errors
    /// `Enodev` if the device is unplugged; otherwise `f`'s error.
    #[doc(alias = "drm_ioctl")]
    #[track_caller]
    pub fn ioctl<T>(&self, f: impl FnOnce(&DrmFile) -> KResult<T>) -> KResult<T> {
        let _syscall = lockdep::syscall();
        if self.dev.is_unplugged() {
            return Err(Errno::Enodev);
        }
        f(self)
    }

    /// Closes it (`drm_release`): leaves the device's file list, then runs the close hooks in
    /// registration order, outside `&dev->filelist_mutex`. Works after unplug. Runs once; also
    /// run when the last reference drops, so drop it in process context.
    #[doc(alias = "drm_release")]
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let hooks = self.dev.files.lock().open.remove(&self.id).unwrap_or_default();
        for h in hooks {
            h(self);
        }
    }
}

impl Drop for DrmFile {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for DrmFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrmFile")
            .field("id", &self.id)
            .field("dev", &self.dev.name)
            .finish()
    }
}
