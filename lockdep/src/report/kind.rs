//! The kinds of violation, with the kernel's headline for each.

/// What a [`Report`](crate::Report) is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ReportKind {
    /// Two or more lock classes taken in orders that form a cycle.
    CircularDependency,
    /// A class taken while a lock of the same class is held, without nesting annotation
    /// (or the very same lock re-taken by its holder).
    RecursiveLocking,
    /// Releasing a lock this thread does not hold.
    BadUnlock,
    /// A lock destroyed while held.
    HeldLockFreed,
    /// A thread exited while holding locks.
    LocksHeldAtExit,
    /// A thread held more locks than the held-lock stack tracks.
    MaxLockDepth,
    /// The class table is full; new classes go untracked.
    ClassesExhausted,
    /// The dependency table is full; new dependencies are not recorded.
    DependenciesExhausted,
    /// The chain cache is full; new chains are validated every time.
    ChainsExhausted,
    /// The stack-trace store is full; new dependencies are recorded without a stack.
    StackTracesExhausted,
    /// A subclass outside `0..MAX_SUBCLASSES`.
    InvalidSubclass,
}

impl ReportKind {
    /// The kernel's headline for the kind (for [`LocksHeldAtExit`](Self::LocksHeldAtExit) the
    /// report's own headline also names the thread).
    pub fn headline(self) -> &'static str {
        match self {
            ReportKind::CircularDependency => "WARNING: possible circular locking dependency detected",
            ReportKind::RecursiveLocking => "WARNING: possible recursive locking detected",
            ReportKind::BadUnlock => "WARNING: bad unlock balance detected!",
            ReportKind::HeldLockFreed => "WARNING: held lock freed!",
            ReportKind::LocksHeldAtExit => "WARNING: thread still has locks held!",
            ReportKind::MaxLockDepth => "BUG: MAX_LOCK_DEPTH too low!",
            ReportKind::ClassesExhausted => "BUG: MAX_LOCKDEP_KEYS too low!",
            ReportKind::DependenciesExhausted => "BUG: MAX_LOCKDEP_ENTRIES too low!",
            ReportKind::ChainsExhausted => "BUG: MAX_LOCKDEP_CHAINS too low!",
            ReportKind::StackTracesExhausted => "BUG: MAX_STACK_TRACE_ENTRIES too low!",
            ReportKind::InvalidSubclass => "BUG: looking up invalid subclass",
        }
    }

    /// Whether the kind reports a capacity running out rather than a locking bug.
    pub fn is_capacity(self) -> bool {
        matches!(
            self,
            ReportKind::MaxLockDepth
                | ReportKind::ClassesExhausted
                | ReportKind::DependenciesExhausted
                | ReportKind::ChainsExhausted
                | ReportKind::StackTracesExhausted
        )
    }
}

impl std::fmt::Display for ReportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.headline())
    }
}
