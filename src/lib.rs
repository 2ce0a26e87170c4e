//! Support code shared by the cross-crate tests in `tests/` and the benchmarks in `benches/`.
//!
//! The validator's state is process-wide ([`lockdep::reset`], [`lockdep::take_reports`]), and
//! the test harness runs the tests of one binary on several threads at once. Tests that reset
//! or drain reports take [`serial`] first so they never see each other's reports.

use std::sync::{Mutex, MutexGuard, PoisonError};

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests that use the validator's global state, and starts each with a clean
/// one: everything recorded before is forgotten and reports are collected, not printed.
pub fn serial() -> MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    lockdep::set_action(lockdep::Action::Collect);
    lockdep::reset();
    g
}

/// The kinds of the reports recorded since the last call, in order.
pub fn kinds() -> Vec<lockdep::ReportKind> {
    lockdep::take_reports().iter().map(|r| r.kind()).collect()
}
