//! The per-lock validator record (the kernel's `struct lockdep_map`): which class the lock
//! belongs to, its wait type, and a cache of the resolved class ids, so the hot path never
//! looks a class up.

use crate::class::{LockClass, MAX_SUBCLASSES};
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};

/// A class id that was never resolved.
pub(crate) const UNRESOLVED: u32 = 0;
/// The class could not be registered (class table full): the lock is not validated.
pub(crate) const UNTRACKED: u32 = u32::MAX;

/// Wait types, innermost first (the kernel's `lockdep_wait_type` with raw-lock nesting on;
/// 1, `FREE`, comes from pseudo-locks that declare it).
pub(crate) const WAIT_INV: u8 = 0;
pub(crate) const WAIT_SPIN: u8 = 2;
pub(crate) const WAIT_CONFIG: u8 = 3;
pub(crate) const WAIT_SLEEP: u8 = 4;
pub(crate) const WAIT_MAX: u8 = 5;

/// What a lock's class is keyed on.
#[derive(Clone, Copy)]
pub(crate) enum Key {
    /// All locks created at this source location.
    Site(&'static Location<'static>),
    /// An explicit named class.
    Class(&'static LockClass),
    /// A pseudo-lock that is its own class (keyed on its address), with this name.
    Own(&'static str),
    /// The acquire-context class of a ww class.
    WwAcquire(&'static crate::ww::WwClass),
    /// The mutex class of a ww class.
    WwMutex(&'static crate::ww::WwClass),
    /// The companion "upgrade" class of the `RwLock`s created at this location: the
    /// upgradable-read slot, held exclusively by an upgradable reader (and by a writer once the
    /// lock has had one), see `sync::rwlock`.
    UpgradeSite(&'static Location<'static>),
    /// The companion "upgrade" class of the `RwLock`s of a named class.
    UpgradeClass(&'static LockClass),
}

/// The kind of lock behind a map; it decides the default wait type and how reports name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum LockKind {
    Mutex,
    /// The sleeping reader-writer lock (`rw_semaphore`).
    RwLock,
    /// The spinning reader-writer lock (`rwlock_t`).
    RwSpinLock,
    SpinLock,
    RawSpinLock,
    Map,
    WwMutex,
    WwAcquire,
    Srcu,
    /// The initialisation of a `Once`, `OnceLock` or `LazyLock`: held while its initialiser
    /// runs, and waited for by every thread that reaches it meanwhile.
    Once,
}

impl LockKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LockKind::Mutex => "mutex",
            LockKind::RwLock => "rw_semaphore",
            LockKind::RwSpinLock => "rwlock",
            LockKind::SpinLock => "spinlock",
            LockKind::RawSpinLock => "raw spinlock",
            LockKind::Map => "lock map",
            LockKind::WwMutex => "ww_mutex",
            LockKind::WwAcquire => "ww acquire context",
            LockKind::Srcu => "srcu",
            LockKind::Once => "once",
        }
    }

    /// The wait types `(outer, inner)`: what taking a lock of this kind needs, and what may
    /// be taken while holding it.
    ///
    /// Each lock validates as the kernel lock it behaves like: `RwLock` parks the thread, so
    /// it is an `rw_semaphore` (sleeping on both sides, like a mutex); `RwSpinLock` spins, so
    /// it is an `rwlock_t` (a spinlock's wait types, allowed in interrupt context).
    pub(crate) const fn wait_types(self) -> (u8, u8) {
        match self {
            LockKind::Mutex | LockKind::WwMutex | LockKind::RwLock | LockKind::Once => {
                (WAIT_SLEEP, WAIT_SLEEP)
            }
            LockKind::SpinLock | LockKind::RwSpinLock => (WAIT_CONFIG, WAIT_CONFIG),
            LockKind::RawSpinLock => (WAIT_SPIN, WAIT_SPIN),
            LockKind::Map | LockKind::WwAcquire | LockKind::Srcu => (WAIT_INV, WAIT_INV),
        }
    }

    /// Whether it is a real lock (re-taking one held by the same thread hangs), not a
    /// pseudo-lock.
    pub(crate) fn blocks(self) -> bool {
        !matches!(self, LockKind::Map | LockKind::WwAcquire | LockKind::Srcu)
    }

    /// Whether acquiring it always may sleep (reported in atomic context).
    pub(crate) fn sleeps(self) -> bool {
        matches!(
            self,
            LockKind::Mutex | LockKind::WwMutex | LockKind::RwLock | LockKind::Once
        )
    }

    /// Whether holding it is an atomic section (the thread may not sleep until it is released).
    pub(crate) fn spins(self) -> bool {
        matches!(
            self,
            LockKind::SpinLock | LockKind::RawSpinLock | LockKind::RwSpinLock
        )
    }
}

/// Embedded in every instrumented lock.
pub(crate) struct DepMap {
    pub(crate) key: Key,
    pub(crate) kind: LockKind,
    /// Wait types: `outer` is what taking it needs, `inner` what holding it allows.
    pub(crate) wait_outer: u8,
    pub(crate) wait_inner: u8,
    /// Resolved class ids for subclasses 0 and 1 (the kernel caches the same two).
    cache: [AtomicU32; 2],
}

impl DepMap {
    pub(crate) const fn new(key: Key, kind: LockKind) -> Self {
        let (outer, inner) = kind.wait_types();
        Self::with_wait(key, kind, outer, inner)
    }

    pub(crate) const fn with_wait(key: Key, kind: LockKind, outer: u8, inner: u8) -> Self {
        DepMap {
            key,
            kind,
            wait_outer: outer,
            wait_inner: inner,
            cache: [const { AtomicU32::new(UNRESOLVED) }; 2],
        }
    }

