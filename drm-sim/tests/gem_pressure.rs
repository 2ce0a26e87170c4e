//! The buffer layer under memory pressure: clients submitting over shared and private buffers
//! while kswapd and direct reclaim run the GEM shrinker. The shrinker may hit an object whose
//! resv the allocating thread itself holds (pages allocated under resv): the trylock skips it.
//! Nothing hangs, contents survive eviction, and the validator stays silent.

mod buffers;

use buffers::describe;
use drm_sim::bugs::Bugs;
use drm_sim::dma_buf::DmaBuf;
use drm_sim::dma_resv::{dma_resv_lockdep, DmaResvUsage};
use drm_sim::drm_drv::{DrmDevice, DrmFile};
use drm_sim::drm_exec::{DrmExec, DrmExecFlags};
use drm_sim::drm_gem;
use drm_sim::drm_gem_shmem_helper::{pin_for_submit, DrmGemShmemObject};
use drm_sim::mm::{self, MmStruct};
use drm_sim::testing::{reports, serial};
use std::sync::{Arc, Barrier};
use std::thread;

/// Puts the process-wide knobs back even if the test fails.
struct Pressure;

impl Pressure {
    fn on() -> Pressure {
        mm::start_kswapd();
        mm::set_memory_pressure(100);
        Pressure
    }
}

impl Drop for Pressure {
    fn drop(&mut self) {
        mm::set_memory_pressure(0);
        mm::stop_kswapd();
    }
}

#[test]
fn clients_submit_while_the_shrinker_runs() {
    let _s = serial();
    dma_resv_lockdep();
    const CLIENTS: usize = 3;
    const ROUNDS: usize = 100;
    let (a, b) = (
        DrmDevice::new("press-a", Bugs::NONE),
        DrmDevice::new("press-b", Bugs::NONE),
    );
    let shared = DrmGemShmemObject::create(&a, 8192).unwrap();
    let shared_buf = DmaBuf::export(&shared).unwrap();
    let _p = Pressure::on();
    let start = Arc::new(Barrier::new(CLIENTS));
    let hs: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (a, b, shared_buf, start) = (a.clone(), b.clone(), shared_buf.clone(), start.clone());
            thread::spawn(move || {
                let file = DrmFile::open(&a, MmStruct::new()).unwrap();
                let imported = shared_buf.import(&b).unwrap();
                start.wait();
                for round in 0..ROUNDS {
                    let tag = (c * ROUNDS + round) as u8;
                    let obj = DrmGemShmemObject::create(&a, 4096 * (1 + round % 3)).unwrap();
                    let h = drm_gem::handle_create(&file, &obj).unwrap();
                    let vma = obj.mmap(file.mm()).unwrap();
                    let m = obj.vmap().unwrap();
                    m.write(1, &[tag]).unwrap();
                    obj.vunmap(m);

                    // Submit: lock the private and the shared buffer, pin, publish a fence.
                    let job = buffers::fence();
                    let mut exec = DrmExec::init(DrmExecFlags::INTERRUPTIBLE_WAIT, 2);
                    exec.until_all_locked(|exec| {
                        exec.prepare_obj(&obj, 1)?;
                        exec.prepare_obj(&shared_buf.exporter().clone(), 1)
                    })
                    .unwrap();
                    pin_for_submit(&exec, &obj).unwrap();
                    for o in [&obj, shared_buf.exporter()] {
                        let g = exec.guard(o).unwrap();
                        o.resv().add_fence(g, job.clone(), DmaResvUsage::Write);
                    }
                    obj.unpin_locked(exec.guard(&obj).unwrap());
                    drop(exec);
                    job.signal().unwrap();

                    // The other device reads the shared buffer through its import.
                    let sf = shared_buf.export_sync_file(DmaResvUsage::rw(false)).unwrap();
                    shared_buf.import_sync_file(&sf, DmaResvUsage::Read).unwrap();
                    let im = imported.vmap().unwrap();
                    let mut byte = [0];
                    im.read(0, &mut byte).unwrap();
                    imported.vunmap(im);

                    assert_eq!(vma.fault(1), Ok(tag), "contents survive eviction");
                    drop(vma);
                    drm_gem::handle_delete(&file, h).unwrap();
                }
                drm_gem::release(&file);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    drop(_p);
    drm_gem::flush_free_work();
    assert!(mm::reclaim_passes() > 0, "the shrinkers ran");
    let r = reports();
    assert!(r.is_empty(), "{:?}", describe(&r));
}
