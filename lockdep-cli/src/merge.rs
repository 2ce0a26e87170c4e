//! `lockdep merge`: the strong cycles of the union of many dumps, each printed as the kernel
//! prints a circular dependency, with every dependency's stack and the dump it came from;
//! `--json` writes them as report documents (`lockdep/schema/report.schema.json`).

use crate::graph::{Edge, Merged};
use crate::load::{Frame, Site};
use crate::suppress::Suppressions;
use serde_json::{json, Value};
use std::fmt::Write;

pub const HEADLINE: &str = "WARNING: possible circular locking dependency detected";

/// A cycle found in the merged graph, with whether a suppression covers it.
pub struct Finding {
    pub cycle: Vec<usize>,
    pub suppressed: Option<String>,
}

pub fn findings(m: &Merged, s: &Suppressions) -> Vec<Finding> {
    m.strong_cycles()
        .into_iter()
        .map(|cycle| {
            let names = m.names(&cycle);
            let suppressed = s.covers(&names).map(str::to_string);
            Finding { cycle, suppressed }
        })
        .collect()
}

fn site(s: &Option<Site>) -> String {
    s.as_ref().map_or_else(|| String::from("?"), |s| s.to_string())
}

fn frames(out: &mut String, frames: &[Frame], indent: &str) {
    if frames.is_empty() {
        let _ = writeln!(out, "{indent}<no stack recorded>");
    }
    for f in frames {
        let _ = match (&f.file, f.line) {
            (Some(file), Some(line)) => writeln!(out, "{indent}{} ({file}:{line})", f.function),
            _ => writeln!(out, "{indent}{}", f.function),
        };
    }
}

fn heading(m: &Merged, class: usize) -> String {
    format!("({}){}", m.classes[class], m.class_info[class].1)
}

/// The kernel-format text of one cycle.
pub fn text(m: &Merged, f: &Finding) -> String {
    let cycle: Vec<&Edge> = f.cycle.iter().map(|&e| &m.edges[e]).collect();
    let names = m.names(&f.cycle);
    let mut out = String::new();
    let _ = writeln!(out, "{HEADLINE}");
    let _ = writeln!(out, "{}", "-".repeat(HEADLINE.len()));
    let dumps: std::collections::BTreeSet<usize> = cycle
        .iter()
        .filter_map(|e| e.origins.first())
        .map(|o| o.dump)
        .collect();
    let _ = writeln!(
        out,
        "found by merging {} dump{}: {}.",
        m.dumps.len(),
        if m.dumps.len() == 1 { "" } else { "s" },
        if dumps.len() > 1 {
            format!(
                "its dependencies were first recorded in {} different dumps",
                dumps.len()
            )
        } else {
            String::from("one dump holds all of its dependencies")
        }
    );
    if let Some(reason) = &f.suppressed {
        let _ = writeln!(out, "suppressed: {reason}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "the dependency chain (in reverse order) is:");
    let n = cycle.len();
    for (i, e) in cycle.iter().enumerate().rev() {
        let o = &e.origins[0];
        let d = &o.dep;
        let _ = writeln!(out);
        let _ = writeln!(out, "-> #{} {}:", i, heading(m, e.to));
        let _ = writeln!(
            out,
            "       {}({}) at {} while holding {}({}) taken at {}, by {} in {}",
            d.to_mode.verb(),
            d.to,
            site(&d.to_site),
            d.from_mode.verb(),
            d.from,
            site(&d.from_site),
            d.thread,
            m.dumps[o.dump].label()
        );
        for other in &e.origins[1..] {
            let _ = writeln!(out, "       (also recorded in {})", m.dumps[other.dump].label());
        }
        frames(&mut out, &d.stack, "       ");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "other info that might help us debug this:");
    let _ = writeln!(out);
    if n > 2 {
        let _ = writeln!(out, "Chain exists of:");
        let _ = writeln!(out, "  {}", names[..n].join(" --> "));
        let _ = writeln!(out);
    }
    // As the kernel draws it, with the last dependency as the one that closes the cycle: T0
    // holds its source (the target) and takes its destination (the source); T1 holds the
    // class the target depends on (the parent) and takes the target.
    let last = cycle[n - 1];
    let into_target = cycle[n.saturating_sub(2)];
    let row = |out: &mut String, col: usize, verb: &str, class: &str| {
        let cell = format!("{verb}({class});");
        let _ = if col == 0 {
            writeln!(out, "  {cell}")
        } else {
            writeln!(out, "  {:<29}{cell}", "")
        };
    };
    let _ = writeln!(out, " Possible unsafe locking scenario:");
    let _ = writeln!(out);
    let _ = writeln!(out, "       T0                           T1");
    let _ = writeln!(out, "       ----                         ----");
    let ld = &last.origins[0].dep;
    let fd = &into_target.origins[0].dep;
    row(&mut out, 0, ld.from_mode.verb(), &ld.from);
    row(&mut out, 1, fd.from_mode.verb(), &fd.from);
    row(&mut out, 1, fd.to_mode.verb(), &fd.to);
    row(&mut out, 0, ld.to_mode.verb(), &ld.to);
    let _ = writeln!(out);
    let _ = writeln!(out, " *** DEADLOCK ***");
    let _ = writeln!(out);
    let _ = writeln!(out, "Cycle in lock order graph: {}", names.join(" => "));
    let _ = writeln!(out);
    let _ = writeln!(out, "summary: {}", names.join(" -> "));
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The same signature the runtime gives a cycle of these classes (kind, headline, the class
/// set), so a merged finding and a report of the same cycle share a file stem.
pub fn signature(names: &[&str]) -> String {
    let mut set: Vec<&str> = names[..names.len().saturating_sub(1)].to_vec();
    set.sort_unstable();
    set.dedup();
    let mut parts = vec!["circular_dependency", HEADLINE];
    parts.extend(set);
    format!("{:016x}", fnv1a(parts.join("\n").as_bytes()))
}

fn site_json(s: &Option<Site>) -> Value {
    match s {
        Some(s) => json!({ "file": s.file, "line": s.line, "column": s.column }),
        None => Value::Null,
    }
}

/// One cycle as a report document.
pub fn report_json(m: &Merged, f: &Finding) -> Value {
    let names = m.names(&f.cycle);
    let deps: Vec<Value> = f
        .cycle
        .iter()
        .rev()
        .map(|&e| {
            let o = &m.edges[e].origins[0];
            let d = &o.dep;
            json!({
                "from": d.from,
                "to": d.to,
                "from_mode": d.from_mode.name(),
                "to_mode": d.to_mode.name(),
                "from_site": site_json(&d.from_site),
                "to_site": site_json(&d.to_site),
                "thread": { "name": d.thread.name, "id": d.thread.id },
                "stack": d.stack.iter().map(|fr| json!({ "function": fr.function, "file": fr.file, "line": fr.line })).collect::<Vec<_>>(),
                "source": m.dumps[o.dump].path.display().to_string(),
            })
        })
        .collect();
    let mut details = vec![format!("found by merging {} dumps", m.dumps.len())];
    if let Some(reason) = &f.suppressed {
        details.push(format!("suppressed: {reason}"));
    }
    json!({
        "version": 1,
        "kind": "circular_dependency",
        "headline": HEADLINE,
        "signature": signature(&names),
        "thread": { "name": "lockdep merge", "id": null },
        "classes": names[..names.len() - 1],
        "summary": names.join(" -> "),
        "acquiring": null,
        "holding": null,
        "held": [],
        "dependencies": deps,
        "stack": [],
        "details": details,
        "hint": null,
        "text": text(m, f),
    })
}
