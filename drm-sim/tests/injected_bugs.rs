//! Every injected bug, end to end through the binary: `drm-sim --duration 1 --quiet --inject
//! NAME` finishes (the summary line is printed), exits with status 1, and the first report it
//! prints has the expected headline and names the kernel's classes involved. The runs go in
//! parallel, a few at a time, to keep the wall time down.
//!
//! Without the validator (`--no-default-features`) the same runs must finish with status 0
//! and no report: the bugs are still injected, nothing catches them.

use drm_sim::Bug;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

const CIRCULAR: &str = "WARNING: possible circular locking dependency detected";
const RECURSIVE: &str = "WARNING: possible recursive locking detected";
const WAIT_CONTEXT: &str = "[ BUG: Invalid wait context ]";
const SLEEPING: &str = "BUG: sleeping function called from invalid context";
const INCONSISTENT: &str = "WARNING: inconsistent lock state";
const IRQ_INVERSION: &str = "WARNING: possible irq lock inversion dependency detected";
const SAFE_UNSAFE: &str = "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected";
const FORBIDDEN: &str = "WARNING: forbidden operation while holding a lock";
const RCU: &str = "WARNING: suspicious RCU usage";
const RETURN_TO_USER: &str = "WARNING: lock held when returning to user space!";
const PANIC: &str = "BUG: invalid lock operation in panic context";

/// An irq-safety bug's first report depends on which use came first: the lock taken with
/// interrupts on, then in the handler (inconsistent lock state), or a lock that nests it
/// becoming irq-safe later (irq lock inversion, safe -> unsafe order).
const IRQ_UNSAFE: &[&str] = &[INCONSISTENT, IRQ_INVERSION, SAFE_UNSAFE];

/// Each bug's first report: its headline (one of) and the classes it must name.
const EXPECTED: [(&str, &[&str], &[&str]); 28] = [
    (
        "wait-in-signalling",
        &[CIRCULAR],
        &["&gpu->lock", "dma_fence_map"],
    ),
    ("alloc-in-run-job", &[CIRCULAR], &["fs_reclaim", "dma_fence_map"]),
    (
        "resv-in-run-job",
        &[CIRCULAR],
        &["reservation_ww_class_mutex", "dma_fence_map"],
    ),
    (
        "copy-to-user-under-resv",
        &[CIRCULAR],
        &["&mm->mmap_lock", "reservation_ww_class_mutex"],
    ),
    // In kswapd or a drop-caches pass the blocking lock closes `resv -> fs_reclaim`; in direct
    // reclaim under a submit's own resv it is first a ctx-less resv under another one.
    (
        "shrinker-blocks-on-resv",
        &[CIRCULAR, RECURSIVE],
        &["fs_reclaim", "reservation_ww_class_mutex"],
    ),
    ("resv-without-ctx", &[RECURSIVE], &["reservation_ww_class_mutex"]),
    (
        "pin-with-resv-held",
        &[RECURSIVE],
        &["reservation_ww_class_mutex", "reservation_ww_class_acquire"],
    ),
    // The mutex taken in the irq handler under the fence lock; its process-context use
    // (irqs on) may be printed first by the other thread: an irq-safety report then.
    (
        "sleep-in-fence-callback",
        &[WAIT_CONTEXT, SLEEPING, INCONSISTENT],
        &["&ctx->retire_lock"],
    ),
    ("fence-lock-irq-unsafe", IRQ_UNSAFE, &["&fence->lock"]),
    (
        "tdr-takes-alloc-lock",
        &[CIRCULAR],
        &["&vm->lock", "fs_reclaim", "dma_fence_map"],
    ),
    (
        "fence-release-under-resv",
        &[RECURSIVE],
        &["reservation_ww_class_mutex"],
    ),
    (
        "fence-array-lock-inversion",
        &[CIRCULAR],
        &["&dma_fence_array_lock_key", "&fence->inline_lock"],
    ),
    (
        "cancel-work-under-run-lock",
        &[CIRCULAR],
        &["&gpu->lock", "(work_completion)(&sched->work_run_job)"],
    ),
    (
        "fault-under-notifier-lock",
        &[CIRCULAR],
        &[
            "&vm->userptr.notifier_lock",
            "mmu_notifier_invalidate_range_start",
            "&mm->mmap_lock",
        ],
    ),
    ("resubmit-jobs", &[CIRCULAR], &["fs_reclaim", "dma_fence_map"]),
    ("fence-wait-in-dev-enter", &[FORBIDDEN], &["drm_unplug_srcu"]),
    ("unplug-in-dev-enter", &[RCU], &["drm_unplug_srcu"]),
    ("leaked-dev-enter", &[RETURN_TO_USER], &["drm_unplug_srcu"]),
    (
        "modeset-lock-in-tdr",
        &[CIRCULAR],
        &["crtc_ww_class_acquire", "dma_fence_map"],
    ),
    // The reset suspends and resumes the fbdev console, whose resume allocates.
    (
        "console-lock-in-tdr",
        &[CIRCULAR],
        &["console_lock", "fs_reclaim", "dma_fence_map"],
    ),
    (
        "blocking-lock-in-panic",
        &[PANIC],
        &["&dev->mode_config.panic_lock"],
    ),
    ("spin-trylock-in-panic", &[PANIC], &["&dev->event_lock"]),
    (
        "pan-display-reversed",
        &[CIRCULAR],
        &["&client->modeset_mutex", "crtc_ww_class_mutex"],
    ),
    // Closed through the job's signalling section or the reclaim-safe submit queue.
    (
        "runtime-pm-in-run-job",
        &[CIRCULAR],
        &["&gpu->active_lock", "&opp_table->lock", "fs_reclaim"],
    ),
    (
        "resv-in-commit-tail",
        &[CIRCULAR],
        &["reservation_ww_class_mutex", "dma_fence_map"],
    ),
    (
        "alloc-in-commit-tail",
        &[CIRCULAR],
        &["fs_reclaim", "dma_fence_map"],
    ),
    (
        "hrtimer-cancel-under-vblank-lock",
        &[CIRCULAR],
        &["(&vkms_out->vblank_hrtimer)", "&dev->vblank_time_lock"],
    ),
    (
        "spinlock-under-panic-lock",
        &[WAIT_CONTEXT],
        &["&dev->mode_config.panic_lock", "&crtc->commit_lock"],
    ),
];

