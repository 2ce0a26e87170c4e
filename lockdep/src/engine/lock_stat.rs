//! Lock statistics (the `lock-stat` feature; the kernel's `lock_stat`): per class, how often
//! a lock was found taken and how long its takers waited for it (contention), and how long it
//! was held (hold time: count, total, shortest, longest).
//!
//! Contention is counted only where a lock operation already left the fast path — the try
//! that every blocking acquisition starts with failed ([`super::validate::lock_raw`]). Hold
//! times need a clock read at every acquisition and release, which is why they exist only with
//! this feature: without it none of this file is built and an acquisition does nothing more.
//!
//! A hold starts when the lock is obtained (for a contended lock, once the wait is over, as
//! the kernel's `lock_acquired` restarts `holdtime_stamp`) and ends at its release. The start
//! is kept per thread, by lock instance, in a fixed array the depth of the held-lock stack: no
//! allocation on the lock path (an allocator may itself take instrumented locks), and a lock
//! released out of order, or on another path than its acquisition, is still found by its
//! address. A `Condvar` wait releases its lock and takes it again, so it ends one hold and
//! starts another; a pseudo-lock's read holds dropped around a fence wait
//! (`validate::release_own_holds`) are put back as they were, so that hold spans the wait.

use super::state::MAX_CLASSES;
use crate::MAX_LOCK_DEPTH;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Slot {
    contentions: AtomicU64,
    wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
    holds: AtomicU64,
    hold_ns: AtomicU64,
    min_hold_ns: AtomicU64,
    max_hold_ns: AtomicU64,
}

/// Index = class id (0 unused).
static TABLE: [Slot; MAX_CLASSES + 1] = [const {
    Slot {
        contentions: AtomicU64::new(0),
        wait_ns: AtomicU64::new(0),
        max_wait_ns: AtomicU64::new(0),
        holds: AtomicU64::new(0),
        hold_ns: AtomicU64::new(0),
        min_hold_ns: AtomicU64::new(u64::MAX),
        max_hold_ns: AtomicU64::new(0),
    }
}; MAX_CLASSES + 1];

/// One hold in progress: the instance, its class, when it started.
type Stamp = (usize, u32, Option<Instant>);

thread_local! {
    /// This thread's holds in progress, oldest first; `LEN` of them are live.
    static STAMPS: [Cell<Stamp>; MAX_LOCK_DEPTH] = const { [const { Cell::new((0, 0, None)) }; MAX_LOCK_DEPTH] };
    static LEN: Cell<usize> = const { Cell::new(0) };
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Records one contended acquisition of class `class` that waited `waited`, and restarts the
/// hold of `instance`: it was only being waited for until now.
pub(crate) fn record(class: u32, instance: usize, waited: Duration) {
    let Some(slot) = TABLE.get(class as usize) else {
        return;
    };
    let ns = nanos(waited);
    // Relaxed: independent counters, read only for reporting.
    slot.contentions.fetch_add(1, Ordering::Relaxed);
    slot.wait_ns.fetch_add(ns, Ordering::Relaxed);
    slot.max_wait_ns.fetch_max(ns, Ordering::Relaxed);
    let _ = STAMPS.try_with(|s| {
        let n = LEN.with(Cell::get);
        if let Some(c) = s[..n].iter().rev().find(|c| c.get().0 == instance) {
            let (i, class, _) = c.get();
            c.set((i, class, Some(Instant::now())));
        }
    });
}

/// A hold of `instance` (class `class`) starts now. With every slot taken (locks released on
/// paths that never told us), the oldest hold is forgotten.
pub(crate) fn hold_starts(class: u32, instance: usize) {
    let _ = STAMPS.try_with(|s| {
        let mut n = LEN.with(Cell::get);
        if n == MAX_LOCK_DEPTH {
            for i in 1..n {
                s[i - 1].set(s[i].get());
            }
            n -= 1;
        }
        s[n].set((instance, class, Some(Instant::now())));
        LEN.with(|l| l.set(n + 1));
    });
}

/// The newest hold of `instance` ends now (nothing if none was started: a lock taken inside
/// the validator, or a release the validator refuses as unbalanced).
pub(crate) fn hold_ends(instance: usize) {
    let _ = STAMPS.try_with(|s| {
        let n = LEN.with(Cell::get);
        let Some(i) = s[..n].iter().rposition(|c| c.get().0 == instance) else {
            return;
        };
        let (_, class, start) = s[i].get();
        for j in i + 1..n {
            s[j - 1].set(s[j].get());
        }
        LEN.with(|l| l.set(n - 1));
        let (Some(start), Some(slot)) = (start, TABLE.get(class as usize)) else {
            return;
        };
        let ns = nanos(start.elapsed());
        slot.holds.fetch_add(1, Ordering::Relaxed);
        slot.hold_ns.fetch_add(ns, Ordering::Relaxed);
        // A read first: a new extreme is rare, and a plain load does not take the cache line
        // exclusively as a read-modify-write does.
        if ns < slot.min_hold_ns.load(Ordering::Relaxed) {
            slot.min_hold_ns.fetch_min(ns, Ordering::Relaxed);
        }
        if ns > slot.max_hold_ns.load(Ordering::Relaxed) {
            slot.max_hold_ns.fetch_max(ns, Ordering::Relaxed);
        }
    });
}

/// Every class that was held or contended, most waited-for first, then longest held.
pub(crate) fn snapshot() -> Vec<crate::LockStat> {
    super::held::guarded(|_| snapshot_in(&super::state::lock())).unwrap_or_default()
}

/// [`snapshot`], with the validator's state already locked (names are resolved from it).
pub(crate) fn snapshot_in(st: &super::state::State) -> Vec<crate::LockStat> {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let counts: Vec<(u32, [u64; 7])> = TABLE
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let v = [
                load(&s.contentions),
                load(&s.wait_ns),
                load(&s.max_wait_ns),
                load(&s.holds),
                load(&s.hold_ns),
                load(&s.min_hold_ns),
                load(&s.max_hold_ns),
            ];
            (v[0] > 0 || v[3] > 0).then_some((i as u32, v))
        })
        .collect();
    let names = counts.iter().map(|c| st.class_name(c.0).to_string());
    let ns = Duration::from_nanos;
    let mut out: Vec<crate::LockStat> = counts
        .iter()
        .zip(names)
        .map(|(&(_, v), class)| crate::LockStat {
            class,
            contentions: v[0],
            wait_total: ns(v[1]),
            wait_max: ns(v[2]),
            holds: v[3],
            hold_total: ns(v[4]),
            hold_min: ns(if v[3] == 0 { 0 } else { v[5] }),
            hold_max: ns(v[6]),
        })
        .collect();
    out.sort_by(|a, b| {
        b.wait_total
            .cmp(&a.wait_total)
            .then_with(|| b.hold_total.cmp(&a.hold_total))
            .then_with(|| a.class.cmp(&b.class))
    });
    out
}
