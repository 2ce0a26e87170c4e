//! Every public item of `lockdep`, used once. CI builds and runs this file twice: with `check`
//! on (`cargo test --workspace`, where the suite turns it on) and with it off (`cargo test -p
//! lockdep`). A method or trait that exists one way only — a *compile trap*, code that builds
//! in release and fails in the validated test build, or the reverse — fails one of the two.
//!
//! The patterns are correct ones, so the run ends with no report either way. Calls that only
//! make sense in a violation (a `lock_slow` after `Deadlk`, say) are compiled but not run.
//! [`every_public_name_is_used_here`] reads the crate's public names from its sources and
//! fails when one is missing from this file and from `parking_lot_surface.rs` (which uses the
//! `parking_lot`-shaped API the same way, each function as `parking_lot` code writes it), so a
//! new item cannot be forgotten.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lockdep::{
    context, report, stdsync, sync, ww, Condvar, IrqSaveGuard, LockClass, LockMap, LockMapGuard, LockMode,
    LockStat, Lockable, Mutex, MutexGuard, RawSpinLock, RawSpinLockGuard, RwLock, RwLockReadGuard,
    RwLockWriteGuard, RwSpinLock, RwSpinLockReadGuard, RwSpinLockWriteGuard, SpinLock, SpinLockGuard, Srcu,
    SrcuReadGuard, Stats, WaitTimeoutResult, WaitType, WithClass, WwAcquireCtx, WwClass, WwError, WwMutex,
    WwMutexGuard,
};

static NAMED: LockClass = LockClass::new("api_surface named");
static STATIC_MUTEX: Mutex<u32> = lockdep::new_mutex!(0, "api_surface static mutex");
static WW: WwClass = WwClass::wait_die("api_surface_ww");
static WOUND: WwClass = WwClass::wound_wait("api_surface_wound");
static SECTION: LockMap = LockMap::new("api_surface section");
static SIGNALLING: LockMap = LockMap::new("api_surface signalling");
static FORBIDDEN: Mutex<()> = Mutex::new(());

/// Takes any lock the annotations accept.
fn lockable<L: Lockable>(l: &L) -> bool {
    lockdep::is_held(l)
}

fn exclusive_locks() {
    let outer = Mutex::new(0u32);
    let mut m = Mutex::<u32>::default();
    let from: Mutex<u32> = Mutex::from(3);
    let named = Mutex::with_class(1u32, &NAMED);
    let via_trait: Mutex<u32> = WithClass::with_class(2, &NAMED);
    {
        let mut g: MutexGuard<'_, u32> = m.lock();
        *g += 1;
        assert_eq!(g.to_string(), "1");
        assert!(m.is_locked());
        assert_eq!(m.is_held_by_current_thread(), lockdep::ENABLED);
        assert!(lockable(&m) == lockdep::ENABLED);
    }
    assert_eq!(*m.lock_nested(0), 1);
    {
        let _o = outer.lock();
        let _a = named.lock_nest_lock(&outer);
        let _b = via_trait.lock_nest_lock(&outer);
    }
    assert!(m.try_lock().is_some());
    std::mem::forget(m.lock());
    // SAFETY: the guard of that acquisition was forgotten on this thread.
    unsafe { m.force_unlock() };
    *m.get_mut() += 1;
    assert_eq!(format!("{m:?}"), format!("{:?}", parking_lot::Mutex::new(2u32)));
    assert_eq!(m.into_inner() + from.into_inner() + *STATIC_MUTEX.lock(), 5);

    let s = SpinLock::new(1u8);
    let r = RawSpinLock::with_class(1u8, lockdep::static_lock_class!("api_surface raw"));
    let sg: SpinLockGuard<'_, u8> = s.lock();
    drop(sg);
    let rg: RawSpinLockGuard<'_, u8> = r.lock();
    drop(rg);
    let irq: IrqSaveGuard<SpinLockGuard<'_, u8>> = s.lock_irqsave();
    assert_eq!(*irq, 1);
    drop(irq);
    drop(r.lock_irqsave());
    let s2 = lockdep::new_spinlock!(0u8);
    let s3 = lockdep::new_spinlock!(0u8, "api_surface spin");
    drop((s2.try_lock(), s3.lock_nested(1)));
}

