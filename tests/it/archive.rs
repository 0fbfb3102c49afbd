//! The public archive: the view-online link in every message, the pages and feeds under
//! `mailroom serve` (the app on a real SQLite file, issues sent by the worker), feed
//! readers and a schema validator reading the feeds, the static export served from a
//! subfolder, and headless Chromium with axe-core reading the pages.

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use mailroom::domain::Issue;

use crate::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::{Http, Reply, Sql, chromium, repo_path};

fn sample_issue() -> Issue {
    let bytes = std::fs::read(repo_path("samples/issue-210.md")).unwrap();
    mailroom::issue_file::parse_bytes("issue-210.md", &bytes).unwrap()
}

/// The sample issue under another number and title.
fn issue_file(app: &TestApp, number: u32) -> String {
    let text = std::fs::read_to_string(repo_path("samples/issue-210.md"))
        .unwrap()
        .replace("number = 210", &format!("number = {number}"))
        .replace("Issue #210", &format!("Issue #{number}"));
    let path = app.write(&format!("issue-{number}.md"), text.as_bytes());
    path.display().to_string()
}

/// Imports and finalizes issue `number` (the sample's content).
fn finalized(app: &TestApp, number: u32) {
    let file = issue_file(app, number);
    app.cli(&["issue", "import", &file]);
    app.cli(&["issue", "finalize", &number.to_string()]);
}

/// Issue `number` imported, finalized and its send queued (status `sending`).
fn queued(app: &TestApp, number: u32) {
    finalized(app, number);
    app.cli(&["issue", "send", &number.to_string()]);
}

/// Issues `numbers` sent, in that order, to Ada and Grace.
fn sent(app: &TestApp, numbers: &[u32]) {
    app.cli(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--name",
        "Ada Lovelace",
    ]);
    app.cli(&[
        "subscribers",
        "add",
        "grace@example.org",
        "--name",
        "Grace Hopper",
    ]);
    for &n in numbers {
        queued(app, n);
        app.deliver_all();
        assert_eq!(
            app.query_text(&format!("SELECT status FROM issues WHERE number = {n}")),
            "sent"
        );
    }
}

