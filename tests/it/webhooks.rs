//! ESP webhooks against the app and a real SQLite file: each provider's
//! authentication, replays, complaints, and "delivered" never undoing a bounce. Requests
//! are signed here with keys made for the test; SNS certificates come from a local HTTPS
//! server trusted through a test CA.

use std::io::Write;
use std::sync::{Arc, Mutex};

use data_encoding::{BASE64, HEXLOWER};
use hmac::{Hmac, Mac};
use mailroom::token::TokenKeys;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::app::{TestApp, spawn_app_with};
use crate::helpers::{Http, Reply, Sql, TOKEN_KEY, TestCertificate, https_server};

const LIST: &str = "email,name\nkim@example.org,Kim\nlee@example.org,Lee\nsam@example.org,Sam\n";

fn setup(config: &str) -> TestApp {
    let app = spawn_app_with(config);
    app.queue_sample(LIST);
    app
}

type Headers = Vec<(&'static str, String)>;

fn post(app: &TestApp, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .post(format!("{}{path}", app.base))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().expect("HTTP request");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().unwrap_or_default(),
    }
}

fn soft_bounces(i: &impl Sql, email: &str) -> i64 {
    i.query_scalar(&format!(
        "SELECT soft_bounces FROM subscribers WHERE email = '{email}'"
    ))
}

/// Events of a kind caused by a provider's webhook.
fn events(i: &impl Sql, kind: &str, provider: &str) -> i64 {
    i.query_scalar(&format!(
        "SELECT count(*) FROM events WHERE kind = '{kind}' AND source = 'webhook:{provider}'"
    ))
}

fn delivery_id(i: &impl Sql, email: &str) -> i64 {
    i.query_scalar(&format!(
        "SELECT d.id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE s.email = '{email}'"
    ))
}

/// The Message-ID mailroom writes for the subscriber's delivery of issue 210.
fn message_id(i: &impl Sql, email: &str) -> String {
    let nonce = i.query_text(&format!(
        "SELECT nonce FROM deliveries WHERE id = {}",
        delivery_id(i, email)
    ));
    format!(
        "210.{}.{nonce}@newsletter.example.org",
        delivery_id(i, email)
    )
}

fn verp(i: &impl Sql, email: &str) -> String {
    let keys = TokenKeys::new(TOKEN_KEY, &[]).unwrap();
    format!(
        "bounces+{}@newsletter.example.org",
        keys.bounce(delivery_id(i, email))
    )
}

fn json_body(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("JSON reply: {reply:?}"))
}

// ---------------------------------------------------------------------------------------
// Postmark

const PM_USER: &str = "postmark";
const PM_PASSWORD: &str = "webhook-password-0123456789";

fn postmark_config() -> String {
    format!("[webhooks.postmark]\nusername = \"{PM_USER}\"\npassword = \"{PM_PASSWORD}\"\n")
}

fn basic(user: &str, password: &str) -> Vec<(&'static str, String)> {
    let pair = BASE64.encode(format!("{user}:{password}").as_bytes());
    vec![("Authorization", format!("Basic {pair}"))]
}

fn postmark_bounce(id: u64, kind: &str, email: &str) -> Vec<u8> {
    json!({
        "RecordType": "Bounce", "ID": id, "Type": kind, "TypeCode": 1, "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Metadata": {},
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email, "BouncedAt": "2026-11-27T16:33:54.9070259Z", "Inactive": true,
    })
    .to_string()
    .into_bytes()
}

#[test]
fn postmark_hard_bounce_suppresses_once_and_a_replay_changes_nothing() {
    let app = setup(&postmark_config());
    let body = postmark_bounce(4323372036854775807, "HardBounce", "kim@example.org");
    let first = post(
        &app,
        "/webhooks/postmark",
        &basic(PM_USER, PM_PASSWORD),
        &body,
    );
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(json_body(&first)["changed"], 1);
    assert_eq!(app.subscriber_status("kim@example.org"), "bounced");
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE email = 'kim@example.org' AND bounced_at IS NOT NULL"),
        1
    );
    let again = post(
        &app,
        "/webhooks/postmark",
        &basic(PM_USER, PM_PASSWORD),
        &body,
    );
    assert_eq!(again.status, 200, "a replay is acknowledged");
    assert_eq!(json_body(&again)["duplicates"], 1);
    assert_eq!(events(&app, "bounced", "postmark"), 1, "one event, not two");
    let detail = app.query_text(
        "SELECT detail FROM events WHERE kind = 'bounced' AND source = 'webhook:postmark'",
    );
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["reason"], "userunknown");
    assert_eq!(detail["class"], "hard");
}

