//! Support code shared by the cross-crate tests in `tests/` and the benchmarks in `benches/`.
//!
//! The validator's state is process-wide ([`lockdep::reset`], [`lockdep::take_reports`]), and
//! the test harness runs the tests of one binary on several threads at once. Tests that reset
//! or drain reports take [`serial`] first so they never see each other's reports.

pub mod schema;

use std::sync::{Mutex, MutexGuard, PoisonError};

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests that use the validator's global state, and starts each with a clean
/// one: everything recorded before is forgotten and reports are collected, not printed.
pub fn serial() -> MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    lockdep::set_action(lockdep::Action::Collect);
    lockdep::reset();
    g
}

/// The kinds of the reports recorded since the last call, in order.
pub fn kinds() -> Vec<lockdep::ReportKind> {
    lockdep::take_reports().iter().map(|r| r.kind()).collect()
}

/// Compares `actual` with the golden file `tests/golden/<name>`, or rewrites the file when
/// `LOCKDEP_BLESS=1` (the way `TRYBUILD=overwrite` works). Panics with both texts on a
/// mismatch, and with a hint when the file does not exist yet.
pub fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("LOCKDEP_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with LOCKDEP_BLESS=1 to create it)\nactual:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (LOCKDEP_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Replaces what varies between runs and machines in a report's text with placeholders:
/// addresses (`0xADDR`), thread ids (`name/ID`), positions in this repository's test files
/// (`FILE:L:C`), the bar under the headline (`<bar>`), and drops the stack frames, which
/// depend on inlining and debug info.
pub fn normalise_report(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_backtrace = false;
    for line in text.lines() {
        if in_backtrace {
            if line.starts_with("note: ") {
                out.push(line.to_string());
            }
            continue;
        }
        if line == "stack backtrace:" {
            in_backtrace = true;
            out.push(line.to_string());
            continue;
        }
        if line.len() > 3 && line.chars().all(|c| c == '-') {
            // The bar under the headline, as long as the headline, which may name a thread.
            out.push(String::from("<bar>"));
            continue;
        }
        let t = line.trim_start();
        let frame = line.starts_with("       ")
            && (t.contains("::") || t.starts_with("0x") || t.starts_with("<no ") || t.contains(" ("));
        if frame && !t.contains(" while holding ") {
            continue;
        }
        out.push(scrub(line));
    }
    out.join("\n") + "\n"
}

/// Scrubs one line (see [`normalise_report`]).
pub fn scrub(line: &str) -> String {
    let mut s = String::new();
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("0x") {
            let n = r.chars().take_while(|c| c.is_ascii_hexdigit()).count();
            s.push_str("0xADDR");
            rest = &r[n..];
        } else if let Some(r) = rest.strip_prefix("tests/").filter(|r| r.contains(".rs:")) {
            let end = r.find(".rs:").unwrap();
            let file = &r[..end];
            if file.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '/') {
                let after = &r[end + 4..];
                let n = after
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == ':')
                    .count();
                let n = if after[..n].ends_with(':') { n - 1 } else { n };
                s.push_str("FILE:L:C");
                rest = &after[n..];
            } else {
                s.push_str("tests/");
                rest = r;
            }
        } else if rest.starts_with('/') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
            let n = rest[1..].chars().take_while(|c| c.is_ascii_digit()).count();
            s.push_str("/ID");
            rest = &rest[1 + n..];
        } else {
            let c = rest.chars().next().unwrap();
            s.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    s
}

/// Checks one report against its goldens `tests/golden/<kind>.{txt,json}` and its JSON
/// against the report schema.
pub fn check_report(r: &lockdep::Report) {
    let name = r.kind().name();
    golden(&format!("{name}.txt"), &normalise_report(&r.to_string()));
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../lockdep/schema/report.schema.json")).unwrap();
    assert_eq!(schema::validate(&schema, &json), Vec::<String>::new(), "{json:#}");
    assert_eq!(json["kind"], name);
    assert_eq!(json["version"], lockdep::REPORT_SCHEMA_VERSION);
    assert_eq!(json["text"], r.to_string());
    golden(
        &format!("{name}.json"),
        &(serde_json::to_string_pretty(&normalise_json(json)).unwrap() + "\n"),
    );
}

/// The JSON counterpart of [`normalise_report`]: addresses, thread ids, test-file sites,
/// stacks and the signature hash replaced by placeholders.
pub fn normalise_json(mut v: serde_json::Value) -> serde_json::Value {
    fn walk(key: &str, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    walk(k, x);
                }
                if let Some(f) = o.get("file").and_then(serde_json::Value::as_str) {
                    if key.ends_with("site") && f.starts_with("tests/") {
                        o.insert("file".into(), "FILE".into());
                        o.insert("line".into(), 0.into());
                        o.insert("column".into(), 0.into());
                    }
                }
                if key == "thread" && o.get("id").is_some_and(|i| !i.is_null()) {
                    o.insert("id".into(), "ID".into());
                }
            }
            serde_json::Value::Array(a) if key == "stack" => a.clear(),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(key, x)),
            serde_json::Value::String(s) if key == "text" => *s = normalise_report(s),
            serde_json::Value::String(s) if key == "signature" => *s = "SIGNATURE".into(),
            serde_json::Value::String(s) => *s = scrub(s),
            _ => {}
        }
    }
    walk("", &mut v);
    v
}
