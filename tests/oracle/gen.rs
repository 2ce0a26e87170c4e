//! Generated programs: per-thread operations interleaved by a schedule, and what each
//! operation means for the lock it names.
//!
//! A program is a list of steps `(thread, op)`: each thread's operations in its own order, the
//! list itself the schedule by which the threads take turns. Operations carry raw numbers that
//! are interpreted against the lock's type ([`Op::resolve`]), so every generated value is a
//! valid program and shrinking (towards smaller numbers, fewer steps, fewer threads) keeps it
//! valid.

use crate::pool::{self, Kind, IRQ, PROC};
use proptest::prelude::*;

pub const WRITE: u8 = 0;
pub const READ: u8 = 1;
pub const RECURSIVE: u8 = 2;

/// The execution context of a section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctx {
    /// Process context, interrupts on.
    Process,
    /// Process context inside `irqs_disabled()`.
    IrqsOff,
    /// `irq_context()`: a hard irq handler that would run threaded (spinlocks allowed).
    HardIrq,
    /// `irq_context_no_thread()`: only raw spinlocks allowed.
    HardIrqNoThread,
    /// `softirq_context()`: a soft irq, in which the kernel runs with hard irqs *on*.
    SoftIrq,
}

impl Ctx {
    /// Hard irqs are off (the kernel runs hard irq handlers with them off).
    pub fn hardirqs_off(self) -> bool {
        matches!(self, Ctx::IrqsOff | Ctx::HardIrq | Ctx::HardIrqNoThread)
    }
    /// Soft irqs are off (inside a soft irq handler).
    pub fn softirqs_off(self) -> bool {
        self == Ctx::SoftIrq
    }
    pub fn in_hardirq(self) -> bool {
        matches!(self, Ctx::HardIrq | Ctx::HardIrqNoThread)
    }
    /// The irq context a chain belongs to: dependencies never cross a change of it.
    pub fn irq_context(self) -> u8 {
        match self {
            Ctx::Process | Ctx::IrqsOff => 0,
            Ctx::SoftIrq => 1,
            Ctx::HardIrq | Ctx::HardIrqNoThread => 2,
        }
    }
}

/// How an acquisition is made, before it is interpreted against the lock type.
#[derive(Clone, Copy, Debug)]
pub enum How {
    Plain,
    Try,
    /// `*_nested(subclass)` with this raw subclass (interpreted as `1 + n % 2`).
    Nested(u8),
    /// `lock_nest_lock(&nest)`, nest = instance `inst` of class `class` of the process pool.
    NestLock {
        class: u8,
        inst: u8,
    },
    /// `LockMap::sync()`.
    Sync,
}

#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Acquire instance `inst % 2` of process-pool class `class`, in mode `mode % 3` (write,
    /// read, recursive read) where the type has it.
    Acquire { class: u8, inst: u8, mode: u8, how: How },
    /// Release the held lock at this position (modulo the count) of the thread's acquisitions,
    /// oldest first: any position, not only the last.
    Release(u8),
    /// Take irq-pool class `class` in context `ctx` (a trylock if `try_`) and release it at
    /// once, whatever the thread holds.
    Section { ctx: Ctx, class: u8, try_: bool },
}

/// What an acquisition means: every field interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acq {
    pub class: u8,
    /// Instance of the class in this thread (always 0 for pseudo-locks: the map is the class).
    pub inst: u8,
    pub sub: u8,
    pub read: u8,
    pub trylock: bool,
    pub sync: bool,
    pub nest: Option<(u8, u8)>,
    pub ctx: Ctx,
    /// Released right after it is taken.
    pub section: bool,
}

impl Op {
    /// The acquisition this operation makes (`None` for a release).
    pub fn resolve(&self) -> Option<Acq> {
        match *self {
            Op::Release(_) => None,
            Op::Section { ctx, class, try_ } => Some(Acq {
                class: PROC + class % IRQ,
                inst: 0,
                sub: 0,
                read: WRITE,
                trylock: try_,
                sync: false,
                nest: None,
                ctx,
                section: true,
            }),
            Op::Acquire {
                class,
                inst,
                mode,
                how,
            } => {
                let class = class % PROC;
                let kind = pool::kind(class);
                let mut a = Acq {
                    class,
                    inst: if kind == Kind::Map { 0 } else { inst % 2 },
                    sub: 0,
                    read: if kind.has_readers() { mode % 3 } else { WRITE },
                    trylock: false,
                    sync: false,
                    nest: None,
                    ctx: Ctx::Process,
                    section: false,
                };
                match how {
                    How::Plain => {}
                    How::Try => {
                        a.trylock = true;
                        // `rwlock_t` has no non-recursive `read_trylock`.
                        if kind == Kind::RwSpin && a.read == READ {
                            a.read = RECURSIVE;
                        }
                    }
                    How::Nested(n) if kind != Kind::Map => a.sub = 1 + n % 2,
                    How::NestLock { class: c, inst: i }
                        if matches!(kind, Kind::Mutex | Kind::Spin | Kind::Raw) =>
                    {
                        let c = c % PROC;
                        let i = if pool::kind(c) == Kind::Map { 0 } else { i % 2 };
                        a.nest = Some((c, i));
                    }
                    How::Sync if kind == Kind::Map && a.read == WRITE => a.sync = true,
                    _ => {}
                }
                Some(a)
            }
        }
    }
}

