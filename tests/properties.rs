//! Property tests against a brute-force reference model.
//!
//! * Sequences that respect one global order (every acquisition ranks above everything
//!   held), with releases in any order, must never be reported.
//! * For arbitrary sequences of exclusive locks, the validator must report exactly when a
//!   brute-force model — which records "held → new" for *every* held lock and searches the
//!   whole graph on every acquisition — finds an acquisition that closes a cycle.

use lockdep::{LockClass, Mutex, MutexGuard};
use lockdep_suite::serial;
use proptest::prelude::*;
use std::collections::BTreeSet;

const N: usize = 7;
static CLASSES: [LockClass; N] = [const { LockClass::new("prop") }; N];

#[derive(Clone, Debug)]
enum Op {
    /// Acquire a lock chosen by this number (interpreted against what is not held).
    Lock(usize),
    /// Release the held lock chosen by this number (any position, not only the top).
    Unlock(usize),
}

fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![3 => any::<usize>().prop_map(Op::Lock), 2 => any::<usize>().prop_map(Op::Unlock)],
        1..max,
    )
}

/// Runs `ops`, choosing each lock with `pick(held, n)`; returns the lock indices acquired in
/// order with the held set before each, and whether anything was reported.
fn run(ops: &[Op], pick: impl Fn(&[usize], usize) -> Option<usize>) -> (Vec<(Vec<usize>, usize)>, bool) {
    let locks: Vec<Mutex<()>> = CLASSES.iter().map(|c| Mutex::with_class((), c)).collect();
    let mut held: Vec<(usize, MutexGuard<'_, ()>)> = Vec::new();
    let mut trace = Vec::new();
    for op in ops {
        match *op {
            Op::Lock(n) => {
                let ids: Vec<usize> = held.iter().map(|(i, _)| *i).collect();
                if let Some(i) = pick(&ids, n) {
                    trace.push((ids, i));
                    held.push((i, locks[i].lock()));
                }
            }
            Op::Unlock(n) if !held.is_empty() => {
                let k = n % held.len();
                drop(held.remove(k));
            }
            Op::Unlock(_) => {}
        }
    }
    drop(held);
    (trace, !lockdep::take_reports().is_empty())
}

/// The reference: is there a path `from → … → to` in `edges`?
fn reaches(edges: &BTreeSet<(usize, usize)>, from: usize, to: usize) -> bool {
    let mut seen = [false; N];
    let mut stack = vec![from];
    while let Some(u) = stack.pop() {
        if u == to {
            return true;
        }
        if !std::mem::replace(&mut seen[u], true) {
            stack.extend(edges.iter().filter(|(a, _)| *a == u).map(|(_, b)| *b));
        }
    }
    false
}

fn model_finds_cycle(trace: &[(Vec<usize>, usize)]) -> bool {
    let mut edges = BTreeSet::new();
    let mut found = false;
    for (held, next) in trace {
        for &h in held {
            if reaches(&edges, *next, h) {
                found = true; // the closing edge is not recorded
            } else {
                edges.insert((h, *next));
            }
        }
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn global_order_is_never_reported(ops in ops(300)) {
        let _s = serial();
        let (_, reported) = run(&ops, |held, n| {
            let floor = held.iter().max().map_or(0, |m| m + 1);
            (floor < N).then(|| floor + n % (N - floor))
        });
        prop_assert!(!reported);
    }

    #[test]
    fn reports_exactly_when_the_model_finds_a_cycle(ops in ops(40)) {
        let _s = serial();
        let (trace, reported) = run(&ops, |held, n| {
            let free: Vec<usize> = (0..N).filter(|i| !held.contains(i)).collect();
            (!free.is_empty()).then(|| free[n % free.len()])
        });
        prop_assert_eq!(reported, model_finds_cycle(&trace), "trace: {:?}", trace);
    }
}

/// A reference for read/write-aware cycles: the dependency kinds of every recorded edge, and an
/// exhaustive search over (class, "the path so far ends non-recursive") states.
#[derive(Default)]
struct Reference {
    edges: std::collections::BTreeMap<(usize, usize), u8>,
}

/// Shared/exclusive holder × recursive/non-recursive acquirer, as bits.
fn kind(holder_read: u8, acquirer_read: u8) -> u8 {
    1 << ((holder_read == 0) as u8 + (((acquirer_read != 2) as u8) << 1))
}

const KIND_SR: u8 = 1;
const KIND_SN: u8 = 4;
const KIND_EN: u8 = 8;

impl Reference {
    /// Is there a strong path `next → … → prev` (so that `prev → next` closes a deadlock)?
    fn strong_path(&self, next: usize, next_read: u8, prev: usize, prev_read: u8) -> bool {
        let mut seen = BTreeSet::new();
        let mut todo = vec![(next, next_read != 2)];
        seen.insert(todo[0]);
        while let Some((u, may_start_shared)) = todo.pop() {
            for (&(a, b), &dep) in &self.edges {
                if a != u {
                    continue;
                }
                for k in [KIND_SR, 2, KIND_SN, KIND_EN] {
                    let starts_shared = k == KIND_SR || k == KIND_SN;
                    if dep & k == 0 || (starts_shared && !may_start_shared) {
                        continue;
                    }
                    let ends_n = k == KIND_SN || k == KIND_EN;
                    if b == prev && (prev_read == 0 || ends_n) {
                        return true;
                    }
                    if seen.insert((b, ends_n)) {
                        todo.push((b, ends_n));
                    }
                }
            }
        }
        false
    }

    /// Acquiring `next` over `stack` ((class, read, trylock) entries): is it a violation?
    fn acquire(&mut self, stack: &[(usize, u8, bool)], next: (usize, u8, bool)) -> bool {
        let (class, read, trylock) = next;
        if trylock {
            return false;
        }
        if stack
            .iter()
            .any(|&(c, r, _)| c == class && !(read == 2 && r != 0))
        {
            return true;
        }
        let mut bad = false;
        for &(c, r, t) in stack.iter().rev() {
            let k = kind(r, read);
            if self.edges.get(&(c, class)).copied().unwrap_or(0) & k == 0 {
                if self.strong_path(class, read, c, r) {
                    bad = true;
                } else {
                    *self.edges.entry((c, class)).or_insert(0) |= k;
                }
            }
            // Past trylocks and recursive readers: neither implies the dependencies of the
            // locks under it.
            if !t && r != 2 {
                break;
            }
        }
        bad
    }
}

static MAPS: [lockdep::LockMap; 6] = [const { lockdep::LockMap::new("prop_map") }; 6];

#[derive(Clone, Debug)]
enum RwOp {
    /// Acquire map `.0 % 6` with mode `.1 % 3` (write, read, recursive read), trylock if `.2`.
    Acquire(usize, u8, bool),
    Release,
}

fn rw_ops() -> impl Strategy<Value = Vec<RwOp>> {
    prop::collection::vec(
        prop_oneof![
            3 => (any::<usize>(), any::<u8>(), prop::bool::weighted(0.2)).prop_map(|(c, m, t)| RwOp::Acquire(c, m, t)),
            2 => Just(RwOp::Release),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// With readers, recursive readers and trylocks, the first report comes exactly at the
    /// acquisition where the reference first finds a strong cycle or a recursion.
    #[test]
    fn read_write_first_report_matches_the_reference(ops in rw_ops()) {
        let _s = serial();
        let mut reference = Reference::default();
        let mut stack: Vec<(usize, u8, bool)> = Vec::new();
        let mut guards = Vec::new();
        let mut expected = None;
        let mut got = None;
        for (step, op) in ops.iter().enumerate() {
            match *op {
                RwOp::Acquire(c, m, t) => {
                    let (class, read) = (c % MAPS.len(), m % 3);
                    if reference.acquire(&stack, (class, read, t)) && expected.is_none() {
                        expected = Some(step);
                    }
                    let map = &MAPS[class];
                    let g = match (read, t) {
                        (0, false) => map.lock(),
                        (0, true) => map.try_lock().unwrap(),
                        (1, true) => map.try_read().unwrap(),
                        (1, false) => map.read(),
                        (_, true) => map.try_read_recursive().unwrap(),
                        _ => map.read_recursive(),
                    };
                    stack.push((class, read, t));
                    guards.push(g);
                }
                RwOp::Release => {
                    stack.pop();
                    guards.pop();
                }
            }
            if got.is_none() && !lockdep::take_reports().is_empty() {
                got = Some(step);
            }
            if expected.is_some() || got.is_some() {
                break;
            }
        }
        while guards.pop().is_some() {}
        prop_assert_eq!(got, expected, "ops: {:?}", ops);
    }
}
