//! `irq_work_queue`: run a function soon, in hard-irq context. Mirrors kernel/irq_work.c.
//!
//! Code that holds a lock it must not nest (a fence member's lock, in a container fence's
//! callback) queues the rest of its work here instead of doing it in place; the work then
//! runs with no lock of the queuer held, in interrupt context, as a self-IPI would run it.
//!
//! # Contract
//! - [`irq_work_queue`] never blocks and takes no lock the validator tracks, so it may be
//!   called under any lock, from any context (fence callbacks, irq handlers).
//! - Work runs once, in queue order, on one dedicated thread inside
//!   [`lockdep::irq_context`]: it must not sleep, and every lock it takes becomes irq-safe.
//! - [`irq_work_sync`] waits until everything queued before it has run.
//!
//! # Locking
//! None of its own: the queue is a channel (bookkeeping, not a kernel lock).
//!
//! # Annotations
//! The worker enters [`lockdep::irq_context`] around each item (a threaded hard irq, as
//! irq_work on PREEMPT_RT, so `spinlock_t` is allowed inside).
//!
//! # Rules
//! R8 (container fences defer their signal out of a member's callback).
//!
//! # Simplified
//! One global worker thread instead of per-CPU lists and IPIs; no `IRQ_WORK_LAZY`, no
//! claiming (`irq_work_queue` of an already pending item), since each item here is a fresh
//! closure.

use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

type Item = Box<dyn FnOnce() + Send + 'static>;

/// The queue into the worker, created with it on first use.
fn queue() -> &'static Sender<Item> {
    static QUEUE: OnceLock<Sender<Item>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Item>();
        std::thread::Builder::new()
            .name("irq_work".into())
            .spawn(move || {
                for work in rx {
                    let _irq = lockdep::irq_context();
                    work();
                }
            })
            .expect("spawning the irq_work thread");
        tx
    })
}

/// Queues `f` to run in hard-irq context on the irq_work thread (`irq_work_queue`).
pub fn irq_work_queue(f: impl FnOnce() + Send + 'static) {
    queue()
        .send(Box::new(f))
        .expect("the irq_work thread never exits");
}

/// Waits until every item queued before this call has run (`irq_work_sync`, for the whole
/// queue). Sleeps, so not from atomic context, and never from an irq_work item (it would
/// wait for itself).
#[track_caller]
pub fn irq_work_sync() {
    lockdep::might_sleep();
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    irq_work_queue(move || {
        let _ = tx.send(());
    });
    let _ = rx.recv();
}
