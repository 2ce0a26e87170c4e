//! Minimal programs on which the oracle (`tests/oracle/`) found the validator wrong, each as a
//! plain test of the behaviour the kernel's rules require. A case the validator still gets wrong
//! is ignored with the bug named, for whoever fixes it to un-ignore.

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::serial;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The (kind, class set) of every report recorded so far.
fn reports() -> Vec<(ReportKind, BTreeSet<String>)> {
    lockdep::take_reports()
        .iter()
        .map(|r| (r.kind(), r.classes().into_iter().map(str::to_string).collect()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

static RETAKE_A: LockClass = LockClass::new("retake_a");

/// `a0` is held as subclass 1; taking it again as subclass 0 under a nest lock merges the
/// acquisition into the top entry (`a1`, subclass 0) before the re-take is caught. The report
/// must name the held lock's class and the class being acquired, `retake_a/1` and `retake_a`.
#[test]
fn retake_merged_under_a_nest_lock_names_both_subclasses() {
    let _s = serial();
    let a0 = Mutex::with_class((), &RETAKE_A);
    let a1 = Mutex::with_class((), &RETAKE_A);
    let _g0 = a0.lock_nested(1);
    let _g1 = a1.lock();
    let retake = catch_unwind(AssertUnwindSafe(|| drop(a0.lock_nest_lock(&a0))));
    assert!(retake.is_err(), "re-taking a held lock must panic");
    assert_eq!(
        reports(),
        vec![(ReportKind::RecursiveLocking, set(&["retake_a", "retake_a/1"]))]
    );
}

static RETAKE_B: LockClass = LockClass::new("retake_b");
static RETAKE_NEST: LockClass = LockClass::new("retake_nest");

/// `b0` is held only as a lock merged into `b1`'s entry; taking it again as subclass 1 must
/// name the entry it is merged into (`retake_b`) as the held lock, not the acquisition itself.
#[test]
fn retake_of_a_merged_lock_names_the_entry_it_is_merged_into() {
    let _s = serial();
    let n = Mutex::with_class((), &RETAKE_NEST);
    let b0 = Mutex::with_class((), &RETAKE_B);
    let b1 = Mutex::with_class((), &RETAKE_B);
    let _gn = n.lock();
    let _g1 = b1.lock();
    let _g0 = b0.lock_nest_lock(&n);
    let retake = catch_unwind(AssertUnwindSafe(|| drop(b0.lock_nested(1))));
    assert!(retake.is_err(), "re-taking a held lock must panic");
    let got = reports();
    assert!(
        got.contains(&(ReportKind::RecursiveLocking, set(&["retake_b", "retake_b/1"]))),
        "{got:?}"
    );
    assert!(
        !got.contains(&(ReportKind::RecursiveLocking, set(&["retake_b/1"]))),
        "{got:?}"
    );
}

/// The closest legitimate pattern: the same locks without the re-take report nothing.
#[test]
fn merged_nest_locks_without_a_retake_report_nothing() {
    let _s = serial();
    let n = Mutex::with_class((), &RETAKE_NEST);
    let b0 = Mutex::with_class((), &RETAKE_B);
    let b1 = Mutex::with_class((), &RETAKE_B);
    let _gn = n.lock();
    let _g1 = b1.lock_nest_lock(&n);
    let _g0 = b0.lock_nest_lock(&n);
    assert_eq!(reports(), vec![]);
}

static HIDE_S: LockClass = LockClass::new("hide_s");
static HIDE_B: LockClass = LockClass::new("hide_b");

/// `s0` write-held, `s1` (same class) read-held above it, then `b`: the thread holds `s0`
/// exclusively while it waits for `b`, a dependency `hide_s -(EN)-> hide_b`. With `b` held, a
/// recursive read of `s0` waits behind its writer: `hide_b -(ER)-> hide_s`, a strong cycle —
/// two threads doing this deadlock. Recording only the dependency from the nearest held lock
/// (`s1`, a reader: `-(SN)->`) loses it, because the same-class step `s0 -> s1` is a recursion
/// and is never recorded as a dependency.
#[test]
fn a_same_class_reader_in_between_does_not_hide_the_writer_below() {
    let _s = serial();
    let s0 = lockdep::RwLock::with_class((), &HIDE_S);
    let s1 = lockdep::RwLock::with_class((), &HIDE_S);
    let b = Mutex::with_class((), &HIDE_B);
    {
        let _w = s0.write();
        let _r = s1.read(); // the recursion is reported; validation goes on
        let _b = b.lock();
    }
    assert_eq!(reports(), vec![(ReportKind::RecursiveLocking, set(&["hide_s"]))]);
    let _b = b.lock();
    let _r = s0.read_recursive();
    assert_eq!(
        reports(),
        vec![(ReportKind::CircularDependency, set(&["hide_b", "hide_s"]))]
    );
}

/// The closest legitimate pattern: only readers of `hide_s` under `b`'s acquisition, so the
/// dependency is `-(SN)->`, and a recursive read under `b` closes no strong cycle.
#[test]
fn readers_in_between_and_a_recursive_read_back_report_no_cycle() {
    let _s = serial();
    let s0 = lockdep::RwLock::with_class((), &HIDE_S);
    let b = Mutex::with_class((), &HIDE_B);
    {
        let _r = s0.read();
        let _b = b.lock();
    }
    let _b = b.lock();
    let _r = s0.read_recursive();
    assert_eq!(reports(), vec![]);
}

static MERGED_X: LockClass = LockClass::new("merged_x");
static MERGED_Y: LockClass = LockClass::new("merged_y");
static MERGED_N: LockClass = LockClass::new("merged_n");

/// `x0` is held merged into `x1`'s entry (the kernel's `references`): it is held, so a lock
/// nested under it has its nest lock (the kernel's `match_held_lock` counts a merged entry for
/// every lock of its class).
#[test]
fn a_merged_lock_is_held_as_a_nest_lock() {
    let _s = serial();
    let n = Mutex::with_class((), &MERGED_N);
    let x0 = Mutex::with_class((), &MERGED_X);
    let x1 = Mutex::with_class((), &MERGED_X);
    let y = Mutex::with_class((), &MERGED_Y);
    let _gn = n.lock();
    let _g1 = x1.lock();
    let _g0 = x0.lock_nest_lock(&n);
    let _gy = y.lock_nest_lock(&x0);
    assert_eq!(reports(), vec![]);
}

/// The other side: nested under a lock of that class that is not held at all is reported.
#[test]
fn nested_under_an_unheld_lock_of_a_merged_class_is_reported() {
    let _s = serial();
    let n = Mutex::with_class((), &MERGED_N);
    let x1 = Mutex::with_class((), &MERGED_X);
    let x2 = Mutex::with_class((), &MERGED_X);
    let y = Mutex::with_class((), &MERGED_Y);
    let _gn = n.lock();
    let _g1 = x1.lock();
    let _gy = y.lock_nest_lock(&x2);
    assert_eq!(reports(), vec![(ReportKind::NestLockNotHeld, set(&["merged_y"]))]);
}

static UNHELD_B: LockClass = LockClass::new("unheld_b");
static UNHELD_NEST: LockClass = LockClass::new("unheld_nest");

/// `b0` held as subclass 1, `b1` (subclass 0) above it; taking `b0` again as subclass 0 under a
/// nest lock that is not held is a re-take, not one more lock merged into `b1`'s entry: it waits
/// for itself while holding `b1`, which nothing serialises, so besides the missing nest lock and
/// the re-take it is a recursion over `b1`.
#[test]
fn a_retake_under_an_unheld_nest_lock_is_not_merged() {
    let _s = serial();
    let n = Mutex::with_class((), &UNHELD_NEST);
    let m = Mutex::with_class((), &UNHELD_NEST);
    let b0 = Mutex::with_class((), &UNHELD_B);
    let b1 = Mutex::with_class((), &UNHELD_B);
    let _gn = n.lock();
    let _g0 = b0.lock_nested(1);
    let _g1 = b1.lock_nest_lock(&n);
    let retake = catch_unwind(AssertUnwindSafe(|| drop(b0.lock_nest_lock(&m))));
    assert!(retake.is_err(), "re-taking a held lock must panic");
    let got: BTreeSet<_> = reports().into_iter().collect();
    let want: BTreeSet<_> = [
        (ReportKind::NestLockNotHeld, set(&["unheld_b"])),
        (ReportKind::RecursiveLocking, set(&["unheld_b"])),
        (ReportKind::RecursiveLocking, set(&["unheld_b", "unheld_b/1"])),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

/// The closest legitimate pattern: the same re-take under the nest lock that is held is
/// serialised against `b1` by it, so only the re-take itself is reported.
#[test]
fn a_retake_under_a_held_nest_lock_is_only_a_retake() {
    let _s = serial();
    let n = Mutex::with_class((), &UNHELD_NEST);
    let b0 = Mutex::with_class((), &UNHELD_B);
    let b1 = Mutex::with_class((), &UNHELD_B);
    let _gn = n.lock();
    let _g0 = b0.lock_nested(1);
    let _g1 = b1.lock_nest_lock(&n);
    let retake = catch_unwind(AssertUnwindSafe(|| drop(b0.lock_nest_lock(&n))));
    assert!(retake.is_err(), "re-taking a held lock must panic");
    assert_eq!(
        reports(),
        vec![(ReportKind::RecursiveLocking, set(&["unheld_b", "unheld_b/1"]))]
    );
}

static CACHED_N: LockClass = LockClass::new("cached_n");
static CACHED_A: LockClass = LockClass::new("cached_a");
static CACHED_C: LockClass = LockClass::new("cached_c");

/// Takes `n'`, `a0`, `c`, then `a1` nested under `nest` (`n'` is `held_n`).
fn nest_chain(held_n: &Mutex<()>, nest: &Mutex<()>, a0: &Mutex<()>, a1: &Mutex<()>, c: &Mutex<()>) {
    let _gn = held_n.lock();
    let _g0 = a0.lock();
    let _gc = c.lock();
    let _g1 = a1.lock_nest_lock(nest);
}

/// The chain `n a c a` validated while the nest lock is held skips the recursion and the
/// dependency `c -> a` (the nest lock serialises it); the same classes under a nest lock that
/// is not held are nothing of the kind, and must be validated, not taken from the cache.
#[test]
fn a_chain_validated_under_its_nest_lock_does_not_stand_for_one_without_it() {
    let _s = serial();
    let n = Mutex::with_class((), &CACHED_N);
    let other = Mutex::with_class((), &CACHED_N);
    let a0 = Mutex::with_class((), &CACHED_A);
    let a1 = Mutex::with_class((), &CACHED_A);
    let c = Mutex::with_class((), &CACHED_C);
    nest_chain(&n, &n, &a0, &a1, &c);
    assert_eq!(reports(), vec![]);
    nest_chain(&other, &n, &a0, &a1, &c);
    let got: BTreeSet<_> = reports().into_iter().collect();
    let want: BTreeSet<_> = [
        (ReportKind::NestLockNotHeld, set(&["cached_a"])),
        (ReportKind::RecursiveLocking, set(&["cached_a"])),
        (ReportKind::CircularDependency, set(&["cached_a", "cached_c"])),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

/// The closest legitimate pattern: the chain taken again under its nest lock reports nothing.
#[test]
fn a_chain_validated_under_its_nest_lock_holds_again_under_it() {
    let _s = serial();
    let n = Mutex::with_class((), &CACHED_N);
    let a0 = Mutex::with_class((), &CACHED_A);
    let a1 = Mutex::with_class((), &CACHED_A);
    let c = Mutex::with_class((), &CACHED_C);
    nest_chain(&n, &n, &a0, &a1, &c);
    nest_chain(&n, &n, &a0, &a1, &c);
    assert_eq!(reports(), vec![]);
}

static ABOVE_P: LockClass = LockClass::new("above_p");
static ABOVE_B: LockClass = LockClass::new("above_b");

/// Takes `p0`, `b`, then `p1` nested under `nest`.
fn above_chain(p0: &Mutex<()>, b: &Mutex<()>, p1: &Mutex<()>, nest: &Mutex<()>) {
    let _g0 = p0.lock();
    let _gb = b.lock();
    let _g1 = p1.lock_nest_lock(nest);
}

/// A nest lock held above the lock of the class it would serialise against serialises nothing:
/// `p0 b p1` under `b` is a recursion, and `b -> above_p` closes `above_p -> above_b ->
/// above_p`. The same classes were validated before under `p0` as the nest lock (serialised,
/// nothing to record), and that chain must not stand for this one.
#[test]
fn a_nest_lock_above_the_same_class_lock_serialises_nothing() {
    let _s = serial();
    let p0 = Mutex::with_class((), &ABOVE_P);
    let p1 = Mutex::with_class((), &ABOVE_P);
    let b = Mutex::with_class((), &ABOVE_B);
    above_chain(&p0, &b, &p1, &p0);
    assert_eq!(reports(), vec![]);
    above_chain(&p0, &b, &p1, &b);
    let got: BTreeSet<_> = reports().into_iter().collect();
    let want: BTreeSet<_> = [
        (ReportKind::RecursiveLocking, set(&["above_p"])),
        (ReportKind::CircularDependency, set(&["above_b", "above_p"])),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

static IMPLIED_R: LockClass = LockClass::new("implied_r");
static IMPLIED_X: LockClass = LockClass::new("implied_x");
static IMPLIED_S: LockClass = LockClass::new("implied_s");

/// `r -(EN)-> s` first; then `r(rr) x s` records `r -(SN)-> x -(EN)-> s` (the validator leaves
/// `r -> s` out: implied through `x`). A writer of `r` taken over all three closes two strong
/// cycles, `r -> s -> r` and `r -> x -> r` (`x -(EN)-> r` is a dependency of its own), and the
/// second must be reported too; the validator records only the dependency from the nearest
/// lock (`s -> r`), whose cycle is the first.
#[test]

fn a_cycle_through_an_implied_dependency_is_reported() {
    let _s = serial();
    let r0 = lockdep::RwLock::with_class((), &IMPLIED_R);
    let r1 = lockdep::RwLock::with_class((), &IMPLIED_R);
    let x = Mutex::with_class((), &IMPLIED_X);
    let s = Mutex::with_class((), &IMPLIED_S);
    {
        let _w = r0.write();
        let _s = s.lock();
    }
    {
        let _r = r0.read_recursive();
        let _x = x.lock();
        let _s = s.lock();
        let _w = r1.write(); // a recursion (reported), and the dependencies into `r`
    }
    let got = reports();
    assert!(
        got.iter().any(|(k, c)| *k == ReportKind::CircularDependency
            && c.contains("implied_x")
            && c.contains("implied_r")),
        "{got:?}"
    );
}

static SELF_R: LockClass = LockClass::new("self_r");
static SELF_B: LockClass = LockClass::new("self_b");
static SELF_C: LockClass = LockClass::new("self_c");

/// Builds `self_b ⇄ self_c` (reported), `self_c -(EN)-> self_r` if `with_c_to_r`,
/// `self_b -(ER)-> self_r` and then `self_r -(EN)-> self_b`, whose shortest cycle is
/// `self_r → self_b → self_r`: no report names `self_r → self_b → self_c → self_r`, a strong
/// cycle through a writer of `self_r` and back to a plain acquisition of it. Then, holding a
/// reader and a writer (a recursion) of `self_r`, takes a third lock of it as a recursive
/// reader. Returns the reports of the building and those of that last acquisition.
fn recursive_read_over_a_walk_back(
    with_c_to_r: bool,
) -> (Vec<(ReportKind, BTreeSet<String>)>, Vec<lockdep::Report>) {
    let r = [(); 3].map(|_| lockdep::RwLock::with_class((), &SELF_R));
    let b = Mutex::with_class((), &SELF_B);
    let c = Mutex::with_class((), &SELF_C);
    for (first, second) in [(&b, &c), (&c, &b)] {
        let _f = first.lock();
        let _s = second.lock();
    }
    if with_c_to_r {
        let _c = c.lock();
        let _r = r[0].read();
    }
    {
        let _b = b.lock();
        let _r = r[0].read_recursive();
    }
    {
        let _w = r[0].write();
        let _b = b.lock();
    }
    let built = reports();
    let _r1 = r[1].read();
    let _w2 = r[2].write(); // a recursion (reported)
    let _ = reports();
    let _r0 = r[0].read_recursive();
    (built, lockdep::take_reports())
}

/// A recursive read of `self_r` over a reader of its class (allowed by itself) closes the cycle
/// `self_r → self_b → self_c → self_r` that leaves through a writer and comes back as a plain
/// acquisition; the same acquisition is also a recursion over a writer of the class (reported
/// already, one step before). The cycle is reported as a circular dependency naming its classes,
/// as the kernel does — not as a second recursion report about `self_r` alone, which says
/// nothing of the other locks and cannot be told from the recursion over the writer.
#[test]
fn a_recursive_read_closing_a_cycle_through_other_locks_is_a_circular_report() {
    let _s = serial();
    let (built, got) = recursive_read_over_a_walk_back(true);
    let cycle = |names: &[&str]| (ReportKind::CircularDependency, set(names));
    assert!(built.contains(&cycle(&["self_b", "self_c"])), "{built:?}");
    assert!(built.contains(&cycle(&["self_b", "self_r"])), "{built:?}");
    assert!(
        !built.contains(&cycle(&["self_b", "self_c", "self_r"])),
        "{built:?}"
    );
    let kinds: Vec<_> = got.iter().map(|r| (r.kind(), r.classes().len())).collect();
    assert_eq!(kinds, vec![(ReportKind::CircularDependency, 3)], "{got:?}");
    assert_eq!(
        got[0].cycle(),
        ["self_r", "self_b", "self_c", "self_r"],
        "{:?}",
        got[0]
    );
}

/// The closest legitimate pattern: without `self_c -(EN)-> self_r` no strong path leads from a
/// writer of `self_r` back to a plain acquisition of it (`self_b -(ER)-> self_r` ends in a
/// recursive read), so the recursive read closes nothing.
#[test]
fn a_recursive_read_with_only_a_weak_way_back_reports_nothing() {
    let _s = serial();
    let (_, got) = recursive_read_over_a_walk_back(false);
    assert!(got.is_empty(), "{got:?}");
}

static TWICE_R: LockClass = LockClass::new("twice_r");
static TWICE_S: LockClass = LockClass::new("twice_s");

/// Holding `twice_r/1` (read) and two locks of `twice_s`, takes a writer of `twice_r`. The upper
/// `twice_s` adds `twice_s -> twice_r` (closing `twice_r → twice_s → twice_r`); the lower one,
/// the lock that implies the rest, finds that dependency already there — added a moment before
/// by the same acquisition. `twice_r/1 -(SN)-> twice_r` is then implied through it and new all
/// the same, and with `twice_r/1` taken under a reader of `twice_r` it closes
/// `twice_r → twice_r/1 → twice_r`, another deadlock. `with_way_back`: whether that reader
/// chain is built. Returns the reports of the last acquisition.
fn writer_over_two_of_a_class(with_way_back: bool) -> Vec<(ReportKind, BTreeSet<String>)> {
    let r = [(); 3].map(|_| lockdep::RwLock::with_class((), &TWICE_R));
    let s = [(); 2].map(|_| Mutex::with_class((), &TWICE_S));
    {
        let _w = r[0].write();
        let _s = s[0].lock();
    }
    if with_way_back {
        let _a = r[0].read();
        let _b = r[1].read_nested(1);
    }
    let _ = reports();
    let _b = r[1].read_nested(1);
    let _s0 = s[0].lock();
    let _s1 = s[1].lock();
    let _ = reports(); // the recursion of `twice_s`
    let _w = r[2].write();
    reports()
}

#[test]
fn a_dependency_implied_through_one_added_by_the_same_acquisition_is_searched() {
    let _s = serial();
    let got: BTreeSet<_> = writer_over_two_of_a_class(true).into_iter().collect();
    let want: BTreeSet<_> = [
        (ReportKind::CircularDependency, set(&["twice_r", "twice_s"])),
        (ReportKind::CircularDependency, set(&["twice_r", "twice_r/1"])),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

/// The closest legitimate pattern: `twice_r/1` never taken under `twice_r`, so only the cycle
/// through `twice_s` is reported.
#[test]
fn without_a_way_back_only_the_nearest_cycle_is_reported() {
    let _s = serial();
    assert_eq!(
        writer_over_two_of_a_class(false),
        vec![(ReportKind::CircularDependency, set(&["twice_r", "twice_s"]))]
    );
}
