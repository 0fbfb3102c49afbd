//! `mailroom ingest --pop3` against a scripted POP3 server (implicit TLS with the test
//! certificate, or plain): real bounces for real deliveries, and servers that refuse the
//! password, drop the connection mid-message or are not POP3 at all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};

use mailroom::token::{TokenKeys, UnsubscribeClaim};

use crate::helpers::{Instance, Sql, TOKEN_KEY, TestCertificate, mailroom_command};
use crate::ingest::{USER_UNKNOWN, count, delivered, dsn_for, sent, status};

const PASSWORD: &str = "pop-secret-1234";

/// The server's mailbox and what it saw. Messages marked with DELE are removed only on
/// QUIT, as RFC 1939 has it, so a session that breaks off deletes nothing.
#[derive(Default)]
struct Mailbox {
    /// `None` once deleted.
    messages: Vec<Option<Vec<u8>>>,
    /// Every command received, PASS with its argument masked.
    commands: Vec<String>,
    /// Message numbers (of their session) deleted by a QUIT.
    deleted: Vec<usize>,
    /// Drop the connection halfway through sending this message number.
    drop_in_retr: Option<usize>,
}

impl Mailbox {
    fn left(&self) -> usize {
        self.messages.iter().flatten().count()
    }
    fn saw(&self, command: &str) -> bool {
        self.commands.iter().any(|c| c == command)
    }
}

fn plain(greeting: &'static str, messages: &[&[u8]]) -> (u16, Arc<Mutex<Mailbox>>) {
    serve(greeting, messages, |stream| Ok(Box::new(stream)))
}

/// The same server behind implicit TLS (port 995 style).
fn tls(cert: &TestCertificate, messages: &[&[u8]]) -> (u16, Arc<Mutex<Mailbox>>) {
    let config = cert.server_config();
    serve("+OK POP3 ready", messages, move |stream| {
        let tls = rustls::ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
        Ok(Box::new(rustls::StreamOwned::new(tls, stream)))
    })
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn serve(
    greeting: &'static str,
    messages: &[&[u8]],
    wrap: impl Fn(TcpStream) -> std::io::Result<Box<dyn Stream>> + Send + 'static,
) -> (u16, Arc<Mutex<Mailbox>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mailbox = Arc::new(Mutex::new(Mailbox {
        messages: messages.iter().map(|m| Some(m.to_vec())).collect(),
        ..Mailbox::default()
    }));
    let shared = mailbox.clone();
    // One session at a time: each run of the binary is one session.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Ok(stream) = wrap(stream) {
                let _ = session(stream, greeting, &shared);
            }
        }
    });
    (port, mailbox)
}

/// `message` on the wire: CRLF lines, a dot doubled at the start of a line.
fn stuffed(message: &[u8]) -> Vec<u8> {
    let text = message.strip_suffix(b"\n").unwrap_or(message);
    let mut wire = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b".") {
            wire.push(b'.');
        }
        wire.extend_from_slice(line);
        wire.extend_from_slice(b"\r\n");
    }
    wire
}

