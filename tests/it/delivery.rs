//! End to end: import → finalize → send → worker, through the outbox and a real SMTP server.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mail_parser::{Message, MessageParser};
use mailroom::token::TokenKeys;

use mailroom::worker::Step;

use crate::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::{
    Http, Instance, SMTP_PASSWORD, SMTP_USER, SmtpServer, Sql, TOKEN_KEY, TestCertificate,
};

const SUBSCRIBERS: &str =
    "email,name\nada@example.org,Ada Lovelace\njose@example.com,José Müller\nnoname@example.net,\n";

fn keys() -> TokenKeys {
    TokenKeys::new(TOKEN_KEY, &[]).unwrap()
}

/// Checks everything DESIGN.md promises about one message; returns (to, text, html).
fn check_message(app: &TestApp, raw: &[u8], envelope_from: &str) -> (String, String, String) {
    let msg: Message = MessageParser::default()
        .parse(raw)
        .expect("parsable message");
    let to = msg
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap()
        .to_string();
    let subscriber_id =
        app.query_scalar(&format!("SELECT id FROM subscribers WHERE email = '{to}'"));

    assert_eq!(
        msg.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("newsletter@newsletter.example.org")
    );
    assert_eq!(
        msg.subject(),
        Some("On-device speech, a tokenizer deep-dive, and sparse attention revisited")
    );
    assert!(msg.date().is_some(), "Date header");
    assert_eq!(
        msg.header_raw("List-Id").unwrap().trim(),
        "\"Deep Learning Weekly\" <weekly.newsletter.example.org>"
    );
    assert_eq!(
        msg.header_raw("List-Unsubscribe-Post").unwrap().trim(),
        "List-Unsubscribe=One-Click"
    );

    // List-Unsubscribe: one web link and one mailto, carrying the same valid token.
    let base = app.base_url();
    let unsub: String = msg
        .header_raw("List-Unsubscribe")
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let token = unsub
        .strip_prefix(&format!("<{base}/u/"))
        .and_then(|rest| rest.split_once(">, <mailto:unsubscribe+"))
        .map(|(token, rest)| {
            assert_eq!(rest, format!("{token}@newsletter.example.org>"));
            token.to_string()
        })
        .unwrap_or_else(|| panic!("List-Unsubscribe format: {unsub}"));
    let claim = keys().verify_unsubscribe(&token).expect("token verifies");
    assert_eq!(claim.subscriber_id, subscriber_id);
    assert_eq!(claim.issue_number, 210);

    // VERP: the envelope sender names this delivery.
    let local = envelope_from
        .strip_suffix("@newsletter.example.org")
        .unwrap();
    let delivery_id = keys()
        .verify_bounce(local.strip_prefix("bounces+").unwrap())
        .expect("VERP token");
    let message_id = msg.message_id().unwrap().to_string();
    let stored: i64 = app.query_scalar(&format!(
        "SELECT count(*) FROM deliveries WHERE id = {delivery_id} AND subscriber_id = {subscriber_id}
         AND status = 'sent' AND message_id = '{message_id}'"
    ));
    assert_eq!(
        stored, 1,
        "delivery {delivery_id} recorded as sent with Message-ID {message_id}"
    );
    assert!(
        message_id.starts_with(&format!("210.{delivery_id}.")),
        "{message_id}"
    );

    assert!(
        msg.header_raw("Content-Type")
            .unwrap()
            .contains("multipart/alternative")
    );
    assert_eq!(msg.text_body_count(), 1);
    assert_eq!(msg.html_body_count(), 1);
    let text = msg.body_text(0).unwrap().into_owned();
    let html = msg.body_html(0).unwrap().into_owned();
    assert!(
        text.contains(&format!("Unsubscribe: {base}/u/{token}")),
        "visible link in text"
    );
    assert!(
        html.contains(&format!("href=\"{base}/u/{token}\"")),
        "visible link in HTML"
    );
    assert!(text.contains("== PAPERS & PUBLICATIONS =="));
    assert!(html.contains("Sparse Attention Revisited"));
    (to, text, html)
}

