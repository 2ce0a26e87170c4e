// A thread waiting in `lock()` borrows the lock, so the lock cannot be dropped under it.
fn main() {
    let m = lockdep::Mutex::new(0);
    let lock = &m;
    std::thread::scope(|s| {
        s.spawn(move || *lock.lock() += 1);
        drop(m);
    });
}
