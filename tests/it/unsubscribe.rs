//! Unsubscribe over HTTP against the app and a real SQLite file.

use mailroom::token::{TokenKeys, UnsubscribeClaim};

use crate::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::{Http, Instance, Sql, TOKEN_KEY};

const LIST: &str = "email,name\nkim@example.org,Kim\nlee@example.org,Lee\n";

/// An app with the sample issue queued for LIST (delivered only when the test says so).
fn setup() -> TestApp {
    let app = spawn_app();
    app.queue_sample(LIST);
    app
}

fn token_for(i: &impl Sql, email: &str) -> String {
    let keys = TokenKeys::new(TOKEN_KEY, &[]).unwrap();
    keys.unsubscribe(UnsubscribeClaim {
        subscriber_id: i.subscriber_id(email),
        issue_number: 210,
    })
}

#[test]
fn get_and_head_show_the_page_and_change_nothing() {
    let app = setup();
    let path = format!("/u/{}", token_for(&app, "kim@example.org"));
    for _ in 0..3 {
        let page = app.get(&path);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Deep Learning Weekly"));
        assert!(
            page.body.contains("k\u{2022}\u{2022}\u{2022}@example.org"),
            "masked address"
        );
        assert!(
            !page.body.contains("kim@example.org"),
            "the address itself is not shown"
        );
        assert!(
            page.body.contains("<form method=\"post\">")
                && page.body.contains(">Unsubscribe</button>")
        );
        assert_eq!(page.headers["referrer-policy"], "no-referrer");
        assert_eq!(app.request("HEAD", &path, None, "").status, 200);
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(app.event_count("unsubscribed"), 0);
}

#[test]
fn one_click_urlencoded_unsubscribes_without_redirect_and_repeats_are_harmless() {
    let app = setup();
    let path = format!("/u/{}", token_for(&app, "kim@example.org"));
    for _ in 0..3 {
        let reply = app.post_form(&path, "List-Unsubscribe=One-Click");
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.headers.get("location").is_none(), "no redirect");
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");
    assert_eq!(
        app.subscriber_status("lee@example.org"),
        "active",
        "only the token's subscriber"
    );
    assert_eq!(app.event_count("unsubscribed"), 1, "one change, one event");
    let source =
        app.query_text("SELECT source || ' ' || detail FROM events WHERE kind = 'unsubscribed'");
    assert_eq!(source, "one-click {\"issue\":210}");
    let show = app.ok(&["subscribers", "show", "kim@example.org"]);
    assert!(show.contains("status:   unsubscribed"), "{show}");
    assert!(
        show.contains("unsubscribed  via one-click (issue #210)"),
        "{show}"
    );
}

#[test]
fn one_click_multipart_unsubscribes() {
    let app = setup();
    let path = format!("/u/{}", token_for(&app, "lee@example.org"));
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
    let reply = app.request(
        "POST",
        &path,
        Some("multipart/form-data; boundary=XyZ"),
        body,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(app.subscriber_status("lee@example.org"), "unsubscribed");

    let broken = app.request(
        "POST",
        &path,
        Some("multipart/form-data; boundary=XyZ"),
        "--XyZ\r\ngarbage",
    );
    assert_eq!(
        broken.status, 400,
        "a malformed body is refused: {broken:?}"
    );
}

#[test]
fn page_button_unsubscribes_and_the_mistake_button_resubscribes() {
    let app = setup();
    let path = format!("/u/{}", token_for(&app, "kim@example.org"));
    let done = app.post_form(&path, "action=unsubscribe");
    assert_eq!(done.status, 200);
    assert!(done.body.contains("You are unsubscribed"));
    assert!(done.body.contains("I unsubscribed by mistake"));
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");
    assert_eq!(
        app.query_text("SELECT source FROM events WHERE kind = 'unsubscribed'"),
        "page"
    );

    let back = app.post_form(&path, "action=resubscribe");
    assert_eq!(back.status, 200);
    assert!(back.body.contains("You are subscribed again"));
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(app.event_count("resubscribed"), 1);
    assert_eq!(app.post_form(&path, "action=delete-everything").status, 400);
}

#[test]
fn bounced_and_complained_stay_so() {
    let app = setup();
    app.execute("UPDATE subscribers SET status = 'bounced' WHERE email = 'kim@example.org'");
    app.execute("UPDATE subscribers SET status = 'complained' WHERE email = 'lee@example.org'");
    for email in ["kim@example.org", "lee@example.org"] {
        let path = format!("/u/{}", token_for(&app, email));
        assert!(app.get(&path).body.contains("You are not on the list"));
        assert_eq!(
            app.post_form(&path, "List-Unsubscribe=One-Click").status,
            200
        );
        assert!(
            app.post_form(&path, "action=unsubscribe")
                .body
                .contains("You are not on the list")
        );
        assert!(
            app.post_form(&path, "action=resubscribe")
                .body
                .contains("You are not on the list")
        );
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "bounced");
    assert_eq!(app.subscriber_status("lee@example.org"), "complained");
    assert_eq!(
        app.event_count("unsubscribed") + app.event_count("resubscribed"),
        0
    );
}

#[test]
fn malformed_tokens_get_one_generic_answer_and_change_nothing() {
    let app = setup();
    let good = token_for(&app, "kim@example.org");
    let other_key = TokenKeys::new("another-key-another-key-another-key-42", &[]).unwrap();
    let mut altered = good.clone().into_bytes();
    altered[20] = if altered[20] == b'a' { b'b' } else { b'a' };
    let bounce_token = TokenKeys::new(TOKEN_KEY, &[]).unwrap().bounce(1);
    let cases = [
        ("truncated", good[..good.len() - 1].to_string()),
        ("extended", format!("{good}a")),
        ("altered", String::from_utf8(altered).unwrap()),
        (
            "wrong key",
            other_key.unsubscribe(UnsubscribeClaim {
                subscriber_id: 1,
                issue_number: 210,
            }),
        ),
        ("a bounce token", bounce_token),
        ("garbage", "not-a-token".to_string()),
        ("percent-encoded junk", "%E2%80%A2%00%0A".to_string()),
        ("very long", "a".repeat(5000)),
    ];
    let reference = app.get("/u/not-a-token").body;
    for (what, token) in cases {
        let path = format!("/u/{token}");
        let get = app.get(&path);
        assert_eq!(get.status, 404, "{what}");
        assert_eq!(get.body, reference, "{what}: same page for every bad token");
        let post = app.post_form(&path, "List-Unsubscribe=One-Click");
        assert_eq!(post.status, 404, "{what}");
    }
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE status = 'active'"),
        2
    );
    assert_eq!(app.event_count("unsubscribed"), 0);
}

#[test]
fn unsubscribing_while_a_send_is_queued_stops_that_delivery() {
    let app = setup();
    let path = format!("/u/{}", token_for(&app, "kim@example.org"));
    assert_eq!(
        app.post_form(&path, "List-Unsubscribe=One-Click").status,
        200
    );
    app.deliver_all();
    let files: Vec<String> = std::fs::read_dir(app.outbox())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(files.len(), 1, "only lee receives the issue");
    assert!(files[0].contains("<lee@example.org>") && !files[0].contains("kim@example.org"));
    assert_eq!(
        app.query_scalar(&format!(
            "SELECT count(*) FROM deliveries WHERE subscriber_id = {} AND status = 'suppressed'",
            app.subscriber_id("kim@example.org")
        )),
        1
    );
}

#[test]
fn public_pages_are_rate_limited_per_client() {
    let app = spawn_app_with("[http]\npublic_rate_per_second = 1\npublic_burst = 3\n");
    app.queue_sample(LIST);
    let codes: Vec<u16> = (0..8).map(|_| app.get("/u/whatever").status).collect();
    assert_eq!(&codes[..3], &[404, 404, 404], "the burst passes: {codes:?}");
    let limited = app.get("/u/whatever");
    assert!(codes.contains(&429) || limited.status == 429, "{codes:?}");
    assert_eq!(
        app.get("/healthz").status,
        200,
        "health checks are not limited"
    );
}

/// The mailto address from the List-Unsubscribe header of a message actually delivered.
fn delivered_mailto(app: &TestApp, email: &str) -> String {
    app.deliver_all();
    for entry in std::fs::read_dir(app.outbox()).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap();
        if to == email {
            let header = msg.header_raw("List-Unsubscribe").unwrap();
            let start = header.find("<mailto:").unwrap() + "<mailto:".len();
            return header[start..].split('>').next().unwrap().to_string();
        }
    }
    panic!("no message to {email}");
}

