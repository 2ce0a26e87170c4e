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
    assert!(last.contains(" panic_drawn=true "), "{last}");
    let quiet = drm_sim(&["--duration", "0.2", "--quiet", "--no-unplug", "--no-panic"]);
    let stdout = String::from_utf8(quiet.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(" unplugged=false "), "{stdout}");
    assert!(stdout.contains(" panic_drawn=false "), "{stdout}");
    assert!(
        quiet.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
}

#[test]
fn more_bad_values_exit_2_with_one_line() {
    for args in [
        &["--jobs", "0"][..],
        &["--devices", "17"],
        &["--gpu-time-us", "soon"],
        &["--inject"],
    ] {
        let out = drm_sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
}

/// The promised keys of the summary line, each with a value of its kind.
fn promised_keys(line: &str) {
    let kv: std::collections::HashMap<&str, &str> = line
        .strip_prefix("summary: ")
        .unwrap_or_else(|| panic!("{line}"))
        .split(' ')
        .map(|kv| kv.split_once('=').unwrap_or_else(|| panic!("{kv} in {line}")))
        .collect();
    for k in [
        "jobs",
        "fences",
        "fence_p50_us",
        "fence_p99_us",
        "faults",
        "reclaim_passes",
        "tdr",
        "reports",
    ] {
        let v = kv.get(k).unwrap_or_else(|| panic!("{k} missing: {line}"));
        v.parse::<u64>()
            .unwrap_or_else(|_| panic!("{k}={v} is not a count: {line}"));
    }
    let jps = kv
        .get("jobs_per_s")
        .unwrap_or_else(|| panic!("jobs_per_s missing: {line}"));
    assert!(jps.parse::<f64>().is_ok_and(|v| v >= 0.0), "{line}");
    for k in ["commits", "flips", "vblanks"] {
        let v = kv.get(k).unwrap_or_else(|| panic!("{k} missing: {line}"));
        v.parse::<u64>()
            .unwrap_or_else(|_| panic!("{k}={v} is not a count: {line}"));
    }
    for k in ["unplugged", "panic_drawn"] {
        assert!(matches!(kv.get(k), Some(&"true") | Some(&"false")), "{k}: {line}");
    }
}

#[test]
fn the_summary_line_has_every_promised_key_and_a_job_budget_is_kept() {
    let out = drm_sim(&[
        "--quiet",
        "--gpu-time-us",
        "0",
        "--jobs",
        "200",
        "--duration",
        "20",
        "--no-unplug",
        "--clients",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    promised_keys(last);
    let jobs: u64 = last
        .split(' ')
        .find_map(|kv| kv.strip_prefix("jobs="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((200..200 + 16).contains(&jobs), "{last}");
}

/// Built without the validator (`--no-default-features`), the binary runs the same workload,
/// bugs included, and reports nothing: `reports=0` and exit status 0. With the validator off
/// in this test build already, the binary under test is that build; otherwise it is built
/// here, into its own target directory.
#[test]
fn without_default_features_an_injected_bug_goes_unreported() {
    let bin = if lockdep::ENABLED {
        drm_sim::testing::build_without_validator(false)
    } else {
        env!("CARGO_BIN_EXE_drm-sim").into()
    };
    let out = Command::new(bin)
        .args(["--duration", "0.5", "--quiet", "--inject", "alloc-in-run-job"])
        .output()
        .expect("run drm-sim");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let last = stdout.lines().last().unwrap();
    promised_keys(last);
    assert!(
        last.contains(" reports=0 ") && last.contains(" lockdep_classes=0 "),
        "{last}"
    );
    assert!(out.stderr.is_empty(), "nothing printed without the validator");
}

#[test]
fn list_scenarios_prints_name_tab_description_per_scenario() {
    let out = drm_sim(&["--list-scenarios"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let all = drm_sim::scenario::Scenario::ALL;
    assert_eq!(lines.len(), all.len());
    for (line, s) in lines.iter().zip(all) {
        assert_eq!(*line, format!("{}\t{}", s.name(), s.description()));
    }
    for name in ["dev-enter-scope", "sync-file-import-export", "shmem-resv"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{name}\t"))),
            "{name}"
        );
    }
}

#[test]
fn a_scenario_runs_alone_clean_and_broken() {
    let out = drm_sim(&["--scenario", "dev-enter-scope"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("summary: scenario=dev-enter-scope "), "{last}");
    assert!(
        last.contains(" reports=0 ") && last.contains(" panic_drawn="),
        "{last}"
    );
    assert!(
        stderr.is_empty(),
        "a clean scenario logs nothing at the default level: {stderr}"
    );
    // Its broken variant: the report, and the same report as one lockdep WARN log line.
    let out = drm_sim(&[
        "--scenario",
        "dev-enter-scope",
        "--quiet",
        "--inject",
        "fence-wait-in-dev-enter",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    if !lockdep::ENABLED {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(" reports=1 "), "{stdout}");
    assert!(
        stderr.contains("\nWARNING: forbidden operation while holding a lock\n"),
        "{stderr}"
    );
    let logged: Vec<&str> = stderr.lines().filter(|l| l.contains(" WARN lockdep: ")).collect();
    assert_eq!(logged.len(), 1, "{stderr}");
    assert!(
        logged[0].contains("kind=\"forbidden_while_held\"")
            && logged[0].contains("classes=\"drm_unplug_srcu\""),
        "{}",
        logged[0]
    );
}

#[test]
fn the_log_filter_comes_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_drm-sim"))
        .args(["--scenario", "dev-enter-scope", "--quiet"])
        .env("DRM_SIM_LOG", "drm_sim=info")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(" INFO drm_sim::scenario: scenario starts"),
        "{stderr}"
    );
    assert!(stderr.contains("device lost: unplugging it"), "{stderr}");
    let bad = Command::new(env!("CARGO_BIN_EXE_drm-sim"))
        .args(["--scenario", "dev-enter-scope"])
        .env("DRM_SIM_LOG", "=[nonsense")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8(bad.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: bad log filter"), "{err}");
}
