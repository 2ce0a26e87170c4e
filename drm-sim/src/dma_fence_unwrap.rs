//! `dma_fence_unwrap`: the plain fences inside containers, and merging them. Mirrors
//! drivers/dma-buf/dma-fence-unwrap.c.
//!
//! # Contract
//! - [`dma_fence_unwrap`] flattens one level of chain and one of array (the only nesting the
//!   containers allow): a chain's nodes, each node's fence, each array's members. Chain nodes
//!   already signalled, except the head, are skipped, as the chain walk skips them.
//! - [`dma_fence_unwrap_merge`] keeps, per context, only the latest pending fence, and
//!   returns one fence for them: a signalled private stub if none is pending, the fence itself
//!   if one is, else a new array on a new context.
//!
//! # Locking
//! None of its own: each `is_signaled` may take a fence lock (to signal from the provider's
//! `signaled` hook).
//!
//! # Annotations
//! None.
//!
//! # Rules
//! R8 (the merge never builds containers of containers).
//!
//! # Simplified
//! The kernel allocates the merge's array with `GFP_KERNEL`; here it is a plain `Vec`, so the
//! allocation annotation (`fs_reclaim`) belongs to the caller. Errors of already signalled
//! fences are dropped by the merge, as the kernel drops them.

use std::sync::Arc;
use std::time::Instant;

use crate::dma_fence::{dma_fence_allocate_private_stub, dma_fence_context_alloc, DmaFence};
use crate::dma_fence_array::{dma_fence_array_create, to_dma_fence_array};
use crate::dma_fence_chain::{dma_fence_chain_contained, dma_fence_chain_for_each};

/// The plain fences inside `fence` (`dma_fence_unwrap_for_each`): itself if it is plain.
pub fn dma_fence_unwrap(fence: &Arc<DmaFence>) -> Vec<Arc<DmaFence>> {
    let mut out = Vec::new();
    for node in dma_fence_chain_for_each(fence) {
        let contained = dma_fence_chain_contained(&node);
        match to_dma_fence_array(&contained) {
            Some(a) => out.extend(a.fences().iter().cloned()),
            None => out.push(contained),
        }
    }
    out
}

/// One fence that signals when all of `fences` have (`dma_fence_unwrap_merge`).
pub fn dma_fence_unwrap_merge(fences: &[Arc<DmaFence>]) -> Arc<DmaFence> {
    let mut pending: Vec<Arc<DmaFence>> = Vec::new();
    let mut latest_signal: Option<Instant> = None;
    for f in fences {
        for plain in dma_fence_unwrap(f) {
            if plain.is_signaled() {
                let t = plain.timestamp();
                if t > latest_signal {
                    latest_signal = t;
                }
            } else {
                pending.push(plain);
            }
        }
    }
    // Per context the latest seqno first, then one per context.
    pending.sort_by(|a, b| a.context().cmp(&b.context()).then(b.seqno().cmp(&a.seqno())));
    pending.dedup_by(|later, earlier| later.context() == earlier.context());
    match pending.len() {
        0 => dma_fence_allocate_private_stub(latest_signal.unwrap_or_else(Instant::now)),
        1 => pending.pop().expect("one fence"),
        _ => dma_fence_array_create(pending, dma_fence_context_alloc(1), 1, false),
    }
}
