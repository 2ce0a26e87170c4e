//! A small interpreter for the kernel self-test notation, so each case reads like the
//! catalogue: `"RL(X1); L(Y1); U(Y1); RU(X1)"`.
//!
//! Lock names: `A`..`D` are each their own class; `X1`/`X2` (likewise `Y*`, `Z*`) are two
//! instances of one class. The operation decides the lock type, and each type has its own
//! locks, as in the kernel (`lock_A` is a spinlock, `rwlock_A` an rwlock, `mutex_A` a mutex,
//! `rwsem_A` an rw_semaphore):
//!
//! | op | lock | acquisition |
//! |---|---|---|
//! | `L`/`U` | `SpinLock` | lock / unlock |
//! | `RL`/`RU`, `WL`/`WU` | `RwSpinLock` (rwlock_t) | `read` (recursive) / `write` |
//! | `ML`/`MU` | `Mutex` | lock / unlock |
//! | `RSL`/`RSU`, `WSL`/`WSU` | `RwLock` (rw_semaphore) | `read` (non-recursive) / `write` |
//! | `QRL`/`QRU` | `RwSpinLock` (rwlock_t) | `read_queued` (a queued, non-recursive reader) |
//! | `TL`, `TRL`, `TWL` | as `L`, `RL`, `WL` | trylock (`try_lock`, `try_read`, `try_write`) |
//! | `INIT(x)` | any | re-initialise a held lock: its guard is forgotten and the lock freed |
//!
//! An unlock with no matching guard releases the lock by force, which the validator must
//! report as a bad unlock balance. Every case runs on fresh lock instances after
//! `lockdep::reset()`; guards still held at the end are released in reverse order.

#![allow(dead_code)]

use lockdep::context::irq;
use lockdep::{
    LockClass, LockMap, LockMapGuard, Mutex, MutexGuard, RawSpinLock, RawSpinLockGuard, Report, ReportKind,
    RwLock, RwLockReadGuard, RwLockWriteGuard, RwSpinLock, RwSpinLockReadGuard, RwSpinLockWriteGuard,
    SpinLock, SpinLockGuard, WaitType,
};
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Ty {
    Spin,
    RwLock,
    Mutex,
    RwSem,
    Raw,
    Map,
}

impl Ty {
    fn prefix(self) -> &'static str {
        match self {
            Ty::Spin => "lock",
            Ty::RwLock => "rwlock",
            Ty::Mutex => "mutex",
            Ty::RwSem => "rwsem",
            Ty::Raw => "raw_lock",
            Ty::Map => "map",
        }
    }
}

enum Lock {
    Raw(RawSpinLock<()>),
    Spin(SpinLock<()>),
    RwSpin(RwSpinLock<()>),
    RwSem(RwLock<()>),
    Mutex(Mutex<()>),
}

