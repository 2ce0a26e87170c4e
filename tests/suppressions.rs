//! Suppressions: a reviewed dependency marked allowed, in code or in the file named by
//! `LOCKDEP_SUPPRESSIONS`, drops the reports it covers and counts them in `stats()`; a rule
//! for another dependency covers nothing. Rules are process-wide, so this is its own binary
//! and the file case runs in a child process (this binary again).

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::serial;

static SUP_A: LockClass = LockClass::new("sup_a");
static SUP_B: LockClass = LockClass::new("sup_b");
static SUP_C: LockClass = LockClass::new("sup_c");
static SUP_D: LockClass = LockClass::new("sup_d");
static FILE_A: LockClass = LockClass::new("file_a");
static FILE_B: LockClass = LockClass::new("file_b");

fn abba(a: &'static LockClass, b: &'static LockClass) {
    let (x, y) = (Mutex::with_class((), a), Mutex::with_class((), b));
    drop((x.lock(), y.lock()));
    let _y = y.lock();
    let _x = x.lock();
}

#[test]
fn an_allowed_dependency_drops_the_cycle_and_counts_it() {
    let _s = serial();
    let before = lockdep::stats();
    lockdep::allow_dependency("sup_b", "sup_a", "sup_a is only taken under sup_b at start-up");
    abba(&SUP_A, &SUP_B); // sup_b -> sup_a closes the cycle: covered
    assert!(lockdep::take_reports().is_empty());
    abba(&SUP_C, &SUP_D); // not covered
    assert_eq!(lockdep_suite::kinds(), vec![ReportKind::CircularDependency]);
    let after = lockdep::stats();
    assert_eq!(after.suppressed - before.suppressed, 1);
    assert_eq!(
        after.reports_of(ReportKind::CircularDependency) - before.reports_of(ReportKind::CircularDependency),
        2,
        "both found, one suppressed"
    );
}

#[test]
fn child_with_a_suppression_file() {
    if std::env::var_os("LOCKDEP_SUPPRESSIONS").is_none() {
        return;
    }
    let _s = serial();
    abba(&FILE_A, &FILE_B);
    let r = lockdep::take_reports();
    assert_eq!(
        lockdep::stats().suppressed,
        std::env::var("EXPECT_SUPPRESSED")
            .unwrap()
            .parse::<u64>()
            .unwrap()
    );
    assert_eq!(r.len() as u64, 1 - lockdep::stats().suppressed, "{r:?}");
}

#[test]
fn the_suppression_file_is_read_and_a_bad_one_is_ignored_with_a_message() {
    if std::env::var_os("LOCKDEP_SUPPRESSIONS").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockdep-suppressions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |text: &str, expect: u64| {
        let file = dir.join("rules.txt");
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_with_a_suppression_file", "-q", "--nocapture"])
            .env("LOCKDEP_SUPPRESSIONS", &file)
            .env("EXPECT_SUPPRESSED", expect.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let ok = run("# reviewed\nallow file_b -> file_a: start-up only\n", 1);
    assert!(!ok.contains("lockdep:"), "{ok}");
    let other = run("allow file_a -> sup_c: another dependency\n", 0);
    assert!(!other.contains("ignoring"), "{other}");
    let bad = run("allow file_b -> file_a: fine\nallow nonsense\n", 0);
    assert!(bad.contains("lockdep: ignoring LOCKDEP_SUPPRESSIONS="), "{bad}");
    assert!(
        bad.contains("line 2 is not `allow OUTER -> INNER: REASON`"),
        "{bad}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stats_show_capacities_and_reports_by_kind() {
    let _s = serial();
    let s = lockdep::stats();
    assert_eq!(s.max_classes, 16384);
    assert_eq!(s.max_dependencies, 32768);
    assert_eq!(s.max_chains, 65536);
    assert_eq!(s.max_stack_frames, 1 << 19);
    let (classes_left, deps_left, _, _) = s.left();
    assert_eq!(classes_left, s.max_classes - s.classes);
    assert_eq!(deps_left, s.max_dependencies - s.dependencies);
    let before = s.reports_of(ReportKind::RecursiveLocking);
    let (m1, m2) = (Mutex::with_class((), &SUP_A), Mutex::with_class((), &SUP_A));
    drop((m1.lock(), m2.lock()));
    assert_eq!(
        lockdep::stats().reports_of(ReportKind::RecursiveLocking),
        before + 1
    );
}
