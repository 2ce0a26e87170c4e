//! Several clients on two GPUs at once, on the real clock: jobs with dependencies on each
//! other's fences across schedulers, shared buffers, occasional hangs and faults recovered by
//! the TDR, and one GPU unplugged with work in flight. Every fence must signal exactly once,
//! no job may run before its dependencies allow, and the validator must stay silent.
//! (Its own test binary: the validator's state is process-wide.)

use drm_sim::bugs::Bugs;
use drm_sim::dma_fence::DmaFence;
use drm_sim::drm_drv::DrmDevice;
use drm_sim::drm_gem::DrmGemObject;
use drm_sim::drm_gem_shmem_helper::DrmGemShmemObject;
use drm_sim::error::Errno;
use drm_sim::gpu::GpuCommand;
use drm_sim::scheduler::DrmSchedPriority;
use drm_sim::sim_driver::SimGpu;
use drm_sim::testing::{reports, serial};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: usize = 4;
const JOBS: usize = 150;

/// xorshift64*: deterministic per client, no dependency on a crate's API.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One submitted job: its fences, which GPU, and the dependencies it was given.
struct Record {
    gpu: usize,
    finished: Arc<DmaFence>,
    deps: Vec<(usize, Arc<DmaFence>)>,
}

#[test]
fn clients_on_two_gpus_with_hangs_faults_and_an_unplug() {
    let _s = serial();
    drm_sim::dma_resv::dma_resv_lockdep();
    let devs: Vec<Arc<DrmDevice>> = (0..2)
        .map(|i| DrmDevice::new(&format!("card{i}"), Bugs::NONE))
        .collect();
    let gpus: Vec<Arc<SimGpu>> = ["gfx0", "gfx1"]
        .iter()
        .zip(&devs)
        .map(|(name, dev)| {
            Arc::new(
                SimGpu::new(dev, name, |a| {
                    a.timeout = Some(Duration::from_millis(40));
                    a.credit_limit = 8;
                })
                .unwrap(),
            )
        })
        .collect();
    let shared: Vec<Arc<DrmGemObject>> = (0..3)
        .map(|i| DrmGemShmemObject::create(&devs[i % 2], 4096).unwrap())
        .collect();
    let recent = Arc::new(Mutex::new(Vec::<(usize, Arc<DmaFence>)>::new()));
    let records = Arc::new(Mutex::new(Vec::<Record>::new()));
    let progress = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (gpus, shared, recent, records) =
                (gpus.clone(), shared.clone(), recent.clone(), records.clone());
            let progress = progress.clone();
            std::thread::Builder::new()
                .name(format!("client{c}"))
                .spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (c as u64 + 1));
                    let prio = if c == 0 {
                        DrmSchedPriority::High
                    } else {
                        DrmSchedPriority::Normal
                    };
                    let entities: Vec<_> = gpus.iter().map(|g| g.entity(prio)).collect();
                    for i in 0..JOBS {
                        let mut gi = rng.below(2) as usize;
                        let cmd = match rng.below(200) {
                            // One hang for certain on the GPU that stays, early on.
                            _ if c == 1 && i == 10 => {
                                gi = 0;
                                GpuCommand::hang()
                            }
                            0 => GpuCommand::hang(),
                            1 => GpuCommand::fault(),
                            n => GpuCommand::run(Duration::from_micros(n % 150)),
                        };
                        let deps: Vec<(usize, Arc<DmaFence>)> = {
                            let r = recent.lock().unwrap();
                            (0..rng.below(3))
                                .filter_map(|_| r.get(rng.below(r.len().max(1) as u64) as usize).cloned())
                                .collect()
                        };
                        let plain: Vec<Arc<DmaFence>> = deps.iter().map(|(_, f)| f.clone()).collect();
                        let finished = if i % 7 == 0 {
                            let bo = shared[rng.below(shared.len() as u64) as usize].clone();
                            gpus[gi].submit_bos(&entities[gi], cmd, 1, &plain, &[(bo, rng.below(2) == 0)])
                        } else {
                            gpus[gi].submit(&entities[gi], cmd, 1 + rng.below(2) as u32, &plain)
                        };
                        let Ok(finished) = finished else { continue };
                        {
                            let mut r = recent.lock().unwrap();
                            r.push((gi, finished.clone()));
                            if r.len() > 16 {
                                r.remove(0);
                            }
                        }
                        records.lock().unwrap().push(Record {
                            gpu: gi,
                            finished,
                            deps,
                        });
                        let (n, cv) = &*progress;
                        *n.lock().unwrap() += 1;
                        cv.notify_all();
                        // Now and then a client waits for its results, as real ones do.
                        if i % 10 == 9 {
                            let last = records.lock().unwrap().last().map(|r| r.finished.clone());
                            if let Some(f) = last {
                                let _ = f.wait_timeout(false, Duration::from_secs(1));
                            }
                        }
                    }
                    for e in &entities {
                        e.flush(Duration::from_secs(5));
                        e.fini();
                    }
                })
                .unwrap()
        })
        .collect();
    // Hot-unplug the second GPU once half the work is submitted, while clients still submit.
    {
        let (n, cv) = &*progress;
        let g = cv
            .wait_timeout_while(n.lock().unwrap(), Duration::from_secs(30), |n| {
                *n < CLIENTS * JOBS / 2
            })
            .unwrap()
            .0;
        assert!(*g >= CLIENTS * JOBS / 2, "clients made progress: {}", *g);
    }
    devs[1].unplug();
    for t in threads {
        t.join().expect("a client thread finished");
    }
    let records = std::mem::take(&mut *records.lock().unwrap());
    assert!(gpus[0].driver.resets() >= 1, "the hang was recovered by a reset");
    assert!(
        records.len() > CLIENTS * JOBS / 2,
        "most submissions were accepted"
    );
    let mut errors = 0;
    let mut by = std::collections::BTreeMap::new();
    for r in &records {
        r.finished
            .wait_timeout(false, Duration::from_secs(10))
            .expect("every job's fence signals");
        *by.entry((r.gpu, format!("{:?}", r.finished.error())))
            .or_insert(0) += 1;
        match r.finished.error() {
            None => {}
            Some(Errno::Etimedout | Errno::Ecanceled | Errno::Eio | Errno::Enodev) => errors += 1,
            Some(e) => panic!("unexpected job error {e}"),
        }
        assert_eq!(r.finished.signal(), Err(Errno::Einval), "signalled exactly once");
        for (dg, d) in &r.deps {
            // A dependency on another GPU must have finished before this job finished; one on
            // the same GPU is ordered by the ring.
            assert!(d.is_signaled());
            if *dg != r.gpu {
                assert!(d.timestamp() <= r.finished.timestamp(), "dependency order");
            }
        }
    }
    for g in &gpus {
        g.fini();
    }
    drm_sim::workqueue::system_wq().flush_workqueue();
    let r = reports();
    assert!(
        r.is_empty(),
        "clean stress run reported: {:?}",
        r.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    eprintln!(
        "{} jobs, {} with an error ({by:?}), gfx0 {:?}, gfx1 {:?}",
        records.len(),
        errors,
        gpus[0].engine.stats(),
        gpus[1].engine.stats()
    );
}
