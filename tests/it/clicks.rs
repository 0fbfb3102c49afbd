//! Click counts per item: `/c/` links in delivered messages, followed over real HTTP
//! against the app, counted in its SQLite file, people apart from scanners.

use mail_parser::MessageParser;
use mailroom::token::{ClickClaim, TokenKeys, UnsubscribeClaim};

use crate::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::{Http, Instance, Sql, TOKEN_KEY, repo_path};

const LIST: &str = "email,name\nkim@example.org,Kim\nlee@example.org,Lee\n";
const ADMIN: &str = "admin-token-for-tests-0123456789";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
/// The sample issue's first item and its link.
const FIRST_URL: &str = "https://example.org/news/open-weights-reasoning";
/// Items of the sample issue with a link (one of its 20 items has none: item 11).
const LINKS: usize = 19;

fn keys() -> TokenKeys {
    TokenKeys::new(TOKEN_KEY, &[]).unwrap()
}

/// An app with click counts on (plus `extra`), the sample issue delivered to LIST.
fn delivered(extra: &str) -> TestApp {
    let config = format!("[analytics]\nclicks = true\n{extra}\n[admin]\ntoken = \"{ADMIN}\"\n");
    let app = spawn_app_with(&config);
    app.queue_sample(LIST);
    assert_eq!(app.deliver_all(), 2);
    app
}

/// The text and HTML parts of the message delivered to `email`.
fn message_to(app: &TestApp, email: &str) -> (String, String) {
    for entry in std::fs::read_dir(app.outbox()).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        let msg = MessageParser::default().parse(&raw).unwrap();
        let to = msg.to().and_then(|a| a.first()).and_then(|a| a.address());
        if to == Some(email) {
            return (
                msg.body_text(0).unwrap().into_owned(),
                msg.body_html(0).unwrap().into_owned(),
            );
        }
    }
    panic!("no message to {email}");
}

/// The paths (`/c/TOKEN`) of the counted links in `part`, in order.
fn click_paths(app: &TestApp, part: &str) -> Vec<String> {
    let prefix = format!("{}/c/", app.base_url());
    part.match_indices(&prefix)
        .map(|(at, _)| {
            let token: String = part[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            format!("/c/{token}")
        })
        .collect()
}

fn html_links(app: &TestApp, email: &str) -> Vec<String> {
    let (_, html) = message_to(app, email);
    let links = click_paths(app, &html);
    assert_eq!(links.len(), LINKS, "one counted link per item with a URL");
    links
}

/// The delivery of the sample issue (210) to `email`.
fn delivery_id(app: &TestApp, email: &str) -> i64 {
    app.query_scalar(&format!(
        "SELECT d.id FROM deliveries d JOIN subscribers u ON u.id = d.subscriber_id
         JOIN sends s ON s.id = d.send_id JOIN issues i ON i.id = s.issue_id
         WHERE u.email = '{email}' AND i.number = 210"
    ))
}

/// Moves the delivery's sent time `seconds` into the past (0: now), as if read later.
fn sent_ago(app: &TestApp, email: &str, seconds: i64) {
    app.execute(&format!(
        "UPDATE deliveries SET sent_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{seconds} seconds')
         WHERE id = {}",
        delivery_id(app, email)
    ));
}

struct Followed {
    status: u16,
    location: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// A request for `path` as `user_agent` would make it (none when `None`).
fn follow(app: &TestApp, method: &str, path: &str, user_agent: Option<&str>) -> Followed {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client().request(method, format!("{}{path}", app.base));
    if let Some(agent) = user_agent {
        request = request.header("User-Agent", agent);
    }
    let response = request.send().expect("HTTP request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let location = headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    Followed {
        status,
        location,
        headers,
        body: response.text().unwrap_or_default(),
    }
}

fn read(app: &TestApp, path: &str) -> Followed {
    follow(app, "GET", path, Some(FIREFOX))
}

/// (human clicks, unique humans, machine clicks) of item `item` of issue 210.
fn counts(app: &TestApp, item: u16) -> (i64, i64, i64) {
    let row = |column: &str| -> i64 {
        app.query_scalar(&format!(
            "SELECT coalesce((SELECT {column} FROM click_counts c JOIN issues i ON i.id = c.issue_id
             WHERE i.number = 210 AND c.item = {item}), 0)"
        ))
    };
    (
        row("human_clicks"),
        row("unique_humans"),
        row("machine_clicks"),
    )
}

