//! `DmaFenceChain`: timeline points, each a fence chained to its predecessor. Mirrors
//! drivers/dma-buf/dma-fence-chain.c.
//!
//! A chain node wraps one fence and points at the previous node; the node signals when its
//! own fence and every predecessor have signalled. Timeline syncobjs are built of them: point
//! `n` of a timeline is the node with the smallest seqno `>= n`
//! ([`dma_fence_chain_find_seqno`]).
//!
//! # Contract
//! - Seqnos grow along a chain: a node later than its predecessor (a chain node) joins the
//!   predecessor's context and remembers its seqno (`prev_seqno`); otherwise it gets a new
//!   context, with a seqno no smaller than the predecessor's.
//! - Walking a chain ([`dma_fence_chain_walk`]) skips signalled predecessors and unlinks
//!   them, so a long-lived timeline only keeps its unsignalled tail alive.
//! - A node holds its fence and its predecessor; a pending callback holds the node.
//! - Dropping a long chain is iterative, never one stack frame per node.
//!
//! # Locking
//! - `&dma_fence_chain_lock_key`: the node's own lock, inline but of its own class (as the
//!   kernel's `lockdep_set_class`), since contained fences' locks are taken inside it.
//! - Enabling signalling (under the node's lock) adds the node's one callback to the first
//!   unsignalled fence along the chain, taking that fence's lock inside the node's:
//!   `&dma_fence_chain_lock_key -> &fence->inline_lock` (or `&dma_fence_array_lock_key` for
//!   a contained array, then its members' locks).
//! - The callback runs under that fence's lock and only queues an
//!   [`irq_work`](crate::irq_work) item, which re-arms on the next unsignalled fence (not
//!   under the node's lock, as the kernel calls the op directly) or signals the node: no
//!   fence lock is ever taken under a member's (R8).
//! - `&chain->prev`: a leaf raw spinlock standing in for the RCU-protected `prev` pointer;
//!   held only to read or swap it, with interrupts disabled since walks also run in the
//!   irq_work that re-arms the callback.
//!
//! # Annotations
//! None of its own.
//!
//! # Rules
//! R8 (one-directional fence-lock nesting), R6 (the callback runs in atomic context).
//!
//! # Simplified
//! - `prev` is guarded by a leaf lock instead of RCU + `cmpxchg`.
//! - No `dma_fence_chain_alloc`/`_free` split: [`dma_fence_chain_init`] builds the node.
//! - Seqnos are always 64-bit (`dma_fence_init64`).

use std::sync::{Arc, Weak};

use lockdep::{LockClass, RawSpinLock};

use crate::dma_fence::{dma_fence_context_alloc, Container, DmaFence, DmaFenceOps};
use crate::error::{Errno, KResult};
use crate::irq_work::irq_work_queue;

/// The class of every chain node's own lock (`lockdep_set_class(&chain->base.inline_lock,
/// &dma_fence_chain_lock_key)`): it is held while the contained fences' locks are taken.
static CHAIN_LOCK_CLASS: LockClass = LockClass::new("&dma_fence_chain_lock_key");

/// The class of the lock that stands in for RCU on `prev`.
static PREV_LOCK_CLASS: LockClass = LockClass::new("&chain->prev");

/// One timeline point (`struct dma_fence_chain`); it is the node fence's ops.
pub struct DmaFenceChain {
    prev: RawSpinLock<Option<Arc<DmaFence>>>,
    prev_seqno: u64,
    fence: Arc<DmaFence>,
    me: Weak<DmaFenceChain>,
}

impl DmaFenceChain {
    /// The wrapped fence.
    pub fn fence(&self) -> &Arc<DmaFence> {
        &self.fence
    }

    /// The predecessor still linked, if any (`dma_fence_chain_get_prev`).
    #[doc(alias = "dma_fence_chain_get_prev")]
    pub fn get_prev(&self) -> Option<Arc<DmaFence>> {
        let _irq = lockdep::irqs_disabled();
        // Bound first: a tail expression's temporary guard would outlive `_irq`.
        let prev = self.prev.lock().clone();
        prev
    }

