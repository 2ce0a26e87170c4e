//! A small bank, written against `parking_lot` and nothing else: tellers deposit into
//! accounts and record each deposit in a ledger, the main thread waits for them on a
//! condition variable, then an auditor walks the ledger and the accounts.
//!
//! It carries one planted bug, the kind that survives testing: a deposit holds the account's
//! lock while it appends to the ledger (account → ledger), and the audit holds the ledger
//! while it reads each account (ledger → account). Run one after the other, as here, it never
//! deadlocks; a deposit racing the audit would. Built against lockdep (the `migrated-bank`
//! package, which renames `lockdep` to `parking_lot` in its `Cargo.toml`) with the `check`
//! feature, the audit's first account is reported as a circular dependency. Built against the
//! real `parking_lot` (`migrated-bank-plain`, the same file) it runs and prints the same.
//! It uses what a `parking_lot` program uses beyond `lock()`: `const_mutex`, upgradable reads,
//! a condition variable, and an `Arc` guard (the `arc_lock` feature, kept across the rename).

use parking_lot::{const_mutex, ArcMutexGuard, Condvar, Mutex, RawMutex, RwLock, RwLockUpgradableReadGuard};
use std::sync::Arc;
use std::thread;

/// Deposits made, by all tellers.
static DEPOSITS: Mutex<u64> = const_mutex(0);

struct Account {
    balance: Mutex<i64>,
}

struct Bank {
    accounts: Vec<Account>,
    ledger: Arc<Mutex<Vec<(usize, i64)>>>,
    /// Interest rate in basis points: read by every deposit, written once.
    rate_bp: RwLock<i64>,
    /// Tellers still working, and the condition the main thread waits on.
    tellers: Mutex<usize>,
    all_done: Condvar,
}

impl Bank {
    fn new(accounts: usize, tellers: usize) -> Bank {
        Bank {
            accounts: (0..accounts)
                .map(|_| Account {
                    balance: Mutex::new(0),
                })
                .collect(),
            ledger: Arc::new(Mutex::new(Vec::new())),
            rate_bp: RwLock::new(0),
            tellers: Mutex::new(tellers),
            all_done: Condvar::new(),
        }
    }

    /// Account, then ledger.
    fn deposit(&self, account: usize, amount: i64) {
        let bonus = amount * *self.rate_bp.read() / 10_000;
        let mut balance = self.accounts[account].balance.lock();
        *balance += amount + bonus;
        self.ledger.lock().push((account, amount + bonus));
        drop(balance);
        *DEPOSITS.lock() += 1;
    }

    /// Sets the rate unless someone did (an upgradable read: readers go on meanwhile).
    fn set_rate_once(&self, bp: i64) {
        let rate = self.rate_bp.upgradable_read();
        if *rate == 0 {
            *RwLockUpgradableReadGuard::upgrade(rate) = bp;
        }
    }

    fn teller_done(&self) {
        let mut left = self.tellers.lock();
        *left -= 1;
        if *left == 0 {
            self.all_done.notify_all();
        }
    }

    fn wait_for_tellers(&self) {
        let mut left = self.tellers.lock();
        while *left > 0 {
            self.all_done.wait(&mut left);
        }
    }

    /// Ledger, then each account: the planted inversion.
    fn audit(&self) -> bool {
        let ledger: ArcMutexGuard<RawMutex, Vec<(usize, i64)>> = self.ledger.lock_arc();
        self.accounts.iter().enumerate().all(|(i, account)| {
            let recorded: i64 = ledger.iter().filter(|(a, _)| *a == i).map(|(_, v)| v).sum();
            recorded == *account.balance.lock()
        })
    }
}

fn main() {
    let bank = Arc::new(Bank::new(4, 3));
    bank.set_rate_once(100);
    bank.set_rate_once(200);
    let tellers: Vec<_> = (0..3)
        .map(|t| {
            let bank = Arc::clone(&bank);
            thread::Builder::new()
                .name(format!("teller{t}"))
                .spawn(move || {
                    for n in 0..50 {
                        bank.deposit((t + n) % bank.accounts.len(), 100);
                    }
                    bank.teller_done();
                })
                .expect("spawn a teller")
        })
        .collect();
    bank.wait_for_tellers();
    for t in tellers {
        t.join().expect("a teller panicked");
    }
    let consistent = bank.audit();
    let total: i64 = bank.accounts.iter().map(|a| *a.balance.lock()).sum();
    println!(
        "audited: consistent={consistent} deposits={} total={total}",
        *DEPOSITS.lock()
    );
}
