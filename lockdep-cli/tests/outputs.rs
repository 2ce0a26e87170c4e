//! What `dot`, `stats`, `show` and `html` print, and the HTML page opened in a real headless
//! browser (Chromium, when installed: `apt-get install chromium`; the test says so and
//! checks the rest without it).

mod common;

use lockdep::{LockClass, Mutex};

fn cyclic_dump(dir: &std::path::Path) -> String {
    common::write_dump(
        dir,
        "cyclic",
        &[("a", "b", &["EN"]), ("b", "a", &["EN"]), ("a", "c", &["SN"])],
    )
    .to_str()
    .unwrap()
    .to_string()
}

#[test]
fn dot_draws_every_edge_and_highlights_cycles() {
    let dir = common::fresh_dir("dot");
    let run = common::lockdep(&["dot", &cyclic_dump(&dir)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dot = &run.stdout;
    assert!(dot.starts_with("digraph lockdep {"), "{dot}");
    let line = |from: &str, to: &str| {
        dot.lines()
            .find(|l| l.trim_start().starts_with(&format!("{from} -> {to} ")))
            .unwrap_or_else(|| panic!("no {from} -> {to} in {dot}"))
            .to_string()
    };
    // Nodes are numbered in order of first appearance: a = n0, b = n1, c = n2.
    assert!(line("n0", "n1").contains("color=red"));
    assert!(line("n1", "n0").contains("color=red"));
    assert!(!line("n0", "n2").contains("color=red"));
    assert!(line("n0", "n2").contains("label=\"SN\""));
    // Graphviz itself accepts it, when installed (apt-get install graphviz).
    let dot_file = dir.join("graph.dot");
    std::fs::write(&dot_file, dot).unwrap();
    match std::process::Command::new("dot")
        .args(["-Tsvg"])
        .arg(&dot_file)
        .output()
    {
        Ok(out) => {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let svg = String::from_utf8_lossy(&out.stdout);
            assert!(svg.contains("<svg") && svg.contains(">a</text>"), "{svg}");
            assert_eq!(
                svg.matches("stroke=\"red\"").count(),
                2 + 2 + 2,
                "2 red nodes, 2 red edges with heads: {svg}"
            );
        }
        Err(_) => eprintln!("Graphviz not installed: skipped rendering the DOT"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stats_and_show_look_like_proc_lockdep() {
    let dir = common::fresh_dir("stats");
    let dump = cyclic_dump(&dir);
    let stats = common::lockdep(&["stats", &dump]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(
        stats
            .stdout
            .contains(" lock-classes:                                  3 [max: 16384]"),
        "{}",
        stats.stdout
    );
    assert!(
        stats
            .stdout
            .contains(" direct dependencies:                           3 [max: 32768]"),
        "{}",
        stats.stdout
    );
    assert!(
        stats
            .stdout
            .contains(" strong cycles:                                 1"),
        "{}",
        stats.stdout
    );
    assert!(
        stats
            .stdout
            .contains(" suppressed cycles:                             0"),
        "{}",
        stats.stdout
    );
    let rules = dir.join("rules");
    std::fs::write(&rules, "allow b -> a: reviewed\n").unwrap();
    let s = common::lockdep(&["stats", "--suppressions", rules.to_str().unwrap(), &dump]);
    assert!(
        s.stdout
            .contains(" suppressed cycles:                             1"),
        "{}",
        s.stdout
    );

    let show = common::lockdep(&["show", &dump]);
    assert_eq!(show.code, 0);
    assert!(show.stdout.starts_with("all lock classes:\n"), "{}", show.stdout);
    assert!(
        show.stdout
            .contains("FD:    2 BD:    1 {+.+.}-{4:4}: a [mutex]\n -> [EN] b\n -> [SN] c\n"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("FD:    0 BD:    1 {+.+.}-{4:4}: c [mutex]"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("lock chains: 1"), "{}", show.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

static PAGE_A: LockClass = LockClass::new("page_a");
static PAGE_B: LockClass = LockClass::new("page_b");
static PAGE_C: LockClass = LockClass::new("page_c");

fn nest<T>(x: &Mutex<T>, y: &Mutex<T>) {
    let _x = x.lock();
    let _y = y.lock();
}

#[test]
fn html_page_shows_each_report_and_opens_in_a_browser() {
    let dir = common::fresh_dir("html");
    let reports = dir.join("reports");
    lockdep::set_action(lockdep::Action::Collect);
    lockdep::set_report_dir(Some(reports.clone()));
    let (a, b, c) = (
        Mutex::with_class((), &PAGE_A),
        Mutex::with_class((), &PAGE_B),
        Mutex::with_class((), &PAGE_C),
    );
    nest(&a, &b);
    nest(&b, &c);
    nest(&c, &a); // a three-class cycle
    let (x1, x2) = (Mutex::with_class((), &PAGE_A), Mutex::with_class((), &PAGE_A));
    nest(&x1, &x2); // recursive locking
    lockdep::set_report_dir(None);
    assert_eq!(lockdep::take_reports().len(), 2);

    let page = dir.join("page.html");
    let run = common::lockdep(&["html", reports.to_str().unwrap(), "-o", page.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("2 reports"), "{}", run.stdout);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("WARNING: possible circular locking dependency detected"));
    assert!(html.contains("WARNING: possible recursive locking detected"));
    assert!(
        html.contains("page_a -&gt; page_b -&gt; page_c -&gt; page_a"),
        "escaped summary"
    );
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "self-contained"
    );

    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("no headless browser installed (apt-get install chromium): skipped opening the page");
        return;
    };
    let url = format!("file://{}", page.display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ];
    let dom = std::process::Command::new(browser)
        .args(flags)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The browser parsed the page: two sections, each with its drawing of boxes and arrows.
    assert_eq!(dom.matches("<section").count(), 2, "{dom}");
    assert_eq!(dom.matches("<rect").count(), 3 + 1, "{dom}");
    assert_eq!(dom.matches("<line").count(), 3, "{dom}");
    let shot = dir.join("page.png");
    let s = std::process::Command::new(browser)
        .args(flags)
        .args([
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,1600",
            &url,
        ])
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture: {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("LOCKDEP_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

static CHAIN_OUTER: LockClass = LockClass::new("chain_outer");
static CHAIN_INNER: LockClass = LockClass::new("chain_inner");
static CHAIN_IRQ: LockClass = LockClass::new("chain_in_irq");

/// A real dump of this process: `chain_outer` held 30 ms with `chain_inner` taken under it,
/// and a spinlock taken in a simulated hard irq.
fn chained_dump(dir: &std::path::Path) -> String {
    let (outer, inner) = (
        Mutex::with_class((), &CHAIN_OUTER),
        Mutex::with_class((), &CHAIN_INNER),
    );
    let irq = lockdep::SpinLock::with_class((), &CHAIN_IRQ);
    {
        let _o = outer.lock();
        drop(inner.lock());
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    {
        let _irq = lockdep::irq_context();
        drop(irq.lock());
    }
    let path = dir.join("chained.json");
    lockdep::dump_graph(&path).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn show_lists_the_lock_chains_like_proc_lockdep_chains() {
    let dir = common::fresh_dir("chains");
    let dump = chained_dump(&dir);
    let show = common::lockdep(&["show", &dump]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let chains_at = show.stdout.find("all lock chains:\n").expect("a chain section");
    let chains = &show.stdout[chains_at..];
    assert!(
        chains.contains("irq_context: 0\n chain_outer\n chain_inner\n\n"),
        "{chains}"
    );
    assert!(chains.contains("irq_context: 0\n chain_outer\n\n"), "{chains}");
    assert!(chains.contains("irq_context: 1\n chain_in_irq\n\n"), "{chains}");
    assert!(
        show.stdout[..chains_at].contains(": chain_outer [mutex]\n -> [EN] chain_inner\n"),
        "{}",
        show.stdout
    );
    // Only the chains with --chains.
    let only = common::lockdep(&["show", "--chains", &dump]);
    assert_eq!(only.code, 0, "{}", only.stderr);
    assert!(only.stdout.starts_with("all lock chains:\n"), "{}", only.stdout);
    assert!(!only.stdout.contains("all lock classes"), "{}", only.stdout);
    assert!(only.stdout.contains(" chain_in_irq\n"), "{}", only.stdout);
    // The same chain in two dumps is listed once.
    let twice = common::lockdep(&["show", "--chains", &dump, &dump]);
    assert_eq!(
        twice.stdout.matches("irq_context: 1\n chain_in_irq\n").count(),
        1,
        "{}",
        twice.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `stats` and `show` of a dump from a `lock-stat` build print `/proc/lock_stat`'s columns,
/// in microseconds: a lock held 30 ms shows a hold time of at least 30000 us.
#[test]
fn stats_print_hold_times_of_a_lock_stat_build() {
    let dir = common::fresh_dir("holdtime");
    let dump = chained_dump(&dir);
    for cmd in ["stats", "show"] {
        let run = common::lockdep(&[cmd, &dump]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let header = run
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("class name"))
            .unwrap_or_else(|| panic!("{cmd}: no lock_stat table in {}", run.stdout));
        let columns: Vec<&str> = header.split_whitespace().skip(2).collect();
        assert_eq!(
            columns,
            [
                "contentions",
                "waittime-max",
                "waittime-total",
                "waittime-avg",
                "acquisitions",
                "holdtime-min",
                "holdtime-max",
                "holdtime-total",
                "holdtime-avg"
            ]
        );
        let row: Vec<&str> = run
            .stdout
            .lines()
            .find(|l| {
                l.split_whitespace().next() == Some("chain_outer") && l.split_whitespace().count() == 10
            })
            .unwrap_or_else(|| panic!("{cmd}: no chain_outer row in {}", run.stdout))
            .split_whitespace()
            .collect();
        let hold_max: f64 = row[7].parse().unwrap();
        assert!(hold_max >= 30_000.0, "{cmd}: held 30 ms: {row:?}");
        assert!(row[5].parse::<u64>().unwrap() >= 1, "{row:?}");
    }
    // A hand-made (version 1) dump has no statistics: no table.
    let plain = cyclic_dump(&dir);
    let run = common::lockdep(&["stats", &plain]);
    assert!(!run.stdout.contains("holdtime-max"), "{}", run.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}
