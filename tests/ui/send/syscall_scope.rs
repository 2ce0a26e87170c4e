// A `SyscallScope` cannot move to another thread: with `check`, what it holds is recorded on the
// thread that took it, and only that thread may let it go.
fn main() {
    let guard = lockdep::syscall();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
