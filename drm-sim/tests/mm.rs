//! Memory: the reclaim annotations of allocations (`fs_reclaim`, the mmu-notifier map, scoped
//! NOFS/NORECLAIM), shrinkers under pressure, kswapd, user copies, faults and mmu notifiers.

use drm_sim::mm::*;
use drm_sim::testing::{expect, kinds, reports, serial};
use lockdep::{LockClass, Mutex, ReportKind, SpinLock};

static DRIVER_LOCK: LockClass = LockClass::new("&drv->lock");

/// A driver lock that reclaim takes: acquired once inside `fs_reclaim`, as a shrinker would.
fn lock_taken_in_reclaim() -> Mutex<()> {
    let l = Mutex::with_class((), &DRIVER_LOCK);
    {
        let _r = FS_RECLAIM.lock();
        drop(l.lock());
    }
    l
}

/// A lock that an mmu notifier's invalidate_range_start takes.
fn lock_taken_in_notifier() -> Mutex<()> {
    static NOTIFIER_LOCK: LockClass = LockClass::new("&drv->notifier_lock");
    let l = Mutex::with_class((), &NOTIFIER_LOCK);
    {
        let _n = MMU_NOTIFIER_INVALIDATE_RANGE_START.lock();
        drop(l.lock());
    }
    l
}

#[test]
fn gfp_kernel_under_a_lock_reclaim_takes_is_reported() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    {
        let _g = l.lock();
        kmalloc(16, GFP_ATOMIC).unwrap(); // no reclaim: fine
        kmalloc(16, GFP_NOWAIT).unwrap();
    }
    assert!(kinds().is_empty());
    {
        let _g = l.lock();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::CircularDependency])
    );
    assert!(r.is_empty() || r[0].classes().contains(&"fs_reclaim"));
}

#[test]
fn noreclaim_scope_takes_neither_map() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    let n = lock_taken_in_notifier();
    {
        let _scope = memalloc_noreclaim_save();
        let _g = l.lock();
        let _h = n.lock();
        kmalloc(16, GFP_KERNEL).unwrap();
        might_alloc(GFP_NOFS);
    }
    assert!(kinds().is_empty());
    // The scope ended: the same allocation is reported again.
    {
        let _g = l.lock();
        might_alloc(GFP_KERNEL);
    }
    assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
}

#[test]
fn nofs_drops_fs_reclaim_but_keeps_the_notifier_map() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    {
        let _scope = memalloc_nofs_save();
        let _g = l.lock();
        kmalloc(16, GFP_KERNEL).unwrap(); // behaves as GFP_NOFS: no fs_reclaim
    }
    assert!(kinds().is_empty());
    let n = lock_taken_in_notifier();
    {
        let _scope = memalloc_nofs_save();
        let _h = n.lock();
        kmalloc(16, GFP_KERNEL).unwrap(); // still direct reclaim: the notifier map
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::CircularDependency])
    );
    assert!(r.is_empty() || r[0].classes().contains(&"mmu_notifier_invalidate_range_start"));
}

#[test]
fn gfp_nofs_and_noio_take_the_notifier_map_only() {
    let _s = serial();
    let l = lock_taken_in_reclaim();
    {
        let _g = l.lock();
        might_alloc(GFP_NOFS);
        might_alloc(GFP_NOIO);
    }
    assert!(kinds().is_empty());
    let n = lock_taken_in_notifier();
    {
        let _h = n.lock();
        might_alloc(GFP_NOIO);
    }
    assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
}

#[test]
fn scopes_nest_and_restore() {
    let _s = serial();
    assert_eq!(current_gfp_context(GFP_KERNEL), GFP_KERNEL);
    let outer = memalloc_nofs_save();
    {
        let _inner = memalloc_nofs_save();
        assert_eq!(current_gfp_context(GFP_KERNEL), GFP_NOFS);
    }
    assert_eq!(
        current_gfp_context(GFP_KERNEL),
        GFP_NOFS,
        "the inner guard restores, not clears"
    );
    drop(outer);
    assert_eq!(current_gfp_context(GFP_KERNEL), GFP_KERNEL);
    let _io = memalloc_noio_save();
    assert_eq!(current_gfp_context(GFP_KERNEL), GFP_NOIO);
}

