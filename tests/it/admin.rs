//! The admin API over real HTTP: a CMS hands over an issue as JSON, finalizes and sends it.

use crate::app::{TestApp, spawn_app_with};
use crate::helpers::{Http, Sql, repo_path};

const TOKEN: &str = "admin-token-for-tests-0123456789";

fn sample_json() -> serde_json::Value {
    let bytes = std::fs::read(repo_path("samples/issue-210.md")).unwrap();
    serde_json::to_value(mailroom::issue_file::parse_bytes("issue-210.md", &bytes).unwrap())
        .unwrap()
}

/// An app with the admin API open to TOKEN and two subscribers.
fn setup() -> TestApp {
    let app = spawn_app_with(&format!("[admin]\ntoken = \"{TOKEN}\"\n"));
    let csv = app.write(
        "list.csv",
        b"email,name\nada@example.org,Ada\ngrace@example.org,Grace\n",
    );
    app.cli(&["subscribers", "import", csv.to_str().unwrap()]);
    app
}

#[test]
fn a_cms_imports_finalizes_and_sends_an_issue() {
    let app = setup();
    let body = sample_json().to_string();
    assert_eq!(
        app.admin(
            "POST",
            "/api/issues",
            "wrong-token-wrong-token-wrong",
            Some(&body)
        )
        .status,
        401
    );
    assert_eq!(
        app.post_form("/api/issues", "x=1").status,
        401,
        "no token, no access"
    );
    assert_eq!(app.query_scalar("SELECT count(*) FROM issues"), 0);

    let created = app.admin("POST", "/api/issues", TOKEN, Some(&body));
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.body.contains("\"result\":\"created\""));
    assert_eq!(
        app.admin("POST", "/api/issues", TOKEN, Some(&body)).status,
        200,
        "unchanged re-import"
    );
    let list = app.admin("GET", "/api/issues", TOKEN, None);
    assert!(
        list.body.contains("\"number\":210") && list.body.contains("\"status\":\"draft\""),
        "{list:?}"
    );

    let finalized = app.admin("POST", "/api/issues/210/finalize", TOKEN, None);
    assert_eq!(finalized.status, 200);
    let hash =
        serde_json::from_str::<serde_json::Value>(&finalized.body).unwrap()["content_hash"].clone();
    assert_eq!(hash.as_str().unwrap().len(), 64);
    let mut changed = sample_json();
    changed["intro"] = "Changed after finalizing.".into();
    let conflict = app.admin("POST", "/api/issues", TOKEN, Some(&changed.to_string()));
    assert_eq!(conflict.status, 409, "{conflict:?}");
    assert!(conflict.body.contains("frozen"));

    let sent = app.admin(
        "POST",
        "/api/issues/210/send",
        TOKEN,
        Some("{\"expire_after\": \"6h\"}"),
    );
    assert_eq!(sent.status, 201, "{sent:?}");
    assert!(sent.body.contains("\"deliveries\":2"));
    assert_eq!(
        app.admin("POST", "/api/issues/210/send", TOKEN, None)
            .status,
        409,
        "sent once"
    );
    let progress = app.admin("GET", "/api/sends/210", TOKEN, None);
    assert!(progress.body.contains("\"queued\":2"), "{progress:?}");
    assert_eq!(
        app.admin("POST", "/api/sends/210/pause", TOKEN, None)
            .status,
        200
    );
    assert_eq!(
        app.admin("POST", "/api/sends/210/pause", TOKEN, None)
            .status,
        409
    );
    assert_eq!(
        app.admin("POST", "/api/sends/210/resume", TOKEN, None)
            .status,
        200
    );
    assert_eq!(
        app.admin("POST", "/api/sends/210/explode", TOKEN, None)
            .status,
        404
    );
    app.deliver_all();
    let done = app.admin("GET", "/api/sends/210", TOKEN, None);
    assert!(
        done.body.contains("\"status\":\"done\"") && done.body.contains("\"sent\":2"),
        "{done:?}"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events WHERE source = 'admin'"),
        5
    );
}

