//! # lockdep — the Linux kernel's lock-dependency validator, for Rust
//!
//! `lockdep` gives you drop-in lock types ([`Mutex`], [`RwLock`], [`SpinLock`],
//! [`RwSpinLock`], [`RawSpinLock`], [`Condvar`]) that, with the cargo feature **`check`**
//! enabled, validate every acquisition the way the kernel's lockdep does:
//!
//! * every lock belongs to a **class** — by default all locks created at one source location,
//!   or an explicit named [`LockClass`] shared by many locks;
//! * each thread keeps the stack of locks it holds, and taking lock `B` while holding `A`
//!   records the dependency `A → B` between their classes, once, with the stack where it was
//!   first seen;
//! * before a new dependency is recorded the validator searches for a path back, and reports
//!   the **first** time any thread takes two classes in an order that closes a cycle — even
//!   though this run never deadlocked.
//!
//! Without the feature the lock types are the plain `parking_lot`/`spin` locks: same size,
//! same code, no global state.
//!
//! Code written against `std::sync` imports [`stdsync`] instead (`use lockdep::stdsync as
//! sync;`): std's types with std's signatures and poisoning, validated with `check` and the
//! std types themselves without it; `Once`, `OnceLock` and `LazyLock` initialisations take
//! part in the graph there. Code written against `parking_lot` renames the dependency (the
//! README's "Migrating in one step").
//!
//! ```
//! use lockdep::Mutex;
//!
//! let a = Mutex::new(1);
//! let b = Mutex::new(2);
//! {
//!     let _ga = a.lock();
//!     let _gb = b.lock(); // records a -> b
//! }
//! {
//!     let _gb = b.lock();
//!     let _ga = a.lock(); // b -> a closes a cycle: reported (with `check`)
//! }
//! # #[cfg(feature = "check")]
//! # assert!(lockdep::take_reports().iter().any(|r| r.kind() == lockdep::ReportKind::CircularDependency));
//! ```
//!
//! Beyond lock order, the validator checks what the kernel's lockdep checks — recursive
//! locking, read/write-aware cycles, wait contexts (no mutex under a spinlock), irq safety,
//! sleeping in atomic context — and offers the annotations kernel code uses to express rules
//! that are not locks: pseudo-locks ([`LockMap`]), assertions ([`assert_held`], …),
//! wound/wait mutexes ([`WwMutex`]), SRCU ([`Srcu`]), execution contexts ([`panic_context`],
//! [`irq_context`], …), must-not-hold rules and start-up priming, and attribute macros
//! ([`macro@lock_class`], [`macro@signalling`], [`macro@requires_held`], …).
//!
//! ```
//! use lockdep::{LockMap, Mutex};
//!
//! static FENCE_MAP: LockMap = LockMap::new("dma_fence_map");
//! let state = Mutex::new(0);
//! {
//!     let _signalling = FENCE_MAP.try_read(); // code that must complete for a fence to signal
//!     *state.lock() += 1;                     // ...takes `state`
//! }
//! let _g = state.lock();
//! FENCE_MAP.sync(); // a fence wait while holding `state`: could wait for itself
//! # #[cfg(feature = "check")]
//! # assert_eq!(lockdep::take_reports()[0].kind(), lockdep::ReportKind::CircularDependency);
//! ```
//!
//! What happens on a violation is set by [`set_action`] or the `LOCKDEP_ACTION` environment
//! variable (`warn`, the default, prints the report to stderr; `panic`; `collect`). Whatever the
//! action, reports are recorded and [`take_reports`] drains them. Unlike the kernel the
//! validator is not one-shot: every distinct violation is reported once and validation goes on.
//!
//! # Which lock
//!
//! Each lock type is validated as the kernel lock it behaves like: [`Mutex`] (`struct mutex`)
//! and [`RwLock`] (`rw_semaphore`) park the waiting thread, so they are sleeping locks, reported
//! under a spinning lock, in [`irq_context`] or with interrupts off; [`SpinLock`]
//! (`spinlock_t`), [`RwSpinLock`] (`rwlock_t`, with recursive readers) and [`RawSpinLock`]
//! (`raw_spinlock_t`) spin, so they may be taken there and holding one is atomic. The table is
//! in [`sync`].
//!
//! # Guards stay on their thread
//!
//! The validator records the locks a thread holds on that thread, as the kernel records them
//! per task, so a lock must be released by the thread that took it. With `check` every guard
//! is therefore `!Send` (it stays `Sync`: another thread may read through a shared `&guard`),
//! and moving one to another thread is a compile error rather than a false "bad unlock
//! balance" on that thread and a phantom held lock on this one.
//!
//! That holds whatever the plain locks allow. A crate that enables `parking_lot`'s
//! `send_guard` feature (feature unification turns it on for the whole build) makes
//! `parking_lot`'s guards `Send`, and `spin`'s are `Send` anyway; with `check` off, our guards
//! *are* those plain guards, so they are `Send` exactly when the plain ones are. A program that
//! sends a guard to another thread therefore builds with `check` off and fails to build with it
//! on: release the lock and take it again on the other thread instead.
//!
//! # The parking_lot surface
//!
//! [`Mutex`], [`FairMutex`], [`RwLock`], [`ReentrantMutex`], [`Condvar`] and [`Once`] offer
//! what `parking_lot`'s do, under the same names, with `check` on and off: what compiles one way
//! compiles the other. With `check` off the guards *are* `parking_lot`'s (type aliases), so the
//! cost is none. With it on, each function is validated as what it does to the lock:
//!
//! * `map`/`try_map`/`try_map_or_err` move the hold into the mapped guard;
//! * `unlocked`/`unlocked_fair` take the hold off while the closure runs; leaving them, and
//!   `bump`, re-take the lock on top of what the thread holds (waiting for it while holding the
//!   locks taken since, which is what the thread does);
//! * `leak` keeps the lock locked for ever and the validator forgets the hold;
//! * timed acquisitions (`try_lock_for`, `try_read_until`, `try_upgrade_for`, ...) are
//!   validated as blocking ones, and a report marks them `timed: the wait is bounded`
//!   ([`HeldLock::is_timed`]);
//! * upgradable reads: see [`sync::RwLock`]'s "Upgradable reads" (a companion class per lock;
//!   readers never wait for an upgradable reader, writers and upgradable readers do);
//! * [`ReentrantMutex`]: the owner's first lock of an instance is validated, re-entries are
//!   counted, not validated;
//! * [`Once`]: its initialisation is a lock while it runs (as the [`stdsync`] cells': an
//!   initialiser taking a lock held around `call_once` elsewhere is a cycle, one reaching its
//!   own `Once` is reported instead of hanging); a finished `Once` records nothing.
//!
//! ## Features from parking_lot
//!
//! The crate has `parking_lot`'s feature names, so a crate that renames this one to
//! `parking_lot` in its `Cargo.toml` keeps its feature list:
//!
//! | feature | with `check` off | with `check` on |
//! |---|---|---|
//! | `arc_lock` | `lock_arc`, `read_arc`, `write_arc`, `upgradable_read_arc` (+ `try_`/timed) and `lock_api`'s `Arc*Guard` types | the same names; the guards are this crate's, `!Send` |
//! | `serde` | `Serialize` (the value, under the lock), `Deserialize` (a new lock) | the same; serializing takes the lock, validated |
//! | `send_guard` | **not modelled**: accepted, not passed on; the guards stay `!Send` | the same: held locks are per thread, so a guard must stay on its thread (passing it on with `check` off only would build code there that fails with `check` on) |
//! | `deadlock_detection` | `lockdep::deadlock` (`parking_lot`'s, which sees our locks) | the same |
//! | `owning_ref` | `StableAddress` for the guards (`lock_api`'s) | the same, for this crate's guards |
//! | `hardware-lock-elision`, `nightly` | passed to `parking_lot` | the same; no effect on validation |
//!
//! ## Not modelled, and why
//!
//! * `MutexGuard::mutex` (and `rwlock`, `remutex`, the `Arc` guards' `mutex`/`rwlock`) returns
//!   this crate's lock with `check` on and the plain lock inside it with `check` off: a guard
//!   is `parking_lot`'s then and cannot name our type. Method calls on the result compile both
//!   ways; comparing it with a `&lockdep::Mutex` needs an address comparison.
//! * [`RawMutex`], [`RawRwLock`], [`RawFairMutex`] and [`RawThreadId`] are `parking_lot`'s raw
//!   locks, for naming types (`ArcMutexGuard<RawMutex, T>`). A lock built on them directly
//!   (`lock_api::Mutex<RawMutex, T>`) is not validated: a validated `lock_api::RawMutex` cannot
//!   be made, because `lock_api`'s raw trait has no caller location and no instance identity
//!   to key a class on, so every lock of one raw type would be one class.
//! * `raw()`, `make_guard_unchecked`, `from_raw`/`const_new`: not offered; they hand out the
//!   plain lock behind the validator's back.
//! * `Arc` guards of `FairMutex` and `ReentrantMutex`, and `with_upgraded`/timed upgrades on
//!   `ArcRwLockUpgradableReadGuard`: not offered, with `check` on or off.
//! * An upgradable read orders writers against the companion class only once the lock has
//!   had an upgradable reader (before that a writer skips it, so locks that are never read
//!   upgradably pay nothing): writes made before a lock's first upgradable read are not
//!   ordered against its upgradable readers.
//! * Async locks (tokio-style `lock().await`, owned guards, semaphores): not offered. The held
//!   stack is per OS thread, and a task moves between threads at every `.await`, so a hold
//!   cannot be attributed honestly; the annotation macros reject `async fn` for the same
//!   reason.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod annotate;
mod class;
mod class_macros;
mod config;
pub mod context;
mod lockable;
mod lockmap;
pub mod report;
mod srcu;
pub mod stdsync;
pub mod sync;
mod with_class;
pub mod ww;

