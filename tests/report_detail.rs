//! A report carries what its rule found as typed data ([`Report::detail`]): the wait types of
//! an invalid wait context, the usages of an inconsistent lock state, the reason of a declared
//! rule, the site of a failed assertion. Each rule's data is checked on the pattern that breaks
//! it, and the nearest legitimate pattern is checked to produce no report at all.

use lockdep::{
    Assertion, AtomicReason, Detail, Irq, LockClass, Mutex, Report, ReportKind, SpinLock, Srcu, Usage,
    WaitLimit, WwAcquireCtx, WwClass, WwMutex, WwRule,
};
use lockdep_suite::serial;

static MUTEX_A: LockClass = LockClass::new("detail_mutex_a");
static MUTEX_B: LockClass = LockClass::new("detail_mutex_b");
static SPIN_A: LockClass = LockClass::new("detail_spin_a");
static SPIN_B: LockClass = LockClass::new("detail_spin_b");
static OUTER: LockClass = LockClass::new("detail_outer");
static INNER: LockClass = LockClass::new("detail_inner");

/// The reports `scenario` produces, run with a clean validator.
fn reports(scenario: impl FnOnce()) -> Vec<Report> {
    scenario();
    lockdep::take_reports()
}

fn only(kind: ReportKind, reports: &[Report]) -> &Report {
    let found: Vec<&Report> = reports.iter().filter(|r| r.kind() == kind).collect();
    assert_eq!(found.len(), 1, "{reports:#?}");
    found[0]
}

#[test]
fn a_mutex_under_a_spinlock_names_the_wait_types_and_the_held_limit() {
    let _s = serial();
    let r = reports(|| {
        let s = SpinLock::with_class((), &SPIN_A);
        let m = Mutex::with_class((), &MUTEX_A);
        let _s = s.lock();
        drop(m.lock());
    });
    let r = only(ReportKind::InvalidWaitContext, &r);
    assert_eq!(
        r.detail(),
        &Detail::InvalidWaitContext {
            outer: 4,
            inner: 4,
            context: 5,
            allowed: 3,
            limit: WaitLimit::Held,
        }
    );
    assert_eq!(r.holding().map(|l| l.class()), Some("detail_spin_a"));
}

#[test]
fn a_spinlock_under_a_mutex_is_no_wait_context_violation() {
    let _s = serial();
    let r = reports(|| {
        let s = SpinLock::with_class((), &SPIN_A);
        let m = Mutex::with_class((), &MUTEX_A);
        let _m = m.lock();
        drop(s.lock());
    });
    assert!(r.is_empty(), "{r:#?}");
}

#[test]
fn a_mutex_in_a_hard_irq_is_limited_by_the_irq() {
    let _s = serial();
    let r = reports(|| {
        let m = Mutex::with_class((), &MUTEX_B);
        let _irq = lockdep::irq_context();
        drop(m.lock());
    });
    let r = only(ReportKind::InvalidWaitContext, &r);
    assert!(
        matches!(
            r.detail(),
            Detail::InvalidWaitContext {
                limit: WaitLimit::Irq(Irq::Hard),
                ..
            }
        ),
        "{:?}",
        r.detail()
    );
    assert!(r.holding().is_none());
}

#[test]
fn sleeping_under_a_spinlock_names_the_spinlock() {
    let _s = serial();
    let r = reports(|| {
        let s = SpinLock::with_class((), &SPIN_B);
        let m = Mutex::with_class((), &MUTEX_B);
        let _s = s.lock();
        drop(m.lock());
    });
    let r = only(ReportKind::SleepInAtomic, &r);
    assert_eq!(
        r.detail(),
        &Detail::SleepInAtomic {
            reason: AtomicReason::Spinlock(String::from("detail_spin_b")),
        }
    );
}

#[test]
fn might_sleep_with_interrupts_off_names_the_operation_and_site() {
    let _s = serial();
    let line = line!() + 3;
    let r = reports(|| {
        let _off = lockdep::irqs_disabled();
        lockdep::might_sleep();
    });
    let r = only(ReportKind::SleepInAtomic, &r);
    match r.detail() {
        Detail::MightSleep {
            operation,
            site,
            reason,
        } => {
            assert_eq!(operation, "might_sleep()");
            assert_eq!((site.file(), site.line()), (file!(), line));
            assert_eq!(reason, &AtomicReason::IrqsDisabled);
        }
        d => panic!("{d:?}"),
    }
    assert!(
        reports(lockdep::might_sleep).is_empty(),
        "sleeping is fine with interrupts on"
    );
}

#[test]
fn an_irq_lock_taken_with_irqs_on_names_both_usages() {
    let _s = serial();
    let r = reports(|| {
        let s = SpinLock::with_class((), &SPIN_A);
        {
            let _irq = lockdep::irq_context();
            drop(s.lock());
        }
        drop(s.lock());
    });
    let r = only(ReportKind::InconsistentLockState, &r);
    let Detail::InconsistentLockState { previous, new, state } = r.detail() else {
        panic!("{:?}", r.detail());
    };
    assert_eq!(
        (previous.name().as_str(), new.name().as_str()),
        ("IN-HARDIRQ-W", "HARDIRQ-ON-W")
    );
    assert!(!state.in_hardirq && state.hardirqs_enabled, "{state:?}");
}

#[test]
fn an_irq_lock_always_taken_with_irqs_off_is_consistent() {
    let _s = serial();
    let r = reports(|| {
        let s = SpinLock::with_class((), &SPIN_B);
        {
            let _irq = lockdep::irq_context();
            drop(s.lock());
        }
        let _off = lockdep::irqs_disabled();
        drop(s.lock());
    });
    assert!(r.is_empty(), "{r:#?}");
}