#[test]
fn a_blocking_allocation_in_atomic_context_is_reported_an_atomic_one_is_not() {
    let _s = serial();
    let s = SpinLock::new(());
    {
        let _g = s.lock();
        kmalloc(16, GFP_ATOMIC).unwrap();
        kvmalloc_array::<u32>(4, GFP_NOWAIT).unwrap();
    }
    assert!(kinds().is_empty());
    {
        let _g = s.lock();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    assert_eq!(kinds(), expect(&[ReportKind::SleepInAtomic]));
}

// ---------------------------------------------------------------------------------------
// Shrinkers and reclaim
// ---------------------------------------------------------------------------------------

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// Resets the pressure knob when a test ends, even by panic.
struct Pressure;
impl Pressure {
    fn set(p: u32) -> Pressure {
        set_memory_pressure(p);
        Pressure
    }
}
impl Drop for Pressure {
    fn drop(&mut self) {
        set_memory_pressure(0);
    }
}

/// A cache of `objects` that frees on scan, taking `lock` (blocking or by trylock) and
/// recording whether it ran inside `fs_reclaim` and on which thread.
struct Cache {
    objects: AtomicUsize,
    scans: AtomicUsize,
    in_reclaim: AtomicUsize,
    lock: Option<Arc<Mutex<()>>>,
    trylock: bool,
    threads: std::sync::Mutex<Vec<String>>,
}

impl Cache {
    fn new(objects: usize, lock: Option<Arc<Mutex<()>>>, trylock: bool) -> Arc<Cache> {
        Arc::new(Cache {
            objects: AtomicUsize::new(objects),
            scans: AtomicUsize::new(0),
            in_reclaim: AtomicUsize::new(0),
            lock,
            trylock,
            threads: Default::default(),
        })
    }
}

impl Shrinker for Cache {
    fn name(&self) -> &str {
        "test-cache"
    }
    fn count_objects(&self) -> usize {
        self.objects.load(SeqCst)
    }
    fn scan_objects(&self, nr: usize) -> usize {
        self.scans.fetch_add(1, SeqCst);
        if lockdep::is_held(&FS_RECLAIM) {
            self.in_reclaim.fetch_add(1, SeqCst);
        }
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().name().unwrap_or("").to_string());
        let _g = match &self.lock {
            Some(l) if self.trylock => match l.try_lock() {
                Some(g) => Some(g),
                None => return SHRINK_STOP,
            },
            Some(l) => Some(l.lock()),
            None => None,
        };
        let n = nr.min(self.objects.load(SeqCst));
        self.objects.fetch_sub(n, SeqCst);
        n
    }
}

#[test]
fn direct_reclaim_runs_shrinkers_under_fs_reclaim_only_when_allowed() {
    let _s = serial();
    let cache = Cache::new(1000, None, false);
    let _h = register_shrinker(cache.clone());
    kmalloc(16, GFP_KERNEL).unwrap();
    assert_eq!(cache.scans.load(SeqCst), 0, "no pressure, no reclaim");
    let _p = Pressure::set(100);
    let passes = reclaim_passes();
    kmalloc(16, GFP_KERNEL).unwrap();
    assert_eq!(cache.scans.load(SeqCst), 1);
    assert_eq!(
        cache.in_reclaim.load(SeqCst),
        u32::from(lockdep::ENABLED) as usize
    );
    assert!(reclaim_passes() > passes);
    kmalloc(16, GFP_ATOMIC).unwrap();
    kmalloc(16, GFP_NOFS).unwrap();
    {
        let _nr = memalloc_noreclaim_save();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    {
        let _nofs = memalloc_nofs_save();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    assert_eq!(
        cache.scans.load(SeqCst),
        1,
        "atomic, NOFS and NORECLAIM do not reclaim"
    );
    assert!(kinds().is_empty());
}

#[test]
fn pressure_sets_how_often_allocations_reclaim() {
    let _s = serial();
    let cache = Cache::new(1_000_000, None, false);
    let _h = register_shrinker(cache.clone());
    let _p = Pressure::set(25);
    let before = cache.scans.load(SeqCst);
    for _ in 0..40 {
        kmalloc(8, GFP_KERNEL).unwrap();
    }
    assert_eq!(
        cache.scans.load(SeqCst) - before,
        10,
        "every fourth allocation at 25%"
    );
}

#[test]
fn shrink_all_drains_every_cache() {
    let _s = serial();
    let a = Cache::new(300, None, false);
    let b = Cache::new(7, None, false);
    let (_ha, _hb) = (register_shrinker(a.clone()), register_shrinker(b.clone()));
    let passes = reclaim_passes();
    assert_eq!(shrink_all("test"), 307);
    assert_eq!(a.count_objects() + b.count_objects(), 0);
    assert_eq!(reclaim_passes(), passes + 1);
    drop(_ha);
    a.objects.store(5, SeqCst);
    shrink_all("test");
    assert_eq!(a.count_objects(), 5, "an unregistered shrinker is not run");
}

#[test]
fn a_shrinker_blocking_on_a_lock_held_around_allocations_is_reported() {
    let _s = serial();
    let lock = Arc::new(Mutex::with_class((), &DRIVER_LOCK));
    let cache = Cache::new(10, Some(lock.clone()), true);
    let h = register_shrinker(cache.clone());
    shrink_all("trylock");
    {
        let _g = lock.lock();
        kmalloc(16, GFP_KERNEL).unwrap(); // allocation under the lock
    }
    assert!(kinds().is_empty(), "a trylocking shrinker is fine");
    drop(h);
    lockdep::reset();
    let cache = Cache::new(10, Some(lock.clone()), false);
    let _h = register_shrinker(cache);
    shrink_all("blocking");
    {
        let _g = lock.lock();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::CircularDependency])
    );
    assert!(
        r.is_empty() || (r[0].classes().contains(&"fs_reclaim") && r[0].classes().contains(&"&drv->lock"))
    );
}

