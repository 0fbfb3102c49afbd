//! A fault-injecting relay: a small SMTP server scripted per recipient (and one that
//! refuses at the greeting), so each failure mode meets the worker for real.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::app::TestApp;
use crate::helpers::{Instance, Sql, TestCertificate};

#[derive(Default)]
pub struct Relay {
    /// Sessions opened (greetings sent).
    pub sessions: u32,
    /// RCPT attempts per recipient, for "fail twice then accept".
    attempts: HashMap<String, u32>,
    /// Messages the relay considers delivered, per recipient.
    pub delivered: HashMap<String, u32>,
    /// Transactions whose RCPT arrived in the same read as MAIL (RFC 2920 pipelining).
    pub pipelined: u32,
}

/// Serves connections until the test ends. `greeting` is the banner (e.g. a 421 refusal).
pub fn start(greeting: &'static str) -> (u16, Arc<Mutex<Relay>>) {
    serve(greeting, |stream, greeting, relay| {
        session(stream, greeting, relay)
    })
}

/// The same relay behind implicit TLS (port 465 style), with the test certificate.
pub fn start_implicit_tls(tls: &TestCertificate) -> (u16, Arc<Mutex<Relay>>) {
    let config = tls.server_config();
    serve("220 relay.test ESMTP", move |stream, greeting, relay| {
        let tls = rustls::ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
        session(rustls::StreamOwned::new(tls, stream), greeting, relay)
    })
}

fn serve(
    greeting: &'static str,
    handle: impl Fn(TcpStream, &str, &Mutex<Relay>) -> std::io::Result<()> + Send + Sync + 'static,
) -> (u16, Arc<Mutex<Relay>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let relay = Arc::new(Mutex::new(Relay::default()));
    let shared = relay.clone();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let relay = shared.clone();
            let handle = handle.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, greeting, &relay);
            });
        }
    });
    (port, relay)
}

fn session(stream: impl Read + Write, greeting: &str, relay: &Mutex<Relay>) -> std::io::Result<()> {
    let mut input = BufReader::new(stream);
    relay.lock().unwrap().sessions += 1;
    write!(input.get_mut(), "{greeting}\r\n")?;
    input.get_mut().flush()?;
    if greeting.starts_with("421") {
        return Ok(());
    }
    let mut rcpt = String::new();
    let mut accepted = false;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            write!(
                input.get_mut(),
                "250-relay.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
            )?;
        } else if command.starts_with("MAIL FROM") {
            accepted = false;
            if String::from_utf8_lossy(input.buffer()).starts_with("RCPT") {
                relay.lock().unwrap().pipelined += 1;
            }
            write!(input.get_mut(), "250 2.0.0 OK\r\n")?;
        } else if command.starts_with("RSET") || command.starts_with("NOOP") {
            accepted = false;
            write!(input.get_mut(), "250 2.0.0 OK\r\n")?;
        } else if command.starts_with("RCPT TO") {
            rcpt = line.trim_end()[8..]
                .trim_matches(|c| c == '<' || c == '>' || c == ' ')
                .to_ascii_lowercase();
            let tries = {
                let mut r = relay.lock().unwrap();
                let n = r.attempts.entry(rcpt.clone()).or_insert(0);
                *n += 1;
                *n
            };
            let script = rcpt.split('@').next().unwrap_or_default().to_string();
            match script.as_str() {
                "twice450" if tries <= 2 => {
                    write!(input.get_mut(), "450 4.2.0 Mailbox busy, try later\r\n")?
                }
                "always451" => write!(input.get_mut(), "451 4.3.0 Local error in processing\r\n")?,
                "always452" => {
                    write!(input.get_mut(), "452 4.3.1 Insufficient system storage\r\n")?
                }
                // No reply at all: the client's timeout has to notice.
                "silent" => loop {
                    line.clear();
                    if input.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                },
                _ => {
                    accepted = true;
                    write!(input.get_mut(), "250 2.1.5 OK\r\n")?
                }
            }
        } else if command == "DATA" && !accepted {
            write!(input.get_mut(), "503 5.5.1 No valid recipients\r\n")?;
        } else if command == "DATA" {
            write!(input.get_mut(), "354 End data with <CR><LF>.<CR><LF>\r\n")?;
            input.get_mut().flush()?;
            let script = rcpt.split('@').next().unwrap_or_default().to_string();
            loop {
                line.clear();
                if input.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if script == "dropbefore" && line.starts_with("Subject:") {
                    return Ok(()); // Connection lost in the middle of the message.
                }
                if line == ".\r\n" {
                    break;
                }
            }
            relay
                .lock()
                .unwrap()
                .delivered
                .entry(rcpt.clone())
                .and_modify(|n| *n += 1)
                .or_insert(1);
            if script == "dropafter" {
                return Ok(()); // Took the whole message, then vanished before replying.
            }
            write!(input.get_mut(), "250 2.0.0 Queued\r\n")?;
        } else if command == "QUIT" {
            write!(input.get_mut(), "221 2.0.0 Bye\r\n")?;
            return Ok(());
        } else {
            write!(input.get_mut(), "502 5.5.1 Unrecognized command\r\n")?;
        }
        input.get_mut().flush()?;
    }
}

