//! The dependency graph: classes are nodes, "B was taken while A was held" is an edge A → B,
//! and the cycle search that runs when an edge is new.
//!
//! Each edge carries the read/write flavour of both ends as the kernel's four dependency kinds
//! (`-(SR)->`, `-(ER)->`, `-(SN)->`, `-(EN)->`: Shared/Exclusive holder, Recursive-reader or
//! Non-recursive acquirer). A deadlock needs a *strong* cycle — one in which no `-(xR)->` edge
//! is followed by an `-(Sx)->` edge — so the search tracks, per node, whether it was reached
//! only through `xR` edges. Unlike the kernel it keys the visited set on (class, that flag), so
//! a node first reached through a weak path can still be reached again through a strong one.
//!
//! The graph never contains a strong cycle: an edge that would close one is reported and not
//! inserted.
//!
//! To keep the new-dependency path cheap, the graph also keeps a topological order of its
//! classes (Pearce–Kelly): when the new edge `prev → next` already goes "forwards"
//! (`ord[prev] < ord[next]`) no path can lead back from `next` to `prev`, and the search is
//! skipped; otherwise the search runs and, if the edge goes in, only the affected region of the
//! order is rearranged. Recursive readers can legitimately form (weak) cycles, which have no
//! topological order: once one exists, the order is abandoned and every new edge is searched,
//! until the next reset.

use super::stack::TraceId;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::panic::Location;

/// At most this many dependencies (the kernel's `MAX_LOCKDEP_ENTRIES`).
pub(crate) const MAX_EDGES: usize = 1 << 15;

/// Shared holder, recursive-reader acquirer.
pub(crate) const DEP_SR: u8 = 1 << 0;
/// Exclusive holder, recursive-reader acquirer.
pub(crate) const DEP_ER: u8 = 1 << 1;
/// Shared holder, non-recursive acquirer.
pub(crate) const DEP_SN: u8 = 1 << 2;
/// Exclusive holder, non-recursive acquirer.
pub(crate) const DEP_EN: u8 = 1 << 3;

/// The dependency kind for holding a lock with `prev_read` and acquiring with `next_read`
/// (0 = write, 1 = read, 2 = recursive read).
pub(crate) fn dep_kind(prev_read: u8, next_read: u8) -> u8 {
    1 << ((prev_read == 0) as u8 + (((next_read != 2) as u8) << 1))
}

const NONE: u32 = u32::MAX;

pub(crate) struct Edge {
    pub from: u32,
    pub to: u32,
    pub dep: u8,
    /// Where the holder was acquired and where the target was acquired, the first time.
    pub from_loc: Option<&'static Location<'static>>,
    pub to_loc: Option<&'static Location<'static>>,
    pub from_read: u8,
    pub to_read: u8,
    pub trace: TraceId,
    pub tid: u64,
    next_after: u32,
    next_before: u32,
}

/// The edges out of (forwards) or into (backwards) one class: yields the class at the other
/// end and the edge's dependency kinds.
struct Adjacent<'a> {
    edges: &'a [Edge],
    next: u32,
    forward: bool,
}

impl<'a> Adjacent<'a> {
    fn new(edges: &'a [Edge], first_after: &[u32], first_before: &[u32], class: u32, forward: bool) -> Self {
        let next = if forward {
            first_after[class as usize]
        } else {
            first_before[class as usize]
        };
        Adjacent { edges, next, forward }
    }
}

impl Iterator for Adjacent<'_> {
    type Item = (u32, u8);

    fn next(&mut self) -> Option<(u32, u8)> {
        if self.next == NONE {
            return None;
        }
        let edge = &self.edges[self.next as usize];
        if self.forward {
            self.next = edge.next_after;
            Some((edge.to, edge.dep))
        } else {
            self.next = edge.next_before;
            Some((edge.from, edge.dep))
        }
    }
}

#[derive(Default)]
struct Search {
    epoch: u32,
    /// Per class, the epoch in which it was reached [only through xR edges, through an N edge].
    mark: Vec<[u32; 2]>,
    /// Per class and state, the edge it was reached by and the state of that edge's source.
    parent: Vec<[(u32, u8); 2]>,
    queue: VecDeque<(u32, u8)>,
}

