//! `Clock`, `Timer`: the simulation's time source and its timers. Mirrors kernel/time/timer.c
//! (`timer_list`, `mod_timer`, `timer_delete_sync`) and, for callbacks in hard-irq context,
//! kernel/time/hrtimer.c.
//!
//! # Contract
//! - A [`Clock`] is a cheap, clonable handle. [`Clock::real`] is the process's one monotonic
//!   clock; [`Clock::manual`] makes a clock that only moves when told to
//!   ([`Clock::advance`]), so a test fires a timeout (the scheduler's TDR, a delayed work)
//!   exactly when it wants, without sleeping and without timing luck.
//! - Each clock has a timer thread (the timer softirq): due timers' callbacks run there, one at
//!   a time, in deadline order. On a manual clock `advance(d)` returns only once every timer
//!   due at the new time — including ones that callbacks armed meanwhile — has run.
//! - [`Timer`] is a re-armable timer (`timer_list`): `mod_timer`, `del_timer`,
//!   `del_timer_sync` (which also waits for a running callback), and the hard-irq flavour
//!   [`Timer::new_hrtimer`] used for vblank emulation.
//! - [`Clock::add_timer`] / [`Clock::del_timer`] are the bare timers under both, used by
//!   `DelayedWork`, whose cancellation never waits for the timer callback (as
//!   `try_to_grab_pending` uses `timer_delete`, not the `_sync` variant).
//!
//! # Locking
//! - `&base->lock` (raw spinlock, interrupts off): the clock's timer list. Nothing is called
//!   under it; a callback runs after it is dropped, so callbacks may arm and delete timers.
//! - `&base->expiry_lock` (spinlock of a wait queue): where `del_timer_sync` and `advance`
//!   sleep until the timer thread is done with a callback.
//!
//! # Annotations
//! - A `Timer` has a pseudo-lock named by its creator (e.g. `(&vkms_out->vblank_hrtimer)`);
//!   the callback runs holding it and `del_timer_sync` acquires and releases it, as
//!   `call_timer_fn` and `timer_delete_sync` do with `timer->lockdep_map`: deleting a timer
//!   synchronously under a lock its callback takes is a reported cycle.
//! - Callbacks of [`Timer::new`] and bare timers run in soft-irq context, those of
//!   [`Timer::new_hrtimer`] in hard-irq context: nothing in them may sleep.
//!
//! # Rules
//! - R34 (`hrtimer_cancel` waits for a running callback, so it must not be called under a lock
//!   the callback takes): `del_timer_sync`.
//!
//! # Simplified
//! - One timer thread per clock instead of per-CPU timer wheels; no slack or jiffies rounding.
//! - A manual clock fires timers only from `advance` (even `advance(Duration::ZERO)` fires
//!   the timers armed with no delay); it never fires on its own.
//! - `advance` must not be called from a timer callback of the same clock (it would wait for
//!   itself).

use crate::wait::WaitQueueHead;
use lockdep::{LockClass, LockMap, RawSpinLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread, ThreadId};
use std::time::{Duration, Instant};

static BASE_LOCK: LockClass = LockClass::new("&base->lock");
static EXPIRY_LOCK: LockClass = LockClass::new("&base->expiry_lock");

/// A bare timer's callback.
pub type TimerFn = Box<dyn FnOnce() + Send + 'static>;

/// Names an armed bare timer, for [`Clock::del_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// The context a timer callback runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerContext {
    /// The timer softirq (`timer_list` callbacks).
    Softirq,
    /// Hard-irq context (`hrtimer` callbacks).
    Hardirq,
}

enum Source {
    Real(Instant),
    /// Nanoseconds since the clock was made.
    Manual(AtomicU64),
}

impl Source {
    fn now(&self) -> Duration {
        match self {
            Source::Real(start) => start.elapsed(),
            Source::Manual(ns) => Duration::from_nanos(ns.load(Ordering::Acquire)),
        }
    }
}

struct Entry {
    f: TimerFn,
    ctx: TimerContext,
    /// The `Timer` that armed it (its address), or 0 for a bare timer.
    owner: usize,
}

struct BaseState {
    timers: BTreeMap<(Duration, u64), Entry>,
    deadline: HashMap<u64, Duration>,
    next_id: u64,
    /// Manual clocks: `advance` calls made, and the last one whose due timers all ran.
    generation: u64,
    processed: u64,
    /// The owner of the callback running now (`Some(0)`: a bare timer).
    running: Option<usize>,
    stop: bool,
}

