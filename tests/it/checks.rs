//! `mailroom issue check` and the checks `issue send` runs: item links against an HTTP
//! server started here on loopback, the size against Gmail's clipping limit, the subject
//! and preheader, SpamAssassin; the CLI's exit codes, the admin API and the dashboard.

use std::process::Output;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::Value;

use crate::app::spawn_app_with;
use crate::helpers::{Http, Instance, Sql};

const TOKEN: &str = "admin-token-for-tests-0123456789";

/// Checks without SpamAssassin (its own test below) and with a short link timeout, so the
/// slow link is given up on quickly.
const QUICK: &str = "[checks]\nlink_timeout_seconds = 1\nspamassassin = false\n";

/// An HTTP server on loopback answering each way a link can go.
struct LinkServer {
    base: String,
    _runtime: tokio::runtime::Runtime,
}

fn link_server() -> LinkServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    // The same server under another name: a redirect to a different host.
    let elsewhere = format!("http://localhost:{port}/ok");
    let moved = |to: String| {
        move || async move { (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)]) }
    };
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/moved", get(moved("/ok".to_string())))
        .route("/elsewhere", get(moved(elsewhere)))
        .route("/loop", get(moved("/loop".to_string())))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        // Never answers: the checker's timeout must end it.
        .route("/slow", get(std::future::pending::<&'static str>))
        .route(
            "/get-only",
            any(|method: Method| async move {
                if method == Method::HEAD {
                    StatusCode::METHOD_NOT_ALLOWED.into_response()
                } else {
                    "fine".into_response()
                }
            }),
        );
    runtime.spawn(async move { axum::serve(listener, app).await });
    LinkServer {
        base: format!("http://127.0.0.1:{port}"),
        _runtime: runtime,
    }
}

/// An issue whose items link to each of the server's paths.
fn links_issue(base: &str) -> String {
    let items: String = [
        ("Fine", "ok"),
        ("Moved", "moved"),
        ("Elsewhere", "elsewhere"),
        ("Loop", "loop"),
        ("Missing", "missing"),
        ("Broken", "broken"),
        ("Slow", "slow"),
        ("Get only", "get-only"),
    ]
    .iter()
    .map(|(title, path)| format!("### [{title}]({base}/{path})\nAbout {title}.\n\n"))
    .collect();
    format!(
        "+++\nnumber = 1\ntitle = \"Links\"\nsubject = \"Links of the week\"\npreheader = \"Eight links\"\n\
         date = 2026-11-27\n+++\n\nHello.\n\n## Links\n\n{items}"
    )
}

fn import(instance: &Instance, source: &str) {
    let file = instance.write("issue.md", source.as_bytes());
    instance.ok(&["issue", "import", file.to_str().unwrap()]);
    instance.ok(&["issue", "finalize", "1"]);
}

fn json_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The findings of one check for the item titled `title` (its label ends in it).
fn item_findings(report: &Value, title: &str) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "link")
        .filter(|f| {
            f["item"]
                .as_str()
                .is_some_and(|i| i.ends_with(&format!("/ {title}")))
        })
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has(findings: &[(String, String)], severity: &str, words: &str) -> bool {
    findings
        .iter()
        .any(|(s, m)| s == severity && m.contains(words))
}

