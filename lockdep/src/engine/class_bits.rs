//! Per-class facts readable without the validator's lock.
//!
//! Some per-thread paths must decide from the thread's own held stack, which records class ids
//! only, while what is known about each class lives in the global state behind the validator's
//! lock. This module mirrors the few bits those paths need:
//!
//! * whether a class is a spinning lock, for `might_sleep()` and the context queries
//!   ([`crate::context::in_atomic`]): set once when the class is registered (under the lock),
//!   never cleared, since class ids are never reused and classes survive [`crate::reset`];
//! * the irq usage bits of each class, for re-enabling interrupts with locks held
//!   (`validate::change_context`): when every held lock already has the "taken with irqs
//!   enabled" bit it would get, nothing is marked and the validator's lock is not taken. Set
//!   under the lock as `usage::mark` records them, cleared by `reset`. A thread that read a bit
//!   just before a concurrent `reset` cleared it skips one mark, as a chain probed just before
//!   a reset skips one validation.

use super::state::MAX_CLASSES;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

const WORDS: usize = (MAX_CLASSES + 1).div_ceil(64);

static SPINS: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

/// Records that class `id` is a spinning lock (at registration).
pub(crate) fn mark_spins(id: u32) {
    if let Some(w) = SPINS.get(id as usize / 64) {
        // `Relaxed`: the bit is read by a thread that holds a lock of the class, so it got the
        // id either under the validator's lock (which orders this store first) or from a
        // class cache, whose slots are published with `Release` after this store (see
        // `DepMap::class_slow`); the bit's address depends on the id it loaded, which orders
        // the two loads on every target. Were it missed anyway, the cost is a report not
        // made, never a false one.
        w.fetch_or(1 << (id % 64), Ordering::Relaxed);
    }
}

/// Whether class `id` is a spinning lock (false for an untracked class).
#[inline]
pub(crate) fn spins(id: u32) -> bool {
    SPINS
        .get(id as usize / 64)
        .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (id % 64)) != 0)
}

static USAGE: [AtomicU16; MAX_CLASSES + 1] = [const { AtomicU16::new(0) }; MAX_CLASSES + 1];

/// Mirrors the usage bits `bits` of class `id` (under the validator's lock).
pub(crate) fn set_usage(id: u32, bits: u16) {
    if let Some(u) = USAGE.get(id as usize) {
        u.store(bits, Ordering::Relaxed);
    }
}

/// Whether class `id` has usage bit `bit` (false for an untracked class).
pub(crate) fn has_usage(id: u32, bit: u8) -> bool {
    USAGE
        .get(id as usize)
        .is_some_and(|u| u.load(Ordering::Relaxed) & (1 << bit) != 0)
}

/// Forgets every usage bit (with the global state's `reset`).
pub(crate) fn clear_usage() {
    for u in &USAGE {
        u.store(0, Ordering::Relaxed);
    }
}