fn check_greetings(by_address: &[(String, String, String)]) {
    for (to, text, html) in by_address {
        let (text_greeting, html_greeting) = match to.as_str() {
            "ada@example.org" => ("Hi Ada Lovelace,", "Hi Ada Lovelace,"),
            "jose@example.com" => ("Hi José Müller,", "Hi Jos&#233; M&#252;ller,"),
            "noname@example.net" => ("Hi there,", "Hi there,"),
            other => panic!("unexpected recipient {other}"),
        };
        assert!(text.contains(text_greeting), "{to}: text greeting");
        assert!(html.contains(html_greeting), "{to}: HTML greeting");
    }
}

#[test]
fn outbox_send_delivers_one_personalized_message_per_subscriber() {
    let app = spawn_app();
    app.queue_sample(SUBSCRIBERS);
    assert_eq!(app.deliver_all(), 3, "delivery attempts");
    let progress = app.progress(210);
    assert_eq!(
        (&progress["status"], &progress["sent"], &progress["total"]),
        (&"done".into(), &3.into(), &3.into()),
        "{progress}"
    );

    let mut files: Vec<_> = std::fs::read_dir(app.outbox())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut seen = Vec::new();
    let mut ids = HashSet::new();
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let first_line = raw.split(|b| *b == b'\n').next().unwrap();
        let return_path = String::from_utf8_lossy(first_line).trim().to_string();
        let envelope_from = return_path
            .strip_prefix("Return-Path: <")
            .unwrap()
            .trim_end_matches('>')
            .to_string();
        let (to, text, html) = check_message(&app, &raw, &envelope_from);
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert!(
            ids.insert(msg.message_id().unwrap().to_string()),
            "Message-IDs are unique"
        );
        seen.push((to, text, html));
    }
    check_greetings(&seen);

    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events WHERE kind = 'sent'"),
        3
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM issues WHERE status = 'sent'"),
        1
    );
    assert!(
        app.ok(&["send", "status", "210"])
            .contains("done  total 3  sent 3")
    );
    let followed = app.ok(&["send", "status", "210", "--follow"]);
    assert!(
        followed.contains(
            "issue #210: done · sent 3 · retrying 0 · failed 0 · suppressed 0 · remaining 0"
        ),
        "{followed}"
    );

    assert_eq!(app.deliver_all(), 0, "a second drain sends nothing");
    assert_eq!(std::fs::read_dir(app.outbox()).unwrap().count(), 3);
}

#[test]
fn smtp_send_reaches_a_real_smtp_server() {
    let server = SmtpServer::start();
    let app = Instance::smtp(server.port).spawn_app();
    app.queue_sample(SUBSCRIBERS);
    app.deliver_all();

    let received = server.received();
    assert_eq!(received.len(), 3);
    let mut seen = Vec::new();
    for r in &received {
        assert_eq!(r.rcpt_to.len(), 1);
        let (to, text, html) = check_message(&app, &r.data, &r.mail_from);
        assert_eq!(r.rcpt_to[0], to, "envelope recipient is the To address");
        seen.push((to, text, html));
    }
    check_greetings(&seen);
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE smtp_reply LIKE '250%'"),
        3,
        "the relay's reply is recorded"
    );
}

#[test]
fn smtp_over_starttls_with_authentication() {
    let cert = TestCertificate::new();
    let server = SmtpServer::start_tls(&cert);
    let tls_config = |password: &str| {
        format!(
            "[smtp]\ntls = \"starttls\"\nusername = \"{SMTP_USER}\"\npassword = \"{password}\"\nca_file = \"{}\"\n",
            cert.ca.display()
        )
    };
    let app = Instance::smtp_with(server.port, &tls_config(SMTP_PASSWORD)).spawn_app();
    app.queue_sample("email,name\nada@example.org,Ada\n");
    app.deliver_all();
    let received = server.received();
    let last_error =
        || app.query_text("SELECT coalesce(group_concat(last_error), '') FROM deliveries");
    assert_eq!(
        received.len(),
        1,
        "delivered over STARTTLS: {}",
        last_error()
    );
    assert!(received[0].authenticated, "authenticated with AUTH PLAIN");

    let wrong = Instance::smtp_with(server.port, &tls_config("wrong-password")).spawn_app();
    wrong.queue_sample("email,name\nada@example.org,Ada\n");
    wrong.deliver_all();
    assert_eq!(
        server.received().len(),
        1,
        "nothing sent with bad credentials"
    );
    assert_eq!(
        wrong.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'"),
        0
    );
}