#[test]
fn unregistering_a_shrinker_waits_for_a_pass_running_it() {
    let _s = serial();
    struct Slow {
        entered: drm_sim::wait::Completion,
        finished: std::sync::atomic::AtomicBool,
    }
    impl Shrinker for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        fn count_objects(&self) -> usize {
            usize::from(!self.finished.load(SeqCst))
        }
        fn scan_objects(&self, _nr: usize) -> usize {
            self.entered.complete();
            std::thread::sleep(std::time::Duration::from_millis(30));
            self.finished.store(true, SeqCst);
            1
        }
    }
    let slow = Arc::new(Slow {
        entered: drm_sim::wait::Completion::new("entered"),
        finished: std::sync::atomic::AtomicBool::new(false),
    });
    let h = register_shrinker(slow.clone());
    let pass = std::thread::spawn(|| shrink_all("background"));
    slow.entered.wait_for_completion();
    drop(h);
    assert!(slow.finished.load(SeqCst), "returned while the pass still ran it");
    pass.join().unwrap();
    assert!(kinds().is_empty());
}

#[test]
fn kswapd_runs_shrinkers_when_woken_under_pressure() {
    let _s = serial();
    let cache = Cache::new(1_000_000, None, false);
    let _h = register_shrinker(cache.clone());
    start_kswapd();
    start_kswapd(); // idempotent
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(cache.scans.load(SeqCst), 0, "asleep without pressure");
    let p = Pressure::set(10); // wakes it
    let t0 = std::time::Instant::now();
    while cache.scans.load(SeqCst) == 0 {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(cache.threads.lock().unwrap().iter().any(|t| t == "kswapd0"));
    kmalloc(8, GFP_ATOMIC).unwrap(); // an atomic allocation under pressure wakes it too
    drop(p);
    stop_kswapd();
    let scans = cache.scans.load(SeqCst);
    set_memory_pressure(0);
    wakeup_kswapd();
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert_eq!(cache.scans.load(SeqCst), scans, "stopped");
    assert!(kinds().is_empty());
}

// ---------------------------------------------------------------------------------------
// Address spaces
// ---------------------------------------------------------------------------------------

#[test]
fn user_copies_move_real_bytes_and_fault_pages_in_once() {
    let _s = serial();
    let mm = MmStruct::new();
    let addr = mm.mmap_anon(3 * PAGE_SIZE);
    let data: Vec<u8> = (0..9000u32).map(|i| i as u8).collect();
    let f0 = faults();
    mm.copy_to_user(addr + 100, &data).unwrap();
    assert_eq!(faults() - f0, 3, "three pages touched for the first time");
    let mut back = vec![0u8; data.len()];
    mm.copy_from_user(&mut back, addr + 100).unwrap();
    assert_eq!(back, data);
    assert_eq!(faults() - f0, 3, "no new fault");
    mm.put_user(addr, 0xdead_beef).unwrap();
    assert_eq!(mm.get_user(addr).unwrap(), 0xdead_beef);
    assert_eq!(
        mm.put_user(addr + 3 * PAGE_SIZE, 1),
        Err(drm_sim::Errno::Efault),
        "guard page"
    );
    assert_eq!(mm.get_user(0x10), Err(drm_sim::Errno::Efault));
    mm.munmap(addr).unwrap();
    assert_eq!(mm.get_user(addr), Err(drm_sim::Errno::Efault), "unmapped");
    assert_eq!(mm.munmap(addr), Err(drm_sim::Errno::Einval));
    assert!(kinds().is_empty());
}

#[test]
fn a_user_copy_under_a_lock_the_fault_path_takes_is_reported() {
    let _s = serial();
    static RESV: LockClass = LockClass::new("test_resv_mutex");
    let resv = Mutex::with_class((), &RESV);
    let other = Mutex::new(());
    let mm = MmStruct::new();
    let addr = mm.mmap_anon(PAGE_SIZE);
    let f0 = faults();
    mm.handle_mm_fault(addr, || {
        lockdep::assert_held_read(&mm.mmap_lock);
        drop(resv.lock()); // a GEM fault takes the object's lock under mmap_lock
        Ok(())
    })
    .unwrap();
    assert_eq!(faults() - f0, 1);
    {
        let _o = other.lock();
        mm.put_user(addr, 1).unwrap();
    }
    assert!(kinds().is_empty());
    {
        let _r = resv.lock();
        mm.put_user(addr, 2).unwrap(); // the page is present: only might_fault
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::CircularDependency])
    );
    assert!(r.is_empty() || r[0].classes().contains(&"&mm->mmap_lock"));
}

