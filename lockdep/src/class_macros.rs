//! Macros that give a lock a class of its own at the place they are written: the kernel's
//! `static struct lock_class_key __key` inside `mutex_init()`, and Rust-for-Linux's
//! `new_mutex!`.
//!
//! A lock's default class is the `#[track_caller]` site of its constructor. That is right for
//! code that calls `Mutex::new` where the lock is declared, and wrong wherever the call is
//! generated: every lock a `macro_rules!` body or a `#[derive(Default)]` builds reports the
//! same outermost site (rustc's rule for macro-made calls), so unrelated locks fall into one
//! class, nesting two of them reads as recursive locking, and their orders merge into false
//! cycles. [`static_lock_class!`](crate::static_lock_class) expands to a `static` of its own,
//! and a `static` is one per *expansion*, not per source position: two invocations written in
//! one macro body are two classes, however the body is expanded.
//!
//! Name the class when the invocation sits in a macro: the default name (`file:line:col`) is
//! rustc's position of the outermost invocation, which several classes can then share (they
//! stay distinct classes; only their names in reports coincide).
//!
//! # Per-object locks nested on purpose
//!
//! A class per creation site means all the `lock` fields of one struct type are one class, as
//! in the kernel (`&inode->i_lock`). Code that holds two of them at once on purpose says how,
//! in this order of preference:
//! * **a fixed nesting depth** (a parent and its child, two objects ordered by address):
//!   `lock_nested(1)` on the inner one; subclasses are ordered 0 → 1 → …, at most
//!   [`MAX_SUBCLASSES`](crate::MAX_SUBCLASSES);
//! * **any number at once, under one outer lock** that every such nesting takes first (the
//!   kernel's `mm->mmap_lock` over many `anon_vma`s): `lock_nest_lock(&outer)`; their order
//!   against other classes is still validated;
//! * **distinct roles known only at run time** (one class per device model, per table):
//!   [`LockClass::register`](crate::LockClass::register) once per role and
//!   `with_class`; the class table is bounded, so never one per object.
//!
//! Without one of them the nesting is reported as possible recursive locking, which it is for
//! any two objects the code could also take the other way round.

/// A `&'static LockClass` of its own for this invocation (one `static` per expansion).
///
/// `static_lock_class!()` names it by the invocation's position, `file:line:col`, as a
/// call-site class is named; `static_lock_class!("name")` names it.
///
/// ```
/// use lockdep::{static_lock_class, LockClass, Mutex};
///
/// fn make() -> Mutex<u32> {
///     // One class for every lock made here, named as written.
///     Mutex::with_class(0, static_lock_class!("&queue->lock"))
/// }
/// let a: &'static LockClass = static_lock_class!();
/// let b: &'static LockClass = static_lock_class!();
/// assert!(!std::ptr::eq(a, b));
/// assert_eq!(make().lock().checked_add(1), Some(1));
/// ```
#[macro_export]
macro_rules! static_lock_class {
    () => {
        $crate::static_lock_class!(::core::concat!(
            ::core::file!(),
            ":",
            ::core::line!(),
            ":",
            ::core::column!()
        ))
    };
    ($name:expr $(,)?) => {{
        static __LOCKDEP_CLASS: $crate::LockClass = $crate::LockClass::new($name);
        &__LOCKDEP_CLASS
    }};
}

/// A new [`Mutex`](crate::Mutex) in a class of its own for this invocation
/// ([`static_lock_class!`](crate::static_lock_class)): `new_mutex!(value)` or
/// `new_mutex!(value, "name")`. Usable in a `static` and in `const` contexts where
/// `Mutex::with_class` is.
///
/// ```
/// macro_rules! two_queues {
///     () => {
///         // Two classes, though both calls come from one expansion site.
///         (lockdep::new_mutex!(0, "&q->in"), lockdep::new_mutex!(0, "&q->out"))
///     };
/// }
/// let (input, output) = two_queues!();
/// let _i = input.lock();
/// let _o = output.lock(); // not "recursive locking": two classes
/// # #[cfg(feature = "check")]
/// # assert!(lockdep::take_reports().is_empty());
/// ```
#[macro_export]
macro_rules! new_mutex {
    ($value:expr $(,)?) => {
        $crate::Mutex::with_class($value, $crate::static_lock_class!())
    };
    ($value:expr, $name:expr $(,)?) => {
        $crate::Mutex::with_class($value, $crate::static_lock_class!($name))
    };
}

/// A new [`RwLock`](crate::RwLock) in a class of its own for this invocation; as
/// [`new_mutex!`](crate::new_mutex).
#[macro_export]
macro_rules! new_rwlock {
    ($value:expr $(,)?) => {
        $crate::RwLock::with_class($value, $crate::static_lock_class!())
    };
    ($value:expr, $name:expr $(,)?) => {
        $crate::RwLock::with_class($value, $crate::static_lock_class!($name))
    };
}

/// A new [`SpinLock`](crate::SpinLock) in a class of its own for this invocation; as
/// [`new_mutex!`](crate::new_mutex).
#[macro_export]
macro_rules! new_spinlock {
    ($value:expr $(,)?) => {
        $crate::SpinLock::with_class($value, $crate::static_lock_class!())
    };
    ($value:expr, $name:expr $(,)?) => {
        $crate::SpinLock::with_class($value, $crate::static_lock_class!($name))
    };
}

/// Any lock type implementing [`WithClass`](crate::WithClass) — this crate's, and the
/// [`stdsync`](crate::stdsync) ones — in a class of its own for this invocation:
/// `new_in_class!(stdsync::Mutex<u32>, 0)` or `new_in_class!(Type, value, "name")`.
///
/// ```
/// use lockdep::{new_in_class, stdsync};
///
/// let m = new_in_class!(stdsync::Mutex<u32>, 7, "&dev->state");
/// assert_eq!(*m.lock().unwrap(), 7);
/// ```
#[macro_export]
macro_rules! new_in_class {
    ($ty:ty, $value:expr $(,)?) => {
        <$ty as $crate::WithClass>::with_class($value, $crate::static_lock_class!())
    };
    ($ty:ty, $value:expr, $name:expr $(,)?) => {
        <$ty as $crate::WithClass>::with_class($value, $crate::static_lock_class!($name))
    };
}
