//! `Completion`, `WaitQueueHead`: sleeping until an event. Mirrors kernel/sched/completion.c and
//! kernel/sched/wait.c (`include/linux/completion.h`, `include/linux/wait.h`).
//!
//! # Contract
//! - A [`Completion`] counts `complete()` calls; each `wait_for_completion()` consumes one, and
//!   `complete_all()` releases every present and future waiter until `reinit()`. It is the
//!   kernel's one-shot "this happened" event (an atomic commit's `hw_done`, a flush barrier).
//! - A [`WaitQueueHead`] holds sleepers waiting for a condition; whoever changes the
//!   condition calls `wake_up_all()`, and each sleeper re-checks its condition. The condition
//!   is evaluated without the queue's lock, exactly as `wait_event()` does, so it must read
//!   state that is published before the wake-up (atomics, or state behind its own lock).
//! - Waking is callable from any context: a fence callback under `fence->lock`, the simulated
//!   irq handler, a timer. Waiting may sleep.
//!
//! # Locking
//! - `&x->wait` (raw spinlock): every completion's internal lock, as `init_completion()` names
//!   the `swait_queue_head` it embeds. Taken with interrupts off.
//! - A wait queue's lock is a spinlock of the class its creator gives
//!   ([`WaitQueueHead::new`]), e.g. `&sync_file->wq` or `&dev->vblank_wait`; taken with
//!   interrupts off (`spin_lock_irqsave`), so it is irq-safe like the kernel's.
//!
//! # Annotations
//! - Every wait is a `might_sleep()`: waiting in atomic context (irq, irqs off, under a
//!   spinlock) is reported as "sleeping function called from invalid context".
//! - `try_wait_for_completion()` and `completion_done()` never sleep and are not annotated.
//!
//! # Rules
//! - R6 (callbacks under `fence->lock` may wake a wait queue but never wait): `wake_up_all`
//!   only takes the queue's spinlock; every wait is `might_sleep`.
//! - R20 (a commit's `hw_done` completion ends its signalling section) relies on `Completion`.
//!
//! # Simplified
//! - Sleepers park their own thread (`std::thread::park`), which is what the kernel's
//!   `schedule()` / `wake_up_process()` pair does; waking a thread that is not yet asleep
//!   leaves it a token, so no wake-up is lost.
//! - Timeouts are real time (a `Duration`), not jiffies of the simulated [`crate::clock`].
//! - No interruptible or killable variants: simulated tasks receive no signals.
//! - `complete()` wakes the longest waiter; if a newcomer consumes the count first, the woken
//!   waiter goes back to sleep (the kernel's swait behaves the same way).

use lockdep::{LockClass, RawSpinLock, SpinLock};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// The class of every completion's internal lock (`init_completion()`'s `&x->wait`).
static COMPLETION_WAIT: LockClass = LockClass::new("&x->wait");

/// `done` value meaning "completed for everyone" (the kernel's `UINT_MAX`).
const COMPLETE_ALL: u32 = u32::MAX;

/// A unique number per sleeping wait, so a waiter can find (and remove) its own entry.
fn next_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One sleeping thread.
struct Sleeper {
    token: u64,
    thread: Thread,
}

impl Sleeper {
    fn current(token: u64) -> Sleeper {
        Sleeper {
            token,
            thread: thread::current(),
        }
    }
}

/// Parks the current thread until woken or until `deadline` (if any). Returns `false` once
/// the deadline has passed.
fn sleep_until(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            thread::park();
            true
        }
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return false;
            }
            thread::park_timeout(d - now);
            true
        }
    }
}

/// A deadline `timeout` from now; `None` when it does not fit an `Instant` (as good as none).
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

struct CompletionState {
    done: u32,
    waiters: VecDeque<Sleeper>,
}

/// A completion (`struct completion`).
///
/// ```
/// use drm_sim::wait::Completion;
/// use std::sync::Arc;
///
/// let done = Arc::new(Completion::new("hw_done"));
/// let d = done.clone();
/// let t = std::thread::spawn(move || d.complete());
/// done.wait_for_completion();
/// t.join().unwrap();
/// ```
pub struct Completion {
    name: &'static str,
    state: RawSpinLock<CompletionState>,
}

