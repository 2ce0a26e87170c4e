//! `dma_fence_chain`: timeline contexts and seqnos, signalling after the predecessors, point
//! lookup, unlinking signalled links, iterative release, and clean lock nesting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use drm_sim::dma_fence::{
    dma_fence_array_create, dma_fence_chain_find_seqno, dma_fence_chain_init, dma_fence_context_alloc,
    dma_fence_is_chain, dma_fence_unwrap, to_dma_fence_chain, DmaFence, FenceStatus,
};
use drm_sim::dma_fence_chain::{dma_fence_chain_contained, dma_fence_chain_for_each, dma_fence_chain_walk};
use drm_sim::irq_work::irq_work_sync;
use drm_sim::Errno;

mod common;
use common::{fence, fences, kinds, serial};

const LONG: Duration = Duration::from_secs(10);

/// A timeline of `n` points (seqnos 1..=n), each wrapping a fresh fence; returns the nodes
/// (oldest first) and the wrapped fences.
fn timeline(n: u64) -> (Vec<Arc<DmaFence>>, Vec<Arc<DmaFence>>) {
    let mut nodes: Vec<Arc<DmaFence>> = Vec::new();
    let mut inner = Vec::new();
    for seqno in 1..=n {
        let (_p, f) = fence();
        inner.push(f.clone());
        nodes.push(dma_fence_chain_init(nodes.last().cloned(), f, seqno));
    }
    (nodes, inner)
}

#[test]
fn later_points_continue_the_predecessors_context() {
    let _s = serial();
    let (nodes, _) = timeline(3);
    assert!(nodes.iter().all(|n| dma_fence_is_chain(n)));
    assert_eq!(nodes[1].context(), nodes[0].context());
    assert_eq!(nodes[2].context(), nodes[0].context());
    assert_eq!(to_dma_fence_chain(&nodes[2]).unwrap().prev_seqno(), 2);
    assert_eq!(to_dma_fence_chain(&nodes[0]).unwrap().prev_seqno(), 0);
    // Not later: a new context, and never a smaller seqno than the predecessor's.
    let (_p, f) = fence();
    let odd = dma_fence_chain_init(Some(nodes[2].clone()), f, 2);
    assert_ne!(odd.context(), nodes[0].context());
    assert_eq!(odd.seqno(), 3);
    assert_eq!(to_dma_fence_chain(&odd).unwrap().prev_seqno(), 0);
    // A plain predecessor never lends its context.
    let (_p, plain) = fence();
    let (_p, f) = fence();
    let first = dma_fence_chain_init(Some(plain.clone()), f, 10);
    assert_ne!(first.context(), plain.context());
}

