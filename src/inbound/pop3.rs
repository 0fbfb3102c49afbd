//! A bounce mailbox read over POP3 (RFC 1939): each message is fetched and handed to
//! [`Inbound::handle`], exactly as a file given to `mailroom ingest` would be, then
//! deleted once what it said is in the database.
//!
//! Deletion is the one thing that cannot be undone, so it is tied to success: a message
//! is marked for deletion (DELE) only after it was handled, and POP3 servers delete
//! marked messages only on a clean QUIT. A session that breaks off (a dropped
//! connection, a timeout, a garbled reply) therefore deletes nothing at all; whatever
//! was applied before the break is fetched again next time and recognised as a
//! duplicate by ingest.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

use super::{Handled, Inbound, Refusal, Report};
use crate::config::{Pop3Settings, Pop3Tls};
use crate::transport::smtp::socket;

/// Longest status line accepted; RFC 1939 allows 512 bytes, servers stay well within.
const MAX_REPLY_LINE: u64 = 4096;
/// A message is read in pieces of at most this much, so one endless line cannot grow a
/// buffer past the message cap.
const CHUNK: u64 = 64 * 1024;
/// A scan listing is about 10 bytes a message: this is a million messages.
const MAX_LISTING: u64 = 16 * 1024 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One message's bytes, or how many bytes it had when it passed the cap.
#[derive(Debug, PartialEq, Eq)]
enum Fetched {
    Message(Vec<u8>),
    TooLarge(u64),
}

/// A POP3 session; every error names the server and the step it happened in.
struct Session {
    io: tokio::io::BufReader<Box<dyn Stream>>,
    server: String,
    timeout: Duration,
}

impl Session {
    async fn connect(settings: &Pop3Settings) -> Result<Self> {
        let server = format!("POP3 server {}:{}", settings.host, settings.port);
        let timeout = Duration::from_secs(settings.timeout_seconds.max(1));
        let connecting = async {
            let tcp = socket::connect(&settings.host, settings.port)
                .await
                .context("connecting")?;
            let stream: Box<dyn Stream> = match settings.tls {
                Pop3Tls::None => Box::new(tcp),
                Pop3Tls::Tls => {
                    // The same TLS path as the SMTP relay: lettre's rustls stream, the
                    // web PKI roots plus `ca_file`, the host name verified.
                    let parameters = crate::transport::smtp::tls_parameters(
                        "bounces.pop3",
                        &settings.host,
                        &settings.ca_file,
                    )?;
                    Box::new(
                        socket::implicit_tls(tcp, parameters)
                            .await
                            .context("TLS handshake")?,
                    )
                }
            };
            anyhow::Ok(stream)
        };
        let stream = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| anyhow!("{server}: connecting: no answer within {timeout:?}"))?
            .with_context(|| server.clone())?;
        Ok(Self {
            io: tokio::io::BufReader::new(stream),
            server,
            timeout,
        })
    }

    /// Sends `command` (unless `None`: the greeting) and reads its status line, which must
    /// be `+OK`; returns the text after it. `step` names the command in errors, so a
    /// password never appears in one.
    async fn command(&mut self, step: &str, command: Option<&str>) -> Result<String> {
        let server = self.server.clone();
        let timeout = self.timeout;
        let exchange = async {
            if let Some(command) = command {
                self.io
                    .get_mut()
                    .write_all(format!("{command}\r\n").as_bytes())
                    .await?;
                self.io.get_mut().flush().await?;
            }
            let mut line = Vec::new();
            (&mut self.io)
                .take(MAX_REPLY_LINE)
                .read_until(b'\n', &mut line)
                .await?;
            anyhow::Ok(line)
        };
        let line = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow!("{server}: {step}: no reply within {timeout:?}"))?
            .with_context(|| format!("{server}: {step}"))?;
        if !line.ends_with(b"\n") {
            bail!(
                "{server}: {step}: {}",
                if line.is_empty() {
                    "connection closed".to_string()
                } else {
                    format!("reply cut short: {:?}", String::from_utf8_lossy(&line))
                }
            );
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        match text.strip_prefix("+OK") {
            Some(rest) => Ok(rest.trim().to_string()),
            None if text.starts_with("-ERR") => bail!("{server}: {step}: refused: {text}"),
            None => bail!("{server}: {step}: not a POP3 reply: {text:?}"),
        }
    }

    /// The lines of a multi-line reply, after its `+OK` line, up to the terminating `.`
    /// and unstuffed; at most `max_bytes` kept.
    async fn body(&mut self, step: &str, max_bytes: u64) -> Result<Fetched> {
        let server = self.server.clone();
        read_multiline(&mut self.io, max_bytes, self.timeout)
            .await
            .with_context(|| format!("{server}: {step}"))
    }
}

