//! [`NotSend`]: the marker that keeps a validated guard on the thread that took its lock.
//!
//! The validator records each thread's held locks on that thread (as the kernel records them
//! per task). A guard dropped on another thread would release a lock the dropping thread never
//! took — a false "bad unlock balance" there — and leave a phantom entry on the thread that
//! took it, which then reports dependencies and deadlocks that cannot happen. So with `check`
//! every guard carries this marker, whatever its plain lock allows: `spin`'s guards are `Send`,
//! and so are `parking_lot`'s once any crate in the build enables its `send_guard` feature.

use std::marker::PhantomData;

/// Zero-sized; makes its holder `!Send` but leaves it `Sync` (a `&Guard` shared with another
/// thread, e.g. a scoped one, can only read through it and never releases the lock).
#[derive(Clone, Copy, Default)]
pub(crate) struct NotSend(PhantomData<*const ()>);

// SAFETY: the marker holds no data, so a shared reference to it gives another thread nothing to
// access; it exists only to withhold `Send`.
unsafe impl Sync for NotSend {}

impl NotSend {
    pub(crate) const MARK: NotSend = NotSend(PhantomData);
}
