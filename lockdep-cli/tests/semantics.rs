//! The merge's cycle search follows the kernel's read/write rules, independently of the
//! engine: a cycle deadlocks only if it is *strong*, with no `-(xR)->` dependency (a recursive
//! reader acquired) followed by an `-(Sx)->` one (a reader held). Each case has its nearest
//! legitimate neighbour.

mod common;

fn merge_code(name: &str, deps: &[(&str, &str, &[&str])]) -> (i32, String) {
    let dir = common::fresh_dir(&format!("semantics-{name}"));
    let dump = common::write_dump(&dir, name, deps);
    let run = common::lockdep(&["merge", dump.to_str().unwrap()]);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    (run.code, run.stdout)
}

#[test]
fn exclusive_both_ways_is_a_cycle() {
    assert_eq!(merge_code("en", &[("a", "b", &["EN"]), ("b", "a", &["EN"])]).0, 1);
}

#[test]
fn one_order_only_is_no_cycle() {
    let (code, out) = merge_code(
        "dag",
        &[("a", "b", &["EN"]), ("b", "c", &["EN"]), ("a", "c", &["EN"])],
    );
    assert_eq!(code, 0);
    assert!(out.contains("0 cycles"), "{out}");
}

#[test]
fn recursive_readers_under_readers_are_no_cycle() {
    // Readers held, recursive readers acquired both ways: readers never block each other.
    assert_eq!(merge_code("sr", &[("a", "b", &["SR"]), ("b", "a", &["SR"])]).0, 0);
}

#[test]
fn recursive_readers_under_writers_are_a_cycle() {
    // A writer held while a recursive reader waits for the other's writer: deadlock.
    assert_eq!(merge_code("er", &[("a", "b", &["ER"]), ("b", "a", &["ER"])]).0, 1);
}

#[test]
fn writers_under_readers_are_a_cycle() {
    assert_eq!(merge_code("sn", &[("a", "b", &["SN"]), ("b", "a", &["SN"])]).0, 1);
}

#[test]
fn a_recursive_reader_followed_by_a_held_reader_breaks_the_cycle() {
    // At b: arrived as a recursive reader, leaves as a held reader: not strong.
    assert_eq!(
        merge_code("er-sn", &[("a", "b", &["ER"]), ("b", "a", &["SN"])]).0,
        0
    );
    // The same pair with an exclusive kind recorded too is strong again.
    assert_eq!(
        merge_code("er-sn-en", &[("a", "b", &["ER"]), ("b", "a", &["SN", "EN"])]).0,
        1
    );
}

#[test]
fn a_strong_path_around_a_weak_one_is_found() {
    // a -> b is only weak into c (SR then SR), but a -> d -> c is strong.
    let deps: &[(&str, &str, &[&str])] = &[
        ("c", "a", &["EN"]),
        ("a", "b", &["ER"]),
        ("b", "c", &["SR"]),
        ("a", "d", &["EN"]),
        ("d", "c", &["EN"]),
    ];
    let (code, out) = merge_code("around", deps);
    assert_eq!(code, 1);
    assert!(out.contains("summary: a -> d -> c -> a"), "{out}");
    assert!(!out.contains("summary: a -> b -> c -> a"), "{out}");
}

#[test]
fn cycles_of_two_dumps_are_one_cycle_per_class_set() {
    let dir = common::fresh_dir("two-sets");
    let d1 = common::write_dump(&dir, "one", &[("a", "b", &["EN"]), ("c", "d", &["EN"])]);
    let d2 = common::write_dump(
        &dir,
        "two",
        &[("b", "a", &["EN"]), ("d", "c", &["EN"]), ("b", "a", &["EN"])],
    );
    let run = common::lockdep(&["merge", d1.to_str().unwrap(), d2.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("2 dumps, 4 classes, 4 dependencies: 2 cycles"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("summary: a -> b -> a"));
    assert!(run.stdout.contains("summary: c -> d -> c"));
    let docs =
        common::assert_reports_valid(&common::lockdep(&["merge", "--json", dir.to_str().unwrap()]).stdout);
    assert_eq!(docs.len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
