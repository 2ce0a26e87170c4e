//! Runs a program on the model and on the validator in lockstep and compares them.
//!
//! After every step: the lock call panicked exactly when the model says it re-takes a held
//! instance, never hung, and a trylock succeeded exactly when the model says; every circular
//! report names a strong cycle of the model's graph (as it is after this step). A step at which
//! the model closes a strong cycle must bring a circular report about the acquired class and one
//! of the closing held classes — unless such a cycle was reported before (reports are
//! de-duplicated by class set, and the validator names one cycle of its choosing). At the end,
//! the distinct reports of every other kind, recursion included, as (kind, class set), are the
//! same on both sides.

use crate::gen::Program;
use crate::model::{Expected, Model, Step};
use crate::pool::{self, Class};
use crate::run::{Engine, Outcome};
use lockdep::{Report, ReportKind};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The steps of `p`, then the releases that empty every thread, newest first.
fn run_all(p: &Program, mut f: impl FnMut(usize, usize, crate::gen::Op, &mut Model) -> bool) {
    let mut model = Model::new(p.threads);
    for (i, &(t, op)) in p.steps.iter().enumerate() {
        if !f(i, t, op, &mut model) {
            return;
        }
    }
    let mut i = p.steps.len();
    for t in 0..p.threads {
        while model.guards(t) > 0 {
            let top = (model.guards(t) - 1) as u8;
            if !f(i, t, crate::gen::Op::Release(top), &mut model) {
                return;
            }
            i += 1;
        }
    }
}

fn classes_of(r: &Report) -> BTreeSet<String> {
    r.classes().into_iter().map(str::to_string).collect()
}

/// `ORACLE_NO_RETAKES=1` leaves out the re-takes of held instances (on both sides), to look
/// for other mismatches while a validator that hangs on one is being fixed.
fn skip_retakes() -> bool {
    static SKIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("ORACLE_NO_RETAKES").is_some())
}

/// What the programs checked on this thread so far amounted to (see [`tally`]).
#[derive(Clone, Copy, Default, Debug)]
pub struct Tally {
    pub programs: u64,
    /// Threads over all programs.
    pub threads: u64,
    /// Steps run on both sides, the final releases included.
    pub steps: u64,
    /// Reports the validator made, each compared with the model.
    pub reports: u64,
    /// Steps at which the model closed a strong cycle.
    pub closings: u64,
}

thread_local! {
    static TALLY: std::cell::Cell<Tally> = const {
        std::cell::Cell::new(Tally { programs: 0, threads: 0, steps: 0, reports: 0, closings: 0 })
    };
}

/// The running totals of [`check`] on this thread.
pub fn tally() -> Tally {
    TALLY.with(|t| t.get())
}

fn count(f: impl FnOnce(&mut Tally)) {
    TALLY.with(|t| {
        let mut v = t.get();
        f(&mut v);
        t.set(v);
    });
}

/// `ORACLE_TRACE=1` prints every step, the model's expectations and the validator's reports.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("ORACLE_TRACE").is_some())
}

/// Runs `p` both ways; `Err` lists every mismatch.
pub fn check(p: &Program) -> Result<(), String> {
    let _s = lockdep_suite::serial();
    let mut engine = Engine::start(p.threads);
    let mut errors: Vec<String> = Vec::new();
    let mut model_reports: BTreeSet<Expected> = BTreeSet::new();
    let mut engine_reports: BTreeSet<Expected> = BTreeSet::new();
    let mut model_allowed: BTreeSet<Expected> = BTreeSet::new();
    // Class sets of the cycles the validator reported so far.
    let mut cycles: Vec<BTreeSet<Class>> = Vec::new();
    count(|t| {
        t.programs += 1;
        t.threads += p.threads as u64;
    });

    run_all(p, |i, t, op, model| {
        if skip_retakes() && op.resolve().is_some_and(|a| model.retakes(t, &a)) {
            return true;
        }
        let step: Step = match op.resolve() {
            None => match op {
                crate::gen::Op::Release(pick) => model.release(t, pick),
                _ => unreachable!(),
            },
            Some(a) => model.acquire(t, &a),
        };
        let outcome = engine.step(t, op);
        let got = lockdep::take_reports();
        if trace() {
            eprintln!("step {i} t{t} {op:?}: {outcome:?}\n  model: {step:?}");
            for r in &got {
                eprintln!(
                    "  engine: {:?} {:?} cycle {:?}",
                    r.kind(),
                    classes_of(r),
                    r.cycle()
                );
            }
        }
        let mut say = |m: String| errors.push(format!("step {i} (thread {t}, {op:?}): {m}"));
        match outcome {
            Outcome::Hung => {
                // The stuck thread may spin forever: no shrinking, no other test, stop here.
                // Straight to the stream: the harness's capture would die with the process.
                let msg = format!("the validator hung at step {i} (the model expects {step:?}) of\n{p}");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
                std::process::exit(1);
            }
            Outcome::Panicked if !step.panics => say("the lock call panicked".into()),
            Outcome::Done { .. } if step.panics => say("re-took a held instance without panicking".into()),
            Outcome::Done { acquired } if acquired != step.acquired => {
                say(format!("trylock acquired: {acquired}, model: {}", step.acquired))
            }
            _ => {}
        }
        count(|c| {
            c.steps += 1;
            c.reports += got.len() as u64;
            c.closings += !step.closings.is_empty() as u64;
        });
        model_reports.extend(step.reports.iter().cloned());
        model_allowed.extend(step.allowed.iter().cloned());
        let mut covered = step.closings.is_empty();
        for r in &got {
            let set = classes_of(r);
            let as_classes: Option<BTreeSet<Class>> = set.iter().map(|n| pool::parse(n)).collect();
            let Some(as_classes) = as_classes else {
                say(format!("report about an unknown class: {r:?}"));
                continue;
            };
            if r.kind() != ReportKind::CircularDependency {
                engine_reports.insert((r.kind(), set));
                continue;
            }
            let cycle: Option<Vec<Class>> = r.cycle().iter().map(|n| pool::parse(n)).collect();
            if !cycle.is_some_and(|c| model.is_strong_cycle(&c)) {
                say(format!(
                    "reported a cycle that is no strong cycle of the model's graph: {:?}",
                    r.cycle()
                ));
            }
            let about = |&(p, n, _): &(Class, Class, u8)| as_classes.contains(&p) && as_classes.contains(&n);
            if step.closings.iter().any(about) {
                covered = true;
            }
            cycles.push(as_classes);
        }
        if !covered {
            let excused = cycles.iter().any(|s| {
                step.closings
                    .iter()
                    .any(|&(c, n, k)| s.contains(&c) && s.contains(&n) && model.closes_within(s, c, n, k))
            });
            if !excused {
                let names: Vec<String> = step
                    .closings
                    .iter()
                    .map(|&(c, n, _)| format!("{} -> {}", pool::name(c), pool::name(n)))
                    .collect();
                say(format!(
                    "no report of the strong cycle closed by {}",
                    names.join(", ")
                ));
            }
        }
        true
    });

    for missing in model_reports.difference(&engine_reports) {
        errors.push(format!("never reported: {missing:?}"));
    }
    for extra in engine_reports
        .difference(&model_reports)
        .filter(|r| !model_allowed.contains(r))
    {
        errors.push(format!("reported, but not by the model: {extra:?}"));
    }
    drop(engine);
    if errors.is_empty() {
        Ok(())
    } else {
        let mut s = String::new();
        for e in &errors {
            let _ = writeln!(s, "  {e}");
        }
        Err(s)
    }
}
