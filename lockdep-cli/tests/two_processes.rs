//! Two processes each record one half of an ABBA inversion; neither can see a cycle, so
//! neither reports. `lockdep merge` over their graph dumps reports it with both halves'
//! stacks and the dump each came from.
//!
//! The test runs this binary again as the two processes (`LOCKDEP_CLI_HALF=1|2`), with
//! `LOCKDEP_GRAPH_DUMP` set, so each dumps its graph when it exits.

mod common;

use lockdep::{LockClass, Mutex};
use std::process::Command;

static ACCOUNTS: LockClass = LockClass::new("accounts");
static JOURNAL: LockClass = LockClass::new("journal");

#[inline(never)]
fn first_half_takes_accounts_then_journal() {
    let (a, j) = (Mutex::with_class((), &ACCOUNTS), Mutex::with_class((), &JOURNAL));
    let _a = a.lock();
    let _j = j.lock();
}

#[inline(never)]
fn second_half_takes_journal_then_accounts() {
    let (a, j) = (Mutex::with_class((), &ACCOUNTS), Mutex::with_class((), &JOURNAL));
    let _j = j.lock();
    let _a = a.lock();
}

fn main() {
    match std::env::var("LOCKDEP_CLI_HALF").as_deref() {
        Ok("1") => return first_half_takes_accounts_then_journal(),
        Ok("2") => return second_half_takes_journal_then_accounts(),
        _ => {}
    }
    let dir = common::fresh_dir("two-processes");
    for half in ["1", "2"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .env("LOCKDEP_CLI_HALF", half)
            .env("LOCKDEP_GRAPH_DUMP", &dir)
            .output()
            .unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("WARNING"),
            "half {half} reported on its own: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "one dump per process"
    );

    let run = common::lockdep(&["merge", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("WARNING: possible circular locking dependency detected"),
        "{out}"
    );
    assert!(out.contains("first_half_takes_accounts_then_journal"), "{out}");
    assert!(out.contains("second_half_takes_journal_then_accounts"), "{out}");
    assert!(out.contains("summary: accounts -> journal -> accounts"), "{out}");
    assert!(out.contains("Possible unsafe locking scenario"), "{out}");
    assert_eq!(
        out.matches(" in two_processes-").count(),
        2,
        "each dependency names its dump: {out}"
    );
    assert!(
        out.contains("2 dumps, 2 classes, 2 dependencies: 1 cycle (0 suppressed)"),
        "{out}"
    );
    eprintln!("{out}");

    let json = common::lockdep(&["merge", "--json", dir.to_str().unwrap()]);
    assert_eq!(json.code, 1);
    let docs = common::assert_reports_valid(&json.stdout);
    assert_eq!(docs.len(), 1);
    let sources: Vec<&str> = docs[0]["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources.len(), 2);
    assert_ne!(sources[0], sources[1], "the halves come from different dumps");
    // The merged finding carries the signature the runtime gives the same cycle, so both
    // name the same report file.
    lockdep::set_action(lockdep::Action::Collect);
    first_half_takes_accounts_then_journal();
    second_half_takes_journal_then_accounts();
    let here = lockdep::take_reports();
    assert_eq!(here.len(), 1);
    assert_eq!(docs[0]["signature"], here[0].signature());
    assert_eq!(docs[0]["classes"], serde_json::json!(here[0].classes()));

    // A suppression of one of the two dependencies: listed as suppressed, exit 0.
    let rules = dir.join("suppressions.txt");
    std::fs::write(
        &rules,
        "# reviewed\nallow journal -> accounts: audit runs before any transfer\n",
    )
    .unwrap();
    let s = common::lockdep(&[
        "merge",
        "--suppressions",
        rules.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(s.code, 0, "{}{}", s.stdout, s.stderr);
    assert!(
        s.stdout.contains("suppressed: audit runs before any transfer"),
        "{}",
        s.stdout
    );
    assert!(s.stdout.contains("1 cycle (1 suppressed)"), "{}", s.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    println!("two_processes: 1 passed, 0 failed");
}
