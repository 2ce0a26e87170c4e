//! `DmaFence`: the cross-driver completion primitive. Mirrors drivers/dma-buf/dma-fence.c.
//!
//! A fence is a one-shot event: created pending, signalled exactly once (optionally with an
//! error set before), after which every callback registered on it has run and every waiter
//! has woken. Fences carry a `context` (one timeline) and a `seqno` (its position on that
//! timeline), so two fences of one context can be compared without looking at either.
//!
//! # Contract
//! - A fence signals exactly once: [`DmaFence::signal`] on a signalled fence returns
//!   `Err(Einval)` and changes nothing, so racing signallers (the irq handler and a timeout
//!   handler, say) need no coordination of their own.
//! - Callbacks run exactly once, under the fence lock, in the signaller's context: from an irq
//!   handler if the fence is signalled there. They must not sleep (R6): no mutex, no
//!   allocation that may reclaim, no fence wait. A callback added to a signalled fence is not
//!   run: [`DmaFence::add_callback`] returns `Err(Enoent)` and the caller acts itself.
//! - `enable_signaling` of the provider runs once, under the fence lock, when the first
//!   callback or waiter arrives: providers that only check their hardware on demand start
//!   doing so then. Returning `false` means "already done": the fence is signalled at once.
//! - An error is set before signalling ([`DmaFence::set_error`], which panics after the signal
//!   as the kernel `WARN`s; [`DmaFence::try_set_error`] for paths that race the signal) and
//!   can never change after.
//! - From a fence's own callback only its lock-free accessors may be used ([`DmaFence::error`],
//!   [`DmaFence::timestamp`], [`DmaFence::test_signaled_flag`], [`DmaFence::is_signaled`],
//!   [`DmaFence::add_callback`], which refuses): the others take the fence lock, which the
//!   callback already holds.
//! - Every code path needed to reach a signal is a signalling section (R4):
//!   [`dma_fence_begin_signalling`] / [`dma_fence_end_signalling`] or [`signalling`]. A fence
//!   wait ([`DmaFence::wait`]) may happen under any lock except those taken inside such a
//!   section (R1), and never inside a `drm_dev_enter` section (R28).
//! - The refcount is the `Arc`: `dma_fence_get` is `clone`, `dma_fence_put` is `drop`, and the
//!   provider's `release` runs on the last drop, under whatever lock the dropper holds (R7).
//!
//! # Locking
//! - `&fence->inline_lock`: the lock of every fence created by [`DmaFence::init`] without a
//!   lock of its own (the kernel's 2026 default, `DMA_FENCE_FLAG_INLINE_LOCK_BIT`). Each fence
//!   has its own instance, but all are initialised at one site, so they share one class:
//!   two of them must never nest. Container fences, whose lock is held while their members'
//!   are taken, give theirs a class of its own ([`DmaFence::init_with_inline_class`]:
//!   `&dma_fence_array_lock_key`, `&dma_fence_chain_lock_key`, as the kernel's
//!   `lockdep_set_class`); [`DmaFence::lock_irqsave_nested`] is there for other nestings.
//!   A callback that signals another fence (a hardware fence's callback signalling
//!   drm_sched's `finished`) takes that fence's lock inside its own: give one of the two a
//!   provider lock ([`DmaFenceLock`]) of its own class, as drivers and drm_sched do, or the
//!   two inline locks are reported as recursive locking.
//! - external locks ([`DmaFenceLock`], [`DmaFence::init_with_lock`]): one lock shared by a
//!   provider's fences, with the provider's class (e.g. drm_sched's `&fence->lock`).
//! - `dma_fence_stub_lock`: the lock of the stub fences.
//! - Every fence lock is an irq-safe spinlock ([`lockdep::SpinLock`]) taken with interrupts
//!   disabled ([`DmaFence::lock_irqsave`]); only the `fence-lock-irq-unsafe` injected bug takes
//!   one with interrupts on ([`DmaFence::lock_irq_unsafe`]). Order: `dma_fence_map` (read,
//!   when signalling from process context) `->` container lock `->` member fence lock `->`
//!   whatever callbacks take (wait-queue locks).
//!
//! # Annotations
//! - `dma_fence_map` ([`DMA_FENCE_MAP`]): [`dma_fence_begin_signalling`] is a read-trylock of
//!   it (so it adds no dependency into the map, only out of it), skipped when the thread is
//!   already inside a section or in atomic context; [`might_wait`] is a write acquire+release
//!   (`__dma_fence_might_wait`), which first drops the thread's own read hold and takes it
//!   back afterwards, so a bare wait inside a section is not a report. [`DmaFence::signal`] is
//!   itself a signalling section.
//! - `drm_unplug_srcu` ([`DRM_UNPLUG_SRCU`]): every wait checks that it is not held (R28).
//!   The domain is defined here and `drm_drv` re-exports it, so both name one object.
//! - Waits call [`lockdep::might_sleep`] first: a wait in atomic context is reported even
//!   when the fence is already signalled.
//!
//! # Rules
//! R1 (wait vs. signalling section), R4 (signal paths are sections), R5 (every wait can time
//! out), R6 (callbacks under the irq-safe fence lock), R7 (release on the last put),
//! R8 (container fences: see `dma_fence_array`, `dma_fence_chain`), R28 (no wait inside
//! `drm_dev_enter`), R32 (irq-safe fence locks), R33 (sleeping in atomic).
//!
//! # Simplified
//! - No RCU: a fence is freed when its last `Arc` goes, and readers hold an `Arc`.
//! - No signals: an interruptible wait (`intr`) is never interrupted, so it never returns
//!   `Eintr`.
//! - No `ops->wait` override: every wait is the kernel's `dma_fence_default_wait`, a waker
//!   callback on the fence and a real sleep (thread parking) until it runs or time is up.
//! - `in_atomic()` in [`dma_fence_begin_signalling`] sees only what this module can see: a
//!   fence lock held by this thread (callbacks, `*_locked` paths). Interrupt handlers entered
//!   with [`lockdep::irq_context`] are invisible to it (lockdep exposes no context query);
//!   the read-trylock taken there instead marks no irq usage, so the difference is benign.
//! - A signalling section opened by another pseudo-lock guard of [`DMA_FENCE_MAP`] (the
//!   `#[signalling(DMA_FENCE_MAP)]` attribute) cannot be dropped by [`might_wait`], since its
//!   guard belongs to the caller: a wait inside such a section is reported as recursive
//!   locking. Open sections with [`signalling`] where a wait may happen inside.
//! - Timestamps are `Instant`s; no tracepoints, no `dma_fence_describe`.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use lockdep::{ContextScope, LockClass, LockMap, LockMapGuard, SpinLock, SpinLockGuard, Srcu};

