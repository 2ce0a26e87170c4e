//! Acquire and release: the hot path every lock operation runs, and the slow paths behind it.
//!
//! The hot path (a chain of held classes validated before) reads the class id cached in the
//! lock, extends the thread's chain key, probes the lock-free chain cache and pushes one entry
//! on the thread-local stack: no lock, no shared write, no allocation, no stack capture.
//! Everything else — first use by a thread, a never-seen chain, a full stack, an out-of-order
//! release, a panic handler — is `#[cold]` and lives below it.

use super::chain;
use super::check;
use super::held::{self, entry_key, Held, HeldStack, INITIAL_CHAIN_KEY};
use super::held::{IN_PANIC, READ, STALE_KEYS, UNREGISTERED, WRITE};
use super::map::{DepMap, UNTRACKED};
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
        fast_acquire(class, &a)
    };
    if !done {
        acquire_slow(map, class, a);
    }
}

/// The hot path of a nest-lock acquisition (a ww mutex in its context): the nest lock must be
/// held, the lock itself not, and it must not merge into the top entry.
#[inline(never)]
fn fast_acquire_nested(class: u32, a: &Acquire) -> bool {
    // SAFETY: this thread's stack, only read here.
    let h = unsafe { &*held::stack() };
    let held = h.held();
    if held.last().is_some_and(|top| top.class == class)
        || !held.iter().any(|e| e.instance == a.nest)
        || held.iter().any(|e| e.instance == a.instance)
    {
        return false;
    }
    fast_acquire(class, a)
}

