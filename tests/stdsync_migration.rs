//! A std user migrates in one line: the same program (`tests/std_app/app.rs`) compiled after
//! `use std::sync;` and after `use lockdep::stdsync as sync;`. Both compute the same result;
//! only the second is validated, and it reports the program's planted lock inversion.

mod with_std {
    use std::sync;
    include!("std_app/app.rs");
}

mod with_lockdep {
    use lockdep::stdsync as sync;
    include!("std_app/app.rs");
}

use lockdep::ReportKind::CircularDependency;
use lockdep_suite::{kinds, serial};

#[test]
fn the_std_program_runs_unvalidated_on_std() {
    let _s = serial();
    assert_eq!(with_std::run(), (1..=10).map(|j: u64| j * j).sum::<u64>());
    assert_eq!(kinds(), []);
}

#[test]
fn the_same_program_on_stdsync_reports_its_inversion() {
    let _s = serial();
    assert_eq!(with_lockdep::run(), (1..=10).map(|j: u64| j * j).sum::<u64>());
    let reports = lockdep::take_reports();
    assert_eq!(
        reports.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        [CircularDependency]
    );
    // The two classes are the queue's mutex and the table's lock, named by their sites in
    // the program's source.
    let classes = reports[0].classes();
    assert_eq!(classes.len(), 2, "{classes:?}");
    assert!(
        classes.iter().all(|c| c.starts_with("tests/std_app/app.rs:")),
        "{classes:?}"
    );
}