use crate::error::{Errno, KResult};

pub use crate::dma_fence_array::{
    dma_fence_array_create, dma_fence_array_create_with_bugs, dma_fence_is_array, to_dma_fence_array,
    DmaFenceArray,
};
pub use crate::dma_fence_chain::{
    dma_fence_chain_find_seqno, dma_fence_chain_init, dma_fence_is_chain, to_dma_fence_chain, DmaFenceChain,
};
pub use crate::dma_fence_unwrap::{dma_fence_unwrap, dma_fence_unwrap_merge};

/// The fence-signalling pseudo-lock (`dma_fence_lockdep_map`, printed `dma_fence_map`).
pub static DMA_FENCE_MAP: LockMap = LockMap::new("dma_fence_map");

/// The global device-unplug SRCU domain (`drm_unplug_srcu`, drivers/gpu/drm/drm_drv.c).
///
/// Defined here because every fence wait checks it (R28) and this module cannot depend on
/// `drm_drv`; `drm_drv::DRM_UNPLUG_SRCU` re-exports this very object, so `drm_dev_enter`
/// sections and the check see one domain.
pub static DRM_UNPLUG_SRCU: Srcu = Srcu::new("drm_unplug_srcu");

/// The class of every inline fence lock (`spin_lock_init(&fence->inline_lock)` in
/// `dma_fence_init`: one initialisation site, one class).
static INLINE_LOCK_CLASS: LockClass = LockClass::new("&fence->inline_lock");

/// The class of the stub fences' shared lock (`static DEFINE_SPINLOCK(dma_fence_stub_lock)`).
static STUB_LOCK_CLASS: LockClass = LockClass::new("dma_fence_stub_lock");

/// The kernel's `SINGLE_DEPTH_NESTING`: the subclass of a lock taken under another one of
/// the same class (for [`DmaFence::lock_irqsave_nested`]).
pub const SINGLE_DEPTH_NESTING: u32 = 1;

/// `dma_fence_context_alloc`'s counter. Context 0 is never handed out (the stub uses it).
static NEXT_CONTEXT: AtomicU64 = AtomicU64::new(1);

/// Allocates `num` consecutive fence contexts and returns the first (`dma_fence_context_alloc`).
pub fn dma_fence_context_alloc(num: u64) -> u64 {
    NEXT_CONTEXT.fetch_add(num, Ordering::Relaxed)
}

/// What a fence provider implements (`struct dma_fence_ops`). Every method may be called under
/// the fence lock unless it says otherwise, so none may sleep.
pub trait DmaFenceOps: Send + Sync + 'static {
    /// The driver's name, for debugging output (`get_driver_name`).
    fn get_driver_name(&self) -> &'static str;

    /// The timeline's name (`get_timeline_name`).
    fn get_timeline_name(&self) -> &'static str;

    /// Called once, under the fence lock, when the first callback or waiter arrives: start
    /// watching for completion (arm an interrupt, say). Return `false` if the fence is already
    /// done; it is then signalled at once.
    fn enable_signaling(&self, f: &DmaFence) -> bool {
        let _ = f;
        true
    }

    /// Peeks at completion without waiting (`signaled`); `true` signals the fence. May be
    /// called without the fence lock.
    fn signaled(&self, f: &DmaFence) -> bool {
        let _ = f;
        false
    }

    /// A waiter needs the fence by `deadline` (`set_deadline`): a hint to boost clocks.
    /// Called without the fence lock.
    fn set_deadline(&self, f: &DmaFence, deadline: Instant) {
        let _ = (f, deadline);
    }

    /// The last reference went (`release`): runs in the context of the final `drop`, which
    /// may be under any lock (R7), so it must neither sleep nor take locks.
    fn release(&self, f: &DmaFence) {
        let _ = f;
    }

    /// An error to give the fence when it signals without one set (the kernel's
    /// `PENDING_ERROR` in `fence->error`, which arrays resolve at signal time). Called under
    /// the fence lock, in the signal.
    #[doc(hidden)]
    fn pending_error(&self) -> Option<Errno> {
        None
    }

    /// The container this provider is (arrays and chains), so unwrapping code can look
    /// inside. Not in the kernel's ops (it compares `ops` pointers); only the containers of
    /// this crate answer.
    #[doc(hidden)]
    fn container(&self) -> Option<Container<'_>> {
        None
    }
}

