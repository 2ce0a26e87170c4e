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

#[cfg(not(all(loom, test)))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(all(loom, test))]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
