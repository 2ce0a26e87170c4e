//! `Hrtimer`: a high-resolution timer whose callback runs in hard-irq context, and the
//! lockdep model of waiting for it. Mirrors kernel/time/hrtimer.c.
//!
//! # Contract
//! - [`Hrtimer::start`] arms the timer; when it expires its callback runs on the clock's
//!   timer thread (the "CPU" taking the timer interrupt, never the thread that armed it) in
//!   hard-irq context, and returns whether to run again ([`HrtimerRestart`]); a restarting
//!   callback sets its next period with [`Hrtimer::forward`] (`hrtimer_forward_now`).
//! - [`Hrtimer::cancel`] (`hrtimer_cancel`) disarms the timer and waits until a running
//!   callback has returned, so after it the callback is neither armed nor running (a
//!   callback that re-armed itself meanwhile is disarmed again).
//! - [`Hrtimer::try_to_cancel`] (`hrtimer_try_to_cancel`) never waits: it tells whether the
//!   callback is running, for callers that hold a lock the callback takes.
//!
//! # Locking
//! The clock's `&base->lock` (raw spinlock) only; nothing is held while the callback runs
//! besides the timer's pseudo-lock.
//!
//! # Annotations
//! - Each timer has a pseudo-lock named by its creator (e.g. `(&vkms_out->vblank_hrtimer)`;
//!   timers of one name share it), held around every run of the callback in hard-irq
//!   context. [`Hrtimer::cancel`] acquires and releases it (with interrupts off, as the
//!   kernel's `timer_delete_sync` does for `timer_list`), so cancelling under a lock the
//!   callback takes closes a cycle: the hard lockup of A1 (`&dev->vblank_time_lock` held
//!   across `hrtimer_cancel` while the vblank callback takes it) is reported.
//! - The kernel has no such map for hrtimers: lockdep misses A1. The check is stronger than
//!   the kernel and switchable ([`set_cancel_tracking`], on by default); with it off a
//!   report from this file never appears, which matches kernel lockdep.
//!
//! # Rules
//! R33 (the callback runs in hard-irq context: nothing in it may sleep), R34 (waiting for a
//! timer callback under a lock it takes).
//!
//! # Simplified
//! - Relative expiry only (`HRTIMER_MODE_REL`); no soft/hard mode split: every callback runs
//!   in the threaded hard-irq context of [`lockdep::irq_context`] (where a spinlock_t may be
//!   taken, as for `HRTIMER_MODE_REL` on a lockdep kernel).
//! - `forward` sets the next period to `interval` from the callback's return and reports one
//!   overrun; missed periods are not counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use lockdep::LockMap;

use crate::clock::{Clock, Timer};
use crate::workqueue::map_for;

/// Whether [`Hrtimer::cancel`] records its wait as a pseudo-lock acquisition.
static CANCEL_TRACKING: AtomicBool = AtomicBool::new(true);

/// Turns the R34 model of `hrtimer_cancel` on or off (on by default): off, cancelling under
/// a lock the callback takes is not reported, as with kernel lockdep.
pub fn set_cancel_tracking(on: bool) {
    CANCEL_TRACKING.store(on, Ordering::Relaxed);
}

/// Whether `hrtimer_cancel` is tracked (see [`set_cancel_tracking`]).
pub fn cancel_tracking() -> bool {
    CANCEL_TRACKING.load(Ordering::Relaxed)
}

/// What a callback asks for (`enum hrtimer_restart`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HrtimerRestart {
    /// `HRTIMER_NORESTART`: done until started again.
    NoRestart,
    /// `HRTIMER_RESTART`: run again after the period set by [`Hrtimer::forward`].
    Restart,
}

/// What [`Hrtimer::try_to_cancel`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryToCancel {
    /// 0: it was not armed.
    Inactive,
    /// 1: it was armed and is disarmed now.
    Cancelled,
    /// -1: the callback is running; it may re-arm itself.
    Running,
}

type Callback = Box<dyn Fn(&Hrtimer) -> HrtimerRestart + Send + Sync + 'static>;

/// A high-resolution timer (`struct hrtimer`).
///
/// ```
/// use drm_sim::clock::Clock;
/// use drm_sim::hrtimer::{Hrtimer, HrtimerRestart};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let clock = Clock::manual();
/// let fired = Arc::new(AtomicU32::new(0));
/// let f = fired.clone();
/// let t = Hrtimer::new("(&out->vblank_hrtimer)", &clock, move |t| {
///     f.fetch_add(1, Ordering::SeqCst);
///     t.forward(Duration::from_millis(16));
///     HrtimerRestart::Restart
/// });
/// t.start(Duration::from_millis(16));
/// clock.advance(Duration::from_millis(16));
/// clock.advance(Duration::from_millis(16));
/// assert_eq!(fired.load(Ordering::SeqCst), 2);
/// t.cancel();
/// ```
pub struct Hrtimer {
    timer: Arc<Timer>,
    /// The period a restarting callback asked for, in nanoseconds.
    interval: AtomicU64,
    callback: Callback,
}

