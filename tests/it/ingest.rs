//! Bounces and complaints applied to the list by `mailroom ingest`: real sends (made by
//! the app in-process), reports built from what was really sent, and the real binary on
//! a real SQLite file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use mailroom::token::TokenKeys;

use crate::app::{TestApp, spawn_app};
use crate::helpers::{Instance, Received, SmtpServer, Sql, TOKEN_KEY, mailroom_command, repo_path};

pub(crate) const LIST: &str =
    "email,name\nada@example.org,Ada\nkim@example.com,Kim\nlee@example.net,Lee\n";

/// What a report needs to know about one message we sent.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// The VERP envelope sender, `bounces+TOKEN@…`.
    pub(crate) verp: String,
    pub(crate) message_id: String,
    /// The message's header block, as a report returns it.
    pub(crate) headers: String,
}

/// Queues issue `number` (the sample issue renumbered) and delivers it.
fn send_issue(i: &TestApp, number: u32) {
    let sample = std::fs::read_to_string(repo_path("samples/issue-210.md")).unwrap();
    let text = sample.replacen("number = 210", &format!("number = {number}"), 1);
    let file = i.write(&format!("issue-{number}.md"), text.as_bytes());
    i.cli(&["issue", "import", file.to_str().unwrap()]);
    i.cli(&["issue", "finalize", &number.to_string()]);
    i.cli(&["issue", "send", &number.to_string()]);
    i.deliver_all();
}

/// An outbox instance with LIST subscribed and issue 210 delivered.
pub(crate) fn delivered() -> TestApp {
    let i = spawn_app();
    let csv = i.write("subscribers.csv", LIST.as_bytes());
    i.cli(&["subscribers", "import", csv.to_str().unwrap()]);
    send_issue(&i, 210);
    i
}

/// The message of issue `number` to `email`, from what the database recorded (the
/// outbox keeps no envelope): its VERP address is what the worker signed.
pub(crate) fn sent(i: &impl Sql, email: &str, number: u32) -> Sent {
    let (id, message_id): (i64, String) = (
        i.query_scalar(&delivery_sql("d.id", email, number)),
        i.query_text(&delivery_sql("d.message_id", email, number)),
    );
    let keys = TokenKeys::new(TOKEN_KEY, &[]).unwrap();
    Sent {
        verp: format!("bounces+{}@newsletter.example.org", keys.bounce(id)),
        headers: format!(
            "From: Deep Learning Weekly <newsletter@newsletter.example.org>\nTo: {email}\n\
             Subject: Issue {number}\nMessage-ID: <{message_id}>\n"
        ),
        message_id,
    }
}

pub(crate) fn delivery_sql(column: &str, email: &str, number: u32) -> String {
    format!(
        "SELECT {column} FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         JOIN sends ON sends.id = d.send_id JOIN issues i ON i.id = sends.issue_id
         WHERE s.email = '{email}' AND i.number = {number}"
    )
}

/// The message an SMTP server received for `email`, as a report would quote it.
fn received(messages: &[Received], email: &str) -> Sent {
    let r = messages
        .iter()
        .find(|r| r.rcpt_to == [email])
        .unwrap_or_else(|| panic!("nothing received for {email}"));
    let text = String::from_utf8_lossy(&r.data).replace("\r\n", "\n");
    let headers = text.split("\n\n").next().unwrap().to_string();
    let message_id = headers
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: <"))
        .and_then(|l| l.strip_suffix('>'))
        .expect("a Message-ID")
        .to_string();
    Sent {
        verp: r.mail_from.clone(),
        message_id,
        headers: format!("{headers}\n"),
    }
}

/// One failure in an RFC 3464 report.
pub(crate) struct Failure<'a> {
    recipient: &'a str,
    action: &'a str,
    status: &'a str,
    diagnostic: &'a str,
}

pub(crate) const USER_UNKNOWN: Failure = Failure {
    recipient: "",
    action: "failed",
    status: "5.1.1",
    diagnostic: "550 5.1.1 Recipient address rejected: User unknown",
};
const MAILBOX_FULL: Failure = Failure {
    recipient: "",
    action: "failed",
    status: "5.2.2",
    diagnostic: "552 5.2.2 Mailbox full: quota exceeded",
};
const BLOCKED: Failure = Failure {
    recipient: "",
    action: "failed",
    status: "5.7.1",
    diagnostic: "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
};

