//! `sync_file`: create/get_fence, merge (dedup per context, arrays for more than one), and
//! poll sleeping on a wait queue woken from the fence callback.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use drm_sim::dma_fence::{dma_fence_context_alloc, dma_fence_is_array, to_dma_fence_array, DmaFence};
use drm_sim::irq_work::irq_work_sync;
use drm_sim::sync_file::{sync_file_get_fence, SyncFile};
use drm_sim::Errno;

mod common;
use common::{fence, fences, kinds, serial, Probe};

#[test]
fn a_sync_file_hands_out_its_fence() {
    let _s = serial();
    let (_p, f) = fence();
    let file = SyncFile::create(f.clone());
    assert!(Arc::ptr_eq(&file.get_fence(), &f));
    assert!(Arc::ptr_eq(&sync_file_get_fence(&file), &f));
    assert_eq!(file.name(), format!("probe-tl-probe-{:x}-1", f.context()));
}

#[test]
fn poll_times_out_on_a_pending_fence_and_sees_a_signalled_one() {
    let _s = serial();
    let (_p, f) = fence();
    let file = SyncFile::create(f.clone());
    let t = Instant::now();
    assert!(!file.poll(Duration::from_millis(30)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(f.pending_callbacks(), 1, "the first poll armed one callback");
    assert!(!file.poll(Duration::ZERO));
    assert_eq!(f.pending_callbacks(), 1, "armed once only");
    f.signal().unwrap();
    assert!(file.poll(Duration::ZERO));
    assert!(kinds().is_empty());
}

#[test]
fn poll_sleeps_until_the_fence_callback_wakes_it() {
    let _s = serial();
    let (_p, f) = fence();
    let file = SyncFile::create(f.clone());
    let poller = {
        let file = file.clone();
        thread::spawn(move || {
            let t = Instant::now();
            (file.poll(Duration::from_secs(10)), t.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(30));
    thread::spawn(move || {
        let _irq = lockdep::irq_context();
        f.signal().unwrap();
    })
    .join()
    .unwrap();
    let (ready, waited) = poller.join().unwrap();
    assert!(ready);
    assert!(waited < Duration::from_secs(5), "woken, not timed out");
    assert!(file.poll(Duration::ZERO));
    // A poller in process context takes the queue lock with irqs off: consistent with the
    // wake-up in the irq handler.
    let (_p, other) = fence();
    assert!(!SyncFile::create(other).poll(Duration::from_millis(1)));
    assert!(kinds().is_empty());
}

#[test]
fn dropping_a_polled_file_disarms_its_callback() {
    let _s = serial();
    let (_p, f) = fence();
    let file = SyncFile::create(f.clone());
    assert!(!file.poll(Duration::ZERO));
    drop(file);
    assert_eq!(f.pending_callbacks(), 0);
    f.signal().unwrap();
}

#[test]
fn merge_keeps_the_later_fence_of_a_context() {
    let _s = serial();
    let p = Arc::new(Probe::default());
    let ctx = dma_fence_context_alloc(1);
    let early = DmaFence::init(p.clone(), ctx, 3);
    let late = DmaFence::init(p, ctx, 5);
    let a = SyncFile::create(early);
    let b = SyncFile::create(late.clone());
    let m = SyncFile::merge("both", &a, &b).unwrap();
    assert!(Arc::ptr_eq(&m.get_fence(), &late), "one fence left: no array");
    assert_eq!(m.name(), "both");
    let m2 = SyncFile::merge("again", &b, &a).unwrap();
    assert!(Arc::ptr_eq(&m2.get_fence(), &late), "order does not matter");
}

#[test]
fn merge_of_two_contexts_is_an_array_that_signals_after_both() {
    let _s = serial();
    let fs = fences(2);
    let a = SyncFile::create(fs[0].clone());
    let b = SyncFile::create(fs[1].clone());
    let m = SyncFile::merge("pair", &a, &b).unwrap();
    let mf = m.get_fence();
    assert!(dma_fence_is_array(&mf));
    assert_eq!(to_dma_fence_array(&mf).unwrap().num_fences(), 2);
    assert!(!m.poll(Duration::ZERO));
    fs[0].signal().unwrap();
    irq_work_sync();
    assert!(!m.poll(Duration::ZERO));
    fs[1].set_error(Errno::Eio);
    fs[1].signal().unwrap();
    assert!(m.poll(Duration::from_secs(10)));
    assert_eq!(mf.error(), Some(Errno::Eio));
    // Merging a merge flattens it: no array inside an array.
    let (_p, c) = fence();
    let m3 = SyncFile::merge("three", &m, &SyncFile::create(c.clone())).unwrap();
    let f3 = m3.get_fence();
    assert!(Arc::ptr_eq(&f3, &c), "the signalled members were dropped");
    irq_work_sync();
    assert!(kinds().is_empty());
}

#[test]
fn merge_of_pending_merges_flattens_and_dedups() {
    let _s = serial();
    let fs = fences(3);
    let ab = SyncFile::merge(
        "ab",
        &SyncFile::create(fs[0].clone()),
        &SyncFile::create(fs[1].clone()),
    )
    .unwrap();
    let bc = SyncFile::merge(
        "bc",
        &SyncFile::create(fs[1].clone()),
        &SyncFile::create(fs[2].clone()),
    )
    .unwrap();
    let all = SyncFile::merge("abc", &ab, &bc).unwrap();
    let f = all.get_fence();
    let members = to_dma_fence_array(&f).unwrap().fences();
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|m| !m.is_container()));
    for m in &fs {
        m.signal().unwrap();
    }
    assert!(all.poll(Duration::from_secs(10)));
}

#[test]
fn merge_of_signalled_fences_is_a_signalled_stub() {
    let _s = serial();
    let fs = fences(2);
    for f in &fs {
        f.signal().unwrap();
    }
    let m = SyncFile::merge(
        "done",
        &SyncFile::create(fs[0].clone()),
        &SyncFile::create(fs[1].clone()),
    )
    .unwrap();
    let f = m.get_fence();
    assert!(f.is_signaled());
    assert!(!Arc::ptr_eq(&f, &fs[0]) && !Arc::ptr_eq(&f, &fs[1]));
    assert_eq!(f.timestamp(), fs.iter().filter_map(|f| f.timestamp()).max());
    assert!(m.poll(Duration::ZERO));
}
