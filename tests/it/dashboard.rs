//! The operator's dashboard over real HTTP (the app in this process, a real SQLite file):
//! sign-in, its rate limits, the session cookie, CSRF refusals, signing out everywhere,
//! every page; and headless Chromium steering a send of a running `mailroom serve`.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::{Http, Instance, Reply, Sql, chromium, mailroom_command, repo_path};

pub(crate) const OPERATOR: &str = "ops";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// `mailroom operators add NAME --password-stdin`, the binary reading the password from
/// a pipe as a script would give it.
pub(crate) fn add_operator(instance: &Instance, name: &str, password: &str) {
    let mut child = mailroom_command(instance.dir.path())
        .arg("--config")
        .arg(&instance.config)
        .args(["operators", "add", name, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "operators add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of `name` in the response's Set-Cookie headers, and the whole header.
fn set_cookie(reply: &Reply, name: &str) -> Option<(String, String)> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap().to_string();
            (value, v.to_string())
        })
}

/// The value of the first hidden `csrf` field in a page.
fn csrf_of(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("a form with a CSRF token") + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A browser's view of the dashboard: its cookies, kept by hand.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    session: String,
}

impl Browser<'_> {
    fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .app
            .client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.app.base),
            )
            .header("Cookie", format!("mailroom_session={}", self.session))
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        let response = request.send().unwrap();
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().unwrap_or_default(),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, Vec::new())
    }

    pub(crate) fn post(&self, path: &str, form: &str) -> Reply {
        self.request(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            form.as_bytes().to_vec(),
        )
    }

    /// The CSRF token the page at `path` carries.
    pub(crate) fn csrf(&self, path: &str) -> String {
        let page = self.get(path);
        assert_eq!(page.status, 200, "{path}: {page:?}");
        csrf_of(&page.body)
    }
}

/// Submits the sign-in form as a browser would: the form's cookie and token, then the
/// credentials.
fn try_sign_in(app: &TestApp, name: &str, password: &str) -> Reply {
    let form = app.get("/admin/sign-in");
    assert_eq!(form.status, 200);
    let (cookie, _) = set_cookie(&form, "mailroom_sign_in").expect("the sign-in form's cookie");
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf_of(&form.body))
        .append_pair("name", name)
        .append_pair("password", password)
        .append_pair("next", "/admin")
        .finish();
    let response = app
        .client()
        .post(format!("{}/admin/sign-in", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cookie", format!("mailroom_sign_in={cookie}"))
        .body(body)
        .send()
        .unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().unwrap_or_default(),
    }
}

pub(crate) fn sign_in(app: &TestApp) -> Browser<'_> {
    let reply = try_sign_in(app, OPERATOR, PASSWORD);
    assert_eq!(reply.status, 303, "{reply:?}");
    let (session, _) = set_cookie(&reply, "mailroom_session").expect("a session cookie");
    Browser { app, session }
}

pub(crate) fn with_operator(app: TestApp) -> TestApp {
    add_operator(&app, OPERATOR, PASSWORD);
    app
}

#[test]
fn signing_in_takes_the_right_password_and_sets_a_strict_cookie() {
    let app = with_operator(spawn_app());
    let wrong = try_sign_in(&app, OPERATOR, "not the password at all");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(wrong.body.contains("Wrong name or password"));
    assert!(set_cookie(&wrong, "mailroom_session").is_none());
    let unknown = try_sign_in(&app, "nobody", PASSWORD);
    assert_eq!(unknown.status, 401);
    assert_eq!(app.event_count("operator_sign_in_refused"), 2);

    let right = try_sign_in(&app, OPERATOR, PASSWORD);
    assert_eq!(right.status, 303, "{right:?}");
    assert_eq!(header(&right, "location"), "/admin");
    let (token, cookie) = set_cookie(&right, "mailroom_session").unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "http base URL: {cookie}");
    // Only the token's SHA-256 is stored.
    let sha = mailroom::operators::token_sha256(&token);
    assert_eq!(
        app.query_scalar(&format!(
            "SELECT count(*) FROM operator_sessions WHERE token_sha256 = '{sha}'"
        )),
        1
    );
    assert_eq!(
        app.query_scalar(&format!(
            "SELECT count(*) FROM operator_sessions WHERE token_sha256 = '{token}'"
        )),
        0
    );
    assert!(
        app.query_text("SELECT password_hash FROM operators")
            .starts_with("$argon2id$")
    );
    assert_eq!(app.event_count("operator_signed_in"), 1);
    let browser = Browser {
        app: &app,
        session: token,
    };
    let overview = browser.get("/admin");
    assert_eq!(overview.status, 200);
    assert!(
        overview.body.contains("<h1>Overview</h1>"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains("Signed in as <strong>ops</strong>"));
}

