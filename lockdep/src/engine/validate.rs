//! Acquire and release: the hot path every lock operation runs, and the slow paths behind it.
//!
//! The hot path (a chain of held classes validated before) reads the class id cached in the
//! lock, extends the thread's chain key, probes the lock-free chain cache and pushes one entry
//! on the thread-local stack: no lock, no shared write, no allocation, no stack capture.
//! Everything else — first use by a thread, a never-seen chain, a full stack, an out-of-order
//! release, a panic handler — is `#[cold]` and lives below it; the parts that may reach foreign
//! code (allocation, the validator's lock, reports) run in `held::guarded` regions.
//!
//! A lock re-taken by the thread that holds it is not looked for on acquisition: the lock types
//! take their plain lock through [`lock_raw`], which tries it first and searches the held stack
//! only when it is taken, right before blocking (see [`contended`]).

use super::chain;
use super::check;
use super::held::{self, entry_key, Held, HeldStack, INITIAL_CHAIN_KEY};
use super::held::{IN_PANIC, READ, READ_RECURSIVE, STALE_KEYS, UNREGISTERED, WRITE};
use super::map::{DepMap, UNTRACKED};
use super::offstack;
use super::sink;
use crate::MAX_LOCK_DEPTH;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

/// One acquisition, as the lock types describe it.
#[derive(Clone, Copy)]
pub(crate) struct Acquire {
    /// Identity of the instance (usually the map's address).
    pub instance: usize,
    pub subclass: u32,
    /// 0 write, 1 read, 2 recursive read.
    pub read: u8,
    /// A trylock that succeeded: it adds no dependency into the lock.
    pub trylock: bool,
    /// A timed acquisition: blocking, with a bounded wait (see `Held::timed`).
    pub timed: bool,
    /// The instance of the lock that serialises this class's nesting (0: none).
    pub nest: usize,
    pub loc: &'static Location<'static>,
    /// Acquired and released at once (`sync()`): no critical section, so it marks no
    /// irq-enabled usage.
    pub sync: bool,
}

impl Acquire {
    /// The held-stack entry for this acquisition of `class` in context `ctx` (chain key
    /// still to be computed).
    #[inline(always)]
    fn entry(&self, class: u32, ctx: u8) -> Held {
        Held {
            instance: self.instance,
            chain_key: 0,
            loc: Some(self.loc),
            nest: self.nest,
            class,
            refs: 0,
            read: self.read,
            trylock: self.trylock,
            timed: self.timed,
            subclass: self.subclass as u8,
            ctx,
            sync: self.sync,
        }
    }

    /// A plain acquisition of `map` itself.
    #[inline(always)]
    pub(crate) fn of(
        map: &DepMap,
        subclass: u32,
        read: u8,
        trylock: bool,
        loc: &'static Location<'static>,
    ) -> Self {
        Acquire {
            instance: map.instance(),
            subclass,
            read,
            trylock,
            timed: false,
            nest: 0,
            loc,
            sync: false,
        }
    }
}

/// Records that this thread is about to acquire `map` (validated *before* blocking, so an
/// inversion is reported even when this very acquisition would deadlock). Trylocks are
/// registered only once they succeeded.
#[inline(always)]
pub(crate) fn acquire(map: &DepMap, subclass: u32, read: u8, trylock: bool, loc: &'static Location<'static>) {
    acquire_with(map, Acquire::of(map, subclass, read, trylock, loc));
}

/// [`acquire`] with every detail given.
#[inline(always)]
pub(crate) fn acquire_with(map: &DepMap, a: Acquire) {
    let class = map.class(a.subclass);
    // Subclassed and nest-lock acquisitions also depend on which instances are held, which the
    // chain key cannot tell: they check that first (subclasses on the slow path, which still
    // takes no global lock when the chain is cached).
    let done = if a.subclass != 0 {
        false
    } else if a.nest != 0 {
        fast_acquire_nested(class, &a)
    } else {
        fast_acquire(class, &a, false)
    };
    #[cfg(feature = "lock-stat")]
    let (instance, stamp) = (a.instance, !a.sync && !held::busy());
    if !done {
        acquire_slow(class, a, map.kind.blocks());
    }
    #[cfg(feature = "lock-stat")]
    if stamp {
        super::lock_stat::hold_starts(class, instance);
    }
}

/// The hot path of a nest-lock acquisition (a ww mutex in its context): the nest lock must be
/// held, and the lock must not merge into the top entry.
#[inline(never)]
fn fast_acquire_nested(class: u32, a: &Acquire) -> bool {
    // SAFETY: this thread's stack, only read here, at the start of a lock operation (see
    // `held::busy`).
    let h = unsafe { &*held::stack() };
    let held = h.held();
    if held.last().is_some_and(|top| top.class == class) {
        return false;
    }
    let (held, serialises) = nest_state(held, class, a.read, a.nest, false);
    held && fast_acquire(class, a, serialises)
}