/// A delivery status notification as Postfix writes one, sent to `to`, returning
/// `returned` (a header block). `id` is the report's own Message-ID.
pub(crate) fn dsn(id: &str, to: &str, f: &Failure, returned: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\nTo: {to}\n\
         Subject: Undelivered Mail Returned to Sender\nMessage-ID: <{id}>\n\
         Auto-Submitted: auto-replied\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\n\n\
         --R\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message \
         could not be delivered.\n\n\
         --R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
         Final-Recipient: rfc822; {}\nAction: {}\nStatus: {}\nDiagnostic-Code: smtp; {}\n\n\
         --R\nContent-Type: text/rfc822-headers\n\n{returned}\n--R--\n",
        f.recipient, f.action, f.status, f.diagnostic
    )
}

/// A DSN about `sent`, for the subscriber's own address, addressed to its VERP sender.
pub(crate) fn dsn_for(id: &str, sent: &Sent, email: &str, f: &Failure) -> String {
    let f = Failure {
        recipient: email,
        ..*f
    };
    dsn(id, &sent.verp, &f, &sent.headers)
}

/// `mailroom ingest ARGS` with `stdin` piped in.
fn ingest_stdin(i: &Instance, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = mailroom_command(i.dir.path())
        .arg("--config")
        .arg(&i.config)
        .arg("ingest")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    // A refused message is not read to its end: the writer may see a broken pipe.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn ingest_file(i: &Instance, name: &str, contents: &str) -> String {
    let file = i.write(name, contents.as_bytes());
    i.ok(&["ingest", file.to_str().unwrap()])
}

pub(crate) fn status(i: &impl Sql, email: &str) -> String {
    i.query_text(&format!(
        "SELECT status || ' ' || soft_bounces FROM subscribers WHERE email = '{email}'"
    ))
}

pub(crate) fn count(i: &impl Sql, sql_where: &str) -> i64 {
    i.query_scalar(&format!("SELECT count(*) FROM {sql_where}"))
}

/// Names of the files in a folder, sorted (none if it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn maildir(i: &Instance) -> PathBuf {
    let dir = i.dir.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    dir
}

#[test]
fn a_returned_message_bounces_its_subscriber_by_verp_from_a_pipe_and_from_a_file() {
    let server = SmtpServer::start();
    let i = Instance::smtp(server.port).spawn_app();
    i.queue_sample(LIST);
    i.deliver_all();
    let messages = server.received();
    let ada = received(&messages, "ada@example.org");
    assert!(
        ada.verp.starts_with("bounces+") && ada.verp.ends_with("@newsletter.example.org"),
        "{}",
        ada.verp
    );

    // Through the MTA pipe: the envelope recipient names the delivery. The report names a
    // forwarding address, not the subscriber's, and quotes no envelope sender.
    let forwarded = Failure {
        recipient: "ada.lovelace@elsewhere.example",
        ..USER_UNKNOWN
    };
    let report = dsn(
        "pipe-1@mx.example.net",
        "postmaster@example.org",
        &forwarded,
        &ada.headers,
    );
    let out = ingest_stdin(&i, &["--recipient", &ada.verp], report.as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("bounces: 1 hard, 0 soft, 0 complaint(s), 1 address(es) suppressed"),
        "{stdout}"
    );
    assert_eq!(status(&i, "ada@example.org"), "bounced 0");
    let ada_delivery = i.query_scalar(&delivery_sql("d.id", "ada@example.org", 210));
    assert_eq!(
        i.query_text(
            "SELECT source || ' ' || delivery_id || ' ' || json_extract(detail, '$.reason') || ' '
                    || json_extract(detail, '$.status') || ' ' || json_extract(detail, '$.issue')
             FROM events WHERE kind = 'bounced'"
        ),
        format!("dsn {ada_delivery} userunknown 5.1.1 210")
    );
    assert_eq!(
        i.query_text(
            "SELECT (bounced_at IS NOT NULL) || ' ' || class || ' ' || domain
                      FROM bounces JOIN subscribers s ON s.id = subscriber_id"
        ),
        "1 hard example.org"
    );

    // From a file: the token is in the report's own To header and its returned headers.
    let kim = received(&messages, "kim@example.com");
    let returned = format!("Return-Path: <{}>\n{}", kim.verp, kim.headers);
    let kim_failure = Failure {
        recipient: "kim@example.com",
        ..USER_UNKNOWN
    };
    let out = ingest_file(
        &i,
        "kim.eml",
        &dsn("file-1@mx.example.net", &kim.verp, &kim_failure, &returned),
    );
    assert!(out.contains("1 hard"), "{out}");
    assert_eq!(status(&i, "kim@example.com"), "bounced 0");
    assert_eq!(status(&i, "lee@example.net"), "active 0");

    // The next issue goes to the one address left.
    let before = server.count();
    send_issue(&i, 211);
    let next: Vec<Vec<String>> = server.received()[before..]
        .iter()
        .map(|r| r.rcpt_to.clone())
        .collect();
    assert_eq!(next, [["lee@example.net"]]);
}

