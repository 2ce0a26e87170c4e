//! The kernel-style text rendering of a report.
//!
//! The layout follows the kernel's lockdep splats so that people who know them can read ours
//! at a glance: headline, bar, the acquisition and the held lock, the dependency chain with the
//! stack of each first occurrence, the "Possible unsafe locking scenario" table, the held locks
//! and the current stack. Threads stand where the kernel prints tasks (`name/id`), and `T0`/`T1`
//! where it prints CPUs.

use super::{AtomicReason, Detail, HeldLock, Irq, LockMode, Report, ReportKind, Stack, WaitLimit};
use std::fmt::{self, Display, Formatter, Write};

/// Printed once per report when no stack frame of the user's code has a source line: the
/// acquisition sites above still say where each lock was taken.
pub(crate) const NO_USER_FRAME: &str =
    "note: no frame of your code could be resolved (inlined, or no debug info): \
the `at` sites above are exact; for file:line in every frame add `debug = \"line-tables-only\"` \
to the profile ([profile.release]) in Cargo.toml";

impl Display for HeldLock {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x} ({}) [{}, {}",
            self.instance,
            self.class,
            self.kind,
            self.mode.word()
        )?;
        if self.trylock {
            f.write_str(", trylock")?;
        }
        if self.timed {
            f.write_str(", timed: the wait is bounded")?;
        }
        f.write_str("]")?;
        if let Some(l) = self.location {
            write!(f, ", at: {}:{}:{}", l.file(), l.line(), l.column())?;
        }
        Ok(())
    }
}

/// A lock as the kernel prints it, with its class's usage and wait-type annotation when the
/// report has one: `0x… (class){+.+.}-{4:4} [mutex, write], at: file:line:col`.
fn annotated(r: &Report, l: &HeldLock) -> String {
    let plain = l.to_string();
    match r.annotation(&l.class) {
        Some(a) => {
            let name = format!("({})", l.class);
            plain.replacen(&name, &format!("{name}{a}"), 1)
        }
        None => plain,
    }
}

/// `(class){annotation}`, as a dependency's heading names its class.
fn class_heading(r: &Report, class: &str) -> String {
    format!("({class}){}", r.annotation(class).unwrap_or(""))
}

/// One end of a dependency as a report line shows it: mode, class, where it was taken.
type End<'a> = (
    super::LockMode,
    &'a str,
    Option<&'static std::panic::Location<'static>>,
);

/// The line under each `-> #N` heading: the lock taken, where, and the lock held below it.
fn acquisition_line(f: &mut Formatter<'_>, to: End<'_>, from: End<'_>, thread: &impl Display) -> fmt::Result {
    writeln!(
        f,
        "       {}({}) at {} while holding {}({}) taken at {}, by {}",
        to.0.verb(),
        to.1,
        site(to.2),
        from.0.verb(),
        from.1,
        site(from.2),
        thread
    )
}

fn site(l: Option<&'static std::panic::Location<'static>>) -> String {
    match l {
        Some(l) => format!("{}:{}:{}", l.file(), l.line(), l.column()),
        None => String::from("?"),
    }
}

/// Whether some frame of the report's stacks lies in the user's code and has a source line.
fn has_user_frame(r: &Report) -> bool {
    std::iter::once(&r.stack)
        .chain(r.dependencies.iter().map(|d| &d.stack))
        .any(|s| {
            s.frames()
                .iter()
                .any(|f| f.file.is_some() && !super::is_internal_frame(f))
        })
}

/// Whether any stack of the report was captured at all.
fn has_stack(r: &Report) -> bool {
    !r.stack.is_empty() || r.dependencies.iter().any(|d| !d.stack.is_empty())
}

fn stack(f: &mut Formatter<'_>, s: &Stack, indent: &str) -> fmt::Result {
    let frames = s.frames();
    if s.is_empty() {
        return writeln!(f, "{indent}<no stack captured>");
    }
    if frames.is_empty() {
        return writeln!(f, "{indent}<no frame of your code resolved>");
    }
    for fr in frames {
        match (&fr.file, fr.line) {
            (Some(file), Some(line)) => writeln!(f, "{indent}{} ({file}:{line})", fr.function)?,
            _ => writeln!(f, "{indent}{}", fr.function)?,
        }
    }
    Ok(())
}

