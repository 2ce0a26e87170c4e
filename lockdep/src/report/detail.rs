//! What a report found beyond the locks it names, as typed data ([`Detail`]): the wait types
//! of an invalid wait context, the usage change of an inconsistent lock state, the operation
//! and site of a forbidden call... The validator's rules produce these values; the text, JSON
//! and signature renderings of a [`Report`](super::Report) are built from them, so a program
//! can match on what was found instead of parsing sentences.

use std::panic::Location;

/// An interrupt level, as the kernel's irq-safety rules tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Irq {
    /// A hard interrupt handler (`hardirq`).
    Hard,
    /// A soft interrupt (bottom half, `softirq`).
    Soft,
}

impl Irq {
    fn upper(self) -> &'static str {
        match self {
            Irq::Hard => "HARDIRQ",
            Irq::Soft => "SOFTIRQ",
        }
    }
}

/// One irq usage of a class (the kernel's `LOCK_USED_IN_HARDIRQ`, `LOCK_ENABLED_SOFTIRQ_READ`,
/// ...): used inside an irq handler, or taken with that irq enabled; as a reader or a writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Usage {
    /// The interrupt level.
    pub irq: Irq,
    /// Taken with the irq enabled (`true`) or used inside its handler (`false`).
    pub enabled: bool,
    /// Taken for reading.
    pub read: bool,
}

impl Usage {
    /// The kernel's bit layout: bit 0 read, bit 1 enabled, bit 2 soft irq.
    #[cfg(feature = "check")]
    pub(crate) fn from_bit(bit: u8) -> Usage {
        Usage {
            irq: if bit & 4 != 0 { Irq::Soft } else { Irq::Hard },
            enabled: bit & 2 != 0,
            read: bit & 1 != 0,
        }
    }

    /// The kernel's name of the usage: `IN-HARDIRQ-W`, `SOFTIRQ-ON-R`, ...
    pub fn name(self) -> String {
        let rw = if self.read { "R" } else { "W" };
        if self.enabled {
            format!("{}-ON-{rw}", self.irq.upper())
        } else {
            format!("IN-{}-{rw}", self.irq.upper())
        }
    }

    /// The kernel's name of the irq state the usage belongs to: `HARDIRQ`, `SOFTIRQ-READ`, ...
    pub fn state_name(self) -> String {
        if self.read {
            format!("{}-READ", self.irq.upper())
        } else {
            self.irq.upper().to_string()
        }
    }
}

/// The thread's irq state when an inconsistent usage was found (the kernel's
/// `[HC0:SC0:HE1:SE1]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrqState {
    /// In a hard interrupt handler.
    pub in_hardirq: bool,
    /// In a soft interrupt.
    pub in_softirq: bool,
    /// Hard interrupts enabled.
    pub hardirqs_enabled: bool,
    /// Soft interrupts (bottom halves) enabled.
    pub softirqs_enabled: bool,
}

/// Why the thread may not sleep where it tried to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AtomicReason {
    /// In a hard interrupt handler.
    HardIrq,
    /// In a soft interrupt.
    SoftIrq,
    /// With interrupts disabled.
    IrqsDisabled,
    /// With bottom halves disabled.
    BhDisabled,
    /// In a panic handler, which the kernel runs with interrupts disabled.
    PanicHandler,
    /// Holding a spinning lock of this class.
    Spinlock(String),
}

/// What limits the wait type at an invalid wait context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitLimit {
    /// A held lock: the report's [`holding`](super::Report::holding) lock.
    Held,
    /// The thread's own context, an interrupt handler.
    Irq(Irq),
}

/// The lock assertion that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Assertion {
    /// [`assert_held`](crate::assert_held): the lock was not held.
    Held,
    /// [`assert_held_write`](crate::assert_held_write): not held for writing.
    HeldWrite,
    /// [`assert_held_read`](crate::assert_held_read): not held for reading.
    HeldRead,
    /// [`assert_not_held`](crate::assert_not_held): the lock was held.
    NotHeld,
    /// [`assert_none_held`](crate::assert_none_held): some lock was held.
    NoneHeld,
}

