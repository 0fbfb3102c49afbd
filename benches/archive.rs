//! The public archive under load: 30 sent issues, `mailroom serve`'s router in this process
//! (a 2-thread runtime, as on the 2-core machine), and `wrk` (Debian's package) requesting
//! one page over and over on keep-alive connections. Target: at least 5,000 requests/s for
//! an issue page. Also measured: the index, the Atom feed, and a revalidation answered 304.
//! Takes under a minute.
//!
//! `cargo bench --bench archive` (needs `wrk`: `apt-get install wrk`). DURATION (seconds,
//! default 10), CONNECTIONS (64) and THREADS (wrk's, 2) in the environment change the run.

use std::process::Command;

use mailroom::config::Settings;
use mailroom::db::Source;
use mailroom::db::subscribers::NewSubscriber;
use mailroom::domain::SubscriberEmail;
use mailroom::startup::{Application, Context};

const TARGET: f64 = 5_000.0;

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `wrk` run against `url`: requests per second, p99 latency as wrk prints it, and the
/// non-2xx/3xx count.
fn wrk(
    url: &str,
    header: Option<&str>,
    duration: u32,
    connections: u32,
    threads: u32,
) -> (f64, String, u64) {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{duration}s"))
        .arg("--latency");
    if let Some(h) = header {
        cmd.arg("-H").arg(h);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    let rate: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output: {text}"));
    let p99 = field("99%").unwrap_or_default();
    let errors = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (rate, p99, errors)
}

fn main() {
    let duration = env_or("DURATION", 10);
    let connections = env_or("CONNECTIONS", 64);
    let threads = env_or("THREADS", 2);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(None).unwrap();
    settings.database.path = dir.path().join("archive.db");
    settings.delivery.outbox_dir = dir.path().join("outbox");
    settings.delivery.rate_per_second = 10_000;
    settings.delivery.burst = 1_000;
    settings.http.bind = "127.0.0.1:0".parse().unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = Context::open(settings.clone()).await.unwrap();
        let list = ["ada", "grace"].map(|n| {
            NewSubscriber::active(
                SubscriberEmail::parse(&format!("{n}@example.org")).unwrap(),
                n,
            )
        });
        ctx.db.add_subscribers(&list, Source::Cli).await.unwrap();
        let text = include_str!("../samples/issue-210.md");
        for number in 181..=210 {
            let source = text
                .replace("number = 210", &format!("number = {number}"))
                .replace("Issue #210", &format!("Issue #{number}"));
            let issue = mailroom::issue_file::parse_str("issue.md", &source).unwrap();
            ctx.db
                .import_issue(&issue, "bench", Source::Cli)
                .await
                .unwrap();
            ctx.db.finalize_issue(number, Source::Cli).await.unwrap();
            ctx.db.create_send(number, Source::Cli).await.unwrap();
        }
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        ctx.worker()
            .unwrap()
            .run_until_stopped(stopped, true)
            .await
            .unwrap();
    });

    let app = runtime.block_on(Application::build(settings)).unwrap();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = runtime.handle().clone();
    let server = std::thread::spawn(move || handle.block_on(app.run_until_stopped(stopped, false)));

    let client = reqwest::blocking::Client::new();
    let issue_url = format!("{base}/archive/210");
    let warm = client.get(&issue_url).send().unwrap();
    assert_eq!(warm.status().as_u16(), 200);
    let etag = warm.headers()["etag"].to_str().unwrap().to_string();
    let size = warm.bytes().unwrap().len();
    for path in ["/archive", "/atom.xml"] {
        assert_eq!(
            client
                .get(format!("{base}{path}"))
                .send()
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }

    println!(
        "archive under wrk -t{threads} -c{connections} -d{duration}s --latency, 30 sent issues, \
         server on a 2-thread runtime in this process"
    );
    println!(
        "{:<40} {:>10} {:>12} {:>8}",
        "request", "req/s", "p99", "errors"
    );
    let if_none_match = format!("If-None-Match: {etag}");
    let runs: [(&str, String, Option<&str>); 4] = [
        ("issue page /archive/210 (200)", issue_url.clone(), None),
        (
            "issue page, If-None-Match (304)",
            issue_url.clone(),
            Some(&if_none_match),
        ),
        ("index /archive (200)", format!("{base}/archive"), None),
        (
            "Atom feed /atom.xml (200)",
            format!("{base}/atom.xml"),
            None,
        ),
    ];
    let mut issue_rate = 0.0;
    for (n, (name, url, header)) in runs.iter().enumerate() {
        let (rate, p99, errors) = wrk(url, *header, duration, connections, threads);
        if n == 0 {
            issue_rate = rate;
        }
        println!("{name:<40} {rate:>10.0} {p99:>12} {errors:>8}");
        assert_eq!(errors, 0, "{name}: wrk saw errors");
    }
    println!("issue page: {size} bytes");
    let _ = stop.send(true);
    server.join().unwrap().unwrap();
    let verdict = if issue_rate >= TARGET {
        "met"
    } else {
        "NOT met"
    };
    println!("target ≥ {TARGET:.0} issue page requests/s: {verdict} ({issue_rate:.0}/s)");
    if issue_rate < TARGET {
        std::process::exit(1);
    }
}