fn held_list(f: &mut Formatter<'_>, r: &Report) -> fmt::Result {
    match r.held.len() {
        0 => writeln!(f, "no locks held by {}.", r.thread),
        n => {
            writeln!(
                f,
                "{n} lock{} held by {}:",
                if n == 1 { "" } else { "s" },
                r.thread
            )?;
            for (i, l) in r.held.iter().enumerate() {
                writeln!(f, " #{i}: {}", annotated(r, l))?;
            }
            Ok(())
        }
    }
}

/// One row of the scenario table: `col` 0 or 1.
fn row(f: &mut Formatter<'_>, col: usize, verb: &str, class: &str) -> fmt::Result {
    let cell = format!("{verb}({class});");
    if col == 0 {
        writeln!(f, "  {cell}")
    } else {
        writeln!(f, "  {:<29}{cell}", "")
    }
}

/// The opening of the two-lock reports: the acquisition and the lock it conflicts with.
fn trying_while_holding(f: &mut Formatter<'_>, r: &Report, next: &HeldLock, prev: &HeldLock) -> fmt::Result {
    writeln!(f, "{} is trying to acquire lock:", r.thread)?;
    writeln!(f, " {}", annotated(r, next))?;
    writeln!(f)?;
    writeln!(f, "but thread is already holding lock:")?;
    writeln!(f, " {}", annotated(r, prev))?;
    writeln!(f)
}

fn circular(f: &mut Formatter<'_>, r: &Report) -> fmt::Result {
    let (Some(next), Some(prev)) = (&r.acquiring, &r.holding) else {
        return Ok(());
    };
    trying_while_holding(f, r, next, prev)?;
    writeln!(f, "which lock already depends on the new lock.")?;
    writeln!(f)?;
    writeln!(f)?;
    writeln!(f, "the existing dependency chain (in reverse order) is:")?;
    let n = r.dependencies.len();
    for (i, d) in r.dependencies.iter().enumerate() {
        writeln!(f)?;
        writeln!(f, "-> #{} {}:", n - i, class_heading(r, &d.to))?;
        acquisition_line(
            f,
            (d.to_mode, &d.to, d.to_location),
            (d.from_mode, &d.from, d.from_location),
            &d.thread,
        )?;
        stack(f, &d.stack, "       ")?;
    }
    writeln!(f)?;
    writeln!(f, "-> #0 {}:", class_heading(r, &next.class))?;
    acquisition_line(
        f,
        (next.mode, &next.class, next.location),
        (prev.mode, &prev.class, prev.location),
        &r.thread,
    )?;
    stack(f, &r.stack, "       ")?;
    writeln!(f)?;
    writeln!(f, "other info that might help us debug this:")?;
    writeln!(f)?;
    // cycle = [next, c1, ..., prev, next]
    if r.cycle.len() > 3 {
        let chain: Vec<&str> = r.cycle[..r.cycle.len() - 1].iter().map(|s| s.as_str()).collect();
        writeln!(f, "Chain exists of:")?;
        writeln!(f, "  {}", chain.join(" --> "))?;
        writeln!(f)?;
    }
    // The class held right before the target on the existing path.
    let parent = r
        .dependencies
        .first()
        .map(|d| (d.from.as_str(), d.from_mode))
        .unwrap_or((&next.class, next.mode));
    let prev_verb = r.dependencies.first().map(|d| d.to_mode.verb()).unwrap_or("lock");
    writeln!(f, " Possible unsafe locking scenario:")?;
    writeln!(f)?;
    writeln!(f, "       T0                           T1")?;
    writeln!(f, "       ----                         ----")?;
    row(f, 0, prev.mode.verb(), &prev.class)?;
    row(f, 1, parent.1.verb(), parent.0)?;
    row(f, 1, prev_verb, &prev.class)?;
    row(f, 0, next.mode.verb(), &next.class)?;
    writeln!(f)?;
    writeln!(f, " *** DEADLOCK ***")?;
    writeln!(f)?;
    writeln!(f, "Cycle in lock order graph: {}", r.cycle.join(" => "))?;
    writeln!(f)?;
    Ok(())
}

