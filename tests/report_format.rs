//! Golden tests of the report text. Addresses, thread ids, source positions and stack frames
//! change from build to build, so they are normalised before comparing.

use lockdep::{LockClass, Mutex, ReportKind, RwLock};
use lockdep_suite::serial;

static LOCK_A: LockClass = LockClass::new("lock_A");
static LOCK_B: LockClass = LockClass::new("lock_B");
static LOCK_C: LockClass = LockClass::new("lock_C");

/// Replaces what varies between runs with placeholders and drops stack frames.
fn normalise(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_backtrace = false;
    for line in text.lines() {
        if in_backtrace {
            continue;
        }
        if line == "stack backtrace:" {
            in_backtrace = true;
            out.push(line.to_string());
            continue;
        }
        let t = line.trim_start();
        let frame = line.starts_with("       ")
            && (t.contains("::") || t.starts_with("0x") || t.starts_with("<no stack"));
        if frame {
            continue;
        }
        out.push(scrub(line));
    }
    out.join("\n")
}

fn scrub(line: &str) -> String {
    let mut s = String::new();
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("0x") {
            let n = r.chars().take_while(|c| c.is_ascii_hexdigit()).count();
            s.push_str("0xADDR");
            rest = &r[n..];
        } else if let Some(r) = rest.strip_prefix("tests/report_format.rs:") {
            let n = r.chars().take_while(|c| c.is_ascii_digit() || *c == ':').count();
            s.push_str("FILE:L:C");
            rest = &r[n..];
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

const CIRCULAR: &str = "\
WARNING: possible circular locking dependency detected
------------------------------------------------------
golden-abc/ID is trying to acquire lock:
 0xADDR (lock_A) [mutex, write], at: FILE:L:C

but thread is already holding lock:
 0xADDR (lock_C) [rw_semaphore, read], at: FILE:L:C

which lock already depends on the new lock.


the existing dependency chain (in reverse order) is:

-> #2 (lock_C):
       rlock(lock_C) at FILE:L:C while holding lock(lock_B) taken at FILE:L:C, by golden-abc/ID

-> #1 (lock_B):
       lock(lock_B) at FILE:L:C while holding lock(lock_A) taken at FILE:L:C, by golden-abc/ID

-> #0 (lock_A):

other info that might help us debug this:

Chain exists of:
  lock_A --> lock_B --> lock_C

 Possible unsafe locking scenario:

       T0                           T1
       ----                         ----
  rlock(lock_C);
                               lock(lock_B);
                               rlock(lock_C);
  lock(lock_A);

 *** DEADLOCK ***

Cycle in lock order graph: lock_A => lock_B => lock_C => lock_A

1 lock held by golden-abc/ID:
 #0: 0xADDR (lock_C) [rw_semaphore, read], at: FILE:L:C

stack backtrace:";

#[test]
fn circular_report_text() {
    let _s = serial();
    let text = std::thread::Builder::new()
        .name("golden-abc".into())
        .spawn(|| {
            let a = Mutex::with_class((), &LOCK_A);
            let b = Mutex::with_class((), &LOCK_B);
            let c = RwLock::with_class((), &LOCK_C);
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            {
                let _b = b.lock();
                let _c = c.read();
            }
            let _c = c.read();
            let _a = a.lock();
            let r = lockdep::take_reports();
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].kind(), ReportKind::CircularDependency);
            // Every dependency and the current acquisition carry a stack from this test.
            for d in r[0].dependencies() {
                assert!(
                    d.stack()
                        .frames()
                        .iter()
                        .any(|f| f.function.contains("circular_report_text")),
                    "{}",
                    r[0]
                );
            }
            assert!(
                r[0].stack().frames()[0].function.contains("circular_report_text"),
                "{}",
                r[0]
            );
            r[0].to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(normalise(&text), CIRCULAR, "full text:\n{text}");
}

const RECURSIVE: &str = "\
WARNING: possible recursive locking detected
--------------------------------------------
golden-aa/ID is trying to acquire lock:
 0xADDR (lock_A) [mutex, write], at: FILE:L:C

but thread is already holding lock:
 0xADDR (lock_A) [mutex, write], at: FILE:L:C

other info that might help us debug this:
 Possible unsafe locking scenario:

       T0
       ----
  lock(lock_A);
  lock(lock_A);

 *** DEADLOCK ***

 May be due to missing lock nesting notation

1 lock held by golden-aa/ID:
 #0: 0xADDR (lock_A) [mutex, write], at: FILE:L:C

stack backtrace:";

#[test]
fn recursive_report_text() {
    let _s = serial();
    let text = std::thread::Builder::new()
        .name("golden-aa".into())
        .spawn(|| {
            let a1 = Mutex::with_class((), &LOCK_A);
            let a2 = Mutex::with_class((), &LOCK_A);
            let _g1 = a1.lock();
            let _g2 = a2.lock();
            lockdep::take_reports().remove(0).to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(normalise(&text), RECURSIVE, "full text:\n{text}");
}

const BAD_UNLOCK: &str = "\
WARNING: bad unlock balance detected!
-------------------------------------
golden-unlock/ID is trying to release lock (lock_B) [mutex] at:
  FILE:L:C
but there are no more locks to release!

other info that might help us debug this:
no locks held by golden-unlock/ID.

stack backtrace:";

#[test]
fn bad_unlock_report_text() {
    let _s = serial();
    let text = std::thread::Builder::new()
        .name("golden-unlock".into())
        .spawn(|| {
            let b = Mutex::with_class((), &LOCK_B);
            // SAFETY: the validator refuses the unbalanced unlock before it reaches the lock.
            unsafe { b.force_unlock() };
            assert!(!b.is_locked());
            lockdep::take_reports().remove(0).to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(normalise(&text), BAD_UNLOCK, "full text:\n{text}");
}

#[test]
fn headline_is_the_first_line_for_every_kind() {
    use lockdep::{LockMap, RawSpinLock, SpinLock, Srcu, WwAcquireCtx, WwClass, WwMutex};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    static MAP: LockMap = LockMap::new("headline_map");
    static DOM: Srcu = Srcu::new("headline_srcu");
    static WW: WwClass = WwClass::wait_die("headline_ww");
    let _s = serial();
    // One of (nearly) every kind.
    let (a, b) = (Mutex::new(()), Mutex::new(()));
    drop((a.lock(), b.lock()));
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    let mk = || Mutex::new(());
    let (x1, x2) = (mk(), mk());
    drop((x1.lock(), x2.lock()));
    unsafe { a.force_unlock() };
    let (s, m) = (SpinLock::new(()), Mutex::new(()));
    {
        let _s = s.lock();
        drop(m.lock());
    }
    {
        let _irq = lockdep::irq_context();
        drop(s.lock());
    }
    let raw = RawSpinLock::new(());
    {
        let _p = lockdep::panic_context();
        drop(raw.lock());
    }
    lockdep::assert_held(&m);
    {
        let _r = MAP.read_recursive();
        lockdep::return_to_user();
    }
    {
        let _r = DOM.read_lock();
        let _ = catch_unwind(AssertUnwindSafe(|| DOM.synchronize()));
    }
    {
        let w = WwMutex::new((), &WW);
        let ctx = WwAcquireCtx::new(&WW);
        ctx.done();
        drop(w.lock(&ctx));
    }
    drop(m.lock_nested(12));
    let r = lockdep::take_reports();
    let kinds: std::collections::BTreeSet<_> = r.iter().map(|r| r.kind()).collect();
    assert!(kinds.len() >= 12, "{kinds:?}");
    for r in &r {
        let text = r.to_string();
        assert_eq!(text.lines().next().unwrap(), r.headline(), "{text}");
        assert_eq!(
            text.lines().nth(1).unwrap().len(),
            r.headline().chars().count(),
            "the bar under {}",
            r.headline()
        );
        assert!(text.contains("stack backtrace:"), "{text}");
        match r.kind() {
            ReportKind::IrqSafeToUnsafe
            | ReportKind::LocksHeldAtExit
            | ReportKind::InvalidSubclass
            | ReportKind::AssertionFailed => {}
            k => assert_eq!(r.headline(), k.headline()),
        }
    }
}