/// Polls `path` until `done` holds for its reply: the archive re-reads the list of public
/// issues at most once a second.
fn eventually(app: &TestApp, path: &str, done: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = app.get(path);
        if done(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never changed: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

/// The issue numbers an index page links to, in order.
fn listed(body: &str) -> Vec<u32> {
    body.split("<h2><a href=\"")
        .skip(1)
        .map(|rest| {
            let href = &rest[..rest.find('"').unwrap()];
            href.rsplit('/').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// `content` of `<meta property|name="key" content="…">`.
fn meta(body: &str, key: &str) -> String {
    let at = body
        .find(&format!("=\"{key}\" content=\""))
        .unwrap_or_else(|| panic!("no meta {key}"));
    let rest = &body[at + key.len() + 13..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn every_message_links_to_its_public_page_which_carries_nothing_personal() {
    let app = spawn_app();
    sent(&app, &[210]);
    let base = app.base_url();
    let page_url = format!("{base}/archive/210");

    let mut tokens = Vec::new();
    let files: Vec<PathBuf> = std::fs::read_dir(app.outbox())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let msg = MessageParser::default().parse(&raw).unwrap();
        let text = msg.body_text(0).unwrap();
        assert_eq!(
            text.lines().next(),
            Some(format!("View in your browser: {page_url}").as_str()),
            "the text part opens with the link"
        );
        let html = msg.body_html(0).unwrap();
        let link = format!("<a href=\"{page_url}\">View in your browser</a>");
        let at = html.find(&link).expect("the HTML part links to the page");
        assert!(
            at < html.find("<h1").unwrap(),
            "near the top: before the title"
        );
        let unsubscribe = msg.header_raw("List-Unsubscribe").unwrap();
        let token = unsubscribe.split("/u/").nth(1).unwrap();
        tokens.push(token[..token.find('>').unwrap()].to_string());
    }

    let page = app.get("/archive/210");
    assert_eq!(page.status, 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert!(
        header(&page, "content-security-policy").contains("default-src 'none'"),
        "no scripts"
    );
    let issue = sample_issue();
    assert!(
        page.body
            .contains("<h1>Deep Learning Weekly: Issue #210</h1>")
    );
    let mut n = 0;
    for section in &issue.sections {
        assert!(
            page.body
                .contains(&format!(">{}</h2>", section.name.replace('&', "&amp;")))
        );
        for item in &section.items {
            n += 1;
            let anchor = format!("<div class=\"item\" id=\"item-{n}\">");
            let at = page
                .body
                .find(&anchor)
                .unwrap_or_else(|| panic!("{anchor}"));
            let heading = &page.body[at..at + page.body[at..].find("</h3>").unwrap()];
            if let Some(url) = &item.url {
                assert!(heading.contains(&format!("href=\"{url}\"")), "{heading}");
            }
            assert!(
                heading.contains(&format!("href=\"#item-{n}\"")),
                "{heading}"
            );
        }
    }
    assert_eq!(n, issue.item_count());

    // Nothing personal: no greeting by name, no address, no token, no unsubscribe link.
    for personal in [
        "Ada",
        "Grace",
        "example.org\">",
        "@example.org",
        "/u/",
        "nsubscribe",
        "Hi ",
    ] {
        assert!(
            !page.body.contains(personal),
            "{personal} on the public page"
        );
    }
    for token in &tokens {
        assert!(!page.body.contains(token.as_str()));
    }
    // Made from the model, not from the email's HTML.
    for email_html in ["mj-column", "mso", "role=\"presentation\""] {
        assert!(!page.body.contains(email_html), "{email_html}");
    }
    // Its own subscribe form, posting to /subscribe.
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"../subscribe\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"email\" type=\"email\" required"));
    assert!(!page.body.contains("<script"), "no JavaScript");
}

#[test]
fn pages_carry_a_canonical_url_sharing_tags_and_links_to_the_feeds() {
    let app = spawn_app_with("[archive]\nbase_url = \"https://example.org/news/\"\n");
    sent(&app, &[209, 210]);
    let raw = std::fs::read(
        std::fs::read_dir(app.outbox())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    let text = MessageParser::default()
        .parse(&raw)
        .unwrap()
        .body_text(0)
        .unwrap()
        .into_owned();
    assert!(
        text.starts_with("View in your browser: https://example.org/news/2"),
        "archive.base_url is where messages link: {text}"
    );

    let page = app.get("/archive/210").body;
    let canonical = "https://example.org/news/210";
    assert!(page.contains(&format!("<link rel=\"canonical\" href=\"{canonical}\">")));
    assert_eq!(meta(&page, "og:url"), canonical);
    assert_eq!(meta(&page, "og:type"), "article");
    assert_eq!(meta(&page, "og:title"), "Deep Learning Weekly: Issue #210");
    assert_eq!(meta(&page, "og:site_name"), "Deep Learning Weekly");
    let issue = sample_issue();
    assert_eq!(meta(&page, "og:description"), issue.preheader);
    assert_eq!(meta(&page, "description"), issue.preheader);
    assert_eq!(meta(&page, "twitter:card"), "summary");
    assert_eq!(
        meta(&page, "twitter:title"),
        "Deep Learning Weekly: Issue #210"
    );
    assert_eq!(meta(&page, "twitter:description"), issue.preheader);
    let published = meta(&page, "article:published_time");
    time::OffsetDateTime::parse(&published, &time::format_description::well_known::Rfc3339)
        .expect("an RFC 3339 time");
    for (kind, href) in [
        ("application/rss+xml", "../feed.xml"),
        ("application/atom+xml", "../atom.xml"),
        ("application/feed+json", "../feed.json"),
    ] {
        assert!(
            page.contains(&format!("<link rel=\"alternate\" type=\"{kind}\"")),
            "{kind}"
        );
        assert!(page.contains(&format!("href=\"{href}\">")), "{href}");
    }
    // Readers can walk from issue to issue.
    assert!(page.contains("<a href=\"209\">Older issue &rarr;</a>"));
    assert!(page.contains("<a href=\"../archive\">All issues</a>"));

    let index = app.get("/archive").body;
    assert!(index.contains("<link rel=\"canonical\" href=\"https://example.org/news\">"));
    assert_eq!(meta(&index, "og:type"), "website");
    assert!(index.contains("href=\"feed.xml\">"));
    assert!(index.contains("<time datetime=\"2026-11-27\">27 November 2026</time>"));
    assert!(index.contains(&issue.subject), "the subject");
    assert!(index.contains(&issue.preheader), "the preheader");
}

#[test]
fn the_archive_lists_sent_issues_newest_first_in_pages() {
    let app = spawn_app_with("[archive]\nper_page = 2\n");
    sent(&app, &[201, 202, 203, 204, 205]);

    let first = app.get("/archive");
    assert_eq!(first.status, 200);
    assert_eq!(listed(&first.body), [205, 204]);
    assert!(
        first
            .body
            .contains("<a href=\"archive/page/2\" rel=\"next\">")
    );
    assert!(
        first
            .body
            .contains("<link rel=\"next\" href=\"archive/page/2\">")
    );
    assert!(first.body.contains("Page 1 of 3"));
    let second = app.get("/archive/page/2");
    assert_eq!(listed(&second.body), [203, 202]);
    assert!(
        second
            .body
            .contains("<a href=\"../../archive\" rel=\"prev\">")
    );
    assert!(second.body.contains("<a href=\"3\" rel=\"next\">"));
    assert!(
        second.body.contains("href=\"../203\""),
        "issue links resolve"
    );
    let third = app.get("/archive/page/3");
    assert_eq!(listed(&third.body), [201]);
    assert!(!third.body.contains("rel=\"next\""));

    for missing in [
        "/archive/page/4",
        "/archive/page/0",
        "/archive/page/02",
        "/archive/0205",
        "/archive/999",
        "/archive/abc",
        "/archive/page/x",
    ] {
        assert_eq!(app.get(missing).status, 404, "{missing}");
    }
    for (from, to) in [
        ("/archive/page/1", "../../archive"),
        ("/archive/", "../archive"),
        ("/archive/205/", "../205"),
    ] {
        let reply = app.get(from);
        assert_eq!(reply.status, 308, "{from}");
        assert_eq!(header(&reply, "location"), to, "{from}");
    }
}

#[test]
fn only_issues_whose_send_started_are_public() {
    let app = spawn_app();
    sent(&app, &[305]);
    app.cli(&["issue", "import", &issue_file(&app, 301)]);
    finalized(&app, 302);
    finalized(&app, 303);
    app.cli(&["issue", "send", "303", "--at", "2099-12-04T07:00:00Z"]);
    queued(&app, 304);
    queued(&app, 306);
    app.cli(&["send", "cancel", "306"]);
    let status = |n: u32| app.query_text(&format!("SELECT status FROM issues WHERE number = {n}"));
    assert_eq!(
        [301, 302, 303, 304, 305, 306].map(status),
        [
            "draft",
            "finalized",
            "sending",
            "sending",
            "sent",
            "cancelled"
        ]
    );

    let index = app.get("/archive");
    assert_eq!(
        listed(&index.body),
        [304, 305],
        "sending (started) and sent"
    );
    for hidden in [301, 302, 303, 306] {
        assert_eq!(
            app.get(&format!("/archive/{hidden}")).status,
            404,
            "#{hidden}"
        );
    }
    for public in [304, 305] {
        assert_eq!(
            app.get(&format!("/archive/{public}")).status,
            200,
            "#{public}"
        );
    }
    let atom = app.get("/atom.xml").body;
    assert_eq!(atom.matches("<entry>").count(), 2);
    for hidden in [301, 302, 303, 306] {
        assert!(!atom.contains(&format!("/archive/{hidden}<")), "#{hidden}");
    }

    // A send cancelled mid-way withdraws its issue from the archive and the feeds.
    app.cli(&["send", "cancel", "304"]);
    eventually(&app, "/archive/304", |r| r.status == 404);
    assert_eq!(listed(&app.get("/archive").body), [305]);
    let atom = eventually(&app, "/atom.xml", |r| {
        r.body.matches("<entry>").count() == 1
    });
    assert!(atom.body.contains("/archive/305<"));
}

#[test]
fn with_the_archive_off_nothing_is_served_and_messages_do_not_link_to_it() {
    let app = spawn_app_with("[archive]\nenabled = false\n");
    sent(&app, &[210]);
    for path in [
        "/archive",
        "/archive/210",
        "/archive/page/2",
        "/archive/sitemap.xml",
        "/feed.xml",
        "/atom.xml",
        "/feed.json",
    ] {
        assert_eq!(app.get(path).status, 404, "{path}");
    }
    for entry in std::fs::read_dir(app.outbox()).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert!(!msg.body_text(0).unwrap().contains("View in your browser"));
        assert!(!msg.body_html(0).unwrap().contains("View in your browser"));
        assert!(!msg.body_html(0).unwrap().contains("/archive/"));
    }
    assert_eq!(app.get("/subscribe").status, 200, "the rest still answers");
}

/// `python3 tests/feedcheck.py` on the given feed bodies: what feed readers understood.
fn feedcheck(dir: &Path, feeds: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut args = Vec::new();
    for (name, body) in feeds {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        args.push(path);
    }
    let out = std::process::Command::new("python3")
        .arg(repo_path("tests/feedcheck.py"))
        .args(&args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "feedcheck.py failed (.ci/run installs feedparser and feedparser-rs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `xmllint --relaxng` against RFC 4287's schema: whether `feed` is valid, and what it said.
fn validate_atom(dir: &Path, feed: &str) -> (bool, String) {
    let path = dir.join("validate.xml");
    std::fs::write(&path, feed).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(repo_path("tests/fixtures/atom/atom.rng"))
        .arg(&path)
        .output()
        .expect("xmllint is installed (Debian's libxml2-utils; .ci/run installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn feed_readers_read_every_field_back_and_the_atom_feed_validates() {
    let app = spawn_app();
    sent(&app, &[209, 210]);
    let base = app.base_url();
    let issue = sample_issue();
    // When each send started, as the feeds date the issues.
    let published = |n: u32| {
        let at = app.query_text(&format!(
            "SELECT s.created_at FROM sends s JOIN issues i ON i.id = s.issue_id WHERE i.number = {n}"
        ));
        format!("{}Z", &at[..19])
    };

    // The archive last changed when issue #210 became `sent`.
    let changed = format!(
        "{}Z",
        &app.query_text("SELECT max(updated_at) FROM issues")[..19]
    );
    let rss = app.get("/feed.xml");
    let atom = app.get("/atom.xml");
    let json = app.get("/feed.json");
    assert_eq!(
        header(&rss, "content-type"),
        "application/rss+xml; charset=utf-8"
    );
    assert_eq!(
        header(&atom, "content-type"),
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(
        header(&json, "content-type"),
        "application/feed+json; charset=utf-8"
    );
    let dir = tempfile::tempdir().unwrap();
    let read = feedcheck(
        dir.path(),
        &[
            ("feed.xml", &rss.body),
            ("atom.xml", &atom.body),
            ("feed.json", &json.body),
        ],
    );
    let formats = ["rss20", "atom10", "json11"];
    for (feed, format) in read.iter().zip(formats) {
        assert_eq!(feed["version"], format);
        assert_eq!(feed["bozo"], false, "{format}: {}", feed["bozo_exception"]);
        let f = &feed["feed"];
        assert_eq!(f["title"], "Deep Learning Weekly", "{format}");
        assert_eq!(f["link"], format!("{base}/archive"), "{format}");
        assert_eq!(
            f["subtitle"], "Every issue of Deep Learning Weekly, as it was sent by email.",
            "{format}"
        );
        assert_eq!(f["language"], "en", "{format}");
        let self_link = f["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "self")
            .unwrap_or_else(|| panic!("{format}: a self link"));
        let file = ["feed.xml", "atom.xml", "feed.json"]
            [formats.iter().position(|x| *x == format).unwrap()];
        assert_eq!(self_link["href"], format!("{base}/{file}"), "{format}");
        if format != "json11" {
            assert_eq!(f["updated"], changed, "{format}: the last change");
        }
        if format != "rss20" {
            assert_eq!(f["author"], "Deep Learning Weekly", "{format}");
        }
        if format == "atom10" {
            assert_eq!(f["id"], format!("{base}/archive"));
        }

        let entries = feed["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{format}: one entry per sent issue");
        for (entry, n) in entries.iter().zip([210, 209]) {
            let url = format!("{base}/archive/{n}");
            assert_eq!(entry["title"], format!("Deep Learning Weekly: Issue #{n}"));
            assert_eq!(entry["link"], url, "{format}");
            assert_eq!(entry["id"], url, "{format}");
            assert_eq!(entry["published"], published(n), "{format}");
            assert_eq!(entry["updated"], published(n), "{format}");
            assert_eq!(entry["summary"], issue.preheader, "{format}");
            assert_eq!(entry["content_type"], "text/html", "{format}");
            let content = entry["content"].as_str().unwrap();
            for item in issue.sections.iter().flat_map(|s| &s.items) {
                if let Some(link) = &item.url {
                    assert!(content.contains(link.as_str()), "{format}: {link}");
                }
            }
            assert!(
                content.contains("running speech models on a phone"),
                "{format}"
            );
            assert!(!content.contains("nsubscribe"), "{format}");
        }
    }

    // The Atom feed is valid against RFC 4287's schema, and the validator is not lenient:
    // the same feed with an entry missing its id fails.
    let (valid, said) = validate_atom(dir.path(), &atom.body);
    assert!(valid, "atom.xml does not validate: {said}");
    let broken = atom
        .body
        .replacen(&format!("<id>{base}/archive/209</id>"), "", 1);
    assert_ne!(broken, atom.body);
    let (valid, said) = validate_atom(dir.path(), &broken);
    assert!(!valid, "a feed without an entry id validated: {said}");
    // The schema's Schematron rules, which RELAX NG validators skip: an author on the
    // feed, an alternate link on every entry.
    assert!(
        atom.body
            .contains("<author>\n<name>Deep Learning Weekly</name>")
    );
    assert_eq!(
        atom.body
            .matches("<link rel=\"alternate\" type=\"text/html\"")
            .count(),
        3
    );
}

#[test]
fn conditional_requests_get_304_until_the_archive_changes() {
    let app = spawn_app();
    sent(&app, &[210]);
    for path in [
        "/archive",
        "/archive/210",
        "/feed.xml",
        "/atom.xml",
        "/feed.json",
    ] {
        let page = app.get(path);
        assert_eq!(page.status, 200, "{path}");
        let etag = header(&page, "etag");
        let modified = header(&page, "last-modified");
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(header(&page, "cache-control"), "public, max-age=60");
        assert_eq!(app.get(path).body, page.body, "{path}: the same bytes");

        let conditional = |name: &str, value: &str| {
            let response = app
                .client()
                .get(format!("{}{path}", app.base))
                .header(name, value)
                .send()
                .unwrap();
            let status = response.status().as_u16();
            let tag = response
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_string());
            (status, tag, response.text().unwrap())
        };
        let (status, tag, body) = conditional("If-None-Match", &etag);
        assert_eq!((status, body.as_str()), (304, ""), "{path}");
        assert_eq!(tag.as_deref(), Some(etag.as_str()));
        assert_eq!(conditional("If-None-Match", &format!("W/{etag}")).0, 304);
        assert_eq!(
            conditional("If-None-Match", &format!("\"other\", {etag}")).0,
            304
        );
        assert_eq!(conditional("If-None-Match", "\"other\"").0, 200);
        assert_eq!(conditional("If-Modified-Since", &modified).0, 304);
        assert_eq!(
            conditional("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT").0,
            200
        );
        let head = app.request("HEAD", path, None, "");
        assert_eq!(head.status, 200);
        assert_eq!(header(&head, "etag"), etag);
    }

    // A new issue changes the index, the feeds and the previous issue's page (its link to
    // the newer one): their validators change, and the old ones no longer match.
    let before: Vec<(String, String)> = ["/archive", "/archive/210", "/atom.xml"]
        .iter()
        .map(|p| (p.to_string(), header(&app.get(p), "etag")))
        .collect();
    queued(&app, 211);
    for (path, old) in before {
        let changed = eventually(&app, &path, |r| header(r, "etag") != old);
        assert_eq!(changed.status, 200);
        let response = app
            .client()
            .get(format!("{}{path}", app.base))
            .header("If-None-Match", &old)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    assert_eq!(listed(&app.get("/archive").body), [211, 210]);
}

/// A static file server for `root` under `prefix` (`/site/archive/`), as simple hosts
/// behave: a folder is answered by its index.html, a folder without its slash is
/// redirected to it, anything else is 404. Serves until the test ends.
fn serve_static(root: PathBuf, prefix: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            let file = path
                .strip_prefix(prefix)
                .filter(|rest| !rest.split('/').any(|s| s == ".."))
                .map(|rest| root.join(rest));
            let response = match file {
                Some(f) if f.is_dir() && !path.ends_with('/') => {
                    format!("HTTP/1.1 301 Moved\r\nLocation: {path}/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .into_bytes()
                }
                Some(f) if f.join("index.html").is_file() || f.is_file() => {
                    let f = if f.is_dir() { f.join("index.html") } else { f };
                    let body = std::fs::read(&f).unwrap();
                    let mut head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    head.extend(body);
                    head
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    port
}

/// Every link in an HTML page (`href`, `action`) or a feed (`href`, `<link>`, `<loc>`,
/// `<id>`), as written.
fn links(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (open, close) in [
        ("href=\"", "\""),
        ("action=\"", "\""),
        ("<link>", "</link>"),
        ("<loc>", "</loc>"),
        ("<id>", "</id>"),
        ("\"url\": \"", "\""),
    ] {
        for part in body.split(open).skip(1) {
            if let Some(end) = part.find(close) {
                found.push(part[..end].replace("&amp;", "&"));
            }
        }
    }
    found
}

#[test]
fn the_static_export_works_from_a_subfolder() {
    let app = spawn_app_with("[archive]\nper_page = 2\n");
    sent(&app, &[208, 209, 210]);
    let site = tempfile::tempdir().unwrap();
    let dir = site.path().join("archive");
    let port = serve_static(site.path().to_path_buf(), "/site/");
    let origin = format!("http://127.0.0.1:{port}");
    let base = format!("{origin}/site/archive");
    let out = app.ok(&[
        "archive",
        "export",
        dir.to_str().unwrap(),
        "--base-url",
        &base,
    ]);
    assert!(out.contains("exported 3 issue(s)"), "{out}");

    let mut files = BTreeSet::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.insert(p.strip_prefix(&dir).unwrap().display().to_string());
            }
        }
    }
    let expected: BTreeSet<String> = [
        "index.html",
        "page/2/index.html",
        "208/index.html",
        "209/index.html",
        "210/index.html",
        "feed.xml",
        "atom.xml",
        "feed.json",
        "sitemap.xml",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(files, expected);

    // Follow every link from the first page, as a crawler would: relative ones, and
    // absolute ones into the export (canonical URLs, feeds, sitemap). Fragments must name
    // an element of their page.
    let client = crate::helpers::http_client();
    let fetch = |url: &str| {
        let r = client.get(url).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let start = format!("{base}/");
    let mut seen = HashSet::new();
    let mut queue = vec![start.clone()];
    let mut fragments = Vec::new();
    seen.insert(start);
    while let Some(url) = queue.pop() {
        let (status, body) = fetch(&url);
        assert_eq!(status, 200, "{url}");
        for link in links(&body) {
            let absolute = url::Url::parse(&url).unwrap().join(&link).unwrap();
            if let Some(fragment) = absolute.fragment() {
                fragments.push((absolute.to_string(), fragment.to_string()));
            }
            let mut target = absolute.clone();
            target.set_fragment(None);
            let target = target.to_string();
            if target.starts_with(&format!("{base}/")) && seen.insert(target.clone()) {
                queue.push(target);
            }
        }
    }
    let reached: BTreeSet<String> = seen
        .iter()
        .map(|u| {
            let path = u.strip_prefix(&format!("{base}/")).unwrap();
            if path.is_empty() || path.ends_with('/') {
                format!("{path}index.html")
            } else {
                path.to_string()
            }
        })
        .collect();
    assert_eq!(reached, expected, "every file is reached by a link");
    assert!(fragments.iter().any(|(_, f)| f == "item-3"));
    for (url, fragment) in &fragments {
        let (_, body) = fetch(url);
        assert!(
            body.contains(&format!("id=\"{fragment}\"")),
            "{url}: no element #{fragment}"
        );
    }

    // The link in the messages (no trailing slash) leads to the page on such a host.
    let redirected = client.get(format!("{base}/210")).send().unwrap();
    assert_eq!(redirected.status().as_u16(), 301);
    let index = std::fs::read_to_string(dir.join("210/index.html")).unwrap();
    assert!(index.contains(&format!("<link rel=\"canonical\" href=\"{base}/210/\">")));
    // The form posts to mailroom serve, which a static host is not.
    assert!(index.contains(&format!(
        "action=\"{}/subscribe\"",
        app.base_url().trim_end_matches('/')
    )));

    // A folder that holds something else is left alone without --force; with it, the
    // export replaces a previous one.
    let other = site.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let err = app.fails(&["archive", "export", other.to_str().unwrap()]);
    assert!(
        err.contains(other.to_str().unwrap()) && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
    let err = app.fails(&["archive", "export", "x", "--base-url", "ftp://example.org"]);
    assert!(err.contains("--base-url"), "{err}");
    std::fs::write(dir.join("stale.html"), "old").unwrap();
    app.ok(&[
        "archive",
        "export",
        dir.to_str().unwrap(),
        "--base-url",
        &base,
        "--force",
    ]);
    assert!(!dir.join("stale.html").exists());
    assert!(dir.join("210/index.html").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(site.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_reader_in_chromium_follows_the_links_and_the_pages_pass_axe() {
    let app = spawn_app();
    sent(&app, &[209, 210]);
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("archive-screenshots");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = std::process::Command::new("node")
        .arg(repo_path("tests/browser/archive.mjs"))
        .arg(&artifacts)
        .arg(format!("{}/archive", app.base))
        .arg("reader@example.org")
        .env("CHROMIUM", chromium())
        .output()
        .expect("node is installed (.ci/run installs the browser test's packages)");
    assert!(
        out.status.success(),
        "browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for width in ["390", "1280"] {
        let at = &report["widths"][width];
        assert_eq!(at["index"]["status"], 200, "{width}");
        assert_eq!(at["index"]["heading"], "Deep Learning Weekly: all issues");
        assert_eq!(
            at["issue"]["heading"], "Deep Learning Weekly: Issue #210",
            "{width}"
        );
        assert!(
            at["issue"]["url"]
                .as_str()
                .unwrap()
                .ends_with("/archive/210"),
            "the index links to the issue: {at}"
        );
        let w: u64 = width.parse().unwrap();
        for page in ["index", "issue"] {
            assert!(
                at[page]["scrollWidth"].as_u64() <= Some(w),
                "{page} at {width}px scrolls sideways: {at}"
            );
            assert_eq!(
                at[page]["violations"],
                serde_json::json!([]),
                "axe: serious or critical violations on the {page} page at {width}px"
            );
            assert!(at[page]["rulesPassed"].as_u64() > Some(10), "axe ran: {at}");
            assert!(artifacts.join(format!("{page}-{width}.png")).is_file());
        }
        let anchor = &at["anchor"];
        assert_eq!(anchor["hash"], "#item-3", "{width}");
        assert_eq!(anchor["target"], "item-3", "{width}");
        assert_eq!(
            anchor["inView"], true,
            "#item-3 scrolled into view at {width}: {anchor}"
        );
    }
    let form = &report["form"];
    assert_eq!(form["javaScript"], false);
    assert_eq!(form["method"], "POST");
    assert_eq!(form["status"], 200);
    assert_eq!(form["heading"], "Check your inbox");
    app.confirmations_sent();
    assert_eq!(app.subscriber_status("reader@example.org"), "pending");
}
