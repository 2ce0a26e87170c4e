//! Suppressions: reviewed dependencies marked as allowed, with the reason, for adopting the
//! validator in a code base with known, accepted orders. A suppressed report is counted
//! ([`crate::Stats::suppressed`]) but neither recorded, printed nor handed to any sink.
//!
//! `allow OUTER -> INNER: REASON` covers a report whose cycle contains the dependency
//! `OUTER -> INNER`, and a report about taking `INNER` while holding `OUTER` (the held and
//! the acquired lock of a two-lock report). Rules come from [`crate::allow_dependency`] and
//! from the file named by `LOCKDEP_SUPPRESSIONS`, read once on the first report. The file
//! format is the `lockdep` tool's (`lockdep merge --suppressions FILE`):
//!
//! ```text
//! # comment
//! allow outer_lock -> inner_lock: inner is only taken at start-up, before any thread runs
//! ```

use crate::Report;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

struct Rule {
    outer: String,
    inner: String,
}

static RULES: RwLock<Vec<Rule>> = RwLock::new(Vec::new());
static FROM_ENV: Once = Once::new();
pub(crate) static SUPPRESSED: AtomicU64 = AtomicU64::new(0);

/// Parses one file's text: the rules, or the 1-based number of the first bad line.
pub(crate) fn parse(text: &str) -> Result<Vec<(String, String, String)>, usize> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let rule = line.strip_prefix("allow ").and_then(|rest| {
            let (pair, reason) = rest.split_once(": ")?;
            let (outer, inner) = pair.split_once(" -> ")?;
            let (outer, inner, reason) = (outer.trim(), inner.trim(), reason.trim());
            (!outer.is_empty() && !inner.is_empty() && !reason.is_empty())
                .then(|| (outer.to_string(), inner.to_string(), reason.to_string()))
        });
        out.push(rule.ok_or(i + 1)?);
    }
    Ok(out)
}

pub(crate) fn add(outer: &str, inner: &str) {
    RULES.write().push(Rule {
        outer: outer.to_string(),
        inner: inner.to_string(),
    });
}

fn load_env() {
    FROM_ENV.call_once(|| {
        let Some(path) = std::env::var_os("LOCKDEP_SUPPRESSIONS").filter(|p| !p.is_empty()) else {
            return;
        };
        let shown = std::path::Path::new(&path).display().to_string();
        match std::fs::read_to_string(&path).map(|t| parse(&t)) {
            Ok(Ok(rules)) => rules.iter().for_each(|(o, i, _)| add(o, i)),
            Ok(Err(line)) => eprintln!(
                "lockdep: ignoring LOCKDEP_SUPPRESSIONS={shown}: line {line} is not `allow OUTER -> INNER: REASON`"
            ),
            Err(e) => eprintln!("lockdep: ignoring LOCKDEP_SUPPRESSIONS={shown}: {e}"),
        }
    });
}

/// Whether a rule covers `r` (and if so, counts it).
pub(crate) fn is_suppressed(r: &Report) -> bool {
    load_env();
    let rules = RULES.read();
    if rules.is_empty() {
        return false;
    }
    let covered = |outer: &str, inner: &str| rules.iter().any(|x| x.outer == outer && x.inner == inner);
    let hit = r.cycle.windows(2).any(|w| covered(&w[0], &w[1]))
        || matches!((&r.holding, &r.acquiring), (Some(h), Some(a)) if covered(&h.class, &a.class));
    if hit {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
    hit
}
