//! The irqsave guard adds nothing to the plain guard, with or without `check`.

use lockdep::{IrqSaveGuard, RawSpinLockGuard, RwSpinLockReadGuard, RwSpinLockWriteGuard, SpinLockGuard};
use std::mem::size_of;

#[test]
fn irqsave_guards_are_the_size_of_the_plain_guards() {
    assert_eq!(
        size_of::<IrqSaveGuard<SpinLockGuard<'_, u64>>>(),
        size_of::<SpinLockGuard<'_, u64>>()
    );
    assert_eq!(
        size_of::<IrqSaveGuard<RawSpinLockGuard<'_, u64>>>(),
        size_of::<RawSpinLockGuard<'_, u64>>()
    );
    assert_eq!(
        size_of::<IrqSaveGuard<RwSpinLockReadGuard<'_, u64>>>(),
        size_of::<RwSpinLockReadGuard<'_, u64>>()
    );
    assert_eq!(
        size_of::<IrqSaveGuard<RwSpinLockWriteGuard<'_, u64>>>(),
        size_of::<RwSpinLockWriteGuard<'_, u64>>()
    );
}

#[test]
fn irqsave_gives_the_data() {
    let s = lockdep::SpinLock::new(1u64);
    *s.lock_irqsave() += 1;
    let rw = lockdep::RwSpinLock::new(1u64);
    *rw.write_irqsave() += 1;
    assert_eq!(*rw.read_irqsave() + *s.lock(), 4);
}