#[test]
fn hostile_or_broken_issues_are_refused_and_nothing_is_stored() {
    let app = setup();
    let mut html = sample_json();
    html["sections"][0]["items"][0]["blurb"] = "Nice <script>alert(1)</script> blurb".into();
    html["sections"][1]["items"][0]["url"] = "javascript:alert(1)".into();
    html["title"] = "Two\nlines".into();
    let refused = app.admin("POST", "/api/issues", TOKEN, Some(&html.to_string()));
    assert_eq!(refused.status, 422, "{refused:?}");
    for words in [
        "title must be a single line",
        "sections[0].items[0].blurb, line 1: raw HTML is not supported",
        "sections[1].items[0].url \\\"javascript:alert(1)\\\" must be an absolute",
    ] {
        assert!(refused.body.contains(words), "{words}: {}", refused.body);
    }
    let mut unknown = sample_json();
    unknown["author"] = "me".into();
    let refused = app.admin("POST", "/api/issues", TOKEN, Some(&unknown.to_string()));
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("unknown field `author`"),
        "{}",
        refused.body
    );
    assert_eq!(
        app.admin("POST", "/api/issues", TOKEN, Some("{not json"))
            .status,
        400,
        "not JSON at all: a bad request"
    );
    assert_eq!(
        app.admin("POST", "/api/issues", TOKEN, Some("[]")).status,
        422
    );
    let empty = serde_json::json!({ "number": 5, "title": "T", "subject": "S", "date": "2021-08-06", "sections": [] });
    assert_eq!(
        app.admin("POST", "/api/issues", TOKEN, Some(&empty.to_string()))
            .status,
        422
    );
    assert_eq!(app.query_scalar("SELECT count(*) FROM issues"), 0);
    assert_eq!(
        app.admin("POST", "/api/issues/999/finalize", TOKEN, None)
            .status,
        404
    );
    assert_eq!(app.admin("GET", "/api/sends/999", TOKEN, None).status, 404);
}

fn json(reply: &crate::helpers::Reply) -> serde_json::Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body))
}

