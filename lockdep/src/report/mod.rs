//! Reports: what the validator found, as a value ([`Report`]) and as kernel-style text.
//!
//! A report is plain data — kind, thread, the locks involved, the dependency chain with the
//! stack where each dependency was first seen, the current stack, and what the rule found as
//! a typed [`Detail`] — so tests can assert on it and sinks can render it: the text, the JSON
//! and the signature are all built here from those fields. Its [`Display`](std::fmt::Display) text opens with the kernel's
//! headline for the kind ("WARNING: possible circular locking dependency detected", …).

mod detail;
mod hint;
#[cfg(feature = "json")]
pub(crate) mod json;
mod kind;
mod signature;
#[cfg(feature = "check")]
pub(crate) use signature::fnv1a;
mod text;
// Only the validator emits events: with `tracing` but not `check` there are no reports.
#[cfg(all(feature = "tracing", feature = "check"))]
pub(crate) mod trace;

pub use detail::{Assertion, AtomicReason, Detail, Irq, IrqState, Usage, WaitLimit, WwRule};
pub use hint::{hint_for, register_hint};
#[cfg(feature = "json")]
pub use json::REPORT_SCHEMA_VERSION;
pub use kind::ReportKind;

use std::panic::Location;
use std::sync::OnceLock;

/// How a lock is (or is being) held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockMode {
    /// Exclusive: a mutex, spinlock, or a reader-writer lock taken for writing.
    Write,
    /// A non-recursive reader (`RwLock::read`): it waits behind a queued writer, so two
    /// readers of the same lock can deadlock through a writer.
    Read,
    /// A recursive reader (`RwLock::read_recursive`, `RwSpinLock::read`): other readers never
    /// block it.
    RecursiveRead,
}

impl LockMode {
    /// The kernel's `read` argument: 0 write, 1 read, 2 recursive read.
    pub fn from_read(read: u8) -> LockMode {
        match read {
            0 => LockMode::Write,
            1 => LockMode::Read,
            _ => LockMode::RecursiveRead,
        }
    }

    /// `lock`, `read` or `rlock`... as the scenario table prints an acquisition.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            LockMode::Write => "lock",
            LockMode::Read | LockMode::RecursiveRead => "rlock",
        }
    }

    fn word(self) -> &'static str {
        match self {
            LockMode::Write => "write",
            LockMode::Read => "read",
            LockMode::RecursiveRead => "recursive read",
        }
    }
}

/// One lock involved in a report: held by the thread, or being acquired or released.
#[derive(Clone, Debug)]
pub struct HeldLock {
    pub(crate) class: String,
    pub(crate) kind: &'static str,
    pub(crate) instance: usize,
    pub(crate) mode: LockMode,
    pub(crate) trylock: bool,
    pub(crate) timed: bool,
    pub(crate) location: Option<&'static Location<'static>>,
}

impl HeldLock {
    /// The lock's class name.
    pub fn class(&self) -> &str {
        &self.class
    }
    /// The lock type, named as the kernel lock it validates as (`mutex`, `rw_semaphore`,
    /// `rwlock`, `spinlock`, ...).
    pub fn lock_kind(&self) -> &'static str {
        self.kind
    }
    /// The address identifying the lock instance.
    pub fn instance(&self) -> usize {
        self.instance
    }
    /// How it is held or being acquired.
    pub fn mode(&self) -> LockMode {
        self.mode
    }
    /// Whether it was taken with a trylock.
    pub fn is_trylock(&self) -> bool {
        self.trylock
    }
    /// Whether it was taken with a timed acquisition (`try_lock_for`, `try_write_until`, ...):
    /// validated as a blocking acquisition, but one whose wait is bounded. A cycle through it
    /// does not hang for ever; each time it closes, its waiter stalls for the whole timeout and
    /// then fails.
    pub fn is_timed(&self) -> bool {
        self.timed
    }
    /// Where it was acquired (or is being acquired or released).
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }
}

/// One recorded dependency of a cycle: `to` was acquired while `from` was held.
#[derive(Clone, Debug)]
pub struct Dependency {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) from_mode: LockMode,
    pub(crate) to_mode: LockMode,
    pub(crate) from_location: Option<&'static Location<'static>>,
    pub(crate) to_location: Option<&'static Location<'static>>,
    pub(crate) thread: String,
    pub(crate) stack: Stack,
}

