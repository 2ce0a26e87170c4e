//! A nextest-style run: this test binary is run once per test, as nextest runs it, each
//! process with `LOCKDEP_GRAPH_DUMP` set. Each test takes its two locks in one order only, so
//! no process reports anything; the merged dumps hold the cycle (here through three classes
//! and a reader, which the merge must treat with the engine's read/write rules).

mod common;

use lockdep::{LockClass, Mutex, RwLock};

static QUEUE: LockClass = LockClass::new("queue");
static DEVICE: LockClass = LockClass::new("device");
static CONFIG: LockClass = LockClass::new("config");

/// Whether this process is one of the per-test runs (the tests below then do their work).
fn per_test_run() -> bool {
    std::env::var_os("LOCKDEP_GRAPH_DUMP").is_some()
}

#[test]
fn submit_takes_queue_then_device() {
    if per_test_run() {
        let (q, d) = (Mutex::with_class((), &QUEUE), Mutex::with_class((), &DEVICE));
        let _q = q.lock();
        let _d = d.lock();
    }
}

#[test]
fn reset_takes_device_then_config() {
    if per_test_run() {
        let (d, c) = (Mutex::with_class((), &DEVICE), RwLock::with_class((), &CONFIG));
        let _d = d.lock();
        let _c = c.write();
    }
}

#[test]
fn reconfigure_reads_config_then_takes_queue() {
    if per_test_run() {
        let (c, q) = (RwLock::with_class((), &CONFIG), Mutex::with_class((), &QUEUE));
        let _c = c.read();
        let _q = q.lock();
    }
}

#[test]
fn merged_per_test_dumps_hold_the_cycle() {
    if per_test_run() {
        return;
    }
    let dir = common::fresh_dir("nextest");
    let tests = [
        "submit_takes_queue_then_device",
        "reset_takes_device_then_config",
        "reconfigure_reads_config_then_takes_queue",
    ];
    for t in tests {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", t, "--test-threads=1"])
            .env("LOCKDEP_GRAPH_DUMP", &dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{t}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("WARNING"),
            "{t} reported alone"
        );
    }
    let run = common::lockdep(&["merge", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("summary: config -> queue -> device -> config"),
        "{}",
        run.stdout
    );
    for t in tests {
        assert!(
            run.stdout.contains(t),
            "the stack of {t} is shown: {}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("3 dumps, 3 classes, 3 dependencies: 1 cycle"),
        "{}",
        run.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}
