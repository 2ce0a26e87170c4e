//! Classes that fit real code: locks built by generated code (a `macro_rules!` body, a
//! `#[derive(Default)]`) get a class each from `static_lock_class!`, the `new_*!` macros and
//! `#[lock_class]`, where the default class (the constructor's call site) would lump them
//! together; and per-object locks made in one place and nested on purpose say so with a
//! subclass, a nest lock, or one registered class per role. Each case with its contrast.

use lockdep::ReportKind::{CircularDependency, RecursiveLocking};
use lockdep::{stdsync, LockClass, Mutex, WithClass};
use lockdep_suite::{kinds, serial};

/// Two locks built in one macro body by `Mutex::new`: rustc gives both calls the site of
/// the outermost invocation, so they are one class.
macro_rules! pair_by_new {
    () => {
        (Mutex::new(0u32), Mutex::new(0u32))
    };
}

/// The same with `new_mutex!`: a `static` per expansion, so two classes.
macro_rules! pair_by_macro {
    () => {
        (
            lockdep::new_mutex!(0u32, "&pair->first"),
            lockdep::new_mutex!(0u32, "&pair->second"),
        )
    };
}

#[test]
fn locks_made_in_one_macro_body_share_a_class_with_new() {
    let _s = serial();
    let (a, b) = pair_by_new!();
    let _a = a.lock();
    let _b = b.lock();
    assert_eq!(kinds(), [RecursiveLocking]);
}

#[test]
fn new_mutex_gives_each_invocation_its_own_class() {
    let _s = serial();
    let (a, b) = pair_by_macro!();
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    assert_eq!(kinds(), []);
    // Still validated: the other order is a cycle, named as written.
    let _b = b.lock();
    let _a = a.lock();
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), CircularDependency);
    let mut classes = r[0].classes();
    classes.sort_unstable();
    assert_eq!(classes, ["&pair->first", "&pair->second"]);
}

#[test]
fn one_invocation_is_one_class_however_often_it_runs() {
    let _s = serial();
    let make = || lockdep::new_mutex!(0u32);
    let (a, b) = (make(), make());
    let _a = a.lock();
    let _b = b.lock(); // two objects of one class, nested without saying so
    assert_eq!(kinds(), [RecursiveLocking]);
}

#[test]
fn static_lock_class_names_and_distinguishes_invocations() {
    let _s = serial();
    let a: &'static LockClass = lockdep::static_lock_class!();
    let b: &'static LockClass = lockdep::static_lock_class!("named here");
    assert!(!std::ptr::eq(a, b));
    assert!(
        a.name().starts_with("tests/classes_fit_real_code.rs:"),
        "{}",
        a.name()
    );
    assert_eq!(b.name(), "named here");
    static IN_STATIC: Mutex<u32> = lockdep::new_mutex!(0, "in a static");
    static RW_IN_STATIC: lockdep::RwLock<u32> = lockdep::new_rwlock!(0);
    let _m = IN_STATIC.lock();
    let _r = RW_IN_STATIC.write();
    let std_lock = lockdep::new_in_class!(stdsync::Mutex<u32>, 1, "std in class");
    let _g = std_lock.lock().unwrap();
    assert_eq!(kinds(), []);
}

/// A derived `Default` builds every lock field at the derive: one class for all of them.
#[derive(Default)]
struct Derived {
    a: Mutex<u32>,
    b: Mutex<u32>,
}

/// `#[lock_class]` above the derive writes `Default` itself: marked fields in their named
/// class, the others at their own declaration.
#[lockdep::lock_class]
#[derive(Default, Debug)]
struct Device {
    #[lock_class(name = "&dev->state")]
    state: Mutex<u32>,
    queue: Mutex<Vec<u32>>,
    stats: Mutex<u64>,
    #[lock_class(name = "&dev->cfg")]
    cfg: stdsync::RwLock<String>,
    count: u32,
}

#[lockdep::lock_class]
#[derive(Default)]
struct Generic<T> {
    #[lock_class(name = "&generic->inner")]
    inner: Mutex<T>,
    other: Mutex<T>,
}

