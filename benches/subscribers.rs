//! The subscriber list at a million: import, export and stats through the release CLI on
//! a real SQLite file, with peak RSS for the import.
//!
//! The import is held against a floor measured in the same run: the `sqlite3` shell's
//! `.import` of the same file plus one `INSERT … SELECT` into the same `subscribers` table
//! (same schema and indexes, made by mailroom's migrations), with none of an import's
//! checks. Three alternating rounds, each on a fresh database; the median ratio is printed.
//!
//! `cargo bench --bench subscribers` — SUBSCRIBERS (default 1000000) changes the size,
//! ROUNDS (default 3) the rounds. The CSV is generated here (name and two attribute
//! columns, a few formula cells) rather than committed. Needs `sqlite3` for the floor.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mailroom(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.current_dir(dir)
        .args(args)
        .env("MAILROOM_DATABASE__PATH", dir.join("bench.db"))
        .env("MAILROOM_LOG", "warn");
    cmd
}

/// Runs to the end, sampling the peak resident set from /proc (kB).
fn run_measured(mut cmd: Command) -> (Duration, u64, String) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailroom");
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        elapsed,
        peak,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn main() {
    let n: usize = std::env::var("SUBSCRIBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("list.csv");
    let mut list = String::with_capacity(n * 60);
    list.push_str("email,name,city,plan\n");
    let cities = ["London", "Paris", "Berlin", "=SUM(A1)", "Tokyo"];
    for k in 0..n {
        list.push_str(&format!(
            "reader{k}@example{}.org,Reader {k},{},{}\n",
            k % 100,
            cities[k % cities.len()],
            if k % 3 == 0 { "pro" } else { "" }
        ));
    }
    std::fs::write(&csv, list).unwrap();
    let mb = std::fs::metadata(&csv).unwrap().len() as f64 / 1e6;

    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut imports = Vec::new();
    let mut floors = Vec::new();
    let mut import_rss = 0;
    for round in 0..rounds {
        let floor_db = dir.path().join(format!("floor-{round}.db"));
        floors.push(sqlite3_floor(dir.path(), &floor_db, &csv));
        let _ = std::fs::remove_file(&floor_db);
        for stale in ["bench.db", "bench.db-wal", "bench.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join(stale));
        }
        // Creates the database first, so the import measures the import.
        run_measured(mailroom(dir.path(), &["subscribers", "stats"]));
        let (import, rss, out) = run_measured(mailroom(
            dir.path(),
            &["subscribers", "import", csv.to_str().unwrap()],
        ));
        assert!(out.contains(&format!("{n} added")), "{out}");
        imports.push(import);
        import_rss = import_rss.max(rss);
        eprintln!(
            "round {}: import {:.2} s, floor {:.2} s",
            round + 1,
            import.as_secs_f64(),
            floors[round].as_secs_f64()
        );
    }
    let mut ratios: Vec<f64> = imports
        .iter()
        .zip(&floors)
        .map(|(i, f)| i.as_secs_f64() / f.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let import = median(&imports);
    let floor = median(&floors);
    let export_file = dir.path().join("export.csv");
    let (export, export_rss, _) = run_measured(mailroom(
        dir.path(),
        &[
            "subscribers",
            "export",
            "--output",
            export_file.to_str().unwrap(),
        ],
    ));
    let exported = std::fs::read_to_string(&export_file).unwrap();
    assert_eq!(exported.lines().count(), n + 1);
    drop(exported);
    let mut stats = Duration::MAX;
    for _ in 0..5 {
        let (t, _, out) = run_measured(mailroom(dir.path(), &["subscribers", "stats"]));
        assert!(out.contains(&format!("active {n}")), "{out}");
        stats = stats.min(t);
    }
    // A re-import of the same file changes nothing but still checks every row.
    let (reimport, reimport_rss, out) = run_measured(mailroom(
        dir.path(),
        &["subscribers", "import", csv.to_str().unwrap()],
    ));
    assert!(out.contains(&format!("{n} unchanged")), "{out}");

    println!("| step ({n} subscribers, {mb:.0} MB CSV) | time | peak RSS |");
    println!("|---|---|---|");
    println!(
        "| import (median of {rounds}) | {:.1} s | {} MB |",
        import.as_secs_f64(),
        import_rss / 1024
    );
    println!(
        "| floor: sqlite3 .import + INSERT … SELECT (median) | {:.1} s | |",
        floor.as_secs_f64()
    );
    println!(
        "| import / floor, median ratio of the rounds | {:.2}× | |",
        ratios[ratios.len() / 2]
    );
    println!(
        "| re-import (all unchanged) | {:.1} s | {} MB |",
        reimport.as_secs_f64(),
        reimport_rss / 1024
    );
    println!(
        "| export | {:.1} s | {} MB |",
        export.as_secs_f64(),
        export_rss / 1024
    );
    println!(
        "| stats (whole process, best of 5) | {} ms | |",
        stats.as_millis()
    );
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// The sqlite3 shell loading the same CSV into the same table: what SQLite itself needs,
/// with no checks at all. The database is made by mailroom, so schema and indexes match.
fn sqlite3_floor(dir: &Path, db: &Path, csv: &Path) -> Duration {
    let mut create = mailroom(dir, &["subscribers", "stats"]);
    create.env("MAILROOM_DATABASE__PATH", db);
    run_measured(create);
    let script = format!(
        ".import --csv {} staging\n\
         INSERT INTO subscribers (email, name, status, attributes, consent_source, consent_at,\
             created_at, updated_at, confirmed_at)\
         SELECT email, name, 'active',\
             json_object('city', city, 'plan', plan), 'import', '2026-12-01T00:00:00.000Z',\
             '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'\
         FROM staging;\n",
        csv.display()
    );
    let started = Instant::now();
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sqlite3 is installed (Debian's sqlite3 package)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "sqlite3 failed");
    started.elapsed()
}
