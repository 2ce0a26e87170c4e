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
    /// A lock whose wait type is not allowed where it is taken (a sleeping lock under a
    /// spinlock, a spinlock under a raw spinlock or in a hard irq).
    InvalidWaitContext,
    /// Something that may sleep, done in atomic context (irq handler, interrupts disabled,
    /// spinlock held).
    SleepInAtomic,
    /// One class used in an interrupt handler and also taken with that interrupt enabled.
    InconsistentLockState,
    /// A class became irq-safe (or -unsafe) while connected to an irq-unsafe (or -safe) one.
    IrqLockInversion,
    /// A new dependency connects an irq-safe class to an irq-unsafe one.
    IrqSafeToUnsafe,
    /// A lock taken "nested" under a lock that is not held.
    NestLockNotHeld,
    /// A lock operation other than `RawSpinLock::try_lock` in a panic handler.
    PanicContext,
    /// `assert_held` / `assert_not_held` / `assert_none_held` failed.
    AssertionFailed,
    /// A declared must-not-hold rule was broken.
    ForbiddenWhileHeld,
    /// Locks still held where the thread returns to user space.
    HeldOnReturnToUser,
    /// `synchronize()` of an SRCU domain inside a read section of the same domain.
    SuspiciousRcuUsage,
    /// The wound/wait protocol of a ww mutex was not followed.
    WwMisuse,
    /// A thread panicked while holding locks (see [`install_panic_hook`](crate::install_panic_hook)):
    /// the locks are released as it unwinds, but what they protect may be half-updated.
    PanicWhileHolding,
    /// One named [`LockClass`](crate::LockClass) used by locks of different kinds (a mutex and
    /// a spinlock, say): a class has one wait type, so one of them is validated as the other.
    ClassKindMismatch,
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
            ReportKind::InvalidWaitContext => "[ BUG: Invalid wait context ]",
            ReportKind::SleepInAtomic => "BUG: sleeping function called from invalid context",
            ReportKind::InconsistentLockState => "WARNING: inconsistent lock state",
            ReportKind::IrqLockInversion => "WARNING: possible irq lock inversion dependency detected",
            ReportKind::IrqSafeToUnsafe => "WARNING: irq-safe -> irq-unsafe lock order detected",
            ReportKind::NestLockNotHeld => "WARNING: Nested lock was not taken",
            ReportKind::PanicContext => "BUG: invalid lock operation in panic context",
            ReportKind::AssertionFailed => "WARNING: lock assertion failed",
            ReportKind::ForbiddenWhileHeld => "WARNING: forbidden operation while holding a lock",
            ReportKind::HeldOnReturnToUser => "WARNING: lock held when returning to user space!",
            ReportKind::SuspiciousRcuUsage => "WARNING: suspicious RCU usage",
            ReportKind::WwMisuse => "WARNING: ww_mutex misuse detected",
            ReportKind::PanicWhileHolding => "WARNING: thread panicked while holding locks!",
            ReportKind::ClassKindMismatch => "WARNING: lock class shared by different lock types",
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
