//! `console_lock`: the console semaphore and its lockdep map. Mirrors kernel/printk/printk.c
//! (`console_lock`, `console_trylock`, `console_unlock`) and the part of
//! drivers/video/fbdev/core/fbcon.c that allocates under it.
//!
//! # Contract
//! - [`console_lock`] serialises everything that touches the consoles: fbcon drawing, mode
//!   changes of the framebuffer console, suspend of the fbdev emulation. It sleeps (a
//!   semaphore), so it is never taken in atomic context.
//! - [`console_trylock`] is what printk uses: it never waits and adds no dependency.
//! - fbcon allocates with `GFP_KERNEL` under it ([`take_over_console`]: the screen buffer of
//!   a console bound to a new framebuffer; [`fb_set_suspend`] on resume: the resized screen),
//!   so `console_lock -> fs_reclaim` is a normal order
//!   and `console_lock` may never be taken where reclaim could wait: not in a fence-signalling
//!   section such as a GPU reset (R4: the `console-lock-in-tdr` injected bug).
//!
//! # Locking
//! - `console_lock` ([`CONSOLE_LOCK`]): a pseudo-lock, as the kernel's `console_lock_dep_map`
//!   beside `console_sem`; the exclusion itself is a plain lock the validator does not see.
//!   Order (DRM-RULES §2.2): `console_lock -> &helper->lock -> &dev->master_mutex`, and
//!   `console_lock -> fs_reclaim`.
//!
//! # Annotations
//! - The map is acquired (write) before the semaphore is waited for, so an order that could
//!   deadlock is reported before the thread blocks; a trylock is a trylock of the map.
//! - [`console_lock`] is a `might_sleep()`.
//!
//! # Rules
//! R4 and S6 (no `console_lock` in TDR), R19 (the fbdev order starts at `console_lock`).
//!
//! # Simplified
//! - One global console: no console drivers, no printk ring buffer, no `console_unlock`
//!   flushing of pending messages.
//! - The fbcon state is a counter of bound screens and the bytes of their buffers.

use crate::error::KResult;
use crate::mm::{self, GFP_KERNEL};
use lockdep::{LockMap, LockMapGuard};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex as StdMutex, MutexGuard as StdMutexGuard, PoisonError, TryLockError};

/// `console_lock_dep_map`, printed `console_lock`.
pub static CONSOLE_LOCK: LockMap = LockMap::new("console_lock");

/// `console_sem`: the exclusion behind the map (plain: lockdep sees the map only, as in the
/// kernel, where the semaphore has no lockdep map of its own).
static CONSOLE_SEM: StdMutex<()> = StdMutex::new(());

/// Screens fbcon bound so far, and the bytes allocated for them.
static SCREENS: AtomicU64 = AtomicU64::new(0);
static SCREEN_BYTES: AtomicU64 = AtomicU64::new(0);
static SUSPENDED: AtomicBool = AtomicBool::new(false);

/// A held console lock (`console_unlock` on drop). Not `Send`.
#[must_use = "the console is unlocked when this is dropped"]
pub struct ConsoleGuard {
    // Released in this order: the semaphore, then the map (as `console_unlock`).
    _sem: StdMutexGuard<'static, ()>,
    _map: LockMapGuard<'static>,
}

impl std::fmt::Debug for ConsoleGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleGuard")
    }
}

/// Takes the console lock (`console_lock`), sleeping until it is free. A `might_sleep()`.
#[track_caller]
pub fn console_lock() -> ConsoleGuard {
    lockdep::might_sleep();
    let map = CONSOLE_LOCK.lock();
    let sem = CONSOLE_SEM.lock().unwrap_or_else(PoisonError::into_inner);
    ConsoleGuard { _sem: sem, _map: map }
}

/// Takes the console lock if it is free (`console_trylock`, what printk does); never waits.
#[track_caller]
pub fn console_trylock() -> Option<ConsoleGuard> {
    let sem = match CONSOLE_SEM.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    let map = CONSOLE_LOCK.try_lock()?;
    Some(ConsoleGuard { _sem: sem, _map: map })
}

/// fbcon binds a console to a newly registered framebuffer of `cols` x `rows` character cells
/// (`do_fbcon_takeover` -> `do_take_over_console` -> `vc_allocate`): under the console lock,
/// the screen buffer is allocated with `GFP_KERNEL`, which is what orders `console_lock`
/// before `fs_reclaim`.
///
/// # Errors
/// `Enomem` from the allocator.
#[doc(alias = "do_take_over_console")]
#[track_caller]
pub fn take_over_console(cols: u32, rows: u32) -> KResult {
    let _console = console_lock();
    let bytes = cols as usize * rows as usize * 2;
    let screen = mm::kmalloc(bytes, GFP_KERNEL)?;
    SCREENS.fetch_add(1, Ordering::Relaxed);
    SCREEN_BYTES.fetch_add(screen.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Suspends or resumes the framebuffer console (`fb_set_suspend` -> fbcon's notifier), with
/// the console lock held (the guard proves it). Resuming redraws the foreground console and
/// resizes it to the current mode (`vc_resize`), allocating its new screen buffer with
/// `GFP_KERNEL` under the console lock, as every resume of the console does.
///
/// # Errors
/// `Enomem` from the allocator.
#[track_caller]
pub fn fb_set_suspend(_console: &ConsoleGuard, suspend: bool) -> KResult {
    lockdep::assert_held(&CONSOLE_LOCK);
    if suspend {
        SUSPENDED.store(true, Ordering::Relaxed);
        return Ok(());
    }
    drop(mm::kmalloc(80 * 25 * 2, GFP_KERNEL)?);
    SUSPENDED.store(false, Ordering::Relaxed);
    Ok(())
}

/// Whether the framebuffer console is suspended.
pub fn is_suspended() -> bool {
    SUSPENDED.load(Ordering::Relaxed)
}

/// How many screens fbcon has bound (for tests and the summary).
pub fn screens() -> u64 {
    SCREENS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{kinds, serial};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn the_console_lock_excludes_and_trylock_never_waits() {
        let _s = serial();
        let g = console_lock();
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            tx.send(console_trylock().is_some()).unwrap();
            let _g = console_lock();
            tx.send(true).unwrap();
        });
        assert!(!rx.recv().unwrap(), "trylock fails while held");
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err(), "lock waits");
        drop(g);
        assert!(rx.recv().unwrap());
        t.join().unwrap();
        assert!(console_trylock().is_some());
        assert!(kinds().is_empty());
    }

    #[test]
    fn takeover_allocates_under_the_console_lock() {
        let _s = serial();
        let before = screens();
        take_over_console(80, 25).unwrap();
        assert_eq!(screens(), before + 1);
        assert!(kinds().is_empty());
    }
}