impl Dependency {
    /// The class that was held.
    pub fn from(&self) -> &str {
        &self.from
    }
    /// The class that was acquired while `from` was held.
    pub fn to(&self) -> &str {
        &self.to
    }
    /// How `from` was held.
    pub fn from_mode(&self) -> LockMode {
        self.from_mode
    }
    /// How `to` was acquired.
    pub fn to_mode(&self) -> LockMode {
        self.to_mode
    }
    /// Where `from` had been acquired when the dependency was first seen.
    pub fn from_location(&self) -> Option<&'static Location<'static>> {
        self.from_location
    }
    /// Where `to` was acquired when the dependency was first seen.
    pub fn to_location(&self) -> Option<&'static Location<'static>> {
        self.to_location
    }
    /// The thread that first established it (`name/id`).
    pub fn thread(&self) -> &str {
        &self.thread
    }
    /// The stack at the moment it was first established.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }
}

/// One symbolised stack frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name (or the address when no symbol is known).
    pub function: String,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Source line, when debug info has it.
    pub line: Option<u32>,
}

/// A captured stack: raw instruction pointers, symbolised on first use.
#[derive(Clone, Debug, Default)]
pub struct Stack {
    ips: Vec<usize>,
    frames: OnceLock<Vec<Frame>>,
}

impl Stack {
    #[cfg_attr(not(feature = "check"), allow(dead_code))]
    pub(crate) fn from_ips(ips: Vec<usize>) -> Stack {
        Stack {
            ips,
            frames: OnceLock::new(),
        }
    }

    /// The raw instruction pointers, innermost first.
    pub fn ips(&self) -> &[usize] {
        &self.ips
    }

    /// Whether no stack was captured.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    /// The frames from the user's code outwards: the validator's own frames are left out and
    /// the runtime's start-up frames are cut. Symbolised on the first call (the first
    /// symbolisation in a process loads debug info, tens of milliseconds).
    pub fn frames(&self) -> &[Frame] {
        self.frames.get_or_init(|| symbolise(&self.ips))
    }
}

/// Frames of the validator itself and of the standard library around it: a stack starts at
/// the first frame past them, which is the user's call to `lock()`.
pub(crate) fn is_internal(function: &str) -> bool {
    if function.starts_with("<fn(") || is_runtime(function) {
        return true; // a call through a function pointer: the harness's or the runtime's
    }
    let f = function.trim_start_matches('<');
    (f.starts_with("lockdep::") && !f.contains("::tests::"))
        || ["backtrace::", "std::", "core::", "alloc::"]
            .iter()
            .any(|p| f.starts_with(p))
}

/// Whether a frame is the validator's, the standard library's or the unwinder's. Inlined
/// frames carry short names only (`capture_ips`, `{closure#0}`), so their source file decides
/// too: this crate's own sources, the toolchain's library sources, the `backtrace` crate's.
pub(crate) fn is_internal_frame(f: &Frame) -> bool {
    if is_internal(&f.function) {
        return true;
    }
    let Some(file) = f.file.as_deref() else {
        return false;
    };
    let own = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    file.starts_with(own)
        || file.starts_with("/rustc/")
        || ["/library/std/", "/library/core/", "/library/alloc/"]
            .iter()
            .any(|p| file.contains(p))
        || (file.contains("/registry/src/") && file.contains("/backtrace-"))
}

/// Frames of the C runtime and the thread start-up around every Rust thread, and addresses
/// no symbol covers: never the user's code, dropped wherever they appear.
fn is_runtime(function: &str) -> bool {
    function.starts_with("0x")
        || function.starts_with("__libc_start")
        || function.starts_with("__GI_")
        || matches!(
            function,
            "start_thread" | "clone" | "clone3" | "_start" | "__rust_try" | "thread_start"
        )
}

/// Frames past which nothing is the user's.
fn is_outermost(function: &str) -> bool {
    function.contains("__rust_begin_short_backtrace")
        || function.starts_with("std::rt::lang_start")
        || function.starts_with("test::run_test")
}

/// The most frames printed per stack.
#[cfg(feature = "check")]
const MAX_PRINTED_FRAMES: usize = 24;

fn symbolise(ips: &[usize]) -> Vec<Frame> {
    #[cfg(feature = "check")]
    {
        let all = ips.iter().flat_map(|&ip| crate::engine::stack::resolve(ip));
        let mut out: Vec<Frame> = Vec::new();
        for f in all {
            if (out.is_empty() && is_internal_frame(&f)) || is_runtime(&f.function) {
                continue;
            }
            if is_outermost(&f.function) || out.len() == MAX_PRINTED_FRAMES {
                break;
            }
            out.push(f);
        }
        // The harness or runtime frames that called the user's outermost function.
        while out.len() > 1 && out.last().is_some_and(is_internal_frame) {
            out.pop();
        }
        out
    }
    #[cfg(not(feature = "check"))]
    {
        let _ = (
            ips,
            is_internal_frame as fn(&Frame) -> bool,
            is_outermost as fn(&str) -> bool,
        );
        Vec::new()
    }
}

