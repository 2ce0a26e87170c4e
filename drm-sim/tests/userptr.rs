//! Userptr buffers behind an mmu notifier: populate reads the user range, munmap invalidates
//! it and waits for the jobs using it; the injected `fault-under-notifier-lock` (a user copy
//! under the notifier lock) closes `&vm->userptr.notifier_lock -> &mm->mmap_lock ->
//! mmu_notifier_invalidate_range_start -> &vm->userptr.notifier_lock`.

use drm_sim::dma_fence::{dma_fence_context_alloc, DmaFence, DmaFenceOps};
use drm_sim::mm::{MmStruct, PAGE_SIZE};
use drm_sim::testing::{kinds, reports, serial};
use drm_sim::userptr::Userptr;
use drm_sim::{Bug, Bugs, Errno};
use lockdep::ReportKind;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

struct Ops;

impl DmaFenceOps for Ops {
    fn get_driver_name(&self) -> &'static str {
        "test"
    }
    fn get_timeline_name(&self) -> &'static str {
        "userptr"
    }
}

fn fence() -> Arc<DmaFence> {
    DmaFence::init(Arc::new(Ops), dma_fence_context_alloc(1), 1)
}

#[test]
fn munmap_invalidates_and_waits_for_the_gpu() {
    let _s = serial();
    drm_sim::dma_resv::dma_resv_lockdep();
    let mm = MmStruct::new();
    let addr = mm.mmap_anon(2 * PAGE_SIZE);
    mm.copy_to_user(addr, &[7; 16]).unwrap();
    let u = Userptr::new(&mm, Bugs::NONE, addr, 2 * PAGE_SIZE);
    assert!(!u.is_valid());
    assert_eq!(u.populate(), Ok(2 * PAGE_SIZE as usize));
    assert!(u.is_valid());
    // A job still using the pages: the unmap waits for it.
    let job = fence();
    u.add_fence(job.clone());
    let signaller = {
        let job = job.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            job.signal().unwrap();
        })
    };
    mm.munmap(addr).unwrap();
    assert!(
        job.is_signaled(),
        "the notifier waited for the job before the pages went"
    );
    assert!(!u.is_valid());
    signaller.join().unwrap();
    // The old range is gone: populating it faults; a new one works after a rebind.
    assert_eq!(u.populate(), Err(Errno::Efault));
    let new = mm.mmap_anon(PAGE_SIZE);
    u.rebind(new, PAGE_SIZE);
    assert_eq!(u.start(), new);
    assert_eq!(u.populate(), Ok(PAGE_SIZE as usize));
    assert_eq!(kinds(), [], "the correct driver is silent");
}

#[test]
fn a_user_copy_under_the_notifier_lock_is_a_cycle() {
    let _s = serial();
    drm_sim::dma_resv::dma_resv_lockdep();
    let mm = MmStruct::new();
    let addr = mm.mmap_anon(PAGE_SIZE);
    let u = Userptr::new(&mm, Bugs::NONE.with(Bug::FaultUnderNotifierLock), addr, PAGE_SIZE);
    u.populate().unwrap();
    mm.munmap(addr).unwrap();
    if !lockdep::ENABLED {
        assert_eq!(kinds(), []);
        return;
    }
    let r = reports();
    let c = r
        .iter()
        .find(|r| r.kind() == ReportKind::CircularDependency)
        .unwrap_or_else(|| panic!("{r:#?}"));
    let names = c.classes();
    for n in [
        "&vm->userptr.notifier_lock",
        "&mm->mmap_lock",
        "mmu_notifier_invalidate_range_start",
    ] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
}
