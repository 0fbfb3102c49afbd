//! `mailroom db backup` and `db check`: a copy taken while `serve` delivers is one
//! consistent snapshot that mailroom itself can run on, and damage is reported, not hidden.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::helpers::{Instance, Sql};

const STATUSES: &str = "'queued', 'sending', 'sent', 'retry', 'failed', 'suppressed'";

fn list(n: usize) -> String {
    std::iter::once("email,name".to_string())
        .chain((0..n).map(|k| format!("reader{k}@example.org,Reader {k}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `f` on a read-only sqlx connection to the SQLite file at `path`: the file as it
/// is, without mailroom's migrations or settings.
fn inspect<T>(path: &Path, f: impl AsyncFnOnce(&mut SqliteConnection) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .connect()
            .await
            .expect("open the copy with sqlx");
        let out = f(&mut conn).await;
        conn.close().await.unwrap();
        out
    })
}

fn scalar(path: &Path, sql: &'static str) -> i64 {
    inspect(path, async |c| {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(c)
            .await
            .expect(sql)
    })
}

fn sent(i: &Instance) -> i64 {
    i.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'")
}

#[test]
fn a_backup_taken_mid_send_is_consistent_and_mailroom_runs_on_it() {
    const N: i64 = 5000;
    // At most 250 messages a second: the send lasts 20 s at least, so the backup started
    // once the first messages are out lands in the middle of it.
    let i = Instance::with_config("[delivery]\nrate_per_second = 250\nburst = 10\n");
    i.queue_sample(&list(N as usize));
    let mut served = i.serve(&[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent(&i) < 50 {
        assert!(Instant::now() < deadline, "serve did not start delivering");
        std::thread::sleep(Duration::from_millis(20));
    }

    let copy = i.dir.path().join("backups").join("mid-send.db");
    std::fs::create_dir(copy.parent().unwrap()).unwrap();
    let out = i.ok(&["db", "backup", copy.to_str().unwrap()]);
    let size = std::fs::metadata(&copy).unwrap().len();
    assert!(
        out.contains("mid-send.db") && out.contains(&format!("{size} bytes")),
        "prints the path and size: {out}"
    );
    let after = sent(&i);
    while sent(&i) < after + 100 {
        assert!(
            Instant::now() < deadline,
            "serve stopped delivering after the backup"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let exit = served.terminate();
    assert!(exit.success(), "{exit:?}");

    let integrity: Vec<String> = inspect(&copy, async |c| {
        sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(c)
            .await
            .unwrap()
    });
    assert_eq!(integrity, ["ok"]);
    let orphans = inspect(&copy, async |c| {
        sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(c)
            .await
            .unwrap()
            .len()
    });
    assert_eq!(orphans, 0, "foreign keys hold in the copy");

    let copied_sent = scalar(
        &copy,
        "SELECT count(*) FROM deliveries WHERE status = 'sent'",
    );
    assert!(
        copied_sent > 0 && copied_sent < N,
        "the backup was taken mid-send: {copied_sent} of {N} sent in the copy"
    );
    println!("backup mid-send: {copied_sent} of {N} sent in the copy, {after} just after it");
    assert!(copied_sent <= after, "{copied_sent} > {after}");
    assert_eq!(scalar(&copy, "SELECT count(*) FROM deliveries"), N);
    assert_eq!(scalar(&copy, "SELECT total FROM sends"), N);
    let invalid = inspect(&copy, async |c| {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM deliveries WHERE status NOT IN ({STATUSES})"
        )))
        .fetch_one(c)
        .await
        .unwrap()
    });
    assert_eq!(invalid, 0);
    assert_eq!(
        scalar(
            &copy,
            "SELECT count(*) FROM deliveries WHERE status = 'sent'
             AND (sent_at IS NULL OR message_id IS NULL OR smtp_reply IS NULL)"
        ),
        0,
        "every sent delivery has its time, Message-ID and reply"
    );
    assert_eq!(
        scalar(
            &copy,
            "SELECT count(*) FROM deliveries WHERE status = 'sending' AND lease_until IS NULL"
        ),
        0,
        "every claimed delivery has its lease"
    );
    // Written in the same transactions as the deliveries: a torn copy would disagree.
    assert_eq!(
        scalar(&copy, "SELECT count(*) FROM events WHERE kind = 'sent'"),
        copied_sent,
        "one `sent` event per sent delivery"
    );
    assert_eq!(
        scalar(&copy, "SELECT attempted FROM sends"),
        scalar(
            &copy,
            "SELECT count(*) FROM deliveries WHERE status IN ('sent', 'failed')"
        ),
        "the send's counter matches its rows"
    );

    // Restored as the README says: the copy becomes another instance's database file.
    let restored = Instance::new();
    std::fs::copy(&copy, restored.db_path()).unwrap();
    assert!(restored.ok(&["db", "check"]).contains("ok"));
    let status = restored.ok(&["send", "status", "210"]);
    assert!(
        status.contains(&format!("total {N}")) && status.contains(&format!("sent {copied_sent}")),
        "{status}"
    );
}

#[test]
fn db_check_passes_a_sound_database_and_reports_damage() {
    let i = Instance::new();
    i.queue_sample("email,name\nkim@example.org,Kim\nlee@example.org,Lee\n");
    let out = i.ok(&["db", "check"]);
    assert!(out.contains("mailroom.db: ok"), "{out}");

    // Damage a copy: fill the deliveries table's root page with garbage.
    let good = i.dir.path().join("good.db");
    i.ok(&["db", "backup", good.to_str().unwrap()]);
    assert!(
        i.ok(&["db", "check", good.to_str().unwrap()])
            .contains("ok")
    );
    let page_size = scalar(&good, "PRAGMA page_size") as usize;
    let root = scalar(
        &good,
        "SELECT rootpage FROM sqlite_schema WHERE name = 'deliveries'",
    ) as usize;
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[(root - 1) * page_size..root * page_size].fill(0xa5);
    let bad = i.write("damaged.db", &bytes);
    let err = i.fails(&["db", "check", bad.to_str().unwrap()]);
    assert!(
        err.contains("damaged.db") && err.contains("damaged (") && err.contains("malformed"),
        "{err}"
    );

    let text = i.write("notes.db", b"this is not a database\n");
    let err = i.fails(&["db", "check", text.to_str().unwrap()]);
    assert!(
        err.contains("notes.db cannot be read as an SQLite database"),
        "{err}"
    );

    let missing = i.dir.path().join("missing.db");
    let err = i.fails(&["db", "check", missing.to_str().unwrap()]);
    assert!(
        err.contains("no database at") && err.contains("missing.db"),
        "{err}"
    );
    assert!(!missing.exists(), "checking never creates a database");
}

/// Files a failed or refused backup might leave behind in `dir`.
fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".partial"))
        .collect()
}

