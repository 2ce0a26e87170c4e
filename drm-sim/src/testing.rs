//! Test support: serialising the tests that use the validator's process-wide state. No kernel
//! counterpart.
//!
//! `lockdep`'s reports, dependencies and action are global to the process, and the test
//! harness runs the tests of one binary on several threads. A test that drains reports, resets
//! the validator or expects a report takes [`serial`] first, so it never sees another test's
//! reports and another test never sees its own. Unit tests (`#[cfg(test)]` modules) and the
//! integration tests in `drm-sim/tests/` use it alike, which is why it is public.
//!
//! ```
//! let _s = drm_sim::testing::serial();
//! // ... exercise the stack ...
//! assert!(drm_sim::testing::kinds().is_empty());
//! ```

use lockdep::ReportKind;
use std::sync::{Mutex, MutexGuard, PoisonError};

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the calling test against every other caller in this process and starts it with
/// a clean validator: everything learned before is forgotten (`lockdep::reset`) and reports are
/// collected, not printed (`Action::Collect`). Hold the guard for the whole test.
///
/// A test that panicked while holding it does not poison it: the next test resets anyway.
pub fn serial() -> MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    lockdep::set_action(lockdep::Action::Collect);
    lockdep::reset();
    g
}

/// The kinds of the reports recorded since the last call (or the last [`serial`]), oldest
/// first. Drains them.
pub fn kinds() -> Vec<ReportKind> {
    lockdep::take_reports().iter().map(|r| r.kind()).collect()
}

/// The reports recorded since the last call, oldest first (for tests that check which classes
/// a report names, through `Report::classes`). Drains them.
pub fn reports() -> Vec<lockdep::Report> {
    lockdep::take_reports()
}

/// The reports a test expects: `kinds` when the validator is built in, none when it is not
/// (`--no-default-features`), so the functional half of every test still runs there.
pub fn expect(kinds: &[ReportKind]) -> Vec<ReportKind> {
    if lockdep::ENABLED {
        kinds.to_vec()
    } else {
        Vec::new()
    }
}

/// Drains the reports and asserts they are exactly one of `kind` (none with the validator
/// off) and that it names every class in `classes` (as `Report::classes` lists them).
///
/// # Panics
/// If the reports differ, so a test fails with what was reported.
#[track_caller]
pub fn assert_one_report(kind: ReportKind, classes: &[&str]) {
    let r = lockdep::take_reports();
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        expect(&[kind]),
        "{r:#?}"
    );
    if let Some(r) = r.first() {
        let named = r.classes();
        for c in classes {
            assert!(named.contains(c), "{c} missing from {named:?}");
        }
    }
}

/// Builds the `drm-sim` binary without the validator (`--no-default-features`) into
/// `<workspace>/target/drm-sim-off` and returns its path: the tests and the bench compare a
/// run against it, and a feature is fixed at compile time, so it is a second build. `release`
/// picks the profile. Cargo's own up-to-date check makes repeated calls cheap.
///
/// # Panics
/// If cargo cannot be run or the build fails (a test or bench cannot go on without it).
pub fn build_without_validator(release: bool) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("drm-sim lives in the workspace");
    let target = root.join("target").join("drm-sim-off");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "-q", "-p", "drm-sim", "--no-default-features"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.arg("--target-dir").arg(&target).status().expect("run cargo");
    assert!(status.success(), "building drm-sim without default features");
    target
        .join(if release { "release" } else { "debug" })
        .join("drm-sim")
}
