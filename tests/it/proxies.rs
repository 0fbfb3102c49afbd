//! Behind a reverse proxy every request comes from the proxy's address. Only from peers
//! listed in `http.trusted_proxies` is the client's address read from the forwarding
//! header; the per-IP limit and the consent record use it.

use mailroom::token::{TokenKeys, UnsubscribeClaim};

use crate::app::{TestApp, spawn_app_with};
use crate::helpers::{Http, Instance, Sql, TOKEN_KEY};

/// `n` active subscribers r0@…r{n-1}@example.org, the sample issue queued, HTTP served.
fn setup(n: usize, http: &str) -> TestApp {
    let app = spawn_app_with(&format!("[http]\n{http}"));
    let mut csv = String::from("email\n");
    for k in 0..n {
        csv.push_str(&format!("r{k}@example.org\n"));
    }
    app.queue_sample(&csv);
    app
}

/// What a mail client posts for subscriber `k`, one-click (RFC 8058).
fn one_click(app: &TestApp, k: usize, headers: &[(&str, &str)]) -> u16 {
    let keys = TokenKeys::new(TOKEN_KEY, &[]).unwrap();
    let token = keys.unsubscribe(UnsubscribeClaim {
        subscriber_id: app.subscriber_id(&format!("r{k}@example.org")),
        issue_number: 210,
    });
    app.post_form_with(
        &format!("/u/{token}"),
        headers,
        "List-Unsubscribe=One-Click",
    )
    .status
}

/// The issue's case: 200 one-click unsubscribes through one proxy, default limits.
#[test]
fn many_clients_behind_a_trusted_proxy_are_not_limited_as_one() {
    let app = setup(200, "trusted_proxies = [\"127.0.0.1\"]\n");
    let statuses: Vec<u16> = (0..200)
        .map(|k| {
            let client = format!("203.0.113.{}", k % 250 + 1);
            let client = if k >= 100 {
                format!("2001:db8::{k:x}")
            } else {
                client
            };
            one_click(&app, k, &[("X-Forwarded-For", &client)])
        })
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'"),
        200
    );
}

#[test]
fn one_client_behind_a_trusted_proxy_is_still_limited() {
    let app = setup(
        20,
        "trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\npublic_rate_per_second = 1\npublic_burst = 3\n",
    );
    // The client forged the leftmost entry; the proxy appended the real one.
    let statuses: Vec<u16> = (0..20)
        .map(|k| {
            let forged = format!("198.51.100.{k}, 203.0.113.50");
            one_click(&app, k, &[("X-Forwarded-For", &forged)])
        })
        .collect();
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "one client, one limit: {statuses:?}"
    );
}

/// Without trusted proxies, a forwarding header is anyone's to write: it is ignored.
#[test]
fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = setup(20, "public_rate_per_second = 1\npublic_burst = 3\n");
    let reply = app.post_form_with(
        "/subscribe",
        &[
            ("X-Forwarded-For", "203.0.113.77"),
            ("Forwarded", "for=203.0.113.77"),
        ],
        "email=new%40example.org",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        app.query_text("SELECT consent_ip FROM subscribers WHERE email = 'new@example.org'"),
        "127.0.0.1"
    );
    let statuses: Vec<u16> = (0..20)
        .map(|k| {
            let claimed = format!("203.0.113.{}", k + 1);
            let forwarded = format!("for={claimed}");
            let headers = [
                ("X-Forwarded-For", claimed.as_str()),
                ("Forwarded", forwarded.as_str()),
            ];
            one_click(&app, k, &headers)
        })
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[test]
fn the_consent_record_names_the_forwarded_client() {
    let app = setup(
        1,
        "trusted_proxies = [\"127.0.0.1\"]\nclient_ip_header = \"forwarded\"\n",
    );
    let reply = app.post_form_with(
        "/subscribe",
        &[
            (
                "Forwarded",
                "for=198.51.100.9, for=\"[2001:db8:cafe::17]:4711\";proto=https",
            ),
            // Not the configured header: whoever wrote it, it is not read.
            ("X-Forwarded-For", "192.0.2.1"),
        ],
        "email=ada%40example.org&name=Ada",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        app.query_text("SELECT consent_ip FROM subscribers WHERE email = 'ada@example.org'"),
        "2001:db8:cafe::17"
    );
}

#[test]
fn a_bad_trusted_proxy_entry_is_refused_at_start() {
    let i = Instance::with_config("[http]\ntrusted_proxies = [\"10.0.0.0/40\"]\n");
    let stderr = i.fails(&["serve", "--http-only"]);
    assert!(
        stderr.contains("\"10.0.0.0/40\" is not an IP address or a CIDR block")
            && stderr.contains("trusted_proxies"),
        "{stderr}"
    );
}