impl Assertion {
    /// The kernel's warning for the failed assertion.
    pub fn headline(self) -> &'static str {
        match self {
            Assertion::Held => "WARNING: lockdep_assert_held() failed: lock not held",
            Assertion::HeldWrite => "WARNING: lockdep_assert_held_write() failed: lock not held for writing",
            Assertion::HeldRead => "WARNING: lockdep_assert_held_read() failed: lock not held for reading",
            Assertion::NotHeld => "WARNING: lockdep_assert_not_held() failed: lock held",
            Assertion::NoneHeld => "WARNING: lockdep_assert_none_held() failed: locks held",
        }
    }
}

/// A rule of the wound/wait protocol (the kernel's `ww_mutex` debug checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WwRule {
    /// `ww_acquire_done` called twice on one context.
    DoneTwice,
    /// The context ended (`ww_acquire_fini`) with locks still held.
    FiniWithLocksHeld,
    /// A ww mutex locked with a context of another ww class.
    ContextOfOtherClass,
    /// A ww mutex locked after `ww_acquire_done`.
    LockedAfterDone,
    /// `lock_slow` without a preceding `-EDEADLK`.
    SlowWithoutDeadlk,
    /// `lock_slow` on another lock than the contended one.
    SlowOnOtherLock,
    /// `lock_slow` with other locks of the context still held.
    SlowWithLocksHeld,
    /// After `-EDEADLK`, another ww mutex locked instead of backing off.
    DeadlkIgnoredOtherLock,
    /// After `-EDEADLK`, the contended lock re-taken without releasing the others.
    DeadlkIgnoredRetake,
}

impl WwRule {
    /// Every rule, in declaration order.
    pub const ALL: [WwRule; 9] = [
        WwRule::DoneTwice,
        WwRule::FiniWithLocksHeld,
        WwRule::ContextOfOtherClass,
        WwRule::LockedAfterDone,
        WwRule::SlowWithoutDeadlk,
        WwRule::SlowOnOtherLock,
        WwRule::SlowWithLocksHeld,
        WwRule::DeadlkIgnoredOtherLock,
        WwRule::DeadlkIgnoredRetake,
    ];

    /// The rule broken, as the report states it.
    pub fn text(self) -> &'static str {
        match self {
            WwRule::DoneTwice => "ww_acquire_done() called twice on one acquire context",
            WwRule::FiniWithLocksHeld => "acquire context finished (ww_acquire_fini) with locks still held",
            WwRule::ContextOfOtherClass => "ww mutex locked with an acquire context of another ww class",
            WwRule::LockedAfterDone => "ww mutex locked after ww_acquire_done()",
            WwRule::SlowWithoutDeadlk => "ww_mutex_lock_slow() without a preceding -EDEADLK",
            WwRule::SlowOnOtherLock => "ww_mutex_lock_slow() on a lock other than the contended one",
            WwRule::SlowWithLocksHeld => "ww_mutex_lock_slow() with other locks of the context still held",
            WwRule::DeadlkIgnoredOtherLock => {
                "-EDEADLK ignored: another ww mutex locked instead of backing off"
            }
            WwRule::DeadlkIgnoredRetake => {
                "-EDEADLK ignored: the contended lock re-taken without releasing the others"
            }
        }
    }
}