#[test]
fn postmark_refuses_wrong_or_missing_credentials_and_changes_nothing() {
    let app = setup(&postmark_config());
    let body = postmark_bounce(1, "HardBounce", "kim@example.org");
    for (headers, what) in [
        (
            basic(PM_USER, "wrong-password-0123456789"),
            "wrong password",
        ),
        (basic("someone", PM_PASSWORD), "wrong user"),
        (vec![], "no credentials"),
        (vec![("Authorization", "Basic !!!".to_string())], "garbage"),
    ] {
        let reply = post(&app, "/webhooks/postmark", &headers, &body);
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
        assert!(reply.headers.contains_key("www-authenticate"), "{what}");
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    let malformed = post(
        &app,
        "/webhooks/postmark",
        &basic(PM_USER, PM_PASSWORD),
        b"{\"RecordType\": ",
    );
    assert_eq!(malformed.status, 400, "malformed JSON: {malformed:?}");
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM webhook_events"),
        0,
        "nothing recorded"
    );
}

#[test]
fn postmark_complaint_delivery_after_bounce_and_strangers() {
    let app = setup(&postmark_config());
    let auth = basic(PM_USER, PM_PASSWORD);
    let complaint = json!({
        "RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint",
        "Email": "lee@example.org", "MessageID": "00000000-0000-0000-0000-000000000000",
    });
    let reply = post(
        &app,
        "/webhooks/postmark",
        &auth,
        complaint.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(app.subscriber_status("lee@example.org"), "complained");
    assert_eq!(events(&app, "complained", "postmark"), 1);

    post(
        &app,
        "/webhooks/postmark",
        &auth,
        &postmark_bounce(7, "HardBounce", "kim@example.org"),
    );
    let delivered = json!({
        "RecordType": "Delivery", "MessageID": "1", "Recipient": "kim@example.org",
        "DeliveredAt": "2026-11-27T17:00:00Z", "Details": "250 2.0.0 OK",
    });
    let reply = post(
        &app,
        "/webhooks/postmark",
        &auth,
        delivered.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        app.subscriber_status("kim@example.org"),
        "bounced",
        "delivered never undoes a bounce"
    );

    let soft = post(
        &app,
        "/webhooks/postmark",
        &auth,
        &postmark_bounce(8, "SoftBounce", "sam@example.org"),
    );
    assert_eq!(soft.status, 200);
    assert_eq!(app.subscriber_status("sam@example.org"), "active");
    assert_eq!(soft_bounces(&app, "sam@example.org"), 1);

    let stranger = post(
        &app,
        "/webhooks/postmark",
        &auth,
        &postmark_bounce(9, "HardBounce", "stranger@example.net"),
    );
    assert_eq!(json_body(&stranger)["unknown"], 1);
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE email = 'stranger@example.net'"),
        0,
        "an address not on the list is never added"
    );
}