enum Guard {
    Raw(RawSpinLockGuard<'static, ()>),
    Map(LockMapGuard<'static>),
    Spin(SpinLockGuard<'static, ()>),
    Read(RwSpinLockReadGuard<'static, ()>),
    Write(RwSpinLockWriteGuard<'static, ()>),
    SemRead(RwLockReadGuard<'static, ()>),
    SemWrite(RwLockWriteGuard<'static, ()>),
    Mutex(MutexGuard<'static, ()>),
}

/// The class of a lock name: `A1`-style names share the letter's class.
fn class(ty: Ty, name: &str) -> &'static LockClass {
    static CLASSES: OnceLock<std::sync::Mutex<HashMap<String, &'static LockClass>>> = OnceLock::new();
    let letter = &name[..1];
    let key = format!("{}_{}", ty.prefix(), letter);
    let mut m = CLASSES.get_or_init(Default::default).lock().unwrap();
    m.entry(key.clone()).or_insert_with(|| LockClass::register(key))
}

pub struct Case {
    locks: HashMap<(Ty, String), *mut Lock>,
    held: Vec<((Ty, String), Guard)>,
    /// Inside `memalloc_nofs_save()`: allocations do not recurse into filesystem reclaim.
    nofs: bool,
}

impl Case {
    fn new() -> Self {
        Case {
            locks: HashMap::new(),
            held: Vec::new(),
            nofs: false,
        }
    }

    fn lock(&mut self, ty: Ty, name: &str) -> &'static Lock {
        let key = (ty, name.to_string());
        let p = *self.locks.entry(key).or_insert_with(|| {
            let c = class(ty, name);
            let l = match ty {
                Ty::Spin => Lock::Spin(SpinLock::with_class((), c)),
                Ty::RwLock => Lock::RwSpin(RwSpinLock::with_class((), c)),
                Ty::RwSem => Lock::RwSem(RwLock::with_class((), c)),
                Ty::Mutex => Lock::Mutex(Mutex::with_class((), c)),
                Ty::Raw => Lock::Raw(RawSpinLock::with_class((), c)),
                Ty::Map => unreachable!("pseudo-locks are statics"),
            };
            Box::into_raw(Box::new(l))
        });
        // SAFETY: the lock lives until `INIT` frees it (removing it from the map first) or
        // until the case ends, after every guard is gone.
        unsafe { &*p }
    }

    fn acquire(&mut self, op: &str, ty: Ty, name: &str) {
        let g = match (self.lock(ty, name), op) {
            (Lock::Raw(l), "RAWL") => Guard::Raw(l.lock()),
            (Lock::Spin(l), "L") => Guard::Spin(l.lock()),
            (Lock::Spin(l), "TL") => Guard::Spin(l.try_lock().expect("trylock failed")),
            (Lock::Mutex(l), "ML") => Guard::Mutex(l.lock()),
            (Lock::RwSpin(l), "RL") => Guard::Read(l.read()),
            (Lock::RwSpin(l), "TRL") => Guard::Read(l.try_read().expect("trylock failed")),
            (Lock::RwSpin(l), "QRL") => Guard::Read(l.read_queued()),
            (Lock::RwSpin(l), "WL") => Guard::Write(l.write()),
            (Lock::RwSpin(l), "TWL") => Guard::Write(l.try_write().expect("trylock failed")),
            (Lock::RwSem(l), "RSL") => Guard::SemRead(l.read()),
            (Lock::RwSem(l), "WSL") => Guard::SemWrite(l.write()),
            _ => panic!("bad op {op}({name})"),
        };
        self.held.push(((ty, name.to_string()), g));
    }

    fn release(&mut self, ty: Ty, name: &str, read: bool) {
        let key = (ty, name.to_string());
        if let Some(i) = self.held.iter().rposition(|(k, _)| *k == key) {
            self.held.remove(i);
            return;
        }
        // No guard: an unbalanced unlock, done by force. The validator reports it and leaves
        // the (unheld) lock alone.
        // SAFETY: with the validator on, an unlock of a lock this thread does not hold is
        // refused before it reaches the plain lock.
        unsafe {
            match self.lock(ty, name) {
                Lock::Raw(l) => l.force_unlock(),
                Lock::Spin(l) => l.force_unlock(),
                Lock::Mutex(l) => l.force_unlock(),
                Lock::RwSpin(l) if read => l.force_unlock_read(),
                Lock::RwSpin(l) => l.force_unlock_write(),
                Lock::RwSem(l) if read => l.force_unlock_read(),
                Lock::RwSem(l) => l.force_unlock_write(),
            }
        }
    }

    /// `INIT(x)`: the lock is destroyed while held (its guard forgotten first).
    fn init(&mut self, ty: Ty, name: &str) {
        let key = (ty, name.to_string());
        while let Some(i) = self.held.iter().rposition(|(k, _)| *k == key) {
            let (_, g) = self.held.remove(i);
            std::mem::forget(g);
        }
        if let Some(p) = self.locks.remove(&key) {
            // SAFETY: no guard of it is alive any more; nothing else refers to it.
            drop(unsafe { Box::from_raw(p) });
        }
    }

    /// Acquires one of the shared pseudo-locks.
    fn map(&mut self, name: &str, m: &'static LockMap, read: bool) {
        let g = if read { m.read_recursive() } else { m.lock() };
        self.held.push(((Ty::Map, name.to_string()), Guard::Map(g)));
    }

    fn step(&mut self, step: &str) {
        let step = step.trim();
        if step.is_empty() {
            return;
        }
        let (op, rest) = step
            .split_once('(')
            .unwrap_or_else(|| panic!("bad step {step:?}"));
        let name = rest.trim_end_matches(')');
        let op = op.trim();
        match op {
            "L" | "TL" => self.acquire(op, Ty::Spin, name),
            "U" => self.release(Ty::Spin, name, false),
            "RAWL" => self.acquire(op, Ty::Raw, name),
            "RAWU" => self.release(Ty::Raw, name, false),
            "RL" | "WL" | "QRL" | "TRL" | "TWL" => self.acquire(op, Ty::RwLock, name),
            "RU" | "QRU" => self.release(Ty::RwLock, name, true),
            "WU" => self.release(Ty::RwLock, name, false),
            "ML" => self.acquire(op, Ty::Mutex, name),
            "MU" => self.release(Ty::Mutex, name, false),
            "RSL" | "WSL" => self.acquire(op, Ty::RwSem, name),
            "RSU" => self.release(Ty::RwSem, name, true),
            "WSU" => self.release(Ty::RwSem, name, false),
            "SI" => self.init(Ty::Spin, name),
            "RWI" => self.init(Ty::RwLock, name),
            "MI" => self.init(Ty::Mutex, name),
            "RWSI" => self.init(Ty::RwSem, name),
            // Interrupt state, as the kernel self-tests model it (hard irqs are threaded).
            "HARDIRQ_ENTER" => irq::hardirq_enter(true),
            "NOTTHREADED_HARDIRQ_ENTER" => irq::hardirq_enter(false),
            "HARDIRQ_EXIT" => irq::hardirq_exit(),
            "HARDIRQ_DISABLE" => irq::local_irq_disable(),
            "HARDIRQ_ENABLE" => irq::local_irq_enable(),
            "SOFTIRQ_ENTER" => irq::softirq_enter(),
            "SOFTIRQ_EXIT" => irq::softirq_exit(),
            "SOFTIRQ_DISABLE" => irq::local_bh_disable(),
            "SOFTIRQ_ENABLE" => irq::local_bh_enable(),
            // RCU flavours as pseudo-locks with the kernel's wait types.
            "RCU_LOCK" => self.map("rcu", &RCU, true),
            "RCU_UNLOCK" => self.release(Ty::Map, "rcu", true),
            "RCU_BH_LOCK" => {
                irq::local_bh_disable();
                self.map("rcu_bh", &RCU_BH, true)
            }
            "RCU_BH_UNLOCK" => {
                self.release(Ty::Map, "rcu_bh", true);
                irq::local_bh_enable()
            }
            "RCU_SCHED_LOCK" => self.map("rcu_sched", &RCU_SCHED, true),
            "RCU_SCHED_UNLOCK" => self.release(Ty::Map, "rcu_sched", true),
            // Reclaim: fs_reclaim_acquire/release(GFP_KERNEL) and might_alloc(GFP_KERNEL/NOFS).
            "FS_RECLAIM_ACQUIRE" => self.map("fs_reclaim", &FS_RECLAIM, false),
            "FS_RECLAIM_RELEASE" => self.release(Ty::Map, "fs_reclaim", false),
            // GFP_KERNEL enters fs_reclaim unless a memalloc_nofs_save() scope strips __GFP_FS.
            "MIGHT_ALLOC_KERNEL" if !self.nofs => FS_RECLAIM.sync(),
            "MIGHT_ALLOC_KERNEL" | "MIGHT_ALLOC_NOFS" => {}
            "MEMALLOC_NOFS_SAVE" => self.nofs = true,
            "MEMALLOC_NOFS_RESTORE" => self.nofs = false,
            _ => panic!("unknown op {op}"),
        }
    }

    fn finish(mut self) {
        while self.held.pop().is_some() {}
        // Leave the thread in process context with interrupts on, whatever the case did.
        irq::reset();
        for (_, p) in self.locks.drain() {
            // SAFETY: every guard is gone.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

static RCU: LockMap = LockMap::with_wait_type("rcu_read_lock", WaitType::Free, WaitType::Config);
static RCU_BH: LockMap = LockMap::with_wait_type("rcu_read_lock_bh", WaitType::Free, WaitType::Config);
static RCU_SCHED: LockMap = LockMap::with_wait_type("rcu_read_lock_sched", WaitType::Free, WaitType::Spin);
static FS_RECLAIM: LockMap = LockMap::new("fs_reclaim");

/// Runs one sequence from a clean validator and returns what it reported.
pub fn run(seq: &str) -> Vec<Report> {
    lockdep::reset();
    let mut c = Case::new();
    for s in seq.split(';') {
        c.step(s);
    }
    c.finish();
    lockdep::take_reports()
}

/// The expectation of one case, as in the kernel's `dotest`.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// Nothing may be reported.
    Success,
    /// A report must appear, and the first one must be of this kind.
    Failure(ReportKind),
}

pub use Expect::{Failure, Success};

/// Checks one case; returns a description of the mismatch, if any.
pub fn check(name: &str, seq: &str, expect: Expect) -> Result<(), String> {
    let reports = run(seq);
    match (expect, reports.first()) {
        (Success, None) => Ok(()),
        (Failure(k), Some(r)) if r.kind() == k => Ok(()),
        (Success, Some(_)) => Err(format!(
            "{name}: `{seq}` must not be reported, got:\n{}",
            reports[0]
        )),
        (Failure(k), None) => Err(format!("{name}: `{seq}` must be reported as {k:?}, nothing was")),
        (Failure(k), Some(r)) => Err(format!("{name}: `{seq}` must be reported as {k:?}, got:\n{r}")),
    }
}

/// Runs a table of cases and fails with every mismatch at once.
pub fn check_all(cases: &[(String, String, Expect)]) {
    let _s = lockdep_suite::serial();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(n, s, e)| check(n, s, *e).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The lock/unlock ops of each `DO_TESTCASE_6R` variant.
pub const VARIANTS: [(&str, &str, &str); 6] = [
    ("spin", "L", "U"),
    ("wlock", "WL", "WU"),
    ("rlock", "RL", "RU"),
    ("mutex", "ML", "MU"),
    ("wsem", "WSL", "WSU"),
    ("rsem", "RSL", "RSU"),
];

/// Instantiates a generic sequence written with `LOCK(x)`/`UNLOCK(x)` for one variant.
pub fn instantiate(generic: &str, lock: &str, unlock: &str) -> String {
    generic
        .replace("UNLOCK(", &format!("{unlock}("))
        .replace("LOCK(", &format!("{lock}("))
}
