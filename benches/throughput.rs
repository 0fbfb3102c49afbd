//! Delivery throughput against Postfix's `smtp-sink` on loopback, beside what the same
//! package's load generator `smtp-source` achieves with the same message size and session
//! count in the same run. Rate limits off. Reports messages/s and the worker's peak RSS.
//!
//! `cargo bench --bench throughput` — SUBSCRIBERS (default 100000) and CONCURRENCY
//! (default "8 16") in the environment change the run. Installs Debian's postfix package
//! if smtp-sink is missing (the daemon itself is not started).

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
    let subscribers: usize = env_or("SUBSCRIBERS", "100000").parse().unwrap();
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

    println!("| sessions | smtp-source msg/s | mailroom msg/s | ratio | mailroom peak RSS |");
    println!("|---|---|---|---|---|");
    for concurrency in concurrencies {
        let port = free_port();
        let _sink = start_sink(port);
        let run = dir.path().join(format!("c{concurrency}"));
        std::fs::create_dir_all(&run).unwrap();
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
            &run,
            &config,
            &["issue", "import", issue.to_str().unwrap()],
        ));
        run_ok(mailroom(&run, &config, &["issue", "finalize", "210"]));
        run_ok(mailroom(
            &run,
            &config,
            &["subscribers", "import", csv.to_str().unwrap()],
        ));
        run_ok(mailroom(
            &run,
            &config,
            &["issue", "preview", "210", "--out", "preview"],
        ));
        let size = std::fs::metadata(run.join("preview/issue.eml"))
            .unwrap()
            .len();
        run_ok(mailroom(&run, &config, &["issue", "send", "210"]));

        // The reference: smtp-source with the same size, sessions and message count.
        let started = Instant::now();
        let status = Command::new("/usr/sbin/smtp-source")
            .args([
                "-s",
                &concurrency.to_string(),
                "-l",
                &size.to_string(),
                "-m",
                &subscribers.to_string(),
            ])
            .args([
                "-f",
                "bench@example.org",
                "-t",
                "reader@example.org",
                &format!("127.0.0.1:{port}"),
            ])
            .status()
            .expect("smtp-source");
        assert!(status.success());
        let source_rate = subscribers as f64 / started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut worker = mailroom(&run, &config, &["worker", "--drain"])
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
        let sent = run_ok(mailroom(&run, &config, &["send", "status", "210"]));
        assert!(
            sent.contains(&format!("sent {subscribers}")),
            "not everything was sent: {sent}"
        );
        let rate = subscribers as f64 / elapsed;
        println!(
            "| {concurrency} | {source_rate:.0} | {rate:.0} | {:.0}% | {:.0} MB |",
            rate / source_rate * 100.0,
            peak as f64 / 1024.0
        );
    }
    println!("({subscribers} messages of the sample issue, one per subscriber)");
}
