//! drm_exec: many objects locked as one ww transaction, with -EDEADLK back-off under real
//! contention, -EALREADY handling, and objects kept locked until fini (R13-R15).

mod buffers;

use buffers::{describe, matching};
use drm_sim::bugs::Bugs;
use drm_sim::dma_resv::DmaResv;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_exec::{DrmExec, DrmExecFlags};
use drm_sim::drm_gem::{self, DrmGemObject, GemCreateFlags};
use drm_sim::drm_gem_shmem_helper::DrmGemShmemObject;
use drm_sim::error::Errno;
use drm_sim::testing::{kinds, reports, serial};
use lockdep::ReportKind;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

fn objects(dev: &Arc<DrmDevice>, n: usize) -> Vec<Arc<DrmGemObject>> {
    (0..n)
        .map(|_| DrmGemShmemObject::create(dev, 4096).unwrap())
        .collect()
}

#[test]
fn objects_stay_locked_until_fini() {
    let _s = serial();
    let dev = DrmDevice::new("exec0", Bugs::NONE);
    let objs = objects(&dev, 3);
    let mut exec = DrmExec::init(DrmExecFlags::INTERRUPTIBLE_WAIT, objs.len());
    exec.until_all_locked(|exec| exec.prepare_array(&objs, 2))
        .unwrap();
    assert_eq!(exec.num_objects(), 3);
    assert!(objs.iter().all(|o| o.resv().held()));
    // The reserved slots are usable under the transaction's guards.
    for o in &objs {
        let g = exec.guard(o).unwrap();
        o.resv()
            .add_fence(g, buffers::fence(), drm_sim::dma_resv::DmaResvUsage::Write);
    }
    exec.unlock_obj(&objs[1]);
    // (`held()` is per class while several ww locks share one nest entry, as in the kernel.)
    assert!(!objs[1].resv().is_locked() && objs[0].resv().is_locked());
    drop(exec);
    assert!(objs.iter().all(|o| !o.resv().held() && !o.resv().is_locked()));
    assert!(kinds().is_empty());
}

#[test]
fn duplicates_are_ealready_unless_ignored() {
    let _s = serial();
    let dev = DrmDevice::new("exec1", Bugs::NONE);
    let o = objects(&dev, 1).remove(0);
    let mut exec = DrmExec::init(DrmExecFlags::NONE, 1);
    let r = exec.until_all_locked(|exec| {
        exec.lock_obj(&o)?;
        exec.lock_obj(&o)
    });
    assert_eq!(r, Err(Errno::Ealready));
    drop(exec);

    // Two objects sharing one resv are duplicates as well.
    let shared = DmaResv::new();
    let a =
        DrmGemShmemObject::create_with(&dev, 4096, Some(shared.clone()), GemCreateFlags::default()).unwrap();
    let b = DrmGemShmemObject::create_with(&dev, 4096, Some(shared), GemCreateFlags::default()).unwrap();
    let mut exec = DrmExec::init(DrmExecFlags::IGNORE_DUPLICATES, 3);
    exec.until_all_locked(|exec| {
        exec.prepare_obj(&o, 1)?;
        exec.prepare_obj(&o, 1)?;
        exec.prepare_obj(&a, 1)?;
        exec.prepare_obj(&b, 1)
    })
    .unwrap();
    assert_eq!(exec.num_objects(), 2);
    assert!(exec.guard(&b).is_some(), "found through the shared resv");
    drop(exec);
    assert!(kinds().is_empty());
}

/// A younger transaction that meets an older holder dies, backs off, sleeps on the contended
/// lock with `lock_slow`, and the retried round locks everything.
#[test]
fn younger_transaction_backs_off_and_retries() {
    let _s = serial();
    let dev = DrmDevice::new("exec2", Bugs::NONE);
    let objs = objects(&dev, 2);
    let (x, y) = (objs[0].clone(), objs[1].clone());
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let older = {
        let x = x.clone();
        thread::spawn(move || {
            let mut exec = DrmExec::init(DrmExecFlags::NONE, 1);
            exec.until_all_locked(|exec| exec.lock_obj(&x)).unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            thread::sleep(Duration::from_millis(20));
        })
    };
    held_rx.recv().unwrap();
    let mut exec = DrmExec::init(DrmExecFlags::NONE, 2);
    let mut rounds = 0;
    let mut backoffs = 0;
    exec.until_all_locked(|exec| {
        rounds += 1;
        exec.lock_obj(&y)?;
        if rounds == 1 {
            go_tx.send(()).unwrap();
        }
        let r = exec.lock_obj(&x);
        if r == Err(Errno::Edeadlk) {
            backoffs += 1;
        }
        r
    })
    .unwrap();
    assert_eq!((rounds, backoffs), (2, 1));
    assert!(x.resv().held() && y.resv().held());
    drop(exec);
    older.join().unwrap();
    assert!(kinds().is_empty());
}