struct Base {
    source: Source,
    state: RawSpinLock<BaseState>,
    /// Woken when a callback ends and when an `advance` has been processed.
    expiry: WaitQueueHead,
    thread: OnceLock<(Thread, ThreadId)>,
}

impl Base {
    fn with<R>(&self, f: impl FnOnce(&mut BaseState) -> R) -> R {
        let _irq = lockdep::irqs_disabled();
        let mut s = self.state.lock();
        f(&mut s)
    }

    fn is_manual(&self) -> bool {
        matches!(self.source, Source::Manual(_))
    }

    fn wake_thread(&self) {
        if let Some((t, _)) = self.thread.get() {
            t.unpark();
        }
    }

    fn on_timer_thread(&self) -> bool {
        self.thread
            .get()
            .is_some_and(|(_, id)| *id == thread::current().id())
    }

    fn add(&self, delay: Duration, entry: Entry) -> TimerId {
        let manual = self.is_manual();
        let (id, earliest) = self.with(|s| {
            let deadline = self.source.now().saturating_add(delay);
            let id = s.next_id;
            s.next_id += 1;
            s.timers.insert((deadline, id), entry);
            s.deadline.insert(id, deadline);
            let earliest = s.timers.keys().next() == Some(&(deadline, id));
            (id, earliest)
        });
        if earliest && !manual {
            self.wake_thread();
        }
        TimerId(id)
    }

    fn remove(&self, s: &mut BaseState, id: u64) -> bool {
        match s.deadline.remove(&id) {
            Some(d) => s.timers.remove(&(d, id)).is_some(),
            None => false,
        }
    }

    /// The timer thread: runs due callbacks one at a time, sleeping in between.
    fn run(&self) {
        let manual = self.is_manual();
        loop {
            enum Next {
                Fire(Entry),
                Sleep(Option<Duration>),
                Stop,
            }
            let mut advanced = false;
            let next = self.with(|s| {
                if s.stop {
                    return Next::Stop;
                }
                let now = self.source.now();
                let may_fire = !manual || s.processed < s.generation;
                if may_fire {
                    if let Some((&(deadline, id), _)) = s.timers.first_key_value() {
                        if deadline <= now {
                            let e = s.timers.remove(&(deadline, id)).expect("first key exists");
                            s.deadline.remove(&id);
                            s.running = Some(e.owner);
                            return Next::Fire(e);
                        }
                    }
                }
                if manual {
                    if s.processed < s.generation {
                        s.processed = s.generation;
                        advanced = true;
                    }
                    return Next::Sleep(None);
                }
                Next::Sleep(s.timers.keys().next().map(|(d, _)| d.saturating_sub(now)))
            });
            match next {
                Next::Stop => return,
                Next::Fire(e) => {
                    {
                        let _ctx = match e.ctx {
                            TimerContext::Softirq => lockdep::softirq_context(),
                            TimerContext::Hardirq => lockdep::irq_context(),
                        };
                        let f = e.f;
                        // A panicking callback must not take the clock down with it; the
                        // panic hook has printed it.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                    }
                    self.with(|s| s.running = None);
                    self.expiry.wake_up_all();
                }
                Next::Sleep(d) => {
                    if advanced {
                        self.expiry.wake_up_all();
                    }
                    match d {
                        Some(d) => thread::park_timeout(d),
                        None => thread::park(),
                    }
                }
            }
        }
    }
}

/// Stops the timer thread when the last handle goes.
struct Handle {
    base: Arc<Base>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.base.with(|s| s.stop = true);
        self.base.wake_thread();
    }
}

/// A time source with timers (see the module documentation).
#[derive(Clone)]
pub struct Clock(Arc<Handle>);

impl Clock {
    fn with_source(source: Source) -> Clock {
        let base = Arc::new(Base {
            source,
            state: RawSpinLock::with_class(
                BaseState {
                    timers: BTreeMap::new(),
                    deadline: HashMap::new(),
                    next_id: 1,
                    generation: 0,
                    processed: 0,
                    running: None,
                    stop: false,
                },
                &BASE_LOCK,
            ),
            expiry: WaitQueueHead::new(&EXPIRY_LOCK),
            thread: OnceLock::new(),
        });
        let b = base.clone();
        let handle = thread::Builder::new()
            .name("ktimer".into())
            .spawn(move || b.run())
            .expect("spawn the timer thread");
        let t = handle.thread().clone();
        let id = t.id();
        let _ = base.thread.set((t, id));
        Clock(Arc::new(Handle { base }))
    }