#[test]
fn a_point_signals_only_after_its_fence_and_all_predecessors() {
    let _s = serial();
    let (nodes, inner) = timeline(3);
    let head = nodes[2].clone();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    head.add_callback(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    inner[2].signal().unwrap();
    irq_work_sync();
    assert!(!head.test_signaled_flag());
    inner[0].signal().unwrap();
    irq_work_sync();
    assert!(!head.test_signaled_flag());
    inner[1].signal().unwrap();
    head.wait_timeout(false, LONG).unwrap();
    irq_work_sync();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(head.get_status(), FenceStatus::Signaled);
    assert!(kinds().is_empty());
}

#[test]
fn is_signaled_walks_the_chain_without_enabling() {
    let _s = serial();
    let (nodes, inner) = timeline(2);
    inner[1].signal().unwrap();
    assert!(!nodes[1].is_signaled());
    inner[0].signal().unwrap();
    assert!(nodes[1].is_signaled());
}

#[test]
fn find_seqno_returns_the_oldest_pending_node_covering_the_point() {
    let _s = serial();
    let (nodes, inner) = timeline(4);
    let head = nodes[3].clone();
    let got = dma_fence_chain_find_seqno(head.clone(), 2).unwrap().unwrap();
    assert!(Arc::ptr_eq(&got, &nodes[1]));
    let got = dma_fence_chain_find_seqno(head.clone(), 4).unwrap().unwrap();
    assert!(Arc::ptr_eq(&got, &nodes[3]));
    assert!(Arc::ptr_eq(
        &dma_fence_chain_find_seqno(head.clone(), 0).unwrap().unwrap(),
        &head
    ));
    assert_eq!(
        dma_fence_chain_find_seqno(head.clone(), 5).err(),
        Some(Errno::Einval)
    );
    let (_p, plain) = fence();
    assert_eq!(dma_fence_chain_find_seqno(plain, 1).err(), Some(Errno::Einval));
    // Points 1 and 2 done: point 2 has nothing left to wait for.
    inner[0].signal().unwrap();
    inner[1].signal().unwrap();
    let got = dma_fence_chain_find_seqno(nodes[1].clone(), 2).unwrap();
    assert!(got.is_some(), "the head itself is always visited");
    let got = dma_fence_chain_find_seqno(head.clone(), 2).unwrap();
    assert!(got.is_none(), "point 2 has signalled");
    let got = dma_fence_chain_find_seqno(head, 3).unwrap().unwrap();
    assert!(Arc::ptr_eq(&got, &nodes[2]));
}

#[test]
fn walking_unlinks_signalled_predecessors() {
    let _s = serial();
    let (nodes, inner) = timeline(3);
    let weak_first = Arc::downgrade(&nodes[0]);
    let head = nodes[2].clone();
    drop(nodes);
    inner[0].signal().unwrap();
    inner[1].signal().unwrap();
    assert!(
        dma_fence_chain_walk(head.clone()).is_none(),
        "nothing pending before the head"
    );
    assert!(
        to_dma_fence_chain(&head).unwrap().get_prev().is_none(),
        "unlinked"
    );
    assert!(weak_first.upgrade().is_none(), "the signalled links were freed");
    assert_eq!(dma_fence_chain_for_each(&head).count(), 1);
    assert!(Arc::ptr_eq(&dma_fence_chain_contained(&head), &inner[2]));
}

#[test]
fn a_long_chain_is_released_without_recursion() {
    let _s = serial();
    let mut head: Option<Arc<DmaFence>> = None;
    for seqno in 1..=200_000u64 {
        let (_p, f) = fence();
        head = Some(dma_fence_chain_init(head, f, seqno));
    }
    drop(head); // a recursive drop would overflow the test thread's stack
}

#[test]
fn unwrap_flattens_chains_of_arrays() {
    let _s = serial();
    let members = fences(2);
    let array = dma_fence_array_create(members.clone(), dma_fence_context_alloc(1), 1, false);
    let (_p, f) = fence();
    let first = dma_fence_chain_init(None, array, 1);
    let second = dma_fence_chain_init(Some(first), f.clone(), 2);
    let got = dma_fence_unwrap(&second);
    assert_eq!(got.len(), 3);
    assert!(Arc::ptr_eq(&got[0], &f));
    assert!(Arc::ptr_eq(&got[1], &members[0]));
    assert!(Arc::ptr_eq(&got[2], &members[1]));
}

#[test]
fn chain_wait_from_another_thread_and_irq_signals_are_clean() {
    let _s = serial();
    let (nodes, inner) = timeline(3);
    let head = nodes[2].clone();
    let waiter = std::thread::spawn(move || head.wait_timeout(true, LONG));
    std::thread::sleep(Duration::from_millis(10));
    std::thread::spawn(move || {
        let _irq = lockdep::irq_context();
        for f in inner {
            f.signal().unwrap();
        }
    })
    .join()
    .unwrap();
    assert!(waiter.join().unwrap().is_ok());
    irq_work_sync();
    assert!(kinds().is_empty());
}

#[test]
fn walking_in_process_context_after_an_irq_rearm_is_clean() {
    let _s = serial();
    let (nodes, inner) = timeline(3);
    let head = nodes[2].clone();
    head.enable_signaling();
    inner[2].signal().unwrap(); // the callback re-arms from irq_work: walks in hard-irq context
    irq_work_sync();
    assert!(!head.test_signaled_flag());
    let got = dma_fence_chain_find_seqno(head.clone(), 1).unwrap().unwrap();
    assert!(Arc::ptr_eq(&got, &nodes[0]));
    inner[0].signal().unwrap();
    inner[1].signal().unwrap();
    head.wait_timeout(false, LONG).unwrap();
    assert_eq!(dma_fence_chain_for_each(&head).count(), 1);
    irq_work_sync();
    let r = common::reports();
    assert!(r.is_empty(), "{r:#?}");
}

#[test]
fn the_chain_lock_has_its_own_class() {
    let _s = serial();
    let (nodes, inner) = timeline(1);
    {
        let _c = nodes[0].lock_irqsave();
        let _f = inner[0].lock_irqsave();
    }
    assert!(kinds().is_empty());
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "must not contain a chain")]
fn a_chain_inside_a_chain_is_refused() {
    let _s = serial();
    let (nodes, _) = timeline(1);
    let (_p, f) = fence();
    let _ = dma_fence_chain_init(Some(dma_fence_chain_init(None, f, 1)), nodes[0].clone(), 2);
}
