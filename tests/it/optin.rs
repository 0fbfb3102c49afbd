//! Double opt-in over HTTP: the app on a real SQLite file, confirmations received by an
//! SMTP server speaking the protocol (or written to the outbox).

use mailroom::token::{ConfirmClaim, TokenKeys, UnsubscribeClaim};
use time::OffsetDateTime;

use crate::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::{Http, Instance, Received, Reply, SmtpServer, Sql, TOKEN_KEY};

const JSON: &str = "application/json";

/// An app mailing through `smtp`.
fn serve_smtp(smtp: &SmtpServer) -> TestApp {
    Instance::smtp(smtp.port).spawn_app()
}

fn subscribe(app: &TestApp, email: &str) -> Reply {
    app.post_form("/subscribe", &format!("email={}", encode(email)))
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn column(i: &impl Sql, email: &str, column: &str) -> String {
    i.query_text(&format!(
        "SELECT coalesce({column}, 'NULL') FROM subscribers WHERE email = '{email}'"
    ))
}

fn keys() -> TokenKeys {
    TokenKeys::new(TOKEN_KEY, &[]).unwrap()
}

fn confirm_path(subscriber_id: i64, issued_at: OffsetDateTime) -> String {
    let token = keys().confirm(ConfirmClaim {
        subscriber_id,
        issued_at,
    });
    format!("/confirm/{token}")
}

/// The `/confirm/…` path in a message's text part, checked against its HTML part.
fn link_in(raw: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
    let text = msg.body_text(0).unwrap().into_owned();
    let start = text
        .find("/confirm/")
        .expect("a confirmation link in the text part");
    let path: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
        .collect();
    let url = &text[text[..start].rfind("http").expect("an absolute link")..start + path.len()];
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains(&format!("href=\"{url}\"")),
        "the HTML part links to the same page"
    );
    path
}

/// The confirmation links received for `email`, oldest first.
fn links_for(received: &[Received], email: &str) -> Vec<String> {
    received
        .iter()
        .filter(|r| r.rcpt_to.iter().any(|to| to == email))
        .map(|r| link_in(&r.data))
        .collect()
}

#[test]
fn a_new_address_confirms_through_the_emailed_link_and_get_changes_nothing() {
    let smtp = SmtpServer::start();
    let app = serve_smtp(&smtp);
    let reply = app.post_form("/subscribe", "email=Ada%40Example.ORG&name=Ada+Lovelace");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("Check your inbox"), "{}", reply.body);
    let email = "Ada@example.org";
    assert_eq!(
        app.subscriber_status(email),
        "pending",
        "the domain is stored lower-cased"
    );
    assert_eq!(column(&app, email, "name"), "Ada Lovelace");
    assert_eq!(column(&app, email, "confirmed_at"), "NULL");

    app.confirmations_sent();
    assert_eq!(smtp.count(), 1, "the confirmation email");
    let received = smtp.received();
    let r = &received[0];
    assert_eq!(r.rcpt_to, [email]);
    assert_eq!(r.mail_from, "bounces@newsletter.example.org");
    let msg = mail_parser::MessageParser::default()
        .parse(&r.data)
        .unwrap();
    assert_eq!(
        msg.subject(),
        Some("Confirm your subscription to Deep Learning Weekly")
    );
    let to = msg.to().and_then(|a| a.first()).unwrap();
    assert_eq!(
        (to.name(), to.address()),
        (None, Some(email)),
        "the name typed into the form is not the requester's to put in our mail"
    );
    assert!(!String::from_utf8_lossy(&r.data).contains("Lovelace"));
    assert!(
        msg.header_raw("Content-Type")
            .unwrap()
            .contains("multipart/alternative")
    );
    assert_eq!((msg.text_body_count(), msg.html_body_count()), (1, 1));
    assert!(
        msg.header_raw("List-Unsubscribe").is_none(),
        "not list mail yet"
    );
    assert_eq!(
        msg.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    let text = msg.body_text(0).unwrap();
    assert!(text.contains("works for 7 days"), "{text}");
    assert!(
        !text.contains("Ada Lovelace"),
        "nothing the form's sender typed: {text}"
    );
    let path = link_in(&r.data);

    for _ in 0..3 {
        let page = app.get(&path);
        assert_eq!(page.status, 200, "{page:?}");
        assert!(page.body.contains("Confirm your subscription"));
        assert!(page.body.contains("A\u{2022}\u{2022}\u{2022}@example.org"));
        assert!(
            !page.body.contains(email),
            "the address itself is not shown"
        );
        assert!(page.body.contains("<form method=\"post\">"));
        assert_eq!(page.headers["referrer-policy"], "no-referrer");
        assert_eq!(app.request("HEAD", &path, None, "").status, 200);
    }
    assert_eq!(
        app.subscriber_status(email),
        "pending",
        "GET and HEAD change nothing"
    );
    assert_eq!(app.event_count("confirmed"), 0);

    for _ in 0..2 {
        let done = app.post_form(&path, "action=confirm");
        assert_eq!(done.status, 200, "{done:?}");
        assert!(done.body.contains("You are subscribed"), "{}", done.body);
    }
    assert_eq!(app.subscriber_status(email), "active");
    assert_ne!(column(&app, email, "confirmed_at"), "NULL");
    assert_eq!(column(&app, email, "consent_source"), "form");
    assert_eq!(column(&app, email, "consent_ip"), "127.0.0.1");
    assert_eq!(
        column(&app, email, "consent_at"),
        column(&app, email, "confirmed_at")
    );
    assert_eq!(
        app.query_text(
            "SELECT group_concat(kind || ' ' || source || ' ' || detail, ' | ') FROM events"
        ),
        "subscribed form {\"ip\":\"127.0.0.1\",\"status\":\"pending\"} | \
         confirmed form {\"from\":\"pending\",\"ip\":\"127.0.0.1\"}",
        "one event per change, a double click included"
    );
    assert!(app.get(&path).body.contains("You are subscribed"));
    let show = app.ok(&["subscribers", "show", email]);
    assert!(show.contains("consent:  form at"), "{show}");
    assert!(show.contains("from 127.0.0.1"), "{show}");
}

