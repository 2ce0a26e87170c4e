// A small program written against `std::sync`, included twice by `tests/stdsync_migration.rs`:
// once after `use std::sync;`, once after `use lockdep::stdsync as sync;`. That one line is
// the whole migration. Workers take jobs from a queue (a mutex and a condition variable),
// record results in a shared table, and report to the main thread over a channel.
//
// Planted: a worker holds the table while it peeks at the queue (table -> queue); the
// producer holds the queue while it reads the table's size (queue -> table). The two never
// overlap in this run, so it never deadlocks; under other timing it would.

/// Settings read once, by whoever needs them first.
static SETTINGS: sync::OnceLock<usize> = sync::OnceLock::new();

struct Queue {
    jobs: sync::Mutex<Vec<u64>>,
    ready: sync::Condvar,
}

/// Runs the program; returns the sum of the results.
pub fn run() -> u64 {
    let workers = *SETTINGS.get_or_init(|| 2);
    let queue = sync::Arc::new(Queue {
        jobs: sync::Mutex::new(Vec::new()),
        ready: sync::Condvar::new(),
    });
    let table = sync::Arc::new(sync::RwLock::new(Vec::<u64>::new()));
    let (done_tx, done_rx) = sync::mpsc::channel();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (queue, table, done_tx) = (sync::Arc::clone(&queue), sync::Arc::clone(&table), done_tx.clone());
            std::thread::spawn(move || loop {
                let jobs = queue.jobs.lock().unwrap();
                let mut jobs = queue.ready.wait_while(jobs, |j| j.is_empty()).unwrap();
                let job = jobs.pop().unwrap();
                drop(jobs);
                if job == 0 {
                    return;
                }
                let mut t = table.write().unwrap();
                t.push(job * job);
                let more = !queue.jobs.lock().unwrap().is_empty(); // table -> queue
                drop(t);
                done_tx.send(more).unwrap();
            })
        })
        .collect();
    for job in 1..=10 {
        queue.jobs.lock().unwrap().push(job);
        queue.ready.notify_one();
        done_rx.recv().unwrap();
    }
    {
        let mut jobs = queue.jobs.lock().unwrap();
        let recorded = table.read().unwrap().len(); // queue -> table: the inversion
        assert_eq!(recorded, 10);
        jobs.extend(std::iter::repeat_n(0, workers));
    }
    queue.ready.notify_all();
    for h in handles {
        h.join().unwrap();
    }
    let sum = table.read().unwrap().iter().sum();
    sum
}
