//! Graph dumps: `lockdep::dump_graph` on request, and `LOCKDEP_GRAPH_DUMP=DIR` at process
//! exit (checked on a child process: this test binary run again, filtered to
//! [`child_records_a_dependency`]). Every dump validates against
//! `lockdep/schema/graph.schema.json`.

use lockdep::{LockClass, Mutex, RwLock};
use lockdep_suite::serial;
use serde_json::Value;
use std::path::PathBuf;

static DUMP_A: LockClass = LockClass::new("dump_a");
static DUMP_B: LockClass = LockClass::new("dump_b");

fn schema() -> Value {
    serde_json::from_str(include_str!("../lockdep/schema/graph.schema.json")).unwrap()
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lockdep-graph-dump-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn dependency<'a>(dump: &'a Value, from: &str, to: &str) -> Option<&'a Value> {
    dump["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["from"] == from && d["to"] == to)
}

#[test]
fn dump_on_request_has_classes_dependencies_kinds_stacks_and_stats() {
    let _s = serial();
    let a = Mutex::with_class((), &DUMP_A);
    let b = RwLock::with_class((), &DUMP_B);
    let site = Mutex::new(()); // a call-site class, named file:line:col
    {
        let _a = a.lock();
        let _b = b.read();
        let _c = site.lock();
    }
    let dir = fresh_dir("request");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.json");
    lockdep::dump_graph(&path).unwrap();
    let dump: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        lockdep_suite::schema::validate(&schema(), &dump),
        Vec::<String>::new()
    );
    assert_eq!(dump["version"], lockdep::GRAPH_SCHEMA_VERSION);
    assert_eq!(dump["process"]["pid"], std::process::id());

    let ab = dependency(&dump, "dump_a", "dump_b").expect("dump_a -> dump_b");
    assert_eq!(ab["kinds"], serde_json::json!(["EN"]));
    assert_eq!(ab["from_mode"], "write");
    assert_eq!(ab["to_mode"], "read");
    assert_eq!(ab["to_site"]["file"], "tests/graph_dump.rs");
    assert!(
        ab["stack"].as_array().unwrap().iter().any(|f| f["function"]
            .as_str()
            .unwrap()
            .contains("dump_on_request_has_classes")),
        "{ab:#}"
    );
    let site_name = dump["classes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .find(|n| n.starts_with("tests/graph_dump.rs:"))
        .expect("the call-site class, named file:line:col")
        .to_string();
    assert_eq!(site_name.split(':').count(), 3, "{site_name}");
    let b_site = dependency(&dump, "dump_b", &site_name).expect("dump_b -> the call-site class");
    assert_eq!(
        b_site["kinds"],
        serde_json::json!(["SN"]),
        "a reader held, a writer taken"
    );
    let stats = &dump["stats"];
    assert_eq!(
        stats["dependencies"],
        dump["dependencies"].as_array().unwrap().len()
    );
    assert!(stats["max_dependencies"].as_u64().unwrap() > 0);
    // A second dump replaces the file whole.
    lockdep::dump_graph(&path).unwrap();
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(again["dependencies"], dump["dependencies"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dump_to_an_unwritable_place_is_an_error() {
    let _s = serial();
    let missing = fresh_dir("missing").join("no/such/dir/graph.json");
    assert!(lockdep::dump_graph(&missing).is_err());
}

#[test]
fn child_records_a_dependency() {
    if std::env::var_os("LOCKDEP_GRAPH_DUMP").is_none() {
        return; // only meaningful as the child of the test below
    }
    let a = Mutex::with_class((), &DUMP_A);
    let b = Mutex::with_class((), &DUMP_B);
    let _a = a.lock();
    let _b = b.lock();
}

#[test]
fn graph_dump_variable_writes_one_dump_per_process_at_exit() {
    if std::env::var_os("LOCKDEP_GRAPH_DUMP").is_some() {
        return;
    }
    let dir = fresh_dir("at-exit");
    let exe = std::env::current_exe().unwrap();
    for _ in 0..2 {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "child_records_a_dependency", "-q"])
            .env("LOCKDEP_GRAPH_DUMP", &dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "one dump per process: {files:?}");
    for f in &files {
        assert!(
            f.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("graph_dump-"),
            "{f:?}"
        );
        let dump: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        assert_eq!(
            lockdep_suite::schema::validate(&schema(), &dump),
            Vec::<String>::new()
        );
        assert!(dependency(&dump, "dump_a", "dump_b").is_some(), "{dump:#}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

static CHAIN_A: LockClass = LockClass::new("chain_a");
static CHAIN_B: LockClass = LockClass::new("chain_b");
static CHAIN_IRQ: LockClass = LockClass::new("chain_irq");
static HELD_20MS: LockClass = LockClass::new("dump_held_20ms");

fn dump_now(name: &str) -> Value {
    let dir = fresh_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.json");
    lockdep::dump_graph(&path).unwrap();
    let dump: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        lockdep_suite::schema::validate(&schema(), &dump),
        Vec::<String>::new()
    );
    dump
}

fn chains(dump: &Value) -> Vec<(u64, Vec<String>)> {
    dump["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let classes = c["classes"].as_array().unwrap();
            (
                c["irq_context"].as_u64().unwrap(),
                classes.iter().map(|n| n.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect()
}

/// The cached chains, like `/proc/lockdep_chains`: the classes held in one irq context, the
/// acquired one last. A lock taken in an irq handler over a process-context lock starts a
/// chain of its own in irq context 1.
#[test]
fn dump_carries_the_cached_chains_with_their_irq_context() {
    let _s = serial();
    let (a, b) = (Mutex::with_class((), &CHAIN_A), Mutex::with_class((), &CHAIN_B));
    let irq = lockdep::SpinLock::with_class((), &CHAIN_IRQ);
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    {
        let _off = lockdep::irqs_disabled();
        let _a = a.lock();
        let _irq = lockdep::irq_context();
        drop(irq.lock());
    }
    let dump = dump_now("chains");
    let c = chains(&dump);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(c.contains(&(0, s(&["chain_a"]))), "{c:?}");
    assert!(c.contains(&(0, s(&["chain_a", "chain_b"]))), "{c:?}");
    assert!(
        c.contains(&(1, s(&["chain_irq"]))),
        "the irq's chain starts in the irq: {c:?}"
    );
    assert!(
        !c.iter().any(|(_, v)| v == &s(&["chain_a", "chain_irq"])),
        "{c:?}"
    );
    assert_eq!(dump["stats"]["chains"], c.len());
    assert!(c.iter().all(|(_, v)| !v.is_empty()));
}

/// With the `lock-stat` feature (on in this suite) the dump carries each class's hold times.
#[test]
fn dump_carries_lock_stats_with_hold_times() {
    let _s = serial();
    let m = Mutex::with_class((), &HELD_20MS);
    {
        let _m = m.lock();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dump = dump_now("lock-stats");
    let stats = dump["lock_stats"].as_array().expect("lock_stats with lock-stat");
    let s = stats
        .iter()
        .find(|s| s["class"] == "dump_held_20ms")
        .expect("the held class");
    assert!(s["holds"].as_u64().unwrap() >= 1, "{s:#}");
    assert!(s["hold_max_ns"].as_u64().unwrap() >= 20_000_000, "{s:#}");
    assert!(s["hold_total_ns"].as_u64().unwrap() >= s["hold_max_ns"].as_u64().unwrap());
    assert!(s["hold_min_ns"].as_u64().unwrap() <= s["hold_max_ns"].as_u64().unwrap());
}