/// The hot path: push the acquisition if its chain was validated before. `serialised`: its
/// nest lock serialises it against a held lock of its class (see [`nest_state`]).
#[inline(always)]
fn fast_acquire(class: u32, a: &Acquire, serialised: bool) -> bool {
    let h = held::stack();
    // SAFETY: this thread's stack; the borrow ends before anything else can reach it.
    let h = unsafe { &mut *h };
    let d = h.depth;
    // `slow` also carries `BUSY`: inside the validator nothing is pushed here.
    if h.slow != 0 || d >= MAX_LOCK_DEPTH {
        return false;
    }
    let next = a.entry(class, h.ctx);
    let key = entry_key(h.prev_key(d), &next, serialised);
    if !(class == UNTRACKED || chain::contains(key)) {
        return false;
    }
    h.entries[d] = Held {
        chain_key: key,
        ..next
    };
    h.depth = d + 1;
    true
}

#[cold]
#[inline(never)]
fn acquire_slow(class: u32, a: Acquire, blocks: bool) {
    if held::busy() {
        return; // taken from inside the validator: untracked
    }
    // The common slow cases (stale keys after an out-of-order release, a subclass, a nest lock
    // that is held) end with a cached chain: finish those on the live stack, which reaches no
    // foreign code.
    let pushed = held::with(|h| {
        if h.slow & (UNREGISTERED | IN_PANIC) != 0 {
            return false;
        }
        refresh_keys(h);
        let d = h.depth;
        let (nest_held, serialised) = nest_state(h.held(), class, a.read, a.nest, false);
        if d >= MAX_LOCK_DEPTH || a.nest != 0 && (d > 0 && h.entries[d - 1].class == class || !nest_held) {
            return false;
        }
        let mut next = a.entry(class, h.ctx);
        next.chain_key = entry_key(h.prev_key(d), &next, serialised);
        if class != UNTRACKED && !chain::contains(next.chain_key) {
            return false;
        }
        h.entries[d] = next;
        h.depth = d + 1;
        true
    });
    if pushed {
        return;
    }
    let entry = held::guarded(|h| validate_acquisition(class, &a, blocks, h)).flatten();
    // Dispatch before the lock counts as held: with `Action::Panic` the panic unwinds out of
    // `lock()` and the lock was never taken.
    sink::flush(true);
    if let Some(next) = entry {
        held::with(|h| {
            // Nothing ran on this thread's stack since the validation (lock operations from
            // inside the validator are untracked), so the room checked there is still there.
            if h.depth < MAX_LOCK_DEPTH {
                h.entries[h.depth] = next;
                h.depth += 1;
            }
        });
    }
}

/// Everything an acquisition checks beyond its chain, and the chain's validation if it is new.
/// Returns the entry to push once the reports are dispatched (`None` if the acquisition is
/// recorded otherwise: merged into the top entry, or beyond the stack's depth). `blocks`: the
/// lock is a real one, which its holder waits for when it takes it again.
fn validate_acquisition(class: u32, a: &Acquire, blocks: bool, h: &mut HeldStack) -> Option<Held> {
    if h.slow & UNREGISTERED != 0 {
        register(h);
    }
    refresh_keys(h);
    let d = h.depth;
    let mut next = a.entry(class, h.ctx);
    if h.slow & IN_PANIC != 0 {
        check::panic_op(h, &next);
    }
    // Checked on every acquisition, cached chain or not, merged or not: it depends on the
    // instances held.
    let (nest_held, serialised) = nest_state(h.held(), class, a.read, a.nest, true);
    if a.nest != 0 && !nest_held {
        check::nest_lock_not_held(h, &next);
    }
    // Many locks of one class under their nest lock share one entry. A lock this thread already
    // holds is not one more lock under the nest lock but a re-take, which waits for itself
    // while holding everything below: it is validated as an acquisition of its own (recursion,
    // dependencies), and `contended` then reports the re-take and takes the entry off again.
    if a.nest != 0
        && d > 0
        && h.entries[d - 1].class == class
        && class != UNTRACKED
        && !(blocks && retakes(h, a))
    {
        let top = &mut h.entries[d - 1];
        top.refs = top.refs.saturating_add(1);
        offstack::push_merged(a.instance, class);
        return None;
    }
    if d >= MAX_LOCK_DEPTH {
        offstack::push_overflowed(a.instance);
        check::max_depth(h, &next);
        return None;
    }
    next.chain_key = entry_key(h.prev_key(d), &next, serialised);
    if class != UNTRACKED && !chain::contains(next.chain_key) {
        check::validate_chain(h, d, &next);
    }
    Some(next)
}

