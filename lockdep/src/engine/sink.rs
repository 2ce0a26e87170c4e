//! Where reports go: the in-process list ([`crate::take_reports`]), stderr (per the
//! configured [`Action`](crate::Action)), the report directory ([`report_dir`]), the `tracing`
//! event (with the `tracing` feature) and the user's report hook ([`crate::set_report_hook`]).
//!
//! Reports are built under the validator's internal lock and while a thread's held-lock stack
//! is borrowed, but they are only *dispatched* after both are released: [`defer`] queues a
//! report in a thread-local, and the validator calls [`flush`] once it is out of its own state.
//! So a sink may take instrumented locks (a logger, a tracing subscriber, the hook's own
//! locks) without deadlocking or re-entering the validator.
//!
//! A report found *while the hook runs* on this thread (the hook took locks in a bad order)
//! is recorded, printed and written like any other, but not handed to the hook again: a hook
//! that trips the validator would otherwise recurse into itself.

use super::report_dir;
use crate::{Action, Report};
use parking_lot::{Mutex, RwLock};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static REPORTS: Mutex<Vec<Report>> = Mutex::new(Vec::new());

/// Reports found, by kind (index in [`ReportKind::ALL`](crate::ReportKind::ALL)), suppressed
/// ones included.
static FOUND: [AtomicU64; crate::ReportKind::ALL.len()] =
    [const { AtomicU64::new(0) }; crate::ReportKind::ALL.len()];

fn count(r: &Report) {
    if let Some(i) = crate::ReportKind::ALL.iter().position(|&k| k == r.kind()) {
        FOUND[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// The counts behind [`crate::Stats::reports`].
pub(crate) fn found() -> [u64; crate::ReportKind::ALL.len()] {
    std::array::from_fn(|i| FOUND[i].load(Ordering::Relaxed))
}

/// The user's callback (see [`crate::set_report_hook`]).
pub(crate) type Hook = Arc<dyn Fn(&Report) + Send + Sync + 'static>;
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

thread_local! {
    static PENDING: RefCell<Vec<Report>> = const { RefCell::new(Vec::new()) };
    /// Set just before the validator itself panics, so the panic hook does not report it.
    static OWN_PANIC: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread is running the report hook right now.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
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

/// Installs (or, with `None`, removes) the report hook.
pub(crate) fn set_hook(hook: Option<Hook>) {
    *HOOK.write() = hook;
}

/// Queues a report to be dispatched by the next [`flush`] on this thread.
///
/// During thread teardown, once the queue itself is gone, the report is recorded and printed
/// at once (never turned into a panic: that would abort the process, and never handed to the
/// hook or the report directory: the caller still holds the validator's state).
pub(crate) fn defer(r: Report) {
    let mut slot = Some(r);
    let _ = PENDING.try_with(|p| p.borrow_mut().extend(slot.take()));
    if let Some(r) = slot {
        record_and_print(r);
    }
}

fn record_and_print(r: Report) {
    count(&r);
    if super::suppress::is_suppressed(&r) {
        return;
    }
    if crate::action() != Action::Collect {
        print(&r);
    }
    REPORTS.lock().push(r);
}

/// Dispatches the queued reports. Must be called with no validator state borrowed.
/// With [`Action::Panic`] the first report becomes a panic (unless the thread is already
/// panicking, or `may_panic` is false, or the hook is running, or the thread is running its
/// thread-local destructors ([`super::teardown`]), in which case it is printed).
///
/// Recording, the report directory, the tracing event and printing allocate and may take
/// locks (symbolising, a subscriber), so they run as validator work: lock operations made
/// meanwhile are untracked. The report hook runs between the two guarded regions, outside the
/// validator, so its own locks are validated like any others (and what they find is not handed
/// back to it). From inside the validator this does nothing; the reports stay queued for the
/// next flush.
pub(crate) fn flush(may_panic: bool) {
    let pending = PENDING.try_with(|p| p.try_borrow().is_ok_and(|p| !p.is_empty()));
    if pending != Ok(true) {
        return;
    }
    let in_hook = IN_HOOK.try_with(Cell::get).unwrap_or(true);
    let reports = super::held::guarded(|_| {
        let mut reports = PENDING.try_with(|p| std::mem::take(&mut *p.borrow_mut())).ok()?;
        reports.iter().for_each(count);
        reports.retain(|r| !super::suppress::is_suppressed(r));
        super::annotate::usage(&mut reports);
        REPORTS.lock().extend(reports.iter().cloned());
        for r in &reports {
            report_dir::write(r);
            #[cfg(feature = "tracing")]
            crate::report::trace::emit(r);
        }
        Some(reports)
    })
    .flatten();
    let Some(reports) = reports.filter(|r| !r.is_empty()) else {
        return;
    };
    if !in_hook {
        reports.iter().for_each(call_hook);
    }
    let action = crate::action();
    super::held::guarded(|_| {
        for r in reports {
            match action {
                Action::Collect => {}
                Action::Panic
                    if may_panic
                        && !in_hook
                        && !std::thread::panicking()
                        && !super::teardown::in_tls_destructor() =>
                {
                    own_panic();
                    panic!("{r}");
                }
                Action::Warn | Action::Panic => print(&r),
            }
        }
    });
}

/// Hands one report to the user's hook, if one is installed, with [`IN_HOOK`] set meanwhile.
fn call_hook(r: &Report) {
    let hook = HOOK.read().clone();
    if let Some(hook) = hook {
        /// Clears the flag however the hook returns, a panic included.
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                let _ = IN_HOOK.try_with(|f| f.set(false));
            }
        }
        let _ = IN_HOOK.try_with(|f| f.set(true));
        let _reset = Reset;
        hook(r);
    }
}

/// The text of a report framed like a kernel splat, as stderr and the report directory get it.
pub(crate) fn framed(r: &Report) -> String {
    let bar = "=".repeat(r.headline().chars().count());
    format!("\n{bar}\n{r}\n")
}

/// Writes a report to stderr in one piece.
pub(crate) fn print(r: &Report) {
    let _ = std::io::stderr().lock().write_all(framed(r).as_bytes());
}

/// Drains the recorded reports. Only moves the list out, so it needs no guarded region.
pub(crate) fn take_reports() -> Vec<Report> {
    std::mem::take(&mut *REPORTS.lock())
}

pub(crate) fn clear() {
    REPORTS.lock().clear();
    let _ = PENDING.try_with(|p| p.borrow_mut().clear());
}
