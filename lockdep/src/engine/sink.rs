//! Where reports go: the in-process list ([`crate::take_reports`]) and the configured
//! [`Action`](crate::Action).
//!
//! Reports are built under the validator's internal lock and while a thread's held-lock stack
//! is borrowed, but they are only *dispatched* — printed, handed to a hook, or turned into a
//! panic — after both are released: [`defer`] queues a report in a thread-local, and the
//! validator calls [`flush`] once it is out of its own state. So a sink may take instrumented
//! locks (a logger, a tracing subscriber) without deadlocking or re-entering the validator.

use crate::{Action, Report};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::io::Write;

static REPORTS: Mutex<Vec<Report>> = Mutex::new(Vec::new());

thread_local! {
    static PENDING: RefCell<Vec<Report>> = const { RefCell::new(Vec::new()) };
    /// Set just before the validator itself panics, so the panic hook does not report it.
    static OWN_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the coming panic as the validator's own (a report turned into a panic, or a certain
/// self-deadlock refused).
pub(crate) fn own_panic() {
    let _ = OWN_PANIC.try_with(|f| f.set(true));
}

/// Whether the current panic is the validator's own (and forgets it).
pub(crate) fn take_own_panic() -> bool {
    OWN_PANIC.try_with(|f| f.replace(false)).unwrap_or(false)
}

/// Queues a report to be dispatched by the next [`flush`] on this thread.
///
/// During thread teardown, once the queue itself is gone, the report is recorded and printed
/// at once (never turned into a panic: that would abort the process).
pub(crate) fn defer(r: Report) {
    let mut slot = Some(r);
    let _ = PENDING.try_with(|p| p.borrow_mut().extend(slot.take()));
    if let Some(r) = slot {
        record_and_print(r);
    }
}

fn record_and_print(r: Report) {
    if crate::action() != Action::Collect {
        print(&r);
    }
    REPORTS.lock().push(r);
}

/// Dispatches the queued reports. Must be called with no validator state borrowed.
/// With [`Action::Panic`] the first report becomes a panic (unless the thread is already
/// panicking, or `may_panic` is false, in which case it is printed).
///
/// Dispatching allocates and prints (symbolising stacks), so it runs as validator work: lock
/// operations made meanwhile — by an allocator, or by a panic hook when the report becomes a
/// panic — are untracked. From inside the validator it does nothing; the reports stay queued
/// for the next flush.
pub(crate) fn flush(may_panic: bool) {
    let pending = PENDING.try_with(|p| p.try_borrow().is_ok_and(|p| !p.is_empty()));
    if pending != Ok(true) {
        return;
    }
    super::held::guarded(|_| {
        let Ok(reports) = PENDING.try_with(|p| std::mem::take(&mut *p.borrow_mut())) else {
            return;
        };
        REPORTS.lock().extend(reports.iter().cloned());
        let action = crate::action();
        for r in reports {
            match action {
                Action::Collect => {}
                Action::Panic if may_panic && !std::thread::panicking() => {
                    own_panic();
                    panic!("{r}");
                }
                Action::Warn | Action::Panic => print(&r),
            }
        }
    });
}

/// Writes a report to stderr in one piece, framed like a kernel splat.
pub(crate) fn print(r: &Report) {
    let bar = "=".repeat(r.headline().chars().count());
    let text = format!("\n{bar}\n{r}\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Drains the recorded reports. Only moves the list out, so it needs no guarded region.
pub(crate) fn take_reports() -> Vec<Report> {
    std::mem::take(&mut *REPORTS.lock())
}

pub(crate) fn clear() {
    REPORTS.lock().clear();
    let _ = PENDING.try_with(|p| p.borrow_mut().clear());
}