/// Whether acquisition `a` takes a lock this thread already holds (own entry or merged) in a
/// conflicting mode (a writer on either side), so that it would wait for itself. Only asked on
/// the merge path: elsewhere a re-take is found where it would block (see [`lock_raw`]).
fn retakes(h: &HeldStack, a: &Acquire) -> bool {
    let conflicts = |e: &Held| e.read == WRITE || a.read == WRITE;
    h.held().iter().any(|e| e.instance == a.instance && conflicts(e))
        || offstack::merged_class(a.instance).is_some_and(|c| {
            h.held()
                .iter()
                .any(|e| e.class == c && stands_for_merged(e) && conflicts(e))
        })
}

/// Takes the plain lock behind `map` for an acquisition just recorded with [`acquire`]: tries
/// it first, and only when that fails — the thread is about to block — checks whether this
/// very thread holds the lock, which would wait forever. Such a re-take is reported, taken off
/// the stack again, and turned into a panic instead of a hang. A lock that is free costs the
/// same as a plain `lock()` (whose own fast path is this try), and the held stack is never
/// scanned for it.
#[inline(always)]
#[track_caller]
pub(crate) fn lock_raw<G>(
    map: &DepMap,
    read: u8,
    try_lock: impl FnOnce() -> Option<G>,
    lock: impl FnOnce() -> G,
) -> G {
    match try_lock() {
        Some(g) => g,
        None => {
            contended(map, map.instance(), read, Location::caller());
            #[cfg(feature = "lock-stat")]
            let waiting = std::time::Instant::now();
            let guard = lock();
            #[cfg(feature = "lock-stat")]
            super::lock_stat::record(map.class(0), map.instance(), waiting.elapsed());
            guard
        }
    }
}

/// The lock `instance` of `map` is taken (the try failed) and this thread is about to wait for
/// it: if this thread is the holder, report and panic (see [`lock_raw`]).
#[cold]
#[inline(never)]
pub(crate) fn contended(map: &DepMap, instance: usize, read: u8, loc: &'static Location<'static>) {
    if !map.kind.blocks() || held::busy() {
        return;
    }
    // The acquisition just recorded is one hold of `instance`; any other is this thread's own.
    let (own, off_stack) = held::with(|h| {
        let own = h.held().iter().filter(|e| e.instance == instance).count();
        (
            own,
            h.depth == MAX_LOCK_DEPTH || h.held().iter().any(stands_for_merged),
        )
    });
    if own < 2 && !off_stack {
        return;
    }
    let msg = held::guarded(|h| {
        if own + offstack::count(instance) < 2 {
            return None;
        }
        // The acquisition just recorded, found the way `forget_hold` undoes it: taken beyond
        // the stack's depth (no entry: its class is not known here), merged into the top entry
        // (that entry's class), or its own entry (the newest one of the instance).
        let merged_entry = |h: &HeldStack| {
            offstack::merged_class(instance).and_then(|c| {
                h.held()
                    .iter()
                    .rposition(|e| e.class == c && stands_for_merged(e))
            })
        };
        let overflowed = offstack::is_overflowed(instance);
        let merged_into_top = !overflowed
            && h.held()
                .last()
                .is_some_and(|t| t.refs > 0 && offstack::merged_class(instance) == Some(t.class));
        let newest_own = (!overflowed && !merged_into_top)
            .then(|| h.held().iter().rposition(|e| e.instance == instance))
            .flatten();
        // The earlier hold: its own entry (other than the acquisition's), or the entry it is
        // merged into.
        let prev = h
            .held()
            .iter()
            .enumerate()
            .find(|&(i, e)| e.instance == instance && Some(i) != newest_own)
            .map(|(_, e)| *e)
            .or_else(|| merged_entry(h).map(|i| h.entries[i]))?;
        if read == READ_RECURSIVE && prev.read != WRITE {
            return None; // read-after-read never waits (the try cannot have failed)
        }
        let class = if merged_into_top {
            h.held().last().map_or(prev.class, |t| t.class)
        } else {
            newest_own.map_or(prev.class, |i| h.entries[i].class)
        };
        let next = Held {
            instance,
            loc: Some(loc),
            class,
            read,
            ctx: h.ctx,
            ..Held::EMPTY
        };
        // The lock will not be taken: the acquisition's record goes again.
        forget_hold(h, instance, true);
        Some(check::self_deadlock(h, h.depth, &next, &prev))
    })
    .flatten();
    let Some(msg) = msg else { return };
    sink::flush(true);
    sink::own_panic();
    panic!("{msg}");
}