#[test]
fn starttls_required_means_no_cleartext_fallback() {
    let plain = SmtpServer::start();
    let app = Instance::smtp_with(plain.port, "[smtp]\ntls = \"starttls\"\n").spawn_app();
    app.queue_sample("email,name\nada@example.org,Ada\n");
    app.deliver_all();
    assert!(
        plain.received().is_empty(),
        "a relay without STARTTLS gets nothing"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'retry'"),
        1
    );
}

#[test]
fn smtp_refusals_fail_or_retry_by_reply_code() {
    let server = SmtpServer::start();
    let app = Instance::smtp(server.port).spawn_app();
    app.queue_sample(
        "email,name\nok@example.org,OK\nreject@example.org,R\ntempfail@example.org,T\n",
    );
    app.deliver_all();
    let progress = app.progress(210);
    assert_eq!(
        [
            &progress["sent"],
            &progress["total"],
            &progress["retry"],
            &progress["failed"]
        ],
        [1, 3, 1, 1],
        "{progress}"
    );
    assert_eq!(server.received().len(), 1);
    let failed = app.query_scalar(
        "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE s.email = 'reject@example.org' AND d.status = 'failed' AND d.last_error LIKE '%550%'",
    );
    assert_eq!(failed, 1, "550 is permanent");
    let retry = app.query_scalar(
        "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE s.email = 'tempfail@example.org' AND d.status = 'retry' AND d.attempts = 1
           AND d.due_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+4 minutes')",
    );
    assert_eq!(retry, 1, "452 is retried after the base delay");
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events WHERE kind IN ('failed', 'retry')"),
        2
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM issues WHERE status = 'sending'"),
        1,
        "not done while retrying"
    );
}

#[test]
fn an_unreachable_relay_means_retry_not_loss() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = Instance::smtp(port).spawn_app();
    app.queue_sample("email,name\nada@example.org,Ada\n");
    app.deliver_all();
    assert_eq!(
        app.query_scalar(
            "SELECT count(*) FROM deliveries WHERE status = 'retry' AND last_error != ''"
        ),
        1
    );
}

#[test]
fn subscribers_who_left_after_queueing_get_nothing() {
    let app = spawn_app();
    app.queue_sample(SUBSCRIBERS);
    app.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'ada@example.org'");
    app.deliver_all();
    assert_eq!(std::fs::read_dir(app.outbox()).unwrap().count(), 2);
    assert_eq!(
        app.query_scalar(
            "SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE s.email = 'ada@example.org' AND d.status = 'suppressed'"
        ),
        1
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events WHERE kind = 'suppressed'"),
        1
    );
}

#[test]
fn preview_writes_html_text_and_a_complete_eml() {
    let i = Instance::new();
    let issue = crate::helpers::repo_path("samples/issue-210.md");
    i.ok(&["issue", "import", issue.to_str().unwrap()]);
    let out = i.ok(&[
        "issue",
        "preview",
        "210",
        "--out",
        "preview",
        "--name",
        "Pat Preview",
    ]);
    assert!(out.contains("issue.eml"), "{out}");
    let dir = i.dir.path().join("preview");
    let html = std::fs::read_to_string(dir.join("issue.html")).unwrap();
    let text = std::fs::read_to_string(dir.join("issue.txt")).unwrap();
    assert!(html.contains("Hi Pat Preview,") && text.contains("Hi Pat Preview,"));
    let eml = std::fs::read(dir.join("issue.eml")).unwrap();
    let msg = MessageParser::default().parse(&eml).unwrap();
    assert_eq!(
        msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("reader@example.org")
    );
    assert!(msg.header_raw("List-Unsubscribe").is_some());
    assert_eq!(msg.html_body_count(), 1);
    assert_eq!(msg.text_body_count(), 1);
}

#[test]
fn serve_runs_http_and_worker_and_stops_on_sigterm() {
    let i = Instance::new();
    i.queue_sample(SUBSCRIBERS);
    let mut served = i.serve(&[]);
    let health = served.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "{\"status\":\"ok\"}");
    assert_eq!(served.get("/nope").status, 404);

    // The worker inside `serve` delivers the queued send; wait for that state, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while i.query_scalar("SELECT count(*) FROM issues WHERE status = 'sent'") == 0 {
        assert!(
            Instant::now() < deadline,
            "serve's worker did not finish the send"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_dir(i.outbox()).unwrap().count(), 3);

    let exit = served.terminate();
    assert!(exit.success(), "serve exits cleanly on SIGTERM: {exit:?}");
}