#[cfg(feature = "check")]
mod engine;

pub use annotate::{
    assert_held, assert_held_read, assert_held_write, assert_none_held, assert_not_held, forbid_nesting,
    is_held, might_lock, might_lock_nested, might_lock_read, might_sleep, must_not_hold, prime,
    return_to_user, syscall, SyscallScope,
};
pub use class::{LockClass, MAX_SUBCLASSES};
pub use config::{action, set_action, Action};
pub use context::{
    bh_disabled, in_atomic, in_hardirq, in_interrupt, in_serving_softirq, in_softirq, irq_context,
    irq_context_no_thread, irqs_are_disabled, irqs_disabled, panic_context, softirq_context, ContextScope,
};
pub use lockable::Lockable;
pub use lockdep_macros::{lock_class, must_not_hold, requires_held, section, signalling};
pub use lockmap::{LockMap, LockMapGuard, WaitType};
#[cfg(feature = "json")]
pub use report::REPORT_SCHEMA_VERSION;
pub use report::{
    hint_for, register_hint, Assertion, AtomicReason, Dependency, Detail, Frame, HeldLock, Irq, IrqState,
    LockMode, Report, ReportKind, Stack, Usage, WaitLimit, WwRule,
};
pub use srcu::{Srcu, SrcuReadGuard};
pub use sync::{
    const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, Condvar, FairMutex, FairMutexGuard,
    IrqSaveGuard, MappedFairMutexGuard, MappedMutexGuard, MappedReentrantMutexGuard, MappedRwLockReadGuard,
    MappedRwLockWriteGuard, Mutex, MutexGuard, Once, OnceState, RawSpinLock, RawSpinLockGuard,
    ReentrantMutex, ReentrantMutexGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
    RwLockWriteGuard, RwSpinLock, RwSpinLockReadGuard, RwSpinLockWriteGuard, SpinLock, SpinLockGuard,
    WaitTimeoutResult,
};
#[cfg(feature = "arc_lock")]
pub use sync::{ArcMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard};
pub use with_class::WithClass;
pub use ww::{WwAcquireCtx, WwClass, WwError, WwMutex, WwMutexGuard};