fn rw_locks() {
    let l = RwLock::new(1u32);
    let named = lockdep::new_rwlock!(0u32);
    let named2 = lockdep::new_rwlock!(0u32, "api_surface rw");
    let classed = RwLock::with_class(0u32, &NAMED_RW);
    {
        let a: RwLockReadGuard<'_, u32> = l.read_recursive();
        let b = l.read_recursive_nested(0);
        assert_eq!(*a + *b, 2);
    }
    drop(l.read());
    drop(l.read_nested(0));
    drop(l.write_nested(0));
    drop(l.try_read());
    drop(l.try_read_recursive());
    let w: RwLockWriteGuard<'_, u32> = l.try_write().expect("free");
    let r = RwLockWriteGuard::downgrade(w);
    drop(r);
    std::mem::forget(l.read());
    // SAFETY: the read guard was forgotten on this thread.
    unsafe { l.force_unlock_read() };
    std::mem::forget(l.write());
    // SAFETY: the write guard was forgotten on this thread.
    unsafe { l.force_unlock_write() };
    assert!(!l.is_locked() && !l.is_held_by_current_thread());
    let mut l = RwLock::<u32>::default();
    *l.get_mut() = 4;
    assert_eq!(format!("{l:?}"), format!("{:?}", parking_lot::RwLock::new(4u32)));
    assert_eq!(l.into_inner(), 4);
    drop((named.write(), named2.read(), classed.read()));

    let s = RwSpinLock::new(0u32);
    let s2 = RwSpinLock::with_class(0u32, lockdep::static_lock_class!("api_surface rwspin"));
    {
        let a: RwSpinLockReadGuard<'_, u32> = s.read();
        let _b = s.read_nested(0);
        let _c = s.try_read();
        assert_eq!(*a, 0);
    }
    drop(s.read_queued());
    drop(s.read_queued_nested(0));
    let w: RwSpinLockWriteGuard<'_, u32> = s.write();
    drop(w);
    drop(s.write_nested(0));
    drop(s.try_write());
    drop(s.read_irqsave());
    drop(s.write_irqsave());
    std::mem::forget(s.read());
    // SAFETY: forgotten on this thread.
    unsafe { s.force_unlock_read() };
    std::mem::forget(s.write());
    // SAFETY: forgotten on this thread.
    unsafe { s.force_unlock_write() };
    let mut s2 = s2;
    *s2.get_mut() += 1;
    assert!(!s.is_locked() && !s.is_held_by_current_thread());
    assert_eq!(s2.into_inner(), 1);
}

static NAMED_RW: LockClass = LockClass::new("api_surface rw named");

fn condvar() {
    let pair = std::sync::Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let t = std::thread::spawn(move || {
        *p2.0.lock() = true;
        p2.1.notify_one();
        p2.1.notify_all()
    });
    let mut g = pair.0.lock();
    while !*g {
        pair.1.wait(&mut g);
    }
    pair.1.wait_while(&mut g, |ready| !*ready);
    t.join().unwrap(); // no notification can come any more: the timed waits time out
    let r: WaitTimeoutResult = pair.1.wait_for(&mut g, Duration::from_millis(1));
    assert!(r.timed_out());
    assert!(pair.1.wait_until(&mut g, Instant::now()).timed_out());
    drop(g);
    assert_eq!(format!("{:?}", Condvar::default()), "Condvar { .. }");
}