/// Reads a dot-terminated multi-line reply (RFC 1939 section 3): a line starting with a
/// dot had one added by the server, and a line of a single dot ends the reply. Every
/// read is timed; a connection that ends before the terminator is an error, since the
/// message is then incomplete. Past `max_bytes` the rest is read and dropped, so the
/// session stays usable (to delete the message) without holding it in memory.
async fn read_multiline(
    io: &mut (impl AsyncBufRead + Unpin),
    max_bytes: u64,
    timeout: Duration,
) -> Result<Fetched> {
    let mut message = Vec::new();
    let mut seen: u64 = 0;
    let mut chunk = Vec::new();
    let mut at_line_start = true;
    loop {
        chunk.clear();
        let n = tokio::time::timeout(
            timeout,
            (&mut *io).take(CHUNK).read_until(b'\n', &mut chunk),
        )
        .await
        .map_err(|_| anyhow!("no data within {timeout:?}"))?
        .context("reading the message")?;
        if n == 0 {
            bail!("connection closed before the end of the message ({seen} bytes read)");
        }
        let mut piece = chunk.as_slice();
        if at_line_start {
            if piece == b".\r\n" || piece == b".\n" {
                break;
            }
            if piece.starts_with(b".") {
                piece = &piece[1..];
            }
        }
        at_line_start = piece.ends_with(b"\n");
        seen += piece.len() as u64;
        if seen <= max_bytes {
            message.extend_from_slice(piece);
        } else {
            message = Vec::new();
        }
    }
    Ok(if seen > max_bytes {
        Fetched::TooLarge(seen)
    } else {
        Fetched::Message(message)
    })
}

/// Parses `LIST`'s "n size" lines; the sizes are the server's claims, used only to refuse
/// a message too large without fetching it.
fn scan_listing(listing: &[u8]) -> Result<Vec<(u32, u64)>> {
    String::from_utf8_lossy(listing)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            let number = fields.next().and_then(|n| n.parse().ok());
            let size = fields.next().and_then(|s| s.parse().ok());
            number
                .zip(size)
                .ok_or_else(|| anyhow!("not a scan listing: {line:?}"))
        })
        .collect()
}

impl Inbound<'_> {
    /// Fetches and handles every message in the mailbox (up to `max_messages`), deleting
    /// each one handled when `delete_after` is set. Mail for other addresses is left.
    pub async fn pop3(&self, settings: &Pop3Settings) -> Result<Report> {
        anyhow::ensure!(
            !settings.host.is_empty(),
            "no POP3 mailbox configured: set bounces.pop3.host"
        );
        let mut session = Session::connect(settings).await?;
        session.command("greeting", None).await?;
        session
            .command("USER", Some(&format!("USER {}", settings.username)))
            .await?;
        session
            .command(
                "PASS",
                Some(&format!("PASS {}", settings.password.expose())),
            )
            .await?;
        session.command("LIST", Some("LIST")).await?;
        let listing = match session.body("LIST", MAX_LISTING).await? {
            Fetched::Message(bytes) => bytes,
            Fetched::TooLarge(size) => {
                bail!("{}: LIST: a scan listing of {size} bytes", session.server)
            }
        };
        let listing =
            scan_listing(&listing).with_context(|| format!("{}: LIST", session.server))?;
        let max_bytes = self.classifier.max_bytes;
        let mut report = Report::default();
        for &(number, size) in listing.iter().take(settings.max_messages as usize) {
            let step = format!("RETR {number}");
            let fetched = if size > max_bytes {
                Fetched::TooLarge(size)
            } else {
                session.command(&step, Some(&step)).await?;
                session.body(&step, max_bytes).await?
            };
            let handled = match fetched {
                Fetched::TooLarge(size) => {
                    tracing::warn!(message = number, size, "message refused unread: too large");
                    Handled::Refused(Refusal::TooLarge(size))
                }
                Fetched::Message(raw) => match self.handle(&raw, None).await {
                    Ok(handled) => handled,
                    Err(error) => {
                        // Not handled (the database failed): keep it on the server, and
                        // still QUIT so the messages handled before it are deleted.
                        let _ = session.command("QUIT", Some("QUIT")).await;
                        return Err(error.context(format!(
                            "{}: message {number} (left on the server)",
                            session.server
                        )));
                    }
                },
            };
            report.add(&handled);
            // A refused message (malformed, too large) stays on the server, set aside for
            // the operator like Maildir's quarantine; so does mail that is not ours.
            let kept = matches!(handled, Handled::NotOurs | Handled::Refused(_));
            if settings.delete_after && !kept {
                let step = format!("DELE {number}");
                session.command(&step, Some(&step)).await?;
            }
        }
        session.command("QUIT", Some("QUIT")).await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8], max: u64) -> Result<Fetched> {
        let mut io = tokio::io::BufReader::new(bytes);
        read_multiline(&mut io, max, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn dots_are_unstuffed_and_the_dot_line_ends_the_message() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n.. \r\nplain.\r\n.\r\n+OK next\r\n";
        assert_eq!(
            read(wire, 1000).await.unwrap(),
            Fetched::Message(b"Subject: x\r\n\r\n.leading dot\r\n. \r\nplain.\r\n".to_vec())
        );
    }

    #[tokio::test]
    async fn a_message_past_the_cap_is_read_to_its_end_but_not_kept() {
        let wire = b"0123456789\r\n0123456789\r\n.\r\n";
        assert_eq!(read(wire, 15).await.unwrap(), Fetched::TooLarge(24));
        assert_eq!(
            read(wire, 24).await.unwrap(),
            Fetched::Message(wire[..24].to_vec())
        );
    }

    #[tokio::test]
    async fn a_message_cut_short_is_an_error() {
        for wire in [&b"Subject: x\r\n\r\nhalf"[..], b"Subject: x\r\n", b""] {
            let error = read(wire, 1000).await.unwrap_err().to_string();
            assert!(error.contains("connection closed"), "{error}");
        }
    }

    #[test]
    fn scan_listings_parse_or_fail() {
        assert_eq!(
            scan_listing(b"1 120\r\n2 4000\r\n").unwrap(),
            [(1, 120), (2, 4000)]
        );
        assert!(scan_listing(b"1\r\n").is_err());
        assert!(scan_listing(b"one 12\r\n").is_err());
    }
}