/// Removes one record of `instance` from `h`: its entry, a merge into another entry, or an
/// acquisition beyond the stack's depth — the newest kind first if `newest` (undoing the
/// acquisition just made), else the entry first. Returns false if there is none.
fn forget_hold(h: &mut HeldStack, instance: usize, newest: bool) -> bool {
    if newest && offstack::take_overflowed(instance) {
        return true;
    }
    let own = h.held().iter().rposition(|e| e.instance == instance);
    let merged_into_top = newest
        && h.held()
            .last()
            .is_some_and(|t| t.refs > 0 && offstack::merged_class(instance) == Some(t.class));
    if let (Some(i), false) = (own, merged_into_top) {
        let e = &mut h.entries[i];
        if e.refs > 0 {
            // The entry stands for its merged locks now: give it one of their identities.
            e.refs -= 1;
            e.instance = offstack::take_merged_of(e.class).unwrap_or(MERGED);
        } else if remove(h, i) {
            revalidate_from(h, i);
        }
        return true;
    }
    if let Some(c) = offstack::take_merged(instance) {
        let entry = h
            .held()
            .iter()
            .rposition(|e| e.class == c && stands_for_merged(e));
        if let Some(i) = entry {
            if h.entries[i].refs > 0 {
                h.entries[i].refs -= 1;
            } else if remove(h, i) {
                revalidate_from(h, i);
            }
        }
        return true;
    }
    offstack::take_overflowed(instance)
}

/// Records that this thread released `map`. Returns false (after reporting a bad unlock
/// balance) if this thread did not hold it.
#[inline(always)]
pub(crate) fn release(map: &DepMap, loc: &'static Location<'static>) -> bool {
    release_instance(map, map.instance(), loc)
}

/// [`release`] of a lock with readers, in the mode the caller says it holds it in (`read`: 0
/// write, else read), for a release without a guard (`force_unlock_read`/`_write`), which
/// nothing else ties to the mode of the acquisition. A lock this thread holds only in the other
/// mode is reported and left held: returns false, and the caller must not touch the plain lock
/// (releasing a writer as a reader would corrupt it).
pub(crate) fn release_as(map: &DepMap, read: u8, loc: &'static Location<'static>) -> bool {
    let instance = map.instance();
    let other_mode_only = held::with(|h| {
        let mut own = h.held().iter().filter(|e| e.instance == instance).peekable();
        own.peek().is_some() && !own.any(|e| (e.read == WRITE) == (read == WRITE))
    });
    if !other_mode_only {
        return release(map, loc);
    }
    let class = map.class(0);
    held::guarded(|h| {
        if let Some(e) = h.held().iter().rev().find(|e| e.instance == instance) {
            check::bad_unlock_mode(h, e.class, instance, read, loc);
        } else {
            check::bad_unlock(h, class, instance, loc);
        }
    });
    sink::flush(true);
    false
}

/// [`release`] of the instance `instance` of `map`'s class.
#[inline(always)]
pub(crate) fn release_instance(map: &DepMap, instance: usize, loc: &'static Location<'static>) -> bool {
    #[cfg(feature = "lock-stat")]
    if !held::busy() {
        super::lock_stat::hold_ends(instance);
    }
    let done = held::with(|h| {
        let d = h.depth;
        if d > 0 && h.entries[d - 1].instance == instance && h.entries[d - 1].refs == 0 {
            h.depth = d - 1;
            true
        } else {
            false
        }
    });
    done || release_slow(map, instance, loc)
}

#[cold]
#[inline(never)]
fn release_slow(map: &DepMap, instance: usize, loc: &'static Location<'static>) -> bool {
    if held::busy() {
        return true; // released from inside the validator: it was never tracked
    }
    // The common case, a lock released out of order, on the live stack.
    let quick = held::with(|h| {
        let i = h.held().iter().rposition(|e| e.instance == instance)?;
        if h.entries[i].refs > 0 {
            return None;
        }
        Some(remove(h, i).then_some(i))
    });
    let held = match quick {
        Some(None) => return true,
        Some(Some(i)) => {
            held::guarded(|h| revalidate_from(h, i));
            true
        }
        None => {
            // Resolved out here: inside the guarded region a class cannot be registered.
            let class = map.class(0);
            held::guarded(|h| {
                if forget_hold(h, instance, false) {
                    return true;
                }
                check::bad_unlock(h, class, instance, loc);
                false
            })
            .unwrap_or(true)
        }
    };
    sink::flush(true);
    held
}

/// The instance of a merged entry whose own lock was released and whose merged locks could not
/// be named (no lock has this address).
const MERGED: usize = 1;

/// Whether entry `e` stands for locks merged into it (listed in [`offstack`]).
pub(crate) fn stands_for_merged(e: &Held) -> bool {
    e.refs > 0 || e.instance == MERGED
}

