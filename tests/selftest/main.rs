//! The non-irq groups of the kernel's `lib/locking-selftest.c`, case by case.
//!
//! Each case is written in the kernel's notation (see `harness.rs`) and checked the way the
//! kernel's `dotest()` does — FAILURE: the validator reported something; SUCCESS: it did not —
//! and, beyond the kernel, that the first report is of the expected kind.

mod harness;
mod irq;

use harness::{check_all, instantiate, Expect, Failure, Success, VARIANTS};
use lockdep::ReportKind::{BadUnlock, CircularDependency as Circ, HeldLockFreed, RecursiveLocking as Rec};

fn case(name: &str, seq: &str, e: Expect) -> (String, String, Expect) {
    (name.to_string(), seq.to_string(), e)
}

/// `LOCK_UNLOCK_2(x, y)`.
fn lu2(x: &str, y: &str) -> String {
    format!("LOCK({x}); LOCK({y}); UNLOCK({y}); UNLOCK({x});")
}

/// The basic deadlock groups, `DO_TESTCASE_6R`: every variant fails but the recursive-read
/// rwlock one.
fn six_r(name: &str, generic: &str, kind: lockdep::ReportKind) -> Vec<(String, String, Expect)> {
    VARIANTS
        .iter()
        .map(|&(v, l, u)| {
            let e = if v == "rlock" { Success } else { Failure(kind) };
            case(&format!("{name}_{v}"), &instantiate(generic, l, u), e)
        })
        .collect()
}

#[test]
fn aa() {
    check_all(&six_r("AA", "LOCK(X1); LOCK(X2);", Rec));
}

#[test]
fn abba() {
    check_all(&six_r("ABBA", &[lu2("A", "B"), lu2("B", "A")].concat(), Circ));
}

#[test]
fn abbcca() {
    check_all(&six_r(
        "ABBCCA",
        &[lu2("A", "B"), lu2("B", "C"), lu2("C", "A")].concat(),
        Circ,
    ));
}

#[test]
fn abcabc() {
    check_all(&six_r(
        "ABCABC",
        &[lu2("A", "B"), lu2("C", "A"), lu2("B", "C")].concat(),
        Circ,
    ));
}

#[test]
fn abbccdda() {
    let seq = [lu2("A", "B"), lu2("B", "C"), lu2("C", "D"), lu2("D", "A")].concat();
    check_all(&six_r("ABBCCDDA", &seq, Circ));
}

#[test]
fn abcdbdda() {
    let seq = [lu2("A", "B"), lu2("C", "D"), lu2("B", "D"), lu2("D", "A")].concat();
    check_all(&six_r("ABCDBDDA", &seq, Circ));
}

#[test]
fn abcdbcda() {
    let seq = [lu2("A", "B"), lu2("C", "D"), lu2("B", "C"), lu2("D", "A")].concat();
    check_all(&six_r("ABCDBCDA", &seq, Circ));
}

/// `DO_TESTCASE_6`: double unlock and re-initialising a held lock fail for every variant,
/// the recursive-read one included.
#[test]
fn double_unlock_and_init_held() {
    let mut cases = Vec::new();
    let inits = ["SI", "RWI", "RWI", "MI", "RWSI", "RWSI"];
    for (&(v, l, u), init) in VARIANTS.iter().zip(inits) {
        cases.push(case(
            &format!("double_unlock_{v}"),
            &format!("{l}(A); {u}(A); {u}(A);"),
            Failure(BadUnlock),
        ));
        cases.push(case(
            &format!("init_held_{v}"),
            &format!("{l}(A); {init}(A);"),
            Failure(HeldLockFreed),
        ));
    }
    check_all(&cases);
}

