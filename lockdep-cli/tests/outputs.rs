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
