//! The lock classes generated programs use, each with one fixed lock type.
//!
//! Classes outlive [`lockdep::reset`] and a class takes its wait type from the first lock that
//! registers it, so a class must never change type between programs: the table fixes it. The
//! process pool is what programs nest freely; the irq pool is only taken in *sections* (take,
//! release at once, see `gen::Op::Section`), so its classes are never held while another lock is
//! taken. That keeps irq-safety reports to the single-class kind (inconsistent lock state) and
//! the wait-context and sleeping checks, whose expected reports are unambiguous.

use lockdep::{LockClass, LockMap};

/// The lock type behind a class, with the kernel's semantics the model needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Mutex` (the kernel's `mutex`): sleeps.
    Mutex,
    /// `SpinLock` (`spinlock_t`).
    Spin,
    /// `RawSpinLock` (`raw_spinlock_t`).
    Raw,
    /// `RwLock` (`rw_semaphore`): sleeps; `read` is a non-recursive reader.
    RwSem,
    /// `RwSpinLock` (`rwlock_t`): spins; `read` is a recursive reader, `read_queued` is not.
    RwSpin,
    /// `LockMap`, a pseudo-lock: never blocks, no wait type; the map is its own class.
    Map,
}

/// The kernel's wait types (`LD_WAIT_*` with raw-lock nesting on): 0 is "not checked".
pub const WAIT_INV: u8 = 0;
const WAIT_SPIN: u8 = 2;
const WAIT_CONFIG: u8 = 3;
const WAIT_SLEEP: u8 = 4;

impl Kind {
    /// Whether taking an instance the thread already holds (in a conflicting mode) would wait
    /// for itself forever: true of every real lock, false of pseudo-locks.
    pub fn blocks(self) -> bool {
        self != Kind::Map
    }

    /// Whether acquiring it may sleep (`might_sleep()` in the kernel's lock functions).
    pub fn sleeps(self) -> bool {
        matches!(self, Kind::Mutex | Kind::RwSem)
    }

    /// Whether holding it is an atomic section (preemption off in the kernel).
    pub fn spins(self) -> bool {
        matches!(self, Kind::Spin | Kind::Raw | Kind::RwSpin)
    }

    /// `(outer, inner)` wait types: what taking it needs, what may be taken while it is held.
    pub fn wait(self) -> (u8, u8) {
        match self {
            Kind::Mutex | Kind::RwSem => (WAIT_SLEEP, WAIT_SLEEP),
            Kind::Spin | Kind::RwSpin => (WAIT_CONFIG, WAIT_CONFIG),
            Kind::Raw => (WAIT_SPIN, WAIT_SPIN),
            Kind::Map => (WAIT_INV, WAIT_INV),
        }
    }

    /// Whether it has readers.
    pub fn has_readers(self) -> bool {
        matches!(self, Kind::RwSem | Kind::RwSpin | Kind::Map)
    }
}

/// One class of the table.
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
}

/// Classes `0..PROC` are the process pool, `PROC..PROC + IRQ` the irq pool.
pub const PROC: u8 = 10;
pub const IRQ: u8 = 4;
pub const COUNT: usize = (PROC + IRQ) as usize;

pub const DEFS: [Def; COUNT] = [
    Def {
        name: "oracle_mutex_a",
        kind: Kind::Mutex,
    },
    Def {
        name: "oracle_mutex_b",
        kind: Kind::Mutex,
    },
    Def {
        name: "oracle_spin",
        kind: Kind::Spin,
    },
    Def {
        name: "oracle_raw",
        kind: Kind::Raw,
    },
    Def {
        name: "oracle_rwsem",
        kind: Kind::RwSem,
    },
    Def {
        name: "oracle_rwspin",
        kind: Kind::RwSpin,
    },
    Def {
        name: "oracle_map_a",
        kind: Kind::Map,
    },
    Def {
        name: "oracle_map_b",
        kind: Kind::Map,
    },
    Def {
        name: "oracle_map_c",
        kind: Kind::Map,
    },
    Def {
        name: "oracle_rwsem_b",
        kind: Kind::RwSem,
    },
    Def {
        name: "oracle_irq_spin",
        kind: Kind::Spin,
    },
    Def {
        name: "oracle_irq_raw",
        kind: Kind::Raw,
    },
    Def {
        name: "oracle_irq_mutex",
        kind: Kind::Mutex,
    },
    Def {
        name: "oracle_irq_rwspin",
        kind: Kind::RwSpin,
    },
];

macro_rules! per_class {
    ($ctor:path; $($i:literal)*) => { [$($ctor(DEFS[$i].name)),*] };
}

/// The named classes of the real locks (unused for the pseudo-lock entries).
pub static CLASSES: [LockClass; COUNT] = per_class!(LockClass::new; 0 1 2 3 4 5 6 7 8 9 10 11 12 13);

/// The pseudo-locks of the `Map` entries (unused for the others): one per class, shared by all
/// threads, since a pseudo-lock is its own class.
pub static MAPS: [LockMap; COUNT] = per_class!(LockMap::new; 0 1 2 3 4 5 6 7 8 9 10 11 12 13);

pub fn kind(class: u8) -> Kind {
    DEFS[class as usize].kind
}

/// A class as the validator sees it: table entry and subclass.
pub type Class = (u8, u8);

/// The class's name as reports print it (`name`, or `name/subclass`).
pub fn name(c: Class) -> String {
    if c.1 == 0 {
        DEFS[c.0 as usize].name.to_string()
    } else {
        format!("{}/{}", DEFS[c.0 as usize].name, c.1)
    }
}

/// The class a report names, if it is one of the table's.
pub fn parse(name: &str) -> Option<Class> {
    let (base, sub) = match name.split_once('/') {
        Some((b, s)) => (b, s.parse().ok()?),
        None => (name, 0),
    };
    let i = DEFS.iter().position(|d| d.name == base)?;
    Some((i as u8, sub))
}
