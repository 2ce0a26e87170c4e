//! `drm-sim`: runs the simulated DRM stack under lockdep and prints what it found.
//!
//! Exit status: 0 the run finished and nothing was reported; 1 it finished and lockdep
//! reported; 2 a bad flag or value (one line on stderr); 3 the workload itself failed.
//! Reports go to stderr in the kernel's format; stdout carries the readable summary and, as
//! its last line, `summary: key=value ...`. A progress bar is drawn on stderr only when stderr
//! is a terminal.

use clap::Parser;
use drm_sim::scenario::{Scenario, ScenarioOutcome};
use drm_sim::workload::{Progress, Workload, WorkloadConfig};
use drm_sim::{Bug, Bugs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs a simulated DRM workload (clients, devices, fences, memory pressure, hot-unplug) with
/// the lockdep validator watching every lock.
#[derive(Parser, Debug)]
#[command(name = "drm-sim", version)]
struct Cli {
    /// Seed of every pseudo-random choice of the run.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// How long clients submit, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 8.0, value_parser = parse_secs)]
    duration: f64,
    /// Stop after this many jobs were submitted (if sooner than --duration): a fixed amount of
    /// work, for benchmarks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// Client threads.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    clients: u32,
    /// Simulated devices.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    devices: u32,
    /// Simulated GPU time per job in microseconds (0: jobs complete at once; CPU-bound).
    #[arg(long, value_name = "N", default_value_t = 200)]
    gpu_time_us: u64,
    /// Inject a locking bug (repeatable; see --list-bugs).
    #[arg(long, value_name = "NAME", value_parser = parse_bug)]
    inject: Vec<Bug>,
    /// List the injectable bugs (NAME<TAB>description) and exit.
    #[arg(long)]
    list_bugs: bool,
    /// Print only the summary line (no progress bar, no readable summary).
    #[arg(long)]
    quiet: bool,
    /// Do not hot-unplug a device at the end.
    #[arg(long)]
    no_unplug: bool,
    /// Do not run the panic handler at the end (the summary then says panic_drawn=false).
    #[arg(long)]
    no_panic: bool,
    /// Run one seed scenario alone instead of the workload (see --list-scenarios); --inject
    /// applies to it.
    #[arg(long, value_name = "NAME", value_parser = parse_scenario)]
    scenario: Option<&'static Scenario>,
    /// List the seed scenarios (NAME<TAB>description) and exit.
    #[arg(long)]
    list_scenarios: bool,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("not a number of seconds: '{s}'"))?;
    if v.is_finite() && (0.0..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("out of range (0 to 86400 seconds): '{s}'"))
    }
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    Bug::from_name(s).ok_or_else(|| format!("unknown bug '{s}' (see --list-bugs)"))
}

fn parse_scenario(s: &str) -> Result<&'static Scenario, String> {
    Scenario::by_name(s).ok_or_else(|| format!("unknown scenario '{s}' (see --list-scenarios)"))
}

impl Cli {
    fn config(&self) -> WorkloadConfig {
        WorkloadConfig {
            seed: self.seed,
            duration: Duration::from_secs_f64(self.duration),
            jobs: self.jobs,
            clients: self.clients as usize,
            devices: self.devices as usize,
            gpu_time: Duration::from_micros(self.gpu_time_us),
            bugs: self.inject.iter().copied().collect::<Bugs>(),
            unplug: !self.no_unplug,
            panic: !self.no_panic,
        }
    }
}

/// Parses the command line; a usage error becomes one line on stderr and exit status 2 (clap's
/// own message spans several lines: its first line is the error, the rest hints and usage).
fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                print!("{e}");
                Err(ExitCode::SUCCESS)
            }
            _ => {
                let text = e.render().to_string();
                let first = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("error: bad usage");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                eprintln!("error: {first}");
                Err(ExitCode::from(2))
            }
        },
    }
}

/// Keeps the validator's own panics quiet: when it refuses a same-instance self-deadlock it
/// has already printed the report, then panics so the task does not hang, and the workload
/// catches that panic where the simulated task recovers. Every other panic is printed as usual.
fn quiet_refused_deadlocks() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let ours = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|s| s.starts_with("lockdep: "));
        if !ours {
            default(info);
        }
    }));
}

