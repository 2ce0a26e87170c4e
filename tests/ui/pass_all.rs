use lockdep::{LockMap, Mutex};

static MAP: LockMap = LockMap::new("map");

#[lockdep::lock_class(name = "obj")]
struct Obj<T> {
    lock: Mutex<T>,
}

#[lockdep::lock_class]
struct Pair(#[lock_class(name = "first")] Mutex<u8>, #[lock_class(name = "second")] Mutex<u8>);

#[lockdep::section(MAP, mode = "read_recursive")]
fn reader() -> u8 {
    7
}

#[lockdep::signalling(MAP)]
fn signal() {}

#[lockdep::requires_held(o.lock, o.lock)]
#[lockdep::must_not_hold(MAP)]
fn both<T>(o: &Obj<T>) {}

fn main() {
    let o = Obj { lock: Mutex::with_class(1u32, Obj::<u32>::lock_class()) };
    let _g = o.lock.lock();
    both(&o);
    let _p = Pair(Mutex::with_class(0, Pair::field0_class()), Mutex::with_class(0, Pair::field1_class()));
    assert_eq!(reader(), 7);
    signal();
}