#[test]
fn forged_tokens_unknown_message_ids_and_bare_addresses_change_nothing() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);

    // One character of the token altered; the Message-ID beside it is genuine.
    let mut forged = ada.verp.clone().into_bytes();
    let at = "bounces+".len() + 3;
    forged[at] = if forged[at] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).unwrap();
    let report = dsn_for(
        "forged-1@mx.example.net",
        &Sent {
            verp: forged.clone(),
            ..ada.clone()
        },
        "ada@example.org",
        &USER_UNKNOWN,
    );
    let out = ingest_stdin(&i, &["--recipient", &forged], report.as_bytes());
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("1 ignored (forged or unknown)"), "{stdout}");
    assert!(
        stderr.contains("forged or altered VERP token"),
        "logged: {stderr}"
    );

    // No token; a Message-ID in our shape that names a real delivery with a wrong nonce,
    // and one that names no delivery.
    let delivery = ada.message_id.split('.').nth(1).unwrap();
    for (n, message_id) in [
        format!("210.{delivery}.0000000000000000@newsletter.example.org"),
        "210.999999.0123456789abcdef@newsletter.example.org".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let headers = ada.headers.replace(&ada.message_id, message_id);
        let f = Failure {
            recipient: "ada@example.org",
            ..USER_UNKNOWN
        };
        let out = ingest_file(
            &i,
            "unknown.eml",
            &dsn(
                &format!("unknown-{n}@mx"),
                "bounces@newsletter.example.org",
                &f,
                &headers,
            ),
        );
        assert!(out.contains("1 ignored"), "{message_id}: {out}");
    }

    // A report that names the subscriber's address and nothing of ours.
    let f = Failure {
        recipient: "ada@example.org",
        ..USER_UNKNOWN
    };
    let bare = dsn(
        "bare-1@mx",
        "bounces@newsletter.example.org",
        &f,
        "Subject: hello\n",
    );
    assert!(ingest_file(&i, "bare.eml", &bare).contains("1 ignored"));

    assert_eq!(status(&i, "ada@example.org"), "active 0");
    assert_eq!(count(&i, "bounces"), 0);
    assert_eq!(
        count(
            &i,
            "events WHERE kind IN ('bounced', 'soft_bounce', 'complained')"
        ),
        0
    );

    // The genuine report, for contrast, does bounce her.
    let genuine = dsn_for("genuine-1@mx", &ada, "ada@example.org", &USER_UNKNOWN);
    assert!(ingest_file(&i, "genuine.eml", &genuine).contains("1 hard"));
    assert_eq!(status(&i, "ada@example.org"), "bounced 0");
}

