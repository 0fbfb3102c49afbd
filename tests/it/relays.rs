//! Several relays: weights, failover, rest, and the TLS modes, against real SMTP servers.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::faults;
use crate::helpers::{Instance, SmtpServer, Sql, TestCertificate};

fn subscribers(n: usize) -> String {
    let mut csv = String::from("email,name\n");
    for k in 0..n {
        csv.push_str(&format!("reader{k}@example.org,\n"));
    }
    csv
}

/// A relay that is up at the TCP level but drops every session at once, counting them.
fn dropping_relay() -> (u16, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sessions = Arc::new(AtomicU32::new(0));
    let counted = sessions.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, sessions)
}

#[test]
fn traffic_is_shared_by_weight() {
    let heavy = SmtpServer::start();
    let light = SmtpServer::start();
    let app = Instance::smtp_with(
        heavy.port,
        &format!(
            "[smtp]\nweight = 3\nrelays = [{{ host = \"127.0.0.1\", port = {}, tls = \"none\", weight = 1 }}]\n",
            light.port
        ),
    )
    .spawn_app();
    app.queue_sample(&subscribers(40));
    app.deliver_all();
    assert_eq!(heavy.count(), 30);
    assert_eq!(light.count(), 10);
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent' AND attempts = 1"),
        40
    );
}

#[test]
fn a_failing_relay_is_rested_and_its_messages_go_to_the_next() {
    let (down, sessions) = dropping_relay();
    let backup = SmtpServer::start();
    let app = Instance::smtp_with(
        down,
        &format!(
            "[delivery]\nconcurrency = 1\n[smtp]\nweight = 5\nrest_after_failures = 2\nrest_seconds = 600\n\
             relays = [{{ host = \"127.0.0.1\", port = {}, tls = \"none\" }}]\n",
            backup.port
        ),
    )
    .spawn_app();
    app.queue_sample(&subscribers(12));
    app.deliver_all();
    // Every message arrived on its first attempt: an unreachable relay costs no retry.
    assert_eq!(backup.count(), 12);
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent' AND attempts = 1"),
        12
    );
    // Despite its weight, the failing relay was tried twice and then left alone.
    assert_eq!(sessions.load(Ordering::SeqCst), 2);
}

#[test]
fn a_relay_refusing_at_the_greeting_hands_over_to_the_next() {
    let (busy, refusing) = faults::start("421 4.3.2 Too busy, try later");
    let backup = SmtpServer::start();
    let app = Instance::smtp_with(
        busy,
        &format!(
            "[delivery]\nconcurrency = 1\n[smtp]\nrest_after_failures = 1\nrest_seconds = 600\n\
             relays = [{{ host = \"127.0.0.1\", port = {}, tls = \"none\" }}]\n",
            backup.port
        ),
    )
    .spawn_app();
    app.queue_sample(&subscribers(6));
    app.deliver_all();
    assert_eq!(backup.count(), 6);
    assert_eq!(refusing.lock().unwrap().sessions, 1);
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE status != 'active'"),
        0
    );
}

#[test]
fn with_every_relay_down_messages_wait_for_a_retry() {
    let (first, _) = dropping_relay();
    let (second, _) = dropping_relay();
    let app = Instance::smtp_with(
        first,
        &format!(
            "[smtp]\nrelays = [{{ host = \"127.0.0.1\", port = {second}, tls = \"none\" }}]\n"
        ),
    )
    .spawn_app();
    app.queue_sample(&subscribers(3));
    app.deliver_all();
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'retry'"),
        3
    );
    let error = app.query_text("SELECT last_error FROM deliveries LIMIT 1");
    for port in [first, second] {
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    }
}

#[test]
fn implicit_tls_relay_with_a_private_ca() {
    let tls = TestCertificate::new();
    let (port, relay) = faults::start_implicit_tls(&tls);
    let app = Instance::smtp_with(
        port,
        &format!(
            "[smtp]\ntls = \"tls\"\nca_file = \"{}\"\n",
            tls.ca.display()
        ),
    )
    .spawn_app();
    app.queue_sample("email,name\nada@example.org,Ada\ngrace@example.org,Grace\n");
    app.deliver_all();
    let relay = relay.lock().unwrap();
    assert_eq!(relay.delivered.get("ada@example.org"), Some(&1));
    assert_eq!(relay.delivered.get("grace@example.org"), Some(&1));
}

#[test]
fn implicit_tls_refuses_an_unknown_certificate() {
    let tls = TestCertificate::new();
    let (port, relay) = faults::start_implicit_tls(&tls);
    // No ca_file: the test CA is not trusted, so nothing may be sent.
    let app = Instance::smtp_with(port, "[smtp]\ntls = \"tls\"\n").spawn_app();
    app.queue_sample("email,name\nada@example.org,Ada\n");
    app.deliver_all();
    assert!(relay.lock().unwrap().delivered.is_empty());
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM deliveries WHERE status = 'retry'"),
        1
    );
}