#[test]
fn unknown_and_unconfigured_providers_are_not_found() {
    let app = setup("");
    for path in [
        "/webhooks/postmark",
        "/webhooks/sendgrid",
        "/webhooks/mailgun",
        "/webhooks/ses",
        "/webhooks/sparkpost",
    ] {
        let reply = post(&app, path, &[], b"{}");
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
}

#[test]
fn oversized_bodies_are_refused() {
    let app = setup(&format!(
        "[webhooks]\nmax_body_bytes = 2048\n{}",
        postmark_config()
    ));
    let mut body = postmark_bounce(1, "HardBounce", "kim@example.org");
    body.splice(
        1..1,
        format!("\"Padding\": \"{}\", ", "x".repeat(4096)).into_bytes(),
    );
    let reply = post(
        &app,
        "/webhooks/postmark",
        &basic(PM_USER, PM_PASSWORD),
        &body,
    );
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
}

#[test]
fn webhooks_have_a_per_client_limit_of_their_own() {
    let app = setup(&format!(
        "[http]\npublic_rate_per_second = 1\npublic_burst = 1\n\
         [webhooks]\nrate_per_second = 1\nburst = 3\n{}",
        postmark_config()
    ));
    let bounce = postmark_bounce(1, "HardBounce", "kim@example.org");
    let replies: Vec<Reply> = (0..20)
        .map(|_| {
            post(
                &app,
                "/webhooks/postmark",
                &basic(PM_USER, PM_PASSWORD),
                &bounce,
            )
        })
        .collect();
    let codes: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        &codes[..3],
        &[200, 200, 200],
        "past the public pages' burst of 1, within the webhooks' own: {codes:?}"
    );
    let limited = replies
        .iter()
        .find(|r| r.status == 429)
        .unwrap_or_else(|| panic!("no 429 after the burst: {codes:?}"));
    assert!(limited.headers.contains_key("retry-after"), "{limited:?}");
    assert_eq!(app.subscriber_status("kim@example.org"), "bounced");
    assert_eq!(events(&app, "bounced", "postmark"), 1);
    assert_eq!(
        app.get("/subscribe").status,
        200,
        "the public pages' limit is a separate one"
    );
}

// ---------------------------------------------------------------------------------------
// SendGrid

struct SendgridKey {
    pair: EcdsaKeyPair,
    /// base64 DER SubjectPublicKeyInfo, as SendGrid shows it.
    public: String,
}

impl SendgridKey {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        // The fixed SPKI prefix of every P-256 key, then the point.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        Self {
            pair,
            public: BASE64.encode(&spki),
        }
    }

    fn headers(&self, timestamp: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body);
        let signature = self.pair.sign(&SystemRandom::new(), &signed).unwrap();
        vec![
            (
                "X-Twilio-Email-Event-Webhook-Signature",
                BASE64.encode(signature.as_ref()),
            ),
            (
                "X-Twilio-Email-Event-Webhook-Timestamp",
                timestamp.to_string(),
            ),
        ]
    }
}

fn sendgrid_setup() -> (TestApp, SendgridKey) {
    let key = SendgridKey::new();
    let app = setup(&format!(
        "[webhooks.sendgrid]\npublic_key = \"{}\"\n",
        key.public
    ));
    (app, key)
}

#[test]
fn sendgrid_signed_batch_bounces_complains_and_replays_harmlessly() {
    let (app, key) = sendgrid_setup();
    let batch = json!([
        {"email": "kim@example.org", "timestamp": 1795000000, "smtp-id": format!("<{}>", message_id(&app, "kim@example.org")),
         "event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 The email account does not exist",
         "sg_event_id": "ev-bounce-1", "sg_message_id": "sg.1"},
        {"email": "lee@example.org", "timestamp": 1795000000, "event": "spamreport",
         "smtp-id": format!("<{}>", message_id(&app, "lee@example.org")),
         "sg_event_id": "ev-spam-1", "sg_message_id": "sg.2"},
        {"email": "sam@example.org", "timestamp": 1795000000, "event": "delivered", "response": "250 OK",
         "sg_event_id": "ev-delivered-1", "sg_message_id": "sg.3"},
        {"email": "sam@example.org", "timestamp": 1795000000, "event": "open", "sg_event_id": "ev-open-1"},
    ])
    .to_string();
    let headers = key.headers(&now().to_string(), batch.as_bytes());
    let reply = post(&app, "/webhooks/sendgrid", &headers, batch.as_bytes());
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(app.subscriber_status("kim@example.org"), "bounced");
    assert_eq!(app.subscriber_status("lee@example.org"), "complained");
    assert_eq!(app.subscriber_status("sam@example.org"), "active");
    let bounced_event = app.query_scalar(&format!(
        "SELECT count(*) FROM events WHERE kind = 'bounced' AND delivery_id = {}",
        delivery_id(&app, "kim@example.org")
    ));
    assert_eq!(
        bounced_event, 1,
        "the event names the delivery, found by its Message-ID"
    );

    let replay = post(&app, "/webhooks/sendgrid", &headers, batch.as_bytes());
    assert_eq!(replay.status, 200);
    assert_eq!(events(&app, "bounced", "sendgrid"), 1);
    assert_eq!(events(&app, "complained", "sendgrid"), 1);
    assert_eq!(
        app.query_scalar("SELECT complaints FROM sends"),
        1,
        "the send's complaint counter moved once"
    );

    let delivered =
        json!([{"email": "kim@example.org", "event": "delivered", "sg_event_id": "ev-delivered-2",
                            "smtp-id": format!("<{}>", message_id(&app, "kim@example.org"))}])
        .to_string();
    let reply = post(
        &app,
        "/webhooks/sendgrid",
        &key.headers(&now().to_string(), delivered.as_bytes()),
        delivered.as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        app.subscriber_status("kim@example.org"),
        "bounced",
        "delivered never undoes a bounce"
    );
}

