//! `lockdep stats` and `lockdep show`: a dump's counters laid out like the kernel's
//! `/proc/lockdep_stats`, its classes with their dependencies like `/proc/lockdep`, its cached
//! lock chains like `/proc/lockdep_chains`, and, from a build with the `lock-stat` feature, its
//! per-class contention and hold times like `/proc/lock_stat`. A version-1 dump records chains
//! only as a count, which `show` prints instead.

use crate::graph::Merged;
use crate::load::{Chain, Loaded};
use std::fmt::Write;

fn line(out: &mut String, name: &str, value: u64, max: Option<u64>) {
    let _ = match max {
        Some(max) => writeln!(out, " {name:<38}{value:>10} [max: {max}]"),
        None => writeln!(out, " {name:<38}{value:>10}"),
    };
}

pub fn stats(dumps: &[Loaded], m: &Merged, suppressed: usize, cycles: usize) -> String {
    let mut out = String::new();
    for d in dumps {
        let s = &d.dump.stats;
        let _ = writeln!(
            out,
            "{} [{} v{}] {} {}:",
            d.label(),
            d.dump.format,
            d.dump.version,
            d.dump.process.program,
            d.dump.process.args.join(" ")
        );
        line(&mut out, "lock-classes:", s.classes, Some(s.max_classes));
        line(
            &mut out,
            "direct dependencies:",
            s.dependencies,
            Some(s.max_dependencies),
        );
        line(&mut out, "dependency chains:", s.chains, Some(s.max_chains));
        line(
            &mut out,
            "stack-trace entries:",
            s.stack_entries,
            Some(s.max_stack_entries),
        );
        line(&mut out, "slow paths:", s.slow_paths, None);
        let _ = writeln!(out);
        lock_stat(&mut out, d);
    }
    if dumps.len() > 1 {
        let _ = writeln!(out, "merged ({} dumps):", dumps.len());
    } else {
        let _ = writeln!(out, "graph:");
    }
    line(&mut out, "lock-classes:", m.classes.len() as u64, None);
    line(&mut out, "direct dependencies:", m.edges.len() as u64, None);
    line(&mut out, "strong cycles:", cycles as u64, None);
    line(&mut out, "suppressed cycles:", suppressed as u64, None);
    out
}

pub fn show(m: &Merged) -> String {
    let mut out = String::from("all lock classes:\n");
    let mut backward = vec![0usize; m.classes.len()];
    for e in &m.edges {
        backward[e.to] += 1;
    }
    for (i, c) in m.classes.iter().enumerate() {
        let _ = writeln!(
            out,
            "FD: {:>4} BD: {:>4} {}: {} [{}]",
            m.out[i].len(),
            backward[i],
            m.class_info[i].1,
            c,
            m.class_info[i].0
        );
        for &e in &m.out[i] {
            let x = &m.edges[e];
            let kinds: Vec<String> = x.kinds.iter().map(|k| format!("{k:?}")).collect();
            let _ = writeln!(out, " -> [{}] {}", kinds.join(","), m.classes[x.to]);
        }
        out.push('\n');
    }
    chains(&mut out, m);
    for d in &m.dumps {
        lock_stat(&mut out, d);
    }
    out
}

/// Prints only the chains (`show --chains`).
pub fn show_chains(m: &Merged) -> String {
    let mut out = String::new();
    chains(&mut out, m);
    out
}

/// The chains of every dump, each distinct one once (in the order first seen), as
/// `/proc/lockdep_chains` lists them: the irq context, then one class a line.
fn chains(out: &mut String, m: &Merged) {
    let mut seen: Vec<&Chain> = Vec::new();
    for c in m.dumps.iter().filter_map(|d| d.dump.chains.as_ref()).flatten() {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    let _ = writeln!(out, "all lock chains:");
    for c in &seen {
        let _ = writeln!(out, "irq_context: {}", c.irq_context);
        for class in &c.classes {
            let _ = writeln!(out, " {class}");
        }
        out.push('\n');
    }
    let old: Vec<&Loaded> = m.dumps.iter().filter(|d| d.dump.chains.is_none()).collect();
    if !old.is_empty() {
        let count: u64 = old.iter().map(|d| d.dump.stats.chains).sum();
        let _ = writeln!(
            out,
            "lock chains: {count} more in {} version-1 dump(s), which record chains only as a count",
            old.len()
        );
    }
}

/// Microseconds with two decimals, as `/proc/lock_stat` prints times.
fn us(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1000.0)
}

/// The dump's lock statistics as `/proc/lock_stat` lays them out (times in microseconds; the
/// columns the validator measures), if the dump has them.
fn lock_stat(out: &mut String, d: &Loaded) {
    let Some(stats) = &d.dump.lock_stats else {
        return;
    };
    let _ = writeln!(out, "lock_stat of {}:", d.label());
    let _ = writeln!(
        out,
        "{:>40} {:>12} {:>14} {:>14} {:>14} {:>12} {:>14} {:>14} {:>14} {:>14}",
        "class name",
        "contentions",
        "waittime-max",
        "waittime-total",
        "waittime-avg",
        "acquisitions",
        "holdtime-min",
        "holdtime-max",
        "holdtime-total",
        "holdtime-avg"
    );
    let avg = |total: u64, n: u64| total.checked_div(n).unwrap_or(0);
    for s in stats {
        let _ = writeln!(
            out,
            "{:>40} {:>12} {:>14} {:>14} {:>14} {:>12} {:>14} {:>14} {:>14} {:>14}",
            s.class,
            s.contentions,
            us(s.wait_max_ns),
            us(s.wait_total_ns),
            us(avg(s.wait_total_ns, s.contentions)),
            s.holds,
            us(s.hold_min_ns),
            us(s.hold_max_ns),
            us(s.hold_total_ns),
            us(avg(s.hold_total_ns, s.holds))
        );
    }
    out.push('\n');
}
