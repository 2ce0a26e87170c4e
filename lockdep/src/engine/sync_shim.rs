//! The atomics the validator's lock-free structures are built from: `std`'s, or `loom`'s when
//! the crate's own tests are built with `--cfg loom` to model-check them (`./loom.sh`). Only
//! the unit-test build switches (`all(loom, test)`): `loom` is a dev-dependency, and the library
//! that integration tests link stays on `std` under the same flag.
//!
//! Only structures that a model builds for itself import from here (today the chain cache,
//! [`super::chain::ChainTable`]): loom's atomics cannot be made in a `const` context, so the
//! statics that every lock's `const fn new` embeds (the class-id cache in `DepMap`, the
//! counters) keep `std`'s. Under loom the process-wide instances become loom lazy statics, which
//! exist only inside a model run.
//!
//! The class-id caches (`DepMap`'s two slots and `LockClass::ids`) are therefore not modelled.
//! Their protocol is simple enough to state: an id is only ever stored after the class was
//! registered under the validator's lock, registration of a key is idempotent under that lock
//! (a second registrar finds the first one's id), and an id, once stored, never changes (classes
//! survive `reset`). So a `Relaxed` reader sees either 0, and resolves under the lock to the same
//! id, or the final id, whose class any later holder of the lock sees.

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(all(loom, test))]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
