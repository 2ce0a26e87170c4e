//! `lockdep dot`: the merged graph in Graphviz DOT. Edges on a strong cycle are red and bold;
//! an edge's label lists its dependency kinds.

use crate::graph::Merged;
use std::fmt::Write;

fn quote(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("\"{escaped}\"")
}

pub fn render(m: &Merged) -> String {
    let on_cycle: std::collections::HashSet<usize> = m.strong_cycles().into_iter().flatten().collect();
    let mut out =
        String::from("digraph lockdep {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (i, c) in m.classes.iter().enumerate() {
        let cyclic = m
            .edges
            .iter()
            .enumerate()
            .any(|(e, x)| on_cycle.contains(&e) && (x.from == i || x.to == i));
        let _ = writeln!(
            out,
            "  n{i} [label={}{}];",
            quote(&format!("{c}\n{} {}", m.class_info[i].0, m.class_info[i].1)),
            if cyclic { ", color=red" } else { "" }
        );
    }
    for (e, x) in m.edges.iter().enumerate() {
        let kinds: Vec<String> = x.kinds.iter().map(|k| format!("{k:?}")).collect();
        let _ = writeln!(
            out,
            "  n{} -> n{} [label={}{}];",
            x.from,
            x.to,
            quote(&kinds.join(",")),
            if on_cycle.contains(&e) {
                ", color=red, penwidth=2"
            } else {
                ""
            }
        );
    }
    out.push_str("}\n");
    out
}