/// The progress bar, on stderr and only when it is a terminal.
fn progress_bar(quiet: bool, duration: Duration) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(duration.as_millis() as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:30} {elapsed:>4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if cli.list_bugs {
        for b in Bug::ALL {
            println!("{}\t{}", b.name(), b.description());
        }
        return ExitCode::SUCCESS;
    }
    if cli.list_scenarios {
        for s in Scenario::ALL {
            println!("{}\t{}", s.name(), s.description());
        }
        return ExitCode::SUCCESS;
    }
    if let Err(e) = drm_sim::logging::init() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    quiet_refused_deadlocks();
    if let Some(s) = cli.scenario {
        return run_scenario(s, &cli);
    }
    let cfg = cli.config();
    let bar = progress_bar(cli.quiet, cfg.duration);
    let mut reports = 0usize;
    let result = Workload::run(&cfg, |p: &Progress| {
        // Reports are printed as they happen (lockdep's default action); count them here.
        reports += lockdep::take_reports().len();
        if let Some(bar) = &bar {
            bar.set_position(p.elapsed.as_millis() as u64);
            bar.set_message(format!(
                "jobs {} fences {} faults {} reclaim {} reports {}",
                p.jobs, p.fences, p.faults, p.reclaim_passes, reports
            ));
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    reports += lockdep::take_reports().len();
    match result {
        Ok(mut summary) => {
            summary.reports = reports;
            if !cli.quiet {
                for line in summary.readable() {
                    println!("{line}");
                }
            }
            println!("{}", summary.summary_line());
            if reports > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: workload failed: {e}");
            ExitCode::from(3)
        }
    }
}

/// The machine-readable last line of a scenario run (the workload's keys that apply).
fn scenario_line(s: &Scenario, out: &ScenarioOutcome, reports: usize, elapsed: Duration) -> String {
    format!(
        "summary: scenario={} jobs={} commits={} flips={} vblanks={} panic_drawn={} checks={} reports={} elapsed_s={:.3}",
        s.name(),
        out.jobs,
        out.commits,
        out.flips,
        out.vblanks,
        out.panic_drawn,
        out.checks,
        reports,
        elapsed.as_secs_f64()
    )
}

/// `--scenario NAME`: runs it with the injected bugs; the same exit statuses as a workload run.
fn run_scenario(s: &'static Scenario, cli: &Cli) -> ExitCode {
    let bugs = cli.inject.iter().copied().collect::<Bugs>();
    let t0 = Instant::now();
    let r = s.run(bugs);
    let reports = lockdep::take_reports().len();
    match r {
        Ok(out) => {
            if !cli.quiet {
                println!("scenario:  {} — {}", s.name(), s.description());
                println!(
                    "checked:   {} expectations; {} jobs, {} commits, {} flips, {} vblanks; panic {}",
                    out.checks,
                    out.jobs,
                    out.commits,
                    out.flips,
                    out.vblanks,
                    if out.panic_drawn { "drawn" } else { "not drawn" }
                );
                println!("lockdep:   {reports} reports");
            }
            println!("{}", scenario_line(s, &out, reports, t0.elapsed()));
            if reports > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: scenario {} failed: {e}", s.name());
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_map_onto_the_config() {
        let cli = Cli::try_parse_from([
            "drm-sim",
            "--seed",
            "7",
            "--duration",
            "1.5",
            "--clients",
            "3",
            "--devices",
            "1",
            "--gpu-time-us",
            "0",
            "--inject",
            "alloc-in-run-job",
            "--inject",
            "resubmit-jobs",
            "--no-unplug",
            "--no-panic",
        ])
        .unwrap();
        let c = cli.config();
        assert_eq!((c.seed, c.clients, c.devices), (7, 3, 1));
        assert_eq!(c.duration, Duration::from_millis(1500));
        assert_eq!(c.gpu_time, Duration::ZERO);
        assert!(c.bugs.has(Bug::AllocInRunJob) && c.bugs.has(Bug::ResubmitJobs));
        assert!(!c.unplug && !c.panic);
        let cli = Cli::try_parse_from(["drm-sim", "--scenario", "shmem-resv"]).unwrap();
        assert_eq!(cli.scenario.map(Scenario::name), Some("shmem-resv"));
        assert_eq!(
            Cli::try_parse_from(["drm-sim"]).unwrap().config(),
            WorkloadConfig::default()
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["drm-sim", "--inject", "no-such-bug"][..],
            &["drm-sim", "--seed", "x"],
            &["drm-sim", "--duration", "-1"],
            &["drm-sim", "--clients", "0"],
            &["drm-sim", "--bogus"],
            &["drm-sim", "--scenario", "no-such-scenario"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