fn recursive(f: &mut Formatter<'_>, r: &Report) -> fmt::Result {
    let (Some(next), Some(prev)) = (&r.acquiring, &r.holding) else {
        return Ok(());
    };
    trying_while_holding(f, r, next, prev)?;
    writeln!(f, "other info that might help us debug this:")?;
    writeln!(f, " Possible unsafe locking scenario:")?;
    writeln!(f)?;
    writeln!(f, "       T0")?;
    writeln!(f, "       ----")?;
    row(f, 0, prev.mode.verb(), &prev.class)?;
    row(f, 0, next.mode.verb(), &next.class)?;
    writeln!(f)?;
    writeln!(f, " *** DEADLOCK ***")?;
    writeln!(f)?;
    if next.instance != prev.instance {
        writeln!(f, " May be due to missing lock nesting notation")?;
        writeln!(f)?;
    }
    Ok(())
}

impl Display for Report {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline)?;
        writeln!(f, "{}", "-".repeat(self.headline.chars().count()))?;
        match self.kind {
            ReportKind::CircularDependency => circular(f, self)?,
            ReportKind::RecursiveLocking => recursive(f, self)?,
            ReportKind::BadUnlock => {
                if let Some(l) = &self.acquiring {
                    let mut at = String::new();
                    if let Some(loc) = l.location {
                        let _ = write!(at, "{}:{}:{}", loc.file(), loc.line(), loc.column());
                    }
                    writeln!(
                        f,
                        "{} is trying to release lock ({}) [{}] at:",
                        self.thread, l.class, l.kind
                    )?;
                    writeln!(f, "  {at}")?;
                }
                writeln!(f, "but there are no more locks to release!")?;
                writeln!(f)?;
                writeln!(f, "other info that might help us debug this:")?;
            }
            _ => {
                // The lock being taken and where, unless the kind's own lines show it.
                if let Some(a) = &self.acquiring {
                    if !self.detail.shows_acquisition() {
                        writeln!(f, "{} is trying to acquire lock:", self.thread)?;
                        writeln!(f, " {}", annotated(self, a))?;
                        writeln!(f)?;
                    }
                }
            }
        }
        for d in self.details() {
            writeln!(f, "{d}")?;
        }
        if !self.details().is_empty() {
            writeln!(f)?;
        }
        held_list(f, self)?;
        writeln!(f)?;
        writeln!(f, "summary: {}", self.summary())?;
        if let Some(h) = self.hint() {
            writeln!(f, "hint: {h}")?;
        }
        writeln!(f)?;
        writeln!(f, "stack backtrace:")?;
        stack(f, &self.stack, "  ")?;
        if has_stack(self) && !has_user_frame(self) {
            writeln!(f)?;
            writeln!(f, "{NO_USER_FRAME}")?;
        }
        Ok(())
    }
}

impl Detail {
    /// The report's headline: the kind's, or one naming what the kind's headline leaves open
    /// (the thread, the subclass, the irq, the assertion).
    pub(crate) fn headline(&self, kind: ReportKind, thread: &str) -> String {
        match self {
            Detail::LocksHeldAtExit => format!("WARNING: {thread} still has locks held!"),
            Detail::InvalidSubclass { subclass, .. } => {
                format!("BUG: looking up invalid subclass: {subclass}")
            }
            Detail::IrqSafeToUnsafe { usage, .. } => {
                let name = usage.state_name();
                format!("WARNING: {name}-safe -> {name}-unsafe lock order detected")
            }
            Detail::AssertionFailed { assertion, .. } => assertion.headline().to_string(),
            _ => kind.headline().to_string(),
        }
    }

    /// Whether the kind's own lines show the lock being acquired, so the text does not open
    /// with it a second time.
    fn shows_acquisition(&self) -> bool {
        matches!(
            self,
            Detail::InvalidWaitContext { .. }
                | Detail::InconsistentLockState { .. }
                | Detail::IrqLockInversion { .. }
                | Detail::IrqSafeToUnsafe { .. }
        )
    }
}

