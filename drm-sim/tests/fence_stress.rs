//! Fences as a driver stack uses them, on real threads: an "engine" whose hardware fences
//! share one provider lock and are signalled from an irq thread, clients that merge them into
//! arrays and sync_files, chain them into a timeline, wait, poll, and add callbacks. The clean
//! pattern must produce no report, every fence must signal once, every callback run once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use drm_sim::dma_fence::{
    dma_fence_array_create, dma_fence_chain_find_seqno, dma_fence_chain_init, dma_fence_context_alloc,
    DmaFence, DmaFenceLock, DmaFenceOps,
};
use drm_sim::irq_work::irq_work_sync;
use drm_sim::sync_file::SyncFile;
use drm_sim::Errno;
use lockdep::LockClass;

mod common;
use common::serial;

struct Ring;

impl DmaFenceOps for Ring {
    fn get_driver_name(&self) -> &'static str {
        "simgpu"
    }
    fn get_timeline_name(&self) -> &'static str {
        "ring0"
    }
}

static RING_FENCE_LOCK: LockClass = LockClass::new("&ring->fence_drv.lock");

#[test]
fn a_busy_fence_workload_is_clean_and_signals_everything_once() {
    let _s = serial();
    const CLIENTS: usize = 4;
    const JOBS: u64 = 60;
    let lock = DmaFenceLock::new(&RING_FENCE_LOCK);
    let ops: Arc<dyn DmaFenceOps> = Arc::new(Ring);
    let (to_irq, irq_rx) = mpsc::channel::<Arc<DmaFence>>();
    let signalled = Arc::new(AtomicUsize::new(0));
    let irq = {
        let signalled = signalled.clone();
        thread::spawn(move || {
            for f in irq_rx {
                let _irq = lockdep::irq_context();
                if f.seqno() % 7 == 0 {
                    f.set_error(Errno::Eio);
                }
                f.signal().unwrap();
                signalled.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let callbacks = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (lock, ops, to_irq, callbacks) =
                (lock.clone(), ops.clone(), to_irq.clone(), callbacks.clone());
            thread::spawn(move || {
                let ctx = dma_fence_context_alloc(1);
                let mut timeline: Option<Arc<DmaFence>> = None;
                let mut prev_hw: Option<Arc<DmaFence>> = None;
                for seqno in 1..=JOBS {
                    let hw = DmaFence::init_with_lock(ops.clone(), &lock, ctx, seqno);
                    let cb = callbacks.clone();
                    hw.add_callback(move |_| {
                        cb.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
                    timeline = Some(dma_fence_chain_init(timeline.take(), hw.clone(), seqno));
                    let merged = match &prev_hw {
                        Some(p) => {
                            let a = SyncFile::create(p.clone());
                            let b = SyncFile::create(hw.clone());
                            SyncFile::merge("pair", &a, &b).unwrap()
                        }
                        None => SyncFile::create(hw.clone()),
                    };
                    let array =
                        dma_fence_array_create(vec![hw.clone()], dma_fence_context_alloc(1), 1, c % 2 == 0);
                    let cb = callbacks.clone();
                    array
                        .add_callback(move |_| {
                            cb.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                    to_irq.send(hw.clone()).unwrap();
                    assert!(merged.poll(Duration::from_secs(10)));
                    array.wait_timeout(true, Duration::from_secs(10)).unwrap();
                    assert_eq!(array.error(), hw.error());
                    let point = dma_fence_chain_find_seqno(timeline.clone().unwrap(), seqno).unwrap();
                    if let Some(p) = point {
                        p.wait_timeout(false, Duration::from_secs(10)).unwrap();
                    }
                    prev_hw = Some(hw);
                }
                timeline
                    .unwrap()
                    .wait_timeout(false, Duration::from_secs(10))
                    .unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    drop(to_irq);
    irq.join().unwrap();
    irq_work_sync();
    let total = CLIENTS * JOBS as usize;
    assert_eq!(signalled.load(Ordering::SeqCst), total);
    assert_eq!(
        callbacks.load(Ordering::SeqCst),
        2 * total,
        "one hw and one array callback per job"
    );
    let r = common::reports();
    assert!(r.is_empty(), "{r:#?}");
}