fn session(
    stream: Box<dyn Stream>,
    greeting: &str,
    mailbox: &Mutex<Mailbox>,
) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    write!(io.get_mut(), "{greeting}\r\n")?;
    io.get_mut().flush()?;
    // This session's view: message number → index into the mailbox.
    let mut numbers: Vec<usize> = Vec::new();
    let mut marked: Vec<usize> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line)? == 0 {
            return Ok(()); // Gone without QUIT: nothing marked is deleted.
        }
        let command = line.trim_end().to_string();
        let (verb, arg) = command.split_once(' ').unwrap_or((&command, ""));
        let mut m = mailbox.lock().unwrap();
        m.commands.push(if verb == "PASS" {
            "PASS ***".into()
        } else {
            command.clone()
        });
        let message = |n: &str| {
            n.parse::<usize>()
                .ok()
                .and_then(|n| numbers.get(n.wrapping_sub(1)).copied())
        };
        let reply: Vec<u8> = match verb {
            "USER" => b"+OK\r\n".to_vec(),
            "PASS" if arg == PASSWORD => {
                numbers = (0..m.messages.len())
                    .filter(|&i| m.messages[i].is_some())
                    .collect();
                b"+OK maildrop locked and ready\r\n".to_vec()
            }
            "PASS" => b"-ERR [AUTH] invalid user name or password\r\n".to_vec(),
            "LIST" => {
                let mut r = format!("+OK {} messages\r\n", numbers.len());
                for (n, &i) in numbers.iter().enumerate() {
                    let size = m.messages[i].as_ref().unwrap().len();
                    r.push_str(&format!("{} {size}\r\n", n + 1));
                }
                r.push_str(".\r\n");
                r.into_bytes()
            }
            "RETR" => match message(arg) {
                Some(i) => {
                    let wire = stuffed(m.messages[i].as_ref().unwrap());
                    let mut r = format!("+OK {} octets\r\n", wire.len()).into_bytes();
                    if m.drop_in_retr == arg.parse().ok() {
                        r.extend_from_slice(&wire[..wire.len() / 2]);
                        io.get_mut().write_all(&r)?;
                        io.get_mut().flush()?;
                        return Ok(()); // The connection drops in the middle of it.
                    }
                    r.extend_from_slice(&wire);
                    r.extend_from_slice(b".\r\n");
                    r
                }
                None => b"-ERR no such message\r\n".to_vec(),
            },
            "DELE" => match message(arg) {
                Some(i) => {
                    marked.push(i);
                    b"+OK marked\r\n".to_vec()
                }
                None => b"-ERR no such message\r\n".to_vec(),
            },
            "QUIT" => {
                for &i in &marked {
                    m.messages[i] = None;
                    let number = numbers.iter().position(|&x| x == i).unwrap() + 1;
                    m.deleted.push(number);
                }
                drop(m);
                io.get_mut().write_all(b"+OK bye\r\n")?;
                io.get_mut().flush()?;
                return Ok(());
            }
            _ => b"-ERR unknown command\r\n".to_vec(),
        };
        drop(m);
        io.get_mut().write_all(&reply)?;
        io.get_mut().flush()?;
    }
}

/// Points the instance at the server; `extra` is more `[bounces.pop3]` TOML.
fn configure(i: &Instance, port: u16, tls: &str, extra: &str) {
    i.reconfigure(&format!(
        "[bounces.pop3]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\n\
         username = \"bounces\"\ntimeout_seconds = 10\n{extra}"
    ));
}

/// `mailroom ingest --pop3`, the password from the environment as in production.
fn ingest_pop3(i: &Instance, password: &str) -> Output {
    mailroom_command(i.dir.path())
        .arg("--config")
        .arg(&i.config)
        .args(["ingest", "--pop3"])
        .env("MAILROOM_BOUNCES__POP3__PASSWORD", password)
        .output()
        .unwrap()
}

