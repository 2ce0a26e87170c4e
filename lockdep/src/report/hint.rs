//! Hints: one sentence naming the rule behind a report when a class in it stands for a rule
//! rather than a lock — a pseudo-lock ([`LockMap`](crate::LockMap)) such as `dma_fence_map`.
//!
//! The table is data: the kernel's well-known annotation maps come built in, and a program
//! registers its own with [`register_hint`], so a report names the rule in the program's words.

use super::Report;
use parking_lot::RwLock;

/// The annotation maps every kernel-shaped program shares.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "dma_fence_map",
        "fence wait inside a dma_fence signalling section: code a fence's signalling depends on \
         must not wait for a fence, nor take a lock that is held around a fence wait",
    ),
    (
        "fs_reclaim",
        "allocation that may enter memory reclaim while holding a lock that reclaim (a \
         shrinker or an mmu notifier) takes: allocate before taking the lock, or without reclaim",
    ),
    (
        "mmu_notifier_invalidate_range_start",
        "lock taken inside an mmu notifier's invalidation is also held around an allocation \
         or a fault: the notifier can run from reclaim and wait for itself",
    ),
];

static REGISTERED: RwLock<Vec<(String, String)>> = RwLock::new(Vec::new());

/// Registers the hint printed with any report that involves class `class` (by its printed
/// name), replacing an earlier one for the same name and overriding a built-in one. Use it for
/// the rules a program encodes as pseudo-locks, so the report says which rule broke.
///
/// ```
/// static SUBMIT: lockdep::LockMap = lockdep::LockMap::new("job_submit_map");
/// lockdep::register_hint("job_submit_map", "allocation inside the job submission path");
/// ```
pub fn register_hint(class: &str, hint: &str) {
    let mut table = REGISTERED.write();
    match table.iter_mut().find(|(c, _)| c == class) {
        Some(entry) => entry.1 = hint.to_string(),
        None => table.push((class.to_string(), hint.to_string())),
    }
}

/// The hint for a class name: registered first, then built in. A subclass or `#n` suffix does
/// not hide it (`dma_fence_map/1` still is the fence map).
pub fn hint_for(class: &str) -> Option<String> {
    let base = class.split(['/', '#']).next().unwrap_or(class);
    let table = REGISTERED.read();
    if let Some((_, h)) = table.iter().find(|(c, _)| c == class || c == base) {
        return Some(h.clone());
    }
    BUILT_IN
        .iter()
        .find(|(c, _)| *c == class || *c == base)
        .map(|(_, h)| h.to_string())
}

impl Report {
    /// The hint of the first class of the report that has one (see [`register_hint`]).
    pub fn hint(&self) -> Option<String> {
        self.classes().into_iter().find_map(hint_for)
    }

    /// The report on one line: the cycle as `A -> B -> A`, the held lock and the one being
    /// taken as `A -> B`, else the kind and the classes involved.
    pub fn summary(&self) -> String {
        if !self.cycle.is_empty() {
            return self.cycle.join(" -> ");
        }
        match (&self.holding, &self.acquiring) {
            (Some(h), Some(a)) => format!("{} -> {}", h.class, a.class),
            _ => {
                let classes = self.classes();
                if classes.is_empty() {
                    self.kind.name().to_string()
                } else {
                    format!("{}: {}", self.kind.name(), classes.join(", "))
                }
            }
        }
    }
}