fn delivery_state(i: &impl Sql, email: &str) -> String {
    i.query_text(&format!(
        "SELECT d.status || ' ' || coalesce(d.smtp_reply, '-') || ' | ' || s.status || ' ' || s.soft_bounces
         FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = '{email}'"
    ))
}

#[test]
fn enhanced_status_codes_decide_what_happens_to_each_delivery_and_subscriber() {
    let server = SmtpServer::start();
    let app = Instance::smtp(server.port).spawn_app();
    let list = "email,name\nok@example.org,\nhard@example.org,\ndisabled@example.org,\nfull@example.org,\n\
                blocked@example.org,\nreject@example.org,\ntempfail@example.org,\nslowdown@example.org,\n";
    app.queue_sample(list);
    app.deliver_all();
    let expected = [
        ("ok@example.org", "sent 250 OK | active 0"),
        ("hard@example.org", "failed 550 5.1.1 | bounced 0"),
        ("disabled@example.org", "failed 550 5.2.1 | bounced 0"),
        ("full@example.org", "failed 552 5.2.2 | active 1"),
        ("blocked@example.org", "failed 550 5.7.1 | active 0"),
        ("reject@example.org", "failed 550 | active 1"),
        ("tempfail@example.org", "retry - | active 0"),
        ("slowdown@example.org", "retry - | active 0"),
    ];
    for (email, state) in expected {
        assert_eq!(delivery_state(&app, email), state, "{email}");
    }
    assert_eq!(server.count(), 1);
    let bounced: Vec<String> = ["hard", "disabled", "full", "reject", "blocked"]
        .iter()
        .map(|who| {
            app.query_text(&format!(
                "SELECT e.kind || ' ' || json_extract(e.detail, '$.class') || ' ' || json_extract(e.detail, '$.counted')
                 FROM events e JOIN subscribers s ON s.id = e.subscriber_id
                 WHERE e.kind IN ('bounced', 'soft_bounce') AND s.email = '{who}@example.org'"
            ))
        })
        .collect();
    assert_eq!(
        bounced,
        [
            "bounced hard 1",
            "bounced hard 1",
            "soft_bounce soft 1",
            "soft_bounce soft 1",
            "soft_bounce soft 0"
        ],
        "each bounce is an event with its class; a policy block does not count"
    );
    assert_eq!(
        app.query_text(
            "SELECT group_concat(class || ' ' || coalesce(status, '-') || ' ' || source, ', ')
             FROM (SELECT * FROM bounces ORDER BY id)"
        )
        .split(", ")
        .collect::<std::collections::BTreeSet<_>>(),
        [
            "hard 5.1.1 smtp",
            "hard 5.2.1 smtp",
            "soft 5.2.2 smtp",
            "soft 5.7.1 smtp",
            "soft - smtp"
        ]
        .into_iter()
        .collect(),
        "refusals at send time are recorded beside returned mail"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events WHERE kind = 'failed'"),
        5
    );
    // The hard-bounced addresses get nothing from the next issue.
    let stats = app.ok(&["subscribers", "stats"]);
    assert!(
        stats.contains("active 6") && stats.contains("bounced 2"),
        "{stats}"
    );
}

