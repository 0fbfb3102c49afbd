//! SMTP delivery through one or more relays, on connections we open ourselves.
//!
//! lettre speaks the protocol; the sockets and the pool are ours for two reasons. lettre's
//! pool never sets `TCP_NODELAY`, so the final dot of every message waits for the relay's
//! delayed ACK (about 40 ms on Linux), which caps a connection near 25 messages a second
//! (`socket` is where that is worked around).
//! And a newsletter wants several relays with weights and failover, and a connection that
//! survives a refused recipient (RSET) instead of being torn down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use super::SendError;
use crate::config::{Settings, TlsMode};
use crate::domain::reply::Enhanced;
use crate::message::Outgoing;

/// An idle connection older than this is checked with NOOP before it carries a message:
/// relays close idle sessions (Postfix after 300 s) and a message must not be the probe.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(15);

/// Where to connect and how to log in.
struct Endpoint {
    /// `host:port`, for logs and errors.
    name: String,
    host: String,
    port: u16,
    tls: TlsMode,
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    weight: u32,
}

/// An open session. `pipelining`: the relay offered PIPELINING (RFC 2920), so MAIL, RCPT
/// and DATA go out in one write and the message costs two round trips instead of four.
struct Session {
    connection: AsyncSmtpConnection,
    pipelining: bool,
}

struct Idle {
    session: Session,
    since: Instant,
}

#[derive(Default)]
struct Health {
    /// Connection-level failures since the last success.
    failures: u32,
    /// Rests taken since the last success; each doubles the next.
    rests: u32,
    rested_until: Option<Instant>,
}

struct Relay {
    endpoint: Endpoint,
    idle: Mutex<Vec<Idle>>,
    health: Mutex<Health>,
}

impl Relay {
    fn rested(&self, now: Instant) -> Option<Instant> {
        let health = self.health.lock().expect("relay health lock");
        health.rested_until.filter(|until| *until > now)
    }

    fn succeeded(&self) {
        let mut health = self.health.lock().expect("relay health lock");
        *health = Health::default();
    }

    fn failed(&self, policy: &RestPolicy, error: &SendError) {
        let mut health = self.health.lock().expect("relay health lock");
        health.failures += 1;
        if health.failures >= policy.after_failures {
            let rest = policy
                .first_rest
                .saturating_mul(1 << health.rests.min(6))
                .min(Duration::from_secs(3600));
            health.rested_until = Some(Instant::now() + rest);
            health.rests += 1;
            health.failures = 0;
            tracing::warn!(
                relay = %self.endpoint.name,
                rest_seconds = rest.as_secs(),
                error = %error,
                "relay keeps failing; resting it and moving traffic to the other relays"
            );
        }
    }

    fn take_idle(&self) -> Option<Idle> {
        self.idle.lock().expect("relay pool lock").pop()
    }

    fn put_idle(&self, session: Session, max_idle: usize) {
        let mut idle = self.idle.lock().expect("relay pool lock");
        if idle.len() < max_idle {
            idle.push(Idle {
                session,
                since: Instant::now(),
            });
        }
    }
}

struct RestPolicy {
    after_failures: u32,
    first_rest: Duration,
}

/// How far an attempt got, which decides whether the next relay may take the message.
enum Failure {
    /// No session was established: nothing reached the relay, so another relay may try.
    Connect(SendError),
    /// The relay answered the transaction (a refusal for this message or recipient).
    Refused(SendError),
    /// The session broke mid-transaction: the relay may or may not have the message.
    Broken(SendError),
}

/// How far a session got before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    /// TCP, the greeting or EHLO.
    Connect,
    /// STARTTLS or implicit TLS: offered, handshake, certificate.
    Tls,
    /// AUTH with the configured credentials.
    Auth,
}

/// One relay's answer to [`Relays::probe`].
#[derive(Debug, Clone)]
pub struct Probe {
    /// `host:port`.
    pub relay: String,
    pub host: String,
    pub tls: TlsMode,
    /// Whether credentials are configured (and so were tried).
    pub credentials: bool,
    pub outcome: Result<(), (ProbeStep, String)>,
}

impl Probe {
    /// The relay's configured host names, for SPF: every relay's `host`.
    pub fn hosts(settings: &Settings) -> Vec<String> {
        std::iter::once(settings.smtp.host.clone())
            .chain(settings.smtp.relays.iter().map(|r| r.host.clone()))
            .collect()
    }
}

