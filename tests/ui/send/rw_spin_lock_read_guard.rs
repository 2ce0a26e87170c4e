// A `RwSpinLockReadGuard` cannot move to another thread: with `check`, what it holds is recorded on the
// thread that took it, and only that thread may let it go.
fn main() {
    let lock = lockdep::RwSpinLock::new(0);
    let guard = lock.read();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