fn totals(app: &TestApp) -> (i64, i64, i64) {
    let sum = |column: &str| -> i64 {
        app.query_scalar(&format!(
            "SELECT coalesce(sum({column}), 0) FROM click_counts"
        ))
    };
    (
        sum("human_clicks"),
        sum("unique_humans"),
        sum("machine_clicks"),
    )
}

fn assert_not_found(reply: &Followed, what: &str) {
    assert_eq!(reply.status, 404, "{what}");
    assert!(reply.location.is_none(), "{what}: no redirect");
    assert!(
        reply.body.contains("This link is not valid"),
        "{what}: {}",
        reply.body
    );
}

#[test]
fn item_links_in_the_html_part_redirect_to_the_stored_url() {
    let app = delivered("");
    sent_ago(&app, "kim@example.org", 3600);
    let (text, html) = message_to(&app, "kim@example.org");
    let links = html_links(&app, "kim@example.org");
    assert!(
        !html.contains(&format!("href=\"{FIRST_URL}\"")),
        "the HTML part links through /c/"
    );
    // The text part keeps direct links unless analytics.text_links.
    assert!(text.contains(FIRST_URL), "{text}");
    assert!(click_paths(&app, &text).is_empty(), "{text}");

    let kim = delivery_id(&app, "kim@example.org");
    let claim = keys().verify_click(links[0].strip_prefix("/c/").unwrap());
    assert_eq!(
        claim,
        Some(ClickClaim {
            issue_number: 210,
            item: 0,
            delivery_id: kim
        })
    );
    let reply = read(&app, &links[0]);
    assert_eq!(reply.status, 302);
    assert_eq!(reply.location.as_deref(), Some(FIRST_URL));
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(reply.headers["referrer-policy"], "no-referrer");
    // The last link is the last item's (item 19: item 11 has no link, so none is missing).
    let last = read(&app, &links[LINKS - 1]);
    assert_eq!(
        last.location.as_deref(),
        Some("https://example.org/papers/kv-compression")
    );
    assert_eq!(counts(&app, 0), (1, 1, 0));
    assert_eq!(counts(&app, 19), (1, 1, 0));

    // A preview's links name no delivery: they redirect and count nothing.
    let out = app.dir.path().join("preview");
    app.cli(&["issue", "preview", "210", "--out", out.to_str().unwrap()]);
    let preview = std::fs::read_to_string(out.join("issue.html")).unwrap();
    let preview_links = click_paths(&app, &preview);
    assert_eq!(preview_links.len(), LINKS);
    let reply = read(&app, &preview_links[0]);
    assert_eq!(reply.location.as_deref(), Some(FIRST_URL));
    assert_eq!(
        counts(&app, 0),
        (1, 1, 0),
        "the preview's click is not counted"
    );
}

#[test]
fn text_links_counts_the_text_part_too() {
    let app = delivered("text_links = true");
    let (text, _) = message_to(&app, "kim@example.org");
    let links = click_paths(&app, &text);
    assert_eq!(links.len(), LINKS, "{text}");
    assert!(!text.contains(FIRST_URL), "{text}");
    sent_ago(&app, "kim@example.org", 3600);
    assert_eq!(read(&app, &links[0]).location.as_deref(), Some(FIRST_URL));
}

#[test]
fn with_clicks_off_every_link_is_direct() {
    let app = spawn_app();
    app.queue_sample(LIST);
    assert_eq!(app.deliver_all(), 2);
    let (text, html) = message_to(&app, "kim@example.org");
    assert!(html.contains(&format!("href=\"{FIRST_URL}\"")), "{html}");
    assert!(text.contains(FIRST_URL));
    assert!(!html.contains("/c/") && !text.contains("/c/"));
}

