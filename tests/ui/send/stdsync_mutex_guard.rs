// A `lockdep::stdsync::MutexGuard` cannot move to another thread, as std's cannot: with `check`
// the lock's hold is recorded on the thread that took it, and only that thread may release it.
fn main() {
    let lock = lockdep::stdsync::Mutex::new(0);
    let guard = lock.lock().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
