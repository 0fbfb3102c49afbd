//! `mailroom doctor` against a DNS server on loopback holding good and broken zones, a real
//! SMTP relay (STARTTLS and AUTH, or neither), and an HTTPS base_url.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::app::spawn_app_with;
use crate::dashboard::{sign_in, with_operator};
use crate::dkim::rsa_key;
use crate::dns_server::{DnsServer, Rr};
use crate::faults;
use crate::helpers::{
    Http, Instance, SMTP_PASSWORD, SMTP_USER, SmtpServer, TestCertificate, https_server,
};

/// The public address our mail leaves from, as the operator declares it.
const SENDING_IP: &str = "192.0.2.10";

/// Runs `doctor --json`; returns its exit code and report.
fn doctor(instance: &Instance) -> (i32, Value) {
    let out = instance.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), report)
}

/// The report's lines for one check.
fn lines<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check)
        .collect()
}

/// The one line of `check`, which must have `status`.
fn only<'a>(report: &'a Value, check: &str, status: &str) -> &'a Value {
    let found = lines(report, check);
    assert_eq!(found.len(), 1, "{check}: {report:#}");
    assert_eq!(found[0]["status"], status, "{check}: {report:#}");
    found[0]
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_string()
}

/// A zone where everything is as the providers want it, for From news@example.com,
/// envelope bounces+…@news.example.com, DKIM mr2026._domainkey.example.com.
fn good_zone(dkim_record: &str) -> Vec<(&'static str, Rr)> {
    vec![
        (
            "news.example.com",
            Rr::Txt(format!(
                "v=spf1 ip4:{SENDING_IP} include:_spf.relay.example.net -all"
            )),
        ),
        ("news.example.com", Rr::Mx(10, "mx.example.com".into())),
        (
            "_spf.relay.example.net",
            Rr::Txt("v=spf1 ip4:198.51.100.0/24 ~all".into()),
        ),
        ("mx.example.com", Rr::A(Ipv4Addr::new(192, 0, 2, 25))),
        ("mr2026._domainkey.example.com", Rr::Txt(dkim_record.into())),
        (
            "_dmarc.example.com",
            Rr::Txt("v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com".into()),
        ),
    ]
}

/// `doctor.sending_ips` as the operator declares them.
const SENDING_IPS: &str = "sending_ips = [\"192.0.2.10\", \"198.51.100.7\"]\n";

/// Where nothing listens: connection refused at once.
const NOWHERE: &str = "https://127.0.0.1:1";

/// The instance's settings for the zone: `doctor` goes into [doctor], `extra` after.
fn config(
    dns: &DnsServer,
    key_file: &std::path::Path,
    doctor: &str,
    base_url: &str,
    extra: &str,
) -> String {
    format!(
        "{}{doctor}\
         [newsletter]\nfrom_address = \"news@example.com\"\nbase_url = \"{base_url}\"\n\
         [delivery]\nbounce_domain = \"news.example.com\"\n\
         [dkim]\nselector = \"mr2026\"\nprivate_key_file = \"{}\"\n{extra}",
        dns.config(),
        key_file.display()
    )
}

