//! Whether this thread is running its thread-local destructors: a panic there cannot unwind
//! (the destructor runner is not unwind-safe), so the process aborts. A report that
//! [`Action::Panic`](crate::Action::Panic) would turn into a panic is printed instead.
//!
//! Nothing in the standard library tells a destructor from other code, and a thread-local of
//! the validator's own cannot mark the moment either: destructors run newest first, so any
//! registered after it run before it. What does tell is the stack: with glibc every
//! `thread_local!` destructor is run by `__call_tls_dtors` (registered through
//! `__cxa_thread_atexit_impl`), a symbol the dynamic loader can name for a return address.
//! The stack is walked only when a report is about to become a panic. Elsewhere (another libc,
//! the standard library's fallback list) this answers false, and such a panic still aborts.

/// Whether a frame of this thread's stack belongs to the runner of thread-local destructors.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn in_tls_destructor() -> bool {
    const RUNNER: &[u8] = b"__call_tls_dtors";
    let mut found = false;
    backtrace::trace(|frame| {
        // SAFETY: all-zero is a valid `Dl_info` (null pointers), filled in by `dladdr`.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: `dladdr` only looks the address up in the loader's tables and writes `info`;
        // the name it returns points into a loaded object's string table, valid while loaded.
        let named = unsafe { libc::dladdr(frame.ip().cast_const(), &mut info) } != 0
            && !info.dli_sname.is_null()
            && unsafe { std::ffi::CStr::from_ptr(info.dli_sname) }.to_bytes() == RUNNER;
        found |= named;
        !found
    });
    found
}

/// See above: not recognised on this platform.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn in_tls_destructor() -> bool {
    false
}