/// The relays, their pools and their health.
pub struct Relays {
    relays: Vec<Relay>,
    hello: ClientId,
    /// Per protocol step.
    timeout: Duration,
    /// Per transaction: lettre's socket timeouts do not cover a relay that accepts the
    /// connection and then never answers.
    deadline: Duration,
    max_idle: usize,
    /// Sessions open at once, across relays: `delivery.concurrency`. The worker builds more
    /// messages than that ahead, and they wait here for a session.
    sessions: tokio::sync::Semaphore,
    rest: RestPolicy,
    /// Smooth weighted round robin state (nginx's algorithm): the choice follows the
    /// weights exactly, evenly interleaved, without randomness.
    current: Mutex<Vec<i64>>,
}

impl Relays {
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        let s = &settings.smtp;
        let mut endpoints = vec![endpoint(
            "smtp",
            &s.host,
            s.port,
            s.tls,
            &s.username,
            s.password.expose(),
            &s.ca_file,
            s.weight,
        )?];
        for (n, r) in s.relays.iter().enumerate() {
            let password = if r.password_env.is_empty() {
                String::new()
            } else {
                std::env::var(&r.password_env).with_context(|| {
                    format!(
                        "smtp.relays[{n}].password_env: environment variable {} is not set",
                        r.password_env
                    )
                })?
            };
            endpoints.push(endpoint(
                &format!("smtp.relays[{n}]"),
                &r.host,
                r.port,
                r.tls,
                &r.username,
                &password,
                &r.ca_file,
                r.weight,
            )?);
        }
        let hello = if s.helo_name.is_empty() {
            ClientId::default()
        } else {
            ClientId::Domain(s.helo_name.clone())
        };
        let timeout = Duration::from_secs(s.timeout_seconds.max(1));
        Ok(Self {
            current: Mutex::new(vec![0; endpoints.len()]),
            relays: endpoints
                .into_iter()
                .map(|endpoint| Relay {
                    endpoint,
                    idle: Mutex::new(Vec::new()),
                    health: Mutex::new(Health::default()),
                })
                .collect(),
            hello,
            timeout,
            // Envelope, data and the final reply: a few steps, each allowed the timeout.
            deadline: timeout * 4,
            max_idle: settings.delivery.concurrency as usize,
            sessions: tokio::sync::Semaphore::new(settings.delivery.concurrency.max(1) as usize),
            rest: RestPolicy {
                after_failures: s.rest_after_failures.max(1),
                first_rest: Duration::from_secs(s.rest_seconds),
            },
        })
    }

    /// The relays to try for one message, best first: the weighted choice among the relays
    /// not resting, then the other active ones, then the resting ones (soonest back first)
    /// as a last resort so a message is never refused while any relay might take it.
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let rested: Vec<Option<Instant>> = self.relays.iter().map(|r| r.rested(now)).collect();
        let active: Vec<usize> = (0..self.relays.len())
            .filter(|&i| rested[i].is_none() && self.relays[i].endpoint.weight > 0)
            .collect();
        let mut order = Vec::with_capacity(self.relays.len());
        if !active.is_empty() {
            let mut current = self.current.lock().expect("relay choice lock");
            let total: i64 = active
                .iter()
                .map(|&i| i64::from(self.relays[i].endpoint.weight))
                .sum();
            let mut best = active[0];
            for &i in &active {
                current[i] += i64::from(self.relays[i].endpoint.weight);
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            order.push(best);
        }
        let mut others: Vec<usize> = (0..self.relays.len())
            .filter(|i| !order.contains(i) && rested[*i].is_none())
            .collect();
        others.sort_by_key(|&i| std::cmp::Reverse(self.relays[i].endpoint.weight));
        order.extend(others);
        let mut resting: Vec<usize> = (0..self.relays.len())
            .filter(|i| rested[*i].is_some())
            .collect();
        resting.sort_by_key(|&i| rested[i]);
        order.extend(resting);
        order
    }

    /// A place among the sessions: held by the caller around [`Relays::send`], so a
    /// message built ahead waits here, and the caller can still decide not to send it.
    pub async fn session(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.sessions
            .acquire()
            .await
            .expect("the session semaphore is never closed")
    }

    /// Hands one message over (within a [`Relays::session`]); the success value is the
    /// relay's reply.
    pub async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        let mut unreachable: Vec<SendError> = Vec::new();
        for index in self.order() {
            let relay = &self.relays[index];
            match self.send_via(relay, message).await {
                Ok(reply) => {
                    relay.succeeded();
                    return Ok(reply);
                }
                Err(Failure::Connect(error)) => {
                    relay.failed(&self.rest, &error);
                    tracing::debug!(relay = %relay.endpoint.name, %error, "relay unreachable; trying the next");
                    unreachable.push(error);
                }
                Err(Failure::Broken(error)) => {
                    relay.failed(&self.rest, &error);
                    return Err(error);
                }
                Err(Failure::Refused(error)) => {
                    // 421 is the relay shutting the session, not a verdict on the message.
                    if error.code == Some(421) {
                        relay.failed(&self.rest, &error);
                    } else {
                        relay.succeeded();
                    }
                    return Err(error);
                }
            }
        }
        // Every relay failed to connect: the operator needs each one's reason, and the
        // verdict follows the last (a 421 greeting, say, or no reply at all).
        let message = unreachable
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Err(match unreachable.pop() {
            Some(last) => SendError { message, ..last },
            None => no_reply("no SMTP relay is configured".into()),
        })
    }

    async fn send_via(&self, relay: &Relay, message: &Outgoing) -> Result<String, Failure> {
        // A pooled connection the relay has silently closed fails at MAIL FROM with no
        // reply; nothing was handed over then, so the message moves to a fresh connection.
        while let Some(mut idle) = relay.take_idle() {
            if idle.since.elapsed() > CHECK_IDLE_AFTER
                && !tokio::time::timeout(self.timeout, idle.session.connection.test_connected())
                    .await
                    .unwrap_or(false)
            {
                continue;
            }
            // Only failures before the relay could have taken the message are retried here;
            // a session that broke after the data may have delivered it.
            match self.transaction(relay, idle.session, message).await {
                Err(Failure::Connect(_)) => continue,
                Err(Failure::Refused(e)) if e.code == Some(421) => continue,
                done => return done,
            }
        }
        let session = tokio::time::timeout(self.timeout * 3, self.connect(&relay.endpoint))
            .await
            .map_err(|_| {
                Failure::Connect(no_reply(format!(
                    "{}: no SMTP session within {}s",
                    relay.endpoint.name,
                    (self.timeout * 3).as_secs()
                )))
            })?
            .map_err(Failure::Connect)?;
        // On a fresh session a failure before the data is the relay's fault, and another
        // relay may still take the message.
        self.transaction(relay, session, message).await
    }

    /// One MAIL/RCPT/DATA exchange. A refusal leaves the session usable (RSET) and it
    /// returns to the pool; a broken session is dropped.
    async fn transaction(
        &self,
        relay: &Relay,
        mut session: Session,
        message: &Outgoing,
    ) -> Result<String, Failure> {
        let pipelining = session.pipelining;
        let connection = &mut session.connection;
        let exchange = tokio::time::timeout(self.deadline, async {
            let envelope = &message.envelope;
            let mut parameters = Vec::new();
            let info = connection.server_info();
            let non_ascii = envelope
                .from()
                .into_iter()
                .chain(envelope.to())
                .any(|a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii());
            if non_ascii {
                if !info.supports_feature(Extension::SmtpUtfEight) {
                    return Err(Failure::Refused(SendError {
                        code: Some(553),
                        enhanced: Some(Enhanced {
                            class: 5,
                            subject: 6,
                            detail: 7,
                        }),
                        message: format!(
                            "{}: the address is not ASCII and the relay lacks SMTPUTF8",
                            relay.endpoint.name
                        ),
                    }));
                }
                parameters.push(MailParameter::SmtpUtfEight);
            }
            if !message.bytes.is_ascii() && info.supports_feature(Extension::EightBitMime) {
                parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
            }
            // Before the data goes out, a lost session has handed nothing over.
            let early = |e: lettre::transport::smtp::Error| {
                let error = SendError::from_smtp(&e);
                if error.code.is_some() {
                    Failure::Refused(error)
                } else {
                    Failure::Connect(error)
                }
            };
            let mail = Mail::new(envelope.from().cloned(), parameters);
            if pipelining {
                envelope_pipelined(connection, mail, envelope.to())
                    .await
                    .map_err(early)?;
            } else {
                connection.command(mail).await.map_err(early)?;
                for to in envelope.to() {
                    connection
                        .command(Rcpt::new(to.clone(), Vec::new()))
                        .await
                        .map_err(early)?;
                }
                connection.command(Data).await.map_err(early)?;
            }
            let data = match std::str::from_utf8(&message.bytes) {
                // Through `command`, as one write: lettre's `message` dot-stuffs byte by
                // byte, a tenth of the worker's CPU at full speed.
                Ok(text) => connection.command(data_phase(text).as_str()).await,
                Err(_) => connection.message(&message.bytes).await,
            };
            data.map_err(|e| {
                let error = SendError::from_smtp(&e);
                if error.code.is_some() {
                    Failure::Refused(error)
                } else {
                    Failure::Broken(error)
                }
            })
        })
        .await;
        match exchange {
            Ok(Ok(response)) => {
                let reply = format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                );
                relay.put_idle(session, self.max_idle);
                Ok(reply)
            }
            Ok(Err(Failure::Refused(error))) => {
                if error.code != Some(421)
                    && tokio::time::timeout(self.timeout, session.connection.command(Rset))
                        .await
                        .is_ok_and(|r| r.is_ok())
                {
                    relay.put_idle(session, self.max_idle);
                }
                Err(Failure::Refused(error))
            }
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::Broken(no_reply(format!(
                "no reply from the relay within {}s",
                self.deadline.as_secs()
            )))),
        }
    }

    /// Opens a session: TCP (with `TCP_NODELAY`), implicit TLS or STARTTLS, EHLO, AUTH.
    async fn connect(&self, endpoint: &Endpoint) -> Result<Session, SendError> {
        self.open(endpoint).await.map_err(|(_, error)| error)
    }

    /// Opens a session with every relay and closes it, step by step: what `mailroom
    /// doctor` reports. Sessions are opened exactly as for delivery (same TLS settings,
    /// same credentials), so a relay that passes here takes mail the same way.
    pub async fn probe(&self) -> Vec<Probe> {
        let mut probes = Vec::with_capacity(self.relays.len());
        for relay in &self.relays {
            let endpoint = &relay.endpoint;
            let outcome = match tokio::time::timeout(self.deadline, self.open(endpoint)).await {
                Ok(Ok(mut session)) => {
                    let _ = session.connection.quit().await;
                    Ok(())
                }
                Ok(Err((step, error))) => Err((step, error.to_string())),
                Err(_) => Err((
                    ProbeStep::Connect,
                    format!(
                        "{}: no answer within {}s",
                        endpoint.name,
                        self.deadline.as_secs()
                    ),
                )),
            };
            probes.push(Probe {
                relay: endpoint.name.clone(),
                host: endpoint.host.clone(),
                tls: endpoint.tls,
                credentials: endpoint.credentials.is_some(),
                outcome,
            });
        }
        probes
    }

    async fn open(&self, endpoint: &Endpoint) -> Result<Session, (ProbeStep, SendError)> {
        let connection_error = |e: &dyn std::fmt::Display| {
            (
                ProbeStep::Connect,
                no_reply(format!("{}: connecting: {e}", endpoint.name)),
            )
        };
        let tcp = socket::connect(&endpoint.host, endpoint.port)
            .await
            .map_err(|e| connection_error(&e))?;
        let stream: Box<dyn AsyncTokioStream> = match (&endpoint.tls, &endpoint.tls_parameters) {
            (TlsMode::Tls, Some(parameters)) => Box::new(
                socket::implicit_tls(tcp, parameters.clone())
                    .await
                    .map_err(|e| (ProbeStep::Tls, connection_error(&e).1))?,
            ),
            _ => Box::new(tcp),
        };
        let session = |step: ProbeStep| {
            move |e: lettre::transport::smtp::Error| {
                let mut error = SendError::from_smtp(&e);
                error.message = format!("{}: {}", endpoint.name, error.message);
                (step, error)
            }
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(session(ProbeStep::Connect))?;
        if let (TlsMode::Starttls, Some(parameters)) = (&endpoint.tls, &endpoint.tls_parameters) {
            // Required, not opportunistic: a relay that does not offer STARTTLS is refused
            // rather than sent credentials and subscriber data in the clear.
            if !connection.can_starttls() {
                connection.abort().await;
                return Err((
                    ProbeStep::Tls,
                    no_reply(format!(
                        "{}: the relay does not offer STARTTLS, which smtp.tls requires",
                        endpoint.name
                    )),
                ));
            }
            connection
                .starttls(parameters.clone(), &self.hello)
                .await
                .map_err(session(ProbeStep::Tls))?;
        }
        // lettre's ServerInfo keeps only the extensions it uses itself; asking again (before
        // AUTH, which some relays require to come last) is one round trip per session and
        // tells whether the relay pipelines. A relay that refuses the repeat does not.
        let pipelining = connection
            .command(Ehlo::new(self.hello.clone()))
            .await
            .is_ok_and(|ehlo| {
                ehlo.message()
                    .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"))
            });
        if let Some(credentials) = &endpoint.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(session(ProbeStep::Auth))?;
        }
        Ok(Session {
            connection,
            pipelining,
        })
    }
}