#[test]
fn sendgrid_bad_signatures_are_refused_and_change_nothing() {
    let (app, key) = sendgrid_setup();
    let batch = json!([{"email": "kim@example.org", "event": "bounce", "type": "bounce",
                        "status": "5.1.1", "reason": "user unknown", "sg_event_id": "ev-1"}])
    .to_string();
    let good = key.headers(&now().to_string(), batch.as_bytes());
    let tampered = batch.replace("kim@", "lee@");
    let other_key = SendgridKey::new().headers(&now().to_string(), batch.as_bytes());
    let cases: Vec<(&str, Headers, &str)> = vec![
        ("altered body", good.clone(), tampered.as_str()),
        ("another key", other_key, batch.as_str()),
        (
            "altered timestamp",
            vec![
                good[0].clone(),
                (
                    "X-Twilio-Email-Event-Webhook-Timestamp",
                    (now() + 1).to_string(),
                ),
            ],
            batch.as_str(),
        ),
        ("no signature", vec![], batch.as_str()),
        (
            "garbage signature",
            vec![
                ("X-Twilio-Email-Event-Webhook-Signature", "***".into()),
                good[1].clone(),
            ],
            batch.as_str(),
        ),
    ];
    for (what, headers, body) in cases {
        let reply = post(&app, "/webhooks/sendgrid", &headers, body.as_bytes());
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(app.subscriber_status("lee@example.org"), "active");
    let not_json = b"[{\"event\":";
    let reply = post(
        &app,
        "/webhooks/sendgrid",
        &key.headers(&now().to_string(), not_json),
        not_json,
    );
    assert_eq!(reply.status, 400, "signed but malformed: {reply:?}");
}

#[test]
fn sendgrid_stale_timestamps_are_refused_and_change_nothing() {
    let (app, key) = sendgrid_setup();
    let batch = json!([{"email": "kim@example.org", "event": "bounce", "type": "bounce",
                        "status": "5.1.1", "reason": "user unknown", "sg_event_id": "ev-1",
                        "smtp-id": format!("<{}>", message_id(&app, "kim@example.org"))}])
    .to_string();
    // Each correctly signed: only the timestamp's age can refuse them.
    for (what, timestamp) in [
        ("an hour old", (now() - 3600).to_string()),
        ("from 2001", "1000000000".to_string()),
        ("an hour ahead", (now() + 3600).to_string()),
        ("not a number", "yesterday".to_string()),
    ] {
        let headers = key.headers(&timestamp, batch.as_bytes());
        let reply = post(&app, "/webhooks/sendgrid", &headers, batch.as_bytes());
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
    }
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(app.query_scalar("SELECT count(*) FROM webhook_events"), 0);
    assert_eq!(events(&app, "bounced", "sendgrid"), 0);

    let fresh = key.headers(&(now() - 60).to_string(), batch.as_bytes());
    let reply = post(&app, "/webhooks/sendgrid", &fresh, batch.as_bytes());
    assert_eq!(
        reply.status, 200,
        "a minute old is within max_age: {reply:?}"
    );
    assert_eq!(app.subscriber_status("kim@example.org"), "bounced");
}

#[test]
fn sendgrid_forged_message_id_does_not_reach_the_delivery() {
    let (app, key) = sendgrid_setup();
    // Kim's delivery id with a made-up nonce, for an address that is not on the list.
    let forged = format!(
        "<210.{}.0000000000000000@newsletter.example.org>",
        delivery_id(&app, "kim@example.org")
    );
    let batch = json!([{"email": "nobody@example.net", "event": "bounce", "type": "bounce",
                        "status": "5.1.1", "smtp-id": forged, "sg_event_id": "ev-forged"}])
    .to_string();
    let reply = post(
        &app,
        "/webhooks/sendgrid",
        &key.headers(&now().to_string(), batch.as_bytes()),
        batch.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(json_body(&reply)["unknown"], 1);
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
}

// ---------------------------------------------------------------------------------------
// Mailgun

const MG_KEY: &str = "key-mailgun-signing-0123456789";

fn mailgun_setup() -> TestApp {
    setup(&format!("[webhooks.mailgun]\nsigning_key = \"{MG_KEY}\"\n"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn mailgun(timestamp: i64, token: &str, key: &str, event: Value) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{timestamp}{token}").as_bytes());
    let signature = HEXLOWER.encode(&mac.finalize().into_bytes());
    json!({
        "signature": {"timestamp": timestamp.to_string(), "token": token, "signature": signature},
        "event-data": event,
    })
    .to_string()
    .into_bytes()
}

fn mailgun_failed(app: &impl Sql, email: &str, id: &str, severity: &str) -> Value {
    json!({
        "event": "failed", "severity": severity, "id": id, "recipient": email,
        "reason": "bounce", "timestamp": 1795000000.5,
        "message": {"headers": {"message-id": message_id(app, email), "to": email}},
        "delivery-status": {"code": 550, "message": "5.1.1 The email account that you tried to reach does not exist",
                            "enhanced-code": "5.1.1", "description": ""},
    })
}

#[test]
fn mailgun_signed_failure_bounces_and_tokens_are_single_use() {
    let app = mailgun_setup();
    let body = mailgun(
        now(),
        "token-1-abcdefghijklmnopqrstuvwxyz0123456789",
        MG_KEY,
        mailgun_failed(&app, "kim@example.org", "ev-1", "permanent"),
    );
    let reply = post(&app, "/webhooks/mailgun", &[], &body);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(app.subscriber_status("kim@example.org"), "bounced");
    let again = post(&app, "/webhooks/mailgun", &[], &body);
    assert_eq!(again.status, 200);
    assert_eq!(json_body(&again)["duplicates"], 1);
    assert_eq!(events(&app, "bounced", "mailgun"), 1);

    // The signature covers only timestamp and token: a captured one with another event
    // inside must not work.
    let swapped = {
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        v["event-data"] =
            json!({"event": "complained", "id": "ev-2", "recipient": "lee@example.org"});
        v.to_string()
    };
    let reply = post(&app, "/webhooks/mailgun", &[], swapped.as_bytes());
    assert_eq!(reply.status, 200);
    assert_eq!(
        app.subscriber_status("lee@example.org"),
        "active",
        "a replayed token applies nothing"
    );

    let complaint = mailgun(
        now(),
        "token-2",
        MG_KEY,
        json!({"event": "complained", "id": "ev-3", "recipient": "lee@example.org"}),
    );
    assert_eq!(post(&app, "/webhooks/mailgun", &[], &complaint).status, 200);
    assert_eq!(app.subscriber_status("lee@example.org"), "complained");

    let temporary = mailgun(
        now(),
        "token-3",
        MG_KEY,
        mailgun_failed(&app, "sam@example.org", "ev-4", "temporary"),
    );
    assert_eq!(post(&app, "/webhooks/mailgun", &[], &temporary).status, 200);
    assert_eq!(
        (
            app.subscriber_status("sam@example.org").as_str(),
            soft_bounces(&app, "sam@example.org")
        ),
        ("active", 1)
    );

    let delivered = mailgun(
        now(),
        "token-4",
        MG_KEY,
        json!({"event": "delivered", "id": "ev-5", "recipient": "kim@example.org",
        "message": {"headers": {"message-id": message_id(&app, "kim@example.org")}}}),
    );
    assert_eq!(post(&app, "/webhooks/mailgun", &[], &delivered).status, 200);
    assert_eq!(
        app.subscriber_status("kim@example.org"),
        "bounced",
        "delivered never undoes a bounce"
    );
}

#[test]
fn mailgun_bad_or_stale_signatures_are_refused() {
    let app = mailgun_setup();
    let event = mailgun_failed(&app, "kim@example.org", "ev-1", "permanent");
    for (what, body) in [
        (
            "wrong key",
            mailgun(now(), "t1", "another-signing-key-012345678", event.clone()),
        ),
        ("stale", mailgun(now() - 3600, "t2", MG_KEY, event.clone())),
        (
            "from the future",
            mailgun(now() + 3600, "t3", MG_KEY, event.clone()),
        ),
        (
            "no signature",
            json!({"event-data": event}).to_string().into_bytes(),
        ),
    ] {
        let reply = post(&app, "/webhooks/mailgun", &[], &body);
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
    }
    assert_eq!(
        post(&app, "/webhooks/mailgun", &[], b"not json").status,
        400
    );
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(app.query_scalar("SELECT count(*) FROM webhook_events"), 0);
}

// ---------------------------------------------------------------------------------------
// Amazon SES through SNS

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ses-bounces";
const CERT_PATH: &str = "/SimpleNotificationService-0123456789abcdef.pem";

/// A tiny HTTPS server: serves the signing certificate at CERT_PATH, 404 for other `.pem`
/// paths and 200 to anything else (the SubscribeURL), recording each request's path.
struct SnsHost {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl SnsHost {
    fn start(tls: &TestCertificate) -> Self {
        let cert_pem = std::fs::read(&tls.cert).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let port = https_server(tls, move |path| {
            seen.lock().unwrap().push(path.to_string());
            if path == CERT_PATH {
                ("200 OK", cert_pem.clone())
            } else if path.ends_with(".pem") {
                ("404 Not Found", b"no such certificate".to_vec())
            } else {
                ("200 OK", b"<ConfirmSubscriptionResponse/>".to_vec())
            }
        });
        Self { port, requests }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

struct Sns {
    tls: TestCertificate,
    host: SnsHost,
    key: RsaKeyPair,
}

impl Sns {
    fn new() -> Self {
        let tls = TestCertificate::new();
        let host = SnsHost::start(&tls);
        let pkcs8 = PrivatePkcs8KeyDer::from_pem_file(&tls.key).expect("openssl writes PKCS#8");
        let key = RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).unwrap();
        Self { tls, host, key }
    }

    fn config(&self) -> String {
        format!(
            "[webhooks.ses]\ntopic_arns = [\"{TOPIC}\"]\ncert_hosts = [\"127.0.0.1:{}\"]\nca_file = \"{}\"\n",
            self.host.port,
            self.tls.ca.display()
        )
    }

    /// An SNS message, signed as SNS signs it (version "1": SHA1, "2": SHA256).
    fn message(&self, fields: Value, version: &str) -> Value {
        let mut m = fields;
        m["SignatureVersion"] = version.into();
        if m.get("SigningCertURL").is_none() {
            m["SigningCertURL"] = self.host.url("127.0.0.1", CERT_PATH).into();
        }
        let names: &[&str] = if m["Type"] == "Notification" {
            &[
                "Message",
                "MessageId",
                "Subject",
                "Timestamp",
                "TopicArn",
                "Type",
            ]
        } else {
            &[
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
        };
        let mut signed = String::new();
        for name in names {
            if let Some(value) = m[*name].as_str() {
                signed.push_str(&format!("{name}\n{value}\n"));
            }
        }
        let sig = if version == "1" {
            // ring signs no SHA-1; openssl still does.
            openssl_sha1_sign(&self.tls.key, signed.as_bytes())
        } else {
            let mut sig = vec![0u8; self.key.public().modulus_len()];
            self.key
                .sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    signed.as_bytes(),
                    &mut sig,
                )
                .unwrap();
            sig
        };
        m["Signature"] = BASE64.encode(&sig).into();
        m
    }

    fn notification(&self, id: &str, ses: Value, version: &str) -> Value {
        self.message(
            json!({"Type": "Notification", "MessageId": id, "TopicArn": TOPIC,
                   "Message": ses.to_string(), "Timestamp": "2026-11-27T10:00:00.000Z",
                   "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"}),
            version,
        )
    }
}

fn openssl_sha1_sign(key: &std::path::Path, data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha1", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -sign");
    out.stdout
}

fn ses_bounce(app: &impl Sql, email: &str, bounce_type: &str) -> Value {
    json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": "General", "feedbackId": "fb-1",
                   "timestamp": "2026-11-27T10:00:00.000Z",
                   "bouncedRecipients": [{"emailAddress": email, "action": "failed", "status": "5.1.1",
                                          "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
        "mail": {"timestamp": "2026-11-27T09:59:00.000Z", "messageId": "0102018c-ses-id",
                 "source": verp(app, email), "destination": [email],
                 "commonHeaders": {"messageId": "<0102018c-ses-id@eu-west-1.amazonses.com>"}},
    })
}

fn send(app: &TestApp, message: &Value) -> Reply {
    post(
        app,
        "/webhooks/ses",
        &[(
            "x-amz-sns-message-type",
            message["Type"].as_str().unwrap_or_default().to_string(),
        )],
        message.to_string().as_bytes(),
    )
}

#[test]
fn ses_bounce_and_complaint_signed_by_sns_apply_once() {
    let sns = Sns::new();
    let app = setup(&sns.config());
    let bounce = sns.notification(
        "sns-1",
        ses_bounce(&app, "kim@example.org", "Permanent"),
        "1",
    );
    let reply = send(&app, &bounce);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        app.subscriber_status("kim@example.org"),
        "bounced",
        "matched by the VERP sender"
    );
    let replay = send(&app, &bounce);
    assert_eq!(replay.status, 200);
    assert_eq!(
        events(&app, "bounced", "ses"),
        1,
        "a replay changes nothing"
    );

    let complaint = json!({
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "lee@example.org"}],
                      "complaintFeedbackType": "abuse", "feedbackId": "fb-2"},
        "mail": {"messageId": "ses-2", "source": "newsletter@newsletter.example.org",
                 "headers": [{"name": "Message-ID", "value": format!("<{}>", message_id(&app, "lee@example.org"))}]},
    });
    let reply = send(&app, &sns.notification("sns-2", complaint, "2"));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        app.subscriber_status("lee@example.org"),
        "complained",
        "matched by our Message-ID"
    );

    let transient = sns.notification(
        "sns-3",
        ses_bounce(&app, "sam@example.org", "Transient"),
        "2",
    );
    assert_eq!(send(&app, &transient).status, 200);
    assert_eq!(
        (
            app.subscriber_status("sam@example.org").as_str(),
            soft_bounces(&app, "sam@example.org")
        ),
        ("active", 1)
    );

    let delivered = json!({
        "notificationType": "Delivery",
        "delivery": {"recipients": ["kim@example.org"], "smtpResponse": "250 2.0.0 OK"},
        "mail": {"messageId": "ses-4", "source": verp(&app, "kim@example.org")},
    });
    assert_eq!(
        send(&app, &sns.notification("sns-4", delivered, "2")).status,
        200
    );
    assert_eq!(
        app.subscriber_status("kim@example.org"),
        "bounced",
        "delivered never undoes a bounce"
    );

    let cert_fetches = sns
        .host
        .requests()
        .iter()
        .filter(|p| *p == CERT_PATH)
        .count();
    assert_eq!(
        cert_fetches, 1,
        "the certificate is fetched once and cached"
    );
}

