//! `DmaFenceArray`: one fence standing for several. Mirrors drivers/dma-buf/dma-fence-array.c.
//!
//! An array signals when all its members have (or, with `signal_on_any`, when the first one
//! has), with the first error a member reported. `dma_resv_get_singleton` and
//! `sync_file_merge` build them to hand out many fences as one.
//!
//! # Contract
//! - Members are plain fences: an array never contains a container (array or chain), so
//!   walking one never recurses (the kernel `WARN_ON`s; a debug assertion here). Flatten with
//!   [`dma_fence_unwrap`](crate::dma_fence_unwrap::dma_fence_unwrap) first.
//! - The array holds a reference on each member; each pending member callback holds one on
//!   the array, so an array lives until its members have signalled.
//! - The array's error is the first error any member signalled with (`Pending` until then).
//!
//! # Locking
//! - `&dma_fence_array_lock_key`: the array's own lock, inline (2026: "dma-buf: use inline
//!   lock for the dma-fence-array") but given a class of its own ("dma-buf: Assign separate
//!   lockdep class to array lock"), since the members' locks are taken inside it.
//! - Enabling signalling (under the array's lock) adds a callback to each member, taking the
//!   member's lock inside the array's: `&dma_fence_array_lock_key -> &fence->inline_lock` (or
//!   the member provider's class).
//! - A member's callback runs under the member's lock and so must not take the array's: that
//!   is the other direction (R8). It only counts down and queues the array's signal on
//!   [`irq_work`](crate::irq_work), which signals the array later in irq context with no
//!   member lock held (the 2017 fix "dma-buf/fence: Fix lock inversion within
//!   dma-fence-array").
//! - [`Bug::FenceArrayLockInversion`] restores the pre-fix code: the member's callback signals
//!   the array in place, under the member's lock: `<member> -> &dma_fence_array_lock_key`
//!   against enable_signaling's order, a possible circular locking dependency.
//!
//! # Annotations
//! None of its own: the array's signal is a [`DmaFence::signal`] (a signalling section).
//!
//! # Rules
//! R8 (one-directional fence-lock nesting), R6 (member callbacks run in atomic context).
//!
//! # Simplified
//! No `dma_fence_array_for_each` macro (use [`DmaFenceArray::fences`]); no preallocation
//! split (`dma_fence_array_alloc`/`_init`): creation allocates in one step.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Weak};

use crate::bugs::{Bug, Bugs};
use lockdep::LockClass;

use crate::dma_fence::{errno_from_code, Container, DmaFence, DmaFenceOps};
use crate::error::Errno;
use crate::irq_work::irq_work_queue;

/// The class of every array's own lock (`lockdep_set_class(&array->base.inline_lock,
/// &dma_fence_array_lock_key)`): its lock is held while members' inline locks are taken, so
/// it cannot share their class.
static ARRAY_LOCK_CLASS: LockClass = LockClass::new("&dma_fence_array_lock_key");

/// The container behind an array fence (`struct dma_fence_array`); it is the fence's ops.
pub struct DmaFenceArray {
    fences: Vec<Arc<DmaFence>>,
    /// Members still to signal before the array does (1 with `signal_on_any`).
    num_pending: AtomicI64,
    /// The first member error (0: none yet) — the kernel's `PENDING_ERROR` on `base.error`,
    /// kept aside and handed to the core at signal time ([`DmaFenceOps::pending_error`]), so
    /// the base's error is written once, under its lock, just before the signal.
    pending_error: AtomicI32,
    signal_on_any: bool,
    bugs: Bugs,
    me: Weak<DmaFenceArray>,
}

impl DmaFenceArray {
    /// The members.
    pub fn fences(&self) -> &[Arc<DmaFence>] {
        &self.fences
    }

    /// How many members there are.
    pub fn num_fences(&self) -> usize {
        self.fences.len()
    }

    /// Whether the array signals on its first member.
    pub fn signal_on_any(&self) -> bool {
        self.signal_on_any
    }

    /// `dma_fence_array_set_pending_error`: remember the first member error.
    fn set_pending_error(&self, error: Option<Errno>) {
        if let Some(e) = error {
            let _ = self
                .pending_error
                .compare_exchange(0, e.code(), Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// A member signalled (`dma_fence_array_cb_func`): runs under the member's lock.
    fn member_signalled(&self, member: &DmaFence, array: Arc<DmaFence>) {
        self.set_pending_error(member.error());
        if self.num_pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            drop(array);
            return;
        }
        if self.bugs.has(Bug::FenceArrayLockInversion) {
            // The pre-2017 code: the array's lock inside the member's, the reverse of
            // enable_signaling's order.
            let _ = array.signal();
            drop(array);
            return;
        }
        // `irq_dma_fence_array_work`: signal with no member lock held.
        irq_work_queue(move || {
            let _ = array.signal();
            drop(array);
        });
    }
}

impl DmaFenceOps for DmaFenceArray {
    fn get_driver_name(&self) -> &'static str {
        "dma_fence_array"
    }

    fn get_timeline_name(&self) -> &'static str {
        "unbound"
    }

