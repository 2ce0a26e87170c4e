//! Every capacity exhausted: the class table, the dependency table, the chain cache and the
//! stack-trace store. Each is reported once, validation goes on with what still fits, nothing
//! crashes or hangs, and [`lockdep::reset`] (which empties every table but the class table)
//! brings back full validation.
//!
//! The capacities are the kernel's sizes, fixed at build time and not shrinkable from a test, so
//! each test really fills its table; the programs that do it are built so that the table runs
//! out first (the dependency test makes fewer chains than the chain cache holds, and so on).
//! Classes are never forgotten, so the class-table test runs in a child process.

use crate::{fresh_class, fresh_pair, in_child, still_validates, still_validates_with, test_name};
use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::{kinds, serial};
use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

/// `n` locks, one per new class.
fn locks_of_new_classes(what: &str, n: usize) -> Vec<Mutex<()>> {
    (0..n).map(|_| Mutex::with_class((), fresh_class(what))).collect()
}

#[test]
fn filling_the_class_table_is_reported_once_and_older_classes_stay_validated() {
    if in_child(test_name!(
        "filling_the_class_table_is_reported_once_and_older_classes_stay_validated"
    )) {
        return;
    }
    let _s = serial();
    // Registered (on first use) before the table fills.
    let (a, b) = fresh_pair();
    drop((Mutex::with_class((), a).lock(), Mutex::with_class((), b).lock()));
    let (early_x, early_y) = fresh_pair();
    let (x, y) = (Mutex::with_class((), early_x), Mutex::with_class((), early_y));
    drop((x.lock(), y.lock()));
    assert!(kinds().is_empty());
    let mut late: Vec<&'static LockClass> = Vec::new();
    let mut reports = Vec::new();
    while reports.is_empty() {
        assert!(late.len() < 1 << 20, "the class table never filled");
        let c = fresh_class("many");
        drop(Mutex::with_class((), c).lock());
        late.push(c);
        reports = kinds();
    }
    assert_eq!(reports, vec![ReportKind::ClassesExhausted]);
    // Locks of classes that no longer fit still lock and unlock, and are not validated: in
    // either order, nothing is reported (nothing can be: they have no class).
    let (p, q) = (
        Mutex::with_class((), late[late.len() - 1]),
        Mutex::with_class((), fresh_class("more")),
    );
    drop((p.lock(), q.lock()));
    {
        let _q = q.lock();
        let _p = p.lock();
    }
    // An untracked lock under a tracked one, and the other way round: nothing reported.
    {
        let _x = x.lock();
        let _p = p.lock();
    }
    {
        let _p = p.lock();
        let _y = y.lock();
    }
    assert!(kinds().is_empty());
    // Reported once per reset, like every capacity, and classes stay full across a reset.
    lockdep::reset();
    drop(Mutex::with_class((), fresh_class("after-reset")).lock());
    assert_eq!(kinds(), vec![ReportKind::ClassesExhausted]);
    // Classes registered before still are validated.
    still_validates_with(a, b);
}

#[test]
fn an_untracked_lock_retaken_by_its_holder_panics_instead_of_hanging() {
    if in_child(test_name!(
        "an_untracked_lock_retaken_by_its_holder_panics_instead_of_hanging"
    )) {
        return;
    }
    let _s = serial();
    let (a, b) = fresh_pair();
    drop((Mutex::with_class((), a).lock(), Mutex::with_class((), b).lock()));
    let mut untracked = None;
    for _ in 0..1 << 20 {
        let c = fresh_class("fill");
        drop(Mutex::with_class((), c).lock());
        if !kinds().is_empty() {
            untracked = Some(c);
            break;
        }
    }
    let class = untracked.expect("the class table never filled");
    // On a thread of its own, so a hang fails the test instead of stalling it.
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let m = Mutex::with_class((), class);
        let _g = m.lock();
        let retaken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(m.lock())));
        let _ = done.send(retaken.is_err());
    });
    let panicked = wait
        .recv_timeout(Duration::from_secs(10))
        .expect("re-taking an untracked lock hung");
    assert!(panicked);
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
    still_validates_with(a, b);
}