/// Runs at the same time.
const PARALLEL: usize = 4;

/// The reports in a stderr text: each starts at a `====` line followed by its headline, and
/// runs to the next one.
fn reports(stderr: &str) -> Vec<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let starts: Vec<usize> = (0..lines.len().saturating_sub(1))
        .filter(|&i| lines[i].starts_with("====") && !lines[i + 1].is_empty())
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let end = starts.get(k + 1).copied().unwrap_or(lines.len());
            lines[s + 1..end].join("\n")
        })
        .collect()
}

/// What a run must show; `Err` says what it did not.
fn check(name: &str, headlines: &[&str], classes: &[&str]) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_drm-sim"))
        .args(["--duration", "1", "--quiet", "--clients", "2", "--inject", name])
        .env("RUST_BACKTRACE", "0")
        .output()
        .map_err(|e| format!("{name}: cannot run drm-sim: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = |what: String| {
        format!(
            "{name}: {what}\n--- stdout\n{stdout}\n--- stderr (head)\n{}",
            &stderr[..stderr.len().min(3000)]
        )
    };
    let last = stdout.lines().last().unwrap_or("");
    if !last.starts_with("summary: jobs=") {
        return Err(why("the run did not finish with the summary line".into()));
    }
    if !lockdep::ENABLED {
        return match (out.status.code(), last.contains(" reports=0 ")) {
            (Some(0), true) => Ok(()),
            _ => Err(why(format!(
                "without the validator: status {:?}",
                out.status.code()
            ))),
        };
    }
    if out.status.code() != Some(1) {
        return Err(why(format!("exit status {:?}, not 1", out.status.code())));
    }
    let r = reports(&stderr);
    let first = r.first().ok_or_else(|| why("no report".into()))?;
    if !headlines.iter().any(|h| first.starts_with(h)) {
        return Err(why(format!("first report is not one of {headlines:?}")));
    }
    for c in classes {
        if !first.contains(&format!("({c})")) {
            return Err(why(format!("first report does not name ({c})")));
        }
    }
    // Only the reports' headlines may look like kernel report headlines.
    let bare = stderr
        .lines()
        .zip(std::iter::once("").chain(stderr.lines()))
        .filter(|(l, prev)| (l.starts_with("WARNING:") || l.starts_with("BUG:")) && !prev.starts_with("===="))
        .count();
    if bare > 0
        || stdout
            .lines()
            .any(|l| l.starts_with("WARNING:") || l.starts_with("BUG:"))
    {
        return Err(why("a line outside a report starts like a report headline".into()));
    }
    Ok(())
}

#[test]
fn every_injected_bug_is_reported_first_and_the_run_finishes() {
    let names: Vec<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    let catalogue: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
    assert_eq!(names, catalogue, "the table covers the catalogue, in its order");
    let next = Arc::new(Mutex::new(0usize));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (next, failures) = (next.clone(), failures.clone());
            thread::spawn(move || loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some((name, headlines, classes)) = EXPECTED.get(i) else {
                    break;
                };
                if let Err(e) = check(name, headlines, classes) {
                    failures.lock().unwrap().push(e);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let f = failures.lock().unwrap();
    assert!(
        f.is_empty(),
        "{} of {} bugs failed:\n{}",
        f.len(),
        EXPECTED.len(),
        f.join("\n\n")
    );
}

#[test]
fn reports_are_split_at_their_frames() {
    let text = "noise\n=====\nWARNING: a\n-----\nx (c1)\n\n=====\nBUG: b\n---\n(c2)\n";
    let r = reports(text);
    assert_eq!(r.len(), 2);
    assert!(r[0].starts_with("WARNING: a") && r[0].contains("(c1)") && !r[0].contains("(c2)"));
    assert!(r[1].starts_with("BUG: b"));
    assert!(reports("no report here\n").is_empty());
}
