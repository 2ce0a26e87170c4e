//! The report directory: one `<stem>.txt` and `<stem>.json` per distinct report, written
//! atomically, shared safely by many threads and processes.
//!
//! The multi-process case runs this very test binary again as its children (filtered to
//! [`child_writes_reports`], which does nothing unless the parent set `REPORT_DIR_CHILD`).

use lockdep::{LockClass, Mutex, ReportKind};
use lockdep_suite::serial;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Barrier;

static DIR_A: LockClass = LockClass::new("dir_a");
static DIR_B: LockClass = LockClass::new("dir_b");
static SHARED_A: LockClass = LockClass::new("shared_a");
static SHARED_B: LockClass = LockClass::new("shared_b");

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lockdep-report-dir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn class(name: String) -> &'static LockClass {
    Box::leak(Box::new(LockClass::new(Box::leak(name.into_boxed_str()))))
}

/// Takes the classes in both orders: one cycle.
fn abba(a: &'static LockClass, b: &'static LockClass) {
    let (x, y) = (Mutex::with_class((), a), Mutex::with_class((), b));
    {
        let _x = x.lock();
        let _y = y.lock();
    }
    let _y = y.lock();
    let _x = x.lock();
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn one_pair_of_files_per_distinct_report() {
    let _s = serial();
    let dir = fresh_dir("single");
    lockdep::set_report_dir(Some(dir.clone()));
    abba(&DIR_A, &DIR_B);
    let first = lockdep::take_reports();
    lockdep::reset();
    abba(&DIR_A, &DIR_B); // the same violation, reported again after the reset: same files
    let again = lockdep::take_reports();
    {
        // Two locks of one class nested without annotation: recursive locking.
        let (m1, m2) = (Mutex::with_class((), &DIR_A), Mutex::with_class((), &DIR_A));
        let _g1 = m1.lock();
        let _g2 = m2.lock();
    }
    let recursive = lockdep::take_reports();
    lockdep::set_report_dir(None);

    assert_eq!(first.len(), 1);
    assert_eq!(again.len(), 1);
    assert_eq!(first[0].stem(), again[0].stem());
    assert!(first[0].stem().starts_with("circular_dependency-"));
    assert_eq!(recursive.len(), 1, "{recursive:?}");
    assert_ne!(recursive[0].stem(), first[0].stem());
    let expected: BTreeSet<String> = [&first[0], &recursive[0]]
        .iter()
        .flat_map(|r| [format!("{}.json", r.stem()), format!("{}.txt", r.stem())])
        .collect();
    assert_eq!(files(&dir), expected);

    let stem = first[0].stem();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap()).unwrap();
    assert_eq!(json["kind"], "circular_dependency");
    assert_eq!(json["summary"], "dir_a -> dir_b -> dir_a");
    let text = std::fs::read_to_string(dir.join(format!("{stem}.txt"))).unwrap();
    assert!(text.contains("WARNING: possible circular locking dependency detected"));
    assert!(text.contains("summary: dir_a -> dir_b -> dir_a"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_directory_no_files() {
    let _s = serial();
    let dir = fresh_dir("none");
    lockdep::set_report_dir(None);
    abba(&DIR_A, &DIR_B);
    assert_eq!(lockdep_suite::kinds(), vec![ReportKind::CircularDependency]);
    assert!(!dir.exists());
}

const THREADS: usize = 8;
const CHILDREN: usize = 4;

/// The work of one process: `THREADS` threads at once, each closing the shared cycle, a cycle
/// named after the thread (the same names in every process) and a cycle of its own process.
fn write_reports(process: usize) {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let barrier = &barrier;
            s.spawn(move || {
                let per_thread = (class(format!("thread{t}_a")), class(format!("thread{t}_b")));
                let per_process = (
                    class(format!("process{process}_thread{t}_a")),
                    class(format!("process{process}_thread{t}_b")),
                );
                barrier.wait();
                abba(&SHARED_A, &SHARED_B);
                abba(per_thread.0, per_thread.1);
                abba(per_process.0, per_process.1);
            });
        }
    });
}

#[test]
fn child_writes_reports() {
    let Ok(dir) = std::env::var("REPORT_DIR_CHILD") else {
        return; // only meaningful as a child of the test below
    };
    let process: usize = std::env::var("REPORT_DIR_PROCESS").unwrap().parse().unwrap();
    let _s = serial();
    lockdep::set_report_dir(Some(dir.into()));
    write_reports(process);
    lockdep::set_report_dir(None);
}

#[test]
fn many_threads_and_processes_share_one_directory() {
    if std::env::var("REPORT_DIR_CHILD").is_ok() {
        return;
    }
    let dir = fresh_dir("shared");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (1..=CHILDREN)
        .map(|k| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_writes_reports", "--test-threads=1", "-q"])
                .env("REPORT_DIR_CHILD", &dir)
                .env("REPORT_DIR_PROCESS", k.to_string())
                .env("LOCKDEP_ACTION", "collect")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    {
        let _s = serial();
        lockdep::set_report_dir(Some(dir.clone()));
        write_reports(0);
        lockdep::set_report_dir(None);
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }

    let names = files(&dir);
    let leftovers: Vec<&String> = names.iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // 1 shared cycle + THREADS thread-named ones (the same in every process) + THREADS per
    // process, each as a .json and a .txt.
    let reports = 1 + THREADS + THREADS * (CHILDREN + 1);
    assert_eq!(names.len(), 2 * reports, "{names:#?}");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../lockdep/schema/report.schema.json")).unwrap();
    let mut summaries = BTreeSet::new();
    for name in names.iter().filter(|n| n.ends_with(".json")) {
        let stem = name.trim_end_matches(".json");
        let body = std::fs::read_to_string(dir.join(name)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            lockdep_suite::schema::validate(&schema, &json),
            Vec::<String>::new()
        );
        assert_eq!(
            format!(
                "{}-{}",
                json["kind"].as_str().unwrap(),
                json["signature"].as_str().unwrap()
            ),
            stem
        );
        let text = std::fs::read_to_string(dir.join(format!("{stem}.txt"))).unwrap();
        assert_eq!(
            text.trim(),
            format!(
                "{}\n{}",
                "=".repeat(json["headline"].as_str().unwrap().len()),
                json["text"].as_str().unwrap().trim_end()
            )
        );
        assert!(
            summaries.insert(json["summary"].as_str().unwrap().to_string()),
            "two files for {}",
            json["summary"]
        );
    }
    assert!(summaries.contains("shared_a -> shared_b -> shared_a"));
    assert!(summaries.contains("process3_thread7_a -> process3_thread7_b -> process3_thread7_a"));
    let _ = std::fs::remove_dir_all(&dir);
}