#[test]
fn a_rejected_message_pauses_the_send_until_the_operator_acts() {
    let server = SmtpServer::start();
    let app = Instance::smtp_with(server.port, "[delivery]\nbatch_size = 1\nconcurrency = 1\n")
        .spawn_app();
    app.queue_sample("email,name\nfirst@example.org,\ntoobig@example.org,\nlast@example.org,\n");
    app.deliver_all();
    let status = app.ok(&["send", "status", "210"]);
    assert!(status.contains("issue #210: paused"), "{status}");
    assert!(
        status.contains("paused: the relay refused the message itself: "),
        "the reason is shown: {status}"
    );
    assert_eq!(server.count(), 1, "nothing after the rejection went out");
    assert_eq!(
        delivery_state(&app, "toobig@example.org"),
        "retry - | active 0",
        "not the subscriber's fault"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events WHERE kind = 'send_paused'"),
        1
    );

    assert!(
        app.fails(&["send", "pause", "210"])
            .contains("is paused; it cannot be paused")
    );
    assert!(
        app.ok(&["send", "resume", "210"])
            .contains("paused → running")
    );
    app.deliver_all();
    assert!(
        app.ok(&["send", "status", "210"]).contains("paused"),
        "rejected again, paused again"
    );
    assert_eq!(server.count(), 2, "the others went out after the resume");
    assert_eq!(
        delivery_state(&app, "last@example.org"),
        "sent 250 OK | active 0"
    );

    let out = app.ok(&["send", "cancel", "210"]);
    assert!(out.contains("paused → cancelled"), "{out}");
    assert!(app.ok(&["issue", "list"]).contains("cancelled"));
    app.deliver_all();
    assert_eq!(server.count(), 2, "a cancelled send delivers nothing more");
    assert!(
        app.fails(&["send", "resume", "210"])
            .contains("is cancelled")
    );
    assert!(
        app.fails(&["issue", "send", "210"])
            .contains("already cancelled")
    );
}

/// A message that cannot be built (here: content stored by an older version, which the
/// renderer refuses) pauses its send with the reason instead of being claimed forever.
#[test]
fn a_send_whose_messages_cannot_be_built_pauses_with_the_reason() {
    let app = spawn_app();
    app.queue_sample(SUBSCRIBERS);
    let good = app.query_text("SELECT content FROM issues WHERE number = 210");
    app.execute(r"UPDATE issues SET content = replace(content, 'Hey folks', 'Hey\u001b folks')");
    app.deliver_all();
    let progress = app.progress(210);
    assert!(
        progress["paused_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("the issue cannot be rendered")),
        "{progress}"
    );
    let status = app.ok(&["send", "status", "210"]);
    assert!(
        status.contains("issue #210: paused")
            && status.contains("paused: the issue cannot be rendered"),
        "{status}"
    );
    assert!(!app.outbox().exists() || std::fs::read_dir(app.outbox()).unwrap().count() == 0);
    let attempts = "SELECT sum(attempts) FROM deliveries";
    assert_eq!(app.query_scalar(attempts), 0, "attempts given back");
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sending'"),
        0,
        "nothing left claimed"
    );
    // Nothing keeps trying while it is paused.
    app.deliver_all();
    assert_eq!(app.query_scalar(attempts), 0);
    assert_eq!(app.event_count("send_paused"), 1);

    // Repaired, resumed: everyone gets it.
    app.execute(&format!(
        "UPDATE issues SET content = '{}'",
        good.replace('\'', "''")
    ));
    app.ok(&["send", "resume", "210"]);
    assert!(!app.ok(&["send", "status", "210"]).contains("paused:"));
    app.deliver_all();
    assert_eq!(std::fs::read_dir(app.outbox()).unwrap().count(), 3);
}

#[test]
fn an_operator_pauses_and_resumes_a_send() {
    let app = spawn_app();
    app.queue_sample(SUBSCRIBERS);
    assert!(
        app.ok(&["send", "pause", "210"])
            .contains("running → paused")
    );
    assert!(
        app.ok(&["send", "status", "210"])
            .contains("paused: by the operator")
    );
    app.deliver_all();
    assert!(
        !app.outbox().exists() || std::fs::read_dir(app.outbox()).unwrap().count() == 0,
        "paused: nothing sent"
    );
    app.ok(&["send", "resume", "210"]);
    app.deliver_all();
    assert_eq!(std::fs::read_dir(app.outbox()).unwrap().count(), 3);
    assert_eq!(
        app.query_text("SELECT group_concat(kind, ',') FROM (SELECT kind FROM events WHERE kind LIKE 'send_%' ORDER BY id)"),
        "send_created,send_paused,send_resumed,send_finished"
    );
}