fn succeeds(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The mailto unsubscribe address of `email`'s copy of issue 210.
fn unsubscribe_address(i: &Instance, email: &str) -> String {
    let subscriber_id = i.query_scalar(&format!(
        "SELECT id FROM subscribers WHERE email = '{email}'"
    ));
    let keys = TokenKeys::new(TOKEN_KEY, &[]).unwrap();
    let token = keys.unsubscribe(UnsubscribeClaim {
        subscriber_id,
        issue_number: 210,
    });
    format!("unsubscribe+{token}@newsletter.example.org")
}

const NOT_MAIL: &[u8] = b"\x00\x01\x02\xff not mail at all\n";
const FOR_SOMEONE_ELSE: &[u8] =
    b"From: a@example.net\nTo: editor@newsletter.example.org\nSubject: hi\n\nHello!\n";

#[test]
fn a_pop3_mailbox_over_tls_is_applied_and_what_was_handled_deleted() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let bounce = dsn_for(
        "pop-1@mx.example.net",
        &ada,
        "ada@example.org",
        &USER_UNKNOWN,
    );
    // A line that is a lone dot travels as "..": it must neither end the message early
    // nor come out doubled.
    let unsubscribe = format!(
        "From: Kim <kim@example.com>\nTo: {}\nSubject: unsubscribe\nMessage-ID: <r1@example.com>\n\n\
         Please take me off the list.\n.\n.signature\n",
        unsubscribe_address(&i, "kim@example.com")
    );
    let cert = TestCertificate::new();
    let (port, mailbox) = tls(
        &cert,
        &[
            bounce.as_bytes(),
            unsubscribe.as_bytes(),
            NOT_MAIL,
            FOR_SOMEONE_ELSE,
        ],
    );
    configure(
        &i,
        port,
        "tls",
        &format!("ca_file = \"{}\"\n", cert.ca.display()),
    );

    let out = succeeds(ingest_pop3(&i, PASSWORD));
    assert!(
        out.starts_with(&format!("127.0.0.1:{port}: 1 unsubscribed")),
        "{out}"
    );
    assert!(
        out.contains(
            "1 not for mailroom; bounces: 1 hard, 0 soft, 0 complaint(s), 1 address(es) suppressed"
        ),
        "{out}"
    );
    assert!(out.contains("1 refused"), "{out}");
    assert_eq!(status(&i, "ada@example.org"), "bounced 0");
    assert_eq!(status(&i, "kim@example.com"), "unsubscribed 0");
    assert_eq!(status(&i, "lee@example.net"), "active 0");
    assert_eq!(
        count(&i, "events WHERE kind = 'bounced' AND source = 'dsn'"),
        1
    );
    assert_eq!(
        count(
            &i,
            "events WHERE kind = 'unsubscribed' AND source = 'mailto'"
        ),
        1
    );
    {
        let m = mailbox.lock().unwrap();
        assert_eq!(
            m.deleted,
            [1, 2],
            "handled mail deleted; the refused message and others' mail kept"
        );
        assert_eq!(m.commands.last().map(String::as_str), Some("QUIT"));
        assert_eq!(m.left(), 2);
    }

    // The next run finds the refused message and the one for someone else, and leaves both.
    let again = succeeds(ingest_pop3(&i, PASSWORD));
    assert!(
        again.contains("1 not for mailroom; bounces: 0 hard"),
        "{again}"
    );
    assert!(again.contains("0 already applied, 1 refused"), "{again}");
    assert_eq!(mailbox.lock().unwrap().left(), 2);
}

#[test]
fn with_delete_after_off_a_plain_mailbox_is_kept_and_nothing_applied_twice() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let bounce = dsn_for(
        "pop-2@mx.example.net",
        &ada,
        "ada@example.org",
        &USER_UNKNOWN,
    );
    let (port, mailbox) = plain("+OK ready", &[bounce.as_bytes(), NOT_MAIL]);
    configure(&i, port, "none", "delete_after = false\n");

    let out = succeeds(ingest_pop3(&i, PASSWORD));
    assert!(out.contains("bounces: 1 hard"), "{out}");
    assert!(out.contains("1 refused"), "{out}");
    let again = succeeds(ingest_pop3(&i, PASSWORD));
    assert!(again.contains("bounces: 0 hard"), "{again}");
    assert!(again.contains("1 already applied, 1 refused"), "{again}");
    assert_eq!(count(&i, "bounces"), 1);
    let m = mailbox.lock().unwrap();
    assert!(!m.commands.iter().any(|c| c.starts_with("DELE")));
    assert_eq!(m.commands.iter().filter(|c| *c == "QUIT").count(), 2);
    assert_eq!(m.left(), 2);
}

#[test]
fn a_wrong_password_is_an_error_and_changes_and_deletes_nothing() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let bounce = dsn_for(
        "pop-3@mx.example.net",
        &ada,
        "ada@example.org",
        &USER_UNKNOWN,
    );
    let (port, mailbox) = plain("+OK ready", &[bounce.as_bytes()]);
    configure(&i, port, "none", "");

    let error = fails(ingest_pop3(&i, "not-the-password"));
    assert!(
        error.contains(&format!(
            "POP3 server 127.0.0.1:{port}: PASS: refused: -ERR"
        )),
        "{error}"
    );
    assert!(!error.contains("not-the-password"), "{error}");
    assert_eq!(status(&i, "ada@example.org"), "active 0");
    assert_eq!(count(&i, "bounces"), 0);
    let m = mailbox.lock().unwrap();
    assert!(!m.saw("RETR 1") && !m.saw("DELE 1"), "{:?}", m.commands);
    assert_eq!(m.left(), 1);
}