#[test]
fn a_correct_setup_passes_every_check() {
    let keys = tempfile::tempdir().unwrap();
    let (_, dkim_record) = rsa_key(keys.path());
    let dns = DnsServer::start(good_zone(&dkim_record));
    let cert = TestCertificate::new();
    let relay = SmtpServer::start_tls(&cert);
    let web = https_server(&cert, |path| match path {
        "/healthz" => ("200 OK", br#"{"status":"ok"}"#.to_vec()),
        _ => ("404 Not Found", Vec::new()),
    });
    let instance = Instance::smtp_with(
        relay.port,
        &config(
            &dns,
            &keys.path().join("rsa.pem"),
            &format!("{SENDING_IPS}ca_file = \"{}\"\n", cert.ca.display()),
            &format!("https://127.0.0.1:{web}"),
            &format!(
                "[smtp]\ntls = \"starttls\"\nca_file = \"{}\"\nusername = \"{SMTP_USER}\"\npassword = \"{SMTP_PASSWORD}\"\n",
                cert.ca.display()
            ),
        ),
    );

    let (code, report) = doctor(&instance);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["status"], "pass");
    let spf = only(&report, "spf", "pass");
    assert!(text(spf, "message").contains("authorizes 192.0.2.10, 198.51.100.7"));
    let dkim = only(&report, "dkim", "pass");
    assert!(text(dkim, "message").contains("mr2026._domainkey.example.com"));
    let dmarc = only(&report, "dmarc", "pass");
    assert!(
        text(dmarc, "message").contains("p=quarantine")
            && text(dmarc, "message").contains("SPF (news.example.com) and DKIM (d=example.com)"),
        "{dmarc}"
    );
    assert!(text(only(&report, "mx", "pass"), "message").contains("mx.example.com"));
    let base = lines(&report, "base_url");
    assert_eq!(base.len(), 2);
    assert!(base.iter().all(|c| c["status"] == "pass"), "{report:#}");
    let relay_line = only(&report, "relay", "pass");
    assert!(
        text(relay_line, "message").contains("accepts STARTTLS, accepts our credentials"),
        "{relay_line}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("fix").is_none())
    );

    // The same report for people: aligned, uncoloured when not on a terminal.
    let out = instance.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(0));
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(!human.contains('\x1b'), "{human}");
    assert!(human.contains("pass     spf       "), "{human}");
    assert!(
        human.ends_with("7 passed, 0 warning(s), 0 failed\n"),
        "{human}"
    );
}

#[test]
fn a_broken_setup_fails_each_check_and_says_what_to_publish() {
    let keys = tempfile::tempdir().unwrap();
    let (_, ours) = rsa_key(keys.path());
    let other = tempfile::tempdir().unwrap();
    let (_, someone_elses) = rsa_key(other.path());
    let dns = DnsServer::start(vec![
        // SPF for another address only; a null MX; a key that is not ours; no DMARC.
        (
            "news.example.com",
            Rr::Txt("v=spf1 ip4:203.0.113.5 -all".into()),
        ),
        ("news.example.com", Rr::Mx(0, ".".into())),
        ("mr2026._domainkey.example.com", Rr::Txt(someone_elses)),
    ]);
    // A relay that offers no STARTTLS, though smtp.tls requires it.
    let (port, _) = faults::start("220 relay.test ESMTP");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let instance = Instance::smtp_with(
        port,
        &config(
            &dns,
            &keys.path().join("rsa.pem"),
            SENDING_IPS,
            &format!("http://127.0.0.1:{closed}"),
            "[smtp]\ntls = \"starttls\"\n",
        ),
    );

    let (code, report) = doctor(&instance);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["status"], "fail");
    let spf = only(&report, "spf", "fail");
    assert!(
        text(spf, "message").contains("does not authorize 192.0.2.10 (fail), 198.51.100.7 (fail)"),
        "{spf}"
    );
    assert!(
        text(spf, "fix").contains("ip4:192.0.2.10 ip4:198.51.100.7"),
        "{spf}"
    );
    let dkim = only(&report, "dkim", "fail");
    assert!(
        text(dkim, "message").contains("not the public half of the configured private key"),
        "{dkim}"
    );
    // The fix is the record to publish: our own public key.
    let our_p = ours.split("p=").nth(1).unwrap();
    assert!(text(dkim, "fix").contains(our_p), "{dkim}");
    let dmarc = only(&report, "dmarc", "fail");
    assert!(
        text(dmarc, "message").contains("no DMARC record"),
        "{dmarc}"
    );
    assert!(
        text(dmarc, "fix").contains("_dmarc.example.com: \"v=DMARC1; p=none"),
        "{dmarc}"
    );
    assert!(text(only(&report, "mx", "fail"), "message").contains("null MX"));
    let base: Vec<String> = lines(&report, "base_url")
        .iter()
        .map(|c| format!("{} {}", c["status"], c["message"]))
        .collect();
    assert_eq!(base.len(), 2, "{base:?}");
    assert!(
        base[0].contains("fail") && base[0].contains("is not https"),
        "{base:?}"
    );
    assert!(
        base[1].contains("fail") && base[1].contains("does not answer"),
        "{base:?}"
    );
    let relay = only(&report, "relay", "fail");
    assert!(
        text(relay, "message").contains("does not offer STARTTLS"),
        "{relay}"
    );
    assert!(text(relay, "fix").contains("smtp.tls"), "{relay}");

    // The operator publishes the right records; the doctor sees them at once.
    dns.set(
        "news.example.com",
        vec![
            Rr::Txt(format!("v=spf1 ip4:{SENDING_IP} ip4:198.51.100.7 -all")),
            Rr::Mx(10, "mx.example.com".into()),
        ],
    );
    dns.set("mr2026._domainkey.example.com", vec![Rr::Txt(ours)]);
    dns.set(
        "_dmarc.example.com",
        vec![Rr::Txt("v=DMARC1; p=none".into())],
    );
    let (_, report) = doctor(&instance);
    for check in ["spf", "dkim", "dmarc", "mx"] {
        only(&report, check, "pass");
    }
}