#[test]
fn hourly_cap_is_shared_across_worker_runs() {
    let app = spawn_app_with("[delivery]\nmax_per_hour = 3\nmax_per_day = 100\nbatch_size = 2\n");
    app.queue_sample("email,name\na@example.org,\nb@example.org,\nc@example.org,\nd@example.org,\ne@example.org,\n");
    app.deliver_all();
    assert_eq!(
        std::fs::read_dir(app.outbox()).unwrap().count(),
        3,
        "the cap holds within a run"
    );
    assert_eq!(app.deliver_batch(), Step::Capped, "the next batch waits");
    // A new worker (the app restarted) counts what the last one sent.
    let app = app.restart();
    assert_eq!(app.deliver_all(), 0, "and across runs");
    let progress = app.progress(210);
    assert_eq!(
        (&progress["sent"], &progress["total"]),
        (&3.into(), &5.into()),
        "{progress}"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'queued'"),
        2,
        "the rest wait, unclaimed"
    );
}

#[test]
fn a_send_pauses_itself_when_too_many_addresses_bounce() {
    let server = SmtpServer::start();
    let app = Instance::smtp_with(
        server.port,
        "[delivery]\nbatch_size = 5\nconcurrency = 1\npause_min_attempts = 10\npause_hard_bounce_rate = 0.05\n",
    )
    .spawn_app();
    // One address in ten is dead: 10% hard bounces against a 5% limit.
    const N: i64 = 200;
    let list: String = std::iter::once("email,name".to_string())
        .chain((0..N).map(|k| {
            if k % 10 == 3 {
                format!("hard.{k}@example.org,")
            } else {
                format!("ok{k}@example.org,")
            }
        }))
        .collect::<Vec<_>>()
        .join("\n");
    app.queue_sample(&list);
    app.deliver_all();
    let status = app.ok(&["send", "status", "210"]);
    assert!(status.contains("issue #210: paused"), "{status}");
    // A failure is committed and checked at once: the second dead address (the 14th
    // message) is the first check past the minimum of 10, and pauses the send. What was
    // already on its way by then still goes; the rest of the list is given back.
    let attempted = app.query_scalar("SELECT attempted FROM sends");
    assert!(attempted >= 14, "not before the minimum: {attempted}");
    assert!(
        attempted < N / 2,
        "paused near the first check past the minimum: {attempted}"
    );
    assert!(
        (server.count() as i64) < N / 2,
        "the rest of the list was not mailed"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'queued'"),
        N - attempted,
        "the rest waits for the operator"
    );
    let reason = app.query_text(
        "SELECT json_extract(detail, '$.reason') FROM events WHERE kind = 'send_paused'",
    );
    assert!(reason.starts_with("hard-bounce rate"), "{reason}");
}

#[test]
fn metrics_need_the_admin_token_and_report_the_work() {
    let token = "admin-token-0123456789abcdef";
    let app = spawn_app_with(&format!("[admin]\ntoken = \"{token}\"\n"));
    app.queue_sample(SUBSCRIBERS);
    app.deliver_all();
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM issues WHERE status = 'sent'"),
        1,
        "the worker finished the send"
    );
    let with = |auth: Option<&str>| {
        let mut request = reqwest::blocking::Client::new().get(format!("{}/metrics", app.base));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(with(None).0, 401);
    assert_eq!(with(Some("Bearer wrong-token-wrong-token-wrong")).0, 401);
    assert_eq!(with(Some(token)).0, 401, "the Bearer scheme is required");
    let (status, body) = with(Some(&format!("Bearer {token}")));
    assert_eq!(status, 200);
    assert!(
        body.contains("mailroom_delivery_attempts_total{outcome=\"sent\"} 3"),
        "{body}"
    );
    assert!(
        body.contains("mailroom_subscribers{status=\"active\"} 3"),
        "{body}"
    );
    assert!(
        body.contains("mailroom_transport_seconds_count 3"),
        "{body}"
    );

    let disabled = spawn_app();
    let response = reqwest::blocking::get(format!("{}/metrics", disabled.base)).unwrap();
    assert_eq!(
        response.status().as_u16(),
        401,
        "no token configured: the admin endpoints stay closed"
    );
}

fn queue_without_send(app: &TestApp) {
    let issue = crate::helpers::repo_path("samples/issue-210.md");
    app.cli(&["issue", "import", issue.to_str().unwrap()]);
    app.cli(&["issue", "finalize", "210"]);
    let csv = app.write("subscribers.csv", SUBSCRIBERS.as_bytes());
    app.cli(&["subscribers", "import", csv.to_str().unwrap()]);
}