impl Hrtimer {
    /// A timer on `clock` whose callback `f` runs in hard-irq context (`hrtimer_setup`).
    /// `name` names its pseudo-lock as lockdep would print a timer's map, e.g.
    /// `"(&vkms_out->vblank_hrtimer)"`.
    pub fn new(
        name: &str,
        clock: &Clock,
        f: impl Fn(&Hrtimer) -> HrtimerRestart + Send + Sync + 'static,
    ) -> Arc<Hrtimer> {
        let map = map_for(name);
        Arc::new_cyclic(|me: &Weak<Hrtimer>| {
            let me = me.clone();
            Hrtimer {
                timer: Timer::new_hrtimer(map, clock, move || {
                    if let Some(t) = me.upgrade() {
                        t.run();
                    }
                }),
                interval: AtomicU64::new(0),
                callback: Box::new(f),
            }
        })
    }

    /// One expiry, on the timer thread, the pseudo-lock held (`__run_hrtimer`).
    fn run(&self) {
        if (self.callback)(self) == HrtimerRestart::Restart {
            let ns = self.interval.load(Ordering::Relaxed);
            self.timer.mod_timer(Duration::from_nanos(ns));
        }
    }

    /// Its pseudo-lock's name.
    pub fn name(&self) -> &'static str {
        self.timer.lockdep_map().name()
    }

    /// Its pseudo-lock.
    pub fn lockdep_map(&self) -> &'static LockMap {
        self.timer.lockdep_map()
    }

    /// Arms it to expire `delay` from now (`hrtimer_start(timer, delay, HRTIMER_MODE_REL)`),
    /// replacing an earlier expiry. Callable from any context. The period of later restarts
    /// is `delay` until [`forward`](Self::forward) changes it.
    #[doc(alias = "hrtimer_start")]
    pub fn start(&self, delay: Duration) {
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.interval.store(ns, Ordering::Relaxed);
        // `Timer::mod_timer` takes an `Arc` to re-arm from the callback; the timer is ours.
        self.timer.mod_timer(Duration::from_nanos(ns));
    }

    /// Sets the next expiry `interval` after now (`hrtimer_forward_now`), for a callback
    /// about to return [`HrtimerRestart::Restart`]. Returns the overruns (always 1 here).
    #[doc(alias = "hrtimer_forward_now")]
    pub fn forward(&self, interval: Duration) -> u64 {
        let ns = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        self.interval.store(ns, Ordering::Relaxed);
        1
    }

    /// Whether it is armed (`hrtimer_is_queued`).
    #[doc(alias = "hrtimer_is_queued")]
    pub fn is_queued(&self) -> bool {
        self.timer.is_pending()
    }

    /// Whether its callback is running now (`hrtimer_callback_running`).
    #[doc(alias = "hrtimer_callback_running")]
    pub fn callback_running(&self) -> bool {
        self.timer.is_callback_running()
    }

    /// Whether it is armed or running (`hrtimer_active`).
    #[doc(alias = "hrtimer_active")]
    pub fn is_active(&self) -> bool {
        self.is_queued() || self.callback_running()
    }

    /// Disarms it without waiting (`hrtimer_try_to_cancel`). Callable from any context,
    /// under any lock.
    #[doc(alias = "hrtimer_try_to_cancel")]
    pub fn try_to_cancel(&self) -> TryToCancel {
        if self.callback_running() {
            // The kernel leaves an expiring timer alone: the callback decides.
            return TryToCancel::Running;
        }
        if self.timer.del_timer() {
            TryToCancel::Cancelled
        } else {
            TryToCancel::Inactive
        }
    }

    /// Records the wait of an `hrtimer_cancel` here without doing it: the pseudo-lock
    /// acquire+release alone, with interrupts off (when tracking is on). For a path that
    /// must not really wait, but whose waiting would be the bug to report.
    #[track_caller]
    pub fn might_cancel(&self) {
        if cancel_tracking() {
            let _irqs = lockdep::irqs_disabled();
            self.timer.lockdep_map().sync();
        }
    }

    /// Disarms it and waits for a running callback (`hrtimer_cancel`); a callback that
    /// re-armed the timer while it was waited for is disarmed again. Returns whether it was
    /// armed. Spins rather than sleeps (it may be called under a spinlock), but must not be
    /// called under a lock the callback takes (R34): that is reported while tracking is on.
    /// From the timer's own callback it does not wait (the kernel would deadlock).
    #[doc(alias = "hrtimer_cancel")]
    #[track_caller]
    pub fn cancel(&self) -> bool {
        self.might_cancel();
        let mut was = false;
        loop {
            was |= self.timer.del_timer();
            if !self.callback_running() || !self.timer.wait_for_callback() {
                return was;
            }
            // The callback may have re-armed it: disarm again, and wait again if it fired.
        }
    }
}

impl std::fmt::Debug for Hrtimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hrtimer")
            .field("name", &self.name())
            .field("queued", &self.is_queued())
            .finish()
    }
}