#[test]
fn spf_records_receivers_reject_are_failures() {
    let keys = tempfile::tempdir().unwrap();
    let (_, dkim_record) = rsa_key(keys.path());
    // Eleven includes: one more DNS-querying term than RFC 7208 4.6.4 allows.
    let names: Vec<String> = (0..11).map(|n| format!("s{n}.example.net")).collect();
    let includes: String = names.iter().map(|n| format!(" include:{n}")).collect();
    let mut zone = good_zone(&dkim_record);
    zone.retain(|(name, rr)| !(*name == "news.example.com" && matches!(rr, Rr::Txt(_))));
    zone.push((
        "news.example.com",
        Rr::Txt(format!("v=spf1{includes} ip4:{SENDING_IP} -all")),
    ));
    for name in &names {
        zone.push((name, Rr::Txt("v=spf1 ip4:203.0.113.0/24 ~all".into())));
    }
    let dns = DnsServer::start(zone);
    let instance = Instance::smtp_with(
        9,
        &config(&dns, &keys.path().join("rsa.pem"), SENDING_IPS, NOWHERE, ""),
    );
    let (code, report) = doctor(&instance);
    assert_eq!(code, 2, "{report:#}");
    let spf = only(&report, "spf", "fail");
    assert!(text(spf, "message").contains("permerror"), "{spf}");
    assert!(text(spf, "fix").contains("10 lookups"), "{spf}");

    // Two SPF records: receivers cannot pick one (RFC 7208 4.5).
    dns.set(
        "news.example.com",
        vec![
            Rr::Txt(format!("v=spf1 ip4:{SENDING_IP} -all")),
            Rr::Txt("v=spf1 include:relay.example.net -all".into()),
        ],
    );
    let (_, report) = doctor(&instance);
    let spf = only(&report, "spf", "fail");
    assert!(
        text(spf, "message").contains("publishes 2 SPF records"),
        "{spf}"
    );

    // None at all: the fix is a record authorizing the sending addresses.
    dns.set(
        "news.example.com",
        vec![Rr::Mx(10, "mx.example.com".into())],
    );
    let (_, report) = doctor(&instance);
    let spf = only(&report, "spf", "fail");
    assert!(
        text(spf, "message").contains("publishes no SPF record"),
        "{spf}"
    );
    assert_eq!(
        text(spf, "fix"),
        "publish TXT at news.example.com: \"v=spf1 ip4:192.0.2.10 ip4:198.51.100.7 -all\""
    );
}