/// Retries fall due at once (base delay 0), so one drain sees "fail twice, then accept"
/// to the end; a transaction gets 2 s per step.
fn instance(port: u16) -> TestApp {
    Instance::smtp_with(
        port,
        "[delivery]\nconcurrency = 1\nretry_base_seconds = 0\n[smtp]\ntimeout_seconds = 2\n",
    )
    .spawn_app()
}

fn state(i: &impl Sql, email: &str) -> String {
    i.query_text(&format!(
        "SELECT d.status || ' after ' || d.attempts FROM deliveries d
         JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = '{email}'"
    ))
}

#[test]
fn each_failure_mode_ends_in_the_state_the_reply_calls_for() {
    let (port, relay) = start("220 relay.test ESMTP");
    let app = instance(port);
    let list = "email,name\nok@example.org,\ntwice450@example.org,\nalways451@example.org,\nalways452@example.org,\n\
                dropbefore@example.org,\ndropafter@example.org,\nsilent@example.org,\n";
    // With a zero retry delay the always-failing modes would loop: hold them back while
    // "twice450" plays out, then give each one attempt with the usual 5-minute backoff.
    app.queue_sample(list);
    app.execute("UPDATE deliveries SET due_at = '2999-01-01T00:00:00.000Z' WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email LIKE 'always%' OR email LIKE 'drop%' OR email LIKE 'silent%')");
    app.deliver_all();
    assert_eq!(state(&app, "ok@example.org"), "sent after 1");
    assert_eq!(
        state(&app, "twice450@example.org"),
        "sent after 3",
        "450 twice, then accepted"
    );
    app.execute(
        "UPDATE deliveries SET due_at = '2000-01-01T00:00:00.000Z' WHERE status = 'queued'",
    );
    app.reconfigure("[delivery]\nretry_base_seconds = 300\n");
    let app = app.restart();
    app.deliver_all();
    for email in [
        "always451",
        "always452",
        "dropbefore",
        "dropafter",
        "silent",
    ] {
        assert_eq!(
            state(&app, &format!("{email}@example.org")),
            "retry after 1",
            "{email}"
        );
    }
    let silent = app.query_text(
        "SELECT last_error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE s.email = 'silent@example.org'",
    );
    assert!(
        silent.contains("no reply from the relay within 8s"),
        "{silent}"
    );
    assert!(
        relay.lock().unwrap().pipelined > 0,
        "the relay offers PIPELINING, so the envelope goes out in one write"
    );
    let delivered = relay.lock().unwrap().delivered.clone();
    assert_eq!(
        delivered.get("dropafter@example.org"),
        Some(&1),
        "the relay kept it; we retry (a possible duplicate)"
    );
    assert_eq!(delivered.get("dropbefore@example.org"), None);
    assert_eq!(delivered.get("silent@example.org"), None);
    let subscribers_changed = app.query_scalar(
        "SELECT count(*) FROM subscribers WHERE status != 'active' OR soft_bounces > 0",
    );
    assert_eq!(
        subscribers_changed, 0,
        "temporary failures never touch the subscriber"
    );
}

#[test]
fn a_relay_refusing_at_the_greeting_means_retry() {
    let (port, relay) = start("421 4.3.2 Service not available, closing transmission channel");
    let app = instance(port);
    app.queue_sample("email,name\nada@example.org,\n");
    app.reconfigure("[delivery]\nretry_base_seconds = 300\n");
    let app = app.restart();
    app.deliver_all();
    assert_eq!(state(&app, "ada@example.org"), "retry after 1");
    assert!(relay.lock().unwrap().delivered.is_empty());
    assert_eq!(
        app.query_scalar("SELECT count(*) FROM subscribers WHERE status != 'active'"),
        0
    );
    let error = app.query_text("SELECT last_error FROM deliveries");
    assert!(error.contains("421"), "{error}");
}