fn classes_and_maps() {
    let dynamic: &'static LockClass = LockClass::register("api_surface dynamic");
    assert_eq!(dynamic.name(), "api_surface dynamic");
    assert_eq!(format!("{NAMED:?}"), "LockClass(\"api_surface named\")");
    assert_eq!(lockdep::MAX_SUBCLASSES, 8);
    let in_class = lockdep::new_in_class!(Mutex<u8>, 0);
    let in_named = lockdep::new_in_class!(stdsync::Mutex<u8>, 0, "api_surface std named");
    drop((in_class.lock(), in_named.lock()));

    let map = LockMap::with_wait_type("api_surface waits", WaitType::Free, WaitType::Config);
    let per_object: LockMap = WithClass::with_class((), dynamic);
    let g: LockMapGuard<'_> = map.lock();
    drop(g);
    drop(map.read());
    drop(map.read_recursive());
    drop(map.try_read());
    drop(map.try_read_recursive());
    drop(map.try_lock());
    map.sync();
    per_object.with_own_holds_released(|| ());
    let _ = LockMap::with_class(dynamic);
    for w in [WaitType::Unchecked, WaitType::Spin, WaitType::Sleep] {
        assert!(!format!("{w:?}").is_empty());
    }
    assert_eq!(map.name(), "api_surface waits");
    assert_eq!(format!("{per_object:?}"), "LockMap(\"api_surface dynamic\")");

    let srcu = Srcu::new("api_surface srcu");
    let rg: SrcuReadGuard<'_> = srcu.read_lock();
    drop(rg);
    srcu.synchronize();
    assert_eq!(srcu.name(), "api_surface srcu");
}

fn ww_mutexes() {
    assert!(WW.is_wait_die() && !WOUND.is_wait_die());
    assert_eq!(WW.name(), "api_surface_ww");
    let a = WwMutex::new(1u32, &WW);
    let mut b = WwMutex::new(2u32, &WW);
    let ctx = WwAcquireCtx::new(&WW);
    ctx.set_deadlock_inject(0);
    {
        let ga: WwMutexGuard<'_, u32> = a.lock(&ctx).expect("uncontended");
        assert!(a.is_locked());
        assert_eq!(*ga, 1);
        let _ = ctx.acquired();
        let _ = (ctx.stamp(), ctx.deadlocks_injected());
    }
    ctx.done();
    drop(ctx);
    drop(a.lock_noctx());
    drop(a.try_lock(None));
    *b.get_mut() += 1;
    assert_eq!(b.into_inner(), 3);
    // Only after a `Deadlk`: compiled, not run.
    let _slow = |ctx: &WwAcquireCtx| drop(a.lock_slow(ctx));
    for e in [WwError::Deadlk, WwError::Already] {
        let _: &dyn std::error::Error = &e;
        assert!(!e.to_string().is_empty());
    }
    let _module: Option<ww::WwError> = None;
}

fn contexts_and_annotations() {
    let m = Mutex::new(());
    let other = Mutex::new(());
    {
        let _g = m.lock();
        lockdep::assert_held(&m);
        lockdep::assert_held_write(&m);
        lockdep::assert_not_held(&other);
        lockdep::might_lock(&other);
        lockdep::might_lock_read(&other);
        lockdep::might_lock_nested(&other, 1);
        lockdep::might_sleep();
        lockdep::must_not_hold(&FORBIDDEN, "api_surface");
    }
    let r = RwLock::new(());
    {
        let _g = r.read();
        lockdep::assert_held_read(&r);
    }
    lockdep::assert_none_held();
    let (first, second) = (Mutex::new(()), Mutex::new(()));
    lockdep::prime(&[(&first, LockMode::Write), (&second, LockMode::Write)]);
    lockdep::forbid_nesting(&second, &first, "api_surface: primed the other way");
    {
        let _s: lockdep::SyscallScope = lockdep::syscall();
    }
    lockdep::return_to_user();

    // One scope at a time: each is entered when made and left when dropped.
    let queries = |_: lockdep::ContextScope| {
        let _ = lockdep::in_atomic() || lockdep::in_hardirq() || lockdep::in_softirq();
        let _ = lockdep::in_serving_softirq() || lockdep::in_interrupt() || lockdep::irqs_are_disabled();
    };
    queries(lockdep::irq_context());
    queries(lockdep::irq_context_no_thread());
    queries(lockdep::softirq_context());
    queries(lockdep::irqs_disabled());
    queries(lockdep::bh_disabled());
    queries(lockdep::panic_context());
    context::irq::local_irq_disable();
    context::irq::local_irq_enable();
    context::irq::local_bh_disable();
    context::irq::local_bh_enable();
    context::irq::hardirq_enter(true);
    context::irq::hardirq_exit();
    context::irq::softirq_enter();
    context::irq::softirq_exit();
    context::irq::reset();
}

/// The attribute macros, on the items they apply to.
#[lockdep::lock_class]
#[derive(Default)]
struct Device {
    #[lock_class(name = "api_surface &dev->state")]
    state: Mutex<u32>,
    queue: Mutex<u32>,
}

