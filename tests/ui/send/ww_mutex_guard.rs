// A `WwMutexGuard` cannot move to another thread: with `check`, what it holds is recorded on the
// thread that took it, and only that thread may let it go.
fn main() {
    static CLASS: lockdep::WwClass = lockdep::WwClass::wait_die("ui_ww");
    let lock = lockdep::WwMutex::new(0, &CLASS);
    let guard = lock.lock_noctx();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
