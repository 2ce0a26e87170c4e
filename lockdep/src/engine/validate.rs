//! Acquire and release: the hot path every lock operation runs, and the slow paths behind it.
//!
//! The hot path (a chain of held classes validated before) reads the class id cached in the
//! lock, extends the thread's chain key, probes the lock-free chain cache and pushes one entry
//! on the thread-local stack: no lock, no shared write, no allocation, no stack capture.
//! Everything else — first use by a thread, a never-seen chain, a full stack, an out-of-order
//! release — is `#[cold]` and lives below it.

use super::chain;
use super::check;
use super::held::{self, chain_key, Held, HeldStack, INITIAL_CHAIN_KEY, STALE_KEYS, UNREGISTERED, WRITE};
use super::map::{DepMap, UNTRACKED};
use super::sink;
use crate::MAX_LOCK_DEPTH;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

/// Records that this thread is about to acquire `map` (validated *before* blocking, so an
/// inversion is reported even when this very acquisition would deadlock).
///
/// `read`: 0 write, 1 read, 2 recursive read. A trylock adds no dependency into the lock (it
/// cannot wait), but dependencies out of it are recorded once it is held, so callers register
/// a trylock only after it succeeded.
#[inline(always)]
pub(crate) fn acquire(map: &DepMap, subclass: u32, read: u8, trylock: bool, loc: &'static Location<'static>) {
    let class = map.class(subclass);
    let instance = map.instance();
    let done = held::with(|h| {
        let d = h.depth;
        if h.slow != 0 || d >= MAX_LOCK_DEPTH {
            return false;
        }
        let prev = if d == 0 {
            INITIAL_CHAIN_KEY
        } else {
            h.entries[d - 1].chain_key
        };
        let key = chain_key(prev, class, read, trylock);
        if !(trylock || class == UNTRACKED || chain::contains(key)) {
            return false;
        }
        h.entries[d] = Held {
            instance,
            chain_key: key,
            loc: Some(loc),
            class,
            read,
            trylock,
            subclass: subclass as u8,
        };
        h.depth = d + 1;
        true
    });
    if !done {
        acquire_slow(map, class, subclass, read, trylock, loc);
    }
}

#[cold]
#[inline(never)]
fn acquire_slow(
    map: &DepMap,
    class: u32,
    subclass: u32,
    read: u8,
    trylock: bool,
    loc: &'static Location<'static>,
) {
    let instance = map.instance();
    let (entry, fatal) = held::with(|h| {
        if h.slow & UNREGISTERED != 0 {
            register(h);
        }
        if h.slow & STALE_KEYS != 0 {
            refresh_keys(h);
        }
        let d = h.depth;
        let next = Held {
            instance,
            chain_key: 0,
            loc: Some(loc),
            class,
            read,
            trylock,
            subclass: subclass as u8,
        };
        if d >= MAX_LOCK_DEPTH {
            h.overflow += 1;
            check::max_depth(h, &next);
            return (None, None);
        }
        let prev = if d == 0 {
            INITIAL_CHAIN_KEY
        } else {
            h.entries[d - 1].chain_key
        };
        let next = Held {
            chain_key: chain_key(prev, class, read, trylock),
            ..next
        };
        let mut fatal = None;
        if !trylock && class != UNTRACKED && !chain::contains(next.chain_key) {
            fatal = check::validate_chain(h, d, &next);
        }
        (Some(next), fatal)
    });
    // Dispatch before the lock counts as held: with `Action::Panic` the panic unwinds out of
    // `lock()` and the lock was never taken.
    sink::flush(true);
    if let Some(msg) = fatal {
        panic!("{msg}");
    }
    if let Some(next) = entry {
        // A report hook may have taken (and released) locks meanwhile: the stack is as it was.
        held::with(|h| {
            h.entries[h.depth] = next;
            h.depth += 1;
        });
    }
}

/// Records that this thread released `map`. Returns false (after reporting a bad unlock
/// balance) if this thread did not hold it.
#[inline(always)]
pub(crate) fn release(map: &DepMap, loc: &'static Location<'static>) -> bool {
    let instance = map.instance();
    let done = held::with(|h| {
        let d = h.depth;
        if d > 0 && h.entries[d - 1].instance == instance {
            h.depth = d - 1;
            true
        } else {
            false
        }
    });
    done || release_slow(map, loc)
}

#[cold]
#[inline(never)]
fn release_slow(map: &DepMap, loc: &'static Location<'static>) -> bool {
    let instance = map.instance();
    let held = held::with(|h| match h.held().iter().rposition(|e| e.instance == instance) {
        Some(i) => {
            remove(h, i);
            true
        }
        None if h.overflow > 0 => {
            // Taken while the stack was full, so never tracked.
            h.overflow -= 1;
            true
        }
        None => false,
    });
    if !held {
        let class = map.class(0);
        held::with(|h| check::bad_unlock(h, map, class, loc));
    }
    sink::flush(true);
    held
}