impl Search {
    /// Starts a new search: a fresh epoch (so every mark is stale) and an empty queue.
    fn start(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.mark.iter_mut().for_each(|m| *m = [0; 2]);
            self.epoch = 1;
        }
        self.queue.clear();
        self.epoch
    }
}

pub(crate) struct Graph {
    first_after: Vec<u32>,
    first_before: Vec<u32>,
    /// A topological order of the classes (valid while `dag`).
    ord: Vec<u32>,
    dag: bool,
    /// Scratch for reordering: per class, the epoch it was visited in.
    pk_mark: Vec<u32>,
    pk_epoch: u32,
    pub(crate) edges: Vec<Edge>,
    index: FxHashMap<u64, u32>,
    search: Search,
}

fn pair(from: u32, to: u32) -> u64 {
    (from as u64) << 32 | to as u64
}

impl Graph {
    pub(crate) fn new() -> Self {
        Graph {
            first_after: Vec::new(),
            first_before: Vec::new(),
            ord: Vec::new(),
            dag: true,
            pk_mark: Vec::new(),
            pk_epoch: 0,
            edges: Vec::with_capacity(MAX_EDGES),
            index: FxHashMap::default(),
            search: Search::default(),
        }
    }

    /// Forgets every edge (classes stay).
    pub(crate) fn clear(&mut self) {
        self.first_after.iter_mut().for_each(|h| *h = NONE);
        self.first_before.iter_mut().for_each(|h| *h = NONE);
        self.dag = true; // any order is topological for a graph without edges
        self.edges.clear();
        self.index.clear();
    }