/// `parking_lot`'s raw lock types, so that types written with them (`lock_api::Mutex<RawMutex,
/// T>`, `ArcMutexGuard<RawMutex, T>`) read as with `parking_lot`. They are the plain raw locks:
/// a lock built on one directly through `lock_api` is not validated (see "Features from
/// parking_lot").
pub use parking_lot::{RawFairMutex, RawMutex, RawRwLock, RawThreadId};

/// The `lock_api` crate this one's locks are built on (as `parking_lot` re-exports it).
pub use lock_api;

/// `parking_lot`'s detector of actual deadlocks (the `deadlock_detection` feature): our locks
/// are `parking_lot` locks underneath, so `deadlock::check_deadlock()` finds threads blocked on
/// them. The validator finds the orders that *can* deadlock; this finds the ones that did.
#[cfg(feature = "deadlock_detection")]
pub use parking_lot::deadlock;

/// Whether this build validates (the `check` feature is on).
pub const ENABLED: bool = cfg!(feature = "check");

/// The most locks one thread can hold at once and still have them tracked (the kernel's
/// `MAX_LOCK_DEPTH`). Taking one more is reported and the extra locks go untracked.
pub const MAX_LOCK_DEPTH: usize = 48;

/// Counters describing the validator's state (all zero with the feature off), like the
/// kernel's `/proc/lockdep_stats`.
///
/// The hot path (an acquisition whose chain of held classes was validated before) counts
/// nothing, so chain-cache *hits* are not counted; `slow_paths` counts the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lock classes registered.
    pub classes: usize,
    /// The most classes the table holds.
    pub max_classes: usize,
    /// Dependencies recorded (edges of the class graph).
    pub dependencies: usize,
    /// The most dependencies the table holds.
    pub max_dependencies: usize,
    /// Lock chains validated and cached (each one a chain-cache miss that was validated).
    pub chains: usize,
    /// The most chains the cache holds.
    pub max_chains: usize,
    /// Times the validator took its global lock: class registration, new chains, reports.
    /// Acquisitions whose chain was validated before never add to it.
    pub slow_paths: u64,
    /// Return addresses stored for the stacks of first occurrences (shared, de-duplicated).
    pub stack_frames: usize,
    /// The most return addresses the stack store holds.
    pub max_stack_frames: usize,
    /// Bytes used by the recorded dependencies, their index and their stacks.
    pub dependency_bytes: usize,
    /// Reports found since the process started, by kind: index `i` counts
    /// `ReportKind::ALL[i]` (see [`Stats::reports_of`]). Suppressed ones included; not
    /// cleared by [`reset`].
    pub reports: [u64; ReportKind::ALL.len()],
    /// Reports a suppression covered ([`allow_dependency`], `LOCKDEP_SUPPRESSIONS`): counted
    /// here, never recorded or printed.
    pub suppressed: u64,
}

