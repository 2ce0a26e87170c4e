//! `lockdep::stdsync` behaves as `std::sync`: the behaviours std's own sync tests check
//! (poisoning, the condition variable's semantics, `Once`, `OnceLock` and `LazyLock`), run
//! against the validated types with the validator on. Every case is a correct pattern, so
//! each also checks that nothing was reported.

use lockdep::stdsync::{
    mpsc::channel, Arc, Condvar, LazyLock, Mutex, Once, OnceLock, RwLock, RwLockWriteGuard, TryLockError,
};
use lockdep_suite::{kinds, serial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `f` as one conformance case: alone, and with no report allowed.
fn case(f: impl FnOnce()) {
    let _s = serial();
    f();
    assert_eq!(kinds(), [], "a correct pattern was reported");
}

/// Counts its drops.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poison_mutex<T: Send>(m: &Mutex<T>) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = m.lock().unwrap();
        panic!("test panic while holding the mutex");
    }));
    assert!(r.is_err());
}

#[test]
fn mutex_many_threads_count_exactly() {
    case(|| {
        let m = Arc::new(Mutex::new(0u32));
        let (tx, rx) = channel();
        for _ in 0..4 {
            let (m, tx) = (Arc::clone(&m), tx.clone());
            thread::spawn(move || {
                for _ in 0..500 {
                    *m.lock().unwrap() += 1;
                }
                tx.send(()).unwrap();
            });
        }
        drop(tx);
        assert_eq!(rx.iter().count(), 4);
        assert_eq!(*m.lock().unwrap(), 2000);
    });
}

#[test]
fn mutex_try_lock_and_into_inner() {
    case(|| {
        let m = Mutex::new(());
        *m.try_lock().unwrap() = ();
        let g = m.lock().unwrap();
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        drop(g);
        let n = AtomicUsize::new(0);
        let m = Mutex::new(Counted(&n));
        let v = m.into_inner().unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 0, "into_inner must not drop the value");
        drop(v);
        assert_eq!(n.load(Ordering::SeqCst), 1);
        let m = Mutex::new(Counted(&n));
        drop(m);
        assert_eq!(
            n.load(Ordering::SeqCst),
            2,
            "dropping the mutex drops the value once"
        );
    });
}

#[test]
fn mutex_poisoning() {
    case(|| {
        let mut m = Mutex::new(NonCopy(10));
        assert!(!m.is_poisoned());
        poison_mutex(&m);
        assert!(m.is_poisoned());
        assert_eq!(m.get_mut().unwrap_err().into_inner().0, 10);
        assert!(m.lock().is_err());
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
        m.clear_poison();
        assert!(!m.is_poisoned());
        *m.lock().unwrap() = NonCopy(20);
        poison_mutex(&m);
        assert_eq!(m.into_inner().unwrap_err().into_inner(), NonCopy(20));
    });
}

#[derive(Debug, PartialEq, Eq)]
struct NonCopy(i32);

/// A thread that sets the flag and notifies one waiter.
fn set_and_notify(pair: &Arc<(Mutex<bool>, Condvar)>) -> thread::JoinHandle<()> {
    let p = Arc::clone(pair);
    thread::spawn(move || {
        *p.0.lock().unwrap() = true;
        p.1.notify_one();
    })
}

#[test]
fn mutex_get_mut_and_unsized() {
    case(|| {
        let mut m = Mutex::new(NonCopy(10));
        *m.get_mut().unwrap() = NonCopy(20);
        assert_eq!(m.into_inner().unwrap(), NonCopy(20));
        let s: &Mutex<[i32]> = &Mutex::new([1, 4, 5]);
        s.lock().unwrap()[0] = 2;
        assert_eq!(&*s.lock().unwrap(), &[2, 4, 5][..]);
        let d: Arc<Mutex<dyn std::fmt::Debug + Send>> = Arc::new(Mutex::new(5u8));
        assert_eq!(format!("{:?}", &*d.lock().unwrap()), "5");
    });
}

#[test]
fn mutex_arc_nested_and_poisoned_from_a_thread() {
    case(|| {
        let inner = Arc::new(Mutex::new(1));
        let outer = Arc::new(Mutex::new(Arc::clone(&inner)));
        let o2 = Arc::clone(&outer);
        thread::spawn(move || {
            let lock = o2.lock().unwrap();
            assert_eq!(*lock.lock().unwrap(), 1);
        })
        .join()
        .unwrap();
        let p = Arc::new(Mutex::new(1));
        let p2 = Arc::clone(&p);
        assert!(thread::spawn(move || {
            let _g = p2.lock().unwrap();
            panic!("poison from a thread");
        })
        .join()
        .is_err());
        assert!(p.lock().is_err());
        assert!(p.is_poisoned());
        assert_eq!(
            Arc::try_unwrap(p).unwrap().into_inner().unwrap_err().into_inner(),
            1
        );
    });
}

