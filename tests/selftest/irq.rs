//! The irq-safety groups, the queued read-lock tests, fs_reclaim, the wait-context matrix and
//! `hardirq_unsafe_softirq_safe`, in the kernel self-tests' notation.
//!
//! Generic events use `I_ENTER()`/`I_EXIT()`/`I_DISABLE()`/`I_ENABLE()` for the interrupt
//! operations of the variant (hard or soft) and `LOCK`/`UNLOCK` for its lock operation.

use crate::harness::{check_all, instantiate, Expect, Failure, Success};
use lockdep::ReportKind::{
    CircularDependency as Circ, InconsistentLockState as Incons, InvalidWaitContext as WaitCtx,
    IrqLockInversion as Inv, IrqSafeToUnsafe as SafeUnsafe, RecursiveLocking as Rec,
};

type Case = (String, String, Expect);

/// The hard and soft spellings of the generic interrupt operations.
fn irq_variant(generic: &str, soft: bool) -> String {
    let p = if soft { "SOFTIRQ" } else { "HARDIRQ" };
    generic
        .replace("I_ENTER()", &format!("{p}_ENTER()"))
        .replace("I_EXIT()", &format!("{p}_EXIT()"))
        .replace("I_DISABLE()", &format!("{p}_DISABLE()"))
        .replace("I_ENABLE()", &format!("{p}_ENABLE()"))
}

