//! The chain cache: the set of held-lock sequences already validated.
//!
//! A fixed, insert-only, open-addressing table of 64-bit chain keys ([`ChainTable`]). Readers
//! probe it with plain atomic loads and never write, so after warm-up its lines stay shared in
//! every core's cache and a hit costs a load or two — no lock, no shared write. Inserts happen
//! only under the graph lock, so there is a single writer and no compare-and-swap is needed.
//!
//! Why `Relaxed` probes suffice: a key is the whole entry (one 64-bit store, never torn), and a
//! hit only lets the thread skip validating a chain whose dependencies another thread recorded
//! before inserting the key, under the graph lock. The hitting thread reads nothing those
//! dependencies wrote; every later check that does read them takes the graph lock first, and so
//! sees them. `lockdep/src/engine/tests/loom_chain.rs` model-checks this table: concurrent
//! inserts of the same or colliding keys, probes racing with inserts and with `clear`, probes
//! ordered after a validation by the graph lock, a full table.

use super::sync_shim::{AtomicU64, AtomicUsize, Ordering};

/// How many chains may be cached (the kernel's `MAX_LOCKDEP_CHAINS`).
pub(crate) const MAX_CHAINS: usize = 1 << 16;
/// Twice the capacity, so probes stay short.
const SLOTS: usize = MAX_CHAINS * 2;

/// An open-addressing set of non-zero keys in `N` slots (a power of two), at most half of them
/// used, so every probe meets an empty slot and ends. Zero marks an empty slot.
pub(crate) struct ChainTable<const N: usize> {
    slots: [AtomicU64; N],
    /// Keys stored; written only by the single writer.
    len: AtomicUsize,
}

impl<const N: usize> ChainTable<N> {
    const MASK: usize = {
        assert!(N.is_power_of_two() && N >= 2);
        N - 1
    };
    /// The most keys it takes.
    pub(crate) const CAPACITY: usize = N / 2;

    #[cfg(not(all(loom, test)))]
    pub(crate) const fn new() -> Self {
        ChainTable {
            slots: [const { AtomicU64::new(0) }; N],
            len: AtomicUsize::new(0),
        }
    }

    #[cfg(all(loom, test))]
    pub(crate) fn new() -> Self {
        ChainTable {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            len: AtomicUsize::new(0),
        }
    }

    #[inline(always)]
    fn slot(key: u64) -> usize {
        (key ^ (key >> 29)) as usize & Self::MASK
    }

    /// Whether `key` was inserted (and not cleared since). Lock-free, read-only.
    #[inline(always)]
    pub(crate) fn contains(&self, key: u64) -> bool {
        let mut i = Self::slot(key);
        loop {
            let v = self.slots[i].load(Ordering::Relaxed);
            if v == key {
                return true;
            }
            if v == 0 {
                return false;
            }
            i = (i + 1) & Self::MASK;
        }
    }

    /// Adds `key` (non-zero); true if it is in the table now, false if the table was full.
    /// Only one thread may insert or clear at a time (the graph lock's holder): that is what
    /// makes finding an empty slot and storing into it safe without a compare-and-swap.
    pub(crate) fn insert(&self, key: u64) -> bool {
        debug_assert_ne!(key, 0, "zero marks an empty slot");
        let mut i = Self::slot(key);
        loop {
            let v = self.slots[i].load(Ordering::Relaxed);
            if v == key {
                return true;
            }
            if v == 0 {
                let len = self.len.load(Ordering::Relaxed);
                if len >= Self::CAPACITY {
                    return false;
                }
                self.len.store(len + 1, Ordering::Relaxed);
                self.slots[i].store(key, Ordering::Release);
                return true;
            }
            i = (i + 1) & Self::MASK;
        }
    }

    /// Empties the table (single writer, as [`insert`](Self::insert)). A reader racing with
    /// this may miss a key and take the slow path once, which is harmless; it never finds a key
    /// that was not inserted.
    pub(crate) fn clear(&self) {
        for s in self.slots.iter() {
            s.store(0, Ordering::Relaxed);
        }
        self.len.store(0, Ordering::Relaxed);
    }

    /// Keys stored.
    #[cfg(all(loom, test))]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

/// The process's chain cache.
#[cfg(not(all(loom, test)))]
static TABLE: ChainTable<SLOTS> = ChainTable::new();

#[cfg(all(loom, test))]
loom::lazy_static! {
    static ref TABLE: ChainTable<SLOTS> = ChainTable::new();
}

/// Whether the chain `key` was validated before.
#[inline(always)]
pub(crate) fn contains(key: u64) -> bool {
    TABLE.contains(key)
}

/// Adds `key`. Only called with the graph lock held; the caller counts entries and stops at
/// [`MAX_CHAINS`], so the table never refuses it.
pub(crate) fn insert(key: u64) {
    let stored = TABLE.insert(key);
    debug_assert!(stored, "the caller keeps the chain count below MAX_CHAINS");
}

/// Empties the table (under the graph lock).
pub(crate) fn clear() {
    TABLE.clear();
}

const _: () = assert!(ChainTable::<SLOTS>::CAPACITY == MAX_CHAINS);
