//! `WwAcquireCtx::set_deadlock_inject`: `-EDEADLK` without contention (the kernel's
//! `CONFIG_DEBUG_WW_MUTEX_SLOWPATH`), so back-off paths run in single-threaded tests, and the
//! validator checks that they follow the protocol.

use lockdep::ReportKind::WwMisuse;
use lockdep::{WwAcquireCtx, WwClass, WwError, WwMutex, WwMutexGuard};
use lockdep_suite::{kinds, serial};

static CLASS: WwClass = WwClass::wait_die("test_deadlock_inject");

/// Locks every mutex of `locks` in `ctx`, backing off on `Deadlk` the way `drm_exec` does:
/// release everything, `lock_slow` the contended lock, lock the rest again.
fn lock_all<'a>(locks: &'a [WwMutex<u32>], ctx: &'a WwAcquireCtx) -> Vec<WwMutexGuard<'a, u32>> {
    let mut held: Vec<(usize, WwMutexGuard<'a, u32>)> = Vec::new();
    let mut slow: Option<usize> = None;
    'retry: loop {
        if let Some(i) = slow.take() {
            held.push((i, locks[i].lock_slow(ctx)));
        }
        for (i, l) in locks.iter().enumerate() {
            if held.iter().any(|(j, _)| *j == i) {
                continue;
            }
            match l.lock(ctx) {
                Ok(g) => held.push((i, g)),
                Err(WwError::Deadlk) => {
                    held.clear();
                    slow = Some(i);
                    continue 'retry;
                }
                Err(WwError::Already) => unreachable!("each lock is taken once"),
            }
        }
        held.sort_by_key(|(i, _)| *i);
        return held.into_iter().map(|(_, g)| g).collect();
    }
}

#[test]
fn injected_deadlocks_exercise_the_back_off_and_it_validates() {
    let _s = serial();
    let locks: Vec<WwMutex<u32>> = (0..6).map(|i| WwMutex::new(i, &CLASS)).collect();
    for interval in [1, 2, 5] {
        let ctx = WwAcquireCtx::new(&CLASS);
        ctx.set_deadlock_inject(interval);
        let guards = lock_all(&locks, &ctx);
        ctx.done();
        assert_eq!(guards.iter().map(|g| **g).sum::<u32>(), 15);
        assert!(
            ctx.deadlocks_injected() > 0,
            "interval {interval} injected nothing"
        );
        drop(guards);
    }
    assert!(kinds().is_empty());
}

#[test]
fn without_injection_an_uncontended_transaction_never_backs_off() {
    let _s = serial();
    let locks: Vec<WwMutex<u32>> = (0..6).map(|i| WwMutex::new(i, &CLASS)).collect();
    let ctx = WwAcquireCtx::new(&CLASS);
    let guards: Vec<_> = locks.iter().map(|l| l.lock(&ctx).unwrap()).collect();
    assert_eq!(ctx.deadlocks_injected(), 0);
    assert_eq!(ctx.acquired(), 6);
    drop(guards);
    assert!(kinds().is_empty());
}

#[test]
fn the_first_lock_of_a_transaction_is_never_injected() {
    // As in the kernel: a transaction holding nothing has nothing to back off from.
    let _s = serial();
    let l = WwMutex::new(0, &CLASS);
    let ctx = WwAcquireCtx::new(&CLASS);
    ctx.set_deadlock_inject(1);
    for _ in 0..5 {
        drop(l.lock(&ctx).unwrap());
    }
    assert_eq!(ctx.deadlocks_injected(), 0);
    assert!(kinds().is_empty());
}

#[test]
fn ignoring_an_injected_deadlock_is_reported() {
    let _s = serial();
    let (a, b, c) = (
        WwMutex::new(0, &CLASS),
        WwMutex::new(0, &CLASS),
        WwMutex::new(0, &CLASS),
    );
    let ctx = WwAcquireCtx::new(&CLASS);
    ctx.set_deadlock_inject(1);
    let _ga = a.lock(&ctx).unwrap();
    assert_eq!(b.lock(&ctx).err(), Some(WwError::Deadlk));
    // Not backing off: another lock instead of releasing a and lock_slow(b).
    let _ = c.lock(&ctx);
    assert!(kinds().contains(&WwMisuse));
}