#[test]
fn ses_refuses_bad_signatures_foreign_topics_and_certificates_off_the_allowed_hosts() {
    let sns = Sns::new();
    let app = setup(&sns.config());
    let bounce = |_: &str| ses_bounce(&app, "kim@example.org", "Permanent").to_string();

    let mut tampered = sns.notification("sns-1", serde_json::from_str(&bounce("a")).unwrap(), "2");
    tampered["Message"] = tampered["Message"]
        .as_str()
        .unwrap()
        .replace("kim@", "lee@")
        .into();
    assert_eq!(send(&app, &tampered).status, 401, "altered message");

    let mut wrong_version =
        sns.notification("sns-2", serde_json::from_str(&bounce("b")).unwrap(), "1");
    wrong_version["SignatureVersion"] = "2".into();
    assert_eq!(
        send(&app, &wrong_version).status,
        401,
        "SHA1 signature presented as SHA256"
    );

    let foreign = sns.message(
        json!({"Type": "Notification", "MessageId": "sns-3", "TopicArn": "arn:aws:sns:eu-west-1:999999999999:theirs",
               "Message": bounce("c"), "Timestamp": "2026-11-27T10:00:00.000Z"}),
        "2",
    );
    assert_eq!(send(&app, &foreign).status, 401, "a topic not configured");

    for (what, url) in [
        (
            "host outside the pattern",
            sns.host.url("localhost", CERT_PATH),
        ),
        (
            "plain http",
            sns.host
                .url("127.0.0.1", CERT_PATH)
                .replace("https:", "http:"),
        ),
        (
            "not a certificate path",
            sns.host.url("127.0.0.1", "/other?x=.pem"),
        ),
    ] {
        let message = sns.message(
            json!({"Type": "Notification", "MessageId": "sns-4", "TopicArn": TOPIC, "Message": bounce("d"),
                   "Timestamp": "2026-11-27T10:00:00.000Z", "SigningCertURL": url}),
            "2",
        );
        assert_eq!(send(&app, &message).status, 401, "{what}");
    }
    // The same server answers on every name: a refused URL fetched would show up here.
    assert_eq!(
        sns.host.requests(),
        vec![CERT_PATH.to_string()],
        "only the allowed certificate URL was fetched (once, for the signature checks)"
    );
    assert_eq!(
        send(&app, &json!({"Type": "Notification"})).status,
        400,
        "not an SNS message"
    );
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(app.subscriber_status("lee@example.org"), "active");
}