#[test]
fn each_broken_link_is_reported_with_its_item() {
    let server = link_server();
    let instance = Instance::with_config(QUICK);
    import(&instance, &links_issue(&server.base));

    let out = instance.run(&["issue", "check", "1", "--json"]);
    assert_eq!(out.status.code(), Some(2), "errors exit 2");
    let report = json_report(&out);
    assert_eq!(report["severity"], "error");

    let fine = item_findings(&report, "Fine");
    assert!(has(&fine, "ok", "answers 200"), "{fine:?}");
    // Every test link is http: reported, and still fetched.
    for title in ["Fine", "Moved", "Missing", "Slow", "Get only"] {
        let f = item_findings(&report, title);
        assert!(has(&f, "warning", "http link"), "{title}: {f:?}");
    }
    let moved = item_findings(&report, "Moved");
    assert!(
        has(&moved, "ok", "answers 200 (via http://127.0.0.1:"),
        "{moved:?}"
    );
    assert!(
        !moved.iter().any(|(s, _)| s == "error") && !has(&moved, "warning", "another host"),
        "a redirect on the same host that ends in 200 is fine: {moved:?}"
    );
    assert!(has(
        &item_findings(&report, "Elsewhere"),
        "warning",
        "another host: http://localhost:"
    ));
    assert!(has(
        &item_findings(&report, "Loop"),
        "error",
        "more than 5 redirects"
    ));
    assert!(has(&item_findings(&report, "Missing"), "error", "404"));
    assert!(has(&item_findings(&report, "Broken"), "error", "500"));
    assert!(has(
        &item_findings(&report, "Slow"),
        "warning",
        "no answer within 1 s"
    ));
    let get_only = item_findings(&report, "Get only");
    assert!(
        !get_only.iter().any(|(s, _)| s == "error"),
        "HEAD refused with 405, GET answers 200: {get_only:?}"
    );

    // For people: aligned rows, no colour when stdout is not a terminal.
    let out = instance.run(&["issue", "check", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "no colour into a pipe:\n{text}");
    let missing = text
        .lines()
        .find(|l| l.contains("Links / Missing") && l.contains("404"))
        .unwrap_or_else(|| panic!("no row for the missing link:\n{text}"));
    assert!(missing.starts_with("error    link"), "{missing:?}");
    assert!(text.contains(" error(s), "), "{text}");
}

#[test]
fn issue_send_refuses_on_errors_unless_forced() {
    let server = link_server();
    let instance = Instance::with_config(QUICK);
    import(&instance, &links_issue(&server.base));
    let csv = instance.write("list.csv", b"email,name\nada@example.org,Ada\n");
    instance.ok(&["subscribers", "import", csv.to_str().unwrap()]);

    let stderr = instance.fails(&["issue", "send", "1"]);
    assert!(stderr.contains("issue #1 not queued"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    let status = instance.ok(&["issue", "show", "1"]);
    assert!(
        status.contains("status:    finalized"),
        "nothing queued:\n{status}"
    );

    let out = instance.ok(&["issue", "send", "1", "--force"]);
    assert!(out.contains("queued for 1 subscriber"), "{out}");
}

#[test]
fn an_issue_over_gmails_limit_names_its_largest_section() {
    let instance = Instance::with_config(QUICK);
    let blurb =
        "A paragraph long enough to weigh something in the HTML part of the message. ".repeat(12);
    let items = |n: usize| -> String {
        (0..n)
            .map(|i| format!("### Item {i}\n{blurb}\n\n"))
            .collect()
    };
    let source = format!(
        "+++\nnumber = 1\ntitle = \"Big\"\nsubject = \"A big issue\"\npreheader = \"Big\"\n\
         date = 2026-11-27\n+++\n\nHello.\n\n## Small\n\n{}## Huge\n\n{}",
        items(2),
        items(120)
    );
    import(&instance, &source);
    let out = instance.run(&["issue", "check", "1", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report = json_report(&out);
    let size = &report["size"];
    assert_eq!(size["limit_bytes"], 102 * 1024);
    assert!(size["html_bytes"].as_i64().unwrap() > 102 * 1024, "{size}");
    assert!(size["margin_bytes"].as_i64().unwrap() < 0, "{size}");
    let sections = size["sections"].as_array().unwrap();
    let bytes = |name: &str| {
        sections.iter().find(|s| s["name"] == name).unwrap()["bytes"]
            .as_i64()
            .unwrap()
    };
    assert!(bytes("Huge") > 20 * bytes("Small"), "{sections:?}");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "size")
        .unwrap();
    assert_eq!(finding["severity"], "error");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("over") && message.contains("largest section: Huge"),
        "{message}"
    );
}

#[test]
fn subject_and_preheader_problems_are_warnings() {
    let instance = Instance::with_config(QUICK);
    let subject = format!("\u{1F680} {}", "A subject that goes on and on ".repeat(3));
    let source = format!(
        "+++\nnumber = 1\ntitle = \"Plain\"\nsubject = \"{subject}\"\ndate = 2026-11-27\n+++\n\n\
         Hello.\n\n## News\n\n### A headline without a link\nText.\n"
    );
    import(&instance, &source);
    let out = instance.run(&["issue", "check", "1", "--json"]);
    assert_eq!(out.status.code(), Some(1), "warnings only: exit 1");
    let report = json_report(&out);
    let findings: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let found = |check: &str, severity: &str, words: &str| {
        findings
            .iter()
            .any(|(c, s, m)| c == check && s == severity && m.contains(words))
    };
    assert!(
        found("subject", "warning", "inboxes show about 70"),
        "{findings:?}"
    );
    assert!(found("subject", "warning", "U+1F680"), "{findings:?}");
    assert!(
        found("preheader", "warning", "no preheader"),
        "{findings:?}"
    );
    assert!(found("text", "ok", "all 1 items"), "{findings:?}");
    assert!(found("size", "ok", "to spare"), "{findings:?}");
    assert!(found("spamassassin", "ok", "skipped"), "{findings:?}");
}

#[test]
fn spamassassin_scores_the_delivered_sample_with_the_rules_that_fired() {
    let instance =
        Instance::with_config("[checks]\nlink_timeout_seconds = 1\nspamassassin = true\n");
    let issue = crate::helpers::repo_path("samples/issue-210.md");
    instance.ok(&["issue", "import", issue.to_str().unwrap()]);
    let out = instance.run(&["issue", "check", "210", "--json"]);
    let report = json_report(&out);
    let spam = &report["spamassassin"];
    assert!(
        spam["score"].as_f64().unwrap() < spam["required"].as_f64().unwrap(),
        "{spam}"
    );
    assert!(
        !spam["rules"].as_array().unwrap().is_empty(),
        "local rules always fire on a newsletter (HTML_MESSAGE at least): {spam}"
    );
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "spamassassin")
        .unwrap();
    assert!(
        finding["message"].as_str().unwrap().contains("rules: "),
        "{finding}"
    );
}

#[test]
fn the_api_and_the_dashboard_show_the_report_and_refuse_a_send_with_errors() {
    let server = link_server();
    let app = crate::dashboard::with_operator(spawn_app_with(&format!(
        "{QUICK}[admin]\ntoken = \"{TOKEN}\"\n"
    )));
    let file = app.write("issue.md", links_issue(&server.base).as_bytes());
    app.cli(&["issue", "import", file.to_str().unwrap()]);
    app.cli(&["issue", "finalize", "1"]);
    let csv = app.write("list.csv", b"email,name\nada@example.org,Ada\n");
    app.cli(&["subscribers", "import", csv.to_str().unwrap()]);

    let check = app.admin("GET", "/api/issues/1/check", TOKEN, None);
    assert_eq!(check.status, 200, "{check:?}");
    let report: Value = serde_json::from_str(&check.body).unwrap();
    assert_eq!(report["severity"], "error");
    assert!(
        report["recipient"]
            .as_str()
            .unwrap()
            .contains("ada@example.org"),
        "built for the list's real subscriber: {}",
        report["recipient"]
    );

    // The dashboard's issue page runs the checks on request, and its send form is refused
    // on errors unless the operator ticks the box.
    let browser = crate::dashboard::sign_in(&app);
    let page = browser.get("/admin/issues/1/check");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains("answers 404 Not Found") && page.body.contains("Links / Missing"),
        "{}",
        page.body
    );
    let token = browser.csrf("/admin/issues/1");
    let refused = browser.post("/admin/issues/1/send", &format!("csrf={token}&when=now"));
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(
        refused.body.contains("Not queued: the checks found"),
        "{}",
        refused.body
    );
    assert_eq!(app.query_scalar("SELECT count(*) FROM sends"), 0);

    let refused = app.admin("POST", "/api/issues/1/send", TOKEN, Some("{}"));
    assert_eq!(refused.status, 422, "{refused:?}");
    let refusal: Value = serde_json::from_str(&refused.body).unwrap();
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("\"force\": true"),
        "{refusal}"
    );
    assert_eq!(
        refusal["check"]["severity"], "error",
        "the report comes along"
    );
    assert_eq!(app.query_scalar("SELECT count(*) FROM deliveries"), 0);
    let forced = app.admin(
        "POST",
        "/api/issues/1/send",
        TOKEN,
        Some(r#"{"force": true}"#),
    );
    assert_eq!(forced.status, 201, "{forced:?}");
    assert_eq!(app.query_scalar("SELECT count(*) FROM deliveries"), 1);
}
