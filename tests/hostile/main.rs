//! Hostile and bad input: every misuse a program can throw at the validator gets a clear report
//! or is handled, and never a crash, a hang, a corrupted held stack or silenced later checks.
//!
//! Each test ends with [`still_validates`]: this thread holds nothing and a fresh inversion
//! between two new classes is still reported, so a case that quietly broke the validator fails
//! where it happened rather than somewhere later.
//!
//! Cases that change process-wide state no [`lockdep::reset`] undoes (the class table) or that
//! would take the whole process down if they went wrong (a panic where the runtime aborts) run
//! their body in a child process of this test binary ([`in_child`]).

mod balance;
mod capacity;
mod depth;
mod exit;
mod forget;
mod lifetimes;
mod statics;
mod thread_locals;
mod unwind;

use lockdep::{LockClass, Mutex, ReportKind};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Asserts that the validator still works: this thread holds no lock, and an ABBA between two
/// classes never seen before is reported exactly once (the legitimate order alone is not).
/// Drains the reports recorded before it, which the caller must have checked already.
#[track_caller]
pub fn still_validates() {
    let (a, b) = fresh_pair();
    still_validates_with(a, b);
}

/// [`still_validates`] with the two classes given (for a process whose class table is full,
/// where only classes registered before can be validated).
#[track_caller]
pub fn still_validates_with(a: &'static LockClass, b: &'static LockClass) {
    let leftover = lockdep::take_reports();
    assert!(leftover.is_empty(), "unchecked reports: {leftover:#?}");
    lockdep::assert_none_held();
    assert_eq!(lockdep_suite::kinds(), vec![], "this thread still holds locks");
    let (a, b) = (Mutex::with_class((), a), Mutex::with_class((), b));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    assert_eq!(lockdep_suite::kinds(), vec![], "a legitimate order was reported");
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    assert_eq!(
        lockdep_suite::kinds(),
        vec![ReportKind::CircularDependency],
        "a fresh inversion was not reported"
    );
}

/// Two classes nobody used before.
pub fn fresh_pair() -> (&'static LockClass, &'static LockClass) {
    (fresh_class("check-a"), fresh_class("check-b"))
}

/// A new class named after `what` and a process-unique number.
pub fn fresh_class(what: &str) -> &'static LockClass {
    static N: AtomicUsize = AtomicUsize::new(0);
    LockClass::register(format!("{what}-{}", N.fetch_add(1, Ordering::Relaxed)))
}

/// Set in the child process to the name of the test it runs.
const CHILD_VAR: &str = "LOCKDEP_HOSTILE_CHILD";

/// Runs the calling test in a child process of this binary: in the parent, spawns the child
/// (the same binary, filtered to the one test) and asserts that it passed, then returns `true`,
/// so the test returns at once; in the child, returns `false` and the test runs its body.
///
/// `test` is the test's path below the crate, as the harness names it (`module::function`).
pub fn in_child(test: &str) -> bool {
    if std::env::var(CHILD_VAR).is_ok_and(|v| v == test) {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_VAR, test)
        .output()
        .expect("spawn the child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child process for {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    true
}

/// The test's name for [`in_child`], from inside the test's module.
#[macro_export]
macro_rules! test_name {
    ($f:literal) => {
        concat!(module_path!(), "::", $f)
            .split_once("::")
            .map(|(_, rest)| rest)
            .unwrap()
    };
}
