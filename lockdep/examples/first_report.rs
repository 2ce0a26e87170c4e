//! How long the first report takes to appear: the violating `lock()` call is timed with the
//! `warn` action, which captures, symbolises (loading debug info for the first time in the
//! process) and prints the report before the call returns.
//!
//! ```text
//! cargo run --release -p lockdep --features check --example first_report 2>/dev/null
//! ```

use lockdep::{Action, Mutex};
use std::time::Instant;

fn main() {
    lockdep::set_action(Action::Warn);
    let a = Mutex::new(());
    let b = Mutex::new(());
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    let t = Instant::now();
    let _a = a.lock();
    let first = t.elapsed();
    drop((_a, _b));
    let c = Mutex::new(());
    {
        let _a = a.lock();
        let _c = c.lock();
    }
    let _c = c.lock();
    let t = Instant::now();
    let _a = a.lock();
    let second = t.elapsed();
    println!(
        "first report printed in {:.1} ms; a later one in {:.2} ms",
        ms(first),
        ms(second)
    );
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
