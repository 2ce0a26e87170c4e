//! The report directory: with `LOCKDEP_REPORT_DIR=DIR` (or [`crate::set_report_dir`]) every
//! distinct report is written to `DIR/<stem>.txt` (the kernel-format text) and
//! `DIR/<stem>.json` (the JSON document, see `lockdep/schema/report.schema.json`).
//!
//! `<stem>` is the report's kind and the hash of its class signature
//! ([`Report::stem`](crate::Report::stem)), which depends on class names and call sites only:
//! the same violation found by many processes of one test run lands in one pair of files, and
//! two different violations never share one.
//!
//! Each file is written to a temporary file in the same directory and moved into place, so a
//! reader never sees a partial file. Of concurrent writers (threads or processes) of the same
//! stem exactly one wins: the `.txt` is claimed with a hard link, which fails when the file
//! exists, and only the winner renames its `.json` into place. So once the `.json` is there,
//! so is the `.txt` of the same report.

use crate::Report;
use parking_lot::Mutex;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// `None`: not read from the environment yet; `Some(None)`: no directory.
static DIR: Mutex<Option<Option<PathBuf>>> = Mutex::new(None);
/// Distinguishes the temporary files of one process's threads.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);
/// Whether a failure to write was already reported on stderr.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The directory in force: the last [`set`], else `LOCKDEP_REPORT_DIR` (unset or empty: none).
pub(crate) fn get() -> Option<PathBuf> {
    DIR.lock()
        .get_or_insert_with(|| {
            std::env::var_os("LOCKDEP_REPORT_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .clone()
}

pub(crate) fn set(dir: Option<PathBuf>) {
    *DIR.lock() = Some(dir);
}

/// Writes `r` into the directory, if one is set. A failure is printed once per process (the
/// report itself still reaches the other sinks).
pub(crate) fn write(r: &Report) {
    let Some(dir) = get() else { return };
    if let Err(e) = write_in(&dir, r) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!("lockdep: cannot write reports to {}: {e}", dir.display());
        }
    }
}

fn write_in(dir: &Path, r: &Report) -> std::io::Result<()> {
    let stem = r.stem();
    let (txt, json) = (dir.join(format!("{stem}.txt")), dir.join(format!("{stem}.json")));
    if txt.exists() {
        return Ok(()); // already written, by this process or another
    }
    std::fs::create_dir_all(dir)?;
    let tmp_txt = temp_file(dir, &txt, super::sink::framed(r).as_bytes())?;
    // The `.txt` is claimed with a hard link, which fails if it exists: exactly one writer
    // wins, and only the winner writes the `.json`, so the pair always comes from one report.
    match std::fs::hard_link(&tmp_txt, &txt) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp_txt);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp_txt);
            return Ok(());
        }
        // A file system without hard links: fall back to a rename (whole files still, but
        // two processes racing on one stem may leave the .txt of one and .json of the other).
        Err(_) => std::fs::rename(&tmp_txt, &txt).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp_txt);
        })?,
    }
    let tmp_json = temp_file(dir, &json, r.to_json().as_bytes())?;
    std::fs::rename(&tmp_json, &json).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp_json);
    })
}

/// Writes `bytes` to a new temporary file next to `target`, named after it, this process and
/// a per-process sequence number, and returns its path.
fn temp_file(dir: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("report");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes `bytes` to `dir/name` through a temporary file renamed into place: a reader sees
/// the old file or the new one, never a part.
pub(crate) fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let target = dir.join(name);
    let tmp = temp_file(dir, &target, bytes)?;
    std::fs::rename(&tmp, &target).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