    /// The process's monotonic clock (one shared timer thread).
    pub fn real() -> Clock {
        static REAL: OnceLock<Clock> = OnceLock::new();
        REAL.get_or_init(|| Clock::with_source(Source::Real(Instant::now())))
            .clone()
    }

    /// A new clock standing at zero that moves only by [`advance`](Self::advance).
    pub fn manual() -> Clock {
        Clock::with_source(Source::Manual(AtomicU64::new(0)))
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.0.base.is_manual()
    }

    /// The time since the clock was made.
    pub fn now(&self) -> Duration {
        self.0.base.source.now()
    }

    /// Moves a manual clock forward by `by` and returns once every timer due by then has run.
    /// A `might_sleep()`.
    ///
    /// # Panics
    /// On the real clock, which cannot be moved.
    #[track_caller]
    pub fn advance(&self, by: Duration) {
        let base = &self.0.base;
        let Source::Manual(ns) = &base.source else {
            panic!("Clock::advance on the real clock");
        };
        lockdep::might_sleep();
        let target = base.with(|s| {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            let now = ns.load(Ordering::Acquire);
            ns.store(now.saturating_add(by), Ordering::Release);
            s.generation += 1;
            s.generation
        });
        base.wake_thread();
        if base.on_timer_thread() {
            return; // from a callback: the thread fires the rest after it returns
        }
        base.expiry
            .wait_event(|| base.with(|s| s.processed >= target || s.stop));
    }

    /// Arms a bare timer: `f` runs in soft-irq context on the timer thread once `delay` has
    /// passed (`add_timer`). Callable from any context.
    pub fn add_timer(&self, delay: Duration, f: TimerFn) -> TimerId {
        self.0.base.add(
            delay,
            Entry {
                f,
                ctx: TimerContext::Softirq,
                owner: 0,
            },
        )
    }

    /// Disarms a bare timer (`timer_delete`). Returns whether it was still armed; `false` if
    /// its callback already ran or is running (this does not wait for it).
    pub fn del_timer(&self, id: TimerId) -> bool {
        let base = &self.0.base;
        base.with(|s| base.remove(s, id.0))
    }

    /// How many timers are armed.
    pub fn pending_timers(&self) -> usize {
        self.0.base.with(|s| s.timers.len())
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("manual", &self.is_manual())
            .field("now", &self.now())
            .finish()
    }
}

/// A re-armable timer with its own lockdep map (`struct timer_list` / `struct hrtimer`).
pub struct Timer {
    map: &'static LockMap,
    clock: Clock,
    ctx: TimerContext,
    f: Box<dyn Fn() + Send + Sync + 'static>,
    /// The armed bare timer's id, 0 when not armed. Changed only under `&base->lock`.
    armed: AtomicU64,
}

impl Timer {
    /// A timer whose callback runs in soft-irq context (`timer_setup`). `map` is its lockdep
    /// map, e.g. `static M: LockMap = LockMap::new("(&dev->timer)")`.
    pub fn new(map: &'static LockMap, clock: &Clock, f: impl Fn() + Send + Sync + 'static) -> Arc<Timer> {
        Self::with_context(map, clock, TimerContext::Softirq, f)
    }

    /// A timer whose callback runs in hard-irq context (`hrtimer_setup` in hard mode).
    pub fn new_hrtimer(
        map: &'static LockMap,
        clock: &Clock,
        f: impl Fn() + Send + Sync + 'static,
    ) -> Arc<Timer> {
        Self::with_context(map, clock, TimerContext::Hardirq, f)
    }

    fn with_context(
        map: &'static LockMap,
        clock: &Clock,
        ctx: TimerContext,
        f: impl Fn() + Send + Sync + 'static,
    ) -> Arc<Timer> {
        Arc::new(Timer {
            map,
            clock: clock.clone(),
            ctx,
            f: Box::new(f),
            armed: AtomicU64::new(0),
        })
    }

    fn owner(&self) -> usize {
        self as *const Timer as usize
    }