#[lockdep::lock_class]
#[derive(Default)]
struct Tuple(#[lock_class(name = "tuple.0")] Mutex<u8>, Mutex<u8>);

#[test]
fn derived_default_lumps_the_fields_into_one_class() {
    let _s = serial();
    let d = Derived::default();
    let _a = d.a.lock();
    let _b = d.b.lock();
    assert_eq!(kinds(), [RecursiveLocking]);
}

#[test]
fn lock_class_default_gives_every_field_a_class() {
    let _s = serial();
    let d = Device::default();
    assert_eq!(d.count, 0);
    {
        let _st = d.state.lock();
        let _q = d.queue.lock();
        let _s = d.stats.lock();
        let _c = d.cfg.write().unwrap();
    }
    let g = Generic::<u8>::default();
    {
        let _i = g.inner.lock();
        let _o = g.other.lock();
    }
    let t = Tuple::default();
    {
        let _x = t.0.lock();
        let _y = t.1.lock();
    }
    assert_eq!(kinds(), []);
    // The named ones carry their names; an unmarked one is named by its declaration.
    let _q = d.queue.lock();
    let _st = d.state.lock();
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:?}");
    let names = r[0].classes().join(" ");
    assert!(names.contains("&dev->state"), "{names}");
    assert!(names.contains("tests/classes_fit_real_code.rs:"), "{names}");
    assert_eq!(format!("{:?}", d.count), "0");
    let _ = format!("{d:?}");
}

#[test]
fn every_instance_of_a_lock_class_struct_shares_its_field_classes() {
    let _s = serial();
    let (d1, d2) = (Device::default(), Device::default());
    let _a = d1.state.lock();
    let _b = d2.state.lock(); // &dev->state twice: as in the kernel, one class
    assert_eq!(kinds(), [RecursiveLocking]);
}

/// Per-object locks made in one place: every `Node`'s lock is one class.
struct Node {
    lock: Mutex<u32>,
}

impl Node {
    fn new() -> Node {
        Node { lock: Mutex::new(0) }
    }
}

#[test]
fn nesting_two_objects_of_one_class_is_reported_unless_said() {
    let _s = serial();
    let (parent, child) = (Node::new(), Node::new());
    {
        let _p = parent.lock.lock();
        let _c = child.lock.lock();
    }
    assert_eq!(kinds(), [RecursiveLocking]);
    // A fixed depth: the child at subclass 1.
    lockdep::reset();
    {
        let _p = parent.lock.lock();
        let _c = child.lock.lock_nested(1);
    }
    assert_eq!(kinds(), []);
    // The subclasses are ordered: the child level taken first, then the parent level, is an
    // inversion of that order.
    let _c = child.lock.lock_nested(1);
    let _p = parent.lock.lock();
    assert_eq!(kinds(), [CircularDependency]);
}

#[test]
fn many_objects_of_one_class_under_a_nest_lock() {
    let _s = serial();
    let table = Mutex::new(());
    let nodes: Vec<Node> = (0..5).map(|_| Node::new()).collect();
    {
        let _t = table.lock();
        let _g: Vec<_> = nodes
            .iter()
            .rev()
            .map(|n| n.lock.lock_nest_lock(&table))
            .collect();
    }
    assert_eq!(kinds(), []);
    // Without the nest lock held it is reported.
    let _a = nodes[0].lock.lock_nest_lock(&table);
    assert!(kinds().contains(&lockdep::ReportKind::NestLockNotHeld));
}

#[test]
fn one_registered_class_per_role_known_at_run_time() {
    let _s = serial();
    let roles: Vec<&'static LockClass> = ["role:reader", "role:writer"]
        .into_iter()
        .map(LockClass::register)
        .collect();
    let make = |role: &'static LockClass| -> Mutex<u32> { WithClass::with_class(0, role) };
    let (r1, w1, r2) = (make(roles[0]), make(roles[1]), make(roles[0]));
    {
        let _w = w1.lock();
        let _r = r1.lock();
    }
    assert_eq!(kinds(), []);
    // Ordering between roles is still validated, for every object of the role.
    let _r = r2.lock();
    let _w = w1.lock();
    assert_eq!(kinds(), [CircularDependency]);
}