#[test]
fn dmarc_alignment_follows_the_organizational_domain_of_the_public_suffix_list() {
    let keys = tempfile::tempdir().unwrap();
    let (_, dkim_record) = rsa_key(keys.path());
    // From editor@letters.example.co.uk: its organizational domain is example.co.uk (co.uk
    // is a public suffix), where the only DMARC record is. Bounces and DKIM use another
    // organization's domain: both pass, neither aligns.
    let dns = DnsServer::start(vec![
        (
            "bounce.example.net",
            Rr::Txt(format!("v=spf1 ip4:{SENDING_IP} -all")),
        ),
        ("bounce.example.net", Rr::Mx(10, "mx.example.net".into())),
        (
            "mr2026._domainkey.example.net",
            Rr::Txt(dkim_record.clone()),
        ),
        (
            "_dmarc.example.co.uk",
            Rr::Txt("v=DMARC1; p=reject; adkim=r; aspf=s".into()),
        ),
        (
            "mr2026._domainkey.example.co.uk",
            Rr::Txt(dkim_record.clone()),
        ),
        (
            "bounces.letters.example.co.uk",
            Rr::Txt(format!("v=spf1 ip4:{SENDING_IP} -all")),
        ),
        (
            "bounces.letters.example.co.uk",
            Rr::Mx(10, "mx.example.co.uk".into()),
        ),
    ]);
    let base = format!(
        "{}sending_ips = [\"{SENDING_IP}\"]\n\
         [newsletter]\nfrom_address = \"editor@letters.example.co.uk\"\nbase_url = \"{NOWHERE}\"\n\
         [dkim]\nselector = \"mr2026\"\nprivate_key_file = \"{}\"\n",
        dns.config(),
        keys.path().join("rsa.pem").display()
    );
    let instance = Instance::smtp_with(
        9,
        &format!(
            "{base}domain = \"example.net\"\n[delivery]\nbounce_domain = \"bounce.example.net\"\n"
        ),
    );
    let (_, report) = doctor(&instance);
    only(&report, "spf", "pass");
    only(&report, "dkim", "pass");
    let dmarc = only(&report, "dmarc", "fail");
    let message = text(dmarc, "message");
    assert!(
        message.contains("p=reject at _dmarc.example.co.uk"),
        "{message}"
    );
    assert!(
        message.contains("SPF passes for bounce.example.net, which does not align (strict)")
            && message.contains("DKIM verifies for d=example.net, which does not align (relaxed)"),
        "{message}"
    );

    // Signing as example.co.uk aligns relaxed with letters.example.co.uk.
    instance.reconfigure("[dkim]\ndomain = \"example.co.uk\"\n");
    let (_, report) = doctor(&instance);
    let dmarc = only(&report, "dmarc", "pass");
    assert!(
        text(dmarc, "message")
            .contains("DKIM (d=example.co.uk) aligned with letters.example.co.uk"),
        "{dmarc}"
    );

    // A bounce domain under the From domain: SPF aligns too, but strict (aspf=s) wants
    // the very domain, so only DKIM counts.
    instance.reconfigure("[delivery]\nbounce_domain = \"bounces.letters.example.co.uk\"\n");
    let (_, report) = doctor(&instance);
    let dmarc = only(&report, "dmarc", "pass");
    assert!(!text(dmarc, "message").contains("SPF ("), "{dmarc}");
}