/// A container fence seen through its ops (see [`DmaFenceOps::container`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Container<'a> {
    /// A `dma_fence_array`.
    Array(&'a crate::dma_fence_array::DmaFenceArray),
    /// A `dma_fence_chain` link.
    Chain(&'a crate::dma_fence_chain::DmaFenceChain),
}

/// An external fence lock shared by one provider's fences (the `spinlock_t *lock` argument
/// of `dma_fence_init`; discouraged since 2026, kept for providers that need one lock over
/// several fences, as drm_sched's `scheduled`/`finished` pair).
pub struct DmaFenceLock {
    lock: SpinLock<()>,
}

impl DmaFenceLock {
    /// A new lock in `class` (name it as the kernel prints the provider's lock).
    pub fn new(class: &'static LockClass) -> Arc<DmaFenceLock> {
        Arc::new(DmaFenceLock {
            lock: SpinLock::with_class((), class),
        })
    }
}

impl std::fmt::Debug for DmaFenceLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DmaFenceLock")
    }
}

/// Where a fence's lock lives.
enum FenceLock {
    Inline(SpinLock<()>),
    External(Arc<DmaFenceLock>),
}

impl FenceLock {
    fn spin(&self) -> &SpinLock<()> {
        match self {
            FenceLock::Inline(l) => l,
            FenceLock::External(l) => &l.lock,
        }
    }
}

/// A registered callback.
type Callback = Box<dyn FnOnce(&DmaFence) + Send + 'static>;

/// What the fence lock protects.
struct FenceInner {
    /// Pending callbacks, in the order they run.
    callbacks: Vec<(u64, Callback)>,
}

const FLAG_SIGNALED: u32 = 1 << 0;
const FLAG_TIMESTAMP: u32 = 1 << 1;
const FLAG_ENABLE_SIGNAL: u32 = 1 << 2;

/// Callback identities, unique in the process, so a [`DmaFenceCb`] can name its entry.
static NEXT_CB: AtomicU64 = AtomicU64::new(1);

/// A software-signalled or hardware-backed fence (`struct dma_fence`).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use drm_sim::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
///
/// struct Ring;
/// impl DmaFenceOps for Ring {
///     fn get_driver_name(&self) -> &'static str { "gpu" }
///     fn get_timeline_name(&self) -> &'static str { "ring0" }
/// }
///
/// let ctx = dma_fence_context_alloc(1);
/// let fence = DmaFence::init(Arc::new(Ring), ctx, 1);
/// fence.add_callback(|f| assert!(f.test_signaled_flag())).unwrap();
/// let irq = {
///     let fence = fence.clone();
///     std::thread::spawn(move || {
///         let _irq = lockdep::irq_context(); // the interrupt handler signals it
///         fence.signal().unwrap();
///     })
/// };
/// fence.wait_timeout(true, Duration::from_secs(5)).unwrap();
/// irq.join().unwrap();
/// ```
pub struct DmaFence {
    ops: Arc<dyn DmaFenceOps>,
    lock: FenceLock,
    context: u64,
    seqno: u64,
    /// `FLAG_*` bits; set under the lock, read without it (as the kernel's `flags`).
    flags: AtomicU32,
    /// 0, or the kernel's negative error code.
    error: AtomicI32,
    /// Set once, by the signal, before the callbacks run; read without the lock (as the
    /// kernel reads `fence->timestamp` once the TIMESTAMP bit is set).
    timestamp: OnceLock<Instant>,
    /// Only touched through a [`DmaFenceLockGuard`] of this fence.
    inner: UnsafeCell<FenceInner>,
    me: Weak<DmaFence>,
}

// SAFETY: `inner` is only reached through `DmaFenceLockGuard::inner`, which requires the
// guard of this fence's lock (inline or external): every access is serialised by that lock.
// Everything else is atomics, an `Arc<dyn DmaFenceOps>` (Send + Sync) and the lock itself.
unsafe impl Sync for DmaFence {}
// SAFETY: the callbacks in `inner` are `Send`; nothing in a fence is tied to a thread.
unsafe impl Send for DmaFence {}

/// The handle of a registered callback, for [`DmaFence::remove_callback`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DmaFenceCb {
    id: u64,
}

/// A fence's state as `dma_fence_get_status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceStatus {
    /// Not signalled yet (0).
    Pending,
    /// Signalled without error (1).
    Signaled,
    /// Signalled with this error (negative).
    Error(Errno),
}

impl FenceStatus {
    /// The kernel's integer: 0 pending, 1 signalled, or the negative error.
    pub fn code(self) -> i32 {
        match self {
            FenceStatus::Pending => 0,
            FenceStatus::Signaled => 1,
            FenceStatus::Error(e) => e.code(),
        }
    }
}

/// Every errno, to turn a stored code back into an [`Errno`].
const ERRNOS: [Errno; 13] = [
    Errno::Enoent,
    Errno::Eintr,
    Errno::Eio,
    Errno::Eagain,
    Errno::Enomem,
    Errno::Ebusy,
    Errno::Einval,
    Errno::Enodev,
    Errno::Edeadlk,
    Errno::Ealready,
    Errno::Etimedout,
    Errno::Ecanceled,
    Errno::Efault,
];

/// The [`Errno`] whose kernel code is `code`.
pub(crate) fn errno_from_code(code: i32) -> Option<Errno> {
    ERRNOS.iter().copied().find(|e| e.code() == code)
}

thread_local! {
    /// This thread's `dma_fence_map` read holds taken by [`dma_fence_begin_signalling`]
    /// (innermost last), kept so [`might_wait`] can drop and retake one.
    static SECTIONS: RefCell<Vec<LockMapGuard<'static>>> = const { RefCell::new(Vec::new()) };
    /// How many fence locks this thread holds: the part of `in_atomic()` visible here.
    static FENCE_LOCKS_HELD: Cell<u32> = const { Cell::new(0) };
}