/// A violation found by the validator.
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) kind: ReportKind,
    pub(crate) headline: String,
    pub(crate) thread: String,
    pub(crate) acquiring: Option<HeldLock>,
    pub(crate) holding: Option<HeldLock>,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) cycle: Vec<String>,
    pub(crate) held: Vec<HeldLock>,
    pub(crate) stack: Stack,
    pub(crate) detail: Detail,
    /// [`detail`](Self::detail) rendered as the text's lines, on first use. The lines use
    /// nothing filled in after the report is built (the annotations), so rendering them early
    /// (the signature of a suppression check) gives the same lines as rendering them late.
    pub(crate) lines: OnceLock<Vec<String>>,
    /// The kernel's `{usage}-{wait types}` annotation per class name, filled in when the
    /// report is dispatched.
    pub(crate) annotations: Vec<(String, String)>,
}

impl Report {
    #[cfg_attr(not(feature = "check"), allow(dead_code))]
    pub(crate) fn new(kind: ReportKind, thread: String, detail: Detail) -> Report {
        Report {
            kind,
            headline: detail.headline(kind, &thread),
            thread,
            acquiring: None,
            holding: None,
            dependencies: Vec::new(),
            cycle: Vec::new(),
            held: Vec::new(),
            stack: Stack::default(),
            detail,
            lines: OnceLock::new(),
            annotations: Vec::new(),
        }
    }

    /// What was found.
    pub fn kind(&self) -> ReportKind {
        self.kind
    }
    /// The first line of the text, the kernel's headline for this kind.
    pub fn headline(&self) -> &str {
        &self.headline
    }
    /// The thread that hit the violation, as `name/id`.
    pub fn thread(&self) -> &str {
        &self.thread
    }
    /// The lock being acquired (or released, for an unlock imbalance).
    pub fn acquiring(&self) -> Option<&HeldLock> {
        self.acquiring.as_ref()
    }
    /// The held lock the acquisition conflicts with.
    pub fn holding(&self) -> Option<&HeldLock> {
        self.holding.as_ref()
    }
    /// For a cycle: the existing dependencies it closes, in the kernel's order (`#N` first,
    /// down to `#1`, the dependency out of the lock being acquired).
    pub fn dependencies(&self) -> &[Dependency] {
        &self.dependencies
    }
    /// For a cycle: the classes around it, starting and ending with the lock being acquired
    /// (`B => A => B`).
    pub fn cycle(&self) -> &[String] {
        &self.cycle
    }
    /// The names of every class the report is about (the cycle's, or the conflicting pair's).
    pub fn classes(&self) -> Vec<&str> {
        let names: Vec<&str> = if !self.cycle.is_empty() {
            self.cycle.iter().map(String::as_str).collect()
        } else if self.holding.is_some() || self.acquiring.is_some() {
            self.holding
                .iter()
                .chain(self.acquiring.iter())
                .map(|l| l.class.as_str())
                .collect()
        } else {
            self.held.iter().map(|l| l.class.as_str()).collect()
        };
        let mut v: Vec<&str> = Vec::new();
        for n in names {
            if !v.contains(&n) {
                v.push(n);
            }
        }
        v
    }
    /// Every lock the thread held when the violation was found.
    pub fn held_locks(&self) -> &[HeldLock] {
        &self.held
    }
    /// The stack of the thread at the violation.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }
    /// What the report found beyond its locks, dependencies and stacks, as data.
    pub fn detail(&self) -> &Detail {
        &self.detail
    }
    /// The lines of the text specific to the kind: [`detail`](Self::detail) in words.
    pub fn details(&self) -> &[String] {
        self.lines.get_or_init(|| text::detail_lines(self))
    }
    /// The kernel's annotation of a class of the report, `{+.+.}-{4:4}`: its irq usage (hard
    /// irq write and read, soft irq write and read; `.` neither, `+` taken with the irq enabled,
    /// `-` used inside it, `?` both) and its wait types (outer:inner).
    pub fn annotation(&self, class: &str) -> Option<&str> {
        self.annotations
            .iter()
            .find(|(c, _)| c == class)
            .map(|(_, a)| a.as_str())
    }
}