struct Notifier {
    lock: Arc<Mutex<()>>,
    seen: std::sync::Mutex<Vec<MmuNotifierRange>>,
    ends: AtomicUsize,
}

impl MmuNotifierOps for Notifier {
    fn invalidate_range_start(&self, range: &MmuNotifierRange) -> drm_sim::KResult {
        let _g = self.lock.lock();
        self.seen.lock().unwrap().push(*range);
        Ok(())
    }
    fn invalidate_range_end(&self, _range: &MmuNotifierRange) {
        self.ends.fetch_add(1, SeqCst);
    }
}

#[test]
fn munmap_runs_notifiers_under_mmap_lock_and_the_notifier_map() {
    let _s = serial();
    static NOTIFIER_LOCK: LockClass = LockClass::new("&svm->notifier_lock");
    let lock = Arc::new(Mutex::with_class((), &NOTIFIER_LOCK));
    let n = Arc::new(Notifier {
        lock: lock.clone(),
        seen: Default::default(),
        ends: AtomicUsize::new(0),
    });
    let mm = MmStruct::new();
    mm.register_notifier(n.clone());
    let addr = mm.mmap_anon(2 * PAGE_SIZE);
    mm.munmap(addr).unwrap();
    assert_eq!(
        *n.seen.lock().unwrap(),
        vec![MmuNotifierRange {
            start: addr,
            end: addr + 2 * PAGE_SIZE
        }]
    );
    assert_eq!(n.ends.load(SeqCst), 1);
    mm.invalidate_range(MmuNotifierRange { start: 0, end: 1 })
        .unwrap();
    assert_eq!(n.seen.lock().unwrap().len(), 2);
    let addr = mm.mmap_anon(PAGE_SIZE);
    mm.put_user(addr, 0).unwrap(); // fault the page in (its allocation would be R12 too)
    {
        let _g = lock.lock();
        kmalloc(16, GFP_ATOMIC).unwrap(); // no reclaim: fine under the notifier lock
    }
    assert!(kinds().is_empty());
    // R10: a user copy under the notifier's lock (fault-under-notifier-lock).
    {
        let _g = lock.lock();
        mm.put_user(addr, 3).unwrap();
    }
    assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
    // R12: a NOFS allocation under it (memalloc_nofs_save is not enough).
    lockdep::reset();
    mm.invalidate_range(MmuNotifierRange { start: 0, end: 1 })
        .unwrap();
    {
        let _g = lock.lock();
        let _nofs = memalloc_nofs_save();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
    // ... memalloc_noreclaim_save is.
    lockdep::reset();
    mm.invalidate_range(MmuNotifierRange { start: 0, end: 1 })
        .unwrap();
    {
        let _g = lock.lock();
        let _nr = memalloc_noreclaim_save();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    assert!(kinds().is_empty());
}

#[test]
fn unmap_mapping_range_takes_i_mmap_rwsem() {
    let _s = serial();
    let mapping = AddressSpace::new();
    let cache = Cache::new(10, None, false);
    let _h = register_shrinker(cache);
    // A shrinker zapping mappings: fs_reclaim -> i_mmap_rwsem.
    {
        let _r = FS_RECLAIM.lock();
        mapping.unmap_mapping_range();
    }
    {
        let _w = mapping.i_mmap_rwsem.read();
        kmalloc(16, GFP_ATOMIC).unwrap();
    }
    assert!(kinds().is_empty());
    {
        let _w = mapping.i_mmap_rwsem.write();
        kmalloc(16, GFP_KERNEL).unwrap();
    }
    let r = reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[ReportKind::CircularDependency])
    );
    assert!(r.is_empty() || r[0].classes().contains(&"&mapping->i_mmap_rwsem"));
}

#[test]
fn priming_records_fs_reclaim_before_the_notifier_map() {
    let _s = serial();
    prime();
    // The inverse order (reclaim from inside an invalidation) now closes a cycle at once.
    {
        let _n = MMU_NOTIFIER_INVALIDATE_RANGE_START.lock();
        drop(FS_RECLAIM.lock());
    }
    assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
}