/// Removes entry `i`; the entries above it now sit on a different chain.
///
/// The kernel re-validates them at once, because releasing out of order can create
/// dependencies: in `L(A) L(B) L(C) U(B)`, C is now held directly over A. When B and everything
/// above it are exclusive, blocking acquisitions, every such dependency is already implied by a
/// strong path through B (A → B → C), so re-validating cannot find anything new: only the chain
/// keys change, and they are recomputed lazily, when the thread next acquires a lock. That keeps
/// the common out-of-order pattern — a `Vec` of guards dropped front to back — off the slow
/// path. Otherwise (readers or trylocks involved) the entries are re-validated now.
fn remove(h: &mut HeldStack, i: usize) {
    let d = h.depth;
    let implied = h.entries[i..d].iter().all(|e| e.read == WRITE && !e.trylock);
    h.entries.copy_within(i + 1..d, i);
    h.depth = d - 1;
    if implied {
        if h.slow & STALE_KEYS == 0 || i < h.stale {
            h.stale = i;
        }
        h.slow |= STALE_KEYS;
    } else {
        refresh_keys(h);
        revalidate_from(h, i);
    }
}

/// Brings stale chain keys up to date (no validation needed, see [`remove`]).
fn refresh_keys(h: &mut HeldStack) {
    if h.slow & STALE_KEYS == 0 {
        return;
    }
    h.slow &= !STALE_KEYS;
    for j in h.stale..h.depth {
        let prev = if j == 0 {
            INITIAL_CHAIN_KEY
        } else {
            h.entries[j - 1].chain_key
        };
        let e = &mut h.entries[j];
        e.chain_key = chain_key(prev, e.class, e.read, e.trylock);
    }
}

/// Recomputes the chain keys of entries `i..` and validates the chains that are new.
fn revalidate_from(h: &mut HeldStack, i: usize) {
    for j in i..h.depth {
        let prev = if j == 0 {
            INITIAL_CHAIN_KEY
        } else {
            h.entries[j - 1].chain_key
        };
        let e = h.entries[j];
        let key = chain_key(prev, e.class, e.read, e.trylock);
        h.entries[j].chain_key = key;
        if !e.trylock && e.class != UNTRACKED && !chain::contains(key) {
            // Not a fresh acquisition: it cannot be the same instance twice, so never fatal.
            let next = h.entries[j];
            let _ = check::validate_chain(h, j, &next);
        }
    }
}

/// Takes `map` off the stack for a condition-variable wait; returns what
/// [`reacquire_after_wait`] needs to put it back the way it was taken.
pub(crate) fn release_for_wait(map: &DepMap) -> u32 {
    let instance = map.instance();
    let subclass = held::with(|h| {
        h.held()
            .iter()
            .rev()
            .find(|e| e.instance == instance)
            .map(|e| e.subclass as u32)
            .unwrap_or(0)
    });
    release(map, Location::caller());
    subclass
}

/// Puts `map` back on the stack after a condition-variable wait: a fresh acquisition on top
/// of whatever the thread holds now, validated like any other.
pub(crate) fn reacquire_after_wait(map: &DepMap, subclass: u32, loc: &'static Location<'static>) {
    acquire(map, subclass, super::held::WRITE, false, loc);
}

/// A held write lock becomes a (non-recursive) read lock; the locks above it are re-validated.
pub(crate) fn downgrade(map: &DepMap) {
    let instance = map.instance();
    held::with(|h| {
        refresh_keys(h);
        if let Some(i) = h.held().iter().rposition(|e| e.instance == instance) {
            h.entries[i].read = super::held::READ;
            revalidate_from(h, i);
        }
    });
    sink::flush(true);
}

/// Whether this thread holds `map`.
pub(crate) fn is_held(map: &DepMap) -> bool {
    let instance = map.instance();
    held::with(|h| h.held().iter().any(|e| e.instance == instance))
}

/// Called when a lock is destroyed: reports (and forgets) it if this thread still holds it.
pub(crate) fn check_freed(map: &DepMap) {
    let instance = map.instance();
    let found = held::with(|h| match h.held().iter().rposition(|e| e.instance == instance) {
        Some(i) => {
            check::held_lock_freed(h, map, i);
            remove(h, i);
            true
        }
        None => false,
    });
    if found {
        sink::flush(true);
    }
}

/// Reports a subclass out of range (the lock is then validated as the last subclass).
#[cold]
pub(crate) fn invalid_subclass(subclass: u32) {
    held::with(|h| check::invalid_subclass(h, subclass));
    sink::flush(true);
}

static NEXT_TID: AtomicU64 = AtomicU64::new(1);

/// Gives the thread its validator id and arms the thread-exit check.
fn register(h: &mut HeldStack) {
    h.tid = NEXT_TID.fetch_add(1, Ordering::Relaxed);
    h.slow &= !UNREGISTERED;
    // Touching it registers its destructor; during thread teardown that may be impossible.
    let _ = EXIT.try_with(|_| ());
}

/// `name/id` of the current thread, the way reports name threads.
pub(crate) fn thread_desc(tid: u64) -> String {
    let t = std::thread::current();
    format!("{}/{}", t.name().unwrap_or("<unnamed>"), tid)
}

/// Runs when a registered thread exits: any lock still on its stack is reported.
struct ExitCheck {
    thread: std::thread::Thread,
}

impl Drop for ExitCheck {
    fn drop(&mut self) {
        let name = self.thread.name().unwrap_or("<unnamed>").to_string();
        held::with(|h| {
            if h.depth > 0 {
                check::held_at_exit(h, &format!("{name}/{}", h.tid));
            }
        });
        // Panicking in a thread-local destructor would abort the process: print instead.
        sink::flush(false);
    }
}

thread_local! {
    static EXIT: ExitCheck = ExitCheck { thread: std::thread::current() };
}