    /// Makes room for class ids up to `class`.
    pub(crate) fn ensure_class(&mut self, class: u32) {
        let n = class as usize + 1;
        if self.first_after.len() < n {
            let old = self.ord.len() as u32;
            self.ord.extend(old..n as u32);
            self.pk_mark.resize(n, 0);
            self.first_before.resize(n, NONE);
            self.first_after.resize(n, NONE);
            self.search.mark.resize(n, [0; 2]);
            self.search.parent.resize(n, [(NONE, 0); 2]);
        }
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Bytes used by the recorded dependencies: the edges and their index entries.
    pub(crate) fn bytes(&self) -> usize {
        // A hash-map entry: key, value and one control byte.
        self.edges.len() * (std::mem::size_of::<Edge>() + std::mem::size_of::<(u64, u32)>() + 1)
    }

    /// The edge `from → to`, if recorded.
    pub(crate) fn find(&self, from: u32, to: u32) -> Option<u32> {
        self.index.get(&pair(from, to)).copied()
    }

    /// Whether the dependency `from → to` of `kind` is recorded.
    pub(crate) fn has(&self, from: u32, to: u32, kind: u8) -> bool {
        self.find(from, to)
            .is_some_and(|e| self.edges[e as usize].dep & kind != 0)
    }

    /// Adds `kind` to an existing edge.
    pub(crate) fn add_kind(&mut self, edge: u32, kind: u8) {
        self.edges[edge as usize].dep |= kind;
    }

    /// Inserts a new edge; the caller checked capacity and cycles.
    pub(crate) fn insert(&mut self, mut e: Edge) -> u32 {
        self.ensure_class(e.from.max(e.to));
        let id = self.edges.len() as u32;
        e.next_after = self.first_after[e.from as usize];
        self.first_after[e.from as usize] = id;
        e.next_before = self.first_before[e.to as usize];
        self.first_before[e.to as usize] = id;
        let (from, to) = (e.from, e.to);
        self.index.insert(pair(from, to), id);
        self.edges.push(e);
        if self.dag && from != to && self.ord[from as usize] > self.ord[to as usize] {
            self.reorder(from, to);
        }
        id
    }

    /// Abandons the topological order (a cycle is being recorded on purpose): every later new
    /// edge is searched, until the next reset.
    pub(crate) fn give_up_order(&mut self) {
        self.dag = false;
    }

    /// Whether `prev → next` could close a cycle at all: false when the order already puts
    /// `prev` before `next`, so no path leads from `next` back to `prev`.
    pub(crate) fn may_close_cycle(&self, prev: u32, next: u32) -> bool {
        !self.dag || prev == next || self.ord[prev as usize] > self.ord[next as usize]
    }

    /// Pearce–Kelly: after inserting `from → to` with `ord[from] > ord[to]`, moves the classes
    /// reachable from `to` (below `ord[from]`) after those reaching `from` (above `ord[to]`).
    fn reorder(&mut self, from: u32, to: u32) {
        let (ub, lb) = (self.ord[from as usize], self.ord[to as usize]);
        self.pk_epoch = self.pk_epoch.wrapping_add(1);
        if self.pk_epoch == 0 {
            self.pk_mark.iter_mut().for_each(|m| *m = 0);
            self.pk_epoch = 1;
        }
        // Reaching `from` again from `to` is a cycle through recursive readers: no topological
        // order exists.
        let Some(mut fwd) = self.window(to, true, |o| o < ub, Some(from)) else {
            self.dag = false;
            return;
        };
        let mut bwd = self.window(from, false, |o| o > lb, None).unwrap_or_default();
        fwd.sort_unstable_by_key(|&c| self.ord[c as usize]);
        bwd.sort_unstable_by_key(|&c| self.ord[c as usize]);
        let mut slots: Vec<u32> = bwd
            .iter()
            .chain(fwd.iter())
            .map(|&c| self.ord[c as usize])
            .collect();
        slots.sort_unstable();
        for (c, o) in bwd.iter().chain(fwd.iter()).zip(slots) {
            self.ord[*c as usize] = o;
        }
    }

    /// The classes reachable from `start` (forwards or backwards) whose order is inside the
    /// window, depth first, marking them with the current reorder epoch; `None` as soon as
    /// `stop` is reached.
    fn window(
        &mut self,
        start: u32,
        forward: bool,
        inside: impl Fn(u32) -> bool,
        stop: Option<u32>,
    ) -> Option<Vec<u32>> {
        let epoch = self.pk_epoch;
        let mut found = Vec::new();
        let mut stack = vec![start];
        self.pk_mark[start as usize] = epoch;
        while let Some(u) = stack.pop() {
            found.push(u);
            for (v, _) in Adjacent::new(&self.edges, &self.first_after, &self.first_before, u, forward) {
                if Some(v) == stop {
                    return None;
                }
                if v != u && self.pk_mark[v as usize] != epoch && inside(self.ord[v as usize]) {
                    self.pk_mark[v as usize] = epoch;
                    stack.push(v);
                }
            }
        }
        Some(found)
    }

    /// Builds an edge value (not yet inserted).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn edge(
        from: u32,
        to: u32,
        from_read: u8,
        to_read: u8,
        from_loc: Option<&'static Location<'static>>,
        to_loc: Option<&'static Location<'static>>,
        trace: TraceId,
        tid: u64,
    ) -> Edge {
        Edge {
            from,
            to,
            dep: dep_kind(from_read, to_read),
            from_loc,
            to_loc,
            from_read,
            to_read,
            trace,
            tid,
            next_after: NONE,
            next_before: NONE,
        }
    }

    /// Would adding `prev → next` (holding `prev` with `prev_read`, acquiring `next` with
    /// `next_read`) close a strong cycle? Returns the existing path `next → … → prev` as edge
    /// ids, shortest first found (breadth-first, like the kernel, so reports stay short).
    pub(crate) fn find_cycle(
        &mut self,
        prev: u32,
        prev_read: u8,
        next: u32,
        next_read: u8,
    ) -> Option<Vec<u32>> {
        self.ensure_class(prev.max(next));
        let s = &mut self.search;
        let epoch = s.start();
        // Acquiring `next` as a recursive reader: the path out of it must start exclusive.
        let root_state = (next_read != 2) as u8;
        s.mark[next as usize][root_state as usize] = epoch;
        s.queue.push_back((next, root_state));
        while let Some((u, u_state)) = s.queue.pop_front() {
            let mut e = self.first_after[u as usize];
            while e != NONE {
                let id = e;
                let edge = &self.edges[e as usize];
                e = edge.next_after;
                let mut dep = edge.dep;
                if u_state == 0 {
                    // Reached only through -(xR)->: a following -(Sx)-> edge is not strong.
                    dep &= !(DEP_SR | DEP_SN);
                }
                if dep == 0 {
                    continue;
                }
                let v = edge.to;
                let v_state = (dep & (DEP_SN | DEP_EN) != 0) as u8;
                if v == prev && (prev_read == 0 || v_state == 1) {
                    // The closing edge prev -> next starts exclusive, or the path ends -(xN)->.
                    let mut path = vec![id];
                    let (mut at, mut st) = (u, u_state);
                    while at != next || st != root_state {
                        let (pe, ps) = s.parent[at as usize][st as usize];
                        path.push(pe);
                        at = self.edges[pe as usize].from;
                        st = ps;
                    }
                    path.reverse();
                    return Some(path);
                }
                let m = &mut s.mark[v as usize];
                if m[1] == epoch || m[v_state as usize] == epoch {
                    continue;
                }
                m[v_state as usize] = epoch;
                s.parent[v as usize][v_state as usize] = (id, u_state);
                s.queue.push_back((v, v_state));
            }
        }
        None
    }