impl Completion {
    /// A completion not yet completed (`init_completion`). `name` says what it stands for
    /// (e.g. `"flip_done"`); its lock is of the class `&x->wait`.
    pub const fn new(name: &'static str) -> Self {
        Completion {
            name,
            state: RawSpinLock::with_class(
                CompletionState {
                    done: 0,
                    waiters: VecDeque::new(),
                },
                &COMPLETION_WAIT,
            ),
        }
    }

    /// What it stands for.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs `f` on the state under its lock with interrupts off (`raw_spin_lock_irqsave`).
    fn with_state<R>(&self, f: impl FnOnce(&mut CompletionState) -> R) -> R {
        let _irq = lockdep::irqs_disabled();
        let mut s = self.state.lock();
        f(&mut s)
    }

    /// Signals one waiter (or the next one to come). Callable from any context.
    pub fn complete(&self) {
        let woken = self.with_state(|s| {
            if s.done != COMPLETE_ALL {
                s.done += 1;
            }
            s.waiters.pop_front()
        });
        if let Some(w) = woken {
            w.thread.unpark();
        }
    }

    /// Signals every present and future waiter until [`reinit`](Self::reinit).
    pub fn complete_all(&self) {
        let woken = self.with_state(|s| {
            s.done = COMPLETE_ALL;
            std::mem::take(&mut s.waiters)
        });
        for w in woken {
            w.thread.unpark();
        }
    }

    /// Consumes one completion if there is one.
    fn take(s: &mut CompletionState) -> bool {
        if s.done == 0 {
            return false;
        }
        if s.done != COMPLETE_ALL {
            s.done -= 1;
        }
        true
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let token = next_token();
        loop {
            let got = self.with_state(|s| {
                if Self::take(s) {
                    s.waiters.retain(|w| w.token != token);
                    return true;
                }
                if !s.waiters.iter().any(|w| w.token == token) {
                    s.waiters.push_back(Sleeper::current(token));
                }
                false
            });
            if got {
                return true;
            }
            if !sleep_until(deadline) {
                // Timed out: leave the queue, taking a completion that raced with the timeout.
                return self.with_state(|s| {
                    s.waiters.retain(|w| w.token != token);
                    Self::take(s)
                });
            }
        }
    }

    /// Sleeps until completed, consuming one completion. A `might_sleep()`.
    #[track_caller]
    pub fn wait_for_completion(&self) {
        lockdep::might_sleep();
        self.wait_until(None);
    }

    /// Like [`wait_for_completion`](Self::wait_for_completion), giving up after `timeout`.
    /// Returns whether it was completed (and one completion consumed).
    #[track_caller]
    pub fn wait_for_completion_timeout(&self, timeout: Duration) -> bool {
        lockdep::might_sleep();
        match deadline_after(timeout) {
            Some(d) => self.wait_until(Some(d)),
            None => self.wait_until(None),
        }
    }

    /// Consumes a completion if one is available, without sleeping.
    pub fn try_wait_for_completion(&self) -> bool {
        self.with_state(Self::take)
    }

    /// Whether a wait would return at once.
    pub fn completion_done(&self) -> bool {
        self.with_state(|s| s.done != 0)
    }

    /// Forgets earlier completions (`reinit_completion`), e.g. before re-arming a commit.
    #[doc(alias = "reinit_completion")]
    pub fn reinit(&self) {
        self.with_state(|s| s.done = 0);
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("name", &self.name)
            .field("done", &self.completion_done())
            .finish()
    }
}

/// A wait queue (`wait_queue_head_t`).
///
/// ```
/// use drm_sim::wait::WaitQueueHead;
/// use lockdep::LockClass;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// static POLL_WAIT: LockClass = LockClass::new("&sync_file->wq");
/// let wq = Arc::new(WaitQueueHead::new(&POLL_WAIT));
/// let flag = Arc::new(AtomicBool::new(false));
/// let (w, f) = (wq.clone(), flag.clone());
/// let t = std::thread::spawn(move || {
///     f.store(true, Ordering::Release);
///     w.wake_up_all();
/// });
/// wq.wait_event(|| flag.load(Ordering::Acquire));
/// t.join().unwrap();
/// ```
pub struct WaitQueueHead {
    sleepers: SpinLock<Vec<Sleeper>>,
}

impl WaitQueueHead {
    /// An empty wait queue whose lock is of class `class` (`init_waitqueue_head`).
    pub const fn new(class: &'static LockClass) -> Self {
        WaitQueueHead {
            sleepers: SpinLock::with_class(Vec::new(), class),
        }
    }