#[test]
fn soft_bounces_suppress_at_the_limit_within_the_window_only() {
    let i = delivered();
    send_issue(&i, 211);
    send_issue(&i, 212);
    let soft = |email: &str, number: u32, id: &str, f: &Failure| {
        let report = dsn_for(id, &sent(&i, email, number), email, f);
        ingest_file(&i, "soft.eml", &report)
    };

    assert!(soft("ada@example.org", 210, "a1", &MAILBOX_FULL).contains("1 soft"));
    assert_eq!(status(&i, "ada@example.org"), "active 1");
    soft("ada@example.org", 211, "a2", &MAILBOX_FULL);
    assert_eq!(status(&i, "ada@example.org"), "active 2");
    // A second report about the same message (a relay and the final server both wrote)
    // is recorded but the message counts once.
    soft("ada@example.org", 211, "a2-again", &MAILBOX_FULL);
    assert_eq!(status(&i, "ada@example.org"), "active 2");
    // A delay notice is only a warning.
    let delayed = Failure {
        action: "delayed",
        status: "4.4.7",
        ..MAILBOX_FULL
    };
    assert!(soft("ada@example.org", 212, "a3-delay", &delayed).contains("1 without effect"));
    assert_eq!(status(&i, "ada@example.org"), "active 2");
    let out = soft("ada@example.org", 212, "a3", &MAILBOX_FULL);
    assert!(
        out.contains("1 soft, 0 complaint(s), 1 address(es) suppressed"),
        "{out}"
    );
    assert_eq!(status(&i, "ada@example.org"), "bounced 3");
    assert_eq!(
        i.query_text(
            "SELECT json_extract(detail, '$.cause') || ' ' || json_extract(detail, '$.soft_bounces_in_window')
             FROM events e JOIN subscribers s ON s.id = e.subscriber_id
             WHERE e.kind = 'bounced' AND s.email = 'ada@example.org'"
        ),
        "soft_bounce_limit 3"
    );

    // Kim's first two soft bounces are older than the 30-day window.
    soft("kim@example.com", 210, "k1", &MAILBOX_FULL);
    soft("kim@example.com", 211, "k2", &MAILBOX_FULL);
    i.execute(
        "UPDATE bounces SET received_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-31 days')
         WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'kim@example.com')",
    );
    soft("kim@example.com", 212, "k3", &MAILBOX_FULL);
    assert_eq!(status(&i, "kim@example.com"), "active 3");

    // Lee's are blocks by a block list: our reputation, not his mailbox.
    for (number, id) in [(210, "l1"), (211, "l2"), (212, "l3")] {
        assert!(soft("lee@example.net", number, id, &BLOCKED).contains("1 soft"));
    }
    assert_eq!(status(&i, "lee@example.net"), "active 0");
    assert_eq!(
        count(
            &i,
            "bounces WHERE class = 'soft' AND counted = 0 AND reason = 'blocked'"
        ),
        3
    );
}

#[test]
fn the_workers_own_soft_bounces_follow_the_same_limit() {
    let server = SmtpServer::start();
    let i = Instance::smtp(server.port).spawn_app();
    // The test server answers 552 5.2.2 (mailbox full) for local parts starting "full".
    let csv = i.write(
        "list.csv",
        b"email,name\nfull@example.org,\nok@example.org,\n",
    );
    i.cli(&["subscribers", "import", csv.to_str().unwrap()]);
    send_issue(&i, 210);
    send_issue(&i, 211);
    assert_eq!(status(&i, "full@example.org"), "active 2");
    send_issue(&i, 212);
    assert_eq!(status(&i, "full@example.org"), "bounced 3");
    assert_eq!(
        count(
            &i,
            "events WHERE kind = 'bounced' AND source = 'smtp' AND json_extract(detail, '$.cause') = 'soft_bounce_limit'"
        ),
        1
    );
    // Suppressed: the next issue is not even queued for the address.
    send_issue(&i, 213);
    assert_eq!(
        count(
            &i,
            "deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'full@example.org'"
        ),
        3
    );
}

