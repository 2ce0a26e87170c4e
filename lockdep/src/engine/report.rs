//! Building reports: the parts every check fills in the same way (the thread, the locks it
//! holds, the current stack, a held lock described for printing), so a check only adds what
//! is particular to its kind.

use crate::engine::held::{Held, HeldStack};
use crate::engine::stack::{capture_ips, MAX_FRAMES};
use crate::engine::state::State;
use crate::engine::validate::thread_desc;
use crate::report::{HeldLock, LockMode, Report, ReportKind, Stack};

pub(crate) fn current_stack() -> Stack {
    let mut buf = [0usize; MAX_FRAMES];
    let n = capture_ips(&mut buf);
    Stack::from_ips(buf[..n].to_vec())
}

pub(crate) fn describe(st: &State, e: &Held) -> HeldLock {
    HeldLock {
        class: st.class_name(e.class).to_string(),
        kind: st
            .classes
            .get(e.class as usize)
            .map(|c| c.kind.name())
            .unwrap_or("lock"),
        instance: e.instance,
        mode: LockMode::from_read(e.read),
        trylock: e.trylock,
        timed: e.timed,
        location: e.loc,
    }
}

pub(crate) fn report(st: &State, kind: ReportKind, h: &HeldStack, upto: usize) -> Report {
    let mut r = Report::new(kind, thread_desc(h.tid));
    r.held = h.entries[..upto].iter().map(|e| describe(st, e)).collect();
    r.stack = current_stack();
    r
}
