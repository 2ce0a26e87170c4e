//! `Errno`: the kernel error codes the simulated stack returns. No kernel counterpart: the
//! kernel returns negative integers; we return `Result<T, Errno>` so a caller cannot forget one.
//!
//! Each variant is named after its kernel macro, and [`Errno::code`] gives the kernel's
//! (negative) value, so logs and tests can compare with real traces.

use std::fmt;

/// A kernel error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `-ENOENT`: no such object (a fence already signalled for `add_callback`, an unknown handle).
    Enoent,
    /// `-EINTR`: an interruptible wait was interrupted.
    Eintr,
    /// `-EIO`: the hardware reported an error (a faulting job).
    Eio,
    /// `-EAGAIN`: try again (a trylock that failed, a queue that is full).
    Eagain,
    /// `-ENOMEM`: allocation failed.
    Enomem,
    /// `-EBUSY`: busy (a nonblocking commit over an unfinished one).
    Ebusy,
    /// `-EINVAL`: invalid argument (signalling a fence twice).
    Einval,
    /// `-ENODEV`: the device is gone (after `drm_dev_unplug`).
    Enodev,
    /// `-EDEADLK`: ww-mutex back-off required.
    Edeadlk,
    /// `-EALREADY`: the ww mutex is already held in this acquire context.
    Ealready,
    /// `-ETIMEDOUT`: a wait or a job timed out.
    Etimedout,
    /// `-ECANCELED`: the operation was cancelled (a job killed with its entity).
    Ecanceled,
    /// `-EFAULT`: a bad user address.
    Efault,
}

impl Errno {
    /// The kernel's value: negative, as the kernel returns it.
    pub const fn code(self) -> i32 {
        -(match self {
            Errno::Enoent => 2,
            Errno::Eintr => 4,
            Errno::Eio => 5,
            Errno::Eagain => 11,
            Errno::Enomem => 12,
            Errno::Efault => 14,
            Errno::Ebusy => 16,
            Errno::Enodev => 19,
            Errno::Einval => 22,
            Errno::Edeadlk => 35,
            Errno::Ecanceled => 125,
            Errno::Etimedout => 110,
            Errno::Ealready => 114,
        })
    }

    /// The kernel macro's name, e.g. `"ENODEV"`.
    pub const fn name(self) -> &'static str {
        match self {
            Errno::Enoent => "ENOENT",
            Errno::Eintr => "EINTR",
            Errno::Eio => "EIO",
            Errno::Eagain => "EAGAIN",
            Errno::Enomem => "ENOMEM",
            Errno::Efault => "EFAULT",
            Errno::Ebusy => "EBUSY",
            Errno::Enodev => "ENODEV",
            Errno::Einval => "EINVAL",
            Errno::Edeadlk => "EDEADLK",
            Errno::Ecanceled => "ECANCELED",
            Errno::Etimedout => "ETIMEDOUT",
            Errno::Ealready => "EALREADY",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for Errno {}

/// `Result` with an [`Errno`] error, as the kernel's `int`-returning functions.
pub type KResult<T = ()> = Result<T, Errno>;
