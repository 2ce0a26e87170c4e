//! Graph dumps: the process's dependency graph as one JSON document
//! (`lockdep/schema/graph.schema.json`), for the `lockdep` tool to merge with the dumps of
//! other processes, so a cycle whose halves ran in two test processes is still found.
//!
//! [`crate::dump_graph`] writes one on request. With `LOCKDEP_GRAPH_DUMP=DIR` each process
//! writes `DIR/<program>-<pid>-<nanos>.json` when it exits normally (returning from `main`,
//! or `std::process::exit`; not on an abort or a signal): the validator registers a C
//! `atexit` handler the first time it sets up its state, so test binaries and every process
//! nextest starts dump without any code of their own.
//!
//! Classes are named as reports name them (a call-site class by `file:line:col`), so the
//! dumps of processes of one build agree. Besides the dependencies a dump lists the cached
//! lock chains (for `lockdep show`, as `/proc/lockdep_chains`) and, in a `lock-stat` build,
//! the lock statistics (as `/proc/lock_stat`). The data is copied under the validator's lock and
//! symbolised after it is released.

use super::graph::{DEP_EN, DEP_ER, DEP_SN, DEP_SR};
use super::state;
use crate::report::json::{frames, mode, site, thread, JsonFrame, Site, Thread};
use crate::report::{LockMode, Stack};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The `version` of every graph dump (defined in the crate root, where it exists with the
/// feature off too).
pub const GRAPH_SCHEMA_VERSION: u32 = crate::GRAPH_SCHEMA_VERSION;

#[derive(Serialize)]
struct Dump<'a> {
    version: u32,
    format: &'static str,
    process: Process,
    classes: Vec<Class<'a>>,
    dependencies: Vec<Dep<'a>>,
    chains: Vec<Chain<'a>>,
    stats: Stats,
    /// Only with the `lock-stat` feature.
    #[serde(skip_serializing_if = "Option::is_none")]
    lock_stats: Option<Vec<LockStat>>,
}

/// A cached chain: its classes, oldest held first, the acquired one last.
#[derive(Serialize)]
struct Chain<'a> {
    irq_context: u8,
    classes: Vec<&'a str>,
}

/// One class's lock statistics, durations in nanoseconds.
#[derive(Serialize)]
struct LockStat {
    class: String,
    contentions: u64,
    wait_total_ns: u64,
    wait_max_ns: u64,
    holds: u64,
    hold_total_ns: u64,
    hold_min_ns: u64,
    hold_max_ns: u64,
}

#[derive(Serialize)]
struct Process {
    pid: u32,
    program: String,
    args: Vec<String>,
}

#[derive(Serialize)]
struct Class<'a> {
    name: &'a str,
    lock_kind: &'static str,
    annotation: String,
}

#[derive(Serialize)]
struct Dep<'a> {
    from: &'a str,
    to: &'a str,
    /// The kernel's dependency kinds recorded for the pair: `SR`, `ER`, `SN`, `EN` (Shared or
    /// Exclusive holder, Recursive-reader or Non-recursive acquirer).
    kinds: Vec<&'static str>,
    from_mode: &'static str,
    to_mode: &'static str,
    from_site: Option<Site<'static>>,
    to_site: Option<Site<'static>>,
    thread: Thread<'a>,
    stack: Vec<JsonFrame<'a>>,
}

#[derive(Serialize)]
struct Stats {
    classes: usize,
    max_classes: usize,
    dependencies: usize,
    max_dependencies: usize,
    chains: usize,
    max_chains: usize,
    stack_entries: usize,
    max_stack_entries: usize,
    slow_paths: u64,
}

/// What is copied out of the state for one dependency.
struct RawDep {
    from: u32,
    to: u32,
    dep: u8,
    from_read: u8,
    to_read: u8,
    from_loc: Option<&'static std::panic::Location<'static>>,
    to_loc: Option<&'static std::panic::Location<'static>>,
    thread: String,
    stack: Stack,
}

/// The process's graph as a JSON document, or `None` if the validator's state stayed busy
/// (only at exit, where waiting could hang) or this thread is inside the validator. It runs
/// as validator work: what it allocates and the locks it takes are untracked.
pub(crate) fn render(wait: bool) -> Option<String> {
    super::held::guarded(|_| render_unguarded(wait)).flatten()
}

