//! Stack traces: captured unresolved (instruction pointers only) when a new dependency is
//! recorded, interned in an append-only arena, and symbolised only when a report is printed.

use rustc_hash::FxHashMap;

/// At most this many frames are kept per trace.
pub(crate) const MAX_FRAMES: usize = 40;
/// Total instruction pointers the arena holds (the kernel's `MAX_STACK_TRACE_ENTRIES`).
pub(crate) const MAX_STACK_ENTRIES: usize = 1 << 19;

/// Index of an interned trace.
pub(crate) type TraceId = u32;
/// No trace (capacity exhausted).
pub(crate) const NO_TRACE: TraceId = u32::MAX;

/// Captures the current stack as instruction pointers.
pub(crate) fn capture_ips(out: &mut [usize; MAX_FRAMES]) -> usize {
    let mut n = 0;
    backtrace::trace(|frame| {
        out[n] = frame.ip() as usize;
        n += 1;
        n < MAX_FRAMES
    });
    n
}

#[derive(Default)]
pub(crate) struct StackArena {
    ips: Vec<usize>,
    traces: Vec<(u32, u16)>,
    dedup: FxHashMap<u64, Vec<TraceId>>,
    pub(crate) full: bool,
}

impl StackArena {
    pub(crate) fn new() -> Self {
        StackArena {
            ips: Vec::with_capacity(MAX_STACK_ENTRIES),
            traces: Vec::with_capacity(1 << 14),
            dedup: FxHashMap::default(),
            full: false,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.ips.clear();
        self.traces.clear();
        self.dedup.clear();
        self.full = false;
    }

    /// Interns `ips`; `None` when the arena is full.
    pub(crate) fn intern(&mut self, ips: &[usize]) -> Option<TraceId> {
        let hash = ips.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &ip| {
            (h ^ ip as u64).wrapping_mul(0x0000_0100_0000_01b3)
        });
        if let Some(ids) = self.dedup.get(&hash) {
            for &id in ids {
                if self.get(id) == ips {
                    return Some(id);
                }
            }
        }
        if self.ips.len() + ips.len() > MAX_STACK_ENTRIES {
            return None;
        }
        let id = self.traces.len() as TraceId;
        self.traces.push((self.ips.len() as u32, ips.len() as u16));
        self.ips.extend_from_slice(ips);
        self.dedup.entry(hash).or_default().push(id);
        Some(id)
    }

    /// Return addresses stored.
    pub(crate) fn frames(&self) -> usize {
        self.ips.len()
    }

    /// Bytes used by the stored traces (addresses and the trace table).
    pub(crate) fn bytes(&self) -> usize {
        self.ips.len() * std::mem::size_of::<usize>() + self.traces.len() * std::mem::size_of::<(u32, u16)>()
    }

    pub(crate) fn get(&self, id: TraceId) -> &[usize] {
        match self.traces.get(id as usize) {
            Some(&(start, len)) => &self.ips[start as usize..start as usize + len as usize],
            None => &[],
        }
    }
}

/// Symbolises one instruction pointer: one frame per function, inlined callees first.
pub(crate) fn resolve(ip: usize) -> Vec<crate::report::Frame> {
    let mut frames = Vec::new();
    backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
        let function = match sym.name() {
            Some(name) => format!("{name:#}"),
            None => format!("{ip:#x}"),
        };
        frames.push(crate::report::Frame {
            function,
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
        });
    });
    if frames.is_empty() {
        frames.push(crate::report::Frame {
            function: format!("{ip:#x}"),
            file: None,
            line: None,
        });
    }
    frames
}