/// Begins a fence-signalling critical section (`dma_fence_begin_signalling`): everything the
/// thread does until the matching [`dma_fence_end_signalling`] is needed to signal a fence,
/// so it must not wait for fences under locks, allocate with reclaim, or take a `dma_resv`.
///
/// Returns the cookie for [`dma_fence_end_signalling`]: `true` when this call did nothing
/// because the thread is already in a section or in atomic context (as the kernel), and
/// always with the validator off.
#[track_caller]
pub fn dma_fence_begin_signalling() -> bool {
    // Without the validator there is nothing to annotate (the kernel's !CONFIG_LOCKDEP stub).
    if !lockdep::ENABLED || lockdep::is_held(&DMA_FENCE_MAP) {
        return true;
    }
    if FENCE_LOCKS_HELD.with(Cell::get) > 0 {
        return true;
    }
    // A read-trylock: no dependency into the map, so any lock may be held here; everything
    // taken until the end depends on it. `try_read` always succeeds.
    if let Some(g) = DMA_FENCE_MAP.try_read() {
        SECTIONS.with(|s| s.borrow_mut().push(g));
    }
    false
}

/// Ends a section begun by [`dma_fence_begin_signalling`] (`dma_fence_end_signalling`).
pub fn dma_fence_end_signalling(cookie: bool) {
    if cookie {
        return;
    }
    let g = SECTIONS.with(|s| s.borrow_mut().pop());
    debug_assert!(
        g.is_some() || !lockdep::ENABLED,
        "dma_fence_end_signalling(false) without a section begun on this thread"
    );
    drop(g);
}

/// A signalling section as a scope ([`dma_fence_begin_signalling`] on creation,
/// [`dma_fence_end_signalling`] on drop). Not `Send`: a section belongs to its thread.
#[must_use = "the signalling section ends when this is dropped"]
pub struct DmaFenceSignalling {
    cookie: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for DmaFenceSignalling {
    fn drop(&mut self) {
        dma_fence_end_signalling(self.cookie);
    }
}

impl std::fmt::Debug for DmaFenceSignalling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaFenceSignalling")
            .field("cookie", &self.cookie)
            .finish()
    }
}

/// Opens a signalling section for the scope of the returned guard.
///
/// ```
/// use drm_sim::dma_fence::{signalling, DMA_FENCE_MAP};
///
/// fn run_job() {
///     let _section = signalling();
///     // only what may run while someone waits for this job's fence: no waits under
///     // locks, no reclaiming allocation, no dma_resv
/// }
/// run_job();
/// assert!(!lockdep::is_held(&DMA_FENCE_MAP));
/// ```
#[track_caller]
pub fn signalling() -> DmaFenceSignalling {
    DmaFenceSignalling {
        cookie: dma_fence_begin_signalling(),
        _not_send: PhantomData,
    }
}

/// Records that this thread may wait for a fence here (`__dma_fence_might_wait`): a write
/// acquire+release of `dma_fence_map`, so holding a lock that a signalling section takes
/// closes a cycle (R1). This thread's read holds of the map (however the section was opened)
/// are dropped around it and put back in place, so the wait itself does not count as
/// recursion.
#[doc(alias = "__dma_fence_might_wait")]
#[track_caller]
pub fn might_wait() {
    // The kernel drops this thread's read hold of the map around the acquire, wherever the
    // section was opened (`dma_fence_signalling()`, `#[lockdep::signalling]`, a nested
    // scope), so a bare wait directly inside a section is no recursion; a lock taken inside
    // the section and held across the wait still closes the R1 cycle.
    DMA_FENCE_MAP.with_own_holds_released(|| DMA_FENCE_MAP.sync());
}

/// A held fence lock, taken with interrupts disabled unless made by
/// [`DmaFence::lock_irq_unsafe`]. Fields drop in order: the spinlock is released before
/// interrupts come back on, as `spin_unlock_irqrestore`.
pub struct DmaFenceLockGuard<'a> {
    fence: &'a DmaFence,
    _spin: SpinLockGuard<'a, ()>,
    _irq: Option<ContextScope>,
    /// A held lock belongs to its thread, whichever way it was taken.
    _not_send: PhantomData<*const ()>,
}

impl<'a> DmaFenceLockGuard<'a> {
    /// The fence whose lock this is.
    pub fn fence(&self) -> &'a DmaFence {
        self.fence
    }

    /// Whether this guard holds `fence`'s lock (its own, or a provider lock both share).
    fn covers(&self, fence: &DmaFence) -> bool {
        std::ptr::eq(self.fence.lock.spin(), fence.lock.spin())
    }

    /// The state `fence`'s lock protects.
    ///
    /// # Panics
    /// If this guard does not hold `fence`'s lock.
    fn inner_of<'b>(&'b mut self, fence: &'b DmaFence) -> &'b mut FenceInner {
        assert!(
            self.covers(fence),
            "a fence's *_locked function called with a guard of another lock"
        );
        // SAFETY: this guard holds `fence`'s lock (checked above), and `&mut self` makes this
        // the only borrow through the guard; every other access to a fence's `inner` needs a
        // guard of that fence's lock, which no other guard can hold at the same time.
        unsafe { &mut *fence.inner.get() }
    }
}

impl Drop for DmaFenceLockGuard<'_> {
    fn drop(&mut self) {
        FENCE_LOCKS_HELD.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

impl std::fmt::Debug for DmaFenceLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaFenceLockGuard")
            .field("context", &self.fence.context)
            .field("seqno", &self.fence.seqno)
            .finish()
    }
}