fn reply_to(address: &str) -> String {
    format!(
        "From: Kim <kim@example.org>\r\nTo: {address}\r\nSubject: unsubscribe\r\n\
         Message-ID: <reply-1@example.org>\r\n\r\nPlease take me off the list.\r\n"
    )
}

#[test]
fn mailto_unsubscribe_from_a_file_and_from_standard_input() {
    let app = spawn_app();
    app.queue_sample(LIST);
    let kim = delivered_mailto(&app, "kim@example.org");
    assert!(
        kim.starts_with("unsubscribe+") && kim.ends_with("@newsletter.example.org"),
        "{kim}"
    );
    let file = app.write("reply.eml", reply_to(&kim).as_bytes());
    let out = app.ok(&["ingest", file.to_str().unwrap()]);
    assert!(out.starts_with("1 unsubscribed"), "{out}");
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");
    assert_eq!(
        app.query_text("SELECT source || ' ' || detail FROM events WHERE kind = 'unsubscribed'"),
        "mailto {\"issue\":210}"
    );
    assert!(
        app.ok(&["ingest", file.to_str().unwrap()])
            .starts_with("0 unsubscribed, 1 already"),
        "repeat is harmless"
    );

    // An MTA pipe: the message on stdin, the envelope recipient as an argument (here
    // case-folded by a relay, and with headers that name someone else).
    let lee = delivered_mailto(&app, "lee@example.org").to_ascii_uppercase();
    let mut child = crate::helpers::mailroom_command(app.dir.path())
        .arg("--config")
        .arg(&app.config)
        .args(["ingest", "--recipient", &lee])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        reply_to("list@example.org").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 unsubscribed"));
    assert_eq!(app.subscriber_status("lee@example.org"), "unsubscribed");
}