#[test]
fn the_answer_is_the_same_whatever_the_list_knows_about_the_address() {
    let smtp = SmtpServer::start();
    let app = Instance::smtp(smtp.port).spawn_app();
    for email in [
        "active@example.org",
        "pending@example.org",
        "unsub@example.org",
        "bounced@example.org",
        "complained@example.org",
    ] {
        app.cli(&["subscribers", "add", email]);
    }
    app.cli(&["subscribers", "unsubscribe", "unsub@example.org"]);
    app.execute("UPDATE subscribers SET status = 'bounced' WHERE email = 'bounced@example.org'");
    app.execute(
        "UPDATE subscribers SET status = 'complained' WHERE email = 'complained@example.org'",
    );
    // Asked for a minute ago: within the hour, so no second email.
    app.execute(
        "UPDATE subscribers SET status = 'pending',
                confirmation_sent_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 minute')
         WHERE email = 'pending@example.org'",
    );

    let known = [
        "pending@example.org",
        "active@example.org",
        "unsub@example.org",
        "bounced@example.org",
        "complained@example.org",
    ];
    for (format, new) in [
        ("form", "new.form@example.org"),
        ("json", "new.json@example.org"),
    ] {
        let ask = |email: &str| match format {
            "form" => subscribe(&app, email),
            _ => app.request(
                "POST",
                "/subscribe",
                Some(JSON),
                &serde_json::json!({ "email": email }).to_string(),
            ),
        };
        let reference = ask(new);
        assert_eq!(reference.status, 200, "{format}: {reference:?}");
        for email in known {
            let reply = ask(email);
            assert_eq!(reply.status, reference.status, "{format} {email}");
            assert_eq!(reply.body, reference.body, "{format} {email}: same bytes");
            for header in ["content-type", "content-length"] {
                assert_eq!(
                    reply.headers.get(header),
                    reference.headers.get(header),
                    "{format} {email}: {header}"
                );
            }
        }
    }

    assert_eq!(app.subscriber_status("active@example.org"), "active");
    assert_eq!(
        app.subscriber_status("unsub@example.org"),
        "unsubscribed",
        "only the emailed link brings them back"
    );
    assert_eq!(app.subscriber_status("bounced@example.org"), "bounced");
    assert_eq!(
        app.subscriber_status("complained@example.org"),
        "complained"
    );
    assert_eq!(app.subscriber_status("new.json@example.org"), "pending");
    for email in [
        "active@example.org",
        "bounced@example.org",
        "complained@example.org",
    ] {
        assert_eq!(
            column(&app, email, "confirmation_sent_at"),
            "NULL",
            "{email}: nothing sent"
        );
    }
    app.confirmations_sent();
    assert!(smtp.count() >= 3, "three confirmations");
    let mut recipients: Vec<String> = smtp
        .received()
        .into_iter()
        .flat_map(|r| r.rcpt_to)
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "new.form@example.org",
            "new.json@example.org",
            "unsub@example.org"
        ]
    );
}

