//! A report's signature: what makes two reports "the same violation", as text that is stable
//! across processes of one build, and its hash, which names the report's files
//! ([`Report::stem`]).
//!
//! Only class names (a call-site class is named `file:line:col`), headlines and call sites go
//! in, never class ids, addresses or thread ids, which differ from process to process. The
//! parts mirror what the validator de-duplicates a kind on:
//!
//! * a cycle, or locks held where none may be (at thread exit, on return to user space, in a
//!   panic): the *set* of classes, in any order;
//! * an inconsistent lock state: the class and the usage change;
//! * recursive locking: the classes, and whether it is the very same lock re-taken;
//! * kinds keyed on where an operation happened (a panic-context lock, a failed assertion, a
//!   ww or SRCU misuse, a sleep or forbidden operation outside any acquisition, a wait context
//!   broken by the thread's own context) or on a class the report names only in its
//!   explanation (a class shared by two lock kinds): the classes and the explanation, with the
//!   thread and addresses taken out;
//! * everything else: the classes, holder before acquirer.
//!
//! One caveat: two distinct classes with the same name are told apart as `name` and `name#1`
//! in the order they were first used, which two processes may not share. Give classes
//! distinct names where reports are compared across processes.

use super::{Detail, Report, ReportKind, WaitLimit};

/// Kinds whose classes form a set.
fn is_set_kind(kind: ReportKind) -> bool {
    matches!(
        kind,
        ReportKind::CircularDependency
            | ReportKind::LocksHeldAtExit
            | ReportKind::HeldOnReturnToUser
            | ReportKind::PanicWhileHolding
    )
}

/// Whether the violation's identity includes where the operation happened, which only the
/// kind's own lines carry.
fn is_site_kind(r: &Report) -> bool {
    matches!(
        r.detail,
        Detail::PanicContext
            | Detail::AssertionFailed { .. }
            | Detail::WwMisuse { .. }
            | Detail::SuspiciousRcuUsage { .. }
            | Detail::ClassKindMismatch { .. }
            | Detail::MightSleep { .. }
            | Detail::ForbiddenOperation { .. }
    )
}

/// Replaces the thread's description and every hex address: they vary between processes.
fn scrub(r: &Report, line: &str) -> String {
    let line = line.replace(&r.thread, "<thread>");
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push_str("0x");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

impl Report {
    /// The parts that identify the violation (see the module doc), joined by newlines.
    pub fn signature_text(&self) -> String {
        let mut parts: Vec<String> = vec![self.kind.name().to_string()];
        if self.kind != ReportKind::LocksHeldAtExit {
            parts.push(self.headline.clone());
        }
        let mut classes: Vec<String> = self.classes().iter().map(|c| c.to_string()).collect();
        if is_set_kind(self.kind) {
            classes.sort();
        }
        parts.extend(classes);
        match &self.detail {
            // The very lock re-taken (a certain deadlock) and two locks of one class (a
            // possible one) are different violations of the same classes.
            Detail::RecursiveLocking { .. } => {
                if let (Some(a), Some(h)) = (&self.acquiring, &self.holding) {
                    if a.instance == h.instance {
                        parts.push(String::from("same instance"));
                    }
                }
            }
            Detail::InconsistentLockState { .. } => parts.extend(self.details().first().cloned()),
            Detail::InvalidWaitContext {
                limit: WaitLimit::Irq(_),
                ..
            } => parts.extend(self.details().last().map(|d| scrub(self, d))),
            _ if is_site_kind(self) => {
                if let Some(l) = self.acquiring.as_ref().and_then(|a| a.location) {
                    parts.push(format!("{}:{}:{}", l.file(), l.line(), l.column()));
                }
                parts.extend(self.details().iter().map(|d| scrub(self, d)));
            }
            _ => {}
        }
        parts.join("\n")
    }

    /// The 64-bit FNV-1a hash of [`signature_text`](Self::signature_text), as 16 hex digits.
    pub fn signature(&self) -> String {
        format!("{:016x}", fnv1a(self.signature_text().as_bytes()))
    }

    /// The file stem of the report in a report directory: `<kind>-<signature>`.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.kind.name(), self.signature())
    }
}

/// FNV-1a: fixed constants, so the hash is the same in every process and build.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