/// Releasing in a different order than acquiring is legitimate (the old "bad unlock order"
/// group expects SUCCESS), and the re-validation it triggers must not invent a violation.
#[test]
fn bad_unlock_order() {
    let cases: Vec<_> = VARIANTS
        .iter()
        .map(|&(v, l, u)| {
            let seq = instantiate("LOCK(A); LOCK(B); UNLOCK(A); UNLOCK(B);", l, u);
            case(&format!("bad_unlock_order_{v}"), &seq, Success)
        })
        .chain(VARIANTS.iter().map(|&(v, l, u)| {
            let seq = instantiate(
                "LOCK(A); LOCK(B); LOCK(C); UNLOCK(B); UNLOCK(C); UNLOCK(A);",
                l,
                u,
            );
            case(&format!("bad_unlock_order_3_{v}"), &seq, Success)
        }))
        .collect();
    check_all(&cases);
}

/// The recursive-read / mixed read-write block (rwlock column, then rw_semaphore column).
#[test]
fn read_recursion_block() {
    check_all(&[
        case("rlock_AA1", "RL(X1); RL(X1);", Success),
        case("rsem_AA1", "RSL(X1); RSL(X1);", Failure(Rec)),
        case("rlock_AA1B", "RL(X1); RL(X2);", Success),
        case("rsem_AA1B", "RSL(X1); RSL(X2);", Failure(Rec)),
        case("rlock_AA2", "RL(X1); WL(X2);", Failure(Rec)),
        case("rsem_AA2", "RSL(X1); WSL(X2);", Failure(Rec)),
        case("rlock_AA3", "WL(X1); RL(X2);", Failure(Rec)),
        case("rsem_AA3", "WSL(X1); RSL(X2);", Failure(Rec)),
        case(
            "rlock_ABBA1",
            "RL(X1); L(Y1); U(Y1); RU(X1); L(Y1); WL(X1); WU(X1); U(Y1);",
            Failure(Circ),
        ),
        case(
            "rwsem_ABBA1",
            "RSL(X1); ML(Y1); MU(Y1); RSU(X1); ML(Y1); WSL(X1); WSU(X1); MU(Y1);",
            Failure(Circ),
        ),
        case(
            "rlock_ABBA2",
            "RL(X1); L(Y1); U(Y1); RU(X1); L(Y1); RL(X1); RU(X1); U(Y1);",
            Success,
        ),
        case(
            "rwsem_ABBA2",
            "RSL(X1); ML(Y1); MU(Y1); RSU(X1); ML(Y1); RSL(X1); RSU(X1); MU(Y1);",
            Failure(Circ),
        ),
        case(
            "rlock_ABBA3",
            "WL(X1); L(Y1); U(Y1); WU(X1); L(Y1); WL(X1); WU(X1); U(Y1);",
            Failure(Circ),
        ),
        case(
            "rwsem_ABBA3",
            "WSL(X1); ML(Y1); MU(Y1); WSU(X1); ML(Y1); WSL(X1); WSU(X1); MU(Y1);",
            Failure(Circ),
        ),
        case(
            "rlock_chaincache_ABBA1",
            "RL(X1); L(Y1); U(Y1); RU(X1); L(Y1); RL(X1); RU(X1); U(Y1); L(Y1); WL(X1); WU(X1); U(Y1);",
            Failure(Circ),
        ),
    ]);
}

/// The six orders of three events, as `GENERATE_PERMUTATIONS_3_EVENTS` runs them.
fn permutations(name: &str, e: [&str; 3], expect: Expect) -> Vec<(String, String, Expect)> {
    ["123", "132", "213", "231", "312", "321"]
        .iter()
        .map(|p| {
            let seq: String = p
                .bytes()
                .map(|b| e[(b - b'1') as usize])
                .collect::<Vec<_>>()
                .join(" ");
            case(&format!("{name}_{p}"), &seq, expect)
        })
        .collect()
}

