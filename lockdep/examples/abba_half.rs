//! One half of the `abba` example per process: `transfer` takes accounts then journal,
//! `audit` journal then accounts. Neither process sees a cycle, so neither reports; their
//! graph dumps, merged by the `lockdep` tool, hold it.
//!
//! ```text
//! LOCKDEP_GRAPH_DUMP=/tmp/dumps cargo run -p lockdep --features check --example abba_half -- transfer
//! LOCKDEP_GRAPH_DUMP=/tmp/dumps cargo run -p lockdep --features check --example abba_half -- audit
//! cargo run -p lockdep-cli -- merge /tmp/dumps
//! ```

use lockdep::{LockClass, Mutex};

static ACCOUNTS: LockClass = LockClass::new("accounts");
static JOURNAL: LockClass = LockClass::new("journal");

fn transfer(accounts: &Mutex<u64>, journal: &Mutex<Vec<String>>) {
    let mut balance = accounts.lock();
    *balance += 10;
    journal.lock().push(format!("credited 10, balance {balance}"));
}

fn audit(accounts: &Mutex<u64>, journal: &Mutex<Vec<String>>) {
    let log = journal.lock();
    let balance = accounts.lock();
    println!("audit: {} entries, balance {}", log.len(), *balance);
}

fn main() {
    let accounts = Mutex::with_class(0u64, &ACCOUNTS);
    let journal = Mutex::with_class(Vec::new(), &JOURNAL);
    match std::env::args().nth(1).as_deref() {
        Some("transfer") => transfer(&accounts, &journal),
        Some("audit") => audit(&accounts, &journal),
        _ => {
            eprintln!("usage: abba_half transfer|audit");
            std::process::exit(2);
        }
    }
    println!("{} report(s) in this process", lockdep::take_reports().len());
}
