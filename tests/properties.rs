//! Property tests against a brute-force reference model.
//!
//! * Sequences that respect one global order (every acquisition ranks above everything
//!   held), with releases in any order, must never be reported.
//! * For arbitrary sequences of exclusive locks, the validator must report exactly when a
//!   brute-force model — which records "held → new" for *every* held lock and searches the
//!   whole graph on every acquisition — finds an acquisition that closes a cycle.
//!
//! Readers, recursive readers, trylocks, subclasses, nest locks, irq contexts and several
//! threads are the oracle's (`tests/oracle/`), whose model shares nothing with the validator.

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
