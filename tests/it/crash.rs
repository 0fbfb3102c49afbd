//! Crash safety: a worker killed at random moments, restarted, never skips anyone.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Instance, SmtpServer, Sql, mailroom_command};

const CONFIG: &str = "[delivery]\nlease_seconds = 2\nbatch_size = 50\nconcurrency = 4\nrate_per_second = 100000\nburst = 1000\n";

fn worker(i: &Instance, args: &[&str]) -> Child {
    mailroom_command(i.dir.path())
        .arg("--config")
        .arg(&i.config)
        .arg("worker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start worker")
}

fn list(n: usize) -> String {
    std::iter::once("email,name".to_string())
        .chain((0..n).map(|k| format!("r{k}@example.org,R{k}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits (bounded) until the server has received `target` messages; false if the worker
/// exited first.
fn wait_for_count(server: &SmtpServer, child: &mut Child, target: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.count() < target {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "no progress towards {target} messages"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// xorshift64*: enough randomness for kill points, reproducible from the printed seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// The kill points' seed: `CRASH_SEED` (hex `0x…` or decimal) replays a failed run's
/// kill points, otherwise a fresh random one. Never 0, which xorshift cannot leave.
fn seed() -> u64 {
    let Ok(text) = std::env::var("CRASH_SEED") else {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        return u64::from_le_bytes(bytes) | 1;
    };
    let digits = text.trim().replace('_', "");
    let parsed = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    match parsed {
        Ok(seed) if seed != 0 => seed,
        Ok(_) => panic!("CRASH_SEED must not be 0"),
        Err(e) => panic!("CRASH_SEED={text:?} is not a 64-bit number (hex 0x… or decimal): {e}"),
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_one() {
    const N: usize = 5000;
    const KILLS: usize = 10;
    let server = SmtpServer::start();
    let i = Instance::smtp_with(server.port, CONFIG);
    i.queue_sample(&list(N));
    let mut rng = seed();
    println!("kill-point seed {rng:#x} (replay with CRASH_SEED={rng:#x})");

    let mut kills = 0;
    for _ in 0..KILLS {
        let mut child = worker(&i, &[]);
        let target = server.count() + 100 + (next(&mut rng) % 300) as usize;
        if target >= N || !wait_for_count(&server, &mut child, target) {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        child.kill().unwrap(); // SIGKILL: no chance to release claims or finish anything.
        child.wait().unwrap();
        kills += 1;
    }
    // A fresh worker takes over the dead workers' claims once their leases lapse.
    i.ok(&["worker", "--drain"]);

    let counts = server.per_recipient();
    let missing: Vec<String> = (0..N)
        .map(|k| format!("r{k}@example.org"))
        .filter(|a| !counts.contains_key(a))
        .collect();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    println!(
        "{kills} kills during a {N}-message send: {duplicates} duplicate(s), {} missing",
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "never received: {:?}",
        &missing[..missing.len().min(10)]
    );
    assert!(
        kills >= 5,
        "the send ended too early to be killed often ({kills} kills)"
    );
    // Only messages the relay accepted but whose outcome was not yet committed can go
    // twice. With concurrency c that window is at most: c in SMTP transactions, a group
    // (128) waiting in the recorder's channel and another in the commit being written.
    let concurrency = 4;
    let group = 128;
    assert!(
        duplicates <= kills * (concurrency + 2 * group),
        "{duplicates} duplicates for {kills} kills"
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'"),
        N as i64
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM issues WHERE status = 'sent'"),
        1
    );
    assert_eq!(
        i.query_scalar("SELECT count(DISTINCT message_id) FROM deliveries"),
        N as i64
    );
}

#[test]
fn sigterm_finishes_in_flight_messages_and_releases_claims() {
    const N: usize = 1000;
    let server = SmtpServer::start();
    let i = Instance::smtp_with(server.port, CONFIG);
    i.queue_sample(&list(N));
    let mut child = worker(&i, &[]);
    assert!(
        wait_for_count(&server, &mut child, 200),
        "worker exited early"
    );
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sending'"),
        0,
        "no claim left behind"
    );
    let sent = i.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'");
    assert_eq!(
        sent as usize,
        server.count(),
        "everything handed to the relay was recorded"
    );
    assert!(sent < N as i64, "stopped before the end");

    i.ok(&["worker", "--drain"]);
    let counts = server.per_recipient();
    assert_eq!(counts.len(), N);
    assert!(
        counts.values().all(|c| *c == 1),
        "a clean stop causes no duplicates"
    );
}
