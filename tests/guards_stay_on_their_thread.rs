//! Guards stay on the thread that took their lock. The validator records held locks per thread,
//! so a guard dropped on another thread would be a false "bad unlock balance" there and leave a
//! phantom held lock here (false dependencies, a false "would deadlock" on the next take). With
//! `check`, moving any guard to another thread is therefore a compile error (`tests/ui/send/`,
//! one guard type per file, `lockdep::stdsync`'s included, which are `!Send` as std's are); sharing one by reference, or releasing it and letting the other
//! thread take the lock itself, is legitimate and reports nothing.

use lockdep::{Mutex, RawSpinLock, RwLock, RwSpinLock, SpinLock};
use lockdep_suite::{kinds, serial};

#[test]
fn moving_any_guard_to_another_thread_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/send/*.rs");
}

#[test]
fn a_guard_shared_by_reference_with_another_thread_reports_nothing() {
    let _s = serial();
    let (m, s, raw) = (Mutex::new(1), SpinLock::new(2), RawSpinLock::new(3));
    let (rw, rs) = (RwLock::new(4), RwSpinLock::new(5));
    {
        // Sleeping locks first, the raw spinlock innermost: a valid nesting.
        let (gm, grw) = (m.lock(), rw.read());
        let (gs, grs, graw) = (s.lock(), rs.write(), raw.lock());
        std::thread::scope(|sc| {
            sc.spawn(|| assert_eq!(*gm + *grw + *gs + *grs + *graw, 15));
        });
    }
    // Released by their own thread: the locks are free for another one, and nothing is left
    // held here.
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let _g = (m.lock(), rw.write(), s.lock(), rs.read(), raw.lock());
        });
    });
    lockdep::assert_none_held();
    assert!(kinds().is_empty());
}