#[test]
fn subscribers_can_be_listed_added_updated_and_removed_over_the_api() {
    let app = setup();
    let before = app.query_scalar("SELECT count(*) FROM events");
    for (method, path, body) in [
        ("GET", "/api/subscribers", None),
        ("GET", "/api/subscribers/1", None),
        ("GET", "/api/subscribers/stats", None),
        (
            "POST",
            "/api/subscribers",
            Some(r#"{"email":"eve@example.org"}"#),
        ),
        ("PATCH", "/api/subscribers/1", Some(r#"{"name":"Mallory"}"#)),
        ("DELETE", "/api/subscribers/1", None),
    ] {
        let reply = app.admin(method, path, "wrong-token-wrong-token-wrong", body);
        assert_eq!(reply.status, 401, "{method} {path}");
    }
    assert_eq!(app.query_scalar("SELECT count(*) FROM subscribers"), 2);
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events"),
        before,
        "nothing done"
    );

    let created = app.admin(
        "POST",
        "/api/subscribers",
        TOKEN,
        Some(r#"{"email":"alan@Example.NET","name":"Alan","status":"pending","attributes":{"city":"London","vip":true}}"#),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let alan = json(&created);
    assert_eq!(alan["email"], "alan@example.net");
    assert_eq!(alan["status"], "pending");
    assert_eq!(alan["consent_source"], "admin");
    assert_eq!(alan["attributes"]["city"], "London");
    let id = alan["id"].as_i64().unwrap();

    let again = app.admin(
        "POST",
        "/api/subscribers",
        TOKEN,
        Some(r#"{"email":"alan@example.net"}"#),
    );
    assert_eq!(again.status, 409, "{again:?}");
    for bad in [
        r#"{"email":"not an address"}"#,
        r#"{"email":"x@example.org","status":"bounced"}"#,
        r#"{"email":"x@example.org","attributes":{"nested":{"a":1}}}"#,
        r#"{"email":"x@example.org","attributes":{"email":"y"}}"#,
        r#"{"email":"x@example.org","name":"two\nlines"}"#,
        r#"{"email":"x@example.org","admin":true}"#,
        r#"{"email":"#,
    ] {
        let reply = app.admin("POST", "/api/subscribers", TOKEN, Some(bad));
        assert!(matches!(reply.status, 400 | 422), "{bad}: {reply:?}");
    }
    assert_eq!(app.query_scalar("SELECT count(*) FROM subscribers"), 3);

    let page = json(&app.admin("GET", "/api/subscribers?limit=2", TOKEN, None));
    assert_eq!(page["subscribers"].as_array().unwrap().len(), 2);
    let after = page["next_after"].as_i64().unwrap();
    let rest = json(&app.admin(
        "GET",
        &format!("/api/subscribers?limit=2&after={after}"),
        TOKEN,
        None,
    ));
    assert_eq!(rest["subscribers"][0]["id"].as_i64(), Some(id));
    assert!(rest["next_after"].is_null());
    let pending = json(&app.admin("GET", "/api/subscribers?status=pending", TOKEN, None));
    assert_eq!(pending["subscribers"].as_array().unwrap().len(), 1);
    let found = json(&app.admin("GET", "/api/subscribers?search=grace", TOKEN, None));
    assert_eq!(found["subscribers"][0]["email"], "grace@example.org");
    assert_eq!(
        app.admin("GET", "/api/subscribers?status=vip", TOKEN, None)
            .status,
        422
    );
    assert_eq!(
        app.admin("GET", "/api/subscribers?limit=5000", TOKEN, None)
            .status,
        422
    );
    let stats = json(&app.admin("GET", "/api/subscribers/stats", TOKEN, None));
    assert_eq!(
        (stats["active"].as_i64(), stats["pending"].as_i64()),
        (Some(2), Some(1))
    );

    let updated = app.admin(
        "PATCH",
        &format!("/api/subscribers/{id}"),
        TOKEN,
        Some(r#"{"name":"Alan Turing","attributes":{"vip":null,"team":"Hut 8"}}"#),
    );
    assert_eq!(updated.status, 200, "{updated:?}");
    let alan = json(&updated);
    assert_eq!(alan["name"], "Alan Turing");
    assert_eq!(
        alan["attributes"],
        serde_json::json!({"city": "London", "team": "Hut 8"})
    );
    let revive = app.admin(
        "PATCH",
        &format!("/api/subscribers/{id}"),
        TOKEN,
        Some(r#"{"status":"active"}"#),
    );
    assert_eq!(
        revive.status, 409,
        "pending is confirmed by the subscriber, not the API"
    );
    let left = app.admin(
        "PATCH",
        &format!("/api/subscribers/{id}"),
        TOKEN,
        Some(r#"{"status":"unsubscribed"}"#),
    );
    assert_eq!(json(&left)["status"], "unsubscribed");
    let back = app.admin(
        "PATCH",
        &format!("/api/subscribers/{id}"),
        TOKEN,
        Some(r#"{"status":"active"}"#),
    );
    assert_eq!(back.status, 409, "never revived");
    assert_eq!(
        app.query_text(&format!("SELECT status FROM subscribers WHERE id = {id}")),
        "unsubscribed"
    );
    assert_eq!(
        app.query_scalar(&format!(
            "SELECT count(*) FROM events WHERE subscriber_id = {id} AND kind IN ('subscribed', 'subscriber_updated', 'unsubscribed')"
        )),
        3
    );

    let removed = app.admin("DELETE", &format!("/api/subscribers/{id}"), TOKEN, None);
    assert_eq!(removed.status, 200, "{removed:?}");
    assert_eq!(
        app.admin("GET", &format!("/api/subscribers/{id}"), TOKEN, None)
            .status,
        404
    );
    assert_eq!(
        app.admin("DELETE", &format!("/api/subscribers/{id}"), TOKEN, None)
            .status,
        404
    );
    let readd = app.admin(
        "POST",
        "/api/subscribers",
        TOKEN,
        Some(r#"{"email":"alan@example.net"}"#),
    );
    assert_eq!(
        readd.status, 409,
        "erased addresses stay off the list: {readd:?}"
    );
}

#[test]
fn control_characters_in_an_issue_are_refused_with_their_field() {
    let app = setup();
    for c in ['\0', '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}'] {
        let mut issue = sample_json();
        issue["sections"][1]["items"][2]["blurb"] = format!("First line.\nSecond {c} line.").into();
        let refused = app.admin("POST", "/api/issues", TOKEN, Some(&issue.to_string()));
        assert_eq!(refused.status, 422, "{c:?}: {refused:?}");
        let body = json(&refused);
        let problems = body["problems"].to_string();
        let code = format!("U+{:04X}", u32::from(c));
        assert!(
            problems.contains("sections[1].items[2].blurb, line 2") && problems.contains(&code),
            "{c:?}: {problems}"
        );
    }
    assert_eq!(app.query_scalar("SELECT count(*) FROM issues"), 0);
}

/// Every error is JSON with a status that says what went wrong, and none of them speaks
/// of the CLI.
#[test]
fn api_errors_are_json_with_the_status_of_their_kind() {
    let app = setup();
    let error_of = |reply: &crate::helpers::Reply, status: u16| -> String {
        assert_eq!(reply.status, status, "{reply:?}");
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{reply:?}"
        );
        let message = json(reply)["error"].as_str().unwrap().to_string();
        assert!(
            !message.contains("--"),
            "a CLI flag in an API error: {message}"
        );
        assert!(
            !message.contains("mailroom "),
            "a CLI command in an API error: {message}"
        );
        message
    };
    // Larger than any issue may be.
    let huge = vec![b' '; mailroom::issue_file::MAX_FILE_BYTES + 1];
    let reply = app.admin_raw("POST", "/api/issues", TOKEN, Some("application/json"), huge);
    error_of(&reply, 413);
    let reply = app.admin_raw(
        "POST",
        "/api/issues",
        TOKEN,
        Some("text/plain"),
        b"{}".to_vec(),
    );
    error_of(&reply, 415);
    let reply = app.admin_raw(
        "POST",
        "/api/issues",
        TOKEN,
        None,
        sample_json().to_string().into_bytes(),
    );
    error_of(&reply, 415);
    assert_eq!(app.query_scalar("SELECT count(*) FROM issues"), 0);

    let body = sample_json().to_string();
    assert_eq!(
        app.admin("POST", "/api/issues", TOKEN, Some(&body)).status,
        201
    );
    let reply = app.admin("POST", "/api/issues/210/send", TOKEN, None);
    assert!(error_of(&reply, 409).contains("draft"));
    assert_eq!(
        app.admin("POST", "/api/issues/210/finalize", TOKEN, None)
            .status,
        200
    );
    let reply = app.admin("POST", "/api/issues", TOKEN, Some(&body));
    assert!(error_of(&reply, 409).contains("frozen"));
    let reply = app.admin(
        "POST",
        "/api/issues/210/send",
        TOKEN,
        Some(r#"{"at":"yesterday"}"#),
    );
    let message = error_of(&reply, 422);
    assert!(message.starts_with("at: \"yesterday\""), "{message}");
    let reply = app.admin("POST", "/api/sends/210/pause", TOKEN, None);
    error_of(&reply, 404);
    let reply = app.admin("GET", "/api/issues/999", TOKEN, None);
    error_of(&reply, 404);
    assert_eq!(app.query_scalar("SELECT count(*) FROM sends"), 0);
}

/// A schedule sent without a Content-Type must not be ignored: that would send at once.
#[test]
fn a_send_body_without_content_type_is_refused_never_ignored() {
    let app = setup();
    let body = sample_json().to_string();
    assert_eq!(
        app.admin("POST", "/api/issues", TOKEN, Some(&body)).status,
        201
    );
    assert_eq!(
        app.admin("POST", "/api/issues/210/finalize", TOKEN, None)
            .status,
        200
    );
    let schedule = br#"{"at":"2030-01-01T00:00:00Z"}"#.to_vec();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let reply = app.admin_raw(
            "POST",
            "/api/issues/210/send",
            TOKEN,
            content_type,
            schedule.clone(),
        );
        assert_eq!(reply.status, 415, "{content_type:?}: {reply:?}");
        assert!(
            json(&reply)["error"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM sends"),
        0,
        "nothing queued"
    );
    let reply = app.admin_raw(
        "POST",
        "/api/issues/210/send",
        TOKEN,
        Some("application/json"),
        schedule,
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(json(&reply)["start_at"], "2030-01-01T00:00:00.000Z");
    assert_eq!(
        app.query_text("SELECT start_at FROM sends"),
        "2030-01-01T00:00:00.000Z"
    );
}
