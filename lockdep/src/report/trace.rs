//! The `tracing` sink (with the `tracing` feature): every report is also an event, so it lands
//! in whatever subscriber the application installed, next to its own logs.
//!
//! The event has target `lockdep`, level WARN, the full text as its message and the fields
//! `kind`, `headline`, `classes` (comma-separated), `summary`, `signature` and `thread`.

use super::Report;

/// Emits `r` as one event. A subscriber may take instrumented locks: this runs after the
/// validator let go of its state, like every sink.
pub(crate) fn emit(r: &Report) {
    tracing::warn!(
        target: "lockdep",
        kind = r.kind().name(),
        headline = r.headline(),
        classes = r.classes().join(", "),
        summary = r.summary(),
        signature = r.signature(),
        thread = r.thread(),
        "{r}"
    );
}