impl Stats {
    /// How many reports of `kind` were found.
    pub fn reports_of(&self, kind: ReportKind) -> u64 {
        ReportKind::ALL
            .iter()
            .position(|&k| k == kind)
            .map_or(0, |i| self.reports[i])
    }

    /// How many more classes, dependencies, chains and stack frames fit.
    pub fn left(&self) -> (usize, usize, usize, usize) {
        (
            self.max_classes.saturating_sub(self.classes),
            self.max_dependencies.saturating_sub(self.dependencies),
            self.max_chains.saturating_sub(self.chains),
            self.max_stack_frames.saturating_sub(self.stack_frames),
        )
    }
}

/// The validator's counters. Reading them takes the validator's lock once (not counted).
pub fn stats() -> Stats {
    #[cfg(feature = "check")]
    {
        let mut s = engine::state::stats();
        s.max_classes = engine::state::MAX_CLASSES;
        s.max_dependencies = engine::graph::MAX_EDGES;
        s.max_chains = engine::chain::MAX_CHAINS;
        s.max_stack_frames = engine::stack::MAX_STACK_ENTRIES;
        s.reports = engine::sink::found();
        s.suppressed = engine::suppress::SUPPRESSED.load(std::sync::atomic::Ordering::Relaxed);
        s
    }
    #[cfg(not(feature = "check"))]
    {
        Stats::default()
    }
}