#[lockdep::lock_class(name = "api_surface whole type")]
struct Whole;

impl Device {
    #[lockdep::requires_held(self.state)]
    fn locked(&self) {}

    #[lockdep::must_not_hold(FORBIDDEN)]
    fn unlocked(&self) {}
}

#[lockdep::section(SECTION)]
fn in_section() {}

#[lockdep::signalling(SIGNALLING)]
fn in_signalling() {}

fn macros() {
    let d = Device::default();
    {
        let _s = d.state.lock();
        let _q = d.queue.lock();
        d.locked();
    }
    d.unlocked();
    in_section();
    in_signalling();
    assert_eq!((SECTION.name(), SIGNALLING.name()).0, "api_surface section");
    assert_eq!(Device::state_class().name(), "api_surface &dev->state");
    assert_eq!(Whole::lock_class().name(), "api_surface whole type");
}

fn reports_and_config() {
    for a in [
        lockdep::Action::Warn,
        lockdep::Action::Panic,
        lockdep::Action::Collect,
    ] {
        assert_eq!(lockdep::Action::parse(&format!("{a:?}").to_lowercase()), Some(a));
    }
    lockdep::set_action(lockdep::Action::Collect);
    // Without the validator there is nothing to act on: the action stays the default.
    assert_eq!(lockdep::action() == lockdep::Action::Collect, lockdep::ENABLED);
    assert_eq!(LockMode::from_read(0), LockMode::Write);
    let _ = (LockMode::Read, LockMode::RecursiveRead);
    for k in report::ReportKind::ALL {
        assert_eq!(report::ReportKind::from_name(k.name()), Some(k));
        assert!(!k.headline().is_empty() && !k.to_string().is_empty());
        let _ = k.is_capacity();
    }
    lockdep::register_hint("api_surface hinted", "a hint");
    let _ = lockdep::hint_for("api_surface hinted");
    let s: Stats = lockdep::stats();
    let _ = (
        s.classes,
        s.max_classes,
        s.dependencies,
        s.max_dependencies,
        s.chains,
        s.max_chains,
    );
    let _ = (
        s.slow_paths,
        s.stack_frames,
        s.max_stack_frames,
        s.dependency_bytes,
        s.reports,
        s.suppressed,
    );
    let _ = (s.reports_of(report::ReportKind::BadUnlock), s.left());
    for l in lockdep::lock_stats() {
        // Every field named: a new one fails to compile here until it is added.
        let LockStat {
            class: _,
            contentions: _,
            wait_total: _,
            wait_max: _,
            holds: _,
            hold_total: _,
            hold_min: _,
            hold_max: _,
        } = l;
    }
    lockdep::allow_dependency("api_surface a", "api_surface b", "reviewed");
    lockdep::install_panic_hook();
    lockdep::set_report_hook(|r: &lockdep::Report| drop(r.summary()));
    lockdep::clear_report_hook();
    lockdep::set_report_dir(None);
    assert_eq!(lockdep::report_dir(), None);
    let dir = std::env::temp_dir().join(format!("lockdep-api-surface-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(lockdep::dump_graph(dir.join("g.json")).is_ok(), lockdep::ENABLED);
    assert_eq!(lockdep::dump_graph_into(&dir).is_ok(), lockdep::ENABLED);
    std::fs::remove_dir_all(&dir).unwrap();
    const { assert!(lockdep::GRAPH_SCHEMA_VERSION >= 2) };
    #[cfg(feature = "json")]
    assert_eq!(lockdep::REPORT_SCHEMA_VERSION, 1);
    let _ = lockdep::MAX_LOCK_DEPTH;
    // The typed parts of a report's detail.
    let usage = lockdep::Usage {
        irq: lockdep::Irq::Hard,
        enabled: true,
        read: false,
    };
    assert_eq!(
        (usage.name(), usage.state_name()),
        ("HARDIRQ-ON-W".into(), "HARDIRQ".into())
    );
    let _ = lockdep::IrqState {
        in_hardirq: false,
        in_softirq: false,
        hardirqs_enabled: true,
        softirqs_enabled: true,
    };
    let _ = (
        lockdep::AtomicReason::Spinlock("s".into()),
        lockdep::WaitLimit::Held,
    );
    assert!(lockdep::Assertion::Held.headline().starts_with("WARNING"));
    assert!(lockdep::WwRule::ALL.iter().all(|w| !w.text().is_empty()));
    for r in lockdep::take_reports() {
        read_report(&r);
    }
}

/// Every accessor of a report and its parts (compiled both ways; run only if one exists).
fn read_report(r: &lockdep::Report) {
    let _ = (
        r.kind(),
        r.headline(),
        r.thread(),
        r.cycle(),
        r.classes(),
        r.details(),
    );
    let _ = (
        r.summary(),
        r.hint(),
        r.signature(),
        r.signature_text(),
        r.stem(),
        r.to_string(),
    );
    let _ = r.annotation("x");
    #[cfg(feature = "json")]
    let _ = r.to_json();
    for h in r.acquiring().into_iter().chain(r.holding()).chain(r.held_locks()) {
        let h: &lockdep::HeldLock = h;
        let _ = (
            h.class(),
            h.lock_kind(),
            h.instance(),
            h.mode(),
            h.is_trylock(),
            h.location(),
        );
    }
    for d in r.dependencies() {
        let d: &lockdep::Dependency = d;
        let _ = (
            d.from(),
            d.to(),
            d.from_mode(),
            d.to_mode(),
            d.from_location(),
            d.to_location(),
        );
        let _ = (d.thread(), d.stack());
    }
    let detail: &lockdep::Detail = r.detail();
    let _ = matches!(detail, lockdep::Detail::CircularDependency);
    let st: &lockdep::Stack = r.stack();
    let _ = (st.ips(), st.is_empty());
    for f in st.frames() {
        let f: &lockdep::Frame = f;
        let _ = (&f.function, &f.file, f.line);
    }
}

fn std_shaped() {
    use stdsync::{
        atomic::AtomicUsize, mpsc, Arc, Barrier, BarrierWaitResult, Condvar, LazyLock, LockResult, Mutex,
        MutexGuard, Once, OnceLock, OnceState, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
        TryLockError, TryLockResult, WaitTimeoutResult, Weak,
    };
    static STATIC: Mutex<u32> = Mutex::new(0);
    static ONCE: Once = Once::new();
    static CELL: OnceLock<u32> = OnceLock::new();
    static LAZY: LazyLock<u32> = LazyLock::new(|| 7);
    #[allow(deprecated)]
    static OLD_ONCE: Once = stdsync::ONCE_INIT;

    let m = Arc::new(Mutex::new(1u32));
    let weak: Weak<Mutex<u32>> = Arc::downgrade(&m);
    {
        let r: LockResult<MutexGuard<'_, u32>> = m.lock();
        let mut g = r.unwrap();
        *g += 1;
        assert_eq!(format!("{g} {g:?}"), "2 2");
        let t: TryLockResult<MutexGuard<'_, u32>> = m.try_lock();
        assert!(matches!(t, Err(TryLockError::WouldBlock)));
    }
    assert!(!m.is_poisoned());
    m.clear_poison();
    let mut owned = Mutex::from(5u32);
    *owned.get_mut().unwrap() += 1;
    assert_eq!(format!("{owned:?}"), format!("{:?}", std::sync::Mutex::new(6u32)));
    assert_eq!(owned.into_inner().unwrap(), 6);
    let _: Mutex<u32> = Mutex::default();
    let _: Mutex<u32> = WithClass::with_class(0, &NAMED);
    assert!(!lockable(&*m));
    drop(weak.upgrade());
    drop(STATIC.lock().unwrap_or_else(PoisonError::into_inner));

    let l = RwLock::new(1u32);
    {
        let r: RwLockReadGuard<'_, u32> = l.read().unwrap();
        assert!(l.try_write().is_err());
        drop(r);
        let w: RwLockWriteGuard<'_, u32> = l.write().unwrap();
        let r = RwLockWriteGuard::downgrade(w);
        drop(r);
        assert!(l.try_read().is_ok());
    }
    assert!(!l.is_poisoned());
    l.clear_poison();
    let mut l2 = RwLock::<u32>::default();
    *l2.get_mut().unwrap() = 2;
    assert_eq!(l2.into_inner().unwrap() + l.into_inner().unwrap(), 3);
    let _: RwLock<u32> = RwLock::from(1);
    let _: RwLock<u32> = WithClass::with_class(0, &NAMED_RW);

    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = Arc::clone(&pair);
    let t = std::thread::spawn(move || {
        *p2.0.lock().unwrap() = true;
        p2.1.notify_one();
        p2.1.notify_all();
    });
    let mut g = pair.0.lock().unwrap();
    while !*g {
        g = pair.1.wait(g).unwrap_or_else(PoisonError::into_inner);
    }
    let g = pair.1.wait_while(g, |ready| !*ready).unwrap();
    let (g, r): (_, WaitTimeoutResult) = pair.1.wait_timeout(g, Duration::from_millis(1)).unwrap();
    let _ = r.timed_out();
    let (g, r) = pair
        .1
        .wait_timeout_while(g, Duration::from_millis(1), |_| true)
        .unwrap();
    assert!(r.timed_out());
    #[allow(deprecated)]
    let (g, _) = pair.1.wait_timeout_ms(g, 1).unwrap();
    drop(g);
    t.join().unwrap();
    let _ = format!("{:?}", Condvar::default());

    ONCE.call_once(|| ());
    OLD_ONCE.call_once_force(|s: &OnceState| assert!(!s.is_poisoned()));
    ONCE.wait();
    ONCE.wait_force();
    assert!(ONCE.is_completed());
    let _ = format!("{ONCE:?}");
    let _: Once = WithClass::with_class((), &NAMED_ONCE);
    assert_eq!(*CELL.get_or_init(|| 1), 1);
    assert_eq!(CELL.set(2), Err(2));
    assert_eq!((CELL.get(), CELL.wait()), (Some(&1), &1));
    let mut cell = OnceLock::from(3u32);
    assert_eq!(cell.clone(), cell);
    assert_eq!(cell.get_mut(), Some(&mut 3));
    assert_eq!(
        format!("{cell:?}"),
        format!("{:?}", std::sync::OnceLock::from(3u32))
    );
    assert_eq!(cell.take(), Some(3));
    assert_eq!(OnceLock::<u32>::default().into_inner(), None);
    let _: OnceLock<u32> = WithClass::with_class((), &NAMED_ONCE);
    assert_eq!(*LAZY + *LazyLock::force(&LAZY), 14);
    let mut lazy = LazyLock::<u32>::default();
    *lazy += 1;
    assert_eq!(*LazyLock::force_mut(&mut lazy), 1);
    assert_eq!(
        (LazyLock::get(&LAZY), LazyLock::get_mut(&mut lazy)),
        (Some(&7), Some(&mut 1))
    );
    let _ = format!("{lazy:?}");

    let b = Barrier::new(1);
    let r: BarrierWaitResult = b.wait();
    assert!(r.is_leader());
    let (tx, rx) = mpsc::channel();
    tx.send(AtomicUsize::new(1)).unwrap();
    assert_eq!(rx.recv().unwrap().load(Ordering::Relaxed), 1);
}

static NAMED_ONCE: LockClass = LockClass::new("api_surface once");

/// The auto traits std gives its types, which the validated ones must keep: the locks and
/// cells `Send`, `Sync`, `UnwindSafe` and `RefUnwindSafe` (for data that is), the guards `Sync`
/// (they are `!Send` both ways, as std's).
#[test]
fn stdsync_types_keep_std_auto_traits() {
    use std::panic::{RefUnwindSafe, UnwindSafe};
    fn lock<T: Send + Sync + UnwindSafe + RefUnwindSafe>() {}
    fn guard<T: Sync>() {}
    lock::<stdsync::Mutex<u32>>();
    lock::<stdsync::RwLock<u32>>();
    lock::<stdsync::Condvar>();
    lock::<stdsync::Once>();
    lock::<stdsync::OnceLock<u32>>();
    lock::<stdsync::LazyLock<u32>>();
    guard::<stdsync::MutexGuard<'static, u32>>();
    guard::<stdsync::RwLockReadGuard<'static, u32>>();
    guard::<stdsync::RwLockWriteGuard<'static, u32>>();
    // With `check` off they are the std types themselves.
    #[cfg(not(feature = "check"))]
    {
        let _: std::sync::Mutex<u8> = stdsync::Mutex::new(0);
        let _: std::sync::LazyLock<u8> = stdsync::LazyLock::new(|| 0);
        let _: fn(&std::sync::Condvar) = |c: &stdsync::Condvar| c.notify_all();
    }
    // Unsized data and a trait object behind the lock, as with std.
    let _: std::sync::Arc<stdsync::Mutex<dyn Send>> = std::sync::Arc::new(stdsync::Mutex::new(1u8));
}

/// `parking_lot`'s raw locks, `lock_api` and the deadlock detector, re-exported as
/// `parking_lot` has them (the raw locks are plain: a `lock_api` lock over one is not
/// validated).
fn parking_lot_reexports() {
    use lockdep::lock_api::{GetThreadId, RawMutex as _};
    let raw: lockdep::lock_api::Mutex<lockdep::RawFairMutex, u8> = lockdep::lock_api::Mutex::new(1);
    assert_eq!(*raw.lock(), 1);
    let plain = <lockdep::RawMutex as lockdep::lock_api::RawMutex>::INIT;
    assert!(plain.try_lock());
    // SAFETY: locked just above, by this thread.
    unsafe { lockdep::lock_api::RawMutex::unlock(&plain) };
    let _: Option<lockdep::RawRwLock> = None;
    assert_ne!(lockdep::RawThreadId::INIT.nonzero_thread_id().get(), 0);
    #[cfg(feature = "deadlock_detection")]
    assert!(lockdep::deadlock::check_deadlock().is_empty());
}

#[test]
fn every_public_item_compiles_and_runs_clean() {
    lockdep::set_action(lockdep::Action::Collect);
    exclusive_locks();
    rw_locks();
    condvar();
    classes_and_maps();
    ww_mutexes();
    contexts_and_annotations();
    macros();
    std_shaped();
    parking_lot_reexports();
    let _module_path: Option<sync::WaitTimeoutResult> = None;
    let reports = lockdep::take_reports();
    let texts: Vec<String> = reports.iter().map(|r| r.to_string()).collect();
    reports_and_config();
    assert!(
        texts.is_empty(),
        "correct patterns reported:\n{}",
        texts.join("\n")
    );
}

/// The public names of the crate, read from its sources: the root's `pub use` lists and `pub`
/// items, the exported macros, the std-shaped module's names and the low-level context
/// functions. Each must appear in this file as a word.
#[test]
fn every_public_name_is_used_here() {
    let src = |p: &str| std::fs::read_to_string(format!("{}/src/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let this = src("../tests/api_surface.rs") + &src("../tests/parking_lot_surface.rs");
    let mut names = Vec::new();
    let lib = src("lib.rs");
    for block in lib.split("pub use ").skip(1) {
        let list = &block[..block.find(';').unwrap()];
        let list = list.rsplit("::{").next().unwrap_or(list);
        names.extend(words(list.rsplit("::").next().unwrap_or(list)));
    }
    for kw in ["pub fn ", "pub const ", "pub struct ", "pub mod "] {
        for item in lib.split(kw).skip(1) {
            names.extend(words(item).into_iter().take(1));
        }
    }
    let stdsync = src("stdsync/mod.rs");
    for block in stdsync.split("pub use std::sync::{").skip(1) {
        names.extend(words(&block[..block.find('}').unwrap()]));
    }
    for item in src("class_macros.rs")
        .split("#[macro_export]\nmacro_rules! ")
        .skip(1)
    {
        names.extend(words(item).into_iter().take(1));
    }
    for item in src("context.rs").split("    pub fn ").skip(1) {
        names.extend(words(item).into_iter().take(1));
    }
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !n.is_empty() && n.as_str() != "self" && !is_word_in(&this, n))
        .collect();
    assert!(
        names.len() > 120,
        "too few names read ({}): the parser broke",
        names.len()
    );
    assert!(
        missing.is_empty(),
        "public names used in neither surface test: {missing:?}"
    );
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && !w.starts_with(char::is_numeric))
        .map(String::from)
        .collect()
}

fn is_word_in(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        edge(before) && edge(after)
    })
}
