//! The chain cache: the set of held-lock sequences already validated.
//!
//! A fixed, insert-only, open-addressing table of 64-bit chain keys. Readers probe it with
//! plain atomic loads and never write, so after warm-up its lines stay shared in every core's
//! cache and a hit costs a load or two — no lock, no shared write. Inserts happen only under
//! the graph lock, so there is a single writer and no compare-and-swap is needed.

use std::sync::atomic::{AtomicU64, Ordering};

/// How many chains may be cached (the kernel's `MAX_LOCKDEP_CHAINS`).
pub(crate) const MAX_CHAINS: usize = 1 << 16;
/// Twice the capacity, so probes stay short.
const SLOTS: usize = MAX_CHAINS * 2;
const MASK: usize = SLOTS - 1;

static TABLE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

#[inline(always)]
fn slot(key: u64) -> usize {
    (key ^ (key >> 29)) as usize & MASK
}

/// Whether the chain `key` was validated before.
#[inline(always)]
pub(crate) fn contains(key: u64) -> bool {
    let mut i = slot(key);
    loop {
        let v = TABLE[i].load(Ordering::Relaxed);
        if v == key {
            return true;
        }
        if v == 0 {
            return false;
        }
        i = (i + 1) & MASK;
    }
}

/// Adds `key`. Only called with the graph lock held, which is what makes a plain store safe;
/// the caller counts entries and stops at [`MAX_CHAINS`], so an empty slot always exists.
pub(crate) fn insert(key: u64) {
    let mut i = slot(key);
    loop {
        let v = TABLE[i].load(Ordering::Relaxed);
        if v == key {
            return;
        }
        if v == 0 {
            TABLE[i].store(key, Ordering::Release);
            return;
        }
        i = (i + 1) & MASK;
    }
}

/// Empties the table (under the graph lock). A reader racing with this may miss and take the
/// slow path once, which is harmless.
pub(crate) fn clear() {
    for s in TABLE.iter() {
        s.store(0, Ordering::Relaxed);
    }
}
