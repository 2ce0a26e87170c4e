//! Every bad input is one line on stderr, `lockdep: error: ...`, exit status 2, nothing on
//! stdout, and never a panic.

mod common;

use std::path::Path;

fn assert_bad(args: &[&str], needle: &str) {
    let run = common::lockdep(args);
    assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "{args:?}: one line: {}",
        run.stderr
    );
    assert!(
        run.stderr.starts_with("lockdep: error: "),
        "{args:?}: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "{args:?}: {:?} lacks {needle:?}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn every_graph_subcommand_rejects_every_bad_dump() {
    let dir = common::fresh_dir("errors");
    let missing = dir.join("missing.json").to_str().unwrap().to_string();
    let not_json = write(&dir, "not.json", "this is { not json");
    let not_dump = write(
        &dir,
        "other.json",
        r#"{"format": "something-else", "version": 1}"#,
    );
    let no_format = write(&dir, "noformat.json", r#"{"version": 1}"#);
    let future = write(
        &dir,
        "future.json",
        r#"{"format": "lockdep-graph", "version": 99}"#,
    );
    let no_version = write(&dir, "nover.json", r#"{"format": "lockdep-graph"}"#);
    let broken = write(
        &dir,
        "broken.json",
        r#"{"format": "lockdep-graph", "version": 1, "classes": []}"#,
    );
    let empty = common::fresh_dir("errors-empty");
    let empty = empty.to_str().unwrap();
    for cmd in ["merge", "dot", "stats", "show"] {
        assert_bad(&[cmd, &missing], "missing.json: No such file");
        assert_bad(&[cmd, &not_json], "not.json: not JSON");
        assert_bad(
            &[cmd, &not_dump],
            "not a lockdep graph dump (format \"something-else\")",
        );
        assert_bad(
            &[cmd, &no_format],
            "not a lockdep graph dump (no \"format\" field)",
        );
        assert_bad(
            &[cmd, &future],
            "graph dump version 99 is not supported (this tool reads versions 1 to 2)",
        );
        assert_bad(&[cmd, &no_version], "graph dump without a numeric \"version\"");
        assert_bad(&[cmd, &broken], "invalid graph dump: missing field");
        assert_bad(&[cmd, empty], "no .json files in this directory");
        assert_bad(&[cmd], "required arguments were not provided");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_usage_and_bad_suppressions_are_one_line_too() {
    let dir = common::fresh_dir("errors-usage");
    let dump = common::write_dump(&dir, "ok", &[("a", "b", &["EN"])]);
    let dump = dump.to_str().unwrap();
    assert_bad(&[], "requires a subcommand");
    assert_bad(&["frobnicate"], "unrecognized subcommand");
    assert_bad(&["merge", "--bogus", dump], "unexpected argument");
    let rules = write(&dir, "rules.txt", "allow a -> b: fine\nallow what\n");
    assert_bad(
        &["merge", "--suppressions", &rules, dump],
        "rules.txt:2: expected `allow OUTER -> INNER: REASON`",
    );
    let gone = dir.join("gone.txt");
    assert_bad(
        &["merge", "--suppressions", gone.to_str().unwrap(), dump],
        "gone.txt: No such file",
    );
    assert_bad(&["html", dump, "-o", "x.html"], "not a directory");
    assert_bad(
        &["html", dir.to_str().unwrap()],
        "required arguments were not provided",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn html_rejects_bad_reports_and_unwritable_output() {
    let dir = common::fresh_dir("errors-html");
    write(&dir, "r.json", r#"{"version": 7, "kind": "circular_dependency"}"#);
    let d = dir.to_str().unwrap();
    let out = dir.join("page.html");
    assert_bad(
        &["html", d, "-o", out.to_str().unwrap()],
        "report version 7 is not supported",
    );
    write(&dir, "r.json", r#"{"version": 1, "headline": "x"}"#);
    assert_bad(
        &["html", d, "-o", out.to_str().unwrap()],
        "not a lockdep report (no \"kind\" field)",
    );
    write(&dir, "r.json", "[1, 2");
    assert_bad(&["html", d, "-o", out.to_str().unwrap()], "r.json: not JSON");
    std::fs::remove_file(dir.join("r.json")).unwrap();
    let unwritable = dir.join("no/such/dir/page.html");
    assert_bad(
        &["html", d, "-o", unwritable.to_str().unwrap()],
        "page.html: No such file",
    );
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_and_version_succeed_on_stdout() {
    let help = common::lockdep(&["--help"]);
    assert_eq!(help.code, 0);
    for cmd in ["merge", "dot", "stats", "show", "html"] {
        assert!(help.stdout.contains(cmd), "{}", help.stdout);
    }
    let v = common::lockdep(&["--version"]);
    assert_eq!(v.code, 0);
    assert!(v.stdout.starts_with("lockdep "), "{}", v.stdout);
}

#[test]
fn a_reader_that_goes_away_is_no_panic() {
    let dir = common::fresh_dir("errors-pipe");
    let deps: Vec<(String, String)> = (0..2000)
        .map(|i| (format!("class_{i}"), format!("class_{}", i + 1)))
        .collect();
    let deps: Vec<(&str, &str, &[&str])> = deps
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str(), &["EN"][..]))
        .collect();
    let dump = common::write_dump(&dir, "big", &deps);
    for cmd in ["show", "dot", "merge"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lockdep"))
            .args([cmd, dump.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader closes before anything is written
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{cmd}: {stderr}");
        assert!(
            out.status.code().is_some_and(|c| c == 0),
            "{cmd}: {:?} {stderr}",
            out.status
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
