//! The validator's global state, behind one plain (uninstrumented) `parking_lot` mutex taken
//! only on slow paths: class registration, new chains, new dependencies, reports.

use super::graph::Graph;
use super::map::{DepMap, LockKind, UNTRACKED};
use super::stack::StackArena;
use crate::report::ReportKind;
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many classes (twice the kernel's `MAX_LOCKDEP_KEYS`: user-space programs
/// register classes at run time more freely, and a class costs ~40 bytes).
pub(crate) const MAX_CLASSES: usize = 16384;

pub(crate) struct ClassInfo {
    /// Display name: the class name, `/subclass` when non-zero, `#n` when another class
    /// already had the same name.
    pub name: String,
    pub kind: LockKind,
    pub wait_outer: u8,
    pub wait_inner: u8,
    /// The class key (shared by all subclasses of one class), as `DepMap::key_addr` gives it.
    pub key: usize,
}

/// Capacities that ran out (each is reported once per [`crate::reset`]).
#[derive(Default)]
pub(crate) struct Exhausted {
    pub classes: bool,
    pub edges: bool,
    pub chains: bool,
    pub stacks: bool,
}

pub(crate) struct State {
    /// Index = class id; slot 0 is unused so that 0 can mean "unresolved".
    pub classes: Vec<ClassInfo>,
    /// Irq usage bits per class (see `check::usage`), index = class id.
    pub usage: Vec<u16>,
    /// How many classes were ever used inside an irq handler: while none was, no irq-safety
    /// search can find anything and all of them are skipped.
    pub irq_safe_classes: usize,
    class_index: FxHashMap<(usize, u32), u32>,
    name_uses: FxHashMap<String, u32>,
    /// The `#n` generation each key got, shared by all its subclasses.
    key_versions: FxHashMap<usize, u32>,
    pub graph: Graph,
    pub stacks: StackArena,
    /// Chains inserted in the chain cache, with their classes (for graph dumps, as the kernel
    /// keeps them for `/proc/lockdep_chains`). The cache itself holds only keys.
    pub chains: Vec<CachedChain>,
    /// Violations already reported, by kind and class signature.
    pub reported: FxHashSet<(ReportKind, Vec<u32>)>,
    /// Names of the threads that established dependencies, by validator thread id.
    pub thread_names: FxHashMap<u64, String>,
    pub exhausted: Exhausted,
    /// Must-not-nest rules: (key of the held class, key of the class that must not be taken
    /// inside it, why). Keys, not class ids, so that a rule covers every subclass.
    pub rules: Vec<(usize, usize, &'static str)>,
}

static STATE: Mutex<Option<Box<State>>> = Mutex::new(None);

/// How many times the global state was locked: the hit path must never add to it.
pub(crate) static LOCKED: AtomicU64 = AtomicU64::new(0);

/// Locks the global state, creating it on first use.
///
/// Only inside a guarded region ([`held::guarded`](super::held::guarded)): whatever runs under
/// this lock may allocate, and an allocation that takes an instrumented lock must find the
/// thread busy, or its validation would wait for this very lock.
pub(crate) fn lock() -> MappedMutexGuard<'static, State> {
    LOCKED.fetch_add(1, Ordering::Relaxed);
    lock_uncounted()
}

/// Locks the global state, uncounted, unless another thread keeps it for longer than `wait`:
/// for the report sinks and graph dumps, which must never wait long (at process exit a thread
/// still running may hold it for good). Only inside a guarded region, as [`lock`].
pub(crate) fn try_lock_for(wait: std::time::Duration) -> Option<MappedMutexGuard<'static, State>> {
    debug_assert!(
        super::held::busy(),
        "the validator's state locked outside a guarded region"
    );
    let g = STATE.try_lock_for(wait)?;
    Some(MutexGuard::map(g, |s| {
        &mut **s.get_or_insert_with(|| Box::new(State::new()))
    }))
}

fn lock_uncounted() -> MappedMutexGuard<'static, State> {
    debug_assert!(
        super::held::busy(),
        "the validator's state locked outside a guarded region"
    );
    MutexGuard::map(STATE.lock(), |s| {
        &mut **s.get_or_insert_with(|| Box::new(State::new()))
    })
}

