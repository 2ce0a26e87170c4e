//! `lockdep`: works on what the lockdep validator writes — graph dumps (`LOCKDEP_GRAPH_DUMP`,
//! `lockdep::dump_graph`) and report directories (`LOCKDEP_REPORT_DIR`).
//!
//! Exit status: 0 ran and found nothing; 1 ran and found cycles (`merge`); 2 bad input or
//! usage, with one line on stderr. Results go to stdout.
//!
//! The cycle search is written here from the kernel's rules, not taken from the validator, so
//! the two check each other.

mod dot;
mod graph;
mod html;
mod load;
mod merge;
mod stats;
mod suppress;

use clap::{Parser, Subcommand};
use load::Error;
use std::path::PathBuf;
use std::process::ExitCode;

/// Merge, draw and inspect lockdep graph dumps and reports.
#[derive(Parser, Debug)]
#[command(name = "lockdep", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Union of any number of graph dumps; reports every strong cycle in it.
    /// Exit 0: no cycle (or every cycle suppressed), 1: cycles found, 2: bad input.
    Merge {
        /// Graph dump files, or directories of them (`LOCKDEP_GRAPH_DUMP=DIR`).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Print the cycles as a JSON array of report documents
        /// (lockdep/schema/report.schema.json) instead of text.
        #[arg(long)]
        json: bool,
        /// A suppression file (`allow OUTER -> INNER: REASON` per line).
        #[arg(long, value_name = "FILE")]
        suppressions: Option<PathBuf>,
    },
    /// The merged graph in Graphviz DOT, strong cycles in red.
    Dot {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Counters of each dump and of their union, like /proc/lockdep_stats, and the lock
    /// statistics of a lock-stat build, like /proc/lock_stat.
    Stats {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        suppressions: Option<PathBuf>,
    },
    /// Every class with its dependencies, like /proc/lockdep, then the cached lock chains,
    /// like /proc/lockdep_chains, and the lock statistics of a lock-stat build.
    Show {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Print only the lock chains.
        #[arg(long)]
        chains: bool,
    },
    /// One self-contained HTML page showing a report directory.
    Html {
        /// The report directory (`LOCKDEP_REPORT_DIR`).
        dir: PathBuf,
        /// Where to write the page.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

fn suppressions(path: &Option<PathBuf>) -> Result<suppress::Suppressions, Error> {
    match path {
        Some(p) => suppress::Suppressions::load(p),
        None => match std::env::var_os("LOCKDEP_SUPPRESSIONS").filter(|v| !v.is_empty()) {
            Some(p) => suppress::Suppressions::load(&PathBuf::from(p)),
            None => Ok(suppress::Suppressions::default()),
        },
    }
}

/// Writes a result to stdout. A reader that went away (`lockdep show | head`) is no error:
/// the rest is dropped silently, as the standard tools do; any other failure is one.
fn out(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error(format!("stdout: {e}"))),
        _ => Ok(()),
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Merge {
            inputs,
            json,
            suppressions: s,
        } => {
            let s = suppressions(&s)?;
            let m = graph::Merged::new(load::dumps(&inputs)?);
            let found = merge::findings(&m, &s);
            let active = found.iter().filter(|f| f.suppressed.is_none()).count();
            if json {
                let docs: Vec<serde_json::Value> = found.iter().map(|f| merge::report_json(&m, f)).collect();
                out(&(serde_json::to_string_pretty(&docs).unwrap_or_default() + "\n"))?;
            } else {
                let mut text = String::new();
                for f in &found {
                    let bar = "=".repeat(merge::HEADLINE.len());
                    text.push_str(&format!("\n{bar}\n{}\n", merge::text(&m, f)));
                }
                text.push_str(&format!(
                    "{} dump{}, {} classes, {} dependencies: {} cycle{} ({} suppressed)\n",
                    m.dumps.len(),
                    if m.dumps.len() == 1 { "" } else { "s" },
                    m.classes.len(),
                    m.edges.len(),
                    found.len(),
                    if found.len() == 1 { "" } else { "s" },
                    found.len() - active
                ));
                out(&text)?;
            }
            Ok(ExitCode::from(if active > 0 { 1 } else { 0 }))
        }
        Command::Dot { inputs } => {
            let m = graph::Merged::new(load::dumps(&inputs)?);
            out(&dot::render(&m))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats {
            inputs,
            suppressions: s,
        } => {
            let s = suppressions(&s)?;
            let dumps = load::dumps(&inputs)?;
            let m = graph::Merged::new(dumps.clone());
            let found = merge::findings(&m, &s);
            let suppressed = found.iter().filter(|f| f.suppressed.is_some()).count();
            out(&stats::stats(&dumps, &m, suppressed, found.len()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { inputs, chains } => {
            let m = graph::Merged::new(load::dumps(&inputs)?);
            out(&if chains {
                stats::show_chains(&m)
            } else {
                stats::show(&m)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Html { dir, output } => {
            let reports = load::reports(&dir)?;
            let page = html::render(&dir, &reports);
            std::fs::write(&output, page).map_err(|e| Error(format!("{}: {e}", output.display())))?;
            out(&format!(
                "{} report{} -> {}\n",
                reports.len(),
                if reports.len() == 1 { "" } else { "s" },
                output.display()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line, like every other bad input: clap's first line names the problem.
            let text = e.render().to_string();
            // (With no subcommand at all clap renders the help instead of an error line.)
            let first = text
                .lines()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or("requires a subcommand: merge, dot, stats, show or html");
            eprintln!("lockdep: error: {first} (see `lockdep --help`)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lockdep: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn suppression_lines_parse_or_name_the_bad_line() {
        let s = suppress::Suppressions::parse("# c\n\nallow a -> b: reviewed\n").unwrap();
        assert_eq!(s.covers(&["b", "a", "b"]), Some("reviewed"));
        assert_eq!(s.covers(&["b", "c", "b"]), None);
        assert_eq!(
            suppress::Suppressions::parse("allow a b").err().map(|e| e.0),
            Some(1)
        );
        assert!(suppress::Suppressions::parse("allow a -> b:").is_err());
    }
}
