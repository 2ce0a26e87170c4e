//! The migrated program's source built against the real `parking_lot`, as it was before the
//! migration: it compiles unchanged, runs, prints the same result, and nothing validates it.

use std::process::Command;

#[test]
fn the_same_source_builds_and_runs_on_parking_lot() {
    let out = Command::new(env!("CARGO_BIN_EXE_migrated-bank-plain"))
        .output()
        .expect("run the program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("audited: consistent=true deposits=150 total=15150"),
        "{stdout}"
    );
    assert!(!stderr.contains("WARNING"), "{stderr}");
}
