//! Held locks that have no entry of their own on the held stack: those merged into the entry
//! of another lock of their class under a nest lock, and those taken while the stack was full.
//!
//! The stack entry is what validation needs (a merged lock orders like the entry it is merged
//! into; an overflowed one is not validated at all), but a release, a re-take by the holder and
//! an assertion still need to know exactly which instances this thread holds: a class-wide
//! guess would accept the release of a lock never taken, and a bare count would swallow an
//! unrelated double unlock. So each such instance is listed here, per thread.
//!
//! The lists grow, so they are only touched inside [`guarded`](super::held::guarded) regions
//! (an allocation may reach foreign code). Like the held stack, they live in a thread-local
//! without a destructor, so they are never torn down: a thread-local destructor that runs after
//! the validator's own may still take locks past a full stack or under a nest lock, and
//! release them. The lists' memory is given back whenever they empty, so a thread that exits
//! holding none of these locks leaves nothing behind (one that exits holding some is reported
//! at exit, and its lists are leaked).

use std::cell::RefCell;
use std::mem::ManuallyDrop;

#[derive(Default)]
struct OffStack {
    /// (instance, class of the entry it is merged into), oldest first.
    merged: Vec<(usize, u32)>,
    /// Instances taken while the stack was full, oldest first.
    overflowed: Vec<usize>,
}

thread_local! {
    // `ManuallyDrop`: no drop glue, so no destructor is registered (see the module docs).
    static OFF: ManuallyDrop<RefCell<OffStack>> = const {
        ManuallyDrop::new(RefCell::new(OffStack { merged: Vec::new(), overflowed: Vec::new() }))
    };
}

fn with<R: Default>(f: impl FnOnce(&mut OffStack) -> R) -> R {
    OFF.try_with(|o| {
        o.try_borrow_mut()
            .map(|mut o| {
                let r = f(&mut o);
                // Nothing left: give the memory back (see the module docs).
                if o.merged.is_empty() && o.merged.capacity() > 0 {
                    o.merged = Vec::new();
                }
                if o.overflowed.is_empty() && o.overflowed.capacity() > 0 {
                    o.overflowed = Vec::new();
                }
                r
            })
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// Removes the newest element of `v` that `pick` accepts.
fn take_last<T: Copy>(v: &mut Vec<T>, pick: impl Fn(&T) -> bool) -> Option<T> {
    let i = v.iter().rposition(pick)?;
    Some(v.remove(i))
}

/// Records `instance` as merged into the entry of `class`.
pub(crate) fn push_merged(instance: usize, class: u32) {
    with(|o| o.merged.push((instance, class)));
}

/// Forgets the newest merge of `instance`; returns the class of the entry it was merged into.
pub(crate) fn take_merged(instance: usize) -> Option<u32> {
    with(|o| take_last(&mut o.merged, |m| m.0 == instance).map(|m| m.1))
}

/// The class of the entry `instance` is merged into, if it is.
pub(crate) fn merged_class(instance: usize) -> Option<u32> {
    with(|o| o.merged.iter().rev().find(|m| m.0 == instance).map(|m| m.1))
}

/// Takes one instance merged into the entry of `class` (the newest), to give that entry a new
/// identity when its own lock is released first.
pub(crate) fn take_merged_of(class: u32) -> Option<usize> {
    with(|o| take_last(&mut o.merged, |m| m.1 == class).map(|m| m.0))
}

/// How many times `instance` is held merged or overflowed.
pub(crate) fn count(instance: usize) -> usize {
    with(|o| {
        o.merged.iter().filter(|m| m.0 == instance).count()
            + o.overflowed.iter().filter(|&&i| i == instance).count()
    })
}

/// Records `instance` as taken while the stack was full.
pub(crate) fn push_overflowed(instance: usize) {
    with(|o| o.overflowed.push(instance));
}

/// Forgets the newest overflowed acquisition of `instance`; false if there is none.
pub(crate) fn take_overflowed(instance: usize) -> bool {
    with(|o| take_last(&mut o.overflowed, |&i| i == instance).is_some())
}

/// Whether `instance` was taken while the stack was full (and not released since).
pub(crate) fn is_overflowed(instance: usize) -> bool {
    with(|o| o.overflowed.contains(&instance))
}