#[test]
fn a_broken_nesting_rule_carries_its_reason_and_the_allowed_order_does_not_report() {
    let _s = serial();
    let (a, b) = (Mutex::with_class((), &OUTER), Mutex::with_class((), &INNER));
    lockdep::forbid_nesting(&a, &b, "inner is taken by the reclaim path");
    let allowed = reports(|| {
        let _b = b.lock();
        drop(a.lock());
    });
    assert!(allowed.is_empty(), "{allowed:#?}");
    lockdep::reset();
    let r = reports(|| {
        let _a = a.lock();
        drop(b.lock());
    });
    let r = only(ReportKind::ForbiddenWhileHeld, &r);
    assert_eq!(
        r.detail(),
        &Detail::ForbiddenNesting {
            reason: String::from("inner is taken by the reclaim path"),
        }
    );
}

#[test]
fn a_failed_assertion_names_which_assertion_the_lock_and_the_site() {
    let _s = serial();
    let m = Mutex::with_class((), &MUTEX_A);
    let line = line!() + 1;
    let r = reports(|| lockdep::assert_held_write(&m));
    let r = only(ReportKind::AssertionFailed, &r);
    let Detail::AssertionFailed {
        assertion,
        lock,
        site,
    } = r.detail()
    else {
        panic!("{:?}", r.detail());
    };
    assert_eq!(*assertion, Assertion::HeldWrite);
    assert_eq!(r.headline(), Assertion::HeldWrite.headline());
    assert_eq!(lock.as_ref().map(|l| l.1.as_str()), Some("detail_mutex_a"));
    assert_eq!(site.line(), line);
    let held = reports(|| {
        let _g = m.lock();
        lockdep::assert_held_write(&m);
    });
    assert!(held.is_empty(), "{held:#?}");
}

#[test]
fn two_locks_of_one_class_are_a_possible_recursion_not_the_same_instance() {
    let _s = serial();
    let r = reports(|| {
        let (a1, a2) = (Mutex::with_class((), &MUTEX_B), Mutex::with_class((), &MUTEX_B));
        let _a1 = a1.lock();
        drop(a2.lock());
    });
    let r = only(ReportKind::RecursiveLocking, &r);
    assert_eq!(r.detail(), &Detail::RecursiveLocking { same_instance: false });
    assert!(r.details().is_empty(), "{:?}", r.details());
}

#[test]
fn a_cycle_carries_no_detail_beyond_its_dependencies() {
    let _s = serial();
    let r = reports(|| {
        let (a, b) = (Mutex::with_class((), &MUTEX_A), Mutex::with_class((), &MUTEX_B));
        {
            let _a = a.lock();
            drop(b.lock());
        }
        let _b = b.lock();
        drop(a.lock());
    });
    let r = only(ReportKind::CircularDependency, &r);
    assert_eq!(r.detail(), &Detail::CircularDependency);
    assert_eq!(r.dependencies().len(), 1);
}

/// The kernel's names of the eight usage bits, in its bit order.
#[test]
fn usages_are_named_as_the_kernel_names_them() {
    let names: Vec<String> = [Irq::Hard, Irq::Soft]
        .into_iter()
        .flat_map(|irq| {
            [(false, false), (false, true), (true, false), (true, true)]
                .map(|(enabled, read)| Usage { irq, enabled, read }.name())
        })
        .collect();
    assert_eq!(
        names,
        [
            "IN-HARDIRQ-W",
            "IN-HARDIRQ-R",
            "HARDIRQ-ON-W",
            "HARDIRQ-ON-R",
            "IN-SOFTIRQ-W",
            "IN-SOFTIRQ-R",
            "SOFTIRQ-ON-W",
            "SOFTIRQ-ON-R"
        ]
    );
    let read = Usage {
        irq: Irq::Soft,
        enabled: true,
        read: true,
    };
    assert_eq!(read.state_name(), "SOFTIRQ-READ");
}

#[test]
fn a_ww_lock_after_done_names_the_broken_protocol_rule() {
    static WW: WwClass = WwClass::wait_die("detail_ww");
    let _s = serial();
    let w = WwMutex::new((), &WW);
    let fine = reports(|| {
        let ctx = WwAcquireCtx::new(&WW);
        drop(w.lock(&ctx));
        ctx.done();
    });
    assert!(fine.is_empty(), "locking before done is the protocol: {fine:#?}");
    let r = reports(|| {
        let ctx = WwAcquireCtx::new(&WW);
        ctx.done();
        drop(w.lock(&ctx));
    });
    let r = only(ReportKind::WwMisuse, &r);
    let Detail::WwMisuse { rule, site } = r.detail() else {
        panic!("{:?}", r.detail());
    };
    assert_eq!(*rule, WwRule::LockedAfterDone);
    assert_eq!(site.file(), file!());
    assert_eq!(r.details(), [format!("{}, at {site}.", rule.text())]);
}

#[test]
fn synchronising_srcu_inside_its_read_section_names_the_domain() {
    static DOMAIN: Srcu = Srcu::new("detail_srcu");
    let _s = serial();
    let fine = reports(|| DOMAIN.synchronize());
    assert!(fine.is_empty(), "{fine:#?}");
    let r = reports(|| {
        let _r = DOMAIN.read_lock();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| DOMAIN.synchronize()));
    });
    let r = only(ReportKind::SuspiciousRcuUsage, &r);
    match r.detail() {
        Detail::SuspiciousRcuUsage { domain, site } => {
            assert_eq!(domain, "detail_srcu");
            assert_eq!(site.file(), file!());
        }
        d => panic!("{d:?}"),
    }
}
