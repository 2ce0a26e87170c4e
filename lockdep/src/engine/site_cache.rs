//! Class ids by creation site, readable without the validator's lock.
//!
//! A lock keyed on its creation site (`Mutex::new` with no named class) caches its class id in
//! itself, but a new lock starts with an empty cache: a site that makes one lock per object
//! (a constructor called in a loop) would resolve the class of every object under the
//! validator's lock. This table keeps the id per (site, subclass), so only the first lock of a
//! site goes there.
//!
//! Like the chain cache: a fixed, insert-only, open-addressing table written only under the
//! validator's lock (one writer, no compare-and-swap) and probed with loads. Never cleared:
//! classes survive [`crate::reset`]. When it is full, sites beyond it resolve as before.

use crate::class::MAX_SUBCLASSES;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// How many (site, subclass) pairs are kept.
const CAPACITY: usize = 4096;
/// Twice the capacity, so probes stay short.
const SLOTS: usize = CAPACITY * 2;
const MASK: usize = SLOTS - 1;

// The subclass is packed into the low bits of the site's address.
const _: () = assert!(std::mem::align_of::<Location<'static>>() >= MAX_SUBCLASSES);

static KEYS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static IDS: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
/// Entries inserted (only changed under the validator's lock).
static USED: AtomicUsize = AtomicUsize::new(0);

fn key(site: &'static Location<'static>, subclass: u32) -> usize {
    site as *const Location<'static> as usize | subclass as usize
}

fn slot(key: usize) -> usize {
    (key ^ (key >> 13)) & MASK
}

/// The class id of `site`/`subclass`, if it was resolved before (`subclass` below
/// [`MAX_SUBCLASSES`]).
pub(crate) fn get(site: &'static Location<'static>, subclass: u32) -> Option<u32> {
    let k = key(site, subclass);
    let mut i = slot(k);
    loop {
        // `Acquire`, paired with the `Release` of the insert: the id written before the key.
        match KEYS[i].load(Ordering::Acquire) {
            0 => return None,
            v if v == k => return Some(IDS[i].load(Ordering::Relaxed)),
            _ => i = (i + 1) & MASK,
        }
    }
}

/// Records the class id of `site`/`subclass`. Only under the validator's lock, which makes the
/// plain stores safe; stops at [`CAPACITY`], so an empty slot always exists.
pub(crate) fn insert(site: &'static Location<'static>, subclass: u32, id: u32) {
    if USED.load(Ordering::Relaxed) >= CAPACITY {
        return;
    }
    let k = key(site, subclass);
    let mut i = slot(k);
    loop {
        match KEYS[i].load(Ordering::Relaxed) {
            0 => {
                IDS[i].store(id, Ordering::Relaxed);
                KEYS[i].store(k, Ordering::Release);
                USED.fetch_add(1, Ordering::Relaxed);
                return;
            }
            v if v == k => return,
            _ => i = (i + 1) & MASK,
        }
    }
}