/// How the nest lock `nest` of an acquisition of `class` in mode `read` stands among the locks
/// held `below` it: (whether it is held, whether it serialises the acquisition). It serialises
/// it when it sits below the first held lock of `class` the acquisition would be a recursion
/// over (what `check::validate_chain` skips then), so the chain key carries that, not merely
/// that a nest lock was named: the same classes with the nest lock above that lock, or not
/// held at all, are validated in full and must not be taken from the cache.
///
/// With `merged`, a nest lock merged into the entry of its class is held there (the kernel's
/// `match_held_lock` matches an entry with `references` by class); the merge lists are read
/// only when some entry stands for merged locks. The hot paths pass false: a nest lock not
/// found by its instance sends them to the slow path, which asks again with it.
pub(crate) fn nest_state(below: &[Held], class: u32, read: u8, nest: usize, merged: bool) -> (bool, bool) {
    if nest == 0 {
        return (false, false);
    }
    let merged_into = if merged && below.iter().any(stands_for_merged) {
        offstack::merged_class(nest)
    } else {
        None
    };
    let (mut held, mut serialises, mut decided) = (false, false, false);
    for e in below {
        if e.instance == nest || merged_into == Some(e.class) && stands_for_merged(e) {
            held = true;
        }
        if !decided && e.class == class && !(read == READ_RECURSIVE && e.read != WRITE) {
            serialises = held;
            decided = true;
        }
    }
    (held, serialises)
}

/// Removes entry `i`; the entries above it now sit on a different chain. Returns whether they
/// need re-validating now ([`revalidate_from`]`(h, i)`, which may reach foreign code, so the
/// caller runs it in a guarded region); their chain keys are marked stale either way.
///
/// The kernel re-validates them at once, because releasing out of order can create
/// dependencies: in `L(A) L(B) L(C) U(B)`, C is now held directly over A. When B and everything
/// above it are exclusive, blocking acquisitions, every such dependency is already implied by a
/// strong path through B (A → B → C), so re-validating cannot find anything new: only the chain
/// keys change, and they are recomputed lazily, when the thread next acquires a lock. That keeps
/// the common out-of-order pattern — a `Vec` of guards dropped front to back — off the slow
/// path. Otherwise (readers or trylocks involved) the entries are re-validated now.
///
/// The shortcut is sound because the graph holds every dependency of every cached chain: each
/// report path still records its dependency, and a chain whose dependency could not be recorded
/// (the table is full) is not cached (see `check::validate_chain`). A lock whose class is
/// untracked adds no dependency, but then the locks around it are connected directly. Nor is a
/// cycle left unsearched: `A → C`, implied through `B`, was searched when C was taken over both
/// (`check::validate_chain` searches implied dependencies, unless `B → C` was there before and
/// `A → B → C` with it, so that no new cycle could close), and a cycle through it that forms
/// later goes through `A → B → C` in the graph, so the dependency closing it finds it.
fn remove(h: &mut HeldStack, i: usize) -> bool {
    let d = h.depth;
    let ctx = h.entries[i].ctx & super::held::CTX_IRQ_MASK;
    let implied = h.entries[i..d]
        .iter()
        .all(|e| e.read == WRITE && !e.trylock && e.nest == 0 && e.ctx & super::held::CTX_IRQ_MASK == ctx);
    h.entries.copy_within(i + 1..d, i);
    h.depth = d - 1;
    if i == h.depth {
        return false; // it was the top: nothing sits on a different chain
    }
    if h.slow & STALE_KEYS == 0 || i < h.stale {
        h.stale = i;
    }
    h.slow |= STALE_KEYS;
    !implied
}
/// The chain key entry `j` has over the entries below it.
fn key_at(h: &HeldStack, j: usize) -> u64 {
    let e = &h.entries[j];
    let prev = if j == 0 || (h.entries[j - 1].ctx ^ e.ctx) & super::held::CTX_IRQ_MASK != 0 {
        INITIAL_CHAIN_KEY
    } else {
        h.entries[j - 1].chain_key
    };
    entry_key(
        prev,
        e,
        nest_state(&h.entries[..j], e.class, e.read, e.nest, true).1,
    )
}

/// Brings stale chain keys up to date (no validation needed, see [`remove`]).
fn refresh_keys(h: &mut HeldStack) {
    if h.slow & STALE_KEYS == 0 {
        return;
    }
    h.slow &= !STALE_KEYS;
    for j in h.stale..h.depth {
        h.entries[j].chain_key = key_at(h, j);
    }
}

/// Recomputes the chain keys of entries `i..` and validates the chains that are new.
fn revalidate_from(h: &mut HeldStack, i: usize) {
    refresh_keys(h);
    for j in i..h.depth {
        let key = key_at(h, j);
        h.entries[j].chain_key = key;
        let e = h.entries[j];
        if e.nest != 0 && !nest_state(&h.entries[..j], e.class, e.read, e.nest, true).0 {
            // Its nest lock was released from under it.
            check::nest_lock_not_held(h, &e);
        }
        if e.class != UNTRACKED && !chain::contains(key) {
            check::validate_chain(h, j, &e);
        }
    }
}

/// Takes `map` off the stack for a condition-variable wait; returns what
/// [`reacquire_after_wait`] needs to put it back the way it was taken.
pub(crate) fn release_for_wait(map: &DepMap) -> WaitToken {
    might_sleep("Condvar::wait", Location::caller());
    release_to_retake(map)
}