#[test]
fn db_backup_replaces_a_file_only_with_force_and_never_leaves_half_a_file() {
    let i = Instance::new();
    i.queue_sample("email,name\nkim@example.org,Kim\n");
    let target = i.write("nightly.db", b"precious, not a database");

    let err = i.fails(&["db", "backup", target.to_str().unwrap()]);
    assert!(
        err.contains("nightly.db already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"precious, not a database");

    let out = i.ok(&["db", "backup", "--force", target.to_str().unwrap()]);
    assert!(out.contains("nightly.db"), "{out}");
    assert!(
        std::fs::read(&target)
            .unwrap()
            .starts_with(b"SQLite format 3\0")
    );
    assert!(
        i.ok(&["db", "check", target.to_str().unwrap()])
            .contains("ok")
    );
    assert_eq!(
        scalar(&target, "SELECT count(*) FROM subscribers"),
        1,
        "the copy holds the list"
    );

    // Never over the database itself, --force or not.
    let err = i.fails(&["db", "backup", "--force", i.db_path().to_str().unwrap()]);
    assert!(err.contains("is the database itself"), "{err}");
    assert!(i.ok(&["db", "check"]).contains("ok"));

    let err = i.fails(&["db", "backup", "no-such-folder/x.db"]);
    assert!(err.contains("no-such-folder"), "{err}");

    // A source that is no database: the copy fails, and nothing is left under its name.
    let broken = Instance::new();
    broken.write("mailroom.db", b"not a database either");
    let out_dir = broken.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let failed = out_dir.join("copy.db");
    let err = broken.fails(&["db", "backup", failed.to_str().unwrap()]);
    assert!(
        err.contains("cannot be read as an SQLite database"),
        "{err}"
    );
    assert!(!failed.exists());
    assert_eq!(partials(&out_dir), Vec::<String>::new());
    assert_eq!(partials(i.dir.path()), Vec::<String>::new());
}