#[test]
fn one_confirmation_per_address_per_hour() {
    let smtp = SmtpServer::start();
    let app = serve_smtp(&smtp);
    for _ in 0..3 {
        assert_eq!(subscribe(&app, "ada@example.org").status, 200);
    }
    let json = r#"{"email": "ada@example.org", "name": "Ada"}"#;
    assert_eq!(
        app.request("POST", "/subscribe", Some(JSON), json).status,
        200
    );
    let first_sent = column(&app, "ada@example.org", "confirmation_sent_at");
    // A request for someone else, so there is something to wait for.
    assert_eq!(subscribe(&app, "bob@example.org").status, 200);
    app.confirmations_sent();
    assert!(smtp.count() >= 2, "two confirmations");
    assert_eq!(smtp.per_recipient()["ada@example.org"], 1);
    assert_eq!(
        column(&app, "ada@example.org", "confirmation_sent_at"),
        first_sent,
        "repeats within the hour leave the send time alone"
    );
    assert_eq!(column(&app, "ada@example.org", "name"), "", "nor the name");

    // An hour on, a pending address gets a fresh confirmation; the first link still works.
    app.execute(
        "UPDATE subscribers SET confirmation_sent_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-61 minutes')
         WHERE email = 'ada@example.org'",
    );
    assert_eq!(subscribe(&app, "ada@example.org").status, 200);
    app.confirmations_sent();
    assert!(smtp.count() >= 3, "a second confirmation to ada");
    let links = links_for(&smtp.received(), "ada@example.org");
    assert_eq!(links.len(), 2);
    assert_ne!(links[0], links[1]);
    assert!(
        app.post_form(&links[0], "")
            .body
            .contains("You are subscribed")
    );
    assert_eq!(app.subscriber_status("ada@example.org"), "active");

    // Active now: asking again sends nothing, whenever.
    app.execute(
        "UPDATE subscribers SET confirmation_sent_at = NULL WHERE email = 'ada@example.org'",
    );
    assert_eq!(subscribe(&app, "ada@example.org").status, 200);
    assert_eq!(
        column(&app, "ada@example.org", "confirmation_sent_at"),
        "NULL"
    );
}