/// Takes `map` off the stack for a stretch with the lock released (a guard's `unlocked`,
/// `bump`), keeping how it was held so [`reacquire_after_wait`] takes it again the same way.
/// Unlike [`release_for_wait`] it checks no sleep: the re-acquisition is validated as any
/// acquisition of the lock, wait context included.
pub(crate) fn release_to_retake(map: &DepMap) -> WaitToken {
    let instance = map.instance();
    let token = |e: &Held| WaitToken {
        subclass: e.subclass as u32,
        nest: e.nest,
        read: e.read,
    };
    let own = held::with(|h| h.held().iter().rev().find(|e| e.instance == instance).map(token));
    let token = own
        .or_else(|| {
            held::guarded(|h| {
                let c = offstack::merged_class(instance)?;
                h.held().iter().rev().find(|e| e.class == c).map(token)
            })
            .flatten()
        })
        .unwrap_or(WaitToken {
            subclass: 0,
            nest: 0,
            read: WRITE,
        });
    release(map, Location::caller());
    token
}

/// How a lock was held before a condition-variable wait.
#[derive(Clone, Copy)]
pub(crate) struct WaitToken {
    subclass: u32,
    nest: usize,
    /// The mode it was held in (a reader's guard re-takes it for reading).
    read: u8,
}

/// Puts `map` back on the stack after a condition-variable wait (or a guard's `unlocked`): a
/// fresh acquisition, in the mode it was held in, on top of whatever the thread holds now,
/// validated like any other.
pub(crate) fn reacquire_after_wait(map: &DepMap, token: WaitToken, loc: &'static Location<'static>) {
    let mut a = Acquire::of(map, token.subclass, token.read, false, loc);
    a.nest = token.nest;
    acquire_with(map, a);
}

/// This thread's holds of one instance, taken off its stack by [`release_own_holds`], with
/// the positions they had (oldest first).
pub(crate) struct ReleasedHolds(Vec<(usize, Held)>);

/// Takes every hold of `map`'s instance off this thread's stack, wherever it sits (the
/// kernel's `lock_is_held_type` + `lock_release` of a map held under other locks). The locks
/// above each now sit on another chain and are re-validated, as after any release out of
/// order. [`restore_own_holds`] puts them back.
pub(crate) fn release_own_holds(map: &DepMap) -> ReleasedHolds {
    let instance = map.instance();
    let held = held::with(|h| h.held().iter().any(|e| e.instance == instance && e.refs == 0));
    if !held {
        return ReleasedHolds(Vec::new());
    }
    let saved = held::guarded(|h| {
        refresh_keys(h);
        let mut saved = Vec::new();
        let mut revalidate = None;
        // From the top down, so the positions of those below do not move meanwhile.
        for i in (0..h.depth).rev() {
            if h.entries[i].instance == instance && h.entries[i].refs == 0 {
                saved.push((i, h.entries[i]));
                if remove(h, i) {
                    revalidate = Some(i);
                }
            }
        }
        if let Some(i) = revalidate {
            revalidate_from(h, i);
        }
        saved.reverse();
        saved
    })
    .unwrap_or_default();
    sink::flush(true);
    ReleasedHolds(saved)
}

/// Puts holds taken off by [`release_own_holds`] back where they were, in the same flavours
/// (read state, trylock, subclass, context), and re-validates the locks above them, whose
/// chains are then the ones they had before (cached, so normally nothing new is checked).
/// Locks the thread took meanwhile and still holds stay above them.
pub(crate) fn restore_own_holds(released: ReleasedHolds) {
    if released.0.is_empty() {
        return;
    }
    held::guarded(|h| {
        refresh_keys(h);
        let mut lowest = None;
        for &(i, e) in &released.0 {
            let d = h.depth;
            if d >= MAX_LOCK_DEPTH {
                break; // nothing can be pushed; the guard's release then reports the imbalance
            }
            let i = i.min(d);
            h.entries.copy_within(i..d, i + 1);
            h.entries[i] = e;
            h.depth = d + 1;
            lowest.get_or_insert(i);
        }
        if let Some(i) = lowest {
            revalidate_from(h, i);
        }
    });
    sink::flush(true);
}

/// A held write lock becomes a (non-recursive) read lock; the locks above it are re-validated.
pub(crate) fn downgrade(map: &DepMap) {
    let instance = map.instance();
    held::guarded(|h| {
        refresh_keys(h);
        if let Some(i) = h.held().iter().rposition(|e| e.instance == instance) {
            h.entries[i].read = READ;
            revalidate_from(h, i);
        }
    });
    sink::flush(true);
}