#[test]
fn ses_certificate_fetch_failures_are_remembered_so_forgeries_cannot_make_us_fetch() {
    let sns = Sns::new();
    let app = setup(&sns.config());
    let missing = "/SimpleNotificationService-missing.pem";
    let forged = |id: &str| {
        let mut message = sns.message(
            json!({"Type": "Notification", "MessageId": id, "TopicArn": TOPIC,
                   "Message": ses_bounce(&app, "kim@example.org", "Permanent").to_string(),
                   "Timestamp": "2026-11-27T10:00:00.000Z",
                   "SigningCertURL": sns.host.url("127.0.0.1", missing)}),
            "2",
        );
        message["Signature"] = BASE64.encode(&[7u8; 256]).into();
        message
    };
    for id in ["sns-1", "sns-2", "sns-3"] {
        let reply = send(&app, &forged(id));
        assert_eq!(
            reply.status, 503,
            "{id}: the certificate is unavailable: {reply:?}"
        );
    }
    let fetches = sns.host.requests().iter().filter(|p| *p == missing).count();
    assert_eq!(fetches, 1, "a failed fetch is remembered, not repeated");
    assert_eq!(app.subscriber_status("kim@example.org"), "active");
    assert_eq!(app.query_scalar("SELECT count(*) FROM webhook_events"), 0);

    // The genuine certificate URL is a different entry, fetched as usual.
    let genuine = sns.notification(
        "sns-4",
        ses_bounce(&app, "kim@example.org", "Permanent"),
        "2",
    );
    assert_eq!(send(&app, &genuine).status, 200);
    assert_eq!(app.subscriber_status("kim@example.org"), "bounced");
}

#[test]
fn ses_subscription_is_confirmed_on_the_allowed_host_only() {
    let sns = Sns::new();
    let app = setup(&sns.config());
    let confirmation = |url: String| {
        sns.message(
            json!({"Type": "SubscriptionConfirmation", "MessageId": "sns-c", "TopicArn": TOPIC, "Token": "tok-123",
                   "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
                   "SubscribeURL": url, "Timestamp": "2026-11-27T10:00:00.000Z"}),
            "1",
        )
    };
    let off_host = confirmation(
        sns.host
            .url("localhost", "/?Action=ConfirmSubscription&Token=tok-123"),
    );
    assert_eq!(send(&app, &off_host).status, 401);
    assert!(
        sns.host
            .requests()
            .iter()
            .all(|p| !p.contains("ConfirmSubscription"))
    );

    let reply = send(
        &app,
        &confirmation(
            sns.host
                .url("127.0.0.1", "/?Action=ConfirmSubscription&Token=tok-123"),
        ),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        sns.host
            .requests()
            .contains(&"/?Action=ConfirmSubscription&Token=tok-123".to_string()),
        "SubscribeURL visited: {:?}",
        sns.host.requests()
    );
}