#[test]
fn an_unsubscribed_reader_comes_back_only_by_confirming_afresh() {
    let smtp = SmtpServer::start();
    let app = Instance::smtp(smtp.port).spawn_app();
    app.cli(&["subscribers", "add", "kim@example.org", "--name", "Kim"]);
    let id = app.subscriber_id("kim@example.org");
    // A link from before the unsubscribe (as if from an earlier sign-up) must not undo it.
    let before_unsubscribe = confirm_path(id, OffsetDateTime::now_utc() - time::Duration::hours(1));
    app.cli(&["subscribers", "unsubscribe", "kim@example.org"]);
    let old_consent = column(&app, "kim@example.org", "consent_at");

    for method in ["GET", "POST"] {
        let stale = app.request(method, &before_unsubscribe, None, "");
        assert_eq!(stale.status, 404, "{method}");
        assert!(stale.body.contains("This link has expired"), "{method}");
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");

    assert_eq!(subscribe(&app, "kim@example.org").status, 200);
    assert_eq!(
        app.subscriber_status("kim@example.org"),
        "unsubscribed",
        "a request alone changes nothing"
    );
    app.confirmations_sent();
    assert_eq!(smtp.count(), 1, "kim's confirmation");
    let path = &links_for(&smtp.received(), "kim@example.org")[0];
    assert!(
        app.get(path)
            .body
            .contains("Start sending Deep Learning Weekly to")
    );
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");
    let done = app.post_form(path, "action=confirm");
    assert!(done.body.contains("You are subscribed"), "{done:?}");
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(column(&app, "kim@example.org", "consent_source"), "form");
    assert_ne!(column(&app, "kim@example.org", "consent_at"), old_consent);
    assert_eq!(column(&app, "kim@example.org", "unsubscribed_at"), "NULL");
    assert_eq!(
        app.query_text("SELECT source || ' ' || detail FROM events WHERE kind = 'confirmed'"),
        "form {\"from\":\"unsubscribed\",\"ip\":\"127.0.0.1\"}"
    );
}

#[test]
fn bounced_and_complained_stay_closed_even_with_a_genuine_link() {
    let app = spawn_app();
    app.cli(&["subscribers", "add", "gone@example.org"]);
    app.cli(&["subscribers", "add", "angry@example.org"]);
    app.execute("UPDATE subscribers SET status = 'bounced' WHERE email = 'gone@example.org'");
    app.execute("UPDATE subscribers SET status = 'complained' WHERE email = 'angry@example.org'");
    for (email, kept) in [
        ("gone@example.org", "bounced"),
        ("angry@example.org", "complained"),
    ] {
        let path = confirm_path(app.subscriber_id(email), OffsetDateTime::now_utc());
        assert!(app.get(&path).body.contains("You are not on the list"));
        let post = app.post_form(&path, "action=confirm");
        assert!(post.body.contains("You are not on the list"), "{post:?}");
        assert_eq!(app.subscriber_status(email), kept);
    }
    assert_eq!(app.event_count("confirmed"), 0);
}

#[test]
fn bad_confirmation_links_get_a_404_page_and_change_nothing() {
    let app = spawn_app();
    assert_eq!(subscribe(&app, "ada@example.org").status, 200);
    let id = app.subscriber_id("ada@example.org");
    let now = OffsetDateTime::now_utc();
    let good = keys().confirm(ConfirmClaim {
        subscriber_id: id,
        issued_at: now,
    });
    let mut altered = good.clone().into_bytes();
    altered[25] = if altered[25] == b'a' { b'b' } else { b'a' };
    let other_key = TokenKeys::new("another-key-another-key-another-key-42", &[]).unwrap();
    let invalid = [
        ("truncated", good[..good.len() - 1].to_string()),
        ("extended", format!("{good}a")),
        ("altered", String::from_utf8(altered).unwrap()),
        (
            "wrong key",
            other_key.confirm(ConfirmClaim {
                subscriber_id: id,
                issued_at: now,
            }),
        ),
        (
            "an unsubscribe token",
            keys().unsubscribe(UnsubscribeClaim {
                subscriber_id: id,
                issue_number: 1,
            }),
        ),
        ("a bounce token", keys().bounce(id)),
        (
            "unknown subscriber",
            keys().confirm(ConfirmClaim {
                subscriber_id: id + 1000,
                issued_at: now,
            }),
        ),
        ("garbage", "not-a-token".to_string()),
        ("percent-encoded junk", "%E2%80%A2%00%0A".to_string()),
        ("very long", "a".repeat(5000)),
    ];
    let reference = app.get("/confirm/not-a-token");
    assert!(reference.body.contains("This link is not valid"));
    for (what, token) in invalid {
        let path = format!("/confirm/{token}");
        let get = app.get(&path);
        assert_eq!(get.status, 404, "{what}");
        assert_eq!(
            get.body, reference.body,
            "{what}: one page for every bad token"
        );
        let post = app.post_form(&path, "action=confirm");
        assert_eq!(post.status, 404, "{what}");
        assert_eq!(post.body, reference.body, "{what}");
    }

    let expired = confirm_path(id, now - time::Duration::days(8));
    for method in ["GET", "POST"] {
        let reply = app.request(method, &expired, None, "");
        assert_eq!(reply.status, 404, "{method}: expired");
        assert!(reply.body.contains("This link has expired"), "{method}");
        assert!(reply.body.contains("work for 7 days"), "{method}");
        assert!(reply.body.contains("href=\"../subscribe\""), "{method}");
    }
    assert_eq!(app.subscriber_status("ada@example.org"), "pending");
    assert_eq!(app.event_count("confirmed"), 0);

    // The same claim, properly signed and in time, does confirm: the refusals were real.
    let fine = app.post_form(&format!("/confirm/{good}"), "");
    assert_eq!(fine.status, 200);
    assert_eq!(app.subscriber_status("ada@example.org"), "active");
}

#[test]
fn invalid_input_is_refused_with_a_reason_and_stores_nothing() {
    const FORM: &str = "application/x-www-form-urlencoded";
    let app = spawn_app();
    let long_name = format!("email=ada%40example.org&name={}", "a".repeat(201));
    let oversized = format!("email=ada%40example.org&name={}", "a".repeat(20_000));
    let cases: [(&str, Option<&str>, &str, u16, &str); 18] = [
        (
            "missing email",
            Some(FORM),
            "name=Ada",
            422,
            "an email address is required",
        ),
        (
            "empty email",
            Some(FORM),
            "email=+&name=Ada",
            422,
            "an email address is required",
        ),
        (
            "not an address",
            Some(FORM),
            "email=not-an-address",
            422,
            "not a valid email address",
        ),
        (
            "display name",
            Some(FORM),
            "email=Ada+%3Cada%40example.org%3E",
            422,
            "bare address",
        ),
        (
            "no dot",
            Some(FORM),
            "email=ada%40localhost",
            422,
            "must contain a dot",
        ),
        (
            "line break in the address",
            Some(FORM),
            "email=ada%40example.org%0D%0ABcc%3A+eve%40example.org",
            422,
            "line break",
        ),
        (
            "line break in the name",
            Some(FORM),
            "email=ada%40example.org&name=Ada%0D%0ABcc%3A+eve%40example.org",
            422,
            "must be one line",
        ),
        (
            "long name",
            Some(FORM),
            &long_name,
            422,
            "at most 200 characters",
        ),
        ("oversized body", Some(FORM), &oversized, 413, ""),
        (
            "JSON without email",
            Some(JSON),
            r#"{"name": "Ada"}"#,
            422,
            "an email address is required",
        ),
        (
            "JSON invalid address",
            Some(JSON),
            r#"{"email": "ada@"}"#,
            422,
            "not a valid email address",
        ),
        (
            "JSON cut short",
            Some(JSON),
            r#"{"email": "#,
            400,
            "not a JSON object",
        ),
        (
            "JSON number",
            Some(JSON),
            r#"{"email": 5}"#,
            400,
            "not a JSON object",
        ),
        ("JSON array", Some(JSON), "[]", 400, "not a JSON object"),
        (
            "form body sent as JSON",
            Some(JSON),
            "email=ada%40example.org",
            400,
            "not a JSON object",
        ),
        (
            "plain text",
            Some("text/plain"),
            "email=ada%40example.org",
            415,
            "x-www-form-urlencoded",
        ),
        (
            "multipart",
            Some("multipart/form-data; boundary=X"),
            "--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nada@example.org\r\n--X--\r\n",
            415,
            "application/json",
        ),
        (
            "binary junk",
            Some(FORM),
            "\u{0}\u{1}\u{ff}",
            422,
            "an email address is required",
        ),
    ];
    for (what, content_type, body, expected, reason) in cases {
        let reply = app.request("POST", "/subscribe", content_type, body);
        assert_eq!(reply.status, expected, "{what}: {reply:?}");
        assert!(reply.body.contains(reason), "{what}: {}", reply.body);
        if expected == 422 && content_type == Some(FORM) {
            assert!(
                reply.body.contains("<form method=\"post\">"),
                "{what}: the form again"
            );
        }
        if content_type == Some(JSON) {
            let error: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            assert!(error["error"].is_string(), "{what}: {}", reply.body);
        }
    }
    let typed = app.post_form(
        "/subscribe",
        "email=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&name=Ada+%26+Co",
    );
    assert_eq!(typed.status, 422);
    assert!(!typed.body.contains("<script>"), "typed values are escaped");
    assert!(
        typed.body.contains("&quot;&gt;&lt;script&gt;"),
        "{}",
        typed.body
    );
    assert!(
        typed.body.contains("value=\"Ada &amp; Co\""),
        "kept for a retry"
    );
    assert_eq!(app.query_scalar("SELECT count(*) FROM subscribers"), 0);
    assert_eq!(app.query_scalar("SELECT count(*) FROM events"), 0);

    // Well-formed requests: JSON, and a form posted without a Content-Type (curl -d style).
    let json = app.request(
        "POST",
        "/subscribe",
        Some(JSON),
        r#"{"email": " ada@example.org ", "name": " Ada ", "extra": true}"#,
    );
    assert_eq!(json.status, 200, "{json:?}");
    assert_eq!(json.headers["content-type"], "application/json");
    assert!(serde_json::from_str::<serde_json::Value>(&json.body).unwrap()["message"].is_string());
    assert_eq!(column(&app, "ada@example.org", "name"), "Ada");
    let bare = app.request("POST", "/subscribe", None, "email=bob%40example.org");
    assert_eq!(bare.status, 200, "{bare:?}");
    assert_eq!(app.subscriber_status("bob@example.org"), "pending");
}

#[test]
fn the_name_cannot_add_recipients_or_headers() {
    let smtp = SmtpServer::start();
    let app = serve_smtp(&smtp);
    let name = "Eve\" <mallory@example.org>, Bcc: mallory@example.org";
    let reply = app.post_form(
        "/subscribe",
        &format!("email=eve%40example.org&name={}", encode(name)),
    );
    assert_eq!(reply.status, 200);
    app.confirmations_sent();
    assert_eq!(smtp.count(), 1, "eve's confirmation");
    let r = &smtp.received()[0];
    assert_eq!(r.rcpt_to, ["eve@example.org"], "one envelope recipient");
    let msg = mail_parser::MessageParser::default()
        .parse(&r.data)
        .unwrap();
    assert!(msg.header_raw("Bcc").is_none());
    let to = msg.to().unwrap();
    assert_eq!(to.iter().count(), 1, "one To: address");
    let first = to.first().unwrap();
    assert_eq!(first.address(), Some("eve@example.org"));
    assert_eq!(
        first.name(),
        None,
        "the name is not put in the message at all"
    );
    assert!(!String::from_utf8_lossy(&r.data).contains("mallory"));
}

#[test]
fn subscribing_is_rate_limited_per_client() {
    let app = spawn_app_with("[http]\npublic_rate_per_second = 1\npublic_burst = 3\n");
    let replies: Vec<Reply> = (0..8)
        .map(|n| subscribe(&app, &format!("reader{n}@example.org")))
        .collect();
    let codes: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(&codes[..3], &[200, 200, 200], "the burst passes: {codes:?}");
    let limited = replies
        .iter()
        .find(|r| r.status == 429)
        .unwrap_or_else(|| panic!("no 429 after the burst: {codes:?}"));
    assert!(limited.headers.contains_key("retry-after"));
    let stored = app.query_scalar("SELECT count(*) FROM subscribers");
    assert_eq!(
        stored,
        codes.iter().filter(|c| **c == 200).count() as i64,
        "refused requests stored nothing"
    );
    assert_eq!(app.get("/healthz").status, 200);
}

#[test]
fn the_confirmation_goes_to_the_outbox_when_that_is_the_transport() {
    let app = spawn_app();
    assert_eq!(subscribe(&app, "ada@example.org").status, 200);
    let files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(app.outbox())
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    app.confirmations_sent();
    assert!(
        files()
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "eml")),
        "a file in the outbox"
    );
    let raw = std::fs::read(&files()[0]).unwrap();
    let path = link_in(&raw);
    assert!(app.post_form(&path, "").body.contains("You are subscribed"));
    assert_eq!(app.subscriber_status("ada@example.org"), "active");
}