#[test]
fn the_cookie_is_secure_when_the_dashboard_is_served_over_https() {
    let app = with_operator(spawn_app_with(
        "[newsletter]\nbase_url = \"https://news.example.org\"\n",
    ));
    let right = try_sign_in(&app, OPERATOR, PASSWORD);
    let (_, cookie) = set_cookie(&right, "mailroom_session").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[test]
fn admin_pages_send_strangers_to_the_sign_in_page() {
    let app = with_operator(spawn_app());
    let reply = app.get("/admin");
    assert_eq!(reply.status, 303);
    assert_eq!(header(&reply, "location"), "/admin/sign-in?next=%2Fadmin");
    let reply = app.get("/admin/subscribers?q=ada");
    assert_eq!(
        header(&reply, "location"),
        "/admin/sign-in?next=%2Fadmin%2Fsubscribers%3Fq%3Dada"
    );
    assert_eq!(
        app.post_form("/admin/sends/210/pause", "csrf=x").status,
        403
    );
    let forged = Browser {
        app: &app,
        session: "made-up-session-token".into(),
    };
    assert_eq!(forged.get("/admin/issues").status, 303);
    // After signing in, `next` brings the operator back, but never to another site.
    let form = app.get("/admin/sign-in?next=//evil.example/admin");
    assert!(
        form.body.contains("name=\"next\" value=\"/admin\""),
        "{}",
        form.body
    );
}

#[test]
fn sign_in_attempts_are_rate_limited_per_ip_and_per_operator() {
    let app = with_operator(spawn_app_with(
        "[dashboard]\nsign_in_per_ip = 3\nsign_in_per_account = 100\n",
    ));
    for _ in 0..3 {
        assert_eq!(
            try_sign_in(&app, OPERATOR, "wrong password here").status,
            401
        );
    }
    let limited = try_sign_in(&app, OPERATOR, PASSWORD);
    assert_eq!(
        limited.status, 429,
        "even the right password waits: {limited:?}"
    );
    assert!(header(&limited, "retry-after").parse::<u64>().unwrap() >= 1);

    let app = with_operator(spawn_app_with(
        "[dashboard]\nsign_in_per_ip = 100\nsign_in_per_account = 2\n",
    ));
    for _ in 0..2 {
        assert_eq!(
            try_sign_in(&app, OPERATOR, "wrong password here").status,
            401
        );
    }
    assert_eq!(try_sign_in(&app, OPERATOR, PASSWORD).status, 429);
    assert_eq!(
        try_sign_in(&app, "OPS", PASSWORD).status,
        429,
        "names are counted case-blind"
    );
    assert_eq!(try_sign_in(&app, "someone-else", PASSWORD).status, 401);
}

#[test]
fn a_post_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    let app = with_operator(spawn_app());
    app.queue_sample("email,name\nada@example.org,Ada\ngrace@example.org,Grace\n");
    let browser = sign_in(&app);
    let other = sign_in(&app);
    let status = || app.query_text("SELECT status FROM sends");
    assert_eq!(browser.post("/admin/sends/210/pause", "").status, 403);
    let refused = browser.post("/admin/sends/210/pause", "csrf=forged");
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("security token"), "{}", refused.body);
    let others = other.csrf("/admin/sends/210");
    assert_eq!(
        browser
            .post("/admin/sends/210/pause", &format!("csrf={others}"))
            .status,
        403,
        "another session's token"
    );
    assert_eq!(status(), "running");
    assert_eq!(app.event_count("send_paused"), 0);

    let token = browser.csrf("/admin/sends/210");
    let paused = browser.post("/admin/sends/210/pause", &format!("csrf={token}"));
    assert_eq!(paused.status, 303, "{paused:?}");
    assert_eq!(header(&paused, "location"), "/admin/sends/210");
    assert_eq!(status(), "paused");
    assert_eq!(
        app.query_text("SELECT source FROM events WHERE kind = 'send_paused'"),
        "dashboard"
    );
    // The sign-in form is protected too: without its cookie, its token is worthless.
    let form = app.get("/admin/sign-in");
    let body = format!(
        "csrf={}&name={OPERATOR}&password=correct+horse+battery+staple",
        csrf_of(&form.body)
    );
    assert_eq!(app.post_form("/admin/sign-in", &body).status, 403);
}