#[test]
fn a_complaint_with_the_recipient_redacted_is_matched_by_message_id() {
    let server = SmtpServer::start();
    let i = Instance::smtp(server.port).spawn_app();
    i.queue_sample(LIST);
    i.deliver_all();
    let ada = received(&server.received(), "ada@example.org");
    // The provider redacts the recipient and drops the envelope sender.
    let returned: String = ada
        .headers
        .lines()
        .map(|l| match l.split_once(':') {
            Some(("To", _)) => "To: redacted".to_string(),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!returned.contains("ada@example.org") && !returned.contains("bounces+"));
    let arf = format!(
        "From: staff@fbl.example.net\nTo: fbl@newsletter.example.org\nSubject: complaint\n\
         Message-ID: <arf-1@fbl.example.net>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n\n\
         --F\nContent-Type: text/plain\n\nThis is an abuse report for a message from 192.0.2.7.\n\n\
         --F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n\
         User-Agent: ExampleFBL/1.0\nVersion: 1\nReported-Domain: newsletter.example.org\n\n\
         --F\nContent-Type: message/rfc822\n\n{returned}\n\n[body redacted]\n--F--\n"
    );
    let out = ingest_file(&i, "arf.eml", &arf);
    assert!(
        out.contains("0 hard, 0 soft, 1 complaint(s), 1 address(es) suppressed"),
        "{out}"
    );
    assert_eq!(status(&i, "ada@example.org"), "complained 0");
    assert_eq!(
        i.query_text(
            "SELECT (complained_at IS NOT NULL) || ' ' || e.source || ' ' || json_extract(e.detail, '$.feedback_type')
             FROM subscribers s JOIN events e ON e.subscriber_id = s.id AND e.kind = 'complained'
             WHERE s.email = 'ada@example.org'"
        ),
        "1 arf abuse"
    );
    assert_eq!(
        count(&i, "sends WHERE complaints = 1"),
        1,
        "the send's breaker sees it"
    );

    // A later hard bounce is recorded but turns nothing back or over.
    let gone = dsn_for("late-1@mx", &ada, "ada@example.org", &USER_UNKNOWN);
    assert!(
        ingest_file(&i, "late.eml", &gone)
            .contains("1 hard, 0 soft, 0 complaint(s), 0 address(es) suppressed")
    );
    assert_eq!(status(&i, "ada@example.org"), "complained 0");
}

#[test]
fn ingesting_the_same_message_twice_changes_nothing_the_second_time() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let kim = sent(&i, "kim@example.com", 210);
    let hard = dsn_for("twice-1@mx", &ada, "ada@example.org", &USER_UNKNOWN);
    // Without a Message-ID of its own, the message's bytes identify it.
    let soft =
        dsn_for("x", &kim, "kim@example.com", &MAILBOX_FULL).replace("Message-ID: <x>\n", "");
    for round in 0..2 {
        let out = ingest_file(&i, "hard.eml", &hard);
        let crlf = ingest_file(&i, "soft.eml", &soft.replace('\n', "\r\n"));
        if round == 0 {
            assert!(
                out.contains("1 hard") && crlf.contains("1 soft"),
                "{out}\n{crlf}"
            );
        } else {
            assert!(
                out.contains("0 hard") && out.contains("1 already applied"),
                "{out}"
            );
            assert!(
                crlf.contains("0 soft") && crlf.contains("1 already applied"),
                "{crlf}"
            );
        }
    }
    // The same soft bounce with other line endings is the same message.
    assert!(ingest_file(&i, "soft-lf.eml", &soft).contains("1 already applied"));
    assert_eq!(status(&i, "ada@example.org"), "bounced 0");
    assert_eq!(status(&i, "kim@example.com"), "active 1");
    assert_eq!(count(&i, "bounces"), 2);
    assert_eq!(
        count(&i, "events WHERE kind IN ('bounced', 'soft_bounce')"),
        2
    );
}