#[test]
fn a_failed_send_is_forgotten_so_the_next_request_sends_again() {
    // A port nobody listens on: the relay refuses the connection.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = Instance::smtp(port).spawn_app();
    let reply = subscribe(&app, "ada@example.org");
    assert_eq!(reply.status, 200, "the request does not wait for the relay");
    assert_eq!(app.subscriber_status("ada@example.org"), "pending");
    app.confirmations_sent();
    assert_eq!(
        column(&app, "ada@example.org", "confirmation_sent_at"),
        "NULL",
        "the failed send is forgotten"
    );
}

#[test]
fn the_subscribe_form_works_in_a_browser_without_javascript() {
    let smtp = SmtpServer::start();
    let app = serve_smtp(&smtp);
    let page = app.get("/subscribe");
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    for needle in [
        "<form method=\"post\">",
        "name=\"email\" type=\"email\" required",
        "name=\"name\" type=\"text\"",
        ">Subscribe</button>",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    assert!(!page.body.contains("<script"), "no JavaScript");

    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("subscribe-screenshots");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = std::process::Command::new("node")
        .arg(crate::helpers::repo_path("tests/browser/subscribe.mjs"))
        .arg(&artifacts)
        .arg(format!("{}/subscribe", app.base))
        .args(["grace@example.org", "Grace Hopper"])
        .env("CHROMIUM", crate::helpers::chromium())
        .output()
        .expect("node is installed (.ci/run installs the browser test's packages)");
    assert!(
        out.status.success(),
        "browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let before = &report["before"];
    assert_eq!(before["status"], 200);
    assert_eq!(before["heading"], "Subscribe");
    assert!(
        before["scrollWidth"].as_u64() <= Some(375),
        "no horizontal scroll on a phone: {before}"
    );
    let after = &report["after"];
    assert_eq!(after["method"], "POST");
    assert_eq!(after["status"], 200);
    assert_eq!(after["heading"], "Check your inbox");
    assert_eq!(app.subscriber_status("grace@example.org"), "pending");
    assert_eq!(column(&app, "grace@example.org", "name"), "Grace Hopper");
    app.confirmations_sent();
    assert_eq!(smtp.count(), 1, "grace's confirmation");
}

#[test]
fn an_erased_address_comes_back_only_through_its_own_confirmation() {
    let smtp = SmtpServer::start();
    let app = Instance::smtp(smtp.port).spawn_app();
    for email in ["gone@example.org", "angry@example.org"] {
        app.cli(&["subscribers", "add", email]);
    }
    app.execute("UPDATE subscribers SET status = 'complained' WHERE email = 'angry@example.org'");
    for email in ["gone@example.org", "angry@example.org"] {
        app.cli(&["subscribers", "remove", email]);
    }
    let reference = subscribe(&app, "someone.new@example.org");
    for email in ["gone@example.org", "angry@example.org"] {
        let reply = subscribe(&app, email);
        assert_eq!(
            (reply.status, &reply.body),
            (reference.status, &reference.body),
            "{email}"
        );
    }
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE email = 'angry@example.org'"),
        0,
        "an erased complainer is not stored again"
    );
    assert_eq!(app.subscriber_status("gone@example.org"), "pending");
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM erasures"),
        2,
        "until confirmed"
    );
    app.confirmations_sent();
    assert!(smtp.count() >= 2, "two confirmations");
    let path = &links_for(&smtp.received(), "gone@example.org")[0];
    assert!(app.post_form(path, "").body.contains("You are subscribed"));
    assert_eq!(app.subscriber_status("gone@example.org"), "active");
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM erasures"),
        1,
        "the confirmation lifts gone's erasure, not angry's"
    );
    assert!(
        !smtp.per_recipient().contains_key("angry@example.org"),
        "{:?}",
        smtp.per_recipient()
    );
}