#[test]
fn mutex_access_in_unwind() {
    case(|| {
        struct Unwinder(Arc<Mutex<i32>>);
        impl Drop for Unwinder {
            fn drop(&mut self) {
                *self.0.lock().unwrap() += 1;
            }
        }
        let m = Arc::new(Mutex::new(1));
        let m2 = Arc::clone(&m);
        thread::spawn(move || {
            let _u = Unwinder(m2);
            panic!("unwind through a lock user");
        })
        .join()
        .unwrap_err();
        assert_eq!(*m.lock().unwrap(), 2);
    });
}

#[test]
fn condvar_notify_without_waiters_and_notify_one() {
    case(|| {
        let c = Condvar::new();
        c.notify_one();
        c.notify_all();
        let pair = Arc::new((Mutex::new(()), Condvar::new()));
        let p2 = Arc::clone(&pair);
        let g = pair.0.lock().unwrap();
        let t = thread::spawn(move || {
            let _g = p2.0.lock().unwrap();
            p2.1.notify_one();
        });
        let g = pair.1.wait(g).unwrap();
        drop(g);
        t.join().unwrap();
    });
}

#[test]
fn condvar_notify_all_wakes_every_waiter() {
    case(|| {
        const N: usize = 4;
        let data = Arc::new((Mutex::new(0usize), Condvar::new()));
        let (tx, rx) = channel();
        for _ in 0..N {
            let (data, tx) = (Arc::clone(&data), tx.clone());
            thread::spawn(move || {
                let (lock, cond) = &*data;
                let mut cnt = lock.lock().unwrap();
                *cnt += 1;
                if *cnt == N {
                    tx.send(()).unwrap();
                }
                while *cnt != 0 {
                    cnt = cond.wait(cnt).unwrap();
                }
                tx.send(()).unwrap();
            });
        }
        drop(tx);
        let (lock, cond) = &*data;
        rx.recv().unwrap();
        *lock.lock().unwrap() = 0;
        cond.notify_all();
        assert_eq!(rx.iter().count(), N);
    });
}

#[test]
fn condvar_wait_while_returns_once_the_condition_fails() {
    case(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let t = set_and_notify(&pair);
        let g = pair
            .1
            .wait_while(pair.0.lock().unwrap(), |started| !*started)
            .unwrap();
        assert!(*g);
        drop(g);
        t.join().unwrap();
    });
}

#[test]
fn condvar_wait_timeout_times_out_and_wakes() {
    case(|| {
        let (m, c) = (Mutex::new(()), Condvar::new());
        let mut g = m.lock().unwrap();
        loop {
            let (ng, r) = c.wait_timeout(g, Duration::from_millis(1)).unwrap();
            g = ng;
            if r.timed_out() {
                break; // spurious wake-ups may come first
            }
        }
        drop(g);
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let g = pair.0.lock().unwrap();
        let t = set_and_notify(&pair);
        let mut g = g;
        let start = Instant::now();
        while !*g {
            let (ng, r) = pair.1.wait_timeout(g, Duration::from_secs(60)).unwrap();
            g = ng;
            assert!(!r.timed_out() || start.elapsed() >= Duration::from_secs(60));
        }
        drop(g);
        t.join().unwrap();
    });
}

#[test]
fn condvar_wait_timeout_while_semantics() {
    case(|| {
        let (m, c) = (Mutex::new(()), Condvar::new());
        // Runs out with the condition true: timed out, after at least the timeout.
        let start = Instant::now();
        let (g, r) = c
            .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(5), |_| true)
            .unwrap();
        assert!(r.timed_out() && start.elapsed() >= Duration::from_millis(5));
        // Satisfied at once: not timed out, and no wait, however long the timeout.
        let (g, r) = c
            .wait_timeout_while(g, Duration::from_secs(3600), |_| false)
            .unwrap();
        assert!(!r.timed_out());
        drop(g);
        // Woken with the condition met by another thread.
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let g = pair.0.lock().unwrap();
        let t = set_and_notify(&pair);
        let (g, r) = pair
            .1
            .wait_timeout_while(g, Duration::from_secs(60), |set| !*set)
            .unwrap();
        assert!(!r.timed_out() && *g);
        drop(g);
        t.join().unwrap();
    });
}

