//! Operating while it runs: `mailroom serve` delivers a large send while the operator
//! imports, edits and steers from the CLI and the admin API. Nothing may fail with
//! "database is locked", and the send still reaches everyone exactly once.

use crate::helpers::{Http, Instance, Sql, repo_path};

const TOKEN: &str = "admin-token-for-tests-0123456789";
const SUBSCRIBERS: usize = 20_000;
const ROUNDS: usize = 20;

#[test]
fn the_operator_works_from_the_cli_and_the_api_while_a_send_runs() {
    // Paced so that the send outlasts the operator's work even on a slow machine; the
    // recorder still commits hundreds of times a second, each commit taking the write lock.
    let i = Instance::with_config(&format!(
        "[admin]\ntoken = \"{TOKEN}\"\n\
         [delivery]\nrate_per_second = 400\nburst = 400\nconcurrency = 8\nbatch_size = 200\n"
    ));
    let mut csv = String::from("email,name\n");
    for k in 0..SUBSCRIBERS {
        csv.push_str(&format!("reader{k}@example.org,Reader {k}\n"));
    }
    i.queue_sample(&csv);
    let issue = std::fs::read_to_string(repo_path("samples/issue-210.md")).unwrap();
    let mut served = i.serve(&[]);

    let mut failures: Vec<String> = Vec::new();
    let mut run = |what: &str, args: &[&str]| {
        let out = i.run(args);
        if !out.status.success() {
            failures.push(format!(
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    };
    let mut api_failures = Vec::new();
    for round in 0..ROUNDS {
        // A list of 500 new readers, a draft edited again, the send steered.
        let mut list = String::from("email,name\n");
        for k in 0..500 {
            list.push_str(&format!("new{round}-{k}@example.org,New {k}\n"));
        }
        let list = i.write(&format!("list-{round}.csv"), list.as_bytes());
        run(
            "subscribers import",
            &["subscribers", "import", list.to_str().unwrap()],
        );
        let draft = issue
            .replace("number = 210", "number = 211")
            .replace("Hey folks", &format!("Hey folks (draft {round})"));
        let draft = i.write("issue-211.md", draft.as_bytes());
        run(
            "issue import",
            &["issue", "import", draft.to_str().unwrap()],
        );
        run("send pause", &["send", "pause", "210"]);
        run("send resume", &["send", "resume", "210"]);
        let body = format!(r#"{{"email":"api{round}@example.org","name":"API {round}"}}"#);
        let reply = served.admin("POST", "/api/subscribers", TOKEN, Some(&body));
        if reply.status != 201 {
            api_failures.push(format!("POST /api/subscribers: {reply:?}"));
        }
    }
    let sent_during = i.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'");
    assert!(
        failures.is_empty() && api_failures.is_empty(),
        "{} of {} CLI commands and {} of {ROUNDS} API requests failed:\n{}\n{}",
        failures.len(),
        4 * ROUNDS,
        api_failures.len(),
        failures.join("\n"),
        api_failures.join("\n")
    );
    assert!(
        sent_during > 0 && sent_during < SUBSCRIBERS as i64,
        "the operator worked while the send was running ({sent_during} sent by then)"
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM subscribers"),
        (SUBSCRIBERS + ROUNDS * 500 + ROUNDS) as i64
    );
    assert_eq!(i.event_count("send_paused"), ROUNDS as i64);
    assert_eq!(i.event_count("send_resumed"), ROUNDS as i64);

    // The rest at full speed: stop the server, lift the pace, drain.
    assert!(served.terminate().success());
    i.reconfigure("[delivery]\nrate_per_second = 100000\nburst = 1000\n");
    let out = i.ok(&["worker", "--drain"]);
    assert!(out.contains("issue #210: done"), "{out}");
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'"),
        SUBSCRIBERS as i64
    );
    assert_eq!(
        std::fs::read_dir(i.outbox()).unwrap().count(),
        SUBSCRIBERS,
        "one message per subscriber of the send, none twice"
    );
    assert_eq!(i.event_count("sent"), SUBSCRIBERS as i64);
}
