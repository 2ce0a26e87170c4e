//! The union of many dumps: one node per class name, one edge per ordered pair of classes
//! with the union of the dependency kinds every dump recorded for it, and each dump's first
//! occurrence of it (site, thread, stack), so a report can show where each half came from.

use crate::load::{Dependency, Kind, Loaded};
use std::collections::HashMap;

/// One dump's record of an edge.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Index into [`Merged::dumps`].
    pub dump: usize,
    pub dep: Dependency,
}

#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kinds: Vec<Kind>,
    /// In input order; the first is the one reports show.
    pub origins: Vec<Origin>,
}

pub struct Merged {
    pub dumps: Vec<Loaded>,
    /// Class names, index = node.
    pub classes: Vec<String>,
    /// `lock_kind` and annotation of each class, from the first dump that has it.
    pub class_info: Vec<(String, String)>,
    pub edges: Vec<Edge>,
    /// Edge indices out of each node.
    pub out: Vec<Vec<usize>>,
}

impl Merged {
    pub fn new(dumps: Vec<Loaded>) -> Merged {
        let mut m = Merged {
            dumps: Vec::new(),
            classes: Vec::new(),
            class_info: Vec::new(),
            edges: Vec::new(),
            out: Vec::new(),
        };
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut edge_index: HashMap<(usize, usize), usize> = HashMap::new();
        for (di, loaded) in dumps.iter().enumerate() {
            let mut node = |m: &mut Merged, name: &str, info: Option<(String, String)>| -> usize {
                if let Some(&i) = index.get(name) {
                    return i;
                }
                let i = m.classes.len();
                m.classes.push(name.to_string());
                m.class_info.push(info.unwrap_or_default());
                m.out.push(Vec::new());
                index.insert(name.to_string(), i);
                i
            };
            for c in &loaded.dump.classes {
                node(&mut m, &c.name, Some((c.lock_kind.clone(), c.annotation.clone())));
            }
            for d in &loaded.dump.dependencies {
                let from = node(&mut m, &d.from, None);
                let to = node(&mut m, &d.to, None);
                let e = *edge_index.entry((from, to)).or_insert_with(|| {
                    m.edges.push(Edge {
                        from,
                        to,
                        kinds: Vec::new(),
                        origins: Vec::new(),
                    });
                    m.out[from].push(m.edges.len() - 1);
                    m.edges.len() - 1
                });
                let edge = &mut m.edges[e];
                for k in &d.kinds {
                    if !edge.kinds.contains(k) {
                        edge.kinds.push(*k);
                    }
                }
                if !edge.origins.iter().any(|o| o.dump == di) {
                    edge.origins.push(Origin {
                        dump: di,
                        dep: d.clone(),
                    });
                }
            }
        }
        m.dumps = dumps;
        m
    }

    /// Whether a path may continue through edge `e` after arriving at its source through
    /// recursive-reader acquisitions only (`arrived_r`), and if so whether it then arrives at
    /// the target that way only: the kernel's rule that no `-(xR)->` is followed by `-(Sx)->`.
    fn step(&self, e: usize, arrived_r: bool) -> Option<bool> {
        let allowed: Vec<Kind> = self.edges[e]
            .kinds
            .iter()
            .copied()
            .filter(|k| !(arrived_r && k.shared_holder()))
            .collect();
        if allowed.is_empty() {
            None
        } else {
            Some(allowed.iter().all(|k| k.recursive_acquirer()))
        }
    }

    /// A shortest strong cycle through edge `closing`, as edge indices starting with it.
    pub fn strong_cycle_through(&self, closing: usize) -> Option<Vec<usize>> {
        let (start, first) = (self.edges[closing].from, self.edges[closing].to);
        let mut best: Option<Vec<usize>> = None;
        // Try each kind of the closing edge separately: it decides both how the path leaves
        // `first` and what may arrive back at `start`.
        for &k0 in &self.edges[closing].kinds {
            let r0 = k0.recursive_acquirer();
            // BFS over (node, arrived through recursive readers only).
            let n = self.classes.len();
            let mut prev: Vec<[Option<(usize, bool, usize)>; 2]> = vec![[None, None]; n];
            let mut seen = vec![[false; 2]; n];
            let mut queue = std::collections::VecDeque::new();
            seen[first][r0 as usize] = true;
            queue.push_back((first, r0));
            let mut found: Option<(usize, bool)> = None;
            if first == start && !(r0 && k0.shared_holder()) {
                found = Some((first, r0));
            }
            while let (None, Some((node, r))) = (found, queue.pop_front()) {
                for &e in &self.out[node] {
                    if e == closing {
                        continue;
                    }
                    let Some(nr) = self.step(e, r) else { continue };
                    let to = self.edges[e].to;
                    if seen[to][nr as usize] {
                        continue;
                    }
                    seen[to][nr as usize] = true;
                    prev[to][nr as usize] = Some((node, r, e));
                    if to == start && !(nr && k0.shared_holder()) {
                        found = Some((to, nr));
                        break;
                    }
                    queue.push_back((to, nr));
                }
            }
            let Some((mut node, mut r)) = found else { continue };
            let mut path = Vec::new();
            while let Some((p, pr, e)) = prev[node][r as usize] {
                path.push(e);
                (node, r) = (p, pr);
                if node == first && r == r0 {
                    break;
                }
            }
            path.reverse();
            let mut cycle = vec![closing];
            cycle.extend(path);
            if best.as_ref().is_none_or(|b| cycle.len() < b.len()) {
                best = Some(cycle);
            }
        }
        best
    }

    /// Every strong cycle, one per set of classes: for each edge, the shortest strong cycle
    /// through it (the cycle the engine reports when that edge is the one that closes it).
    /// Each cycle is rotated to start at its smallest class name, so output is stable.
    pub fn strong_cycles(&self) -> Vec<Vec<usize>> {
        let mut seen: Vec<Vec<usize>> = Vec::new();
        let mut out = Vec::new();
        for e in 0..self.edges.len() {
            let Some(cycle) = self.strong_cycle_through(e) else {
                continue;
            };
            let mut set: Vec<usize> = cycle.iter().map(|&e| self.edges[e].from).collect();
            set.sort_unstable();
            set.dedup();
            if seen.contains(&set) {
                continue;
            }
            seen.push(set);
            let pos = (0..cycle.len())
                .min_by_key(|&i| &self.classes[self.edges[cycle[i]].from])
                .unwrap_or(0);
            let mut rotated = cycle[pos..].to_vec();
            rotated.extend_from_slice(&cycle[..pos]);
            out.push(rotated);
        }
        out.sort_by(|a, b| self.names(a).cmp(&self.names(b)));
        out
    }

    /// The class names around a cycle, first one repeated at the end.
    pub fn names(&self, cycle: &[usize]) -> Vec<&str> {
        let mut v: Vec<&str> = cycle
            .iter()
            .map(|&e| self.classes[self.edges[e].from].as_str())
            .collect();
        if let Some(&first) = v.first() {
            v.push(first);
        }
        v
    }
}
