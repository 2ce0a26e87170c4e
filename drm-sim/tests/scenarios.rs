//! The seed scenarios through the library: each runs clean (no report, every expectation it
//! checks held), and its closest broken variant — the injected bug it names — is reported on
//! its first occurrence, with the kernel's classes, while the scenario still finishes.

use drm_sim::scenario::Scenario;
use drm_sim::testing::{reports, serial};
use drm_sim::Bugs;
use lockdep::ReportKind;

/// Each scenario's broken variant: the first report's kind and classes it names.
fn expected(name: &str) -> (ReportKind, &'static [&'static str]) {
    match name {
        "panic-trylock" => (ReportKind::PanicContext, &["&dev->event_lock"]),
        "dev-enter-scope" => (ReportKind::ForbiddenWhileHeld, &["drm_unplug_srcu"]),
        "tinydrm-unplug" => (ReportKind::SuspiciousRcuUsage, &["drm_unplug_srcu"]),
        "sync-file-import-export" => (ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]),
        "shmem-resv" => (ReportKind::RecursiveLocking, &["reservation_ww_class_mutex"]),
        other => panic!("no expectation for scenario {other}"),
    }
}

#[test]
fn every_scenario_runs_clean() {
    for s in Scenario::ALL {
        let _g = serial();
        let out = s.run(Bugs::NONE).unwrap_or_else(|e| panic!("{}: {e}", s.name()));
        assert!(out.checks > 0, "{}: checked nothing", s.name());
        let r = reports();
        assert!(r.is_empty(), "{}: {}", s.name(), r[0]);
    }
}

#[test]
fn every_scenarios_broken_variant_is_reported_first_and_it_still_finishes() {
    for s in Scenario::ALL {
        let _g = serial();
        let (kind, classes) = expected(s.name());
        s.run(Bugs::NONE.with(s.broken_by()))
            .unwrap_or_else(|e| panic!("{} with {}: {e}", s.name(), s.broken_by()));
        let r = reports();
        if !lockdep::ENABLED {
            assert!(r.is_empty());
            continue;
        }
        let first = r.first().unwrap_or_else(|| panic!("{}: no report", s.name()));
        assert_eq!(first.kind(), kind, "{}: {first}", s.name());
        for c in classes {
            assert!(first.classes().contains(c), "{}: {c} not in {first}", s.name());
        }
    }
}