#[test]
fn a_maildir_moves_applied_mail_to_cur_and_unreadable_mail_aside() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let kim = sent(&i, "kim@example.com", 210);
    let dir = maildir(&i);
    let new = dir.join("new");
    let write = |name: &str, body: &[u8]| std::fs::write(new.join(name), body).unwrap();
    write(
        "1.hard",
        dsn_for("m1@mx", &ada, "ada@example.org", &USER_UNKNOWN).as_bytes(),
    );
    let forged = kim.verp.replacen("bounces+", "bounces+x", 1);
    write(
        "2.forged",
        dsn(
            "m2@mx",
            &forged,
            &Failure {
                recipient: "kim@example.com",
                ..USER_UNKNOWN
            },
            &kim.headers,
        )
        .as_bytes(),
    );
    write("3.garbage", b"\x00\x01\x02\xff not mail at all\n");
    // Cut off in its headers: sent to Kim's VERP address, but no report survives.
    let cut = dsn_for("m4@mx", &kim, "kim@example.com", &USER_UNKNOWN);
    write(
        "4.truncated:2,",
        &cut.as_bytes()[..cut.find("Subject").unwrap() + 12],
    );
    let mut nested = format!("To: {}\nSubject: deep\n", kim.verp);
    for level in 0..40 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\n\n--b{level}\n"
        ));
    }
    nested.push_str(
        "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; kim@example.com\n\
         Action: failed\nStatus: 5.1.1\n",
    );
    write("5.nested", nested.as_bytes());
    write(
        "6.other",
        b"From: a@example.net\nTo: editor@newsletter.example.org\nSubject: hi\n\nHello!\n",
    );

    let path = dir.to_str().unwrap();
    let out = i.ok(&["ingest", "--maildir", path]);
    assert!(
        out.contains("1 not for mailroom; bounces: 1 hard, 0 soft"),
        "{out}"
    );
    assert!(
        out.contains("1 ignored (forged or unknown), 0 already applied, 3 refused"),
        "{out}"
    );
    assert_eq!(listing(&dir.join("cur")), ["1.hard:2,S", "2.forged:2,S"]);
    assert_eq!(
        listing(&dir.join(".quarantine/new")),
        ["3.garbage", "4.truncated", "5.nested"]
    );
    assert_eq!(listing(&new), ["6.other"], "mail for others stays");
    assert_eq!(status(&i, "ada@example.org"), "bounced 0");
    assert_eq!(status(&i, "kim@example.com"), "active 0");

    let again = i.ok(&["ingest", "--maildir", path]);
    assert!(again.contains("1 not for mailroom; bounces: 0 hard, 0 soft, 0 complaint(s), 0 address(es) suppressed, 0 without effect, 0 ignored (forged or unknown), 0 already applied, 0 refused"), "{again}");
    assert_eq!(count(&i, "bounces"), 1);
}

#[test]
fn an_mbox_of_two_bounces_applies_both() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let kim = sent(&i, "kim@example.com", 210);
    let mbox = format!(
        "From MAILER-DAEMON Fri Nov 27 10:00:00 2026\n{}\nFrom MAILER-DAEMON Fri Nov 27 10:05:00 2026\n{}",
        dsn_for("mb1@mx", &ada, "ada@example.org", &USER_UNKNOWN),
        dsn_for("mb2@mx", &kim, "kim@example.com", &MAILBOX_FULL),
    );
    let file = i.write("bounces.mbox", mbox.as_bytes());
    let out = i.ok(&["ingest", "--mbox", file.to_str().unwrap()]);
    assert!(out.contains("bounces: 1 hard, 1 soft"), "{out}");
    assert_eq!(status(&i, "ada@example.org"), "bounced 0");
    assert_eq!(status(&i, "kim@example.com"), "active 1");
    let again = i.ok(&["ingest", "--mbox", file.to_str().unwrap()]);
    assert!(again.contains("2 already applied"), "{again}");
}

