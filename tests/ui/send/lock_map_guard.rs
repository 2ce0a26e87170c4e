// A `LockMapGuard` cannot move to another thread: with `check`, what it holds is recorded on the
// thread that took it, and only that thread may let it go.
fn main() {
    static MAP: lockdep::LockMap = lockdep::LockMap::new("ui_map");
    let guard = MAP.lock();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
