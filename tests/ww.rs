//! ww mutexes: the kernel's `ww_tests()` self-test group (API misuse and lockdep modelling),
//! and the wound/wait protocol under real contention.

use lockdep::ReportKind::{InvalidWaitContext, NestLockNotHeld, RecursiveLocking, WwMisuse};
use lockdep::{Mutex, ReportKind, SpinLock, WwAcquireCtx, WwClass, WwError, WwMutex};
use lockdep_suite::{kinds, serial};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;

static WD: WwClass = WwClass::wait_die("ww_lockdep");
static WW: WwClass = WwClass::wound_wait("ww_lockdep_wound");
static OTHER: WwClass = WwClass::wait_die("other_ww_class");

/// Holds `lock` in another thread under a transaction that is *older* than any created after
/// this returns (the self-tests' `HIDE(o2)` with `OLDER_T2`), until the returned sender fires.
fn hide(lock: &'static WwMutex<u32>) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = thread::spawn(move || {
        let t2 = WwAcquireCtx::new(&WD);
        let g = lock.lock(&t2).unwrap();
        held_tx.send(()).unwrap();
        let _ = go_rx.recv();
        drop(g);
    });
    held_rx.recv().unwrap();
    (go_tx, h)
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

#[test]
fn fail_acquire_pure_api() {
    let _s = serial();
    let o = WwMutex::new(0, &WD);
    let t = WwAcquireCtx::new(&WD);
    let g = o.lock(&t).unwrap();
    assert_eq!(o.lock(&t).err(), Some(WwError::Already));
    assert!(o.try_lock(None).is_none());
    drop(g);
    assert!(o.try_lock(None).is_some());
    drop(t);
    assert!(kinds().is_empty());
}

#[test]
fn younger_transaction_dies_on_an_older_holder() {
    let _s = serial();
    let o2 = leak(WwMutex::new(0, &WD));
    let (go, h) = hide(o2);
    let o = WwMutex::new(0, &WD);
    let t = WwAcquireCtx::new(&WD);
    let g = o.lock(&t).unwrap();
    assert_eq!(o2.lock(&t).err(), Some(WwError::Deadlk));
    // ww_test_edeadlk_normal: back off, then take the contended lock.
    drop(g);
    go.send(()).unwrap();
    let g2 = o2.lock_slow(&t);
    let g = o.lock(&t).unwrap();
    drop((g, g2));
    drop(t);
    h.join().unwrap();
    assert!(kinds().is_empty());
}

/// The `EDEADLK handling` rows that must fail: not backing off, locking more or the wrong lock.
#[test]
fn edeadlk_misuse() {
    let _s = serial();
    type Step = fn(&WwMutex<u32>, &WwMutex<u32>, &WwMutex<u32>, &WwAcquireCtx);
    let cases: [(&str, Step); 6] = [
        ("no_unlock", |_o, o2, _o3, t| drop(o2.lock(t))),
        ("no_unlock_slow", |_o, o2, _o3, t| drop(o2.lock_slow(t))),
        ("acquire_more", |_o, _o2, o3, t| drop(o3.lock(t))),
        ("acquire_more_slow", |_o, _o2, o3, t| drop(o3.lock_slow(t))),
        ("acquire_wrong", |_o, _o2, o3, t| drop(o3.lock(t))),
        ("acquire_wrong_slow", |_o, _o2, o3, t| drop(o3.lock_slow(t))),
    ];
    for (name, step) in cases {
        lockdep::reset();
        let o2 = leak(WwMutex::new(0, &WD));
        let (go, h) = hide(o2);
        let o = WwMutex::new(0, &WD);
        let o3 = WwMutex::new(0, &WD);
        let t = WwAcquireCtx::new(&WD);
        let g = o.lock(&t).unwrap();
        assert_eq!(o2.lock(&t).err(), Some(WwError::Deadlk), "{name}");
        let wrong = name.starts_with("acquire_wrong");
        let g = if wrong {
            drop(g);
            None
        } else {
            Some(g)
        };
        if name.starts_with("no_unlock") {
            go.send(()).unwrap();
        }
        step(&o, o2, &o3, &t);
        drop(g);
        let _ = go.send(());
        drop(t);
        h.join().unwrap();
        let k = kinds();
        assert_eq!(k.first(), Some(&WwMisuse), "{name}: {k:?}");
    }
}

#[test]
fn second_edeadlk_without_backing_off() {
    let _s = serial();
    let o2 = leak(WwMutex::new(0, &WD));
    let o3 = leak(WwMutex::new(0, &WD));
    let (go2, h2) = hide(o2);
    let (go3, h3) = hide(o3);
    let o = WwMutex::new(0, &WD);
    let t = WwAcquireCtx::new(&WD);
    let g = o.lock(&t).unwrap();
    assert_eq!(o2.lock(&t).err(), Some(WwError::Deadlk));
    assert_eq!(o3.lock(&t).err(), Some(WwError::Deadlk));
    drop(g);
    drop(t);
    go2.send(()).unwrap();
    go3.send(()).unwrap();
    h2.join().unwrap();
    h3.join().unwrap();
    assert_eq!(kinds().first(), Some(&WwMisuse));
}