#[test]
fn signing_out_everywhere_ends_every_session_of_the_operator() {
    let app = with_operator(spawn_app());
    let laptop = sign_in(&app);
    let phone = sign_in(&app);
    assert_eq!(phone.get("/admin").status, 200);
    let token = laptop.csrf("/admin");
    let out = laptop.post("/admin/sign-out", &format!("csrf={token}&scope=everywhere"));
    assert_eq!(out.status, 303);
    let (_, cleared) = set_cookie(&out, "mailroom_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(laptop.get("/admin").status, 303);
    assert_eq!(
        phone.get("/admin").status,
        303,
        "the other session ended too"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM operator_sessions"),
        0
    );
    assert_eq!(app.event_count("operator_signed_out_everywhere"), 1);

    // Signing out of one session leaves the others.
    let a = sign_in(&app);
    let b = sign_in(&app);
    let token = a.csrf("/admin");
    assert_eq!(
        a.post("/admin/sign-out", &format!("csrf={token}")).status,
        303
    );
    assert_eq!(a.get("/admin").status, 303);
    assert_eq!(b.get("/admin").status, 200);
}

#[test]
fn the_bearer_token_still_opens_the_api_and_a_session_does_not() {
    let token = "admin-token-for-tests-0123456789";
    let app = with_operator(spawn_app_with(&format!("[admin]\ntoken = \"{token}\"\n")));
    assert_eq!(app.admin("GET", "/api/issues", token, None).status, 200);
    let browser = sign_in(&app);
    assert_eq!(browser.get("/api/issues").status, 401);
    assert_eq!(browser.get("/admin").status, 200);
}

/// A multipart body with the fields in this order, the last one a file.
fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----mailroom-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\nContent-Type: text/csv\r\n\r\n").unwrap();
    body.extend_from_slice(file);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn every_page_renders_and_acts_through_the_library() {
    let app = with_operator(spawn_app());
    let issue = repo_path("samples/issue-210.md");
    app.cli(&["issue", "import", issue.to_str().unwrap()]);
    app.cli(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--name",
        "Ada <b>Lovelace</b>",
    ]);
    app.cli(&["subscribers", "add", "grace@example.org", "--name", "Grace"]);
    let browser = sign_in(&app);

    for path in [
        "/admin",
        "/admin/issues",
        "/admin/issues/210",
        "/admin/subscribers",
        "/admin/bounces",
        "/admin/subscribers/import",
        "/admin/setup",
    ] {
        let page = browser.get(path);
        assert_eq!(page.status, 200, "{path}");
        let csp = header(&page, "content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(header(&page, "x-frame-options"), "DENY");
        assert!(
            page.body.contains("class=\"skip\" href=\"#main\""),
            "{path}: a skip link"
        );
        assert!(
            !page.body.contains("<b>Lovelace"),
            "{path}: names are escaped"
        );
    }
    let overview = browser.get("/admin");
    assert!(
        overview.body.contains("<svg role=\"img\""),
        "the growth chart"
    );
    assert!(
        overview
            .body
            .contains("Subscribers joined and left per day")
    );

    // Preview, framed by our own pages only.
    let preview = browser.get("/admin/issues/210/preview");
    assert_eq!(preview.status, 200);
    assert_eq!(header(&preview, "x-frame-options"), "SAMEORIGIN");
    assert!(header(&preview, "content-security-policy").contains("frame-ancestors 'self'"));
    assert!(
        preview.body.contains("Sample Reader") || preview.body.contains("Hi "),
        "the issue as a reader gets it"
    );
    let issue_page = browser.get("/admin/issues/210");
    assert!(issue_page.body.contains("width=\"375\"") && issue_page.body.contains("width=\"800\""));

    // Finalize, then send at a time: the same functions as the CLI.
    let token = browser.csrf("/admin/issues/210");
    let finalized = browser.post("/admin/issues/210/finalize", &format!("csrf={token}"));
    assert_eq!(finalized.status, 303);
    assert_eq!(
        app.query_text("SELECT status FROM issues WHERE number = 210"),
        "finalized"
    );
    let bad = browser.post(
        "/admin/issues/210/send",
        &format!("csrf={token}&when=at&at=tomorrow"),
    );
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Start time"), "{}", bad.body);
    assert_eq!(app.query_scalar("SELECT count(*) FROM sends"), 0);
    let sent = browser.post(
        "/admin/issues/210/send",
        &format!("csrf={token}&when=at&at=2020-01-01T07:00&expire_after="),
    );
    assert_eq!(sent.status, 303, "{sent:?}");
    assert_eq!(
        app.query_text("SELECT start_at FROM sends"),
        "2020-01-01T07:00:00.000Z"
    );
    assert_eq!(
        app.query_text("SELECT source FROM events WHERE kind = 'send_created'"),
        "dashboard"
    );
    app.deliver_all();
    let send = browser.get("/admin/sends/210");
    assert_eq!(send.status, 200);
    assert!(send.body.contains("Messages sent per minute"));
    assert!(send.body.contains("example.org"), "top domains");
    let progress: serde_json::Value =
        serde_json::from_str(&browser.get("/admin/sends/210/progress.json").body).unwrap();
    assert_eq!(progress["status"], "done");
    assert_eq!(progress["sent"], 2);
    assert_eq!(progress["eta"], "finished");

    // Search, a subscriber's history, unsubscribe and erase.
    let found = browser.get("/admin/subscribers?q=grace");
    assert!(found.body.contains("grace@example.org") && !found.body.contains("ada@example.org"));
    let id = app.subscriber_id("grace@example.org");
    let page = browser.get(&format!("/admin/subscribers/{id}"));
    assert!(
        page.body.contains("subscribed") && page.body.contains("#210"),
        "history: {}",
        page.body
    );
    let token = csrf_of(&page.body);
    assert_eq!(
        browser
            .post(
                &format!("/admin/subscribers/{id}/unsubscribe"),
                &format!("csrf={token}")
            )
            .status,
        303
    );
    assert_eq!(app.subscriber_status("grace@example.org"), "unsubscribed");
    assert_eq!(
        app.query_text(&format!(
            "SELECT source FROM events WHERE kind = 'unsubscribed' AND subscriber_id = {id}"
        )),
        "dashboard"
    );
    let unconfirmed = browser.post(
        &format!("/admin/subscribers/{id}/erase"),
        &format!("csrf={token}"),
    );
    assert_eq!(unconfirmed.status, 422);
    assert_eq!(
        browser
            .post(
                &format!("/admin/subscribers/{id}/erase"),
                &format!("csrf={token}&confirm=yes")
            )
            .status,
        303
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE email = 'grace@example.org'"),
        0
    );

    // CSV import by upload, with the import's own per-row report.
    let (ct, body) = multipart(
        &[("csrf", &token), ("status", "active")],
        b"email,name\nnew@example.org,New\nnot-an-address,Bad\n",
    );
    let report = browser.request("POST", "/admin/subscribers/import", Some(&ct), body);
    assert_eq!(report.status, 422, "a bad row means nothing is written");
    assert!(report.body.contains("not-an-address"), "{}", report.body);
    assert!(report.body.contains("nothing was written"));
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE email = 'new@example.org'"),
        0
    );
    let (ct, body) = multipart(
        &[
            ("csrf", &token),
            ("status", "active"),
            ("skip_invalid", "yes"),
        ],
        b"email,name\nnew@example.org,New\nnot-an-address,Bad\n",
    );
    let report = browser.request("POST", "/admin/subscribers/import", Some(&ct), body);
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(app.subscriber_status("new@example.org"), "active");
    let (ct, body) = multipart(
        &[("csrf", "forged"), ("status", "active")],
        b"email\nsneaky@example.org\n",
    );
    assert_eq!(
        browser
            .request("POST", "/admin/subscribers/import", Some(&ct), body)
            .status,
        403
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE email = 'sneaky@example.org'"),
        0
    );

    // Export: the CLI's CSV.
    let export = browser.get("/admin/subscribers/export.csv?status=active");
    assert_eq!(export.status, 200);
    assert!(header(&export, "content-disposition").starts_with("attachment;"));
    assert!(
        export.body.starts_with("email,name,status"),
        "{}",
        export.body
    );
    assert!(export.body.contains("new@example.org") && export.body.contains("ada@example.org"));
    assert!(!export.body.contains("grace@example.org"));
}