/// Several threads lock overlapping sets in different orders, holding them a while: nobody
/// hangs, no object is ever held by two transactions at once, and the validator is silent.
#[test]
fn contended_overlapping_sets_in_random_orders() {
    let _s = serial();
    const THREADS: usize = 4;
    const ROUNDS: usize = 40;
    let dev = DrmDevice::new("exec3", Bugs::NONE);
    let objs = objects(&dev, 6);
    let busy: Arc<Vec<AtomicBool>> = Arc::new((0..objs.len()).map(|_| AtomicBool::new(false)).collect());
    let backoffs = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (objs, busy, backoffs, done, start) = (
                objs.clone(),
                busy.clone(),
                backoffs.clone(),
                done.clone(),
                start.clone(),
            );
            thread::spawn(move || {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(t as u64);
                start.wait();
                for _ in 0..ROUNDS {
                    let mut pick: Vec<usize> = (0..objs.len()).collect();
                    pick.shuffle(&mut rng);
                    pick.truncate(rng.random_range(2..=objs.len()));
                    let mut exec = DrmExec::init(DrmExecFlags::INTERRUPTIBLE_WAIT, pick.len());
                    exec.until_all_locked(|exec| {
                        for &i in &pick {
                            let r = exec.prepare_obj(&objs[i], 1);
                            if r == Err(Errno::Edeadlk) {
                                backoffs.fetch_add(1, Ordering::Relaxed);
                            }
                            r?;
                        }
                        Ok(())
                    })
                    .unwrap();
                    for &i in &pick {
                        assert!(!busy[i].swap(true, Ordering::SeqCst), "object {i} held twice");
                    }
                    thread::sleep(Duration::from_micros(300));
                    for &i in &pick {
                        busy[i].store(false, Ordering::SeqCst);
                    }
                    drop(exec);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), THREADS * ROUNDS);
    let r = reports();
    assert!(r.is_empty(), "{:?}", describe(&r));
    eprintln!("backoffs: {}", backoffs.load(Ordering::Relaxed));
}

/// R15/S2: the final put of an object inside the transaction, while others are still locked.
/// With the (correct) deferred free nothing is locked there; the inline free takes the
/// object's resv without a ctx under the held one: possible recursive locking.
#[test]
fn final_put_inside_the_transaction() {
    let _s = serial();
    let dev = DrmDevice::new("exec4", Bugs::NONE);
    for immediate_free in [false, true] {
        let y = DrmGemShmemObject::create(&dev, 4096).unwrap();
        let x = DrmGemShmemObject::create_with(&dev, 4096, None, GemCreateFlags { immediate_free }).unwrap();
        let mut exec = DrmExec::init(DrmExecFlags::NONE, 2);
        exec.until_all_locked(|exec| {
            exec.lock_obj(&y)?;
            exec.lock_obj(&x)
        })
        .unwrap();
        drop(x); // the transaction holds the last reference
        drop(exec); // unlock_all: x unlocked and put while y is still locked
        drm_gem::flush_free_work();
        let r = reports();
        let hits = matching(&r, ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]);
        assert_eq!(
            hits.len(),
            usize::from(immediate_free),
            "immediate={immediate_free}: {:?}",
            describe(&r)
        );
    }
}

/// S2 itself: the final put of an imported object inside the transaction detaches it from its
/// dma-buf; inline, `dma_buf_detach` takes the buffer's resv without a ctx under the held one.
#[test]
fn final_put_of_an_import_inside_the_transaction() {
    let _s = serial();
    let (a, b) = (
        DrmDevice::new("exec5", Bugs::NONE),
        DrmDevice::new("exec6", Bugs::NONE),
    );
    for immediate_free in [false, true] {
        let exported = DrmGemShmemObject::create(&a, 4096).unwrap();
        let buf = drm_sim::dma_buf::DmaBuf::export(&exported).unwrap();
        let imported = buf.import_with(&b, GemCreateFlags { immediate_free }).unwrap();
        let local = DrmGemShmemObject::create(&b, 4096).unwrap();
        let mut exec = DrmExec::init(DrmExecFlags::NONE, 2);
        exec.until_all_locked(|exec| {
            exec.lock_obj(&local)?;
            exec.lock_obj(&imported)
        })
        .unwrap();
        drop(imported);
        drop(exec);
        drm_gem::flush_free_work();
        assert_eq!(buf.attachment_count(), 0, "detached either way");
        let r = reports();
        let hits = matching(&r, ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]);
        assert_eq!(
            hits.len(),
            usize::from(immediate_free),
            "immediate={immediate_free}: {:?}",
            describe(&r)
        );
        lockdep::reset();
    }
}
