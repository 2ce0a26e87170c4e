//! The oracle: generated programs run on the validator and on an independent model of the
//! kernel's rules ([`model`]), compared report for report ([`compare`]).
//!
//! Programs have one to three threads interleaved by a generated schedule, every acquisition
//! flavour (write, read, recursive read, trylock, subclass, nest lock, `sync`), releases in any
//! order, re-takes of held instances, and sections in irq contexts. On a mismatch proptest
//! shrinks the program to a minimal one and prints it with every difference found.
//!
//! The default runs are sized for CI; the ignored `heavy` test runs more programs:
//!
//! ```sh
//! ORACLE_CASES=200000 cargo test --test oracle -- --ignored heavy
//! ```

mod compare;
mod gen;
mod model;
mod pool;
mod run;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Keeps the panics the validator raises on purpose (a re-taken instance) out of the output.
fn quiet_validator_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with("lockdep:") {
                previous(info);
            }
        }));
    });
}

fn run(cases: u32, threads: usize, steps: usize) {
    quiet_validator_panics();
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let before = compare::tally();
    let result = runner.run(&gen::program(threads, steps), |p| {
        compare::check(&p).map_err(|e| TestCaseError::fail(format!("\n{p}mismatches:\n{e}")))
    });
    let t = compare::tally();
    // The figures of the run (shrinking included), shown with `--nocapture`.
    println!(
        "oracle: {} programs of up to {threads} threads ({} threads in all), {} steps, {} reports compared, {} steps closing a strong cycle",
        t.programs - before.programs,
        t.threads - before.threads,
        t.steps - before.steps,
        t.reports - before.reports,
        t.closings - before.closings,
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn one_thread() {
    run(4000, 1, 40);
}

#[test]
fn interleaved_threads() {
    run(6000, 3, 48);
}

/// `ORACLE_CASES` programs (default 100 000) of up to four threads.
#[test]
#[ignore = "long: run with ORACLE_CASES=<n> cargo test --test oracle -- --ignored heavy"]
fn heavy() {
    let cases = std::env::var("ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    run(cases, 4, 80);
}