impl DmaFence {
    fn build(ops: Arc<dyn DmaFenceOps>, lock: FenceLock, context: u64, seqno: u64) -> Arc<DmaFence> {
        Arc::new_cyclic(|me| DmaFence {
            ops,
            lock,
            context,
            seqno,
            flags: AtomicU32::new(0),
            error: AtomicI32::new(0),
            timestamp: OnceLock::new(),
            inner: UnsafeCell::new(FenceInner {
                callbacks: Vec::new(),
            }),
            me: me.clone(),
        })
    }

    /// A new pending fence with its own inline lock (`dma_fence_init(fence, ops, NULL, ...)`),
    /// of the one class `&fence->inline_lock`.
    #[doc(alias = "dma_fence_init")]
    pub fn init(ops: Arc<dyn DmaFenceOps>, context: u64, seqno: u64) -> Arc<DmaFence> {
        let lock = FenceLock::Inline(SpinLock::with_class((), &INLINE_LOCK_CLASS));
        Self::build(ops, lock, context, seqno)
    }

    /// A new pending fence with its own inline lock in `class` instead of the shared
    /// `&fence->inline_lock` (`dma_fence_init` then `lockdep_set_class(&fence->inline_lock,
    /// key)`): containers do this, since their lock is held while their members' inline
    /// locks are taken.
    pub fn init_with_inline_class(
        ops: Arc<dyn DmaFenceOps>,
        class: &'static LockClass,
        context: u64,
        seqno: u64,
    ) -> Arc<DmaFence> {
        let lock = FenceLock::Inline(SpinLock::with_class((), class));
        Self::build(ops, lock, context, seqno)
    }

    /// A new pending fence locked by the provider's shared `lock`
    /// (`dma_fence_init(fence, ops, lock, ...)`).
    #[doc(alias = "dma_fence_init")]
    pub fn init_with_lock(
        ops: Arc<dyn DmaFenceOps>,
        lock: &Arc<DmaFenceLock>,
        context: u64,
        seqno: u64,
    ) -> Arc<DmaFence> {
        Self::build(ops, FenceLock::External(lock.clone()), context, seqno)
    }

    /// Another reference (`dma_fence_get` from a plain reference, as callbacks have one).
    ///
    /// # Panics
    /// If called from the provider's `release` (the fence is being freed).
    #[doc(alias = "dma_fence_get")]
    pub fn get(&self) -> Arc<DmaFence> {
        self.me
            .upgrade()
            .expect("dma_fence_get() on a fence being released")
    }

    /// The provider.
    pub fn ops(&self) -> &Arc<dyn DmaFenceOps> {
        &self.ops
    }

    /// The timeline this fence belongs to.
    pub fn context(&self) -> u64 {
        self.context
    }

    /// The position on its timeline.
    pub fn seqno(&self) -> u64 {
        self.seqno
    }

