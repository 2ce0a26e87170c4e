//! The per-lock validator record (the kernel's `struct lockdep_map`): which class the lock
//! belongs to and a cache of the resolved class ids, so the hot path never looks a class up.

use crate::class::{LockClass, MAX_SUBCLASSES};
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};

/// A class id that was never resolved.
pub(crate) const UNRESOLVED: u32 = 0;
/// The class could not be registered (class table full): the lock is not tracked.
pub(crate) const UNTRACKED: u32 = u32::MAX;

/// What a lock's class is keyed on.
#[derive(Clone, Copy)]
pub(crate) enum Key {
    /// All locks created at this source location.
    Site(&'static Location<'static>),
    /// An explicit named class.
    Class(&'static LockClass),
}

impl Key {
    /// A process-unique number for the key (the address of its static).
    pub(crate) fn addr(self) -> usize {
        match self {
            Key::Site(l) => l as *const Location<'static> as usize,
            Key::Class(c) => c as *const LockClass as usize,
        }
    }
}

/// The kind of lock behind a map; it decides the wait type and how reports name the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum LockKind {
    Mutex,
    RwLock,
    SpinLock,
    RawSpinLock,
}

impl LockKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LockKind::Mutex => "mutex",
            LockKind::RwLock => "rwlock",
            LockKind::SpinLock => "spinlock",
            LockKind::RawSpinLock => "raw spinlock",
        }
    }
}

/// Embedded in every instrumented lock. Its address is the lock instance's identity.
pub(crate) struct DepMap {
    pub(crate) key: Key,
    pub(crate) kind: LockKind,
    /// Resolved class ids for subclasses 0 and 1 (the kernel caches the same two).
    cache: [AtomicU32; 2],
}

impl DepMap {
    pub(crate) const fn new(key: Key, kind: LockKind) -> Self {
        DepMap {
            key,
            kind,
            cache: [const { AtomicU32::new(UNRESOLVED) }; 2],
        }
    }

    /// The instance identity used in the held-lock stack.
    #[inline(always)]
    pub(crate) fn instance(&self) -> usize {
        self as *const DepMap as usize
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
        if let Key::Class(c) = self.key {
            let id = c.ids[subclass as usize].load(Ordering::Relaxed);
            if id != UNRESOLVED {
                self.remember(subclass, id);
                return id;
            }
        }
        let id = super::state::lock().register_class(self.key, subclass, self.kind);
        super::sink::flush(true);
        if let Key::Class(c) = self.key {
            c.ids[subclass as usize].store(id, Ordering::Relaxed);
        }
        self.remember(subclass, id);
        id
    }

    fn remember(&self, subclass: u32, id: u32) {
        if let Some(c) = self.cache.get(subclass as usize) {
            c.store(id, Ordering::Relaxed);
        }
    }
}