/// How this thread holds the instance `instance`: `None` if it does not, else the strongest
/// mode (0 write, 1/2 read). A lock merged into another entry is held in that entry's mode.
pub(crate) fn held_mode(instance: usize) -> Option<u8> {
    let (own, merges) = held::with(|h| {
        let own = h
            .held()
            .iter()
            .filter(|e| e.instance == instance)
            .map(|e| e.read)
            .min();
        (own, h.held().iter().any(stands_for_merged))
    });
    if own.is_some() || !merges {
        return own;
    }
    held::guarded(|h| {
        let c = offstack::merged_class(instance)?;
        h.held()
            .iter()
            .filter(|e| e.class == c && stands_for_merged(e))
            .map(|e| e.read)
            .min()
    })
    .flatten()
}

/// Whether this thread holds `map`.
pub(crate) fn is_held(map: &DepMap) -> bool {
    held_mode(map.instance()).is_some()
}

/// Refuses to block on a ww mutex that this thread already holds under its acquire context
/// `ctx` (the ww mutex knows its owner's context; the held stack may not know the instance,
/// because locks taken under one context merge into a single entry of their class). The
/// acquisition has been validated already — as recursive locking, the instance not being
/// matched — so it is dropped again and the thread panics instead of hanging, as for any
/// other re-taken lock. Returns if `ctx` is not this thread's.
pub(crate) fn refuse_owned_by_ctx(map: &DepMap, ctx: usize, loc: &'static Location<'static>) {
    if !held::with(|h| h.held().iter().any(|e| e.instance == ctx)) {
        return;
    }
    release_instance(map, map.instance(), loc);
    let name = super::state::lock().class_name(map.class(0)).to_string();
    let msg = held::with(|h| {
        format!(
            "lockdep: thread {} re-acquired lock {name} that it already holds under its acquire context (at {loc}); this would deadlock now",
            thread_desc(h.tid)
        )
    });
    sink::flush(true);
    sink::own_panic();
    panic!("{msg}");
}

/// Whether this thread holds any lock of `class`.
pub(crate) fn holds_class(class: u32) -> bool {
    held::with(|h| h.held().iter().any(|e| e.class == class))
}

/// How many locks this thread holds (entries on its stack).
pub(crate) fn depth() -> usize {
    held::with(|h| h.depth)
}

/// Called when a lock is destroyed: reports (and forgets) it if this thread still holds it.
pub(crate) fn check_freed(map: &DepMap) {
    let instance = map.instance();
    if !held::with(|h| h.held().iter().any(|e| e.instance == instance)) {
        return;
    }
    held::guarded(|h| {
        if let Some(i) = h.held().iter().rposition(|e| e.instance == instance) {
            check::held_lock_freed(h, map, i);
            if remove(h, i) {
                revalidate_from(h, i);
            }
        }
    });
    sink::flush(true);
}

/// Called when a lock is destroyed or consumed by value (`into_inner`), with whether its plain
/// lock is still `locked`: [`check_freed`], for a lock that may have moved. A lock is known by
/// its address, and one held through a forgotten guard is not borrowed any more, so it may be
/// moved — into `into_inner` itself, whose `self` lives elsewhere than the lock did when it was
/// taken. When the plain lock is still locked (a guard was forgotten: no live guard can exist
/// here) and this thread holds nothing at the lock's address, the hold is looked for by class:
/// if this thread holds exactly one lock of the lock's classes, that is taken for it, reported
/// as a held lock freed and forgotten. (With several, which one moved cannot be told, and none
/// is touched; a lock forgotten by another thread is that thread's, and the one entry found
/// here may then be another lock of the class: a report about the class all the same.)
pub(crate) fn check_consumed(map: &DepMap, locked: bool) {
    let instance = map.instance();
    let at_address = held::with(|h| h.held().iter().any(|e| e.instance == instance));
    if at_address || !locked {
        return check_freed(map);
    }
    // The lock's class for each subclass held, resolved out here: inside the guarded region
    // a class cannot be registered.
    let mut subclasses: Vec<u8> = held::with(|h| h.held().iter().map(|e| e.subclass).collect());
    subclasses.sort_unstable();
    subclasses.dedup();
    let classes: Vec<(u8, u32)> = subclasses.iter().map(|&s| (s, map.class(s as u32))).collect();
    let ours = |e: &Held| {
        e.refs == 0 && e.class != UNTRACKED && classes.iter().any(|&(s, c)| s == e.subclass && c == e.class)
    };
    held::guarded(|h| {
        let mut candidates = h.held().iter().enumerate().filter(|(_, e)| ours(e));
        if let (Some((i, _)), None) = (candidates.next(), candidates.next()) {
            check::held_lock_freed(h, map, i);
            if remove(h, i) {
                revalidate_from(h, i);
            }
        }
    });
    sink::flush(true);
}

/// Reports a subclass out of range (the lock is then validated as the last subclass).
#[cold]
pub(crate) fn invalid_subclass(subclass: u32) {
    held::guarded(|h| check::invalid_subclass(h, subclass));
    sink::flush(true);
}