    /// (Re-)arms it to fire `delay` from now (`mod_timer`). Returns whether it was armed
    /// before. Callable from any context, including its own callback.
    #[doc(alias = "hrtimer_start")]
    pub fn mod_timer(self: &Arc<Self>, delay: Duration) -> bool {
        let base = &self.clock.0.base;
        let me = self.clone();
        let mut was = false;
        // Arm first (it may pick the earliest slot), then swap it in under the base lock.
        let id = base.add(
            delay,
            Entry {
                f: Box::new(move || me.fire()),
                ctx: self.ctx,
                owner: self.owner(),
            },
        );
        base.with(|s| {
            let old = self.armed.swap(id.0, Ordering::Relaxed);
            if old != 0 {
                was = base.remove(s, old);
            }
            // The new one may have fired before the swap: then it is not armed any more.
            if !s.deadline.contains_key(&id.0) {
                let _ = self
                    .armed
                    .compare_exchange(id.0, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        });
        was
    }

    fn fire(self: &Arc<Self>) {
        let base = &self.clock.0.base;
        base.with(|s| {
            let a = self.armed.load(Ordering::Relaxed);
            if a != 0 && !s.deadline.contains_key(&a) {
                self.armed.store(0, Ordering::Relaxed);
            }
        });
        let _m = self.map.lock(); // call_timer_fn
        (self.f)();
    }

    /// Whether it is armed (`timer_pending`).
    #[doc(alias = "timer_pending")]
    pub fn is_pending(&self) -> bool {
        let base = &self.clock.0.base;
        base.with(|s| {
            let a = self.armed.load(Ordering::Relaxed);
            a != 0 && s.deadline.contains_key(&a)
        })
    }

    /// Disarms it (`timer_delete`). Returns whether it was armed. Does not wait for a running
    /// callback.
    #[doc(alias = "timer_delete")]
    pub fn del_timer(&self) -> bool {
        let base = &self.clock.0.base;
        base.with(|s| {
            let old = self.armed.swap(0, Ordering::Relaxed);
            old != 0 && base.remove(s, old)
        })
    }

    /// Disarms it and waits for a running callback to finish (`timer_delete_sync`,
    /// `hrtimer_cancel`). Acquires and releases the timer's map first, so calling it under a
    /// lock the callback takes is reported. Like the kernel's it does not sleep-annotate (the
    /// kernel spins), so it may be called under a spinlock the callback does not take.
    #[doc(alias = "timer_delete_sync")]
    #[doc(alias = "hrtimer_cancel")]
    #[track_caller]
    pub fn del_timer_sync(&self) -> bool {
        self.map.sync();
        let was = self.del_timer();
        let _ = self.wait_for_callback();
        was
    }

    /// Whether its callback is running now (`hrtimer_callback_running`).
    #[doc(alias = "hrtimer_callback_running")]
    pub fn is_callback_running(&self) -> bool {
        let me = self.owner();
        self.clock.0.base.with(|s| s.running == Some(me))
    }

    /// Waits, without any annotation, until its callback is not running (the spin of
    /// `timer_delete_sync` / `hrtimer_cancel_wait_running`); returns at once on the timer
    /// thread itself, where it would wait for its caller, and then answers `false`. For
    /// wrappers that annotate the wait their own way (`hrtimer`).
    pub fn wait_for_callback(&self) -> bool {
        let base = &self.clock.0.base;
        if base.on_timer_thread() {
            return false;
        }
        let me = self.owner();
        base.expiry
            .wait_event_spin(|| base.with(|s| s.running != Some(me) || s.stop));
        true
    }

    /// Its lockdep map (held around the callback).
    pub fn lockdep_map(&self) -> &'static LockMap {
        self.map
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").field("map", &self.map.name()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{expect, kinds, serial};
    use lockdep::{Mutex, ReportKind};
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn manual_clock_fires_only_due_timers_on_advance() {
        let _s = serial();
        let c = Clock::manual();
        // A test-side log (std's mutex: not part of what is validated).
        let fired = Arc::new(std::sync::Mutex::new(Vec::new()));
        for (i, ms) in [(1, 30u64), (2, 10), (3, 20)] {
            let f = fired.clone();
            c.add_timer(
                Duration::from_millis(ms),
                Box::new(move || f.lock().unwrap().push(i)),
            );
        }
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_millis(15));
        assert_eq!(*fired.lock().unwrap(), vec![2]);
        c.advance(Duration::from_millis(15));
        assert_eq!(*fired.lock().unwrap(), vec![2, 3, 1], "deadline order");
        assert_eq!(c.now(), Duration::from_millis(30));
        assert_eq!(c.pending_timers(), 0);
        assert!(kinds().is_empty());
    }

    #[test]
    fn advance_waits_for_timers_armed_by_callbacks() {
        let _s = serial();
        let c = Clock::manual();
        let n = Arc::new(AtomicUsize::new(0));
        let (c2, n2) = (c.clone(), n.clone());
        c.add_timer(
            Duration::from_millis(1),
            Box::new(move || {
                n2.fetch_add(1, Ordering::SeqCst);
                let n3 = n2.clone();
                c2.add_timer(
                    Duration::ZERO,
                    Box::new(move || {
                        n3.fetch_add(1, Ordering::SeqCst);
                    }),
                );
            }),
        );
        c.advance(Duration::from_millis(1));
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn deleted_timers_do_not_fire() {
        let _s = serial();
        let c = Clock::manual();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let id = c.add_timer(
            Duration::from_millis(5),
            Box::new(move || {
                n2.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert!(c.del_timer(id));
        assert!(!c.del_timer(id));
        c.advance(Duration::from_millis(10));
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn real_clock_fires_without_help() {
        let _s = serial();
        let c = Clock::real();
        let done = Arc::new(crate::wait::Completion::new("fired"));
        let d = done.clone();
        c.add_timer(Duration::from_millis(2), Box::new(move || d.complete()));
        assert!(done.wait_for_completion_timeout(Duration::from_secs(10)));
    }

    #[test]
    fn timer_rearm_and_delete() {
        let _s = serial();
        static MAP: LockMap = LockMap::new("(&test->timer)");
        let c = Clock::manual();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let t = Timer::new(&MAP, &c, move || {
            n2.fetch_add(1, Ordering::SeqCst);
        });
        assert!(!t.mod_timer(Duration::from_millis(10)));
        assert!(t.is_pending());
        assert!(t.mod_timer(Duration::from_millis(20)), "re-arming an armed timer");
        c.advance(Duration::from_millis(10));
        assert_eq!(n.load(Ordering::SeqCst), 0, "the first deadline was replaced");
        c.advance(Duration::from_millis(10));
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert!(!t.is_pending());
        t.mod_timer(Duration::from_millis(5));
        assert!(t.del_timer_sync());
        c.advance(Duration::from_millis(10));
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert!(kinds().is_empty());
    }

    #[test]
    fn del_timer_sync_waits_for_a_running_callback() {
        let _s = serial();
        static MAP: LockMap = LockMap::new("(&test->slow_timer)");
        let c = Clock::real();
        let entered = Arc::new(crate::wait::Completion::new("entered"));
        let finished = Arc::new(AtomicUsize::new(0));
        let (e, f) = (entered.clone(), finished.clone());
        let t = Timer::new(&MAP, &c, move || {
            e.complete();
            let t0 = Instant::now();
            // Spin (a callback may not sleep) long enough to be caught running.
            while t0.elapsed() < Duration::from_millis(30) {
                std::hint::spin_loop();
            }
            f.store(1, Ordering::SeqCst);
        });
        t.mod_timer(Duration::ZERO);
        entered.wait_for_completion();
        assert!(!t.del_timer_sync(), "already fired");
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "returned only after the callback"
        );
        assert!(kinds().is_empty());
    }

    #[test]
    fn del_timer_sync_under_a_lock_the_callback_takes_is_reported() {
        let _s = serial();
        static MAP: LockMap = LockMap::new("(&test->locked_timer)");
        static LOCK: LockClass = LockClass::new("&test->timer_data_lock");
        let c = Clock::manual();
        let lock = Arc::new(lockdep::SpinLock::with_class((), &LOCK));
        let l2 = lock.clone();
        let other = lockdep::SpinLock::new(());
        let t = Timer::new(&MAP, &c, move || drop(l2.lock()));
        t.mod_timer(Duration::from_millis(1));
        c.advance(Duration::from_millis(1)); // the callback takes the lock under the map
        {
            let _irq = lockdep::irqs_disabled();
            let _o = other.lock();
            t.del_timer_sync(); // under a spinlock the callback does not take: fine
        }
        assert!(kinds().is_empty(), "{:?}", kinds());
        let _irq = lockdep::irqs_disabled();
        let _g = lock.lock();
        t.del_timer_sync();
        assert_eq!(kinds(), expect(&[ReportKind::CircularDependency]));
    }

    #[test]
    fn hrtimer_callbacks_run_in_hard_irq() {
        let _s = serial();
        static MAP: LockMap = LockMap::new("(&test->hrtimer)");
        let c = Clock::manual();
        let m = Arc::new(Mutex::new(()));
        let m2 = m.clone();
        let t = Timer::new_hrtimer(&MAP, &c, move || drop(m2.lock()));
        t.mod_timer(Duration::from_millis(1));
        c.advance(Duration::from_millis(1));
        let k = kinds();
        assert!(
            !lockdep::ENABLED
                || k.contains(&ReportKind::SleepInAtomic)
                || k.contains(&ReportKind::InvalidWaitContext),
            "{k:?}"
        );
    }
}