    /// An empty wait queue whose lock is of the class called `name` (made on first use of the
    /// name and shared by every queue made with it, as `init_waitqueue_head` at one site).
    pub fn with_name(name: &str) -> Self {
        static CLASSES: std::sync::OnceLock<
            std::sync::Mutex<std::collections::HashMap<String, &'static LockClass>>,
        > = std::sync::OnceLock::new();
        let mut classes = CLASSES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let class = *classes
            .entry(name.to_string())
            .or_insert_with(|| LockClass::register(name));
        Self::new(class)
    }

    fn with_sleepers<R>(&self, f: impl FnOnce(&mut Vec<Sleeper>) -> R) -> R {
        let _irq = lockdep::irqs_disabled();
        let mut s = self.sleepers.lock();
        f(&mut s)
    }

    /// Wakes every sleeper so it re-checks its condition. Takes the queue's spinlock with
    /// interrupts off, so it is callable from fence callbacks and irq handlers.
    pub fn wake_up_all(&self) {
        let woken = self.with_sleepers(std::mem::take);
        for w in woken {
            w.thread.unpark();
        }
    }

    /// `wake_up()`: the same as [`wake_up_all`](Self::wake_up_all), as every sleeper here is
    /// non-exclusive.
    pub fn wake_up(&self) {
        self.wake_up_all();
    }

    /// Whether anyone sleeps on it (`waitqueue_active`).
    #[doc(alias = "waitqueue_active")]
    pub fn is_active(&self) -> bool {
        self.with_sleepers(|s| !s.is_empty())
    }

    fn wait_until(&self, mut cond: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
        if cond() {
            return true;
        }
        let token = next_token();
        loop {
            // Queue first, then check: a wake-up after the check finds us queued.
            self.with_sleepers(|s| {
                if !s.iter().any(|w| w.token == token) {
                    s.push(Sleeper::current(token));
                }
            });
            if cond() {
                self.with_sleepers(|s| s.retain(|w| w.token != token));
                return true;
            }
            if !sleep_until(deadline) {
                self.with_sleepers(|s| s.retain(|w| w.token != token));
                return cond();
            }
        }
    }

    /// Waits until `cond()` holds without a `might_sleep()`: for the places where the kernel
    /// busy-waits (`cpu_relax()` loops such as `timer_delete_sync` waiting for a running
    /// callback), which are legal in atomic context. Parks instead of spinning.
    pub(crate) fn wait_event_spin(&self, cond: impl FnMut() -> bool) {
        self.wait_until(cond, None);
    }

    /// Sleeps until `cond()` holds (`wait_event`). A `might_sleep()`.
    #[track_caller]
    pub fn wait_event(&self, cond: impl FnMut() -> bool) {
        lockdep::might_sleep();
        self.wait_until(cond, None);
    }

    /// Like [`wait_event`](Self::wait_event), giving up after `timeout`. Returns whether the
    /// condition held (`wait_event_timeout` returning non-zero).
    #[track_caller]
    pub fn wait_event_timeout(&self, cond: impl FnMut() -> bool, timeout: Duration) -> bool {
        lockdep::might_sleep();
        self.wait_until(cond, deadline_after(timeout))
    }
}

