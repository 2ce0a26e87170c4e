//! `Hrtimer`: callbacks in hard-irq context on the timer thread, restarts, and the R34 model
//! of `hrtimer_cancel` (a pseudo-lock, stronger than kernel lockdep, switchable).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex as StdMutex};
use std::thread;
use std::time::Duration;

use drm_sim::clock::Clock;
use drm_sim::hrtimer::{set_cancel_tracking, Hrtimer, HrtimerRestart, TryToCancel};
use drm_sim::testing::{assert_one_report, kinds, serial};
use lockdep::{LockClass, ReportKind, SpinLock};

const PERIOD: Duration = Duration::from_millis(16);

#[test]
fn callback_runs_in_hard_irq_context_on_another_thread_and_restarts() {
    let _s = serial();
    let clock = Clock::manual();
    let fired = Arc::new(AtomicU32::new(0));
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let (f, sn) = (fired.clone(), seen.clone());
    let me = thread::current().id();
    let t = Hrtimer::new("(&test->hrtimer)", &clock, move |t| {
        sn.lock().unwrap().push((
            lockdep::in_hardirq() || !lockdep::ENABLED,
            thread::current().id() != me,
        ));
        t.forward(PERIOD);
        if f.fetch_add(1, Ordering::SeqCst) + 1 < 3 {
            HrtimerRestart::Restart
        } else {
            HrtimerRestart::NoRestart
        }
    });
    t.start(PERIOD);
    assert!(t.is_queued());
    for _ in 0..5 {
        clock.advance(PERIOD);
    }
    assert_eq!(fired.load(Ordering::SeqCst), 3, "two restarts, then it stopped");
    assert!(!t.is_active());
    assert!(seen.lock().unwrap().iter().all(|&(irq, other)| irq && other));
    assert!(kinds().is_empty());
}

#[test]
fn try_to_cancel_disarms_an_armed_timer() {
    let _s = serial();
    let clock = Clock::manual();
    let fired = Arc::new(AtomicU32::new(0));
    let f = fired.clone();
    let t = Hrtimer::new("(&test->hrtimer)", &clock, move |_| {
        f.fetch_add(1, Ordering::SeqCst);
        HrtimerRestart::NoRestart
    });
    assert_eq!(t.try_to_cancel(), TryToCancel::Inactive);
    t.start(PERIOD);
    assert_eq!(t.try_to_cancel(), TryToCancel::Cancelled);
    clock.advance(PERIOD);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    assert!(!t.cancel());
}

/// `hrtimer_cancel` returns only after a running callback has returned, and a callback that
/// re-armed itself meanwhile is disarmed.
#[test]
fn cancel_waits_for_the_running_callback() {
    let _s = serial();
    let clock = Clock::real();
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = StdMutex::new(go_rx);
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let t = Hrtimer::new("(&test->slow_hrtimer)", &clock, move |t| {
        if r.fetch_add(1, Ordering::SeqCst) == 0 {
            started_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
        }
        t.forward(Duration::from_millis(1));
        HrtimerRestart::Restart
    });
    t.start(Duration::ZERO);
    started_rx.recv().unwrap();
    let t2 = t.clone();
    let (cancelled_tx, cancelled_rx) = mpsc::channel();
    let canceller = thread::spawn(move || {
        t2.cancel();
        cancelled_tx.send(()).unwrap();
    });
    assert!(
        cancelled_rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "cancel returned while the callback ran"
    );
    go_tx.send(()).unwrap();
    cancelled_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    canceller.join().unwrap();
    assert!(!t.is_active());
    let n = runs.load(Ordering::SeqCst);
    thread::sleep(Duration::from_millis(5));
    assert_eq!(runs.load(Ordering::SeqCst), n, "re-armed after cancel");
    assert!(kinds().is_empty());
}

static TIME_LOCK: LockClass = LockClass::new("&test->time_lock");

/// A1 in miniature: cancelling under a lock the callback takes is a reported cycle with
/// tracking on, invisible with it off (as kernel lockdep), and `try_to_cancel` under the
/// lock is the legitimate pattern.
#[test]
fn cancel_under_a_lock_the_callback_takes_is_reported_only_when_tracked() {
    let _s = serial();
    let clock = Clock::manual();
    let lock = Arc::new(SpinLock::with_class((), &TIME_LOCK));
    let l = lock.clone();
    let t = Hrtimer::new("(&test->vblank_hrtimer)", &clock, move |_| {
        let _g = l.lock_irqsave();
        HrtimerRestart::NoRestart
    });
    t.start(PERIOD);
    clock.advance(PERIOD); // the callback ran: timer -> lock is known

    t.start(PERIOD);
    {
        let _g = lock.lock_irqsave();
        assert_eq!(t.try_to_cancel(), TryToCancel::Cancelled);
    }
    assert!(kinds().is_empty());

    set_cancel_tracking(false);
    {
        let _g = lock.lock_irqsave();
        t.cancel();
    }
    set_cancel_tracking(true);
    assert!(kinds().is_empty(), "untracked, as kernel lockdep");

    {
        let _g = lock.lock_irqsave();
        t.cancel();
    }
    assert_one_report(
        ReportKind::CircularDependency,
        &["&test->time_lock", "(&test->vblank_hrtimer)"],
    );
}

/// Cancelling with nothing held, from process context with interrupts on, is clean even
/// though the callback's pseudo-lock is used in hard-irq context.
#[test]
fn cancel_from_process_context_is_clean() {
    let _s = serial();
    let clock = Clock::manual();
    let t = Hrtimer::new("(&test->hrtimer)", &clock, |_| HrtimerRestart::NoRestart);
    t.start(PERIOD);
    clock.advance(PERIOD);
    t.start(PERIOD);
    assert!(t.cancel());
    assert!(kinds().is_empty());
}
