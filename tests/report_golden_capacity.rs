//! Golden text and JSON of the capacity reports that a reset can undo: the dependency table,
//! the chain cache and the stack-trace store, each filled by a real program. (The class table
//! never empties, so its report is checked in `tests/capacity.rs`, its own binary.)

use lockdep::{LockClass, ReportKind, SpinLock};
use lockdep_suite::serial;

fn classes(prefix: &str, n: usize) -> Vec<SpinLock<()>> {
    (0..n)
        .map(|i| SpinLock::with_class((), LockClass::register(format!("{prefix}_{i}"))))
        .collect()
}

fn the(kind: ReportKind) -> lockdep::Report {
    let r = lockdep::take_reports();
    let hits: Vec<_> = r.into_iter().filter(|r| r.kind() == kind).collect();
    assert_eq!(hits.len(), 1, "{kind:?} reported once");
    hits.into_iter().next().unwrap()
}

#[test]
fn dependencies_exhausted() {
    let _s = serial();
    let locks = classes("dep", 260); // 33670 pairs taken in one order: no cycle, too many edges
    for (i, a) in locks.iter().enumerate() {
        let _a = a.lock();
        for b in &locks[i + 1..] {
            drop(b.lock());
        }
    }
    lockdep_suite::check_report(&the(ReportKind::DependenciesExhausted));
}

#[test]
fn chains_exhausted() {
    let _s = serial();
    let locks = classes("chain", 80); // 82160 triples, each a new chain of three classes
    for i in 0..locks.len() {
        let _a = locks[i].lock();
        for j in i + 1..locks.len() {
            let _b = locks[j].lock();
            for c in &locks[j + 1..] {
                drop(c.lock());
            }
        }
    }
    lockdep_suite::check_report(&the(ReportKind::ChainsExhausted));
}

/// Takes `a` then `b` at the bottom of a call tree whose path spells `path`'s low `depth`
/// bits: each bit picks one of two call sites, so every path records a different stack.
#[inline(never)]
fn down(path: u32, depth: u32, a: &SpinLock<()>, b: &SpinLock<()>) {
    if depth == 0 {
        let _a = a.lock();
        drop(b.lock());
    } else if path & 1 == 0 {
        down(path >> 1, depth - 1, a, b);
        std::hint::black_box(());
    } else {
        down(path >> 1, depth - 1, a, b);
        std::hint::black_box(1);
    }
}

#[test]
fn stack_traces_exhausted() {
    let _s = serial();
    let locks = classes("trace", 200); // 19900 new dependencies, each with its own stack
    let mut path = 0;
    for i in 0..locks.len() {
        for j in i + 1..locks.len() {
            down(path, 20, &locks[i], &locks[j]);
            path += 1;
        }
    }
    lockdep_suite::check_report(&the(ReportKind::StackTracesExhausted));
}
