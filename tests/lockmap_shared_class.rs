//! `LockMap::with_class`: per-object pseudo-locks (one `(work_completion)` map per work item)
//! sharing one named class, as `INIT_WORK`'s static key gives every work item of a site.

use lockdep::ReportKind::{CircularDependency, RecursiveLocking};
use lockdep::{LockClass, LockMap, Mutex};
use lockdep_suite::{kinds, serial};

struct Work {
    map: LockMap,
}

impl Work {
    fn new(class: &'static LockClass) -> Self {
        Work {
            map: LockMap::with_class(class),
        }
    }

    /// The worker runs the item: its map is held around the function.
    fn run(&self, f: impl FnOnce()) {
        let _running = self.map.lock();
        f();
    }

    /// `flush_work()`: waits for the item to finish.
    fn flush(&self) {
        self.map.sync();
    }
}

#[test]
fn many_maps_of_one_class_are_one_class() {
    let _s = serial();
    static C: LockClass = LockClass::new("(work_completion)(&obj->shared_class_count)");
    let before = lockdep::stats().classes;
    let works: Vec<Work> = (0..100).map(|_| Work::new(&C)).collect();
    for w in &works {
        w.run(|| {});
        w.flush();
    }
    assert_eq!(lockdep::stats().classes, before + 1);
    assert_eq!(works[7].map.name(), "(work_completion)(&obj->shared_class_count)");
    assert!(kinds().is_empty());
}

#[test]
fn an_order_learned_through_one_object_holds_for_another() {
    let _s = serial();
    static C: LockClass = LockClass::new("(work_completion)(&obj->shared_class_order)");
    let lock = Mutex::new(());
    let (w1, w2) = (Work::new(&C), Work::new(&C));
    w1.run(|| drop(lock.lock())); // the work item takes `lock`
    let _g = lock.lock();
    w2.flush(); // flushing another item of the class under `lock`
    assert_eq!(kinds(), vec![CircularDependency]);
}

#[test]
fn flushing_outside_the_lock_is_fine() {
    let _s = serial();
    static C: LockClass = LockClass::new("(work_completion)(&obj->shared_class_ok)");
    let lock = Mutex::new(());
    let (w1, w2) = (Work::new(&C), Work::new(&C));
    w1.run(|| drop(lock.lock()));
    drop(lock.lock());
    w2.flush();
    w1.flush();
    assert!(kinds().is_empty());
}

#[test]
fn two_items_of_the_class_running_nested_is_recursive() {
    let _s = serial();
    static C: LockClass = LockClass::new("(work_completion)(&obj->shared_class_nested)");
    let (w1, w2) = (Work::new(&C), Work::new(&C));
    w1.run(|| w2.run(|| {}));
    assert_eq!(kinds(), vec![RecursiveLocking]);
}
