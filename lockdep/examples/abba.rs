//! Two threads take two locks in opposite orders, one after the other — this run cannot
//! deadlock, but another interleaving could. With `--features check` the validator reports
//! the inversion the first time it is seen.
//!
//! ```text
//! cargo run -p lockdep --features check --example abba
//! ```

use lockdep::{LockClass, Mutex};
use std::sync::Arc;

static ACCOUNTS: LockClass = LockClass::new("accounts");
static JOURNAL: LockClass = LockClass::new("journal");

fn main() {
    let accounts = Arc::new(Mutex::with_class(0u64, &ACCOUNTS));
    let journal = Arc::new(Mutex::with_class(Vec::<String>::new(), &JOURNAL));

    let (a, j) = (accounts.clone(), journal.clone());
    std::thread::Builder::new()
        .name("transfer".into())
        .spawn(move || {
            let mut balance = a.lock();
            *balance += 10;
            j.lock().push(format!("credited 10, balance {balance}"));
        })
        .unwrap()
        .join()
        .unwrap();

    let (a, j) = (accounts.clone(), journal.clone());
    std::thread::Builder::new()
        .name("audit".into())
        .spawn(move || {
            let log = j.lock();
            let balance = a.lock(); // journal -> accounts: the inverse order
            println!("audit: {} entries, balance {}", log.len(), *balance);
        })
        .unwrap()
        .join()
        .unwrap();

    let reports = lockdep::take_reports();
    if lockdep::ENABLED {
        println!(
            "lockdep found {} problem(s); the report is printed above on stderr.",
            reports.len()
        );
    } else {
        println!("built without the `check` feature: nothing validated.");
    }
}
