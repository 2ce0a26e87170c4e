//! `init`, `subscriber`: drm-sim's own logging through `tracing`. No kernel counterpart: the
//! simulation's `dmesg` — what its devices and drivers say (probe, device lost, unplug,
//! resets) — next to the validator's reports, which `lockdep`'s `tracing` feature turns into
//! events of target `lockdep` at level WARN.
//!
//! # Contract
//! - [`init`] installs the process-wide subscriber once: events to stderr, filtered by the
//!   `DRM_SIM_LOG` environment variable, else `RUST_LOG`, else [`DEFAULT_FILTER`] (warnings
//!   and errors, so a clean run prints nothing and every lockdep report is one line). The
//!   syntax is `tracing-subscriber`'s `EnvFilter`: `info`, `drm_sim=debug,lockdep=off`, …
//! - [`subscriber`] builds the same subscriber for any writer and filter (the tests capture
//!   it).
//! - A `lockdep` event is written as one line of its structured fields (kind, headline,
//!   classes, summary, signature, thread) without its message: the message is the report's
//!   full kernel-format text, which the validator prints itself (or keeps, when collecting).
//!   So a log line never starts like a report's headline, and a report is not printed twice.
//!
//! # Locking
//! None of its own. A subscriber may take instrumented locks: the validator emits its events
//! after letting go of its state.
//!
//! # Annotations
//! None.
//!
//! # Rules
//! None.
//!
//! # Simplified
//! No timestamps' time zone or span context: a line is the time since start, the level, the
//! target and the fields.

use std::io;
use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::format::{debug_fn, Writer};
use tracing_subscriber::fmt::time::Uptime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// The filter when neither `DRM_SIM_LOG` nor `RUST_LOG` is set.
pub const DEFAULT_FILTER: &str = "warn";

/// The target of the validator's events.
const LOCKDEP_TARGET: &str = "lockdep";

/// The filter directives the environment asks for (see the module documentation).
pub fn env_directives() -> String {
    directives_from(|v| std::env::var(v).ok())
}

/// [`env_directives`] with the variables read through `var`: the first of `DRM_SIM_LOG`,
/// `RUST_LOG` that is set and not blank, else [`DEFAULT_FILTER`].
fn directives_from(var: impl Fn(&str) -> Option<String>) -> String {
    ["DRM_SIM_LOG", "RUST_LOG"]
        .iter()
        .find_map(|v| var(v).filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| DEFAULT_FILTER.to_string())
}

/// The subscriber: events passing `directives` written to `writer`, the validator's as one
/// line of fields.
///
/// # Errors
/// A message naming the bad directive if `directives` does not parse.
pub fn subscriber<W>(directives: &str, writer: W) -> Result<impl Subscriber + Send + Sync, String>
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let filter = EnvFilter::builder()
        .parse(directives)
        .map_err(|e| format!("bad log filter '{directives}': {e}"))?;
    let ours = tracing_subscriber::fmt::layer()
        .with_timer(Uptime::default())
        .with_writer(writer.clone())
        .with_filter(filter_fn(|m| m.target() != LOCKDEP_TARGET));
    let reports = tracing_subscriber::fmt::layer()
        .with_timer(Uptime::default())
        .with_writer(writer)
        .fmt_fields(debug_fn(|w: &mut Writer<'_>, field, value| {
            if field.name() == "message" {
                Ok(())
            } else {
                write!(w, "{}={:?} ", field.name(), value)
            }
        }))
        .with_filter(filter_fn(|m| m.target() == LOCKDEP_TARGET));
    Ok(tracing_subscriber::registry()
        .with(filter)
        .with(ours)
        .with(reports))
}

/// Installs the subscriber for the whole process, writing to stderr, filtered as the
/// environment says. Does nothing if a subscriber is installed already.
///
/// # Errors
/// A bad filter in the environment (the caller reports it; nothing is installed).
pub fn init() -> Result<(), String> {
    let sub = subscriber(&env_directives(), io::stderr)?;
    // Someone installed one first (a test harness, say): theirs stays.
    let _ = tracing::subscriber::set_global_default(sub);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buf {
        type Writer = Buf;
        fn make_writer(&'w self) -> Buf {
            self.clone()
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    #[test]
    fn the_filter_decides_what_is_written() {
        let buf = Buf::default();
        let sub = subscriber("warn", buf.clone()).unwrap();
        tracing::subscriber::with_default(sub, || {
            tracing::info!(dev = "card0", "probed");
            tracing::warn!(dev = "card0", "device lost");
        });
        let t = buf.text();
        assert!(
            t.contains("WARN") && t.contains("device lost") && t.contains("card0"),
            "{t}"
        );
        assert!(!t.contains("probed"), "info filtered out: {t}");
        let buf = Buf::default();
        let sub = subscriber("drm_sim=info", buf.clone()).unwrap();
        tracing::subscriber::with_default(sub, || tracing::info!("probed"));
        assert!(buf.text().contains("probed"));
        assert!(subscriber("=[bad", Buf::default()).is_err());
    }

    #[test]
    fn a_lockdep_report_is_one_warn_line_of_its_fields() {
        let _s = crate::testing::serial();
        let buf = Buf::default();
        let sub = subscriber("warn", buf.clone()).unwrap();
        let dev = crate::drm_drv::DrmDevice::new("card0", crate::Bugs::NONE);
        tracing::subscriber::with_default(sub, || {
            // A leaked drm_dev_enter: reported at the return to user space.
            let _g = dev.enter();
            drop(lockdep::syscall());
        });
        let t = buf.text();
        if !lockdep::ENABLED {
            assert_eq!(t, "", "no validator, no report");
            return;
        }
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {t}");
        let l = lines[0];
        assert!(l.contains(" WARN lockdep: "), "{l}");
        assert!(l.contains("kind=\"held_on_return_to_user\""), "{l}");
        assert!(l.contains("classes=\"drm_unplug_srcu\""), "{l}");
        assert!(
            l.contains("headline=\"WARNING: lock held when returning to user space!\""),
            "{l}"
        );
        assert!(l.contains("signature=") && l.contains("thread="), "{l}");
        assert!(
            !l.contains("leaving the kernel"),
            "the report's text is not in the line: {l}"
        );
        assert_eq!(lockdep::take_reports().len(), 1, "still collected as usual");
    }

    #[test]
    fn drm_sim_log_comes_before_rust_log_before_the_default() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(directives_from(env(&[])), DEFAULT_FILTER);
        assert_eq!(directives_from(env(&[("RUST_LOG", "info")])), "info");
        assert_eq!(
            directives_from(env(&[("RUST_LOG", "info"), ("DRM_SIM_LOG", "debug")])),
            "debug"
        );
        assert_eq!(
            directives_from(env(&[("DRM_SIM_LOG", " "), ("RUST_LOG", "error")])),
            "error"
        );
    }
}
