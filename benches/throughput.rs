//! Delivery throughput against Postfix's `smtp-sink` on loopback, beside what the same
//! package's load generator `smtp-source -d` (sessions kept open, as mailroom's pool keeps
//! them) achieves with the same message size, session count and message count. Rate limits
//! off. Rounds alternate the two, each mailroom round on a fresh database; the ratio of
//! each round and their median are printed, with the worker's peak RSS.
//!
//! `cargo bench --bench throughput` — SUBSCRIBERS (default 20000), CONCURRENCY (default
//! "8 16") and ROUNDS (default 5) in the environment change the run. Installs Debian's
//! postfix package if smtp-sink is missing (the daemon itself is not started).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn ensure_postfix_tools() {
    if Path::new("/usr/sbin/smtp-sink").exists() {
        return;
    }
    eprintln!("installing Debian's postfix package for smtp-sink and smtp-source");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "postfix"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    assert!(
        ok.map(|s| s.success()).unwrap_or(false),
        "apt-get install postfix failed"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sink(port: u16) -> Sink {
    let child = Command::new("/usr/sbin/smtp-sink")
        .args(["-u", "nobody", &format!("127.0.0.1:{port}"), "1024"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start smtp-sink");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "smtp-sink did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Sink(child)
}

fn mailroom(dir: &Path, config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MAILROOM_LOG", "warn");
    cmd
}

fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Peak resident set of a running process, from /proc (kB).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    ensure_postfix_tools();
    let subscribers: usize = env_or("SUBSCRIBERS", "20000").parse().unwrap();
    let rounds: usize = env_or("ROUNDS", "5").parse().unwrap();
    let concurrencies: Vec<u32> = env_or("CONCURRENCY", "8 16")
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("list.csv");
    let mut list = String::from("email,name\n");
    for k in 0..subscribers {
        list.push_str(&format!("reader{k}@example.org,Reader {k}\n"));
    }
    std::fs::write(&csv, list).unwrap();

    let mut table = Vec::new();
    for concurrency in concurrencies {
        let port = free_port();
        let _sink = start_sink(port);
        let mut ratios = Vec::new();
        let mut rates = Vec::new();
        let mut sources = Vec::new();
        let mut peak = 0;
        for round in 0..rounds {
            let run = dir.path().join(format!("c{concurrency}-r{round}"));
            let (config, size) = prepare(repo, &run, &csv, concurrency, port);
            let source_rate = smtp_source(concurrency, size, subscribers, port);
            let (rate, rss) = drain(&run, &config, subscribers);
            peak = peak.max(rss);
            eprintln!(
                "{concurrency} sessions, round {}: smtp-source {source_rate:.0}/s, mailroom {rate:.0}/s = {:.2}×, {:.0} MB",
                round + 1,
                rate / source_rate,
                rss as f64 / 1024.0
            );
            ratios.push(rate / source_rate);
            rates.push(rate);
            sources.push(source_rate);
            std::fs::remove_dir_all(&run).unwrap();
        }
        table.push((concurrency, median(&sources), median(&rates), ratios, peak));
    }
    println!(
        "| sessions | smtp-source -d msg/s (median) | mailroom msg/s (median) | ratio per round | median ratio | mailroom peak RSS |"
    );
    println!("|---|---|---|---|---|---|");
    for (concurrency, source, rate, ratios, peak) in table {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "| {concurrency} | {source:.0} | {rate:.0} | {} | **{:.2}×** | {:.0} MB |",
            each.join(", "),
            median(&ratios),
            peak as f64 / 1024.0
        );
    }
    println!(
        "({subscribers} messages of the sample issue per round, one per subscriber, {rounds} rounds)"
    );
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A fresh instance with the list imported and the send queued; its config and the size
/// of one message.
fn prepare(
    repo: &Path,
    run: &Path,
    csv: &Path,
    concurrency: u32,
    port: u16,
) -> (std::path::PathBuf, u64) {
    std::fs::create_dir_all(run).unwrap();
    let config = run.join("mailroom.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = \"{}\"\n[delivery]\ntransport = \"smtp\"\nrate_per_second = 10000000\n\
             burst = 100000\nconcurrency = {concurrency}\nbatch_size = 500\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             [newsletter]\nbase_url = \"https://news.example.org\"\n",
            run.join("bench.db").display()
        ),
    )
    .unwrap();
    let issue = repo.join("samples/issue-210.md");
    run_ok(mailroom(
        run,
        &config,
        &["issue", "import", issue.to_str().unwrap()],
    ));
    run_ok(mailroom(run, &config, &["issue", "finalize", "210"]));
    run_ok(mailroom(
        run,
        &config,
        &["subscribers", "import", csv.to_str().unwrap()],
    ));
    run_ok(mailroom(
        run,
        &config,
        &["issue", "preview", "210", "--out", "preview"],
    ));
    let size = std::fs::metadata(run.join("preview/issue.eml"))
        .unwrap()
        .len();
    run_ok(mailroom(run, &config, &["issue", "send", "210"]));
    (config, size)
}

/// smtp-source with the same size, sessions and message count, its sessions kept open.
fn smtp_source(concurrency: u32, size: u64, messages: usize, port: u16) -> f64 {
    let started = Instant::now();
    let status = Command::new("/usr/sbin/smtp-source")
        .args([
            "-d",
            "-s",
            &concurrency.to_string(),
            "-l",
            &size.to_string(),
        ])
        .args(["-m", &messages.to_string()])
        .args(["-f", "bench@example.org", "-t", "reader@example.org"])
        .arg(format!("127.0.0.1:{port}"))
        .status()
        .expect("smtp-source");
    assert!(status.success());
    messages as f64 / started.elapsed().as_secs_f64()
}

/// `mailroom worker --drain` to the end: messages/s and peak RSS (kB).
fn drain(run: &Path, config: &Path, messages: usize) -> (f64, u64) {
    let started = Instant::now();
    let mut worker = mailroom(run, config, &["worker", "--drain"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(kb) = peak_rss_kb(worker.id()) {
            peak = peak.max(kb);
        }
        if worker.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = run_ok(mailroom(run, config, &["send", "status", "210"]));
    assert!(
        sent.contains(&format!("sent {messages}")),
        "not everything was sent: {sent}"
    );
    (messages as f64 / elapsed, peak)
}