    /// The provider's driver name.
    pub fn driver_name(&self) -> &'static str {
        self.ops.get_driver_name()
    }

    /// The provider's timeline name.
    pub fn timeline_name(&self) -> &'static str {
        self.ops.get_timeline_name()
    }

    /// The lock's validator record, for `lockdep::assert_held` and friends
    /// (`dma_fence_assert_held`).
    pub fn lock_ref(&self) -> &impl lockdep::Lockable {
        self.lock.spin()
    }

    /// Reports unless this thread holds the fence lock (`dma_fence_assert_held`).
    #[doc(alias = "dma_fence_assert_held")]
    #[track_caller]
    pub fn assert_held(&self) {
        lockdep::assert_held(self.lock.spin());
    }

    fn flag(&self, bit: u32) -> bool {
        self.flags.load(Ordering::Acquire) & bit != 0
    }

    /// Takes the fence lock with interrupts disabled (`dma_fence_lock_irqsave`).
    #[doc(alias = "dma_fence_lock_irqsave")]
    #[track_caller]
    pub fn lock_irqsave(&self) -> DmaFenceLockGuard<'_> {
        self.lock_irqsave_nested(0)
    }

    /// [`lock_irqsave`](Self::lock_irqsave) as nesting level `subclass` of the lock's class
    /// (`spin_lock_irqsave_nested`), for a fence lock taken under another of the same class.
    #[track_caller]
    pub fn lock_irqsave_nested(&self, subclass: u32) -> DmaFenceLockGuard<'_> {
        let irq = lockdep::irqs_disabled();
        let spin = self.lock.spin().lock_nested(subclass);
        FENCE_LOCKS_HELD.with(|c| c.set(c.get() + 1));
        DmaFenceLockGuard {
            fence: self,
            _spin: spin,
            _irq: Some(irq),
            _not_send: PhantomData,
        }
    }

    /// Takes the fence lock with interrupts left as they are (`spin_lock(fence->lock)` in
    /// process context). Wrong for a lock the irq handler takes (R32): only the
    /// `fence-lock-irq-unsafe` injected bug uses it.
    #[track_caller]
    pub fn lock_irq_unsafe(&self) -> DmaFenceLockGuard<'_> {
        let spin = self.lock.spin().lock();
        FENCE_LOCKS_HELD.with(|c| c.set(c.get() + 1));
        DmaFenceLockGuard {
            fence: self,
            _spin: spin,
            _irq: None,
            _not_send: PhantomData,
        }
    }

    /// Signals the fence now (`dma_fence_signal`): runs every callback under the lock and
    /// wakes every waiter. Itself a signalling section.
    ///
    /// # Errors
    /// `Einval` if the fence was already signalled (nothing happens).
    #[doc(alias = "dma_fence_signal")]
    #[track_caller]
    pub fn signal(&self) -> KResult {
        self.signal_timestamp(Instant::now())
    }

    /// [`signal`](Self::signal) with the completion time given (`dma_fence_signal_timestamp`).
    ///
    /// # Errors
    /// `Einval` if the fence was already signalled.
    #[doc(alias = "dma_fence_signal_timestamp")]
    #[track_caller]
    pub fn signal_timestamp(&self, timestamp: Instant) -> KResult {
        let cookie = dma_fence_begin_signalling();
        let r = {
            let mut g = self.lock_irqsave();
            self.signal_timestamp_locked(&mut g, timestamp)
        };
        dma_fence_end_signalling(cookie);
        r
    }

    /// [`signal`](Self::signal) with the fence lock already held (`dma_fence_signal_locked`).
    ///
    /// # Errors
    /// `Einval` if the fence was already signalled.
    #[doc(alias = "dma_fence_signal_locked")]
    pub fn signal_locked(&self, g: &mut DmaFenceLockGuard<'_>) -> KResult {
        self.signal_timestamp_locked(g, Instant::now())
    }

    /// The core of signalling (`dma_fence_signal_timestamp_locked`).
    ///
    /// # Errors
    /// `Einval` if the fence was already signalled.
    #[doc(alias = "dma_fence_signal_timestamp_locked")]
    pub fn signal_timestamp_locked(&self, g: &mut DmaFenceLockGuard<'_>, timestamp: Instant) -> KResult {
        // A guard proves a lock is held; this checks that it is this fence's.
        assert!(g.covers(self), "signal_locked() with a guard of another lock");
        // The signalled bit is only ever set here, under the lock: a plain check suffices.
        if self.flag(FLAG_SIGNALED) {
            return Err(Errno::Einval);
        }
        if self.error().is_none() {
            if let Some(e) = self.ops.pending_error() {
                self.error.store(e.code(), Ordering::Release);
            }
        }
        self.flags.fetch_or(FLAG_SIGNALED, Ordering::AcqRel);
        let callbacks = std::mem::take(&mut g.inner_of(self).callbacks);
        let _ = self.timestamp.set(timestamp);
        self.flags.fetch_or(FLAG_TIMESTAMP, Ordering::AcqRel);
        // Still under the lock, in the signaller's context: the kernel's list walk.
        for (_, cb) in callbacks {
            cb(self);
        }
        Ok(())
    }

    /// Whether the fence is signalled (`dma_fence_is_signaled`): if the provider's
    /// `signaled` says it is done, the fence is signalled now. Takes no lock when the fence
    /// is known signalled, so callbacks may call it on their own fence.
    #[doc(alias = "dma_fence_is_signaled")]
    #[track_caller]
    pub fn is_signaled(&self) -> bool {
        if self.flag(FLAG_SIGNALED) {
            return true;
        }
        if self.ops.signaled(self) {
            let _ = self.signal();
            return true;
        }
        false
    }

    /// [`is_signaled`](Self::is_signaled) with the lock held (`dma_fence_is_signaled_locked`).
    #[doc(alias = "dma_fence_is_signaled_locked")]
    pub fn is_signaled_locked(&self, g: &mut DmaFenceLockGuard<'_>) -> bool {
        assert!(
            g.covers(self),
            "is_signaled_locked() with a guard of another lock"
        );
        if self.flag(FLAG_SIGNALED) {
            return true;
        }
        if self.ops.signaled(self) {
            let _ = self.signal_locked(g);
            return true;
        }
        false
    }

    /// Whether the signalled bit is set, without asking the provider (`test_bit(SIGNALED)`).
    pub fn test_signaled_flag(&self) -> bool {
        self.flag(FLAG_SIGNALED)
    }

    /// When the fence was signalled, once it is (`fence->timestamp`). Lock-free, so
    /// callbacks may read it.
    pub fn timestamp(&self) -> Option<Instant> {
        if !self.flag(FLAG_TIMESTAMP) {
            return None;
        }
        self.timestamp.get().copied()
    }

    /// Marks the fence as failed with `error` (`dma_fence_set_error`); must come before the
    /// signal. Lock-free, as the kernel's.
    ///
    /// # Panics
    /// If the fence is already signalled (the kernel's `WARN_ON`, made fatal so the mistake
    /// cannot pass unnoticed in a test).
    #[doc(alias = "dma_fence_set_error")]
    pub fn set_error(&self, error: Errno) {
        assert!(
            !self.flag(FLAG_SIGNALED),
            "dma_fence_set_error() on a signalled fence ({}:{})",
            self.context,
            self.seqno
        );
        self.error.store(error.code(), Ordering::Release);
    }

    /// [`set_error`](Self::set_error) for paths that may race the signal (a timeout handler
    /// force-completing a fence the irq may complete meanwhile): under the fence lock, so
    /// either the error lands before the signal or nothing changes. Returns whether it did.
    /// Takes the fence lock: not from this fence's own callbacks.
    #[track_caller]
    pub fn try_set_error(&self, error: Errno) -> bool {
        let _g = self.lock_irqsave();
        if self.flag(FLAG_SIGNALED) {
            return false;
        }
        self.error.store(error.code(), Ordering::Release);
        true
    }

    /// The error set on the fence, if any (`fence->error`). Lock-free.
    pub fn error(&self) -> Option<Errno> {
        errno_from_code(self.error.load(Ordering::Acquire))
    }

    /// The status (`dma_fence_get_status`): takes the fence lock, so not from this fence's
    /// own callbacks (use [`error`](Self::error) and [`test_signaled_flag`](Self::test_signaled_flag)
    /// there).
    #[doc(alias = "dma_fence_get_status")]
    #[track_caller]
    pub fn get_status(&self) -> FenceStatus {
        let mut g = self.lock_irqsave();
        self.get_status_locked(&mut g)
    }

    /// [`get_status`](Self::get_status) with the lock held (`dma_fence_get_status_locked`).
    #[doc(alias = "dma_fence_get_status_locked")]
    pub fn get_status_locked(&self, g: &mut DmaFenceLockGuard<'_>) -> FenceStatus {
        if !self.is_signaled_locked(g) {
            return FenceStatus::Pending;
        }
        match self.error() {
            Some(e) => FenceStatus::Error(e),
            None => FenceStatus::Signaled,
        }
    }

    /// Lets the provider start watching for completion (`dma_fence_enable_signaling`, once
    /// `dma_fence_enable_sw_signaling`).
    #[doc(alias = "dma_fence_enable_signaling")]
    #[doc(alias = "dma_fence_enable_sw_signaling")]
    #[track_caller]
    pub fn enable_signaling(&self) {
        let mut g = self.lock_irqsave();
        self.enable_signaling_locked(&mut g);
    }

    /// `__dma_fence_enable_signaling`: the provider's `enable_signaling` the first time only.
    /// Returns whether the fence is still pending.
    fn enable_signaling_locked(&self, g: &mut DmaFenceLockGuard<'_>) -> bool {
        let was_set = self.flags.fetch_or(FLAG_ENABLE_SIGNAL, Ordering::AcqRel) & FLAG_ENABLE_SIGNAL != 0;
        if self.flag(FLAG_SIGNALED) {
            return false;
        }
        if !was_set && !self.ops.enable_signaling(self) {
            let _ = self.signal_locked(g);
            return false;
        }
        true
    }

    /// Passes a waiter's deadline to the provider (`dma_fence_set_deadline`), unless the
    /// fence is already signalled.
    #[doc(alias = "dma_fence_set_deadline")]
    pub fn set_deadline(&self, deadline: Instant) {
        if !self.is_signaled() {
            self.ops.set_deadline(self, deadline);
        }
    }

    /// Registers `f` to run once when the fence signals (`dma_fence_add_callback`): under the
    /// fence lock, in the signaller's context, so it must not sleep (R6). The first callback
    /// enables signalling.
    ///
    /// # Errors
    /// `Enoent` if the fence is already signalled: `f` is dropped without running.
    #[doc(alias = "dma_fence_add_callback")]
    #[track_caller]
    pub fn add_callback(&self, f: impl FnOnce(&DmaFence) + Send + 'static) -> KResult<DmaFenceCb> {
        self.try_add_callback(f).map_err(|_| Errno::Enoent)
    }

    /// [`add_callback`](Self::add_callback) that hands `f` back when the fence is already
    /// signalled, for callers that then run it themselves.
    #[track_caller]
    pub fn try_add_callback<F>(&self, f: F) -> Result<DmaFenceCb, F>
    where
        F: FnOnce(&DmaFence) + Send + 'static,
    {
        if self.flag(FLAG_SIGNALED) {
            return Err(f);
        }
        let mut g = self.lock_irqsave();
        if !self.enable_signaling_locked(&mut g) {
            return Err(f);
        }
        let id = NEXT_CB.fetch_add(1, Ordering::Relaxed);
        g.inner_of(self).callbacks.push((id, Box::new(f)));
        Ok(DmaFenceCb { id })
    }

    /// Unregisters a callback (`dma_fence_remove_callback`). Returns `false` if it already ran
    /// (or is running: the fence signalled).
    #[doc(alias = "dma_fence_remove_callback")]
    #[track_caller]
    pub fn remove_callback(&self, cb: &DmaFenceCb) -> bool {
        let mut g = self.lock_irqsave();
        let cbs = &mut g.inner_of(self).callbacks;
        match cbs.iter().position(|(id, _)| *id == cb.id) {
            Some(i) => {
                // Dropped after the lock: a closure's captures may hold the last reference
                // to something whose destructor must not run under the fence lock.
                let removed = cbs.remove(i);
                drop(g);
                drop(removed);
                true
            }
            None => false,
        }
    }

    /// Waits until the fence signals (`dma_fence_wait`). See
    /// [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Errors
    /// None in this simulation (no signals interrupt a wait); kept for the kernel's shape.
    #[doc(alias = "dma_fence_wait")]
    #[track_caller]
    pub fn wait(&self, intr: bool) -> KResult {
        self.wait_timeout(intr, Duration::MAX).map(|_| ())
    }

    /// Waits until the fence signals or `timeout` passes (`dma_fence_wait_timeout`). Returns
    /// the time left. Annotated as the kernel: `might_sleep`, `__dma_fence_might_wait`, plus a
    /// check that no `drm_dev_enter` section is open (R28); the checks run even if the fence
    /// is already signalled, so a bad wait is caught on its first occurrence.
    ///
    /// # Errors
    /// `Etimedout` if `timeout` passed first (a zero timeout on a pending fence included).
    #[doc(alias = "dma_fence_wait_timeout")]
    #[track_caller]
    pub fn wait_timeout(&self, intr: bool, timeout: Duration) -> KResult<Duration> {
        let _ = intr;
        lockdep::might_sleep();
        might_wait();
        lockdep::must_not_hold(&DRM_UNPLUG_SRCU, "dma_fence_wait() inside drm_dev_enter()");
        self.enable_signaling();
        self.default_wait(timeout)
    }

    /// `dma_fence_default_wait`: a waker callback at the head of the list, then sleep until
    /// the signalled bit is set or the time is up.
    #[track_caller]
    fn default_wait(&self, timeout: Duration) -> KResult<Duration> {
        if self.flag(FLAG_SIGNALED) {
            return Ok(timeout);
        }
        let start = Instant::now();
        let deadline = start.checked_add(timeout);
        let id = {
            let mut g = self.lock_irqsave();
            if !self.enable_signaling_locked(&mut g) {
                return Ok(timeout);
            }
            if timeout.is_zero() {
                return Err(Errno::Etimedout);
            }
            let id = NEXT_CB.fetch_add(1, Ordering::Relaxed);
            let waiter = std::thread::current();
            // wake_up_state(task): an unpark takes no lock, so it is fine under the fence lock.
            g.inner_of(self)
                .callbacks
                .insert(0, (id, Box::new(move |_: &DmaFence| waiter.unpark())));
            id
        };
        loop {
            if self.flag(FLAG_SIGNALED) {
                let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
                return Ok(left);
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        }
        // Timed out: take the waker off the list unless the signal got to it meanwhile.
        self.remove_callback(&DmaFenceCb { id });
        if self.flag(FLAG_SIGNALED) {
            return Ok(Duration::ZERO);
        }
        Err(Errno::Etimedout)
    }

    /// Whether `self` is later on their common timeline than `other` (`dma_fence_is_later`).
    ///
    /// # Panics
    /// If the two fences are on different contexts (the kernel's `WARN_ON`).
    #[doc(alias = "dma_fence_is_later")]
    pub fn is_later(&self, other: &DmaFence) -> bool {
        assert_eq!(
            self.context, other.context,
            "dma_fence_is_later() across contexts"
        );
        self.seqno > other.seqno
    }

    /// Whether the fence is a container of other fences (`dma_fence_is_container`).
    #[doc(alias = "dma_fence_is_container")]
    pub fn is_container(&self) -> bool {
        self.ops.container().is_some()
    }

    /// Whether the fence has its own inline lock (`DMA_FENCE_FLAG_INLINE_LOCK_BIT`).
    pub fn has_inline_lock(&self) -> bool {
        matches!(self.lock, FenceLock::Inline(_))
    }

    /// Whether signalling was enabled (`DMA_FENCE_FLAG_ENABLE_SIGNAL_BIT`).
    pub fn enable_signaling_requested(&self) -> bool {
        self.flag(FLAG_ENABLE_SIGNAL)
    }

    /// How many callbacks are waiting (a debugging aid; takes the lock).
    #[track_caller]
    pub fn pending_callbacks(&self) -> usize {
        let mut g = self.lock_irqsave();
        g.inner_of(self).callbacks.len()
    }
}

