//! The admin API over real HTTP: a CMS hands over an issue as JSON, finalizes and sends it.

use crate::helpers::{Instance, repo_path};

const TOKEN: &str = "admin-token-for-tests-0123456789";

fn sample_json() -> serde_json::Value {
    let bytes = std::fs::read(repo_path("samples/issue-210.md")).unwrap();
    serde_json::to_value(mailroom::issue_file::parse_bytes("issue-210.md", &bytes).unwrap())
        .unwrap()
}

fn instance() -> Instance {
    let i = Instance::with_config(&format!("[admin]\ntoken = \"{TOKEN}\"\n"));
    let csv = i.write(
        "list.csv",
        b"email,name\nada@example.org,Ada\ngrace@example.org,Grace\n",
    );
    i.ok(&["subscribers", "import", csv.to_str().unwrap()]);
    i
}

#[test]
fn a_cms_imports_finalizes_and_sends_an_issue() {
    let i = instance();
    let api = i.serve(&["--http-only"]);
    let body = sample_json().to_string();
    assert_eq!(
        api.admin(
            "POST",
            "/api/issues",
            "wrong-token-wrong-token-wrong",
            Some(&body)
        )
        .status,
        401
    );
    assert_eq!(
        api.post_form("/api/issues", "x=1").status,
        401,
        "no token, no access"
    );
    assert_eq!(i.query_scalar("SELECT count(*) FROM issues"), 0);

    let created = api.admin("POST", "/api/issues", TOKEN, Some(&body));
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.body.contains("\"result\":\"created\""));
    assert_eq!(
        api.admin("POST", "/api/issues", TOKEN, Some(&body)).status,
        200,
        "unchanged re-import"
    );
    let list = api.admin("GET", "/api/issues", TOKEN, None);
    assert!(
        list.body.contains("\"number\":210") && list.body.contains("\"status\":\"draft\""),
        "{list:?}"
    );

    let finalized = api.admin("POST", "/api/issues/210/finalize", TOKEN, None);
    assert_eq!(finalized.status, 200);
    let hash =
        serde_json::from_str::<serde_json::Value>(&finalized.body).unwrap()["content_hash"].clone();
    assert_eq!(hash.as_str().unwrap().len(), 64);
    let mut changed = sample_json();
    changed["intro"] = "Changed after finalizing.".into();
    let conflict = api.admin("POST", "/api/issues", TOKEN, Some(&changed.to_string()));
    assert_eq!(conflict.status, 409, "{conflict:?}");
    assert!(conflict.body.contains("frozen"));

    let sent = api.admin(
        "POST",
        "/api/issues/210/send",
        TOKEN,
        Some("{\"expire_after\": \"6h\"}"),
    );
    assert_eq!(sent.status, 201, "{sent:?}");
    assert!(sent.body.contains("\"deliveries\":2"));
    assert_eq!(
        api.admin("POST", "/api/issues/210/send", TOKEN, None)
            .status,
        409,
        "sent once"
    );
    let progress = api.admin("GET", "/api/sends/210", TOKEN, None);
    assert!(progress.body.contains("\"queued\":2"), "{progress:?}");
    assert_eq!(
        api.admin("POST", "/api/sends/210/pause", TOKEN, None)
            .status,
        200
    );
    assert_eq!(
        api.admin("POST", "/api/sends/210/pause", TOKEN, None)
            .status,
        409
    );
    assert_eq!(
        api.admin("POST", "/api/sends/210/resume", TOKEN, None)
            .status,
        200
    );
    assert_eq!(
        api.admin("POST", "/api/sends/210/explode", TOKEN, None)
            .status,
        404
    );
    i.ok(&["worker", "--drain"]);
    let done = api.admin("GET", "/api/sends/210", TOKEN, None);
    assert!(
        done.body.contains("\"status\":\"done\"") && done.body.contains("\"sent\":2"),
        "{done:?}"
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM events WHERE source = 'admin'"),
        5
    );
}

#[test]
fn hostile_or_broken_issues_are_refused_and_nothing_is_stored() {
    let i = instance();
    let api = i.serve(&["--http-only"]);
    let mut html = sample_json();
    html["sections"][0]["items"][0]["blurb"] = "Nice <script>alert(1)</script> blurb".into();
    html["sections"][1]["items"][0]["url"] = "javascript:alert(1)".into();
    html["title"] = "Two\nlines".into();
    let refused = api.admin("POST", "/api/issues", TOKEN, Some(&html.to_string()));
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
    let refused = api.admin("POST", "/api/issues", TOKEN, Some(&unknown.to_string()));
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("unknown field `author`"),
        "{}",
        refused.body
    );
    assert_eq!(
        api.admin("POST", "/api/issues", TOKEN, Some("{not json"))
            .status,
        422
    );
    assert_eq!(
        api.admin("POST", "/api/issues", TOKEN, Some("[]")).status,
        422
    );
    let empty = serde_json::json!({ "number": 5, "title": "T", "subject": "S", "date": "2021-08-06", "sections": [] });
    assert_eq!(
        api.admin("POST", "/api/issues", TOKEN, Some(&empty.to_string()))
            .status,
        422
    );
    assert_eq!(i.query_scalar("SELECT count(*) FROM issues"), 0);
    assert_eq!(
        api.admin("POST", "/api/issues/999/finalize", TOKEN, None)
            .status,
        404
    );
    assert_eq!(api.admin("GET", "/api/sends/999", TOKEN, None).status, 404);
}