#[test]
fn forged_altered_and_mismatched_tokens_get_404() {
    let app = delivered("");
    sent_ago(&app, "kim@example.org", 3600);
    let good = html_links(&app, "kim@example.org")[0].clone();
    // A second issue, sent to the same list, for a delivery that is not issue 210's.
    let sample = std::fs::read_to_string(repo_path("samples/issue-210.md")).unwrap();
    let other = app.write(
        "issue-211.md",
        sample.replace("number = 210", "number = 211").as_bytes(),
    );
    app.cli(&["issue", "import", other.to_str().unwrap()]);
    app.cli(&["issue", "finalize", "211"]);
    app.cli(&["issue", "send", "211"]);
    assert_eq!(app.deliver_all(), 2);
    let kim = delivery_id(&app, "kim@example.org");
    let kim_211: i64 = app.query_scalar(
        "SELECT d.id FROM deliveries d JOIN sends s ON s.id = d.send_id JOIN issues i ON i.id = s.issue_id
         JOIN subscribers u ON u.id = d.subscriber_id WHERE i.number = 211 AND u.email = 'kim@example.org'",
    );
    assert_eq!(read(&app, &good).status, 302, "the genuine link works");

    let mut altered = good.clone().into_bytes();
    let last = altered.len() - 3;
    altered[last] = if altered[last] == b'a' { b'b' } else { b'a' };
    let forger = TokenKeys::new("someone-else's-key-0123456789abcdef", &[]).unwrap();
    let claim = |issue_number, item, delivery_id| ClickClaim {
        issue_number,
        item,
        delivery_id,
    };
    let signed = |c| format!("/c/{}", keys().click(c));
    for (path, what) in [
        (String::from_utf8(altered).unwrap(), "altered token"),
        (
            format!("/c/{}", forger.click(claim(210, 0, kim))),
            "another key",
        ),
        (signed(claim(999, 0, kim)), "unknown issue"),
        (
            signed(claim(210, 0, kim_211)),
            "a delivery of another issue",
        ),
        (
            signed(claim(211, 0, kim)),
            "issue 211 with issue 210's delivery",
        ),
        (signed(claim(210, 11, kim)), "an item without a link"),
        (signed(claim(210, 500, kim)), "no such item"),
        (signed(claim(210, 0, 987_654)), "no such delivery"),
        (good[..good.len() - 1].to_string(), "truncated"),
        ("/c/not-a-token".to_string(), "garbage"),
    ] {
        assert_not_found(&read(&app, &path), what);
    }
    assert_eq!(totals(&app), (1, 1, 0), "only the genuine click counted");
}

#[test]
fn unsubscribe_and_click_tokens_do_not_cross() {
    let app = delivered("");
    sent_ago(&app, "kim@example.org", 3600);
    let kim = app.subscriber_id("kim@example.org");
    let unsubscribe = keys().unsubscribe(UnsubscribeClaim {
        subscriber_id: kim,
        issue_number: 210,
    });
    assert_not_found(
        &read(&app, &format!("/c/{unsubscribe}")),
        "unsubscribe token at /c/",
    );

    let click = html_links(&app, "kim@example.org")[0].replace("/c/", "/u/");
    assert_eq!(
        app.get(&click).status,
        404,
        "click token on the unsubscribe page"
    );
    let one_click = app.post_form(&click, "List-Unsubscribe=One-Click");
    assert_eq!(
        one_click.status, 404,
        "click token as a one-click unsubscribe"
    );
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(totals(&app), (0, 0, 0));
}

