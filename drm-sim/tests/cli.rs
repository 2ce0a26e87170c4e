//! The binary's promised interface: flags, exit statuses, the one-line usage error, the bug
//! list and the summary line.

use std::process::Command;

fn drm_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drm-sim"))
        .args(args)
        .output()
        .expect("run drm-sim")
}

#[test]
fn list_bugs_prints_name_tab_description_per_bug() {
    let out = drm_sim(&["--list-bugs"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), drm_sim::Bug::ALL.len());
    for (line, bug) in lines.iter().zip(drm_sim::Bug::ALL) {
        assert_eq!(*line, format!("{}\t{}", bug.name(), bug.description()));
    }
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    for args in [
        &["--bogus"][..],
        &["--inject", "no-such-bug"],
        &["--seed", "-3"],
        &["--duration", "soon"],
        &["--clients", "0"],
    ] {
        let out = drm_sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_short_run_ends_with_the_summary_line_and_exit_0() {
    let out = drm_sim(&[
        "--duration",
        "0.3",
        "--clients",
        "2",
        "--gpu-time-us",
        "0",
        "--seed",
        "3",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("summary: jobs="), "{last}");
    assert!(
        last.contains(" unplugged=true ") && last.contains(" reports=0 "),
        "{last}"
    );
    assert!(stdout.lines().count() > 1, "a readable summary above it");
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("WARNING:") || l.starts_with("BUG:")),
        "{stderr}"
    );
    let quiet = drm_sim(&["--duration", "0.2", "--quiet", "--no-unplug"]);
    let stdout = String::from_utf8(quiet.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(" unplugged=false "), "{stdout}");
    assert!(
        quiet.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
}