/// Contention and hold times of one lock class (see [`lock_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockStat {
    /// The class name, as reports print it.
    pub class: String,
    /// How many blocking acquisitions found a lock of the class taken and waited.
    pub contentions: u64,
    /// Their total wait.
    pub wait_total: std::time::Duration,
    /// The longest single wait.
    pub wait_max: std::time::Duration,
    /// How many holds of a lock of the class ended (the kernel's `acquisitions`).
    pub holds: u64,
    /// Their total hold time (the kernel's `holdtime-total`).
    pub hold_total: std::time::Duration,
    /// The shortest hold (`holdtime-min`; zero before the first hold ends).
    pub hold_min: std::time::Duration,
    /// The longest hold (`holdtime-max`).
    pub hold_max: std::time::Duration,
}

/// Per-class lock statistics since the process started, most waited-for class first, then
/// longest held (the kernel's `/proc/lock_stat`): only with the `lock-stat` feature, empty
/// otherwise. A contended acquisition is counted under its lock's class (subclass 0); a hold,
/// from the moment the lock is obtained to its release, under the class it was taken as.
pub fn lock_stats() -> Vec<LockStat> {
    #[cfg(feature = "lock-stat")]
    {
        engine::lock_stat::snapshot()
    }
    #[cfg(not(feature = "lock-stat"))]
    {
        Vec::new()
    }
}

/// Marks the dependency `outer -> inner` (class names, as reports print them) as reviewed
/// and allowed: a later report whose cycle contains it, or about taking `inner` while
/// holding `outer`, is counted in [`Stats::suppressed`] and otherwise dropped. `reason` is
/// for the reader of the code, as in a suppression file (`LOCKDEP_SUPPRESSIONS`, the format
/// `lockdep merge --suppressions` reads). A no-op with the feature off.
pub fn allow_dependency(outer: &str, inner: &str, reason: &str) {
    let _ = reason;
    #[cfg(feature = "check")]
    engine::suppress::add(outer, inner);
    #[cfg(not(feature = "check"))]
    let _ = (outer, inner);
}

/// Installs a panic hook (chained before the current one) that reports a thread panicking
/// while it holds locks ([`ReportKind::PanicWhileHolding`]): the lock types do not poison, so
/// the data they protect may be left half-updated for the next thread. A no-op with the feature
/// off. Install it once, at start-up.
pub fn install_panic_hook() {
    #[cfg(feature = "check")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(engine::validate::install_panic_hook);
    }
}

/// Drains the reports recorded so far in this process, oldest first.
///
/// Reports are recorded whatever the [`Action`]; with the feature off this is always empty.
pub fn take_reports() -> Vec<Report> {
    #[cfg(feature = "check")]
    {
        engine::sink::take_reports()
    }
    #[cfg(not(feature = "check"))]
    {
        Vec::new()
    }
}

/// Installs `hook`, called with every report after it is recorded (whatever the [`Action`]),
/// replacing any earlier hook. A no-op with the feature off.
///
/// The hook runs on the thread that hit the violation, after the validator let go of its own
/// state, so it may take locks, validated ones included. A report found while the hook runs
/// on this thread (the hook itself took locks in a bad order) is recorded, printed and written
/// to the report directory as usual, but not handed to the hook again, and never becomes a
/// panic there. Keep it short: the violating lock operation waits for it.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static SEEN: AtomicUsize = AtomicUsize::new(0);
/// lockdep::set_report_hook(|r: &lockdep::Report| {
///     SEEN.fetch_add(1, Ordering::Relaxed);
///     eprintln!("lockdep found: {}", r.summary());
/// });
/// # lockdep::clear_report_hook();
/// ```
pub fn set_report_hook<F>(hook: F)
where
    F: Fn(&Report) + Send + Sync + 'static,
{
    #[cfg(feature = "check")]
    engine::sink::set_hook(Some(std::sync::Arc::new(hook)));
    #[cfg(not(feature = "check"))]
    let _ = hook;
}