#[test]
fn context_misuse() {
    let _s = serial();
    // ww_test_unneeded_slow
    let o = WwMutex::new(0, &WD);
    let t = WwAcquireCtx::new(&WD);
    drop(o.lock_slow(&t));
    drop(t);
    assert_eq!(kinds(), vec![WwMisuse]);
    // ww_test_context_done_twice
    let t = WwAcquireCtx::new(&WD);
    t.done();
    t.done();
    drop(t);
    assert_eq!(kinds(), vec![WwMisuse]);
    // ww_test_context_lock_after_done
    let t = WwAcquireCtx::new(&WD);
    t.done();
    drop(o.lock(&t));
    drop(t);
    assert_eq!(kinds(), vec![WwMisuse]);
    // ww_test_diff_class
    let t = WwAcquireCtx::new(&OTHER);
    drop(o.lock(&t));
    drop(t);
    assert_eq!(kinds().first(), Some(&WwMisuse));
    // ww_test_context_fini_early: a context finished with a lock still held (a leaked guard).
    // In a thread of its own, joined, so its exit report comes before the check.
    let o4: &'static WwMutex<u32> = leak(WwMutex::new(0, &WD));
    thread::spawn(move || {
        let t = WwAcquireCtx::new(&WD);
        std::mem::forget(o4.lock(&t).unwrap());
        drop(t);
    })
    .join()
    .unwrap();
    let k = kinds();
    assert!(k.contains(&WwMisuse), "{k:?}");
}

#[test]
fn two_contexts_of_one_class_in_a_thread_are_recursive() {
    let _s = serial();
    let t = WwAcquireCtx::new(&WD);
    let t2 = WwAcquireCtx::new(&WD);
    drop((t2, t));
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind(), RecursiveLocking);
    assert!(
        r[0].classes().contains(&"ww_lockdep_acquire"),
        "{:?}",
        r[0].classes()
    );
}

/// The `|block | try  |context|` matrix: how a second mutex of the class is taken, given how
/// the first one is held.
#[test]
fn block_try_context_matrix() {
    let _s = serial();
    let run = |f: &dyn Fn(&WwMutex<u32>, &WwMutex<u32>)| {
        lockdep::reset();
        let o = WwMutex::new(0, &WD);
        let o2 = WwMutex::new(0, &WD);
        f(&o, &o2);
        kinds()
    };
    // context held, then block / try / context
    assert_eq!(
        run(&|o, o2| {
            let t = WwAcquireCtx::new(&WD);
            let _a = o.lock(&t).unwrap();
            let _b = o2.lock_noctx();
        }),
        vec![RecursiveLocking]
    );
    assert_eq!(
        run(&|o, o2| {
            let t = WwAcquireCtx::new(&WD);
            let _a = o.lock(&t).unwrap();
            let _b = o2.try_lock(None).unwrap();
        }),
        vec![]
    );
    assert_eq!(
        run(&|o, o2| {
            let t = WwAcquireCtx::new(&WD);
            let _a = o.lock(&t).unwrap();
            let _b = o2.lock(&t).unwrap();
        }),
        vec![]
    );
    // try held
    assert_eq!(
        run(&|o, o2| {
            let _a = o.try_lock(None).unwrap();
            let _b = o2.lock_noctx();
        }),
        vec![RecursiveLocking]
    );
    assert_eq!(
        run(&|o, o2| {
            let _a = o.try_lock(None).unwrap();
            let _b = o2.try_lock(None).unwrap();
        }),
        vec![]
    );
    let k = run(&|o, o2| {
        let _a = o.try_lock(None).unwrap();
        let t = WwAcquireCtx::new(&WD);
        let _b = o2.lock(&t).unwrap();
    });
    assert_eq!(k.first(), Some(&RecursiveLocking), "try_context");
    // block held
    assert_eq!(
        run(&|o, o2| {
            let _a = o.lock_noctx();
            let _b = o2.lock_noctx();
        }),
        vec![RecursiveLocking]
    );
    assert_eq!(
        run(&|o, o2| {
            let _a = o.lock_noctx();
            let _b = o2.try_lock(None).unwrap();
        }),
        vec![]
    );
    let k = run(&|o, o2| {
        let _a = o.lock_noctx();
        let t = WwAcquireCtx::new(&WD);
        let _b = o2.lock(&t).unwrap();
    });
    assert_eq!(k.first(), Some(&RecursiveLocking), "block_context");
}

/// A ww mutex (a sleeping lock) under a spinlock is an invalid wait context; a trylock is not.
#[test]
fn ww_mutex_under_spinlock() {
    let _s = serial();
    let a = SpinLock::new(());
    let o = WwMutex::new(0, &WD);
    {
        drop(a.lock());
        let g = o.lock_noctx();
        drop(a.lock());
        drop(g);
        let _a = a.lock();
        let _o = o.lock_noctx();
    }
    assert_eq!(kinds().first(), Some(&InvalidWaitContext));
    {
        let _a = a.lock();
        let _o = o.try_lock(None).unwrap();
    }
    assert!(kinds().is_empty());
    lockdep::reset(); // the same violation is reported once per reset
    {
        let t = WwAcquireCtx::new(&WD);
        let _a = a.lock();
        let _o = o.lock(&t).unwrap();
    }
    assert_eq!(kinds().first(), Some(&InvalidWaitContext));
}

