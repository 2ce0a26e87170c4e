//! The per-thread stack of held locks, the thread's execution context and the running chain
//! key.
//!
//! The stack is a fixed array in a `const`-initialised thread-local of a type without `Drop`:
//! reaching it costs one TLS offset, with no lazy-initialisation or destructor-state check
//! (measured 0.54 ns against 1.24 ns for a type with `Drop`). The thread-exit check lives in a
//! separate lazily-registered thread-local (see `validate::register`).
//!
//! # Re-entrancy (the kernel's `lockdep_recursion`)
//!
//! The validator allocates, captures and prints stacks and takes its own locks; a global
//! allocator, a panic hook or anything else reached from there may take an instrumented lock on
//! the same thread. Such lock operations must be untracked: tracking them would alias the held
//! stack the validator is working on and could wait for the validator's own lock. So every
//! piece of validator work that may reach foreign code runs in [`guarded`]: the work gets a
//! private copy of the stack, while the live stack is marked [`BUSY`] and shows depth 0.
//! Everything a lock operation does first reads `slow` (acquisitions) or the top entry
//! (releases), so a nested operation finds the busy mark — or an empty stack — and goes to a
//! slow path that returns at once, without creating a reference to the live stack. The cached
//! hot path pays nothing for this: `BUSY` is one more bit of the `slow` byte it already tests.
//! [`with`] stays for the short sections that reach no foreign code (no allocation, no lock,
//! no printing).

use crate::MAX_LOCK_DEPTH;
use std::cell::UnsafeCell;
use std::panic::Location;

/// How a lock is held (the kernel's `read` argument).
pub(crate) const WRITE: u8 = 0;
/// A non-recursive reader: blocked by a waiting writer, so it conflicts with writers queued
/// behind another reader.
pub(crate) const READ: u8 = 1;
/// A recursive reader: never blocked by other readers.
pub(crate) const READ_RECURSIVE: u8 = 2;

/// Context bits (the low two are the kernel's `irq_context`: chains and dependencies never
/// cross a change of them).
pub(crate) const CTX_SOFTIRQ: u8 = 1;
pub(crate) const CTX_HARDIRQ: u8 = 2;
pub(crate) const CTX_IRQ_MASK: u8 = CTX_SOFTIRQ | CTX_HARDIRQ;
/// Hard interrupts disabled.
pub(crate) const CTX_IRQS_OFF: u8 = 4;
/// Soft interrupts (bottom halves) disabled.
pub(crate) const CTX_BH_OFF: u8 = 8;
/// Inside a panic handler.
pub(crate) const CTX_PANIC: u8 = 16;
/// The current hard-irq handler may run threaded (spinlocks allowed in it).
pub(crate) const CTX_THREADED: u8 = 32;

/// One held lock.
#[derive(Clone, Copy)]
pub(crate) struct Held {
    /// Identity of the lock instance.
    pub instance: usize,
    /// The chain key of the stack up to and including this entry.
    pub chain_key: u64,
    /// Where it was acquired.
    pub loc: Option<&'static Location<'static>>,
    /// The instance of the lock that serialises nesting of this class (0: none).
    pub nest: usize,
    pub class: u32,
    /// More locks of the same class merged into this entry under its nest lock (the entry
    /// stands for `refs + 1` locks).
    pub refs: u32,
    /// [`WRITE`], [`READ`] or [`READ_RECURSIVE`].
    pub read: u8,
    pub trylock: bool,
    /// A timed acquisition (`try_lock_for` and kin): validated as a blocking one, but its wait
    /// is bounded, which reports say. Not part of the chain key: the order is the same.
    pub timed: bool,
    /// The subclass it was taken with (kept to re-take it, e.g. after a condvar wait).
    pub subclass: u8,
    /// The thread's context bits when it was acquired.
    pub ctx: u8,
    /// An acquire-and-release at once (`sync()`): checked like an acquisition, but it creates
    /// no critical section, so it does not make the class irq-unsafe.
    pub sync: bool,
}

impl Held {
    pub(crate) const EMPTY: Held = Held {
        instance: 0,
        chain_key: 0,
        loc: None,
        nest: 0,
        class: 0,
        refs: 0,
        read: WRITE,
        trylock: false,
        timed: false,
        subclass: 0,
        ctx: 0,
        sync: false,
    };
}

