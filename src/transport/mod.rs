//! Where messages go: SMTP relays (see `smtp`), or `.eml` files in an outbox.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::{Settings, TransportKind};
use crate::domain::reply::{Enhanced, Verdict, classify};
use crate::message::Outgoing;

/// A delivery attempt that did not succeed: the relay's reply (if there was one) and a
/// description for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The three-digit reply code; `None` when no reply came (refused, dropped, timed out).
    pub code: Option<u16>,
    pub enhanced: Option<Enhanced>,
    pub message: String,
}

impl SendError {
    pub fn verdict(&self) -> Verdict {
        classify(self.code, self.enhanced)
    }

    fn from_smtp(e: &lettre::transport::smtp::Error) -> Self {
        let code = e.status().map(u16::from);
        // For a negative reply, lettre's error source is the reply text itself.
        let enhanced = code
            .and(std::error::Error::source(e))
            .and_then(|text| Enhanced::parse(&text.to_string()));
        Self {
            code,
            enhanced,
            message: error_chain(e),
        }
    }
}

pub(crate) mod smtp;

pub use smtp::{Probe, ProbeStep, Relays};

pub enum Transport {
    Smtp(Relays),
    Outbox(Outbox),
}

impl Transport {
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        match settings.delivery.transport {
            TransportKind::Outbox => Ok(Self::Outbox(Outbox::new(&settings.delivery.outbox_dir)?)),
            TransportKind::Smtp => Ok(Self::Smtp(Relays::from_settings(settings)?)),
        }
    }

    /// A place among the SMTP sessions (`delivery.concurrency` of them), to hold around
    /// [`Transport::send`]; the outbox has no sessions to wait for.
    pub async fn session(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match self {
            Self::Smtp(relays) => Some(relays.session().await),
            Self::Outbox(_) => None,
        }
    }

    /// Hands one message over; the success value is the relay's reply (or the file written).
    pub async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        match self {
            Self::Smtp(relays) => relays.send(message).await,
            Self::Outbox(outbox) => outbox
                .write(message)
                .await
                .map(|path| format!("written to {}", path.display()))
                .map_err(|e| SendError {
                    code: None,
                    enhanced: None,
                    message: format!("outbox: {e:#}"),
                }),
        }
    }
}

/// An error with its causes, one after the other: reqwest's and lettre's top-level
/// messages alone ("error sending request") do not say what went wrong.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// A folder of `.eml` files, one per message, named after the Message-ID so a redelivery
/// replaces its file instead of adding a second copy.
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating outbox {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the message atomically (temporary file, then rename) with a Return-Path line
    /// carrying the envelope sender, as a mailbox delivery would.
    pub async fn write(&self, message: &Outgoing) -> Result<PathBuf> {
        let stem: String = message
            .message_id
            .split('@')
            .next()
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.dir.join(format!("{stem}.eml"));
        let tmp = self.dir.join(format!(".{stem}.tmp"));
        let from = message
            .envelope
            .from()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(message.bytes.len() + 80);
        bytes.extend_from_slice(format!("Return-Path: <{from}>\r\n").as_bytes());
        bytes.extend_from_slice(&message.bytes);
        tokio::fs::write(&tmp, &bytes)
            .await
            .with_context(|| format!("writing {}", tmp.display()))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .with_context(|| format!("renaming to {}", path.display()))?;
        Ok(path)
    }
}