#[test]
fn a_fifty_megabyte_message_is_refused_unread() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    // A genuine bounce, padded: read, it would bounce Ada.
    let mut huge = dsn_for("huge-1@mx", &ada, "ada@example.org", &USER_UNKNOWN).into_bytes();
    huge.truncate(huge.len() - "--R--\n".len());
    let line = [b'x'; 76];
    while huge.len() < 50 * 1024 * 1024 {
        huge.extend_from_slice(&line);
        huge.push(b'\n');
    }
    huge.extend_from_slice(b"--R--\n");

    let file = i.write("huge.eml", &huge);
    let out = i.ok(&["ingest", file.to_str().unwrap()]);
    assert!(out.contains("1 refused"), "{out}");

    let out = ingest_stdin(&i, &["--recipient", &ada.verp], &huge);
    assert!(out.status.success(), "an MTA pipe must not bounce it back");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 refused"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too large"));

    let dir = maildir(&i);
    std::fs::rename(&file, dir.join("new/huge")).unwrap();
    let out = i.ok(&["ingest", "--maildir", dir.to_str().unwrap()]);
    assert!(out.contains("1 refused"), "{out}");
    assert_eq!(listing(&dir.join(".quarantine/new")), ["huge"]);

    assert_eq!(status(&i, "ada@example.org"), "active 0");
    assert_eq!(count(&i, "bounces"), 0);

    // Below a lowered cap the same kind of refusal holds for an ordinary report.
    i.reconfigure("[bounces]\nmax_message_bytes = 65536\n");
    let padded = dsn_for("big-1@mx", &ada, "ada@example.org", &USER_UNKNOWN) + &"x".repeat(70_000);
    assert!(ingest_file(&i, "big.eml", &padded).contains("1 refused"));
    assert_eq!(status(&i, "ada@example.org"), "active 0");
}

#[test]
fn bounces_list_and_stats_show_what_was_applied() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let kim = sent(&i, "kim@example.com", 210);
    let lee = sent(&i, "lee@example.net", 210);
    ingest_file(
        &i,
        "1.eml",
        &dsn_for("s1@mx", &ada, "ada@example.org", &USER_UNKNOWN),
    );
    ingest_file(
        &i,
        "2.eml",
        &dsn_for("s2@mx", &kim, "kim@example.com", &MAILBOX_FULL),
    );
    ingest_file(
        &i,
        "3.eml",
        &dsn_for("s3@mx", &lee, "lee@example.net", &BLOCKED),
    );
    // Lee's block is a month old.
    i.execute(
        "UPDATE bounces SET received_at = '2020-01-01T00:00:00.000Z'
         WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = 'lee@example.net')",
    );

    // Newest first.
    let list = i.ok(&["bounces", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(
        lines[1]
            .contains("hard      userunknown     550 5.1.1 ada@example.org  issue #210  via dsn"),
        "{list}"
    );
    assert!(
        lines[0]
            .contains("soft      mailboxfull     552 5.2.2 kim@example.com  issue #210  via dsn"),
        "{list}"
    );
    assert!(
        lines[2].starts_with("2020-01-01T00:00:00.000Z  soft      blocked"),
        "{list}"
    );
    assert!(
        lines[2].contains("(not counted)") && lines[2].contains("zen.spamhaus.org"),
        "{list}"
    );
    let hard = i.ok(&["bounces", "list", "--class", "hard"]);
    assert_eq!(hard.lines().count(), 1);
    assert!(hard.contains("ada@example.org"), "{hard}");
    assert_eq!(
        i.ok(&["bounces", "list", "--limit", "1"]).lines().count(),
        1
    );
    assert!(
        i.ok(&["bounces", "list", "--class", "complaint"])
            .contains("no bounces recorded")
    );
    i.fails(&["bounces", "list", "--class", "bogus"]);

    let stats = i.ok(&["bounces", "stats"]);
    assert!(stats.starts_with("last 30 days (since "), "{stats}");
    assert!(
        stats.contains("): 1 hard, 1 soft, 0 complaint(s)"),
        "{stats}"
    );
    assert!(
        stats.contains("\n       1  hard      userunknown\n"),
        "{stats}"
    );
    assert!(
        stats.contains("\n       1  soft      mailboxfull\n"),
        "{stats}"
    );
    assert!(!stats.contains("blocked"), "older than the window: {stats}");
    assert!(
        stats.contains("  example.org                     1       0          0\n"),
        "{stats}"
    );
    assert!(
        stats.contains("  example.com                     0       1          0\n"),
        "{stats}"
    );
    let all = i.ok(&["bounces", "stats", "--days", "10000"]);
    assert!(
        all.contains("1 hard, 2 soft") && all.contains("blocked") && all.contains("example.net"),
        "{all}"
    );
}