    /// `dma_fence_array_enable_signaling`: a callback on every member, each holding a
    /// reference on the array; members already signalled count down at once.
    fn enable_signaling(&self, f: &DmaFence) -> bool {
        for member in &self.fences {
            let array = f.get();
            let me = self.me.upgrade().expect("the array's ops outlive its base fence");
            // The member's lock inside the array's: `&dma_fence_array_lock_key -> <member>`.
            let added = member.try_add_callback(move |m: &DmaFence| me.member_signalled(m, array));
            if added.is_err() {
                self.set_pending_error(member.error());
                if self.num_pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                    return false;
                }
            }
        }
        true
    }

    /// `dma_fence_array_signaled`: once signalling is enabled the count decides; before,
    /// count the members that are signalled already.
    fn signaled(&self, f: &DmaFence) -> bool {
        let mut pending = self.num_pending.load(Ordering::Acquire);
        if f.enable_signaling_requested() {
            return pending <= 0;
        }
        self.fences.iter().any(|m| {
            if m.is_signaled() {
                self.set_pending_error(m.error());
                pending -= 1;
                pending == 0
            } else {
                false
            }
        })
    }

    /// `dma_fence_array_clear_pending_error` at signal time: the first member error, if any.
    fn pending_error(&self) -> Option<Errno> {
        errno_from_code(self.pending_error.load(Ordering::Acquire))
    }

    fn container(&self) -> Option<Container<'_>> {
        Some(Container::Array(self))
    }
}

impl std::fmt::Debug for DmaFenceArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaFenceArray")
            .field("num_fences", &self.fences.len())
            .field("num_pending", &self.num_pending.load(Ordering::Relaxed))
            .field("signal_on_any", &self.signal_on_any)
            .finish()
    }
}

/// A new array fence over `fences` on `context`/`seqno` (`dma_fence_array_create`).
///
/// # Panics
/// If `fences` is empty (the kernel's `WARN_ON`); in debug builds, if a member is a container.
pub fn dma_fence_array_create(
    fences: Vec<Arc<DmaFence>>,
    context: u64,
    seqno: u64,
    signal_on_any: bool,
) -> Arc<DmaFence> {
    dma_fence_array_create_with_bugs(fences, context, seqno, signal_on_any, Bugs::NONE)
}

/// [`dma_fence_array_create`] with injected bugs: only [`Bug::FenceArrayLockInversion`]
/// changes anything here.
///
/// # Panics
/// As [`dma_fence_array_create`].
pub fn dma_fence_array_create_with_bugs(
    fences: Vec<Arc<DmaFence>>,
    context: u64,
    seqno: u64,
    signal_on_any: bool,
    bugs: Bugs,
) -> Arc<DmaFence> {
    assert!(!fences.is_empty(), "dma_fence_array_create() with no fences");
    debug_assert!(
        fences.iter().all(|f| !f.is_container()),
        "a dma_fence_array must not contain containers: flatten with dma_fence_unwrap first"
    );
    let pending = if signal_on_any { 1 } else { fences.len() as i64 };
    let array = Arc::new_cyclic(|me| DmaFenceArray {
        fences,
        num_pending: AtomicI64::new(pending),
        pending_error: AtomicI32::new(0),
        signal_on_any,
        bugs,
        me: me.clone(),
    });
    DmaFence::init_with_inline_class(array, &ARRAY_LOCK_CLASS, context, seqno)
}

/// Whether `fence` is an array (`dma_fence_is_array`).
pub fn dma_fence_is_array(fence: &DmaFence) -> bool {
    to_dma_fence_array(fence).is_some()
}

/// The array behind `fence`, if it is one (`to_dma_fence_array`).
pub fn to_dma_fence_array(fence: &DmaFence) -> Option<&DmaFenceArray> {
    match fence.ops().container() {
        Some(Container::Array(a)) => Some(a),
        _ => None,
    }
}

/// The first member of an array, or the fence itself (`dma_fence_array_first`).
pub fn dma_fence_array_first(fence: &Arc<DmaFence>) -> Option<Arc<DmaFence>> {
    match to_dma_fence_array(fence) {
        Some(a) => a.fences.first().cloned(),
        None => Some(fence.clone()),
    }
}