#[test]
fn condvar_wait_on_a_poisoned_mutex_returns_the_guard_in_err() {
    case(|| {
        let pair = Arc::new((Mutex::new(1), Condvar::new()));
        let p2 = Arc::clone(&pair);
        let g = pair.0.lock().unwrap();
        let t = thread::spawn(move || {
            let _g = p2.0.lock().unwrap();
            p2.1.notify_one();
            panic!("poison while the other thread waits");
        });
        let mut r = pair.1.wait(g);
        while let Ok(g) = r {
            r = pair.1.wait(g); // a spurious wake-up before the poisoning thread ran
        }
        let g = r.unwrap_err().into_inner();
        assert_eq!(*g, 1);
        drop(g);
        assert!(t.join().is_err());
        assert!(pair.0.is_poisoned());
    });
}

#[test]
fn rwlock_many_threads_read_and_write() {
    case(|| {
        let r = Arc::new(RwLock::new(0u64));
        let (tx, rx) = channel::<()>();
        for t in 0..4u64 {
            let (r, tx) = (Arc::clone(&r), tx.clone());
            thread::spawn(move || {
                let mut x = t.wrapping_mul(6364136223846793005).wrapping_add(1);
                for _ in 0..300 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if x >> 60 == 0 {
                        *r.write().unwrap() += 1;
                    } else {
                        drop(r.read().unwrap());
                    }
                }
                drop(tx);
            });
        }
        drop(tx);
        let _ = rx.recv();
        let w = *r.read().unwrap();
        assert!(w <= 1200);
    });
}

#[test]
fn rwlock_poisoning_by_writers_not_readers() {
    case(|| {
        let panic_under = |l: &RwLock<i32>, write: bool| {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                if write {
                    let _g = l.write().unwrap();
                    panic!("writer panics");
                } else {
                    let _g = l.read().unwrap();
                    panic!("reader panics");
                }
            }));
        };
        let l = RwLock::new(1);
        panic_under(&l, false);
        assert!(!l.is_poisoned());
        assert!(l.read().is_ok() && l.write().is_ok());
        panic_under(&l, true);
        assert!(l.is_poisoned());
        assert!(l.read().is_err() && l.write().is_err());
        assert!(matches!(l.try_read(), Err(TryLockError::Poisoned(_))));
        assert!(matches!(l.try_write(), Err(TryLockError::Poisoned(_))));
        l.clear_poison();
        assert!(l.write().is_ok());
        panic_under(&l, true);
        assert_eq!(l.into_inner().unwrap_err().into_inner(), 1);
    });
}

#[test]
fn rwlock_writer_and_readers_see_a_consistent_value() {
    case(|| {
        let arc = Arc::new(RwLock::new(0));
        let a2 = Arc::clone(&arc);
        let (tx, rx) = channel();
        let writer = thread::spawn(move || {
            let mut lock = a2.write().unwrap();
            for _ in 0..10 {
                let tmp = *lock;
                *lock = -1;
                thread::yield_now();
                *lock = tmp + 1;
            }
            tx.send(()).unwrap();
        });
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let a = Arc::clone(&arc);
                thread::spawn(move || assert!(*a.read().unwrap() >= 0))
            })
            .collect();
        for r in readers {
            r.join().unwrap();
        }
        rx.recv().unwrap();
        writer.join().unwrap();
        assert_eq!(*arc.read().unwrap(), 10);
    });
}

#[test]
fn rwlock_try_write_unsized_get_mut_downgrade() {
    case(|| {
        let l = RwLock::new(0);
        let r = l.read().unwrap();
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
        drop(r);
        assert!(l.try_write().is_ok());
        let s: &RwLock<[i32]> = &RwLock::new([1, 4, 5]);
        s.write().unwrap()[0] = 2;
        assert_eq!(&*s.read().unwrap(), &[2, 4, 5][..]);
        let mut m = RwLock::new(NonCopy(10));
        *m.get_mut().unwrap() = NonCopy(20);
        let w = m.write().unwrap();
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, NonCopy(20));
        assert!(matches!(m.try_write(), Err(TryLockError::WouldBlock)));
        drop(r);
        assert_eq!(m.into_inner().unwrap(), NonCopy(20));
    });
}

