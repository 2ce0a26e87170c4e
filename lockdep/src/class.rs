//! Lock classes: the unit lockdep validates.
//!
//! A class is "a group of locks that are logically the same with respect to locking rules".
//! By default every lock created at one source location (the `#[track_caller]` call site of
//! `new`) is one class. A [`LockClass`] names a class explicitly so that locks created in many
//! places — or in a helper function that would otherwise make them all one site — share it.

#[cfg(feature = "check")]
use std::sync::atomic::{AtomicU32, AtomicU8};

/// How many nesting levels (`lock_nested(subclass)`) one class can be split into, as in the
/// kernel's `MAX_LOCKDEP_SUBCLASSES`.
pub const MAX_SUBCLASSES: usize = 8;

/// A named lock class, usable by any number of locks.
///
/// Declare it as a `static` and pass it to the lock constructors' `with_class`:
///
/// ```
/// use lockdep::{LockClass, Mutex};
///
/// static INODE_LOCK: LockClass = LockClass::new("&inode->i_lock");
///
/// let a = Mutex::with_class(0, &INODE_LOCK);
/// let b = Mutex::with_class(0, &INODE_LOCK);
/// assert_eq!(INODE_LOCK.name(), "&inode->i_lock");
/// # drop((a, b));
/// ```
///
/// Classes needed at run time (one per device model, say) come from [`LockClass::register`].
///
/// A class is for one kind of lock: its wait type (may it sleep, spin, …) is the first user's,
/// as in the kernel, so a class shared by, say, a `Mutex` and a `SpinLock` is reported
/// ([`ReportKind::ClassKindMismatch`](crate::ReportKind::ClassKindMismatch)).
pub struct LockClass {
    name: &'static str,
    /// Class ids already resolved for each subclass (0 = not yet), so the hot path never looks
    /// a class up.
    #[cfg(feature = "check")]
    pub(crate) ids: [AtomicU32; MAX_SUBCLASSES],
    /// The kind of lock that first used the class, plus one (0 = none yet): another kind
    /// sharing it is reported.
    #[cfg(feature = "check")]
    pub(crate) kind: AtomicU8,
}

impl LockClass {
    /// A class called `name`. Reports print this name.
    pub const fn new(name: &'static str) -> Self {
        LockClass {
            name,
            #[cfg(feature = "check")]
            ids: [const { AtomicU32::new(0) }; MAX_SUBCLASSES],
            #[cfg(feature = "check")]
            kind: AtomicU8::new(0),
        }
    }

    /// Creates a class at run time (the kernel's dynamic keys). The class lives for the rest
    /// of the process; the validator holds at most a fixed number of classes, so register one
    /// per kind of object, not one per object.
    pub fn register(name: impl Into<String>) -> &'static LockClass {
        let name: &'static str = Box::leak(name.into().into_boxed_str());
        Box::leak(Box::new(LockClass::new(name)))
    }

    /// The class name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl std::fmt::Debug for LockClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LockClass").field(&self.name).finish()
    }
}
