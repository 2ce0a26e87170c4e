//! Reading graph dumps (`lockdep/schema/graph.schema.json`) and report documents
//! (`lockdep/schema/report.schema.json`): files or directories of them, every problem an
//! [`Error`] naming the file, never a panic.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The newest graph dump version this tool reads.
pub const GRAPH_VERSION: u64 = 2;
/// The oldest one: version 1 lacks only the chain list and the lock statistics.
pub const OLDEST_GRAPH_VERSION: u64 = 1;
/// The report version this tool reads.
pub const REPORT_VERSION: u64 = 1;

/// Bad input: printed as one line, exit status 2.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(path: &Path, what: impl fmt::Display) -> Error {
    Error(format!("{}: {what}", path.display()))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thread {
    pub name: String,
    pub id: Option<u64>,
}

impl fmt::Display for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "{}/{id}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub pid: u32,
    pub program: String,
    pub args: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    pub name: String,
    pub lock_kind: String,
    pub annotation: String,
}

/// The four dependency kinds, as the engine records them.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum Kind {
    SR,
    ER,
    SN,
    EN,
}

impl Kind {
    /// The holder was a reader (Shared).
    pub fn shared_holder(self) -> bool {
        matches!(self, Kind::SR | Kind::SN)
    }
    /// The acquirer was a recursive reader.
    pub fn recursive_acquirer(self) -> bool {
        matches!(self, Kind::SR | Kind::ER)
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Write,
    Read,
    RecursiveRead,
}

impl Mode {
    /// `lock` or `rlock`, as the scenario table prints an acquisition.
    pub fn verb(self) -> &'static str {
        match self {
            Mode::Write => "lock",
            _ => "rlock",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::Write => "write",
            Mode::Read => "read",
            Mode::RecursiveRead => "recursive_read",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    pub from: String,
    pub to: String,
    pub kinds: Vec<Kind>,
    pub from_mode: Mode,
    pub to_mode: Mode,
    pub from_site: Option<Site>,
    pub to_site: Option<Site>,
    pub thread: Thread,
    pub stack: Vec<Frame>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    pub classes: u64,
    pub max_classes: u64,
    pub dependencies: u64,
    pub max_dependencies: u64,
    pub chains: u64,
    pub max_chains: u64,
    pub stack_entries: u64,
    pub max_stack_entries: u64,
    pub slow_paths: u64,
}

/// A cached lock chain (version 2): its classes in one irq context, the acquired one last.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    pub irq_context: u8,
    pub classes: Vec<String>,
}

/// One class's lock statistics (version 2, `lock-stat` builds only), in nanoseconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockStat {
    pub class: String,
    pub contentions: u64,
    pub wait_total_ns: u64,
    pub wait_max_ns: u64,
    pub holds: u64,
    pub hold_total_ns: u64,
    pub hold_min_ns: u64,
    pub hold_max_ns: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dump {
    pub version: u64,
    pub format: String,
    pub process: Process,
    pub classes: Vec<Class>,
    pub dependencies: Vec<Dependency>,
    /// `None` in a version-1 dump, which records chains only as a count.
    pub chains: Option<Vec<Chain>>,
    pub stats: Stats,
    /// Only in dumps of a build with the `lock-stat` feature.
    pub lock_stats: Option<Vec<LockStat>>,
}

/// One dump and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub dump: Dump,
}

impl Loaded {
    /// How output names this dump: its file name and process id.
    pub fn label(&self) -> String {
        let file = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!("{file} (pid {})", self.dump.process.pid)
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
    serde_json::from_str(&text).map_err(|e| err(path, format_args!("not JSON: {e}")))
}

/// Checks `format` and `version` before the rest, so an old or foreign file gets a message
/// about that rather than about a missing field.
fn parse_dump(path: &Path, v: serde_json::Value) -> Result<Dump, Error> {
    match v.get("format").and_then(|f| f.as_str()) {
        Some("lockdep-graph") => {}
        Some(other) => {
            return Err(err(
                path,
                format_args!("not a lockdep graph dump (format {other:?})"),
            ))
        }
        None => return Err(err(path, "not a lockdep graph dump (no \"format\" field)")),
    }
    let version = match v.get("version").and_then(|x| x.as_u64()) {
        Some(n @ OLDEST_GRAPH_VERSION..=GRAPH_VERSION) => n,
        Some(n) => {
            return Err(err(
                path,
                format_args!(
                    "graph dump version {n} is not supported (this tool reads versions {OLDEST_GRAPH_VERSION} to {GRAPH_VERSION})"
                ),
            ))
        }
        None => return Err(err(path, "graph dump without a numeric \"version\"")),
    };
    let dump: Dump =
        serde_json::from_value(v).map_err(|e| err(path, format_args!("invalid graph dump: {e}")))?;
    if version >= 2 && dump.chains.is_none() {
        return Err(err(path, "invalid graph dump: missing field `chains`"));
    }
    Ok(dump)
}

/// Expands directories into their `*.json` files, sorted; a directory with none is an error.
fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| err(input, e))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| err(input, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(err(input, "no .json files in this directory"));
            }
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        return Err(Error(String::from("no input given")));
    }
    Ok(files)
}

/// Loads graph dumps from files and directories. In a directory, report documents (a
/// report directory shared with the dumps) are skipped; any other file must be a dump.
pub fn dumps(inputs: &[PathBuf]) -> Result<Vec<Loaded>, Error> {
    let mut out = Vec::new();
    for path in expand(inputs)? {
        let v = read_json(&path)?;
        let from_dir = !inputs.contains(&path);
        if from_dir && v.get("kind").is_some() && v.get("format").is_none() {
            continue; // a report next to the dumps
        }
        out.push(Loaded {
            dump: parse_dump(&path, v)?,
            path,
        });
    }
    if out.is_empty() {
        return Err(Error(String::from("no graph dumps among the inputs")));
    }
    Ok(out)
}

/// One report document, kept as JSON (the tool renders its text and classes).
pub struct ReportDoc {
    pub path: PathBuf,
    pub doc: serde_json::Value,
}

/// Loads the report documents of a report directory (`*.json`, version checked).
pub fn reports(dir: &Path) -> Result<Vec<ReportDoc>, Error> {
    let meta = std::fs::metadata(dir).map_err(|e| err(dir, e))?;
    if !meta.is_dir() {
        return Err(err(dir, "not a directory"));
    }
    let mut out = Vec::new();
    for path in expand(&[dir.to_path_buf()]).or_else(|_| Ok::<_, Error>(Vec::new()))? {
        let v = read_json(&path)?;
        if v.get("format").and_then(|f| f.as_str()) == Some("lockdep-graph") {
            continue; // a graph dump in the same directory
        }
        match v.get("version").and_then(|x| x.as_u64()) {
            Some(REPORT_VERSION) => {}
            Some(n) => {
                return Err(err(
                    &path,
                    format_args!(
                        "report version {n} is not supported (this tool reads version {REPORT_VERSION})"
                    ),
                ))
            }
            None => return Err(err(&path, "not a lockdep report (no numeric \"version\")")),
        }
        for field in ["kind", "headline", "text", "classes", "summary"] {
            if v.get(field).is_none() {
                return Err(err(
                    &path,
                    format_args!("not a lockdep report (no {field:?} field)"),
                ));
            }
        }
        out.push(ReportDoc { path, doc: v });
    }
    Ok(out)
}