    /// The predecessor's seqno when it shares this node's context (0 otherwise).
    pub fn prev_seqno(&self) -> u64 {
        self.prev_seqno
    }

    /// Replaces `prev` by `replacement` if it still is `expected` (the kernel's `cmpxchg`).
    fn replace_prev(&self, expected: &Arc<DmaFence>, replacement: Option<Arc<DmaFence>>) {
        let old = {
            let _irq = lockdep::irqs_disabled();
            let mut p = self.prev.lock();
            match &*p {
                Some(cur) if Arc::ptr_eq(cur, expected) => std::mem::replace(&mut *p, replacement),
                _ => replacement,
            }
        };
        // The reference given up is dropped with no lock held.
        drop(old);
    }

    /// `dma_fence_chain_enable_signaling`: the node's callback on the first unsignalled
    /// fence along the chain (under the node's lock when the core calls it, with no lock from
    /// the re-arming irq_work). Returns whether a callback was armed (false: everything is
    /// signalled).
    fn arm(&self, head: &Arc<DmaFence>) -> bool {
        let mut node = Some(head.clone());
        while let Some(n) = node {
            let contained = dma_fence_chain_contained(&n);
            let me = self.me.upgrade().expect("the chain's ops outlive its node fence");
            let h = head.clone();
            if contained
                .try_add_callback(move |_: &DmaFence| me.contained_signalled(h))
                .is_ok()
            {
                return true;
            }
            node = dma_fence_chain_walk(n);
        }
        false
    }

    /// `dma_fence_chain_cb`, under the signalled fence's lock: defer to irq_work.
    fn contained_signalled(self: Arc<Self>, head: Arc<DmaFence>) {
        // `dma_fence_chain_irq_work`: re-arm on the next fence, or signal the node.
        irq_work_queue(move || {
            if !self.arm(&head) {
                let _ = head.signal();
            }
            drop(head);
        });
    }
}

impl DmaFenceOps for DmaFenceChain {
    fn get_driver_name(&self) -> &'static str {
        "dma_fence_chain"
    }

    fn get_timeline_name(&self) -> &'static str {
        "unbound"
    }

    fn enable_signaling(&self, f: &DmaFence) -> bool {
        self.arm(&f.get())
    }

    /// `dma_fence_chain_signaled`: every fence along the chain is.
    fn signaled(&self, f: &DmaFence) -> bool {
        dma_fence_chain_for_each(&f.get()).all(|n| dma_fence_chain_contained(&n).is_signaled())
    }

    fn container(&self) -> Option<Container<'_>> {
        Some(Container::Chain(self))
    }
}

impl Drop for DmaFenceChain {
    /// `dma_fence_chain_release`: unlink predecessors one by one while this is their last
    /// holder, so a long chain is freed in a loop rather than by recursion.
    fn drop(&mut self) {
        let mut prev = self.prev.get_mut().take();
        while let Some(p) = prev {
            match Arc::try_unwrap(p) {
                Ok(fence) => {
                    prev = match fence.ops().container() {
                        Some(Container::Chain(c)) => {
                            let _irq = lockdep::irqs_disabled();
                            let prev = c.prev.lock().take();
                            prev
                        }
                        _ => None,
                    };
                    drop(fence);
                }
                Err(shared) => {
                    drop(shared);
                    break;
                }
            }
        }
    }
}

impl std::fmt::Debug for DmaFenceChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaFenceChain")
            .field("prev_seqno", &self.prev_seqno)
            .field("fence", &self.fence)
            .finish()
    }
}