/// An operation that may sleep (`might_sleep()`): reported in atomic context.
///
/// Decided from this thread's own stack and context, so the common case — an allocation that
/// may reclaim with only sleeping locks held — takes no global lock: the validator's lock is
/// taken only to report.
pub(crate) fn might_sleep(what: &str, loc: &'static Location<'static>) {
    // A panic handler may not sleep either (the kernel's `panic()` runs with interrupts off),
    // though it is not "atomic" for the lock checks, which report it on their own.
    if in_atomic() || context_bits() & super::held::CTX_PANIC != 0 {
        held::guarded(|h| check::might_sleep(h, what, loc));
        sink::flush(true);
    }
}

/// The context bits that make a thread atomic by themselves: an interrupt handler, interrupts
/// off, bottom halves off (the kernel counts a `local_bh_disable()` in the preempt count, so
/// `might_sleep()` complains there too).
const ATOMIC_CTX: u8 =
    super::held::CTX_HARDIRQ | super::held::CTX_SOFTIRQ | super::held::CTX_IRQS_OFF | super::held::CTX_BH_OFF;

/// Whether this thread may not sleep: an atomic context, or a spinning lock held. False from
/// inside the validator (its lock operations are untracked, and so is this).
pub(crate) fn in_atomic() -> bool {
    !held::busy()
        && held::with(|h| {
            h.ctx & ATOMIC_CTX != 0 || h.held().iter().any(|e| super::class_bits::spins(e.class))
        })
}

/// This thread's context bits (`held::CTX_*`); 0 from inside the validator.
pub(crate) fn context_bits() -> u8 {
    if held::busy() {
        0
    } else {
        held::with(|h| h.ctx)
    }
}

/// Changes the thread's execution context with `f`, then applies what the kernel does when
/// interrupts come back on with locks held: they become irq-unsafe.
pub(crate) fn change_context(f: impl FnOnce(&mut HeldStack)) {
    ensure_registered();
    let marks = held::with(|h| {
        let before = h.ctx;
        f(h);
        h.update_ctx();
        use super::held::{CTX_BH_OFF, CTX_IRQS_OFF};
        let irqs_on = h.ctx & CTX_IRQS_OFF == 0;
        let bh_on = h.ctx & CTX_BH_OFF == 0;
        let hard_on = before & CTX_IRQS_OFF != 0 && irqs_on;
        let soft_on = before & CTX_BH_OFF != 0 && bh_on;
        // local_irq_enable(): held locks become hardirq-unsafe, and softirq-unsafe if bottom
        // halves are on; local_bh_enable() (interrupts on) makes them both.
        let hard = hard_on || (soft_on && irqs_on);
        let soft = (hard_on && bh_on) || (soft_on && irqs_on);
        // Classes already marked need nothing: only a mark to record takes the validator's
        // lock (interrupts restored under an outer lock is the common case).
        let unmarked = |bit: u8| {
            h.held().iter().any(|e| {
                e.class != UNTRACKED && !super::class_bits::has_usage(e.class, bit + (e.read != 0) as u8)
            })
        };
        let hard = hard && unmarked(super::usage::ENABLED_HARDIRQ);
        let soft = soft && unmarked(super::usage::ENABLED_SOFTIRQ);
        (h.depth > 0 && (hard || soft)).then_some((hard, soft))
    });
    if let Some((hard, soft)) = marks {
        held::guarded(|h| check::mark_held_enabled(h, hard, soft));
        sink::flush(true);
    }
}

static NEXT_TID: AtomicU64 = AtomicU64::new(1);

/// Registers this thread (see [`register`]) if it was not yet.
fn ensure_registered() {
    if held::with(|h| h.slow & UNREGISTERED != 0) {
        held::guarded(register);
    }
}

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
        held::guarded(|h| {
            if h.depth > 0 {
                let name = self.thread.name().unwrap_or("<unnamed>").to_string();
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

/// Reports a misuse that is not a lock acquisition (ww protocol, assertions, rules).
pub(crate) fn misuse(protocol: check::Protocol<'_>, loc: &'static Location<'static>) {
    held::guarded(|h| check::misuse(h, protocol, loc));
    sink::flush(true);
}

/// Installs the panic hook (see [`crate::install_panic_hook`]).
pub(crate) fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Always consumed, so that it never applies to a later panic.
        let own = sink::take_own_panic();
        // A panic raised inside the validator (busy) is its own doing: the held stack is not
        // in a state to report from, and nothing is waited for.
        if !own && !held::busy() && held::with(|h| h.depth > 0) {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let first_line = msg.lines().next().unwrap_or("").to_string();
            held::guarded(|h| check::panic_while_holding(h, &first_line));
            // Already panicking: printed and recorded, never turned into a second panic.
            sink::flush(false);
        }
        previous(info);
    }));
}