impl State {
    pub(crate) fn new() -> Self {
        super::graph_dump::register_at_exit();
        let mut classes = Vec::with_capacity(MAX_CLASSES + 1);
        classes.push(ClassInfo {
            name: String::from("<none>"),
            kind: LockKind::Mutex,
            wait_outer: 0,
            wait_inner: 0,
            key: 0,
        });
        State {
            classes,
            usage: vec![0],
            irq_safe_classes: 0,
            class_index: FxHashMap::default(),
            name_uses: FxHashMap::default(),
            key_versions: FxHashMap::default(),
            graph: Graph::new(),
            stacks: StackArena::new(),
            chains: Vec::new(),
            reported: FxHashSet::default(),
            thread_names: FxHashMap::default(),
            exhausted: Exhausted::default(),
            rules: Vec::new(),
        }
    }

    /// Forgets dependencies, chains, traces and what was reported; classes stay.
    pub(crate) fn reset(&mut self) {
        self.graph.clear();
        self.usage.iter_mut().for_each(|u| *u = 0);
        super::class_bits::clear_usage();
        self.irq_safe_classes = 0;
        self.stacks.clear();
        self.chains.clear();
        self.reported.clear();
        self.thread_names.clear();
        self.exhausted = Exhausted::default();
    }

    /// The class id for `key`/`subclass`, registering it on first sight. Returns
    /// [`UNTRACKED`] once the class table is full (reported once).
    pub(crate) fn register_class(&mut self, key: usize, map: &DepMap, subclass: u32) -> u32 {
        if let Some(&id) = self.class_index.get(&(key, subclass)) {
            return id;
        }
        if self.classes.len() > MAX_CLASSES {
            if !self.exhausted.classes {
                self.exhausted.classes = true;
                super::check::report_capacity_once(self, ReportKind::ClassesExhausted);
            }
            return UNTRACKED;
        }
        let base = map.base_name();
        let version = match self.key_versions.get(&key) {
            Some(&v) => v,
            None => {
                let uses = self.name_uses.entry(base.clone()).or_insert(0);
                let v = *uses;
                *uses += 1;
                self.key_versions.insert(key, v);
                v
            }
        };
        let mut name = base;
        if version > 0 {
            name = format!("{name}#{version}");
        }
        if subclass != 0 {
            name = format!("{name}/{subclass}");
        }
        let id = self.classes.len() as u32;
        self.classes.push(ClassInfo {
            name,
            kind: map.kind,
            wait_outer: map.wait_outer,
            wait_inner: map.wait_inner,
            key,
        });
        self.usage.push(0);
        if map.kind.spins() {
            super::class_bits::mark_spins(id);
        }
        self.class_index.insert((key, subclass), id);
        self.graph.ensure_class(id);
        id
    }

    pub(crate) fn class_name(&self, id: u32) -> &str {
        self.classes
            .get(id as usize)
            .map(|c| c.name.as_str())
            .unwrap_or("<untracked>")
    }

    /// Records that a violation with this signature is being reported; false if it already
    /// was. The signature is compared as given: callers whose signature is a set of classes
    /// pass it through [`class_set`].
    pub(crate) fn first_time(&mut self, kind: ReportKind, signature: Vec<u32>) -> bool {
        self.reported.insert((kind, signature))
    }
}

/// One chain in the chain cache: the classes held in one irq context, oldest first, ending
/// with the class acquired on top of them.
pub(crate) struct CachedChain {
    /// The kernel's `irq_context` of the chain: 0 process, 1 hard irq, 2 soft irq (3: a hard
    /// irq in a soft irq).
    pub irq_context: u8,
    pub classes: Box<[u32]>,
}

/// A snapshot of the validator's counters, for [`crate::stats`] (all zero from inside the
/// validator).
pub(crate) fn stats() -> crate::Stats {
    let locked = LOCKED.load(Ordering::Relaxed);
    super::held::guarded(|_| {
        let st = lock_uncounted();
        crate::Stats {
            classes: st.classes.len() - 1,
            dependencies: st.graph.edge_count(),
            chains: st.chains.len(),
            slow_paths: locked,
            stack_frames: st.stacks.frames(),
            dependency_bytes: st.graph.bytes() + st.stacks.bytes(),
            ..crate::Stats::default()
        }
    })
    .unwrap_or_default()
}

/// A set of classes as a signature: the same classes in any order are the same violation.
pub(crate) fn class_set(mut classes: Vec<u32>) -> Vec<u32> {
    classes.sort_unstable();
    classes.dedup();
    classes
}
