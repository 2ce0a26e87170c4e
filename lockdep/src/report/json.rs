//! The JSON rendering of a report (with the `json` feature, which `check` turns on), in the
//! versioned schema `lockdep/schema/report.schema.json`.
//!
//! The document is built from borrowed views of the report, so the field names here *are* the
//! schema: a change to them is a change of [`REPORT_SCHEMA_VERSION`].

use super::{Dependency, Frame, HeldLock, LockMode, Report, Stack};
use serde::Serialize;
use std::panic::Location;

/// The `version` of every report document. Raised whenever a field changes meaning or goes
/// away; new optional fields keep it.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    kind: &'static str,
    headline: &'a str,
    signature: String,
    thread: Thread<'a>,
    classes: Vec<&'a str>,
    summary: String,
    acquiring: Option<Lock<'a>>,
    holding: Option<Lock<'a>>,
    held: Vec<Lock<'a>>,
    dependencies: Vec<Dep<'a>>,
    stack: Vec<JsonFrame<'a>>,
    details: &'a [String],
    hint: Option<String>,
    text: String,
}

/// `name/id` split in two.
#[derive(Serialize)]
pub(crate) struct Thread<'a> {
    pub name: &'a str,
    pub id: Option<u64>,
}

pub(crate) fn thread(desc: &str) -> Thread<'_> {
    match desc.rsplit_once('/') {
        Some((name, id)) if id.parse::<u64>().is_ok() => Thread {
            name,
            id: id.parse().ok(),
        },
        _ => Thread { name: desc, id: None },
    }
}

#[derive(Serialize)]
pub(crate) struct Site<'a> {
    pub file: &'a str,
    pub line: u32,
    pub column: u32,
}

pub(crate) fn site(l: Option<&'static Location<'static>>) -> Option<Site<'static>> {
    l.map(|l| Site {
        file: l.file(),
        line: l.line(),
        column: l.column(),
    })
}

#[derive(Serialize)]
struct Lock<'a> {
    class: &'a str,
    lock_kind: &'static str,
    mode: &'static str,
    trylock: bool,
    /// Only on a timed acquisition, so the documents of every other stay as they were.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    timed: bool,
    instance: String,
    site: Option<Site<'static>>,
    annotation: Option<&'a str>,
}

#[derive(Serialize)]
struct Dep<'a> {
    from: &'a str,
    to: &'a str,
    from_mode: &'static str,
    to_mode: &'static str,
    from_site: Option<Site<'static>>,
    to_site: Option<Site<'static>>,
    thread: Thread<'a>,
    stack: Vec<JsonFrame<'a>>,
}

#[derive(Serialize)]
pub(crate) struct JsonFrame<'a> {
    pub function: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
}

/// `write`, `read` or `recursive_read`.
pub(crate) fn mode(m: LockMode) -> &'static str {
    match m {
        LockMode::Write => "write",
        LockMode::Read => "read",
        LockMode::RecursiveRead => "recursive_read",
    }
}

pub(crate) fn frames(s: &Stack) -> Vec<JsonFrame<'_>> {
    s.frames().iter().map(frame).collect()
}

fn frame(f: &Frame) -> JsonFrame<'_> {
    JsonFrame {
        function: &f.function,
        file: f.file.as_deref(),
        line: f.line,
    }
}

impl Report {
    fn lock<'a>(&'a self, l: &'a HeldLock) -> Lock<'a> {
        Lock {
            class: &l.class,
            lock_kind: l.kind,
            mode: mode(l.mode),
            trylock: l.trylock,
            timed: l.timed,
            instance: format!("{:#x}", l.instance),
            site: site(l.location),
            annotation: self.annotation(&l.class),
        }
    }

    fn dep<'a>(&'a self, d: &'a Dependency) -> Dep<'a> {
        Dep {
            from: &d.from,
            to: &d.to,
            from_mode: mode(d.from_mode),
            to_mode: mode(d.to_mode),
            from_site: site(d.from_location),
            to_site: site(d.to_location),
            thread: thread(&d.thread),
            stack: frames(&d.stack),
        }
    }

    /// The report as one JSON document (pretty-printed, schema version
    /// [`REPORT_SCHEMA_VERSION`]); `text` holds the full text rendering.
    pub fn to_json(&self) -> String {
        let doc = Doc {
            version: REPORT_SCHEMA_VERSION,
            kind: self.kind.name(),
            headline: &self.headline,
            signature: self.signature(),
            thread: thread(&self.thread),
            classes: self.classes(),
            summary: self.summary(),
            acquiring: self.acquiring.as_ref().map(|l| self.lock(l)),
            holding: self.holding.as_ref().map(|l| self.lock(l)),
            held: self.held.iter().map(|l| self.lock(l)).collect(),
            dependencies: self.dependencies.iter().map(|d| self.dep(d)).collect(),
            stack: frames(&self.stack),
            details: self.details(),
            hint: self.hint(),
            text: self.to_string(),
        };
        // Serialising plain strings, numbers and options cannot fail.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}