#[test]
fn a_scanner_and_a_reader_of_the_same_message_are_counted_apart() {
    let app = delivered("");
    let links = html_links(&app, "kim@example.org");
    // The message just arrived: a gateway scanner follows every link at once, posing as
    // a browser, and a HEAD or two besides. Each gets the same redirect a reader gets.
    sent_ago(&app, "kim@example.org", 0);
    for (n, path) in links.iter().enumerate() {
        let reply = read(&app, path);
        assert_eq!(reply.status, 302, "the scanner is redirected too");
        assert!(reply.location.is_some());
        if n < 2 {
            assert_eq!(follow(&app, "HEAD", path, Some(FIREFOX)).status, 302);
        }
    }
    assert_eq!(totals(&app), (0, 0, LINKS as i64 + 2), "all machine clicks");

    // Ten minutes later Kim reads the issue: the first item twice, then the fifth.
    app.clicks().skip_time(std::time::Duration::from_secs(600));
    for path in [&links[0], &links[0], &links[4]] {
        assert_eq!(read(&app, path).status, 302);
    }
    assert_eq!(
        counts(&app, 0),
        (2, 1, 2),
        "item 0: two reads, one reader, two machines"
    );
    assert_eq!(counts(&app, 4), (1, 1, 1));
    assert_eq!(counts(&app, 1), (0, 0, 2));
    assert_eq!(counts(&app, 2), (0, 0, 1));

    // A scanner that says what it is, long after delivery, is a machine all the same.
    sent_ago(&app, "lee@example.org", 7200);
    let lee = html_links(&app, "lee@example.org");
    for agent in [None, Some("Mimecast URL Protect"), Some("curl/8.5.0")] {
        assert_eq!(follow(&app, "GET", &lee[0], agent).status, 302);
    }
    assert_eq!(counts(&app, 0), (2, 1, 5));

    let stats = app.ok(&["issue", "stats", "210", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["delivered"], 2);
    let first = &stats["items"][0];
    assert_eq!(first["human_clicks"], 2);
    assert_eq!(first["unique_humans"], 1);
    assert_eq!(first["machine_clicks"], 5);
    assert_eq!(first["click_through"], 0.5);
}

#[test]
fn the_dashboard_charts_each_items_clicks() {
    let app = delivered("");
    crate::dashboard::add_operator(&app, crate::dashboard::OPERATOR, crate::dashboard::PASSWORD);
    let browser = crate::dashboard::sign_in(&app);
    let before = browser.get("/admin/issues/210");
    assert_eq!(before.status, 200);
    assert!(
        !before.body.contains("id=\"clicks-heading\""),
        "nothing to chart before the first click"
    );

    sent_ago(&app, "kim@example.org", 3600);
    let links = html_links(&app, "kim@example.org");
    assert_eq!(read(&app, &links[2]).status, 302);
    assert_eq!(follow(&app, "HEAD", &links[2], Some(FIREFOX)).status, 302);
    let page = browser.get("/admin/issues/210");
    assert_eq!(page.status, 200);
    let section = &page.body[page
        .body
        .find("id=\"clicks-heading\"")
        .expect("a clicks section")..];
    assert!(section.contains("<svg"), "a chart: {section}");
    assert!(section.contains("Clicks per item"));
    // Item 3: one reader of two delivered messages, one machine click.
    let row = section
        .split("<tr>")
        .find(|r| r.starts_with("<td>3</td>"))
        .expect("a row for item 3");
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .map(|c| &c[..c.find("</td>").unwrap()])
        .collect();
    assert_eq!(cells[3..], ["1", "1", "50.0%", "1"], "{row}");
}

#[test]
fn head_requests_count_as_machine_clicks() {
    let app = delivered("");
    sent_ago(&app, "kim@example.org", 3600);
    let links = html_links(&app, "kim@example.org");
    let reply = follow(&app, "HEAD", &links[3], Some(FIREFOX));
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.location.as_deref(),
        Some("https://example.org/news/weather-ml")
    );
    assert_eq!(counts(&app, 3), (0, 0, 1));
    assert_eq!(read(&app, &links[3]).status, 302);
    assert_eq!(
        counts(&app, 3),
        (1, 1, 1),
        "the GET that follows is a reader's"
    );
}

#[test]
fn a_burst_over_most_links_takes_back_its_earlier_human_clicks() {
    // A burst window long enough that the test's requests always fall inside it.
    let app = delivered("burst_seconds = 600");
    sent_ago(&app, "kim@example.org", 3600);
    sent_ago(&app, "lee@example.org", 3600);
    let links = html_links(&app, "kim@example.org");
    // Half of 19 links is 9.5: the first nine look like an avid reader…
    for path in &links[..9] {
        assert_eq!(read(&app, path).status, 302);
    }
    assert_eq!(totals(&app), (9, 9, 0));
    // …the tenth makes it most of the message, and all ten are a machine's.
    assert_eq!(read(&app, &links[9]).status, 302);
    assert_eq!(totals(&app), (0, 0, 10));
    assert_eq!(counts(&app, 0), (0, 0, 1));
    let kim = delivery_id(&app, "kim@example.org");
    assert_eq!(
        app.query_scalar(&format!(
            "SELECT count(*) FROM click_seen WHERE delivery_id = {kim}"
        )),
        0,
        "nothing of the burst stays counted as unique"
    );
    // Another reader of the first item is a reader.
    let lee = html_links(&app, "lee@example.org");
    assert_eq!(read(&app, &lee[0]).status, 302);
    assert_eq!(counts(&app, 0), (1, 1, 1));
}

#[test]
fn by_default_no_click_is_linked_to_a_subscriber() {
    let app = delivered("");
    sent_ago(&app, "kim@example.org", 3600);
    let links = html_links(&app, "kim@example.org");
    assert_eq!(read(&app, &links[0]).status, 302);
    assert_eq!(counts(&app, 0), (1, 1, 0));
    assert_eq!(app.query_scalar("SELECT count(*) FROM click_events"), 0);
    // What is kept: the (delivery, item) pair behind the unique count, nothing more.
    let kim = delivery_id(&app, "kim@example.org");
    assert_eq!(
        app.query_text("SELECT group_concat(delivery_id || ':' || item) FROM click_seen"),
        format!("{kim}:0")
    );
}

