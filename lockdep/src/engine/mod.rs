//! The validator itself (only built with the `check` feature).
//!
//! Data flows one way: the lock types call [`acquire`](validate::acquire) /
//! [`release`](validate::release) with their [`DepMap`]; the per-thread [`held`] stack and the
//! lock-free [`chain`] cache answer the common case; only a never-seen chain of held classes
//! reaches the [`graph`] (under one plain, uninstrumented mutex), and only a violation reaches
//! the [`sink`]. Whatever the validator does beyond the hot path runs as a guarded region of
//! this thread ([`held::guarded`]): lock operations it causes (an allocator, a panic hook) are
//! untracked, like the kernel's under `lockdep_recursion`.

pub(crate) mod annotate;
pub(crate) mod chain;
pub(crate) mod check;
pub(crate) mod class_bits;
pub(crate) mod graph;
pub(crate) mod graph_dump;
pub(crate) mod held;
#[cfg(feature = "lock-stat")]
pub(crate) mod lock_stat;
pub(crate) mod map;
pub(crate) mod offstack;
pub(crate) mod report;
pub(crate) mod report_dir;
pub(crate) mod sink;
pub(crate) mod site_cache;
pub(crate) mod stack;
pub(crate) mod state;
pub(crate) mod suppress;
pub(crate) mod sync_shim;
pub(crate) mod teardown;
pub(crate) mod validate;
pub(crate) mod violation;

pub(crate) use check::irq as usage;
pub(crate) use map::DepMap;

#[cfg(all(test, loom))]
mod tests;

/// See [`crate::reset`]. Forgetting frees memory, which may reach foreign code (an allocator
/// built on instrumented locks), so it runs as validator work; from inside the validator it is
/// a no-op.
pub(crate) fn reset() {
    held::guarded(|_| {
        let mut st = state::lock();
        st.reset();
        chain::clear();
        drop(st);
        sink::clear();
    });
}