/// MAIL, RCPT and DATA in one write, then their replies in order (RFC 2920). Every reply
/// is read even after a refusal, so the session stays in step for RSET; if DATA was
/// accepted anyway (all recipients refused), an empty message ends it.
async fn envelope_pipelined<'a>(
    connection: &mut AsyncSmtpConnection,
    mail: Mail,
    recipients: impl IntoIterator<Item = &'a lettre::Address>,
) -> Result<(), lettre::transport::smtp::Error> {
    let mut batch = mail.to_string();
    let mut replies = 1;
    for to in recipients {
        batch.push_str(&Rcpt::new(to.clone(), Vec::new()).to_string());
        replies += 1;
    }
    batch.push_str(&Data.to_string());
    let mut refused = None;
    match connection.command(batch).await {
        Ok(_) => {}
        Err(e) if e.status().is_some() => refused = Some(e),
        Err(e) => return Err(e),
    }
    for _ in 1..replies {
        match connection.read_response().await {
            Ok(_) => {}
            Err(e) if e.status().is_some() => {
                refused.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    // The DATA reply.
    match connection.read_response().await {
        Ok(_) => {
            if let Some(e) = refused {
                // Whatever this answers, the refusal above is the verdict; a broken
                // session shows up at the RSET that follows.
                let _ = connection.command(".\r\n").await;
                return Err(e);
            }
            Ok(())
        }
        Err(e) if e.status().is_some() => Err(refused.unwrap_or(e)),
        Err(e) => Err(e),
    }
}

/// A message as the DATA phase carries it (RFC 5321 4.5.2): a line that starts with a dot
/// gets a second one, and a line with a lone dot ends it. Built at its final size in one
/// pass: lettre's `command` then copies a `&str` once, where a `Display` would be written
/// piecewise into a string that doubles as it grows.
fn data_phase(text: &str) -> String {
    // Lines that start with a dot are rare: usually there is nothing to double.
    let dots: Vec<usize> = memchr::memmem::find_iter(text.as_bytes(), b"\r\n.").collect();
    let mut wire = String::with_capacity(text.len() + dots.len() + 6);
    if text.starts_with('.') {
        wire.push('.');
    }
    let mut from = 0;
    for at in dots {
        // Up to and including the line break, then the extra dot; the original dot
        // starts the next chunk.
        wire.push_str(&text[from..at + 2]);
        wire.push('.');
        from = at + 2;
    }
    wire.push_str(&text[from..]);
    if !text.ends_with("\r\n") {
        wire.push_str("\r\n");
    }
    wire.push_str(".\r\n");
    wire
}

fn no_reply(message: String) -> SendError {
    SendError {
        code: None,
        enhanced: None,
        message,
    }
}

#[allow(clippy::too_many_arguments)]
fn endpoint(
    field: &str,
    host: &str,
    port: u16,
    tls: TlsMode,
    username: &str,
    password: &str,
    ca_file: &std::path::Path,
    weight: u32,
) -> Result<Endpoint> {
    let tls_parameters = match tls {
        TlsMode::None => None,
        TlsMode::Starttls | TlsMode::Tls => Some(tls_parameters(field, host, ca_file)?),
    };
    Ok(Endpoint {
        name: format!("{host}:{port}"),
        host: host.to_string(),
        port,
        tls,
        tls_parameters,
        credentials: (!username.is_empty())
            .then(|| Credentials::new(username.to_string(), password.to_string())),
        weight,
    })
}

/// TLS settings for `host`, trusting the web PKI roots plus the CA certificates in
/// `ca_file` when one is given. Shared with the POP3 client, so both verify alike.
pub(crate) fn tls_parameters(
    field: &str,
    host: &str,
    ca_file: &std::path::Path,
) -> Result<TlsParameters> {
    let mut builder = TlsParameters::builder(host.to_string());
    if !ca_file.as_os_str().is_empty() {
        let pem = std::fs::read(ca_file)
            .with_context(|| format!("{field}.ca_file: reading {}", ca_file.display()))?;
        let cert = Certificate::from_pem(&pem).with_context(|| {
            format!(
                "{field}.ca_file: {} is not a PEM certificate",
                ca_file.display()
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .with_context(|| format!("{field}: TLS setup"))
}

/// Our sockets under lettre's protocol code: the one place that changes when lettre can set
/// `TCP_NODELAY` on the connections it opens.
///
/// lettre 0.11 opens its sockets without `TCP_NODELAY` (see the module docs for the cost),
/// so we open them ourselves and hand them to `AsyncSmtpConnection::connect_with_transport`.
/// Implicit TLS over a socket of ours takes lettre's `AsyncNetworkStream`, deprecated since
/// 0.11.14 as "not meant to be made public" with no replacement in 0.11; hence lettre is
/// pinned in Cargo.toml. Upstream lettre/lettre#1159 sets `TCP_NODELAY` on lettre's own
/// connections: with a release that has it, `connect` and `implicit_tls` give way to
/// `AsyncSmtpConnection::connect_tokio1(…, tls_parameters, …)`, `Encrypted` goes, and the
/// POP3 client (which borrows both) needs a TLS stream of its own.
pub(crate) mod socket {
    use std::io;
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    #[allow(deprecated)]
    use lettre::transport::smtp::client::AsyncNetworkStream;
    use lettre::transport::smtp::client::{AsyncTokioStream, TlsParameters};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;

    /// A TCP connection to `host:port` with `TCP_NODELAY` set: every SMTP (and POP3) step
    /// is a write followed by a wait for the reply, which Nagle's algorithm only delays.
    pub(crate) async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }

    /// Implicit TLS (SMTPS, POP3S) over `tcp`, verified as `parameters` say.
    pub(crate) async fn implicit_tls(
        tcp: TcpStream,
        parameters: TlsParameters,
    ) -> Result<Encrypted, lettre::transport::smtp::Error> {
        #[allow(deprecated)]
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(parameters).await?;
        Ok(Encrypted(stream))
    }

    /// lettre's TLS stream handed back to lettre as if it were a plain socket. It speaks
    /// `futures-io`; this adapts it to the tokio traits `connect_with_transport` takes.
    #[allow(deprecated)]
    pub(crate) struct Encrypted(AsyncNetworkStream);

    impl std::fmt::Debug for Encrypted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Encrypted")
        }
    }

    impl AsyncTokioStream for Encrypted {
        fn peer_addr(&self) -> io::Result<SocketAddr> {
            self.0.peer_addr()
        }
    }

    impl AsyncRead for Encrypted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let unfilled = buf.initialize_unfilled();
            match futures_io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
                Poll::Ready(Ok(n)) => {
                    buf.advance(n);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    impl AsyncWrite for Encrypted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::data_phase;

    #[test]
    fn data_phase_doubles_leading_dots_and_terminates() {
        let cases = [
            (
                "Subject: x\r\n\r\nbody\r\n",
                "Subject: x\r\n\r\nbody\r\n.\r\n",
            ),
            (".start\r\n", "..start\r\n.\r\n"),
            ("a\r\n.\r\n..b\r\nc.d", "a\r\n..\r\n...b\r\nc.d\r\n.\r\n"),
            ("", "\r\n.\r\n"),
        ];
        for (message, wire) in cases {
            assert_eq!(data_phase(message), wire, "{message:?}");
        }
    }
}