#[test]
fn an_international_domain_is_stored_and_mailed_as_punycode() {
    let smtp = SmtpServer::start();
    let app = serve_smtp(&smtp);
    assert_eq!(subscribe(&app, "leser@Bücher.DE").status, 200);
    assert_eq!(app.subscriber_status("leser@xn--bcher-kva.de"), "pending");
    app.confirmations_sent();
    assert_eq!(smtp.count(), 1, "the confirmation");
    assert_eq!(smtp.received()[0].rcpt_to, ["leser@xn--bcher-kva.de"]);
    assert_eq!(
        subscribe(&app, "leser@xn--bcher-kva.de").status,
        200,
        "the same address, within the hour"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers"),
        1,
        "one subscriber for both spellings"
    );
}

#[test]
fn a_confirmation_carries_no_text_the_requester_chose() {
    let smtp = SmtpServer::start();
    let app = serve_smtp(&smtp);
    let victim = "victim@example.org";
    let name = "\"Eve\" <attacker@evil.example>, x Buy cheap pills at evil.example";
    let reply = app.post_form(
        "/subscribe",
        &format!("email={}&name={}", encode(victim), encode(name)),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    app.confirmations_sent();
    assert_eq!(smtp.count(), 1, "the confirmation email");
    let received = smtp.received();
    let r = &received[0];
    assert_eq!(r.rcpt_to, [victim], "only the typed address receives it");
    let raw = String::from_utf8_lossy(&r.data);
    for chosen in ["Eve", "attacker", "evil.example", "pills"] {
        assert!(
            !raw.contains(chosen),
            "{chosen:?} reached the stranger's mailbox:\n{raw}"
        );
    }
    let msg = mail_parser::MessageParser::default()
        .parse(&r.data)
        .unwrap();
    let to = msg.to().unwrap();
    assert_eq!(to.iter().count(), 1);
    let to = to.first().unwrap();
    assert_eq!((to.name(), to.address()), (None, Some(victim)));
    // Kept for when they confirm: then it is their own address that gets it.
    assert_eq!(column(&app, victim, "name"), name);
}