#[test]
fn mailto_unsubscribe_from_a_maildir_is_idempotent() {
    let app = spawn_app();
    app.queue_sample(LIST);
    let kim = delivered_mailto(&app, "kim@example.org");
    let maildir = app.dir.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let forged = format!("unsubscribe+{}@newsletter.example.org", "a".repeat(48));
    std::fs::write(maildir.join("new/1.valid"), reply_to(&kim)).unwrap();
    std::fs::write(maildir.join("new/2.forged"), reply_to(&forged)).unwrap();
    std::fs::write(
        maildir.join("new/3.other"),
        reply_to("editor@newsletter.example.org"),
    )
    .unwrap();

    let dir = maildir.to_str().unwrap();
    let out = app.ok(&["ingest", "--maildir", dir]);
    assert!(out.contains("1 unsubscribed, 0 already unsubscribed, 0 bounced/complained (unchanged), 1 invalid token(s), 1 not for mailroom"), "{out}");
    let listing = |sub: &str| {
        let mut names: Vec<String> = std::fs::read_dir(maildir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(listing("cur"), ["1.valid:2,S", "2.forged:2,S"]);
    assert_eq!(
        listing("new"),
        ["3.other"],
        "mail for other addresses is left alone"
    );
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");
    assert_eq!(app.subscriber_status("lee@example.org"), "active");

    let again = app.ok(&["ingest", "--maildir", dir]);
    assert!(again.contains("0 unsubscribed, 0 already unsubscribed, 0 bounced/complained (unchanged), 0 invalid token(s), 1 not for mailroom"), "{again}");
    assert_eq!(app.event_count("unsubscribed"), 1);
}

/// The https unsubscribe link of a received message, pointed at the running server.
fn delivered_link(received: &[crate::helpers::Received], email: &str, base: &str) -> String {
    for r in received {
        let msg = mail_parser::MessageParser::default()
            .parse(&r.data)
            .unwrap();
        if msg.to().and_then(|a| a.first()).and_then(|a| a.address()) == Some(email) {
            let header = msg.header_raw("List-Unsubscribe").unwrap();
            let start = header.find("/u/").unwrap();
            let path = header[start..].split('>').next().unwrap();
            return format!("{base}{path}");
        }
    }
    panic!("no message to {email}");
}

#[test]
fn a_subscriber_unsubscribes_in_a_real_browser() {
    let smtp = crate::helpers::SmtpServer::start();
    let app = Instance::smtp(smtp.port).spawn_app();
    app.queue_sample(LIST);
    app.deliver_all();
    let kim = delivered_link(&smtp.received(), "kim@example.org", &app.base);
    let lee = delivered_link(&smtp.received(), "lee@example.org", &app.base);
    let artifacts =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("unsubscribe-screenshots");
    std::fs::create_dir_all(&artifacts).unwrap();

    let script = crate::helpers::repo_path("tests/browser/unsubscribe.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(&artifacts)
        .args([&kim, &lee])
        .env("CHROMIUM", crate::helpers::chromium())
        .output()
        .expect("node is installed (.ci/run installs the browser test's packages)");
    assert!(
        out.status.success(),
        "browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    for (run, masked) in report.as_array().unwrap().iter().zip([
        "k\u{2022}\u{2022}\u{2022}@example.org",
        "l\u{2022}\u{2022}\u{2022}@example.org",
    ]) {
        let width = run["width"].as_u64().unwrap();
        let before = &run["before"];
        assert_eq!(before["status"], 200);
        assert_eq!(before["heading"], "Unsubscribe");
        assert!(
            before["text"].as_str().unwrap().contains(masked),
            "{width}: {before}"
        );
        assert_eq!(before["layout"]["innerWidth"].as_u64(), Some(width));
        assert!(
            before["layout"]["scrollWidth"].as_u64() <= Some(width),
            "no horizontal scroll at {width}: {before}"
        );
        let after = &run["after"];
        assert_eq!(after["method"], "POST");
        assert_eq!(after["status"], 200);
        assert_eq!(after["heading"], "You are unsubscribed");
        assert_eq!(after["mistakeButton"], 1);
        assert!(
            after["layout"]["scrollWidth"].as_u64() <= Some(width),
            "{width}: {after}"
        );
        for shot in ["unsubscribe", "unsubscribed"] {
            assert!(
                artifacts
                    .join(format!("{shot}-{width}.png"))
                    .metadata()
                    .unwrap()
                    .len()
                    > 1000
            );
        }
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");
    assert_eq!(app.subscriber_status("lee@example.org"), "unsubscribed");
    assert_eq!(
        app.query_scalar(
            "SELECT count(*) FROM events WHERE kind = 'unsubscribed' AND source = 'page'"
        ),
        2
    );
}

#[test]
fn a_thousand_concurrent_one_click_posts_all_succeed() {
    const N: usize = 1000;
    // The per-IP limit stays on; the load comes from one address, so it is raised here.
    let app = spawn_app_with("[http]\npublic_rate_per_second = 1000\npublic_burst = 1000\n");
    let csv: String = std::iter::once("email,name".to_string())
        .chain((0..N).map(|n| format!("reader{n}@example.org,Reader {n}")))
        .collect::<Vec<_>>()
        .join("\n");
    app.queue_sample(&csv);
    let keys = TokenKeys::new(TOKEN_KEY, &[]).unwrap();
    let first = app.query_scalar("SELECT min(id) FROM subscribers");
    let urls: Vec<String> = (0..N as i64)
        .map(|n| {
            let token = keys.unsubscribe(UnsubscribeClaim {
                subscriber_id: first + n,
                issue_number: 210,
            });
            format!("{}/u/{token}", app.base)
        })
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (statuses, mut latencies, elapsed) = rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(N)
            .build()
            .unwrap();
        let start = std::time::Instant::now();
        let tasks: Vec<_> = urls
            .into_iter()
            .map(|url| {
                let client = client.clone();
                tokio::spawn(async move {
                    let t = std::time::Instant::now();
                    let status = client
                        .post(url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body("List-Unsubscribe=One-Click")
                        .timeout(std::time::Duration::from_secs(60))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    (status, t.elapsed())
                })
            })
            .collect();
        let mut statuses = Vec::new();
        let mut latencies = Vec::new();
        for task in tasks {
            let (status, latency) = task.await.unwrap();
            statuses.push(status);
            latencies.push(latency);
        }
        (statuses, latencies, start.elapsed())
    });
    let errors = statuses.iter().filter(|s| **s != 200).count();
    latencies.sort();
    let p99 = latencies[N * 99 / 100];
    println!(
        "{N} concurrent one-click POSTs: {:.0} requests/s, p99 {:.1} ms, {errors} errors",
        N as f64 / elapsed.as_secs_f64(),
        p99.as_secs_f64() * 1000.0
    );
    assert_eq!(
        errors,
        0,
        "statuses other than 200: {:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'"),
        N as i64
    );
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM events WHERE kind = 'unsubscribed'"),
        N as i64
    );
}