    /// Breadth-first search for a class whose irq usage (`usage[class]`) intersects `want`,
    /// forwards (along "taken after") or backwards (along "taken before") from `root`,
    /// following only strong paths. `root_shared` is the strength state of the root (forwards:
    /// it is acquired as a recursive reader; backwards: it is held shared). A class reached only
    /// through such weak links counts only its write (non-`_READ`) usage. The root is matched
    /// too. Returns the class and the bits that matched.
    pub(crate) fn search_usage(
        &mut self,
        root: u32,
        forward: bool,
        root_shared: bool,
        usage: &[u16],
        want: u16,
    ) -> Option<(u32, u16)> {
        let mut found = None;
        self.walk(root, forward, root_shared, |c, weak| {
            let bits =
                usage.get(c as usize).copied().unwrap_or(0) & want & if weak { WRITE_USAGE } else { !0 };
            if bits != 0 {
                found = Some((c, bits));
                true
            } else {
                false
            }
        });
        found
    }

    /// The union of the usage bits in `want` over every class reachable (strongly) from `root`,
    /// with the same read/write filtering as [`search_usage`](Self::search_usage).
    pub(crate) fn accumulate_usage(
        &mut self,
        root: u32,
        forward: bool,
        root_shared: bool,
        usage: &[u16],
        want: u16,
    ) -> u16 {
        let mut acc = 0;
        self.walk(root, forward, root_shared, |c, weak| {
            acc |= usage.get(c as usize).copied().unwrap_or(0) & want & if weak { WRITE_USAGE } else { !0 };
            false
        });
        acc
    }

    /// Visits classes breadth-first from `root` along strong paths; `visit(class, weak)` returns
    /// true to stop.
    fn walk(&mut self, root: u32, forward: bool, root_weak: bool, mut visit: impl FnMut(u32, bool) -> bool) {
        self.ensure_class(root);
        let s = &mut self.search;
        let epoch = s.start();
        let rs = (!root_weak) as u8;
        s.mark[root as usize][rs as usize] = epoch;
        s.queue.push_back((root, rs));
        while let Some((u, u_state)) = s.queue.pop_front() {
            if visit(u, u_state == 0) {
                return;
            }
            for (v, mut dep) in Adjacent::new(&self.edges, &self.first_after, &self.first_before, u, forward)
            {
                let v_state = if forward {
                    // Weak: `u` acquired only as a recursive reader, so the next link must
                    // start exclusive.
                    if u_state == 0 {
                        dep &= !(DEP_SR | DEP_SN);
                    }
                    (dep & (DEP_SN | DEP_EN) != 0) as u8
                } else {
                    // Weak: `u` is held only shared afterwards, so the link into it must be a
                    // non-recursive acquisition.
                    if u_state == 0 {
                        dep &= !(DEP_SR | DEP_ER);
                    }
                    (dep & (DEP_ER | DEP_EN) != 0) as u8
                };
                if dep == 0 || v == u {
                    continue;
                }
                let m = &mut s.mark[v as usize];
                if m[1] == epoch || m[v_state as usize] == epoch {
                    continue;
                }
                m[v_state as usize] = epoch;
                s.queue.push_back((v, v_state));
            }
        }
    }
}

/// The write (non-`_READ`) irq usage bits.
pub(crate) const WRITE_USAGE: u16 = 0b0101_0101;