/// What a report found, beyond the locks, dependencies and stacks every report carries: one
/// variant per rule, holding data only (class names, sites, modes, usages), never sentences.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detail {
    /// A cycle in the lock order: the report's [`cycle`](super::Report::cycle) and
    /// [`dependencies`](super::Report::dependencies) say which.
    CircularDependency,
    /// A class taken while a lock of the same class is held.
    RecursiveLocking {
        /// The very lock instance re-taken by its holder: a certain deadlock, not a possible one.
        same_instance: bool,
    },
    /// A lock released that this thread does not hold (in the mode of the release: the
    /// report's [`acquiring`](super::Report::acquiring) lock).
    BadUnlock {
        /// The thread holds it, but only in the other mode (for reading where it is released
        /// as a writer, or the reverse): the release is refused and the lock left held.
        held_in_other_mode: bool,
    },
    /// A held lock destroyed.
    HeldLockFreed {
        /// The address of the lock being freed.
        instance: usize,
    },
    /// A thread exited holding locks.
    LocksHeldAtExit,
    /// More locks held than the held-lock stack tracks.
    MaxLockDepth {
        /// The depth the acquisition would have reached.
        depth: usize,
        /// The most locks tracked per thread.
        max: usize,
    },
    /// A table of the validator ran out (which one is the report's kind).
    CapacityExhausted,
    /// A subclass out of range.
    InvalidSubclass {
        /// The subclass asked for.
        subclass: u32,
        /// The highest valid subclass (the lock is validated as this one).
        max: u32,
    },
    /// A lock that may wait longer than its context allows.
    InvalidWaitContext {
        /// The acquired lock's outer wait type.
        outer: u8,
        /// The acquired lock's inner wait type.
        inner: u8,
        /// The wait type of the thread's context before any held lock.
        context: u8,
        /// The longest wait type allowed where the lock was taken.
        allowed: u8,
        /// What set that limit.
        limit: WaitLimit,
    },
    /// Something that may sleep, done in atomic context: the acquisition of a sleeping lock.
    SleepInAtomic {
        /// Why the context is atomic.
        reason: AtomicReason,
    },
    /// Something that may sleep, done in atomic context: an operation other than a lock.
    MightSleep {
        /// The operation (`Condvar::wait`, `synchronize_srcu()`, ...).
        operation: String,
        /// Where it was called.
        site: &'static Location<'static>,
        /// Why the context is atomic.
        reason: AtomicReason,
    },
    /// One class used inside an irq handler and taken with that irq enabled.
    InconsistentLockState {
        /// The usage the class had.
        previous: Usage,
        /// The usage that conflicts with it.
        new: Usage,
        /// The thread's irq state at the new usage.
        state: IrqState,
    },
    /// A class changed its irq state while connected to a class of the opposite state.
    IrqLockInversion {
        /// The class on the other side of the connection.
        other: String,
        /// The irq state involved.
        usage: Usage,
        /// The acquired class became irq-unsafe (else irq-safe).
        became_unsafe: bool,
    },
    /// A new dependency connects an irq-safe class to an irq-unsafe one.
    IrqSafeToUnsafe {
        /// The irq-safe class.
        safe: String,
        /// The irq-unsafe class.
        unsafe_class: String,
        /// The irq state involved.
        usage: Usage,
    },
    /// A lock taken nested under a lock this thread does not hold.
    NestLockNotHeld,
    /// A lock operation not allowed in a panic handler.
    PanicContext,
    /// A lock assertion failed.
    AssertionFailed {
        /// Which assertion.
        assertion: Assertion,
        /// The asserted lock (address, class), for an assertion about one lock.
        lock: Option<(usize, String)>,
        /// Where it was asserted.
        site: &'static Location<'static>,
    },
    /// A declared must-not-nest rule broken: the acquired class taken under the held one.
    ForbiddenNesting {
        /// The reason the rule was declared with.
        reason: String,
    },
    /// A declared must-not-hold operation run with the report's holding lock held.
    ForbiddenOperation {
        /// The operation.
        operation: String,
        /// Where it ran.
        site: &'static Location<'static>,
    },
    /// Locks still held at a return to user space.
    HeldOnReturnToUser {
        /// Where the thread returned.
        site: &'static Location<'static>,
    },
    /// The wound/wait protocol of a ww mutex not followed.
    WwMisuse {
        /// Which rule of the protocol.
        rule: WwRule,
        /// Where it was broken.
        site: &'static Location<'static>,
    },
    /// An SRCU domain synchronised inside one of its own read sections.
    SuspiciousRcuUsage {
        /// The domain's name.
        domain: String,
        /// Where `synchronize` was called.
        site: &'static Location<'static>,
    },
    /// A thread panicked with locks held.
    PanicWhileHolding {
        /// The first line of the panic message.
        message: String,
    },
    /// A named class used by two kinds of lock.
    ClassKindMismatch {
        /// The class.
        class: String,
        /// The lock kind that registered it, which its wait type follows.
        registered: &'static str,
        /// The other lock kind.
        used: &'static str,
    },
}
