//! Annotations: assertions about what the current thread holds, "might take" records,
//! must-not-hold rules, start-up priming of known orders, and the return-to-user check.
//!
//! All are no-ops with the `check` feature off. A failed assertion is a [`Report`](crate::Report)
//! like any other (dispatched by the configured action), not a bare panic.

#[cfg(feature = "check")]
use crate::engine::check::{self, report_once, Violation};
#[cfg(feature = "check")]
use crate::engine::{held, sink, state, validate};
#[cfg(feature = "check")]
use crate::report::Assertion;
use crate::{LockMode, Lockable};
#[cfg(feature = "check")]
use std::panic::Location;

#[cfg(feature = "check")]
fn assertion(assertion: Assertion, lock: Option<&dyn Lockable>, site: &'static Location<'static>) {
    let lock = lock.map(|l| (l.lock_ref().instance, l.lock_ref().map.class(0)));
    held::guarded(|h| {
        let mut st = state::lock();
        let v = Violation::AssertionFailed {
            assertion,
            lock,
            site,
        };
        report_once(&mut st, h, h.depth, &v);
    });
    sink::flush(true);
}

#[cfg(feature = "check")]
fn mode_of(lock: &dyn Lockable) -> Option<u8> {
    validate::held_mode(lock.lock_ref().instance)
}

/// Reports unless the current thread holds `lock` (this instance, in any mode).
#[cfg_attr(feature = "check", track_caller)]
pub fn assert_held(lock: &impl Lockable) {
    #[cfg(feature = "check")]
    if mode_of(lock).is_none() {
        assertion(Assertion::Held, Some(lock), Location::caller());
    }
    #[cfg(not(feature = "check"))]
    let _ = lock;
}

/// Reports unless the current thread holds `lock` exclusively.
#[cfg_attr(feature = "check", track_caller)]
pub fn assert_held_write(lock: &impl Lockable) {
    #[cfg(feature = "check")]
    if mode_of(lock) != Some(0) {
        assertion(Assertion::HeldWrite, Some(lock), Location::caller());
    }
    #[cfg(not(feature = "check"))]
    let _ = lock;
}

/// Reports unless the current thread holds `lock` for reading.
#[cfg_attr(feature = "check", track_caller)]
pub fn assert_held_read(lock: &impl Lockable) {
    #[cfg(feature = "check")]
    if !matches!(mode_of(lock), Some(1 | 2)) {
        assertion(Assertion::HeldRead, Some(lock), Location::caller());
    }
    #[cfg(not(feature = "check"))]
    let _ = lock;
}

/// Reports if the current thread holds `lock`.
#[cfg_attr(feature = "check", track_caller)]
pub fn assert_not_held(lock: &impl Lockable) {
    #[cfg(feature = "check")]
    if mode_of(lock).is_some() {
        assertion(Assertion::NotHeld, Some(lock), Location::caller());
    }
    #[cfg(not(feature = "check"))]
    let _ = lock;
}

/// Reports if the current thread holds any lock.
#[cfg_attr(feature = "check", track_caller)]
pub fn assert_none_held() {
    #[cfg(feature = "check")]
    if validate::depth() > 0 {
        assertion(Assertion::NoneHeld, None, Location::caller());
    }
}

/// Whether the current thread holds `lock` (always `false` with the feature off).
pub fn is_held(lock: &impl Lockable) -> bool {
    #[cfg(feature = "check")]
    {
        mode_of(lock).is_some()
    }
    #[cfg(not(feature = "check"))]
    {
        let _ = lock;
        false
    }
}

#[cfg_attr(feature = "check", track_caller)]
fn might(lock: &dyn Lockable, subclass: u32, read: u8) {
    #[cfg(feature = "check")]
    {
        let r = lock.lock_ref();
        let loc = Location::caller();
        validate::acquire_with(
            r.map,
            validate::Acquire {
                instance: r.instance,
                subclass,
                read,
                trylock: false,
                timed: false,
                nest: 0,
                loc,
                sync: false,
            },
        );
        validate::release_instance(r.map, r.instance, loc);
    }
    #[cfg(not(feature = "check"))]
    let _ = (lock, subclass, read);
}

/// Records "this code could take `lock` here" without taking it (`might_lock`): every
/// ordering check runs as for a real acquisition, so a path that only sometimes takes the lock
/// is validated every time.
#[cfg_attr(feature = "check", track_caller)]
pub fn might_lock(lock: &impl Lockable) {
    might(lock, 0, 0);
}