/// Polls `done` until it holds or the deadline passes.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_operator_steers_a_send_in_chromium_while_the_worker_runs() {
    // Slow enough to pause half-way: one message at a time, four a second.
    let instance = Instance::with_config(
        "[delivery]\nrate_per_second = 4\nburst = 1\nbatch_size = 1\nconcurrency = 1\n",
    );
    let mut csv = String::from("email,name\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "reader{i}@example.{}, Reader {i}\n",
            ["org", "com", "net"][i % 3]
        ));
    }
    instance.queue_sample(&csv);
    add_operator(&instance, OPERATOR, PASSWORD);
    let served = instance.serve(&[]);
    let artifacts = repo_path("tests/browser/artifacts/dashboard");
    std::fs::create_dir_all(&artifacts).unwrap();
    println!("dashboard screenshots: {}", artifacts.display());
    let out = std::process::Command::new("node")
        .arg(repo_path("tests/browser/dashboard.mjs"))
        .arg(&artifacts)
        .arg(&served.base)
        .arg(OPERATOR)
        .arg(PASSWORD)
        .env("CHROMIUM", chromium())
        .output()
        .expect("node is installed (.ci/run installs the browser test's packages)");
    assert!(
        out.status.success(),
        "browser script failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keyboard = &report["keyboard"];
    assert_eq!(keyboard["signedIn"], true, "{report}");
    assert!(keyboard["tabsToName"].as_u64().unwrap() <= 3, "{report}");
    assert_eq!(keyboard["pauseReached"], true, "{report}");
    assert_eq!(report["csrf"]["status"], 403, "{report}");
    assert_eq!(report["csrf"]["sendStatusAfter"], "running", "{report}");
    let paused = &report["paused"];
    assert_eq!(paused["status"], "paused", "{report}");
    assert!(
        paused["remaining"].as_u64().unwrap() > 0,
        "paused before the end: {report}"
    );
    assert_eq!(report["resumed"]["status"], "done", "{report}");
    assert_eq!(report["resumed"]["sent"], 40, "{report}");
    assert!(
        report["cspViolations"].as_array().unwrap().is_empty(),
        "{report}"
    );
    for page in [
        "overview",
        "issues",
        "issue",
        "send",
        "subscribers",
        "subscriber",
        "import",
        "bounces",
        "setup",
    ] {
        let at = &report["pages"][page];
        assert_eq!(at["status"], 200, "{page}: {report}");
        assert_eq!(
            at["violations"],
            serde_json::json!([]),
            "axe: serious or critical violations on {page}: {at}"
        );
        assert!(
            at["rulesPassed"].as_u64() > Some(10),
            "axe ran on {page}: {at}"
        );
        assert!(
            artifacts.join(format!("{page}.png")).is_file(),
            "{page} screenshot"
        );
    }
    for (page, charts) in [("overview", 1), ("send", 1), ("bounces", 3)] {
        let drawn = &report["pages"][page]["charts"];
        assert_eq!(drawn.as_array().unwrap().len(), charts, "{page}: {drawn}");
        for chart in drawn.as_array().unwrap() {
            assert!(chart["width"].as_f64().unwrap() > 300.0, "{page}: {chart}");
            assert!(chart["texts"].as_u64().unwrap() > 5, "axis labels: {chart}");
        }
    }
    // The worker saw the operator's commands.
    eventually("the send to finish", || {
        instance.query_text("SELECT status FROM sends") == "done"
    });
    assert_eq!(
        instance.query_scalar("SELECT count(*) FROM events WHERE kind IN ('send_paused', 'send_resumed') AND source = 'dashboard'"),
        2
    );
    drop(served);
}