/// The hot path: push the acquisition if its chain was validated before.
#[inline(always)]
fn fast_acquire(class: u32, a: &Acquire) -> bool {
    let h = held::stack();
    // SAFETY: this thread's stack; the borrow ends before anything else can reach it.
    let h = unsafe { &mut *h };
    let d = h.depth;
    if h.slow != 0 || d >= MAX_LOCK_DEPTH {
        return false;
    }
    let next = a.entry(class, h.ctx);
    let key = entry_key(h.prev_key(d), &next);
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
fn acquire_slow(map: &DepMap, class: u32, a: Acquire) {
    let (entry, fatal) = held::with(|h| {
        if h.slow & UNREGISTERED != 0 {
            register(h);
        }
        refresh_keys(h);
        let d = h.depth;
        // Many locks of one class under their nest lock share one entry.
        if a.nest != 0 && d > 0 && h.entries[d - 1].class == class && class != UNTRACKED {
            let top = &mut h.entries[d - 1];
            top.refs = top.refs.saturating_add(1);
            return (None, None);
        }
        let mut next = a.entry(class, h.ctx);
        if h.slow & IN_PANIC != 0 {
            check::panic_op(h, &next);
        }
        // Checked on every acquisition, cached chain or not: these depend on the instances.
        if a.nest != 0 && !h.held().iter().any(|e| e.instance == a.nest) {
            check::nest_lock_not_held(h, &next);
        }
        if map.kind.blocks() && !a.trylock {
            if let Some(prev) = h
                .held()
                .iter()
                .find(|e| e.instance == a.instance && (e.read == WRITE || a.read == WRITE))
            {
                let prev = *prev;
                return (None, Some(check::self_deadlock(h, d, &next, &prev)));
            }
        }
        if d >= MAX_LOCK_DEPTH {
            h.overflow += 1;
            check::max_depth(h, &next);
            return (None, None);
        }
        next.chain_key = entry_key(h.prev_key(d), &next);
        if class != UNTRACKED && !chain::contains(next.chain_key) {
            check::validate_chain(h, d, &next);
        }
        (Some(next), None)
    });
    // Dispatch before the lock counts as held: with `Action::Panic` the panic unwinds out of
    // `lock()` and the lock was never taken.
    sink::flush(true);
    if let Some(msg) = fatal {
        sink::own_panic();
        panic!("{msg}");
    }
    if let Some(next) = entry {
        // A report hook may have taken (and released) locks meanwhile: the stack is as it was,
        // unless the hook leaked some and filled it.
        held::with(|h| {
            if h.depth < MAX_LOCK_DEPTH {
                h.entries[h.depth] = next;
                h.depth += 1;
            } else {
                h.overflow += 1;
            }
        });
    }
}

/// Records that this thread released `map`. Returns false (after reporting a bad unlock
/// balance) if this thread did not hold it.
#[inline(always)]
pub(crate) fn release(map: &DepMap, loc: &'static Location<'static>) -> bool {
    release_instance(map, map.instance(), loc)
}

/// [`release`] of the instance `instance` of `map`'s class.
#[inline(always)]
pub(crate) fn release_instance(map: &DepMap, instance: usize, loc: &'static Location<'static>) -> bool {
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
    let class = map.class(0);
    let held = held::with(|h| {
        // The lock's own entry if it has one, else an entry it was merged into.
        let found = h
            .held()
            .iter()
            .rposition(|e| e.instance == instance)
            .or_else(|| h.held().iter().rposition(|e| holds(e, instance, class)));
        match found {
            Some(i) if h.entries[i].refs > 0 => {
                let e = &mut h.entries[i];
                e.refs -= 1;
                if e.instance == instance {
                    // The entry stands for the other locks merged into it now, not this one.
                    e.instance = MERGED;
                }
                true
            }
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
        }
    });
    if !held {
        held::with(|h| check::bad_unlock(h, map, instance, class, loc));
    }
    sink::flush(true);
    held
}

/// The instance of a merged entry whose first lock was released (no lock has this address).
const MERGED: usize = 1;

/// Whether entry `e` stands for the instance `instance` of `class`: it is that instance, or
/// locks of the class were merged into it under their nest lock.
fn holds(e: &Held, instance: usize, class: u32) -> bool {
    e.instance == instance || (class != UNTRACKED && e.class == class && (e.refs > 0 || e.instance == MERGED))
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
    let ctx = h.entries[i].ctx & super::held::CTX_IRQ_MASK;
    let implied = h.entries[i..d]
        .iter()
        .all(|e| e.read == WRITE && !e.trylock && e.nest == 0 && e.ctx & super::held::CTX_IRQ_MASK == ctx);
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

/// The chain key entry `j` has over the entries below it.
fn key_at(h: &HeldStack, j: usize) -> u64 {
    let e = &h.entries[j];
    let prev = if j == 0 || (h.entries[j - 1].ctx ^ e.ctx) & super::held::CTX_IRQ_MASK != 0 {
        INITIAL_CHAIN_KEY
    } else {
        h.entries[j - 1].chain_key
    };
    entry_key(prev, e)
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
    for j in i..h.depth {
        let key = key_at(h, j);
        h.entries[j].chain_key = key;
        let e = h.entries[j];
        if e.nest != 0 && !h.entries[..j].iter().any(|n| n.instance == e.nest) {
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
    let instance = map.instance();
    let class = map.class(0);
    let token = held::with(|h| {
        let held = h.held();
        held.iter()
            .rev()
            .find(|e| e.instance == instance)
            .or_else(|| held.iter().rev().find(|e| holds(e, instance, class)))
            .map(|e| WaitToken {
                subclass: e.subclass as u32,
                nest: e.nest,
            })
            .unwrap_or(WaitToken { subclass: 0, nest: 0 })
    });
    might_sleep("Condvar::wait", Location::caller());
    release(map, Location::caller());
    token
}

/// How a lock was held before a condition-variable wait.
#[derive(Clone, Copy)]
pub(crate) struct WaitToken {
    subclass: u32,
    nest: usize,
}

/// Puts `map` back on the stack after a condition-variable wait: a fresh acquisition on top
/// of whatever the thread holds now, validated like any other.
pub(crate) fn reacquire_after_wait(map: &DepMap, token: WaitToken, loc: &'static Location<'static>) {
    let mut a = Acquire::of(map, token.subclass, WRITE, false, loc);
    a.nest = token.nest;
    acquire_with(map, a);
}

/// A held write lock becomes a (non-recursive) read lock; the locks above it are re-validated.
pub(crate) fn downgrade(map: &DepMap) {
    let instance = map.instance();
    held::with(|h| {
        refresh_keys(h);
        if let Some(i) = h.held().iter().rposition(|e| e.instance == instance) {
            h.entries[i].read = READ;
            revalidate_from(h, i);
        }
    });
    sink::flush(true);
}

/// How this thread holds the instance `instance` of `class`: `None` if it does not, else the
/// strongest mode (0 write, 1/2 read). Merged entries (nest locks) count for their class.
pub(crate) fn held_mode(instance: usize, class: u32) -> Option<u8> {
    held::with(|h| {
        h.held()
            .iter()
            .filter(|e| holds(e, instance, class))
            .map(|e| e.read)
            .min()
    })
}

/// Whether this thread holds `map`.
pub(crate) fn is_held(map: &DepMap) -> bool {
    held_mode(map.instance(), map.class(0)).is_some()
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

/// How many locks this thread holds.
pub(crate) fn depth() -> usize {
    held::with(|h| h.depth)
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

/// An operation that may sleep (`might_sleep()`): reported in atomic context.
pub(crate) fn might_sleep(what: &str, loc: &'static Location<'static>) {
    let atomic = held::with(|h| {
        h.ctx & (super::held::CTX_HARDIRQ | super::held::CTX_SOFTIRQ | super::held::CTX_IRQS_OFF) != 0
            || h.depth > 0
    });
    if atomic {
        held::with(|h| check::might_sleep(h, what, loc));
        sink::flush(true);
    }
}

/// Changes the thread's execution context with `f`, then applies what the kernel does when
/// interrupts come back on with locks held: they become irq-unsafe.
pub(crate) fn change_context(f: impl FnOnce(&mut HeldStack)) {
    held::with(|h| {
        if h.slow & UNREGISTERED != 0 {
            register(h);
        }
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
        if hard || soft {
            check::mark_held_enabled(h, hard, soft);
        }
    });
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

/// Reports a misuse that is not a lock acquisition (ww protocol, assertions, rules).
pub(crate) fn misuse(kind: crate::ReportKind, what: &str, loc: &'static Location<'static>) {
    held::with(|h| check::misuse(h, kind, what, loc));
    sink::flush(true);
}

/// Installs the panic hook (see [`crate::install_panic_hook`]).
pub(crate) fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let held = held::with(|h| h.depth > 0);
        if held && !sink::take_own_panic() {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let first_line = msg.lines().next().unwrap_or("").to_string();
            held::with(|h| check::panic_while_holding(h, &first_line));
            // Already panicking: printed and recorded, never turned into a second panic.
            sink::flush(false);
        }
        previous(info);
    }));
}
