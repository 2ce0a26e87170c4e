// A `SrcuReadGuard` cannot move to another thread: with `check`, what it holds is recorded on the
// thread that took it, and only that thread may let it go.
fn main() {
    static SRCU: lockdep::Srcu = lockdep::Srcu::new("ui_srcu");
    let guard = SRCU.read_lock();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
