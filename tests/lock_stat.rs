//! Contention statistics (the `lock-stat` feature, on in this suite): a lock another thread
//! holds while this one takes it is counted with the time waited; a lock never found taken is
//! not listed.

use lockdep::{LockClass, Mutex};
use lockdep_suite::serial;
use std::sync::Barrier;
use std::time::Duration;

static CONTENDED: LockClass = LockClass::new("stat_contended");
static UNCONTENDED: LockClass = LockClass::new("stat_uncontended");

#[test]
fn a_contended_lock_is_counted_with_its_wait() {
    let _s = serial();
    let before = lockdep::lock_stats()
        .into_iter()
        .find(|s| s.class == "stat_contended");
    let lock = Mutex::with_class(0u32, &CONTENDED);
    let quiet = Mutex::with_class(0u32, &UNCONTENDED);
    let holding = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.lock();
            holding.wait();
            std::thread::sleep(Duration::from_millis(60));
            *g += 1;
        });
        holding.wait();
        *lock.lock() += 1; // waits for the other thread's ~60 ms
        *quiet.lock() += 1;
    });
    let stats = lockdep::lock_stats();
    let c = stats
        .iter()
        .find(|s| s.class == "stat_contended")
        .expect("the contended class");
    let (n0, t0) = before.map_or((0, Duration::ZERO), |b| (b.contentions, b.wait_total));
    assert_eq!(c.contentions - n0, 1, "{stats:?}");
    assert!(c.wait_total - t0 >= Duration::from_millis(40), "{c:?}");
    assert!(
        c.wait_max >= Duration::from_millis(40) && c.wait_max <= c.wait_total,
        "{c:?}"
    );
    assert!(!stats.iter().any(|s| s.class == "stat_uncontended"), "{stats:?}");
    assert!(
        stats.windows(2).all(|w| w[0].wait_total >= w[1].wait_total),
        "most waited-for first: {stats:?}"
    );
}
