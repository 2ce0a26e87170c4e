//! What the validator does when it finds a violation.

/// The action taken on a violation. Whatever the action, the report is recorded for
/// [`take_reports`](crate::take_reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Print the report to stderr and carry on (the default).
    Warn,
    /// Panic with the report as the message (in a thread-exit check, where a panic would abort
    /// the process, the report is printed instead).
    Panic,
    /// Only record the report.
    Collect,
}

impl Action {
    /// Parses `warn`, `panic` or `collect` (case-insensitive), as `LOCKDEP_ACTION` takes.
    pub fn parse(s: &str) -> Option<Action> {
        match s.trim().to_ascii_lowercase().as_str() {
            "warn" | "print" => Some(Action::Warn),
            "panic" | "abort" => Some(Action::Panic),
            "collect" | "silent" | "quiet" => Some(Action::Collect),
            _ => None,
        }
    }
}

#[cfg(feature = "check")]
mod imp {
    use super::Action;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0 = not yet read from the environment.
    static ACTION: AtomicU8 = AtomicU8::new(0);

    fn encode(a: Action) -> u8 {
        match a {
            Action::Warn => 1,
            Action::Panic => 2,
            Action::Collect => 3,
        }
    }

    pub fn set_action(a: Action) {
        ACTION.store(encode(a), Ordering::Relaxed);
    }

    pub fn action() -> Action {
        match ACTION.load(Ordering::Relaxed) {
            1 => Action::Warn,
            2 => Action::Panic,
            3 => Action::Collect,
            _ => {
                let a = match std::env::var("LOCKDEP_ACTION") {
                    Ok(v) => Action::parse(&v).unwrap_or_else(|| {
                        eprintln!("lockdep: ignoring LOCKDEP_ACTION={v:?} (want warn, panic or collect)");
                        Action::Warn
                    }),
                    Err(_) => Action::Warn,
                };
                // A concurrent `set_action` wins over the environment.
                let _ = ACTION.compare_exchange(0, encode(a), Ordering::Relaxed, Ordering::Relaxed);
                action()
            }
        }
    }
}

/// Sets the action for every later violation, overriding `LOCKDEP_ACTION`. A no-op with the
/// feature off.
pub fn set_action(action: Action) {
    #[cfg(feature = "check")]
    imp::set_action(action);
    #[cfg(not(feature = "check"))]
    let _ = action;
}

/// The action in force: the last [`set_action`], else `LOCKDEP_ACTION`, else [`Action::Warn`].
pub fn action() -> Action {
    #[cfg(feature = "check")]
    {
        imp::action()
    }
    #[cfg(not(feature = "check"))]
    {
        Action::Warn
    }
}