#[test]
fn scheduled_sends_wait_for_their_time_and_expire_unstarted() {
    let app = spawn_app();
    queue_without_send(&app);
    assert!(
        app.fails(&["issue", "send", "210", "--at", "tomorrow"])
            .contains("RFC 3339")
    );
    assert!(
        app.fails(&["issue", "send", "210", "--expire-after", "soon"])
            .contains("duration such as 6h")
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM sends"),
        0,
        "refused schedules write nothing"
    );

    let out = app.ok(&["issue", "send", "210", "--at", "2999-01-01T07:00:00Z"]);
    assert!(out.contains("from 2999-01-01T07:00:00.000Z"), "{out}");
    app.deliver_all();
    assert!(
        !app.outbox().exists() || std::fs::read_dir(app.outbox()).unwrap().count() == 0,
        "not before its time"
    );
    // The time comes (moved rather than waited for).
    app.execute("UPDATE sends SET start_at = '2000-01-01T00:00:00.000Z'");
    app.deliver_all();
    assert_eq!(std::fs::read_dir(app.outbox()).unwrap().count(), 3);

    let late = spawn_app();
    queue_without_send(&late);
    let out = late.ok(&[
        "issue",
        "send",
        "210",
        "--at",
        "2000-01-01T07:00:00Z",
        "--expire-after",
        "6h",
    ]);
    assert!(
        out.contains("unless not started by 2000-01-01T13:00:00.000Z"),
        "{out}"
    );
    late.deliver_all();
    assert!(
        !late.outbox().exists() || std::fs::read_dir(late.outbox()).unwrap().count() == 0,
        "too late: not sent"
    );
    assert!(late.ok(&["issue", "list"]).contains("cancelled"));
    let reason = late.query_text(
        "SELECT json_extract(detail, '$.reason') FROM events WHERE kind = 'send_cancelled'",
    );
    assert_eq!(reason, "expired before it could start");
}

/// Mailbox providers ignore a one-click unsubscribe link that is not https, so list mail
/// for real mailboxes must not go out with one; the outbox, for trying things out, may.
#[test]
fn smtp_sends_need_https_unsubscribe_links_and_the_outbox_does_not() {
    const ADMIN: &str = "admin-token-for-tests-0123456789";
    let server = SmtpServer::start();
    let app = Instance::smtp_with(
        server.port,
        &format!(
            "[newsletter]\nbase_url = \"http://news.example.org\"\n[admin]\ntoken = \"{ADMIN}\"\n"
        ),
    )
    .spawn_app();
    queue_without_send(&app);

    let err = app.fails(&["issue", "send", "210"]);
    for named in [
        "issue #210 not queued",
        "newsletter.base_url",
        "\"http://news.example.org\"",
        "delivery.transport = \"smtp\"",
        "https://",
    ] {
        assert!(err.contains(named), "{named:?} in: {err}");
    }
    let nothing_queued = |app: &TestApp| {
        assert_eq!(app.query_scalar("SELECT count(*) FROM deliveries"), 0);
        assert_eq!(
            app.query_text("SELECT status FROM issues WHERE number = 210"),
            "finalized"
        );
    };
    nothing_queued(&app);

    // The admin API refuses the same way, through the same check.
    let reply = app.admin("POST", "/api/issues/210/send", ADMIN, None);
    assert_eq!(reply.status, 422, "{}", reply.body);
    let error: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("newsletter.base_url")),
        "{error}"
    );
    nothing_queued(&app);

    // The worker still starts (a send queued earlier must not be stranded), with a warning.
    let out = app.run(&["worker", "--drain"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("newsletter.base_url"),
        "{stderr}"
    );

    // The quick start's http://127.0.0.1 link is fine for the outbox.
    let outbox = Instance::with_config("[newsletter]\nbase_url = \"http://127.0.0.1:8080\"\n");
    outbox.queue_sample(SUBSCRIBERS);
    let drained = outbox.run(&["worker", "--drain"]);
    assert!(drained.status.success());
    assert!(
        !String::from_utf8_lossy(&drained.stderr).contains("newsletter.base_url"),
        "no warning for the outbox"
    );
    assert_eq!(std::fs::read_dir(outbox.outbox()).unwrap().count(), 3);
    assert_eq!(server.count(), 0, "nothing reached the relay");
}