impl Drop for DmaFence {
    fn drop(&mut self) {
        // `dma_fence_release`: a fence freed with callbacks pending would leave them waiting
        // forever; the kernel warns and signals it with -EDEADLK so they run.
        let pending = !self.flag(FLAG_SIGNALED) && !self.inner.get_mut().callbacks.is_empty();
        if pending {
            self.error.store(Errno::Edeadlk.code(), Ordering::Release);
            let mut g = self.lock_irqsave();
            let _ = self.signal_locked(&mut g);
        }
        self.ops.release(self);
    }
}

impl std::fmt::Debug for DmaFence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaFence")
            .field("driver", &self.driver_name())
            .field("timeline", &self.timeline_name())
            .field("context", &self.context)
            .field("seqno", &self.seqno)
            .field("signaled", &self.flag(FLAG_SIGNALED))
            .field("error", &self.error())
            .finish()
    }
}

/// The ops of stub fences.
struct StubOps;

impl DmaFenceOps for StubOps {
    fn get_driver_name(&self) -> &'static str {
        "stub"
    }
    fn get_timeline_name(&self) -> &'static str {
        "stub"
    }
}

fn stub_lock() -> &'static Arc<DmaFenceLock> {
    static LOCK: OnceLock<Arc<DmaFenceLock>> = OnceLock::new();
    LOCK.get_or_init(|| DmaFenceLock::new(&STUB_LOCK_CLASS))
}

