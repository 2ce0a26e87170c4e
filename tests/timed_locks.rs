//! Timed acquisitions (`try_lock_for`, `try_lock_until`, `try_read_for`, `try_write_until`,
//! `try_upgradable_read_for`, `try_upgrade_for`, ...) wait, so they are validated as blocking
//! acquisitions: an inversion through one is reported, and the report says the wait was
//! bounded. A plain trylock (which never waits) in the same place is not an inversion; a timed
//! attempt that gives up leaves nothing held.

use lockdep::ReportKind::CircularDependency;
use lockdep::{FairMutex, Mutex, ReentrantMutex, RwLock, RwLockUpgradableReadGuard};
use lockdep_suite::{kinds, serial};
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(1);

/// Takes `a` then `b` (plainly), then `b` then `a` through `timed`; returns the reports.
fn inversion_through(a: &Mutex<()>, b: &Mutex<()>, timed: impl FnOnce()) -> Vec<lockdep::Report> {
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    timed();
    lockdep::take_reports()
}

#[test]
fn an_inversion_through_try_lock_for_is_reported_as_a_bounded_wait() {
    let _s = serial();
    let (a, b) = (Mutex::new(()), Mutex::new(()));
    let reports = inversion_through(&a, &b, || {
        assert!(a.try_lock_for(SHORT).is_some());
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].kind(), CircularDependency);
    let acquiring = reports[0].acquiring().expect("the acquisition is named");
    assert!(acquiring.is_timed());
    assert!(
        reports[0].to_string().contains("timed: the wait is bounded"),
        "{}",
        reports[0]
    );
    // JSON: `timed` on the acquisition only, and the document stays valid.
    let doc: serde_json::Value = serde_json::from_str(&reports[0].to_json()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../lockdep/schema/report.schema.json")).unwrap();
    assert_eq!(
        lockdep_suite::schema::validate(&schema, &doc),
        Vec::<String>::new()
    );
    let text = doc.to_string();
    assert_eq!(text.matches("\"timed\":true").count(), 1, "{text}");
}

#[test]
fn a_plain_trylock_in_the_same_place_is_not_an_inversion() {
    let _s = serial();
    let (a, b) = (Mutex::new(()), Mutex::new(()));
    let reports = inversion_through(&a, &b, || {
        assert!(a.try_lock().is_some());
    });
    assert!(reports.is_empty());
}

/// A timed acquisition of some lock that holds it while `inner` runs.
type Timed = Box<dyn Fn(&dyn Fn())>;

#[test]
fn every_timed_acquisition_is_validated_as_blocking() {
    let _s = serial();
    let deadline = || Instant::now() + SHORT;
    let cases: Vec<(&str, Timed)> = vec![
        ("Mutex::try_lock_until", {
            let m = Mutex::new(());
            Box::new(move |inner| {
                let _g = m.try_lock_until(deadline()).unwrap();
                inner();
            })
        }),
        ("FairMutex::try_lock_for", {
            let m = FairMutex::new(());
            Box::new(move |inner| {
                let _g = m.try_lock_for(SHORT).unwrap();
                inner();
            })
        }),
        ("ReentrantMutex::try_lock_until", {
            let m = ReentrantMutex::new(());
            Box::new(move |inner| {
                let _g = m.try_lock_until(deadline()).unwrap();
                inner();
            })
        }),
        ("RwLock::try_read_for", {
            let l = RwLock::new(());
            Box::new(move |inner| {
                let _g = l.try_read_for(SHORT).unwrap();
                inner();
            })
        }),
        ("RwLock::try_read_recursive_until", {
            let l = RwLock::new(());
            Box::new(move |inner| {
                // A recursive reader is an `-(*R)->` acquisition: pair it with a write so
                // the cycle is strong.
                let _g = l.try_read_recursive_until(deadline()).unwrap();
                inner();
                drop(_g);
                let _w = l.try_write_for(SHORT).unwrap();
                inner();
            })
        }),
        ("RwLock::try_write_until", {
            let l = RwLock::new(());
            Box::new(move |inner| {
                let _g = l.try_write_until(deadline()).unwrap();
                inner();
            })
        }),
        ("RwLock::try_upgradable_read_for", {
            let l = RwLock::new(());
            Box::new(move |inner| {
                let _g = l.try_upgradable_read_for(SHORT).unwrap();
                inner();
            })
        }),
    ];
    let a = Mutex::new(());
    for (name, timed) in cases {
        lockdep::reset();
        timed(&|| drop(a.lock()));
        assert_eq!(kinds(), vec![], "{name}: one order is fine");
        {
            let _a = a.lock();
            timed(&|| ());
        }
        let reports = lockdep::take_reports();
        assert!(
            reports
                .iter()
                .any(|r| r.kind() == CircularDependency && r.acquiring().is_some_and(|l| l.is_timed())),
            "{name}: {reports:?}"
        );
    }
}

#[test]
fn a_timed_upgrade_with_a_lock_taken_since_is_a_bounded_wait_for_the_readers() {
    let _s = serial();
    let (l, x) = (RwLock::new(0), Mutex::new(()));
    {
        let _r = l.read();
        let _x = x.lock();
    }
    assert_eq!(kinds(), vec![]);
    let u = l.upgradable_read();
    let _x = x.lock();
    let w = RwLockUpgradableReadGuard::try_upgrade_for(u, SHORT).expect("no other reader");
    drop(w);
    let reports = lockdep::take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), CircularDependency);
    assert!(reports[0].acquiring().is_some_and(|l| l.is_timed()));
}

#[test]
fn a_timed_attempt_that_gives_up_holds_nothing() {
    let _s = serial();
    let m = std::sync::Arc::new(Mutex::new(()));
    let other = {
        let m = m.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _g = m.lock();
            tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        rx.recv().unwrap();
        (t, done_tx)
    };
    let started = Instant::now();
    assert!(m.try_lock_for(Duration::from_millis(20)).is_none());
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "it waited the whole timeout"
    );
    assert!(!m.is_held_by_current_thread());
    other.1.send(()).unwrap();
    other.0.join().unwrap();
    assert!(m.try_lock_for(SHORT).is_some());
    assert_eq!(kinds(), vec![]);
}
