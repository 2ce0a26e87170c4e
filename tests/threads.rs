//! Dependencies are per class and process-wide: orders taken by different threads, never at
//! the same time, still form the cycle that could deadlock.

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::serial;
use std::sync::Arc;
use std::thread;

#[test]
fn abba_halves_in_two_threads_that_never_overlap() {
    let _s = serial();
    let a = Arc::new(Mutex::new(0));
    let b = Arc::new(Mutex::new(0));
    let (a1, b1) = (a.clone(), b.clone());
    thread::Builder::new()
        .name("first".into())
        .spawn(move || {
            let _a = a1.lock();
            let _b = b1.lock();
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(lockdep::take_reports().is_empty());
    let (a2, b2) = (a.clone(), b.clone());
    thread::Builder::new()
        .name("second".into())
        .spawn(move || {
            let _b = b2.lock();
            let _a = a2.lock();
        })
        .unwrap()
        .join()
        .unwrap();
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::CircularDependency);
    assert!(r[0].thread().starts_with("second/"));
    // The existing half is attributed to the thread that established it.
    assert!(r[0].dependencies()[0].thread().starts_with("first/"), "{}", r[0]);
}

#[test]
fn consistent_order_across_threads_is_silent() {
    let _s = serial();
    let locks: Arc<Vec<Mutex<u64>>> = Arc::new(
        (0..8)
            .map(|i| Mutex::with_class(0, LockClass::register(format!("ordered-{i}"))))
            .collect(),
    );
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let locks = locks.clone();
            thread::spawn(move || {
                for i in 0..2000u64 {
                    // Each thread takes an ordered subset: always in index order.
                    let first = ((i + t) % 7) as usize;
                    let second = first + 1 + (i as usize % (7 - first));
                    let mut g1 = locks[first].lock();
                    let mut g2 = locks[second].lock();
                    *g1 += 1;
                    *g2 += 1;
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert!(lockdep::take_reports().is_empty());
}

#[test]
fn many_threads_hitting_one_inversion_report_it_once() {
    let _s = serial();
    let a = Arc::new(Mutex::new(()));
    let b = Arc::new(Mutex::new(()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (a, b) = (a.clone(), b.clone());
            thread::spawn(move || {
                for _ in 0..1000 {
                    let _b = b.lock();
                    if let Some(_a) = a.try_lock() {
                        // trylock: fine
                    }
                }
                let _b = b.lock();
                let _a = a.lock();
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::CircularDependency);
}

#[test]
fn distinct_violations_are_all_reported_not_just_the_first() {
    let _s = serial();
    let (a, b, c, d) = (Mutex::new(()), Mutex::new(()), Mutex::new(()), Mutex::new(()));
    for (x, y) in [(&a, &b), (&b, &a), (&c, &d), (&d, &c)] {
        let _x = x.lock();
        let _y = y.lock();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(r.iter().all(|r| r.kind() == ReportKind::CircularDependency));
    // After a reset the same violation is reported again.
    lockdep::reset();
    for (x, y) in [(&a, &b), (&b, &a)] {
        let _x = x.lock();
        let _y = y.lock();
    }
    assert_eq!(lockdep::take_reports().len(), 1);
}
