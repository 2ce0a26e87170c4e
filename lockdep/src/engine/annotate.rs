//! The per-class annotations a report prints next to a class name, the kernel's
//! `{+.+.}-{4:4}`: four usage characters (hard irq write/read, soft irq write/read: `.` never
//! in or enabled, `+` taken with the irq enabled, `-` used inside the irq, `?` both) and the
//! wait types (outer, inner) the class was declared with.
//!
//! They are read from the validator's state when the report is dispatched (see
//! [`super::sink::flush`]), not when it is built, so the checks need not carry them; the bits
//! can only have grown in between.

use super::state;
use super::usage::{USED_IN_HARDIRQ, USED_IN_SOFTIRQ};
use crate::Report;

/// One usage character, as the kernel's `get_usage_char` chooses it.
fn usage_char(mask: u16, used_in: u8) -> char {
    let used = mask & (1 << used_in) != 0;
    let enabled = mask & (1 << (used_in + 2)) != 0;
    match (used, enabled) {
        (true, true) => '?',
        (false, true) => '+',
        (true, false) => '-',
        (false, false) => '.',
    }
}

/// `{....}-{o:i}` for a class's usage mask and wait types.
pub(crate) fn annotation(mask: u16, wait_outer: u8, wait_inner: u8) -> String {
    let chars: String = [
        USED_IN_HARDIRQ,
        USED_IN_HARDIRQ + 1,
        USED_IN_SOFTIRQ,
        USED_IN_SOFTIRQ + 1,
    ]
    .iter()
    .map(|&b| usage_char(mask, b))
    .collect();
    let outer = if wait_outer != 0 { wait_outer } else { wait_inner };
    format!("{{{chars}}}-{{{outer}:{wait_inner}}}")
}

/// Fills in the annotation of every class the reports name. Skipped (the text then shows
/// none) if the validator's state is not free within its short wait.
pub(crate) fn usage(reports: &mut [Report]) {
    let Some(st) = state::try_lock_for(std::time::Duration::from_millis(50)) else {
        return;
    };
    for r in reports {
        let mut names: Vec<String> = Vec::new();
        let mut add = |n: &str| {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        };
        r.held.iter().for_each(|l| add(&l.class));
        r.acquiring
            .iter()
            .chain(r.holding.iter())
            .for_each(|l| add(&l.class));
        r.dependencies.iter().for_each(|d| {
            add(&d.from);
            add(&d.to);
        });
        r.cycle.iter().for_each(|c| add(c));
        for name in names {
            let Some(id) = st.classes.iter().position(|c| c.name == name) else {
                continue;
            };
            let c = &st.classes[id];
            let mask = st.usage.get(id).copied().unwrap_or(0);
            r.annotations
                .push((name, annotation(mask, c.wait_outer, c.wait_inner)));
        }
    }
}