/// `slow` bit: the thread has not been registered yet (no id, no exit check).
pub(crate) const UNREGISTERED: u8 = 1;
/// `slow` bit: the chain keys of `entries[stale..]` are out of date (see `validate::remove`).
pub(crate) const STALE_KEYS: u8 = 2;
/// `slow` bit: in a panic handler, where every lock operation is checked.
pub(crate) const IN_PANIC: u8 = 4;
/// `slow` bit: the thread is inside the validator (see [`guarded`]); its lock operations are
/// not tracked.
pub(crate) const BUSY: u8 = 8;

#[derive(Clone, Copy)]
pub(crate) struct HeldStack {
    pub depth: usize,
    /// Non-zero sends every acquisition down the slow path.
    pub slow: u8,
    /// The context bits in force (`CTX_*`).
    pub ctx: u8,
    /// This thread's validator id (0 until registered).
    pub tid: u64,
    /// With [`STALE_KEYS`]: the first entry whose chain key needs recomputing.
    pub stale: usize,
    /// Nesting of simulated hard and soft interrupt handlers, interrupt- and
    /// bottom-half-disabled sections, and panic handlers.
    pub hardirq: u32,
    pub softirq: u32,
    pub irqs_off: u32,
    pub bh_off: u32,
    pub panic: u32,
    /// The current hard-irq handler would run threaded on a real-time kernel.
    pub hardirq_threaded: bool,
    /// Saved interrupt states of nested `irqs_disabled()` scopes, one bit each.
    pub irq_save: BitStack,
    pub entries: [Held; MAX_LOCK_DEPTH],
}

impl HeldStack {
    const fn new() -> Self {
        HeldStack {
            depth: 0,
            slow: UNREGISTERED,
            ctx: 0,
            tid: 0,
            stale: 0,
            hardirq: 0,
            softirq: 0,
            irqs_off: 0,
            bh_off: 0,
            panic: 0,
            hardirq_threaded: false,
            irq_save: BitStack(0, 0),
            entries: [Held::EMPTY; MAX_LOCK_DEPTH],
        }
    }

    /// The locks held, oldest first.
    pub(crate) fn held(&self) -> &[Held] {
        &self.entries[..self.depth]
    }

    /// Recomputes the context bits from the counters.
    pub(crate) fn update_ctx(&mut self) {
        let mut c = 0;
        if self.softirq > 0 {
            c |= CTX_SOFTIRQ;
        }
        if self.hardirq > 0 {
            c |= CTX_HARDIRQ;
            if self.hardirq_threaded {
                c |= CTX_THREADED;
            }
        }
        if self.irqs_off > 0 {
            c |= CTX_IRQS_OFF;
        }
        if self.bh_off > 0 {
            c |= CTX_BH_OFF;
        }
        if self.panic > 0 {
            c |= CTX_PANIC;
            self.slow |= IN_PANIC;
        } else {
            self.slow &= !IN_PANIC;
        }
        self.ctx = c;
    }

    /// The chain key a new acquisition extends: the top entry's, unless the stack is empty or
    /// the top was taken in another irq context (chains restart there).
    #[inline(always)]
    pub(crate) fn prev_key(&self, d: usize) -> u64 {
        if d == 0 || (self.entries[d - 1].ctx ^ self.ctx) & CTX_IRQ_MASK != 0 {
            INITIAL_CHAIN_KEY
        } else {
            self.entries[d - 1].chain_key
        }
    }
}

/// A small stack of bits (64 deep; deeper saves are kept as "was on").
#[derive(Clone, Copy)]
pub(crate) struct BitStack(u64, u32);

impl BitStack {
    pub(crate) fn push_bit(&mut self, b: bool) {
        if self.1 < 64 {
            self.0 = self.0 << 1 | b as u64;
        }
        self.1 += 1;
    }

    pub(crate) fn pop_bit(&mut self) -> bool {
        if self.1 == 0 {
            return false;
        }
        self.1 -= 1;
        if self.1 < 64 {
            let b = self.0 & 1 != 0;
            self.0 >>= 1;
            b
        } else {
            false
        }
    }
}

thread_local! {
    static HELD: UnsafeCell<HeldStack> = const { UnsafeCell::new(HeldStack::new()) };
}

/// This thread's held stack. The caller must keep its use short and never let a reference
/// live across anything that may re-enter the validator (see [`with`]).
#[inline(always)]
pub(crate) fn stack() -> *mut HeldStack {
    HELD.with(|cell| cell.get())
}

