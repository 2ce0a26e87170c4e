//! `lockdep stats` and `lockdep show`: a dump's counters laid out like the kernel's
//! `/proc/lockdep_stats`, and its classes with their dependencies like `/proc/lockdep`. The
//! dumps record chains only as a count, so `show` prints that where the kernel's
//! `/proc/lockdep_chains` lists them.

use crate::graph::Merged;
use crate::load::Loaded;
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
    let chains: u64 = m.dumps.iter().map(|d| d.dump.stats.chains).sum();
    let _ = writeln!(out, "lock chains: {chains} (dumps record chains as a count)");
    out
}