#[test]
fn once_runs_once_across_threads() {
    case(|| {
        static O: Once = Once::new();
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let ts: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(|| {
                    O.call_once(|| {
                        RUNS.fetch_add(1, Ordering::SeqCst);
                    });
                    assert!(O.is_completed());
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(RUNS.load(Ordering::SeqCst), 1);
        O.wait();
    });
}

#[test]
fn once_poisoned_by_a_panic_and_recovered_by_force() {
    case(|| {
        let o = Once::new();
        assert!(catch_unwind(AssertUnwindSafe(|| o.call_once(|| panic!("init fails")))).is_err());
        assert!(!o.is_completed());
        assert!(
            catch_unwind(AssertUnwindSafe(|| o.call_once(|| ()))).is_err(),
            "poisoned"
        );
        assert!(catch_unwind(AssertUnwindSafe(|| o.wait())).is_err());
        let mut saw_poison = false;
        o.call_once_force(|s| saw_poison = s.is_poisoned());
        assert!(saw_poison && o.is_completed());
        o.wait();
        o.call_once_force(|_| unreachable!("completed"));
    });
}

#[test]
fn once_waiters_wait_for_the_running_call() {
    case(|| {
        static O: Once = Once::new();
        let (tx, rx) = channel();
        let t1 = thread::spawn(move || {
            O.call_once(|| {
                tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(20));
            })
        });
        rx.recv().unwrap();
        let t2 = thread::spawn(|| {
            O.wait();
            assert!(O.is_completed());
        });
        t1.join().unwrap();
        t2.join().unwrap();
        O.wait_force();
    });
}

#[test]
fn oncelock_get_or_init_set_take_and_traits() {
    case(|| {
        static CELL: OnceLock<i32> = OnceLock::new();
        assert!(CELL.get().is_none());
        thread::spawn(|| assert_eq!(*CELL.get_or_init(|| 92), 92))
            .join()
            .unwrap();
        assert_eq!(CELL.get(), Some(&92));
        assert_eq!(*CELL.get_or_init(|| unreachable!()), 92);
        assert_eq!(CELL.set(1), Err(1));
        assert_eq!(*CELL.wait(), 92);
        let mut c: OnceLock<String> = OnceLock::new();
        assert!(c.set("x".into()).is_ok());
        assert_eq!(c.clone(), c);
        assert_eq!(c.take().as_deref(), Some("x"));
        assert!(c.get().is_none());
        assert_eq!(OnceLock::from(3).into_inner(), Some(3));
        assert_eq!(OnceLock::<u8>::default(), OnceLock::new());
        assert_eq!(
            format!("{:?}", OnceLock::from(1)),
            format!("{:?}", std::sync::OnceLock::from(1))
        );
    });
}

#[test]
fn oncelock_initialiser_panic_leaves_it_empty_and_drops_once() {
    case(|| {
        let c: OnceLock<u32> = OnceLock::new();
        assert!(catch_unwind(AssertUnwindSafe(|| c.get_or_init(|| panic!("no value")))).is_err());
        assert!(c.get().is_none());
        assert_eq!(*c.get_or_init(|| 2), 2);
        let n = AtomicUsize::new(0);
        {
            let c = OnceLock::new();
            let _ = c.get_or_init(|| Counted(&n));
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // Only one of many racing initialisers runs.
        let c = Arc::new(OnceLock::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..4)
            .map(|i| {
                let (c, runs) = (Arc::clone(&c), Arc::clone(&runs));
                thread::spawn(move || {
                    *c.get_or_init(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        i
                    })
                })
            })
            .collect();
        let seen: Vec<i32> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn lazylock_initialises_once_and_poisons_on_panic() {
    case(|| {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        static LAZY: LazyLock<i32> = LazyLock::new(|| {
            CALLS.fetch_add(1, Ordering::SeqCst);
            92
        });
        let ts: Vec<_> = (0..3).map(|_| thread::spawn(|| *LAZY)).collect();
        for t in ts {
            assert_eq!(t.join().unwrap(), 92);
        }
        assert_eq!((*LAZY, CALLS.load(Ordering::SeqCst)), (92, 1));
        let bad: LazyLock<i32> = LazyLock::new(|| panic!("init fails"));
        assert!(catch_unwind(AssertUnwindSafe(|| *bad)).is_err());
        assert!(
            catch_unwind(AssertUnwindSafe(|| *bad)).is_err(),
            "poisoned for good"
        );
        let mut m = LazyLock::new(|| vec![1]);
        LazyLock::force_mut(&mut m).push(2);
        m.push(3);
        assert_eq!(*m, [1, 2, 3]);
        assert_eq!(*LazyLock::<Vec<u8>>::default(), Vec::<u8>::new());
        assert_eq!(format!("{:?}", LazyLock::get(&m)), "Some([1, 2, 3])");
    });
}
