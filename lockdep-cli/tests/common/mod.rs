//! Running the `lockdep` binary and checking what it wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `lockdep ARGS`.
pub fn lockdep(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lockdep"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh, empty directory under the system temp dir.
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lockdep-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn report_schema() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../lockdep/schema/report.schema.json")).unwrap()
}

/// Checks that `merge --json` output is an array of documents valid under the report schema.
pub fn assert_reports_valid(json: &str) -> Vec<serde_json::Value> {
    let docs: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
    let schema = report_schema();
    for d in &docs {
        assert_eq!(
            lockdep_suite::schema::validate(&schema, d),
            Vec::<String>::new(),
            "{d:#}"
        );
    }
    docs
}

/// Writes a hand-made dump with the given dependencies `(from, to, kinds)`.
pub fn write_dump(dir: &Path, name: &str, deps: &[(&str, &str, &[&str])]) -> PathBuf {
    let mut classes: Vec<&str> = Vec::new();
    for (f, t, _) in deps {
        for c in [f, t] {
            if !classes.contains(c) {
                classes.push(c);
            }
        }
    }
    let mode = |holder: bool, k: &str| match (holder, k) {
        (true, k) if k.starts_with('S') => "read",
        (false, k) if k.ends_with('R') => "recursive_read",
        _ => "write",
    };
    let doc = serde_json::json!({
        "version": 1,
        "format": "lockdep-graph",
        "process": { "pid": 1, "program": name, "args": [] },
        "classes": classes.iter().map(|c| serde_json::json!({"name": c, "lock_kind": "mutex", "annotation": "{+.+.}-{4:4}"})).collect::<Vec<_>>(),
        "dependencies": deps.iter().map(|(f, t, kinds)| serde_json::json!({
            "from": f, "to": t, "kinds": kinds,
            "from_mode": mode(true, kinds[0]), "to_mode": mode(false, kinds[0]),
            "from_site": { "file": "src/x.rs", "line": 1, "column": 2 },
            "to_site": { "file": "src/x.rs", "line": 3, "column": 4 },
            "thread": { "name": "main", "id": 1 },
            "stack": [{ "function": format!("{name}::take_{f}_then_{t}"), "file": "src/x.rs", "line": 3 }],
        })).collect::<Vec<_>>(),
        "stats": { "classes": classes.len(), "max_classes": 16384, "dependencies": deps.len(), "max_dependencies": 32768,
                   "chains": 1, "max_chains": 65536, "stack_entries": 10, "max_stack_entries": 524288, "slow_paths": 3 },
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    path
}