#[test]
fn an_operator_can_unsubscribe_someone() {
    let app = spawn_app();
    app.queue_sample(LIST);
    assert!(
        app.ok(&["subscribers", "unsubscribe", "kim@example.org"])
            .contains("kim@example.org unsubscribed")
    );
    assert!(
        app.ok(&["subscribers", "unsubscribe", "kim@example.org"])
            .contains("already unsubscribed")
    );
    assert!(
        app.fails(&["subscribers", "unsubscribe", "nobody@example.org"])
            .contains("not on the list")
    );
    let show = app.ok(&["subscribers", "show", "kim@example.org"]);
    assert!(show.contains("unsubscribed  via admin"), "{show}");
    app.deliver_all();
    assert_eq!(
        std::fs::read_dir(app.outbox()).unwrap().count(),
        1,
        "only lee receives the issue"
    );
}

#[test]
fn links_in_old_mail_survive_a_key_rotation() {
    let app = spawn_app();
    app.queue_sample(LIST);
    let old_link = token_for(&app, "kim@example.org");
    let new_key = "rotated-key-rotated-key-rotated-key-2026";
    app.reconfigure(&format!(
        "[secrets]\ntoken_key = \"{new_key}\"\nprevious_token_keys = [\"{TOKEN_KEY}\"]\n"
    ));
    let app = app.restart();
    assert_eq!(
        app.post_form(&format!("/u/{old_link}"), "List-Unsubscribe=One-Click")
            .status,
        200
    );
    assert_eq!(app.subscriber_status("kim@example.org"), "unsubscribed");

    // New mail is signed with the new key.
    app.deliver_all();
    let new_keys = TokenKeys::new(new_key, &[]).unwrap();
    let raw = std::fs::read(
        std::fs::read_dir(app.outbox())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    let text = String::from_utf8_lossy(&raw);
    let start = text.find("/u/").unwrap() + 3;
    let token: String = text[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert!(
        new_keys.verify_unsubscribe(&token).is_some(),
        "new mail uses the new key"
    );
}