/// `spin_lock_nest_lock`: two locks of one class under a held nest lock are fine; nesting
/// under a lock that is not held is reported.
#[test]
fn nest_lock_on_plain_locks() {
    let _s = serial();
    let mk = || SpinLock::new(());
    let (y1, y2) = (mk(), mk());
    let x1 = SpinLock::new(());
    let a = SpinLock::new(());
    {
        let _x = x1.lock();
        let _y1 = y1.lock_nest_lock(&x1);
        let _a = a.lock();
        let _y2 = y2.lock_nest_lock(&x1);
    }
    assert!(kinds().is_empty());
    {
        let _y = y1.lock_nest_lock(&x1);
    }
    assert_eq!(kinds(), vec![NestLockNotHeld]);
}

/// Ordering against other classes is still validated for ww mutexes.
#[test]
fn ww_mutex_orders_against_other_locks() {
    let _s = serial();
    let m = Mutex::new(());
    let o = WwMutex::new(0, &WD);
    {
        let t = WwAcquireCtx::new(&WD);
        let _o = o.lock(&t).unwrap();
        let _m = m.lock();
    }
    {
        let _m = m.lock();
        let t = WwAcquireCtx::new(&WD);
        let _o = o.lock(&t).unwrap();
    }
    assert_eq!(kinds().first(), Some(&ReportKind::CircularDependency));
}

/// Many threads lock overlapping sets in different orders with back-off; every transaction
/// completes, mutual exclusion holds, and nothing is reported.
fn stress(class: &'static WwClass) {
    let _s = serial();
    const LOCKS: usize = 8;
    const THREADS: usize = 6;
    const ROUNDS: usize = 300;
    let locks: Arc<Vec<WwMutex<u64>>> = Arc::new((0..LOCKS).map(|_| WwMutex::new(0, class)).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let backoffs: Vec<_> = (0..THREADS)
        .map(|t| {
            let (locks, barrier) = (locks.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut backoffs = 0;
                let mut seed = t as u64 * 7919 + 1;
                for _ in 0..ROUNDS {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let set: Vec<usize> = (0..4).map(|k| ((seed >> (k * 8)) as usize) % LOCKS).collect();
                    let ctx = WwAcquireCtx::new(class);
                    let mut contended: Option<usize> = None;
                    loop {
                        let mut guards = Vec::new();
                        if let Some(c) = contended.take() {
                            guards.push((c, locks[c].lock_slow(&ctx)));
                        }
                        let mut failed = None;
                        for &i in &set {
                            match locks[i].lock(&ctx) {
                                Ok(g) => guards.push((i, g)),
                                Err(WwError::Already) => {}
                                Err(WwError::Deadlk) => {
                                    failed = Some(i);
                                    break;
                                }
                            }
                        }
                        match failed {
                            None => {
                                for (_, g) in guards.iter_mut() {
                                    **g += 1;
                                }
                                break;
                            }
                            Some(i) => {
                                backoffs += 1;
                                drop(guards);
                                contended = Some(i);
                            }
                        }
                    }
                    ctx.done();
                }
                backoffs
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let total: u64 = locks.iter().map(|l| *l.lock_noctx()).sum();
    assert!(total > 0);
    let r = lockdep::take_reports();
    assert!(
        r.is_empty(),
        "the protocol followed correctly is never reported:\n{}",
        r[0]
    );
    eprintln!("{}: back-offs per thread {backoffs:?}", class.name());
}

#[test]
fn wait_die_under_contention() {
    stress(&WD);
}

#[test]
fn wound_wait_under_contention() {
    stress(&WW);
}

/// A lock held under a context and taken again without one is refused (reported, then a
/// panic instead of a hang) also when it is not the first lock of its context: locks after the
/// first merge into one entry of their class under the context, so only the ww mutex's owner
/// can tell it is this thread's. Found by drm-sim's `pin-with-resv-held` under contention.
#[test]
fn retaking_a_merged_lock_without_the_context_is_refused() {
    let _s = serial();
    let a = leak(WwMutex::new(0, &WD));
    let b = leak(WwMutex::new(0, &WD));
    let ctx = WwAcquireCtx::new(&WD);
    let ga = a.lock(&ctx).unwrap();
    let gb = b.lock(&ctx).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(b.lock_noctx())));
    assert!(r.is_err(), "re-taking b would deadlock: refused with a panic");
    assert_eq!(kinds(), [RecursiveLocking]);
    // The refused acquisition left nothing behind: both locks release cleanly.
    drop(gb);
    drop(ga);
    drop(ctx);
    assert_eq!(kinds(), []);
    // The nearest legitimate pattern: another thread's transaction holds b; taking it without
    // a context waits for it instead of being refused.
    let (go, h) = hide(b);
    let waiter = thread::spawn(move || drop(b.lock_noctx()));
    go.send(()).unwrap();
    h.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(kinds(), []);
}