fn render_unguarded(wait: bool) -> Option<String> {
    let slow_paths = state::LOCKED.load(std::sync::atomic::Ordering::Relaxed);
    let st = if wait {
        Some(state::lock())
    } else {
        state::try_lock_for(std::time::Duration::from_millis(50))
    }?;
    let classes: Vec<(String, &'static str, String)> = st
        .classes
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| {
            let usage = st.usage.get(i).copied().unwrap_or(0);
            (
                c.name.clone(),
                c.kind.name(),
                super::annotate::annotation(usage, c.wait_outer, c.wait_inner),
            )
        })
        .collect();
    let deps: Vec<RawDep> = st
        .graph
        .edges
        .iter()
        .map(|e| RawDep {
            from: e.from,
            to: e.to,
            dep: e.dep,
            from_read: e.from_read,
            to_read: e.to_read,
            from_loc: e.from_loc,
            to_loc: e.to_loc,
            thread: st
                .thread_names
                .get(&e.tid)
                .cloned()
                .unwrap_or_else(|| format!("?/{}", e.tid)),
            stack: Stack::from_ips(st.stacks.get(e.trace).to_vec()),
        })
        .collect();
    let stats = Stats {
        classes: st.classes.len() - 1,
        max_classes: state::MAX_CLASSES,
        dependencies: st.graph.edge_count(),
        max_dependencies: super::graph::MAX_EDGES,
        chains: st.chains.len(),
        max_chains: super::chain::MAX_CHAINS,
        stack_entries: st.stacks.frames(),
        max_stack_entries: super::stack::MAX_STACK_ENTRIES,
        slow_paths,
    };
    let chains: Vec<(u8, Box<[u32]>)> = st
        .chains
        .iter()
        .map(|c| (c.irq_context, c.classes.clone()))
        .collect();
    let lock_stats = lock_stats(&st);
    drop(st);

    let name = |id: u32| {
        classes
            .get(id as usize - 1)
            .map_or("<untracked>", |c| c.0.as_str())
    };
    let dump = Dump {
        version: GRAPH_SCHEMA_VERSION,
        format: "lockdep-graph",
        process: Process {
            pid: std::process::id(),
            program: program(),
            args: std::env::args().skip(1).collect(),
        },
        classes: classes
            .iter()
            .map(|(n, k, a)| Class {
                name: n,
                lock_kind: k,
                annotation: a.clone(),
            })
            .collect(),
        dependencies: deps
            .iter()
            .map(|d| Dep {
                from: name(d.from),
                to: name(d.to),
                kinds: [(DEP_SR, "SR"), (DEP_ER, "ER"), (DEP_SN, "SN"), (DEP_EN, "EN")]
                    .iter()
                    .filter(|(bit, _)| d.dep & bit != 0)
                    .map(|(_, n)| *n)
                    .collect(),
                from_mode: mode(LockMode::from_read(d.from_read)),
                to_mode: mode(LockMode::from_read(d.to_read)),
                from_site: site(d.from_loc),
                to_site: site(d.to_loc),
                thread: thread(&d.thread),
                stack: frames(&d.stack),
            })
            .collect(),
        chains: chains
            .iter()
            .map(|(irq_context, classes)| Chain {
                irq_context: *irq_context,
                classes: classes.iter().map(|&c| name(c)).collect(),
            })
            .collect(),
        stats,
        lock_stats,
    };
    serde_json::to_string_pretty(&dump).ok()
}

#[cfg(feature = "lock-stat")]
fn lock_stats(st: &state::State) -> Option<Vec<LockStat>> {
    let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let stats = super::lock_stat::snapshot_in(st);
    Some(
        stats
            .into_iter()
            .map(|s| LockStat {
                contentions: s.contentions,
                wait_total_ns: ns(s.wait_total),
                wait_max_ns: ns(s.wait_max),
                holds: s.holds,
                hold_total_ns: ns(s.hold_total),
                hold_min_ns: ns(s.hold_min),
                hold_max_ns: ns(s.hold_max),
                class: s.class,
            })
            .collect(),
    )
}

#[cfg(not(feature = "lock-stat"))]
fn lock_stats(_: &state::State) -> Option<Vec<LockStat>> {
    None
}

/// The program's file name, as dump file names carry it.
fn program() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| String::from("process"))
}

/// Writes the graph to `path`, atomically (a temporary file renamed into place).
pub(crate) fn dump_to(path: &Path, wait: bool) -> std::io::Result<()> {
    let doc = render(wait).ok_or_else(|| std::io::Error::other("the validator's state is busy"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    super::report_dir::atomic_write(&dir, &name.to_string_lossy(), doc.as_bytes())
}

/// Writes this process's dump into `dir` under a name no other process uses.
pub(crate) fn dump_into(dir: &Path, wait: bool) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("{}-{}-{nanos}.json", program(), std::process::id()));
    dump_to(&path, wait)?;
    Ok(path)
}

extern "C" fn at_exit() {
    let Some(dir) = std::env::var_os("LOCKDEP_GRAPH_DUMP").filter(|d| !d.is_empty()) else {
        return;
    };
    // Never unwind into C, and never wait on a lock a thread still running may hold.
    let _ = std::panic::catch_unwind(|| {
        if let Err(e) = dump_into(Path::new(&dir), false) {
            eprintln!(
                "lockdep: cannot write the graph dump to {}: {e}",
                dir.to_string_lossy()
            );
        }
    });
}

/// Registers the exit handler once, if `LOCKDEP_GRAPH_DUMP` is set (called when the state is
/// first created, without the state's lock held).
pub(crate) fn register_at_exit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("LOCKDEP_GRAPH_DUMP").is_none_or(|d| d.is_empty()) {
        return;
    }
    ONCE.call_once(|| {
        // SAFETY: `at_exit` is a plain `extern "C" fn()` that lives as long as the program and
        // catches every panic, which is all `atexit` requires of a handler.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}
