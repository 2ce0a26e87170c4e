//! The migrated program, as its test build runs it (the `[dev-dependencies]` line turns the
//! validator on): it finishes its work and lockdep reports the planted ABBA once, naming the
//! two lock sites of `src/main.rs`.

use std::process::Command;

#[test]
fn the_migrated_program_runs_and_reports_its_planted_abba() {
    let out = Command::new(env!("CARGO_BIN_EXE_migrated-bank"))
        .env("LOCKDEP_ACTION", "warn")
        .env_remove("LOCKDEP_REPORT_DIR")
        .env_remove("LOCKDEP_GRAPH_DUMP")
        .output()
        .expect("run the migrated program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("audited: consistent=true deposits=150 total=15150"),
        "{stdout}"
    );
    assert_eq!(
        stderr.matches("WARNING:").count(),
        1,
        "exactly one report:\n{stderr}"
    );
    assert!(
        stderr.contains("WARNING: possible circular locking dependency detected"),
        "{stderr}"
    );
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("summary: "))
        .expect("a summary line");
    assert_eq!(summary.matches("src/main.rs:").count(), 3, "{summary}");
}