#[test]
fn filling_the_dependency_table_is_reported_once_and_recorded_dependencies_still_close_cycles() {
    let _s = serial();
    // 260 classes give 33 670 ordered pairs: more dependencies than the table holds, fewer
    // chains than the chain cache holds.
    let locks = locks_of_new_classes("dep", 260);
    for i in 0..locks.len() {
        for j in i + 1..locks.len() {
            let _a = locks[i].lock();
            let _b = locks[j].lock();
        }
    }
    assert_eq!(kinds(), vec![ReportKind::DependenciesExhausted]);
    let full = lockdep::stats().dependencies;
    // A chain is cached only once all its dependencies are recorded: the one-lock chains (every
    // class but the last was taken first) and one two-lock chain per recorded dependency, none
    // for the pairs that did not fit (a cached chain would never be validated again, losing its
    // dependency for good).
    assert_eq!(lockdep::stats().chains, locks.len() - 1 + full);
    // Nothing more is recorded, and taking more new orders neither reports again nor crashes.
    {
        let _b = locks[259].lock();
        let _a = locks[258].lock();
    }
    assert_eq!(lockdep::stats().dependencies, full);
    // 258 -> 259 came too late to be recorded, so its inverse closes no known cycle; 0 -> 1 was
    // recorded first and its inverse is still reported.
    assert!(kinds().is_empty());
    {
        let _b = locks[1].lock();
        let _a = locks[0].lock();
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    lockdep::reset();
    assert_eq!(lockdep::stats().dependencies, 0);
    still_validates();
}

#[test]
fn filling_the_chain_cache_is_reported_once_and_uncached_chains_are_still_validated() {
    let _s = serial();
    // Every increasing triple of 75 classes: 67 525 chains of three (plus 2 775 of two), more
    // than the cache holds, over only 2 775 dependencies.
    let locks = locks_of_new_classes("chain", 75);
    let n = locks.len();
    for i in 0..n {
        for j in i + 1..n {
            for k in j + 1..n {
                let _a = locks[i].lock();
                let _b = locks[j].lock();
                let _c = locks[k].lock();
            }
        }
    }
    assert_eq!(kinds(), vec![ReportKind::ChainsExhausted]);
    let full = lockdep::stats().chains;
    // A chain that no longer fits is validated every time it is taken: its inversion is found,
    // once, however often it is repeated.
    for _ in 0..3 {
        let _b = locks[1].lock();
        let _a = locks[0].lock();
    }
    assert_eq!(kinds(), vec![ReportKind::CircularDependency]);
    assert_eq!(lockdep::stats().chains, full);
    lockdep::reset();
    assert_eq!(lockdep::stats().chains, 0);
    still_validates();
}

/// Calls `leaf(path)` once for each of the `2^levels` paths down a binary tree of calls: the
/// two recursive calls return to different addresses, so every leaf runs on a different stack.
#[inline(never)]
fn descend(levels: u32, path: usize, leaf: &mut dyn FnMut(usize)) {
    if levels == 0 {
        leaf(path);
    } else {
        descend(levels - 1, path << 1, leaf);
        descend(levels - 1, path << 1 | 1, leaf);
    }
    // Keeps the calls above from becoming tail calls, which would share a return address.
    black_box(path);
}

/// `depth` more frames under `f`, so that every captured trace is as long as the store keeps.
#[inline(never)]
fn pad(depth: u32, f: &mut dyn FnMut()) {
    if depth == 0 {
        f();
    } else {
        pad(depth - 1, f);
    }
    black_box(depth);
}

#[test]
fn filling_the_stack_trace_store_is_reported_once_and_dependencies_are_recorded_without_stacks() {
    let _s = serial();
    // 2^14 new dependencies, each first seen on a different (full-length) stack: more traces
    // than the store holds, fewer dependencies than the dependency table holds.
    let locks = locks_of_new_classes("stack", 200);
    let pairs: Vec<(usize, usize)> = (0..locks.len())
        .flat_map(|i| (i + 1..locks.len()).map(move |j| (i, j)))
        .collect();
    let mut last = (0, 0);
    pad(8, &mut || {
        descend(14, 0, &mut |path| {
            let (i, j) = pairs[path];
            let _a = locks[i].lock();
            let _b = locks[j].lock();
            last = (i, j);
        })
    });
    assert_eq!(kinds(), vec![ReportKind::StackTracesExhausted]);
    // The last dependency was recorded without its stack: a cycle through it is still found,
    // and the report renders with an empty stack for it.
    let (i, j) = last;
    {
        let _b = locks[j].lock();
        let _a = locks[i].lock();
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::CircularDependency);
    assert!(
        r[0].dependencies().iter().any(|d| d.stack().is_empty()),
        "{:#?}",
        r[0].dependencies()
    );
    assert!(r[0].to_string().contains("possible circular locking dependency"));
    lockdep::reset();
    assert_eq!(lockdep::stats().stack_frames, 0);
    still_validates();
}