impl std::fmt::Debug for WaitQueueHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitQueueHead")
            .field("active", &self.is_active())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{expect, kinds, serial};
    use lockdep::ReportKind;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    static TEST_WQ: LockClass = LockClass::new("&test->wq");

    #[test]
    fn complete_before_wait_is_not_lost() {
        let _s = serial();
        let c = Completion::new("c");
        c.complete();
        assert!(c.completion_done());
        c.wait_for_completion();
        assert!(!c.completion_done());
        assert!(!c.try_wait_for_completion());
    }

    #[test]
    fn each_complete_releases_one_waiter() {
        let _s = serial();
        let c = Arc::new(Completion::new("c"));
        let woke = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (c, woke) = (c.clone(), woke.clone());
                thread::spawn(move || {
                    c.wait_for_completion();
                    woke.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        c.complete();
        c.complete();
        // Two of three are released; the third is still asleep.
        while woke.load(Ordering::SeqCst) < 2 {
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(20));
        assert_eq!(woke.load(Ordering::SeqCst), 2);
        c.complete();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(woke.load(Ordering::SeqCst), 3);
        assert!(kinds().is_empty());
    }

    #[test]
    fn complete_all_releases_everyone_until_reinit() {
        let _s = serial();
        let c = Arc::new(Completion::new("c"));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || c.wait_for_completion())
            })
            .collect();
        c.complete_all();
        for t in threads {
            t.join().unwrap();
        }
        c.wait_for_completion(); // still complete
        c.reinit();
        assert!(!c.wait_for_completion_timeout(Duration::from_millis(10)));
    }

    #[test]
    fn timeout_reports_whether_completed() {
        let _s = serial();
        let c = Arc::new(Completion::new("c"));
        assert!(!c.wait_for_completion_timeout(Duration::from_millis(5)));
        let c2 = c.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            c2.complete();
        });
        assert!(c.wait_for_completion_timeout(Duration::from_secs(10)));
        t.join().unwrap();
    }

    #[test]
    fn waiting_in_atomic_context_is_reported_completing_is_not() {
        let _s = serial();
        let c = Completion::new("c");
        {
            let _irq = lockdep::irq_context();
            c.complete(); // from an irq handler: fine
        }
        assert!(kinds().is_empty());
        {
            let _irq = lockdep::irqs_disabled();
            assert!(c.try_wait_for_completion()); // never sleeps
        }
        assert!(kinds().is_empty());
        c.complete();
        {
            let _irq = lockdep::irqs_disabled();
            c.wait_for_completion();
        }
        assert_eq!(kinds(), expect(&[ReportKind::SleepInAtomic]));
    }

    #[test]
    fn wait_event_sees_a_condition_set_before_the_wake() {
        let _s = serial();
        let wq = Arc::new(WaitQueueHead::new(&TEST_WQ));
        let flag = Arc::new(AtomicBool::new(false));
        let (w, f) = (wq.clone(), flag.clone());
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            f.store(true, Ordering::Release);
            w.wake_up_all();
        });
        wq.wait_event(|| flag.load(Ordering::Acquire));
        t.join().unwrap();
        assert!(!wq.is_active());
        assert!(!wq.wait_event_timeout(|| false, Duration::from_millis(5)));
        assert!(wq.wait_event_timeout(|| true, Duration::ZERO));
    }

    #[test]
    fn queues_made_with_one_name_share_its_class() {
        let _s = serial();
        let a = WaitQueueHead::with_name("&test->named_wq");
        let b = WaitQueueHead::with_name("&test->named_wq");
        {
            let _irq = lockdep::irqs_disabled();
            let _ga = a.sleepers.lock();
            let _gb = b.sleepers.lock(); // same class, no nesting level
        }
        assert_eq!(kinds(), expect(&[ReportKind::RecursiveLocking]));
        let c = WaitQueueHead::with_name("&test->other_wq");
        {
            let _irq = lockdep::irqs_disabled();
            let _ga = a.sleepers.lock();
            let _gc = c.sleepers.lock();
        }
        assert!(kinds().is_empty());
    }

    #[test]
    fn wake_up_all_works_from_irq_under_another_spinlock() {
        let _s = serial();
        static FENCE_LOCK: LockClass = LockClass::new("&fence->lock");
        let fence_lock = SpinLock::with_class((), &FENCE_LOCK);
        let wq = Arc::new(WaitQueueHead::new(&TEST_WQ));
        let flag = Arc::new(AtomicBool::new(false));
        let (w, f, fl) = (wq.clone(), flag.clone(), Arc::new(fence_lock));
        let fl2 = fl.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            let _irq = lockdep::irq_context();
            let _g = fl2.lock(); // a fence callback, in the signaller's irq
            f.store(true, Ordering::Release);
            w.wake_up_all();
        });
        wq.wait_event(|| flag.load(Ordering::Acquire));
        t.join().unwrap();
        // Process context takes the fence lock irqsave too: consistent, nothing reported.
        {
            let _irq = lockdep::irqs_disabled();
            let _g = fl.lock();
            wq.wake_up_all();
        }
        assert!(kinds().is_empty(), "{:?}", kinds());
        let plain = SpinLock::new(());
        {
            let _g = plain.lock();
            wq.wait_event(|| true); // a wait under a spinlock
        }
        assert_eq!(kinds(), expect(&[ReportKind::SleepInAtomic]));
    }
}
