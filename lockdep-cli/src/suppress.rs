//! Suppressions: reviewed dependencies marked as allowed, with a reason. The file format is
//! the one the runtime reads from `LOCKDEP_SUPPRESSIONS` (see the lockdep README):
//!
//! ```text
//! # comment
//! allow outer_lock -> inner_lock: inner is only taken at start-up, before any thread runs
//! ```
//!
//! A suppression covers every cycle that contains the dependency `outer -> inner`. Covered
//! cycles are still listed, marked suppressed, and do not make `merge` fail.

use crate::load::Error;
use std::path::Path;

#[derive(Default)]
pub struct Suppressions {
    rules: Vec<(String, String, String)>,
}

impl Suppressions {
    /// Parses the file; a line that is neither blank, a comment nor an `allow` rule is an
    /// error naming its line.
    pub fn load(path: &Path) -> Result<Suppressions, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
        Suppressions::parse(&text).map_err(|(line, what)| Error(format!("{}:{line}: {what}", path.display())))
    }

    pub fn parse(text: &str) -> Result<Suppressions, (usize, String)> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                (
                    i + 1,
                    format!("expected `allow OUTER -> INNER: REASON`, got {line:?}"),
                )
            };
            let rest = line.strip_prefix("allow ").ok_or_else(bad)?;
            let (pair, reason) = rest.split_once(": ").ok_or_else(bad)?;
            let (outer, inner) = pair.split_once(" -> ").ok_or_else(bad)?;
            let (outer, inner, reason) = (outer.trim(), inner.trim(), reason.trim());
            if outer.is_empty() || inner.is_empty() || reason.is_empty() {
                return Err(bad());
            }
            rules.push((outer.to_string(), inner.to_string(), reason.to_string()));
        }
        Ok(Suppressions { rules })
    }

    /// The reason of the first rule whose dependency is an edge of the cycle `names` (first
    /// class repeated at the end).
    pub fn covers(&self, names: &[&str]) -> Option<&str> {
        self.rules.iter().find_map(|(outer, inner, reason)| {
            names
                .windows(2)
                .any(|w| w[0] == outer && w[1] == inner)
                .then_some(reason.as_str())
        })
    }
}