/// Runs `f` on this thread's held stack.
///
/// `f` must not reach anything that may take an instrumented lock: no allocation, no lock, no
/// printing, no stack capture. Work that does runs in [`guarded`].
#[inline(always)]
pub(crate) fn with<R>(f: impl FnOnce(&mut HeldStack) -> R) -> R {
    // Only the address comes out of `LocalKey::with`, so the tiny closure inlines and `f` is
    // compiled into its caller, where the acquisition's constant arguments fold away.
    let stack = stack();
    // SAFETY: the stack is thread-local and outlives this call on this thread. No other
    // reference to it is live: `f` reaches no foreign code (see above), so nothing can start
    // another lock operation meanwhile, and a `guarded` region in progress works on its own
    // copy, never on the live stack.
    f(unsafe { &mut *stack })
}

/// Whether this thread is inside the validator: its lock operations are then untracked.
#[inline]
pub(crate) fn busy() -> bool {
    // SAFETY: a plain read of one byte of this thread's stack. While the flag is set no
    // reference to the live stack exists (the guarded region works on a copy); while it is
    // clear this runs at the start of a lock operation, which no `with` section can be in the
    // middle of (they reach no foreign code).
    unsafe { (*stack()).slow & BUSY != 0 }
}

/// Runs validator work that may reach foreign code — allocate, capture or print a stack, take
/// the validator's own locks — on a private copy of this thread's held stack, with the live
/// stack marked [`BUSY`] and emptied meanwhile, so that lock operations made from inside `f`
/// are untracked (see the module doc). The copy, with `f`'s changes, becomes the live stack
/// again when `f` returns or unwinds.
///
/// Returns `None`, without running `f`, when this thread is already inside the validator: the
/// caller is then a lock operation made from inside it, and must not be tracked.
pub(crate) fn guarded<R>(f: impl FnOnce(&mut HeldStack) -> R) -> Option<R> {
    if busy() {
        return None;
    }
    let live = stack();
    // SAFETY: not busy, so no guarded region is in progress on this thread, and no `with`
    // section is either (they reach no foreign code, so they never call this): no reference to
    // the live stack exists while it is copied and marked.
    let copy = unsafe {
        let copy = *live;
        (*live).slow |= BUSY;
        (*live).depth = 0;
        copy
    };
    let mut region = Region { live, copy };
    Some(f(&mut region.copy))
}

/// A guarded region in progress: puts its copy back when it ends, even by unwinding.
struct Region {
    live: *mut HeldStack,
    copy: HeldStack,
}

impl Drop for Region {
    fn drop(&mut self) {
        self.copy.slow &= !BUSY;
        // SAFETY: the region's work is over, and any lock operation made from inside it only
        // read the live stack (it found it busy); nothing else refers to it now.
        unsafe { *self.live = self.copy };
    }
}

/// The chain key of an empty stack. Not zero: zero marks an empty chain-cache slot.
pub(crate) const INITIAL_CHAIN_KEY: u64 = 0x6c6f_636b_6465_7021;

/// Extends a chain key by one acquisition. The lock's read state, trylock and nest bits and the
/// context it is taken in are part of the key, so a chain validated in one flavour is never
/// mistaken for the same classes taken in another (the kernel selftest
/// `rlock_chaincache_ABBA1`), and everything that depends on the context is validated per
/// context.
#[inline(always)]
pub(crate) fn chain_key(
    prev: u64,
    class: u32,
    read: u8,
    trylock: bool,
    nested: bool,
    sync: bool,
    ctx: u8,
) -> u64 {
    let flags =
        read as u64 | (trylock as u64) << 2 | (nested as u64) << 3 | (sync as u64) << 4 | (ctx as u64) << 5;
    let id = class as u64 | flags << 32;
    let mut x = prev.rotate_left(26) ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 32;
    if x == 0 {
        1
    } else {
        x
    }
}

/// The chain key of `e` over `prev`; `serialised`: its nest lock serialises it (see
/// `validate::nest_state`). An acquisition its nest lock does not serialise is validated like
/// a plain one (recursion, dependencies), so it is keyed like one: a chain validated while the
/// nest lock serialised it skipped those checks and must not stand for it.
#[inline(always)]
pub(crate) fn entry_key(prev: u64, e: &Held, serialised: bool) -> u64 {
    chain_key(prev, e.class, e.read, e.trylock, serialised, e.sync, e.ctx)
}