/// A program of `threads` threads.
#[derive(Clone, Debug)]
pub struct Program {
    pub threads: usize,
    pub steps: Vec<(usize, Op)>,
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        8 => Just(How::Plain),
        2 => Just(How::Try),
        2 => any::<u8>().prop_map(How::Nested),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(class, inst)| How::NestLock { class, inst }),
        1 => Just(How::Sync),
    ]
}

fn ctx() -> impl Strategy<Value = Ctx> {
    prop_oneof![
        Just(Ctx::Process),
        Just(Ctx::IrqsOff),
        Just(Ctx::HardIrq),
        Just(Ctx::HardIrqNoThread),
        Just(Ctx::SoftIrq),
    ]
}

/// An operation. `classes` limits the process-pool classes used, so that short programs
/// still revisit their classes often enough to close cycles.
fn op(classes: u8) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..classes, any::<u8>(), any::<u8>(), how())
            .prop_map(|(class, inst, mode, how)| Op::Acquire { class, inst, mode, how }),
        4 => any::<u8>().prop_map(Op::Release),
        1 => (ctx(), any::<u8>(), prop::bool::weighted(0.2))
            .prop_map(|(ctx, class, try_)| Op::Section { ctx, class, try_ }),
    ]
}

/// Programs of 1 to `max_threads` threads and up to `max_steps` steps in all.
pub fn program(max_threads: usize, max_steps: usize) -> impl Strategy<Value = Program> {
    (1..=max_threads, 2..=PROC, 0..PROC).prop_flat_map(move |(threads, classes, offset)| {
        prop::collection::vec((0..threads, op(classes)), 1..max_steps).prop_map(move |mut steps| {
            // Which classes a program uses: a window of the pool, not always its first ones.
            for (_, op) in &mut steps {
                if let Op::Acquire { class, .. } = op {
                    *class = (*class + offset) % PROC;
                }
            }
            Program { threads, steps }
        })
    })
}

impl std::fmt::Display for Program {
    /// One line per step, as the call the worker makes: `t1: oracle_rwsem[0].read_nested(1)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (t, op) in &self.steps {
            write!(f, "  t{t}: ")?;
            match (op, op.resolve()) {
                (Op::Release(n), _) => writeln!(f, "release acquisition #{n} (modulo held)")?,
                (_, Some(a)) => writeln!(f, "{a}")?,
                _ => unreachable!(),
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Acq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = pool::kind(self.class);
        let name = pool::DEFS[self.class as usize].name;
        let verb = match (kind, self.read, self.trylock) {
            (Kind::Map, _, _) if self.sync => "sync",
            (_, WRITE, true) if matches!(kind, Kind::Mutex | Kind::Spin | Kind::Raw) => "try_lock",
            (_, WRITE, false) if matches!(kind, Kind::Mutex | Kind::Spin | Kind::Raw | Kind::Map) => "lock",
            (_, WRITE, true) if kind == Kind::Map => "try_lock",
            (_, WRITE, true) => "try_write",
            (_, WRITE, false) => "write",
            (Kind::RwSpin, READ, false) => "read_queued",
            (Kind::RwSpin, _, false) => "read",
            (Kind::RwSpin, _, true) => "try_read",
            (_, READ, false) => "read",
            (_, READ, true) => "try_read",
            (_, _, false) => "read_recursive",
            (_, _, true) => "try_read_recursive",
        };
        let ctx = match self.ctx {
            Ctx::Process => "",
            Ctx::IrqsOff => "irqs_disabled: ",
            Ctx::HardIrq => "irq_context: ",
            Ctx::HardIrqNoThread => "irq_context_no_thread: ",
            Ctx::SoftIrq => "softirq_context: ",
        };
        write!(f, "{ctx}{name}[{}].{verb}", self.inst)?;
        match (self.sub, self.nest) {
            (0, None) => write!(f, "()")?,
            (s, None) => write!(f, "_nested({s})")?,
            (_, Some((c, i))) => write!(f, "_nest_lock(&{}[{i}])", pool::DEFS[c as usize].name)?,
        }
        if self.section {
            write!(f, ", released at once")?;
        }
        Ok(())
    }
}