/// The three-lock recursive-read block: a cycle is a deadlock only if it is strong — no
/// recursive-read acquisition directly followed by a shared hold.
#[test]
fn three_lock_read_cycles() {
    let mut cases = Vec::new();
    cases.extend(permutations(
        "W1R2_W2R3_W3R1",
        [
            "WL(X1); RL(Y1); RU(Y1); WU(X1);",
            "WL(Y1); RL(Z1); RU(Z1); WU(Y1);",
            "WL(Z1); RL(X1); RU(X1); WU(Z1);",
        ],
        Failure(Circ),
    ));
    cases.extend(permutations(
        "W1W2_R2R3_W3R1",
        [
            "WL(X1); WL(Y1); WU(Y1); WU(X1);",
            "RL(Y1); RL(Z1); RU(Z1); RU(Y1);",
            "WL(Z1); RL(X1); RU(X1); WU(Z1);",
        ],
        Failure(Circ),
    ));
    cases.extend(permutations(
        "W1W2_R2R3_R3W1",
        [
            "WL(X1); RL(Y1); RU(Y1); WU(X1);",
            "RL(Y1); RL(Z1); RU(Z1); RU(Y1);",
            "WL(Z1); WL(X1); WU(X1); WU(Z1);",
        ],
        Success,
    ));
    cases.extend(permutations(
        "W1R2_R2R3_W3W1",
        [
            "WL(X1); WL(Y1); WU(Y1); WU(X1);",
            "RL(Y1); RL(Z1); RU(Z1); RU(Y1);",
            "RL(Z1); WL(X1); WU(X1); RU(Z1);",
        ],
        Success,
    ));
    check_all(&cases);
}

/// Trylock rules: a trylock adds no dependency into the lock it takes, but locks taken while
/// it is held depend on it; a blocking acquisition of a class held by trylock is recursion.
#[test]
fn trylock_rules() {
    check_all(&[
        // ABBA where the inverted side only trylocks: no deadlock possible.
        case(
            "try_abba",
            "L(A); L(B); U(B); U(A); L(B); TL(A); U(A); U(B);",
            Success,
        ),
        // The trylocked lock is held: taking B under it is a real dependency A -> B.
        case(
            "try_then_block",
            "L(B); L(A); U(A); U(B); TL(A); L(B); U(B); U(A);",
            Failure(Circ),
        ),
        // Trylocking a held class is never reported.
        case("try_same_class", "L(X1); TL(X2); U(X2); U(X1);", Success),
        // Blocking on a class held by trylock is recursion.
        case(
            "block_after_try_same_class",
            "TL(X1); L(X2); U(X2); U(X1);",
            Failure(Rec),
        ),
        // Trylocks on top of the stack each get a dependency to the next blocking lock.
        case(
            "try_on_top",
            "L(A); L(C); U(C); U(A); L(B); TL(C); L(A); U(A); U(C); U(B);",
            Failure(Circ),
        ),
        // ...and so does the first blocking lock below the trylocks.
        case(
            "block_below_try",
            "L(A); L(B); U(B); U(A); L(B); TL(C); L(A); U(A); U(C); U(B);",
            Failure(Circ),
        ),
        // Only the first blocking lock: deeper ones already depend on it.
        case(
            "deeper_not_direct",
            "L(C); L(B); L(A); U(A); U(B); U(C);",
            Success,
        ),
    ]);
}

/// Chains are cached by class, read state and trylock bit: a chain validated in one flavour
/// must not hide a violation in another.
#[test]
fn chain_cache_flavours() {
    check_all(&[
        case(
            "cache_try_then_block",
            "L(A); TL(B); U(B); U(A); L(B); L(A); U(A); U(B); L(A); L(B); U(B); U(A);",
            Failure(Circ),
        ),
        case(
            "cache_rec_read_then_read",
            "L(Y1); RL(X1); RU(X1); U(Y1); QRL(X1); L(Y1); U(Y1); QRU(X1); L(Y1); QRL(X1); QRU(X1); U(Y1);",
            Failure(Circ),
        ),
    ]);
}
