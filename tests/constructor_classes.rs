//! Every constructor of the parking_lot-shaped locks — `new`, `Default`, `From`, the
//! `const_*` functions — is `#[track_caller]`: the class of a lock is the line that made it,
//! not a line inside this crate. So two locks made on two lines nest without a report, and two
//! made on one line (a loop, a helper that is not itself `#[track_caller]`) are one class, which
//! nesting reports as recursive locking.

use lockdep::ReportKind::RecursiveLocking;
use lockdep::{const_fair_mutex, const_mutex, const_rwlock, FairMutex, Mutex, ReentrantMutex, RwLock};
use lockdep_suite::{kinds, serial};

/// Takes the first guard, then the second, releases both, and returns the reports.
macro_rules! nest {
    ($first:expr, $second:expr) => {{
        let first = $first;
        let second = $second;
        drop((second, first));
        kinds()
    }};
}

#[test]
fn default_from_and_const_constructors_give_each_line_its_class() {
    let _s = serial();
    let (a, b): (Mutex<i32>, Mutex<i32>) = (Mutex::default(), Mutex::from(1));
    assert_eq!(nest!(a.lock(), b.lock()), vec![]);
    let (c, d) = (FairMutex::<i32>::default(), const_fair_mutex(0));
    assert_eq!(nest!(c.lock(), d.lock()), vec![]);
    let (e, f) = (RwLock::<i32>::default(), RwLock::from(2));
    assert_eq!(nest!(e.write(), f.write()), vec![]);
    let (g, h) = (const_rwlock(0), ReentrantMutex::from(3));
    assert_eq!(nest!(g.read(), h.lock()), vec![]);
    let (i, j) = (ReentrantMutex::<i32>::default(), const_mutex(0));
    assert_eq!(nest!(i.lock(), j.lock()), vec![]);
}

#[test]
fn locks_made_on_one_line_are_one_class() {
    let _s = serial();
    let two: Vec<Mutex<i32>> = (0..2).map(Mutex::from).collect();
    assert_eq!(nest!(two[0].lock(), two[1].lock()), vec![RecursiveLocking]);
    let two: Vec<RwLock<i32>> = (0..2).map(|_| RwLock::default()).collect();
    assert_eq!(nest!(two[0].write(), two[1].write()), vec![RecursiveLocking]);
}
