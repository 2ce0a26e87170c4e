//! Runs a program against the validator, one real thread per program thread.
//!
//! Each worker thread owns its own two instances of every real lock class, so threads never
//! wait for each other's locks; pseudo-locks are shared, as a pseudo-lock is its own class.
//! The schedule hands each step to its thread and waits until it is done: the validator sees
//! exactly the program's interleaving, every run the same. A lock call that panics (a re-taken
//! instance) is caught in the worker; one that does not return within [`hang`] is a hang.

use crate::gen::{Acq, Ctx, Op, READ, RECURSIVE, WRITE};
use crate::pool::{self, Kind, COUNT};
use lockdep::{
    LockMap, LockMapGuard, Mutex, MutexGuard, RawSpinLock, RawSpinLockGuard, RwLock, RwLockReadGuard,
    RwLockWriteGuard, RwSpinLock, RwSpinLockReadGuard, RwSpinLockWriteGuard, SpinLock, SpinLockGuard,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one step may take before it counts as hung (a step takes well under a millisecond):
/// `ORACLE_HANG_MS`, default 10 s (the machine may be loaded).
fn hang() -> Duration {
    static HANG: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *HANG.get_or_init(|| {
        let ms = std::env::var("ORACLE_HANG_MS").ok().and_then(|s| s.parse().ok());
        Duration::from_millis(ms.unwrap_or(10_000))
    })
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Returned; `acquired` is false for a failed trylock.
    Done { acquired: bool },
    /// The lock call panicked.
    Panicked,
    /// It did not return.
    Hung,
}

enum Lock {
    Mutex(Mutex<()>),
    Spin(SpinLock<()>),
    Raw(RawSpinLock<()>),
    RwSem(RwLock<()>),
    RwSpin(RwSpinLock<()>),
    Map(&'static LockMap),
}

impl Lock {
    fn new(class: usize) -> Lock {
        let c = &pool::CLASSES[class];
        match pool::DEFS[class].kind {
            Kind::Mutex => Lock::Mutex(Mutex::with_class((), c)),
            Kind::Spin => Lock::Spin(SpinLock::with_class((), c)),
            Kind::Raw => Lock::Raw(RawSpinLock::with_class((), c)),
            Kind::RwSem => Lock::RwSem(RwLock::with_class((), c)),
            Kind::RwSpin => Lock::RwSpin(RwSpinLock::with_class((), c)),
            Kind::Map => Lock::Map(&pool::MAPS[class]),
        }
    }
}

/// A held lock; only ever dropped.
#[allow(dead_code)] // the guards are kept for their `Drop`
enum Guard<'a> {
    Mutex(MutexGuard<'a, ()>),
    Spin(SpinLockGuard<'a, ()>),
    Raw(RawSpinLockGuard<'a, ()>),
    RwSemRead(RwLockReadGuard<'a, ()>),
    RwSemWrite(RwLockWriteGuard<'a, ()>),
    RwSpinRead(RwSpinLockReadGuard<'a, ()>),
    RwSpinWrite(RwSpinLockWriteGuard<'a, ()>),
    Map(LockMapGuard<'static>),
    /// A `sync()`: nothing is held.
    None,
}

/// Calls `lock_nest_lock` of `$l` with the concrete type of `$nest`.
macro_rules! nest_lock {
    ($l:expr, $nest:expr) => {
        match $nest {
            Lock::Mutex(n) => $l.lock_nest_lock(n),
            Lock::Spin(n) => $l.lock_nest_lock(n),
            Lock::Raw(n) => $l.lock_nest_lock(n),
            Lock::RwSem(n) => $l.lock_nest_lock(n),
            Lock::RwSpin(n) => $l.lock_nest_lock(n),
            Lock::Map(n) => $l.lock_nest_lock(*n),
        }
    };
}

/// Takes `lock` as `a` says; `None` when a trylock fails.
fn take<'a>(lock: &'a Lock, a: &Acq, nest: Option<&'a Lock>) -> Option<Guard<'a>> {
    let sub = a.sub as u32;
    Some(match lock {
        Lock::Mutex(l) if a.trylock => Guard::Mutex(l.try_lock()?),
        Lock::Mutex(l) => Guard::Mutex(match nest {
            Some(n) => nest_lock!(l, n),
            None => l.lock_nested(sub),
        }),
        Lock::Spin(l) if a.trylock => Guard::Spin(l.try_lock()?),
        Lock::Spin(l) => Guard::Spin(match nest {
            Some(n) => nest_lock!(l, n),
            None => l.lock_nested(sub),
        }),
        Lock::Raw(l) if a.trylock => Guard::Raw(l.try_lock()?),
        Lock::Raw(l) => Guard::Raw(match nest {
            Some(n) => nest_lock!(l, n),
            None => l.lock_nested(sub),
        }),
        Lock::RwSem(l) => match (a.trylock, a.read) {
            (true, WRITE) => Guard::RwSemWrite(l.try_write()?),
            (true, READ) => Guard::RwSemRead(l.try_read()?),
            (true, _) => Guard::RwSemRead(l.try_read_recursive()?),
            (false, WRITE) => Guard::RwSemWrite(l.write_nested(sub)),
            (false, READ) => Guard::RwSemRead(l.read_nested(sub)),
            (false, _) => Guard::RwSemRead(l.read_recursive_nested(sub)),
        },
        Lock::RwSpin(l) => match (a.trylock, a.read) {
            (true, WRITE) => Guard::RwSpinWrite(l.try_write()?),
            (true, _) => Guard::RwSpinRead(l.try_read()?),
            (false, WRITE) => Guard::RwSpinWrite(l.write_nested(sub)),
            (false, READ) => Guard::RwSpinRead(l.read_queued_nested(sub)),
            (false, _) => Guard::RwSpinRead(l.read_nested(sub)),
        },
        Lock::Map(m) if a.sync => {
            m.sync();
            Guard::None
        }
        Lock::Map(m) => Guard::Map(match (a.trylock, a.read) {
            (true, WRITE) => m.try_lock()?,
            (true, READ) => m.try_read()?,
            (true, _) => m.try_read_recursive()?,
            (false, WRITE) => m.lock(),
            (false, READ) => m.read(),
            (false, RECURSIVE) => m.read_recursive(),
            (false, _) => unreachable!(),
        }),
    })
}

/// The body of a worker: its locks, its guards, and the steps it is handed.
fn worker(steps: Receiver<Op>, done: Sender<Result<bool, ()>>) {
    let locks: Vec<[Lock; 2]> = (0..COUNT).map(|c| [Lock::new(c), Lock::new(c)]).collect();
    let mut guards: Vec<Guard<'_>> = Vec::new();
    while let Ok(op) = steps.recv() {
        let r = catch_unwind(AssertUnwindSafe(|| match op.resolve() {
            None => {
                if let Op::Release(pick) = op {
                    if !guards.is_empty() {
                        let k = pick as usize % guards.len();
                        drop(guards.remove(k));
                    }
                }
                true
            }
            Some(a) => {
                let lock = &locks[a.class as usize][a.inst as usize];
                let nest = a.nest.map(|(c, i)| &locks[c as usize][i as usize]);
                let scope = match a.ctx {
                    Ctx::Process => None,
                    Ctx::IrqsOff => Some(lockdep::irqs_disabled()),
                    Ctx::HardIrq => Some(lockdep::irq_context()),
                    Ctx::HardIrqNoThread => Some(lockdep::irq_context_no_thread()),
                    Ctx::SoftIrq => Some(lockdep::softirq_context()),
                };
                let g = take(lock, &a, nest);
                let acquired = g.is_some();
                match g {
                    Some(g) if !a.section && !a.sync => guards.push(g),
                    g => drop(g),
                }
                drop(scope);
                acquired
            }
        }));
        if done.send(r.map_err(|_| ())).is_err() {
            break;
        }
    }
    // Released newest first, so nothing is re-validated.
    while guards.pop().is_some() {}
}

struct Worker {
    steps: Option<Sender<Op>>,
    done: Receiver<Result<bool, ()>>,
    thread: Option<JoinHandle<()>>,
}

/// The validator side of a program run.
pub struct Engine {
    workers: Vec<Worker>,
}

impl Engine {
    pub fn start(threads: usize) -> Engine {
        let workers = (0..threads)
            .map(|i| {
                let (tx, rx) = channel();
                let (dtx, drx) = channel();
                let thread = std::thread::Builder::new()
                    .name(format!("oracle-{i}"))
                    .spawn(move || worker(rx, dtx))
                    .expect("spawn a worker");
                Worker {
                    steps: Some(tx),
                    done: drx,
                    thread: Some(thread),
                }
            })
            .collect();
        Engine { workers }
    }

    /// Runs `op` on thread `t` and waits for it.
    pub fn step(&mut self, t: usize, op: Op) -> Outcome {
        let w = &mut self.workers[t];
        let Some(tx) = &w.steps else {
            return Outcome::Hung;
        };
        if tx.send(op).is_err() {
            return Outcome::Hung;
        }
        match w.done.recv_timeout(hang()) {
            Ok(Ok(acquired)) => Outcome::Done { acquired },
            Ok(Err(())) => Outcome::Panicked,
            Err(_) => {
                // Leave the stuck thread behind; it is never joined.
                w.steps = None;
                w.thread = None;
                Outcome::Hung
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.steps = None;
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}