/// Removes the hook installed by [`set_report_hook`].
pub fn clear_report_hook() {
    #[cfg(feature = "check")]
    engine::sink::set_hook(None);
}

/// Sets the report directory, overriding `LOCKDEP_REPORT_DIR`; `None` turns it off. Every
/// later distinct report is written there as `<stem>.txt` and `<stem>.json`
/// ([`Report::stem`]), atomically, so many threads and processes may share one directory.
/// A no-op with the feature off.
pub fn set_report_dir(dir: Option<std::path::PathBuf>) {
    #[cfg(feature = "check")]
    engine::report_dir::set(dir);
    #[cfg(not(feature = "check"))]
    let _ = dir;
}

/// The report directory in force: the last [`set_report_dir`], else `LOCKDEP_REPORT_DIR`.
pub fn report_dir() -> Option<std::path::PathBuf> {
    #[cfg(feature = "check")]
    {
        engine::report_dir::get()
    }
    #[cfg(not(feature = "check"))]
    {
        None
    }
}

/// Writes this process's dependency graph to `path` as JSON (the schema is
/// `lockdep/schema/graph.schema.json`; version [`GRAPH_SCHEMA_VERSION`]): every class by name,
/// every dependency with its read/write kinds, acquisition sites and first-seen stack, every
/// cached lock chain with its irq context, the table statistics and, with the `lock-stat`
/// feature, the [`lock_stats`]. The `lockdep` tool (`lockdep-cli`) merges such dumps from many processes
/// and finds the cycles none of them saw alone.
///
/// With `LOCKDEP_GRAPH_DUMP=DIR` in the environment every process writes its dump into `DIR`
/// on its own when it exits normally, test binaries included: nothing needs to call this.
///
/// # Errors
///
/// The file cannot be written, or (with the feature off) there is no graph:
/// [`std::io::ErrorKind::Unsupported`].
pub fn dump_graph(path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
    #[cfg(feature = "check")]
    {
        engine::graph_dump::dump_to(path.as_ref(), true)
    }
    #[cfg(not(feature = "check"))]
    {
        let _ = path;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "lockdep was built without the `check` feature: there is no graph to dump",
        ))
    }
}

/// Like [`dump_graph`], into `dir` under a name of its own (`<program>-<pid>-<nanos>.json`, as
/// `LOCKDEP_GRAPH_DUMP` names them); returns the path.
///
/// # Errors
///
/// As [`dump_graph`].
pub fn dump_graph_into(dir: impl AsRef<std::path::Path>) -> std::io::Result<std::path::PathBuf> {
    #[cfg(feature = "check")]
    {
        engine::graph_dump::dump_into(dir.as_ref(), true)
    }
    #[cfg(not(feature = "check"))]
    {
        dump_graph(dir.as_ref()).map(|()| dir.as_ref().to_path_buf())
    }
}

/// The `version` of graph dumps ([`dump_graph`]). Version 2 added the cached lock chains
/// (`chains`) and, with the `lock-stat` feature, the per-class lock statistics (`lock_stats`).
/// Defined with the feature off too, so code that names it builds both ways (there is no graph
/// to dump then).
pub const GRAPH_SCHEMA_VERSION: u32 = 2;

/// Forgets every dependency, chain, recorded report and the record of what was already
/// reported, so the next violation of any kind is reported again. Lock classes stay.
///
/// Locks held right now stay held; their later release is not a violation.
pub fn reset() {
    #[cfg(feature = "check")]
    engine::reset();
}