#[test]
fn a_server_dropping_mid_message_fails_and_deletes_nothing() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let kim = sent(&i, "kim@example.com", 210);
    let ada_bounce = dsn_for(
        "pop-4@mx.example.net",
        &ada,
        "ada@example.org",
        &USER_UNKNOWN,
    );
    let kim_bounce = dsn_for(
        "pop-5@mx.example.net",
        &kim,
        "kim@example.com",
        &USER_UNKNOWN,
    );
    let cert = TestCertificate::new();
    let (port, mailbox) = tls(&cert, &[ada_bounce.as_bytes(), kim_bounce.as_bytes()]);
    mailbox.lock().unwrap().drop_in_retr = Some(2);
    configure(
        &i,
        port,
        "tls",
        &format!("ca_file = \"{}\"\n", cert.ca.display()),
    );

    let error = fails(ingest_pop3(&i, PASSWORD));
    assert!(
        error.contains(&format!("POP3 server 127.0.0.1:{port}: RETR 2")),
        "{error}"
    );
    // Over TLS the cut is seen by rustls first: a close without close_notify.
    assert!(
        error.contains("connection closed") || error.contains("close_notify"),
        "{error}"
    );
    assert_eq!(
        status(&i, "ada@example.org"),
        "bounced 0",
        "handled before the drop"
    );
    assert_eq!(status(&i, "kim@example.com"), "active 0");
    {
        let m = mailbox.lock().unwrap();
        assert!(m.saw("DELE 1") && !m.saw("DELE 2") && !m.saw("QUIT"));
        assert_eq!(m.left(), 2, "no QUIT, so not even message 1 is deleted");
    }

    // Once the server behaves, the first message is recognised and the second applied.
    mailbox.lock().unwrap().drop_in_retr = None;
    let out = succeeds(ingest_pop3(&i, PASSWORD));
    assert!(out.contains("bounces: 1 hard"), "{out}");
    assert!(out.contains("1 already applied"), "{out}");
    assert_eq!(status(&i, "kim@example.com"), "bounced 0");
    assert_eq!(mailbox.lock().unwrap().left(), 0);
}

#[test]
fn a_server_that_is_not_pop3_is_an_error_naming_it() {
    let i = Instance::new();
    let (port, mailbox) = plain("* OK IMAP4rev1 ready", &[NOT_MAIL]);
    configure(&i, port, "none", "");
    let error = fails(ingest_pop3(&i, PASSWORD));
    assert!(
        error.contains(&format!(
            "POP3 server 127.0.0.1:{port}: greeting: not a POP3 reply"
        )),
        "{error}"
    );
    assert!(mailbox.lock().unwrap().commands.is_empty());

    // And without a [bounces.pop3] host there is nothing to read.
    let unset = Instance::new();
    let error = fails(ingest_pop3(&unset, PASSWORD));
    assert!(error.contains("bounces.pop3.host"), "{error}");
}

#[test]
fn a_message_whose_handling_fails_in_the_database_stays_on_the_server() {
    let i = delivered();
    let ada = sent(&i, "ada@example.org", 210);
    let bounce = dsn_for(
        "pop-6@mx.example.net",
        &ada,
        "ada@example.org",
        &USER_UNKNOWN,
    );
    let unsubscribe = format!(
        "From: Kim <kim@example.com>\nTo: {}\nSubject: unsubscribe\n\nStop.\n",
        unsubscribe_address(&i, "kim@example.com")
    );
    let (port, mailbox) = plain("+OK ready", &[unsubscribe.as_bytes(), bounce.as_bytes()]);
    configure(&i, port, "none", "");
    // The database refuses every bounce, as a full disk or a locked file would.
    i.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON bounces BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    );

    let error = fails(ingest_pop3(&i, PASSWORD));
    assert!(
        error.contains(&format!(
            "POP3 server 127.0.0.1:{port}: message 2 (left on the server)"
        )),
        "{error}"
    );
    assert!(error.contains("disk on fire"), "{error}");
    assert_eq!(status(&i, "kim@example.com"), "unsubscribed 0");
    assert_eq!(status(&i, "ada@example.org"), "active 0");
    let m = mailbox.lock().unwrap();
    assert!(!m.saw("DELE 2"), "{:?}", m.commands);
    assert_eq!(m.deleted, [1], "QUIT still deletes what was handled before");
    assert_eq!(m.left(), 1);
}