#[test]
fn warnings_alone_exit_1() {
    let keys = tempfile::tempdir().unwrap();
    let (_, dkim_record) = rsa_key(keys.path());
    // A key in testing mode (t=y) is a warning; the relay on loopback, with no
    // sending_ips, leaves SPF unjudged: also a warning.
    let dns = DnsServer::start(good_zone(&format!("{dkim_record}; t=y")));
    let relay = SmtpServer::start();
    let cert = TestCertificate::new();
    let web = https_server(&cert, |_| ("200 OK", b"ok".to_vec()));
    let instance = Instance::smtp_with(
        relay.port,
        &config(
            &dns,
            &keys.path().join("rsa.pem"),
            &format!("ca_file = \"{}\"\n", cert.ca.display()),
            &format!("https://127.0.0.1:{web}"),
            "",
        ),
    );
    let (code, report) = doctor(&instance);
    assert_eq!(report["status"], "warn", "{report:#}");
    assert_eq!(code, 1);
    let spf = only(&report, "spf", "warn");
    assert!(text(spf, "message").contains("127.0.0.1"), "{spf}");
    assert!(text(spf, "fix").contains("doctor.sending_ips"), "{spf}");
    assert!(text(only(&report, "dkim", "warn"), "message").contains("t=y"));
    // Plain text to a relay on this machine is fine: nothing crosses a network.
    only(&report, "relay", "pass");
}

#[test]
fn a_wrong_password_is_a_relay_failure_and_a_bad_nameserver_a_config_error() {
    let keys = tempfile::tempdir().unwrap();
    let (_, dkim_record) = rsa_key(keys.path());
    let dns = DnsServer::start(good_zone(&dkim_record));
    let cert = TestCertificate::new();
    let relay = SmtpServer::start_tls(&cert);
    let instance = Instance::smtp_with(
        relay.port,
        &config(
            &dns,
            &keys.path().join("rsa.pem"),
            SENDING_IPS,
            NOWHERE,
            &format!(
                "[smtp]\ntls = \"starttls\"\nca_file = \"{}\"\nusername = \"{SMTP_USER}\"\npassword = \"not-the-password\"\n",
                cert.ca.display()
            ),
        ),
    );
    let (code, report) = doctor(&instance);
    assert_eq!(code, 2);
    let relay_line = only(&report, "relay", "fail");
    assert!(
        text(relay_line, "fix").contains("smtp.username"),
        "{relay_line}"
    );

    // A setting the doctor cannot use fails with its name, exit 2 (1 would read as
    // warnings).
    instance.reconfigure("[doctor]\nnameservers = [\"not-an-address\"]\n");
    let out = instance.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("doctor.nameservers[0]") && err.contains("not-an-address"),
        "{err}"
    );
}

#[test]
fn the_admin_api_and_the_dashboard_show_the_same_report() {
    const TOKEN: &str = "admin-token-for-tests-0123456789";
    let keys = tempfile::tempdir().unwrap();
    let (_, dkim_record) = rsa_key(keys.path());
    let dns = DnsServer::start(good_zone(&dkim_record));
    let app = with_operator(spawn_app_with(&config(
        &dns,
        &keys.path().join("rsa.pem"),
        SENDING_IPS,
        NOWHERE,
        &format!("[admin]\ntoken = \"{TOKEN}\"\n"),
    )));

    let reply = app.admin("GET", "/api/doctor", TOKEN, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let report: Value = serde_json::from_str(&reply.body).unwrap();
    only(&report, "dkim", "pass");
    only(&report, "mx", "pass");
    // The test app writes to its outbox: SPF is not evaluated, and DMARC rests on DKIM.
    only(&report, "spf", "warn");
    only(&report, "relay", "warn");
    assert!(text(only(&report, "dmarc", "pass"), "message").contains("DKIM (d=example.com)"));
    // base_url is https but nothing answers there.
    assert_eq!(report["status"], "fail");
    assert_eq!(
        app.admin("GET", "/api/doctor", "wrong-token", None).status,
        401
    );

    let page = sign_in(&app).get("/admin/setup");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("mr2026._domainkey.example.com publishes the public half of our rsa key"),
        "{}",
        page.body
    );
    // Worst first: what needs changing leads the table.
    let first_fail = page.body.find("<td>fail</td>").expect("a failing check");
    let first_pass = page.body.find("<td>pass</td>").expect("a passing check");
    assert!(first_fail < first_pass);
    assert!(page.body.contains("aria-current=\"page\">Setup</a>"));
}
