use lockdep::{Mutex, ReportKind};
use lockdep_suite::{kinds, serial};

#[test]
fn abba_reported_once() {
    let _s = serial();
    let a = Mutex::new(());
    let b = Mutex::new(());
    for _ in 0..3 {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        {
            let _b = b.lock();
            let _a = a.lock();
        }
    }
    let r = lockdep::take_reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].kind(), ReportKind::CircularDependency);
    eprintln!("{}", r[0]);
}

#[test]
fn aa_same_class() {
    let _s = serial();
    let mk = || Mutex::new(());
    let (x1, x2) = (mk(), mk());
    let _a = x1.lock();
    let _b = x2.lock();
    assert_eq!(kinds(), vec![ReportKind::RecursiveLocking]);
}