/// [`might_lock`] for a read acquisition (`might_lock_read`, e.g. a page fault's
/// `mmap_lock`).
#[cfg_attr(feature = "check", track_caller)]
pub fn might_lock_read(lock: &impl Lockable) {
    might(lock, 0, 1);
}

/// [`might_lock`] as nesting level `subclass`.
#[cfg_attr(feature = "check", track_caller)]
pub fn might_lock_nested(lock: &impl Lockable, subclass: u32) {
    might(lock, subclass, 0);
}

/// Marks an operation that may sleep (a wait, an allocation that may reclaim):
/// reported in atomic context — an irq handler, interrupts disabled, a spinlock held
/// ("sleeping function called from invalid context").
#[cfg_attr(feature = "check", track_caller)]
pub fn might_sleep() {
    #[cfg(feature = "check")]
    validate::might_sleep("might_sleep()", Location::caller());
}

/// Declares that `inner` must never be acquired while `outer` is held (by class), with the
/// reason printed in the report. Checked on every new chain; declare rules at start-up.
#[cfg_attr(feature = "check", track_caller)]
pub fn forbid_nesting(outer: &impl Lockable, inner: &impl Lockable, why: &'static str) {
    #[cfg(feature = "check")]
    {
        let (o, i) = (outer.lock_ref().map.key_addr(), inner.lock_ref().map.key_addr());
        held::guarded(|_| {
            let mut st = state::lock();
            if !st.rules.iter().any(|r| r.0 == o && r.1 == i) {
                st.rules.push((o, i, why));
                // Chains validated before the rule existed must be validated again.
                crate::engine::chain::clear();
                st.chains.clear();
            }
        });
    }
    #[cfg(not(feature = "check"))]
    let _ = (outer, inner, why);
}

/// Reports if the current thread holds any lock of `lock`'s class: the operation `what` must
/// not run while such a lock is held (e.g. "no fence wait inside `drm_dev_enter`").
#[cfg_attr(feature = "check", track_caller)]
pub fn must_not_hold(lock: &impl Lockable, what: &str) {
    #[cfg(feature = "check")]
    {
        let class = lock.lock_ref().map.class(0);
        // Read here: a closure does not inherit `#[track_caller]`.
        let loc = Location::caller();
        if validate::holds_class(class) {
            held::guarded(|h| check::forbidden_op(h, class, what, loc));
            sink::flush(true);
        }
    }
    #[cfg(not(feature = "check"))]
    let _ = (lock, what);
}

/// Replays a known-good order once (the kernel's `dma_resv_lockdep()` idea): each lock is
/// "acquired" in turn, as given, without taking the real locks, then all are released. An
/// inversion of any pair is then caught even in a run that only ever exercises one direction.
#[cfg_attr(feature = "check", track_caller)]
pub fn prime(order: &[(&dyn Lockable, LockMode)]) {
    #[cfg(feature = "check")]
    {
        let loc = Location::caller();
        for (l, mode) in order {
            let r = l.lock_ref();
            let read = match mode {
                LockMode::Write => 0,
                LockMode::Read => 1,
                LockMode::RecursiveRead => 2,
            };
            validate::acquire_with(
                r.map,
                validate::Acquire {
                    instance: r.instance,
                    subclass: 0,
                    read,
                    trylock: false,
                    timed: false,
                    nest: 0,
                    loc,
                    sync: false,
                },
            );
        }
        for (l, _) in order.iter().rev() {
            let r = l.lock_ref();
            validate::release_instance(r.map, r.instance, loc);
        }
    }
    #[cfg(not(feature = "check"))]
    let _ = order;
}

/// The check at a return to user space (the end of a system call): reports if the thread
/// still holds any lock ("lock held when returning to user space!").
#[cfg_attr(feature = "check", track_caller)]
pub fn return_to_user() {
    #[cfg(feature = "check")]
    if validate::depth() > 0 {
        let loc = Location::caller();
        held::guarded(|h| {
            let mut st = state::lock();
            report_once(&mut st, h, h.depth, &Violation::HeldOnReturnToUser { site: loc });
        });
        sink::flush(true);
    }
}

/// A scope modelling one system call: when it ends, [`return_to_user`] runs.
#[must_use = "the check runs when the scope is dropped"]
pub struct SyscallScope {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Enters a system call; the check for locks still held runs when the scope ends.
pub fn syscall() -> SyscallScope {
    SyscallScope {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for SyscallScope {
    #[cfg_attr(feature = "check", track_caller)]
    fn drop(&mut self) {
        return_to_user();
    }
}