fn perms(events: &[&str]) -> Vec<(String, String)> {
    let orders: &[&str] = if events.len() == 2 {
        &["12", "21"]
    } else {
        &["123", "132", "213", "231", "312", "321"]
    };
    orders
        .iter()
        .map(|p| {
            (
                p.to_string(),
                p.bytes()
                    .map(|b| events[(b - b'1') as usize])
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
        .collect()
}

/// Every hard/soft × spin/wlock/rlock × permutation case of a group. `expect(perm, rlock)`
/// gives the expectation (rlock variants must pass in every group).
fn group(name: &str, events: &[&str], variants: &[&str], expect: impl Fn(&str) -> Expect) -> Vec<Case> {
    let mut out = Vec::new();
    for soft in [false, true] {
        for &v in variants {
            let (l, u) = match v {
                "spin" => ("L", "U"),
                "wlock" => ("WL", "WU"),
                _ => ("RL", "RU"),
            };
            for (p, seq) in perms(events) {
                let seq = instantiate(&irq_variant(&seq, soft), l, u);
                let e = if v == "rlock" { Success } else { expect(&p) };
                out.push((
                    format!("{name}_{}_{v}_{p}", if soft { "soft" } else { "hard" }),
                    seq,
                    e,
                ));
            }
        }
    }
    out
}

const ALL: &[&str] = &["spin", "wlock", "rlock"];
const RW: &[&str] = &["wlock", "rlock"];

/// Which fact arrives last decides the detector: the edge, A turning safe, B turning unsafe.
fn two_lock(p: &str) -> Expect {
    match p {
        "231" | "321" => Failure(SafeUnsafe),
        _ => Failure(Inv),
    }
}

#[test]
fn irqsafe1() {
    let e = ["I_ENTER(); LOCK(A); UNLOCK(A); I_EXIT();", "LOCK(A); UNLOCK(A);"];
    check_all(&group("irqsafe1", &e, ALL, |_| Failure(Incons)));
}

#[test]
fn irqsafe2a() {
    let e = [
        "SOFTIRQ_ENTER(); LOCK(A); UNLOCK(A); SOFTIRQ_EXIT();",
        "HARDIRQ_DISABLE(); LOCK(A); HARDIRQ_ENABLE(); UNLOCK(A);",
    ];
    // No IRQ_* mapping here: keep only the "hard" half (the events name their contexts).
    let cases: Vec<Case> = group("irqsafe2A", &e, ALL, |_| Failure(Incons))
        .into_iter()
        .filter(|c| c.0.contains("_hard_"))
        .collect();
    check_all(&cases);
}

#[test]
fn irqsafe2b() {
    let e = [
        "I_ENTER(); LOCK(A); UNLOCK(A); I_EXIT();",
        "I_DISABLE(); LOCK(A); I_ENABLE(); UNLOCK(A);",
    ];
    check_all(&group("irqsafe2B", &e, ALL, |_| Failure(Incons)));
}

#[test]
fn irqsafe3() {
    let e = [
        "LOCK(A); LOCK(B); UNLOCK(B); UNLOCK(A);",
        "LOCK(B); UNLOCK(B);",
        "I_ENTER(); LOCK(A); UNLOCK(A); I_EXIT();",
    ];
    check_all(&group("irqsafe3", &e, ALL, |_| Failure(Incons)));
}

#[test]
fn irqsafe4() {
    let e = [
        "I_DISABLE(); LOCK(A); LOCK(B); UNLOCK(B); UNLOCK(A); I_ENABLE();",
        "LOCK(B); UNLOCK(B);",
        "I_ENTER(); LOCK(A); UNLOCK(A); I_EXIT();",
    ];
    check_all(&group("irqsafe4", &e, ALL, two_lock));
}

#[test]
fn irq_inversion() {
    let e = [
        "I_DISABLE(); WL(A); LOCK(B); UNLOCK(B); WU(A); I_ENABLE();",
        "LOCK(B); UNLOCK(B);",
        "I_ENTER(); RL(A); RU(A); I_EXIT();",
    ];
    check_all(&group("irq_inversion", &e, ALL, two_lock));
}

#[test]
fn irq_read_recursion() {
    let e = [
        "I_DISABLE(); WL(A); WU(A); I_ENABLE();",
        "RL(A); RU(A);",
        "I_ENTER(); LOCK(A); L(B); U(B); UNLOCK(A); I_EXIT();",
    ];
    check_all(&group("irq_read_recursion", &e, RW, |_| Failure(Incons)));
}

#[test]
fn irq_read_recursion2() {
    let e = [
        "I_DISABLE(); L(B); LOCK(A); UNLOCK(A); U(B); I_ENABLE();",
        "RL(A); RU(A);",
        "I_ENTER(); L(B); U(B); I_EXIT();",
    ];
    check_all(&group("irq_read_recursion2", &e, RW, two_lock));
}

#[test]
fn irq_read_recursion3() {
    let e = [
        "I_DISABLE(); WL(B); LOCK(A); UNLOCK(A); WU(B); I_ENABLE();",
        "RL(A); RU(A);",
        "I_ENTER(); RL(B); RU(B); I_EXIT();",
    ];
    check_all(&group("irq_read_recursion3", &e, RW, two_lock));
}

fn case(name: &str, seq: &str, e: Expect) -> Case {
    (name.to_string(), seq.to_string(), e)
}

/// Queued (non-recursive) readers in process context; readers in interrupts stay recursive.
#[test]
fn queued_read_locks() {
    check_all(&[
        case(
            "queued_read_lock_hardirq_RE_Er",
            "HARDIRQ_ENTER(); RL(A); WL(B); WU(B); RU(A); HARDIRQ_EXIT(); \
             HARDIRQ_DISABLE(); WL(B); QRL(A); QRU(A); WU(B); HARDIRQ_ENABLE();",
            Failure(Circ),
        ),
        case(
            "queued_read_lock_hardirq_ER_rE",
            "HARDIRQ_ENTER(); WL(B); RL(A); RU(A); WU(B); HARDIRQ_EXIT(); \
             HARDIRQ_DISABLE(); QRL(A); WL(B); WU(B); QRU(A); HARDIRQ_ENABLE();",
            Success,
        ),
        case(
            "queued_read_lock_hardirq_inversion",
            "HARDIRQ_ENTER(); WL(B); WU(B); HARDIRQ_EXIT(); \
             HARDIRQ_DISABLE(); WL(B); QRL(A); QRU(A); WU(B); HARDIRQ_ENABLE(); QRL(A); QRU(A);",
            Failure(Inv),
        ),
    ]);
}

#[test]
fn fs_reclaim() {
    check_all(&[
        case(
            "fs_reclaim_correct_nesting",
            "FS_RECLAIM_ACQUIRE(); MIGHT_ALLOC_NOFS(); FS_RECLAIM_RELEASE();",
            Success,
        ),
        case(
            "fs_reclaim_wrong_nesting",
            "FS_RECLAIM_ACQUIRE(); MIGHT_ALLOC_KERNEL(); FS_RECLAIM_RELEASE();",
            Failure(Rec),
        ),
        // memalloc_nofs_save() strips __GFP_FS: the allocation does not enter fs_reclaim.
        case(
            "fs_reclaim_protected_nesting",
            "FS_RECLAIM_ACQUIRE(); MEMALLOC_NOFS_SAVE(); MIGHT_ALLOC_KERNEL(); MEMALLOC_NOFS_RESTORE(); FS_RECLAIM_RELEASE();",
            Success,
        ),
    ]);
}

/// `<inner>_in_<outer>`: enter the outer context, take the inner lock, leave both.
#[test]
fn wait_context_matrix() {
    let outers: [(&str, &str, &str, [bool; 4]); 9] = [
        (
            "HARDIRQ",
            "HARDIRQ_ENTER();",
            "HARDIRQ_EXIT();",
            [true, true, true, false],
        ),
        (
            "NOTTHREADED_HARDIRQ",
            "NOTTHREADED_HARDIRQ_ENTER();",
            "HARDIRQ_EXIT();",
            [true, true, false, false],
        ),
        (
            "SOFTIRQ",
            "SOFTIRQ_ENTER();",
            "SOFTIRQ_EXIT();",
            [true, true, true, false],
        ),
        ("RCU", "RCU_LOCK();", "RCU_UNLOCK();", [true, true, true, false]),
        (
            "RCU_BH",
            "RCU_BH_LOCK();",
            "RCU_BH_UNLOCK();",
            [true, true, true, false],
        ),
        (
            "RCU_SCHED",
            "RCU_SCHED_LOCK();",
            "RCU_SCHED_UNLOCK();",
            [true, true, false, false],
        ),
        ("raw_spinlock", "RAWL(A);", "RAWU(A);", [true, true, false, false]),
        ("spinlock", "L(A);", "U(A);", [true, true, true, false]),
        ("mutex", "ML(A);", "MU(A);", [true, true, true, true]),
    ];
    let inners = [
        ("RCU", "RCU_LOCK();", "RCU_UNLOCK();"),
        ("raw_spinlock", "RAWL(B);", "RAWU(B);"),
        ("spinlock", "L(B);", "U(B);"),
        ("mutex", "ML(B);", "MU(B);"),
    ];
    let mut cases = Vec::new();
    for (outer, enter, leave, ok) in outers {
        for (i, (inner, take, drop)) in inners.iter().enumerate() {
            // RCU inside RCU would be the same pseudo-lock twice (a recursive read): fine.
            let seq = format!("{enter} {take} {drop} {leave}");
            let e = if ok[i] { Success } else { Failure(WaitCtx) };
            cases.push(case(&format!("{inner}_in_{outer}"), &seq, e));
        }
    }
    check_all(&cases);
}

#[test]
fn hardirq_unsafe_softirq_safe() {
    check_all(&[case(
        "hardirq_deadlock_softirq_not_deadlock",
        "ML(A); HARDIRQ_DISABLE(); L(C); U(C); HARDIRQ_ENABLE(); MU(A); \
         HARDIRQ_ENTER(); L(A); U(A); HARDIRQ_EXIT(); \
         HARDIRQ_DISABLE(); L(A); L(B); U(B); U(A); HARDIRQ_ENABLE(); \
         HARDIRQ_DISABLE(); L(B); L(C); U(C); U(B); HARDIRQ_ENABLE(); \
         SOFTIRQ_ENTER(); L(D); U(D); SOFTIRQ_EXIT(); \
         SOFTIRQ_DISABLE(); L(D); U(D); SOFTIRQ_ENABLE(); \
         HARDIRQ_DISABLE(); L(C); L(D); U(D); U(C); HARDIRQ_ENABLE();",
        Failure(SafeUnsafe),
    )]);
}