impl Display for AtomicReason {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            AtomicReason::HardIrq => f.write_str("in hard interrupt context"),
            AtomicReason::SoftIrq => f.write_str("in soft interrupt context"),
            AtomicReason::IrqsDisabled => f.write_str("with interrupts disabled"),
            AtomicReason::BhDisabled => f.write_str("with bottom halves disabled"),
            AtomicReason::PanicHandler => f.write_str("in a panic handler"),
            AtomicReason::Spinlock(class) => write!(f, "while holding spinlock {class}"),
        }
    }
}

/// The sentence under a capacity report's headline: which table is full and what the
/// validator does without it.
fn capacity_line(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::ClassesExhausted => "the class table is full: locks of new classes are not tracked.",
        ReportKind::DependenciesExhausted => {
            "the dependency table is full: new dependencies are not recorded."
        }
        ReportKind::ChainsExhausted => {
            "the chain cache is full: new lock chains are validated on every acquisition."
        }
        _ => "the stack-trace store is full: new dependencies are recorded without their stack.",
    }
}

/// The lines of a report that are particular to its kind (see [`Report::details`]).
pub(crate) fn detail_lines(r: &Report) -> Vec<String> {
    let t = &r.thread;
    let lock = |l: &Option<HeldLock>| l.as_ref().map(ToString::to_string).unwrap_or_default();
    let class = |l: &Option<HeldLock>| l.as_ref().map(|l| l.class.clone()).unwrap_or_default();
    let kind = |l: &Option<HeldLock>| l.as_ref().map_or("lock", |l| l.kind);
    let (acq, hold) = (&r.acquiring, &r.holding);
    let lines: Vec<String> = match &r.detail {
        Detail::BadUnlock {
            held_in_other_mode: true,
        } => {
            let (released_as, held_for) = match acq.as_ref().map(|a| a.mode) {
                Some(LockMode::Write) | None => ("writer", "reading"),
                Some(_) => ("reader", "writing"),
            };
            vec![format!(
                "it is released as a {released_as} but held for {held_for}; the lock is left held"
            )]
        }
        Detail::CircularDependency
        | Detail::BadUnlock {
            held_in_other_mode: false,
        }
        | Detail::LocksHeldAtExit
        | Detail::RecursiveLocking { same_instance: false } => Vec::new(),
        Detail::RecursiveLocking { same_instance: true } => vec![String::from(
            " This is the same lock instance, already held by this thread: acquiring it would deadlock now.",
        )],
        Detail::HeldLockFreed { instance } => vec![format!(
            "{t} is freeing lock {instance:#x} ({}), with the lock still held!",
            class(hold)
        )],
        Detail::MaxLockDepth { depth, max } => vec![
            format!("depth: {depth}  max: {max}!"),
            String::from("further locks taken by this thread while the stack is full are not tracked."),
        ],
        Detail::CapacityExhausted => vec![
            String::from(capacity_line(r.kind)),
            String::from("validation continues with what is already recorded."),
        ],
        Detail::InvalidSubclass { max, .. } => vec![format!(
            "subclasses run from 0 to {max}; the lock is validated as subclass {max}."
        )],
        Detail::InvalidWaitContext {
            outer,
            inner,
            context,
            allowed,
            limit,
        } => vec![
            format!("{t} is trying to lock:"),
            format!(" {}{{{outer}:{inner}}}", lock(acq)),
            format!("other info that might help us debug this:\ncontext-{{{context}:{context}}}"),
            match limit {
                WaitLimit::Held => format!(
                    "but holding {} ({}), in which nothing waiting longer than wait type {allowed} may be taken.",
                    class(hold),
                    kind(hold)
                ),
                WaitLimit::Irq(irq) => format!(
                    "but the thread is in {} context, which allows nothing waiting longer than wait type {allowed}.",
                    match irq {
                        Irq::Hard => "hard interrupt",
                        Irq::Soft => "soft interrupt",
                    }
                ),
            },
        ],
        Detail::SleepInAtomic { reason } => vec![format!(
            "{t} may sleep: taking {} ({}) {reason}.",
            class(acq),
            kind(acq)
        )],
        Detail::MightSleep {
            operation,
            site,
            reason,
        } => vec![format!("in_atomic(): {operation} at {site} may sleep, {reason}.")],
        Detail::InconsistentLockState { previous, new, state } => {
            let name = class(acq);
            vec![
                format!("inconsistent {{{}}} -> {{{}}} usage.", previous.name(), new.name()),
                format!(
                    "{t} [HC{}:SC{}:HE{}:SE{}] takes:",
                    state.in_hardirq as u8,
                    state.in_softirq as u8,
                    state.hardirqs_enabled as u8,
                    state.softirqs_enabled as u8
                ),
                format!(" {}", lock(acq)),
                String::new(),
                String::from("other info that might help us debug this:"),
                String::from(" Possible unsafe locking scenario:"),
                String::new(),
                String::from("       T0"),
                String::from("       ----"),
                format!("  lock({name});"),
                String::from("  <Interrupt>"),
                format!("    lock({name});"),
                String::new(),
                String::from(" *** DEADLOCK ***"),
            ]
        }
        Detail::IrqLockInversion {
            other,
            usage,
            became_unsafe,
        } => vec![
            format!("{t} just changed the state of lock:"),
            format!(" {}", lock(acq)),
            if *became_unsafe {
                format!("but this lock was taken by another, {}-safe lock in the past:", usage.state_name())
            } else {
                format!("but this lock took another, {}-unsafe lock in the past:", usage.state_name())
            },
            format!(" ({other})"),
            String::new(),
            String::from("and interrupts could create inverse lock ordering between them."),
        ],
        Detail::IrqSafeToUnsafe {
            safe,
            unsafe_class,
            usage,
        } => {
            let name = usage.state_name();
            vec![
                format!("{t} is trying to acquire:"),
                format!(" {}", lock(acq)),
                String::from("and this thread is already holding:"),
                format!(" {}", lock(hold)),
                String::from("which would create a new lock dependency:"),
                format!(" ({}) -> ({})", class(hold), class(acq)),
                String::new(),
                format!("but this new dependency connects a {name}-irq-safe lock:"),
                format!(" ({safe})"),
                String::new(),
                format!("to a {name}-irq-unsafe lock:"),
                format!(" ({unsafe_class})"),
            ]
        }
        Detail::NestLockNotHeld => vec![String::from(
            "but this thread is not holding the lock it is nested under.",
        )],
        Detail::PanicContext => vec![format!(
            "{t} {} {} ({}) inside a panic handler: only a try-lock of a raw spinlock is allowed there, \
             and the handler must give up when it fails.",
            if acq.as_ref().is_some_and(|a| a.trylock) {
                "try-locks"
            } else {
                "blocks on"
            },
            class(acq),
            kind(acq)
        )],
        Detail::AssertionFailed { lock, site, .. } => vec![match lock {
            Some((instance, class)) => format!("lock: {instance:#x} ({class}), asserted at {site}"),
            None => format!("asserted at {site}"),
        }],
        Detail::ForbiddenNesting { reason } => vec![format!(
            "{} must not be taken while {} is held: {reason}",
            class(acq),
            class(hold)
        )],
        Detail::ForbiddenOperation { operation, site } => vec![format!(
            "{operation} at {site} must not run while {} is held.",
            class(hold)
        )],
        Detail::HeldOnReturnToUser { site } => vec![format!(
            "{t} is leaving the kernel with locks still held! (at {site})"
        )],
        Detail::WwMisuse { rule, site } => vec![format!("{}, at {site}.", rule.text())],
        Detail::SuspiciousRcuUsage { domain, site } => vec![format!(
            "Illegal synchronize_srcu() in same-type SRCU (or in RCU) read-side critical section ({domain}), at {site}."
        )],
        Detail::PanicWhileHolding { message } => vec![
            format!("{t} panicked: {message}"),
            String::from(
                "the locks below are released as the thread unwinds (they do not poison): what they protect may be half-updated.",
            ),
        ],
        Detail::ClassKindMismatch { class, registered, used } => vec![
            format!("class {class} was registered by a {registered} and is now used by a {used} as well."),
            format!(
                "a class has one wait type: every lock of it is validated as a {registered}. Give the {used} its own class."
            ),
        ],
    };
    lines
}
