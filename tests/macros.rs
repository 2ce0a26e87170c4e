//! The attribute macros: what they do at run time, and (with trybuild) that misuse is a
//! compile error pointing at the user's code.

use lockdep::ReportKind::{AssertionFailed, CircularDependency, ForbiddenWhileHeld, RecursiveLocking};
use lockdep::{LockMap, Mutex, Srcu};
use lockdep_suite::{kinds, serial};

static DMA_FENCE_MAP: LockMap = LockMap::new("dma_fence_map");
static RECLAIM: LockMap = LockMap::new("fs_reclaim");
static UNPLUG: Srcu = Srcu::new("drm_unplug_srcu_macros");

#[lockdep::lock_class(name = "reservation_ww_class_mutex")]
struct Resv {
    lock: Mutex<u32>,
}

impl Resv {
    fn new() -> Self {
        Resv {
            lock: Mutex::with_class(0, Self::lock_class()),
        }
    }
}

#[lockdep::lock_class]
struct Device {
    #[lock_class(name = "&dev->struct_mutex")]
    struct_mutex: Mutex<()>,
    #[lock_class(name = "&dev->mode_config.mutex")]
    mode_config: Mutex<()>,
}

impl Device {
    fn new() -> Self {
        Device {
            struct_mutex: Mutex::with_class((), Self::struct_mutex_class()),
            mode_config: Mutex::with_class((), Self::mode_config_class()),
        }
    }
}

#[lockdep::requires_held(resv.lock)]
fn pin(resv: &Resv) -> u32 {
    1
}

#[lockdep::signalling(DMA_FENCE_MAP)]
fn run_job(dev: &Device) {
    let _g = dev.mode_config.lock();
}

#[lockdep::section(RECLAIM)]
fn shrink() {}

#[lockdep::must_not_hold(UNPLUG)]
fn fence_wait() {
    DMA_FENCE_MAP.sync();
}

#[test]
fn type_and_field_classes_are_shared_and_named() {
    let _s = serial();
    let (a, b) = (Resv::new(), Resv::new());
    {
        let _a = a.lock.lock();
        let _b = b.lock.lock();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), RecursiveLocking);
    assert_eq!(r[0].classes(), vec!["reservation_ww_class_mutex"]);
    let d = Device::new();
    assert_eq!(Device::struct_mutex_class().name(), "&dev->struct_mutex");
    {
        let _s = d.struct_mutex.lock();
        let _m = d.mode_config.lock();
    }
    assert!(kinds().is_empty());
}

#[test]
fn requires_held_checks_on_entry() {
    let _s = serial();
    let r = Resv::new();
    {
        let _g = r.lock.lock();
        assert_eq!(pin(&r), 1);
    }
    assert!(kinds().is_empty());
    pin(&r);
    assert_eq!(kinds(), vec![AssertionFailed]);
}

#[test]
fn signalling_section_spans_the_body() {
    let _s = serial();
    let d = Device::new();
    run_job(&d);
    assert!(kinds().is_empty());
    // A fence wait under a lock taken inside signalling sections closes the cycle.
    {
        let _m = d.mode_config.lock();
        fence_wait();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), CircularDependency);
    shrink();
    assert!(kinds().is_empty());
}

#[test]
fn must_not_hold_names_the_function() {
    let _s = serial();
    fence_wait();
    assert!(kinds().is_empty());
    {
        let _enter = UNPLUG.read_lock();
        fence_wait();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), ForbiddenWhileHeld);
    assert!(r[0].to_string().contains("fence_wait"));
}

#[test]
fn compile_errors_point_at_the_user_code() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