#[test]
fn per_subscriber_clicks_are_kept_and_erased_with_the_subscriber() {
    let app = delivered("per_subscriber = true");
    let kim_links = html_links(&app, "kim@example.org");
    let lee_links = html_links(&app, "lee@example.org");
    sent_ago(&app, "kim@example.org", 3600);
    sent_ago(&app, "lee@example.org", 3600);
    assert_eq!(read(&app, &kim_links[0]).status, 302);
    assert_eq!(
        follow(&app, "HEAD", &kim_links[1], Some(FIREFOX)).status,
        302
    );
    assert_eq!(read(&app, &lee_links[0]).status, 302);
    let kim = app.subscriber_id("kim@example.org");
    assert_eq!(
        app.query_text(&format!(
            "SELECT group_concat(item || ':' || coalesce(machine, 'human'), ',') FROM
             (SELECT item, machine FROM click_events WHERE subscriber_id = {kim} ORDER BY id)"
        )),
        "0:human,1:head"
    );

    app.cli(&["subscribers", "remove", "kim@example.org"]);
    assert_eq!(
        app.query_scalar(&format!(
            "SELECT count(*) FROM click_events WHERE subscriber_id = {kim}"
        )),
        0
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM click_events"),
        1,
        "Lee's stays"
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM click_seen"),
        1,
        "Lee's stays"
    );
    // The aggregates name no one, and stay.
    assert_eq!(counts(&app, 0), (2, 2, 0));
    assert_eq!(counts(&app, 1), (0, 0, 1));
    // Kim's old link names a delivery that is gone.
    assert_not_found(&read(&app, &kim_links[0]), "an erased subscriber's link");
}

#[test]
fn stats_are_shown_by_the_cli_and_the_api() {
    let app = delivered("");
    sent_ago(&app, "kim@example.org", 3600);
    let links = html_links(&app, "kim@example.org");
    assert_eq!(read(&app, &links[0]).status, 302);
    assert_eq!(follow(&app, "HEAD", &links[0], Some(FIREFOX)).status, 302);

    let table = app.ok(&["issue", "stats", "210"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "Issue #210: 2 delivered", "{table}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        ["section", "item", "human", "unique", "through", "machine"]
    );
    assert_eq!(lines.len(), 2 + LINKS, "{table}");
    assert!(lines[2].starts_with("Industry  "), "{table}");
    assert!(
        lines[2].contains("Open-weight models close the gap")
            && lines[2]
                .trim_end()
                .ends_with("1        1     50.0%        1"),
        "{table}"
    );
    assert!(
        lines[3]
            .trim_end()
            .ends_with("0        0      0.0%        0"),
        "{table}"
    );
    assert!(
        !table.contains("Reading group notes"),
        "items without a link: {table}"
    );

    let api = app.admin("GET", "/api/issues/210/clicks", ADMIN, None);
    assert_eq!(api.status, 200, "{api:?}");
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(json["number"], 210);
    assert_eq!(json["delivered"], 2);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), LINKS);
    assert_eq!(items[0]["section"], "Industry");
    assert_eq!(items[0]["url"], FIRST_URL);
    assert_eq!(items[0]["human_clicks"], 1);
    assert_eq!(items[0]["unique_humans"], 1);
    assert_eq!(items[0]["machine_clicks"], 1);
    assert_eq!(items[0]["click_through"], 0.5);
    assert_eq!(items[11]["item"], 12, "item 11 has no link");

    assert_eq!(
        app.admin(
            "GET",
            "/api/issues/210/clicks",
            "wrong-token-0123456789abcdef",
            None
        )
        .status,
        401
    );
    assert_eq!(
        app.admin("GET", "/api/issues/999/clicks", ADMIN, None)
            .status,
        404
    );
    let missing = app.fails(&["issue", "stats", "999"]);
    assert!(missing.contains("there is no issue #999"), "{missing}");
}

#[test]
fn bad_analytics_settings_are_refused_by_name() {
    for (setting, expected) in [
        (
            "burst_fraction = 1.5",
            "analytics.burst_fraction must be above 0 and at most 1",
        ),
        (
            "burst_min_links = 1",
            "analytics.burst_min_links must be at least 2",
        ),
        (
            "scanner_user_agents = [\"\"]",
            "analytics.scanner_user_agents must not contain empty entries",
        ),
        ("clicks = \"yes\"", "clicks"),
    ] {
        let i = Instance::with_config(&format!("[analytics]\n{setting}\n"));
        let error = i.fails(&["issue", "list"]);
        assert!(error.contains(expected), "{setting}: {error}");
    }
}