/// The process-wide signalled fence (`dma_fence_get_stub`), for "nothing to wait for".
pub fn dma_fence_get_stub() -> Arc<DmaFence> {
    static STUB: OnceLock<Arc<DmaFence>> = OnceLock::new();
    STUB.get_or_init(|| dma_fence_allocate_private_stub(Instant::now()))
        .clone()
}

/// A new fence signalled at `timestamp` (`dma_fence_allocate_private_stub`), for callers that
/// need a distinct signalled fence.
pub fn dma_fence_allocate_private_stub(timestamp: Instant) -> Arc<DmaFence> {
    let f = DmaFence::init_with_lock(Arc::new(StubOps), stub_lock(), 0, 0);
    f.flags.fetch_or(FLAG_ENABLE_SIGNAL, Ordering::AcqRel);
    f.signal_timestamp(timestamp)
        .expect("a new stub fence cannot be signalled yet");
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when `Errno` gains a variant: add it to `ERRNOS` too, or its fences
    /// would lose their error.
    #[allow(dead_code)]
    fn errnos_is_complete(e: Errno) {
        match e {
            Errno::Enoent
            | Errno::Eintr
            | Errno::Eio
            | Errno::Eagain
            | Errno::Enomem
            | Errno::Ebusy
            | Errno::Einval
            | Errno::Enodev
            | Errno::Edeadlk
            | Errno::Ealready
            | Errno::Etimedout
            | Errno::Ecanceled
            | Errno::Efault => {}
        }
    }

    #[test]
    fn every_errno_round_trips_through_its_code() {
        for e in ERRNOS {
            assert_eq!(errno_from_code(e.code()), Some(e));
        }
        assert_eq!(errno_from_code(0), None);
        assert_eq!(errno_from_code(-9999), None);
    }

    #[test]
    fn fence_status_codes_are_the_kernels() {
        assert_eq!(FenceStatus::Pending.code(), 0);
        assert_eq!(FenceStatus::Signaled.code(), 1);
        assert_eq!(FenceStatus::Error(Errno::Etimedout).code(), -110);
    }
}
