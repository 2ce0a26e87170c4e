//! Lock statistics (the `lock-stat` feature, on in this suite): a lock another thread holds
//! while this one takes it is counted with the time waited; every hold is counted with its
//! length (count, total, shortest, longest), whether or not it was contended.

use lockdep::{LockClass, Mutex};
use lockdep_suite::serial;
use std::sync::Barrier;
use std::time::Duration;

static CONTENDED: LockClass = LockClass::new("stat_contended");
static UNCONTENDED: LockClass = LockClass::new("stat_uncontended");
static HELD_LONG: LockClass = LockClass::new("stat_held_long");
static HELD_SHORT: LockClass = LockClass::new("stat_held_short");

fn stat(class: &str) -> lockdep::LockStat {
    lockdep::lock_stats()
        .into_iter()
        .find(|s| s.class == class)
        .unwrap_or_default()
}

#[test]
fn a_contended_lock_is_counted_with_its_wait() {
    let _s = serial();
    let before = stat("stat_contended");
    let quiet_before = stat("stat_uncontended");
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
    let c = stat("stat_contended");
    assert_eq!(c.contentions - before.contentions, 1, "{stats:?}");
    assert!(
        c.wait_total - before.wait_total >= Duration::from_millis(40),
        "{c:?}"
    );
    assert!(
        c.wait_max >= Duration::from_millis(40) && c.wait_max <= c.wait_total,
        "{c:?}"
    );
    // The waiter's hold starts once it has the lock: the wait is not hold time.
    assert_eq!(c.holds - before.holds, 2, "{c:?}");
    assert!(
        c.hold_max >= Duration::from_millis(60),
        "the sleeping holder: {c:?}"
    );
    assert!(
        c.hold_min < Duration::from_millis(40),
        "the waiter's own hold: {c:?}"
    );
    let q = stat("stat_uncontended");
    assert_eq!((q.contentions, q.holds - quiet_before.holds), (0, 1), "{q:?}");
    assert!(
        stats.windows(2).all(|w| w[0].wait_total >= w[1].wait_total),
        "most waited-for first: {stats:?}"
    );
}

#[test]
fn a_lock_held_n_ms_shows_a_hold_time_of_at_least_n_ms() {
    let _s = serial();
    let long = Mutex::with_class((), &HELD_LONG);
    let short = Mutex::with_class((), &HELD_SHORT);
    let before = stat("stat_held_long");
    {
        let _l = long.lock();
        let _s = short.lock();
        drop(_s); // out of order below: the long one is released last
        std::thread::sleep(Duration::from_millis(25));
    }
    let l = stat("stat_held_long");
    assert_eq!(l.holds - before.holds, 1, "{l:?}");
    assert!(
        l.hold_total - before.hold_total >= Duration::from_millis(25),
        "{l:?}"
    );
    assert!(l.hold_max >= Duration::from_millis(25), "{l:?}");
    assert_eq!(l.contentions, 0, "{l:?}");
    let s = stat("stat_held_short");
    assert!(s.holds >= 1 && s.hold_max < Duration::from_millis(25), "{s:?}");
}

#[test]
fn holds_released_out_of_order_are_each_measured_from_their_own_start() {
    let _s = serial();
    static FIRST: LockClass = LockClass::new("stat_first");
    static SECOND: LockClass = LockClass::new("stat_second");
    let (a, b) = (Mutex::with_class((), &FIRST), Mutex::with_class((), &SECOND));
    let (a0, b0) = (stat("stat_first"), stat("stat_second"));
    let ga = a.lock();
    std::thread::sleep(Duration::from_millis(30));
    let gb = b.lock();
    drop(ga); // released first, held ~30 ms
    std::thread::sleep(Duration::from_millis(5));
    drop(gb); // held ~5 ms
    let (a1, b1) = (stat("stat_first"), stat("stat_second"));
    assert_eq!((a1.holds - a0.holds, b1.holds - b0.holds), (1, 1));
    assert!(a1.hold_max >= Duration::from_millis(30), "{a1:?}");
    assert!(b1.hold_max < Duration::from_millis(30), "{b1:?}");
}
