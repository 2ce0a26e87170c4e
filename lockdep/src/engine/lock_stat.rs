//! Lock contention statistics (the `lock-stat` feature; the kernel's `lock_stat`, its
//! contention half): per class, how often a lock was found taken and how long its takers
//! waited for it.
//!
//! Counted only where a lock operation already left the fast path — the try that every
//! blocking acquisition starts with failed ([`super::validate::lock_raw`]) — so an uncontended
//! acquisition pays nothing more. Hold times are not measured: that would put a clock read on
//! every acquisition and release.

use super::state::MAX_CLASSES;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

struct Slot {
    contentions: AtomicU64,
    wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
}

/// Index = class id (0 unused).
static TABLE: [Slot; MAX_CLASSES + 1] = [const {
    Slot {
        contentions: AtomicU64::new(0),
        wait_ns: AtomicU64::new(0),
        max_wait_ns: AtomicU64::new(0),
    }
}; MAX_CLASSES + 1];

/// Records one contended acquisition of class `class` that waited `waited`.
pub(crate) fn record(class: u32, waited: Duration) {
    let Some(slot) = TABLE.get(class as usize) else {
        return;
    };
    let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
    // Relaxed: independent counters, read only for reporting.
    slot.contentions.fetch_add(1, Ordering::Relaxed);
    slot.wait_ns.fetch_add(ns, Ordering::Relaxed);
    slot.max_wait_ns.fetch_max(ns, Ordering::Relaxed);
}

/// Every class that was contended, most waited-for first.
pub(crate) fn snapshot() -> Vec<crate::LockStat> {
    let counts: Vec<(u32, u64, u64, u64)> = TABLE
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let n = s.contentions.load(Ordering::Relaxed);
            (n > 0).then(|| {
                (
                    i as u32,
                    n,
                    s.wait_ns.load(Ordering::Relaxed),
                    s.max_wait_ns.load(Ordering::Relaxed),
                )
            })
        })
        .collect();
    let names: Vec<String> = super::held::guarded(|_| {
        let st = super::state::lock();
        counts.iter().map(|c| st.class_name(c.0).to_string()).collect()
    })
    .unwrap_or_default();
    let mut out: Vec<crate::LockStat> = counts
        .iter()
        .zip(names)
        .map(|(&(_, n, total, max), class)| crate::LockStat {
            class,
            contentions: n,
            wait_total: Duration::from_nanos(total),
            wait_max: Duration::from_nanos(max),
        })
        .collect();
    out.sort_by(|a, b| {
        b.wait_total
            .cmp(&a.wait_total)
            .then_with(|| a.class.cmp(&b.class))
    });
    out
}