/// A new chain node wrapping `fence` after `prev`, at `seqno` (`dma_fence_chain_init`).
///
/// # Panics
/// In debug builds, if `fence` is itself a chain node: chains link only through `prev` (the
/// kernel's `WARN_ON`); flatten into an array instead.
pub fn dma_fence_chain_init(prev: Option<Arc<DmaFence>>, fence: Arc<DmaFence>, seqno: u64) -> Arc<DmaFence> {
    debug_assert!(
        !dma_fence_is_chain(&fence),
        "a dma_fence_chain must not contain a chain: link through prev, or flatten into an array"
    );
    let prev_chain = prev.as_ref().is_some_and(|p| dma_fence_is_chain(p));
    let (context, seqno, prev_seqno) = match &prev {
        // Later than a chain predecessor: the same timeline continues.
        Some(p) if prev_chain && seqno > p.seqno() => (p.context(), seqno, p.seqno()),
        Some(p) if prev_chain => (dma_fence_context_alloc(1), seqno.max(p.seqno()), 0),
        _ => (dma_fence_context_alloc(1), seqno, 0),
    };
    let chain = Arc::new_cyclic(|me| DmaFenceChain {
        prev: RawSpinLock::with_class(prev, &PREV_LOCK_CLASS),
        prev_seqno,
        fence,
        me: me.clone(),
    });
    DmaFence::init_with_inline_class(chain, &CHAIN_LOCK_CLASS, context, seqno)
}

/// Whether `fence` is a chain node (`dma_fence_is_chain`).
pub fn dma_fence_is_chain(fence: &DmaFence) -> bool {
    to_dma_fence_chain(fence).is_some()
}

/// The chain node behind `fence`, if it is one (`to_dma_fence_chain`).
pub fn to_dma_fence_chain(fence: &DmaFence) -> Option<&DmaFenceChain> {
    match fence.ops().container() {
        Some(Container::Chain(c)) => Some(c),
        _ => None,
    }
}

/// The fence a node wraps, or `fence` itself if it is no chain (`dma_fence_chain_contained`).
pub fn dma_fence_chain_contained(fence: &Arc<DmaFence>) -> Arc<DmaFence> {
    match to_dma_fence_chain(fence) {
        Some(c) => c.fence.clone(),
        None => fence.clone(),
    }
}

/// The first unsignalled predecessor of `fence` (`dma_fence_chain_walk`), unlinking the
/// signalled ones on the way. `None` when `fence` is no chain or nothing before it is pending.
pub fn dma_fence_chain_walk(fence: Arc<DmaFence>) -> Option<Arc<DmaFence>> {
    let chain = to_dma_fence_chain(&fence)?;
    loop {
        let prev = chain.get_prev()?;
        let replacement = match to_dma_fence_chain(&prev) {
            Some(pc) => {
                if !pc.fence.is_signaled() {
                    return Some(prev);
                }
                pc.get_prev()
            }
            None => {
                if !prev.is_signaled() {
                    return Some(prev);
                }
                None
            }
        };
        chain.replace_prev(&prev, replacement);
    }
}

/// The nodes from `head` back along the chain (`dma_fence_chain_for_each`): `head` first,
/// then each unsignalled predecessor.
pub fn dma_fence_chain_for_each(head: &Arc<DmaFence>) -> impl Iterator<Item = Arc<DmaFence>> {
    let mut next = Some(head.clone());
    std::iter::from_fn(move || {
        let cur = next.take()?;
        next = dma_fence_chain_walk(cur.clone());
        Some(cur)
    })
}

/// The node of timeline point `seqno` (`dma_fence_chain_find_seqno`): the oldest node of the
/// chain's context whose seqno is `>= seqno`, or `None` if that point has already signalled.
/// A `seqno` of 0 returns `fence` unchanged.
///
/// # Errors
/// `Einval` if `fence` is no chain, or the chain has not reached `seqno` yet.
pub fn dma_fence_chain_find_seqno(fence: Arc<DmaFence>, seqno: u64) -> KResult<Option<Arc<DmaFence>>> {
    if seqno == 0 {
        return Ok(Some(fence));
    }
    match to_dma_fence_chain(&fence) {
        Some(_) if fence.seqno() >= seqno => {}
        _ => return Err(Errno::Einval),
    }
    let context = fence.context();
    for node in dma_fence_chain_for_each(&fence) {
        let stop =
            node.context() != context || to_dma_fence_chain(&node).is_none_or(|c| c.prev_seqno < seqno);
        if stop {
            return Ok(Some(node));
        }
    }
    Ok(None)
}