    /// The default instance identity: the map's address (locks do not move while held).
    #[inline(always)]
    pub(crate) fn instance(&self) -> usize {
        self as *const DepMap as usize
    }

    /// A process-unique number for the class key.
    pub(crate) fn key_addr(&self) -> usize {
        match self.key {
            Key::Site(l) => l as *const Location<'static> as usize,
            Key::Class(c) => c as *const LockClass as usize,
            Key::Own(_) => self.instance(),
            Key::WwAcquire(c) => c as *const crate::ww::WwClass as usize,
            Key::WwMutex(c) => c as *const crate::ww::WwClass as usize + 1,
            // One past the lock class's own key: inside the same object, so no other key has
            // it.
            Key::UpgradeSite(l) => l as *const Location<'static> as usize + 1,
            Key::UpgradeClass(c) => c as *const LockClass as usize + 1,
        }
    }

    /// The class name before any `#n`/`/subclass` decoration.
    pub(crate) fn base_name(&self) -> String {
        match self.key {
            Key::Site(loc) => format!("{}:{}:{}", loc.file(), loc.line(), loc.column()),
            Key::Class(c) => c.name().to_string(),
            Key::Own(name) => name.to_string(),
            Key::WwMutex(c) => format!("{}_mutex", c.name()),
            Key::WwAcquire(c) => format!("{}_acquire", c.name()),
            Key::UpgradeSite(loc) => format!("{}:{}:{}:upgradable", loc.file(), loc.line(), loc.column()),
            Key::UpgradeClass(c) => format!("{}:upgradable", c.name()),
        }
    }

    /// The class id for `subclass`, resolving (and caching) it on first use.
    #[inline(always)]
    pub(crate) fn class(&self, subclass: u32) -> u32 {
        if (subclass as usize) < self.cache.len() {
            let id = self.cache[subclass as usize].load(Ordering::Relaxed);
            if id != UNRESOLVED {
                return id;
            }
        }
        self.class_slow(subclass)
    }

    #[cold]
    #[inline(never)]
    fn class_slow(&self, subclass: u32) -> u32 {
        if subclass as usize >= MAX_SUBCLASSES {
            super::validate::invalid_subclass(subclass);
            return self.class(MAX_SUBCLASSES as u32 - 1);
        }
        // A named class (or a ww class) keeps the ids it resolved: a new lock of a known class
        // finds its id there without the validator's lock. Never invalidated: classes survive
        // `reset`, so an id once resolved stays the class's.
        if let Some(slot) = self.shared_cache(subclass) {
            let id = slot.load(Ordering::Relaxed);
            if id != UNRESOLVED && self.same_kind_as_class() {
                self.remember(subclass, id);
                return id;
            }
        }
        // A creation site: its id is kept per site (`site_cache`), likewise.
        if let Key::Site(site) = self.key {
            if let Some(id) = super::site_cache::get(site, subclass) {
                self.remember(subclass, id);
                return id;
            }
        }
        // Registering allocates under the validator's lock: validator work. From inside the
        // validator (a lock taken by an allocator, say) the lock is untracked, and nothing is
        // cached, so it is resolved properly the next time.
        let Some(id) = super::held::guarded(|h| {
            let mut st = super::state::lock();
            if let Key::Class(c) = self.key {
                // One class, one kind of lock: the class keeps the wait types of the lock that
                // registered it, so another kind sharing it is reported (once per class).
                let kind = self.kind as u8 + 1;
                if let Err(first) = c
                    .kind
                    .compare_exchange(0, kind, Ordering::Relaxed, Ordering::Relaxed)
                {
                    if first != kind {
                        let id = st.register_class(self.key_addr(), self, subclass);
                        super::check::class_kind_mismatch(&mut st, h, id, self.kind);
                        return id;
                    }
                }
            }
            let id = st.register_class(self.key_addr(), self, subclass);
            if let (Key::Site(site), true) = (self.key, id != UNTRACKED) {
                super::site_cache::insert(site, subclass, id);
            }
            id
        }) else {
            return UNTRACKED;
        };
        super::sink::flush(true);
        if let (Some(slot), true) = (self.shared_cache(subclass), id != UNTRACKED) {
            slot.store(id, Ordering::Release);
        }
        self.remember(subclass, id);
        id
    }

    /// The slot of the class key itself that caches the id of `subclass`, for keys that
    /// outlive their locks (a named class, a ww class); `None` for a creation site or a
    /// pseudo-lock that is its own class. Loaded `Relaxed`: the id is a number, what the global
    /// state holds about it is read under the validator's lock, and the one fact read without it
    /// (`class_bits`) is ordered by the id's own dependency.
    fn shared_cache(&self, subclass: u32) -> Option<&AtomicU32> {
        match self.key {
            Key::Class(c) => c.ids.get(subclass as usize),
            Key::WwAcquire(c) if subclass == 0 => Some(&c.ids[0]),
            Key::WwMutex(c) if subclass == 0 => Some(&c.ids[1]),
            _ => None,
        }
    }

    /// Whether this lock is of the kind that registered its named class (always true for other
    /// keys): a lock of another kind goes to the validator's lock, to be reported.
    fn same_kind_as_class(&self) -> bool {
        match self.key {
            Key::Class(c) => c.kind.load(Ordering::Relaxed) == self.kind as u8 + 1,
            _ => true,
        }
    }

    fn remember(&self, subclass: u32, id: u32) {
        if let Some(c) = self.cache.get(subclass as usize) {
            // `Release`: publishes the id after what registering it recorded about it outside
            // the validator's lock (`class_bits`). Only this cold path stores.
            c.store(id, Ordering::Release);
        }
    }
}
